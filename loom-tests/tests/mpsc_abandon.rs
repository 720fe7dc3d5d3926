//! A producer abandons its claim on a shared ring (the claim is dropped without a commit)
//! while another producer publishes; both then drop their handles, and the stream closes.
//!
//! The consumer must get, in seq order, the other producer's frag and an empty ERR frag in
//! place of the abandoned claim (with the header the claim was given), and must not see
//! the end of the stream before both: the last handle to go closes the stream at the claim
//! cursor, which must cover the other handle's claim.
//!
//! Every wait is bounded (see `mpsc_claim`); if the consumer reached the end of the stream,
//! everything claimed must have been delivered.
//!
//! Weakenings that make this model fail (each tried):
//! - `producer_leave` (the handle count's decrement): the last handle reads a stale claim
//!   cursor and closes the stream before the other handle's frag, which is lost;
//! - `slot_publish` (the release of a slot's seq, also for the ERR frag): the consumer
//!   reads a frag whose body or payload is not ordered after its writes.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::mpsc::Ring;
use milonga::wait::Wait;
use milonga::TryRecvError;
use milonga::{Header, PublishError};
use milonga_loom_tests::{model, Bounded};

#[test]
fn an_abandoned_claim_is_published_as_an_err_frag_and_the_stream_still_closes() {
    model(Some(2), || {
        let (tx, mut rx) = Ring::builder().depth(2).mtu(8).heap_pair().unwrap();
        let quitter = tx.clone();
        let q = thread::spawn(move || match quitter.claim_with(8, Bounded(2)) {
            Ok(mut claim) => {
                claim.set_header(Header::new(1));
                claim[..4].copy_from_slice(b"lost");
                true // dropped here: abandoned
            }
            Err(PublishError::Timeout) => false,
            Err(e) => panic!("{e}"),
        });
        let w = thread::spawn(move || match tx.claim_with(1, Bounded(2)) {
            Ok(mut claim) => {
                claim[0] = 2;
                claim.commit_with(Header::new(2), 1).unwrap();
                true
            }
            Err(PublishError::Timeout) => false,
            Err(e) => panic!("{e}"),
        });
        let mut got = [false; 3];
        let mut seq = 0;
        let mut idle = Bounded(3);
        let closed = loop {
            match rx.try_recv() {
                Ok(frag) => {
                    assert_eq!(frag.seq(), seq);
                    seq += 1;
                    match frag.sig() {
                        1 => {
                            assert!(frag.ctl().err() && frag.payload().is_empty());
                            got[1] = true;
                        }
                        2 => {
                            assert!(!frag.ctl().err());
                            assert_eq!(frag.payload(), &[2]);
                            got[2] = true;
                        }
                        s => panic!("sig {s}"),
                    }
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
        let claimed = [false, q.join().unwrap(), w.join().unwrap()];
        for p in 1..=2 {
            assert!(!got[p] || claimed[p]);
            if closed {
                assert_eq!(got[p], claimed[p], "producer {p}: a claimed frag lost");
            }
        }
    });
}
