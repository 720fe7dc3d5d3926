//! Fan-in over two SPSC links: two producers publish while the fan-in consumer polls.
//!
//! The consumer takes frags while the producers run, then, once both are done, drains the
//! rest. Every frag must arrive with its payload, in its link's order; and the turns must
//! be fair: whenever both links still have frags, the consumer serves the link it did not
//! serve last (round robin; the order is not reshuffled within these few frags).
//!
//! Every wait is bounded (see `mpsc_claim`).
//!
//! Weakenings that make this model fail (each tried):
//! - `slot_publish` (the producer's release of a slot's seq): the consumer reads a frag
//!   whose payload is not ordered after its write;
//! - `slot_acquire` (the consumer's acquire of a slot's seq): the same race.

#![cfg(milonga_loom)]

use loom::thread;
use milonga::mpsc::{FanIn, FanInHandles};
use milonga::wait::Wait;
use milonga::Header;
use milonga::TryRecvError;
use milonga_loom_tests::{model, Bounded};

/// Frags per link.
const FRAGS: u8 = 3;

#[test]
fn fan_in_over_two_links_is_exact_and_takes_turns() {
    model(Some(2), || {
        let FanInHandles {
            producers: txs,
            consumer: mut rx,
        } = FanIn::builder()
            .producers(2)
            .depth(4)
            .mtu(8)
            .heap()
            .unwrap();
        let handles: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, mut tx)| {
                thread::spawn(move || {
                    for i in 0..FRAGS {
                        tx.try_publish(Header::new(p as u64), &[p as u8 * 10 + i])
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0u8; 2];
        let mut last = None;
        let check = |link: usize, sig: u64, payload: &[u8], next: &mut [u8; 2]| {
            assert_eq!(sig, link as u64);
            assert_eq!(payload, &[link as u8 * 10 + next[link]]);
            next[link] += 1;
        };
        // While the producers run: take what comes, up to two frags.
        let mut idle = Bounded(3);
        while next[0] + next[1] < 2 {
            match rx.try_recv() {
                Ok((link, frag)) => {
                    check(link, frag.sig(), frag.payload(), &mut next);
                    last = Some(link);
                }
                Err(TryRecvError::Empty) => {
                    if !idle.wait() {
                        break;
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        // Both done: drain, taking turns while both links have frags left.
        while next[0] + next[1] < 2 * FRAGS {
            let (link, frag) = rx.try_recv().unwrap();
            if let Some(prev) = last {
                let other = 1 - prev;
                if next[prev] < FRAGS && next[other] < FRAGS {
                    assert_eq!(link, other, "link {prev} served twice while {other} waited");
                }
            }
            check(link, frag.sig(), frag.payload(), &mut next);
            last = Some(link);
        }
        // The producers were dropped: both links are closed and drained.
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    });
}
