//! Helpers shared by the criterion benches: ring geometry, thread pinning, start barriers,
//! waiting on a shared core, and the payload stamp and checksum that let every consumer
//! check what it received cheaply.
//!
//! Every bench target compiles its own copy of this module and not every target uses every
//! item, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::Criterion;

/// Ring depth of every link (four times the largest batch, so the producer always has
/// room to write while a batch is held).
pub const DEPTH: usize = 1024;
/// Each timed transfer moves at least this many rings' worth of frags.
pub const MIN_WRAPS: u64 = 16;

/// The configuration of every bench group: ten samples, a short warm-up and three seconds
/// of measurement, so that each bench target finishes in a minute or two.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// Pins the calling thread to one CPU (Linux only; elsewhere a no-op).
pub fn pin(cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: `set` is a plain bit mask on the stack; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// A start barrier that spins (no futex wake-up inside the timed region).
pub fn arrive(ready: &AtomicUsize, parties: usize) {
    ready.fetch_add(1, Ordering::AcqRel);
    while ready.load(Ordering::Acquire) < parties {
        spin_loop();
    }
}

/// [`arrive`] for threads that share a core: waits with a [`Backoff`], so a thread
/// spinning here lets the thread it shares its core with reach the barrier too.
pub fn arrive_sharing(ready: &AtomicUsize, parties: usize) {
    ready.fetch_add(1, Ordering::AcqRel);
    let mut backoff = Backoff::new();
    while ready.load(Ordering::Acquire) < parties {
        backoff.snooze();
    }
}

/// Busy-polling for threads that may share a core: [`spin_loop`] for the first
/// [`Backoff::SPINS`] fruitless polls, then `yield_now` on each (never a sleep or a
/// park). On a core of its own a thread never has anything to yield to and keeps spinning
/// (a `sched_yield` that returns at once); on a shared core, the yield hands the core to
/// the other thread, which is what it is waiting for, instead of spinning out a whole
/// scheduler time slice.
pub struct Backoff {
    polls: u32,
}

impl Backoff {
    /// Fruitless polls spun before yielding.
    pub const SPINS: u32 = 64;

    /// A fresh backoff.
    pub fn new() -> Self {
        Backoff { polls: 0 }
    }

    /// A poll found nothing: spin, or yield once the spins are used up.
    #[inline]
    pub fn snooze(&mut self) {
        if self.polls < Self::SPINS {
            self.polls += 1;
            spin_loop();
        } else {
            std::thread::yield_now();
        }
    }

    /// A poll made progress: the next wait starts with spins again.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.polls = 0;
    }
}

/// The wrapping sum of a payload's bytes, read as little-endian words (and a tail).
#[inline(always)]
pub fn checksum(p: &[u8]) -> u64 {
    let mut words = p.chunks_exact(8);
    let sum = words
        .by_ref()
        .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
        .fold(0u64, u64::wrapping_add);
    words
        .remainder()
        .iter()
        .fold(sum, |a, &b| a.wrapping_add(b.into()))
}

/// A payload template of `size` bytes (at least 8): a stamp word, then a fixed fill.
pub fn payload(size: usize) -> Vec<u8> {
    assert!(size >= 8, "a payload holds at least its stamp");
    let mut p = vec![0xa5u8; size];
    stamp(&mut p, 0);
    p
}

/// Writes `value` into the payload's stamp word (its first 8 bytes).
#[inline(always)]
pub fn stamp(p: &mut [u8], value: u64) {
    p[..8].copy_from_slice(&value.to_le_bytes());
}

/// The payload's stamp word.
#[inline(always)]
pub fn stamp_of(p: &[u8]) -> u64 {
    u64::from_le_bytes(p[..8].try_into().unwrap())
}

/// The [`checksum`] of a [`payload`] of `size` bytes stamped 0. Since the stamp is the
/// first word and the checksum a wrapping sum of words, a payload stamped `v` sums to
/// `fill_sum(size) + v`: a consumer that adds up the checksums of `k` payloads whose stamps
/// sum to `s` must get `k * fill_sum(size) + s` (wrapping), or a byte was wrong.
pub fn fill_sum(size: usize) -> u64 {
    checksum(&payload(size))
}

/// What a consumer must have summed over `count` payloads of `size` bytes whose stamps
/// add up to `stamps` (see [`fill_sum`]).
pub fn expected_sum(size: usize, count: u64, stamps: u64) -> u64 {
    fill_sum(size).wrapping_mul(count).wrapping_add(stamps)
}

/// The sum of the stamps `0..n` (wrapping).
pub fn stamps_below(n: u64) -> u64 {
    // n * (n - 1) / 2 without overflow for any n that fits a transfer.
    let (a, b) = if n.is_multiple_of(2) {
        (n / 2, n.wrapping_sub(1))
    } else {
        (n, (n - 1) / 2)
    };
    a.wrapping_mul(b)
}

/// The throughput criterion reports for one frag of `size` bytes: frags per second for
/// small payloads (where the per-frag cost dominates), bytes per second from 1 KiB up
/// (where the copy does).
pub fn per_frag(size: usize) -> criterion::Throughput {
    if size >= 1024 {
        criterion::Throughput::Bytes(size as u64)
    } else {
        criterion::Throughput::Elements(1)
    }
}
