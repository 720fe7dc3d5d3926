//! The typed lossy consumer: copies values out, with the byte layer's overrun accounting.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

use crate::cnc::Cnc;
use crate::frag::FragMeta;
use crate::fseq::ConsumerCounters;
use crate::metrics::Metrics;
use crate::spsc::{self, SigFilter};
use crate::typed::error::{lossy_recv, lossy_timeout, lossy_try};
use crate::typed::{check, Mismatch, MtuError, Pod};
use crate::typed::{LossyRecvError, LossyRecvTimeoutError, LossyTryRecvError};
use crate::wait::{Strategy, Wait};

/// A lossy consuming end of a link, reading values of `T` through the byte
/// [`spsc::LossyConsumer`] it wraps: it never slows the producer, copies each value out
/// (into a `T`, with the byte layer's atomic copy and check), and reports and counts
/// exactly what it loses, as the byte consumer does: an
/// [`Overrun`](crate::Overrun) `{ lost, kind }` error, and the same counters.
///
/// The `recv` reads return the frag's metadata with the value, the `pop` reads the value
/// alone.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{typed, Overrun, OverrunKind};
/// use milonga::typed::LossyTryRecvError;
///
/// let mut link = Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
/// let mut rx = typed::LossyConsumer::<u64>::new(link.lossy.pop().unwrap())?;
/// let mut tx = typed::Producer::<u64, _>::new(link.producer)?;
/// for v in 0..10u64 {
///     tx.try_push(v)?; // never blocks
/// }
/// let lapped = Overrun { lost: 6, kind: OverrunKind::Lapped };
/// assert_eq!(rx.try_pop(), Err(LossyTryRecvError::Overrun(lapped)));
/// assert_eq!(rx.try_pop()?, 6);
/// assert_eq!(rx.counters().poll_lost, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LossyConsumer<'a, T> {
    inner: spsc::LossyConsumer<'a>,
    /// Values of `T` come out; the handle is `Send` only if `T` is.
    _type: PhantomData<T>,
}

impl<'a, T: Pod> LossyConsumer<'a, T> {
    /// Wraps a byte lossy consumer.
    ///
    /// # Errors
    /// [`MtuError`] (with the byte consumer back) if a `T` does not fit the link's mtu. A
    /// `T` aligned to more than 8 bytes does not compile.
    // The error hands the byte handle back: it is as large as the typed handle.
    #[allow(clippy::result_large_err)]
    pub fn new(inner: spsc::LossyConsumer<'a>) -> Result<Self, MtuError<spsc::LossyConsumer<'a>>> {
        let mtu = inner.mtu();
        check::<T, _>(inner, mtu).map(|inner| LossyConsumer {
            inner,
            _type: PhantomData,
        })
    }

    /// The value read into `value`, if its frag `meta` is a `T`.
    #[inline(always)]
    fn checked(meta: FragMeta, value: T) -> Result<(FragMeta, T), Mismatch> {
        match Mismatch::of(&meta, size_of::<T>(), 0) {
            None => Ok((meta, value)),
            Some(m) => Err(m),
        }
    }

    /// Copies the next value out, with its frag's metadata.
    ///
    /// # Errors
    /// [`LossyTryRecvError::Empty`] if nothing new is published; `Overrun` if values were
    /// lost (the next read goes on at the oldest intact one); `WrongSize` for a frag of
    /// another size (consumed if it was shorter than a `T`, not if it was longer: see
    /// [`TryRecvError::WrongSize`](crate::typed::TryRecvError::WrongSize)); `Abandoned`
    /// for an empty ERR frag (consumed); `Closed`, `Failed` or `Corrupt` as the byte API.
    #[inline(always)]
    pub fn try_recv(&mut self) -> Result<(FragMeta, T), LossyTryRecvError> {
        let mut value = T::zeroed();
        match self.inner.try_recv(bytemuck::bytes_of_mut(&mut value)) {
            Ok(meta) => Ok(Self::checked(meta, value)?),
            Err(e) => Err(lossy_try(e, self.inner.next_seq())),
        }
    }

    /// [`try_recv`](Self::try_recv), waiting with the handle's [`Strategy`] while nothing
    /// is published.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv) except `Empty`.
    pub fn recv(&mut self) -> Result<(FragMeta, T), LossyRecvError> {
        let mut value = T::zeroed();
        match self.inner.recv(bytemuck::bytes_of_mut(&mut value)) {
            Ok(meta) => Ok(Self::checked(meta, value)?),
            Err(e) => Err(lossy_recv(e, self.inner.next_seq())),
        }
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// [`LossyRecvTimeoutError::Timeout`] if nothing arrived in time; otherwise as
    /// [`recv`](Self::recv).
    #[cfg(feature = "std")]
    pub fn recv_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<(FragMeta, T), LossyRecvTimeoutError> {
        let mut value = T::zeroed();
        match self
            .inner
            .recv_timeout(bytemuck::bytes_of_mut(&mut value), timeout)
        {
            Ok(meta) => Ok(Self::checked(meta, value)?),
            Err(e) => Err(lossy_timeout(e, self.inner.next_seq())),
        }
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// [`LossyRecvTimeoutError::Timeout`] if `wait` gives up; otherwise as
    /// [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(&mut self, wait: W) -> Result<(FragMeta, T), LossyRecvTimeoutError> {
        let mut value = T::zeroed();
        match self
            .inner
            .recv_with(bytemuck::bytes_of_mut(&mut value), wait)
        {
            Ok(meta) => Ok(Self::checked(meta, value)?),
            Err(e) => Err(lossy_timeout(e, self.inner.next_seq())),
        }
    }

    /// Copies the next value out (abandoned claims are skipped).
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv), except `Abandoned`.
    #[inline(always)]
    pub fn try_pop(&mut self) -> Result<T, LossyTryRecvError> {
        loop {
            match self.try_recv() {
                Ok((_, value)) => return Ok(value),
                Err(LossyTryRecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies the next value out, waiting with the handle's [`Strategy`] while nothing is
    /// published.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), except `Abandoned`.
    pub fn pop(&mut self) -> Result<T, LossyRecvError> {
        loop {
            match self.recv() {
                Ok((_, value)) => return Ok(value),
                Err(LossyRecvError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// [`pop`](Self::pop), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout), except `Abandoned`.
    #[cfg(feature = "std")]
    pub fn pop_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<T, LossyRecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.pop_with(self.inner.wait_strategy().until(deadline)),
            None => Ok(self.pop()?),
        }
    }

    /// [`pop`](Self::pop), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with), except `Abandoned`.
    pub fn pop_with<W: Wait>(&mut self, mut wait: W) -> Result<T, LossyRecvTimeoutError> {
        loop {
            match self.recv_with(&mut wait) {
                Ok((_, value)) => return Ok(value),
                Err(LossyRecvTimeoutError::Abandoned { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// A blocking iterator of copies: each `next` is a [`pop`](Self::pop), and overruns
    /// are read past (they are counted, in [`counters`](Self::counters) and the link's
    /// metrics). It ends at the end of the stream, or at a frag that is not a `T` or a
    /// fault: [`pop`](Self::pop) then tells which.
    pub fn iter(&mut self) -> LossyIter<'_, 'a, T> {
        LossyIter { rx: self }
    }

    /// A non-blocking iterator of copies: each `next` is a [`try_pop`](Self::try_pop),
    /// overruns are read past, and it ends when nothing is ready (or at anything else
    /// `try_pop` reports).
    pub fn try_iter(&mut self) -> LossyTryIter<'_, 'a, T> {
        LossyTryIter { rx: self }
    }

    /// The seq of the next frag this consumer will try to read.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// After an overrun, resume `margin` frags after the oldest intact one (see
    /// [`spsc::LossyConsumer::set_resume_margin`]).
    pub fn set_resume_margin(&mut self, margin: u64) {
        self.inner.set_resume_margin(margin);
    }

    /// Deliver only values whose `sig` `filter` accepts.
    pub fn set_filter(&mut self, filter: Option<SigFilter<'a>>) {
        self.inner.set_filter(filter);
    }

    /// The wait strategy of the blocking calls.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.inner.set_wait(wait);
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.inner.wait_strategy()
    }

    /// The ring's depth: how far the producer may get ahead before it overruns this
    /// consumer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// This consumer's counters (lost frags and bytes, by kind, among them).
    pub fn counters(&self) -> ConsumerCounters {
        self.inner.counters()
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        self.inner.metrics()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.inner.cnc()
    }

    /// Publishes this consumer's progress and counters now.
    pub fn housekeeping(&mut self) {
        self.inner.housekeeping();
    }

    /// The byte consumer underneath.
    pub fn as_bytes(&self) -> &spsc::LossyConsumer<'a> {
        &self.inner
    }

    /// The byte consumer underneath, to read a frag that is not a `T` (with a buffer of
    /// the link's mtu).
    pub fn as_bytes_mut(&mut self) -> &mut spsc::LossyConsumer<'a> {
        &mut self.inner
    }

    /// The byte consumer back.
    pub fn into_inner(self) -> spsc::LossyConsumer<'a> {
        self.inner
    }
}

impl<T> fmt::Debug for LossyConsumer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::LossyConsumer")
            .field("type", &core::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}

/// The blocking iterator of [`LossyConsumer::iter`].
pub struct LossyIter<'c, 'a, T> {
    rx: &'c mut LossyConsumer<'a, T>,
}

impl<T: Pod> Iterator for LossyIter<'_, '_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        loop {
            match self.rx.pop() {
                Ok(value) => return Some(value),
                Err(LossyRecvError::Overrun(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl<T> fmt::Debug for LossyIter<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossyIter").finish_non_exhaustive()
    }
}

/// The non-blocking iterator of [`LossyConsumer::try_iter`].
pub struct LossyTryIter<'c, 'a, T> {
    rx: &'c mut LossyConsumer<'a, T>,
}

impl<T: Pod> Iterator for LossyTryIter<'_, '_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        loop {
            match self.rx.try_pop() {
                Ok(value) => return Some(value),
                Err(LossyTryRecvError::Overrun(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl<T> fmt::Debug for LossyTryIter<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossyTryIter").finish_non_exhaustive()
    }
}
