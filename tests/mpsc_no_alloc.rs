//! No allocation after construction: claiming, publishing, polling, batching, abandoning and
//! fan-in scanning allocate nothing (checked with a counting global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use milonga::mpsc::{FanIn, FanInHandles, Ring};
use milonga::spsc::Budget;
use milonga::Header;
use milonga::TryRecvError;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_hot_paths_do_not_allocate() {
    let rounds: u64 = if cfg!(miri) { 20 } else { 10_000 };
    let (tx, mut rx) = Ring::builder().depth(16).mtu(64).heap_pair().unwrap();
    let tx2 = tx.clone();
    let FanInHandles {
        producers: mut txs,
        consumer: mut fan,
    } = FanIn::builder()
        .producers(3)
        .depth(16)
        .mtu(64)
        .heap()
        .unwrap();
    let metrics = tx.metrics();
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut sum = 0u64;
    for i in 0..rounds {
        let mut claim = tx.try_claim(8).unwrap();
        claim.copy_from_slice(&i.to_le_bytes());
        claim.commit(8).unwrap();
        tx2.try_publish(Header::new(2), b"two").unwrap();
        drop(tx.try_claim(4).unwrap()); // abandoned
        let batch = rx.try_batch(Budget::new(8, 8 * 64).unwrap()).unwrap();
        for f in &batch {
            sum += f.payload().len() as u64;
        }
        batch.commit();
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        for (p, t) in txs.iter_mut().enumerate() {
            t.try_publish(Header::new(p as u64), b"x").unwrap();
        }
        for _ in 0..3 {
            let (_, f) = fan.try_recv().unwrap();
            sum += f.payload().len() as u64;
        }
        assert_eq!(fan.try_recv().err(), Some(TryRecvError::Empty));
        if i % 64 == 0 {
            let _ = metrics.snapshot();
        }
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the hot paths");
    assert_eq!(sum, rounds * (8 + 3 + 3));
}
