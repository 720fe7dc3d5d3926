//! The payload store: a region of 64-byte chunks, allocated compactly by the producer.
//!
//! A payload of `sz` bytes occupies `ceil(sz / 64)` contiguous chunks. The producer keeps
//! a cursor; a payload that would cross the end of the store starts again at chunk 0
//! instead, so a payload is never split. A zero-size payload occupies no chunk.
//!
//! Reuse: the store holds at least `depth + 2` payloads of `mtu` bytes (see
//! [`data_chunks`]), so the chunks of frag `s` are reused no earlier than by frag
//! `s + depth + 1`, after the producer has published `s + depth`, the frag that overwrites
//! the metadata slot of `s`. The credit protocol keeps the producer less than `depth`
//! frags ahead of a reliable consumer, so nothing it still holds is rewritten.

use core::cell::UnsafeCell;

use crate::sync::{AtomicU64, Ordering::Relaxed, Ref, Track};

/// Bytes in one chunk: the unit of payload addressing.
pub const CHUNK_SZ: usize = 64;

/// Payloads in flight that are not yet published (one claim at a time per producer).
const BURST: usize = 1;

/// Chunks needed for a payload of `sz` bytes.
#[inline(always)]
pub(crate) const fn chunks_for(sz: usize) -> usize {
    sz.div_ceil(CHUNK_SZ)
}

/// The smallest payload store, in chunks, for a link of this depth and mtu:
/// `ceil(mtu / 64) * (depth + 2)`, room for `depth + 1` published payloads and one being
/// written.
///
/// ```
/// assert_eq!(milonga::data_chunks(1024, 1500), 24 * 1026);
/// ```
pub const fn data_chunks(depth: usize, mtu: usize) -> usize {
    chunks_for(mtu).saturating_mul(depth.saturating_add(BURST + 1))
}

/// [`data_chunks`] in bytes.
pub const fn data_bytes(depth: usize, mtu: usize) -> usize {
    data_chunks(depth, mtu) * CHUNK_SZ
}

/// Copies `src` into `dst` (of the same length). Payloads of up to 16 bytes, the common
/// case of small messages, are copied with at most two pairs of overlapping word moves
/// instead of a call into `memcpy`.
#[inline(always)]
pub(crate) fn copy_payload(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (8..=16).contains(&n) {
        let head: [u8; 8] = src[..8].try_into().unwrap_or([0; 8]);
        let tail: [u8; 8] = src[n - 8..].try_into().unwrap_or([0; 8]);
        dst[..8].copy_from_slice(&head);
        dst[n - 8..].copy_from_slice(&tail);
    } else if (4..8).contains(&n) {
        let head: [u8; 4] = src[..4].try_into().unwrap_or([0; 4]);
        let tail: [u8; 4] = src[n - 4..].try_into().unwrap_or([0; 4]);
        dst[..4].copy_from_slice(&head);
        dst[n - 4..].copy_from_slice(&tail);
    } else {
        dst.copy_from_slice(src);
    }
}

/// One 64-byte, 64-aligned unit of payload memory.
#[repr(C, align(64))]
pub(crate) struct Chunk(UnsafeCell<[u8; CHUNK_SZ]>);

impl Chunk {
    /// A zeroed chunk. All-zero bytes are also a valid `Chunk`, which lets heap stores be
    /// allocated zeroed.
    #[cfg_attr(milonga_loom, allow(dead_code))]
    pub(crate) const fn zeroed() -> Chunk {
        Chunk(UnsafeCell::new([0; CHUNK_SZ]))
    }
}

// SAFETY: chunk bytes are only reached through `DCache::payload` and `DCache::payload_mut`,
// whose callers hold the region under the credit protocol: the producer writes a region
// only while no consumer may read it, and a consumer reads it only between the producer's
// publication of the frag and its own credit return.
unsafe impl Sync for Chunk {}

/// A borrowed view of a payload store.
#[derive(Clone, Copy)]
pub(crate) struct DCache<'a> {
    chunks: Ref<'a, [Chunk]>,
    track: Ref<'a, Track>,
    mtu: usize,
}

impl<'a> DCache<'a> {
    /// A view of `chunks` for payloads of at most `mtu` bytes. The link constructors check
    /// that the store is large enough ([`data_chunks`]).
    pub(crate) fn new(chunks: &'a [Chunk], track: &'a Track, mtu: usize) -> Self {
        assert!(chunks.len() >= data_chunks(2, mtu) && chunks.len() <= u32::MAX as usize);
        DCache {
            chunks: Ref::new(chunks),
            track: Ref::new(track),
            mtu,
        }
    }

    /// A view of a store laid out with one fixed region of `chunks_for(mtu)` chunks per
    /// metadata slot of a ring of `depth` slots (the shared multi-producer ring: the region
    /// of seq `s` starts at chunk `(s % depth) * chunks_for(mtu)`). The ring constructors
    /// check that the store holds [`ring_chunks(depth, mtu)`](crate::mpsc::ring_chunks).
    pub(crate) fn per_slot(
        chunks: &'a [Chunk],
        track: &'a Track,
        mtu: usize,
        depth: usize,
    ) -> Self {
        assert!(
            chunks.len() >= chunks_for(mtu).saturating_mul(depth)
                && chunks.len() <= u32::MAX as usize
        );
        DCache {
            chunks: Ref::new(chunks),
            track: Ref::new(track),
            mtu,
        }
    }

    /// The largest payload, in bytes.
    #[inline(always)]
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }

    /// Where a payload of `sz <= mtu` bytes goes if the producer's cursor is at `cursor`:
    /// at the cursor, or at chunk 0 if it would cross the end.
    #[inline(always)]
    pub(crate) fn place(&self, cursor: u32, sz: usize) -> u32 {
        if cursor as usize + chunks_for(sz) > self.chunks.len() {
            0
        } else {
            cursor
        }
    }

    /// Metadata names a region inside the store and within the mtu. Untrusted metadata
    /// must pass this before any address is formed from it.
    #[inline(always)]
    pub(crate) fn in_bounds(&self, chunk: u32, sz: usize) -> bool {
        sz <= self.mtu && chunk as usize + chunks_for(sz) <= self.chunks.len()
    }

    #[inline(always)]
    fn base(&self, chunk: u32) -> *mut u8 {
        // `UnsafeCell<[u8; 64]>` is `repr(transparent)` and `Chunk` is `repr(C)`, so the
        // slice is one contiguous run of bytes; the pointer's provenance covers all of it.
        // `wrapping_add` keeps this safe; callers check bounds before dereferencing.
        (self.chunks.as_ptr() as *mut u8).wrapping_add(chunk as usize * CHUNK_SZ)
    }

    /// The payload bytes of a published frag, for reading.
    ///
    /// # Safety
    /// `in_bounds(chunk, sz)` holds, and the caller holds the region: the frag that owns it
    /// is published and its credit not yet returned, so the producer does not write it
    /// while the returned slice lives.
    #[inline(always)]
    pub(crate) unsafe fn payload<'r>(&self, chunk: u32, sz: usize) -> &'r [u8] {
        debug_assert!(self.in_bounds(chunk, sz));
        self.track.read(chunk as usize, chunks_for(sz));
        // SAFETY: in bounds and not written while the slice lives (caller's contract).
        unsafe { core::slice::from_raw_parts(self.base(chunk), sz) }
    }

    /// Hints the CPU to start loading the first line of the region at `chunk` (a guess:
    /// it may be out of bounds, or not yet written). A prefetch reads nothing into the
    /// program and cannot fault; it only lets a payload's cache miss overlap another one.
    /// A no-op off x86-64, and under Miri and loom.
    #[inline(always)]
    pub(crate) fn prefetch(&self, chunk: u32) {
        #[cfg(all(target_arch = "x86_64", not(miri), not(milonga_loom)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p = self.base(chunk) as *const i8;
            // SAFETY: a prefetch does not access memory in the abstract machine and never
            // faults, whatever the address; `base` formed it with `wrapping_add`. (Older
            // compilers declare the intrinsic `unsafe`, newer ones safe.)
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p)
            };
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(milonga_loom))))]
        let _ = chunk;
    }

    /// Notes (for loom) that the reader's access to a region ends here.
    #[cfg(milonga_loom)]
    pub(crate) fn release(&self, chunk: u32, sz: usize) {
        self.track.read(chunk as usize, chunks_for(sz));
    }

    /// The payload bytes of a region the producer is about to publish, for writing.
    ///
    /// # Safety
    /// `in_bounds(chunk, sz)` holds, only the single producer calls this, and no reader
    /// holds any part of the region: the producer holds a credit for the frag that will
    /// own it, and the region was placed by [`DCache::place`] in a store of at least
    /// [`data_chunks`] chunks.
    #[inline(always)]
    pub(crate) unsafe fn payload_mut<'r>(&self, chunk: u32, sz: usize) -> &'r mut [u8] {
        debug_assert!(self.in_bounds(chunk, sz));
        self.track.write(chunk as usize, chunks_for(sz));
        // SAFETY: in bounds, and no other reference to the region exists while the slice
        // lives (caller's contract).
        unsafe { core::slice::from_raw_parts_mut(self.base(chunk), sz) }
    }

    /// The atomic word `i` of the region at `chunk`.
    ///
    /// # Safety
    /// The word lies inside the store (the region is in bounds).
    #[inline(always)]
    unsafe fn word(&self, chunk: u32, i: usize) -> &AtomicU64 {
        #[cfg(not(milonga_loom))]
        // SAFETY: in bounds (caller's contract) and 8-aligned (chunks are 64-aligned); the
        // memory is inside `UnsafeCell`s, and every access that may race with this one is
        // atomic too (shared-mode stores and lossy loads); plain reads by reliable readers
        // never overlap a store (credit protocol).
        unsafe {
            AtomicU64::from_ptr((self.base(chunk) as *mut u64).add(i))
        }
        #[cfg(milonga_loom)]
        self.track.word(chunk as usize * (CHUNK_SZ / 8) + i)
    }

    /// Copies `src` into the region at `chunk` with relaxed atomic word stores: the
    /// producer's write on a link that lossy readers may be reading.
    ///
    /// No fence is needed here: the region was last used by a frag `s` at least `depth + 1`
    /// frags back (the store holds `depth + 2` payloads), and the producer published frag
    /// `s + depth` in between, whose publish stored into the slot of `s` (step 1) and then
    /// issued a release fence (step 2). A lossy reader that sees any of these stores and
    /// then issues its acquire fence (read step 2) therefore sees the slot of `s` changed,
    /// and discards its copy.
    ///
    /// # Safety
    /// As [`payload_mut`](Self::payload_mut), except that lossy readers may read the region
    /// concurrently (with atomic loads, and they discard what they read).
    #[inline(always)]
    pub(crate) unsafe fn write_shared(&self, chunk: u32, src: &[u8]) {
        debug_assert!(self.in_bounds(chunk, src.len()));
        self.track.write(chunk as usize, chunks_for(src.len()));
        #[cfg(milonga_loom)]
        // SAFETY: as `payload_mut` (caller's contract); under loom the plain bytes serve the
        // reliable readers and the shadow words the lossy ones.
        unsafe {
            self.payload_mut(chunk, src.len()).copy_from_slice(src);
        }
        let mut words = src.chunks_exact(8);
        let mut i = 0;
        for w in &mut words {
            let v = u64::from_ne_bytes(w.try_into().unwrap_or([0; 8]));
            // SAFETY: word `i` is inside the region, which is in bounds.
            unsafe { self.word(chunk, i) }.store(v, Relaxed);
            i += 1;
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            // SAFETY: the region holds `ceil(len / 64)` chunks, so the padded last word is
            // inside it.
            unsafe { self.word(chunk, i) }.store(u64::from_ne_bytes(w), Relaxed);
        }
    }

    /// Copies the region at `chunk` into `dst` with relaxed atomic word loads: a lossy
    /// reader's copy, valid only if the slot's seq is unchanged afterwards
    /// ([`MCache::still`](crate::mcache::MCache::still)).
    ///
    /// # Safety
    /// `in_bounds(chunk, dst.len())` holds.
    #[inline(always)]
    pub(crate) unsafe fn read_shared(&self, chunk: u32, dst: &mut [u8]) {
        debug_assert!(self.in_bounds(chunk, dst.len()));
        let mut words = dst.chunks_exact_mut(8);
        let mut i = 0;
        for w in &mut words {
            // SAFETY: word `i` is inside the region, which is in bounds.
            let v = unsafe { self.word(chunk, i) }.load(Relaxed);
            w.copy_from_slice(&v.to_ne_bytes());
            i += 1;
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            // SAFETY: the padded last word is inside the region (see `write_shared`).
            let v = unsafe { self.word(chunk, i) }.load(Relaxed);
            let n = tail.len();
            tail.copy_from_slice(&v.to_ne_bytes()[..n]);
        }
    }

    /// Notes (for loom) that the producer's write of a region ends here.
    #[inline(always)]
    pub(crate) fn written(&self, chunk: u32, sz: usize) {
        self.track.write(chunk as usize, chunks_for(sz));
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn placement_never_crosses_the_end() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200); // 4 chunks per mtu, 16 = 4 * (2 + 2)
        assert_eq!(dc.place(0, 200), 0);
        assert_eq!(dc.place(12, 200), 12);
        assert_eq!(dc.place(13, 200), 0);
        assert_eq!(dc.place(15, 64), 15);
        assert_eq!(dc.place(16, 0), 16);
        assert_eq!(dc.place(16, 1), 0);
        assert!(dc.in_bounds(16, 0) && dc.in_bounds(12, 200) && !dc.in_bounds(13, 200));
        assert!(!dc.in_bounds(0, 201) && !dc.in_bounds(u32::MAX, 1));
    }

    #[test]
    fn regions_are_contiguous_bytes() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200);
        // SAFETY: single-threaded test; the write ends before the read begins.
        unsafe {
            dc.payload_mut(1, 130).copy_from_slice(&[7; 130]);
            assert_eq!(dc.payload(1, 130), &[7; 130][..]);
            assert_eq!(dc.payload(0, 64), &[0; 64][..]);
            assert_eq!(dc.payload(3, 64)[..2], [7, 7]);
        }
    }

    #[test]
    fn shared_copies_round_trip_every_length() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200);
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 199, 200] {
            let src: [u8; 200] = core::array::from_fn(|i| (i * 31 + len) as u8);
            let mut dst = [0xAAu8; 201];
            // SAFETY: single-threaded test, in bounds.
            unsafe {
                dc.write_shared(5, &src[..len]);
                dc.read_shared(5, &mut dst[..len]);
                assert_eq!(dc.payload(5, len), &src[..len]);
            }
            assert_eq!(&dst[..len], &src[..len]);
            assert_eq!(dst[len], 0xAA, "nothing past the length is written");
        }
    }
}
