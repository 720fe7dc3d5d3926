//! The ingest errors: an item dropped (and why), and a policy that does not fit its link.

use core::fmt;

use crate::cnc::DropReason;
use crate::error::PublishError;
use crate::ingest::DropPolicy;

/// An item [`Ingest::send`](crate::ingest::Ingest::send) dropped: nothing was published,
/// and the drop is counted in the link's [`IngestCounters`](crate::ingest::IngestCounters)
/// under the field of the same name.
///
/// ```
/// use milonga::ingest::{DropPolicy, Ingest, IngestError};
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (tx, rx) = Link::builder().depth(2).mtu(4).heap_pair()?;
/// let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest)?;
/// let too_large = ingest.send(Header::new(0), b"12345");
/// assert_eq!(too_large, Err(IngestError::TooLarge { len: 5, max: 4 }));
/// drop(rx);
/// assert_eq!(ingest.send(Header::new(0), b"1"), Err(IngestError::Disconnected));
/// assert_eq!((ingest.counters().too_large, ingest.counters().disconnected), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IngestError {
    /// [`RejectNewest`](DropPolicy::RejectNewest): no credit, the slowest reliable
    /// consumer is a full window behind (or, after that, not yet back to the resume mark;
    /// see [`PublishError::NoCredits`]). Counted as `rejected`.
    Rejected,
    /// `Block`: no credit came back before the timeout. Counted as `timed_out`.
    TimedOut,
    /// The payload is larger than the link's mtu (any policy; it could never be
    /// published). Counted as `too_large`.
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The link's mtu.
        max: usize,
    },
    /// Every consumer of the link is gone (any policy; nobody will ever read it). Counted
    /// as `disconnected`: the source is never blocked, so it may go on sending, and
    /// every item that went nowhere is counted.
    Disconnected,
}

impl IngestError {
    /// The error for a publish that failed with `e`. `NoCredits` comes only from the
    /// non-blocking calls (`RejectNewest`, and `OverwriteOldest`, whose producer never
    /// runs out of credits), so it is a rejection.
    pub(crate) fn from_publish(e: PublishError) -> IngestError {
        match e {
            PublishError::NoCredits => IngestError::Rejected,
            PublishError::Timeout => IngestError::TimedOut,
            PublishError::TooLarge { len, max } => IngestError::TooLarge { len, max },
            PublishError::Disconnected => IngestError::Disconnected,
            PublishError::TooManyFrags { .. } | PublishError::Overfilled { .. } => {
                unreachable!("an ingest publishes one frag at a time")
            }
        }
    }

    /// The counter this drop goes to.
    pub(crate) fn reason(&self) -> DropReason {
        match self {
            IngestError::Rejected => DropReason::Rejected,
            IngestError::TimedOut => DropReason::TimedOut,
            IngestError::TooLarge { .. } => DropReason::TooLarge,
            IngestError::Disconnected => DropReason::Disconnected,
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IngestError::Rejected => f.write_str(
                "dropped: no credit (the slowest reliable consumer is a full window behind)",
            ),
            IngestError::TimedOut => f.write_str("dropped: no credit came back before the timeout"),
            IngestError::TooLarge { len, max } => {
                write!(
                    f,
                    "dropped: payload of {len} bytes is larger than the mtu of {max}"
                )
            }
            IngestError::Disconnected => f.write_str("dropped: every consumer is gone"),
        }
    }
}

impl core::error::Error for IngestError {}

/// Why a [`DropPolicy`] does not fit a link ([`PolicyError::reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyMismatch {
    /// [`OverwriteOldest`](DropPolicy::OverwriteOldest) needs a producer that nothing
    /// gates, and the link was built with reliable consumers (a shared ring always has
    /// one), which would make the producer wait or refuse.
    Gated {
        /// The link's reliable consumers.
        reliable: usize,
    },
}

/// An [`Ingest`](crate::ingest::Ingest) could not be built: its policy does not fit the
/// link. The producer is handed back unchanged (dropping it would close the stream).
///
/// ```
/// use milonga::ingest::{DropPolicy, Ingest, PolicyMismatch};
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let err = Ingest::new(tx, DropPolicy::OverwriteOldest).unwrap_err();
/// assert_eq!(err.reason, PolicyMismatch::Gated { reliable: 1 });
/// let mut tx = err.into_inner(); // still open
/// tx.try_publish(Header::new(1), b"still")?;
/// assert_eq!(rx.try_recv()?.payload(), b"still");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PolicyError<P> {
    /// The producer given to the constructor.
    pub producer: P,
    /// The policy that does not fit.
    pub policy: DropPolicy,
    /// Why it does not fit.
    pub reason: PolicyMismatch,
}

impl<P> PolicyError<P> {
    /// The producer back.
    pub fn into_inner(self) -> P {
        self.producer
    }
}

/// Shows the policy and the reason: the producer needs no `Debug`.
impl<P> fmt::Debug for PolicyError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyError")
            .field("policy", &self.policy)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<P> fmt::Display for PolicyError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            PolicyMismatch::Gated { reliable } => write!(
                f,
                "drop policy {:?} needs a producer no consumer gates, and the link has \
                 {reliable} reliable consumer(s)",
                self.policy
            ),
        }
    }
}

impl<P> core::error::Error for PolicyError<P> {}
