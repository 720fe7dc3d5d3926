//! Command and control: the state of a link's producer, a heartbeat, the end-of-stream
//! mark, and the producer's published counters.
//!
//! States follow Tango: `Boot` (built, no producer running), `Run` (a producer is
//! attached), `Halt` (someone asked the producer to stop), `Fail` (the producer died, for
//! example by panicking). A producer acknowledges a halt request, or ends on its own, by
//! closing the stream: it publishes the seq after its last frag and returns to `Boot`.
//! Consumers drain every frag before that seq and then see end-of-stream.
//!
//! The producer beats its heartbeat at housekeeping; an observer that sees it unchanged
//! for longer than it is willing to wait takes the producer for dead.
//!
//! The producer's counters live on a line only the producer writes: its frag and byte
//! counts are stored after every publish, its backpressure counts at every credit refresh
//! (a relaxed store each, to a line that stays in the producer's cache). The producer
//! handles of a shared multi-producer ring cannot share such a line, so they add their
//! payload bytes to one of a few cells instead ([`TxCell`]), each on its own line.
//!
//! The same line holds the drops of an [`Ingest`](crate::ingest::Ingest) handle, by
//! reason ([`IngestCounters`]), written only when an item is dropped: stored by the single
//! producer of a link, added to (a relaxed read-modify-write) by the handles of a shared
//! ring.

use core::fmt;

use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::*, Ref, CNC_ACQUIRE, CNC_RELEASE};

/// The state of a link's producer, as its cnc reports it.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::Signal;
///
/// let (tx, rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// assert_eq!(rx.cnc().signal(), Signal::Run); // a producer is attached
/// rx.cnc().set_signal(Signal::User(7)); // an application-defined state
/// assert_eq!(rx.cnc().signal().to_string(), "user(7)");
/// drop(tx); // the producer ends normally
/// assert_eq!(rx.cnc().signal(), Signal::Boot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Signal {
    /// Built; no producer running (or the producer acknowledged a halt and stopped).
    Boot,
    /// A producer is running.
    Run,
    /// A halt was requested and not yet acknowledged.
    Halt,
    /// The producer died without halting cleanly (its stream is still closed and can be
    /// drained).
    Fail,
    /// An application-defined signal (raw value 4 or more).
    User(u64),
}

impl Signal {
    const fn raw(self) -> u64 {
        match self {
            Signal::Boot => 0,
            Signal::Run => 1,
            Signal::Halt => 2,
            Signal::Fail => 3,
            Signal::User(v) => v,
        }
    }

    const fn from_raw(v: u64) -> Signal {
        match v {
            0 => Signal::Boot,
            1 => Signal::Run,
            2 => Signal::Halt,
            3 => Signal::Fail,
            v => Signal::User(v),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Boot => f.write_str("boot"),
            Signal::Run => f.write_str("run"),
            Signal::Halt => f.write_str("halt"),
            Signal::Fail => f.write_str("fail"),
            Signal::User(v) => write!(f, "user({v})"),
        }
    }
}

#[repr(C)]
struct Control {
    signal: AtomicU64,
    /// The stream is closed: `end_seq` is final.
    closed: AtomicBool,
    /// The seq after the producer's last frag (valid once `closed`).
    end_seq: AtomicU64,
    /// The producer died (valid once `closed`, written before it).
    failed: AtomicBool,
    /// Consumers handed out and not yet dropped.
    attached: AtomicU64,
    /// Every consumer handed out is gone (set by the last one to go): the producer checks
    /// it on every publish, so that it reports the disconnection at once.
    gone: AtomicBool,
}

/// The single producer's counters: written only by it.
#[repr(C)]
struct TxDiag {
    published_frags: AtomicU64,
    published_bytes: AtomicU64,
    backpressure: AtomicU64,
    backpressure_ticks: AtomicU64,
    /// Ingest drops by reason ([`IngestCounters`]): written on the drop paths of an
    /// [`Ingest`](crate::ingest::Ingest) handle only.
    rejected: AtomicU64,
    timed_out: AtomicU64,
    too_large: AtomicU64,
    disconnected: AtomicU64,
}

/// Why an [`Ingest`](crate::ingest::Ingest) handle dropped an item: which of the
/// [`IngestCounters`] counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    Rejected,
    TimedOut,
    TooLarge,
    Disconnected,
}

/// The cells a shared ring's producer handles count their payload bytes in.
const TX_CELLS: usize = 4;

/// Payload bytes committed by the producer handles of a shared multi-producer ring (zero on
/// a single-producer link): each handle adds to the cell it was given when it was made, in
/// turn, so up to [`TX_CELLS`] handles never write the same line. The total is the sum.
#[repr(C)]
struct SharedTx {
    cells: [CachePadded<AtomicU64>; TX_CELLS],
    /// Cells handed out so far.
    next: AtomicU64,
}

/// A link's command-and-control block.
///
/// Reached through [`Producer::cnc`](crate::spsc::Producer::cnc) and
/// [`Consumer::cnc`](crate::spsc::Consumer::cnc); any thread may read it or request a
/// halt.
///
/// A controller asks the producer to halt; the producer sees the request in its loop and
/// acknowledges it by halting, which closes the stream:
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, Signal, TryRecvError};
///
/// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(1), b"last")?;
/// let beat = rx.cnc().heartbeat();
/// tx.housekeeping(); // the producer's periodic work beats the heartbeat
/// assert_ne!(rx.cnc().heartbeat(), beat);
///
/// rx.cnc().request_halt(); // from any thread that can reach the link
/// assert_eq!(rx.cnc().signal(), Signal::Halt);
/// assert!(tx.halt_requested());
/// tx.halt(); // acknowledged: back to Boot, the stream ends after seq 0
/// assert_eq!((rx.cnc().signal(), rx.cnc().end_seq()), (Signal::Boot, Some(1)));
/// assert_eq!(rx.try_recv()?.payload(), b"last"); // drained first
/// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
pub struct Cnc {
    control: CachePadded<Control>,
    heartbeat: CachePadded<AtomicU64>,
    diag: CachePadded<TxDiag>,
    shared: SharedTx,
}

/// The producer's counters, as it published them: frags and bytes after every publish,
/// backpressure at every credit refresh.
///
/// The producer has its own copy ([`Producer::counters`](crate::spsc::Producer::counters));
/// any thread reads the published one through the cnc
/// ([`Cnc::producer_counters`]) or a metrics snapshot
/// ([`Snapshot::producer`](crate::metrics::Snapshot::producer)).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, PublishError};
///
/// let (mut tx, _rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(0), b"abc")?;
/// tx.try_publish(Header::new(1), b"de")?;
/// assert_eq!(tx.try_publish(Header::new(2), b"f"), Err(PublishError::NoCredits));
/// let counters = tx.counters();
/// assert_eq!(counters.published_frags, 2);
/// assert_eq!(counters.published_bytes, 5);
/// assert_eq!(counters.backpressure, 1); // ran out of credits once
/// assert_eq!(tx.cnc().producer_counters(), counters);
/// assert_eq!(tx.metrics().snapshot().producer, counters);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProducerCounters {
    /// Frags published.
    pub published_frags: u64,
    /// Payload bytes published.
    pub published_bytes: u64,
    /// Times the producer ran out of credits (entered backpressure).
    pub backpressure: u64,
    /// Clock ticks spent in backpressure, counted when backpressure ends (0 unless the
    /// producer was given a clock; see
    /// [`Producer::set_clock`](crate::spsc::Producer::set_clock)).
    pub backpressure_ticks: u64,
}

/// Items an [`Ingest`](crate::ingest::Ingest) handle dropped, by reason: each `send` that
/// returned an error counts once, in the counter of its
/// [`IngestError`](crate::ingest::IngestError). Nothing was published for any of them.
///
/// Stored by the handle in the link's cnc when it drops an item (never on a successful
/// send), so any thread reads them through [`Cnc::ingest_counters`] or a metrics
/// snapshot ([`Snapshot::ingest`](crate::metrics::Snapshot::ingest)). Frags a lossy
/// consumer lost because an [`OverwriteOldest`](crate::ingest::DropPolicy::OverwriteOldest)
/// producer lapped it are not here: that consumer counts them
/// ([`ConsumerCounters::lost_frags`](crate::ConsumerCounters::lost_frags)).
///
/// ```
/// use milonga::ingest::{DropPolicy, Ingest, IngestCounters};
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (tx, _rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest)?;
/// for i in 0..3u64 {
///     let _ = ingest.send(Header::new(i), b"abc"); // the third finds no credit
/// }
/// let _ = ingest.send(Header::new(3), &[0; 9]); // over the mtu
/// let drops = ingest.counters();
/// assert_eq!(drops, IngestCounters { rejected: 1, too_large: 1, ..Default::default() });
/// assert_eq!(drops.total(), 2);
/// assert_eq!(ingest.producer().metrics().snapshot().ingest, drops);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IngestCounters {
    /// Refused for lack of a credit (policy
    /// [`RejectNewest`](crate::ingest::DropPolicy::RejectNewest)).
    pub rejected: u64,
    /// No credit came back before the timeout (policy `Block`).
    pub timed_out: u64,
    /// The payload was larger than the link's mtu (any policy).
    pub too_large: u64,
    /// Every consumer of the link was gone (any policy).
    pub disconnected: u64,
}

impl IngestCounters {
    /// Every item dropped, whatever the reason.
    pub fn total(&self) -> u64 {
        self.rejected
            .wrapping_add(self.timed_out)
            .wrapping_add(self.too_large)
            .wrapping_add(self.disconnected)
    }

    /// Nothing was dropped.
    pub fn is_zero(&self) -> bool {
        *self == IngestCounters::default()
    }
}

/// The cell of a shared ring's byte count that one producer handle adds to (none: the
/// ring's owner does not want its bytes counted).
#[derive(Clone, Copy)]
pub(crate) struct TxCell<'a>(Option<Ref<'a, AtomicU64>>);

impl TxCell<'_> {
    /// A cell that counts nothing.
    pub(crate) fn none() -> Self {
        TxCell(None)
    }

    /// Whether this handle counts its bytes.
    pub(crate) fn counts(self) -> bool {
        self.0.is_some()
    }

    /// Counts `bytes` committed: one relaxed read-modify-write on a line that only the
    /// handles sharing this cell write.
    #[inline(always)]
    pub(crate) fn add(self, bytes: u64) {
        // Observer-only counts: no protocol reads them, so loom models skip them.
        if let (false, Some(cell)) = (cfg!(milonga_loom), self.0) {
            cell.fetch_add(bytes, Relaxed);
        }
    }
}

macro_rules! cnc_new {
    () => {
        Cnc {
            control: CachePadded::new(Control {
                signal: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                end_seq: AtomicU64::new(0),
                failed: AtomicBool::new(false),
                attached: AtomicU64::new(0),
                gone: AtomicBool::new(false),
            }),
            heartbeat: CachePadded::new(AtomicU64::new(0)),
            diag: CachePadded::new(TxDiag {
                published_frags: AtomicU64::new(0),
                published_bytes: AtomicU64::new(0),
                backpressure: AtomicU64::new(0),
                backpressure_ticks: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                timed_out: AtomicU64::new(0),
                too_large: AtomicU64::new(0),
                disconnected: AtomicU64::new(0),
            }),
            shared: SharedTx {
                cells: [
                    CachePadded::new(AtomicU64::new(0)),
                    CachePadded::new(AtomicU64::new(0)),
                    CachePadded::new(AtomicU64::new(0)),
                    CachePadded::new(AtomicU64::new(0)),
                ],
                next: AtomicU64::new(0),
            },
        }
    };
}

impl Cnc {
    /// A cnc in `Boot`, open, heartbeat 0.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn new() -> Cnc {
        cnc_new!()
    }

    /// See the non-loom variant.
    #[cfg(milonga_loom)]
    pub(crate) fn new() -> Cnc {
        cnc_new!()
    }

    /// The producer's state.
    pub fn signal(&self) -> Signal {
        Signal::from_raw(self.control.signal.load(Acquire))
    }

    /// Sets the state. Used by the producer (`Run`, `Boot`, `Fail`) and by a controller
    /// (`Halt`, user signals); it does not close the stream.
    pub fn set_signal(&self, signal: Signal) {
        self.control.signal.store(signal.raw(), Release);
    }

    /// Asks the producer to halt. The producer sees it through
    /// [`Producer::halt_requested`](crate::spsc::Producer::halt_requested) and
    /// acknowledges it by halting.
    pub fn request_halt(&self) {
        self.set_signal(Signal::Halt);
    }

    /// The producer's heartbeat: a value that changes at every producer housekeeping (a
    /// count, or a timestamp if the producer was given one).
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.load(Relaxed)
    }

    /// Producer: beats the heartbeat.
    pub(crate) fn beat(&self, value: u64) {
        self.heartbeat.store(value, Relaxed);
    }

    /// The stream is closed and every frag before the returned seq was published; `None`
    /// while the producer may still publish.
    #[inline]
    pub fn end_seq(&self) -> Option<u64> {
        if self.control.closed.load(CNC_ACQUIRE) {
            Some(self.control.end_seq.load(Relaxed))
        } else {
            None
        }
    }

    /// Producer: closes the stream after `end_seq - 1` and leaves the state at `signal`.
    /// Every frag before `end_seq` was published before this call (release ordering).
    pub(crate) fn close(&self, end_seq: u64, signal: Signal) {
        self.control.end_seq.store(end_seq, Relaxed);
        self.control.failed.store(signal == Signal::Fail, Relaxed);
        self.control.closed.store(true, CNC_RELEASE);
        self.set_signal(signal);
    }

    /// A producer takes over a stream another producer closed (or died in): the stream is
    /// open again, its signal `Run`. Consumers that reached the old end read on from there.
    #[cfg(all(feature = "shm", unix, not(milonga_loom)))]
    pub(crate) fn reopen(&self) {
        self.control.failed.store(false, Relaxed);
        self.control.closed.store(false, CNC_RELEASE);
        self.set_signal(Signal::Run);
    }

    /// Consumer: the end of the stream for a consumer whose next seq is `rx_seq`:
    /// `Some(false)` if the producer closed it cleanly and every frag before `rx_seq` was
    /// read, `Some(true)` if it died, `None` while there may be more to read.
    #[inline]
    pub(crate) fn ended(&self, rx_seq: u64) -> Option<bool> {
        match self.end_seq() {
            Some(end) if crate::seq::ge(rx_seq, end) => Some(self.control.failed.load(Relaxed)),
            _ => None,
        }
    }

    /// A consumer was handed out.
    pub(crate) fn attach(&self) {
        self.control.attached.fetch_add(1, Relaxed);
    }

    /// A consumer was dropped; the last one marks the link disconnected.
    pub(crate) fn detach(&self) {
        if self.control.attached.fetch_sub(1, Relaxed) == 1 {
            self.control.gone.store(true, Relaxed);
        }
    }

    /// Every consumer handed out is gone. One relaxed load of a line nobody writes while
    /// the link runs: the producer may ask it on every publish. (It is a fast answer, not
    /// an ordering: credits are still computed from the consumers' fseqs.)
    #[inline(always)]
    pub(crate) fn consumers_gone(&self) -> bool {
        self.control.gone.load(Relaxed)
    }

    /// Producer: publishes its frag and byte counts after a publish. Two relaxed stores to
    /// a line only the producer writes (and only metrics observers read), so it stays in
    /// the producer's cache between publishes.
    #[inline(always)]
    pub(crate) fn publish_tx(&self, frags: u64, bytes: u64) {
        // Observer-only until the stream closes (`close` publishes them again), so loom
        // models skip them.
        if !cfg!(milonga_loom) {
            self.diag.published_frags.store(frags, Relaxed);
            self.diag.published_bytes.store(bytes, Relaxed);
        }
    }

    /// A shared ring's new producer handle: the cell it counts its payload bytes in (the
    /// cells in turn).
    pub(crate) fn tx_cell(&self) -> TxCell<'_> {
        // As in `TxCell::add`: loom models skip the turn (one cell does).
        let i = if cfg!(milonga_loom) {
            0
        } else {
            self.shared.next.fetch_add(1, Relaxed) as usize % TX_CELLS
        };
        TxCell(Some(Ref::new(&self.shared.cells[i])))
    }

    /// Producer: publishes all its counters (at housekeeping, credit refreshes and close).
    pub(crate) fn publish_counters(&self, c: &ProducerCounters) {
        self.diag.published_frags.store(c.published_frags, Relaxed);
        self.diag.published_bytes.store(c.published_bytes, Relaxed);
        self.diag.backpressure.store(c.backpressure, Relaxed);
        self.diag
            .backpressure_ticks
            .store(c.backpressure_ticks, Relaxed);
    }

    /// The producer's counters as last published: frags and bytes as of its last publish,
    /// backpressure as of its last credit refresh. Each is read on its own (relaxed), so
    /// while the producer runs they may be a publish or so apart; once it stops they agree.
    ///
    /// On a shared multi-producer ring ([`mpsc`](crate::mpsc)) the bytes are those every
    /// handle committed so far, and frags and backpressure are published when the stream
    /// closes (the ring's metrics read them live from the claim cursor).
    pub(crate) fn published_frags(&self) -> u64 {
        self.diag.published_frags.load(Relaxed)
    }

    /// The producer's counters as last published.
    pub fn producer_counters(&self) -> ProducerCounters {
        let shared = self
            .shared
            .cells
            .iter()
            .fold(0u64, |sum, c| sum.wrapping_add(c.load(Relaxed)));
        ProducerCounters {
            published_frags: self.diag.published_frags.load(Relaxed),
            published_bytes: self.diag.published_bytes.load(Relaxed).wrapping_add(shared),
            backpressure: self.diag.backpressure.load(Relaxed),
            backpressure_ticks: self.diag.backpressure_ticks.load(Relaxed),
        }
    }
}

impl Cnc {
    fn drop_counter(&self, reason: DropReason) -> &AtomicU64 {
        let d = &self.diag;
        match reason {
            DropReason::Rejected => &d.rejected,
            DropReason::TimedOut => &d.timed_out,
            DropReason::TooLarge => &d.too_large,
            DropReason::Disconnected => &d.disconnected,
        }
    }

    /// The single producer of a link: counts one drop. Its only writer, so a relaxed load
    /// of its own last store and a relaxed store (no read-modify-write), on the line the
    /// producer already writes at every publish. Called on drop paths only.
    pub(crate) fn count_drop(&self, reason: DropReason) {
        // Observer-only counts: no protocol reads them, so loom models skip them.
        if !cfg!(milonga_loom) {
            let c = self.drop_counter(reason);
            c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }

    /// A producer handle of a shared ring: counts one drop. The handles share the
    /// counter, so a relaxed read-modify-write, on drop paths only.
    pub(crate) fn count_shared_drop(&self, reason: DropReason) {
        // As in `count_drop`.
        if !cfg!(milonga_loom) {
            self.drop_counter(reason).fetch_add(1, Relaxed);
        }
    }

    /// The drops of the link's [`Ingest`](crate::ingest::Ingest) handles, by reason, as
    /// last stored (each at the drop it counts).
    pub fn ingest_counters(&self) -> IngestCounters {
        let d = &self.diag;
        IngestCounters {
            rejected: d.rejected.load(Relaxed),
            timed_out: d.timed_out.load(Relaxed),
            too_large: d.too_large.load(Relaxed),
            disconnected: d.disconnected.load(Relaxed),
        }
    }
}

impl fmt::Debug for Cnc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cnc")
            .field("signal", &self.signal())
            .field("heartbeat", &self.heartbeat())
            .field("end_seq", &self.end_seq())
            .finish()
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_close_is_final() {
        let cnc = Cnc::new();
        assert_eq!(cnc.signal(), Signal::Boot);
        for s in [Signal::Run, Signal::Halt, Signal::Fail, Signal::User(9)] {
            cnc.set_signal(s);
            assert_eq!(cnc.signal(), s);
        }
        assert_eq!(cnc.end_seq(), None);
        cnc.close(77, Signal::Boot);
        assert_eq!(cnc.end_seq(), Some(77));
        assert_eq!(cnc.signal(), Signal::Boot);
        cnc.beat(5);
        assert_eq!(cnc.heartbeat(), 5);
    }
}
