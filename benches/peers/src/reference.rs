//! Scenario (g): the physical reference. Single-threaded memcpy rates, and the round trip of
//! one cache line between the two cores (a ping-pong on one `AtomicU64`).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::common::{join_all, spawn, Ctx, CONSUMER_CPU, PRODUCER_CPU};

/// GiB/s of copying a `size`-byte buffer, for about `time`: into the same destination every
/// time (`slots == 1`: hot in L1/L2), or into `slots` destinations in turn (as a producer
/// writes a ring of `slots` messages).
pub fn memcpy_gibs(size: usize, slots: usize, time: Duration) -> f64 {
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::common::pin(PRODUCER_CPU);
            copy_loop(size, slots, time)
        })
        .join()
        .expect("memcpy thread")
    })
}

fn copy_loop(size: usize, slots: usize, time: Duration) -> f64 {
    let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut dst = vec![1u8; size * slots];
    let mut copies = 0u64;
    let mut slot = 0;
    let start = Instant::now();
    loop {
        for _ in 0..256 {
            let off = slot * size;
            black_box(&mut dst[off..off + size]).copy_from_slice(black_box(&src[..]));
            slot += 1;
            if slot == slots {
                slot = 0;
            }
        }
        copies += 256;
        if start.elapsed() >= time {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(&dst);
    copies as f64 * size as f64 / secs / (1u64 << 30) as f64
}

/// Round trips of one cache line between the two cores: the pinger stores an odd value,
/// the ponger answers with the next even one. Samples in ns, one clock read each.
pub fn atomic_rtt(rounds: usize) -> Result<Vec<u64>, String> {
    const WARMUP: u64 = 10_000;
    let line = CachePadded::new(AtomicU64::new(0));
    let total = WARMUP + rounds as u64;
    let ctx = Ctx::new(2, Duration::from_secs(10));
    std::thread::scope(|s| {
        let (ctx, line) = (&ctx, &line);
        let ponger = spawn(s, "atomic-ponger", ctx, CONSUMER_CPU, move || {
            ctx.start()?;
            let mut spin = ctx.spinner();
            for i in 0..total {
                while line.load(Ordering::Acquire) != 2 * i + 1 {
                    spin.spin()?;
                }
                spin.reset();
                line.store(2 * i + 2, Ordering::Release);
            }
            Ok(())
        });
        let pinger = spawn(s, "atomic-pinger", ctx, PRODUCER_CPU, move || {
            let mut samples = Vec::with_capacity(rounds);
            ctx.start()?;
            let mut spin = ctx.spinner();
            let mut prev = Instant::now();
            for i in 0..total {
                line.store(2 * i + 1, Ordering::Release);
                while line.load(Ordering::Acquire) != 2 * i + 2 {
                    spin.spin()?;
                }
                spin.reset();
                let now = Instant::now();
                if i >= WARMUP {
                    samples.push((now - prev).as_nanos() as u64);
                }
                prev = now;
            }
            Ok(samples)
        });
        join_all(vec![ponger], pinger)
    })
}
