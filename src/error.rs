//! Named errors. Every one leaves the link as it was.

use core::fmt;

/// A link could not be built: the storage or flow configuration is not usable.
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

/// A frag could not be published. Nothing was published and the link is unchanged.
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
        }
    }
}

impl core::error::Error for PublishError {}

/// Nothing could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// Nothing published yet; try again.
    Empty,
    /// The producer closed the stream and every frag it published has been read.
    Closed,
    /// The wait strategy gave up before a frag arrived.
    Timeout,
    /// The batch limits cannot make progress: `max_frags` is 0 or `max_bytes` is below the
    /// mtu (a frag of mtu bytes could never be delivered).
    BadBudget {
        /// Frags asked for.
        max_frags: usize,
        /// Bytes allowed.
        max_bytes: usize,
        /// The link's mtu.
        mtu: usize,
    },
    /// A lossy consumer was overrun: the producer lapped it and the frags it had not read
    /// are gone. It resumed at the oldest frag still intact; `lost` frags were skipped
    /// (and counted). The next read goes on from there.
    Overrun {
        /// Frags skipped.
        lost: u64,
    },
    /// The caller's buffer is smaller than the next frag's payload; nothing was consumed.
    BufferTooSmall {
        /// The payload's size.
        needed: usize,
    },
    /// The link's memory no longer follows the protocol (the slot of a frag this
    /// consumer had not released was overwritten, or names a region outside the store).
    /// Cannot happen in a link used through this crate's API.
    Corrupt {
        /// The seq the consumer expected.
        seq: u64,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecvError::Empty => f.write_str("no frag published yet"),
            RecvError::Closed => f.write_str("the stream is closed and drained"),
            RecvError::Timeout => f.write_str("timed out waiting for a frag"),
            RecvError::BadBudget {
                max_frags,
                max_bytes,
                mtu,
            } => write!(
                f,
                "batch of at most {max_frags} frags and {max_bytes} bytes cannot carry a frag of mtu {mtu}"
            ),
            RecvError::Overrun { lost } => write!(f, "overrun: {lost} frags lost"),
            RecvError::BufferTooSmall { needed } => {
                write!(f, "the buffer is smaller than the {needed}-byte payload")
            }
            RecvError::Corrupt { seq } => write!(f, "link memory is corrupt at seq {seq}"),
        }
    }
}

impl core::error::Error for RecvError {}
