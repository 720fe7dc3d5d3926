//! Credit refill: a link of depth 2 whose producer publishes more frags than the depth, so
//! it runs out of credits and refills them from the consumer's fseq, and reuses both the
//! metadata slots and the payload chunks of frags the consumer released.
//!
//! With mtu 64 the store has `data_chunks(2, 64) = 4` chunks, one per frag, so frag 4 is
//! written into the chunk of frag 0. The store's shadow `Track` cells make loom report that
//! write unless the consumer's release of frag 0 happens before it, which only the credit
//! protocol (fseq publish with release, fseq query with acquire) provides.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `fseq_publish`, `fseq_acquire`: the producer reuses chunk 0 without the consumer's
//!   read of it being ordered before (loom: causality violation on the chunk's cell);
//! - `slot_publish`, `slot_acquire`: the consumer reads a payload not ordered after the
//!   producer's write of it.
//!
//! Tried without effect: `seqlock_fence` with the fences dropped (gated readers do not use
//! it), `cnc_release`, `cnc_acquire` (the consumer stops at the last frag before the
//! producer's drop closes the stream).
//!
//! Preemption bounds: 2 for `cr_max` 1 (about 10 s), 1 for `cr_max` 2 (a few seconds; it
//! also passes with `LOOM_MAX_PREEMPTIONS=2`, in about 55 s).

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::Link;
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError};
use milonga_loom_tests::{model, payload};

const FRAGS: u64 = 5;

fn run(cr_max: u64) {
    let flow = FlowConfig::new().cr_max(cr_max).release_every(1);
    let (mut tx, mut rx) = Link::builder()
        .depth(2)
        .mtu(64)
        .flow(flow)
        .heap_pair()
        .unwrap();
    let producer = thread::spawn(move || {
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
    });
    let mut next = 0;
    while next < FRAGS {
        match rx.try_recv() {
            Ok(frag) => {
                assert_eq!((frag.seq(), frag.sig()), (next, next + 1));
                assert_eq!(frag.payload(), &payload(next, 64)[..]);
                next += 1;
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    producer.join().unwrap();
}

#[test]
fn credit_refill_reuses_chunks_only_after_release_cr_max_1() {
    model(Some(2), || run(1));
}

#[test]
fn credit_refill_reuses_chunks_only_after_release_cr_max_2() {
    model(Some(1), || run(2));
}
