//! milonga on a Cortex-M4F (QEMU's mps2-an386), with no allocator and no threads: the link
//! is a `static`, the producer lives in the SysTick exception handler and the consumer in
//! the main loop, which the handler preempts at any instruction.
//!
//! Each tick publishes a burst of frags (some bursts larger than the link's depth, so the
//! producer runs out of credits and counts a retry) whose payloads carry their sequence
//! number, bytes derived from it and a checksum. The main loop checks the order, the size
//! and every byte of every frag, then reports one line through semihosting and exits QEMU
//! with success only if all [`FRAGS`] arrived intact.

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use critical_section::Mutex;
use milonga::spsc::{Budget, InlineLink, Producer};
use milonga::{data_chunks, Header, PublishError, TryRecvError};
use panic_semihosting as _;

/// Frags the producer publishes in all.
const FRAGS: u32 = 100_000;
/// Metadata slots of the link (and so its credit window).
const DEPTH: usize = 64;
/// The largest payload; payload sizes run from [`MIN_LEN`] to `MTU`.
const MTU: usize = 64;
/// The smallest payload: the sequence number and the checksum.
const MIN_LEN: usize = 8;
/// SysTick period in core cycles (the mps2 core clock is 25 MHz: 1 kHz).
const TICK_CYCLES: u32 = 25_000;
/// Frags the consumer takes per batch at most.
const BATCH: usize = 16;

/// The link, in a static and built at compile time: no allocator.
static LINK: InlineLink<DEPTH, MTU, { data_chunks(DEPTH, MTU) }> = InlineLink::new();

/// Hands the producer from `main` to the SysTick handler, which takes it on its first run.
static HANDOFF: Mutex<RefCell<Option<Producer<'static>>>> = Mutex::new(RefCell::new(None));

/// SysTick runs so far.
static TICKS: AtomicU32 = AtomicU32::new(0);
/// `try_publish` calls that found no credits (the frag is published on a later tick).
static NO_CREDITS: AtomicU32 = AtomicU32::new(0);

/// The payload of frag `n`: `n` (little-endian), bytes derived from `n`, and the FNV-1a
/// checksum of what precedes it; its length depends on `n`. Returns the length.
fn payload(n: u32, buf: &mut [u8; MTU]) -> usize {
    let len = MIN_LEN + (n.wrapping_mul(7) as usize) % (MTU - MIN_LEN + 1);
    buf[..4].copy_from_slice(&n.to_le_bytes());
    let mut x = n.wrapping_mul(0x9E37_79B9) | 1; // xorshift32 state, never 0
    for b in &mut buf[4..len - 4] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let sum = fnv1a(&buf[..len - 4]);
    buf[len - 4..len].copy_from_slice(&sum.to_le_bytes());
    len
}

/// 32-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The producer: each tick publishes a burst of frags until the burst is done, the credits
/// run out or every frag is out; after the last frag it closes the stream.
#[exception]
fn SysTick() {
    // cortex-m-rt turns these into `&mut` locals that only this handler can reach.
    static mut TX: Option<Producer<'static>> = None;
    static mut NEXT: u32 = 0;

    if TX.is_none() {
        *TX = critical_section::with(|cs| HANDOFF.borrow_ref_mut(cs).take());
    }
    let Some(tx) = TX.as_mut() else { return };
    let tick = TICKS.fetch_add(1, Relaxed);
    // 1 to 96 frags: a burst above DEPTH always runs out of credits.
    let burst = 1 + tick.wrapping_mul(37) % 96;
    let mut buf = [0u8; MTU];
    for _ in 0..burst {
        if *NEXT == FRAGS {
            break;
        }
        let len = payload(*NEXT, &mut buf);
        match tx.try_publish(Header::new(*NEXT as u64), &buf[..len]) {
            Ok(_) => *NEXT += 1,
            Err(PublishError::NoCredits) => {
                NO_CREDITS.fetch_add(1, Relaxed);
                break;
            }
            Err(e) => panic!("publish {}: {e}", *NEXT),
        }
    }
    if *NEXT == FRAGS {
        if let Some(tx) = TX.take() {
            tx.halt(); // the consumer drains what was published, then sees Closed
        }
    }
}

/// Checks frag `n` as delivered: its seq, its sig, its size, its checksum and every byte.
fn check(n: u32, seq: u64, sig: u64, got: &[u8]) -> Result<(), &'static str> {
    let mut want = [0u8; MTU];
    let len = payload(n, &mut want);
    if seq != n as u64 {
        return Err("out of order (seq)");
    }
    if sig != n as u64 {
        return Err("wrong sig");
    }
    if got.len() != len {
        return Err("wrong size");
    }
    let (body, sum) = got.split_at(len - 4);
    if fnv1a(body).to_le_bytes() != sum {
        return Err("bad checksum");
    }
    if got != &want[..len] {
        return Err("wrong bytes");
    }
    Ok(())
}

/// Verification failed: says where and exits QEMU with failure.
fn fail(n: u32, what: &str) -> ! {
    hprintln!("milonga firmware: FAILED at frag {}: {}", n, what);
    exit(debug::EXIT_FAILURE)
}

/// Ends the QEMU run with this status (semihosting's exit does not return there).
fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let (tx, mut rx) = LINK.split().expect("the link is split once").into_pair();
    critical_section::with(|cs| *HANDOFF.borrow_ref_mut(cs) = Some(tx));

    let mut cp = cortex_m::Peripherals::take().expect("peripherals taken once");
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(TICK_CYCLES - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    cp.SYST.enable_interrupt();

    // The consumer: busy-polls, so that ticks land anywhere in its reads and releases.
    let (mut next, mut bytes, mut batches) = (0u32, 0u64, 0u32);
    let budget = Budget::new(BATCH, BATCH * MTU).unwrap();
    loop {
        match rx.try_batch(budget) {
            Ok(batch) => {
                for frag in &batch {
                    if let Err(what) = check(next, frag.seq(), frag.sig(), frag.payload()) {
                        fail(next, what);
                    }
                    bytes += frag.payload().len() as u64;
                    next += 1;
                }
                batch.commit();
                batches += 1;
            }
            Err(TryRecvError::Empty) => core::hint::spin_loop(),
            Err(TryRecvError::Closed) => break,
            Err(e) => {
                hprintln!("milonga firmware: FAILED: receive error {}", e);
                fail(next, "receive error");
            }
        }
    }
    cp.SYST.disable_interrupt();
    cp.SYST.disable_counter();

    if next != FRAGS {
        fail(next, "stream closed early");
    }
    hprintln!(
        "milonga firmware: {} frags ({} payload bytes) verified in order in {} batches; \
         {} SysTick runs, {} NoCredits retries",
        next,
        bytes,
        batches,
        TICKS.load(Relaxed),
        NO_CREDITS.load(Relaxed)
    );
    exit(debug::EXIT_SUCCESS)
}
