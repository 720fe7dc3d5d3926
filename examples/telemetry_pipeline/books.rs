//! The final accounting: every figure the run counted, from both sides of each stage, and
//! the equalities between them that must hold when nothing was lost unaccounted.

/// The figures of a finished run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Books {
    /// Events the sensors generated (their seqs).
    pub generated: u64,
    /// Events the dispatchers accepted, as the ingest stage counted them.
    pub accepted: u64,
    /// The same, as the dispatchers counted them.
    pub accepted_by_dispatchers: u64,
    /// Accepted events the dispatchers dropped or still held at the end.
    pub lost_in_dispatchers: u64,
    /// Refused because a dispatcher was full (`reject`), as the ingest stage counted them.
    pub full: u64,
    /// The same, as the dispatchers counted them.
    pub full_by_dispatchers: u64,
    /// Given up waiting for room (`block:<ms>`), as the ingest stage counted them.
    pub timed_out: u64,
    /// The same, as the dispatchers counted them.
    pub timed_out_by_dispatchers: u64,
    /// Overwritten in the overwrite rings, as the pump added them up.
    pub overwritten: u64,
    /// The same, as the lossy consumers counted them.
    pub lost_by_consumers: u64,
    /// Refused because a dispatcher was closing.
    pub refused: u64,
    /// Events the workers took from their dispatchers.
    pub events: u64,
    /// Of those, events that decoded and were tracked.
    pub seen: u64,
    /// Events in batches the sink took.
    pub delivered: u64,
    /// Events in dead-lettered batches.
    pub failed: u64,
    /// Seqs missing at the workers (before the first seen, in gaps, after the last).
    pub lost_by_seq: u64,
    /// For every sensor, generated = seen + missing.
    pub per_sensor_ok: bool,
    /// Events out of order (or of untracked sensors).
    pub disorder: u64,
    /// Events that did not decode.
    pub malformed: u64,
    /// Every dispatcher's shutdown delivered what it had accepted in time.
    pub shutdown_ok: bool,
}

impl Books {
    /// Events dropped before the dispatchers, for every reason.
    pub fn dropped(&self) -> u64 {
        self.full + self.timed_out + self.overwritten + self.refused
    }

    /// Each check, and whether it held.
    pub fn checks(&self) -> [(&'static str, bool); 11] {
        let b = self;
        [
            (
                "generated = accepted + dropped",
                b.generated == b.accepted + b.dropped(),
            ),
            (
                "the dispatchers accepted what the ingest stage saw accepted",
                b.accepted_by_dispatchers == b.accepted,
            ),
            (
                "nothing accepted was lost in the dispatchers",
                b.lost_in_dispatchers == 0,
            ),
            (
                "the dispatchers counted the same refusals",
                b.full_by_dispatchers == b.full && b.timed_out_by_dispatchers == b.timed_out,
            ),
            (
                "accepted = seen by the workers",
                b.seen == b.accepted && b.events == b.accepted,
            ),
            (
                "seen = delivered + failed",
                b.events == b.delivered + b.failed,
            ),
            (
                "missing seqs = dropped, per sensor and in all",
                b.per_sensor_ok && b.lost_by_seq == b.dropped(),
            ),
            (
                "overwritten = lost by the lossy consumers",
                b.overwritten == b.lost_by_consumers,
            ),
            (
                "no event out of order or malformed",
                b.disorder == 0 && b.malformed == 0,
            ),
            ("no refusal while closing", b.refused == 0),
            ("shutdown delivered everything", b.shutdown_ok),
        ]
    }

    /// Every check held.
    pub fn balanced(&self) -> bool {
        self.checks().iter().all(|(_, held)| *held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of 1000 events: 100 refused full, 50 timed out, 30 overwritten; of the 820
    /// accepted, 20 dead-lettered.
    fn balanced() -> Books {
        Books {
            generated: 1000,
            accepted: 820,
            accepted_by_dispatchers: 820,
            full: 100,
            full_by_dispatchers: 100,
            timed_out: 50,
            timed_out_by_dispatchers: 50,
            overwritten: 30,
            lost_by_consumers: 30,
            events: 820,
            seen: 820,
            delivered: 800,
            failed: 20,
            lost_by_seq: 180,
            per_sensor_ok: true,
            shutdown_ok: true,
            ..Books::default()
        }
    }

    #[test]
    fn balanced_books_pass() {
        assert!(balanced().balanced());
    }

    /// Every figure, one off: some check must fail (so an event lost anywhere without
    /// being counted makes the run exit nonzero).
    #[test]
    fn any_figure_off_by_one_fails() {
        let off: [fn(&mut Books); 20] = [
            |b| b.generated += 1,
            |b| b.accepted += 1,
            |b| b.accepted_by_dispatchers += 1,
            |b| b.lost_in_dispatchers += 1,
            |b| b.full += 1,
            |b| b.full_by_dispatchers += 1,
            |b| b.timed_out += 1,
            |b| b.timed_out_by_dispatchers += 1,
            |b| b.overwritten += 1,
            |b| b.lost_by_consumers += 1,
            |b| b.refused += 1,
            |b| b.events += 1,
            |b| b.seen += 1,
            |b| b.delivered += 1,
            |b| b.failed += 1,
            |b| b.lost_by_seq += 1,
            |b| b.per_sensor_ok = false,
            |b| b.disorder += 1,
            |b| b.malformed += 1,
            |b| b.shutdown_ok = false,
        ];
        for (i, f) in off.iter().enumerate() {
            let mut b = balanced();
            f(&mut b);
            assert!(!b.balanced(), "figure {i} off by one went unnoticed");
        }
    }
}
