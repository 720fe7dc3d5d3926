//! Criterion benchmarks of the typed layer against the byte API it wraps
//! (`cargo bench --bench typed`).
//!
//! `typed_one_thread_<size>B`: the cost floor of each API on one thread (no cache line
//! crossing cores, and little exposure to the scheduler): per frag, publish then read
//! (`bytes/1`, `typed/1`, `typed_guard/1` as below), or publish 64 then read them as one
//! batch (`bytes/64`, `typed/64`). Every value is checked as below.
//!
//! `typed_vs_bytes_<size>B`, for a `u64` (8 bytes) and a 64-byte `repr(C)` struct: producer
//! on cpu 0, consumer on cpu 1, both busy-polling, as in `spsc.rs`. Each sample builds the
//! link and the threads outside the timed region and times only the transfer (from a
//! spinning start barrier to the last frag) of at least [`MIN_WRAPS`] rings' worth of
//! frags under back-pressure; if criterion asks for fewer iterations, the time is scaled
//! down. The consumer checks every value's stamp (its seq) and sums its words; the sum is
//! checked against what the producer sent.
//!
//! - `bytes/1`: `try_publish` of the value's bytes, `try_recv` (a zero-copy guard);
//! - `typed/1`: `try_push(value)`, `try_pop()` (a copy out);
//! - `typed_guard/1`: `try_push(value)`, `try_recv()` (a zero-copy `&T` guard);
//! - `bytes/64` and `typed/64`: the same producers, the consumer reading batches of up to
//!   64 frags (`try_batch`, iterating `&[u8]` or `&T`).

mod common;

use std::hint::{black_box, spin_loop};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use milonga::spsc::{Budget, Link};
use milonga::typed::{self, PushError};
use milonga::{Header, PublishError, TryRecvError};

use common::{arrive, checksum, expected_sum, pin, stamp, stamp_of, stamps_below, DEPTH};
use common::{per_frag, MIN_WRAPS};

/// A message type of the bench: a stamp word (the seq) and a fixed fill, like
/// [`common::payload`], so both APIs move and check the very same bytes.
trait Msg: Pod + Send {
    /// Sets its stamp, as [`common::stamp`] does to a payload.
    fn set_stamp(&mut self, seq: u64);
    /// Its stamp.
    fn stamp(&self) -> u64;
    /// [`common::checksum`] of its bytes.
    fn sum(&self) -> u64;
}

impl Msg for u64 {
    #[inline(always)]
    fn set_stamp(&mut self, seq: u64) {
        *self = seq;
    }
    #[inline(always)]
    fn stamp(&self) -> u64 {
        *self
    }
    #[inline(always)]
    fn sum(&self) -> u64 {
        *self
    }
}

/// A 64-byte record.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Msg64([u64; 8]);

impl Msg for Msg64 {
    #[inline(always)]
    fn set_stamp(&mut self, seq: u64) {
        self.0[0] = seq;
    }
    #[inline(always)]
    fn stamp(&self) -> u64 {
        self.0[0]
    }
    #[inline(always)]
    fn sum(&self) -> u64 {
        self.0.iter().fold(0u64, |a, &w| a.wrapping_add(w))
    }
}

/// Which API a transfer uses, and how its consumer reads.
#[derive(Clone, Copy, Debug)]
enum Api {
    /// Bytes: `try_publish` / `try_recv` or `try_batch`.
    Bytes,
    /// Typed: `try_push` / `try_pop` or `try_batch`.
    Typed,
    /// Typed: `try_push` / `try_recv` (a guard; batch 1 only).
    TypedGuard,
}

/// Moves `iters` values (at least `MIN_WRAPS` rings' worth) of `M` from a producer on
/// cpu 0 to a consumer on cpu 1 reading batches of `batch`; returns the time of `iters`.
fn transfer<M: Msg>(api: Api, batch: usize, iters: u64) -> Duration {
    let size = core::mem::size_of::<M>();
    let n = iters.max(MIN_WRAPS * DEPTH as u64);
    let template: M = bytemuck::pod_read_unaligned(&common::payload(size));
    let (tx, rx) = Link::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
    let (mut ttx, mut trx) = typed::pair::<M, _>((tx, rx)).unwrap();
    let budget = Budget::frags(batch).unwrap();
    let ready = AtomicUsize::new(0);
    let (elapsed, sum) = std::thread::scope(|s| {
        let ready = &ready;
        s.spawn(move || {
            pin(0);
            let mut payload = common::payload(size);
            let mut value = template;
            arrive(ready, 2);
            for seq in 0..n {
                match api {
                    Api::Bytes => {
                        let tx = ttx.as_bytes_mut();
                        stamp(&mut payload, seq);
                        loop {
                            match tx.try_publish(Header::default(), &payload) {
                                Ok(_) => break,
                                Err(PublishError::NoCredits) => spin_loop(),
                                Err(e) => panic!("publish: {e}"),
                            }
                        }
                    }
                    Api::Typed | Api::TypedGuard => {
                        value.set_stamp(seq);
                        loop {
                            match ttx.try_push(value) {
                                Ok(_) => break,
                                Err(PushError::Full(_)) => spin_loop(),
                                Err(e) => panic!("push: {e}"),
                            }
                        }
                    }
                }
            }
            ttx.halt();
        });
        let consumer = s.spawn(move || {
            pin(1);
            arrive(ready, 2);
            let start = Instant::now();
            let mut next = 0u64;
            let mut sum = 0u64;
            while next < n {
                match (api, batch) {
                    (Api::Bytes, 1) => match trx.as_bytes_mut().try_recv() {
                        Ok(frag) => {
                            let p = frag.payload();
                            assert_eq!(stamp_of(p), next, "out of order");
                            sum = sum.wrapping_add(checksum(p));
                            next += 1;
                        }
                        Err(TryRecvError::Empty) => spin_loop(),
                        Err(e) => panic!("recv: {e}"),
                    },
                    (Api::Bytes, _) => match trx.as_bytes_mut().try_batch(budget) {
                        Ok(frags) => {
                            for frag in &frags {
                                let p = frag.payload();
                                assert_eq!(stamp_of(p), next, "out of order");
                                sum = sum.wrapping_add(checksum(p));
                                next += 1;
                            }
                            frags.commit();
                        }
                        Err(TryRecvError::Empty) => spin_loop(),
                        Err(e) => panic!("recv: {e}"),
                    },
                    (Api::Typed, 1) => match trx.try_pop() {
                        Ok(v) => {
                            assert_eq!(v.stamp(), next, "out of order");
                            sum = sum.wrapping_add(v.sum());
                            next += 1;
                        }
                        Err(typed::TryRecvError::Empty) => spin_loop(),
                        Err(e) => panic!("recv: {e}"),
                    },
                    (Api::TypedGuard, _) => match trx.try_recv() {
                        Ok(v) => {
                            assert_eq!(v.stamp(), next, "out of order");
                            sum = sum.wrapping_add(v.sum());
                            next += 1;
                        }
                        Err(typed::TryRecvError::Empty) => spin_loop(),
                        Err(e) => panic!("recv: {e}"),
                    },
                    (Api::Typed, _) => match trx.try_batch(budget) {
                        Ok(values) => {
                            for v in &values {
                                assert_eq!(v.stamp(), next, "out of order");
                                sum = sum.wrapping_add(v.sum());
                                next += 1;
                            }
                            values.commit();
                        }
                        Err(typed::TryRecvError::Empty) => spin_loop(),
                        Err(e) => panic!("recv: {e}"),
                    },
                }
            }
            (start.elapsed(), black_box(sum))
        });
        consumer.join().unwrap()
    });
    assert_eq!(
        sum,
        expected_sum(size, n, stamps_below(n)),
        "a byte was wrong"
    );
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// `iters` frags of `M` published and read back on one thread, one at a time (`batch`
/// 1) or `batch` at a time; every value checked.
fn one_thread<M: Msg>(api: Api, batch: usize, iters: u64) -> Duration {
    let size = core::mem::size_of::<M>();
    let template: M = bytemuck::pod_read_unaligned(&common::payload(size));
    let (tx, rx) = Link::builder().depth(DEPTH).mtu(size).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<M, _>((tx, rx)).unwrap();
    let budget = Budget::frags(batch).unwrap();
    let mut payload = common::payload(size);
    let mut value = template;
    let (mut seq, mut next, mut sum) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while next < iters {
        let burst = (iters - seq).min(batch as u64);
        for _ in 0..burst {
            match api {
                Api::Bytes => {
                    stamp(&mut payload, seq);
                    tx.as_bytes_mut()
                        .try_publish(Header::default(), black_box(&payload))
                        .unwrap();
                }
                Api::Typed | Api::TypedGuard => {
                    value.set_stamp(seq);
                    tx.try_push(*black_box(&value)).unwrap();
                }
            }
            seq += 1;
        }
        match (api, batch) {
            (Api::Bytes, 1) => {
                let frag = rx.as_bytes_mut().try_recv().unwrap();
                let p = frag.payload();
                assert_eq!(stamp_of(p), next);
                sum = sum.wrapping_add(checksum(p));
                next += 1;
            }
            (Api::Bytes, _) => {
                let frags = rx.as_bytes_mut().try_batch(budget).unwrap();
                for frag in &frags {
                    let p = frag.payload();
                    assert_eq!(stamp_of(p), next);
                    sum = sum.wrapping_add(checksum(p));
                    next += 1;
                }
                frags.commit();
            }
            (Api::Typed, 1) => {
                let v = rx.try_pop().unwrap();
                assert_eq!(v.stamp(), next);
                sum = sum.wrapping_add(v.sum());
                next += 1;
            }
            (Api::TypedGuard, _) => {
                let v = rx.try_recv().unwrap();
                assert_eq!(v.stamp(), next);
                sum = sum.wrapping_add(v.sum());
                next += 1;
            }
            (Api::Typed, _) => {
                let values = rx.try_batch(budget).unwrap();
                for v in &values {
                    assert_eq!(v.stamp(), next);
                    sum = sum.wrapping_add(v.sum());
                    next += 1;
                }
                values.commit();
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(
        black_box(sum),
        expected_sum(size, iters, stamps_below(iters))
    );
    elapsed
}

/// The cases of every group: (API, frags per read).
const CASES: [(Api, usize); 5] = [
    (Api::Bytes, 1),
    (Api::Typed, 1),
    (Api::TypedGuard, 1),
    (Api::Bytes, 64),
    (Api::Typed, 64),
];

fn name(api: Api) -> &'static str {
    match api {
        Api::Bytes => "bytes",
        Api::Typed => "typed",
        Api::TypedGuard => "typed_guard",
    }
}

/// Typed against bytes on one thread, per message type.
fn typed_one_thread(c: &mut Criterion) {
    fn group<M: Msg>(c: &mut Criterion) {
        let size = core::mem::size_of::<M>();
        let mut g = c.benchmark_group(format!("typed_one_thread_{size}B"));
        g.throughput(per_frag(size));
        for (api, batch) in CASES {
            g.bench_function(BenchmarkId::new(name(api), batch), |b| {
                b.iter_custom(|iters| one_thread::<M>(api, batch, iters));
            });
        }
        g.finish();
    }
    group::<u64>(c);
    group::<Msg64>(c);
}

/// Typed against bytes, per message type, one frag per read and batches of 64.
fn typed_vs_bytes(c: &mut Criterion) {
    fn group<M: Msg>(c: &mut Criterion) {
        let size = core::mem::size_of::<M>();
        let mut g = c.benchmark_group(format!("typed_vs_bytes_{size}B"));
        g.throughput(per_frag(size));
        for (api, batch) in CASES {
            g.bench_function(BenchmarkId::new(name(api), batch), |b| {
                b.iter_custom(|iters| transfer::<M>(api, batch, iters));
            });
        }
        g.finish();
    }
    group::<u64>(c);
    group::<Msg64>(c);
}

/// The groups and their configuration (a private module, so the function
/// `criterion_group!` generates needs no doc).
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = typed_one_thread, typed_vs_bytes
    }
}
criterion_main!(groups::benches);
