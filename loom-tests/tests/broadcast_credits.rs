//! Credits with two reliable consumers: the producer's credits are the minimum over both
//! fseqs, so it reuses a frag's payload chunk only after both consumers released the frag.
//!
//! Depth 2, mtu 64, `cr_max` 2: the store has 4 one-chunk regions and frag 4 reuses frag
//! 0's. Each consumer's read of a region is tracked by the store's shadow cells, so loom
//! reports the producer's reuse unless both releases happen before it.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `fseq_publish`, `fseq_acquire`: a consumer's release is not ordered before the reuse
//!   (loom: causality violation on the chunk's cell);
//! - `slot_publish`, `slot_acquire`: a consumer reads a payload not ordered after its write.
//!
//! Preemption bound 0: three spinning threads explode the state space at bound 1 (over 8
//! minutes); loom still switches threads at every yield and checks every access against
//! happens-before, which is what catches the weakenings above.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::{Consumer, Link};
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError};
use milonga_loom_tests::payload;

const FRAGS: u64 = 5;

fn consume(rx: &mut Consumer<'_>) {
    let mut next = 0;
    while next < FRAGS {
        match rx.try_recv() {
            Ok(frag) => {
                assert_eq!(frag.seq(), next);
                assert_eq!(frag.payload(), &payload(next, 64)[..]);
                next += 1;
            }
            Err(TryRecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

fn run() {
    let flow = FlowConfig::new().cr_max(2).release_every(1);
    let Link {
        producer: mut tx,
        reliable: mut rxs,
        ..
    } = Link::builder()
        .depth(2)
        .mtu(64)
        .flow(flow)
        .reliable(2)
        .heap()
        .unwrap();
    let mut second = rxs.pop().unwrap();
    let mut first = rxs.pop().unwrap();
    let producer = thread::spawn(move || {
        let mut seq = 0;
        while seq < FRAGS {
            match tx.try_publish(Header::new(seq), &payload(seq, 64)) {
                Ok(_) => seq += 1,
                Err(PublishError::NoCredits) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    });
    let other = thread::spawn(move || consume(&mut second));
    consume(&mut first);
    other.join().unwrap();
    producer.join().unwrap();
}

#[test]
fn the_producer_reuses_a_chunk_only_after_both_consumers_released_it() {
    // Three threads that spin (yielding) on Empty and NoCredits need more branches than
    // loom's default allows.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(0));
    builder.max_branches = 100_000;
    builder.check(run);
}
