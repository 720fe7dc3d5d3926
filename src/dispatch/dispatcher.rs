//! The producing end: `Dispatcher`, its builder, enqueue, shutdown and stop.

use core::fmt;
use core::time::Duration;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::{comp, Clock, StdClock};
use crate::dispatch::admission::{self, Admission, Refused};
use crate::dispatch::stats::{Refusal, Settings, Shared};
use crate::dispatch::{Batches, ConfigError, DispatchStats, EnqueueError, ShutdownError};
use crate::mpsc::{Ring, RingProducer};
use crate::sync::Ordering::Relaxed;
use crate::wait::{Strategy, Wait};
use crate::{FlowConfig, Header, PublishError};

/// The most bytes `max_buffered_bytes` may be: 2^40 - 1.
pub const MAX_BUFFERED_BYTES: u64 = admission::MAX_BYTES;

/// The most items a dispatcher may hold (`max_items`): 2^21, the largest power of two its
/// admission word can count.
pub const MAX_ITEMS: usize = 1 << 21;

/// The producing end of a dispatcher: `Clone + Send + Sync`; every clone enqueues into the
/// same stream. See the [module docs](crate::dispatch).
#[derive(Clone)]
pub struct Dispatcher {
    producer: RingProducer<'static>,
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// A builder with the defaults (see [`DispatcherBuilder`]).
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder {
            interval: Duration::from_millis(10),
            max_batch_bytes: 0,
            max_batch_items: None,
            max_buffered_bytes: None,
            max_items: 4096,
            max_item_bytes: 1024,
            clock: None,
            wait: Strategy::default(),
        }
    }

    /// Copies `item` into the dispatcher's ring, without blocking and without allocating.
    ///
    /// ```
    /// use milonga::dispatch::{Dispatcher, EnqueueError};
    ///
    /// let (tx, mut rx) = Dispatcher::builder().max_buffered_bytes(2).build()?;
    /// tx.enqueue(b"a")?;
    /// tx.enqueue(b"b")?; // exactly at the limit: accepted
    /// assert_eq!(tx.enqueue(b"c"), Err(EnqueueError::QueueFull));
    /// assert_eq!(
    ///     tx.enqueue(b"abc"),
    ///     Err(EnqueueError::PayloadTooLarge { len: 3, limit: 2 })
    /// );
    /// tx.stop();
    /// assert_eq!(tx.enqueue(b"a"), Err(EnqueueError::Stopped));
    /// assert_eq!(tx.stats().refused(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Checked in this order (tempo's): [`EnqueueError::Stopped`],
    /// [`EnqueueError::ShuttingDown`], [`EnqueueError::PayloadTooLarge`],
    /// [`EnqueueError::QueueFull`]. Each refusal is counted in [`DispatchStats`].
    #[inline]
    pub fn enqueue(&self, item: &[u8]) -> Result<(), EnqueueError> {
        self.try_enqueue(item, None).map_err(|why| self.refuse(why))
    }

    /// [`enqueue`](Self::enqueue) with the item's enqueue time given by the caller, in the
    /// dispatcher's clock ticks (nanoseconds of the clock given to
    /// [`clock`](DispatcherBuilder::clock), or of [`StdClock`]): for producers that
    /// already read the clock (an event's own timestamp, one reading for many items),
    /// which saves the dispatcher's clock reading when it is idle (about 25 to 50 ns for
    /// `StdClock` on a virtual machine) and gives the item an exact time. The time decides
    /// which batch the item falls in, as with `enqueue`; a time that is not the clock's
    /// only moves batch boundaries.
    ///
    /// ```
    /// use milonga::clock::{Clock, StdClock};
    /// use milonga::dispatch::Dispatcher;
    ///
    /// let (tx, mut rx) = Dispatcher::builder().max_batch_items(3).build()?;
    /// let now = StdClock.now(); // one reading for three items
    /// for item in [&b"a"[..], b"b", b"c"] {
    ///     tx.enqueue_at(item, now)?;
    /// }
    /// assert_eq!(rx.try_next_batch()?.first_enqueued(), now);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`enqueue`](Self::enqueue).
    #[inline]
    pub fn enqueue_at(&self, item: &[u8], at: u64) -> Result<(), EnqueueError> {
        self.try_enqueue(item, Some(at))
            .map_err(|why| self.refuse(why))
    }

    /// [`enqueue`](Self::enqueue), waiting while the queue is full (the "block" drop
    /// policy), for at most `timeout`, with the default [`Strategy`].
    ///
    /// ```
    /// use milonga::dispatch::{Dispatcher, EnqueueError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = Dispatcher::builder().max_buffered_bytes(1).build()?;
    /// tx.enqueue_timeout(b"a", Duration::from_millis(1))?;
    /// // Nobody reads: the second item waits, then is refused.
    /// let full = tx.enqueue_timeout(b"b", Duration::from_millis(1));
    /// assert_eq!(full, Err(EnqueueError::Timeout));
    /// assert_eq!((tx.stats().refused_timed_out, tx.stats().refused_queue_full), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`enqueue`](Self::enqueue), except that a full queue is waited on and becomes
    /// [`EnqueueError::Timeout`] (counted as `refused_timed_out`) when the time is up.
    pub fn enqueue_timeout(&self, item: &[u8], timeout: Duration) -> Result<(), EnqueueError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.enqueue_with(item, Strategy::default().until(deadline)),
            None => self.enqueue_with(item, Strategy::default().waiter()),
        }
    }

    /// [`enqueue`](Self::enqueue), waiting with `wait` while the queue is full.
    ///
    /// # Errors
    /// As [`enqueue_timeout`](Self::enqueue_timeout), with [`EnqueueError::Timeout`] when
    /// `wait` gives up.
    pub fn enqueue_with<W: Wait>(&self, item: &[u8], mut wait: W) -> Result<(), EnqueueError> {
        wait.reset();
        loop {
            match self.try_enqueue(item, None) {
                Ok(()) => return Ok(()),
                Err(Refusal::Admission(Refused::Full)) => {
                    if !wait.wait() {
                        return Err(self.refuse(Refusal::TimedOut));
                    }
                }
                Err(why) => return Err(self.refuse(why)),
            }
        }
    }

    /// One attempt, not counted.
    #[inline(always)]
    fn try_enqueue(&self, item: &[u8], at: Option<u64>) -> Result<(), Refusal> {
        let shared = &*self.shared;
        let word = shared.admission.check().map_err(Refusal::Admission)?;
        let len = item.len();
        if len > shared.settings.item_limit {
            return Err(Refusal::TooLarge(len));
        }
        // The time is taken before the admission, so that a clock that panics leaves
        // nothing admitted.
        let now = match at {
            Some(at) => at,
            None => shared.stamp(word.items()),
        };
        shared
            .admission
            .admit(len as u64)
            .map_err(Refusal::Admission)?;
        let hdr = Header::new(now).tsorig(comp(now));
        loop {
            match self.producer.try_publish(hdr, item) {
                Ok(_) => return Ok(()),
                // Admitted, so a slot is free once the consumer's published progress
                // reaches this producer (admission step 2): a matter of visibility only,
                // never of waiting for the consumer.
                Err(PublishError::NoCredits) => core::hint::spin_loop(),
                Err(_) => {
                    // The receiver is gone (it stops the dispatcher first, so this is
                    // the window between its stop and this admission's check).
                    shared.admission.release(1, len as u64);
                    return Err(Refusal::Admission(Refused::Stopped));
                }
            }
        }
    }

    #[cold]
    fn refuse(&self, why: Refusal) -> EnqueueError {
        self.shared.count_refusal(why);
        match why {
            Refusal::Admission(Refused::Stopped) => EnqueueError::Stopped,
            Refusal::Admission(Refused::ShuttingDown) => EnqueueError::ShuttingDown,
            Refusal::Admission(Refused::Full) => EnqueueError::QueueFull,
            Refusal::TimedOut => EnqueueError::Timeout,
            Refusal::TooLarge(len) => EnqueueError::PayloadTooLarge {
                len,
                limit: self.shared.settings.item_limit,
            },
        }
    }

    /// Stops accepting items, has the consumer flush what was accepted without waiting for
    /// intervals, and waits until every accepted item was delivered (its batch dropped by
    /// the consumer), for at most `timeout`. Then the batch stream ends. Safe to call more
    /// than once and from several threads; before any batch was taken it waits for a
    /// consumer like any other time, and returns at once if nothing was accepted.
    ///
    /// ```
    /// use milonga::dispatch::Dispatcher;
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = Dispatcher::builder().interval(Duration::from_secs(3600)).build()?;
    /// let worker = rx.spawn(|batch| assert_eq!(batch.len(), 2))?;
    /// tx.enqueue(b"one")?;
    /// tx.enqueue(b"two")?;
    /// tx.shutdown(Duration::from_secs(10))?; // flushed at once, not after an hour
    /// assert_eq!(worker.join().batches, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ShutdownError::Deadline`] if `timeout` passed first (the dispatcher is then
    /// stopped), [`ShutdownError::Stopped`] if a stop came first and left items
    /// undelivered.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.shutdown_deadline(deadline),
            None => self.shutdown_until(Strategy::default().waiter()),
        }
    }

    /// [`shutdown`](Self::shutdown) with a deadline.
    ///
    /// # Errors
    /// As [`shutdown`](Self::shutdown).
    pub fn shutdown_deadline(&self, deadline: Instant) -> Result<(), ShutdownError> {
        self.shutdown_until(Strategy::default().until(deadline))
    }

    fn shutdown_until(&self, mut waiter: impl Wait) -> Result<(), ShutdownError> {
        let shared = &*self.shared;
        shared.admission.shut_down();
        waiter.reset();
        loop {
            let word = shared.admission.load();
            let dropped = shared.out.dropped.load(Relaxed);
            if word.items() == 0 && dropped == 0 {
                return Ok(());
            }
            if word.stopped() {
                return Err(ShutdownError::Stopped {
                    undelivered: word.items() + dropped,
                });
            }
            if !waiter.wait() {
                let word = shared.admission.stop();
                if word.stopped() {
                    continue; // a stop came first: report it as such
                }
                return Err(ShutdownError::Deadline {
                    undelivered: word.items(),
                });
            }
        }
    }

    /// Stops at once: no new items; the consumer's stream ends at its next call, and what
    /// was accepted and not handed out is dropped and counted
    /// ([`DispatchStats::dropped`]). Idempotent; never waits, even while the consumer is
    /// busy or blocked.
    pub fn stop(&self) {
        self.shared.admission.stop();
    }

    /// A snapshot of the dispatcher's counters.
    pub fn stats(&self) -> DispatchStats {
        self.shared.stats()
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// Builds a dispatcher: obtained from [`Dispatcher::builder`], finished by
/// [`build`](Self::build). Every setting has a default; a bad one is a named
/// [`ConfigError`] and nothing is built.
///
/// Memory is allocated once, by `build`: a ring of `max_items` slots with
/// `round_up(max_item_bytes, 64)` payload bytes each (4096 slots of 1 KiB by default:
/// 4 MiB). Nothing is allocated per item.
///
/// ```
/// use milonga::dispatch::{ConfigError, Dispatcher};
/// use std::time::Duration;
///
/// let (tx, rx) = Dispatcher::builder()
///     .interval(Duration::from_millis(50))
///     .max_batch_bytes(16 * 1024)
///     .max_buffered_bytes(2 * 1024 * 1024)
///     .build()?;
/// let bad = Dispatcher::builder().interval(Duration::ZERO).build();
/// assert_eq!(bad.err(), Some(ConfigError::ZeroInterval));
/// # Ok::<(), ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build`"]
pub struct DispatcherBuilder {
    interval: Duration,
    max_batch_bytes: usize,
    max_batch_items: Option<usize>,
    max_buffered_bytes: Option<u64>,
    max_items: usize,
    max_item_bytes: usize,
    clock: Option<Arc<dyn Clock + Send + Sync>>,
    wait: Strategy,
}

impl DispatcherBuilder {
    /// How long after its first item's enqueue a batch is flushed, however small: more than
    /// zero; default 10 ms. (Measured with the dispatcher's [`clock`](Self::clock).)
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// A batch closes before an item that would take it over this many bytes, and as soon
    /// as it reaches them; an item longer than this goes out alone. Default 0: no byte
    /// limit (batches close by time, by [`max_batch_items`](Self::max_batch_items), at a
    /// shutdown).
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// A batch closes when it holds this many items: at least 1; default (and at most)
    /// `max_items`.
    pub fn max_batch_items(mut self, items: usize) -> Self {
        self.max_batch_items = Some(items);
        self
    }

    /// The most bytes of accepted items not yet delivered: an enqueue that would go over is
    /// [`QueueFull`](EnqueueError::QueueFull) (exactly at the limit is accepted), an item
    /// longer than this is [`PayloadTooLarge`](EnqueueError::PayloadTooLarge). More than
    /// zero, at most [`MAX_BUFFERED_BYTES`]; default `max_items * max_item_bytes`.
    pub fn max_buffered_bytes(mut self, bytes: u64) -> Self {
        self.max_buffered_bytes = Some(bytes);
        self
    }

    /// The most accepted items not yet delivered, whatever their size (so that zero-length
    /// items are bounded too): the depth of the dispatcher's ring, a power of two from 2 to
    /// [`MAX_ITEMS`]; default 4096.
    pub fn max_items(mut self, items: usize) -> Self {
        self.max_items = items;
        self
    }

    /// The longest item: the mtu of the ring's slots, at most 65535; default 1024. Longer
    /// items are [`PayloadTooLarge`](EnqueueError::PayloadTooLarge).
    pub fn max_item_bytes(mut self, bytes: usize) -> Self {
        self.max_item_bytes = bytes;
        self
    }

    /// The clock that stamps items and times intervals, in nanoseconds; default
    /// [`StdClock`]. A clock moved by hand makes interval tests deterministic.
    pub fn clock(mut self, clock: Arc<dyn Clock + Send + Sync>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How the [`Batches`] receiver waits for a batch; default [`Strategy::default()`]
    /// (spin, yield, then park up to 1 ms). Producers never wait.
    pub fn wait(mut self, wait: Strategy) -> Self {
        self.wait = wait;
        self
    }

    /// Builds the dispatcher: its producing and receiving ends.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad setting.
    pub fn build(self) -> Result<(Dispatcher, Batches), ConfigError> {
        let interval = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        if interval == 0 {
            return Err(ConfigError::ZeroInterval);
        }
        if self.max_items > MAX_ITEMS {
            return Err(ConfigError::TooManyItems);
        }
        let max_buffered = match self.max_buffered_bytes {
            Some(0) => return Err(ConfigError::ZeroMaxBufferedBytes),
            Some(b) if b > MAX_BUFFERED_BYTES => return Err(ConfigError::MaxBufferedBytesTooLarge),
            Some(b) => b,
            None => ((self.max_items * self.max_item_bytes) as u64).clamp(1, MAX_BUFFERED_BYTES),
        };
        let max_batch_items = match self.max_batch_items {
            Some(0) => return Err(ConfigError::ZeroMaxBatchItems),
            Some(n) => n.min(self.max_items),
            None => self.max_items,
        };
        // Credits for the whole ring, and no hysteresis: an admitted item must find its
        // slot as soon as the consumer released one (admission step 2).
        let flow = FlowConfig::new().cr_max(self.max_items as u64).cr_resume(1);
        let Ring {
            producer,
            consumer,
            metrics: _,
        } = Ring::builder()
            .depth(self.max_items)
            .mtu(self.max_item_bytes)
            .flow(flow)
            .heap()
            .map_err(ConfigError::Ring)?;
        let settings = Settings {
            interval,
            refresh: (interval / 16).max(1),
            max_batch_bytes: self.max_batch_bytes,
            max_batch_items,
            item_limit: self
                .max_item_bytes
                .min(usize::try_from(max_buffered).unwrap_or(usize::MAX)),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(StdClock));
        let admission = Admission::new(self.max_items as u64, max_buffered);
        let shared = Arc::new(Shared::new(admission, settings, clock));
        Ok((
            Dispatcher {
                // The ring's metrics are not shown; the dispatcher counts its own bytes.
                producer: producer.without_byte_count(),
                shared: shared.clone(),
            },
            Batches::new(consumer, shared, self.wait),
        ))
    }
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("interval", &self.interval)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_batch_items", &self.max_batch_items)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("max_items", &self.max_items)
            .field("max_item_bytes", &self.max_item_bytes)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}
