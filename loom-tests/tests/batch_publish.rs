//! Batch publishes: a producer that publishes several frags per call (one credit check and
//! one counter update for all of them) still publishes each frag by the slot protocol, and
//! reuses a chunk only after the consumer released the frag that held it.
//!
//! Depth 2, mtu 64, credits for 2 frags, five one-chunk frags in batches of 2, 2 and 1:
//! `try_publish_batch_in_place` (payloads written into the store), `try_publish_batch`
//! (payloads copied in), `try_publish_batch_in_place` again. The store has 4 chunks, so the
//! last frag reuses the chunk of frag 0, and the second and third batches wait for credits.
//! The consumer reads with batch reads of up to 2 frags and checks every field and byte.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `slot_publish`, `slot_acquire`: the consumer's scan acquires a seq whose body and
//!   payload, written inside the batch, are not ordered before its reads of them (loom:
//!   causality violation on a chunk's cell);
//! - `fseq_publish`, `fseq_acquire`: the credits the second and third batches take do not
//!   order the consumer's reads of chunk 0 before the last batch rewrites it.
//!
//! Tried without effect: `seqlock_fence` (gated readers do not use it), `cnc_release`,
//! `cnc_acquire` (the consumer stops at the last frag before the producer's drop closes
//! the stream).
//!
//! Preemption bound 1.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::{Budget, Link};
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError};
use milonga_loom_tests::{model, payload};

const FRAGS: u64 = 5;

fn header(seq: u64) -> Header {
    Header::new(seq + 1).tsorig(seq as u32 + 100)
}

/// Retries `publish` while it reports `NoCredits`; returns the batch's first seq.
fn until_credits(mut publish: impl FnMut() -> Result<u64, PublishError>) -> u64 {
    loop {
        match publish() {
            Ok(first) => return first,
            Err(PublishError::NoCredits) => thread::yield_now(),
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

#[test]
fn batch_publishes_are_read_whole_and_reuse_chunks_only_after_release() {
    model(Some(1), || {
        let flow = FlowConfig::new().cr_max(2).release_every(1);
        let (mut tx, mut rx) = Link::builder()
            .depth(2)
            .mtu(64)
            .flow(flow)
            .heap_pair()
            .unwrap();
        let producer = thread::spawn(move || {
            let in_place = |seq: u64, region: &mut [u8]| {
                region.copy_from_slice(&payload(seq, 64));
                (header(seq), 64)
            };
            let first = until_credits(|| tx.try_publish_batch_in_place(2, 64, in_place));
            assert_eq!(first, 0);
            let (p2, p3) = (payload(2, 64), payload(3, 64));
            let frags = [(header(2), &p2[..]), (header(3), &p3[..])];
            assert_eq!(until_credits(|| tx.try_publish_batch(&frags)), 2);
            let first = until_credits(|| tx.try_publish_batch_in_place(1, 64, in_place));
            assert_eq!(first, 4);
        });
        let budget = Budget::frags(2).unwrap();
        let mut next = 0;
        while next < FRAGS {
            match rx.try_batch(budget) {
                Ok(batch) => {
                    for frag in &batch {
                        assert_eq!(frag.seq(), next);
                        assert_eq!(frag.meta().header(), header(next));
                        assert_eq!(frag.payload(), &payload(next, 64)[..]);
                        next += 1;
                    }
                    batch.commit();
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}
