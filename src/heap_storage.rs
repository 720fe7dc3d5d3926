//! The one owner of heap-backed storage (`alloc`), for SPSC links and shared rings alike:
//! its arrays are allocated (the payload store zeroed) when a link is built, shared by the
//! link's handles through an `Arc`, and freed when the last handle is gone.

use alloc::boxed::Box;
use alloc::sync::Arc;

use crate::assembly::Parts;
use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::error::LinkError;
use crate::fseq::Fseq;
use crate::heap_alloc::{boxed_slice, zeroed_slice};
use crate::mcache::{MCache, Slot};
use crate::sync::{AtomicU64, Keep, Ref, Track};

/// How the payload store is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// The compact store of an SPSC link: payloads one after another.
    Compact,
    /// One fixed region of `ceil(mtu / 64)` chunks per slot (a shared ring).
    PerSlot,
}

/// What to allocate: a checked geometry (the caller ran the link's checks) and the
/// number of each kind of consumer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) depth: usize,
    pub(crate) mtu: usize,
    /// Payload store size in 64-byte chunks.
    pub(crate) chunks: usize,
    pub(crate) seq0: u64,
    pub(crate) store: Store,
    /// A per-slot ledger for a producer that writes payloads with atomic stores
    /// ([`Shared`](crate::spsc::Shared)).
    pub(crate) ledger: bool,
    pub(crate) reliable: usize,
    pub(crate) lossy: usize,
}

/// The storage of a heap-backed link, shared by its handles; `X` is whatever else the link
/// kind keeps beside the arrays (nothing for an SPSC link, the claim state for a ring).
pub(crate) struct HeapStorage<X> {
    slots: *mut [Slot],
    ledger: *mut [AtomicU64],
    chunks: *mut [Chunk],
    fseqs: *mut [Fseq],
    lossy: *mut [Fseq],
    cnc: Cnc,
    track: Track,
    extra: X,
    spec: Spec,
}

// SAFETY: the raw pointers are owned boxes (freed only in `Drop`, when no handle is left);
// everything reached through them is atomics (`Slot`, ledger, `Fseq`) or payload chunks
// accessed under the credit protocol, and for a shared ring the claim protocol (`Chunk` is
// `Sync` for that reason); the other fields are `Send` and `Sync` on their own (`X` when
// it is), so sending and sharing the storage is sound.
unsafe impl<X: Send> Send for HeapStorage<X> {}
// SAFETY: as above.
unsafe impl<X: Sync> Sync for HeapStorage<X> {}

impl<X> Drop for HeapStorage<X> {
    fn drop(&mut self) {
        // SAFETY: all came from `Box::into_raw` in `new` and are freed once, here, when the
        // last handle (and with it every view into them) is gone.
        unsafe {
            drop(Box::from_raw(self.slots));
            drop(Box::from_raw(self.ledger));
            drop(Box::from_raw(self.chunks));
            drop(Box::from_raw(self.fseqs));
            drop(Box::from_raw(self.lossy));
        }
    }
}

impl<X: Send + Sync + 'static> HeapStorage<X> {
    /// Allocates a fresh storage: slots empty at `spec.seq0`, fseqs at `spec.seq0`, the
    /// payload store zeroed (the operating system hands out zero pages lazily, so a store
    /// of any size is built without touching the stack), the cnc in `Boot`.
    ///
    /// # Errors
    /// [`LinkError::OutOfMemory`] if an array cannot be allocated; what was allocated
    /// before is freed.
    pub(crate) fn new(spec: Spec, extra: X) -> Result<Arc<Self>, LinkError> {
        let slots: Box<[Slot]> = boxed_slice(spec.depth, || Slot::empty(spec.seq0))?;
        let ledger_len = if spec.ledger { spec.depth } else { 0 };
        let ledger: Box<[AtomicU64]> = boxed_slice(ledger_len, || AtomicU64::new(0))?;
        // SAFETY: a `Chunk` is 64 bytes in an `UnsafeCell`, for which all-zero is a valid
        // value.
        let chunks: Box<[Chunk]> = unsafe { zeroed_slice(spec.chunks) }?;
        let fseqs: Box<[Fseq]> = boxed_slice(spec.reliable, || Fseq::new(spec.seq0))?;
        let lossy: Box<[Fseq]> = boxed_slice(spec.lossy, || Fseq::new(spec.seq0))?;
        Ok(Arc::new(HeapStorage {
            slots: Box::into_raw(slots),
            ledger: Box::into_raw(ledger),
            chunks: Box::into_raw(chunks),
            fseqs: Box::into_raw(fseqs),
            lossy: Box::into_raw(lossy),
            cnc: Cnc::new(),
            track: Track::new(spec.chunks),
            extra,
            spec,
        }))
    }

    /// The views into `this` storage, borrowed for `'static`, and its extra state.
    ///
    /// # Safety
    /// Every handle built from the views (or from the extra state) must hold a
    /// [`keep`](Self::keep) of `this`, so that the allocation outlives every view; and no
    /// reference may be handed out with the `'static` lifetime (every public accessor
    /// borrows from a handle).
    pub(crate) unsafe fn parts(this: &Arc<Self>) -> (Parts<'static>, Ref<'static, X>) {
        let s: *const Self = Arc::as_ptr(this);
        // SAFETY: `s` points into a live `Arc` whose arrays came from `Box::into_raw` and
        // stay allocated while any keep of it exists, which the caller guarantees for every
        // handle built from these views.
        unsafe {
            let spec = (*s).spec;
            let chunks: &'static [Chunk] = &*(*s).chunks;
            let dcache = match spec.store {
                Store::Compact => DCache::new(chunks, &(*s).track, spec.mtu),
                Store::PerSlot => DCache::per_slot(chunks, &(*s).track, spec.mtu, spec.depth),
            };
            let parts = Parts {
                mcache: MCache::new(&*(*s).slots, &*(*s).ledger),
                dcache,
                fseqs: Ref::new(&*(*s).fseqs),
                lossy: Ref::new(&*(*s).lossy),
                cnc: Ref::new(&(*s).cnc),
                seq0: spec.seq0,
            };
            (parts, Ref::new(&(*s).extra))
        }
    }

    /// What a handle holds to keep `this` storage alive.
    pub(crate) fn keep(this: &Arc<Self>) -> Keep {
        Some(this.clone())
    }
}
