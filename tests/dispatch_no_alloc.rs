//! No allocation per item in the dispatcher: after construction (and a warm-up round), a
//! counting global allocator (this test binary's own) sees none while items are enqueued,
//! refused, batched, read and released, on one thread and across threads, the final flush
//! and a shutdown included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use milonga::dispatch::{Dispatcher, EnqueueError, TryNextBatchError};
use milonga::wait::Strategy;

/// Counts allocations (alloc, alloc_zeroed, realloc) made by a thread while its
/// `COUNTING` flag is set, so that other threads (the test harness) are not counted.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time: the tests of this file run on parallel threads and share
/// the counter.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` on this thread with its allocations counted; returns how many it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCS.load(Relaxed);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCS.load(Relaxed) - before)
}

/// Items per test (after the warm-up).
const ITEMS: u64 = if cfg!(miri) { 500 } else { 100_000 };

/// Writes `"event:" + id` into `buf` (as tempo's benchmarks name their items) and returns
/// the item: no allocation.
fn event(buf: &mut [u8; 32], id: u64) -> &[u8] {
    buf[..6].copy_from_slice(b"event:");
    let mut digits = [0u8; 20];
    let (mut i, mut v) = (digits.len(), id);
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let n = digits.len() - i;
    buf[6..6 + n].copy_from_slice(&digits[i..]);
    &buf[..6 + n]
}

/// The id an item names.
fn id_of(item: &[u8]) -> u64 {
    assert_eq!(&item[..6], b"event:");
    item[6..]
        .iter()
        .fold(0, |id, d| id * 10 + u64::from(d - b'0'))
}

#[test]
fn the_counter_sees_allocations() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let ((), n) = counted(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(10));
        std::hint::black_box(&v);
        let b = Box::new(std::hint::black_box(5u64));
        std::hint::black_box(&b);
    });
    assert_eq!(n, 2);
}

/// On one thread: enqueues, refusals (too large, full), batches closed by bytes and by
/// items, read frag by frag, stats, and the flush when the last handle is dropped.
#[test]
fn one_thread_allocates_nothing_per_item() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, mut rx) = Dispatcher::builder()
        .interval(Duration::from_secs(3600))
        .max_batch_bytes(256 * 7)
        .max_batch_items(200)
        .max_items(1024)
        .max_item_bytes(32)
        .max_buffered_bytes(1 << 30)
        .build()
        .unwrap();
    let mut buf = [0u8; 32];
    // Warm-up: a first round through every path below (first clock read included).
    for id in 0..1000 {
        tx.enqueue(event(&mut buf, id)).unwrap();
    }
    while let Ok(batch) = rx.try_next_batch() {
        std::hint::black_box(batch.first_enqueued());
    }
    let first = 1000 - rx.stats().pending_items;
    let ((next, sum, batches, refused), n) = counted(|| {
        let (mut next, mut sum, mut batches, mut refused) = (first, 0u64, 0u64, 0u64);
        // Reads a batch: the numbered items in order, the fillers ("event:x") skipped.
        let mut read = |batch: milonga::dispatch::Batch<'_>| {
            for frag in batch.frags() {
                assert!(frag.sig() >= batch.first_enqueued());
                let item = frag.payload();
                if item != b"event:x" {
                    assert_eq!(id_of(item), next, "order");
                    next += 1;
                    sum += id_of(item);
                }
            }
            batches += 1;
        };
        for id in 1000..1000 + ITEMS {
            tx.enqueue(event(&mut buf, id)).unwrap();
            if id % 97 == 0 {
                let long = [b'x'; 33];
                assert_eq!(
                    tx.enqueue(&long),
                    Err(EnqueueError::PayloadTooLarge { len: 33, limit: 32 })
                );
                refused += 1;
            }
            if id % 512 == 0 {
                // Fill the ring (1024 items) up to a refusal.
                while tx.enqueue(b"event:x").is_ok() {}
                refused += 1;
            }
            loop {
                match rx.try_next_batch() {
                    Ok(batch) => read(batch),
                    Err(TryNextBatchError::NotReady) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        std::hint::black_box(tx.stats());
        // The last handle gone, the rest is flushed and the stream ends.
        drop(tx);
        while let Some(batch) = rx.next_batch() {
            read(batch);
        }
        (next, sum, batches, refused)
    });
    assert_eq!(n, 0, "allocations per item");
    assert_eq!(next, 1000 + ITEMS, "every item delivered once, in order");
    assert_eq!(sum, (first..1000 + ITEMS).sum::<u64>());
    assert!(batches >= ITEMS / 200);
    let stats = rx.stats();
    assert_eq!(
        stats.refused_too_large,
        (999 + ITEMS) / 97 - 999 / 97,
        "{stats}"
    );
    assert_eq!(
        stats.refused_too_large + stats.refused_queue_full,
        refused,
        "{stats}"
    );
}

/// Across threads: two producers and a consumer (each counting its own allocations after
/// its warm-up) move `ITEMS` items, the consumer waiting in `next_batch`; then a shutdown
/// (counted too) waits for the last batch and ends the stream.
#[test]
fn producers_and_consumer_allocate_nothing_per_item() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    const PRODUCERS: u64 = 2;
    let (tx, mut rx) = Dispatcher::builder()
        .interval(Duration::from_secs(3600))
        .max_batch_bytes(64 * 7)
        .max_items(256)
        .max_item_bytes(32)
        .wait(Strategy::SpinThenYield { spins: 64 })
        .build()
        .unwrap();
    let per = ITEMS / PRODUCERS;
    let warm = 100;
    let (allocs, delivered, sum) = std::thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || {
                    let mut buf = [0u8; 32];
                    let mut enqueue = |k: u64| {
                        let id = p + k * PRODUCERS;
                        while let Err(e) = tx.enqueue(event(&mut buf, id)) {
                            assert_eq!(e, EnqueueError::QueueFull);
                            std::thread::yield_now();
                        }
                    };
                    for k in 0..warm {
                        enqueue(k);
                    }
                    let ((), n) = counted(|| {
                        for k in warm..per {
                            enqueue(k);
                        }
                    });
                    n
                })
            })
            .collect();
        let consumer = s.spawn(move || {
            let (mut delivered, mut sum) = (0u64, 0u64);
            let mut next = [0u64; PRODUCERS as usize];
            // Reads a batch, checking each producer's order: its items and their ids' sum.
            let mut take = |rx: &mut milonga::dispatch::Batches| -> Option<(u64, u64)> {
                let batch = rx.next_batch()?;
                let mut sum = 0;
                for item in &batch {
                    let id = id_of(item);
                    let p = (id % PRODUCERS) as usize;
                    assert_eq!(id / PRODUCERS, next[p], "producer {p}'s order");
                    next[p] += 1;
                    sum += id;
                }
                Some((batch.len() as u64, sum))
            };
            while delivered < PRODUCERS * warm {
                let (n, s) = take(&mut rx).expect("the warm-up's items");
                delivered += n;
                sum += s;
            }
            let ((), n) = counted(|| {
                while let Some((n, s)) = take(&mut rx) {
                    delivered += n;
                    sum += s;
                }
            });
            (n, delivered, sum)
        });
        let mut allocs = 0;
        for p in producers {
            allocs += p.join().unwrap();
        }
        // Everything enqueued: the shutdown waits until the consumer delivered it.
        let (shutdown, n) = counted(|| tx.shutdown(Duration::from_secs(60)));
        shutdown.unwrap();
        allocs += n;
        let (n, delivered, sum) = consumer.join().unwrap();
        (allocs + n, delivered, sum)
    });
    assert_eq!(allocs, 0, "allocations per item");
    assert_eq!(delivered, per * PRODUCERS);
    assert_eq!(sum, (0..per * PRODUCERS).sum::<u64>());
}
