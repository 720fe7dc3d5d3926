//! Criterion benchmarks of a broadcast link: one producer, two reliable consumers, every
//! frag delivered to both (`cargo bench --bench broadcast`).
//!
//! - `broadcast_one_thread`: `try_publish`, then `poll` on each consumer, on one thread,
//!   per iteration: the cost floor of a frag delivered twice, with no cache line crossing
//!   cores.
//! - `broadcast_pinned_<size>`: producer on cpu 0, both consumers on cpu 1; each consumer
//!   reads in batches of 1, 16 or 256 frags, checks each frag's seq and the seq stamped in
//!   its payload, and sums the payload, and at the end checks the sum (so the bytes really
//!   cross cores, and a wrong byte fails the bench). Each sample builds the link and the
//!   threads outside the timed region and times only the transfer (from a start barrier
//!   to the later of the two consumers' last frag), and moves at least [`MIN_WRAPS`] rings'
//!   worth of frags under back-pressure (the producer is gated by the slower consumer); if
//!   criterion asks for fewer iterations, the time is scaled down. One iteration is one
//!   frag published (and received twice).
//!
//! Three threads on a two-core machine: the two consumers share cpu 1, so they run in turn,
//! never at once. Every thread busy-polls, but with a [`Backoff`]: after a few dozen
//! fruitless polls it yields (never sleeps), so a consumer that has drained the ring hands
//! cpu 1 to the other one rather than spinning out a scheduler time slice; the producer,
//! alone on cpu 0, has nothing to yield to. The numbers are those of this arrangement: a
//! consumer's turn costs a context switch, and the producer waits for the consumer that is
//! not running. On a machine with a core per thread they would be higher.
//!
//! Throughput is in frags per second up to 64-byte payloads and in payload bytes per
//! second from 1 KiB (counted once per frag, not per consumer).

mod common;

use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use milonga::spsc::{Consumer, Link};
use milonga::{Header, PublishError};

use common::{
    arrive_sharing, checksum, expected_sum, payload, per_frag, pin, stamp, stamp_of, stamps_below,
    Backoff, DEPTH, MIN_WRAPS,
};
use milonga::spsc::Budget;
use milonga::TryRecvError;

/// Payload sizes, bytes.
const SIZES: [usize; 4] = [8, 64, 1024, 10240];
/// Consumer batch sizes (frags).
const BATCHES: [usize; 3] = [1, 16, 256];
/// Reliable consumers of every link.
const CONSUMERS: usize = 2;

/// The cost floor: publish one frag and read it back through both consumers, on one thread.
fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast_one_thread");
    for size in SIZES {
        g.throughput(per_frag(size));
        g.bench_function(BenchmarkId::new("publish_poll_poll", size), |b| {
            let Link {
                producer: mut tx,
                reliable: mut rxs,
                ..
            } = Link::builder()
                .depth(DEPTH)
                .mtu(size)
                .reliable(CONSUMERS)
                .heap()
                .unwrap();
            let payload = payload(size);
            b.iter(|| {
                tx.try_publish(Header::new(0), black_box(&payload)).unwrap();
                for rx in &mut rxs {
                    let frag = rx.try_recv().unwrap();
                    black_box(frag.payload());
                }
            });
        });
    }
    g.finish();
}

/// One consumer's side of a transfer: reads `n` frags in batches of `batch`, checking
/// each; returns when it left the barrier and when it had the last frag.
fn drain(
    mut rx: Consumer<'_>,
    ready: &AtomicUsize,
    n: u64,
    size: usize,
    batch: usize,
) -> (Instant, Instant) {
    pin(1);
    arrive_sharing(ready, 1 + CONSUMERS);
    let start = Instant::now();
    let mut backoff = Backoff::new();
    let (mut next, mut sum) = (0u64, 0u64);
    let budget = Budget::new(batch, batch * size).unwrap();
    while next < n {
        match rx.try_batch(budget) {
            Ok(frags) => {
                for frag in &frags {
                    assert_eq!(frag.seq(), next, "out of order");
                    let p = frag.payload();
                    assert_eq!(stamp_of(p), next, "payload of another frag");
                    sum = sum.wrapping_add(checksum(p));
                    next += 1;
                }
                frags.commit();
                backoff.reset();
            }
            Err(TryRecvError::Empty) => backoff.snooze(),
            Err(e) => panic!("recv: {e}"),
        }
    }
    let end = Instant::now();
    assert_eq!(sum, expected_sum(size, n, stamps_below(n)), "payload bytes");
    (start, end)
}

/// Moves `iters` frags (at least `MIN_WRAPS` rings' worth) of `size` bytes from a producer
/// on cpu 0 to two consumers on cpu 1 reading batches of `batch`; returns the time of
/// `iters`.
fn transfer(size: usize, batch: usize, iters: u64) -> Duration {
    let n = iters.max(MIN_WRAPS * DEPTH as u64);
    let Link {
        producer: mut tx,
        reliable: rxs,
        ..
    } = Link::builder()
        .depth(DEPTH)
        .mtu(size)
        .reliable(CONSUMERS)
        .heap()
        .unwrap();
    let ready = AtomicUsize::new(0);
    let elapsed = std::thread::scope(|s| {
        let ready = &ready;
        s.spawn(move || {
            pin(0);
            let mut payload = payload(size);
            let mut backoff = Backoff::new();
            arrive_sharing(ready, 1 + CONSUMERS);
            for seq in 0..n {
                stamp(&mut payload, seq);
                loop {
                    match tx.try_publish(Header::new(seq), &payload) {
                        Ok(_) => break,
                        Err(PublishError::NoCredits) => backoff.snooze(),
                        Err(e) => panic!("publish: {e}"),
                    }
                }
                backoff.reset();
            }
            tx.halt();
        });
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|rx| s.spawn(move || drain(rx, ready, n, size, batch)))
            .collect();
        let spans: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        // From the first consumer's start to the last one's end.
        let start = spans.iter().map(|&(s, _)| s).min().unwrap();
        let end = spans.iter().map(|&(_, e)| e).max().unwrap();
        end - start
    });
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// One producer and two consumers on two pinned cores, per payload size and batch size.
fn pinned(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("broadcast_pinned_{size}B"));
        g.throughput(per_frag(size));
        for batch in BATCHES {
            g.bench_function(BenchmarkId::new("batch", batch), |b| {
                b.iter_custom(|iters| transfer(size, batch, iters));
            });
        }
        g.finish();
    }
}

/// The groups and their configuration: short enough for `cargo bench --bench broadcast`
/// to finish in about a minute. (A private module, so the function
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
