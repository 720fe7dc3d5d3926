//! Timestamps: a [`Clock`] of 64-bit ticks, compressed to the 32 bits a frag carries.
//!
//! A frag's `tsorig` and `tspub` hold the low 32 bits of a tick count. A reader
//! decompresses them against its own recent reading of the same clock, which is exact as
//! long as the stamp is less than 2^31 ticks old (about two seconds of nanoseconds).
//!
//! ```
//! use milonga::clock::{comp, decomp};
//! let t = 0x1_2345_6789u64;
//! assert_eq!(decomp(comp(t), t + 1000), t);
//! ```

/// A source of monotonic 64-bit ticks, shared by producer and consumers of a link.
pub trait Clock {
    /// The current tick count.
    fn now(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}

/// A clock a handle uses: borrowed for the link's lifetime (`&'a C`, e.g. a `static`), or
/// shared (`Arc<C>`, with `alloc`), so that a heap link's handles need no `'static`
/// clock. Built with `From`: handles take `impl Into<ClockRef<'a>>`.
///
/// ```
/// use milonga::clock::{ClockRef, StdClock};
/// use std::sync::Arc;
///
/// let shared: ClockRef<'static> = Arc::new(StdClock).into();
/// static CLOCK: StdClock = StdClock;
/// let borrowed: ClockRef<'static> = (&CLOCK).into();
/// assert!(shared.now() <= borrowed.now() + 1_000_000_000);
/// ```
#[derive(Clone)]
pub struct ClockRef<'a>(ClockKind<'a>);

#[derive(Clone)]
enum ClockKind<'a> {
    Borrowed(&'a (dyn Clock + Sync)),
    #[cfg(feature = "alloc")]
    Shared(alloc::sync::Arc<dyn Clock + Send + Sync>),
}

impl ClockRef<'_> {
    /// The clock's current tick count.
    #[inline]
    pub fn now(&self) -> u64 {
        match &self.0 {
            ClockKind::Borrowed(c) => c.now(),
            #[cfg(feature = "alloc")]
            ClockKind::Shared(c) => c.now(),
        }
    }
}

impl<'a, C: Clock + Sync> From<&'a C> for ClockRef<'a> {
    fn from(clock: &'a C) -> Self {
        ClockRef(ClockKind::Borrowed(clock))
    }
}

impl<'a> From<&'a (dyn Clock + Sync)> for ClockRef<'a> {
    fn from(clock: &'a (dyn Clock + Sync)) -> Self {
        ClockRef(ClockKind::Borrowed(clock))
    }
}

#[cfg(feature = "alloc")]
impl<C: Clock + Send + Sync + 'static> From<alloc::sync::Arc<C>> for ClockRef<'_> {
    fn from(clock: alloc::sync::Arc<C>) -> Self {
        ClockRef(ClockKind::Shared(clock))
    }
}

#[cfg(feature = "alloc")]
impl From<alloc::sync::Arc<dyn Clock + Send + Sync>> for ClockRef<'_> {
    fn from(clock: alloc::sync::Arc<dyn Clock + Send + Sync>) -> Self {
        ClockRef(ClockKind::Shared(clock))
    }
}

impl core::fmt::Debug for ClockRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.0 {
            ClockKind::Borrowed(_) => "ClockRef::Borrowed",
            #[cfg(feature = "alloc")]
            ClockKind::Shared(_) => "ClockRef::Shared",
        })
    }
}

/// The low 32 bits of `ticks`, as a frag carries them.
#[inline]
pub const fn comp(ticks: u64) -> u32 {
    ticks as u32
}

/// The tick count whose compressed form is `ts`, nearest to (and at most 2^31 ticks from)
/// `now`.
#[inline]
pub const fn decomp(ts: u32, now: u64) -> u64 {
    let delta = (now as u32).wrapping_sub(ts) as i32 as i64;
    now.wrapping_sub(delta as u64)
}

/// Ticks from `ts` (compressed) to `now`: the latency of a frag stamped `ts`, read at
/// `now`. Negative if `ts` is in `now`'s future.
#[inline]
pub const fn elapsed(ts: u32, now: u64) -> i64 {
    (now as u32).wrapping_sub(ts) as i32 as i64
}

/// Nanoseconds since the first use of any `StdClock` in this process.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct StdClock;

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now(&self) -> u64 {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_is_exact_within_half_the_range() {
        for now in [0u64, 1 << 31, u32::MAX as u64, 0x7_ffff_ffff, u64::MAX] {
            for age in [0u64, 1, 1000, (1 << 31) - 1] {
                let t = now.wrapping_sub(age);
                assert_eq!(decomp(comp(t), now), t, "now {now:#x} age {age}");
                assert_eq!(elapsed(comp(t), now), age as i64);
            }
            let future = now.wrapping_add(5);
            assert_eq!(decomp(comp(future), now), future);
            assert_eq!(elapsed(comp(future), now), -5);
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_clock_is_monotonic() {
        let a = StdClock.now();
        let b = StdClock.now();
        assert!(b >= a);
        let ticks = || 42u64;
        assert_eq!(ticks.now(), 42);
    }
}
