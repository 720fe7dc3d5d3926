//! `Tcache` and `HeapTcache` against a model (a `VecDeque` of the last N distinct tags and
//! a `HashSet` of them) over seeded random operation sequences, from N = 2 to 2^20, with
//! random, sequential and strided tags (0 and `u64::MAX` among them); the reported defects
//! of the former heapless-based cache; the heap constructor's errors (this binary's
//! allocator refuses huge allocations, so out-of-memory is deterministic). Under Miri the
//! sizes and step counts are small.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::thread;

use milonga::{HeapTcache, Tcache, TcacheError};

/// Allocations of this size or more are refused (see
/// `an_allocation_the_allocator_refuses_is_out_of_memory`); none of the other tests comes
/// near it.
const REFUSED: usize = 1 << 34;

/// The system allocator, refusing allocations of [`REFUSED`] bytes or more.
struct Refusing;

// SAFETY: every call is forwarded to the system allocator with the caller's arguments,
// except refused allocations, which return null as an allocator may.
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= REFUSED {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= REFUSED {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, unchanged (`ptr` came from `System`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= REFUSED {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Refusing = Refusing;

/// xorshift64: seeded and reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the tests drive: both owners.
trait Cache {
    fn insert(&mut self, tag: u64) -> bool;
    fn contains(&self, tag: u64) -> bool;
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn clear(&mut self);
}

impl<const N: usize> Cache for Tcache<N> {
    fn insert(&mut self, tag: u64) -> bool {
        Tcache::insert(self, tag)
    }
    fn contains(&self, tag: u64) -> bool {
        Tcache::contains(self, tag)
    }
    fn len(&self) -> usize {
        Tcache::len(self)
    }
    fn capacity(&self) -> usize {
        Tcache::capacity(self)
    }
    fn clear(&mut self) {
        Tcache::clear(self)
    }
}

impl Cache for HeapTcache {
    fn insert(&mut self, tag: u64) -> bool {
        HeapTcache::insert(self, tag)
    }
    fn contains(&self, tag: u64) -> bool {
        HeapTcache::contains(self, tag)
    }
    fn len(&self) -> usize {
        HeapTcache::len(self)
    }
    fn capacity(&self) -> usize {
        HeapTcache::capacity(self)
    }
    fn clear(&mut self) {
        HeapTcache::clear(self)
    }
}

/// A cheap hasher for the model's set (its correctness does not depend on the hash).
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b.into());
        }
    }
    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

/// The last `cap` distinct tags, oldest first, and the same tags as a set.
struct Model {
    q: VecDeque<u64>,
    set: HashSet<u64, BuildHasherDefault<MulHasher>>,
    cap: usize,
}

impl Model {
    fn new(cap: usize) -> Self {
        Model {
            q: VecDeque::with_capacity(cap),
            set: HashSet::with_capacity_and_hasher(cap, Default::default()),
            cap,
        }
    }

    /// `(duplicate, evicted tag)`.
    fn insert(&mut self, tag: u64) -> (bool, Option<u64>) {
        if self.set.contains(&tag) {
            return (true, None);
        }
        let mut evicted = None;
        if self.q.len() == self.cap {
            let old = self.q.pop_front().unwrap();
            self.set.remove(&old);
            evicted = Some(old);
        }
        self.q.push_back(tag);
        self.set.insert(tag);
        (false, evicted)
    }

    fn clear(&mut self) {
        self.q.clear();
        self.set.clear();
    }
}

/// How tag numbers `k` (fresh ones count up from 0) become tags.
#[derive(Clone, Copy, Debug)]
enum Tags {
    /// A bijective scramble of `k`: random-looking, distinct.
    Random,
    /// `k` itself.
    Sequential,
    /// `k` times the map size (4N): every tag has the same low bits.
    MapStride,
    /// `k << 32`: only the high half varies.
    HighHalf,
}

impl Tags {
    const ALL: [Tags; 4] = [
        Tags::Random,
        Tags::Sequential,
        Tags::MapStride,
        Tags::HighHalf,
    ];

    fn tag(self, k: u64, depth: usize) -> u64 {
        match self {
            Tags::Random => {
                // splitmix64's finaliser: a bijection, unrelated to the cache's hash.
                let mut z = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
            Tags::Sequential => k,
            Tags::MapStride => k.wrapping_mul(4 * depth as u64),
            Tags::HighHalf => k << 32,
        }
    }
}

/// Drives `cache` (empty, depth `cache.capacity()`) and the model through `steps` random
/// operations and checks every answer. Each step inserts a fresh tag or one of the last
/// `2N` tag numbers (a duplicate or not, depending on its age), now and then 0 or
/// `u64::MAX`, and asks for a held tag, the tag just evicted and a random one; once, past
/// half way and full, the cache is cleared. Every `N` steps, every held tag is looked up.
fn run_against_model(cache: &mut dyn Cache, tags: Tags, seed: u64, steps: usize) {
    let depth = cache.capacity();
    assert_eq!(cache.len(), 0);
    let mut model = Model::new(depth);
    let mut rng = Rng::new(seed);
    let mut fresh = 0u64;
    let (mut dups, mut evictions) = (0usize, 0usize);
    let mut model_last = 0;
    let mut cleared = false;
    for step in 1..=steps {
        if !cleared && step >= steps / 2 && model.q.len() == depth {
            // Once, past half way, with the cache full: clear both.
            assert_eq!(cache.len(), depth);
            cache.clear();
            model.clear();
            assert!(cache.len() == 0 && !cache.contains(model_last));
            cleared = true;
            continue;
        }
        let r = rng.below(1024);
        let tag = if r < 8 {
            [0, u64::MAX, u64::MAX - 1, 1][r as usize % 4]
        } else if r < 512 {
            fresh += 1;
            tags.tag(fresh, depth)
        } else {
            tags.tag(fresh.saturating_sub(rng.below(2 * depth as u64)), depth)
        };
        let (dup, evicted) = model.insert(tag);
        model_last = tag;
        assert_eq!(
            cache.insert(tag),
            dup,
            "{tags:?} N={depth} step {step}: insert({tag:#x})"
        );
        dups += dup as usize;
        assert_eq!(cache.len(), model.q.len(), "{tags:?} N={depth} step {step}");
        assert!(
            cache.contains(tag),
            "{tags:?} N={depth}: {tag:#x} just inserted"
        );
        if let Some(old) = evicted {
            evictions += 1;
            assert!(!cache.contains(old), "{tags:?} N={depth}: {old:#x} evicted");
        }
        let held = model.q[rng.below(model.q.len() as u64) as usize];
        assert!(cache.contains(held), "{tags:?} N={depth}: {held:#x} held");
        let any = tags.tag(rng.below(fresh + 1), depth);
        assert_eq!(cache.contains(any), model.set.contains(&any));
        if step % depth == 0 {
            assert!(model.q.iter().all(|&t| cache.contains(t)));
        }
    }
    assert!(model.q.iter().all(|&t| cache.contains(t)));
    assert!(
        cleared && dups > 0 && evictions > 0,
        "{tags:?} N={depth}: the run saw a clear ({cleared}), duplicates ({dups}) and \
         evictions ({evictions})"
    );
}

/// Steps for depth `n`: enough to fill the cache and wrap its ring several times.
fn steps_for(n: usize) -> usize {
    if cfg!(miri) {
        4 * n + 100
    } else {
        4 * n + 20_000
    }
}

fn model_inline<const N: usize>(cache: &mut Tcache<N>) {
    for (seed, tags) in Tags::ALL.into_iter().enumerate() {
        cache.clear();
        run_against_model(cache, tags, seed as u64 + 1, steps_for(N));
    }
}

fn model_heap(depth: usize, kinds: &[Tags]) {
    let mut cache = HeapTcache::new(depth).unwrap();
    for (seed, &tags) in kinds.iter().enumerate() {
        cache.clear();
        run_against_model(&mut cache, tags, seed as u64 + 100, steps_for(depth));
    }
}

#[test]
fn small_inline_caches_match_the_model() {
    model_inline(&mut Tcache::<2>::new());
    model_inline(&mut Tcache::<4>::new());
    if cfg!(miri) {
        model_inline(&mut Tcache::<32>::new());
    } else {
        model_inline(&mut Box::<Tcache<256>>::default());
        model_inline(&mut Box::<Tcache<4096>>::default());
    }
}

/// The large inline caches live in statics (`const fn new`): never on the stack.
#[test]
#[cfg(not(miri))]
fn large_inline_caches_match_the_model() {
    static T16: Mutex<Tcache<{ 1 << 16 }>> = Mutex::new(Tcache::new());
    static T17: Mutex<Tcache<{ 1 << 17 }>> = Mutex::new(Tcache::new());
    model_inline(&mut T16.lock().unwrap());
    model_inline(&mut T17.lock().unwrap());
}

#[test]
fn heap_caches_match_the_model() {
    if cfg!(miri) {
        model_heap(2, &Tags::ALL);
        model_heap(64, &Tags::ALL);
    } else {
        for depth in [2, 256, 4096, 1 << 16] {
            model_heap(depth, &Tags::ALL);
        }
    }
}

#[test]
#[cfg(not(miri))]
fn heap_caches_of_2_17_and_2_20_match_the_model() {
    model_heap(1 << 17, &Tags::ALL);
    model_heap(1 << 20, &[Tags::Random, Tags::MapStride]);
}

/// The first defect: a heapless-based `Tcache<131072>` holding 70,000 distinct tags did
/// not find 4,464 of them (positions were 16-bit) and inserted them again.
#[test]
#[cfg(not(miri))]
fn seventy_thousand_tags_in_a_131072_cache_are_all_found() {
    static TC: Mutex<Tcache<131072>> = Mutex::new(Tcache::new());
    let mut inline = TC.lock().unwrap();
    let mut heap = HeapTcache::new(131072).unwrap();
    let mut rng = Rng::new(70_000);
    let random: Vec<u64> = (0..70_000).map(|_| rng.next()).collect();
    for tags in [(0..70_000).collect::<Vec<u64>>(), random] {
        for cache in [&mut *inline as &mut dyn Cache, &mut heap] {
            cache.clear();
            for &t in &tags {
                assert!(!cache.insert(t), "{t:#x} is new");
            }
            assert_eq!(cache.len(), 70_000);
            let missing = tags.iter().filter(|&&t| !cache.contains(t)).count();
            assert_eq!(missing, 0, "tags not found");
            assert!(tags.iter().all(|&t| cache.insert(t)), "all duplicates");
            assert_eq!(cache.len(), 70_000);
        }
    }
}

/// The second defect: a heapless-based `Tcache<65536>` could report a tag absent right
/// after inserting it, and inserting it again never returned. Here every tag is found
/// right after its insert, and its re-insert returns (a duplicate), through several
/// wraps of the ring.
#[test]
#[cfg(not(miri))]
fn a_65536_cache_finds_each_tag_right_after_inserting_it() {
    static TC: Mutex<Tcache<65536>> = Mutex::new(Tcache::new());
    let mut inline = TC.lock().unwrap();
    let mut heap = HeapTcache::new(65536).unwrap();
    for cache in [&mut *inline as &mut dyn Cache, &mut heap] {
        for tags in Tags::ALL {
            cache.clear();
            for k in 0..4 * 65536 {
                let t = tags.tag(k, 65536);
                assert!(!cache.insert(t), "{tags:?}: {t:#x} is new");
                assert!(cache.contains(t), "{tags:?}: {t:#x} found after insert");
                assert!(cache.insert(t), "{tags:?}: {t:#x} is a duplicate");
                if k >= 65536 {
                    assert!(!cache.contains(tags.tag(k - 65536, 65536)), "evicted");
                }
            }
            assert_eq!(cache.len(), 65536);
        }
    }
}

fn zero_and_max(cache: &mut dyn Cache) {
    let depth = cache.capacity() as u64;
    assert!(!cache.contains(0) && !cache.contains(u64::MAX));
    assert!(!cache.insert(0) && !cache.insert(u64::MAX));
    assert!(cache.insert(0) && cache.insert(u64::MAX));
    assert!(cache.contains(0) && cache.contains(u64::MAX));
    assert_eq!(cache.len(), 2);
    // depth - 2 more new tags fill the cache; 0 and u64::MAX are still there, and a
    // duplicate insert does not make them younger.
    for t in 1..depth - 1 {
        assert!(!cache.insert(t));
    }
    assert!(cache.insert(0) && cache.insert(u64::MAX));
    assert_eq!(cache.len() as u64, depth);
    // The next new tag evicts 0 (the oldest), the one after u64::MAX.
    assert!(!cache.insert(depth) && !cache.contains(0) && cache.contains(u64::MAX));
    assert!(!cache.insert(depth + 1) && !cache.contains(u64::MAX));
    // Both are new again.
    assert!(!cache.insert(u64::MAX) && !cache.insert(0));
    assert!(cache.contains(0) && cache.contains(u64::MAX));
    cache.clear();
    assert!(cache.len() == 0 && !cache.contains(0) && !cache.contains(u64::MAX));
    assert!(!cache.insert(0));
}

#[test]
fn tag_zero_and_u64_max_are_ordinary_tags() {
    zero_and_max(&mut Tcache::<2>::new());
    zero_and_max(&mut Tcache::<64>::new());
    zero_and_max(&mut HeapTcache::new(2).unwrap());
    zero_and_max(&mut HeapTcache::new(1024).unwrap());
}

#[test]
fn a_duplicate_does_not_refresh_its_age() {
    for cache in [
        &mut Tcache::<4>::new() as &mut dyn Cache,
        &mut HeapTcache::new(4).unwrap(),
    ] {
        for t in 1..=4 {
            assert!(!cache.insert(t));
        }
        assert!(cache.insert(1)); // 1 stays the oldest
        assert!(!cache.insert(5)); // and is evicted first
        assert!(!cache.contains(1) && (2..=5).all(|t| cache.contains(t)));
    }
}

#[test]
fn bad_heap_depths_are_named_errors() {
    for depth in [0, 1, 3, 6, 1000, usize::MAX] {
        let err = HeapTcache::new(depth).unwrap_err();
        assert_eq!(err, TcacheError::BadDepth { depth });
        assert_eq!(
            err.to_string(),
            format!("tcache depth {depth} is not a power of two of at least 2")
        );
    }
    let max = HeapTcache::MAX_DEPTH;
    assert_eq!(max, Tcache::<2>::MAX_DEPTH);
    let too_deep = max * 2;
    let err = HeapTcache::new(too_deep).unwrap_err();
    assert_eq!(
        err,
        TcacheError::TooLarge {
            depth: too_deep,
            max
        }
    );
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert_eq!(
        boxed.to_string(),
        format!("tcache depth {too_deep} is larger than the largest depth {max}")
    );
}

/// A valid depth the allocator refuses: an error, not an abort. (This test binary's
/// allocator refuses any allocation of 16 GiB or more, so the result does not depend on
/// the machine; the largest depth, 2^31, needs a 16 GiB ring.)
#[test]
#[cfg(target_pointer_width = "64")]
fn an_allocation_the_allocator_refuses_is_out_of_memory() {
    assert_eq!(HeapTcache::MAX_DEPTH, 1 << 31);
    let err = HeapTcache::new(HeapTcache::MAX_DEPTH).unwrap_err();
    assert_eq!(err, TcacheError::OutOfMemory { bytes: REFUSED });
    assert_eq!(
        err.to_string(),
        format!("could not allocate {REFUSED} bytes for the tcache")
    );
}

/// A 40 MiB heap cache builds on a thread with a 64 KiB stack: nothing goes through the
/// stack.
#[test]
fn a_large_heap_cache_builds_on_a_small_stack() {
    let depth = if cfg!(miri) { 1 << 10 } else { 1 << 20 };
    thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(move || {
            let mut tc = HeapTcache::new(depth).unwrap();
            assert_eq!((tc.capacity(), tc.len()), (depth, 0));
            for t in 0..depth as u64 + 10 {
                assert!(!tc.insert(t));
            }
            assert_eq!(tc.len(), depth);
            assert!(!tc.contains(9) && tc.contains(10) && tc.insert(depth as u64));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn statics_defaults_and_debug() {
    static SEEN: Mutex<Tcache<1024>> = Mutex::new(Tcache::new());
    let mut seen = SEEN.lock().unwrap();
    assert!(!seen.insert(7) && seen.insert(7));
    let tc: Tcache<8> = Tcache::default();
    assert!(tc.is_empty() && tc.capacity() == 8);
    assert_eq!(format!("{tc:?}"), "Tcache { capacity: 8, len: 0 }");
    let mut heap = HeapTcache::new(8).unwrap();
    heap.insert(3);
    assert!(!heap.is_empty());
    assert_eq!(format!("{heap:?}"), "HeapTcache { capacity: 8, len: 1 }");
}
