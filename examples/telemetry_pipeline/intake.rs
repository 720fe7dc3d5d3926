//! The ingest stage: how a sensor thread's events get into the workers' dispatchers, and
//! what happens when there is no room, by drop policy.
//!
//! - `reject`: `enqueue`; a full dispatcher refuses the event at once
//!   ([`EnqueueError::QueueFull`]), counted as dropped-full.
//! - `block[:ms]`: `enqueue` until it is accepted, spinning a little and then yielding;
//!   with a timeout, an event still refused after it is counted as dropped-timeout.
//! - `overwrite`: each sensor thread publishes into a ring of its own that only a lossy
//!   consumer reads, so the thread never waits and, when the pump falls behind, the ring
//!   overwrites its oldest events. The pump reads the rings and forwards into the
//!   dispatchers, waiting for room (so nothing is lost after the ring), and the lossy
//!   consumers count exactly what was overwritten.
//!
//! A sensor's events all go to dispatcher `sensor % workers`, so one worker sees all of
//! them, in order.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use milonga::dispatch::{Dispatcher, EnqueueError};
use milonga::spsc::{LossyConsumer, Producer, Shared};
use milonga::{Header, LossyTryRecvError};

use crate::clock;
use crate::config::Policy;
use crate::event::MAX_SIZE;
use crate::stats::{PumpCounts, SensorCounts};

/// Spins before a waiting enqueue starts yielding its time slice.
const SPINS: u32 = 32;

/// A sensor thread's way into the dispatchers.
#[derive(Debug)]
pub enum Intake {
    /// `reject` or `block`: straight into the dispatchers.
    Direct(Direct),
    /// `overwrite`: into the thread's own ring, read by the pump.
    Overwrite(Overwrite),
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
            o.producer.take();
        }
    }
}

/// `reject` or `block` into the dispatchers.
#[derive(Debug)]
pub struct Direct {
    dispatchers: Vec<Dispatcher>,
    /// `None`: reject; `Some(None)`: block without a timeout; `Some(Some(ns))`: block for
    /// at most `ns`.
    wait: Option<Option<u64>>,
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
            Policy::Block(t) => Some(t.map(|t| t.as_nanos() as u64)),
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
        match d.enqueue(event) {
            Ok(()) => self.accepted += 1,
            Err(EnqueueError::QueueFull) => self.full_slow(sensor, event),
            Err(_) => self.refused += 1,
        }
    }

    #[cold]
    #[inline(never)]
    fn full_slow(&mut self, sensor: u32, event: &[u8]) {
        let Some(timeout) = self.wait else {
            self.full += 1;
            return;
        };
        let d = &self.dispatchers[sensor as usize % self.dispatchers.len()];
        let start = timeout.map(|_| clock::now());
        let mut tries = 0u32;
        loop {
            if tries < SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            tries = tries.saturating_add(1);
            match d.enqueue(event) {
                Ok(()) => {
                    self.accepted += 1;
                    return;
                }
                Err(EnqueueError::QueueFull) => {
                    if let (Some(t), Some(start)) = (timeout, start) {
                        if clock::now().saturating_sub(start) >= t {
                            self.timed_out += 1;
                            return;
                        }
                    }
                }
                Err(_) => {
                    self.refused += 1;
                    return;
                }
            }
        }
    }
}

/// `overwrite`: a sensor thread's ring.
pub struct Overwrite {
    /// `None` once the thread is done (dropping the producer closes the ring).
    producer: Option<Producer<'static, Shared>>,
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
        let tx = Overwrite {
            producer: Some(link.producer),
            published: 0,
        };
        (tx, rx)
    }

    #[inline]
    fn offer(&mut self, sensor: u32, event: &[u8]) {
        let producer = self.producer.as_mut().expect("offer after finish");
        // No reliable consumer: a publish never waits and never fails for room; the sig
        // carries the sensor, for the pump's routing.
        producer
            .try_publish(Header::new(sensor as u64), event)
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
    let mut tries = 0u32;
    loop {
        match d.enqueue(event) {
            Ok(()) => return true,
            Err(EnqueueError::QueueFull) => {
                if tries < SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                tries = tries.saturating_add(1);
            }
            Err(_) => return false,
        }
    }
}
