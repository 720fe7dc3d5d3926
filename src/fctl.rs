//! Producer-side flow control: credits computed from the consumers' fseqs, amortised.
//!
//! A credit is permission to publish one frag without overwriting anything a reliable
//! consumer still holds. The producer keeps a local count and reads the fseqs only when it
//! runs out (or, at housekeeping, when the count is below the refill mark):
//! `credits = min over attached consumers of (cr_max - (tx_seq - rx_seq))`, clamped to
//! `0..=cr_max`. Once it has run out it stays in backpressure until the credits reach the
//! resume mark (hysteresis), so producer and consumer hand the ring back and forth in large
//! pieces rather than frag by frag; each entry into backpressure is counted, and so is the
//! consumer that caused it.

use crate::error::LinkError;
use crate::fseq::Fseq;
use crate::seq;
use crate::sync::Ref;

/// Flow-control settings of a link.
///
/// All values are in frags. The defaults, for depth `d`: `cr_max = d`,
/// `cr_resume = max(1, d / 2)`, `cr_refill = max(1, d / 2)`,
/// `release_every = max(1, min(d / 8, 64))`.
///
/// ```
/// use milonga::FlowConfig;
/// let flow = FlowConfig::new().cr_max(512).cr_resume(128).release_every(16);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowConfig {
    cr_max: Option<u64>,
    cr_resume: Option<u64>,
    cr_refill: Option<u64>,
    release_every: Option<u64>,
}

impl FlowConfig {
    /// The defaults.
    pub const fn new() -> FlowConfig {
        FlowConfig {
            cr_max: None,
            cr_resume: None,
            cr_refill: None,
            release_every: None,
        }
    }

    /// The most frags the producer may be ahead of the slowest reliable consumer
    /// (`1..=depth`).
    pub const fn cr_max(mut self, n: u64) -> Self {
        self.cr_max = Some(n);
        self
    }

    /// After running out of credits, the producer resumes only once this many are
    /// available (`1..=cr_max`).
    pub const fn cr_resume(mut self, n: u64) -> Self {
        self.cr_resume = Some(n);
        self
    }

    /// At housekeeping, the producer refreshes its credits if fewer than this many are
    /// left (`1..=cr_max`).
    pub const fn cr_refill(mut self, n: u64) -> Self {
        self.cr_refill = Some(n);
        self
    }

    /// A consumer publishes its progress (returns credits) after at most this many
    /// released frags, and whenever it finds nothing to read (`1..=cr_max`).
    pub const fn release_every(mut self, n: u64) -> Self {
        self.release_every = Some(n);
        self
    }

    /// The settings for a ring of `depth` slots, defaults filled in and ranges checked.
    pub(crate) fn resolve(&self, depth: u64) -> Result<Flow, LinkError> {
        let check = |param, value: u64, max: u64| {
            if (1..=max).contains(&value) {
                Ok(value)
            } else {
                Err(LinkError::BadFlow {
                    param,
                    value,
                    min: 1,
                    max,
                })
            }
        };
        let cr_max = check("cr_max", self.cr_max.unwrap_or(depth), depth)?;
        let half = (cr_max / 2).max(1);
        Ok(Flow {
            cr_max,
            cr_resume: check("cr_resume", self.cr_resume.unwrap_or(half), cr_max)?,
            cr_refill: check("cr_refill", self.cr_refill.unwrap_or(half), cr_max)?,
            release_every: check(
                "release_every",
                self.release_every.unwrap_or((cr_max / 8).clamp(1, 64)),
                cr_max,
            )?,
        })
    }
}

/// Checked flow settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) cr_max: u64,
    pub(crate) cr_resume: u64,
    pub(crate) cr_refill: u64,
    pub(crate) release_every: u64,
}

/// Every consumer is gone: nobody can return credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AllDetached;

/// The producer's credit state over the fseqs of its reliable consumers.
pub(crate) struct Fctl<'a> {
    fseqs: Ref<'a, [Fseq]>,
    /// The lossy consumers' fseqs: they never gate, but while one is attached the
    /// producer is not disconnected.
    lossy: Ref<'a, [Fseq]>,
    flow: Flow,
    /// In backpressure: waiting for `cr_resume` credits.
    blocked: bool,
    /// Times backpressure was entered.
    backpressure: u64,
}

impl<'a> Fctl<'a> {
    pub(crate) fn new(fseqs: Ref<'a, [Fseq]>, lossy: Ref<'a, [Fseq]>, flow: Flow) -> Self {
        Fctl {
            fseqs,
            lossy,
            flow,
            blocked: false,
            backpressure: 0,
        }
    }

    pub(crate) fn flow(&self) -> &Flow {
        &self.flow
    }

    pub(crate) fn backpressure(&self) -> u64 {
        self.backpressure
    }

    /// In backpressure: out of credits and waiting for the resume mark.
    pub(crate) fn blocked(&self) -> bool {
        self.blocked
    }

    /// Reads every attached fseq: the credits available for a producer whose next seq is
    /// `tx_seq`, and a bit mask of the reliable consumers that allow none (those holding
    /// the producer back). Without any reliable consumer attached the credits are `cr_max`
    /// while a lossy consumer is attached (or the link was built with no consumer at
    /// all); once every consumer, reliable or lossy, is gone, the link is disconnected.
    fn query(&self, tx_seq: u64) -> Result<(u64, u64), AllDetached> {
        let mut best: Option<u64> = None;
        let mut stalled = 0u64;
        for (i, fseq) in self.fseqs.iter().enumerate() {
            if fseq.is_detached() {
                continue;
            }
            let lag = seq::diff(tx_seq, fseq.query()).max(0) as u64;
            let cr = self.flow.cr_max.saturating_sub(lag);
            if cr == 0 {
                stalled |= 1 << (i % 64);
            }
            best = Some(best.map_or(cr, |b| b.min(cr)));
        }
        match best {
            Some(b) => Ok((b, stalled)),
            None if self.lossy.iter().any(|f| !f.is_detached())
                || (self.fseqs.is_empty() && self.lossy.is_empty()) =>
            {
                Ok((self.flow.cr_max, 0))
            }
            None => Err(AllDetached),
        }
    }

    /// Credits for a producer at `tx_seq` that has `have` left (the slow path, taken when
    /// `have` is 0, and at housekeeping when `have < cr_refill`). Returns the new count,
    /// which is 0 while in backpressure.
    #[cold]
    pub(crate) fn refresh(&mut self, tx_seq: u64, have: u64) -> Result<u64, AllDetached> {
        let (cr, stalled) = self.query(tx_seq)?;
        if self.blocked {
            if cr < self.flow.cr_resume {
                return Ok(0);
            }
            self.blocked = false;
        } else if cr == 0 {
            self.blocked = true;
            self.backpressure += 1;
            for (i, fseq) in self.fseqs.iter().enumerate() {
                if stalled & (1 << (i % 64)) != 0 {
                    // Single writer of `slow`: this producer.
                    fseq.publish_slow(fseq.slow() + 1);
                }
            }
            return Ok(0);
        }
        Ok(cr.max(have))
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn flow_ranges_are_checked() {
        let f = FlowConfig::new().resolve(64).unwrap();
        assert_eq!(
            (f.cr_max, f.cr_resume, f.cr_refill, f.release_every),
            (64, 32, 32, 8)
        );
        let f = FlowConfig::new().resolve(2).unwrap();
        assert_eq!(
            (f.cr_max, f.cr_resume, f.cr_refill, f.release_every),
            (2, 1, 1, 1)
        );
        assert_eq!(
            FlowConfig::new().cr_max(65).resolve(64),
            Err(LinkError::BadFlow {
                param: "cr_max",
                value: 65,
                min: 1,
                max: 64
            })
        );
        assert!(FlowConfig::new().cr_max(0).resolve(64).is_err());
        assert!(FlowConfig::new()
            .cr_max(8)
            .cr_resume(9)
            .resolve(64)
            .is_err());
        assert!(FlowConfig::new().cr_refill(0).resolve(64).is_err());
        assert!(FlowConfig::new().release_every(65).resolve(64).is_err());
    }

    #[test]
    fn credits_follow_the_slowest_consumer_with_hysteresis() {
        let fseqs = [Fseq::new(100), Fseq::new(100)];
        let flow = FlowConfig::new().cr_max(8).cr_resume(4).resolve(8).unwrap();
        let mut fctl = Fctl::new(Ref::new(&fseqs), Ref::new(&[]), flow);
        assert_eq!(fctl.refresh(100, 0), Ok(8));
        fseqs[0].publish(105);
        fseqs[1].publish(103);
        assert_eq!(fctl.refresh(108, 0), Ok(3));
        assert_eq!(fctl.refresh(111, 0), Ok(0));
        assert_eq!(fctl.backpressure(), 1);
        assert_eq!(fseqs[1].slow(), 1);
        assert_eq!(fseqs[0].slow(), 0);
        fseqs[0].publish(110);
        fseqs[1].publish(106); // 3 credits: below the resume mark
        assert_eq!(fctl.refresh(111, 0), Ok(0));
        fseqs[1].publish(107); // 4 credits
        assert_eq!(fctl.refresh(111, 0), Ok(4));
        assert_eq!(fctl.backpressure(), 1);
        fseqs[1].detach();
        assert_eq!(fctl.refresh(111, 0), Ok(7));
        fseqs[0].detach();
        assert_eq!(fctl.refresh(111, 0), Err(AllDetached));
    }

    #[test]
    fn lossy_consumers_never_gate_but_keep_the_link_connected() {
        let reliable = [Fseq::new(0)];
        let lossy = [Fseq::new(0)];
        let flow = FlowConfig::new().resolve(8).unwrap();
        let mut fctl = Fctl::new(Ref::new(&reliable), Ref::new(&lossy), flow);
        assert_eq!(fctl.refresh(8, 0), Ok(0)); // the reliable one gates
        reliable[0].detach();
        assert_eq!(fctl.refresh(8, 0), Ok(8)); // the lossy one does not
        lossy[0].detach();
        assert_eq!(fctl.refresh(8, 0), Err(AllDetached));
        // No reliable consumer: never gated while a lossy one is attached, disconnected
        // once none is (this link's only lossy consumer is gone).
        let attached = [Fseq::new(0)];
        let mut free = Fctl::new(Ref::new(&[]), Ref::new(&attached), flow);
        assert_eq!(
            free.refresh(1 << 40, 0),
            Ok(8),
            "no reliable consumer: never gated"
        );
        let mut gone = Fctl::new(Ref::new(&[]), Ref::new(&lossy), flow);
        assert_eq!(gone.refresh(1 << 40, 0), Err(AllDetached));
        // No consumer configured at all: nobody to wait for, nobody who left.
        let mut none = Fctl::new(Ref::new(&[]), Ref::new(&[]), flow);
        assert_eq!(none.refresh(1 << 40, 0), Ok(8));
    }

    #[test]
    fn credits_are_computed_across_the_seq_wrap() {
        let fseqs = [Fseq::new(u64::MAX - 1)];
        let mut fctl = Fctl::new(
            Ref::new(&fseqs),
            Ref::new(&[]),
            FlowConfig::new().resolve(4).unwrap(),
        );
        assert_eq!(fctl.refresh(1, 0), Ok(1)); // 3 ahead of u64::MAX - 1
    }
}
