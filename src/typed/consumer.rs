//! The typed reliable consumer: copies, zero-copy guards, and crossbeam-style iterators.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ops::Deref;

use crate::clock::ClockRef;
use crate::cnc::Cnc;
use crate::frag::{Ctl, FragMeta};
use crate::fseq::ConsumerCounters;
use crate::metrics::Metrics;
use crate::spsc::{self, Budget, SigFilter};
use crate::typed::{check, Batch, Mismatch, MtuError, Pod};
use crate::typed::{RecvError, RecvTimeoutError, TryRecvError};
use crate::wait::{Strategy, Wait};

/// A reliable consuming end of a link (SPSC, broadcast, or a shared ring's consumer),
/// reading values of `T` through the byte [`spsc::Consumer`] it wraps.
///
/// - copies: [`try_pop`](Self::try_pop), [`pop`](Self::pop) (blocking),
///   [`pop_timeout`](Self::pop_timeout) return a `T`; [`iter`](Self::iter) and
///   [`try_iter`](Self::try_iter) yield them;
/// - zero-copy: [`try_recv`](Self::try_recv) and [`recv`](Self::recv) lend a
///   [`ReadGuard`] (`Deref<Target = T>`), [`try_batch`](Self::try_batch) a [`Batch`] whose
///   iterator yields `&T`; the credit goes back when the guard or batch ends, as in the
///   byte API.
///
/// A frag that is not a `T` is reported, never cast (see the [module docs](crate::typed)).
///
/// ```
/// use milonga::spsc::{Budget, Link};
/// use milonga::typed;
///
/// let (tx, rx) = Link::builder().depth(16).mtu(8).heap_pair()?;
/// let (mut tx, mut rx) = typed::pair::<u64, _>((tx, rx))?;
/// for v in 0..6u64 {
///     tx.try_push(v * 10)?;
/// }
/// assert_eq!(rx.try_pop()?, 0); // a copy
/// let guard = rx.try_recv()?; // zero-copy: derefs to the u64 in the store
/// assert_eq!(*guard, 10);
/// drop(guard); // its credit goes back
/// let batch = rx.try_batch(Budget::frags(3)?)?;
/// assert!(batch.iter().copied().eq([20, 30, 40]));
/// batch.commit();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [50]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer<'a, T> {
    inner: spsc::Consumer<'a>,
    /// Values of `T` come out; the handle is `Send` only if `T` is.
    _type: PhantomData<T>,
}

impl<'a, T: Pod> Consumer<'a, T> {
    /// Wraps a byte consumer.
    ///
    /// # Errors
    /// [`MtuError`] (with the byte consumer back) if a `T` does not fit the link's mtu. A
    /// `T` aligned to more than 8 bytes does not compile.
    // The error hands the byte handle back: it is as large as the typed handle.
    #[allow(clippy::result_large_err)]
    pub fn new(inner: spsc::Consumer<'a>) -> Result<Self, MtuError<spsc::Consumer<'a>>> {
        let mtu = inner.mtu();
        check::<T, _>(inner, mtu).map(Self::wrap)
    }

    /// Wraps a byte consumer whose mtu was checked.
    pub(crate) fn wrap(inner: spsc::Consumer<'a>) -> Self {
        Consumer {
            inner,
            _type: PhantomData,
        }
    }

    /// Lends the next value, zero-copy, if it is published.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if nothing is published yet; `WrongSize` (not consumed) or
    /// `Abandoned` (consumed) for a frag that is not a `T`; `Closed`, `Failed` or `Corrupt`
    /// at the end of the stream, as the byte API.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<ReadGuard<'_, 'a, T>, TryRecvError> {
        let guard = self.inner.try_recv()?;
        Ok(ReadGuard::check(guard, 0)?)
    }

    /// Lends the next value, waiting for it with the handle's [`Strategy`].
    ///
    /// # Errors
    /// `WrongSize` or `Abandoned` for a frag that is not a `T` (as
    /// [`try_recv`](Self::try_recv)); otherwise only at the end of the stream.
    pub fn recv(&mut self) -> Result<ReadGuard<'_, 'a, T>, RecvError> {
        let guard = self.inner.recv()?;
        Ok(ReadGuard::check(guard, 0)?)
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
    ) -> Result<ReadGuard<'_, 'a, T>, RecvTimeoutError> {
        let guard = self.inner.recv_timeout(timeout)?;
        Ok(ReadGuard::check(guard, 0)?)
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if `wait` gives up; otherwise as [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(
        &mut self,
        wait: W,
    ) -> Result<ReadGuard<'_, 'a, T>, RecvTimeoutError> {
        let guard = self.inner.recv_with(wait)?;
        Ok(ReadGuard::check(guard, 0)?)
    }

    /// Copies the next value out, if one is published (abandoned claims are skipped).
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv), except `Abandoned`.
    #[inline(always)]
    pub fn try_pop(&mut self) -> Result<T, TryRecvError> {
        loop {
            match self.try_recv() {
                Ok(guard) => return Ok(*guard),
                Err(TryRecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies the next value out, waiting for it with the handle's [`Strategy`].
    ///
    /// # Errors
    /// `WrongSize` for a frag that is not a `T` (not consumed); otherwise only at the end
    /// of the stream.
    pub fn pop(&mut self) -> Result<T, RecvError> {
        loop {
            match self.recv() {
                Ok(guard) => return Ok(*guard),
                Err(RecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// [`pop`](Self::pop), giving up after `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time; otherwise as
    /// [`pop`](Self::pop).
    #[cfg(feature = "std")]
    pub fn pop_timeout(&mut self, timeout: std::time::Duration) -> Result<T, RecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.pop_with(self.inner.wait_strategy().until(deadline)),
            None => Ok(self.pop()?),
        }
    }

    /// [`pop`](Self::pop), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if `wait` gives up; otherwise as [`pop`](Self::pop).
    pub fn pop_with<W: Wait>(&mut self, mut wait: W) -> Result<T, RecvTimeoutError> {
        loop {
            match self.recv_with(&mut wait) {
                Ok(guard) => return Ok(*guard),
                Err(RecvTimeoutError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Lends up to `budget.max_frags()` consecutive values at once (as
    /// [`spsc::Consumer::try_batch`]); the batch ends before the first frag that is not a
    /// `T`, which the next read reports.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv): `WrongSize` or `Abandoned` if the very next frag is
    /// not a `T`.
    #[inline(always)]
    pub fn try_batch(&mut self, budget: Budget) -> Result<Batch<'_, 'a, T>, TryRecvError> {
        let batch = self.inner.try_batch(budget)?;
        Ok(Batch::check(batch, 0)?)
    }

    /// [`try_batch`](Self::try_batch), waiting with the handle's [`Strategy`] for at least
    /// one frag.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, budget: Budget) -> Result<Batch<'_, 'a, T>, RecvError> {
        let batch = self.inner.recv_batch(budget)?;
        Ok(Batch::check(batch, 0)?)
    }

    /// [`recv_batch`](Self::recv_batch), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout).
    #[cfg(feature = "std")]
    pub fn recv_batch_timeout(
        &mut self,
        budget: Budget,
        timeout: std::time::Duration,
    ) -> Result<Batch<'_, 'a, T>, RecvTimeoutError> {
        let batch = self.inner.recv_batch_timeout(budget, timeout)?;
        Ok(Batch::check(batch, 0)?)
    }

    /// [`recv_batch`](Self::recv_batch), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with).
    pub fn recv_batch_with<W: Wait>(
        &mut self,
        budget: Budget,
        wait: W,
    ) -> Result<Batch<'_, 'a, T>, RecvTimeoutError> {
        let batch = self.inner.recv_batch_with(budget, wait)?;
        Ok(Batch::check(batch, 0)?)
    }

    /// A blocking iterator of copies: each `next` is a [`pop`](Self::pop). It ends at the
    /// end of the stream (the producer halted or was dropped, and every value was read),
    /// or at a frag that is not a `T` or a fault: [`pop`](Self::pop) then tells which (the
    /// frag is not consumed, so it reports the same).
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::typed;
    ///
    /// let (tx, rx) = Link::builder().depth(64).mtu(4).heap_pair()?;
    /// let (mut tx, mut rx) = typed::pair::<u32, _>((tx, rx))?;
    /// std::thread::spawn(move || (0..1000).for_each(|v| { tx.push(v).unwrap(); }));
    /// assert_eq!(rx.iter().sum::<u32>(), 999 * 1000 / 2);
    /// assert_eq!(rx.pop(), Err(typed::RecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> Iter<'_, 'a, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator of copies: each `next` is a [`try_pop`](Self::try_pop); it
    /// ends when nothing is ready (or at anything else `try_pop` reports).
    pub fn try_iter(&mut self) -> TryIter<'_, 'a, T> {
        TryIter { rx: self }
    }

    /// The wait strategy of the blocking calls.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.inner.set_wait(wait);
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.inner.wait_strategy()
    }

    /// Deliver only values whose `sig` `filter` accepts (see
    /// [`spsc::Consumer::set_filter`]).
    pub fn set_filter(&mut self, filter: Option<SigFilter<'a>>) {
        self.inner.set_filter(filter);
    }

    /// Gives the consumer a clock (see [`spsc::Consumer::set_clock`]).
    pub fn set_clock(&mut self, clock: impl Into<ClockRef<'a>>) {
        self.inner.set_clock(clock);
    }

    /// Frags and payload bytes this consumer has read so far.
    pub fn consumed(&self) -> (u64, u64) {
        self.inner.consumed()
    }

    /// This consumer's counters as it knows them now.
    pub fn counters(&self) -> ConsumerCounters {
        self.inner.counters()
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        self.inner.metrics()
    }

    /// The seq of the next frag this consumer will read.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// The ring's depth.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The next frag is published (one load; changes nothing).
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.inner.cnc()
    }

    /// Reports this consumer's progress and counters now.
    pub fn housekeeping(&mut self) {
        self.inner.housekeeping();
    }

    /// The byte consumer underneath.
    pub fn as_bytes(&self) -> &spsc::Consumer<'a> {
        &self.inner
    }

    /// The byte consumer underneath, to read a frag that is not a `T` (a `WrongSize`).
    pub fn as_bytes_mut(&mut self) -> &mut spsc::Consumer<'a> {
        &mut self.inner
    }

    /// The byte consumer back.
    pub fn into_inner(self) -> spsc::Consumer<'a> {
        self.inner
    }
}

impl<T> fmt::Debug for Consumer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::Consumer")
            .field("type", &core::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}

impl<'c, 'a, T: Pod> IntoIterator for &'c mut Consumer<'a, T> {
    type Item = T;
    type IntoIter = Iter<'c, 'a, T>;
    /// [`Consumer::iter`].
    fn into_iter(self) -> Iter<'c, 'a, T> {
        self.iter()
    }
}

/// The blocking iterator of [`Consumer::iter`]: copies, until the end of the stream.
pub struct Iter<'c, 'a, T> {
    rx: &'c mut Consumer<'a, T>,
}

impl<T: Pod> Iterator for Iter<'_, '_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.rx.pop().ok()
    }
}

impl<T> fmt::Debug for Iter<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// The non-blocking iterator of [`Consumer::try_iter`]: copies, until nothing is ready.
pub struct TryIter<'c, 'a, T> {
    rx: &'c mut Consumer<'a, T>,
}

impl<T: Pod> Iterator for TryIter<'_, '_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        self.rx.try_pop().ok()
    }
}

impl<T> fmt::Debug for TryIter<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

/// One value lent by [`Consumer::try_recv`] (or a fan-in): derefs to the `T` in the
/// link's store. Its credit goes back when the guard is dropped; the `&T` cannot outlive
/// it.
pub struct ReadGuard<'c, 'a, T> {
    inner: spsc::ReadGuard<'c, 'a>,
    _type: PhantomData<&'c T>,
}

impl<'c, 'a, T: Pod> ReadGuard<'c, 'a, T> {
    /// The typed guard of `guard` if its frag is a `T`. Otherwise the frag is released if
    /// it is an abandoned claim, and left unread (the guard forgotten: the consumer stays
    /// where it was and its next read lends the frag again, as [`spsc::ReadGuard`]
    /// documents) if it has another size.
    #[inline(always)]
    pub(crate) fn check(guard: spsc::ReadGuard<'c, 'a>, link: usize) -> Result<Self, Mismatch> {
        match Mismatch::of(guard.meta(), size_of::<T>(), link) {
            None => Ok(ReadGuard {
                inner: guard,
                _type: PhantomData,
            }),
            Some(m @ Mismatch::Abandoned { .. }) => {
                drop(guard);
                Err(m)
            }
            Some(m @ Mismatch::WrongSize { .. }) => {
                core::mem::forget(guard);
                Err(m)
            }
        }
    }

    /// The frag's metadata.
    #[inline]
    pub fn meta(&self) -> &FragMeta {
        self.inner.meta()
    }

    /// The frag's seq.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.inner.seq()
    }

    /// The frag's application bits.
    #[inline]
    pub fn sig(&self) -> u64 {
        self.inner.sig()
    }

    /// The frag's control bits.
    #[inline]
    pub fn ctl(&self) -> Ctl {
        self.inner.ctl()
    }

    /// The byte guard underneath (its payload is the value's bytes).
    pub fn as_bytes(&self) -> &spsc::ReadGuard<'c, 'a> {
        &self.inner
    }
}

impl<T: Pod> Deref for ReadGuard<'_, '_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // The payload is exactly `size_of::<T>()` bytes (checked in `check`) at an
        // 8-aligned address (the store's alignment guarantee, module docs), and
        // `align_of::<T>() <= 8` (checked at compile time by the constructors): the
        // checked cast never fails.
        bytemuck::from_bytes(self.inner.payload())
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ReadGuard<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::ReadGuard")
            .field("meta", self.meta())
            .field("value", &**self)
            .finish()
    }
}
