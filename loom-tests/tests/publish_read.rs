//! Publish/read: the producer publishes frags (one through `try_publish`, one through
//! `try_claim`), the consumer polls them and checks seq, sig, header fields and payload.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `slot_publish`: the consumer acquires a seq whose body and payload were not released
//!   with it; loom reports the payload read as a causality violation (the `Track` cell of
//!   the chunk), or the sig assertion sees the empty slot's 0.
//! - `slot_acquire`: the same, from the reading side;
//! - `cnc_release`, `cnc_acquire`: the producer's thread ends, and dropping the producer
//!   closes the stream; the consumer sees it closed with a stale end seq (0) and gets
//!   `Closed` before it has read the frags.
//!
//! Tried without effect (not this model's ordering): `seqlock_fence` with the fences
//! dropped (a gated reader does not re-check), `fseq_publish`, `fseq_acquire` (no chunk is
//! reused with two frags).

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::Link;
use milonga::TryRecvError;
use milonga::{Ctl, Header};
use milonga_loom_tests::{model, payload};

const LENS: [usize; 2] = [3, 64];

fn header(seq: u64) -> Header {
    Header::new(seq * 7 + 1)
        .ctl(Ctl::SOM.with_origin(seq as u16 + 1))
        .tsorig(seq as u32 + 100)
        .tspub(seq as u32 + 200)
}

#[test]
fn publish_then_poll_sees_every_field() {
    model(None, || {
        let (mut tx, mut rx) = Link::builder().depth(2).mtu(64).heap_pair().unwrap();
        let producer = thread::spawn(move || {
            assert_eq!(tx.try_publish(header(0), &payload(0, LENS[0])), Ok(0));
            let mut claim = tx.try_claim(64).unwrap();
            claim[..LENS[1]].copy_from_slice(&payload(1, LENS[1]));
            assert_eq!(claim.commit_with(header(1), LENS[1]), Ok(1));
        });
        let mut next = 0u64;
        while next < 2 {
            match rx.try_recv() {
                Ok(frag) => {
                    assert_eq!(frag.seq(), next);
                    assert_eq!(frag.sig(), header(next).sig);
                    assert_eq!(frag.meta().header(), header(next));
                    assert_eq!(frag.meta().sz as usize, LENS[next as usize]);
                    assert_eq!(frag.payload(), &payload(next, LENS[next as usize])[..]);
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        producer.join().unwrap();
    });
}
