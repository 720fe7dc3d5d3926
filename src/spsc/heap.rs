//! Heap storage sized at run time (`alloc`): allocated zeroed, never built on the stack.

use alloc::boxed::Box;
use alloc::sync::Arc;

use crate::cnc::Cnc;
use crate::dcache::{data_chunks, Chunk, DCache, CHUNK_SZ};
use crate::error::LinkError;
use crate::fctl::FlowConfig;
use crate::fseq::Fseq;
use crate::mcache::{MCache, Slot};
use crate::spsc::{check_geometry, Consumer, Parts, Producer};
use crate::sync::Track;

/// The geometry of a heap-backed link.
///
/// ```
/// use milonga::spsc::{heap, LinkConfig};
/// use milonga::{FlowConfig, Header};
///
/// let cfg = LinkConfig::new(1024, 1500).first_seq(u64::MAX - 3);
/// let (mut tx, mut rx) = heap(cfg, FlowConfig::new()).unwrap();
/// tx.try_publish(Header::new(0), &[0u8; 1500]).unwrap();
/// assert_eq!(rx.poll().unwrap().payload().len(), 1500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    depth: usize,
    mtu: usize,
    data_bytes: Option<usize>,
    seq0: u64,
}

impl LinkConfig {
    /// `depth` metadata slots (a power of two, at least 2) and payloads of at most `mtu`
    /// bytes; the payload store gets the smallest size that works,
    /// [`data_bytes(depth, mtu)`](crate::data_bytes).
    pub const fn new(depth: usize, mtu: usize) -> Self {
        LinkConfig {
            depth,
            mtu,
            data_bytes: None,
            seq0: 0,
        }
    }

    /// A payload store of `bytes` (rounded down to whole 64-byte chunks); at least
    /// [`data_bytes(depth, mtu)`](crate::data_bytes).
    pub const fn data_bytes(mut self, bytes: usize) -> Self {
        self.data_bytes = Some(bytes);
        self
    }

    /// The first frag's seq (0 by default).
    pub const fn first_seq(mut self, seq0: u64) -> Self {
        self.seq0 = seq0;
        self
    }

    fn chunks(&self) -> Result<usize, LinkError> {
        let chunks = match self.data_bytes {
            Some(bytes) => bytes / CHUNK_SZ,
            None => data_chunks(self.depth.min(1 << 40), self.mtu.min(1 << 20)),
        };
        check_geometry(self.depth, self.mtu, chunks)?;
        Ok(chunks)
    }
}

/// The storage of a heap-backed link, shared by its two ends.
pub(crate) struct HeapStorage {
    slots: *mut [Slot],
    chunks: *mut [Chunk],
    fseqs: [Fseq; 1],
    cnc: Cnc,
    track: Track,
    seq0: u64,
    mtu: usize,
}

// SAFETY: the raw pointers are owned boxes (freed only in `Drop`, when no handle is left);
// everything reached through them is atomics (`Slot`) or payload chunks accessed under the
// credit protocol (`Chunk` is `Sync` for that reason), so sharing and sending is sound.
unsafe impl Send for HeapStorage {}
// SAFETY: as above.
unsafe impl Sync for HeapStorage {}

impl Drop for HeapStorage {
    fn drop(&mut self) {
        // SAFETY: both came from `Box::into_raw` in `heap` and are freed once, here, when the
        // last handle (and with it every view into them) is gone.
        unsafe {
            drop(Box::from_raw(self.slots));
            drop(Box::from_raw(self.chunks));
        }
    }
}

/// Builds a link on the heap and splits it into its producer and consumer.
///
/// The payload store is allocated zeroed (the operating system hands out zero pages
/// lazily), so a link of any size is built without touching the stack. Errors name the
/// bad parameter; nothing is allocated then.
pub fn heap(
    cfg: LinkConfig,
    flow: FlowConfig,
) -> Result<(Producer<'static>, Consumer<'static>), LinkError> {
    let chunk_cnt = cfg.chunks()?;
    let flow = flow.resolve(cfg.depth as u64)?;
    let slots: Box<[Slot]> = (0..cfg.depth).map(|_| Slot::empty(cfg.seq0)).collect();
    // SAFETY: a `Chunk` is 64 bytes in an `UnsafeCell`, for which all-zero is a valid value.
    let chunks: Box<[Chunk]> = unsafe { Box::new_zeroed_slice(chunk_cnt).assume_init() };
    let storage = Arc::new(HeapStorage {
        slots: Box::into_raw(slots),
        chunks: Box::into_raw(chunks),
        fseqs: [Fseq::new(cfg.seq0)],
        cnc: Cnc::new(),
        track: Track::new(chunk_cnt),
        seq0: cfg.seq0,
        mtu: cfg.mtu,
    });
    let s: *const HeapStorage = Arc::as_ptr(&storage);
    // SAFETY: the views borrow the storage for `'static`, which is sound because every
    // handle built from them holds a clone of `storage` (the `keep` closure), so the
    // allocation outlives every view; no view is handed out with the `'static` lifetime.
    let parts = unsafe {
        Parts {
            mcache: MCache::new(&*(*s).slots),
            dcache: DCache::new(&*(*s).chunks, &(*s).track, (*s).mtu),
            fseqs: &(*s).fseqs,
            cnc: &(*s).cnc,
            seq0: (*s).seq0,
        }
    };
    Ok(parts.split(flow, || Some(storage.clone())))
}
