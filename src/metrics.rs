//! Metrics: snapshots of a link's producer and consumer counters, taken from any thread
//! while the link runs.
//!
//! Every counter has one writer (the producer or one consumer), kept in a local on the hot
//! path and published at housekeeping with relaxed stores; a snapshot reads the published
//! copies, so it is as fresh as the last housekeeping of each end, and at a quiescent
//! point (producer halted, consumers drained) it is exact.

use core::fmt;

use crate::cnc::{Cnc, ProducerCounters, Signal};
use crate::fseq::{ConsumerCounters, Fseq};
use crate::seq;
use crate::sync::{AtomicU64, Keep, Ordering::Relaxed, Ref};

/// The most consumers a snapshot holds: [`MAX_CONSUMERS`](crate::spsc::MAX_CONSUMERS).
const MAX: usize = 32;

/// A handle for taking [`Snapshot`]s of one link: `Clone + Send + Sync`, usable from any
/// thread while the link runs. Obtained from any handle of the link
/// ([`Producer::metrics`](crate::spsc::Producer::metrics), ...).
#[derive(Clone)]
pub struct Metrics<'a> {
    cnc: Ref<'a, Cnc>,
    fseqs: Ref<'a, [Fseq]>,
    lossy: Ref<'a, [Fseq]>,
    seq0: u64,
    /// On a shared multi-producer ring: the claim cursor, which stands for the producer's
    /// seq (every claimed frag is published, committed or marked ERR).
    cursor: Option<Ref<'a, AtomicU64>>,
    _keep: Keep,
}

/// Whether a consumer gates the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerKind {
    /// Gates the producer through credits; never loses a frag.
    Reliable,
    /// Never slows the producer; counts what it loses.
    Lossy,
}

/// One consumer's part of a [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerSnapshot {
    /// Reliable or lossy.
    pub kind: ConsumerKind,
    /// Its index among the consumers of its kind (in the order they were handed out).
    pub index: usize,
    /// The next seq it needs, as last published.
    pub rx_seq: u64,
    /// Frags published and not yet reached by it (`tx_seq - rx_seq`, at least 0).
    pub lag: u64,
    /// How often it was the consumer that held the producer back (reliable only).
    pub slow: u64,
    /// It was dropped.
    pub detached: bool,
    /// Its counters.
    pub counters: ConsumerCounters,
}

/// What a link has done, as last published by each of its ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The producer's state.
    pub signal: Signal,
    /// The producer's heartbeat.
    pub heartbeat: u64,
    /// The producer's counters. On a shared multi-producer ring
    /// ([`mpsc`](crate::mpsc)), `published_frags` counts the frags claimed so far (each is
    /// published, committed or as an ERR frag) and the byte and backpressure counts are
    /// kept in the ring's [`RingSnapshot`](crate::mpsc::RingSnapshot).
    pub producer: ProducerCounters,
    /// The seq of the next frag the producer will publish (as of its last housekeeping; on
    /// a shared ring, the claim cursor now).
    pub tx_seq: u64,
    /// The stream is closed.
    pub closed: bool,
    /// Every consumer: reliable ones first, then lossy ones.
    pub consumers: heapless::Vec<ConsumerSnapshot, MAX>,
}

impl<'a> Metrics<'a> {
    pub(crate) fn new(
        cnc: Ref<'a, Cnc>,
        fseqs: Ref<'a, [Fseq]>,
        lossy: Ref<'a, [Fseq]>,
        seq0: u64,
        keep: Keep,
    ) -> Self {
        Metrics {
            cnc,
            fseqs,
            lossy,
            seq0,
            cursor: None,
            _keep: keep,
        }
    }

    /// These metrics for a shared multi-producer ring whose claim cursor is `cursor`.
    pub(crate) fn with_cursor(mut self, cursor: &'a AtomicU64) -> Self {
        self.cursor = Some(Ref::new(cursor));
        self
    }

    /// Reads every published counter of the link.
    pub fn snapshot(&self) -> Snapshot {
        let mut producer = self.cnc.producer_counters();
        let tx_seq = match self.cursor {
            Some(cursor) => {
                let tx_seq = cursor.load(Relaxed);
                producer.published_frags = seq::diff(tx_seq, self.seq0) as u64;
                tx_seq
            }
            None => seq::inc(self.seq0, producer.published_frags),
        };
        let mut consumers = heapless::Vec::new();
        let kinds = [
            (ConsumerKind::Reliable, self.fseqs),
            (ConsumerKind::Lossy, self.lossy),
        ];
        for (kind, fseqs) in kinds {
            for (index, fseq) in fseqs.iter().enumerate() {
                let rx_seq = fseq.query();
                // At most MAX consumers exist (checked when the link is built).
                let _ = consumers.push(ConsumerSnapshot {
                    kind,
                    index,
                    rx_seq,
                    lag: seq::diff(tx_seq, rx_seq).max(0) as u64,
                    slow: fseq.slow(),
                    detached: fseq.is_detached(),
                    counters: fseq.counters(),
                });
            }
        }
        Snapshot {
            signal: self.cnc.signal(),
            heartbeat: self.cnc.heartbeat(),
            producer,
            tx_seq,
            closed: self.cnc.end_seq().is_some(),
            consumers,
        }
    }
}

impl fmt::Debug for Metrics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("reliable", &self.fseqs.len())
            .field("lossy", &self.lossy.len())
            .finish()
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.producer;
        writeln!(
            f,
            "producer {}{}: seq {} published {} frags / {} bytes, backpressure {} ({} ticks), heartbeat {}",
            self.signal,
            if self.closed { " (closed)" } else { "" },
            self.tx_seq,
            p.published_frags,
            p.published_bytes,
            p.backpressure,
            p.backpressure_ticks,
            self.heartbeat
        )?;
        writeln!(
            f,
            "{:<8} {:>2} {:>12} {:>10} {:>14} {:>16} {:>10} {:>16} {:>14} {:>14} {:>12} {:>6}",
            "consumer",
            "#",
            "consumed",
            "filtered",
            "lost frags",
            "lost bytes",
            "poll ovr",
            "read ovr",
            "lag",
            "rx seq",
            "slow",
            "state"
        )?;
        for c in &self.consumers {
            let k = match c.kind {
                ConsumerKind::Reliable => "reliable",
                ConsumerKind::Lossy => "lossy",
            };
            let n = &c.counters;
            writeln!(
                f,
                "{:<8} {:>2} {:>12} {:>10} {:>14} {:>16} {:>10} {:>16} {:>14} {:>14} {:>12} {:>6}",
                k,
                c.index,
                n.consumed_frags,
                n.filtered_frags,
                n.lost_frags(),
                n.lost_bytes,
                n.poll_overruns,
                n.read_overruns,
                c.lag,
                c.rx_seq,
                c.slow,
                if c.detached { "gone" } else { "on" }
            )?;
        }
        Ok(())
    }
}
