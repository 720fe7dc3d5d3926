//! One process-wide clock, in nanoseconds since the pipeline started: it stamps each event
//! (`tsorig`), each dispatcher item (its enqueue time) and each sink write, so that
//! latency is one subtraction.
//!
//! On x86-64 it reads the time-stamp counter, calibrated once against `Instant` at start:
//! about 20 ns a reading here, where `Instant::now` costs about 50 ns (two readings per
//! event, one by the sensor and one by the dispatcher, would otherwise take ~100 ns of the
//! ~130 ns an event may cost at 15 million events/s on 2 cores). Elsewhere it is
//! `Instant`. The counter is the kernel's own clock source on the machines this runs on
//! (invariant, synchronised between cores); a reading that would go backwards between
//! cores only shortens a latency, which is clamped at zero.

use std::sync::OnceLock;
#[cfg(target_arch = "x86_64")]
use std::time::Duration;
use std::time::Instant;

struct Calibration {
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    start: Instant,
    #[cfg(target_arch = "x86_64")]
    tsc0: u64,
    /// Nanoseconds per counter tick, as a 32.32 fixed-point number.
    #[cfg(target_arch = "x86_64")]
    ns_per_tick: u64,
}

static CALIBRATION: OnceLock<Calibration> = OnceLock::new();

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ticks() -> u64 {
    // SAFETY: `rdtsc` is in the x86-64 baseline (every x86-64 CPU has it); it reads a
    // counter into two registers and touches no memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn calibration() -> &'static Calibration {
    CALIBRATION.get_or_init(|| {
        let start = Instant::now();
        #[cfg(target_arch = "x86_64")]
        {
            let tsc0 = ticks();
            // 20 ms against the monotonic clock: a rate good to about 1e-4.
            std::thread::sleep(Duration::from_millis(20));
            let (t1, tsc1) = (start.elapsed(), ticks());
            let ns = t1.as_nanos() as u64;
            let span = tsc1.saturating_sub(tsc0).max(1);
            let ns_per_tick = ((ns as u128) << 32) / span as u128;
            Calibration {
                start,
                tsc0,
                ns_per_tick: ns_per_tick as u64,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Calibration { start }
    })
}

/// Calibrates the clock (20 ms on x86-64); called once before any thread starts, so that
/// no reading pays for it.
pub fn init() {
    calibration();
}

/// Nanoseconds since [`init`].
#[inline]
pub fn now() -> u64 {
    let c = calibration();
    #[cfg(target_arch = "x86_64")]
    {
        let dt = ticks().saturating_sub(c.tsc0);
        ((dt as u128 * c.ns_per_tick as u128) >> 32) as u64
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        c.start.elapsed().as_nanos() as u64
    }
}
