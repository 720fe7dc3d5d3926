//! Values passed by value hold no reference into memory that the call makes another thread
//! write or read.
//!
//! Under Stacked Borrows a reference stored in a value passed by value is protected for
//! the whole call. A claim committed by value (`claim.commit(len)`) publishes its frag
//! inside that call, so the consumer may read the region while the call still runs; a
//! guard dropped by value (`drop(guard)`) returns its credit inside that call, so on the
//! shared ring (one region per slot) a producer may rewrite the region while it runs. With
//! a `&mut [u8]` (claims) or `&[u8]` (guards) in those values, Miri reported undefined
//! behaviour for some schedules (`-Zmiri-seed=0`, or `-Zmiri-seed=1` without weak-memory
//! emulation). Claims and guards now keep their regions as pointers and form the slices
//! only for a borrow of the claim or guard.
//!
//! These tests drive exactly those windows on the smallest rings (depth 2, credits
//! returned on every frag, so the other thread acts at once) and check every byte; CI runs
//! them under Miri with several seeds, with and without weak-memory emulation.

use std::thread;

use milonga::mpsc::Ring;
use milonga::spsc::Link;
use milonga::wait::SpinThenYield;
use milonga::TryRecvError;
use milonga::{FlowConfig, Header};

const FRAGS: u64 = if cfg!(miri) { 300 } else { 20_000 };
const MTU: usize = 24;

fn flow() -> FlowConfig {
    FlowConfig::new().release_every(1).cr_resume(1).cr_refill(1)
}

/// The payload of frag `seq`: every byte depends on the seq and its position.
fn bytes(seq: u64) -> [u8; MTU] {
    core::array::from_fn(|i| (seq as u8).wrapping_mul(31) ^ (i as u8).wrapping_mul(7))
}

/// Reads `FRAGS` frags one at a time, checks each, and drops each guard by value.
fn consume(mut rx: milonga::spsc::Consumer<'_>) {
    for seq in 0..FRAGS {
        let guard = loop {
            match rx.try_recv() {
                Ok(g) => break g,
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(guard.seq(), seq);
        assert_eq!(guard.payload(), &bytes(seq)[..], "frag {seq}");
        drop(guard); // by value: the credit goes back inside `drop`
    }
}

#[test]
fn spsc_claims_committed_while_the_consumer_reads() {
    let (mut tx, rx) = Link::builder()
        .depth(2)
        .mtu(MTU)
        .flow(flow())
        .heap_pair()
        .unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..FRAGS {
                let mut claim = tx.claim_with(MTU, SpinThenYield::default()).unwrap();
                claim.copy_from_slice(&bytes(seq));
                assert_eq!(claim.commit(MTU), Ok(seq));
            }
        });
        consume(rx);
    });
}

#[test]
fn spsc_claims_committed_with_a_header() {
    let (mut tx, rx) = Link::builder()
        .depth(2)
        .mtu(MTU)
        .flow(flow())
        .heap_pair()
        .unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..FRAGS {
                let mut claim = tx.claim_with(MTU, SpinThenYield::default()).unwrap();
                claim.copy_from_slice(&bytes(seq));
                assert_eq!(claim.commit_with(Header::new(seq), MTU), Ok(seq));
            }
        });
        consume(rx);
    });
}

#[test]
fn shared_ring_publishes_while_the_consumer_reads_and_releases() {
    let (tx, rx) = Ring::builder()
        .depth(2)
        .mtu(MTU)
        .flow(flow())
        .heap_pair()
        .unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..FRAGS {
                // `publish` goes through a claim committed by value.
                assert_eq!(
                    tx.publish_with(Header::new(seq), &bytes(seq), SpinThenYield::default()),
                    Ok(seq)
                );
            }
        });
        consume(rx);
    });
}

#[test]
fn shared_ring_claims_committed_while_the_consumer_reads_and_releases() {
    let (tx, rx) = Ring::builder()
        .depth(2)
        .mtu(MTU)
        .flow(flow())
        .heap_pair()
        .unwrap();
    thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..FRAGS {
                let mut claim = tx.claim_with(MTU, SpinThenYield::default()).unwrap();
                claim.copy_from_slice(&bytes(seq));
                assert_eq!(claim.commit(MTU), Ok(seq));
            }
        });
        consume(rx);
    });
}

/// Holding pointers instead of references changed no auto trait: claims and guards are
/// `Send` and `Sync` exactly as the references they replace made them.
#[test]
fn claims_and_guards_keep_their_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<milonga::spsc::WriteClaim<'static, 'static>>();
    send_sync::<milonga::mpsc::RingClaim<'static, 'static>>();
    send_sync::<milonga::spsc::ReadGuard<'static, 'static>>();
    fn send<T: Send>() {}
    send::<milonga::spsc::Batch<'static, 'static>>(); // not `Sync`: it counts in a `Cell`
}
