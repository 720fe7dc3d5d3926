//! The metadata ring: a power-of-two array of 32-byte slots, one per sequence number
//! modulo the depth. Each slot has a single writer at a time: the link's producer, or on a
//! shared multi-producer ring the claimer of the seq (see [`mpsc`](crate::mpsc)).
//!
//! Publish (the slot's writer):
//! 1. store `seq - 1` into the slot's seq: the frag that was there is gone, and a reader of
//!    either the old or the new seq sees a mismatch;
//! 2. release fence, then the body fields with relaxed stores;
//! 3. store `seq` with release ordering.
//!
//! Steps 1 and 2's fence exist for readers the producer does not wait for (lossy readers),
//! which may be reading the slot's old frag while it is rewritten. A ring whose readers are
//! all gated by credits ([`MCache::publish_gated`]: an SPSC link without lossy consumers,
//! and every shared multi-producer ring) skips them: no such reader holds the old frag (its
//! credit came back before the producer could reuse the slot), and none reads a body before
//! it acquired the new seq, so the body stores and the release of step 3 are enough. That
//! saves a store and, when a reader is polling the slot, a cache-line transfer per frag.
//!
//! Read (consumer): load seq (acquire) and compare it wrap-safely with the expected seq;
//! then the body with relaxed loads; then, for a reader the producer does not wait for,
//! an acquire fence and a second load of seq, which must not have changed.
//!
//! Every field is an atomic, so a read racing the producer is never undefined behaviour:
//! it is caught by the seq check and thrown away.

use crate::frag::{Ctl, FragMeta};
use crate::seq;
use crate::sync::{fence, AtomicU64, Ordering::Relaxed, SEQLOCK_ACQUIRE, SEQLOCK_RELEASE};
use crate::sync::{Ref, SLOT_ACQUIRE, SLOT_PUBLISH};

/// One metadata slot: the atomic image of a [`FragMeta`], 32 bytes, two per cache line.
#[repr(C, align(32))]
pub(crate) struct Slot {
    seq: AtomicU64,
    sig: AtomicU64,
    /// `offset | sz << 32 | ctl << 48`
    loc: AtomicU64,
    /// `tsorig | tspub << 32`
    ts: AtomicU64,
}

#[cfg(not(milonga_loom))]
const _: () = assert!(core::mem::size_of::<Slot>() == 32);

impl Slot {
    /// A slot that holds no frag a reader starting at `seq0` would accept: its seq is
    /// `seq0 - 1`, "not yet" for every seq in `seq0 .. seq0 + depth`.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn empty(seq0: u64) -> Slot {
        Slot {
            seq: AtomicU64::new(seq::dec(seq0, 1)),
            sig: AtomicU64::new(0),
            loc: AtomicU64::new(0),
            ts: AtomicU64::new(0),
        }
    }

    /// See the non-loom variant (loom atomics cannot be built in a `const fn`).
    #[cfg(milonga_loom)]
    pub(crate) fn empty(seq0: u64) -> Slot {
        Slot {
            seq: AtomicU64::new(seq::dec(seq0, 1)),
            sig: AtomicU64::new(0),
            loc: AtomicU64::new(0),
            ts: AtomicU64::new(0),
        }
    }
}

/// What a reader found in the slot of the seq it expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The frag, read consistently.
    Ready(FragMeta),
    /// The producer has not published this seq yet.
    NotYet,
    /// The slot holds a later frag (or one being written): the reader was lapped. `found`
    /// is the seq the slot held.
    Overrun {
        /// The seq the slot held.
        found: u64,
    },
}

/// A borrowed view of a metadata ring.
///
/// A ring that lossy readers may read also has a *ledger*: for every slot, the payload
/// bytes published before its frag, written inside the same seqlock window as the body.
/// A lossy reader that was overrun learns from it exactly how many bytes it lost.
#[derive(Clone, Copy)]
pub(crate) struct MCache<'a> {
    slots: Ref<'a, [Slot]>,
    ledger: Ref<'a, [AtomicU64]>,
    mask: u64,
}

impl<'a> MCache<'a> {
    /// A view of `slots`, whose length must be a power of two of at least 2 (checked by
    /// the link constructors, which are the only callers), with a ledger of the same length
    /// or none (an empty slice).
    pub(crate) fn new(slots: &'a [Slot], ledger: &'a [AtomicU64]) -> Self {
        assert!(slots.len() >= 2 && slots.len().is_power_of_two());
        assert!(ledger.is_empty() || ledger.len() == slots.len());
        MCache {
            slots: Ref::new(slots),
            ledger: Ref::new(ledger),
            mask: slots.len() as u64 - 1,
        }
    }

    /// The number of slots.
    #[inline(always)]
    pub(crate) fn depth(&self) -> u64 {
        self.mask + 1
    }

    #[inline(always)]
    fn ledger_cell(&self, seq: u64) -> &'a AtomicU64 {
        &self.ledger.get()[(seq & self.mask) as usize]
    }

    #[inline(always)]
    fn slot(&self, seq: u64) -> &'a Slot {
        let idx = (seq & self.mask) as usize;
        // SAFETY: `mask == slots.len() - 1` (checked in `new`), so `idx < slots.len()`.
        unsafe { self.slots.get().get_unchecked(idx) }
    }

    /// Publishes `meta` in the slot of `meta.seq` (publish steps 1 to 3), for any reader.
    /// Only the slot's single writer may call this (see the module docs), as every publish.
    #[cfg_attr(not(test), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn publish(&self, meta: &FragMeta) {
        self.publish_inner::<true, false>(meta, 0)
    }

    /// [`publish`](Self::publish) on a ring that only gated readers read (every reader
    /// returns credits the producer waits for): the body and step 3, without step 1 and
    /// its fence (see the module docs). The publish of an SPSC link without lossy
    /// consumers, and of a shared multi-producer ring's claimers.
    #[inline(always)]
    pub(crate) fn publish_gated(&self, meta: &FragMeta) {
        self.publish_inner::<false, false>(meta, 0)
    }

    /// [`publish`](Self::publish) on a ring with a ledger: `bytes_before` is the payload
    /// bytes published before this frag.
    #[inline(always)]
    pub(crate) fn publish_with_ledger(&self, meta: &FragMeta, bytes_before: u64) {
        self.publish_inner::<true, true>(meta, bytes_before)
    }

    #[inline(always)]
    fn publish_inner<const SEQLOCK: bool, const LEDGER: bool>(
        &self,
        meta: &FragMeta,
        bytes_before: u64,
    ) {
        let slot = self.slot(meta.seq);
        if SEQLOCK {
            // Step 1: mark the slot in progress; the frag it held is gone from now on.
            slot.seq.store(seq::dec(meta.seq, 1), Relaxed);
            // Step 2: order the marker before the body for seqlock readers.
            fence(SEQLOCK_RELEASE);
        }
        slot.sig.store(meta.sig, Relaxed);
        let loc = meta.offset as u64 | (meta.sz as u64) << 32 | (meta.ctl.bits() as u64) << 48;
        slot.loc.store(loc, Relaxed);
        slot.ts
            .store(meta.tsorig as u64 | (meta.tspub as u64) << 32, Relaxed);
        if LEDGER {
            self.ledger_cell(meta.seq).store(bytes_before, Relaxed);
        }
        // Step 3: the frag is visible to every reader that acquires this seq.
        slot.seq.store(meta.seq, SLOT_PUBLISH);
    }

    /// Loads the body of the slot of `seq` with relaxed loads.
    #[inline(always)]
    fn body(slot: &Slot, seq: u64) -> FragMeta {
        let loc = slot.loc.load(Relaxed);
        let ts = slot.ts.load(Relaxed);
        FragMeta {
            seq,
            sig: slot.sig.load(Relaxed),
            offset: loc as u32,
            sz: (loc >> 32) as u16,
            ctl: Ctl::from_bits((loc >> 48) as u16),
            tsorig: ts as u32,
            tspub: (ts >> 32) as u32,
        }
    }

    /// Read step 1 only: the signed distance from `seq` to the seq the slot holds
    /// (negative: not yet published; zero: ready; positive: overrun), with acquire
    /// ordering, so a zero makes the body readable by a reader the producer waits for.
    #[inline(always)]
    pub(crate) fn poll(&self, seq: u64) -> i64 {
        seq::diff(self.slot(seq).seq.load(SLOT_ACQUIRE), seq)
    }

    /// Reads the frag `seq` for a reader that gates the producer (a reliable consumer).
    ///
    /// The producer cannot overwrite the slot of a seq this reader has not released, so a
    /// matching seq (acquired) is enough: the second load of the seqlock is not needed.
    #[inline(always)]
    pub(crate) fn read_gated(&self, seq: u64) -> Read {
        let slot = self.slot(seq);
        let found = slot.seq.load(SLOT_ACQUIRE);
        match seq::diff(found, seq) {
            0 => Read::Ready(Self::body(slot, seq)),
            d if d < 0 => Read::NotYet,
            _ => Read::Overrun { found },
        }
    }

    /// The body of `seq`, which this reader already saw ready with [`MCache::poll`] and
    /// which the producer cannot overwrite (a gated reader's unreleased seq).
    #[inline(always)]
    pub(crate) fn body_gated(&self, seq: u64) -> FragMeta {
        Self::body(self.slot(seq), seq)
    }

    /// The payload location (`offset`, `sz`) of `seq`, under the same conditions as
    /// [`MCache::body_gated`]: one load instead of the whole body, for a batch's scan.
    #[inline(always)]
    pub(crate) fn loc_gated(&self, seq: u64) -> (u32, usize) {
        let loc = self.slot(seq).loc.load(Relaxed);
        (loc as u32, (loc >> 32) as u16 as usize)
    }

    /// The application bits of `seq`, under the same conditions as
    /// [`MCache::body_gated`].
    #[inline(always)]
    pub(crate) fn sig_gated(&self, seq: u64) -> u64 {
        self.slot(seq).sig.load(Relaxed)
    }

    /// Reads the frag `seq` for a reader the producer does not wait for: the full seqlock
    /// read (steps 1 and 2), which reports an overrun found before or during the read.
    #[cfg_attr(not(test), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn read(&self, seq: u64) -> Read {
        self.read_inner::<false>(seq).0
    }

    /// [`read`](Self::read) on a ring with a ledger: also the payload bytes published
    /// before the frag, read inside the same seqlock window.
    #[inline(always)]
    pub(crate) fn read_with_ledger(&self, seq: u64) -> (Read, u64) {
        self.read_inner::<true>(seq)
    }

    #[inline(always)]
    fn read_inner<const LEDGER: bool>(&self, seq: u64) -> (Read, u64) {
        let slot = self.slot(seq);
        let found = slot.seq.load(SLOT_ACQUIRE);
        match seq::diff(found, seq) {
            0 => {}
            d if d < 0 => return (Read::NotYet, 0),
            _ => return (Read::Overrun { found }, 0),
        }
        let meta = Self::body(slot, seq);
        let before = if LEDGER {
            self.ledger_cell(seq).load(Relaxed)
        } else {
            0
        };
        fence(SEQLOCK_ACQUIRE);
        let again = slot.seq.load(Relaxed);
        if again == found {
            (Read::Ready(meta), before)
        } else {
            (Read::Overrun { found: again }, 0)
        }
    }

    /// Overwrites the slot of `seq` with raw values (its seq word, sig and `loc` word, in
    /// the layout of [`Slot`]) with relaxed stores, as a process that corrupts a link in
    /// shared memory could: for tests of readers fed untrusted metadata.
    #[cfg(all(test, feature = "std", not(milonga_loom)))]
    pub(crate) fn scribble(&self, seq: u64, seq_val: u64, sig: u64, loc: u64) {
        let slot = self.slot(seq);
        slot.seq.store(seq_val, Relaxed);
        slot.sig.store(sig, Relaxed);
        slot.loc.store(loc, Relaxed);
    }

    /// Overwrites the ledger entry of `seq` (a ring with a ledger), as
    /// [`scribble`](Self::scribble).
    #[cfg(all(test, feature = "std", not(milonga_loom)))]
    pub(crate) fn scribble_ledger(&self, seq: u64, bytes_before: u64) {
        self.ledger_cell(seq).store(bytes_before, Relaxed);
    }

    /// The raw words of the slot of `seq`: its seq, sig and `loc` (relaxed loads), for
    /// tests that check readers against what a slot holds.
    #[cfg(all(test, feature = "std", not(milonga_loom)))]
    pub(crate) fn peek(&self, seq: u64) -> (u64, u64, u64) {
        let slot = self.slot(seq);
        (
            slot.seq.load(Relaxed),
            slot.sig.load(Relaxed),
            slot.loc.load(Relaxed),
        )
    }

    /// The seqlock re-check after a reader copied something (a payload) that the producer
    /// reuses only after overwriting the slot of `seq`: `Err(found)` if the slot no longer
    /// holds `seq`, so the copy must be thrown away.
    #[inline(always)]
    pub(crate) fn still(&self, seq: u64) -> Result<(), u64> {
        fence(SEQLOCK_ACQUIRE);
        let found = self.slot(seq).seq.load(Relaxed);
        if found == seq {
            Ok(())
        } else {
            Err(found)
        }
    }
}

#[cfg(all(test, milonga_loom))]
mod loom_tests;

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    fn meta(seq: u64) -> FragMeta {
        FragMeta {
            seq,
            sig: seq ^ 0xabcd,
            offset: 7,
            sz: 300,
            ctl: Ctl::SOM.with_origin(3),
            tsorig: 11,
            tspub: u32::MAX,
        }
    }

    #[test]
    fn publish_then_read_round_trips_every_field() {
        let slots = [
            Slot::empty(0),
            Slot::empty(0),
            Slot::empty(0),
            Slot::empty(0),
        ];
        let mc = MCache::new(&slots, &[]);
        assert_eq!(mc.read(0), Read::NotYet);
        mc.publish(&meta(0));
        assert_eq!(mc.read(0), Read::Ready(meta(0)));
        assert_eq!(mc.read_gated(0), Read::Ready(meta(0)));
        assert_eq!(mc.poll(0), 0);
        assert_eq!(mc.read(1), Read::NotYet);
        assert_eq!(mc.read(4), Read::NotYet);
    }

    #[test]
    fn a_lapped_reader_sees_an_overrun() {
        let slots = [Slot::empty(10), Slot::empty(10)];
        let mc = MCache::new(&slots, &[]);
        for s in 10..13 {
            mc.publish(&meta(s));
        }
        assert_eq!(mc.read(10), Read::Overrun { found: 12 });
        assert_eq!(mc.read(11), Read::Ready(meta(11)));
        assert_eq!(mc.read(13), Read::NotYet);
    }

    #[test]
    fn the_ledger_is_read_inside_the_seqlock_window() {
        let slots = [Slot::empty(0), Slot::empty(0)];
        let ledger = [AtomicU64::new(0), AtomicU64::new(0)];
        let mc = MCache::new(&slots, &ledger);
        mc.publish_with_ledger(&meta(0), 0);
        mc.publish_with_ledger(&meta(1), 300);
        assert_eq!(mc.read_with_ledger(1), (Read::Ready(meta(1)), 300));
        assert_eq!(mc.still(1), Ok(()));
        mc.publish_with_ledger(&meta(2), 600);
        assert_eq!(mc.read_with_ledger(0), (Read::Overrun { found: 2 }, 0));
        assert_eq!(mc.still(0), Err(2));
        assert_eq!(mc.read_with_ledger(3).0, Read::NotYet);
    }

    #[test]
    fn works_across_the_seq_wrap() {
        let seq0 = u64::MAX - 1;
        let slots = [Slot::empty(seq0), Slot::empty(seq0)];
        let mc = MCache::new(&slots, &[]);
        assert_eq!(mc.read(seq0), Read::NotYet);
        for s in [seq0, seq0.wrapping_add(1), 0, 1] {
            mc.publish(&meta(s));
            assert_eq!(mc.read(s), Read::Ready(meta(s)));
        }
        assert_eq!(mc.read(u64::MAX), Read::Overrun { found: 1 });
    }
}
