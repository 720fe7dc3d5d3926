//! Criterion benchmarks of a lossy consumer: it reads while the producer publishes as fast
//! as it can, never slowing it, and loses what it cannot keep up with
//! (`cargo bench --bench lossy`).
//!
//! - `lossy_one_thread`: `try_publish` (a [`Shared`](milonga::spsc::Shared) producer,
//!   atomic word stores) then `try_recv` (an atomic copy out and a recheck of the slot) on
//!   one thread, per iteration: the cost floor of a frag read by a lossy consumer.
//! - `lossy_pinned_<size>`: producer on cpu 0, lossy consumer on cpu 1, both busy-polling,
//!   no reliable consumer, so nothing gates the producer; `read` resumes at the oldest
//!   intact frag after an overrun, `read_margin_half` half a ring later. One iteration is one frag
//!   *received*: the time is the consumer's, from a spinning start barrier until it has
//!   received at least [`MIN_WRAPS`] rings' worth of frags (then the producer is told to
//!   stop), so criterion's throughput is the consumer's received rate (frags, or payload
//!   bytes, per second); if criterion asks for fewer iterations, the time is scaled down.
//!   Each sample builds the link and the threads outside the timed region. The consumer
//!   checks every frag: its seq follows the previous one plus what the overrun in between
//!   said was lost, its sig and the seq stamped in its payload match, its payload sums
//!   right (checked at the end), and its own counters agree with what it saw.
//!
//! After each pinned benchmark, a line reports what the consumer lost over all its runs
//! (warm-up included): frags received and lost, the share lost, and the overruns of each
//! kind (found while polling: the slot already held a later frag; found while reading: the
//! slot changed under the copy).
//!
//! Throughput is in frags per second up to 64-byte payloads and in payload bytes per
//! second from 1 KiB.

mod common;

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use milonga::spsc::Link;
use milonga::{ConsumerCounters, Header};

use common::{
    arrive, checksum, expected_sum, payload, per_frag, pin, stamp, stamp_of, DEPTH, MIN_WRAPS,
};
use milonga::LossyTryRecvError;
use milonga::Overrun;

/// Payload sizes, bytes.
const SIZES: [usize; 4] = [8, 64, 1024, 10240];

/// The cost floor: publish one frag and copy it out through a lossy consumer, on one thread.
fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("lossy_one_thread");
    for size in SIZES {
        g.throughput(per_frag(size));
        g.bench_function(BenchmarkId::new("publish_try_recv", size), |b| {
            let Link {
                producer: mut tx,
                mut lossy,
                ..
            } = Link::builder()
                .depth(DEPTH)
                .mtu(size)
                .reliable(0)
                .lossy(1)
                .heap()
                .unwrap();
            let mut rx = lossy.pop().unwrap();
            let payload = payload(size);
            let mut buf = vec![0u8; size];
            b.iter(|| {
                tx.try_publish(Header::new(0), black_box(&payload)).unwrap();
                let meta = rx.try_recv(&mut buf).unwrap();
                black_box((meta, &buf));
            });
        });
    }
    g.finish();
}

/// What the consumer received and lost, summed over runs.
#[derive(Default)]
struct Tally {
    runs: u64,
    published: u64,
    received: u64,
    counters: ConsumerCounters,
}

impl Tally {
    fn add(&mut self, published: u64, c: &ConsumerCounters) {
        self.runs += 1;
        self.published += published;
        self.received += c.consumed_frags;
        let t = &mut self.counters;
        t.consumed_frags += c.consumed_frags;
        t.consumed_bytes += c.consumed_bytes;
        t.poll_overruns += c.poll_overruns;
        t.poll_lost += c.poll_lost;
        t.read_overruns += c.read_overruns;
        t.read_lost += c.read_lost;
        t.lost_bytes += c.lost_bytes;
    }

    fn report(&self, name: &str) {
        if self.runs == 0 {
            return;
        }
        let c = &self.counters;
        let lost = c.lost_frags();
        let passed = self.received + lost;
        println!(
            "{name}: over {} runs the producer published {} frags; the consumer received {} \
             and lost {} ({:.2}% of the {} it passed over): {} poll overruns ({} frags), \
             {} read overruns ({} frags)",
            self.runs,
            self.published,
            self.received,
            lost,
            100.0 * lost as f64 / passed.max(1) as f64,
            passed,
            c.poll_overruns,
            c.poll_lost,
            c.read_overruns,
            c.read_lost,
        );
    }
}

/// A producer on cpu 0 publishes frags of `size` bytes until a lossy consumer on cpu 1 (with
/// this [resume margin](milonga::spsc::LossyConsumer::set_resume_margin)) has
/// received `iters` of them (at least `MIN_WRAPS` rings' worth); returns the consumer's
/// time for `iters` frags, and adds the run to `tally`.
fn read_while_publishing(size: usize, margin: u64, iters: u64, tally: &mut Tally) -> Duration {
    let n = iters.max(MIN_WRAPS * DEPTH as u64);
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(DEPTH)
        .mtu(size)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    rx.set_resume_margin(margin);
    let ready = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (elapsed, published, counters) = std::thread::scope(|s| {
        let (ready, stop) = (&ready, &stop);
        let producer = s.spawn(move || {
            pin(0);
            let mut payload = payload(size);
            arrive(ready, 2);
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                stamp(&mut payload, seq);
                // Never refused: no reliable consumer gates this producer.
                tx.try_publish(Header::new(seq), &payload).unwrap();
                seq += 1;
            }
            tx.halt();
            seq
        });
        let consumer = s.spawn(move || {
            pin(1);
            let mut buf = vec![0u8; size];
            arrive(ready, 2);
            let start = Instant::now();
            let (mut next, mut received, mut lost) = (0u64, 0u64, 0u64);
            let (mut sum, mut stamps) = (0u64, 0u64);
            while received < n {
                match rx.try_recv(&mut buf) {
                    Ok(meta) => {
                        assert_eq!(meta.seq, next, "out of order");
                        assert_eq!(meta.sig, next, "header of another frag");
                        assert_eq!(meta.sz as usize, size, "size");
                        assert_eq!(stamp_of(&buf), next, "payload of another frag");
                        sum = sum.wrapping_add(checksum(&buf));
                        stamps = stamps.wrapping_add(next);
                        next += 1;
                        received += 1;
                    }
                    Err(LossyTryRecvError::Overrun(Overrun { lost: k, .. })) => {
                        next += k;
                        lost += k;
                    }
                    Err(LossyTryRecvError::Empty) => spin_loop(),
                    Err(e) => panic!("recv: {e}"),
                }
            }
            let elapsed = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            assert_eq!(sum, expected_sum(size, received, stamps), "payload bytes");
            let counters = rx.counters();
            assert_eq!(counters.consumed_frags, received, "{counters:?}");
            assert_eq!(counters.lost_frags(), lost, "{counters:?}");
            (elapsed, counters)
        });
        let (elapsed, counters) = consumer.join().unwrap();
        (elapsed, producer.join().unwrap(), counters)
    });
    tally.add(published, &counters);
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// A producer and a lossy consumer on two pinned cores, per payload size.
fn pinned(c: &mut Criterion) {
    for size in SIZES {
        let name = format!("lossy_pinned_{size}B");
        let mut g = c.benchmark_group(&name);
        g.throughput(per_frag(size));
        let mut tallies = [Tally::default(), Tally::default()];
        for ((label, margin), tally) in [("read", 0), ("read_margin_half", DEPTH as u64 / 2)]
            .into_iter()
            .zip(&mut tallies)
        {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| read_while_publishing(size, margin, iters, tally));
            });
        }
        g.finish();
        for (label, tally) in ["read", "read_margin_half"].into_iter().zip(&tallies) {
            tally.report(&format!("{name}/{label}"));
        }
    }
}

/// The groups and their configuration: short enough for `cargo bench --bench lossy` to
/// finish in well under a minute. (A private module, so the function `criterion_group!`
/// generates needs no doc.)
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = one_thread, pinned
    }
}
criterion_main!(groups::benches);
