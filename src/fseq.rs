//! A consumer's published progress (the next seq it needs) and its diagnostic counters.
//!
//! The consumer is the only writer of its progress and of its counters; the producer is
//! the only writer of the `slow` counter (how often this consumer was the one that held it
//! back). Progress, consumer counters and the producer's counter each sit on their own
//! cache line: the producer reads the progress line only when it refreshes its credits.

use crate::clock::ClockRef;
use crate::seq;
use crate::sync::{
    AtomicBool, AtomicU64, CachePadded, Ordering::*, Ref, FSEQ_ACQUIRE, FSEQ_PUBLISH,
};

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

/// Consecutive idle polls at one seq after which a shared ring's consumer looks at the claim
/// cursor (and again every as many polls until it reports a stall). A claim is normally
/// published within nanoseconds of being made, so only a claim that stays unpublished this
/// long is worth reporting, and the consumer does not pull the producers' hot line into its
/// cache on every empty poll.
pub(crate) const STALL_POLLS: u64 = 64;

/// "No clock": the value of [`StallWatch::since`] for a consumer without a clock.
const NO_CLOCK: u64 = u64::MAX;

/// A shared multi-producer ring's watch over the oldest claimed but unpublished frag.
///
/// Written only by the ring's consumer, on its idle path: when it has found its next seq
/// unpublished on a multiple of [`STALL_POLLS`] consecutive idle polls and the claim cursor
/// is past that seq, the seq was claimed by a producer that has not published it yet.
/// Every frag before it was consumed, so it is the oldest unpublished claim. The report is
/// cleared when the consumer moves past it.
pub(crate) struct StallWatch {
    /// The seq the consumer is idling at.
    at: AtomicU64,
    /// Consecutive idle polls at `at`.
    polls: AtomicU64,
    /// A stall is reported (`seq`, `since`).
    stalled: AtomicBool,
    seq: AtomicU64,
    since: AtomicU64,
}

/// A reported stalled claim: (seq, consecutive idle polls at it, clock tick when first
/// reported if the consumer had a clock).
pub(crate) type Stall = (u64, u64, Option<u64>);

macro_rules! stall_watch_new {
    ($seq0:expr) => {
        StallWatch {
            at: AtomicU64::new($seq0),
            polls: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            since: AtomicU64::new(NO_CLOCK),
        }
    };
}

impl StallWatch {
    /// A watch for a consumer starting at `seq0`.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn new(seq0: u64) -> StallWatch {
        stall_watch_new!(seq0)
    }

    /// See the non-loom variant.
    #[cfg(milonga_loom)]
    pub(crate) fn new(seq0: u64) -> StallWatch {
        stall_watch_new!(seq0)
    }

    /// Consumer: `rx_seq` is not published yet. `cursor` is the ring's claim cursor (the
    /// seq the next claim takes).
    #[cold]
    pub(crate) fn idle(&self, rx_seq: u64, cursor: &AtomicU64, clock: Option<&ClockRef<'_>>) {
        let polls = if self.at.load(Relaxed) == rx_seq {
            self.polls.load(Relaxed).wrapping_add(1)
        } else {
            self.at.store(rx_seq, Relaxed);
            self.stalled.store(false, Relaxed);
            1
        };
        self.polls.store(polls, Relaxed);
        if polls % STALL_POLLS == 0
            && !self.stalled.load(Relaxed)
            && seq::gt(cursor.load(Relaxed), rx_seq)
        {
            self.seq.store(rx_seq, Relaxed);
            self.since
                .store(clock.map_or(NO_CLOCK, |c| c.now()), Relaxed);
            self.stalled.store(true, Release);
        }
    }

    /// Consumer: every frag before `rx_seq` is released.
    #[inline]
    pub(crate) fn progressed(&self, rx_seq: u64) {
        if self.stalled.load(Relaxed) && seq::gt(rx_seq, self.seq.load(Relaxed)) {
            self.stalled.store(false, Relaxed);
        }
    }

    /// Any thread: the stalled claim reported now, if any. The fields are read one by one,
    /// so a report that changes meanwhile can be seen half old, half new (diagnostics).
    pub(crate) fn report(&self) -> Option<Stall> {
        if !self.stalled.load(Acquire) {
            return None;
        }
        let seq = self.seq.load(Relaxed);
        let polls = if self.at.load(Relaxed) == seq {
            self.polls.load(Relaxed)
        } else {
            0
        };
        let since = self.since.load(Relaxed);
        Some((seq, polls, (since != NO_CLOCK).then_some(since)))
    }
}

/// What a shared ring gives its consumer: the claim cursor and the stall watch.
#[derive(Clone, Copy)]
pub(crate) struct Claims<'a> {
    pub(crate) cursor: Ref<'a, AtomicU64>,
    pub(crate) watch: Ref<'a, StallWatch>,
}
