//! Several producers, one consumer: a shared ring with claim and publish, and fan-in over
//! per-producer links.
//!
//! # Shared ring
//!
//! One ring, any number of producer handles ([`RingProducer`]: `Clone + Send + Sync`, every
//! method takes `&self`). A producer *claims* the next seq with one compare-exchange on the
//! ring's claim cursor, tried only when the credits allow it (the consumer's progress, as
//! last read by any producer, is kept next to the cursor, on the same cache line). The
//! claim owns that seq's metadata slot and its payload region until it is committed: the
//! producer writes the payload in place ([`RingClaim`] derefs to `&mut [u8]`) and publishes
//! the slot with the gated publish of the SPSC link: the body, then the seq with release
//! ordering. (The ring's one consumer is gated by credits, so it holds no frag of a slot
//! being rewritten and reads a body only after acquiring its seq: the seqlock's in-progress
//! mark is not needed.) Claims are published in any order; the consumer reads them in seq
//! order, so it is the SPSC [`Consumer`](crate::spsc::Consumer), with the same zero-copy
//! guards and batches.
//!
//! The payload store has one fixed region of `ceil(mtu / 64)` chunks per slot: the region
//! of seq `s` is the one of slot `s % depth` ([`ring_chunks`]). The compact store of the
//! SPSC link cannot be shared: its cursor depends on the sizes of the payloads before, so
//! claiming a region would need a second atomic step (or a claim of seq and cursor
//! together), and concurrent claims would interleave their regions out of seq order. With
//! fixed regions the seq alone names the region, and the credit that lets a producer claim
//! a seq also proves the consumer released the region's previous frag (`s - depth`).
//!
//! A producer that claimed a seq and stalls blocks the consumer at that seq (every later
//! frag waits behind it), and once the credits run out, blocks the other producers too.
//! The consumer reports such a claim in the ring's metrics
//! ([`RingSnapshot::oldest_unpublished`]). A claim that is dropped without a commit (an
//! early return, a panic that unwinds through it) publishes an empty frag marked
//! [`Ctl::ERR`](crate::Ctl::ERR) in its place, so the link is never wedged by it; a claim
//! that is leaked (`mem::forget`) or held by a thread that never returns does wedge it.
//! Consumers of a shared ring must check [`ctl().err()`](crate::spsc::ReadGuard::ctl).
//!
//! # Fan-in
//!
//! Each producer has its own SPSC link, and one [`FanIn`] consumer polls them all, in a
//! round-robin order whose start moves on after every frag served and which is reshuffled
//! every few rounds (a small xorshift generator, no allocation). Nothing is shared between
//! producers: no cache line is written by two of them, credits, metrics and order are per
//! link, and there is no order across links.
//!
//! # Which one
//!
//! | | shared ring | fan-in |
//! | --- | --- | --- |
//! | order | one total order of all frags (claim order) | per producer only |
//! | producers | any number, added by cloning a handle at run time | fixed when built, one link each |
//! | per-frag cost | one contended compare-exchange on a line all producers write | none shared: the SPSC path |
//! | memory | one ring, `depth * round_up(mtu, 64)` payload bytes | one link per producer |
//! | a stalled producer | blocks the consumer and, once credits run out, everyone | blocks only its own link |
//! | consumer | one poll per frag, batches across producers | a scan over the links, batches per link |
//!
//! Choose the shared ring when the consumer needs one order across producers (a log, a
//! sequencer), when producers come and go, or when there are many producers that each send
//! little. Choose fan-in for throughput and isolation: when producers are few and fixed
//! (threads pinned to cores), each sends a lot, and a slow or dead producer must not hold
//! the others up.
//!
//! Both come with inline storage (a `static`, no allocator: [`InlineRing`],
//! [`InlineFanIn`]) and heap storage (built by [`Ring::builder`] and [`FanIn::builder`],
//! under `alloc`); their handles are handed out as named fields ([`Ring`],
//! [`FanInHandles`], [`InlineFanInHandles`]).
//!
//! ```
//! use milonga::mpsc::Ring;
//! use milonga::{Header, RecvError};
//!
//! let (tx, mut rx) = Ring::builder().depth(64).mtu(32).heap_pair()?;
//! std::thread::scope(|s| {
//!     for p in 0..2u64 {
//!         let tx = tx.clone();
//!         s.spawn(move || {
//!             for i in 0..100u64 {
//!                 let mut claim = tx.claim(8).unwrap(); // waits for a credit
//!                 claim.copy_from_slice(&i.to_le_bytes());
//!                 claim.commit_with(Header::new(p), 8).unwrap();
//!             }
//!         });
//!     }
//!     drop(tx); // the stream closes when the last handle is gone
//!     let mut next = [0u64; 2];
//!     let end = loop {
//!         match rx.recv() {
//!             Ok(frag) => {
//!                 let p = frag.sig() as usize;
//!                 assert_eq!(frag.payload(), &next[p].to_le_bytes()); // each producer in order
//!                 next[p] += 1;
//!             }
//!             Err(end) => break end,
//!         }
//!     };
//!     assert_eq!((next, end), ([100, 100], RecvError::Closed));
//! });
//! # Ok::<(), milonga::LinkError>(())
//! ```

#[cfg(feature = "alloc")]
mod builder;
mod fan_in;
#[cfg(feature = "alloc")]
mod heap;
#[cfg(not(milonga_loom))]
mod inline;
mod ring;
mod ring_metrics;
mod shared_ring;

#[cfg(feature = "alloc")]
pub use builder::{FanInBuilder, RingBuilder};
pub use fan_in::FanIn;
#[cfg(feature = "alloc")]
pub use heap::FanInHandles;
#[cfg(not(milonga_loom))]
pub use inline::{InlineFanIn, InlineFanInHandles, InlineRing};
pub use ring::Ring;
pub use ring_metrics::{RingMetrics, RingSnapshot, StalledClaim};
pub use shared_ring::{RingClaim, RingProducer};

use crate::dcache::chunks_for;
use crate::error::LinkError;

/// The payload store, in chunks, of a shared ring of this depth and mtu: one region of
/// `ceil(mtu / 64)` chunks per slot.
///
/// ```
/// assert_eq!(milonga::mpsc::ring_chunks(1024, 1500), 24 * 1024);
/// ```
pub const fn ring_chunks(depth: usize, mtu: usize) -> usize {
    chunks_for(mtu).saturating_mul(depth)
}

/// Checks a shared ring's geometry: depth a power of two of at least 2, mtu within the
/// frag size field, payload store of at least [`ring_chunks`] chunks and addressable by a
/// `u32`.
pub(crate) const fn check_ring_geometry(
    depth: usize,
    mtu: usize,
    chunks: usize,
) -> Result<(), LinkError> {
    crate::assembly::check_store(depth, mtu, chunks, ring_chunks(depth, mtu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spsc::MTU_MAX;
    use crate::MAX_CHUNKS;

    #[test]
    fn ring_geometry_errors_are_named() {
        assert_eq!(
            check_ring_geometry(3, 64, 100),
            Err(LinkError::BadDepth { depth: 3 })
        );
        assert_eq!(
            check_ring_geometry(4, MTU_MAX + 1, 1 << 20),
            Err(LinkError::MtuTooLarge {
                mtu: MTU_MAX + 1,
                max: MTU_MAX
            })
        );
        assert_eq!(
            check_ring_geometry(4, 65, 7),
            Err(LinkError::BadDataSize {
                chunks: 7,
                needed: 8,
                max: MAX_CHUNKS
            })
        );
        assert_eq!(check_ring_geometry(4, 65, 8), Ok(()));
        assert_eq!(check_ring_geometry(2, 0, 0), Ok(()));
        assert_eq!(ring_chunks(usize::MAX, 64), usize::MAX);
    }
}
