//! Sig filters that change their answer or panic, and blocking receives with a filter.
//!
//! A filter is meant to be a pure function of the sig, but nothing may break when it is
//! not: a batch used to call the filter again while iterating and when dropped, so a
//! filter that changed its answer underflowed the iterator's count (a debug panic, a wrong
//! `len()` in release), and a filter that panicked while iterating panicked again inside
//! `Batch::drop` and aborted the process. And `recv`/`recv_batch` returned `Empty` (which
//! their docs do not allow) when the next frag was filtered out.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use milonga::spsc::Budget;
use milonga::spsc::Link;
use milonga::spsc::SigFilter;
use milonga::wait::Park;
use milonga::Header;
use milonga::RecvTimeoutError;

/// Accepts on every other call, whatever the sig: the answer changes between calls.
static FLIPS: AtomicU64 = AtomicU64::new(0);
fn flipping(_sig: u64) -> bool {
    FLIPS.fetch_add(1, Relaxed).is_multiple_of(2)
}

#[test]
fn a_filter_that_changes_its_answer_is_asked_once_per_frag_by_a_batch() {
    let (mut tx, mut rx) = Link::builder().depth(16).mtu(8).heap_pair().unwrap();
    for i in 0..10u64 {
        tx.try_publish(Header::new(i), &i.to_le_bytes()).unwrap();
    }
    rx.set_filter(Some(SigFilter::func(flipping)));
    let before = FLIPS.load(Relaxed);
    let batch = rx.try_batch(Budget::new(16, 16 * 8).unwrap()).unwrap();
    let asked = FLIPS.load(Relaxed) - before;
    assert_eq!(asked, 10, "the scan asks once per frag");
    // Its answers: accept, reject, accept, ... so frags 0, 2, 4, 6, 8.
    assert_eq!(batch.len(), 5);
    for _ in 0..3 {
        let seqs: Vec<u64> = batch.iter().map(|f| f.seq()).collect();
        assert_eq!(
            seqs,
            [0, 2, 4, 6, 8],
            "every iteration sees the scan's answers"
        );
        assert_eq!(batch.iter().len(), 5);
    }
    // Iterated to the end (any number of times), then dropped: the scan's totals.
    drop(batch);
    assert_eq!(
        FLIPS.load(Relaxed) - before,
        10,
        "iterating and dropping never ask"
    );
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (5, 5));
    assert_eq!((c.consumed_bytes, c.filtered_bytes), (40, 40));

    // Half-read, then dropped: counted by the scan's answers, the filter not asked again.
    for i in 10..20u64 {
        tx.try_publish(Header::new(i), &i.to_le_bytes()).unwrap();
    }
    let before = FLIPS.load(Relaxed);
    let batch = rx.try_batch(Budget::new(16, 16 * 8).unwrap()).unwrap();
    assert_eq!(batch.len(), 5);
    let mut it = batch.iter();
    assert_eq!(it.next().map(|f| f.seq()), Some(10));
    assert_eq!(it.next().map(|f| f.seq()), Some(12));
    drop(batch);
    assert_eq!(FLIPS.load(Relaxed) - before, 10);
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (5 + 2, 5 + 1));
    // The rest is read again: frags 13..20, asked afresh.
    rx.set_filter(None);
    let batch = rx.try_batch(Budget::new(16, 16 * 8).unwrap()).unwrap();
    assert_eq!(batch.first_seq(), 13);
    assert_eq!(batch.len(), 7);
    batch.commit();
    let c = rx.counters();
    assert_eq!(c.consumed_frags + c.filtered_frags, 20);
}

#[test]
fn a_filtered_batch_spans_at_most_filtered_run_max_frags() {
    let depth = 256;
    let (mut tx, mut rx) = Link::builder().depth(depth).mtu(8).heap_pair().unwrap();
    for i in 0..depth as u64 {
        tx.try_publish(Header::new(i), b"x").unwrap();
    }
    rx.set_filter(Some(SigFilter::func(|sig| sig % 3 != 1)));
    let batch = rx
        .try_batch(Budget::new(depth, depth * 8).unwrap())
        .unwrap();
    // 64 frags of the stream, of which those with sig % 3 == 1 are rejected: 21 of them.
    assert_eq!(batch.len(), milonga::spsc::FILTERED_RUN_MAX - 21);
    assert!(batch.iter().all(|f| f.sig() % 3 != 1));
    batch.commit();
    assert_eq!(rx.next_seq(), 64);
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (43, 21));
}

/// Panics on its first call after being armed, accepts otherwise.
static ARMED: AtomicBool = AtomicBool::new(false);
fn panicky(sig: u64) -> bool {
    if sig == 3 && ARMED.swap(false, Relaxed) {
        panic!("filter panicked on purpose");
    }
    true
}

#[test]
fn a_filter_that_panics_unwinds_once_and_leaves_the_consumer_usable() {
    let (mut tx, mut rx) = Link::builder().depth(16).mtu(8).heap_pair().unwrap();
    for i in 0..6u64 {
        tx.try_publish(Header::new(i), &i.to_le_bytes()).unwrap();
    }
    rx.set_filter(Some(SigFilter::func(panicky)));
    // Read two frags first, so the panic comes in the middle of the stream.
    let batch = rx.try_batch(Budget::new(2, 16).unwrap()).unwrap();
    assert_eq!(batch.len(), 2);
    batch.commit();
    ARMED.store(true, Relaxed);
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        // The scan asks the filter about sig 3 and panics there: nothing is lent.
        let _ = rx.try_batch(Budget::new(16, 16 * 8).unwrap());
    }));
    assert!(unwound.is_err(), "the filter's panic comes through, once");
    // Nothing was released or lost: the stream goes on at frag 2.
    assert_eq!(rx.next_seq(), 2);
    let batch = rx.try_batch(Budget::new(16, 16 * 8).unwrap()).unwrap();
    let seqs: Vec<u64> = batch.iter().map(|f| f.seq()).collect();
    assert_eq!(seqs, [2, 3, 4, 5]);
    batch.commit();
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (6, 0));

    // A panic while a batch is iterated (in the caller's code) drops the batch while
    // unwinding: that releases what was reached and calls no filter.
    tx.try_publish(Header::new(6), b"6").unwrap();
    tx.try_publish(Header::new(7), b"7").unwrap();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let batch = rx.try_batch(Budget::new(16, 16 * 8).unwrap()).unwrap();
        for f in &batch {
            if f.seq() == 6 {
                panic!("caller panicked on purpose");
            }
        }
    }));
    assert!(unwound.is_err());
    assert_eq!(rx.next_seq(), 7, "frag 6 was reached, frag 7 was not");
    assert_eq!(rx.try_recv().unwrap().seq(), 7);
}

#[test]
fn blocking_receives_wait_past_filtered_frags() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    rx.set_filter(Some(SigFilter::func(|sig| sig != 0)));
    tx.try_publish(Header::new(0), b"skip").unwrap();
    let wait = || Park::default().with_timeout(Duration::from_millis(100));
    assert_eq!(rx.recv_with(wait()).err(), Some(RecvTimeoutError::Timeout));
    assert_eq!(rx.counters().filtered_frags, 1);
    tx.try_publish(Header::new(0), b"skip").unwrap();
    assert_eq!(
        rx.recv_batch_with(Budget::new(4, 32).unwrap(), wait())
            .err(),
        Some(RecvTimeoutError::Timeout)
    );
    assert_eq!(rx.counters().filtered_frags, 2);
    // Filtered frags ahead of an accepted one are passed over, not reported.
    tx.try_publish(Header::new(0), b"skip").unwrap();
    tx.try_publish(Header::new(5), b"keep").unwrap();
    assert_eq!(rx.recv_with(wait()).unwrap().payload(), b"keep");
    tx.try_publish(Header::new(0), b"skip").unwrap();
    tx.try_publish(Header::new(6), b"keep").unwrap();
    let batch = rx
        .recv_batch_with(Budget::new(4, 32).unwrap(), wait())
        .unwrap();
    assert_eq!(batch.iter().map(|f| f.sig()).collect::<Vec<_>>(), [6]);
    batch.commit();
    // The end of the stream still ends them.
    tx.try_publish(Header::new(0), b"skip").unwrap();
    tx.halt();
    assert_eq!(rx.recv_with(wait()).err(), Some(RecvTimeoutError::Closed));
    assert_eq!(
        rx.recv_batch_with(Budget::new(4, 32).unwrap(), wait())
            .err(),
        Some(RecvTimeoutError::Closed)
    );
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (2, 5));
}

/// Panics whenever it is called while `FORBIDDEN` is set.
static FORBIDDEN: AtomicBool = AtomicBool::new(false);
fn strict(sig: u64) -> bool {
    assert!(
        !FORBIDDEN.load(Relaxed),
        "filter called after the batch's scan"
    );
    sig.is_multiple_of(2)
}

/// Before the fix, iterating called the filter again, and a panic there was followed by a
/// second one inside `Batch::drop` (which counted by asking the filter), aborting the
/// process.
#[test]
fn a_batch_never_calls_the_filter_after_its_scan() {
    let (mut tx, mut rx) = Link::builder().depth(16).mtu(8).heap_pair().unwrap();
    for i in 0..8u64 {
        tx.try_publish(Header::new(i), b"x").unwrap();
    }
    rx.set_filter(Some(SigFilter::func(strict)));
    let batch = rx.try_batch(Budget::new(16, 128).unwrap()).unwrap();
    FORBIDDEN.store(true, Relaxed);
    let seqs = catch_unwind(AssertUnwindSafe(|| {
        let seqs: Vec<u64> = batch.iter().map(|f| f.seq()).take(2).collect();
        drop(batch); // partly read: counted from the scan's answers
        seqs
    }));
    FORBIDDEN.store(false, Relaxed);
    assert_eq!(
        seqs.expect("no filter call while iterating or dropping"),
        [0, 2]
    );
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.filtered_frags), (2, 1));
}
