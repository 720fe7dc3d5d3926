//! Per-sensor sequence tracking at a worker: every event of a sensor reaches the same
//! worker in order, so a jump in its seqs is exactly the number of its events lost
//! upstream (refused, timed out or overwritten), and anything out of order is a bug.
//!
//! A sensor's seqs start at 0 and its last one is known at shutdown, so losses before the
//! first event seen and after the last one are counted too: for every sensor,
//! `generated = seen + lost` must hold exactly.

/// What the worker knows of one sensor's seqs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Events seen.
    pub seen: u64,
    /// The seq expected next: one past the highest seen (0 before any).
    pub next: u64,
    /// Seqs skipped between events seen (the gaps).
    pub gaps: u64,
    /// Events at or below the highest seen: duplicates or reordered (must stay 0).
    pub disorder: u64,
}

impl Tally {
    /// Events this sensor lost, given that it generated `generated`: the gaps, plus the
    /// seqs before the first seen (counted in the gaps: `next` starts at 0) and after the
    /// last one seen.
    pub fn lost(&self, generated: u64) -> u64 {
        self.gaps + generated.saturating_sub(self.next)
    }
}

/// The tallies of a worker's sensors, by slot.
#[derive(Debug)]
pub struct Gaps {
    tallies: Box<[Tally]>,
    /// The sums of every tally's `gaps` and `disorder`.
    totals: Tally,
}

impl Gaps {
    /// Tallies for `slots` sensors.
    pub fn new(slots: usize) -> Self {
        Gaps {
            tallies: vec![Tally::default(); slots].into_boxed_slice(),
            totals: Tally::default(),
        }
    }

    /// Records seq `seq` of the sensor in `slot`.
    #[inline]
    pub fn observe(&mut self, slot: usize, seq: u64) {
        let t = &mut self.tallies[slot];
        t.seen += 1;
        self.totals.seen += 1;
        if seq >= t.next {
            let missing = seq - t.next;
            t.gaps += missing;
            self.totals.gaps += missing;
            t.next = seq + 1;
        } else {
            t.disorder += 1;
            self.totals.disorder += 1;
        }
    }

    /// Events seen, seqs missing in gaps and events out of order, over all sensors.
    pub fn totals(&self) -> Tally {
        self.totals
    }

    /// The tally of the sensor in `slot`.
    pub fn tally(&self, slot: usize) -> Tally {
        self.tallies[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_head_and_tail_losses_add_up() {
        let mut g = Gaps::new(1);
        for seq in [3, 4, 5, 9, 10] {
            g.observe(0, seq);
        }
        let t = g.tally(0);
        assert_eq!((t.seen, t.gaps, t.next, t.disorder), (5, 3 + 3, 11, 0));
        // 14 generated: 0..3 and 6..9 and 11..14 lost.
        assert_eq!(t.lost(14), 9);
        assert_eq!(t.seen + t.lost(14), 14);
        g.observe(0, 10);
        assert_eq!(g.tally(0).disorder, 1);
        let all = g.totals();
        assert_eq!((all.seen, all.gaps, all.disorder), (6, 6, 1));
    }
}
