//! The ingest stage: how a sensor thread's events get into the workers' dispatchers, and
//! what happens when there is no room, by drop policy.
//!
//! - `reject`: `enqueue`; a full dispatcher refuses the event at once
//!   ([`EnqueueError::QueueFull`]), counted as dropped-full.
//! - `block[:ms]`: `enqueue_with` a waiter that spins a little, then yields, and with a
//!   timeout gives up after it ([`EnqueueError::Timeout`], counted as dropped-timeout).
//!   The waiter reads the clock only once the queue was found full: the fast path costs
//!   what `enqueue` costs.
//! - `overwrite`: each sensor thread publishes through a `milonga::ingest::Ingest` with
//!   [`DropPolicy::OverwriteOldest`] into a ring of its own that only a lossy consumer
//!   reads, so the thread never waits and, when the pump falls behind, the ring overwrites
//!   its oldest events. The pump reads the rings and forwards into the dispatchers, waiting
//!   for room (so nothing is lost after the ring), and the lossy consumers count exactly
//!   what was overwritten.
//!
//! A sensor's events all go to dispatcher `sensor % workers`, so one worker sees all of
//! them, in order.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use milonga::dispatch::{Dispatcher, EnqueueError};
use milonga::ingest::{DropPolicy, Ingest};
use milonga::spsc::{LossyConsumer, Producer, Shared};
use milonga::wait::Wait;
use milonga::{Header, LossyTryRecvError};

use crate::clock;
use crate::config::Policy;
use crate::event::MAX_SIZE;
use crate::stats::{PumpCounts, SensorCounts};

/// Spins before a waiting enqueue starts yielding its time slice.
const SPINS: u32 = 32;
/// Yields before it starts sleeping (10 us, doubling up to 1.28 ms).
const YIELDS: u32 = 64;

/// A sensor thread's way into the dispatchers.
#[derive(Debug)]
pub enum Intake {
    /// `reject` or `block`: straight into the dispatchers.
    Direct(Direct),
    /// `overwrite`: into the thread's own ring, read by the pump.
    Overwrite(Box<Overwrite>),
}

impl Intake {
    /// Hands one encoded event of `sensor` to the ingest stage.
    #[inline]
    pub fn offer(&mut self, sensor: u32, event: &[u8]) {
        match self {
            Intake::Direct(d) => d.offer(sensor, event),
            Intake::Overwrite(o) => o.offer(sensor, event),
        }
    }

    /// Publishes the thread's counts.
    pub fn publish(&self, counts: &SensorCounts) {
        match self {
            Intake::Direct(d) => {
                counts.ingested.set(d.accepted);
                counts.dropped_full.set(d.full);
                counts.dropped_timeout.set(d.timed_out);
                counts.refused_closed.set(d.refused);
            }
            Intake::Overwrite(o) => counts.ingested.set(o.published),
        }
    }

    /// The thread is done: an overwrite ring is closed (the pump drains it).
    pub fn finish(&mut self) {
        if let Intake::Overwrite(o) = self {
            o.ingest.take();
        }
    }
}

/// `reject` or `block` into the dispatchers.
#[derive(Debug)]
pub struct Direct {
    dispatchers: Vec<Dispatcher>,
    /// `None`: reject; else how `block` waits.
    wait: Option<BlockWait>,
    accepted: u64,
    full: u64,
    timed_out: u64,
    refused: u64,
}

impl Direct {
    /// A way in for `policy` (`Reject` or `Block`), into `dispatchers`.
    pub fn new(dispatchers: Vec<Dispatcher>, policy: Policy) -> Self {
        let wait = match policy {
            Policy::Reject => None,
            Policy::Block(t) => Some(BlockWait::new(t.map(|t| t.as_nanos() as u64))),
            Policy::Overwrite => unreachable!("overwrite goes through the pump"),
        };
        Direct {
            dispatchers,
            wait,
            accepted: 0,
            full: 0,
            timed_out: 0,
            refused: 0,
        }
    }

    #[inline]
    fn offer(&mut self, sensor: u32, event: &[u8]) {
        let d = &self.dispatchers[sensor as usize % self.dispatchers.len()];
        let result = match &mut self.wait {
            None => d.enqueue(event),
            Some(w) => d.enqueue_with(event, w),
        };
        match result {
            Ok(()) => self.accepted += 1,
            Err(EnqueueError::QueueFull) => self.full += 1,
            Err(EnqueueError::Timeout) => self.timed_out += 1,
            Err(_) => self.refused += 1,
        }
    }
}

/// How `block` waits for room: spins, yields, then sleeps (10 us doubling up to 1.28 ms);
/// with a timeout, gives up once it has passed since the first failed attempt (the clock
/// is read only from then on).
#[derive(Clone, Copy, Debug)]
pub struct BlockWait {
    timeout: Option<u64>,
    started: Option<u64>,
    tries: u32,
}

impl BlockWait {
    /// Waits without end (`None`) or for `timeout` nanoseconds.
    pub fn new(timeout: Option<u64>) -> Self {
        BlockWait {
            timeout,
            started: None,
            tries: 0,
        }
    }
}

impl Wait for BlockWait {
    #[inline]
    fn reset(&mut self) {
        self.started = None;
        self.tries = 0;
    }

    fn wait(&mut self) -> bool {
        if let Some(t) = self.timeout {
            let now = clock::now();
            let started = *self.started.get_or_insert(now);
            if now.saturating_sub(started) >= t {
                return false;
            }
        }
        if self.tries < SPINS {
            std::hint::spin_loop();
        } else if self.tries < SPINS + YIELDS {
            std::thread::yield_now();
        } else {
            // A sink slower than the sensors: sleep, so that waiting sensors leave the
            // cores to the sink (a broker, a disk) instead of spinning against it.
            let k = (self.tries - SPINS - YIELDS).min(7);
            std::thread::sleep(std::time::Duration::from_micros(10 << k));
        }
        self.tries = self.tries.saturating_add(1);
        true
    }
}

/// `overwrite`: a sensor thread's ring.
pub struct Overwrite {
    /// `None` once the thread is done (dropping the producer closes the ring).
    ingest: Option<Ingest<Producer<'static, Shared>>>,
    published: u64,
}

impl std::fmt::Debug for Overwrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overwrite")
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl Overwrite {
    /// A ring of `depth` events for one sensor thread, and the pump's end of it.
    pub fn ring(depth: usize) -> (Overwrite, LossyConsumer<'static>) {
        let mut link = milonga::spsc::Link::builder()
            .depth(depth)
            .mtu(MAX_SIZE)
            .reliable(0)
            .lossy(1)
            .heap()
            .expect("an overwrite ring: depth a power of two, checked by the flags");
        let rx = link.lossy.pop().expect("built with one lossy consumer");
        let ingest = Ingest::new(link.producer, DropPolicy::OverwriteOldest)
            .unwrap_or_else(|_| unreachable!("a link with no reliable consumer"));
        let tx = Overwrite {
            ingest: Some(ingest),
            published: 0,
        };
        (tx, rx)
    }

    #[inline]
    fn offer(&mut self, sensor: u32, event: &[u8]) {
        let ingest = self.ingest.as_mut().expect("offer after finish");
        // Never waits, never refuses for room (the policy); the sig carries the sensor,
        // for the pump's routing. Events are at most the ring's mtu: no error is possible.
        ingest
            .send(Header::new(sensor as u64), event)
            .expect("an overwrite ring takes every event up to its mtu");
        self.published += 1;
    }
}

/// What the pump did, at its end.
#[derive(Clone, Copy, Debug, Default)]
pub struct PumpReport {
    /// Events forwarded into the dispatchers.
    pub forwarded: u64,
    /// Events overwritten, as the pump added up the overruns it was told of.
    pub overwritten: u64,
    /// Events lost, as the lossy consumers counted them: must equal `overwritten`.
    pub lost_by_consumers: u64,
}

/// The overwrite pump: reads every sensor thread's ring and forwards into the
/// dispatchers, waiting for room, until every ring is closed and drained.
pub fn pump(
    mut rings: Vec<LossyConsumer<'static>>,
    dispatchers: &[Dispatcher],
    counts: &PumpCounts,
    stop: &AtomicBool,
) -> PumpReport {
    let mut buf = [0u8; MAX_SIZE];
    let (mut forwarded, mut overwritten, mut refused) = (0u64, 0u64, 0u64);
    let mut open = vec![true; rings.len()];
    let mut idle = 0u32;
    while open.iter().any(|&o| o) {
        let mut moved = 0;
        for (i, rx) in rings.iter_mut().enumerate() {
            if !open[i] {
                continue;
            }
            // Up to 256 events from this ring, then the next ring: fair to all.
            for _ in 0..256 {
                match rx.try_recv(&mut buf) {
                    Ok(meta) => {
                        let d = &dispatchers[meta.sig as usize % dispatchers.len()];
                        let event = &buf[..meta.sz as usize];
                        if forward(d, event) {
                            forwarded += 1;
                        } else {
                            refused += 1;
                        }
                        moved += 1;
                    }
                    Err(LossyTryRecvError::Overrun(o)) => overwritten += o.lost,
                    Err(LossyTryRecvError::Empty) => break,
                    Err(LossyTryRecvError::Closed | LossyTryRecvError::Failed) => {
                        open[i] = false;
                        break;
                    }
                    // The ring's metadata is ours: a corrupt frag would be a bug in
                    // milonga; it is counted as lost by the consumer, and so here.
                    Err(LossyTryRecvError::Corrupt { .. }) => overwritten += 1,
                    Err(e) => unreachable!("the buffer holds the ring's mtu: {e}"),
                }
            }
        }
        counts.forwarded.set(forwarded);
        counts.overwritten.set(overwritten);
        counts.refused_closed.set(refused);
        if moved == 0 {
            idle += 1;
            if idle > 64 || stop.load(Relaxed) {
                std::thread::sleep(std::time::Duration::from_micros(50));
            } else {
                std::thread::yield_now();
            }
        } else {
            idle = 0;
        }
    }
    PumpReport {
        forwarded,
        overwritten,
        lost_by_consumers: rings.iter().map(|rx| rx.counters().lost_frags()).sum(),
    }
}

/// Enqueues, waiting for room; false if the dispatcher refused for good (closed).
fn forward(d: &Dispatcher, event: &[u8]) -> bool {
    d.enqueue_with(event, BlockWait::new(None)).is_ok()
}
