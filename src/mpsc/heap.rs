//! Heap storage for the shared ring and for fan-in (`alloc`): sized at run time,
//! allocated zeroed.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::error::LinkError;
use crate::fctl::FlowConfig;
use crate::fseq::Fseq;
use crate::heap_alloc::{boxed_slice, vec_with_capacity, zeroed_slice};
use crate::mcache::{MCache, Slot};
use crate::mpsc::shared_ring::{self, RingState};
use crate::mpsc::{check_ring_geometry, ring_chunks, FanIn, RingProducer};
use crate::spsc::{heap, Consumer, LinkConfig, Parts, Producer};
use crate::sync::{Keep, Ref, Track};

/// The geometry of a heap-backed shared ring.
///
/// ```
/// use milonga::mpsc::{heap_ring, RingConfig};
/// use milonga::{FlowConfig, Header};
///
/// let (tx, mut rx) = heap_ring(RingConfig::new(1024, 1500).first_seq(7), FlowConfig::new()).unwrap();
/// assert_eq!(tx.try_publish(Header::new(0), &[1u8; 1500]), Ok(7));
/// assert_eq!(rx.try_recv().unwrap().payload().len(), 1500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    depth: usize,
    mtu: usize,
    seq0: u64,
}

impl RingConfig {
    /// `depth` metadata slots (a power of two, at least 2) and payloads of at most `mtu`
    /// bytes; the payload store holds one mtu region per slot
    /// ([`ring_chunks`](crate::mpsc::ring_chunks)).
    pub const fn new(depth: usize, mtu: usize) -> Self {
        RingConfig {
            depth,
            mtu,
            seq0: 0,
        }
    }

    /// The first frag's seq (0 by default).
    pub const fn first_seq(mut self, seq0: u64) -> Self {
        self.seq0 = seq0;
        self
    }
}

/// The storage of a heap-backed ring, shared by its handles.
struct HeapRing {
    slots: *mut [Slot],
    chunks: *mut [Chunk],
    fseq: *mut [Fseq],
    cnc: Cnc,
    state: RingState,
    track: Track,
    seq0: u64,
    mtu: usize,
    depth: usize,
}

// SAFETY: the raw pointers are owned boxes (freed only in `Drop`, when no handle is left);
// everything reached through them is atomics (`Slot`, `Fseq`) or payload chunks accessed
// under the claim and credit protocols (`Chunk` is `Sync` for that reason).
unsafe impl Send for HeapRing {}
// SAFETY: as above.
unsafe impl Sync for HeapRing {}

impl Drop for HeapRing {
    fn drop(&mut self) {
        // SAFETY: all came from `Box::into_raw` in `heap_ring` and are freed once, here,
        // when the last handle (and with it every view into them) is gone.
        unsafe {
            drop(Box::from_raw(self.slots));
            drop(Box::from_raw(self.chunks));
            drop(Box::from_raw(self.fseq));
        }
    }
}

/// Builds a shared multi-producer ring on the heap and splits it into its first producer
/// handle (clone it for more producers) and its consumer.
///
/// The payload store is allocated zeroed; errors name the bad parameter, and nothing is
/// allocated then.
pub fn heap_ring(
    cfg: RingConfig,
    flow: FlowConfig,
) -> Result<(RingProducer<'static>, Consumer<'static>), LinkError> {
    let chunk_cnt = ring_chunks(cfg.depth, cfg.mtu);
    check_ring_geometry(cfg.depth, cfg.mtu, chunk_cnt)?;
    let flow = flow.resolve(cfg.depth as u64)?;
    let slots: Box<[Slot]> = boxed_slice(cfg.depth, || Slot::empty(cfg.seq0))?;
    // SAFETY: a `Chunk` is 64 bytes in an `UnsafeCell`, for which all-zero is a valid value.
    let chunks: Box<[Chunk]> = unsafe { zeroed_slice(chunk_cnt) }?;
    let fseq: Box<[Fseq]> = Box::new([Fseq::new(cfg.seq0)]);
    let storage = Arc::new(HeapRing {
        slots: Box::into_raw(slots),
        chunks: Box::into_raw(chunks),
        fseq: Box::into_raw(fseq),
        cnc: Cnc::new(),
        state: RingState::new(cfg.seq0),
        track: Track::new(chunk_cnt),
        seq0: cfg.seq0,
        mtu: cfg.mtu,
        depth: cfg.depth,
    });
    let s: *const HeapRing = Arc::as_ptr(&storage);
    // SAFETY: the views borrow the storage for `'static`, which is sound because every
    // handle built from them holds a clone of `storage` (its `keep`), so the allocation
    // outlives every view; no reference is handed out with the `'static` lifetime (every
    // public accessor borrows from a handle).
    let (parts, state) = unsafe {
        (
            Parts {
                mcache: MCache::new(&*(*s).slots, &[]),
                dcache: DCache::per_slot(&*(*s).chunks, &(*s).track, (*s).mtu, (*s).depth),
                fseqs: Ref::new(&*(*s).fseq),
                lossy: Ref::new(&[]),
                cnc: Ref::new(&(*s).cnc),
                seq0: (*s).seq0,
            },
            &(*s).state,
        )
    };
    let keep = || -> Keep { Some(storage.clone()) };
    Ok(shared_ring::split(parts, Ref::new(state), flow, keep))
}

/// Builds `links` SPSC links on the heap, each with this geometry and flow control, and
/// returns their producers (producer `i` feeds link `i`) and one [`FanIn`] consumer over
/// them. With 0 links the fan-in is closed from the start.
///
/// # Errors
/// As [`heap`](crate::spsc::heap); nothing is kept then.
#[allow(clippy::type_complexity)]
pub fn heap_fan_in(
    links: usize,
    cfg: LinkConfig,
    flow: FlowConfig,
) -> Result<
    (
        Vec<Producer<'static>>,
        FanIn<'static, Vec<Consumer<'static>>>,
    ),
    LinkError,
> {
    // Fallible: a count the allocator cannot hold is `OutOfMemory`, not an abort.
    let mut txs = vec_with_capacity(links)?;
    let mut rxs = vec_with_capacity(links)?;
    for _ in 0..links {
        let (tx, rx) = heap(cfg, flow)?;
        txs.push(tx);
        rxs.push(rx);
    }
    Ok((txs, FanIn::new(rxs)))
}
