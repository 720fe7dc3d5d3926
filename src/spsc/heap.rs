//! Heap storage sized at run time (`alloc`): allocated zeroed, never built on the stack.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::cnc::Cnc;
use crate::dcache::{data_chunks, Chunk, DCache, CHUNK_SZ};
use crate::error::LinkError;
use crate::fctl::FlowConfig;
use crate::fseq::Fseq;
use crate::heap_alloc::{boxed_slice, zeroed_slice};
use crate::mcache::{MCache, Slot};
use crate::spsc::{check_consumers, check_geometry, MAX_CONSUMERS};
use crate::spsc::{Consumer, Exclusive, LossyConsumer, Parts, Producer, Shared, WriteMode};
use crate::sync::{AtomicU64, Keep, Ref, Track};

/// The geometry of a heap-backed link.
///
/// ```
/// use milonga::spsc::{heap, LinkConfig};
/// use milonga::{FlowConfig, Header};
///
/// let cfg = LinkConfig::new(1024, 1500).first_seq(u64::MAX - 3);
/// let (mut tx, mut rx) = heap(cfg, FlowConfig::new()).unwrap();
/// tx.try_publish(Header::new(0), &[0u8; 1500]).unwrap();
/// assert_eq!(rx.try_recv().unwrap().payload().len(), 1500);
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
            None => data_chunks(self.depth, self.mtu),
        };
        check_geometry(self.depth, self.mtu, chunks)?;
        Ok(chunks)
    }
}

/// The storage of a heap-backed link, shared by its handles.
struct HeapStorage {
    slots: *mut [Slot],
    ledger: *mut [AtomicU64],
    chunks: *mut [Chunk],
    fseqs: *mut [Fseq],
    lossy: *mut [Fseq],
    cnc: Cnc,
    track: Track,
    seq0: u64,
    mtu: usize,
}

// SAFETY: the raw pointers are owned boxes (freed only in `Drop`, when no handle is left);
// everything reached through them is atomics (`Slot`, ledger, `Fseq`) or payload chunks
// accessed under the credit protocol (`Chunk` is `Sync` for that reason), so sharing and
// sending is sound.
unsafe impl Send for HeapStorage {}
// SAFETY: as above.
unsafe impl Sync for HeapStorage {}

impl Drop for HeapStorage {
    fn drop(&mut self) {
        // SAFETY: all came from `Box::into_raw` in `build` and are freed once, here, when
        // the last handle (and with it every view into them) is gone.
        unsafe {
            drop(Box::from_raw(self.slots));
            drop(Box::from_raw(self.ledger));
            drop(Box::from_raw(self.chunks));
            drop(Box::from_raw(self.fseqs));
            drop(Box::from_raw(self.lossy));
        }
    }
}

/// Builds a single-consumer link on the heap and splits it into its producer and its
/// reliable consumer.
///
/// The payload store is allocated zeroed (the operating system hands out zero pages
/// lazily), so a link of any size is built without touching the stack. Errors name the
/// bad parameter; nothing is allocated then.
pub fn heap(
    cfg: LinkConfig,
    flow: FlowConfig,
) -> Result<(Producer<'static>, Consumer<'static>), LinkError> {
    let (tx, reliable, _) = build::<Exclusive>(cfg, flow, 1, 0)?;
    let rx = reliable.into_iter().next().ok_or(LinkError::BadConsumers {
        reliable: 1,
        lossy: 0,
        max: MAX_CONSUMERS,
    })?;
    Ok((tx, rx))
}

/// Builds a link on the heap with `reliable` consumers, every one of which sees every frag
/// in order and gates the producer (its credits are the minimum over them).
///
/// ```
/// use milonga::spsc::{heap_broadcast, LinkConfig};
/// use milonga::{FlowConfig, Header};
///
/// let (mut tx, mut rxs) = heap_broadcast(LinkConfig::new(64, 64), FlowConfig::new(), 2).unwrap();
/// tx.try_publish(Header::new(1), b"to both").unwrap();
/// for rx in &mut rxs {
///     assert_eq!(rx.try_recv().unwrap().payload(), b"to both");
/// }
/// ```
pub fn heap_broadcast(
    cfg: LinkConfig,
    flow: FlowConfig,
    reliable: usize,
) -> Result<(Producer<'static>, Vec<Consumer<'static>>), LinkError> {
    let (tx, reliable, _) = build::<Exclusive>(cfg, flow, reliable, 0)?;
    Ok((tx, reliable))
}

/// Builds a link on the heap with `reliable` consumers that gate the producer and `lossy`
/// consumers that never do (either count may be 0, not both). The producer writes payloads
/// with atomic stores ([`Shared`]), since a lossy consumer may be copying a region the
/// producer rewrites.
///
/// ```
/// use milonga::spsc::{heap_lossy, LinkConfig};
/// use milonga::{FlowConfig, Header};
///
/// let (mut tx, mut reliable, mut lossy) =
///     heap_lossy(LinkConfig::new(64, 64), FlowConfig::new(), 1, 1).unwrap();
/// tx.try_publish(Header::new(1), b"hi").unwrap();
/// assert_eq!(reliable[0].try_recv().unwrap().payload(), b"hi");
/// let mut buf = [0u8; 64];
/// let meta = lossy[0].try_recv(&mut buf).unwrap();
/// assert_eq!(&buf[..meta.sz as usize], b"hi");
/// ```
#[allow(clippy::type_complexity)]
pub fn heap_lossy(
    cfg: LinkConfig,
    flow: FlowConfig,
    reliable: usize,
    lossy: usize,
) -> Result<
    (
        Producer<'static, Shared>,
        Vec<Consumer<'static>>,
        Vec<LossyConsumer<'static>>,
    ),
    LinkError,
> {
    build::<Shared>(cfg, flow, reliable, lossy)
}

#[allow(clippy::type_complexity)]
fn build<W: WriteMode>(
    cfg: LinkConfig,
    flow: FlowConfig,
    reliable: usize,
    lossy: usize,
) -> Result<
    (
        Producer<'static, W>,
        Vec<Consumer<'static>>,
        Vec<LossyConsumer<'static>>,
    ),
    LinkError,
> {
    let chunk_cnt = cfg.chunks()?;
    check_consumers(reliable, lossy)?;
    let flow = flow.resolve(cfg.depth as u64)?;
    let slots: Box<[Slot]> = boxed_slice(cfg.depth, || Slot::empty(cfg.seq0))?;
    let ledger_len = if W::SHARED { cfg.depth } else { 0 };
    let ledger: Box<[AtomicU64]> = boxed_slice(ledger_len, || AtomicU64::new(0))?;
    // SAFETY: a `Chunk` is 64 bytes in an `UnsafeCell`, for which all-zero is a valid value.
    let chunks: Box<[Chunk]> = unsafe { zeroed_slice(chunk_cnt) }?;
    let fseqs: Box<[Fseq]> = (0..reliable).map(|_| Fseq::new(cfg.seq0)).collect();
    let lossy_fseqs: Box<[Fseq]> = (0..lossy).map(|_| Fseq::new(cfg.seq0)).collect();
    let storage = Arc::new(HeapStorage {
        slots: Box::into_raw(slots),
        ledger: Box::into_raw(ledger),
        chunks: Box::into_raw(chunks),
        fseqs: Box::into_raw(fseqs),
        lossy: Box::into_raw(lossy_fseqs),
        cnc: Cnc::new(),
        track: Track::new(chunk_cnt),
        seq0: cfg.seq0,
        mtu: cfg.mtu,
    });
    let s: *const HeapStorage = Arc::as_ptr(&storage);
    // SAFETY: the views borrow the storage for `'static`, which is sound because every
    // handle built from them holds a clone of `storage` (its `keep`), so the allocation
    // outlives every view; no reference is handed out with the `'static` lifetime (every
    // public accessor borrows from a handle).
    let parts = unsafe {
        Parts {
            mcache: MCache::new(&*(*s).slots, &*(*s).ledger),
            dcache: DCache::new(&*(*s).chunks, &(*s).track, (*s).mtu),
            fseqs: Ref::new(&*(*s).fseqs),
            lossy: Ref::new(&*(*s).lossy),
            cnc: Ref::new(&(*s).cnc),
            seq0: (*s).seq0,
        }
    };
    let keep = || -> Keep { Some(storage.clone()) };
    let tx = parts.producer::<W>(flow, keep());
    let rel = (0..reliable)
        .map(|i| parts.consumer(i, flow, keep()))
        .collect();
    let los = (0..lossy)
        .map(|i| parts.lossy_consumer(i, flow, keep()))
        .collect();
    Ok((tx, rel, los))
}
