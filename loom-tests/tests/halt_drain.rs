//! Halt then drain: the producer publishes `K` frags and halts; the consumer reads until
//! `RecvError::Closed` and must have seen exactly those `K` frags, in order: the end of
//! the stream is never reported before every frag published ahead of it was read.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `cnc_release`, `cnc_acquire`: the consumer sees the stream closed but loads a stale
//!   end seq (0), and reports `Closed` before reading the frags;
//! - `slot_publish`, `slot_acquire`: a payload read not ordered after its write (loom:
//!   causality violation on the chunk's `Track` cell).
//!
//! Tried without effect: `seqlock_fence` (with the fences dropped), `fseq_publish`,
//! `fseq_acquire` (no chunk is reused with two frags).

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::Link;
use milonga::Header;
use milonga::TryRecvError;
use milonga_loom_tests::{model, payload};

const K: u64 = 2;

#[test]
fn halt_lets_the_consumer_drain_every_frag_then_closes() {
    model(None, || {
        let (mut tx, mut rx) = Link::builder().depth(2).mtu(64).heap_pair().unwrap();
        let producer = thread::spawn(move || {
            for seq in 0..K {
                assert_eq!(
                    tx.try_publish(Header::new(seq + 1), &payload(seq, 8)),
                    Ok(seq)
                );
            }
            tx.halt();
        });
        let mut next = 0;
        loop {
            match rx.try_recv() {
                Ok(frag) => {
                    assert_eq!((frag.seq(), frag.sig()), (next, next + 1));
                    assert_eq!(frag.payload(), &payload(next, 8)[..]);
                    next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Closed) => break,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(next, K, "closed after {next} of {K} frags");
        assert_eq!(rx.cnc().end_seq(), Some(K));
        // Closed is final.
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
        producer.join().unwrap();
    });
}
