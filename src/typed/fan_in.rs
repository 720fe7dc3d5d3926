//! The typed fan-in: one consumer of values of `T` over several SPSC links.

use core::fmt;
use core::marker::PhantomData;

use crate::metrics::Metrics;
use crate::mpsc;
use crate::spsc::{Budget, Consumer};
use crate::typed::{Batch, MtuError, Pod, ReadGuard};
use crate::typed::{RecvError, RecvTimeoutError, TryRecvError};
use crate::wait::{Strategy, Wait};

/// One consumer of values of `T` over several SPSC links, through the byte
/// [`mpsc::FanIn`] it wraps (same fair order; every read also returns the index of the link
/// it served). A frag that is not a `T` is reported with its link
/// (`WrongSize { link, .. }`), so that it can be dealt with through
/// [`link_mut`](Self::link_mut); the other links go on being served.
///
/// ```
/// use milonga::mpsc::FanIn;
/// use milonga::typed;
///
/// let link = FanIn::builder().producers(3).depth(8).mtu(4).heap()?;
/// let mut fan = typed::FanIn::<u32, _>::new(link.consumer)?;
/// let mut txs: Vec<_> = link.producers.into_iter().map(|tx| typed::Producer::<u32>::new(tx).unwrap()).collect();
/// for (p, tx) in txs.iter_mut().enumerate() {
///     tx.try_push(p as u32 * 10)?;
/// }
/// let mut got: Vec<(usize, u32)> = fan.try_iter().collect();
/// got.sort();
/// assert_eq!(got, [(0, 0), (1, 10), (2, 20)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FanIn<'a, T, S> {
    inner: mpsc::FanIn<'a, S>,
    /// Values of `T` come out; the handle is `Send` only if `T` is.
    _type: PhantomData<T>,
}

impl<'a, T: Pod, S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>> FanIn<'a, T, S> {
    /// Wraps a byte fan-in.
    ///
    /// # Errors
    /// [`MtuError`] (with the fan-in back) if a `T` does not fit the mtu of one of its
    /// links (the error names the smallest mtu). A `T` aligned to more than 8 bytes does
    /// not compile.
    // The error hands the byte handle back: it is as large as the typed handle.
    #[allow(clippy::result_large_err)]
    pub fn new(inner: mpsc::FanIn<'a, S>) -> Result<Self, MtuError<mpsc::FanIn<'a, S>>> {
        let mtu = (0..inner.len())
            .map(|i| inner.link(i).mtu())
            .min()
            .unwrap_or(usize::MAX);
        crate::typed::check::<T, _>(inner, mtu).map(|inner| FanIn {
            inner,
            _type: PhantomData,
        })
    }

    /// Lends the next value of the first link in the current order that has one, with the
    /// link's index.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if no link has a frag; `WrongSize` (with its link; not
    /// consumed) or `Abandoned` for a frag that is not a `T`; `Closed` or `Failed` once
    /// every link is closed and drained.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<(usize, ReadGuard<'_, 'a, T>), TryRecvError> {
        let (link, guard) = self.inner.try_recv()?;
        Ok((link, ReadGuard::check(guard, link)?))
    }

    /// [`try_recv`](Self::try_recv), waiting with the fan-in's [`Strategy`] while no link
    /// has a frag.
    ///
    /// # Errors
    /// `WrongSize` or `Abandoned` for a frag that is not a `T`; otherwise only at the end
    /// of every link's stream.
    pub fn recv(&mut self) -> Result<(usize, ReadGuard<'_, 'a, T>), RecvError> {
        let (link, guard) = self.inner.recv()?;
        Ok((link, ReadGuard::check(guard, link)?))
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time; otherwise as
    /// [`recv`](Self::recv).
    #[cfg(feature = "std")]
    pub fn recv_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<(usize, ReadGuard<'_, 'a, T>), RecvTimeoutError> {
        let (link, guard) = self.inner.recv_timeout(timeout)?;
        Ok((link, ReadGuard::check(guard, link)?))
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if `wait` gives up; otherwise as [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(
        &mut self,
        wait: W,
    ) -> Result<(usize, ReadGuard<'_, 'a, T>), RecvTimeoutError> {
        let (link, guard) = self.inner.recv_with(wait)?;
        Ok((link, ReadGuard::check(guard, link)?))
    }

    /// Copies the next value out, with its link's index (abandoned claims are skipped).
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv), except `Abandoned`.
    #[inline(always)]
    pub fn try_pop(&mut self) -> Result<(usize, T), TryRecvError> {
        loop {
            match self.try_recv() {
                Ok((link, guard)) => return Ok((link, *guard)),
                Err(TryRecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies the next value out, with its link's index, waiting with the fan-in's
    /// [`Strategy`].
    ///
    /// # Errors
    /// As [`recv`](Self::recv), except `Abandoned`.
    pub fn pop(&mut self) -> Result<(usize, T), RecvError> {
        loop {
            match self.recv() {
                Ok((link, guard)) => return Ok((link, *guard)),
                Err(RecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// [`pop`](Self::pop), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with), except `Abandoned`.
    pub fn pop_with<W: Wait>(&mut self, mut wait: W) -> Result<(usize, T), RecvTimeoutError> {
        loop {
            match self.recv_with(&mut wait) {
                Ok((link, guard)) => return Ok((link, *guard)),
                Err(RecvTimeoutError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Lends a batch of values (as [`Consumer::try_batch`](crate::typed::Consumer::try_batch))
    /// from the first link in the current order that has a frag, with the link's index.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    pub fn try_batch(&mut self, budget: Budget) -> Result<(usize, Batch<'_, 'a, T>), TryRecvError> {
        let (link, batch) = self.inner.try_batch(budget)?;
        Ok((link, Batch::check(batch, link)?))
    }

    /// [`try_batch`](Self::try_batch), waiting with the fan-in's [`Strategy`].
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, budget: Budget) -> Result<(usize, Batch<'_, 'a, T>), RecvError> {
        let (link, batch) = self.inner.recv_batch(budget)?;
        Ok((link, Batch::check(batch, link)?))
    }

    /// [`recv_batch`](Self::recv_batch), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with).
    pub fn recv_batch_with<W: Wait>(
        &mut self,
        budget: Budget,
        wait: W,
    ) -> Result<(usize, Batch<'_, 'a, T>), RecvTimeoutError> {
        let (link, batch) = self.inner.recv_batch_with(budget, wait)?;
        Ok((link, Batch::check(batch, link)?))
    }

    /// A blocking iterator of `(link, value)` copies; it ends when every link is closed
    /// and drained (or at a frag that is not a `T`, or a fault: [`pop`](Self::pop) then
    /// tells which).
    pub fn iter(&mut self) -> FanInIter<'_, 'a, T, S> {
        FanInIter { fan: self }
    }

    /// A non-blocking iterator of `(link, value)` copies; it ends when no link has a frag
    /// ready (or at anything else [`try_pop`](Self::try_pop) reports).
    pub fn try_iter(&mut self) -> FanInTryIter<'_, 'a, T, S> {
        FanInTryIter { fan: self }
    }

    /// The wait strategy of the blocking calls.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.inner.set_wait(wait);
    }

    /// Reshuffle the order every `rounds` rounds (see [`mpsc::FanIn::reshuffle_every`]).
    pub fn reshuffle_every(&mut self, rounds: u64) {
        self.inner.reshuffle_every(rounds);
    }

    /// The links whose next frag is published, in link order.
    pub fn ready(&self) -> impl Iterator<Item = usize> + '_ {
        self.inner.ready()
    }

    /// The number of links.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// There are no links.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The byte consumer of link `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn link(&self, i: usize) -> &Consumer<'a> {
        self.inner.link(i)
    }

    /// The byte consumer of link `i`: to set its filter or clock, or to read a frag that
    /// is not a `T`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn link_mut(&mut self, i: usize) -> &mut Consumer<'a> {
        self.inner.link_mut(i)
    }

    /// A metrics handle per link, in link order.
    pub fn metrics(&self) -> impl Iterator<Item = Metrics<'a>> + '_ {
        self.inner.metrics()
    }

    /// Reports every link's progress and counters now.
    pub fn housekeeping(&mut self) {
        self.inner.housekeeping();
    }

    /// The byte fan-in underneath.
    pub fn as_bytes(&self) -> &mpsc::FanIn<'a, S> {
        &self.inner
    }

    /// The byte fan-in underneath, mutably.
    pub fn as_bytes_mut(&mut self) -> &mut mpsc::FanIn<'a, S> {
        &mut self.inner
    }

    /// The byte fan-in back.
    pub fn into_inner(self) -> mpsc::FanIn<'a, S> {
        self.inner
    }
}

#[cfg(feature = "std")]
impl<'a, T: Pod, S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>> FanIn<'a, T, S> {
    /// [`pop`](Self::pop), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout), except `Abandoned`.
    pub fn pop_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<(usize, T), RecvTimeoutError> {
        let deadline = crate::wait::deadline_in(timeout);
        loop {
            let left = deadline.map_or(timeout, |d| {
                d.saturating_duration_since(std::time::Instant::now())
            });
            match self.recv_timeout(left) {
                Ok((link, guard)) => return Ok((link, *guard)),
                Err(RecvTimeoutError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<T, S> fmt::Debug for FanIn<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::FanIn")
            .field("type", &core::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}

/// The blocking iterator of [`FanIn::iter`].
pub struct FanInIter<'c, 'a, T, S> {
    fan: &'c mut FanIn<'a, T, S>,
}

impl<'a, T: Pod, S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>> Iterator
    for FanInIter<'_, 'a, T, S>
{
    type Item = (usize, T);
    #[inline]
    fn next(&mut self) -> Option<(usize, T)> {
        self.fan.pop().ok()
    }
}

impl<T, S> fmt::Debug for FanInIter<'_, '_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanInIter").finish_non_exhaustive()
    }
}

/// The non-blocking iterator of [`FanIn::try_iter`].
pub struct FanInTryIter<'c, 'a, T, S> {
    fan: &'c mut FanIn<'a, T, S>,
}

impl<'a, T: Pod, S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>> Iterator
    for FanInTryIter<'_, 'a, T, S>
{
    type Item = (usize, T);
    #[inline]
    fn next(&mut self) -> Option<(usize, T)> {
        self.fan.try_pop().ok()
    }
}

impl<T, S> fmt::Debug for FanInTryIter<'_, '_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanInTryIter").finish_non_exhaustive()
    }
}
