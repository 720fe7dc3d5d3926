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
///
/// Any `Fn() -> u64` is a clock; a type of one's own implements [`now`](Self::now). A
/// producer given a clock times its backpressure with it:
///
/// ```
/// use milonga::clock::Clock;
/// use milonga::spsc::Link;
/// use milonga::{Header, PublishError};
/// use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
/// use std::sync::Arc;
///
/// /// A clock the caller moves by hand.
/// struct Manual(AtomicU64);
/// impl Clock for Manual {
///     fn now(&self) -> u64 {
///         self.0.load(Relaxed)
///     }
/// }
///
/// let clock = Arc::new(Manual(AtomicU64::new(10)));
/// let (mut tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// tx.set_clock(clock.clone());
/// tx.try_publish(Header::new(0), b"a")?;
/// tx.try_publish(Header::new(1), b"b")?;
/// assert_eq!(tx.try_publish(Header::new(2), b"c"), Err(PublishError::NoCredits)); // at 10
/// clock.0.store(25, Relaxed);
/// while rx.try_recv().is_ok() {}
/// tx.try_publish(Header::new(2), b"c")?; // credits back at 25
/// assert_eq!(tx.counters().backpressure_ticks, 15);
///
/// let fixed = || 42u64; // closures are clocks too
/// assert_eq!(fixed.now(), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use milonga::clock::comp;
/// use milonga::Header;
///
/// let now = 0x7_0000_0005u64;
/// assert_eq!(comp(now), 5);
/// let hdr = Header::new(1).tsorig(comp(now)); // stamp a frag
/// assert_eq!(hdr.tsorig, 5);
/// ```
#[inline]
pub const fn comp(ticks: u64) -> u32 {
    ticks as u32
}

/// The tick count whose compressed form is `ts`, nearest to (and at most 2^31 ticks from)
/// `now`.
///
/// ```
/// use milonga::clock::{comp, decomp};
///
/// let stamped = 0x4_ffff_ff00u64; // just before the low 32 bits wrap
/// let now = 0x5_0000_0100u64; // read 0x200 ticks later
/// assert_eq!(decomp(comp(stamped), now), stamped);
/// assert_eq!(decomp(comp(now + 7), now), now + 7); // a stamp slightly ahead of `now`
/// ```
#[inline]
pub const fn decomp(ts: u32, now: u64) -> u64 {
    let delta = (now as u32).wrapping_sub(ts) as i32 as i64;
    now.wrapping_sub(delta as u64)
}

/// Ticks from `ts` (compressed) to `now`: the latency of a frag stamped `ts`, read at
/// `now`. Negative if `ts` is in `now`'s future.
///
/// ```
/// use milonga::clock::{comp, elapsed};
///
/// let stamped = 0xffff_fff0u64;
/// assert_eq!(elapsed(comp(stamped), stamped + 250), 250); // across the 32-bit wrap
/// assert_eq!(elapsed(comp(stamped + 5), stamped), -5);
/// ```
#[inline]
pub const fn elapsed(ts: u32, now: u64) -> i64 {
    (now as u32).wrapping_sub(ts) as i32 as i64
}

/// Nanoseconds since the first use of any `StdClock` in this process.
///
/// ```
/// use milonga::clock::{comp, elapsed, Clock, StdClock};
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// tx.set_clock(&StdClock); // a `'static` clock: times backpressure
/// tx.try_publish(Header::new(0).tsorig(comp(StdClock.now())), b"x")?;
/// let frag = rx.try_recv()?;
/// let latency = elapsed(frag.meta().tsorig, StdClock.now());
/// assert!(latency >= 0); // nanoseconds since the stamp
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
