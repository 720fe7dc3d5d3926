//! Metrics: snapshots of a link's producer and consumer counters, taken from any thread
//! while the link runs.
//!
//! ```
//! use milonga::spsc::Link;
//! use milonga::Header;
//!
//! let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
//! let metrics = tx.metrics(); // from any handle of the link
//! for i in 0..3u64 {
//!     tx.try_publish(Header::new(i), b"abcd")?;
//! }
//! drop(rx.try_recv()?);
//! rx.housekeeping(); // publish the consumer's progress now
//! let snap = std::thread::spawn(move || metrics.snapshot()).join().unwrap();
//! assert_eq!((snap.producer.published_frags, snap.producer.published_bytes), (3, 12));
//! assert_eq!((snap.consumers[0].counters.consumed_frags, snap.consumers[0].lag), (1, 2));
//! assert!(snap.to_string().starts_with("producer: running"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every counter has one writer (the producer or one consumer), which keeps it in a local
//! on the hot path and publishes it with relaxed stores to a line only it writes. How fresh
//! each part of a [`Snapshot`] is:
//!
//! - the producer's frag and byte counts, and so `tx_seq` and every consumer's `lag`: as
//!   of its last publish (it stores them after every frag, two stores to a line that stays
//!   in its cache);
//! - its backpressure counts: as of its last credit refresh (it refreshes whenever it runs
//!   out, and at housekeeping); its heartbeat: as of its last housekeeping or refresh;
//! - the drops of an [`Ingest`](crate::ingest::Ingest) handle, by reason
//!   ([`Snapshot::ingest`]): as of the last drop (each is stored when it happens);
//! - each consumer's progress and counters: as of its last release of credits (every
//!   `release_every` frags, see [`FlowConfig`](crate::FlowConfig)) or of the last time it
//!   found nothing to read, so an idle consumer is always exact.
//!
//! Each counter is read on its own, so while the link runs two figures of one snapshot may
//! be a publish or a release apart; at a quiescent point (producer stopped, consumers
//! drained) the snapshot is exact. A shared multi-producer ring
//! ([`mpsc`](crate::mpsc)) counts its frags by the claim cursor and its bytes in a few
//! cells the producer handles add to at each commit, so it is as fresh.
//!
//! # Printing
//!
//! A snapshot's `Display` fits an 80-column terminal and names the unit of every figure;
//! counts of a hundred million or more are shortened to three digits and an SI prefix
//! (`1.23 G` frags), seqs are printed whole:
//!
//! ```text
//! producer: running, heartbeat 2
//!   published 10 frags, 80 bytes, next seq 10
//!   backpressure: 0 times, 0 ticks
//! consumer         consumed consumed filtered     lost     lost      lag     slow
//!                     frags    bytes    frags    frags    bytes    frags    times
//! reliable  0 live        8       64        0        0        0        2        0
//! lossy     0 live        1        8        0        6       48        3        -
//! ```
//!
//! A link fed through an [`Ingest`](crate::ingest::Ingest) handle that dropped items has
//! two more producer lines, after the backpressure line (only when a drop count is not
//! zero):
//!
//! ```text
//!   ingest drops (frags): 3 rejected, 0 timed out
//!     1 too large, 0 disconnected
//! ```
//!
//! # Machine-readable form
//!
//! [`Snapshot`], [`ConsumerSnapshot`], [`ProducerCounters`], [`ConsumerCounters`] and
//! [`IngestCounters`] are plain structs with public fields holding the exact values; with the `serde` feature they
//! (and the shared ring's [`RingSnapshot`](crate::mpsc::RingSnapshot)) implement
//! `serde::Serialize`.

use core::fmt::{self, Write as _};

use crate::cnc::{Cnc, IngestCounters, ProducerCounters, Signal};
use crate::fseq::{ConsumerCounters, Fseq};
use crate::seq;
use crate::sync::{AtomicU64, Keep, Ordering::Relaxed, Ref};

/// The most consumers a snapshot holds: [`MAX_CONSUMERS`](crate::spsc::MAX_CONSUMERS).
const MAX: usize = 32;

/// A handle for taking [`Snapshot`]s of one link: `Clone + Send + Sync`, usable from any
/// thread while the link runs. Obtained from any handle of the link
/// ([`Producer::metrics`](crate::spsc::Producer::metrics), ...).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (mut tx, _rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// let metrics = tx.metrics();
/// let watcher = metrics.clone(); // for a monitoring thread
/// let producer = std::thread::spawn(move || {
///     for i in 0..4u64 {
///         tx.try_publish(Header::new(i), b"x").unwrap();
///     }
/// }); // dropping the producer closes the stream
/// producer.join().unwrap();
/// let snap = std::thread::spawn(move || watcher.snapshot()).join().unwrap();
/// assert_eq!((snap.producer.published_frags, snap.closed), (4, true));
/// assert_eq!(metrics.snapshot(), snap); // nothing moves any more
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use milonga::metrics::ConsumerKind;
/// use milonga::spsc::Link;
///
/// let link = Link::builder().depth(4).mtu(8).reliable(1).lossy(2).heap()?;
/// let snap = link.metrics.snapshot();
/// let kinds: Vec<ConsumerKind> = snap.consumers.iter().map(|c| c.kind).collect();
/// assert_eq!(kinds, [ConsumerKind::Reliable, ConsumerKind::Lossy, ConsumerKind::Lossy]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ConsumerKind {
    /// Gates the producer through credits; never loses a frag.
    Reliable,
    /// Never slows the producer; counts what it loses.
    Lossy,
}

/// What the producer side of a link is doing: its [`Signal`] read together with whether
/// the stream is closed ([`Snapshot::state`]).
///
/// ```
/// use milonga::metrics::ProducerState;
/// use milonga::spsc::Link;
/// use milonga::Signal;
///
/// assert_eq!(ProducerState::new(Signal::Run, false), ProducerState::Running);
/// assert_eq!(ProducerState::new(Signal::Fail, true), ProducerState::Failed);
///
/// let (tx, rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let metrics = rx.metrics();
/// rx.cnc().request_halt();
/// assert_eq!(metrics.snapshot().state(), ProducerState::HaltRequested);
/// tx.halt();
/// let state = metrics.snapshot().state();
/// assert_eq!(state, ProducerState::Closed);
/// assert_eq!(state.to_string(), "closed (halted cleanly)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ProducerState {
    /// No producer has started (the cnc is in `Boot` and the stream open).
    NotStarted,
    /// A producer is running (on a shared ring: at least one handle is live).
    Running,
    /// A halt was requested and the producer has not acknowledged it yet.
    HaltRequested,
    /// The stream is closed after a normal end: the producer halted or was dropped (on a
    /// shared ring: every handle is gone). Consumers drain it and then see the end.
    Closed,
    /// The producer failed: it was dropped by a panic (on a shared ring: some handle was),
    /// its process died (a link in shared memory), or someone set [`Signal::Fail`]. What it
    /// published can still be drained.
    Failed,
    /// An application-defined signal, with the stream open.
    User(u64),
}

impl ProducerState {
    /// The state told by a cnc signal and whether the stream is closed.
    pub fn new(signal: Signal, closed: bool) -> ProducerState {
        match (signal, closed) {
            (Signal::Fail, _) => ProducerState::Failed,
            (_, true) => ProducerState::Closed,
            (Signal::Boot, false) => ProducerState::NotStarted,
            (Signal::Run, false) => ProducerState::Running,
            (Signal::Halt, false) => ProducerState::HaltRequested,
            (Signal::User(v), false) => ProducerState::User(v),
        }
    }
}

impl fmt::Display for ProducerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProducerState::NotStarted => f.write_str("not started"),
            ProducerState::Running => f.write_str("running"),
            ProducerState::HaltRequested => f.write_str("halt requested"),
            ProducerState::Closed => f.write_str("closed (halted cleanly)"),
            ProducerState::Failed => f.write_str("failed (producer died)"),
            ProducerState::User(v) => write!(f, "user signal {v}"),
        }
    }
}

/// One consumer's part of a [`Snapshot`].
///
/// ```
/// use milonga::metrics::ConsumerKind;
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let Link { mut producer, mut reliable, metrics, .. } =
///     Link::builder().depth(4).mtu(8).reliable(2).heap()?;
/// producer.try_publish(Header::new(0), b"a")?;
/// producer.try_publish(Header::new(1), b"b")?;
/// drop(reliable.pop()); // consumer 1 goes: it no longer gates the producer
/// let snap = metrics.snapshot();
/// let (first, second) = (&snap.consumers[0], &snap.consumers[1]);
/// assert_eq!((first.kind, first.index), (ConsumerKind::Reliable, 0));
/// assert_eq!((first.rx_seq, first.lag), (0, 2)); // it has read nothing yet
/// assert_eq!((second.index, second.detached), (1, true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

/// What a link has done, as last published by each of its ends (see the
/// [module docs](self) for how fresh each part is). Printed with `Display`; the fields
/// hold the exact values.
///
/// ```
/// use milonga::metrics::{ConsumerKind, ProducerState};
/// use milonga::spsc::Link;
/// use milonga::{Header, Signal};
///
/// let link = Link::builder().depth(4).mtu(8).reliable(1).lossy(1).heap()?;
/// let Link { producer: mut tx, metrics, .. } = link;
/// tx.try_publish(Header::new(0), b"12345678")?;
/// let snap = metrics.snapshot();
/// assert_eq!((snap.signal, snap.tx_seq, snap.closed), (Signal::Run, 1, false));
/// assert_eq!(snap.state(), ProducerState::Running);
/// assert_eq!(snap.producer.published_bytes, 8);
/// assert_eq!(snap.consumers.len(), 2); // reliable ones first, then lossy ones
/// assert_eq!(snap.consumers[1].kind, ConsumerKind::Lossy);
/// println!("{snap}"); // an 80-column table
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// The producer's state as its cnc reports it (see [`state`](Self::state) for it read
    /// together with `closed`).
    pub signal: Signal,
    /// The producer's heartbeat: a value that changes at each of its housekeepings (a
    /// count of them; on a shared ring, the claim cursor at the last credit refresh).
    pub heartbeat: u64,
    /// The producer's counters, as of its last publish. On a shared multi-producer ring
    /// ([`mpsc`](crate::mpsc)), `published_frags` counts the frags claimed so far (each is
    /// published, committed or as an ERR frag), `published_bytes` the bytes committed so
    /// far, and the backpressure count is the ring's refused claims.
    pub producer: ProducerCounters,
    /// The seq of the next frag the producer will publish (on a shared ring, the claim
    /// cursor).
    pub tx_seq: u64,
    /// The stream is closed.
    pub closed: bool,
    /// Items the link's [`Ingest`](crate::ingest::Ingest) handle (on a shared ring: its
    /// handles) dropped, by reason; all zero if it has none. Frags lost by a lossy
    /// consumer are in that consumer's counters instead.
    pub ingest: IngestCounters,
    /// Every consumer: reliable ones first, then lossy ones.
    pub consumers: heapless::Vec<ConsumerSnapshot, MAX>,
}

impl Snapshot {
    /// What the producer side is doing: its signal read together with `closed`.
    ///
    /// ```
    /// # use milonga::{spsc::Link, metrics::ProducerState};
    /// let (tx, _rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    /// let metrics = tx.metrics();
    /// assert_eq!(metrics.snapshot().state(), ProducerState::Running);
    /// tx.halt();
    /// assert_eq!(metrics.snapshot().state(), ProducerState::Closed);
    /// ```
    pub fn state(&self) -> ProducerState {
        ProducerState::new(self.signal, self.closed)
    }
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
            ingest: self.cnc.ingest_counters(),
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

/// A count printed in at most 8 columns: whole below 10^8, else three digits and an SI
/// prefix, rounded down (`123 M`, `1.23 G`, `18.4 E`). Honours width and alignment.
#[derive(Clone, Copy)]
pub(crate) struct Count(pub(crate) u64);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let mut buf = [0u8; 20];
        let mut w = Cursor(&mut buf, 0);
        if v < 100_000_000 {
            write!(w, "{v}")?;
        } else {
            let (mut unit, mut prefix) = (1_000_000u64, 'M');
            for p in ['G', 'T', 'P', 'E'] {
                if v / unit < 1000 {
                    break;
                }
                unit *= 1000;
                prefix = p;
            }
            // `int` is 1..1000: two, one or no decimals keep three digits.
            let int = v / unit;
            if int < 10 {
                write!(w, "{int}.{:02} {prefix}", v / (unit / 100) % 100)?;
            } else if int < 100 {
                write!(w, "{int}.{} {prefix}", v / (unit / 10) % 10)?;
            } else {
                write!(w, "{int} {prefix}")?;
            }
        }
        let len = w.1;
        // Only ASCII was written, and it fits: at most 20 digits.
        f.pad(core::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

/// A `fmt::Write` into a fixed buffer; fails rather than overflow it.
struct Cursor<'b>(&'b mut [u8], usize);

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.1 + s.len();
        self.0
            .get_mut(self.1..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}

/// The consumer table: a 16-column name and seven 9-column figures (80 columns).
const HEADS: [(&str, &str); 7] = [
    ("consumed", "frags"),
    ("consumed", "bytes"),
    ("filtered", "frags"),
    ("lost", "frags"),
    ("lost", "bytes"),
    ("lag", "frags"),
    ("slow", "times"),
];

impl fmt::Display for Snapshot {
    /// At most 80 columns per line; every figure has its unit (in the column heads for the
    /// consumer table). Counts of 10^8 or more are shortened (see the
    /// [module docs](self)); the fields hold the exact values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.producer;
        writeln!(
            f,
            "producer: {}, heartbeat {}",
            self.state(),
            self.heartbeat
        )?;
        writeln!(
            f,
            "  published {} frags, {} bytes, next seq {}",
            Count(p.published_frags),
            Count(p.published_bytes),
            self.tx_seq
        )?;
        writeln!(
            f,
            "  backpressure: {} times, {} ticks",
            Count(p.backpressure),
            Count(p.backpressure_ticks)
        )?;
        let d = &self.ingest;
        if !d.is_zero() {
            writeln!(
                f,
                "  ingest drops (frags): {} rejected, {} timed out",
                Count(d.rejected),
                Count(d.timed_out)
            )?;
            writeln!(
                f,
                "    {} too large, {} disconnected",
                Count(d.too_large),
                Count(d.disconnected)
            )?;
        }
        if self.consumers.is_empty() {
            return Ok(());
        }
        write!(f, "{:<16}", "consumer")?;
        for (head, _) in HEADS {
            write!(f, "{head:>9}")?;
        }
        writeln!(f)?;
        write!(f, "{:<16}", "")?;
        for (_, unit) in HEADS {
            write!(f, "{unit:>9}")?;
        }
        writeln!(f)?;
        for c in &self.consumers {
            let kind = match c.kind {
                ConsumerKind::Reliable => "reliable",
                ConsumerKind::Lossy => "lossy",
            };
            let state = if c.detached { "gone" } else { "live" };
            let n = &c.counters;
            write!(f, "{kind:<8} {:>2} {state:<4}", c.index)?;
            for v in [
                n.consumed_frags,
                n.consumed_bytes,
                n.filtered_frags,
                n.lost_frags(),
                n.lost_bytes,
                c.lag,
            ] {
                write!(f, "{:>9}", Count(v))?;
            }
            match c.kind {
                ConsumerKind::Reliable => writeln!(f, "{:>9}", Count(c.slow))?,
                ConsumerKind::Lossy => writeln!(f, "{:>9}", "-")?,
            }
        }
        Ok(())
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn counts_fit_eight_columns_and_round_down() {
        for (v, s) in [
            (0, "0"),
            (99_999_999, "99999999"),
            (100_000_000, "100 M"),
            (999_999_999, "999 M"),
            (1_000_000_000, "1.00 G"),
            (1_239_999_999, "1.23 G"),
            (12_399_999_999, "12.3 G"),
            (u64::MAX, "18.4 E"),
        ] {
            assert_eq!(Count(v).to_string(), s);
        }
        assert_eq!(std::format!("{:>9}", Count(5)), "        5");
        assert_eq!(std::format!("{:>9}", Count(u64::MAX)), "   18.4 E");
    }

    #[test]
    fn states_read_signal_and_close_together() {
        use ProducerState::*;
        assert_eq!(ProducerState::new(Signal::Boot, false), NotStarted);
        assert_eq!(ProducerState::new(Signal::Run, false), Running);
        assert_eq!(ProducerState::new(Signal::Halt, false), HaltRequested);
        assert_eq!(ProducerState::new(Signal::Boot, true), Closed);
        assert_eq!(ProducerState::new(Signal::Halt, true), Closed);
        assert_eq!(ProducerState::new(Signal::Fail, true), Failed);
        assert_eq!(ProducerState::new(Signal::User(7), false), User(7));
    }
}
