//! A producer and a consumer pinned to two cores, busy-polling over one heap-backed link;
//! prints the rate for a few payload sizes.
//!
//! ```text
//! cargo run --release --example pinned_spsc [seconds per size]
//! ```
//!
//! The consumer reads in batches, zero-copy, and verifies every frag: its seq (nothing
//! lost, repeated or reordered), its sig, its size and every payload byte (a fixed pattern
//! with the seq stamped into the first 8 bytes), so nothing is counted that was not
//! delivered intact.
//!
//! Busy-polling rates mean something only if nothing else runs on the two cores. On Linux
//! the example counts the other runnable threads (`procs_running` in `/proc/stat`) before
//! and during each run, and warns when they cannot all fit on the other cores.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use milonga::spsc::Budget;
use milonga::spsc::Link;
use milonga::TryRecvError;
use milonga::{Header, PublishError};

/// Pins the calling thread to one CPU (Linux only; elsewhere a no-op).
fn pin(cpu: usize) {
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

/// The machine's online cores and its runnable threads (this one included), from
/// `/proc/stat`; `None` where there is no such file.
fn sched() -> Option<(usize, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cores = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    let running = stat
        .lines()
        .find_map(|l| l.strip_prefix("procs_running "))?;
    Some((cores, running.trim().parse().ok()?))
}

/// Samples of other runnable threads during the current run (sum, count), kept by
/// [`sampler`].
static OTHERS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static SAMPLING: AtomicBool = AtomicBool::new(false);

/// Every 50 ms during a run: the runnable threads besides the producer, the consumer and
/// this sampler. Started before any thread is pinned, so it runs on whichever core is free.
fn sampler() {
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if let (true, Some((_, running))) = (SAMPLING.load(Relaxed), sched()) {
            OTHERS[0].fetch_add(running.saturating_sub(3), Relaxed);
            OTHERS[1].fetch_add(1, Relaxed);
        }
    }
}

/// The payload of every frag: a fixed pattern with the seq stamped into its first 8 bytes.
fn stamp(payload: &mut [u8], seq: u64) {
    let n = payload.len().min(8);
    payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

/// One run: frags verified, seconds, mean other runnable threads (if known).
fn run(size: usize, duration: Duration) -> (u64, f64, Option<f64>) {
    let depth = 4096;
    let (mut tx, mut rx) = Link::builder().depth(depth).mtu(size).heap_pair().unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pattern: Vec<u8> = (0..size).map(|i| (i * 131 + 7) as u8).collect();
    let mut payload = pattern.clone();
    OTHERS.iter().for_each(|c| c.store(0, Relaxed));
    SAMPLING.store(true, Relaxed);
    let producer = std::thread::spawn(move || {
        pin(0);
        let start = Instant::now();
        let mut seq = 0u64;
        // Check the clock once per 4096 frags, not per frag.
        while start.elapsed() < duration {
            for _ in 0..4096 {
                stamp(&mut payload, seq);
                loop {
                    match tx.try_publish(Header::new(seq), &payload) {
                        Ok(_) => break,
                        Err(PublishError::NoCredits) => core::hint::spin_loop(),
                        Err(e) => panic!("publish: {e}"),
                    }
                }
                seq += 1;
            }
        }
        tx.halt();
    });
    pin(1 % cpus);
    let mut expected = pattern;
    let mut next = 0u64;
    let start = Instant::now();
    let budget = Budget::new(256, 256 * size.max(1)).unwrap();
    loop {
        match rx.try_batch(budget) {
            Ok(batch) => {
                for frag in &batch {
                    assert_eq!((frag.seq(), frag.sig()), (next, next), "seq, sig");
                    stamp(&mut expected, next);
                    assert!(
                        frag.payload() == expected.as_slice(),
                        "payload of seq {next}"
                    );
                    next += 1;
                }
                batch.commit();
            }
            Err(TryRecvError::Empty) => core::hint::spin_loop(),
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("recv: {e}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    SAMPLING.store(false, Relaxed);
    producer.join().unwrap();
    let [sum, n] = [&OTHERS[0], &OTHERS[1]].map(|c| c.load(Relaxed));
    (next, secs, (n > 0).then(|| sum as f64 / n as f64))
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let before = sched().map(|(cores, running)| (cores, running.saturating_sub(1) as f64));
    if let Some((cores, others)) = before {
        println!("{cores} cores online, {others} other runnable threads before the runs");
    }
    // Oversubscribed: the other runnable threads do not fit beside the two pinned ones.
    let cores = before.map(|(c, _)| c as f64);
    let crowds = |others: Option<f64>| cores.zip(others).is_some_and(|(c, o)| o + 2.0 > c);
    let mut crowded = crowds(before.map(|(_, o)| o));
    std::thread::spawn(sampler);
    println!(
        "producer on cpu 0, consumer on cpu {}, busy-polling, {secs} s per size",
        1 % cpus
    );
    println!(
        "{:>8} {:>12} {:>6} {:>10} {:>8} {:>15}",
        "payload", "frags", "time", "rate", "rate", "others runnable"
    );
    println!(
        "{:>8} {:>12} {:>6} {:>10} {:>8} {:>15}",
        "[B]", "[verified]", "[s]", "[Mfrag/s]", "[GiB/s]", "[threads, mean]"
    );
    for size in [8usize, 64, 1024, 10240] {
        let (frags, elapsed, others) = run(size, Duration::from_secs_f64(secs));
        let rate = frags as f64 / elapsed;
        let gib = rate * size as f64 / (1u64 << 30) as f64;
        let others_col = others.map_or("?".to_string(), |o| format!("{o:.1}"));
        println!(
            "{size:>8} {frags:>12} {elapsed:>6.2} {:>10.2} {gib:>8.3} {others_col:>15}",
            rate / 1e6
        );
        crowded |= crowds(others);
    }
    println!("every frag verified: seq, sig, size and every payload byte");
    if cpus < 2 || crowded {
        let why = if cpus < 2 {
            "one usable core, shared by producer and consumer"
        } else {
            "other runnable threads shared the pinned cores"
        };
        println!("WARNING: oversubscribed ({why}): busy-polling rates are meaningless");
    }
}
