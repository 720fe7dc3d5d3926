//! Two producers claim and publish on one shared ring, racing its consumer.
//!
//! Depth 2, two frags per producer: every payload region and slot is reused, so a claim
//! is sound only if the credit it was granted orders its writes after the consumer's reads
//! of the region's previous frag, also when the credit mark it used was stored by the
//! other producer. The payload regions are tracked by loom (`Track`): a write not ordered
//! after the previous read of the region is reported, and so is a read not ordered after
//! the write.
//!
//! Every wait is bounded (a thread that spins too long gives up: a producer drops its
//! handle, the consumer stops reading), which keeps loom's paths short; the model checks
//! safety, and whatever was delivered must be exact: seqs contiguous, each producer's frags
//! in order with their payloads, and everything committed delivered if the consumer read
//! to the end of the stream.
//!
//! Weakenings that make this model fail (each tried):
//! - `credit_take` (a claimer's load of the shared credit mark): the region written by a
//!   claim granted on a mark the other producer stored races the consumer's read of it;
//! - `credit_share` (a refresher's store of the credit mark): the same race;
//! - `slot_publish` (the claimer's release of the slot's seq): the consumer reads a payload
//!   not ordered after its write.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::mpsc::Ring;
use milonga::wait::Wait;
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError};
use milonga_loom_tests::{model, Bounded};

/// Frags each producer tries to publish.
const FRAGS: u8 = 2;

#[test]
fn two_producers_claim_and_publish_racing_one_consumer() {
    model(Some(2), || {
        let flow = FlowConfig::new().release_every(1);
        let (tx, mut rx) = Ring::builder()
            .depth(2)
            .mtu(8)
            .flow(flow)
            .heap_pair()
            .unwrap();
        let handles: Vec<_> = (1..=2u8)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let mut committed = 0u8;
                    for i in 0..FRAGS {
                        let mut claim = match tx.claim_with(1, Bounded(2)) {
                            Ok(claim) => claim,
                            Err(PublishError::Timeout | PublishError::Disconnected) => break,
                            Err(e) => panic!("{e}"),
                        };
                        claim[0] = p * 10 + i;
                        claim.commit_with(Header::new(p as u64), 1).unwrap();
                        committed += 1;
                    }
                    committed
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u8; 3];
        let mut seq = 0;
        let mut idle = Bounded(3);
        let closed = loop {
            match rx.try_recv() {
                Ok(frag) => {
                    assert_eq!(frag.seq(), seq);
                    seq += 1;
                    let p = frag.sig() as usize;
                    assert!((1..=2).contains(&p) && !frag.ctl().err());
                    assert_eq!(frag.payload(), &[p as u8 * 10 + next[p]]);
                    next[p] += 1;
                    idle = Bounded(3);
                }
                Err(TryRecvError::Empty) => {
                    if !idle.wait() {
                        break false;
                    }
                }
                Err(TryRecvError::Closed) => break true,
                Err(e) => panic!("{e}"),
            }
        };
        drop(rx);
        let committed: Vec<u8> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for p in 1..=2 {
            assert!(next[p] <= committed[p - 1]);
            if closed {
                assert_eq!(
                    next[p],
                    committed[p - 1],
                    "producer {p}: a committed frag lost"
                );
            }
        }
    });
}
