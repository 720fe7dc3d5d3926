//! The typed producing end of an SPSC link, and its in-place claim.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ops::{Deref, DerefMut};

use crate::clock::ClockRef;
use crate::cnc::{Cnc, ProducerCounters};
use crate::error::PublishError;
use crate::frag::Header;
use crate::metrics::Metrics;
use crate::spsc::{self, Exclusive, WriteMode};
use crate::typed::{check, MtuError, Pod, PushError};
use crate::wait::{Strategy, Wait};

/// The producing end of a link, publishing values of `T` (one frag of `size_of::<T>()`
/// bytes each) through the byte [`spsc::Producer`] it wraps. `W` is the byte producer's
/// write mode: [`Exclusive`] (reliable consumers only; in-place claims) or
/// [`Shared`](crate::spsc::Shared) (lossy consumers too).
///
/// The `push` calls publish with the default [`Header`] (sig 0); the `publish` calls take
/// one. Every call that cannot publish hands the value back in its [`PushError`].
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{typed, Header};
///
/// let (tx, rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// let mut tx = typed::Producer::<u64>::new(tx)?;
/// let mut rx = typed::Consumer::<u64>::new(rx)?;
/// tx.try_push(7)?;
/// tx.try_publish(Header::new(3), 8)?; // sig 3
/// let mut claim = tx.try_claim()?; // a `&mut u64` in the link's store
/// *claim = 9;
/// claim.commit();
/// assert_eq!(rx.try_pop()?, 7);
/// assert_eq!(rx.try_recv()?.sig(), 3);
/// assert_eq!(*rx.try_recv()?, 9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<'a, T, W: WriteMode = Exclusive> {
    inner: spsc::Producer<'a, W>,
    /// Values of `T` go through; the handle is `Send` only if `T` is.
    _type: PhantomData<T>,
}

impl<'a, T: Pod, W: WriteMode> Producer<'a, T, W> {
    /// Wraps a byte producer.
    ///
    /// # Errors
    /// [`MtuError`] (with the byte producer back, still open) if a `T` does not fit the
    /// link's mtu. A `T` aligned to more than 8 bytes does not compile (see the
    /// [module docs](crate::typed)).
    // The error hands the byte handle back: it is as large as the typed handle.
    #[allow(clippy::result_large_err)]
    pub fn new(inner: spsc::Producer<'a, W>) -> Result<Self, MtuError<spsc::Producer<'a, W>>> {
        let mtu = inner.mtu();
        check::<T, _>(inner, mtu).map(Self::wrap)
    }

    /// Wraps a byte producer whose mtu was checked.
    pub(crate) fn wrap(inner: spsc::Producer<'a, W>) -> Self {
        Producer {
            inner,
            _type: PhantomData,
        }
    }

    /// Publishes `value` (sig 0), if a credit is available. Returns the frag's seq.
    ///
    /// # Errors
    /// [`PushError::Full`] if a reliable consumer is a full window behind,
    /// [`PushError::Disconnected`] if every consumer is gone; the value comes back.
    #[inline(always)]
    pub fn try_push(&mut self, value: T) -> Result<u64, PushError<T>> {
        self.try_publish(Header::default(), value)
    }

    /// Publishes `value` (sig 0), waiting with the handle's [`Strategy`] for a credit.
    ///
    /// # Errors
    /// [`PushError::Disconnected`] if every consumer is gone; the value comes back.
    pub fn push(&mut self, value: T) -> Result<u64, PushError<T>> {
        self.publish(Header::default(), value)
    }

    /// [`push`](Self::push), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`push`](Self::push); [`PushError::Timeout`] if no credit came in time.
    #[cfg(feature = "std")]
    pub fn push_timeout(
        &mut self,
        value: T,
        timeout: std::time::Duration,
    ) -> Result<u64, PushError<T>> {
        self.publish_timeout(Header::default(), value, timeout)
    }

    /// [`push`](Self::push), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`push`](Self::push); [`PushError::Timeout`] if `wait` gives up.
    pub fn push_with<Wt: Wait>(&mut self, value: T, wait: Wt) -> Result<u64, PushError<T>> {
        self.publish_with(Header::default(), value, wait)
    }

    /// Publishes `value` with `hdr` (its `sig` is what consumers filter and route on), if
    /// a credit is available. Returns the frag's seq.
    ///
    /// # Errors
    /// As [`try_push`](Self::try_push).
    #[inline(always)]
    pub fn try_publish(&mut self, hdr: Header, value: T) -> Result<u64, PushError<T>> {
        self.inner
            .try_publish(hdr, bytemuck::bytes_of(&value))
            .map_err(|e| PushError::new(e, value))
    }

    /// Publishes `value` with `hdr`, waiting with the handle's [`Strategy`] for a credit.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn publish(&mut self, hdr: Header, value: T) -> Result<u64, PushError<T>> {
        self.inner
            .publish(hdr, bytemuck::bytes_of(&value))
            .map_err(|e| PushError::new(e, value))
    }

    /// [`publish`](Self::publish), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`push_timeout`](Self::push_timeout).
    #[cfg(feature = "std")]
    pub fn publish_timeout(
        &mut self,
        hdr: Header,
        value: T,
        timeout: std::time::Duration,
    ) -> Result<u64, PushError<T>> {
        self.inner
            .publish_timeout(hdr, bytemuck::bytes_of(&value), timeout)
            .map_err(|e| PushError::new(e, value))
    }

    /// [`publish`](Self::publish), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`push_with`](Self::push_with).
    pub fn publish_with<Wt: Wait>(
        &mut self,
        hdr: Header,
        value: T,
        wait: Wt,
    ) -> Result<u64, PushError<T>> {
        self.inner
            .publish_with(hdr, bytemuck::bytes_of(&value), wait)
            .map_err(|e| PushError::new(e, value))
    }

    /// The seq the next value will have.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// Values that can be pushed now without reading the consumers' progress.
    #[inline]
    pub fn credits(&self) -> u64 {
        self.inner.credits()
    }

    /// The ring's depth: the most values published and not yet released.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Every consumer of the link is gone.
    #[inline]
    pub fn is_disconnected(&self) -> bool {
        self.inner.is_disconnected()
    }

    /// The wait strategy of the blocking calls ([`push`](Self::push), ...).
    pub fn set_wait(&mut self, wait: Strategy) {
        self.inner.set_wait(wait);
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.inner.wait_strategy()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.inner.cnc()
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        self.inner.metrics()
    }

    /// Gives the producer a clock (see [`spsc::Producer::set_clock`]).
    pub fn set_clock(&mut self, clock: impl Into<ClockRef<'a>>) {
        self.inner.set_clock(clock);
    }

    /// Someone asked this producer to halt; acknowledge it with [`halt`](Self::halt).
    pub fn halt_requested(&self) -> bool {
        self.inner.halt_requested()
    }

    /// The producer's counters as it knows them now.
    pub fn counters(&self) -> ProducerCounters {
        self.inner.counters()
    }

    /// The producer's periodic work (see [`spsc::Producer::housekeeping`]).
    pub fn housekeeping(&mut self) {
        self.inner.housekeeping();
    }

    /// Closes the stream: consumers drain every value published so far and then see the
    /// end.
    pub fn halt(self) {
        self.inner.halt();
    }

    /// The byte producer underneath.
    pub fn as_bytes(&self) -> &spsc::Producer<'a, W> {
        &self.inner
    }

    /// The byte producer underneath, to publish frags of other sizes (which typed
    /// consumers report as `WrongSize`) or messages of several frags.
    pub fn as_bytes_mut(&mut self) -> &mut spsc::Producer<'a, W> {
        &mut self.inner
    }

    /// The byte producer back.
    pub fn into_inner(self) -> spsc::Producer<'a, W> {
        self.inner
    }
}

impl<'a, T: Pod> Producer<'a, T, Exclusive> {
    /// Claims the space of the next value in the link's store, if a credit is available:
    /// write it through the claim's `&mut T`, then [`WriteClaim::commit`]. Dropped without
    /// a commit, nothing is published. Only on links without lossy consumers
    /// ([`Exclusive`]): a lossy reader may be copying the store, so no `&mut` into it is
    /// handed out otherwise.
    ///
    /// The claimed `T` holds whatever bytes the region held before (a valid but stale `T`):
    /// set every field, or assign a whole value.
    ///
    /// # Errors
    /// [`PublishError::NoCredits`] or [`PublishError::Disconnected`], as
    /// [`try_push`](Self::try_push) (there is no value to hand back).
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::typed;
    ///
    /// let (tx, rx) = Link::builder().depth(4).mtu(16).heap_pair()?;
    /// let (mut tx, mut rx) = typed::pair::<[u32; 4], _>((tx, rx))?;
    /// let mut claim = tx.try_claim()?;
    /// *claim = [0; 4];
    /// claim[2] = 5;
    /// assert_eq!(claim.commit(), 0);
    /// assert_eq!(rx.try_pop()?, [0, 0, 5, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn try_claim(&mut self) -> Result<WriteClaim<'_, 'a, T>, PublishError> {
        Ok(WriteClaim::wrap(self.inner.try_claim(size_of::<T>())?))
    }

    /// [`try_claim`](Self::try_claim), waiting with the handle's [`Strategy`] for a
    /// credit.
    ///
    /// # Errors
    /// [`PublishError::Disconnected`] if every consumer is gone.
    pub fn claim(&mut self) -> Result<WriteClaim<'_, 'a, T>, PublishError> {
        Ok(WriteClaim::wrap(self.inner.claim(size_of::<T>())?))
    }

    /// [`claim`](Self::claim), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`claim`](Self::claim); [`PublishError::Timeout`] if `wait` gives up.
    pub fn claim_with<Wt: Wait>(
        &mut self,
        wait: Wt,
    ) -> Result<WriteClaim<'_, 'a, T>, PublishError> {
        Ok(WriteClaim::wrap(
            self.inner.claim_with(size_of::<T>(), wait)?,
        ))
    }
}

impl<T, W: WriteMode> fmt::Debug for Producer<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::Producer")
            .field("type", &core::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}

/// The space of one value claimed by [`Producer::try_claim`]: write it through `DerefMut`
/// (a `&mut T` in the link's store), then [`commit`](Self::commit). Dropped without a
/// commit, nothing is published.
pub struct WriteClaim<'p, 'a, T> {
    inner: spsc::WriteClaim<'p, 'a>,
    _type: PhantomData<&'p mut T>,
}

impl<'p, 'a, T: Pod> WriteClaim<'p, 'a, T> {
    /// Wraps a byte claim of exactly `size_of::<T>()` bytes.
    fn wrap(inner: spsc::WriteClaim<'p, 'a>) -> Self {
        debug_assert_eq!(inner.len(), size_of::<T>());
        WriteClaim {
            inner,
            _type: PhantomData,
        }
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

impl<T: Pod> Deref for WriteClaim<'_, '_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // Exactly `size_of::<T>()` bytes (claimed so) at an 8-aligned address (the store's
        // alignment guarantee, module docs) and `align_of::<T>() <= 8` (checked at compile
        // time by the constructor): the checked cast never fails.
        bytemuck::from_bytes(&self.inner)
    }
}

impl<T: Pod> DerefMut for WriteClaim<'_, '_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // As in `deref`.
        bytemuck::from_bytes_mut(&mut self.inner)
    }
}

impl<T> fmt::Debug for WriteClaim<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("typed::WriteClaim")
            .field("inner", &self.inner)
            .finish()
    }
}
