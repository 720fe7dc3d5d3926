//! A producer and a consumer pinned to two cores, busy-polling over one heap-backed link;
//! prints frags/s and GiB/s for a few payload sizes.
//!
//! ```text
//! cargo run --release --example pinned_spsc
//! ```
//!
//! The consumer reads in batches, zero-copy, and checks every frag's seq and the first and
//! last bytes of its payload (stamped by the producer), so nothing is counted that was not
//! delivered intact.

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

fn run(size: usize, duration: Duration) -> (u64, f64) {
    let depth = 4096;
    let (mut tx, mut rx) = Link::builder().depth(depth).mtu(size).heap_pair().unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let producer = std::thread::spawn(move || {
        pin(0);
        let mut payload = vec![0u8; size];
        let start = Instant::now();
        let mut seq = 0u64;
        'outer: loop {
            // Check the clock once per 4096 frags, not per frag.
            for _ in 0..4096 {
                if let Some(first) = payload.first_mut() {
                    *first = seq as u8;
                }
                if let Some(last) = payload.last_mut() {
                    *last = (seq >> 8) as u8;
                }
                loop {
                    match tx.try_publish(Header::new(seq), &payload) {
                        Ok(_) => break,
                        Err(PublishError::NoCredits) => core::hint::spin_loop(),
                        Err(e) => panic!("publish: {e}"),
                    }
                }
                seq += 1;
            }
            if start.elapsed() >= duration {
                break 'outer;
            }
        }
        tx.halt();
    });
    pin(1 % cpus);
    let mut next = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    loop {
        match rx.try_batch(Budget::new(256, 256 * size.max(1)).unwrap()) {
            Ok(batch) => {
                for frag in &batch {
                    assert_eq!(frag.seq(), next, "out of order");
                    let p = frag.payload();
                    assert_eq!(p.len(), size);
                    if size > 0 {
                        assert_eq!(p[0], next as u8);
                    }
                    if size > 1 {
                        assert_eq!(p[size - 1], (next >> 8) as u8);
                    }
                    bytes += p.len() as u64;
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
    producer.join().unwrap();
    assert_eq!(bytes, next * size as u64);
    (next, secs)
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "producer on cpu 0, consumer on cpu {}, busy-polling, {secs} s per size",
        1 % cpus
    );
    println!(
        "{:>8} {:>14} {:>10} {:>12}",
        "payload", "frags", "Mfrags/s", "GiB/s"
    );
    for size in [8usize, 64, 1024, 10240] {
        let (frags, elapsed) = run(size, Duration::from_secs_f64(secs));
        let rate = frags as f64 / elapsed;
        let gib = rate * size as f64 / (1u64 << 30) as f64;
        println!("{size:>8} {frags:>14} {:>10.2} {gib:>12.3}", rate / 1e6);
    }
}
