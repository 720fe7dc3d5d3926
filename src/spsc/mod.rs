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
//! let frag = rx.try_recv().unwrap();
//! assert_eq!((frag.sig(), frag.payload()), (7, &b"hello"[..]));
//! drop(frag); // the credit goes back when the guard ends
//! tx.halt();
//! assert_eq!(rx.try_recv().err(), Some(milonga::TryRecvError::Closed));
//! ```

mod batch;
mod budget;
#[cfg(feature = "alloc")]
pub(crate) mod builder;
mod consumer;
mod filter;
#[cfg(feature = "alloc")]
mod heap;
#[cfg(not(milonga_loom))]
mod inline;
mod lossy;
mod producer;
#[cfg(feature = "alloc")]
pub mod shape;
#[cfg(all(test, feature = "std", not(milonga_loom)))]
mod untrusted_tests;

pub use batch::{Batch, BatchIter, Frag, FILTERED_RUN_MAX};
pub use budget::Budget;
#[cfg(feature = "alloc")]
pub use builder::LinkBuilder;
pub use consumer::{Consumer, ReadGuard};
pub use filter::SigFilter;
#[cfg(feature = "alloc")]
pub use heap::Link;
#[cfg(not(milonga_loom))]
pub use inline::{InlineHandles, InlineLink};
pub use lossy::LossyConsumer;
pub use producer::{Exclusive, Producer, Shared, WriteClaim, WriteMode};

pub(crate) use crate::assembly::Parts;
pub(crate) use crate::sync::Keep;
#[cfg(all(feature = "std", not(milonga_loom)))]
pub(crate) use batch::Run;

/// The largest mtu: a frag's size field is 16 bits.
pub const MTU_MAX: usize = u16::MAX as usize;

/// The most consumers (reliable and lossy) one link can have.
pub const MAX_CONSUMERS: usize = 32;
