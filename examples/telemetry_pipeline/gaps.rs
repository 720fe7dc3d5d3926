//! Per-sensor sequence tracking at a worker, on `milonga::seq_gap::GapDetector`: every
//! event of a sensor reaches the same worker in order, so a jump in its seqs is exactly the
//! number of its events lost upstream (refused, timed out or overwritten), and anything out
//! of order is a bug.
//!
//! A sensor's seqs start at 0 and its last one is known at shutdown, so losses before the
//! first event seen and after the last one are counted too: for every sensor,
//! `generated = seen + lost` must hold exactly.

use milonga::seq_gap::{GapDetector, Observation};

/// The most sensors one worker tracks (the detector's fixed capacity; 104 bytes each).
pub const MAX_SENSORS_PER_WORKER: usize = 1024;

/// What the worker knows of one sensor's seqs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events seen.
    pub seen: u64,
    /// The first and highest seq seen (when `seen > 0`).
    pub first: u64,
    /// The highest seq seen.
    pub highest: u64,
    /// Seqs missing between the first and the highest.
    pub missing: u64,
    /// Events seen twice, late or too old (must stay 0).
    pub disorder: u64,
}

impl Tally {
    /// Events this sensor lost, given that it generated `generated`: those before the
    /// first seen, the gaps, and those after the highest seen.
    pub fn lost(&self, generated: u64) -> u64 {
        if self.seen == 0 {
            return generated;
        }
        self.first + self.missing + generated.saturating_sub(self.highest + 1)
    }
}

/// Sums over a worker's sensors, kept as events are observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Seqs missing in gaps.
    pub missing: u64,
    /// Events out of order (duplicate, reordered or too old).
    pub disorder: u64,
    /// Events of sensors the detector had no room for (must stay 0).
    pub untracked: u64,
}

/// The seq tracking of one worker's sensors.
pub struct Gaps {
    detector: Box<GapDetector<MAX_SENSORS_PER_WORKER>>,
    totals: Totals,
}

impl std::fmt::Debug for Gaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gaps")
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

impl Gaps {
    /// An empty tracker (allocated once, when the worker starts).
    pub fn new() -> Self {
        Gaps {
            detector: Box::new(GapDetector::new()),
            totals: Totals::default(),
        }
    }

    /// Records seq `seq` of `sensor`.
    #[inline]
    pub fn observe(&mut self, sensor: u32, seq: u64) {
        match self.detector.observe(sensor as u64, seq) {
            Observation::First | Observation::InOrder => {}
            Observation::Gap { missing } => self.totals.missing += missing,
            Observation::Duplicate | Observation::Reordered | Observation::TooOld => {
                self.totals.disorder += 1
            }
            Observation::TableFull => self.totals.untracked += 1,
        }
    }

    /// The sums over every sensor.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// What is known of `sensor`.
    pub fn tally(&self, sensor: u32) -> Tally {
        match self.detector.source(sensor as u64) {
            None => Tally::default(),
            Some(s) => Tally {
                seen: s.counters.received,
                first: s.first,
                highest: s.highest,
                missing: s.counters.missing,
                disorder: s.counters.duplicates + s.counters.reordered + s.counters.too_old,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_gap_and_tail_losses_add_up() {
        let mut g = Gaps::new();
        for seq in [3, 4, 5, 9, 10] {
            g.observe(7, seq);
        }
        let t = g.tally(7);
        assert_eq!((t.seen, t.first, t.highest, t.missing), (5, 3, 10, 3));
        // 14 generated: 0..3, 6..9 and 11..14 lost.
        assert_eq!(t.lost(14), 9);
        assert_eq!(t.seen + t.lost(14), 14);
        assert_eq!(g.tally(8).lost(5), 5); // never seen: all lost
        g.observe(7, 10);
        assert_eq!(g.tally(7).disorder, 1);
        let all = g.totals();
        assert_eq!((all.missing, all.disorder, all.untracked), (3, 1, 0));
    }
}
