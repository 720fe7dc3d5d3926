//! A lossy read racing the producer's overwrite: the lossy consumer copies a payload with
//! atomic loads and keeps it only if the frag's slot still holds the frag afterwards. It
//! must report an overrun, never hand out a torn frag (a payload or header of one seq
//! under the metadata of another).
//!
//! Depth 2, mtu 64, 64-byte payloads: the store has `data_chunks(2, 64) = 4` chunks, one
//! per payload, so frag 4 is written into the region of frag 0, after frag 2 overwrote
//! frag 0's slot. (Payloads of 8 bytes would share chunks, and none would be reused within
//! the model's five frags.) A reader that
//! validated frag 0's metadata and then copies its region may see frag 4's bytes; the
//! release fence of frag 2's publish (step 2, after it marked slot 0) and the reader's
//! acquire fence before its re-check make it see the slot overwrite too, and discard the
//! copy.
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `seqlock_fence`: the seqlock fences are dropped; the reader keeps frag 4's bytes (or
//!   a later header) under frag 0's seq ("torn");
//! - `slot_publish`, `slot_acquire`: the reader sees a seq without its body.
//!
//! Preemption bound 1 (bound 2 runs for minutes).
//!
//! Tried without effect: `fseq_publish`, `fseq_acquire` (no reliable consumer here),
//! `cnc_release`, `cnc_acquire` (the reader stops after a fixed number of attempts).

#![cfg(milonga_loom)]

use loom::thread;
use milonga::spsc::Link;
use milonga::Header;
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga_loom_tests::{model, payload};

const FRAGS: u64 = 5;
/// Payload bytes of every frag, and the mtu: one whole chunk.
const PAYLOAD: usize = 64;

fn run() {
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(2)
        .mtu(PAYLOAD)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    let producer = thread::spawn(move || {
        for seq in 0..FRAGS {
            assert_eq!(
                tx.try_publish(Header::new(seq + 1), &payload(seq, PAYLOAD)),
                Ok(seq)
            );
        }
    });
    let mut buf = [0u8; PAYLOAD];
    let mut last = None;
    for _ in 0..3 {
        match rx.try_recv(&mut buf) {
            Ok(meta) => {
                assert_eq!(meta.sig, meta.seq + 1, "torn header of seq {}", meta.seq);
                assert_eq!(
                    &buf[..],
                    &payload(meta.seq, PAYLOAD)[..],
                    "torn payload of seq {}",
                    meta.seq
                );
                assert!(last.is_none_or(|l| meta.seq > l));
                last = Some(meta.seq);
            }
            // Lapped before the read, or overwritten during the copy: either way counted.
            Err(LossyTryRecvError::Overrun(Overrun { lost, .. })) => assert!(lost > 0),
            Err(LossyTryRecvError::Empty) => thread::yield_now(),
            Err(LossyTryRecvError::Closed) => break,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    producer.join().unwrap();
    let c = rx.counters();
    assert_eq!(c.consumed_frags + c.lost_frags(), rx.next_seq(), "{c:?}");
}

#[test]
fn a_lossy_read_racing_an_overwrite_reports_an_overrun_never_a_torn_frag() {
    model(Some(1), run);
}
