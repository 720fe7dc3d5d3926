//! The dispatcher's shared state besides the ring, and its statistics.

use core::fmt;
use std::sync::Arc;

use crate::clock::Clock;
use crate::dispatch::admission::{Admission, Refused};
use crate::sync::{AtomicU64, CachePadded, Ordering::Relaxed};

/// What the dispatcher's handles share besides the ring.
pub(crate) struct Shared {
    pub(crate) admission: CachePadded<Admission>,
    /// Refusals by reason: written by producers, on the refusal path only.
    refused: CachePadded<Refusals>,
    /// Written by the consumer only (plain stores of its own counts), once per batch.
    pub(crate) out: CachePadded<Delivered>,
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock + Send + Sync>,
    /// A recent reading of the clock, shared by the handles: the time of an item enqueued
    /// while others are pending (see [`Shared::stamp`]).
    recent: CachePadded<AtomicU64>,
}

/// The settings the handles read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Clock ticks (nanoseconds) from a batch's first item to its flush.
    pub(crate) interval: u64,
    /// `max(interval / 16, 1)`: how old the shared recent reading may get while the
    /// consumer polls.
    pub(crate) refresh: u64,
    /// 0: no byte limit per batch.
    pub(crate) max_batch_bytes: usize,
    pub(crate) max_batch_items: usize,
    /// The longest item accepted: the smaller of the ring's mtu and `max_buffered_bytes`.
    pub(crate) item_limit: usize,
}

#[derive(Debug, Default)]
struct Refusals {
    stopped: AtomicU64,
    shutting_down: AtomicU64,
    too_large: AtomicU64,
    full: AtomicU64,
    timed_out: AtomicU64,
}

/// The consumer's counts, published for [`DispatchStats`].
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    pub(crate) items: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        admission: Admission,
        settings: Settings,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Self {
        Shared {
            admission: CachePadded::new(admission),
            refused: CachePadded::new(Refusals::default()),
            out: CachePadded::new(Delivered::default()),
            settings,
            clock,
            recent: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The time of an item enqueued when `pending` items were pending: a clock reading if
    /// none was (the item starts a batch), else the shared recent reading (which the
    /// consumer refreshes while it waits for a batch to fill), so that a producer reads
    /// the clock only when the dispatcher is idle.
    #[inline(always)]
    pub(crate) fn stamp(&self, pending: u64) -> u64 {
        if pending == 0 {
            let now = self.clock.now();
            self.recent.fetch_max(now, Relaxed);
            now
        } else {
            self.recent.load(Relaxed)
        }
    }

    /// The consumer read the clock (`now`): refreshes the recent reading if it is
    /// [`Settings::refresh`] old or more (so its line is written at most 16 times an
    /// interval).
    #[inline]
    pub(crate) fn refresh(&self, now: u64) {
        if now
            >= self
                .recent
                .load(Relaxed)
                .saturating_add(self.settings.refresh)
        {
            self.recent.fetch_max(now, Relaxed);
        }
    }

    /// Counts a refusal (the cold path of an enqueue).
    #[cold]
    pub(crate) fn count_refusal(&self, why: Refusal) {
        let r = &self.refused;
        let counter = match why {
            Refusal::Admission(Refused::Stopped) => &r.stopped,
            Refusal::Admission(Refused::ShuttingDown) => &r.shutting_down,
            Refusal::Admission(Refused::Full) => &r.full,
            Refusal::TooLarge(_) => &r.too_large,
            Refusal::TimedOut => &r.timed_out,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn stats(&self) -> DispatchStats {
        let w = self.admission.load();
        let state = if w.stopped() {
            DispatchState::Stopped
        } else if w.shutting_down() {
            DispatchState::ShuttingDown
        } else {
            DispatchState::Running
        };
        DispatchStats {
            state,
            pending_items: w.items(),
            pending_bytes: w.bytes(),
            delivered_items: self.out.items.load(Relaxed),
            delivered_bytes: self.out.bytes.load(Relaxed),
            batches: self.out.batches.load(Relaxed),
            dropped: self.out.dropped.load(Relaxed),
            handler_panics: self.out.handler_panics.load(Relaxed),
            refused_queue_full: self.refused.full.load(Relaxed),
            refused_too_large: self.refused.too_large.load(Relaxed),
            refused_shutting_down: self.refused.shutting_down.load(Relaxed),
            refused_stopped: self.refused.stopped.load(Relaxed),
            refused_timed_out: self.refused.timed_out.load(Relaxed),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("admission", &*self.admission)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why an enqueue was refused, for its counter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    Admission(Refused),
    TooLarge(usize),
    TimedOut,
}

/// Where a dispatcher is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DispatchState {
    /// Accepting items.
    #[default]
    Running,
    /// A shutdown began: no new items; the consumer flushes what was accepted.
    ShuttingDown,
    /// Stopped: no new items; what was not delivered is dropped.
    Stopped,
}

/// A snapshot of a dispatcher's counters, from
/// [`Dispatcher::stats`](crate::dispatch::Dispatcher::stats) or
/// [`Batches::stats`](crate::dispatch::Batches::stats).
///
/// Every accepted item is, at any moment, pending, delivered or dropped:
/// `accepted = pending_items + delivered_items + dropped` (exact once the dispatcher is
/// quiet; a snapshot taken while a batch ends may see it in neither or both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DispatchStats {
    /// The state when the snapshot was taken.
    pub state: DispatchState,
    /// Accepted items not yet released by the consumer (in the ring, in the batch being
    /// formed, or in a batch being handled).
    pub pending_items: u64,
    /// Their bytes: what `max_buffered_bytes` bounds.
    pub pending_bytes: u64,
    /// Items in batches the consumer has finished (dropped the [`Batch`](crate::dispatch::Batch)).
    pub delivered_items: u64,
    /// Their bytes.
    pub delivered_bytes: u64,
    /// Batches the consumer has finished.
    pub batches: u64,
    /// Accepted items a stop dropped before they were handed out (counted by the
    /// [`Batches`](crate::dispatch::Batches) receiver, at its next call or when it is
    /// dropped).
    pub dropped: u64,
    /// Handler calls of a [`Worker`](crate::dispatch::Worker) that panicked (their
    /// batches count as delivered: the handler had them).
    pub handler_panics: u64,
    /// Enqueues refused with [`QueueFull`](crate::dispatch::EnqueueError::QueueFull).
    pub refused_queue_full: u64,
    /// Enqueues refused with
    /// [`PayloadTooLarge`](crate::dispatch::EnqueueError::PayloadTooLarge).
    pub refused_too_large: u64,
    /// Enqueues refused with [`ShuttingDown`](crate::dispatch::EnqueueError::ShuttingDown).
    pub refused_shutting_down: u64,
    /// Enqueues refused with [`Stopped`](crate::dispatch::EnqueueError::Stopped).
    pub refused_stopped: u64,
    /// Waiting enqueues refused with [`Timeout`](crate::dispatch::EnqueueError::Timeout).
    pub refused_timed_out: u64,
}

impl DispatchStats {
    /// Items accepted so far: pending, delivered or dropped.
    pub fn accepted(&self) -> u64 {
        self.pending_items + self.delivered_items + self.dropped
    }

    /// Enqueues refused so far, for any reason.
    pub fn refused(&self) -> u64 {
        self.refused_queue_full
            + self.refused_too_large
            + self.refused_shutting_down
            + self.refused_stopped
            + self.refused_timed_out
    }
}

impl fmt::Display for DispatchStats {
    /// Two lines: deliveries and what is pending, then drops and refusals by reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:?}: delivered {} items ({} B) in {} batches, pending {} ({} B)",
            self.state,
            self.delivered_items,
            self.delivered_bytes,
            self.batches,
            self.pending_items,
            self.pending_bytes
        )?;
        write!(
            f,
            "  dropped {}; refused: full {}, timed out {}, too large {}, shut {}, stopped {}",
            self.dropped,
            self.refused_queue_full,
            self.refused_timed_out,
            self.refused_too_large,
            self.refused_shutting_down,
            self.refused_stopped
        )?;
        if self.handler_panics > 0 {
            write!(f, "; handler panics {}", self.handler_panics)?;
        }
        Ok(())
    }
}
