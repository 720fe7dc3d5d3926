//! Exact deduplication of the last `N` 64-bit tags: a ring for age, the oldest tag evicted
//! first, and a sparse hash map for lookup.
//!
//! A tag seen again while it is among the last `N` distinct tags inserted is a duplicate;
//! a duplicate does not refresh its age (it is evicted when its first insertion is the
//! oldest). Every `u64` is an ordinary tag, 0 and `u64::MAX` included.
//!
//! Two owners share one algorithm: [`Tcache<N>`] keeps its storage inline (fixed depth,
//! no allocation, `no_std`, `const fn new`, so it can live in a `static`) and
//! [`HeapTcache`] (`alloc`) allocates a depth chosen at run time, zeroed, never on the
//! stack.
//!
//! ```
//! use milonga::Tcache;
//! let mut tc: Tcache<4> = Tcache::new();
//! assert!(!tc.insert(1)); // new
//! assert!(tc.insert(1));  // duplicate
//! for t in 2..=5 { tc.insert(t); } // 1 is evicted by 5
//! assert!(!tc.contains(1));
//! assert!(!tc.insert(1));
//! ```
//!
//! The design (map, load factor, probing, deletion, hash) and the sizes are documented on
//! [`Tcache`].

#[cfg(feature = "alloc")]
use alloc::boxed::Box;

/// Map slots per tag of depth: the map has `4N` slots, so its load stays at or below 1/4
/// (see the design notes on [`Tcache`]).
const SLOTS_PER_TAG: usize = 4;

/// Bytes of storage per tag of depth: one ring slot and the map slots.
const BYTES_PER_TAG: usize = (1 + SLOTS_PER_TAG) * core::mem::size_of::<u64>();

/// The largest depth: 2^31 (the ring position and the count are `u32`), or on a smaller
/// address space the largest power of two whose storage fits in `isize::MAX` bytes.
const MAX_DEPTH: usize = {
    const CAP: u64 = 1 << 31;
    let fit = isize::MAX as usize / BYTES_PER_TAG;
    let fit: usize = 1 << (usize::BITS - 1 - fit.leading_zeros());
    if (fit as u64) < CAP {
        fit
    } else {
        CAP as usize
    }
};

/// The map's home slot for `tag` is `hash(tag) & mask`: the MurmurHash3 finaliser (also
/// the gap detector's, in `seq_gap`).
#[inline(always)]
pub(crate) const fn hash(tag: u64) -> u64 {
    let mut h = tag;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The home slot of `tag` in a map of `mask + 1` slots.
#[inline(always)]
fn home(tag: u64, mask: usize) -> usize {
    // Truncating on 32-bit targets keeps the low bits, which are as well mixed.
    hash(tag) as usize & mask
}

/// The small state beside the two arrays.
#[derive(Clone, Copy, Debug)]
struct Meta {
    /// The ring slot the next new tag goes to (it holds the oldest tag once full).
    next: u32,
    /// Tags held, at most the depth.
    len: u32,
    /// Tag 0 is held (it cannot be stored in the map, where 0 marks an empty slot).
    zero: bool,
}

impl Meta {
    const EMPTY: Meta = Meta {
        next: 0,
        len: 0,
        zero: false,
    };
}

/// Looks `tag` (not 0) up: `Ok(slot)` holding it, or `Err(slot)`, the empty slot that
/// ended the probe sequence (where it would be inserted).
///
/// Terminates because the map always has an empty slot (at most `N + 1` of `4N` used).
#[inline(always)]
fn probe(map: &[u64], tag: u64) -> Result<usize, usize> {
    debug_assert!(tag != 0 && map.len().is_power_of_two());
    let mask = map.len() - 1;
    let mut i = home(tag, mask);
    loop {
        let t = map[i];
        if t == tag {
            return Ok(i);
        }
        if t == 0 {
            return Err(i);
        }
        i = (i + 1) & mask;
    }
}

/// Empties `slot` by backward shift: each later tag of the cluster whose probe path
/// crosses the hole moves into it, and the hole moves to where it was; the cluster's
/// first empty slot ends the scan.
#[inline]
fn remove_at(map: &mut [u64], slot: usize) {
    let mask = map.len() - 1;
    let mut hole = slot;
    let mut i = slot;
    loop {
        i = (i + 1) & mask;
        let t = map[i];
        if t == 0 {
            break;
        }
        // `t` was probed from its home through every slot up to `i`; the hole is on that
        // path (cyclically) when it is at least as far back from `i` as the home is.
        let from_home = i.wrapping_sub(home(t, mask)) & mask;
        let from_hole = i.wrapping_sub(hole) & mask;
        if from_home >= from_hole {
            map[hole] = t;
            hole = i;
        }
    }
    map[hole] = 0;
}

/// `tag` is held.
#[inline]
fn contains(meta: &Meta, map: &[u64], tag: u64) -> bool {
    if tag == 0 {
        meta.zero
    } else {
        probe(map, tag).is_ok()
    }
}

/// Inserts `tag`; `true` if it was held (then nothing changes). `ring.len()` is the depth
/// (a power of two) and `map.len()` four times that.
#[inline]
fn insert(meta: &mut Meta, ring: &mut [u64], map: &mut [u64], tag: u64) -> bool {
    debug_assert!(ring.len().is_power_of_two() && map.len() == ring.len() * SLOTS_PER_TAG);
    // The new tag goes into the map first, where the probe that ruled out a duplicate
    // ended; removing the oldest afterwards is an ordinary removal (the map briefly holds
    // N + 1 tags, which it has room for).
    if tag == 0 {
        if meta.zero {
            return true;
        }
        meta.zero = true;
    } else {
        match probe(map, tag) {
            Ok(_) => return true,
            Err(slot) => map[slot] = tag,
        }
    }
    // The depth is at most MAX_DEPTH <= 2^31: it and every ring position fit in a u32.
    let depth = ring.len() as u32;
    let next = meta.next as usize;
    if meta.len == depth {
        evict(meta, map, ring[next]);
    } else {
        meta.len += 1;
    }
    ring[next] = tag;
    meta.next = (meta.next + 1) & (depth - 1);
    false
}

/// Forgets `oldest`, which is held.
#[inline]
fn evict(meta: &mut Meta, map: &mut [u64], oldest: u64) {
    if oldest == 0 {
        meta.zero = false;
        return;
    }
    match probe(map, oldest) {
        Ok(slot) => remove_at(map, slot),
        // The ring and the map hold the same tags; nothing to remove otherwise.
        Err(_) => debug_assert!(false, "tcache: the oldest tag is missing from the map"),
    }
}

/// Forgets every tag.
#[inline]
fn clear(meta: &mut Meta, map: &mut [u64]) {
    *meta = Meta::EMPTY;
    map.fill(0);
}

/// The last `N` distinct tags (`N` a power of two, at least 2 and at most
/// [`MAX_DEPTH`](Self::MAX_DEPTH)), stored inline: 40 bytes per tag, no allocation,
/// `no_std`.
///
/// A tag seen again while it is among the last `N` distinct tags inserted is a duplicate;
/// a duplicate does not refresh its age (it is evicted when its first insertion is the
/// oldest). Every `u64` is an ordinary tag, 0 and `u64::MAX` included.
///
/// [`new`](Self::new) is a `const fn`, so a `Tcache` can live in a `static` (in zeroed
/// memory, never copied through the stack); for a depth chosen at run time, or too large
/// for the stack, use [`HeapTcache`](crate::HeapTcache) (`alloc`), the same algorithm
/// over heap storage.
///
/// ```
/// use milonga::Tcache;
/// use std::sync::Mutex;
///
/// // 2.5 MiB, zero-initialised in the program image: nothing on the stack.
/// static SEEN: Mutex<Tcache<65536>> = Mutex::new(Tcache::new());
///
/// let mut seen = SEEN.lock().unwrap();
/// assert!(!seen.insert(0xfeed)); // first time
/// assert!(seen.insert(0xfeed));  // duplicate
/// assert!(seen.contains(0xfeed) && !seen.contains(0xbeef));
/// assert_eq!((seen.len(), seen.capacity()), (1, 65536));
/// ```
///
/// A depth that is not a power of two of at least 2 does not compile:
///
/// ```compile_fail,E0080
/// let tc: milonga::Tcache<3> = milonga::Tcache::new();
/// ```
///
/// Nor does one larger than [`MAX_DEPTH`](Self::MAX_DEPTH):
///
/// ```compile_fail,E0080
/// use milonga::Tcache;
/// const TOO_DEEP: usize = Tcache::<2>::MAX_DEPTH * 2;
/// let tc = Tcache::<TOO_DEEP>::new();
/// ```
///
/// # Design
///
/// - **Age ring**: the last `N` distinct tags in insertion order. Once `N` tags are held,
///   the slot the next tag goes to holds the oldest one, which is evicted; no other
///   bookkeeping (the ring is written sequentially, so it stays cache friendly).
/// - **Map**: `4N` slots (a power of two) of the tags themselves, open addressing with
///   linear probing from `hash(tag) mod 4N`; an all-zero slot is empty. Tag 0 therefore
///   cannot live in the map: it is tracked exactly by a flag beside it (set when 0 is
///   inserted, cleared when 0 is evicted), so no tag value is reserved.
/// - **Load factor**: at most `N + 1` of the `4N` slots are ever used (the new tag goes in
///   before the oldest leaves), so the load stays at or below one quarter for ever (as
///   in Firedancer's default, 1/4 to 1/2). Linear probing at load 1/4 costs on average
///   about 1.17 probes for a hit and 1.39 for a miss (Knuth), and eight 8-byte slots share
///   a 64-byte cache line. Measured on an insert into a full cache, a map of `2N` slots
///   (24 instead of 40 bytes per tag) was 1.5 to 2.3 times as slow, in cache and out of
///   it: at load 1/2 the probe loops and the backward shift run longer and their branches
///   are mispredicted more often; `8N` slots (72 bytes per tag) was faster again, about
///   1.7 times in cache and 1.2 times at a depth of 2^20. 4N is the middle.
/// - **Deletion**: backward shift (Knuth's Algorithm R): the slot of the evicted tag is
///   refilled by the later tags of its cluster whose probe path crosses it. There are no
///   tombstones, so the map never degrades however long it runs; every operation is O(1)
///   expected.
/// - **Hash**: the MurmurHash3 64-bit finaliser (two multiplies, three xor-shifts), a
///   bijection that spreads sequential and strided tags (multiples of the map size, of
///   2^32, ...) as well as random ones. It is fixed and public, so an adversary who picks
///   tags freely can make them collide; feed tags that are hashes or signatures if the
///   source is hostile.
///
/// An insert is one probe sequence (duplicate or the empty slot to take), one ring write
/// and, once full, a second probe sequence and a backward shift for the evicted tag.
///
/// # Sizes
///
/// Each tag of depth costs 40 bytes (8 in the ring, 32 in the map): a `Tcache<65536>` is
/// 2.5 MiB, a depth of 2^20 is 40 MiB (use [`HeapTcache`](crate::HeapTcache), or a
/// `static`). The depth is a power of two of at least 2 and at most
/// [`MAX_DEPTH`](Self::MAX_DEPTH), checked at compile time (for `HeapTcache`, at run time):
/// the ring position and the count are 32-bit, so at most 2^31 (80 GiB of storage), and
/// on smaller address spaces the largest power of two whose storage fits in `isize::MAX`
/// bytes (2^25 on 32-bit targets).
pub struct Tcache<const N: usize> {
    meta: Meta,
    ring: [u64; N],
    /// `4N` slots (stable Rust cannot write `[u64; 4 * N]`): used flattened.
    map: [[u64; SLOTS_PER_TAG]; N],
}

impl<const N: usize> Tcache<N> {
    /// The largest depth: 2^31 (the ring position and the count are 32-bit; 80 GiB of
    /// storage), or on a smaller address space the largest power of two whose storage
    /// (40 bytes per tag) fits in `isize::MAX` bytes: 2^25 on 32-bit targets.
    ///
    /// ```
    /// assert!(milonga::Tcache::<2>::MAX_DEPTH >= 1 << 20);
    /// ```
    pub const MAX_DEPTH: usize = MAX_DEPTH;

    /// An empty cache.
    ///
    /// ```
    /// let tc: milonga::Tcache<256> = milonga::Tcache::new();
    /// assert!(tc.is_empty());
    /// ```
    pub const fn new() -> Self {
        const {
            assert!(
                N >= 2 && N.is_power_of_two(),
                "Tcache: N must be a power of two >= 2"
            );
            assert!(N <= MAX_DEPTH, "Tcache: N is larger than Tcache::MAX_DEPTH");
        };
        Tcache {
            meta: Meta::EMPTY,
            ring: [0; N],
            map: [[0; SLOTS_PER_TAG]; N],
        }
    }

    /// The depth: the number of distinct tags remembered, `N`.
    ///
    /// ```
    /// assert_eq!(milonga::Tcache::<8>::new().capacity(), 8);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Tags held: the number of distinct tags inserted, at most `N`.
    ///
    /// ```
    /// let mut tc: milonga::Tcache<2> = milonga::Tcache::new();
    /// for t in [7, 7, 8, 9] { tc.insert(t); }
    /// assert_eq!(tc.len(), 2);
    /// ```
    pub const fn len(&self) -> usize {
        self.meta.len as usize
    }

    /// No tag held.
    ///
    /// ```
    /// let mut tc: milonga::Tcache<2> = milonga::Tcache::new();
    /// assert!(tc.is_empty());
    /// tc.insert(0);
    /// assert!(!tc.is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// `tag` is among the last `N` distinct tags. Does not change the cache.
    ///
    /// ```
    /// let mut tc: milonga::Tcache<2> = milonga::Tcache::new();
    /// tc.insert(u64::MAX);
    /// assert!(tc.contains(u64::MAX) && !tc.contains(0));
    /// ```
    #[inline]
    pub fn contains(&self, tag: u64) -> bool {
        contains(&self.meta, self.map.as_flattened(), tag)
    }

    /// Inserts `tag`; returns `true` if it was a duplicate (then nothing changes: its age
    /// is not refreshed). A new tag evicts the oldest once `N` are held.
    ///
    /// ```
    /// let mut tc: milonga::Tcache<2> = milonga::Tcache::new();
    /// assert!(!tc.insert(1) && !tc.insert(2));
    /// assert!(tc.insert(1));  // duplicate: 1 stays the oldest
    /// assert!(!tc.insert(3)); // evicts 1
    /// assert!(!tc.contains(1) && tc.contains(2));
    /// ```
    #[inline]
    pub fn insert(&mut self, tag: u64) -> bool {
        insert(
            &mut self.meta,
            &mut self.ring,
            self.map.as_flattened_mut(),
            tag,
        )
    }

    /// Forgets every tag (writes the whole map: O(N)).
    ///
    /// ```
    /// let mut tc: milonga::Tcache<2> = milonga::Tcache::new();
    /// tc.insert(5);
    /// tc.clear();
    /// assert!(tc.is_empty() && !tc.contains(5));
    /// ```
    pub fn clear(&mut self) {
        clear(&mut self.meta, self.map.as_flattened_mut());
    }
}

impl<const N: usize> Default for Tcache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Tcache<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tcache")
            .field("capacity", &N)
            .field("len", &self.len())
            .finish()
    }
}

/// A [`HeapTcache`] could not be built. Nothing was allocated.
///
/// ```
/// use milonga::{HeapTcache, TcacheError};
///
/// let err = HeapTcache::new(1000).err();
/// assert_eq!(err, Some(TcacheError::BadDepth { depth: 1000 }));
/// assert_eq!(err.unwrap().to_string(), "tcache depth 1000 is not a power of two of at least 2");
/// let too_deep = HeapTcache::new(HeapTcache::MAX_DEPTH * 2);
/// assert!(matches!(too_deep, Err(TcacheError::TooLarge { max: HeapTcache::MAX_DEPTH, .. })));
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcacheError {
    /// The depth is not a power of two of at least 2 (0 and 1 included).
    BadDepth {
        /// The depth asked for.
        depth: usize,
    },
    /// The depth is larger than [`HeapTcache::MAX_DEPTH`].
    TooLarge {
        /// The depth asked for.
        depth: usize,
        /// The largest depth.
        max: usize,
    },
    /// The allocator could not provide the memory (the depth is valid, but too large for
    /// this machine).
    OutOfMemory {
        /// Bytes of the allocation that failed.
        bytes: usize,
    },
}

#[cfg(feature = "alloc")]
impl core::fmt::Display for TcacheError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            TcacheError::BadDepth { depth } => {
                write!(
                    f,
                    "tcache depth {depth} is not a power of two of at least 2"
                )
            }
            TcacheError::TooLarge { depth, max } => {
                write!(
                    f,
                    "tcache depth {depth} is larger than the largest depth {max}"
                )
            }
            TcacheError::OutOfMemory { bytes } => {
                write!(f, "could not allocate {bytes} bytes for the tcache")
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl core::error::Error for TcacheError {}

/// The last `depth` distinct tags, with the depth chosen at run time and the storage on
/// the heap (`alloc`): the same algorithm and semantics as [`Tcache`], 40 bytes per tag,
/// allocated zeroed (never built on the stack, and pages the system zeroes lazily are not
/// touched until used).
///
/// ```
/// use milonga::{HeapTcache, TcacheError};
///
/// let mut tc = HeapTcache::new(1 << 20)?; // 40 MiB
/// assert!(!tc.insert(42) && tc.insert(42));
/// assert_eq!(tc.capacity(), 1 << 20);
///
/// assert_eq!(HeapTcache::new(1000).err(), Some(TcacheError::BadDepth { depth: 1000 }));
/// # Ok::<(), TcacheError>(())
/// ```
#[cfg(feature = "alloc")]
pub struct HeapTcache {
    meta: Meta,
    ring: Box<[u64]>,
    /// `4 * depth` slots.
    map: Box<[u64]>,
}

#[cfg(feature = "alloc")]
impl HeapTcache {
    /// The largest depth, [`Tcache::MAX_DEPTH`].
    ///
    /// ```
    /// use milonga::{HeapTcache, TcacheError};
    /// let too_deep = HeapTcache::MAX_DEPTH * 2;
    /// assert_eq!(
    ///     HeapTcache::new(too_deep).err(),
    ///     Some(TcacheError::TooLarge { depth: too_deep, max: HeapTcache::MAX_DEPTH })
    /// );
    /// ```
    pub const MAX_DEPTH: usize = MAX_DEPTH;

    /// An empty cache of the last `depth` distinct tags.
    ///
    /// # Errors
    /// - [`TcacheError::BadDepth`] if `depth` is not a power of two of at least 2;
    /// - [`TcacheError::TooLarge`] if it is larger than [`MAX_DEPTH`](Self::MAX_DEPTH);
    /// - [`TcacheError::OutOfMemory`] if the allocator refuses the memory.
    ///
    /// ```
    /// use milonga::{HeapTcache, TcacheError};
    /// assert!(HeapTcache::new(4096).is_ok());
    /// assert_eq!(HeapTcache::new(0).err(), Some(TcacheError::BadDepth { depth: 0 }));
    /// ```
    pub fn new(depth: usize) -> Result<Self, TcacheError> {
        if depth < 2 || !depth.is_power_of_two() {
            return Err(TcacheError::BadDepth { depth });
        }
        if depth > MAX_DEPTH {
            return Err(TcacheError::TooLarge {
                depth,
                max: MAX_DEPTH,
            });
        }
        let slots = depth * SLOTS_PER_TAG; // no overflow: depth <= MAX_DEPTH
        let oom = |len: usize| TcacheError::OutOfMemory {
            bytes: len * core::mem::size_of::<u64>(),
        };
        // SAFETY: all-zero bytes are a valid `u64`.
        let ring =
            unsafe { crate::heap_alloc::zeroed_slice::<u64>(depth) }.map_err(|_| oom(depth))?;
        // SAFETY: as above.
        let map =
            unsafe { crate::heap_alloc::zeroed_slice::<u64>(slots) }.map_err(|_| oom(slots))?;
        Ok(HeapTcache {
            meta: Meta::EMPTY,
            ring,
            map,
        })
    }

    /// The depth: the number of distinct tags remembered.
    ///
    /// ```
    /// assert_eq!(milonga::HeapTcache::new(64).unwrap().capacity(), 64);
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Tags held: the number of distinct tags inserted, at most the depth.
    ///
    /// ```
    /// let mut tc = milonga::HeapTcache::new(2).unwrap();
    /// for t in [7, 7, 8, 9] { tc.insert(t); }
    /// assert_eq!(tc.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.meta.len as usize
    }

    /// No tag held.
    ///
    /// ```
    /// let mut tc = milonga::HeapTcache::new(2).unwrap();
    /// assert!(tc.is_empty());
    /// tc.insert(0);
    /// assert!(!tc.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// `tag` is among the last `depth` distinct tags. Does not change the cache.
    ///
    /// ```
    /// let mut tc = milonga::HeapTcache::new(2).unwrap();
    /// tc.insert(u64::MAX);
    /// assert!(tc.contains(u64::MAX) && !tc.contains(0));
    /// ```
    #[inline]
    pub fn contains(&self, tag: u64) -> bool {
        contains(&self.meta, &self.map, tag)
    }

    /// Inserts `tag`; returns `true` if it was a duplicate (then nothing changes: its age
    /// is not refreshed). A new tag evicts the oldest once `depth` are held.
    ///
    /// ```
    /// let mut tc = milonga::HeapTcache::new(2).unwrap();
    /// assert!(!tc.insert(1) && !tc.insert(2));
    /// assert!(tc.insert(1));  // duplicate: 1 stays the oldest
    /// assert!(!tc.insert(3)); // evicts 1
    /// assert!(!tc.contains(1) && tc.contains(2));
    /// ```
    #[inline]
    pub fn insert(&mut self, tag: u64) -> bool {
        insert(&mut self.meta, &mut self.ring, &mut self.map, tag)
    }

    /// Forgets every tag (writes the whole map: O(depth)).
    ///
    /// ```
    /// let mut tc = milonga::HeapTcache::new(2).unwrap();
    /// tc.insert(5);
    /// tc.clear();
    /// assert!(tc.is_empty() && !tc.contains(5));
    /// ```
    pub fn clear(&mut self) {
        clear(&mut self.meta, &mut self.map);
    }
}

#[cfg(feature = "alloc")]
impl core::fmt::Debug for HeapTcache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeapTcache")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// xorshift64: a seeded, reproducible source of tags.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// The model: a queue of the last N distinct tags, searched linearly.
    struct Model {
        q: VecDeque<u64>,
        cap: usize,
    }

    impl Model {
        fn insert(&mut self, tag: u64) -> bool {
            if self.q.contains(&tag) {
                return true;
            }
            if self.q.len() == self.cap {
                self.q.pop_front();
            }
            self.q.push_back(tag);
            false
        }
    }

    /// Every internal invariant: the map holds exactly the ring's live tags other than 0,
    /// each reachable from its home slot without crossing an empty one; the zero flag
    /// says whether 0 is live.
    fn check_invariants(meta: &Meta, ring: &[u64], map: &[u64]) {
        let depth = ring.len();
        let (len, next) = (meta.len as usize, meta.next as usize);
        let live: Vec<u64> = if len < depth {
            assert_eq!(next, len);
            ring[..len].to_vec()
        } else {
            ring.to_vec()
        };
        assert_eq!(meta.zero, live.contains(&0));
        let in_map = map.iter().filter(|&&t| t != 0).count();
        assert_eq!(in_map + meta.zero as usize, live.len());
        for &t in live.iter().filter(|&&t| t != 0) {
            assert!(probe(map, t).is_ok(), "tag {t} unreachable");
        }
    }

    fn check<const N: usize>(seed: u64, steps: usize, range: u64) -> usize {
        let mut tc: Tcache<N> = Tcache::new();
        let mut model = Model {
            q: VecDeque::new(),
            cap: N,
        };
        let mut rng = Rng(seed | 1);
        let mut dups = 0;
        for step in 0..steps {
            let tag = rng.next() % range;
            let dup = model.insert(tag);
            dups += dup as usize;
            assert_eq!(tc.insert(tag), dup, "tag {tag}");
            assert_eq!(tc.len(), model.q.len());
            if !cfg!(miri) || step % 16 == 0 {
                assert!(model.q.iter().all(|&t| tc.contains(t)));
                check_invariants(&tc.meta, &tc.ring, tc.map.as_flattened());
            }
        }
        dups
    }

    #[test]
    fn matches_the_model() {
        let (steps, seeds) = if cfg!(miri) { (120, 2) } else { (20_000, 6) };
        for seed in 1..seeds {
            for dups in [
                check::<2>(seed, steps, 5),
                check::<8>(seed, steps, 20),
                check::<64>(seed, steps, 150),
            ] {
                assert!(dups > 0 && dups < steps, "the test sees both outcomes");
            }
        }
        assert_eq!(
            check::<16>(99, steps, u64::MAX),
            0,
            "distinct tags are never duplicates"
        );
    }

    #[test]
    fn a_duplicate_does_not_refresh_age() {
        let mut tc: Tcache<2> = Tcache::new();
        assert!(!tc.insert(1) && !tc.insert(2));
        assert!(tc.insert(1)); // duplicate: 1 stays the oldest
        assert!(!tc.insert(3)); // evicts 1, not 2
        assert!(!tc.contains(1) && tc.contains(2) && tc.contains(3));
    }

    #[test]
    fn tag_zero_and_max_are_ordinary_tags() {
        let mut tc: Tcache<2> = Tcache::new();
        assert!(!tc.contains(0) && !tc.contains(u64::MAX));
        assert!(!tc.insert(0) && !tc.insert(u64::MAX));
        assert!(tc.insert(0) && tc.insert(u64::MAX));
        assert_eq!(tc.len(), 2);
        // 0 is the oldest: the next new tag evicts it, then it is new again.
        assert!(!tc.insert(5));
        assert!(!tc.contains(0) && tc.contains(u64::MAX) && tc.contains(5));
        assert!(!tc.insert(0)); // evicts u64::MAX
        assert!(!tc.contains(u64::MAX) && tc.contains(0));
        check_invariants(&tc.meta, &tc.ring, tc.map.as_flattened());
        tc.clear();
        assert!(tc.is_empty() && !tc.contains(0) && !tc.insert(0));
    }

    /// The backward shift across the end of the map: a cluster that wraps from the last
    /// slot to the first, with the hole on either side of the wrap.
    #[test]
    fn removal_across_the_wrap() {
        const SLOTS: usize = 8;
        let mask = SLOTS - 1;
        // Tags whose home is the last slot, and tags whose home is slot 0.
        let at = |h: usize, n: usize| -> Vec<u64> {
            (1..).filter(|&t| home(t, mask) == h).take(n).collect()
        };
        let (last, first) = (at(SLOTS - 1, 3), at(0, 2));
        for victim in 0..5 {
            let mut map = [0u64; SLOTS];
            let tags: Vec<u64> = last.iter().chain(&first).copied().collect();
            for &t in &tags {
                let Err(slot) = probe(&map, t) else { panic!() };
                map[slot] = t;
            }
            let Ok(slot) = probe(&map, tags[victim]) else {
                panic!()
            };
            remove_at(&mut map, slot);
            assert!(probe(&map, tags[victim]).is_err());
            for (i, &t) in tags.iter().enumerate() {
                assert_eq!(probe(&map, t).is_ok(), i != victim, "tag {t}");
            }
            assert_eq!(map.iter().filter(|&&t| t != 0).count(), 4);
        }
    }

    /// The longest probe sequence (displacement from the home slot, plus one) in a full
    /// cache of `N` tags made by `tag_of`.
    fn longest_probe<const N: usize>(tag_of: impl Fn(u64) -> u64) -> usize {
        let mut tc: Box<Tcache<N>> = Box::default();
        for i in 0..N as u64 {
            assert!(!tc.insert(tag_of(i)), "distinct tags");
        }
        let map = tc.map.as_flattened();
        let mask = map.len() - 1;
        map.iter()
            .enumerate()
            .filter(|&(_, &t)| t != 0)
            .map(|(i, &t)| (i.wrapping_sub(home(t, mask)) & mask) + 1)
            .max()
            .unwrap()
    }

    /// The hash spreads sequential, strided (multiples of the map size, of 2^32) and
    /// random tags: no probe sequence is long in a full cache. (With the tag itself as the
    /// hash, the strided tags would all share one home slot: probes of up to N.)
    #[test]
    fn probe_sequences_stay_short() {
        const N: usize = if cfg!(miri) { 64 } else { 4096 };
        let slots = (N * SLOTS_PER_TAG) as u64;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let random: Vec<u64> = (0..N).map(|_| rng.next()).collect();
        let cases: [(&str, usize); 5] = [
            ("sequential", longest_probe::<N>(|i| i + 1)),
            ("map-size stride", longest_probe::<N>(|i| (i + 1) * slots)),
            ("2^32 stride", longest_probe::<N>(|i| (i + 1) << 32)),
            ("top bits", longest_probe::<N>(|i| (i + 1).reverse_bits())),
            ("random", longest_probe::<N>(|i| random[i as usize])),
        ];
        for (name, longest) in cases {
            // Linear probing at load 1/4 with 4096 well-spread keys: the longest sequence
            // is about ten (6 to 9 for these five); clustering would show far more.
            assert!(longest <= 24, "{name}: a probe sequence of {longest}");
        }
    }

    #[test]
    fn hash_is_a_bijection_on_a_sample() {
        // The finaliser is invertible (xor-shifts and odd multipliers), so distinct tags
        // never share a hash; spot-check it and that 0 maps to 0 (unused: 0 is not hashed).
        let mut rng = Rng(7);
        let mut hashes: Vec<u64> = (0..1000).map(|_| hash(rng.next())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 1000);
        assert_eq!(hash(0), 0);
    }

    #[test]
    fn heap_owner_matches_the_inline_one() {
        let mut heap = HeapTcache::new(16).unwrap();
        let mut inline: Tcache<16> = Tcache::new();
        let mut rng = Rng(3);
        let steps = if cfg!(miri) { 200 } else { 20_000 };
        for _ in 0..steps {
            let tag = rng.next() % 40;
            assert_eq!(heap.insert(tag), inline.insert(tag));
            assert_eq!(heap.len(), inline.len());
            check_invariants(&heap.meta, &heap.ring, &heap.map);
        }
        assert_eq!(&*heap.ring, &inline.ring[..]);
        assert_eq!(&*heap.map, inline.map.as_flattened());
    }

    #[test]
    fn max_depth_is_2_31_or_the_largest_power_of_two_that_fits() {
        const {
            assert!(MAX_DEPTH.is_power_of_two() && MAX_DEPTH as u64 <= 1 << 31);
            assert!(MAX_DEPTH.checked_mul(BYTES_PER_TAG).unwrap() <= isize::MAX as usize);
            assert!(
                MAX_DEPTH as u64 == 1 << 31
                    || (MAX_DEPTH * 2).saturating_mul(BYTES_PER_TAG) > isize::MAX as usize
            );
        }
        #[cfg(target_pointer_width = "64")]
        assert_eq!(MAX_DEPTH, 1 << 31);
    }
}
