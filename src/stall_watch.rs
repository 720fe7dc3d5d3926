//! A shared multi-producer ring's watch over claims that stay unpublished, kept by the
//! ring's consumer.
//!
//! It lives at the crate level, below both of its users: the ring (in [`mpsc`](crate::mpsc))
//! builds it and reads its reports, and the consumer (the SPSC
//! [`Consumer`](crate::spsc::Consumer), which the ring reuses) updates it on its idle path.

use crate::clock::ClockRef;
use crate::seq;
use crate::sync::{AtomicBool, AtomicU64, Ordering::*, Ref};

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
