//! A model of a link for the property tests (`prop_*.rs`): every frag the producer
//! published (header and payload), the producer's credits by the flow-control rules, and
//! what each consumer has read, filtered and lost. The drivers apply each generated
//! operation to the real link and to the model, and compare every result, payload byte
//! and counter.
//!
//! The model works in indices (`seq - seq0`), so links that start just below the seq wrap
//! are modelled like any other. Payload bytes are a function of (seq, position), so a
//! payload delivered for the wrong frag, or shifted, never matches.
//!
//! What the model leaves to the implementation, it bounds instead of predicting:
//! - when a reliable consumer publishes its progress (returns credits): at most
//!   `release_every` frags after releasing them, and at once when it finds nothing to read
//!   or does housekeeping; the producer's credits are then computed exactly from the
//!   progress it can read (the link's metrics show the same fseqs);
//! - how far past the last frag it delivered a consumer releases frags its filter rejects:
//!   at least none, at most up to the next frag it would deliver.

#![allow(dead_code)]

use milonga::metrics::{ConsumerKind, Snapshot};
use milonga::spsc::Budget;
use milonga::spsc::{
    Batch, Consumer, Exclusive, LossyConsumer, Producer, ReadGuard, Shared, SigFilter,
};
use milonga::{ConsumerCounters, Ctl, FlowConfig, FragMeta, Header, ProducerCounters};
use milonga::{LossyTryRecvError, Overrun, OverrunKind, PublishError, TryRecvError};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// Cases per property: `PROPTEST_CASES` if set, else `native` (a handful under Miri).
pub fn config(native: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 2 } else { native });
    ProptestConfig {
        cases,
        // No regressions file in the repository: a failure prints its minimal case, and
        // the test is rerun with it by hand.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

thread_local! {
    static EVENTS: std::cell::RefCell<std::collections::BTreeMap<&'static str, u64>> =
        Default::default();
}

/// Counts an event of interest (a condition the generated sequences should reach).
pub fn note(event: &'static str) {
    EVENTS.with(|e| *e.borrow_mut().entry(event).or_default() += 1);
}

/// The events counted on this thread so far.
pub fn events() -> std::collections::BTreeMap<&'static str, u64> {
    EVENTS.with(|e| e.borrow().clone())
}

/// Runs `cases` cases drawn from `strategy` with a fixed seed (the same cases on every run)
/// and checks that together they reached every event in `want`: the generators do force
/// the conditions the properties are about. Under Miri (a few cases, for undefined
/// behaviour on the paths they take) the events are printed, not required.
pub fn seeded<S: Strategy>(strategy: S, cases: usize, run: impl Fn(&S::Value), want: &[&str]) {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    EVENTS.with(|e| e.borrow_mut().clear());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[0x5e; 32]);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    for _ in 0..cases {
        run(&strategy.new_tree(&mut runner).unwrap().current());
    }
    let seen = events();
    println!("{seen:?}");
    if cfg!(miri) {
        return;
    }
    for w in want {
        assert!(
            seen.get(w).copied().unwrap_or(0) > 0,
            "no case reached {w:?}: {seen:?}"
        );
    }
}

/// Byte `i` of the payload of the frag `seq`.
pub fn byte(seq: u64, i: usize) -> u8 {
    let x = seq
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left((i % 61) as u32);
    (x as u8) ^ ((x >> 40) as u8) ^ (i as u8).wrapping_mul(37) ^ ((i >> 8) as u8)
}

/// The payload of the frag `seq`, `len` bytes.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| byte(seq, i)).collect()
}

/// The bytes of a multi-frag message whose first frag is `first`: byte `j` of the message
/// (so the piece of frag `first + k` at position `i` is byte `k * mtu + i`).
pub fn message(first: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| byte(!first, j)).collect()
}

/// The filters the tests set: pure functions of the sig.
pub const FILTERS: [fn(u64) -> bool; 4] = [|s| s % 2 == 0, |s| s % 3 != 0, |_| false, |_| true];

pub fn filter(sel: Option<usize>) -> Option<fn(u64) -> bool> {
    sel.map(|i| FILTERS[i % FILTERS.len()])
}

/// The consumer's form of a model filter.
pub fn sig_filter(sel: Option<usize>) -> Option<SigFilter<'static>> {
    filter(sel).map(SigFilter::func)
}

/// A generated header.
#[derive(Clone, Copy, Debug)]
pub struct HdrSel {
    pub sig: u64,
    pub ctl: u16,
    pub ts: u32,
}

impl HdrSel {
    pub fn header(&self) -> Header {
        Header::new(self.sig)
            .ctl(Ctl::from_bits(self.ctl))
            .tsorig(self.ts)
            .tspub(self.ts.rotate_left(11) ^ 0x5a5a)
    }
}

pub fn hdr_sel() -> impl Strategy<Value = HdrSel> {
    (
        prop_oneof![3 => 0..12u64, 1 => any::<u64>()],
        prop_oneof![3 => Just(Ctl::default().bits()), 1 => any::<u16>()],
        prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
    )
        .prop_map(|(sig, ctl, ts)| HdrSel { sig, ctl, ts })
}

/// Flow settings as generated: each one default (`None`) or chosen in its range.
#[derive(Clone, Copy, Debug)]
pub struct FlowSel {
    pub cr_max: Option<u8>,
    pub cr_resume: Option<u8>,
    pub cr_refill: Option<u8>,
    pub release_every: Option<u8>,
}

pub fn flow_sel() -> impl Strategy<Value = FlowSel> {
    let p = || prop_oneof![1 => Just(None), 1 => any::<u8>().prop_map(Some)];
    (p(), p(), p(), p()).prop_map(|(a, b, c, d)| FlowSel {
        cr_max: a,
        cr_resume: b,
        cr_refill: c,
        release_every: d,
    })
}

/// Resolved flow-control settings.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub cr_max: u64,
    pub cr_resume: u64,
    pub cr_refill: u64,
    pub release_every: u64,
}

impl FlowSel {
    /// The configuration to build the link with, and the settings it resolves to for a
    /// ring of `depth` slots (the defaults follow from `cr_max`, see `FlowConfig`).
    pub fn resolve(&self, depth: u64) -> (FlowConfig, Flow) {
        let pick = |sel: u8, max: u64| 1 + sel as u64 % max;
        let mut cfg = FlowConfig::new();
        let cr_max = match self.cr_max {
            Some(s) => {
                let v = pick(s, depth);
                cfg = cfg.cr_max(v);
                v
            }
            None => depth,
        };
        let half = (cr_max / 2).max(1);
        let mut one =
            |sel: Option<u8>, default: u64, set: fn(FlowConfig, u64) -> FlowConfig| match sel {
                Some(s) => {
                    let v = pick(s, cr_max);
                    cfg = set(cfg, v);
                    v
                }
                None => default,
            };
        let cr_resume = one(self.cr_resume, half, FlowConfig::cr_resume);
        let cr_refill = one(self.cr_refill, half, FlowConfig::cr_refill);
        let release_every = one(
            self.release_every,
            (cr_max / 8).clamp(1, 64),
            FlowConfig::release_every,
        );
        let flow = Flow {
            cr_max,
            cr_resume,
            cr_refill,
            release_every,
        };
        (cfg, flow)
    }
}

/// A frag as the producer published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub seq: u64,
    pub hdr: Header,
    pub payload: Vec<u8>,
}

impl Sent {
    /// A received frag is this one, exactly: seq, every header field, size and bytes.
    pub fn check(&self, meta: &FragMeta, payload: &[u8]) {
        assert_eq!(meta.seq, self.seq, "seq");
        assert_eq!(meta.header(), self.hdr, "header of seq {}", self.seq);
        assert_eq!(
            meta.sz as usize,
            self.payload.len(),
            "size of seq {}",
            self.seq
        );
        assert!(
            payload == &self.payload[..],
            "payload of seq {}: got {payload:?}, published {:?}",
            self.seq,
            self.payload
        );
    }

    pub fn len(&self) -> u64 {
        self.payload.len() as u64
    }
}

/// What a producer reads of one consumer when it refreshes its credits: the progress the
/// consumer last published (an index) and whether it is gone.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub rx: u64,
    pub detached: bool,
}

/// The reliable and the lossy consumers of a snapshot, as the producer reads them.
pub fn seen(snap: &Snapshot, seq0: u64) -> (Vec<Seen>, Vec<Seen>) {
    let of = |kind| {
        snap.consumers
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| Seen {
                rx: c.rx_seq.wrapping_sub(seq0),
                detached: c.detached,
            })
            .collect::<Vec<_>>()
    };
    (of(ConsumerKind::Reliable), of(ConsumerKind::Lossy))
}

/// The producer side of a link: what was published, and the credits.
#[derive(Debug)]
pub struct TxModel {
    pub seq0: u64,
    pub depth: u64,
    pub mtu: usize,
    pub flow: Flow,
    /// By index; `None`: claimed and not published yet (shared ring).
    pub sent: Vec<Option<Sent>>,
    pub cr_avail: u64,
    pub blocked: bool,
    pub backpressure: u64,
    /// Per reliable consumer: how often it held the producer back.
    pub slow: Vec<u64>,
    pub bytes: u64,
    pub closed: bool,
}

impl TxModel {
    pub fn new(seq0: u64, depth: usize, mtu: usize, flow: Flow, reliable: usize) -> Self {
        TxModel {
            seq0,
            depth: depth as u64,
            mtu,
            flow,
            sent: Vec::new(),
            cr_avail: flow.cr_max,
            blocked: false,
            backpressure: 0,
            slow: vec![0; reliable],
            bytes: 0,
            closed: false,
        }
    }

    pub fn seq(&self, idx: u64) -> u64 {
        self.seq0.wrapping_add(idx)
    }

    pub fn idx(&self, seq: u64) -> u64 {
        seq.wrapping_sub(self.seq0)
    }

    /// The index of the next frag the producer publishes (or claims).
    pub fn next(&self) -> u64 {
        self.sent.len() as u64
    }

    /// The end of what consumers can read: the first index not published.
    pub fn avail(&self) -> u64 {
        self.sent
            .iter()
            .position(|s| s.is_none())
            .unwrap_or(self.sent.len()) as u64
    }

    pub fn get(&self, idx: u64) -> &Sent {
        self.sent[idx as usize].as_ref().expect("a published frag")
    }

    /// Credits from the consumers' published progress, and which reliable consumers allow
    /// none. A link is disconnected once every consumer, reliable or lossy, is gone
    /// (including a link whose consumers were all lossy: the behaviour being merged).
    fn query(&self, rel: &[Seen], lossy: &[Seen]) -> Result<(u64, Vec<bool>), PublishError> {
        let tx = self.next();
        let mut best: Option<u64> = None;
        let mut stalled = vec![false; rel.len()];
        for (i, s) in rel.iter().enumerate() {
            if s.detached {
                continue;
            }
            assert!(
                s.rx <= tx,
                "consumer {i} published progress {} past {tx}",
                s.rx
            );
            let cr = self.flow.cr_max.saturating_sub(tx - s.rx);
            stalled[i] = cr == 0;
            best = Some(best.map_or(cr, |b| b.min(cr)));
        }
        match best {
            Some(b) => Ok((b, stalled)),
            None if lossy.iter().any(|l| !l.detached) => Ok((self.flow.cr_max, stalled)),
            None => Err(PublishError::Disconnected),
        }
    }

    /// The slow path: read the consumers' progress, with the resume mark's hysteresis.
    fn refresh(&mut self, rel: &[Seen], lossy: &[Seen]) -> Result<(), PublishError> {
        let (cr, stalled) = self
            .query(rel, lossy)
            .inspect_err(|_| note("disconnected"))?;
        let have = self.cr_avail;
        let got = if self.blocked {
            if cr < self.flow.cr_resume {
                note("below the resume mark");
                0
            } else {
                note("resumed");
                self.blocked = false;
                cr.max(have)
            }
        } else if cr == 0 {
            note("backpressure");
            self.blocked = true;
            self.backpressure += 1;
            for (i, s) in stalled.iter().enumerate() {
                self.slow[i] += *s as u64;
            }
            0
        } else {
            cr.max(have)
        };
        if got == 0 {
            return Err(PublishError::NoCredits);
        }
        self.cr_avail = got;
        Ok(())
    }

    pub fn take(&mut self, n: u64, rel: &[Seen], lossy: &[Seen]) -> Result<(), PublishError> {
        // Once the last consumer is gone, the very next publish says so, whatever credits
        // the producer still holds.
        let mut all = rel.iter().chain(lossy);
        if all.clone().next().is_some() && all.all(|s| s.detached) {
            note("disconnected at once");
            return Err(PublishError::Disconnected);
        }
        if self.cr_avail < n {
            self.refresh(rel, lossy)?;
            if self.cr_avail < n {
                note("credits short of a message");
                return Err(PublishError::NoCredits);
            }
        }
        Ok(())
    }

    pub fn housekeeping(&mut self, rel: &[Seen], lossy: &[Seen]) {
        if self.cr_avail < self.flow.cr_refill {
            let _ = self.refresh(rel, lossy);
        }
    }

    /// Records a published frag (its credit was taken); returns its seq.
    pub fn push(&mut self, hdr: Header, payload: Vec<u8>) -> u64 {
        let seq = self.seq(self.next());
        if seq == 0 && self.seq0 != 0 {
            note("seq wrapped");
        }
        self.bytes += payload.len() as u64;
        self.sent.push(Some(Sent { seq, hdr, payload }));
        self.cr_avail -= 1;
        seq
    }

    pub fn try_publish(
        &mut self,
        hdr: Header,
        len: usize,
        rel: &[Seen],
        lossy: &[Seen],
    ) -> Result<u64, PublishError> {
        if len > self.mtu {
            note("publish too large");
            return Err(PublishError::TooLarge { len, max: self.mtu });
        }
        self.take(1, rel, lossy)?;
        let seq = self.seq(self.next());
        Ok(self.push(hdr, payload(seq, len)))
    }

    /// A claim of `len` bytes, then a commit of `commit.1` bytes with header `commit.0`,
    /// or abandoned (`None`). `Ok(None)`: abandoned, nothing published.
    pub fn claim(
        &mut self,
        len: usize,
        commit: Option<(Header, usize)>,
        rel: &[Seen],
        lossy: &[Seen],
    ) -> Result<Option<u64>, PublishError> {
        if len > self.mtu {
            note("claim too large");
            return Err(PublishError::TooLarge { len, max: self.mtu });
        }
        self.take(1, rel, lossy)?;
        let seq = self.seq(self.next());
        match commit {
            None => {
                note("claim abandoned");
                Ok(None)
            }
            Some((_, k)) if k > len => {
                note("claim committed too long");
                Err(PublishError::TooLarge { len: k, max: len })
            }
            Some((hdr, k)) => Ok(Some(self.push(hdr, payload(seq, k)))),
        }
    }

    pub fn try_publish_message(
        &mut self,
        hdr: Header,
        len: usize,
        rel: &[Seen],
        lossy: &[Seen],
    ) -> Result<(u64, usize), PublishError> {
        let max = self.flow.cr_max as usize * self.mtu;
        if len > max {
            note("message too large");
            return Err(PublishError::TooLarge { len, max });
        }
        let frags = if len == 0 { 1 } else { len.div_ceil(self.mtu) };
        self.take(frags as u64, rel, lossy)?;
        if frags > 1 {
            note("message of several frags");
        }
        let first = self.seq(self.next());
        let msg = message(first, len);
        let base = hdr.ctl.bits() & !(Ctl::SOM.bits() | Ctl::EOM.bits());
        let mtu = self.mtu.max(1);
        for k in 0..frags {
            let mut ctl = base;
            if k == 0 {
                ctl |= Ctl::SOM.bits();
            }
            if k + 1 == frags {
                ctl |= Ctl::EOM.bits();
            }
            let piece = msg[(k * mtu).min(len)..((k + 1) * mtu).min(len)].to_vec();
            self.push(hdr.ctl(Ctl::from_bits(ctl)), piece);
        }
        Ok((first, frags))
    }

    /// `try_publish_batch` of frags with these headers and payload lengths (the payload
    /// of each frag is `payload(seq, len)`): all or nothing.
    pub fn try_publish_batch(
        &mut self,
        frags: &[(Header, usize)],
        rel: &[Seen],
        lossy: &[Seen],
    ) -> Result<u64, PublishError> {
        let n = frags.len();
        if n as u64 > self.flow.cr_max {
            note("batch longer than the window");
            return Err(PublishError::TooManyFrags {
                frags: n,
                max: self.flow.cr_max as usize,
            });
        }
        if let Some(&(_, len)) = frags.iter().find(|f| f.1 > self.mtu) {
            note("batch with a payload too large");
            return Err(PublishError::TooLarge { len, max: self.mtu });
        }
        self.take(n as u64, rel, lossy).inspect_err(|e| {
            if *e == PublishError::NoCredits {
                note("batch refused for credits");
            }
        })?;
        note(if n > 1 {
            "batch published"
        } else {
            "batch of at most one published"
        });
        let first = self.seq(self.next());
        for &(hdr, len) in frags {
            let seq = self.seq(self.next());
            self.push(hdr, payload(seq, len));
        }
        Ok(first)
    }

    /// `try_publish_batch_in_place` of `ends.len()` frags of at most `max_len` bytes, the
    /// closure answering `ends[i]` (header, bytes used) for frag `i`: it stops at the
    /// first answer over `max_len`, the frags before it published.
    pub fn try_publish_batch_in_place(
        &mut self,
        max_len: usize,
        ends: &[(Header, usize)],
        rel: &[Seen],
        lossy: &[Seen],
    ) -> Result<u64, PublishError> {
        let n = ends.len();
        if max_len > self.mtu {
            note("batch in place too large");
            return Err(PublishError::TooLarge {
                len: max_len,
                max: self.mtu,
            });
        }
        if n as u64 > self.flow.cr_max {
            note("batch longer than the window");
            return Err(PublishError::TooManyFrags {
                frags: n,
                max: self.flow.cr_max as usize,
            });
        }
        self.take(n as u64, rel, lossy).inspect_err(|e| {
            if *e == PublishError::NoCredits {
                note("batch refused for credits");
            }
        })?;
        let first = self.seq(self.next());
        for (i, &(hdr, used)) in ends.iter().enumerate() {
            if used > max_len {
                note(if i > 0 {
                    "batch in place overfilled after some frags"
                } else {
                    "batch in place overfilled at once"
                });
                return Err(PublishError::Overfilled {
                    published: i,
                    len: used,
                    max: max_len,
                });
            }
            let seq = self.seq(self.next());
            self.push(hdr, payload(seq, used));
        }
        note("batch in place published");
        Ok(first)
    }

    /// The producer's counters as the model has them.
    pub fn check_counters(&self, got: &ProducerCounters) {
        assert_eq!(
            (got.published_frags, got.published_bytes, got.backpressure),
            (self.next(), self.bytes, self.backpressure),
            "producer counters (frags, bytes, backpressure)"
        );
    }
}

/// A reliable consumer.
#[derive(Debug, Default)]
pub struct RxModel {
    /// Every frag before this index is released.
    pub next: u64,
    pub filter: Option<fn(u64) -> bool>,
    pub c: ConsumerCounters,
    pub gone: bool,
}

impl RxModel {
    pub fn accepts(&self, s: &Sent) -> bool {
        self.filter.is_none_or(|f| f(s.hdr.sig))
    }

    /// The first frag at or after `from` this consumer would be lent.
    pub fn first_deliverable(&self, tx: &TxModel, from: u64) -> Option<u64> {
        (from..tx.avail()).find(|&i| self.accepts(tx.get(i)))
    }

    /// The consumer says every frag before `to` is released: those the model has not
    /// delivered must be frags the filter rejects (counted as filtered), and it cannot
    /// have released a frag it would deliver.
    pub fn settle(&mut self, tx: &TxModel, to: u64) {
        assert!(
            to >= self.next,
            "progress went back from {} to {to}",
            self.next
        );
        let limit = self.first_deliverable(tx, self.next).unwrap_or(tx.avail());
        assert!(
            to <= limit,
            "released up to {to}, past frag {limit} it never delivered"
        );
        for i in self.next..to {
            note("filtered");
            self.c.filtered_frags += 1;
            self.c.filtered_bytes += tx.get(i).len();
        }
        self.next = to;
    }

    /// The frag `idx` was lent and released.
    pub fn deliver(&mut self, tx: &TxModel, idx: u64) {
        self.settle(tx, idx);
        let s = tx.get(idx);
        assert!(self.accepts(s), "lent frag {idx}, which the filter rejects");
        note("delivered");
        self.c.consumed_frags += 1;
        self.c.consumed_bytes += s.len();
        self.next = idx + 1;
    }

    /// The frags a batch with these limits lends now: the longest run of the next frags
    /// the filter accepts that fits both limits. The scan asks the filter once per frag,
    /// so a frag that would take the batch over `max_bytes` ends it whether the filter
    /// accepts it or not, and with a filter the run (from the first accepted frag,
    /// rejected ones included) spans at most `FILTERED_RUN_MAX` frags.
    pub fn expect_batch(&self, tx: &TxModel, max_frags: usize, max_bytes: usize) -> Vec<u64> {
        let (mut out, mut bytes, mut raw) = (Vec::new(), 0usize, 0usize);
        for i in self.next..tx.avail() {
            let s = tx.get(i);
            // A batch always lends its first frag, whatever its size.
            if out.len() == max_frags || (bytes + s.payload.len() > max_bytes && !out.is_empty()) {
                break;
            }
            if self.filter.is_some() {
                if raw == milonga::spsc::FILTERED_RUN_MAX {
                    note("filtered run cut");
                    break;
                }
                if !self.accepts(s) {
                    if !out.is_empty() {
                        raw += 1;
                    }
                    continue;
                }
            }
            bytes += s.payload.len();
            out.push(i);
            raw += 1;
        }
        out
    }

    /// What a read that finds nothing to lend returns (it releases the frags its filter
    /// rejects on the way).
    pub fn idle_result(&self, tx: &TxModel) -> TryRecvError {
        assert_eq!(self.first_deliverable(tx, self.next), None);
        if tx.closed {
            TryRecvError::Closed
        } else {
            TryRecvError::Empty
        }
    }

    pub fn check_counters(&self, got: &ConsumerCounters) {
        assert_eq!(got, &self.c, "reliable consumer counters");
    }

    /// The progress the producer can read: never ahead of the consumer, less than
    /// `release_every` frags behind it, and all of it after an idle read or housekeeping.
    pub fn check_progress(&self, tx: &TxModel, seen: Seen, idle: bool) {
        assert!(!seen.detached, "a live consumer is detached");
        assert!(
            seen.rx <= self.next,
            "published progress {} ahead of {}",
            seen.rx,
            self.next
        );
        assert!(
            self.next - seen.rx < tx.flow.release_every,
            "progress {} published for {} released (release_every {})",
            seen.rx,
            self.next,
            tx.flow.release_every
        );
        if idle {
            assert_eq!(
                seen.rx, self.next,
                "progress after an idle read or housekeeping"
            );
        }
    }
}

/// A lossy consumer.
#[derive(Debug, Default)]
pub struct LossyModel {
    pub next: u64,
    pub filter: Option<fn(u64) -> bool>,
    pub margin: u64,
    pub c: ConsumerCounters,
    /// The bytes of every frag lost so far (the consumer learns them at its next read).
    pub lost_bytes: u64,
    /// The consumer has read a frag's ledger since it was last lapped.
    pub resolved: bool,
    pub gone: bool,
}

impl LossyModel {
    pub fn new() -> Self {
        LossyModel {
            resolved: true,
            ..Default::default()
        }
    }

    /// `try_recv` with a buffer of `buf` bytes, one thread: a frag is intact while the
    /// producer is at most `depth` frags past it; a lapped reader resumes at the oldest
    /// intact frag plus the margin (at most the newest).
    pub fn recv(&mut self, tx: &TxModel, buf: usize) -> Result<u64, LossyTryRecvError> {
        loop {
            let end = tx.next();
            if self.next >= end {
                if tx.closed {
                    note("lossy closed");
                    self.resolved = true;
                    return Err(LossyTryRecvError::Closed);
                }
                return Err(LossyTryRecvError::Empty);
            }
            if end - self.next > tx.depth {
                let resume = (end - tx.depth + self.margin).min(end - 1);
                let lost = resume - self.next;
                for i in self.next..resume {
                    self.lost_bytes += tx.get(i).len();
                }
                note("lossy overrun");
                if self.margin > 0 {
                    note("lossy overrun with a resume margin");
                }
                self.c.poll_overruns += 1;
                self.c.poll_lost += lost;
                self.next = resume;
                self.resolved = false;
                return Err(LossyTryRecvError::Overrun(Overrun {
                    lost,
                    kind: OverrunKind::Lapped,
                }));
            }
            let s = tx.get(self.next);
            self.resolved = true;
            if !self.filter.is_none_or(|f| f(s.hdr.sig)) {
                note("lossy filtered");
                self.c.filtered_frags += 1;
                self.c.filtered_bytes += s.len();
                self.next += 1;
                continue;
            }
            if buf < s.payload.len() {
                note("lossy buffer too small");
                return Err(LossyTryRecvError::BufferTooSmall {
                    needed: s.payload.len(),
                });
            }
            note("lossy delivered");
            self.c.consumed_frags += 1;
            self.c.consumed_bytes += s.len();
            self.next += 1;
            return Ok(self.next - 1);
        }
    }

    pub fn check_counters(&self, got: &ConsumerCounters) {
        let frags = |c: &ConsumerCounters| {
            (
                c.consumed_frags,
                c.consumed_bytes,
                c.filtered_frags,
                c.filtered_bytes,
                c.poll_overruns,
                c.poll_lost,
                c.read_overruns,
                c.read_lost,
            )
        };
        assert_eq!(frags(got), frags(&self.c), "lossy consumer counters");
        assert!(
            got.lost_bytes <= self.lost_bytes,
            "lost bytes {} of {}",
            got.lost_bytes,
            self.lost_bytes
        );
        if self.resolved {
            assert_eq!(got.lost_bytes, self.lost_bytes, "lost bytes once resolved");
        }
    }
}

/// At a quiescent point (stream closed, consumer drained): published = consumed +
/// filtered + lost, in frags and in bytes.
pub fn assert_exact(c: &ConsumerCounters, frags: u64, bytes: u64) {
    assert_eq!(
        c.consumed_frags + c.filtered_frags + c.lost_frags(),
        frags,
        "frags: {c:?}"
    );
    assert_eq!(
        c.consumed_bytes + c.filtered_bytes + c.lost_bytes,
        bytes,
        "bytes: {c:?}"
    );
}

/// A producer operation.
#[derive(Clone, Debug)]
pub enum ProdOp {
    /// `try_publish` of `len % (mtu + 1)` bytes (`usize::MAX`: mtu + 1, too large).
    Publish {
        len: usize,
        hdr: HdrSel,
    },
    /// A claim of `len % (mtu + 2)` bytes, then its end.
    Claim {
        len: usize,
        end: ClaimEnd,
        hdr: HdrSel,
    },
    /// `try_publish_message` of `len % (cr_max * mtu + 1)` bytes (`usize::MAX`: one more,
    /// too large).
    Message {
        len: usize,
        hdr: HdrSel,
    },
    /// `try_publish` until it fails (at most `cr_max + 1` tries): forces the credits out.
    Fill {
        len: usize,
    },
    /// `try_publish_batch` of frags of `lens[i] % (mtu + 1)` bytes (`usize::MAX`: mtu + 1,
    /// too large), headers from `hdr`.
    Batch {
        lens: Vec<usize>,
        hdr: HdrSel,
    },
    /// `try_publish_batch_in_place` of `ends.len()` frags of at most `max_len % (mtu + 2)`
    /// bytes, the closure using `k % (max_len + 1)` bytes of frag `i` for
    /// `ClaimEnd::Commit(k)`, one more than `max_len` for `TooLong` (`Abandon` stands for
    /// `Commit`).
    BatchInPlace {
        max_len: usize,
        ends: Vec<ClaimEnd>,
        hdr: HdrSel,
    },
    Housekeeping,
}

#[derive(Clone, Copy, Debug)]
pub enum ClaimEnd {
    /// Commit `k % (len + 1)` bytes.
    Commit(usize),
    /// Commit one byte more than claimed: refused.
    TooLong,
    /// Dropped without a commit.
    Abandon,
}

pub fn prod_op(claims: bool) -> BoxedStrategy<ProdOp> {
    let len = || 0..1024usize;
    let too_large = || prop_oneof![12 => 0..4096usize, 1 => Just(usize::MAX)];
    let publish = (too_large(), hdr_sel()).prop_map(|(len, hdr)| ProdOp::Publish { len, hdr });
    let message = (too_large(), hdr_sel()).prop_map(|(len, hdr)| ProdOp::Message { len, hdr });
    let fill = len().prop_map(|len| ProdOp::Fill { len });
    let housekeeping = Just(ProdOp::Housekeeping);
    // Mostly within a window of credits, sometimes longer than any.
    let frags = || prop_oneof![8 => 0..6usize, 2 => 6..12usize, 1 => 12..20usize];
    let batch = (
        frags().prop_flat_map(move |n| prop::collection::vec(too_large(), n)),
        hdr_sel(),
    )
        .prop_map(|(lens, hdr)| ProdOp::Batch { lens, hdr });
    if !claims {
        return prop_oneof![8 => publish, 2 => message, 2 => batch, 1 => fill, 1 => housekeeping]
            .boxed();
    }
    let claim_end = || {
        prop_oneof![
            4 => any::<usize>().prop_map(ClaimEnd::Commit),
            1 => Just(ClaimEnd::TooLong),
            2 => Just(ClaimEnd::Abandon),
        ]
    };
    let claim =
        (len(), claim_end(), hdr_sel()).prop_map(|(len, end, hdr)| ProdOp::Claim { len, end, hdr });
    let in_place_end = prop_oneof![
        12 => any::<usize>().prop_map(ClaimEnd::Commit),
        1 => Just(ClaimEnd::TooLong),
    ];
    let in_place = (
        len(),
        frags().prop_flat_map(move |n| prop::collection::vec(in_place_end.clone(), n)),
        hdr_sel(),
    )
        .prop_map(|(max_len, ends, hdr)| ProdOp::BatchInPlace { max_len, ends, hdr });
    prop_oneof![
        8 => publish,
        4 => claim,
        2 => message,
        2 => batch,
        2 => in_place,
        1 => fill,
        1 => housekeeping
    ]
    .boxed()
}

/// How a batch ends.
#[derive(Clone, Copy, Debug)]
pub enum BatchEnd {
    /// Iterated in full (before and after the hold), then committed.
    Commit,
    /// Committed without iterating.
    CommitUnread,
    /// `k1` frags iterated before the hold and `k2` after, then dropped: the furthest
    /// reach is released.
    Take(usize, usize),
    /// Dropped without iterating: nothing released.
    Unread,
}

/// A read by a reliable consumer (`c` picks it modulo the number of consumers).
#[derive(Clone, Debug)]
pub enum RxOp {
    /// `poll`; the guard is held while `hold` runs on the producer.
    Poll {
        c: usize,
        hold: Vec<ProdOp>,
    },
    /// `batch(max_frags, budget)`; budget `None` is one byte below the mtu (refused).
    Batch {
        c: usize,
        max_frags: usize,
        max_bytes: Option<usize>,
        end: BatchEnd,
        hold: Vec<ProdOp>,
    },
    Filter {
        c: usize,
        f: Option<usize>,
    },
    Housekeeping {
        c: usize,
    },
}

pub fn rx_op(claims: bool) -> impl Strategy<Value = RxOp> {
    let hold = move || {
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(prod_op(claims), 1..4),
        ]
    };
    let end = prop_oneof![
        3 => Just(BatchEnd::Commit),
        1 => Just(BatchEnd::CommitUnread),
        3 => (0..6usize, 0..6usize).prop_map(|(a, b)| BatchEnd::Take(a, b)),
        1 => Just(BatchEnd::Unread),
    ];
    prop_oneof![
        6 => (any::<usize>(), hold()).prop_map(|(c, hold)| RxOp::Poll { c, hold }),
        6 => (
            any::<usize>(),
            0..20usize,
            prop_oneof![1 => Just(None), 6 => (0..2048usize).prop_map(Some)],
            end,
            hold(),
        )
            .prop_map(|(c, max_frags, max_bytes, end, hold)| RxOp::Batch {
                c,
                max_frags,
                max_bytes,
                end,
                hold
            }),
        1 => (any::<usize>(), prop::option::of(0..FILTERS.len()))
            .prop_map(|(c, f)| RxOp::Filter { c, f }),
        1 => any::<usize>().prop_map(|c| RxOp::Housekeeping { c }),
    ]
}

/// The closure of an in-place batch publish: fills frag `seq`'s region, returns its header
/// and the bytes used.
pub type Fill<'f> = dyn FnMut(u64, &mut [u8]) -> (Header, usize) + 'f;

/// The producer handles the drivers work with, with or without claims.
pub trait Tx {
    fn try_publish(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError>;
    fn try_publish_message(
        &mut self,
        hdr: Header,
        msg: &[u8],
    ) -> Result<(u64, usize), PublishError>;
    /// Claims `len` bytes, fills them with `fill`, then commits `(header, k)` or abandons
    /// (`None`); `Ok(None)` once abandoned. `None` if this producer has no claims.
    fn claim(
        &mut self,
        len: usize,
        fill: &dyn Fn(&mut [u8]),
        commit: Option<(Header, usize)>,
    ) -> Option<Result<Option<u64>, PublishError>>;
    fn try_publish_batch(&mut self, frags: &[(Header, &[u8])]) -> Result<u64, PublishError>;
    /// `try_publish_batch_in_place`; `None` if this producer has no claims.
    fn batch_in_place(
        &mut self,
        n: usize,
        max_len: usize,
        fill: &mut Fill<'_>,
    ) -> Option<Result<u64, PublishError>>;
    fn housekeeping(&mut self);
    fn credits(&self) -> u64;
    fn next_seq(&self) -> u64;
    fn counters(&self) -> ProducerCounters;
    fn halt(self);
}

macro_rules! tx_common {
    () => {
        fn try_publish(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
            Producer::try_publish(self, hdr, payload)
        }
        fn try_publish_message(
            &mut self,
            hdr: Header,
            msg: &[u8],
        ) -> Result<(u64, usize), PublishError> {
            Producer::try_publish_message(self, hdr, msg)
        }
        fn try_publish_batch(&mut self, frags: &[(Header, &[u8])]) -> Result<u64, PublishError> {
            Producer::try_publish_batch(self, frags)
        }
        fn housekeeping(&mut self) {
            Producer::housekeeping(self)
        }
        fn credits(&self) -> u64 {
            Producer::credits(self)
        }
        fn next_seq(&self) -> u64 {
            Producer::next_seq(self)
        }
        fn counters(&self) -> ProducerCounters {
            Producer::counters(self)
        }
        fn halt(self) {
            Producer::halt(self)
        }
    };
}

impl Tx for Producer<'_, Exclusive> {
    tx_common!();
    fn batch_in_place(
        &mut self,
        n: usize,
        max_len: usize,
        fill: &mut Fill<'_>,
    ) -> Option<Result<u64, PublishError>> {
        Some(self.try_publish_batch_in_place(n, max_len, |seq, buf| {
            assert_eq!(buf.len(), max_len, "region length");
            fill(seq, buf)
        }))
    }
    fn claim(
        &mut self,
        len: usize,
        fill: &dyn Fn(&mut [u8]),
        commit: Option<(Header, usize)>,
    ) -> Option<Result<Option<u64>, PublishError>> {
        Some(match self.try_claim(len) {
            Err(e) => Err(e),
            Ok(mut claim) => {
                assert_eq!(claim.len(), len, "claim length");
                fill(&mut claim);
                match commit {
                    Some((hdr, k)) => claim.commit_with(hdr, k).map(Some),
                    None => Ok(None),
                }
            }
        })
    }
}

impl Tx for Producer<'_, Shared> {
    tx_common!();
    fn batch_in_place(
        &mut self,
        _: usize,
        _: usize,
        _: &mut Fill<'_>,
    ) -> Option<Result<u64, PublishError>> {
        None
    }
    fn claim(
        &mut self,
        _: usize,
        _: &dyn Fn(&mut [u8]),
        _: Option<(Header, usize)>,
    ) -> Option<Result<Option<u64>, PublishError>> {
        None
    }
}

/// The header of frag `i` of a generated batch: each frag's differs.
pub fn batch_header(hdr: HdrSel, i: usize) -> Header {
    HdrSel {
        sig: hdr.sig.wrapping_add(i as u64),
        ..hdr
    }
    .header()
}

/// A generated length up to `max`; `usize::MAX` stands for `max + 1`.
pub fn sized(len: usize, max: usize) -> usize {
    if len == usize::MAX {
        max + 1
    } else {
        len % (max + 1)
    }
}

/// Applies one producer operation to the producer and to the model, comparing results,
/// then checks the producer's credits and counters. `metrics` reads the consumers'
/// published progress, which is what the producer's credit refresh reads.
pub fn apply_prod<T: Tx>(
    tx: &mut T,
    m: &mut TxModel,
    metrics: &milonga::metrics::Metrics<'_>,
    op: &ProdOp,
) {
    let mtu = m.mtu;
    let view = |m: &TxModel| seen(&metrics.snapshot(), m.seq0);
    match *op {
        ProdOp::Publish { len, hdr } => {
            let (rel, lossy) = view(m);
            let len = sized(len, mtu);
            let got = tx.try_publish(hdr.header(), &payload(tx.next_seq(), len));
            assert_eq!(
                got,
                m.try_publish(hdr.header(), len, &rel, &lossy),
                "publish {len}"
            );
        }
        ProdOp::Claim { len, end, hdr } => {
            let (rel, lossy) = view(m);
            let len = len % (mtu + 2);
            let seq = tx.next_seq();
            let commit = match end {
                ClaimEnd::Commit(k) => Some((hdr.header(), k % (len + 1))),
                ClaimEnd::TooLong => Some((hdr.header(), len + 1)),
                ClaimEnd::Abandon => None,
            };
            let fill = move |buf: &mut [u8]| {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = if commit.is_some() { byte(seq, i) } else { 0xee };
                }
            };
            if let Some(got) = tx.claim(len, &fill, commit) {
                assert_eq!(
                    got,
                    m.claim(len, commit, &rel, &lossy),
                    "claim {len} {end:?}"
                );
            }
        }
        ProdOp::Message { len, hdr } => {
            let (rel, lossy) = view(m);
            let len = sized(len, m.flow.cr_max as usize * mtu);
            let got = tx.try_publish_message(hdr.header(), &message(tx.next_seq(), len));
            let want = m.try_publish_message(hdr.header(), len, &rel, &lossy);
            assert_eq!(got, want, "message {len}");
        }
        ProdOp::Fill { len } => {
            let gated = view(m).0.iter().any(|s| !s.detached);
            let mut last = Ok(0);
            for i in 0..=m.flow.cr_max {
                let (rel, lossy) = view(m);
                let len = (len + i as usize * 7) % (mtu + 1);
                let hdr = Header::new(i);
                last = tx.try_publish(hdr, &payload(tx.next_seq(), len));
                assert_eq!(last, m.try_publish(hdr, len, &rel, &lossy), "fill {i}");
                if last.is_err() {
                    break;
                }
            }
            if gated {
                assert!(
                    last.is_err(),
                    "a reliable consumer let cr_max + 1 frags through"
                );
            }
        }
        ProdOp::Batch { ref lens, hdr } => {
            let (rel, lossy) = view(m);
            let next = tx.next_seq();
            let frags: Vec<(Header, usize)> = lens
                .iter()
                .enumerate()
                .map(|(i, &len)| (batch_header(hdr, i), sized(len, mtu)))
                .collect();
            let payloads: Vec<Vec<u8>> = frags
                .iter()
                .enumerate()
                .map(|(i, &(_, len))| payload(next.wrapping_add(i as u64), len))
                .collect();
            let refs: Vec<(Header, &[u8])> = frags
                .iter()
                .zip(&payloads)
                .map(|(&(h, _), p)| (h, &p[..]))
                .collect();
            let got = tx.try_publish_batch(&refs);
            let want = m.try_publish_batch(&frags, &rel, &lossy);
            assert_eq!(got, want, "batch {:?}", frags);
        }
        ProdOp::BatchInPlace {
            max_len,
            ref ends,
            hdr,
        } => {
            let (rel, lossy) = view(m);
            let max_len = max_len % (mtu + 2);
            let ends: Vec<(Header, usize)> = ends
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let used = match *e {
                        ClaimEnd::Commit(k) => k % (max_len + 1),
                        ClaimEnd::TooLong => max_len + 1,
                        ClaimEnd::Abandon => 0,
                    };
                    (batch_header(hdr, i), used)
                })
                .collect();
            let next = tx.next_seq();
            let mut calls = 0usize;
            let mut fill = |seq: u64, buf: &mut [u8]| {
                // Called once per frag, in seq order, from the next seq on.
                assert_eq!(
                    seq,
                    next.wrapping_add(calls as u64),
                    "fill called out of order"
                );
                let (hdr, used) = ends[calls];
                calls += 1;
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = if used <= max_len { byte(seq, i) } else { 0xee };
                }
                (hdr, used)
            };
            if let Some(got) = tx.batch_in_place(ends.len(), max_len, &mut fill) {
                let want = m.try_publish_batch_in_place(max_len, &ends, &rel, &lossy);
                assert_eq!(got, want, "batch in place {max_len} {ends:?}");
                let expect_calls = match want {
                    Ok(_) => ends.len(),
                    Err(PublishError::Overfilled { published, .. }) => published + 1,
                    Err(_) => 0,
                };
                assert_eq!(calls, expect_calls, "fill calls");
            }
        }
        ProdOp::Housekeeping => {
            let (rel, lossy) = view(m);
            tx.housekeeping();
            m.housekeeping(&rel, &lossy);
        }
    }
    check_tx(tx, m, metrics);
}

/// The producer's credits, next seq and counters are the model's, and so is each reliable
/// consumer's count of the times it held the producer back.
pub fn check_tx<T: Tx>(tx: &T, m: &TxModel, metrics: &milonga::metrics::Metrics<'_>) {
    assert_eq!(tx.credits(), m.cr_avail, "credits");
    assert_eq!(tx.next_seq(), m.seq(m.next()), "next seq");
    m.check_counters(&tx.counters());
    let snap = metrics.snapshot();
    let slow: Vec<u64> = snap
        .consumers
        .iter()
        .filter(|c| c.kind == ConsumerKind::Reliable)
        .map(|c| c.slow)
        .collect();
    assert_eq!(slow, m.slow, "slow counts");
}

/// A batch's byte budget for a link of this mtu: `None` is one byte below the mtu.
pub fn budget(max_bytes: Option<usize>, mtu: usize) -> usize {
    match max_bytes {
        None => mtu.saturating_sub(1),
        Some(b) => mtu + b % (4 * mtu + 1),
    }
}

/// Checks a lent frag against the model's frag `idx`, runs `hold` on the producer while
/// the guard lives (the payload must stay intact), then drops it.
pub fn hold_guard(
    guard: ReadGuard<'_, '_>,
    idx: u64,
    m: &mut TxModel,
    hold: &[ProdOp],
    prod: &mut dyn FnMut(&mut TxModel, &ProdOp),
) {
    m.get(idx).check(guard.meta(), guard.payload());
    let frag = guard.frag();
    m.get(idx).check(frag.meta(), frag.payload());
    for p in hold {
        prod(m, p);
        note("producer ran while a guard was held");
        assert!(m.next() <= idx + m.flow.cr_max, "overran a held frag");
    }
    m.get(idx).check(guard.meta(), guard.payload());
}

/// Checks a batch against the model's frags `want`, iterates it and ends it as `end`
/// says, running `hold` on the producer while it lives. Returns how many of `want` it
/// released.
pub fn end_batch(
    batch: Batch<'_, '_>,
    want: &[u64],
    m: &mut TxModel,
    end: BatchEnd,
    hold: &[ProdOp],
    prod: &mut dyn FnMut(&mut TxModel, &ProdOp),
) -> usize {
    assert!(!want.is_empty(), "a batch with nothing due");
    let bytes: u64 = want.iter().map(|&i| m.get(i).len()).sum();
    assert_eq!(
        (batch.len(), batch.bytes() as u64, batch.first_seq()),
        (want.len(), bytes, m.seq(want[0])),
        "batch (len, bytes, first seq)"
    );
    assert_eq!(batch.iter().len(), want.len());
    let check = |m: &TxModel, k: usize| {
        let mut n = 0;
        for (f, &i) in batch.iter().take(k).zip(want) {
            m.get(i).check(f.meta(), f.payload());
            n += 1;
        }
        assert_eq!(n, k.min(want.len()));
    };
    let (before, after) = match end {
        BatchEnd::Commit => (want.len(), want.len()),
        BatchEnd::Take(a, b) => (a, b),
        BatchEnd::CommitUnread | BatchEnd::Unread => (0, 0),
    };
    if before > 0 {
        check(m, before);
    }
    for p in hold {
        prod(m, p);
        note("producer ran while a batch was held");
        assert!(m.next() <= want[0] + m.flow.cr_max, "overran a held batch");
    }
    if after > 0 {
        check(m, after);
    }
    match end {
        BatchEnd::Commit | BatchEnd::CommitUnread => {
            batch.commit();
            want.len()
        }
        _ => {
            drop(batch);
            let reached = before.max(after).min(want.len());
            note(if reached == 0 {
                "batch dropped unread"
            } else if reached < want.len() {
                "batch dropped partly read"
            } else {
                "batch dropped fully read"
            });
            reached
        }
    }
}

/// Applies one read to a reliable consumer and the model. `prod` runs the held
/// operations on the producer while a guard or batch is alive. Returns whether the
/// consumer was left idle (it found nothing to read, or did housekeeping): its progress
/// is then all published.
pub fn apply_rx(
    rx: &mut Consumer<'_>,
    rm: &mut RxModel,
    m: &mut TxModel,
    op: &RxOp,
    prod: &mut dyn FnMut(&mut TxModel, &ProdOp),
) -> bool {
    let mut idle = false;
    match op {
        RxOp::Poll { hold, .. } => {
            let want = rm.first_deliverable(m, rm.next);
            match rx.try_recv() {
                Ok(guard) => {
                    let idx =
                        want.unwrap_or_else(|| panic!("lent {:?}: nothing due", guard.meta()));
                    hold_guard(guard, idx, m, hold, prod);
                    rm.deliver(m, idx);
                }
                Err(e) => {
                    idle = true;
                    assert_eq!(want, None, "{e:?} with a frag to lend");
                    assert_eq!(e, rm.idle_result(m));
                }
            }
        }
        RxOp::Batch {
            max_frags,
            max_bytes,
            end,
            hold,
            ..
        } => {
            let (mtu, max_frags) = (m.mtu, *max_frags);
            let max_bytes = budget(*max_bytes, mtu);
            let Ok(budget) = Budget::new(max_frags, max_bytes) else {
                assert_eq!(max_frags, 0, "only a budget of 0 frags is refused");
                note("bad budget");
                return false;
            };
            if max_bytes < mtu {
                note("budget below the mtu");
            }
            let want = rm.expect_batch(m, max_frags, max_bytes);
            match rx.try_batch(budget) {
                Ok(batch) => {
                    let released = end_batch(batch, &want, m, *end, hold, prod);
                    for &i in &want[..released] {
                        rm.deliver(m, i);
                    }
                }
                Err(e) => {
                    idle = true;
                    assert!(want.is_empty(), "{e:?} with frags to lend");
                    assert_eq!(e, rm.idle_result(m));
                }
            }
        }
        RxOp::Filter { f, .. } => {
            rx.set_filter(sig_filter(*f));
            rm.filter = filter(*f);
        }
        RxOp::Housekeeping { .. } => {
            idle = true;
            rx.housekeeping();
        }
    }
    rm.settle(m, m.idx(rx.next_seq()));
    if idle && !matches!(op, RxOp::Housekeeping { .. }) {
        note(if rm.idle_result(m) == TryRecvError::Closed {
            "closed"
        } else {
            "empty"
        });
        assert_eq!(rm.next, m.avail(), "frags left unread by an idle read");
    }
    rm.check_counters(&rx.counters());
    idle
}

/// Every live consumer's published progress is within the documented bounds (all of it
/// for `idle`, the consumer that was just left idle), and no live consumer is more than
/// `cr_max` frags behind the producer.
pub fn check_reliable(
    rms: &[RxModel],
    m: &TxModel,
    metrics: &milonga::metrics::Metrics<'_>,
    idle: Option<usize>,
) {
    let (rel, _) = seen(&metrics.snapshot(), m.seq0);
    for (c, rm) in rms.iter().enumerate() {
        if rm.gone {
            assert!(rel[c].detached, "dropped consumer {c} detached");
            assert_eq!(
                rel[c].rx, rm.next,
                "dropped consumer {c} published its progress"
            );
            continue;
        }
        rm.check_progress(m, rel[c], idle == Some(c));
        assert!(
            m.next() - rm.next <= m.flow.cr_max,
            "consumer {c} at {} with the producer at {}",
            rm.next,
            m.next()
        );
    }
}

/// Reads a lossy consumer once (`buf` bytes of room) and checks it against the model.
pub fn apply_lossy(rx: &mut LossyConsumer<'_>, lm: &mut LossyModel, m: &TxModel, buf: usize) {
    let mut room = vec![0u8; buf];
    let got = rx.try_recv(&mut room);
    let want = lm.recv(m, buf);
    match (got, want) {
        (Ok(meta), Ok(idx)) => {
            m.get(idx).check(&meta, &room[..meta.sz as usize]);
        }
        (got, want) => assert_eq!(got.map(|f| f.seq), want.map(|i| m.seq(i)), "lossy read"),
    }
    assert_eq!(rx.next_seq(), m.seq(lm.next), "lossy next seq");
    lm.check_counters(&rx.counters());
}
