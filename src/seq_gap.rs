//! Per-source sequence-gap detection: gaps, duplicates and reordering in a stream of
//! `(source, seq)` stamps, with a fixed number of sources, no allocation, `no_std`.
//!
//! Telemetry sources (sensors, PLCs, ...) stamp each event with their id and a sequence
//! number of their own. A consumer feeds every `(source, seq)` it receives to a
//! [`GapDetector`], which tells what the seq was ([`Observation`]) and keeps [`Counters`]
//! per source.
//!
//! ```
//! use milonga::seq_gap::{GapDetector, Observation};
//!
//! let mut gaps: GapDetector<16> = GapDetector::new();
//! assert_eq!(gaps.observe(7, 100), Observation::First);
//! assert_eq!(gaps.observe(7, 101), Observation::InOrder);
//! assert_eq!(gaps.observe(7, 105), Observation::Gap { missing: 3 }); // 102, 103, 104
//! assert_eq!(gaps.observe(7, 103), Observation::Reordered); // late: fills one
//! assert_eq!(gaps.observe(7, 103), Observation::Duplicate);
//! assert_eq!(gaps.observe(9, 0), Observation::First); // another source
//!
//! let s = gaps.source(7).unwrap();
//! assert_eq!((s.first, s.highest), (100, 105));
//! assert_eq!(s.counters.missing, 2); // 102 and 104
//! assert_eq!((s.counters.received, s.counters.gaps), (5, 1));
//! assert_eq!(gaps.totals().received, 6);
//! ```
//!
//! # How a seq is classified
//!
//! Per source the detector keeps the first seq it saw, the highest, and a window of
//! [`WINDOW`] (64) bits: which of the 64 seqs just below the highest have arrived. A seq
//! `s` of a source whose highest is `h` is:
//!
//! - `s = h + 1`: [`InOrder`](Observation::InOrder);
//! - `s > h + 1`: a [`Gap`](Observation::Gap) of `s - h - 1` seqs, which are now missing;
//! - `s = h`, or `s` in the window and already arrived: a
//!   [`Duplicate`](Observation::Duplicate);
//! - `s` in the window and not arrived yet: [`Reordered`](Observation::Reordered), a late
//!   seq that fills a gap;
//! - `s` below the window: more than 64 below `h`, or below the first seq seen:
//!   [`TooOld`](Observation::TooOld). The detector cannot tell a duplicate from a late
//!   arrival there, so it counts it apart and changes nothing else. (A seq below the
//!   first one seen is outside what the detector tracks: the stream, for it, starts at
//!   the first seq.)
//!
//! The first seq of a source is [`First`](Observation::First); a new source when all
//! `SOURCES` slots are taken is [`TableFull`](Observation::TableFull), counted in
//! [`GapDetector::untracked`] (never a panic).
//!
//! # What `missing` means
//!
//! [`Counters::missing`] is the number of seqs from `first` to `highest` that have not
//! arrived, as far as the window can tell: it goes up by `n` at each `Gap { missing: n }`
//! and down by one at each `Reordered`. A gap that falls out of the window (more than 64
//! seqs behind the highest) stays missing for good: a seq that arrives that late is
//! `TooOld` and not subtracted, since it may as well be a duplicate. So for every source
//!
//! - `highest - first + 1 = missing + 1 + in_order + gaps + reordered` (in wrapping
//!   arithmetic: the seqs of the range are either missing or arrived once, as the first
//!   seq, in order, at the top of a gap or late), and
//! - `received = 1 + in_order + gaps + duplicates + reordered + too_old` (every
//!   observation is exactly one of these).
//!
//! The loss rate of a source is `missing / (highest - first + 1)`.
//!
//! # Seq wrap, jumps and restarts
//!
//! Seqs compare as everywhere in the crate ([`seq`]): by their wrapping
//! distance, so a source whose seq passes `u64::MAX` and goes on from 0 is tracked across
//! the wrap, and a jump of anything less than 2^63 ahead is an ordinary gap (its `missing`
//! is a `u64`; the counter saturates at `u64::MAX`, which takes more than 2^64 missing
//! seqs). A seq 2^63 or more ahead of the highest compares as behind: `TooOld`. Sources
//! whose counters are narrower (16- or 32-bit seqs that wrap) must be extended to 64 bits
//! first.
//!
//! A source that restarts its numbering (a reboot that counts from 0 again) shows up as a
//! run of `TooOld` until its seqs pass the old highest. The caller who sees that (a rising
//! [`Counters::too_old`]) [`forget`](GapDetector::forget)s the source: its next seq is
//! `First` again.
//!
//! # Capacity and cost
//!
//! A `GapDetector<SOURCES>` holds up to `SOURCES` sources (1 to
//! [`MAX_SOURCES`](GapDetector::MAX_SOURCES)), inline: 104 bytes per source (the state
//! and counters, 96 bytes, and two 4-byte index slots), so a `GapDetector<64>` is about
//! 6.5 KiB. It is a plain `&mut self` structure, with no atomics: share it behind a mutex
//! (`std::sync::Mutex`, or a `critical_section::Mutex<RefCell<_>>` on a microcontroller).
//! [`new`](GapDetector::new) is a `const fn`, so it can live in a `static`.
//!
//! Sources are found by open addressing with linear probing, in an index of
//! `2 * SOURCES` slots (so at most half full) that points into a dense array of source
//! states; the home slot is a hash of the id (the MurmurHash3 finaliser, as in
//! [`Tcache`](crate::Tcache)). [`observe`](GapDetector::observe),
//! [`source`](GapDetector::source) and [`forget`](GapDetector::forget) take O(1)
//! expected time: at half load linear probing costs about 1.5 probes for a hit and 2.5
//! for a miss (Knuth), and a forgotten source leaves no tombstone (backward-shift
//! deletion), so the table does not degrade however many sources come and go.
//! [`iter`](GapDetector::iter) and [`totals`](GapDetector::totals) take O(`len`),
//! [`reset`](GapDetector::reset) O(`SOURCES`). The hash is fixed and public: ids an
//! adversary picks freely can be made to collide.

use core::fmt;

use crate::seq;

/// The seqs below a source's highest that the detector tracks: 64. A seq further behind
/// is [`Observation::TooOld`].
pub const WINDOW: u64 = 64;

/// What one `(source, seq)` was ([`GapDetector::observe`]).
///
/// ```
/// use milonga::seq_gap::{GapDetector, Observation};
///
/// let mut gaps: GapDetector<1> = GapDetector::new();
/// let seen: Vec<Observation> = [10, 11, 14, 12, 12, 1]
///     .iter()
///     .map(|&seq| gaps.observe(0xa, seq))
///     .collect();
/// use Observation::*;
/// assert_eq!(seen, [First, InOrder, Gap { missing: 2 }, Reordered, Duplicate, TooOld]);
/// assert_eq!(gaps.observe(0xb, 0), TableFull); // one slot, taken by source 0xa
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Observation {
    /// The first seq of a source the detector did not track: it now does, from this seq.
    First,
    /// The seq after the highest.
    InOrder,
    /// A seq further ahead: the `missing` seqs between the highest and it were skipped
    /// (they count as missing until they arrive, late).
    Gap {
        /// Seqs skipped: `seq - highest - 1`, at least 1.
        missing: u64,
    },
    /// The highest seq, or a seq in the window that already arrived.
    Duplicate,
    /// A late seq: in the window, below the highest, not arrived before. It fills one
    /// missing seq.
    Reordered,
    /// A seq below the window: more than [`WINDOW`] below the highest (or 2^63 or more
    /// ahead of it, which compares as behind), or below the first seq seen. It may be a
    /// duplicate or a late arrival; nothing but [`Counters::too_old`] changes.
    TooOld,
    /// A new source while all the detector's slots are taken: not tracked, counted in
    /// [`GapDetector::untracked`].
    TableFull,
}

/// The counters of one source ([`SourceStats::counters`]), or their sums over every
/// tracked source ([`GapDetector::totals`]). Each observation of a source adds one to
/// `received` and one to the counter of its kind (`First` only to `received`).
///
/// ```
/// use milonga::seq_gap::{Counters, GapDetector};
///
/// let mut gaps: GapDetector<4> = GapDetector::new();
/// for seq in [0, 1, 2, 5, 3, 3, 6] {
///     let _ = gaps.observe(1, seq);
/// }
/// let c = gaps.source(1).unwrap().counters;
/// let want = Counters {
///     received: 7,
///     in_order: 3, // 1, 2 and 6
///     gaps: 1,     // 5
///     missing: 1,  // 4 (3 arrived late)
///     duplicates: 1,
///     reordered: 1,
///     too_old: 0,
/// };
/// assert_eq!(c, want);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Counters {
    /// Observations, every kind included (the first seq too).
    pub received: u64,
    /// [`InOrder`](Observation::InOrder) observations.
    pub in_order: u64,
    /// [`Gap`](Observation::Gap) observations: times the seq jumped ahead.
    pub gaps: u64,
    /// Seqs from the first to the highest that have not arrived (see the
    /// [module docs](self#what-missing-means)): up by `n` at each `Gap { missing: n }`,
    /// down by one at each `Reordered`. Saturates at `u64::MAX`.
    pub missing: u64,
    /// [`Duplicate`](Observation::Duplicate) observations.
    pub duplicates: u64,
    /// [`Reordered`](Observation::Reordered) observations: late seqs that filled a gap.
    pub reordered: u64,
    /// [`TooOld`](Observation::TooOld) observations: seqs below the window.
    pub too_old: u64,
}

impl Counters {
    /// All zero.
    const ZERO: Counters = Counters {
        received: 0,
        in_order: 0,
        gaps: 0,
        missing: 0,
        duplicates: 0,
        reordered: 0,
        too_old: 0,
    };

    /// The field-by-field sum, saturating.
    fn plus(self, o: Counters) -> Counters {
        Counters {
            received: self.received.saturating_add(o.received),
            in_order: self.in_order.saturating_add(o.in_order),
            gaps: self.gaps.saturating_add(o.gaps),
            missing: self.missing.saturating_add(o.missing),
            duplicates: self.duplicates.saturating_add(o.duplicates),
            reordered: self.reordered.saturating_add(o.reordered),
            too_old: self.too_old.saturating_add(o.too_old),
        }
    }
}

/// What the detector knows of one source ([`GapDetector::source`],
/// [`GapDetector::iter`]).
///
/// ```
/// use milonga::seq_gap::GapDetector;
///
/// let mut gaps: GapDetector<4> = GapDetector::new();
/// for seq in [u64::MAX - 1, u64::MAX, 1] {
///     let _ = gaps.observe(3, seq); // across the wrap: 0 is missing
/// }
/// let s = gaps.source(3).unwrap();
/// assert_eq!((s.first, s.highest, s.counters.missing), (u64::MAX - 1, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SourceStats {
    /// The first seq seen: the start of the tracked stream.
    pub first: u64,
    /// The highest seq seen (by wrapping distance, see the
    /// [module docs](self#seq-wrap-jumps-and-restarts)).
    pub highest: u64,
    /// The source's counters.
    pub counters: Counters,
}

/// One tracked source.
#[derive(Clone, Copy)]
struct Entry {
    id: u64,
    first: u64,
    highest: u64,
    /// Bit `k`: seq `highest - 1 - k` has arrived (only bits below `span` are meaningful;
    /// the others are 0).
    window: u64,
    /// The seqs below the highest the window covers: `highest - first` up to [`WINDOW`].
    /// Seqs below the first are not tracked.
    span: u8,
    counters: Counters,
}

impl Entry {
    const EMPTY: Entry = Entry {
        id: 0,
        first: 0,
        highest: 0,
        window: 0,
        span: 0,
        counters: Counters::ZERO,
    };

    /// A source whose first seq is `seq`.
    fn first(id: u64, seq: u64) -> Entry {
        Entry {
            id,
            first: seq,
            highest: seq,
            counters: Counters {
                received: 1,
                ..Counters::ZERO
            },
            ..Entry::EMPTY
        }
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            first: self.first,
            highest: self.highest,
            counters: self.counters,
        }
    }

    /// Classifies `seq` and counts it.
    fn observe(&mut self, seq: u64) -> Observation {
        let c = &mut self.counters;
        c.received += 1;
        let ahead = seq::diff(seq, self.highest);
        if ahead > 0 {
            let d = ahead as u64;
            // The old highest goes to bit `d - 1`, the seqs between it and `seq` to the
            // bits below (0: not arrived); the window's top `d` bits leave it.
            self.window = if d > WINDOW {
                0
            } else {
                ((self.window << 1) | 1) << (d - 1)
            };
            self.span = if d >= WINDOW {
                WINDOW as u8
            } else {
                (self.span + d as u8).min(WINDOW as u8)
            };
            self.highest = seq;
            if d == 1 {
                c.in_order += 1;
                Observation::InOrder
            } else {
                c.gaps += 1;
                c.missing = c.missing.saturating_add(d - 1);
                Observation::Gap { missing: d - 1 }
            }
        } else {
            // 0 to 2^63 behind.
            let back = self.highest.wrapping_sub(seq);
            if back == 0 {
                c.duplicates += 1;
                return Observation::Duplicate;
            }
            if back > u64::from(self.span) {
                c.too_old += 1;
                return Observation::TooOld;
            }
            let bit = 1u64 << (back - 1);
            if self.window & bit != 0 {
                c.duplicates += 1;
                Observation::Duplicate
            } else {
                self.window |= bit;
                c.reordered += 1;
                // Every 0 bit below `span` is a seq a gap skipped and counted (the bits
                // a shift brings in, all below the new span) and not yet filled, so
                // `missing` is at least 1 here.
                c.missing -= 1;
                Observation::Reordered
            }
        }
    }
}

// The MurmurHash3 64-bit finaliser (a bijection that spreads sequential and strided ids),
// shared with `Tcache`.
use crate::tcache::hash;

/// The home slot of `id` in an index of `n` slots (`n <= 2^32`): the hash's top 32 bits
/// scaled to `0..n` by a multiply (no division: thumbv6m has no divide instruction).
#[inline(always)]
fn home(id: u64, n: usize) -> usize {
    (((hash(id) >> 32) * n as u64) >> 32) as usize
}

/// The slot after `i` in an index of `n` slots.
#[inline(always)]
fn next(i: usize, n: usize) -> usize {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

/// How many slots forward from `from` to `to`, cyclically, in an index of `n` slots.
#[inline(always)]
fn dist(from: usize, to: usize, n: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + n - from
    }
}

/// Gaps, duplicates and reordering per source, for up to `SOURCES` sources (see the
/// [module docs](self)).
///
/// ```
/// use milonga::seq_gap::{GapDetector, Observation};
/// use std::sync::Mutex;
///
/// static GAPS: Mutex<GapDetector<64>> = Mutex::new(GapDetector::new());
///
/// /// Wherever events arrive.
/// fn on_event(source: u64, seq: u64) {
///     if let Observation::Gap { missing } = GAPS.lock().unwrap().observe(source, seq) {
///         println!("source {source}: {missing} lost before {seq}");
///     }
/// }
///
/// for (source, seq) in [(1, 0), (2, 0), (1, 1), (1, 3), (2, 1), (1, 2)] {
///     on_event(source, seq);
/// }
///
/// // A monitor:
/// let gaps = GAPS.lock().unwrap();
/// for (id, s) in gaps.iter() {
///     println!("source {id}: {} missing of {}", s.counters.missing, s.highest - s.first + 1);
/// }
/// let total = gaps.totals();
/// assert_eq!((total.received, total.gaps, total.reordered, total.missing), (6, 1, 1, 0));
/// assert_eq!((gaps.len(), gaps.capacity(), gaps.untracked()), (2, 64, 0));
/// ```
///
/// `SOURCES` is at least 1 and at most [`MAX_SOURCES`](Self::MAX_SOURCES), checked at
/// compile time:
///
/// ```compile_fail,E0080
/// let gaps = milonga::seq_gap::GapDetector::<0>::new();
/// ```
#[derive(Clone)]
pub struct GapDetector<const SOURCES: usize> {
    /// The tracked sources, densely: `entries[..len]`.
    entries: [Entry; SOURCES],
    /// `2 * SOURCES` slots (stable Rust cannot write `[u32; 2 * SOURCES]`), used
    /// flattened: 0 is empty, `e + 1` points to `entries[e]`.
    index: [[u32; 2]; SOURCES],
    /// Sources tracked.
    len: usize,
    /// `TableFull` observations.
    untracked: u64,
}

impl<const SOURCES: usize> GapDetector<SOURCES> {
    /// The most sources a detector can hold: 2^30 (its index slots are 32-bit; that many
    /// sources would take 104 GiB).
    ///
    /// ```
    /// assert_eq!(milonga::seq_gap::GapDetector::<1>::MAX_SOURCES, 1 << 30);
    /// ```
    pub const MAX_SOURCES: usize = 1 << 30;

    /// An empty detector (a `const fn`: it can initialise a `static`).
    ///
    /// ```
    /// let gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// assert!(gaps.is_empty());
    /// ```
    pub const fn new() -> Self {
        const {
            assert!(
                SOURCES >= 1 && SOURCES <= Self::MAX_SOURCES,
                "GapDetector: SOURCES must be at least 1 and at most MAX_SOURCES"
            );
        };
        GapDetector {
            entries: [Entry::EMPTY; SOURCES],
            index: [[0; 2]; SOURCES],
            len: 0,
            untracked: 0,
        }
    }

    /// The most sources tracked at once: `SOURCES`.
    ///
    /// ```
    /// assert_eq!(milonga::seq_gap::GapDetector::<8>::new().capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        SOURCES
    }

    /// Sources tracked.
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// let _ = gaps.observe(1, 0);
    /// let _ = gaps.observe(1, 1);
    /// let _ = gaps.observe(2, 0);
    /// assert_eq!(gaps.len(), 2);
    /// ```
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No source tracked.
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// assert!(gaps.is_empty());
    /// let _ = gaps.observe(1, 0);
    /// assert!(!gaps.is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Observations of sources that were not tracked because the table was full
    /// ([`Observation::TableFull`]), since the detector was built or last
    /// [`reset`](Self::reset).
    ///
    /// ```
    /// use milonga::seq_gap::{GapDetector, Observation};
    ///
    /// let mut gaps = GapDetector::<2>::new();
    /// for source in 0..5 {
    ///     let _ = gaps.observe(source, 0);
    /// }
    /// assert_eq!((gaps.len(), gaps.untracked()), (2, 3));
    /// ```
    pub const fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Classifies `seq` of `source` (see the [module docs](self)) and counts it in the
    /// source's [`Counters`] (or, for [`TableFull`](Observation::TableFull), in
    /// [`untracked`](Self::untracked)). O(1) expected; never allocates, never panics.
    ///
    /// The result may be ignored (it is not `#[must_use]`): the counters record it too.
    ///
    /// ```
    /// use milonga::seq_gap::{GapDetector, Observation};
    ///
    /// let mut gaps = GapDetector::<8>::new();
    /// assert_eq!(gaps.observe(5, 1 << 40), Observation::First);
    /// assert_eq!(gaps.observe(5, 3 << 40), Observation::Gap { missing: (2 << 40) - 1 });
    /// assert_eq!(gaps.observe(5, 1 << 40), Observation::TooOld); // far below the window
    /// ```
    pub fn observe(&mut self, source: u64, seq: u64) -> Observation {
        match self.find(source) {
            Ok((_, e)) => self.entries[e].observe(seq),
            Err(_) if self.len == SOURCES => {
                self.untracked += 1;
                Observation::TableFull
            }
            Err(slot) => {
                let e = self.len;
                self.entries[e] = Entry::first(source, seq);
                // `e < SOURCES <= MAX_SOURCES < u32::MAX`.
                self.index.as_flattened_mut()[slot] = e as u32 + 1;
                self.len += 1;
                Observation::First
            }
        }
    }

    /// What the detector knows of `source`, if it tracks it.
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// let _ = gaps.observe(1, 10);
    /// assert_eq!(gaps.source(1).map(|s| s.highest), Some(10));
    /// assert_eq!(gaps.source(2), None);
    /// ```
    pub fn source(&self, source: u64) -> Option<SourceStats> {
        let (_, e) = self.find(source).ok()?;
        Some(self.entries[e].stats())
    }

    /// Every tracked source and what the detector knows of it, in no particular order.
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// let _ = gaps.observe(1, 10);
    /// let _ = gaps.observe(2, 20);
    /// let mut ids: Vec<u64> = gaps.iter().map(|(id, _)| id).collect();
    /// ids.sort();
    /// assert_eq!(ids, [1, 2]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u64, SourceStats)> + '_ {
        self.entries[..self.len].iter().map(|e| (e.id, e.stats()))
    }

    /// The counters summed over every tracked source (saturating). Forgotten sources no
    /// longer count; [`untracked`](Self::untracked) observations never did.
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<8>::new();
    /// for (source, seq) in [(1, 0), (1, 2), (2, 0), (2, 5)] {
    ///     let _ = gaps.observe(source, seq);
    /// }
    /// let total = gaps.totals();
    /// assert_eq!((total.received, total.gaps, total.missing), (4, 2, 5));
    /// ```
    pub fn totals(&self) -> Counters {
        self.entries[..self.len]
            .iter()
            .fold(Counters::ZERO, |sum, e| sum.plus(e.counters))
    }

    /// Stops tracking `source` and returns what the detector knew of it (`None` if it did
    /// not track it). Its slot is free for another source; its next seq, if any, is
    /// [`First`](Observation::First). O(1) expected.
    ///
    /// ```
    /// use milonga::seq_gap::{GapDetector, Observation};
    ///
    /// let mut gaps = GapDetector::<1>::new();
    /// let _ = gaps.observe(1, 100);
    /// assert_eq!(gaps.observe(2, 0), Observation::TableFull);
    /// assert_eq!(gaps.forget(1).map(|s| s.highest), Some(100));
    /// assert_eq!(gaps.forget(1), None);
    /// assert_eq!(gaps.observe(2, 0), Observation::First);
    /// ```
    pub fn forget(&mut self, source: u64) -> Option<SourceStats> {
        let (slot, e) = self.find(source).ok()?;
        let stats = self.entries[e].stats();
        self.unlink(slot);
        let last = self.len - 1;
        if e != last {
            // The last entry moves into the hole; its index slot follows it. (No slot
            // points to `e` any more, and `entries[last]` still holds the moved id.)
            let moved = self.entries[last];
            self.entries[e] = moved;
            match self.find(moved.id) {
                Ok((s, _)) => self.index.as_flattened_mut()[s] = e as u32 + 1,
                // Every tracked entry has its slot; nothing to repoint otherwise.
                Err(_) => debug_assert!(false, "seq_gap: a tracked source is not indexed"),
            }
        }
        self.entries[last] = Entry::EMPTY;
        self.len = last;
        Some(stats)
    }

    /// Forgets every source and zeroes [`untracked`](Self::untracked): the detector is as
    /// new. O(`SOURCES`).
    ///
    /// ```
    /// let mut gaps = milonga::seq_gap::GapDetector::<1>::new();
    /// let _ = gaps.observe(1, 0);
    /// let _ = gaps.observe(2, 0); // table full
    /// gaps.reset();
    /// assert!(gaps.is_empty() && gaps.untracked() == 0);
    /// ```
    pub fn reset(&mut self) {
        self.entries[..self.len].fill(Entry::EMPTY);
        self.index.as_flattened_mut().fill(0);
        self.len = 0;
        self.untracked = 0;
    }

    /// Looks `id` up: `Ok((slot, entry))`, its index slot and entry, or `Err(slot)`, the
    /// empty slot that ended the probe (where it would be inserted).
    ///
    /// Terminates because at most `SOURCES` of the `2 * SOURCES` slots are used.
    #[inline]
    fn find(&self, id: u64) -> Result<(usize, usize), usize> {
        let index = self.index.as_flattened();
        let n = index.len();
        let mut i = home(id, n);
        loop {
            let v = index[i];
            if v == 0 {
                return Err(i);
            }
            let e = v as usize - 1;
            if self.entries[e].id == id {
                return Ok((i, e));
            }
            i = next(i, n);
        }
    }

    /// Empties index slot `slot` by backward shift (Knuth's Algorithm R): each later
    /// entry of the cluster whose probe path crosses the hole moves into it, and the hole
    /// moves to where it was; the cluster's first empty slot ends the scan.
    fn unlink(&mut self, slot: usize) {
        let entries = &self.entries;
        let index = self.index.as_flattened_mut();
        let n = index.len();
        let mut hole = slot;
        let mut i = slot;
        loop {
            i = next(i, n);
            let v = index[i];
            if v == 0 {
                break;
            }
            // The entry was probed from its home through every slot up to `i`; the hole
            // is on that path when it is at least as far back from `i` as the home is.
            let h = home(entries[v as usize - 1].id, n);
            if dist(h, i, n) >= dist(hole, i, n) {
                index[hole] = v;
                hole = i;
            }
        }
        index[hole] = 0;
    }
}

impl<const SOURCES: usize> Default for GapDetector<SOURCES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SOURCES: usize> fmt::Debug for GapDetector<SOURCES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GapDetector")
            .field("capacity", &SOURCES)
            .field("len", &self.len)
            .field("untracked", &self.untracked)
            .field("totals", &self.totals())
            .finish()
    }
}
