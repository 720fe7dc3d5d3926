//! The typed producer handle of a shared multi-producer ring, and its claim.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ops::{Deref, DerefMut};

use crate::cnc::Cnc;
use crate::error::PublishError;
use crate::frag::Header;
use crate::mpsc::{self, RingMetrics};
use crate::typed::{check, MtuError, Pod, PushError};
use crate::wait::{Strategy, Wait};

/// A producer handle of a shared ring (see [`mpsc`](crate::mpsc)), publishing values of
/// `T` through the byte [`mpsc::RingProducer`] it wraps: `Clone` (one more producer), and
/// every method takes `&self`. The ring's consumer is a typed
/// [`Consumer`](crate::typed::Consumer).
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::{typed, Header};
///
/// let ring = Ring::builder().depth(64).mtu(8).heap_pair()?;
/// let (tx, mut rx) = typed::ring::<u64>(ring)?;
/// std::thread::scope(|s| {
///     for p in 0..2u64 {
///         let tx = tx.clone();
///         s.spawn(move || {
///             for i in 0..100u64 {
///                 tx.publish(Header::new(p), i).unwrap(); // sig: the producer
///             }
///         });
///     }
///     drop(tx); // the stream closes when the last handle is gone
///     let mut next = [0u64; 2];
///     while let Ok(v) = rx.recv() {
///         let p = v.sig() as usize;
///         assert_eq!(*v, next[p]); // each producer's values in its order
///         next[p] += 1;
///     }
///     assert_eq!(next, [100, 100]);
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingProducer<'a, T> {
    inner: mpsc::RingProducer<'a>,
    /// Values of `T` go through; the handle is `Send` only if `T` is.
    _type: PhantomData<T>,
}

impl<'a, T: Pod> RingProducer<'a, T> {
    /// Wraps a byte ring producer.
    ///
    /// # Errors
    /// [`MtuError`] (with the byte handle back) if a `T` does not fit the ring's mtu. A `T`
    /// aligned to more than 8 bytes does not compile.
    // The error hands the byte handle back: it is as large as the typed handle.
    #[allow(clippy::result_large_err)]
    pub fn new(inner: mpsc::RingProducer<'a>) -> Result<Self, MtuError<mpsc::RingProducer<'a>>> {
        let mtu = inner.mtu();
        check::<T, _>(inner, mtu).map(Self::wrap)
    }

    /// Wraps a byte ring producer whose mtu was checked.
    pub(crate) fn wrap(inner: mpsc::RingProducer<'a>) -> Self {
        RingProducer {
            inner,
            _type: PhantomData,
        }
    }

    /// Publishes `value` (sig 0), if a credit is available. Returns its seq.
    ///
    /// # Errors
    /// [`PushError::Full`] if the consumer is a full window behind the claim cursor,
    /// [`PushError::Disconnected`] if the consumer is gone; the value comes back.
    #[inline(always)]
    pub fn try_push(&self, value: T) -> Result<u64, PushError<T>> {
        self.try_publish(Header::default(), value)
    }

    /// Publishes `value` (sig 0), waiting with the handle's [`Strategy`] for a credit.
    ///
    /// # Errors
    /// [`PushError::Disconnected`] if the consumer is gone; the value comes back.
    pub fn push(&self, value: T) -> Result<u64, PushError<T>> {
        self.publish(Header::default(), value)
    }

    /// [`push`](Self::push), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`push`](Self::push); [`PushError::Timeout`] if no credit came in time.
    #[cfg(feature = "std")]
    pub fn push_timeout(
        &self,
        value: T,
        timeout: std::time::Duration,
    ) -> Result<u64, PushError<T>> {
        self.publish_timeout(Header::default(), value, timeout)
    }

    /// [`push`](Self::push), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`push`](Self::push); [`PushError::Timeout`] if `wait` gives up.
    pub fn push_with<W: Wait>(&self, value: T, wait: W) -> Result<u64, PushError<T>> {
        self.publish_with(Header::default(), value, wait)
    }

    /// Publishes `value` with `hdr`, if a credit is available. Returns its seq.
    ///
    /// # Errors
    /// As [`try_push`](Self::try_push).
    #[inline(always)]
    pub fn try_publish(&self, hdr: Header, value: T) -> Result<u64, PushError<T>> {
        match self.inner.try_claim(size_of::<T>()) {
            Ok(claim) => Ok(RingClaim::<T>::wrap(claim).write(hdr, value)),
            Err(e) => Err(PushError::new(e, value)),
        }
    }

    /// Publishes `value` with `hdr`, waiting with the handle's [`Strategy`] for a credit.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn publish(&self, hdr: Header, value: T) -> Result<u64, PushError<T>> {
        match self.inner.claim(size_of::<T>()) {
            Ok(claim) => Ok(RingClaim::<T>::wrap(claim).write(hdr, value)),
            Err(e) => Err(PushError::new(e, value)),
        }
    }

    /// [`publish`](Self::publish), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`push_timeout`](Self::push_timeout).
    #[cfg(feature = "std")]
    pub fn publish_timeout(
        &self,
        hdr: Header,
        value: T,
        timeout: std::time::Duration,
    ) -> Result<u64, PushError<T>> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => {
                self.publish_with(hdr, value, self.inner.wait_strategy().until(deadline))
            }
            None => self.publish(hdr, value),
        }
    }

    /// [`publish`](Self::publish), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`push_with`](Self::push_with).
    pub fn publish_with<W: Wait>(
        &self,
        hdr: Header,
        value: T,
        wait: W,
    ) -> Result<u64, PushError<T>> {
        match self.inner.claim_with(size_of::<T>(), wait) {
            Ok(claim) => Ok(RingClaim::<T>::wrap(claim).write(hdr, value)),
            Err(e) => Err(PushError::new(e, value)),
        }
    }

    /// Claims the next seq and the space of its value, if a credit is available: write it
    /// through the claim's `&mut T`, then [`RingClaim::commit`]. Until then the consumer
    /// cannot read past this seq; dropped without a commit, the claim publishes an empty
    /// ERR frag (which typed consumers skip or report as `Abandoned`).
    ///
    /// The claimed `T` holds whatever bytes the region held before: set every field, or
    /// assign a whole value.
    ///
    /// # Errors
    /// [`PublishError::NoCredits`] or [`PublishError::Disconnected`], as
    /// [`try_push`](Self::try_push).
    ///
    /// ```
    /// use milonga::mpsc::Ring;
    /// use milonga::{typed, Header};
    ///
    /// let (tx, mut rx) = typed::ring::<[u16; 4]>(Ring::builder().depth(4).mtu(8).heap_pair()?)?;
    /// let mut claim = tx.try_claim()?;
    /// *claim = [1, 2, 3, 4];
    /// claim.commit_with(Header::new(9));
    /// let v = rx.try_recv()?;
    /// assert_eq!((v.sig(), *v), (9, [1, 2, 3, 4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn try_claim(&self) -> Result<RingClaim<'_, 'a, T>, PublishError> {
        Ok(RingClaim::wrap(self.inner.try_claim(size_of::<T>())?))
    }

    /// [`try_claim`](Self::try_claim), waiting with the handle's [`Strategy`] for a
    /// credit.
    ///
    /// # Errors
    /// [`PublishError::Disconnected`] if the consumer is gone.
    pub fn claim(&self) -> Result<RingClaim<'_, 'a, T>, PublishError> {
        Ok(RingClaim::wrap(self.inner.claim(size_of::<T>())?))
    }

    /// [`claim`](Self::claim), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`claim`](Self::claim); [`PublishError::Timeout`] if `wait` gives up.
    pub fn claim_with<W: Wait>(&self, wait: W) -> Result<RingClaim<'_, 'a, T>, PublishError> {
        Ok(RingClaim::wrap(
            self.inner.claim_with(size_of::<T>(), wait)?,
        ))
    }

    /// The seq the next claim (by any handle) will take, as of now.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// The ring's depth.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The consumer is gone.
    #[inline]
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }

    /// The wait strategy of this handle's blocking calls (a clone starts with the same).
    pub fn set_wait(&mut self, wait: Strategy) {
        self.inner.set_wait(wait);
    }

    /// The wait strategy of this handle's blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.inner.wait_strategy()
    }

    /// Someone asked the producers to halt; acknowledge it by dropping every handle.
    pub fn halt_requested(&self) -> bool {
        self.inner.halt_requested()
    }

    /// The ring's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.inner.cnc()
    }

    /// A handle for taking metrics snapshots of the ring from any thread.
    pub fn metrics(&self) -> RingMetrics<'a> {
        self.inner.metrics()
    }

    /// Drops this handle; the stream closes when the last one is gone.
    pub fn halt(self) {}

    /// The byte handle underneath.
    pub fn as_bytes(&self) -> &mpsc::RingProducer<'a> {
        &self.inner
    }

    /// The byte handle underneath, mutably (for its `set_wait`).
    pub fn as_bytes_mut(&mut self) -> &mut mpsc::RingProducer<'a> {
        &mut self.inner
    }

    /// The byte handle back.
    pub fn into_inner(self) -> mpsc::RingProducer<'a> {
        self.inner
    }
}

impl<T> Clone for RingProducer<'_, T> {
    /// Another handle to the same ring: one more producer.
    fn clone(&self) -> Self {
        RingProducer {
            inner: self.inner.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for RingProducer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::RingProducer")
            .field("type", &core::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}

/// A claimed seq and the space of its value, from [`RingProducer::try_claim`]: write the
/// value through `DerefMut` (a `&mut T` in the ring's store), then
/// [`commit`](Self::commit). Dropped without a commit, it publishes an empty ERR frag.
pub struct RingClaim<'p, 'a, T> {
    inner: mpsc::RingClaim<'p, 'a>,
    _type: PhantomData<&'p mut T>,
}

impl<'p, 'a, T: Pod> RingClaim<'p, 'a, T> {
    /// Wraps a byte claim of exactly `size_of::<T>()` bytes.
    fn wrap(inner: mpsc::RingClaim<'p, 'a>) -> Self {
        debug_assert_eq!(inner.len(), size_of::<T>());
        RingClaim {
            inner,
            _type: PhantomData,
        }
    }

    /// Writes `value` and publishes it with `hdr`.
    #[inline(always)]
    fn write(mut self, hdr: Header, value: T) -> u64 {
        *self = value;
        self.commit_with(hdr)
    }

    /// The claimed seq.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.inner.seq()
    }

    /// Sets the header the value will be published with (default: sig 0).
    pub fn set_header(&mut self, hdr: Header) {
        self.inner.set_header(hdr);
    }

    /// Publishes the value. Returns its seq.
    #[inline(always)]
    pub fn commit(self) -> u64 {
        match self.inner.commit(size_of::<T>()) {
            Ok(seq) => seq,
            Err(_) => unreachable!("the claim is exactly one value long"),
        }
    }

    /// [`set_header`](Self::set_header) then [`commit`](Self::commit).
    #[inline(always)]
    pub fn commit_with(mut self, hdr: Header) -> u64 {
        self.set_header(hdr);
        self.commit()
    }
}

impl<T: Pod> Deref for RingClaim<'_, '_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // Exactly `size_of::<T>()` bytes (claimed so) at the start of the slot's region, an
        // 8-aligned address (regions start on chunk boundaries: module docs), and
        // `align_of::<T>() <= 8` (checked at compile time): the checked cast never fails.
        bytemuck::from_bytes(&self.inner)
    }
}

impl<T: Pod> DerefMut for RingClaim<'_, '_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // As in `deref`.
        bytemuck::from_bytes_mut(&mut self.inner)
    }
}

impl<T> fmt::Debug for RingClaim<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::RingClaim")
            .field("inner", &self.inner)
            .finish()
    }
}
