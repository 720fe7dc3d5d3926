//! The dispatcher's errors: one enum per operation.

use core::fmt;

use crate::LinkError;

/// A dispatcher setting out of range: returned by
/// [`DispatcherBuilder::build`](crate::dispatch::DispatcherBuilder::build), which then
/// builds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The interval is zero.
    ZeroInterval,
    /// `max_buffered_bytes` is zero.
    ZeroMaxBufferedBytes,
    /// `max_buffered_bytes` is over [`MAX_BUFFERED_BYTES`](crate::dispatch::MAX_BUFFERED_BYTES).
    MaxBufferedBytesTooLarge,
    /// `max_batch_items` is zero.
    ZeroMaxBatchItems,
    /// `max_items` is over [`MAX_ITEMS`](crate::dispatch::MAX_ITEMS).
    TooManyItems,
    /// The ring the dispatcher runs on could not be built with these `max_items` (its
    /// depth: a power of two of at least 2) and `max_item_bytes` (its mtu).
    Ring(LinkError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroInterval => f.write_str("the interval must be greater than zero"),
            ConfigError::ZeroMaxBufferedBytes => {
                f.write_str("max buffered bytes must be greater than zero")
            }
            ConfigError::MaxBufferedBytesTooLarge => write!(
                f,
                "max buffered bytes must be at most {}",
                crate::dispatch::MAX_BUFFERED_BYTES
            ),
            ConfigError::ZeroMaxBatchItems => f.write_str("max batch items must be at least 1"),
            ConfigError::TooManyItems => {
                write!(
                    f,
                    "max items must be at most {}",
                    crate::dispatch::MAX_ITEMS
                )
            }
            ConfigError::Ring(e) => write!(f, "the dispatcher's ring: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Dispatcher::enqueue`](crate::dispatch::Dispatcher::enqueue) refused an item.
/// Checked in this order; the item was not taken, and the refusal is counted in
/// [`DispatchStats`](crate::dispatch::DispatchStats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueError {
    /// [`stop`](crate::dispatch::Dispatcher::stop) was called, a shutdown missed its
    /// deadline, or the [`Batches`](crate::dispatch::Batches) receiver is gone.
    Stopped,
    /// A [`shutdown`](crate::dispatch::Dispatcher::shutdown) began.
    ShuttingDown,
    /// The item can never be accepted: longer than `max_buffered_bytes` or than
    /// `max_item_bytes` (`limit` is the smaller of the two).
    PayloadTooLarge {
        /// The item's length.
        len: usize,
        /// The longest item the dispatcher accepts.
        limit: usize,
    },
    /// Accepting it now would take the pending items over `max_buffered_bytes` or
    /// `max_items`; it may fit once the consumer is done with a batch.
    QueueFull,
    /// [`enqueue_timeout`](crate::dispatch::Dispatcher::enqueue_timeout) or
    /// [`enqueue_with`](crate::dispatch::Dispatcher::enqueue_with) waited for room and
    /// gave up (never returned by [`enqueue`](crate::dispatch::Dispatcher::enqueue)).
    Timeout,
}

impl fmt::Display for EnqueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnqueueError::Stopped => f.write_str("the dispatcher is stopped"),
            EnqueueError::ShuttingDown => f.write_str("the dispatcher is shutting down"),
            EnqueueError::PayloadTooLarge { len, limit } => {
                write!(f, "an item of {len} bytes is over the limit of {limit}")
            }
            EnqueueError::QueueFull => f.write_str("the dispatcher's queue is full"),
            EnqueueError::Timeout => f.write_str("the dispatcher's queue stayed full"),
        }
    }
}

impl std::error::Error for EnqueueError {}

/// Why [`Dispatcher::shutdown`](crate::dispatch::Dispatcher::shutdown) did not see every
/// accepted item delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownError {
    /// The deadline passed first. The dispatcher was then stopped: the items not yet
    /// handed to the consumer are dropped (and counted in
    /// [`DispatchStats::dropped`](crate::dispatch::DispatchStats::dropped)).
    Deadline {
        /// Accepted items whose batch the consumer had not finished at the deadline
        /// (including a batch it may still be handling).
        undelivered: u64,
    },
    /// The dispatcher was stopped (before or during the shutdown) with accepted items not
    /// delivered.
    Stopped {
        /// Accepted items not delivered: those still pending when the shutdown saw the
        /// stop, plus those a stop already dropped.
        undelivered: u64,
    },
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Deadline { undelivered } => write!(
                f,
                "the shutdown deadline passed with {undelivered} items undelivered"
            ),
            ShutdownError::Stopped { undelivered } => write!(
                f,
                "the dispatcher was stopped with {undelivered} items undelivered"
            ),
        }
    }
}

impl std::error::Error for ShutdownError {}

/// Why [`Batches::try_next_batch`](crate::dispatch::Batches::try_next_batch) returned no
/// batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryNextBatchError {
    /// No batch is complete yet: none of its limits is reached and its interval has not
    /// elapsed.
    NotReady,
    /// The stream ended: after a shutdown delivered everything, after a stop, or once
    /// every [`Dispatcher`](crate::dispatch::Dispatcher) handle is gone and the rest was
    /// delivered.
    Ended,
}

/// Why [`Batches::next_batch_timeout`](crate::dispatch::Batches::next_batch_timeout)
/// returned no batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextBatchError {
    /// No batch completed before the timeout.
    Timeout,
    /// The stream ended (as [`TryNextBatchError::Ended`]).
    Ended,
}

impl fmt::Display for TryNextBatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryNextBatchError::NotReady => f.write_str("no batch is complete yet"),
            TryNextBatchError::Ended => f.write_str("the batch stream ended"),
        }
    }
}

impl std::error::Error for TryNextBatchError {}

impl fmt::Display for NextBatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextBatchError::Timeout => f.write_str("no batch completed before the timeout"),
            NextBatchError::Ended => f.write_str("the batch stream ended"),
        }
    }
}

impl std::error::Error for NextBatchError {}
