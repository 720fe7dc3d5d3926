//! Property tests of links with lossy consumers (`.lossy(n)` links, 0 or 1 reliable and 1
//! or 2 lossy consumers) against a model (`tests/common/model.rs`): random sequences of
//! publishes, messages, runs that exhaust the reliable consumer's credits, reads by the
//! reliable consumer (as in `prop_spsc.rs`), lossy reads with buffers large and too
//! small, filters, resume margins, housekeeping, runs of more than a ring of frags that no
//! lossy consumer reads (they are lapped), consumers dropped, and a halt.
//!
//! Each shows, for every operation, that:
//! - a lossy read returns exactly the frag the model expects, intact (seq, header, every
//!   byte), so delivered frags are a subsequence of the published ones, in order; a
//!   lapped reader gets `Overrun` with exactly the frags between it and the oldest intact
//!   frag (plus its margin, up to the newest), and a buffer too small consumes nothing;
//! - the producer is never held back by a lossy consumer, and a reliable one on the same
//!   link loses nothing (its credits are modelled exactly, as in `prop_spsc.rs`);
//! - the lossy counters match, overrun by overrun, and lost bytes are never over-counted;
//! - after the halt, for every consumer, published = consumed + filtered + lost, in frags
//!   and in bytes, as the consumer counts it and as the link's metrics report it.
//! - a link whose consumers are all lossy reports `Disconnected` (at the producer's next
//!   credit refresh) once every one of them is gone.

#[path = "common/model.rs"]
mod model;

use milonga::metrics::{ConsumerKind, Metrics};
use milonga::spsc::{Consumer, LossyConsumer, Producer, Shared};
use milonga::LossyTryRecvError;
use milonga::{Header, PublishError};
use model::*;
use proptest::prelude::*;

/// One generated step; `l` picks a lossy consumer modulo their number.
#[derive(Clone, Debug)]
enum Op {
    Tx(ProdOp),
    /// A read by the reliable consumer, if the link has one.
    Rx(RxOp),
    /// `try_recv` with `buf % (mtu + 1)` bytes of room, or the mtu (`None`).
    Recv {
        l: usize,
        buf: Option<usize>,
    },
    Filter {
        l: usize,
        f: Option<usize>,
    },
    Margin {
        l: usize,
        margin: u64,
    },
    Housekeeping {
        l: usize,
    },
    /// Publishes `depth + 1 + extra` frags that no lossy consumer reads (the reliable one
    /// reads whenever the producer runs out of credits).
    Lap {
        extra: u64,
        len: usize,
    },
    DropLossy {
        l: usize,
    },
    DropReliable,
    Halt {
        drop: bool,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let l = || any::<usize>();
    let op = prop_oneof![
        30 => prod_op(false).prop_map(Op::Tx),
        12 => rx_op(false).prop_map(Op::Rx),
        24 => (l(), prop::option::of(any::<usize>())).prop_map(|(l, buf)| Op::Recv { l, buf }),
        2 => (l(), prop::option::of(0..FILTERS.len())).prop_map(|(l, f)| Op::Filter { l, f }),
        2 => (l(), 0..20u64).prop_map(|(l, margin)| Op::Margin { l, margin }),
        2 => l().prop_map(|l| Op::Housekeeping { l }),
        4 => (0..20u64, 0..1024usize).prop_map(|(extra, len)| Op::Lap { extra, len }),
        1 => l().prop_map(|l| Op::DropLossy { l }),
        1 => Just(Op::DropReliable),
        1 => any::<bool>().prop_map(|drop| Op::Halt { drop }),
    ];
    prop::collection::vec(op, if cfg!(miri) { 12..24 } else { 0..64 })
}

/// A lossy link: depth, mtu, first seq, flow settings and consumer counts.
#[derive(Clone, Debug)]
struct Geometry {
    depth: usize,
    mtu: usize,
    seq0: u64,
    flow: FlowSel,
    reliable: usize,
    lossy: usize,
}

fn geometry() -> impl Strategy<Value = Geometry> {
    (
        prop::sample::select(if cfg!(miri) {
            vec![2usize, 4]
        } else {
            vec![2, 4, 8, 16]
        }),
        prop::sample::select(vec![0usize, 1, 8, 13, 64, 65, 100, 200]),
        prop_oneof![Just(0u64), Just(u64::MAX - 5), any::<u64>()],
        flow_sel(),
        0..=1usize,
        1..=2usize,
    )
        .prop_map(|(depth, mtu, seq0, flow, reliable, lossy)| Geometry {
            depth,
            mtu,
            seq0,
            flow,
            reliable,
            lossy,
        })
}

/// The handles of a lossy link, each `None` once dropped, with their models.
struct Link<'a> {
    tx: Option<Producer<'a, Shared>>,
    rx: Option<Consumer<'a>>,
    lossy: Vec<Option<LossyConsumer<'a>>>,
    metrics: Metrics<'a>,
    m: TxModel,
    rm: [RxModel; 1],
    lms: Vec<LossyModel>,
}

impl Link<'_> {
    fn check(&self, idle: bool) {
        // The reliable consumer's model, if the link was built with one.
        let rms: &[RxModel] = if self.m.slow.is_empty() {
            &[]
        } else {
            &self.rm
        };
        check_reliable(rms, &self.m, &self.metrics, idle.then_some(0));
        let snap = self.metrics.snapshot();
        let lossy: Vec<_> = snap
            .consumers
            .iter()
            .filter(|c| c.kind == ConsumerKind::Lossy)
            .collect();
        for (l, lm) in self.lms.iter().enumerate() {
            assert_eq!(lossy[l].detached, lm.gone, "lossy consumer {l} detached");
        }
    }

    /// The reliable consumer reads everything it can (when the producer is out of
    /// credits).
    fn drain_reliable(&mut self) {
        let Some(rx) = self.rx.as_mut() else { return };
        let op = RxOp::Batch {
            c: 0,
            max_frags: 64,
            max_bytes: Some(4 * self.m.mtu),
            end: BatchEnd::Commit,
            hold: Vec::new(),
        };
        while !apply_rx(rx, &mut self.rm[0], &mut self.m, &op, &mut |_, _| {}) {}
        self.check(true);
    }

    fn step(&mut self, op: &Op, drop_all: bool) {
        let n = self.lms.len();
        match op {
            Op::Tx(p) => {
                if let Some(tx) = self.tx.as_mut() {
                    apply_prod(tx, &mut self.m, &self.metrics, p);
                }
            }
            Op::Rx(r) => {
                let Some(rx) = self.rx.as_mut() else { return };
                let (tx, metrics) = (&mut self.tx, &self.metrics);
                let mut prod = |m: &mut TxModel, p: &ProdOp| {
                    if let Some(tx) = tx.as_mut() {
                        apply_prod(tx, m, metrics, p);
                    }
                };
                let idle = apply_rx(rx, &mut self.rm[0], &mut self.m, r, &mut prod);
                self.check(idle);
                return;
            }
            Op::Recv { l, buf } => {
                let l = l % n;
                if let Some(rx) = self.lossy[l].as_mut() {
                    let buf = buf.map_or(self.m.mtu, |b| b % (self.m.mtu + 1));
                    apply_lossy(rx, &mut self.lms[l], &self.m, buf);
                }
            }
            Op::Filter { l, f } => {
                let l = l % n;
                if let Some(rx) = self.lossy[l].as_mut() {
                    rx.set_filter(sig_filter(*f));
                    self.lms[l].filter = filter(*f);
                }
            }
            Op::Margin { l, margin } => {
                let l = l % n;
                if let Some(rx) = self.lossy[l].as_mut() {
                    rx.set_resume_margin(*margin);
                    self.lms[l].margin = *margin;
                }
            }
            Op::Housekeeping { l } => {
                let l = l % n;
                if let Some(rx) = self.lossy[l].as_mut() {
                    rx.housekeeping();
                    let snap = self.metrics.snapshot();
                    let (_, lossy) = seen(&snap, self.m.seq0);
                    assert_eq!(lossy[l].rx, self.lms[l].next, "lossy progress published");
                    let mine = snap
                        .consumers
                        .iter()
                        .filter(|c| c.kind == ConsumerKind::Lossy)
                        .nth(l)
                        .unwrap();
                    assert_eq!(mine.counters, rx.counters(), "lossy counters published");
                }
            }
            Op::Lap { extra, len } => self.lap(self.m.depth + 1 + extra, *len),
            Op::DropLossy { l } => {
                let l = l % n;
                let live = self.lossy.iter().filter(|c| c.is_some()).count();
                let last = live == 1 && self.m.slow.is_empty();
                if self.lossy[l].is_some() && (drop_all || !last) {
                    note("lossy consumer dropped");
                    self.lossy[l] = None;
                    self.lms[l].gone = true;
                }
            }
            Op::DropReliable => {
                if self.rx.take().is_some() {
                    note("consumer dropped");
                    self.rm[0].gone = true;
                }
            }
            Op::Halt { drop: d } => {
                if let Some(tx) = self.tx.take() {
                    if *d {
                        drop(tx);
                    } else {
                        tx.halt();
                    }
                    self.m.closed = true;
                }
            }
        }
        self.check(false);
    }

    /// Publishes `n` frags of sizes from `len` while no lossy consumer reads; when the
    /// producer runs out of credits, the reliable consumer reads everything and the
    /// publish is retried (it must then go through).
    fn lap(&mut self, n: u64, len: usize) {
        let Some(tx) = self.tx.as_mut() else { return };
        let mut done = 0;
        while done < n {
            let before = self.m.next();
            let op = ProdOp::Publish {
                len: len + done as usize * 13,
                hdr: HdrSel {
                    sig: done,
                    ctl: 3,
                    ts: done as u32,
                },
            };
            apply_prod(tx, &mut self.m, &self.metrics, &op);
            if self.m.next() > before {
                done += 1;
                continue;
            }
            let Some(rx) = self.rx.as_mut() else { return }; // disconnected
            let op = RxOp::Batch {
                c: 0,
                max_frags: 64,
                max_bytes: Some(4 * self.m.mtu),
                end: BatchEnd::Commit,
                hold: Vec::new(),
            };
            while !apply_rx(rx, &mut self.rm[0], &mut self.m, &op, &mut |_, _| {}) {}
            let before = self.m.next();
            apply_prod(tx, &mut self.m, &self.metrics, &ProdOp::Housekeeping);
            let (rel, lossy) = seen(&self.metrics.snapshot(), self.m.seq0);
            let got = tx.try_publish(Header::new(done), &[]);
            assert_eq!(got, self.m.try_publish(Header::new(done), 0, &rel, &lossy));
            assert!(
                self.m.next() > before,
                "no credits with the reliable consumer drained"
            );
            done += 1;
        }
        if self
            .lms
            .iter()
            .any(|lm| !lm.gone && self.m.next() - lm.next > self.m.depth)
        {
            note("lossy consumer lapped");
        }
    }
}

fn case(g: &Geometry, ops: &[Op], drop_all: bool) {
    let (cfg, flow) = g.flow.resolve(g.depth as u64);
    let milonga::spsc::Link {
        producer: tx,
        reliable: rxs,
        lossy,
        ..
    } = milonga::spsc::Link::builder()
        .depth(g.depth)
        .mtu(g.mtu)
        .first_seq(g.seq0)
        .flow(cfg)
        .reliable(g.reliable)
        .lossy(g.lossy)
        .heap()
        .unwrap();
    let metrics = tx.metrics();
    let mut link = Link {
        tx: Some(tx),
        rx: rxs.into_iter().next(),
        lossy: lossy.into_iter().map(Some).collect(),
        metrics,
        m: TxModel::new(g.seq0, g.depth, g.mtu, flow, g.reliable),
        rm: [RxModel::default()],
        lms: (0..g.lossy).map(|_| LossyModel::new()).collect(),
    };
    if g.reliable == 0 {
        link.rm[0].gone = true;
    }
    for op in ops {
        link.step(op, drop_all);
    }
    // Close, then drain every consumer.
    if let Some(tx) = link.tx.take() {
        tx.halt();
        link.m.closed = true;
    }
    link.drain_reliable();
    let (m, lms) = (&link.m, &mut link.lms);
    for (l, rx) in link.lossy.iter_mut().enumerate() {
        let Some(rx) = rx.as_mut() else { continue };
        for _ in 0..m.next() + 4 {
            apply_lossy(rx, &mut lms[l], m, m.mtu);
            if lms[l].next == m.next() {
                break;
            }
        }
        apply_lossy(rx, &mut lms[l], m, m.mtu);
        assert_eq!(
            rx.try_recv(&mut vec![0; m.mtu]),
            Err(LossyTryRecvError::Closed),
            "lossy consumer {l} drained"
        );
        assert_exact(&rx.counters(), m.next(), m.bytes);
        assert_eq!(rx.counters().lost_bytes, lms[l].lost_bytes);
    }
    if let Some(rx) = link.rx.as_ref() {
        assert_exact(&rx.counters(), m.next(), m.bytes);
    }
    let snap = link.metrics.snapshot();
    assert!(snap.closed);
    m.check_counters(&snap.producer);
    for c in &snap.consumers {
        let live = match c.kind {
            ConsumerKind::Reliable => link.rx.is_some(),
            ConsumerKind::Lossy => link.lossy[c.index].is_some(),
        };
        if live {
            assert_exact(&c.counters, m.next(), m.bytes);
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_lossy_link_follows_the_model(g in geometry(), ops in ops()) {
        case(&g, &ops, false);
    }

    #[test]
    fn a_lossy_only_link_disconnects_like_the_model(
        g in geometry().prop_map(|g| Geometry { reliable: 0, ..g }),
        ops in ops(),
    ) {
        case(&g, &ops, true);
    }
}

/// A link whose consumers are all lossy: once every one is dropped, publishing reports
/// `Disconnected` at the producer's next credit refresh, within at most `cr_max`
/// publishes, and from then on.
#[test]

fn a_lossy_only_link_disconnects_when_its_last_consumer_is_dropped() {
    for cr_max in [1, 3, 8] {
        let cfg = milonga::FlowConfig::new().cr_max(cr_max);
        let milonga::spsc::Link {
            producer: mut tx,
            mut lossy,
            ..
        } = milonga::spsc::Link::builder()
            .depth(8)
            .mtu(16)
            .flow(cfg)
            .reliable(0)
            .lossy(2)
            .heap()
            .unwrap();
        for i in 0..20 {
            assert_eq!(tx.try_publish(Header::new(i), b"x"), Ok(i));
        }
        drop(lossy.pop());
        for i in 20..40 {
            assert_eq!(
                tx.try_publish(Header::new(i), b"x"),
                Ok(i),
                "one lossy left"
            );
        }
        drop(lossy.pop());
        let mut sent = 0;
        while tx.try_publish(Header::new(0), b"x").is_ok() {
            sent += 1;
            assert!(
                sent <= cr_max,
                "published past a window after the last consumer left"
            );
        }
        for _ in 0..3 {
            assert_eq!(
                tx.try_publish(Header::new(0), b"x"),
                Err(PublishError::Disconnected)
            );
        }
    }
}

/// What the lossy properties must reach in a fixed set of cases.
const WANT: &[&str] = &[
    "lossy delivered",
    "lossy overrun",
    "lossy overrun with a resume margin",
    "lossy consumer lapped",
    "lossy buffer too small",
    "lossy filtered",
    "lossy closed",
    "lossy consumer dropped",
    "backpressure",
    "delivered",
    "message of several frags",
    "seq wrapped",
    "consumer dropped",
];

/// The lossy properties on a fixed set of generated cases (the same on every run, and few
/// enough for Miri), which together reach every condition in `WANT`.
#[test]
fn seeded_cases_reach_every_condition() {
    let cases = if cfg!(miri) { 2 } else { 300 };
    seeded(
        (geometry(), ops()),
        cases,
        |(g, ops)| case(g, ops, false),
        WANT,
    );
}
