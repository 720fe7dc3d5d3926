//! A consumer's published progress (the next seq it needs) and its diagnostic counters.
//!
//! The consumer is the only writer of its progress and of its consumption counters; the
//! producer is the only writer of the `slow` counter (how often this consumer was the one
//! that held the producer back). Progress sits on its own cache line, the counters on
//! another: the producer reads the progress line only when it refreshes its credits.

use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::*, FSEQ_ACQUIRE, FSEQ_PUBLISH};

struct Progress {
    /// The next seq the consumer needs: every frag before it has been released.
    seq: AtomicU64,
    /// The consumer is gone and no longer gates the producer.
    detached: AtomicBool,
}

struct Diag {
    consumed_frags: AtomicU64,
    consumed_bytes: AtomicU64,
    slow: AtomicU64,
}

/// A consumer's flow-control sequence.
pub(crate) struct Fseq {
    progress: CachePadded<Progress>,
    diag: CachePadded<Diag>,
}

/// The counters of an fseq, as last published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FseqCounters {
    pub(crate) consumed_frags: u64,
    pub(crate) consumed_bytes: u64,
    pub(crate) slow: u64,
}

macro_rules! fseq_new {
    ($seq0:expr) => {
        Fseq {
            progress: CachePadded::new(Progress {
                seq: AtomicU64::new($seq0),
                detached: AtomicBool::new(false),
            }),
            diag: CachePadded::new(Diag {
                consumed_frags: AtomicU64::new(0),
                consumed_bytes: AtomicU64::new(0),
                slow: AtomicU64::new(0),
            }),
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

    /// Consumer: publishes its consumption counters.
    #[inline]
    pub(crate) fn publish_consumed(&self, frags: u64, bytes: u64) {
        self.diag.consumed_frags.store(frags, Relaxed);
        self.diag.consumed_bytes.store(bytes, Relaxed);
    }

    /// Producer: publishes how often this consumer held it back.
    #[inline]
    pub(crate) fn publish_slow(&self, slow: u64) {
        self.diag.slow.store(slow, Relaxed);
    }

    /// Any thread: the counters as last published.
    pub(crate) fn counters(&self) -> FseqCounters {
        FseqCounters {
            consumed_frags: self.diag.consumed_frags.load(Relaxed),
            consumed_bytes: self.diag.consumed_bytes.load(Relaxed),
            slow: self.diag.slow.load(Relaxed),
        }
    }
}
