//! Named errors. Every one leaves the link as it was.

use core::fmt;

/// A link could not be built: the storage or flow configuration is not usable.
///
/// Builders check every setting before they allocate, and an inline link hands out its
/// handles once:
///
/// ```
/// use milonga::spsc::{InlineLink, Link, MAX_CONSUMERS, MTU_MAX};
/// use milonga::{data_chunks, LinkError};
///
/// let err = Link::builder().depth(100).heap_pair().err();
/// assert_eq!(err, Some(LinkError::BadDepth { depth: 100 }));
/// assert_eq!(err.unwrap().to_string(), "depth 100 is not a power of two of at least 2");
///
/// let err = Link::builder().mtu(MTU_MAX + 1).heap_pair().err();
/// assert!(matches!(err, Some(LinkError::MtuTooLarge { max: MTU_MAX, .. })));
///
/// let err = Link::builder().reliable(MAX_CONSUMERS + 1).heap().err();
/// assert!(matches!(err, Some(LinkError::BadConsumers { max: MAX_CONSUMERS, .. })));
///
/// static LINK: InlineLink<4, 8, { data_chunks(4, 8) }> = InlineLink::new();
/// let _handles = LINK.split()?;
/// assert_eq!(LINK.split().err(), Some(LinkError::AlreadySplit));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The depth is not a power of two of at least 2 (0 and 1 included).
    BadDepth {
        /// The depth asked for.
        depth: usize,
    },
    /// The mtu does not fit the 16-bit size field of a frag.
    MtuTooLarge {
        /// The mtu asked for.
        mtu: usize,
        /// The largest mtu a frag can describe.
        max: usize,
    },
    /// The payload store cannot hold `depth + 2` payloads of mtu bytes (see
    /// [`data_chunks`](crate::data_chunks)), or has more chunks than a frag can address.
    BadDataSize {
        /// Chunks given.
        chunks: usize,
        /// Chunks needed at least.
        needed: usize,
        /// Chunks addressable at most.
        max: usize,
    },
    /// A flow-control parameter is out of its range.
    BadFlow {
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: u64,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
    },
    /// A link needs at least one consumer and at most
    /// [`MAX_CONSUMERS`](crate::spsc::MAX_CONSUMERS).
    BadConsumers {
        /// Reliable consumers asked for.
        reliable: usize,
        /// Lossy consumers asked for.
        lossy: usize,
        /// The most consumers a link can have.
        max: usize,
    },
    /// An inline link was split before; its handles are handed out once for life.
    AlreadySplit,
    /// The allocator could not provide the memory of a heap link (its geometry is valid,
    /// but too large for this machine). Nothing was allocated.
    OutOfMemory {
        /// Bytes of the allocation that failed.
        bytes: usize,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LinkError::BadDepth { depth } => {
                write!(f, "depth {depth} is not a power of two of at least 2")
            }
            LinkError::MtuTooLarge { mtu, max } => {
                write!(f, "mtu {mtu} is larger than the largest frag size {max}")
            }
            LinkError::BadDataSize {
                chunks,
                needed,
                max,
            } => write!(
                f,
                "payload store of {chunks} chunks: needs at least {needed} and at most {max}"
            ),
            LinkError::BadFlow {
                param,
                value,
                min,
                max,
            } => write!(f, "{param} = {value} is outside {min}..={max}"),
            LinkError::BadConsumers {
                reliable,
                lossy,
                max,
            } => write!(
                f,
                "{reliable} reliable + {lossy} lossy consumers: a link needs 1 to {max}"
            ),
            LinkError::AlreadySplit => f.write_str("the link was already split"),
            LinkError::OutOfMemory { bytes } => {
                write!(f, "could not allocate {bytes} bytes for the link")
            }
        }
    }
}

impl core::error::Error for LinkError {}

/// A frag could not be published. Nothing was published and the link is unchanged, except
/// after [`Overfilled`](Self::Overfilled), which says how many frags of an in-place batch
/// went out before it stopped.
///
/// Only [`NoCredits`](Self::NoCredits) (from the `try_*` calls) and
/// [`Timeout`](Self::Timeout) (from the calls that may give up) mean "try again later";
/// the blocking calls wait credits out.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, PublishError};
/// use std::time::Duration;
///
/// let (mut tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// let too_long = tx.try_publish(Header::new(0), &[0; 9]);
/// assert_eq!(too_long, Err(PublishError::TooLarge { len: 9, max: 8 }));
///
/// tx.try_publish(Header::new(0), b"a")?;
/// tx.try_publish(Header::new(1), b"b")?; // the window of 2 is full
/// assert_eq!(tx.try_publish(Header::new(2), b"c"), Err(PublishError::NoCredits));
/// let waited = tx.publish_timeout(Header::new(2), b"c", Duration::from_millis(1));
/// assert_eq!(waited, Err(PublishError::Timeout));
///
/// while rx.try_recv().is_ok() {} // the consumer catches up: credits go back
/// assert_eq!(tx.try_publish(Header::new(2), b"c"), Ok(2));
///
/// drop(rx);
/// match tx.try_publish(Header::new(3), b"d") {
///     Err(PublishError::Disconnected) => {} // nobody will ever read it: stop
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// No credits: the slowest reliable consumer is `cr_max` frags behind (a full window:
    /// `cr_max` is the ring's depth unless [`FlowConfig::cr_max`](crate::FlowConfig::cr_max)
    /// sets it lower). After running out, the producer reports this until `cr_resume`
    /// credits are available again (hysteresis, [`FlowConfig::cr_resume`](crate::FlowConfig::cr_resume)).
    NoCredits,
    /// The payload is larger than the mtu (or than the claim, for a commit).
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// Every consumer, reliable and lossy, is gone (dropped). The producer learns it when
    /// it next reads the consumers' progress, which it does when its credits run out: on a
    /// link with only lossy consumers that is within `cr_max` publishes of the last one
    /// going.
    Disconnected,
    /// The wait strategy gave up before credits came back.
    Timeout,
    /// A batch of more frags than the credit window (`cr_max`): it could never be
    /// published whole.
    TooManyFrags {
        /// The batch's frags.
        frags: usize,
        /// The most frags one batch may have (`cr_max`).
        max: usize,
    },
    /// The fill closure of an in-place batch
    /// ([`Producer::try_publish_batch_in_place`](crate::spsc::Producer::try_publish_batch_in_place))
    /// reported more bytes than the region it was lent. That frag was abandoned (its
    /// region is offered again) and the batch stopped there: the `published` frags before
    /// it were published, nothing after.
    Overfilled {
        /// Frags of the batch published before the one refused.
        published: usize,
        /// The length the closure reported.
        len: usize,
        /// The region's length (the batch's `max_len`).
        max: usize,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PublishError::NoCredits => {
                f.write_str("no credits: the slowest reliable consumer is a full window behind")
            }
            PublishError::TooLarge { len, max } => {
                write!(f, "payload of {len} bytes is larger than {max}")
            }
            PublishError::Disconnected => f.write_str("every consumer is gone"),
            PublishError::Timeout => f.write_str("timed out waiting for credits"),
            PublishError::TooManyFrags { frags, max } => {
                write!(f, "batch of {frags} frags is longer than the credit window of {max}")
            }
            PublishError::Overfilled {
                published,
                len,
                max,
            } => write!(
                f,
                "a frag filled with {len} bytes of a region of {max}: the batch stopped after {published} frags"
            ),
        }
    }
}

impl core::error::Error for PublishError {}

/// Defines a receive error: the variants given, then (after `lossy;`) the two only lossy
/// reads have, then the three ends of a stream every receive error shares.
macro_rules! recv_error {
    (@ends $(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($body)*
            /// The producer closed the stream cleanly (it halted, or was dropped normally)
            /// and every frag it published has been read.
            Closed,
            /// The producer died (it was dropped while its thread panicked) and every frag
            /// it published has been read. Those frags are intact; what it was about to
            /// publish is not there.
            Failed,
            /// The link's memory no longer follows the protocol (the slot of a frag this
            /// consumer had not released was overwritten, or names a region outside the
            /// store). Cannot happen in a link used through this crate's API.
            Corrupt {
                /// The seq the consumer expected.
                seq: u64,
            },
        }
    };
    ($(#[$m:meta])* lossy; $name:ident { $($body:tt)* }) => {
        recv_error!(@ends $(#[$m])* $name {
            $($body)*
            /// The producer lapped this consumer; see [`Overrun`]. Not an end: read on.
            Overrun(Overrun),
            /// The caller's buffer is smaller than the next frag's payload; nothing was
            /// consumed.
            BufferTooSmall {
                /// The payload's size.
                needed: usize,
            },
        });
    };
    ($(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        recv_error!(@ends $(#[$m])* $name { $($body)* });
    };
}

macro_rules! end_display {
    ($ty:ident, $f:ident, $self:ident, $($extra:tt)*) => {
        match *$self {
            $ty::Closed => $f.write_str("the stream is closed and drained"),
            $ty::Failed => $f.write_str("the producer failed; every frag it published was read"),
            $ty::Corrupt { seq } => write!($f, "link memory is corrupt at seq {seq}"),
            $($extra)*
        }
    };
}

recv_error!(
    /// A non-blocking read of a reliable consumer found nothing to lend
    /// ([`Consumer::try_recv`](crate::spsc::Consumer::try_recv),
    /// [`Consumer::try_batch`](crate::spsc::Consumer::try_batch)).
    ///
    /// Only [`Empty`](Self::Empty) means "try again"; the others end the stream. A reliable
    /// consumer is never overrun, so there is no such variant here.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, TryRecvError};
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
    /// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    /// tx.try_publish(Header::new(1), b"x")?;
    /// tx.halt();
    /// assert_eq!(rx.try_recv()?.payload(), b"x");
    /// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    TryRecvError {
    /// Nothing new is published yet; try again.
    Empty,
});

recv_error!(
    /// A blocking read of a reliable consumer ended: it fails only at the end of the stream or
    /// on a fault ([`Consumer::recv`](crate::spsc::Consumer::recv)).
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, RecvError};
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
    /// tx.try_publish(Header::new(1), b"x")?;
    /// tx.halt();
    /// while let Ok(frag) = rx.recv() {
    ///     assert_eq!(frag.payload(), b"x");
    /// }
    /// assert_eq!(rx.recv().err(), Some(RecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    RecvError {});

recv_error!(
    /// A read with a deadline or a wait strategy that may give up ended without a frag
    /// ([`Consumer::recv_timeout`](crate::spsc::Consumer::recv_timeout),
    /// [`Consumer::recv_with`](crate::spsc::Consumer::recv_with)).
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use milonga::spsc::Link;
    /// use milonga::RecvTimeoutError;
    /// use std::time::Duration;
    ///
    /// let (_tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    /// let err = rx.recv_timeout(Duration::from_millis(1)).err();
    /// assert_eq!(err, Some(RecvTimeoutError::Timeout));
    /// # }
    /// ```
    RecvTimeoutError {
    /// Nothing arrived before the deadline (or the wait strategy gave up).
    Timeout,
});

/// How a lossy consumer was overrun.
///
/// A consumer that finds its next frag's slot already rewritten was
/// [`Lapped`](Self::Lapped); one whose copy was overwritten while it was being made (the
/// producer caught up with it mid-read, which takes two threads) was
/// [`Overwritten`](Self::Overwritten). Either way the frags are gone and counted; the
/// consumer's counters keep the two apart.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, LossyTryRecvError, OverrunKind};
///
/// let mut link = Link::builder().depth(2).mtu(8).reliable(0).lossy(1).heap()?;
/// let rx = &mut link.lossy[0];
/// for i in 0..5u64 {
///     link.producer.try_publish(Header::new(i), b"x")?;
/// }
/// let mut buf = [0u8; 8];
/// match rx.try_recv(&mut buf) {
///     Err(LossyTryRecvError::Overrun(o)) => match o.kind {
///         OverrunKind::Lapped => assert_eq!(o.lost, rx.counters().poll_lost),
///         OverrunKind::Overwritten => assert_eq!(o.lost, rx.counters().read_lost),
///     },
///     other => panic!("expected an overrun, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverrunKind {
    /// Lapped before the read: the slot of the next frag already held a later one.
    Lapped,
    /// Overwritten during the copy: the slot changed while the payload was being copied,
    /// so the copy was thrown away.
    Overwritten,
}

/// A lossy consumer was overrun: the producer lapped it and the frags it had not read are
/// gone. It resumed at the oldest frag still intact (plus its resume margin); `lost` frags
/// were skipped and counted. The next read goes on from there.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, LossyTryRecvError, Overrun, OverrunKind};
///
/// let mut link = Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
/// let rx = &mut link.lossy[0];
/// for i in 0..7u64 {
///     link.producer.try_publish(Header::new(i), &i.to_le_bytes())?; // laps the reader
/// }
/// let mut buf = [0u8; 8];
/// let Err(LossyTryRecvError::Overrun(overrun)) = rx.try_recv(&mut buf) else {
///     panic!("the reader was lapped");
/// };
/// assert_eq!(overrun, Overrun { lost: 3, kind: OverrunKind::Lapped });
/// assert_eq!(overrun.to_string(), "overrun (lapped before the read): 3 frags lost");
/// assert_eq!(rx.try_recv(&mut buf)?.seq, 3); // the oldest frag still intact
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Overrun {
    /// Frags skipped.
    pub lost: u64,
    /// Found before the read or during the copy.
    pub kind: OverrunKind,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.kind {
            OverrunKind::Lapped => "lapped before the read",
            OverrunKind::Overwritten => "overwritten during the copy",
        };
        write!(f, "overrun ({how}): {} frags lost", self.lost)
    }
}

recv_error!(
    /// A non-blocking read of a [`LossyConsumer`](crate::spsc::LossyConsumer) copied nothing.
    ///
    /// [`Empty`](Self::Empty) means "try again"; [`Overrun`](Self::Overrun) and
    /// [`BufferTooSmall`](Self::BufferTooSmall) are not ends either (read on, with a larger
    /// buffer for the latter); the others end the stream.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, LossyTryRecvError};
    ///
    /// let mut link = Link::builder().depth(4).mtu(16).reliable(0).lossy(1).heap()?;
    /// let (mut tx, mut rx) = (link.producer, link.lossy.pop().unwrap());
    /// let mut small = [0u8; 4];
    /// assert_eq!(rx.try_recv(&mut small), Err(LossyTryRecvError::Empty));
    /// tx.try_publish(Header::new(1), b"eight by")?;
    /// let err = rx.try_recv(&mut small);
    /// assert_eq!(err, Err(LossyTryRecvError::BufferTooSmall { needed: 8 })); // nothing consumed
    /// let mut buf = [0u8; 16];
    /// assert_eq!(rx.try_recv(&mut buf)?.sz, 8);
    /// tx.halt();
    /// assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    lossy; LossyTryRecvError {
    /// Nothing new is published yet; try again.
    Empty,
});

recv_error!(
    /// A blocking read of a [`LossyConsumer`](crate::spsc::LossyConsumer) copied nothing:
    /// it was overrun, the buffer was too small, or the stream ended.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, LossyRecvError, Overrun, OverrunKind};
    ///
    /// let mut link = Link::builder().depth(2).mtu(8).reliable(0).lossy(1).heap()?;
    /// let (mut tx, mut rx) = (link.producer, link.lossy.pop().unwrap());
    /// for i in 0..3u64 {
    ///     tx.try_publish(Header::new(i), b"x")?;
    /// }
    /// tx.halt();
    /// let mut buf = [0u8; 8];
    /// let lapped = Overrun { lost: 1, kind: OverrunKind::Lapped };
    /// assert_eq!(rx.recv(&mut buf), Err(LossyRecvError::Overrun(lapped))); // at once
    /// let mut sigs = Vec::new();
    /// let end = loop {
    ///     match rx.recv(&mut buf) {
    ///         Ok(meta) => sigs.push(meta.sig),
    ///         Err(LossyRecvError::Overrun(_)) => continue, // lost frags: read on
    ///         Err(end) => break end,
    ///     }
    /// };
    /// assert_eq!((sigs, end), (vec![1, 2], LossyRecvError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    lossy; LossyRecvError {});

recv_error!(
    /// A read of a [`LossyConsumer`](crate::spsc::LossyConsumer) with a deadline (or a wait
    /// strategy that may give up) copied nothing.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::LossyRecvTimeoutError;
    /// use std::time::Duration;
    ///
    /// let mut link = Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
    /// let rx = &mut link.lossy[0];
    /// let mut buf = [0u8; 8];
    /// let err = rx.recv_timeout(&mut buf, Duration::from_millis(1));
    /// assert_eq!(err, Err(LossyRecvTimeoutError::Timeout)); // nothing was published
    /// drop(link.producer);
    /// let err = rx.recv_timeout(&mut buf, Duration::from_millis(1));
    /// assert_eq!(err, Err(LossyRecvTimeoutError::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    lossy; LossyRecvTimeoutError {
    /// Nothing arrived before the deadline (or the wait strategy gave up).
    Timeout,
});

impl TryRecvError {
    /// The end of the stream or fault this is; only called on errors a retry loop let
    /// through, which are never `Empty`.
    pub(crate) fn end(self) -> RecvError {
        match self {
            TryRecvError::Closed => RecvError::Closed,
            TryRecvError::Failed => RecvError::Failed,
            TryRecvError::Corrupt { seq } => RecvError::Corrupt { seq },
            TryRecvError::Empty => unreachable!("retry loops never let `Empty` through"),
        }
    }

    /// Nothing was published yet: try again. Every other error ends the stream.
    pub fn is_empty(&self) -> bool {
        *self == TryRecvError::Empty
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        end_display!(TryRecvError, f, self, TryRecvError::Empty => f.write_str("no frag published yet"),)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        end_display!(RecvError, f, self,)
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        end_display!(RecvTimeoutError, f, self, RecvTimeoutError::Timeout => f.write_str("timed out waiting for a frag"),)
    }
}

macro_rules! lossy_display {
    ($ty:ident, $f:ident, $self:ident, $($extra:tt)*) => {
        end_display!($ty, $f, $self,
            $ty::Overrun(o) => fmt::Display::fmt(&o, $f),
            $ty::BufferTooSmall { needed } => {
                write!($f, "the buffer is smaller than the {needed}-byte payload")
            }
            $($extra)*
        )
    };
}

impl fmt::Display for LossyTryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lossy_display!(LossyTryRecvError, f, self, LossyTryRecvError::Empty => f.write_str("no frag published yet"),)
    }
}

impl fmt::Display for LossyRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lossy_display!(LossyRecvError, f, self,)
    }
}

impl fmt::Display for LossyRecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lossy_display!(LossyRecvTimeoutError, f, self, LossyRecvTimeoutError::Timeout => f.write_str("timed out waiting for a frag"),)
    }
}

impl core::error::Error for TryRecvError {}
impl core::error::Error for RecvError {}
impl core::error::Error for RecvTimeoutError {}
impl core::error::Error for Overrun {}
impl core::error::Error for LossyTryRecvError {}
impl core::error::Error for LossyRecvError {}
impl core::error::Error for LossyRecvTimeoutError {}

/// Every end of a stream converts into each receive error.
macro_rules! from_end {
    ($($to:ident),*) => {$(
        impl From<RecvError> for $to {
            fn from(e: RecvError) -> $to {
                match e {
                    RecvError::Closed => $to::Closed,
                    RecvError::Failed => $to::Failed,
                    RecvError::Corrupt { seq } => $to::Corrupt { seq },
                }
            }
        }
    )*};
}
from_end!(
    TryRecvError,
    RecvTimeoutError,
    LossyTryRecvError,
    LossyRecvError,
    LossyRecvTimeoutError
);

impl From<LossyRecvError> for LossyTryRecvError {
    fn from(e: LossyRecvError) -> Self {
        match e {
            LossyRecvError::Overrun(o) => LossyTryRecvError::Overrun(o),
            LossyRecvError::BufferTooSmall { needed } => {
                LossyTryRecvError::BufferTooSmall { needed }
            }
            LossyRecvError::Closed => LossyTryRecvError::Closed,
            LossyRecvError::Failed => LossyTryRecvError::Failed,
            LossyRecvError::Corrupt { seq } => LossyTryRecvError::Corrupt { seq },
        }
    }
}

impl From<LossyRecvError> for LossyRecvTimeoutError {
    fn from(e: LossyRecvError) -> Self {
        match e {
            LossyRecvError::Overrun(o) => LossyRecvTimeoutError::Overrun(o),
            LossyRecvError::BufferTooSmall { needed } => {
                LossyRecvTimeoutError::BufferTooSmall { needed }
            }
            LossyRecvError::Closed => LossyRecvTimeoutError::Closed,
            LossyRecvError::Failed => LossyRecvTimeoutError::Failed,
            LossyRecvError::Corrupt { seq } => LossyRecvTimeoutError::Corrupt { seq },
        }
    }
}

/// A batch budget that could never deliver a frag.
///
/// ```
/// use milonga::spsc::Budget;
/// use milonga::BudgetError;
///
/// assert_eq!(Budget::new(0, 1024), Err(BudgetError::ZeroFrags));
/// assert_eq!(Budget::frags(0), Err(BudgetError::ZeroFrags));
/// assert!(Budget::frags(1).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetError {
    /// `max_frags` is 0.
    ZeroFrags,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetError::ZeroFrags => f.write_str("a batch budget of 0 frags"),
        }
    }
}

impl core::error::Error for BudgetError {}
