//! The only module that names atomics.
//!
//! Every other part imports its atomic types, fences, spin hints and padding from here, so
//! one switch selects the implementation:
//! - `core` atomics (through `portable-atomic`, which is `core` wherever the target has
//!   native 64-bit atomics, and an emulation on targets such as thumbv6m that lack them);
//! - `loom` atomics under `--cfg milonga_loom`, for model checking.
//!
//! The orderings of the protocol steps are named constants here. Under
//! `--cfg milonga_weaken="<step>"` one of them is deliberately weakened to `Relaxed`; the
//! loom models are run that way in CI to show that each model fails when the ordering it
//! checks is too weak.

pub(crate) use core::sync::atomic::Ordering;
pub(crate) use crossbeam_utils::CachePadded;
#[cfg(milonga_loom)]
use loom::sync::atomic::fence as raw_fence;
#[cfg(milonga_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(milonga_loom))]
use portable_atomic::fence as raw_fence;
#[cfg(not(milonga_loom))]
pub(crate) use portable_atomic::{AtomicBool, AtomicU64};

/// A memory fence of the given protocol ordering; a fence weakened to `Relaxed` (there is
/// no relaxed fence) is no fence at all.
#[inline(always)]
pub(crate) fn fence(order: Ordering) {
    if !matches!(order, Relaxed) {
        raw_fence(order);
    }
}

use Ordering::{AcqRel, Acquire, Relaxed, Release};

/// A shared reference into a link's storage, kept as a pointer.
///
/// The handles of a heap link own its storage through an `Arc` and point into it. Were
/// those pointers `&'a T` fields, passing the last handle by value to a function that drops
/// it (`drop(tx)`, `tx.halt()`) would free memory that the call's own argument still
/// refers to through a protected reference, which is undefined behaviour (Miri reports it).
/// A `Ref` is a plain pointer with the lifetime of the reference it came from; it makes a
/// reference only when used, for as long as it is used.
pub(crate) struct Ref<'a, T: ?Sized> {
    ptr: core::ptr::NonNull<T>,
    life: core::marker::PhantomData<&'a T>,
}

impl<'a, T: ?Sized> Ref<'a, T> {
    /// A pointer with the lifetime of `r`.
    #[inline(always)]
    pub(crate) fn new(r: &'a T) -> Self {
        Ref {
            ptr: core::ptr::NonNull::from(r),
            life: core::marker::PhantomData,
        }
    }

    /// The reference, for a use that ends before the storage can be freed.
    #[inline(always)]
    pub(crate) fn get(self) -> &'a T {
        // SAFETY: the pointer came from a `&'a T`, and the storage it points into outlives
        // every handle that holds it (inline storage borrowed for `'a`, or heap storage kept
        // alive by the handle's `Keep`); the reference is only used while such a handle is.
        unsafe { self.ptr.as_ref() }
    }
}

impl<'a, T> Ref<'a, [T]> {
    /// A pointer to element `i`.
    #[inline(always)]
    pub(crate) fn at(self, i: usize) -> Ref<'a, T> {
        Ref::new(&self.get()[i])
    }
}

impl<T: ?Sized> Clone for Ref<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Ref<'_, T> {}

impl<T: ?Sized> core::ops::Deref for Ref<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        self.get()
    }
}

// SAFETY: a `Ref` is a shared reference in all but its retagging; it is `Send` and `Sync`
// exactly when `&T` is.
unsafe impl<T: ?Sized + Sync> Send for Ref<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for Ref<'_, T> {}

/// Keeps a link's heap storage alive for as long as a handle into it exists (nothing to
/// keep for inline storage).
#[cfg(feature = "alloc")]
pub(crate) type Keep = Option<alloc::sync::Arc<dyn Send + Sync>>;
/// See the `alloc` variant (a unit struct rather than `()`, so handles can clone it and
/// pass it on without tripping clippy's unit lints).
#[cfg(not(feature = "alloc"))]
#[derive(Clone, Default)]
pub(crate) struct Keep;

/// Publish step 3: the store of a slot's `seq` that makes its body visible.
pub(crate) const SLOT_PUBLISH: Ordering = if cfg!(milonga_weaken = "slot_publish") {
    Relaxed
} else {
    Release
};

/// Read step 1: the load of a slot's `seq` that makes its body visible.
pub(crate) const SLOT_ACQUIRE: Ordering = if cfg!(milonga_weaken = "slot_acquire") {
    Relaxed
} else {
    Acquire
};

/// Publish step 2 (release fence after the in-progress marker) and read step 2 (acquire
/// fence before the re-check): the seqlock fences.
pub(crate) const SEQLOCK_RELEASE: Ordering = if cfg!(milonga_weaken = "seqlock_fence") {
    Relaxed
} else {
    Release
};

/// See [`SEQLOCK_RELEASE`].
pub(crate) const SEQLOCK_ACQUIRE: Ordering = if cfg!(milonga_weaken = "seqlock_fence") {
    Relaxed
} else {
    Acquire
};

/// Credit return: the consumer's store of its progress into its fseq. Everything the
/// consumer did with the payloads before it (reading them) must happen before the
/// producer reuses their chunks.
pub(crate) const FSEQ_PUBLISH: Ordering = if cfg!(milonga_weaken = "fseq_publish") {
    Relaxed
} else {
    Release
};

/// Credit refill: the producer's load of a consumer's fseq.
pub(crate) const FSEQ_ACQUIRE: Ordering = if cfg!(milonga_weaken = "fseq_acquire") {
    Relaxed
} else {
    Acquire
};

/// Halt: the producer's store of the end-of-stream mark into the cnc.
pub(crate) const CNC_RELEASE: Ordering = if cfg!(milonga_weaken = "cnc_release") {
    Relaxed
} else {
    Release
};

/// Drain: the consumer's load of the end-of-stream mark.
pub(crate) const CNC_ACQUIRE: Ordering = if cfg!(milonga_weaken = "cnc_acquire") {
    Relaxed
} else {
    Acquire
};

/// Shared ring, credit refresh: a producer that read the consumer's progress (with
/// [`FSEQ_ACQUIRE`]) stores it into the ring's shared credit mark with this ordering, so a
/// producer that claims on the strength of that mark also sees the consumer's reads of the
/// payload regions the mark frees.
pub(crate) const CREDIT_SHARE: Ordering = if cfg!(milonga_weaken = "credit_share") {
    Relaxed
} else {
    Release
};

/// Shared ring, claim: a producer's load of the shared credit mark, which decides whether
/// its compare-exchange on the claim cursor may be tried. The claim's payload writes are
/// ordered after the consumer's last reads of the region through this load; the
/// compare-exchange itself orders nothing (it only hands out distinct seqs), so it is
/// `Relaxed` and has no constant here.
pub(crate) const CREDIT_TAKE: Ordering = if cfg!(milonga_weaken = "credit_take") {
    Relaxed
} else {
    Acquire
};

/// Shared ring, a producer handle going away: the decrement of the live-handle count. The
/// last handle's decrement acquires every other handle's claims and publishes, so the
/// end-of-stream seq it then reads from the claim cursor covers all of them.
pub(crate) const PRODUCER_LEAVE: Ordering = if cfg!(milonga_weaken = "producer_leave") {
    Relaxed
} else {
    AcqRel
};

/// A hint for one iteration of a busy-wait loop (a yield under loom, so models terminate).
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(milonga_loom)]
    loom::thread::yield_now();
    #[cfg(not(milonga_loom))]
    core::hint::spin_loop();
}

/// Gives up the rest of this thread's time slice.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn yield_now() {
    #[cfg(milonga_loom)]
    loom::thread::yield_now();
    #[cfg(not(milonga_loom))]
    std::thread::yield_now();
}

/// Access tracking for the payload store.
///
/// Payload bytes are plain memory, handed out as `&[u8]` and `&mut [u8]`, so loom cannot
/// see them. Under `milonga_loom` each 8-byte payload word gets a shadow
/// `loom::cell::UnsafeCell`. The payload store touches the cells of a region's words when an
/// access to the region begins (a reader is lent it, the producer starts writing it) and
/// again when it ends (the reader's release, the producer's publish): a read for a reader,
/// a write for the producer. Loom then reports any producer write that is not ordered after
/// a consumer's read by the credit protocol. Outside loom this is a zero-sized no-op.
///
/// Lossy readers copy payloads with atomic loads, which loom can only check on its own
/// atomics; so under loom every payload word also has a shadow `loom` atomic, which the
/// producer's shared-mode stores and the lossy reader's loads go through.
#[cfg(milonga_loom)]
pub(crate) struct Track {
    cells: alloc::boxed::Box<[loom::cell::UnsafeCell<()>]>,
    words: alloc::boxed::Box<[AtomicU64]>,
}

// SAFETY: the cells hold `()` and are never read or written; they are only touched through
// loom's `with`/`with_mut`, whose bookkeeping is itself thread-aware (that is its purpose:
// to report touches from different threads that the protocol does not order).
#[cfg(milonga_loom)]
unsafe impl Sync for Track {}

#[cfg(milonga_loom)]
impl Track {
    pub(crate) fn new(chunks: usize) -> Self {
        Track {
            cells: (0..chunks * (crate::dcache::CHUNK_SZ / 8))
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
            words: (0..chunks * (crate::dcache::CHUNK_SZ / 8))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Notes a read of payload words `first .. first + cnt` (8-byte words).
    pub(crate) fn read(&self, first: usize, cnt: usize) {
        for cell in &self.cells[first..first + cnt] {
            cell.with(|_| ());
        }
    }

    /// Notes a write of payload words `first .. first + cnt` (8-byte words).
    pub(crate) fn write(&self, first: usize, cnt: usize) {
        for cell in &self.cells[first..first + cnt] {
            cell.with_mut(|_| ());
        }
    }

    /// The shadow atomic of payload word `i` (8-byte words from the start of the store).
    pub(crate) fn word(&self, i: usize) -> &AtomicU64 {
        &self.words[i]
    }
}

/// See the loom variant: outside loom there is nothing to track.
#[cfg(not(milonga_loom))]
pub(crate) struct Track;

#[cfg(not(milonga_loom))]
impl Track {
    #[inline(always)]
    pub(crate) const fn new(_chunks: usize) -> Self {
        Track
    }

    #[inline(always)]
    pub(crate) fn read(&self, _first: usize, _cnt: usize) {}

    #[inline(always)]
    pub(crate) fn write(&self, _first: usize, _cnt: usize) {}
}

/// Dispatch admission step 1: an enqueue's compare-exchange that admits its item. It must
/// acquire the consumer's release of earlier items (step 2), so that the ring slots freed
/// before that release are visible to the publish that follows.
#[cfg(feature = "std")]
pub(crate) const ADMIT_ACQUIRE: Ordering = if cfg!(milonga_weaken = "admit_acquire") {
    Relaxed
} else {
    Acquire
};

/// Dispatch admission step 2: the consumer's subtraction of released items, after it
/// published its progress to the ring.
#[cfg(feature = "std")]
pub(crate) const ADMIT_RELEASE: Ordering = if cfg!(milonga_weaken = "admit_release") {
    Relaxed
} else {
    Release
};
