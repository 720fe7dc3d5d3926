//! A consumer's published progress (the next seq it needs) and its diagnostic counters.
//!
//! The consumer is the only writer of its progress and of its counters; the producer is
//! the only writer of the `slow` counter (how often this consumer was the one that held it
//! back). Progress, consumer counters and the producer's counter each sit on their own
//! cache line: the producer reads the progress line only when it refreshes its credits.

use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::*, FSEQ_ACQUIRE, FSEQ_PUBLISH};

struct Progress {
    /// The next seq the consumer needs: every frag before it has been released.
    seq: AtomicU64,
    /// The consumer is gone and no longer gates the producer.
    detached: AtomicBool,
}

/// What one consumer did with the frags published to it, as counted by the consumer.
///
/// At any quiescent point (producer halted, consumer drained),
/// `published = consumed + filtered + lost` holds in frags and in bytes, where
/// `lost = poll_lost + read_lost` frags and `lost_bytes` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerCounters {
    /// Frags delivered to the application.
    pub consumed_frags: u64,
    /// Payload bytes delivered to the application.
    pub consumed_bytes: u64,
    /// Frags skipped by the consumer's `sig` filter.
    pub filtered_frags: u64,
    /// Payload bytes of the filtered frags.
    pub filtered_bytes: u64,
    /// Overruns found while polling: the slot already held a later frag (lossy only).
    pub poll_overruns: u64,
    /// Frags lost to overruns found while polling.
    pub poll_lost: u64,
    /// Overruns found while reading: the slot changed under the copy (lossy only).
    pub read_overruns: u64,
    /// Frags lost to overruns found while reading.
    pub read_lost: u64,
    /// Payload bytes of all lost frags.
    pub lost_bytes: u64,
}

impl ConsumerCounters {
    /// Frags lost to overruns of either kind.
    pub fn lost_frags(&self) -> u64 {
        self.poll_lost + self.read_lost
    }
}

struct Diag {
    counters: [AtomicU64; 9],
}

/// A consumer's flow-control sequence and counters.
pub(crate) struct Fseq {
    progress: CachePadded<Progress>,
    diag: CachePadded<Diag>,
    slow: CachePadded<AtomicU64>,
}

macro_rules! fseq_new {
    ($seq0:expr) => {
        Fseq {
            progress: CachePadded::new(Progress {
                seq: AtomicU64::new($seq0),
                detached: AtomicBool::new(false),
            }),
            diag: CachePadded::new(Diag {
                counters: [
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                    AtomicU64::new(0),
                ],
            }),
            slow: CachePadded::new(AtomicU64::new(0)),
        }
    };
}

impl Fseq {
    /// An fseq whose consumer starts at `seq0`.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn new(seq0: u64) -> Fseq {
        fseq_new!(seq0)
    }

    /// See the non-loom variant.
    #[cfg(milonga_loom)]
    pub(crate) fn new(seq0: u64) -> Fseq {
        fseq_new!(seq0)
    }

    /// Consumer: every frag before `seq` is released (credit return). Release ordering:
    /// the consumer's reads of those payloads happen before the producer reuses them.
    #[inline(always)]
    pub(crate) fn publish(&self, seq: u64) {
        self.progress.seq.store(seq, FSEQ_PUBLISH);
    }

    /// Producer: the consumer's last published progress (credit refill).
    #[inline(always)]
    pub(crate) fn query(&self) -> u64 {
        self.progress.seq.load(FSEQ_ACQUIRE)
    }

    /// Consumer: it is gone; after this it never touches the link again.
    pub(crate) fn detach(&self) {
        self.progress.detached.store(true, Release);
    }

    /// Producer: the consumer is gone.
    #[inline]
    pub(crate) fn is_detached(&self) -> bool {
        self.progress.detached.load(Acquire)
    }

    /// Consumer: publishes its counters.
    #[inline]
    pub(crate) fn publish_counters(&self, c: &ConsumerCounters) {
        let values = [
            c.consumed_frags,
            c.consumed_bytes,
            c.filtered_frags,
            c.filtered_bytes,
            c.poll_overruns,
            c.poll_lost,
            c.read_overruns,
            c.read_lost,
            c.lost_bytes,
        ];
        for (cell, v) in self.diag.counters.iter().zip(values) {
            cell.store(v, Relaxed);
        }
    }

    /// Any thread: the consumer's counters as last published.
    pub(crate) fn counters(&self) -> ConsumerCounters {
        let v = |i: usize| self.diag.counters[i].load(Relaxed);
        ConsumerCounters {
            consumed_frags: v(0),
            consumed_bytes: v(1),
            filtered_frags: v(2),
            filtered_bytes: v(3),
            poll_overruns: v(4),
            poll_lost: v(5),
            read_overruns: v(6),
            read_lost: v(7),
            lost_bytes: v(8),
        }
    }

    /// Producer: publishes how often this consumer held it back.
    #[inline]
    pub(crate) fn publish_slow(&self, slow: u64) {
        self.slow.store(slow, Relaxed);
    }

    /// Any thread: how often this consumer held the producer back.
    pub(crate) fn slow(&self) -> u64 {
        self.slow.load(Relaxed)
    }
}
