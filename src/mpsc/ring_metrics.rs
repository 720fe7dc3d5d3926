//! Metrics of a shared ring: the link's [`Snapshot`] plus the producer handles' side
//! (live handles, abandoned and refused claims, a stalled claim).
//!
//! Frags are counted by the claim cursor (every claimed frag is published, committed or as
//! an ERR frag) and payload bytes by the handles as they commit, in a few cells of the
//! cnc, so a snapshot is as fresh as the last claim and commit.

use core::fmt;

use crate::metrics::{Count, Metrics, Snapshot};
use crate::mpsc::shared_ring::RingState;
use crate::sync::{Ordering::Relaxed, Ref};

/// A handle for taking [`RingSnapshot`]s of a shared ring: `Clone + Send + Sync`.
/// Obtained from [`RingProducer::metrics`](crate::mpsc::RingProducer::metrics) or with the
/// ring's handles ([`Ring::metrics`](crate::mpsc::Ring::metrics)).
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::Header;
///
/// let Ring { producer, consumer: _rx, metrics } = Ring::builder().depth(8).mtu(8).heap()?;
/// producer.try_publish(Header::new(0), b"abc")?;
/// let snap = std::thread::spawn(move || metrics.snapshot()).join().unwrap();
/// assert_eq!((snap.producers, snap.link.producer.published_bytes), (1, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RingMetrics<'a> {
    link: Metrics<'a>,
    state: Ref<'a, RingState>,
}

/// The oldest claimed but unpublished frag, as the consumer reports it.
///
/// ```
/// use milonga::mpsc::{Ring, RingSnapshot};
///
/// let (tx, mut rx) = Ring::builder().depth(4).mtu(8).heap_pair()?;
/// let metrics = tx.metrics();
/// let held = tx.try_claim(8)?; // claimed, not committed: the consumer waits at seq 0
/// for _ in 0..RingSnapshot::STALL_POLLS {
///     assert!(rx.try_recv().is_err());
/// }
/// let stall = metrics.snapshot().oldest_unpublished.expect("a stalled claim");
/// assert_eq!((stall.seq, stall.since), (0, None)); // `since` needs a consumer clock
/// assert!(stall.idle_polls >= RingSnapshot::STALL_POLLS);
/// held.commit(0)?;
/// drop(rx.try_recv()?); // the consumer moves past it
/// rx.housekeeping();
/// assert_eq!(metrics.snapshot().oldest_unpublished, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StalledClaim {
    /// Its seq: the consumer's next seq, claimed by a producer (the claim cursor is past
    /// it) and not published. Every frag before it was consumed.
    pub seq: u64,
    /// Consecutive idle polls the consumer has spent waiting at this seq (counted from its
    /// first idle poll there, so this may include a while before the seq was claimed).
    pub idle_polls: u64,
    /// The consumer's clock when it first saw the seq claimed and unpublished, if it was
    /// given a clock ([`Consumer::set_clock`](crate::spsc::Consumer::set_clock)).
    pub since: Option<u64>,
}

/// What a shared ring has done: the link's snapshot plus the producers' side.
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::{Header, PublishError};
///
/// let (tx, _rx) = Ring::builder().depth(2).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(0), b"a")?;
/// drop(tx.try_claim(1)?); // abandoned: published as an ERR frag
/// assert_eq!(tx.try_claim(1).err(), Some(PublishError::NoCredits)); // refused
/// let snap = tx.metrics().snapshot();
/// assert_eq!((snap.producers, snap.abandoned, snap.refused), (1, 1, 1));
/// assert_eq!(snap.link.producer.published_frags, 2); // claimed: committed or ERR
/// assert!(!snap.panicked && snap.oldest_unpublished.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RingSnapshot {
    /// The link: the consumer's counters and progress, `tx_seq` the claim cursor, and the
    /// producer counters: `published_frags` counts claimed frags (each is published,
    /// committed or as an ERR frag), `published_bytes` the payload bytes committed so far
    /// by every handle, `backpressure` the refused claims (as [`refused`](Self::refused)).
    pub link: Snapshot,
    /// Live producer handles (the stream closes when the last one is dropped).
    pub producers: u64,
    /// A handle was dropped by a panic: the stream will close as failed.
    pub panicked: bool,
    /// Claims dropped without a commit (each published as an empty ERR frag).
    pub abandoned: u64,
    /// Claim calls that found no credits (a blocking call that waited counts once).
    pub refused: u64,
    /// The oldest claim not published yet, once the consumer has waited
    /// [`STALL_POLLS`](Self::STALL_POLLS) idle polls for it; `None` while the ring flows.
    /// A claim stays unpublished only while its producer is stalled between claim and
    /// commit (preempted, blocked, looping); every later frag waits behind it.
    pub oldest_unpublished: Option<StalledClaim>,
}

impl RingSnapshot {
    /// Idle polls after which the consumer checks for (and reports) a stalled claim.
    pub const STALL_POLLS: u64 = crate::stall_watch::STALL_POLLS;
}

impl<'a> RingMetrics<'a> {
    /// Metrics of a ring from its link metrics (with the claim cursor) and its state.
    #[cfg_attr(milonga_loom, allow(dead_code))]
    pub(crate) fn new(link: Metrics<'a>, state: &'a RingState) -> Self {
        RingMetrics {
            link,
            state: Ref::new(state),
        }
    }

    /// Reads every published counter of the ring.
    ///
    /// ```
    /// # use milonga::mpsc::Ring;
    /// # use milonga::Header;
    /// let (tx, _rx) = Ring::builder().depth(8).mtu(64).heap_pair().unwrap();
    /// let metrics = tx.metrics();
    /// tx.try_publish(Header::new(0), b"hello").unwrap();
    /// tx.clone().try_publish(Header::new(1), b"hi").unwrap();
    /// let snap = metrics.snapshot();
    /// assert_eq!((snap.producers, snap.link.producer.published_frags), (1, 2));
    /// assert_eq!(snap.link.producer.published_bytes, 7);
    /// ```
    pub fn snapshot(&self) -> RingSnapshot {
        let diag = &self.state.diag;
        let mut link = self.link.snapshot();
        let refused = diag.refused.load(Relaxed);
        link.producer.backpressure = refused;
        RingSnapshot {
            link,
            producers: diag.producers.load(Relaxed),
            panicked: diag.failed.load(Relaxed),
            abandoned: diag.abandoned.load(Relaxed),
            refused,
            oldest_unpublished: self.state.watch.report().map(|(seq, idle_polls, since)| {
                StalledClaim {
                    seq,
                    idle_polls,
                    since,
                }
            }),
        }
    }
}

impl fmt::Debug for RingMetrics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingMetrics").finish_non_exhaustive()
    }
}

impl fmt::Display for RingSnapshot {
    /// The link's snapshot, then the producer handles; at most 80 columns per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.link)?;
        write!(f, "producer handles: {} live", Count(self.producers))?;
        if self.panicked {
            write!(f, ", one was dropped by a panic")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  claims: {} abandoned (sent as ERR frags), {} refused (no credits)",
            Count(self.abandoned),
            Count(self.refused)
        )?;
        if let Some(s) = self.oldest_unpublished {
            writeln!(
                f,
                "  stalled claim at seq {}: waited {} idle polls",
                s.seq,
                Count(s.idle_polls)
            )?;
            if let Some(t) = s.since {
                writeln!(f, "    since tick {t} of the consumer's clock")?;
            }
        }
        Ok(())
    }
}
