//! The payload store: 64-byte chunks (one cache line each), filled compactly by the
//! producer and addressed in 8-byte words.
//!
//! Placement: the producer keeps a cursor (a word offset). A payload of `sz` bytes takes
//! `ceil(sz / 8)` contiguous words:
//! - one of at most 64 bytes goes at the cursor if it fits in the rest of the cursor's
//!   chunk, and otherwise at the start of the next chunk: it never straddles a cache line,
//!   and small payloads share lines (eight 8-byte payloads per line, not one);
//! - a longer one starts on a chunk boundary (the next one at or after the cursor), so a
//!   large payload is line-aligned for copying;
//! - a payload that would cross the end of the store starts at word 0 instead, so a
//!   payload is never split. A zero-size payload occupies nothing.
//!
//! Reuse: every payload either continues the chunk the cursor is in or starts a fresh
//! chunk, and then takes at most `ceil(mtu / 64)` fresh chunks. The store holds at least
//! `depth + 2` such runs (see [`data_chunks`]), so a chunk that holds part of frag `s` is
//! entered afresh (and the bytes of `s` rewritten) no earlier than by frag `s + depth + 1`:
//! after the wrap, fewer than `ceil(mtu / 64)` chunks go unused at the end, and frag `s`
//! itself spans at most `ceil(mtu / 64)`. Frag `s + depth + 1` comes after the producer
//! published `s + depth`, the frag that overwrites the metadata slot of `s`; the credit
//! protocol keeps the producer less than `depth` frags ahead of a reliable consumer, so
//! nothing it still holds is rewritten. Frags that share a chunk occupy disjoint words.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::sync::{AtomicU64, Ordering::Relaxed, Ref, Track};

/// Bytes in one chunk: the unit of payload storage (a cache line). Payloads are addressed
/// in 8-byte words within it ([`FragMeta::offset`](crate::FragMeta::offset)).
pub const CHUNK_SZ: usize = 64;

/// A [`DCache::next_hint`] that names no region: nothing to prefetch.
pub(crate) const NO_HINT: u32 = u32::MAX;

/// Bytes in one word: the unit of payload addressing.
pub(crate) const WORD_SZ: usize = 8;

/// Words in one chunk.
const WORDS_PER_CHUNK: u32 = (CHUNK_SZ / WORD_SZ) as u32;

/// The most chunks a payload store may have (just under 32 GiB): a payload's offset, in
/// 8-byte words, is a `u32`.
pub const MAX_CHUNKS: usize = u32::MAX as usize / (CHUNK_SZ / WORD_SZ);

/// Payloads in flight that are not yet published (one claim at a time per producer).
const BURST: usize = 1;

/// Chunks needed for a payload of `sz` bytes.
#[inline(always)]
pub(crate) const fn chunks_for(sz: usize) -> usize {
    sz.div_ceil(CHUNK_SZ)
}

/// Words needed for a payload of `sz` bytes.
#[inline(always)]
pub(crate) const fn words_for(sz: usize) -> usize {
    sz.div_ceil(WORD_SZ)
}

/// [`words_for`] of a size known to be small (a frag's: at most `u16::MAX`, or checked
/// against the mtu first): `(sz + 7) >> 3`, two instructions where `div_ceil` takes five,
/// on the hot paths of both ends. `sz + 7` cannot overflow for such a size.
#[inline(always)]
const fn words_small(sz: usize) -> usize {
    debug_assert!(sz <= usize::MAX - (WORD_SZ - 1));
    (sz + (WORD_SZ - 1)) >> 3
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

/// [`data_chunks`] in bytes: the smallest payload store a link of this depth and mtu
/// accepts (see [`LinkBuilder::data_bytes`](crate::spsc::LinkBuilder::data_bytes)).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{data_bytes, data_chunks, LinkError, CHUNK_SZ};
///
/// let least = data_bytes(8, 100);
/// assert_eq!(least, data_chunks(8, 100) * CHUNK_SZ);
/// assert!(Link::builder().depth(8).mtu(100).data_bytes(least).heap_pair().is_ok());
/// let err = Link::builder().depth(8).mtu(100).data_bytes(least - CHUNK_SZ).heap_pair();
/// assert!(matches!(err, Err(LinkError::BadDataSize { .. })));
/// ```
pub const fn data_bytes(depth: usize, mtu: usize) -> usize {
    data_chunks(depth, mtu) * CHUNK_SZ
}

/// [`DCache::place`] in a store of `store_words` words (at most `MAX_CHUNKS * 8`, so every
/// offset fits a `u32`), for a cursor at most `store_words`.
///
/// The arithmetic is done in 64 bits: in a store of the largest size the cursor can stand
/// at `0xFFFF_FFF8` (just after a payload that ends at the end of the store), where the
/// first chunk boundary after it, or the end of a payload placed at it, is past `u32::MAX`.
#[inline(always)]
pub(crate) const fn place_in(store_words: usize, cursor: u32, sz: usize) -> u32 {
    const M: u64 = WORDS_PER_CHUNK as u64 - 1;
    let cursor = cursor as u64;
    let words = words_small(sz) as u64;
    // `(cursor | M) + 1` is the first chunk boundary after the cursor; `(cursor + M) & !M`
    // the first at or after it.
    let at = if sz > CHUNK_SZ || cursor + words > (cursor | M) + 1 {
        (cursor + M) & !M
    } else {
        cursor
    };
    if at + words > store_words as u64 {
        0
    } else {
        // `at + words <= store_words <= u32::MAX`.
        at as u32
    }
}

/// A payload region lent for reading, kept as a pointer.
///
/// A guard that lends a payload holds one of these instead of a `&[u8]`: a reference
/// stored in a value that is passed by value (`drop(guard)`) is protected for the whole
/// call under Stacked Borrows, and the guard's drop returns the credit that lets the
/// producer rewrite the region during that call. The slice is formed only when asked for,
/// for a borrow of the guard.
#[derive(Clone, Copy)]
pub(crate) struct RegionRef<'r> {
    ptr: NonNull<u8>,
    len: usize,
    life: PhantomData<&'r [u8]>,
}

impl<'r> RegionRef<'r> {
    /// The bytes; the caller ties the slice to a borrow of the guard that holds the region.
    #[inline(always)]
    pub(crate) fn get(&self) -> &'r [u8] {
        // SAFETY: `DCache::region` made the pointer from an in-bounds region that nobody
        // writes while the holder of this value lives (the credit protocol: its frag's
        // credit goes back only when the holder ends).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

// SAFETY: a `RegionRef` is a `&[u8]` kept as a pointer; `&[u8]` is `Send` and `Sync`.
unsafe impl Send for RegionRef<'_> {}
// SAFETY: as above.
unsafe impl Sync for RegionRef<'_> {}

/// A payload region lent for writing (a producer's claim), kept as a pointer.
///
/// A claim is committed by value (`claim.commit(len)`), and the commit publishes the
/// frag: were the claim's bytes a `&mut [u8]` field, that reference would be protected for
/// the whole call under Stacked Borrows while the consumer, told by the publish, reads
/// the region (undefined behaviour). The `&mut [u8]` is formed only inside
/// [`get_mut`](Self::get_mut), for a borrow of the claim that ends before any commit.
pub(crate) struct RegionMut<'r> {
    ptr: NonNull<u8>,
    len: usize,
    life: PhantomData<&'r mut [u8]>,
}

impl RegionMut<'_> {
    /// The region's length in bytes.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes, for reading.
    #[inline(always)]
    pub(crate) fn get(&self) -> &[u8] {
        // SAFETY: `DCache::region_mut` made the pointer from an in-bounds region that only
        // the holder of this value touches until it publishes the frag, which it does only
        // by giving this value up.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, for writing.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `get`; `&mut self` makes this the only reference formed from it.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

// SAFETY: a `RegionMut` is a `&mut [u8]` kept as a pointer; `&mut [u8]` is `Send` and `Sync`.
unsafe impl Send for RegionMut<'_> {}
// SAFETY: as above.
unsafe impl Sync for RegionMut<'_> {}

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
    /// The store's length in words.
    words: usize,
}

impl<'a> DCache<'a> {
    /// A view of `chunks` for payloads of at most `mtu` bytes. The link constructors check
    /// that the store is large enough ([`data_chunks`]).
    pub(crate) fn new(chunks: &'a [Chunk], track: &'a Track, mtu: usize) -> Self {
        assert!(chunks.len() >= data_chunks(2, mtu) && chunks.len() <= MAX_CHUNKS);
        DCache {
            chunks: Ref::new(chunks),
            track: Ref::new(track),
            mtu,
            words: chunks.len() * (CHUNK_SZ / WORD_SZ),
        }
    }

    /// A view of a store laid out with one fixed region of `chunks_for(mtu)` chunks per
    /// metadata slot of a ring of `depth` slots (the shared multi-producer ring: the region
    /// of seq `s` starts at chunk `(s % depth) * chunks_for(mtu)`, word
    /// [`region_start`](Self::region_start)). The ring constructors
    /// check that the store holds [`ring_chunks(depth, mtu)`](crate::mpsc::ring_chunks).
    pub(crate) fn per_slot(
        chunks: &'a [Chunk],
        track: &'a Track,
        mtu: usize,
        depth: usize,
    ) -> Self {
        assert!(
            chunks.len() >= chunks_for(mtu).saturating_mul(depth) && chunks.len() <= MAX_CHUNKS
        );
        DCache {
            chunks: Ref::new(chunks),
            track: Ref::new(track),
            mtu,
            words: chunks.len() * (CHUNK_SZ / WORD_SZ),
        }
    }

    /// The first word of the fixed region `index` of a [`per_slot`](Self::per_slot) store
    /// (`index < depth`, so it fits a `u32`: the store's words do).
    #[inline(always)]
    pub(crate) fn region_start(&self, index: u64) -> u32 {
        (index * (chunks_for(self.mtu) as u64 * WORDS_PER_CHUNK as u64)) as u32
    }

    /// The largest payload, in bytes.
    #[inline(always)]
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }

    /// Where (a word offset) a payload of `sz <= mtu` bytes goes if the producer's cursor
    /// is at word `cursor` (see the module docs): at the cursor, or at the next chunk
    /// boundary if it is longer than a chunk or would straddle one, or at word 0 if it
    /// would cross the end.
    #[inline(always)]
    pub(crate) fn place(&self, cursor: u32, sz: usize) -> u32 {
        place_in(self.words, cursor, sz)
    }

    /// The cursor after a payload of `sz` bytes placed at word `at` (a region that is in
    /// bounds, so `sz` is at most the mtu).
    #[inline(always)]
    pub(crate) fn after(at: u32, sz: usize) -> u32 {
        at + words_small(sz) as u32
    }

    /// Where the producer will most likely place the payload after one of `sz` bytes at
    /// word `at`, as a prefetch hint: [`NO_HINT`] after a payload larger than a chunk.
    /// Wraps instead of overflowing: `at` and `sz` may come from unchecked metadata.
    ///
    /// (Large payloads get no hint: their first line is a small part of their cost, and
    /// a consumer that prefetches the line the producer is about to fill takes it from
    /// the producer's cache while its copy runs. Measured with 10 KiB payloads through
    /// batch reads: 20-22 GiB/s with a hint after every payload, 26-29 with this gate.)
    #[inline(always)]
    pub(crate) fn next_hint(at: u32, sz: usize) -> u32 {
        if sz > CHUNK_SZ {
            NO_HINT
        } else {
            // `sz <= 64`: at most 8 words.
            at.wrapping_add(words_small(sz) as u32)
        }
    }

    /// Metadata names a region inside the store and within the mtu. Untrusted metadata
    /// must pass this before any address is formed from it.
    #[inline(always)]
    pub(crate) fn in_bounds(&self, at: u32, sz: usize) -> bool {
        // `sz <= mtu` first, so `words_small` cannot overflow; the sum in 64 bits, so it
        // cannot either (on a 32-bit target, `at` can be near `u32::MAX`).
        sz <= self.mtu && at as u64 + words_small(sz) as u64 <= self.words as u64
    }

    /// The addresses the store spans, for tests that check every payload handed out lies
    /// inside it.
    #[cfg(all(test, feature = "std", not(milonga_loom)))]
    pub(crate) fn span(&self) -> core::ops::Range<usize> {
        let start = self.chunks.get().as_ptr().addr();
        start..start + self.words * WORD_SZ
    }

    #[inline(always)]
    fn base(&self, at: u32) -> *mut u8 {
        // `UnsafeCell<[u8; 64]>` is `repr(transparent)` and `Chunk` is `repr(C)`, so the
        // slice is one contiguous run of bytes; the pointer's provenance covers all of it.
        // `wrapping_add` keeps this safe; callers check bounds before dereferencing.
        (self.chunks.as_ptr() as *mut u8).wrapping_add(at as usize * WORD_SZ)
    }

    /// The payload bytes of a published frag, for reading.
    ///
    /// # Safety
    /// `in_bounds(at, sz)` holds, and the caller holds the region: the frag that owns it
    /// is published and its credit not yet returned, so the producer does not write it
    /// while the returned slice lives.
    #[inline(always)]
    pub(crate) unsafe fn payload<'r>(&self, at: u32, sz: usize) -> &'r [u8] {
        debug_assert!(self.in_bounds(at, sz));
        self.track.read(at as usize, words_for(sz));
        // SAFETY: in bounds and not written while the slice lives (caller's contract).
        unsafe { core::slice::from_raw_parts(self.base(at), sz) }
    }

    /// Hints the CPU to start loading the first line of the region at word `at` (a guess:
    /// it may be out of bounds, or not yet written), unless `at` is [`NO_HINT`]. A
    /// prefetch reads nothing into the program and cannot fault; it only lets a payload's
    /// cache miss overlap another one. A no-op off x86-64, and under Miri and loom.
    #[inline(always)]
    pub(crate) fn prefetch(&self, at: u32) {
        #[cfg(all(target_arch = "x86_64", not(miri), not(milonga_loom)))]
        if at != NO_HINT {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p = self.base(at) as *const i8;
            // SAFETY: a prefetch does not access memory in the abstract machine and never
            // faults, whatever the address; `base` formed it with `wrapping_add`. (Older
            // compilers declare the intrinsic `unsafe`, newer ones safe.)
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p)
            };
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(milonga_loom))))]
        let _ = at;
    }

    /// Notes (for loom) that the reader's access to a region ends here.
    #[cfg(milonga_loom)]
    pub(crate) fn release(&self, at: u32, sz: usize) {
        self.track.read(at as usize, words_for(sz));
    }

    /// The payload bytes of a region the producer is about to publish, for writing.
    ///
    /// # Safety
    /// `in_bounds(at, sz)` holds, only the single producer calls this, and no reader
    /// holds any part of the region: the producer holds a credit for the frag that will
    /// own it, and the region was placed by [`DCache::place`] in a store of at least
    /// [`data_chunks`] chunks.
    #[inline(always)]
    pub(crate) unsafe fn payload_mut<'r>(&self, at: u32, sz: usize) -> &'r mut [u8] {
        debug_assert!(self.in_bounds(at, sz));
        self.track.write(at as usize, words_for(sz));
        // SAFETY: in bounds, and no other reference to the region exists while the slice
        // lives (caller's contract).
        unsafe { core::slice::from_raw_parts_mut(self.base(at), sz) }
    }

    /// [`payload`](Self::payload), kept as a pointer (for guards: see [`RegionRef`]).
    ///
    /// # Safety
    /// As [`payload`](Self::payload), for as long as the returned value lives.
    #[inline(always)]
    pub(crate) unsafe fn region<'r>(&self, at: u32, sz: usize) -> RegionRef<'r> {
        debug_assert!(self.in_bounds(at, sz));
        self.track.read(at as usize, words_for(sz));
        RegionRef {
            // SAFETY: `base` offsets the store's (non-null) pointer by an in-bounds amount.
            ptr: unsafe { NonNull::new_unchecked(self.base(at)) },
            len: sz,
            life: PhantomData,
        }
    }

    /// [`payload_mut`](Self::payload_mut), kept as a pointer (for claims: see
    /// [`RegionMut`]).
    ///
    /// # Safety
    /// As [`payload_mut`](Self::payload_mut), for as long as the returned value lives.
    #[inline(always)]
    pub(crate) unsafe fn region_mut<'r>(&self, at: u32, sz: usize) -> RegionMut<'r> {
        debug_assert!(self.in_bounds(at, sz));
        self.track.write(at as usize, words_for(sz));
        RegionMut {
            // SAFETY: as in `region`.
            ptr: unsafe { NonNull::new_unchecked(self.base(at)) },
            len: sz,
            life: PhantomData,
        }
    }

    /// The atomic word `i` of the region at word `at`.
    ///
    /// # Safety
    /// The word lies inside the store (the region is in bounds).
    #[inline(always)]
    unsafe fn word(&self, at: u32, i: usize) -> &AtomicU64 {
        #[cfg(not(milonga_loom))]
        // SAFETY: in bounds (caller's contract) and 8-aligned (the store is 64-aligned and
        // offsets count 8-byte words); the memory is inside `UnsafeCell`s, and every access
        // that may race with this one is atomic too (shared-mode stores and lossy loads);
        // plain reads by reliable readers never overlap a store: the credit protocol keeps
        // the producer off the words of every frag they hold, and frags sharing a chunk
        // use disjoint words.
        unsafe {
            AtomicU64::from_ptr((self.base(at) as *mut u64).add(i))
        }
        #[cfg(milonga_loom)]
        self.track.word(at as usize + i)
    }

    /// Copies `src` into the region at word `at` with relaxed atomic word stores: the
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
    pub(crate) unsafe fn write_shared(&self, at: u32, src: &[u8]) {
        debug_assert!(self.in_bounds(at, src.len()));
        self.track.write(at as usize, words_for(src.len()));
        #[cfg(milonga_loom)]
        // SAFETY: as `payload_mut` (caller's contract); under loom the plain bytes serve the
        // reliable readers and the shadow words the lossy ones.
        unsafe {
            self.payload_mut(at, src.len()).copy_from_slice(src);
        }
        let mut words = src.chunks_exact(8);
        let mut i = 0;
        for w in &mut words {
            let v = u64::from_ne_bytes(w.try_into().unwrap_or([0; 8]));
            // SAFETY: word `i` is inside the region, which is in bounds.
            unsafe { self.word(at, i) }.store(v, Relaxed);
            i += 1;
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            // SAFETY: the region holds `ceil(len / 8)` words, so the padded last word is
            // inside it.
            unsafe { self.word(at, i) }.store(u64::from_ne_bytes(w), Relaxed);
        }
    }

    /// Copies the region at word `at` into `dst` with relaxed atomic word loads: a lossy
    /// reader's copy, valid only if the slot's seq is unchanged afterwards
    /// ([`MCache::still`](crate::mcache::MCache::still)).
    ///
    /// # Safety
    /// `in_bounds(at, dst.len())` holds.
    #[inline(always)]
    pub(crate) unsafe fn read_shared(&self, at: u32, dst: &mut [u8]) {
        debug_assert!(self.in_bounds(at, dst.len()));
        let mut words = dst.chunks_exact_mut(8);
        let mut i = 0;
        for w in &mut words {
            // SAFETY: word `i` is inside the region, which is in bounds.
            let v = unsafe { self.word(at, i) }.load(Relaxed);
            w.copy_from_slice(&v.to_ne_bytes());
            i += 1;
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            // SAFETY: the padded last word is inside the region (see `write_shared`).
            let v = unsafe { self.word(at, i) }.load(Relaxed);
            let n = tail.len();
            tail.copy_from_slice(&v.to_ne_bytes()[..n]);
        }
    }

    /// Notes (for loom) that the producer's write of a region ends here.
    #[inline(always)]
    pub(crate) fn written(&self, at: u32, sz: usize) {
        self.track.write(at as usize, words_for(sz));
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    /// A payload that ends exactly at the end of the largest store leaves the cursor at
    /// `0xFFFF_FFF8`; placing the next one there must not overflow (it did in 32-bit
    /// arithmetic: `(cursor | 7) + 1`).
    #[test]
    fn placement_at_the_end_of_the_largest_store() {
        let words = MAX_CHUNKS * (CHUNK_SZ / WORD_SZ);
        let end = words as u32;
        assert_eq!(end, 0xFFFF_FFF8);
        // The last word, then the cursor at the very end.
        assert_eq!(place_in(words, end - 1, 8), end - 1);
        assert_eq!(DCache::after(end - 1, 8), end);
        // From there: an empty payload stays at the end (it occupies nothing); anything
        // else wraps to word 0.
        assert_eq!(place_in(words, end, 0), end);
        for sz in [1, 8, 63, 64, 65, 4096, crate::spsc::MTU_MAX] {
            assert_eq!(place_in(words, end, sz), 0, "size {sz}");
        }
        // Just before the end: what fits in the last chunk stays, the rest wraps.
        assert_eq!(place_in(words, end - 8, 64), end - 8);
        assert_eq!(place_in(words, end - 4, 32), end - 4);
        assert_eq!(place_in(words, end - 4, 40), 0);
        assert_eq!(place_in(words, end - 1, 65), 0);
        assert_eq!(place_in(words, end - 16, 128), end - 16);
        assert_eq!(place_in(words, end - 15, 128), 0);
    }

    #[test]
    fn placement_never_crosses_the_end_or_a_chunk() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200); // 4 chunks per mtu, 16 = 4 * (2 + 2)
                                                    // Longer than a chunk: at the next chunk boundary, or at 0 past the end (128 words).
        assert_eq!(dc.place(0, 200), 0);
        assert_eq!(dc.place(1, 200), 8);
        assert_eq!(dc.place(96, 200), 96);
        assert_eq!(dc.place(97, 200), 0);
        assert_eq!(dc.place(104, 200), 0);
        assert_eq!(dc.place(100, 65), 104);
        // At most a chunk: at the cursor if it fits in the rest of the chunk.
        assert_eq!(dc.place(3, 8), 3);
        assert_eq!(dc.place(3, 40), 3);
        assert_eq!(dc.place(3, 41), 8);
        assert_eq!(dc.place(7, 8), 7);
        assert_eq!(dc.place(7, 9), 8);
        assert_eq!(dc.place(8, 64), 8);
        assert_eq!(dc.place(9, 64), 16);
        assert_eq!(dc.place(127, 8), 127);
        assert_eq!(dc.place(127, 9), 0);
        assert_eq!(dc.place(128, 0), 128);
        assert_eq!(dc.place(128, 1), 0);
        assert_eq!(DCache::after(127, 8), 128);
        assert_eq!(DCache::after(5, 0), 5);
        assert_eq!(DCache::after(5, 9), 7);
        assert!(dc.in_bounds(128, 0) && dc.in_bounds(103, 200) && !dc.in_bounds(104, 200));
        assert!(dc.in_bounds(127, 8) && !dc.in_bounds(127, 9));
        assert!(!dc.in_bounds(0, 201) && !dc.in_bounds(u32::MAX, 1));
    }

    #[test]
    fn placement_model_keeps_every_frag_in_one_run_of_chunks() {
        // Every size up to the mtu from every cursor: the region is in bounds, does not
        // start before the cursor unless it wrapped to 0, and a payload of at most a chunk
        // stays inside one chunk while a longer one starts on a chunk.
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200);
        for cursor in 0..=128u32 {
            for sz in 0..=200usize {
                let at = dc.place(cursor, sz);
                let end = DCache::after(at, sz);
                assert!(dc.in_bounds(at, sz), "cursor {cursor} sz {sz} at {at}");
                assert!(at >= cursor || at == 0, "cursor {cursor} sz {sz} at {at}");
                if sz > CHUNK_SZ {
                    assert_eq!(at % 8, 0, "cursor {cursor} sz {sz}");
                } else if sz > 0 {
                    assert_eq!(at / 8, (end - 1) / 8, "cursor {cursor} sz {sz} at {at}");
                }
                // Padding skipped before the region is less than a chunk (unless wrapped).
                assert!(
                    at == 0 || at - cursor < 8,
                    "cursor {cursor} sz {sz} at {at}"
                );
            }
        }
    }

    #[test]
    fn regions_are_contiguous_bytes() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200);
        // SAFETY: single-threaded test; the write ends before the read begins.
        unsafe {
            dc.payload_mut(8, 130).copy_from_slice(&[7; 130]);
            assert_eq!(dc.payload(8, 130), &[7; 130][..]);
            assert_eq!(dc.payload(0, 64), &[0; 64][..]);
            assert_eq!(dc.payload(24, 64)[..2], [7, 7]);
            assert_eq!(dc.payload(25, 8), &[0; 8][..]);
            dc.payload_mut(1, 3).copy_from_slice(&[1, 2, 3]);
            assert_eq!(dc.payload(0, 16)[8..12], [1, 2, 3, 0]);
        }
    }

    #[test]
    fn shared_copies_round_trip_every_length() {
        let chunks: [Chunk; 16] = core::array::from_fn(|_| Chunk::zeroed());
        let track = Track::new(16);
        let dc = DCache::new(&chunks, &track, 200);
        for at in [3u32, 40] {
            for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 199, 200] {
                let src: [u8; 200] = core::array::from_fn(|i| (i * 31 + len) as u8);
                let mut dst = [0xAAu8; 201];
                // SAFETY: single-threaded test, in bounds.
                unsafe {
                    dc.write_shared(at, &src[..len]);
                    dc.read_shared(at, &mut dst[..len]);
                    assert_eq!(dc.payload(at, len), &src[..len]);
                }
                assert_eq!(&dst[..len], &src[..len]);
                assert_eq!(dst[len], 0xAA, "nothing past the length is written");
            }
        }
    }
}
