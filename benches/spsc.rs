//! Criterion benchmarks of the SPSC link (`cargo bench --bench spsc`).
//!
//! - `spsc_one_thread`: `try_publish` then `poll` on one thread, per iteration: the cost
//!   floor of a frag, with no cache line crossing cores.
//! - `spsc_one_thread/publish_batch32_batch/8`: a batch publish of 32 frags of 8 bytes
//!   (written in place) then one batch read of them, per iteration (throughput in frags).
//! - `spsc_pinned_<size>`: producer on cpu 0, consumer on cpu 1, both busy-polling; the
//!   consumer reads in batches of 1, 16 or 256 frags, checks each frag's seq and sums its
//!   payload (so the bytes really cross cores). At 8 bytes, also `publish_batch32/256`:
//!   the producer publishes in batches of 32 frags (`try_publish_batch_in_place`), the
//!   consumer reads batches of 256. Each sample builds the link and the threads
//!   outside the timed region and times only the transfer (from a spinning start barrier
//!   to the last frag), and moves at least [`MIN_WRAPS`] rings' worth of frags under
//!   back-pressure; if criterion asks for fewer iterations, the time is scaled down.
//!
//! Broadcast, lossy and multi-producer benchmarks are in `broadcast.rs`, `lossy.rs` and
//! `mpsc.rs`; the helpers all of them share are in `common/mod.rs`.

mod common;

use std::hint::{black_box, spin_loop};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use milonga::spsc::Link;
use milonga::{Header, PublishError};

use common::{arrive, checksum, pin, DEPTH, MIN_WRAPS};
use milonga::spsc::Budget;
use milonga::TryRecvError;

/// Payload sizes, bytes.
const SIZES: [usize; 4] = [8, 64, 1024, 10240];
/// Consumer batch sizes (frags).
const BATCHES: [usize; 3] = [1, 16, 256];

/// The cost floor: publish one frag and read it back on the same thread.
fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_one_thread");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("publish_poll", size), |b| {
            let (mut tx, mut rx) = Link::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
            let payload = vec![0xa5u8; size];
            b.iter(|| {
                tx.try_publish(Header::new(0), black_box(&payload)).unwrap();
                let frag = rx.try_recv().unwrap();
                black_box(frag.payload());
            });
        });
    }
    g.finish();
}

/// Frags per batch publish in the batch-publishing cases.
const PUBLISH_BATCH: usize = 32;

/// A batch publish of [`PUBLISH_BATCH`] frags of 8 bytes, then one batch read of them.
fn one_thread_batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_one_thread");
    g.throughput(Throughput::Elements(PUBLISH_BATCH as u64));
    g.bench_function(BenchmarkId::new("publish_batch32_batch", 8), |b| {
        let (mut tx, mut rx) = Link::builder().depth(DEPTH).mtu(8).heap_pair().unwrap();
        let budget = Budget::frags(PUBLISH_BATCH).unwrap();
        b.iter(|| {
            tx.try_publish_batch_in_place(PUBLISH_BATCH, 8, |seq, buf| {
                buf.copy_from_slice(&black_box(seq).to_le_bytes());
                (Header::new(seq), 8)
            })
            .unwrap();
            let batch = rx.try_batch(budget).unwrap();
            for frag in &batch {
                black_box(frag.payload());
            }
            batch.commit();
        });
    });
    g.finish();
}

/// Moves `iters` frags (at least `MIN_WRAPS` rings' worth) of `size` bytes from a producer
/// on cpu 0 to a consumer on cpu 1 reading batches of `batch`; returns the time of `iters`.
/// The producer publishes one frag per call, or (`publish_batch` > 1) that many per batch
/// publish, written in place.
fn transfer(size: usize, batch: usize, publish_batch: usize, iters: u64) -> Duration {
    let n = iters.max(MIN_WRAPS * DEPTH as u64);
    let (mut tx, mut rx) = Link::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
    let ready = AtomicUsize::new(0);
    let elapsed = std::thread::scope(|s| {
        let ready = &ready;
        s.spawn(move || {
            pin(0);
            let payload = vec![0xa5u8; size];
            arrive(ready, 2);
            if publish_batch > 1 {
                let mut seq = 0;
                while seq < n {
                    let k = (n - seq).min(publish_batch as u64) as usize;
                    loop {
                        let got = tx.try_publish_batch_in_place(k, size, |seq, buf| {
                            buf.copy_from_slice(&payload);
                            (Header::new(seq), size)
                        });
                        match got {
                            Ok(_) => break,
                            Err(PublishError::NoCredits) => spin_loop(),
                            Err(e) => panic!("publish: {e}"),
                        }
                    }
                    seq += k as u64;
                }
            } else {
                for seq in 0..n {
                    loop {
                        match tx.try_publish(Header::new(seq), &payload) {
                            Ok(_) => break,
                            Err(PublishError::NoCredits) => spin_loop(),
                            Err(e) => panic!("publish: {e}"),
                        }
                    }
                }
            }
            tx.halt();
        });
        let consumer = s.spawn(move || {
            pin(1);
            arrive(ready, 2);
            let start = Instant::now();
            let mut next = 0u64;
            let mut sum = 0u64;
            let budget = Budget::new(batch, batch * size).unwrap();
            while next < n {
                match rx.try_batch(budget) {
                    Ok(frags) => {
                        for frag in &frags {
                            assert_eq!(frag.seq(), next, "out of order");
                            sum = sum.wrapping_add(checksum(frag.payload()));
                            next += 1;
                        }
                        frags.commit();
                    }
                    Err(TryRecvError::Empty) => spin_loop(),
                    Err(e) => panic!("recv: {e}"),
                }
            }
            let elapsed = start.elapsed();
            black_box(sum);
            elapsed
        });
        consumer.join().unwrap()
    });
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// Two pinned threads, per payload size and consumer batch size.
fn pinned(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("spsc_pinned_{size}B"));
        g.throughput(Throughput::Bytes(size as u64));
        for batch in BATCHES {
            g.bench_function(BenchmarkId::new("batch", batch), |b| {
                b.iter_custom(|iters| transfer(size, batch, 1, iters));
            });
        }
        if size == 8 {
            g.bench_function(BenchmarkId::new("publish_batch32", 256), |b| {
                b.iter_custom(|iters| transfer(size, 256, PUBLISH_BATCH, iters));
            });
        }
        g.finish();
    }
}

/// The groups and their configuration: short enough for `cargo bench --bench spsc` to
/// finish in about a minute and a half. (A private module, so the function
/// `criterion_group!` generates needs no doc.)
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = one_thread, one_thread_batches, pinned
    }
}
criterion_main!(groups::benches);
