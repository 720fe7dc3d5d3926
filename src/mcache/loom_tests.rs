//! Loom model of the metadata ring on its own: a seqlock read racing a producer that laps
//! the reader.
//!
//! A reliable SPSC consumer is never lapped, so this drives the ring directly (its
//! internals are crate-private, hence a model inside the crate rather than in
//! `loom-tests/`): a ring of two slots, a producer publishing seqs 0..=3 (so seqs 2 and 3
//! overwrite the slots of 0 and 1 while the reader may be in them), and a reader doing one
//! full seqlock read of each seq. Every read must be `NotYet`, an `Overrun` naming a later
//! seq, or `Ready` with exactly the body published for that seq: never a torn frag.
//!
//! Run with `RUSTFLAGS="--cfg milonga_loom" cargo test -p milonga --lib --release loom_tests`
//! (`loom-tests/run.sh` runs it with the other models).
//!
//! Weakenings that make this model fail (checked by `loom-tests/run.sh`):
//! - `seqlock_fence`: the reader sees part of a later frag's body, and its re-check still
//!   loads the seq it first acquired, so it returns a torn frag as `Ready` ("torn read of
//!   seq 1");
//! - `slot_publish`, `slot_acquire`: the reader acquires seq `s` and still loads a body
//!   older than `s` (the empty slot's, or the one of `s - 2`).
//!
//! Tried without effect (not used by this model): `fseq_publish`, `fseq_acquire`,
//! `cnc_release`, `cnc_acquire`.

use loom::sync::Arc;
use loom::thread;

use super::{MCache, Read, Slot};
use crate::frag::{Ctl, FragMeta};

/// Runs `f` under loom with at most `preemptions` preemptions per execution, unless
/// `LOOM_MAX_PREEMPTIONS` is set (as the models in `loom-tests/` do).
fn model<F: Fn() + Sync + Send + 'static>(preemptions: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

/// Every field derived from the seq, none equal to the empty slot's zero.
fn meta(seq: u64) -> FragMeta {
    FragMeta {
        seq,
        sig: seq * 7 + 1,
        offset: seq as u32 + 10,
        sz: seq as u16 + 20,
        ctl: Ctl::from_bits(seq as u16 + 30),
        tsorig: seq as u32 + 40,
        tspub: seq as u32 + 50,
    }
}

const LAST: u64 = 3;

#[test]
fn seqlock_read_racing_a_lapping_producer_is_never_torn() {
    model(3, || {
        let slots: Arc<[Slot; 2]> = Arc::new([Slot::empty(0), Slot::empty(0)]);
        let writer = {
            let slots = slots.clone();
            thread::spawn(move || {
                let mc = MCache::new(&slots[..], &[]);
                for seq in 0..=LAST {
                    mc.publish(&meta(seq));
                }
            })
        };
        let mc = MCache::new(&slots[..], &[]);
        for seq in [0, 1, 2] {
            match mc.read(seq) {
                Read::Ready(got) => assert_eq!(got, meta(seq), "torn read of seq {seq}"),
                Read::NotYet => {}
                Read::Overrun { found } => {
                    // The slot holds a later frag, or the in-progress mark of one
                    // (`later - 1`), never one earlier than `seq` nor beyond the last.
                    assert!(found > seq && found <= LAST, "seq {seq}: found {found}");
                }
            }
        }
        writer.join().unwrap();
        // Once the writer is done, every slot holds its last frag.
        assert_eq!(mc.read(2), Read::Ready(meta(2)));
        assert_eq!(mc.read(3), Read::Ready(meta(3)));
        assert_eq!(mc.read(1), Read::Overrun { found: 3 });
    });
}
