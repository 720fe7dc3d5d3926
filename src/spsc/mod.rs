//! The single-producer link: reliable consumers that gate the producer through credits and
//! read payloads zero-copy (one at a time or in batches), and lossy consumers that never
//! slow it, copy payloads out, and count exactly what they lose.
//!
//! A link's storage is owned inline (an [`InlineLink`], which can be a `static`) or on the
//! heap (built by [`Link::builder`], under `alloc`); every kind is split into the same
//! [`Producer`], [`Consumer`] and [`LossyConsumer`] handles, handed out as named fields
//! ([`Link`], [`InlineHandles`]) or, for one producer and one consumer, as a pair.
//!
//! The producer's type says whether lossy readers can exist: a [`Producer<Exclusive>`]
//! (reliable readers only) writes payloads with plain copies and may hand out `&mut [u8]`
//! claims; a [`Producer<Shared>`] writes them with atomic word stores, because a lossy
//! reader may be copying a region while it is rewritten, and a plain write racing an atomic
//! read would be a data race.
//!
//! ```
//! use milonga::spsc::InlineLink;
//! use milonga::{data_chunks, Header};
//!
//! static LINK: InlineLink<64, 256, { data_chunks(64, 256) }> = InlineLink::new();
//!
//! let (mut tx, mut rx) = LINK.split().unwrap().into_pair();
//! tx.try_publish(Header::new(7), b"hello").unwrap();
//! let frag = rx.poll().unwrap();
//! assert_eq!((frag.sig(), frag.payload()), (7, &b"hello"[..]));
//! drop(frag); // the credit goes back when the guard ends
//! tx.halt();
//! assert_eq!(rx.poll().err(), Some(milonga::RecvError::Closed));
//! ```

mod batch;
#[cfg(feature = "alloc")]
pub(crate) mod builder;
mod consumer;
#[cfg(feature = "alloc")]
mod heap;
#[cfg(not(milonga_loom))]
mod inline;
mod lossy;
mod producer;
#[cfg(feature = "alloc")]
pub mod shape;

pub use batch::{Batch, BatchIter, Frag, FILTERED_RUN_MAX};
#[cfg(feature = "alloc")]
pub use builder::LinkBuilder;
pub use consumer::{Consumer, ReadGuard};
#[cfg(feature = "alloc")]
pub use heap::Link;
#[cfg(not(milonga_loom))]
pub use inline::{InlineHandles, InlineLink};
pub use lossy::LossyConsumer;
pub use producer::{Exclusive, Producer, Shared, WriteClaim, WriteMode};

pub(crate) use crate::assembly::Parts;
pub(crate) use crate::sync::Keep;

/// The largest mtu: a frag's size field is 16 bits.
pub const MTU_MAX: usize = u16::MAX as usize;

/// The most consumers (reliable and lossy) one link can have.
pub const MAX_CONSUMERS: usize = 32;

/// A consumer's filter: it receives only the frags whose `sig` the function accepts; the
/// others are skipped without touching their payload and counted as filtered.
///
/// A filter should be a pure function of the sig. The consumer asks it once per frag
/// wherever it can: a batch asks while it scans and keeps the answers, so iterating a
/// batch (any number of times) and ending it never call the filter; a fan-in asks once to
/// pick a ready link and once more when it reads from it. If a filter does change its
/// answer, or panics, nothing breaks: each frag is still delivered or counted as filtered
/// exactly once, by the answer given when it was read, and a panic leaves the consumer
/// holding only the frags of the batch or guard being built (released as usual when it
/// ends).
pub type SigFilter = fn(u64) -> bool;
