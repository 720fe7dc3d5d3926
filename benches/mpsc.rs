//! Criterion benchmarks of the two multi-producer links, each with two producers and one
//! consumer (`cargo bench --bench mpsc`): the shared ring (one ring, every producer claims
//! the next seq with a compare-exchange) and fan-in (one SPSC link per producer, one
//! consumer polling them round robin).
//!
//! - `mpsc_one_thread`: on one thread, per iteration, each of the two producers publishes
//!   a frag and the consumer reads both back: the cost floor of two frags, with no cache
//!   line crossing cores.
//! - `mpsc_pinned_<size>`: two producers and the consumer on pinned threads; the consumer
//!   reads in batches of 1 or 16 frags (a fan-in batch comes from one link). Each producer
//!   stamps its own frag count into its payloads; the consumer checks every frag: the
//!   ring's seq order (shared ring) or each link's seq order (fan-in), that the sig names
//!   the producer (the link, for fan-in), that the stamp is the next of that producer's
//!   frags, and, at the end, the sum of all the payloads. Each sample builds the links and
//!   the threads outside the timed region and times only the transfer (the consumer's
//!   time, from a start barrier to the last frag), and each producer moves at least
//!   [`MIN_WRAPS`] rings' worth of frags under back-pressure; if criterion asks for fewer
//!   iterations, the time is scaled down. One iteration is one frag received (from either
//!   producer).
//!
//! Three threads on a two-core machine, placed two ways (the benchmark id says which):
//! - `producers_together`: both producers on cpu 0, the consumer alone on cpu 1. The
//!   producers run in turn, so they never contend at once for the shared ring's claim
//!   line; the consumer has a core to itself.
//! - `producers_apart`: producer 0 on cpu 0, producer 1 and the consumer on cpu 1. The
//!   claim line moves between cores, but the consumer shares its core with a producer.
//!
//! Every thread busy-polls with a [`Backoff`]: after a few dozen fruitless polls it yields
//! (never sleeps), so a thread that waits for the one it shares a core with hands the core
//! over rather than spinning out a scheduler time slice. A thread alone on a core has
//! nothing to yield to. The numbers are those of these arrangements; on a machine with a
//! core per thread they would be higher, and the shared ring's contention different.
//!
//! Throughput is in frags per second for 8-byte payloads and in payload bytes per second
//! for 1 KiB ones.

mod common;

use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use milonga::mpsc::{FanIn, FanInHandles, Ring};
use milonga::{Header, PublishError};

use common::{
    arrive_sharing, checksum, expected_sum, payload, per_frag, pin, stamp, stamp_of, stamps_below,
    Backoff, DEPTH, MIN_WRAPS,
};
use milonga::spsc::Budget;
use milonga::TryRecvError;

/// Payload sizes, bytes.
const SIZES: [usize; 2] = [8, 1024];
/// Consumer batch sizes (frags).
const BATCHES: [usize; 2] = [1, 16];
/// Producers of every link.
const PRODUCERS: usize = 2;

/// Where the three threads run.
#[derive(Clone, Copy, Debug)]
enum Placement {
    /// Both producers on cpu 0, the consumer on cpu 1.
    Together,
    /// Producer 0 on cpu 0, producer 1 and the consumer on cpu 1.
    Apart,
}

impl Placement {
    const ALL: [Placement; 2] = [Placement::Together, Placement::Apart];

    fn name(self) -> &'static str {
        match self {
            Placement::Together => "producers_together",
            Placement::Apart => "producers_apart",
        }
    }

    /// The cpu of producer `p`.
    fn producer_cpu(self, p: usize) -> usize {
        match self {
            Placement::Together => 0,
            Placement::Apart => p,
        }
    }

    /// The cpu of the consumer.
    const CONSUMER_CPU: usize = 1;
}

/// Which multi-producer link.
#[derive(Clone, Copy, Debug)]
enum Kind {
    SharedRing,
    FanIn,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::SharedRing, Kind::FanIn];

    fn name(self) -> &'static str {
        match self {
            Kind::SharedRing => "shared_ring",
            Kind::FanIn => "fan_in",
        }
    }
}

/// The cost floor of both links: two producers publish one frag each and the consumer
/// reads both, on one thread.
fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("mpsc_one_thread");
    for size in SIZES {
        g.throughput(match per_frag(size) {
            Throughput::Bytes(b) => Throughput::Bytes(b * PRODUCERS as u64),
            _ => Throughput::Elements(PRODUCERS as u64),
        });
        let payload = payload(size);
        g.bench_function(BenchmarkId::new("shared_ring", size), |b| {
            let (tx, mut rx) = Ring::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
            let txs = [tx.clone(), tx];
            b.iter(|| {
                for tx in &txs {
                    tx.try_publish(Header::new(0), black_box(&payload)).unwrap();
                }
                for _ in 0..PRODUCERS {
                    let frag = rx.try_recv().unwrap();
                    black_box(frag.payload());
                }
            });
        });
        g.bench_function(BenchmarkId::new("fan_in", size), |b| {
            let FanInHandles {
                producers: mut txs,
                consumer: mut rx,
            } = FanIn::builder()
                .producers(PRODUCERS)
                .depth(DEPTH)
                .mtu(size)
                .heap()
                .unwrap();
            b.iter(|| {
                for tx in &mut txs {
                    tx.try_publish(Header::new(0), black_box(&payload)).unwrap();
                }
                for _ in 0..PRODUCERS {
                    let (link, frag) = rx.try_recv().unwrap();
                    black_box((link, frag.payload()));
                }
            });
        });
    }
    g.finish();
}

/// The consumer's running checks: each producer's next stamp and the payload sum.
struct Check {
    size: usize,
    next: [u64; PRODUCERS],
    sum: u64,
    total: u64,
}

impl Check {
    fn new(size: usize) -> Self {
        Check {
            size,
            next: [0; PRODUCERS],
            sum: 0,
            total: 0,
        }
    }

    /// A frag from producer `p`: its stamp must be that producer's next.
    #[inline(always)]
    fn frag(&mut self, p: usize, payload: &[u8]) {
        assert_eq!(payload.len(), self.size, "size");
        assert_eq!(stamp_of(payload), self.next[p], "producer {p} out of order");
        self.next[p] += 1;
        self.sum = self.sum.wrapping_add(checksum(payload));
        self.total += 1;
    }

    /// At the end: every producer's `per` frags arrived, and their bytes sum right.
    fn finish(&self, per: u64) {
        assert_eq!(self.next, [per; PRODUCERS], "frags per producer");
        let stamps = stamps_below(per).wrapping_mul(PRODUCERS as u64);
        let want = expected_sum(self.size, self.total, stamps);
        assert_eq!(self.sum, want, "payload bytes");
    }
}

/// Producer `p`'s thread: pins itself, waits at the start barrier, then publishes `per`
/// stamped frags of `size` bytes through `publish`, waiting out refusals for lack of
/// credits.
fn produce(
    p: usize,
    place: Placement,
    size: usize,
    per: u64,
    ready: &AtomicUsize,
    mut publish: impl FnMut(Header, &[u8]) -> Result<u64, PublishError>,
) {
    pin(place.producer_cpu(p));
    let mut payload = payload(size);
    let mut backoff = Backoff::new();
    arrive_sharing(ready, PRODUCERS + 1);
    for i in 0..per {
        stamp(&mut payload, i);
        loop {
            match publish(Header::new(p as u64), &payload) {
                Ok(_) => break,
                Err(PublishError::NoCredits) => backoff.snooze(),
                Err(e) => panic!("publish: {e}"),
            }
        }
        backoff.reset();
    }
}

/// Moves `iters` frags (at least `MIN_WRAPS` rings' worth per producer) of `size` bytes
/// from two producers to one consumer reading batches of `batch`, over the link `kind`,
/// with the threads placed as `place`; returns the time of `iters`.
fn transfer(kind: Kind, place: Placement, size: usize, batch: usize, iters: u64) -> Duration {
    let per = iters
        .max(PRODUCERS as u64 * MIN_WRAPS * DEPTH as u64)
        .div_ceil(PRODUCERS as u64);
    let n = per * PRODUCERS as u64;
    let ready = AtomicUsize::new(0);
    let parties = PRODUCERS + 1;
    let elapsed = match kind {
        Kind::SharedRing => {
            let (tx, mut rx) = Ring::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
            std::thread::scope(|s| {
                let ready = &ready;
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    s.spawn(move || {
                        produce(p, place, size, per, ready, |h, b| tx.try_publish(h, b));
                    });
                }
                drop(tx);
                let consumer = s.spawn(move || {
                    pin(Placement::CONSUMER_CPU);
                    let mut check = Check::new(size);
                    let mut backoff = Backoff::new();
                    arrive_sharing(ready, parties);
                    let start = Instant::now();
                    let budget = Budget::new(batch, batch * size).unwrap();
                    while check.total < n {
                        match rx.try_batch(budget) {
                            Ok(frags) => {
                                for frag in &frags {
                                    assert_eq!(frag.seq(), check.total, "ring out of order");
                                    assert!(!frag.ctl().err(), "abandoned claim");
                                    let p = frag.sig() as usize;
                                    assert!(p < PRODUCERS, "sig {p}");
                                    check.frag(p, frag.payload());
                                }
                                frags.commit();
                                backoff.reset();
                            }
                            Err(TryRecvError::Empty) => backoff.snooze(),
                            Err(e) => panic!("recv: {e}"),
                        }
                    }
                    let elapsed = start.elapsed();
                    check.finish(per);
                    elapsed
                });
                consumer.join().unwrap()
            })
        }
        Kind::FanIn => {
            let FanInHandles {
                producers: txs,
                consumer: mut rx,
            } = FanIn::builder()
                .producers(PRODUCERS)
                .depth(DEPTH)
                .mtu(size)
                .heap()
                .unwrap();
            std::thread::scope(|s| {
                let ready = &ready;
                for (p, mut tx) in txs.into_iter().enumerate() {
                    s.spawn(move || {
                        produce(p, place, size, per, ready, |h, b| tx.try_publish(h, b));
                        tx.halt();
                    });
                }
                let consumer = s.spawn(move || {
                    pin(Placement::CONSUMER_CPU);
                    let mut check = Check::new(size);
                    let mut backoff = Backoff::new();
                    arrive_sharing(ready, parties);
                    let start = Instant::now();
                    let budget = Budget::new(batch, batch * size).unwrap();
                    while check.total < n {
                        match rx.try_batch(budget) {
                            Ok((link, frags)) => {
                                for frag in &frags {
                                    // Each link's seqs count its own frags, like the stamps.
                                    assert_eq!(frag.seq(), check.next[link], "link out of order");
                                    assert_eq!(frag.sig(), link as u64, "sig of another link");
                                    check.frag(link, frag.payload());
                                }
                                frags.commit();
                                backoff.reset();
                            }
                            Err(TryRecvError::Empty) => backoff.snooze(),
                            Err(e) => panic!("recv: {e}"),
                        }
                    }
                    let elapsed = start.elapsed();
                    check.finish(per);
                    elapsed
                });
                consumer.join().unwrap()
            })
        }
    };
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// Two producers and a consumer on two pinned cores, per payload size, link, placement
/// and batch size.
fn pinned(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("mpsc_pinned_{size}B"));
        g.throughput(per_frag(size));
        for kind in Kind::ALL {
            for place in Placement::ALL {
                for batch in BATCHES {
                    let id = format!("{}/{}/batch_{batch}", kind.name(), place.name());
                    g.bench_function(id, |b| {
                        b.iter_custom(|iters| transfer(kind, place, size, batch, iters));
                    });
                }
            }
        }
        g.finish();
    }
}

/// The groups and their configuration: short enough for `cargo bench --bench mpsc` to
/// finish in about a minute and a half. (A private module, so the function
/// `criterion_group!` generates needs no doc.)
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = one_thread, pinned
    }
}
criterion_main!(groups::benches);
