//! Ingest with an explicit drop policy: a producer-side handle for a source that must
//! never be blocked for long (a network card, a sensor interrupt, a market-data feed),
//! which says up front what happens to an item the link has no room for, and counts every
//! item it drops, by reason, where any thread can read them.
//!
//! An [`Ingest`] wraps a link's producer and a [`DropPolicy`]; [`Ingest::send`] publishes
//! one frag or drops the item and says why ([`IngestError`]):
//!
//! | policy | when the link is full | fits |
//! | --- | --- | --- |
//! | [`RejectNewest`](DropPolicy::RejectNewest) | the new item is refused at once: `Rejected` | any link |
//! | [`OverwriteOldest`](DropPolicy::OverwriteOldest) | never full: the oldest frag is overwritten, and each lossy consumer counts what it lost | a link with no reliable consumer |
//! | `Block { timeout }` (`std`) | waits up to `timeout` for a credit, then `TimedOut` | any link |
//!
//! Under every policy a payload over the link's mtu is dropped (`TooLarge`), and so is
//! every item once all the link's consumers are gone (`Disconnected`). Each dropped item
//! counts once, in the field of the link's [`IngestCounters`] that names its error, and
//! nothing is published for it.
//!
//! # Where the counts are
//!
//! The handle stores its drop counts in the link's [`Cnc`](crate::Cnc), on the line the
//! producer already writes at every publish, and only when it drops an item: a send that
//! publishes costs what [`try_publish`](crate::spsc::Producer::try_publish) costs (for
//! `Block`, what `try_publish` costs while there are credits: the deadline is computed only
//! when it has to wait). Any thread reads them in a metrics snapshot
//! ([`Snapshot::ingest`](crate::metrics::Snapshot::ingest); printed on two lines when not
//! zero; serialized as `ingest` with the `serde` feature) or through
//! [`Cnc::ingest_counters`](crate::Cnc::ingest_counters).
//!
//! If every publish of the link goes through one `Ingest`, every `send` is accounted for:
//! `sends = producer.published_frags + ingest.total()`.
//!
//! With `OverwriteOldest` nothing is dropped at the producer: the frags are lost at the
//! lossy consumers that were lapped, and each of them counts its own losses exactly
//! ([`Overrun`](crate::Overrun), [`ConsumerCounters::lost_frags`](crate::ConsumerCounters::lost_frags)).
//! In a snapshot, for each lossy consumer `c` (exact once the producer has stopped and `c`
//! has published its counters, which it does whenever it finds nothing new to read):
//! `producer.published_frags = c.counters.consumed_frags + c.counters.filtered_frags +
//! c.counters.lost_frags() + c.lag`.
//!
//! # Examples
//!
//! `RejectNewest`: the link is filled until its credits run out, so the next item is
//! refused (and counted) for certain:
//!
//! ```
//! use milonga::ingest::{DropPolicy, Ingest, IngestError};
//! use milonga::spsc::Link;
//! use milonga::Header;
//!
//! let (tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
//! let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest)?;
//! for i in 0..4u64 {
//!     assert_eq!(ingest.send(Header::new(i), b"reading")?, i); // 4 credits: a full window
//! }
//! assert_eq!(ingest.send(Header::new(4), b"reading"), Err(IngestError::Rejected));
//! assert_eq!(ingest.counters().rejected, 1);
//! while rx.try_recv().is_ok() {} // the consumer catches up: credits go back
//! assert_eq!(ingest.send(Header::new(5), b"reading")?, 4);
//! let snap = ingest.producer().metrics().snapshot(); // from any thread
//! assert_eq!((snap.producer.published_frags, snap.ingest.rejected), (5, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `OverwriteOldest` on a link with only a lossy consumer: the producer never waits; the
//! consumer counts exactly what it lost:
//!
//! ```
//! use milonga::ingest::{DropPolicy, Ingest};
//! use milonga::spsc::Link;
//! use milonga::{Header, LossyTryRecvError};
//!
//! let mut link = Link::builder().depth(8).mtu(8).reliable(0).lossy(1).heap()?;
//! let mut rx = link.lossy.pop().unwrap();
//! let mut ingest = Ingest::new(link.producer, DropPolicy::OverwriteOldest)?;
//! for i in 0..24u64 {
//!     ingest.send(Header::new(i), &i.to_le_bytes())?; // three times the ring: never fails
//! }
//! let (mut buf, mut received) = ([0u8; 8], 0);
//! loop {
//!     match rx.try_recv(&mut buf) {
//!         Ok(_) => received += 1,
//!         Err(LossyTryRecvError::Overrun(_)) => {} // counted by the consumer
//!         Err(LossyTryRecvError::Empty) => break,
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! let snap = link.metrics.snapshot();
//! let c = &snap.consumers[0];
//! assert_eq!((received, c.counters.lost_frags()), (8, 16));
//! assert_eq!(snap.producer.published_frags, received + c.counters.lost_frags());
//! assert!(snap.ingest.is_zero()); // the producer itself dropped nothing
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `Block`: waits for a credit up to the timeout, then drops the item:
//!
//! ```
//! use milonga::ingest::{DropPolicy, Ingest, IngestError};
//! use milonga::spsc::Link;
//! use milonga::Header;
//! use std::time::Duration;
//!
//! let (tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
//! let timeout = Duration::from_millis(1);
//! let mut ingest = Ingest::new(tx, DropPolicy::Block { timeout })?;
//! ingest.send(Header::new(0), b"a")?;
//! ingest.send(Header::new(1), b"b")?; // the window of 2 is full, and nobody reads
//! assert_eq!(ingest.send(Header::new(2), b"c"), Err(IngestError::TimedOut));
//! assert_eq!(ingest.counters().timed_out, 1);
//! let reader = std::thread::spawn(move || {
//!     let mut got = 0;
//!     while got < 3 {
//!         if rx.try_recv().is_ok() {
//!             got += 1;
//!         }
//!     }
//! });
//! let mut ingest = Ingest::new(ingest.into_inner(), DropPolicy::Block {
//!     timeout: Duration::from_secs(60), // waits for the reader
//! })?;
//! assert_eq!(ingest.send(Header::new(3), b"d")?, 2);
//! reader.join().unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use crate::error::PublishError;
use crate::frag::Header;

mod error;
mod producer;

pub use crate::cnc::IngestCounters;
pub use error::{IngestError, PolicyError, PolicyMismatch};
pub use producer::IngestProducer;

/// What an [`Ingest`] does with an item the link has no room for.
///
/// `Block` exists only with the `std` feature (a real timeout needs a clock), so the enum
/// is `non_exhaustive`: a `match` on it needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropPolicy {
    /// The new item is refused when the link has no credit: [`IngestError::Rejected`] at
    /// once, counted as `rejected`. The producer never waits, and nothing already
    /// published is touched. Fits any link (on one with no reliable consumer it never
    /// rejects).
    RejectNewest,
    /// The producer never waits and never refuses for lack of room: once the ring is
    /// full, each frag overwrites the oldest one. Lossy consumers that fall behind lose
    /// the overwritten frags and count them exactly (see [the module docs](self) for how
    /// to add them up).
    ///
    /// Fits only a link built with no reliable consumer (a reliable consumer gates the
    /// producer, which would then wait or refuse): a heap link built with
    /// `.reliable(0).lossy(n)`, or an
    /// [`InlineLink`](crate::spsc::InlineLink)`<_, _, _, 0, L>` split with `split_lossy`.
    /// [`Ingest::new`] checks it.
    OverwriteOldest,
    /// Waits up to `timeout` for a credit, with the producer's
    /// [wait strategy](crate::spsc::Producer::set_wait); if none comes, the item is
    /// dropped: [`IngestError::TimedOut`], counted as `timed_out`. Fits any link. A
    /// timeout too large to be a deadline waits without one (as
    /// [`publish_timeout`](crate::spsc::Producer::publish_timeout) does). `std` only.
    #[cfg(feature = "std")]
    Block {
        /// The longest a send waits for a credit.
        timeout: core::time::Duration,
    },
}

/// A producer that publishes under a [`DropPolicy`] and counts every item it drops, by
/// reason ([`IngestCounters`], in the link's metrics). See [the module docs](self).
///
/// It wraps the single [`Producer`](crate::spsc::Producer) of an SPSC link (either write
/// mode) or a [`RingProducer`](crate::mpsc::RingProducer) handle of a shared ring (whose
/// handles add their drops up in the same counters). `Send` when its producer is.
/// Dropping it drops the producer (for an SPSC link, that closes the stream);
/// [`into_inner`](Self::into_inner) hands the producer back instead.
///
/// ```
/// use milonga::ingest::{DropPolicy, Ingest, IngestError};
/// use milonga::mpsc::Ring;
/// use milonga::Header;
///
/// let (tx, _rx) = Ring::builder().depth(2).mtu(8).heap_pair()?;
/// let mut a = Ingest::new(tx.clone(), DropPolicy::RejectNewest)?;
/// let mut b = Ingest::new(tx, DropPolicy::RejectNewest)?;
/// a.send(Header::new(0), b"a")?;
/// b.send(Header::new(1), b"b")?;
/// assert_eq!(a.send(Header::new(2), b"c"), Err(IngestError::Rejected));
/// assert_eq!(b.send(Header::new(3), b"d"), Err(IngestError::Rejected));
/// assert_eq!(a.producer().metrics().snapshot().link.ingest.rejected, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ingest<P: IngestProducer> {
    producer: P,
    policy: DropPolicy,
}

impl<P: IngestProducer> Ingest<P> {
    /// Wraps `producer` under `policy`, if the policy fits its link.
    ///
    /// # Errors
    /// [`PolicyError`], with the producer handed back unchanged, for
    /// [`OverwriteOldest`](DropPolicy::OverwriteOldest) on a link built with reliable
    /// consumers ([`PolicyMismatch::Gated`]). `RejectNewest` and `Block` fit any link.
    pub fn new(producer: P, policy: DropPolicy) -> Result<Self, PolicyError<P>> {
        let reliable = producer.reliable_consumers();
        if policy == DropPolicy::OverwriteOldest && reliable > 0 {
            return Err(PolicyError {
                producer,
                policy,
                reason: PolicyMismatch::Gated { reliable },
            });
        }
        Ok(Ingest { producer, policy })
    }

    /// Publishes a copy of `payload` with `hdr` as one frag, or drops it as the policy
    /// says. Returns the frag's seq.
    ///
    /// # Errors
    /// The item was dropped, nothing was published, and the drop is counted:
    /// [`IngestError::Rejected`] (`RejectNewest`, no credit), [`IngestError::TimedOut`]
    /// (`Block`, no credit before the timeout), [`IngestError::TooLarge`] (over the mtu,
    /// any policy), [`IngestError::Disconnected`] (every consumer gone, any policy). Under
    /// `OverwriteOldest` only the last two happen.
    #[inline]
    pub fn send(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, IngestError> {
        let sent = match self.policy {
            DropPolicy::RejectNewest | DropPolicy::OverwriteOldest => {
                self.producer.try_send(hdr, payload)
            }
            #[cfg(feature = "std")]
            DropPolicy::Block { timeout } => self.producer.send_timeout(hdr, payload, timeout),
        };
        match sent {
            Ok(seq) => Ok(seq),
            Err(e) => Err(self.dropped(e)),
        }
    }

    /// The drop path: name the error and count it.
    #[cold]
    #[inline(never)]
    fn dropped(&self, e: PublishError) -> IngestError {
        let err = IngestError::from_publish(e);
        let cnc = self.producer.link_cnc();
        if P::SHARED_COUNTS {
            cnc.count_shared_drop(err.reason());
        } else {
            cnc.count_drop(err.reason());
        }
        err
    }

    /// The policy.
    pub fn policy(&self) -> DropPolicy {
        self.policy
    }

    /// The link's drop counts as stored (this handle's, and on a shared ring every
    /// handle's, including earlier `Ingest`s of the same producer).
    pub fn counters(&self) -> IngestCounters {
        self.producer.link_cnc().ingest_counters()
    }

    /// The producer, for its metrics, cnc and other read-only calls.
    pub fn producer(&self) -> &P {
        &self.producer
    }

    /// The producer, for its periodic work ([`housekeeping`](crate::spsc::Producer::housekeeping))
    /// or settings (its wait strategy is the one `Block` waits with). What it publishes
    /// directly bypasses the policy and is not an ingest send.
    pub fn producer_mut(&mut self) -> &mut P {
        &mut self.producer
    }

    /// The producer back (the drop counts stay in the link).
    pub fn into_inner(self) -> P {
        self.producer
    }
}

impl<P: IngestProducer + fmt::Debug> fmt::Debug for Ingest<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ingest")
            .field("policy", &self.policy)
            .field("producer", &self.producer)
            .finish()
    }
}
