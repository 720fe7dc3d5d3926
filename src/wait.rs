//! Wait strategies for the blocking calls: what a thread does while a link has nothing for
//! it (no credits for a producer, no frag for a consumer).
//!
//! A strategy is asked to [`wait`](Wait::wait) once per failed attempt and is
//! [`reset`](Wait::reset) when a blocking call begins. Returning `false` gives up: the
//! blocking call then returns a timeout error.
//!
//! Each handle runs the [`Strategy`] it was given (on the link's builder or with its
//! `set_wait`) in its blocking calls; the `*_with` calls take any [`Wait`] for one call.
//!
//! ```
//! use milonga::wait::{BusySpin, SpinThenYield, Wait};
//! let mut w = SpinThenYield::default();
//! w.reset();
//! assert!(w.wait());
//! assert!(BusySpin.wait());
//! ```

use crate::sync::spin_hint;

/// What a blocking call does between attempts.
///
/// Any type can be a strategy for the `*_with` calls; this one gives up after a number of
/// attempts (and is passed by `&mut`, so the caller sees what it did):
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::Wait;
/// use milonga::RecvTimeoutError;
///
/// /// Spins `max` times, then gives up.
/// struct Attempts {
///     max: u32,
///     left: u32,
/// }
/// impl Wait for Attempts {
///     fn reset(&mut self) {
///         self.left = self.max;
///     }
///     fn wait(&mut self) -> bool {
///         if self.left == 0 {
///             return false;
///         }
///         self.left -= 1;
///         std::hint::spin_loop();
///         true
///     }
/// }
///
/// let (_tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let mut attempts = Attempts { max: 3, left: 0 };
/// let err = rx.recv_with(&mut attempts).err();
/// assert_eq!(err, Some(RecvTimeoutError::Timeout)); // nothing was published
/// assert_eq!(attempts.left, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Wait {
    /// A blocking call begins.
    fn reset(&mut self);
    /// One attempt failed; pause before the next. `false` gives up.
    fn wait(&mut self) -> bool;
}

impl<W: Wait + ?Sized> Wait for &mut W {
    fn reset(&mut self) {
        (**self).reset()
    }
    fn wait(&mut self) -> bool {
        (**self).wait()
    }
}

/// Spin forever with the CPU's spin-loop hint: the lowest latency, for a thread that owns
/// its core.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::{BusySpin, Strategy};
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(1), b"x")?;
/// let frag = rx.recv_with(BusySpin)?; // spins until a frag is there (here: at once)
/// assert_eq!(frag.payload(), b"x");
/// drop(frag);
/// rx.set_wait(Strategy::BusySpin); // the same for every blocking call of the handle
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySpin;

impl Wait for BusySpin {
    #[inline]
    fn reset(&mut self) {}

    #[inline]
    fn wait(&mut self) -> bool {
        spin_hint();
        true
    }
}

/// Spin for a while, then yield the time slice between attempts (under `std`; without it,
/// keep spinning). Never gives up. For threads that share cores.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::SpinThenYield;
/// use milonga::{Header, RecvTimeoutError};
///
/// let (mut tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// let producer = std::thread::spawn(move || {
///     for i in 0..8u64 {
///         // Waits for credits: the window is 2 frags.
///         tx.publish_with(Header::new(i), b"x", SpinThenYield::new(16)).unwrap();
///     }
/// });
/// let mut next = 0;
/// let end = loop {
///     match rx.recv_with(SpinThenYield::default()) {
///         Ok(frag) => assert_eq!(frag.sig(), next),
///         Err(end) => break end,
///     }
///     next += 1;
/// };
/// assert_eq!((next, end), (8, RecvTimeoutError::Closed)); // it never gives up
/// producer.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SpinThenYield {
    spins: u32,
    spin_limit: u32,
}

impl SpinThenYield {
    /// Spin `spin_limit` times before starting to yield.
    pub const fn new(spin_limit: u32) -> Self {
        SpinThenYield {
            spins: 0,
            spin_limit,
        }
    }
}

impl Default for SpinThenYield {
    /// 128 spins, then yield.
    fn default() -> Self {
        SpinThenYield::new(128)
    }
}

impl Wait for SpinThenYield {
    #[inline]
    fn reset(&mut self) {
        self.spins = 0;
    }

    #[inline]
    fn wait(&mut self) -> bool {
        if self.spins < self.spin_limit {
            self.spins += 1;
            spin_hint();
        } else {
            #[cfg(feature = "std")]
            crate::sync::yield_now();
            #[cfg(not(feature = "std"))]
            spin_hint();
        }
        true
    }
}

/// Spin, then yield, then sleep with exponential back-off up to `max_sleep`, and give up
/// after `timeout` if one is set. For consumers that may idle for long.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::Park;
/// use milonga::RecvTimeoutError;
/// use std::time::Duration;
///
/// let (_tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let patient = Park::new(Duration::from_micros(100)).with_timeout(Duration::from_millis(2));
/// assert_eq!(rx.recv_with(patient).err(), Some(RecvTimeoutError::Timeout));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct Park {
    spin_then_yield: SpinThenYield,
    yields: u32,
    sleep: std::time::Duration,
    max_sleep: std::time::Duration,
    timeout: Option<std::time::Duration>,
    deadline: Option<std::time::Instant>,
}

#[cfg(feature = "std")]
impl Park {
    /// Never gives up; sleeps at most `max_sleep` at a time.
    pub fn new(max_sleep: std::time::Duration) -> Self {
        Park {
            spin_then_yield: SpinThenYield::new(64),
            yields: 0,
            sleep: std::time::Duration::from_micros(1),
            max_sleep,
            timeout: None,
            deadline: None,
        }
    }

    /// Gives up once `timeout` has passed since the blocking call began. A timeout too
    /// long to be represented as an instant from now (such as `Duration::MAX`) means no
    /// deadline.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

#[cfg(feature = "std")]
impl Default for Park {
    /// Sleeps at most 1 ms at a time, never gives up.
    fn default() -> Self {
        Park::new(std::time::Duration::from_millis(1))
    }
}

#[cfg(feature = "std")]
impl Wait for Park {
    fn reset(&mut self) {
        self.spin_then_yield.reset();
        self.yields = 0;
        self.sleep = std::time::Duration::from_micros(1);
        // `checked_add`: a timeout past what an `Instant` can hold is no deadline.
        self.deadline = self
            .timeout
            .and_then(|t| std::time::Instant::now().checked_add(t));
    }

    fn wait(&mut self) -> bool {
        if let Some(deadline) = self.deadline {
            if std::time::Instant::now() >= deadline {
                return false;
            }
        }
        if self.yields < 64 {
            self.yields += 1;
            return self.spin_then_yield.wait();
        }
        #[cfg(milonga_loom)]
        loom::thread::yield_now();
        #[cfg(not(milonga_loom))]
        std::thread::sleep(self.sleep);
        self.sleep = self.sleep.saturating_mul(2).min(self.max_sleep);
        true
    }
}

/// The wait strategy a handle uses for its blocking calls (`recv`, `publish`, ...), chosen
/// once on the link's builder or with the handle's `set_wait`. Per-call strategies (any
/// [`Wait`]) stay available through the `*_with` calls, for pinned threads that want their
/// own loop.
///
/// The default spins briefly, then yields, then parks (sleeps with exponential back-off up
/// to 1 ms; without `std`, it keeps spinning with the CPU's hint).
///
/// ```
/// use milonga::wait::Strategy;
/// use std::time::Duration;
///
/// let pinned = Strategy::BusySpin;
/// let shared_core = Strategy::SpinThenYield { spins: 128 };
/// let idle_mostly = Strategy::Park { spins: 64, max_sleep: Duration::from_micros(200) };
/// assert_ne!(pinned, shared_core);
/// assert_ne!(Strategy::default(), idle_mostly);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Spin with the CPU's spin-loop hint: the lowest latency, for a thread that owns its
    /// core ([`BusySpin`]).
    BusySpin,
    /// Spin `spins` times, then yield the time slice between attempts
    /// ([`SpinThenYield`]).
    SpinThenYield {
        /// Attempts spent spinning before yielding.
        spins: u32,
    },
    /// Spin and yield a while, then sleep with exponential back-off from 1 µs up to
    /// `max_sleep` ([`Park`]). For threads that may idle for long.
    #[cfg(feature = "std")]
    Park {
        /// Attempts spent spinning before yielding (64 yields follow, then sleeps).
        spins: u32,
        /// The longest single sleep: the worst added latency once idle.
        max_sleep: std::time::Duration,
    },
}

impl Default for Strategy {
    /// `Park { spins: 64, max_sleep: 1 ms }` under `std`, else
    /// `SpinThenYield { spins: 128 }` (which then only spins).
    fn default() -> Self {
        #[cfg(feature = "std")]
        return Strategy::Park {
            spins: 64,
            max_sleep: std::time::Duration::from_millis(1),
        };
        #[cfg(not(feature = "std"))]
        return Strategy::SpinThenYield { spins: 128 };
    }
}

impl Strategy {
    /// A waiter following this strategy that never gives up.
    pub fn waiter(self) -> Waiter {
        Waiter {
            state: match self {
                Strategy::BusySpin => State::Spin(BusySpin),
                Strategy::SpinThenYield { spins } => State::Yield(SpinThenYield::new(spins)),
                #[cfg(feature = "std")]
                Strategy::Park { spins, max_sleep } => State::Park(Park {
                    spin_then_yield: SpinThenYield::new(spins),
                    ..Park::new(max_sleep)
                }),
            },
            #[cfg(feature = "std")]
            deadline: None,
        }
    }

    /// A waiter following this strategy that gives up at `deadline`.
    #[cfg(feature = "std")]
    pub fn until(self, deadline: std::time::Instant) -> Waiter {
        Waiter {
            deadline: Some(deadline),
            ..self.waiter()
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Spin(BusySpin),
    Yield(SpinThenYield),
    #[cfg(feature = "std")]
    Park(Park),
}

/// A [`Strategy`] in use: the [`Wait`] that the blocking calls of a handle run, with an
/// optional deadline (checked on every attempt once one is set).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::Strategy;
/// use milonga::{Header, RecvTimeoutError};
/// use std::time::{Duration, Instant};
///
/// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(1), b"x")?;
/// let waiter = Strategy::SpinThenYield { spins: 8 }.waiter(); // never gives up
/// assert_eq!(rx.recv_with(waiter)?.payload(), b"x");
/// let deadline = Instant::now() + Duration::from_millis(1);
/// let waiter = Strategy::default().until(deadline); // gives up at the deadline
/// assert_eq!(rx.recv_with(waiter).err(), Some(RecvTimeoutError::Timeout));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Waiter {
    state: State,
    #[cfg(feature = "std")]
    deadline: Option<std::time::Instant>,
}

impl Wait for Waiter {
    #[inline]
    fn reset(&mut self) {
        match &mut self.state {
            State::Spin(w) => w.reset(),
            State::Yield(w) => w.reset(),
            #[cfg(feature = "std")]
            State::Park(w) => w.reset(),
        }
    }

    #[inline]
    fn wait(&mut self) -> bool {
        #[cfg(feature = "std")]
        if let Some(deadline) = self.deadline {
            if std::time::Instant::now() >= deadline {
                return false;
            }
        }
        match &mut self.state {
            State::Spin(w) => w.wait(),
            State::Yield(w) => w.wait(),
            #[cfg(feature = "std")]
            State::Park(w) => w.wait(),
        }
    }
}

/// The one retry loop of every blocking call: runs `attempt` until it returns anything but
/// `Err(again)`, asking `wait` to pause between attempts. `Ok(None)` if `wait` gave up.
#[inline]
pub(crate) fn retry<W: Wait, T, E: PartialEq>(
    mut wait: W,
    again: E,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> Result<Option<T>, E> {
    wait.reset();
    loop {
        match attempt() {
            Ok(v) => return Ok(Some(v)),
            Err(e) if e == again => {
                if !wait.wait() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A deadline `timeout` from now; `None` (no deadline) if it cannot be represented.
#[cfg(feature = "std")]
pub(crate) fn deadline_in(timeout: std::time::Duration) -> Option<std::time::Instant> {
    std::time::Instant::now().checked_add(timeout)
}

#[cfg(all(test, feature = "std", not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn park_gives_up_after_its_timeout() {
        let mut park = Park::new(std::time::Duration::from_micros(50))
            .with_timeout(std::time::Duration::from_millis(5));
        let start = std::time::Instant::now();
        park.reset();
        while park.wait() {}
        assert!(start.elapsed() >= std::time::Duration::from_millis(5));
        park.reset();
        assert!(park.wait(), "reset starts a new deadline");
    }

    /// `Instant::now() + Duration::MAX` panics; such a timeout means no deadline.
    #[test]
    fn park_with_the_longest_timeout_never_gives_up() {
        let mut park =
            Park::new(std::time::Duration::from_micros(10)).with_timeout(std::time::Duration::MAX);
        park.reset();
        for _ in 0..100 {
            assert!(park.wait());
        }
        let mut park = Park::default().with_timeout(std::time::Duration::from_secs(u64::MAX));
        park.reset();
        assert!(park.wait());
    }
}
