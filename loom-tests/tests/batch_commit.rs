//! Batch reads: credits go back when a batch ends, all of them on `commit`, and on drop
//! only those of the frags an iterator reached (the rest are lent again by the next read).
//!
//! Depth 2, mtu 64, five one-chunk frags: the store has 4 chunks, so frag 4 reuses the
//! chunk of frag 0, which the consumer released by ending its first batch (by `commit` in
//! one model, by dropping a half-read batch in the other). The shadow `Track` cells make
//! loom report the producer's write unless that release is ordered before it.
//!
//! Weakenings that make these models fail (checked by `loom-tests/run.sh`):
//! - `fseq_publish`, `fseq_acquire`: the credit returned by the batch's end does not order
//!   the consumer's reads of chunk 0 before the producer's reuse of it;
//! - `slot_publish`, `slot_acquire`: the batch's scan acquires a seq whose payload write is
//!   not ordered before the iterator's read of it.
//!
//! Tried without effect: `seqlock_fence` (with the fences dropped), `cnc_release`,
//! `cnc_acquire`.
//!
//! Preemption bound 1 (a few seconds each); both models also pass with
//! `LOOM_MAX_PREEMPTIONS=2`, which takes about 70 s each.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::Budget;
use milonga::spsc::{Consumer, Link, Producer};
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError};
use milonga_loom_tests::{model, payload};

const FRAGS: u64 = 5;

fn link() -> (Producer<'static>, Consumer<'static>) {
    let flow = FlowConfig::new().cr_max(2).release_every(1);
    Link::builder()
        .depth(2)
        .mtu(64)
        .flow(flow)
        .heap_pair()
        .unwrap()
}

fn produce(mut tx: Producer<'static>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut seq = 0;
        while seq < FRAGS {
            match tx.try_publish(Header::new(seq + 1), &payload(seq, 64)) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    seq += 1;
                }
                Err(PublishError::NoCredits) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    })
}

/// Reads the rest of the stream, from `next`, in committed batches of up to two frags.
fn drain_committed(rx: &mut Consumer<'static>, mut next: u64) {
    while next < FRAGS {
        match rx.try_batch(Budget::new(2, 128).unwrap()) {
            Ok(batch) => {
                assert_eq!(batch.first_seq(), next);
                assert!(batch.len() <= 2);
                for frag in &batch {
                    assert_eq!((frag.seq(), frag.sig()), (next, next + 1));
                    assert_eq!(frag.payload(), &payload(next, 64)[..]);
                    next += 1;
                }
                batch.commit();
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

#[test]
fn committed_batches_return_their_credits() {
    model(Some(1), || {
        let (tx, mut rx) = link();
        let producer = produce(tx);
        drain_committed(&mut rx, 0);
        producer.join().unwrap();
    });
}

#[test]
fn dropping_a_half_read_batch_returns_only_the_frags_reached() {
    model(Some(1), || {
        let (tx, mut rx) = link();
        let producer = produce(tx);
        // Wait for a batch of two, read only its first frag, and drop it.
        loop {
            match rx.try_batch(Budget::new(2, 128).unwrap()) {
                Ok(batch) if batch.len() == 2 => {
                    assert_eq!(batch.first_seq(), 0);
                    let first = batch.iter().next().unwrap();
                    assert_eq!((first.seq(), first.sig()), (0, 1));
                    assert_eq!(first.payload(), &payload(0, 64)[..]);
                    drop(batch);
                    break;
                }
                // Only frag 0 so far: dropped unread, nothing is released.
                Ok(batch) => {
                    assert_eq!((batch.first_seq(), batch.len()), (0, 1));
                    drop(batch);
                    thread::yield_now();
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(rx.next_seq(), 1);
        assert_eq!(
            (rx.counters().consumed_frags, rx.counters().consumed_bytes),
            (1, 64)
        );
        // The next read starts at the frag the dropped batch did not reach.
        drain_committed(&mut rx, 1);
        assert_eq!(
            (rx.counters().consumed_frags, rx.counters().consumed_bytes),
            (FRAGS, FRAGS * 64)
        );
        producer.join().unwrap();
    });
}
