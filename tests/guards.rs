//! Guards and credits: what a write claim, a read guard and a batch give back when they
//! end, how many publishes the credits allow, and how the stream ends (consumer gone,
//! producer halted, dropped, or panicking).

mod common;

use std::thread;

use common::{fill, frag_seed};
use milonga::spsc::Budget;
use milonga::spsc::{Consumer, Link, Producer};
use milonga::wait::SpinThenYield;
use milonga::RecvTimeoutError;
use milonga::TryRecvError;
use milonga::{FlowConfig, Header, PublishError, RecvError, Signal};

fn link(depth: usize, mtu: usize, flow: FlowConfig) -> (Producer<'static>, Consumer<'static>) {
    Link::builder()
        .depth(depth)
        .mtu(mtu)
        .flow(flow)
        .heap_pair()
        .unwrap()
}

/// The payload of the frag `seq` in these tests: `len` bytes derived from the seq.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill(frag_seed(seq), &mut v);
    v
}

#[test]
fn write_claim_dropped_without_commit_publishes_nothing() {
    let (mut tx, mut rx) = link(4, 256, FlowConfig::new());
    assert_eq!(tx.try_publish(Header::new(0), &[1; 100]), Ok(0)); // cursor at word 13
    assert_eq!(rx.try_recv().unwrap().meta().offset, 0);
    let credits = tx.credits();
    for _ in 0..3 {
        {
            let mut claim = tx.try_claim(256).unwrap();
            claim.fill(0xee);
            claim.set_header(Header::new(99));
        } // the claim ends here without a commit
        assert_eq!(tx.next_seq(), 1);
        assert_eq!(tx.credits(), credits, "an abandoned claim spends no credit");
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    }
    assert_eq!(tx.counters().published_frags, 1);
    // The next claim gets the same seq, and its place from the same cursor (a short one
    // fits in the cursor's chunk; the abandoned 256 bytes would have started the next).
    let mut claim = tx.try_claim(5).unwrap();
    claim.copy_from_slice(b"again");
    assert_eq!(claim.commit(5), Ok(1));
    let frag = rx.try_recv().unwrap();
    assert_eq!(
        (frag.seq(), frag.meta().offset, frag.payload()),
        (1, 13, &b"again"[..])
    );
    drop(frag);
    // And a publish after an abandoned claim too.
    let _abandoned = tx.try_claim(64).unwrap();
    assert_eq!(tx.try_publish(Header::new(2), b"pub"), Ok(2));
    let frag = rx.try_recv().unwrap();
    assert_eq!(
        (frag.seq(), frag.meta().offset, frag.payload()),
        (2, 14, &b"pub"[..])
    );
}

#[test]
fn commit_shorter_than_the_claim_publishes_exactly_that_many_bytes() {
    let (mut tx, mut rx) = link(8, 256, FlowConfig::new());
    let bytes = payload(0, 200);
    for (seq, len) in [(0u64, 70usize), (1, 0), (2, 200), (3, 64), (4, 65)] {
        let mut claim = tx.try_claim(200).unwrap();
        claim.copy_from_slice(&bytes);
        assert_eq!(claim.commit_with(Header::new(len as u64), len), Ok(seq));
    }
    // Placed by the size claimed (200 bytes: on a chunk boundary, 8 words each), the
    // cursor then moved by the size committed (70 bytes: 9 words; 0: none).
    let batch = rx.try_batch(Budget::new(8, 8 * 256).unwrap()).unwrap();
    let got: Vec<(u64, u32, usize)> = batch
        .iter()
        .map(|f| (f.seq(), f.meta().offset, f.payload().len()))
        .collect();
    assert_eq!(
        got,
        [
            (0, 0, 70),
            (1, 16, 0),
            (2, 16, 200),
            (3, 48, 64),
            (4, 56, 65)
        ]
    );
    for f in &batch {
        assert_eq!(f.payload(), &bytes[..f.sig() as usize]);
        assert_eq!(f.meta().sz as u64, f.sig());
    }
    assert_eq!(batch.bytes(), 70 + 200 + 64 + 65);
    batch.commit();
    assert_eq!(rx.consumed(), (5, 399));
    assert_eq!(tx.counters().published_bytes, 399);
}

#[test]
fn read_guard_dropped_releases_exactly_one_frag() {
    let (mut tx, mut rx) = link(4, 64, FlowConfig::new().cr_resume(1));
    for seq in 0..4 {
        tx.try_publish(Header::new(seq), &payload(seq, 10 + seq as usize))
            .unwrap();
    }
    assert_eq!(
        tx.try_publish(Header::new(4), &[]),
        Err(PublishError::NoCredits)
    );
    {
        let guard = rx.try_recv().unwrap();
        assert_eq!((guard.seq(), guard.payload()), (0, &payload(0, 10)[..]));
        assert_eq!(guard.frag().payload(), guard.payload());
    }
    assert_eq!(rx.next_seq(), 1);
    assert_eq!(rx.consumed(), (1, 10));
    rx.housekeeping();
    // Exactly one credit came back.
    assert_eq!(tx.try_publish(Header::new(4), &[]), Ok(4));
    assert_eq!(
        tx.try_publish(Header::new(5), &[]),
        Err(PublishError::NoCredits)
    );
    let guard = rx.try_recv().unwrap();
    assert_eq!((guard.seq(), guard.payload().len()), (1, 11));
    drop(guard);
    let guard = rx.try_recv().unwrap();
    assert_eq!(guard.seq(), 2);
    drop(guard);
    assert_eq!(rx.consumed(), (3, 10 + 11 + 12));
}

#[test]
fn batch_dropped_after_k_frags_releases_exactly_k() {
    let (mut tx, mut rx) = link(16, 64, FlowConfig::new());
    for seq in 0..10u64 {
        tx.try_publish(Header::new(seq), &payload(seq, seq as usize))
            .unwrap();
    }
    // Dropped without iterating: nothing released; len, bytes and first_seq do not count.
    let batch = rx.try_batch(Budget::new(16, 1024).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len(), batch.bytes()), (0, 10, 45));
    assert!(!batch.is_empty());
    drop(batch);
    assert_eq!((rx.next_seq(), rx.consumed()), (0, (0, 0)));

    // Iterate k = 3 of 10, then drop: frags 0, 1, 2 released.
    let batch = rx.try_batch(Budget::new(16, 1024).unwrap()).unwrap();
    let seen: Vec<u64> = batch.iter().take(3).map(|f| f.seq()).collect();
    assert_eq!(seen, [0, 1, 2]);
    drop(batch);
    assert_eq!((rx.next_seq(), rx.consumed()), (3, (3, 3)));

    // The next read starts at frag 3; iterating twice counts the furthest reach (5).
    let batch = rx.try_batch(Budget::new(4, 1024).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len()), (3, 4));
    assert_eq!(
        batch.iter().take(1).map(|f| f.seq()).collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(batch.iter().take(2).last().map(|f| f.seq()), Some(4));
    assert_eq!(batch.iter().len(), 4);
    drop(batch);
    assert_eq!((rx.next_seq(), rx.consumed()), (5, (5, 3 + 3 + 4)));
    assert_eq!(rx.try_recv().unwrap().seq(), 5);

    // Iterated fully but dropped: all released, as with commit.
    let batch = rx.try_batch(Budget::new(2, 1024).unwrap()).unwrap();
    assert_eq!(batch.iter().count(), 2);
    drop(batch);
    assert_eq!(rx.next_seq(), 8);

    // Commit without iterating releases all.
    let batch = rx.try_batch(Budget::new(16, 1024).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len(), batch.bytes()), (8, 2, 17));
    batch.commit();
    assert_eq!((rx.next_seq(), rx.consumed()), (10, (10, 45)));
    assert_eq!(
        rx.try_batch(Budget::new(16, 1024).unwrap()).err(),
        Some(TryRecvError::Empty)
    );
}

#[test]
fn exactly_cr_max_publishes_then_no_credits_then_hysteresis() {
    // depth 8: cr_max 8, cr_resume 4, release_every 1 by default.
    let (mut tx, mut rx) = link(8, 64, FlowConfig::new());
    assert_eq!(tx.credits(), 8);
    for seq in 0..8 {
        assert_eq!(tx.try_publish(Header::new(seq), &[seq as u8]), Ok(seq));
    }
    assert_eq!(tx.credits(), 0);
    for _ in 0..3 {
        assert_eq!(
            tx.try_publish(Header::new(8), &[]),
            Err(PublishError::NoCredits)
        );
        assert_eq!(tx.try_claim(0).err(), Some(PublishError::NoCredits));
    }
    assert_eq!(
        tx.counters().backpressure,
        1,
        "one episode, however many attempts"
    );
    // Three released: below the resume mark, still no credits.
    for seq in 0..3 {
        assert_eq!(rx.try_recv().unwrap().payload(), &[seq as u8]);
    }
    assert_eq!(
        tx.try_publish(Header::new(8), &[]),
        Err(PublishError::NoCredits)
    );
    // The fourth reaches it: exactly four publishes.
    drop(rx.try_recv().unwrap());
    for seq in 8..12 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    assert_eq!(
        tx.try_publish(Header::new(12), &[]),
        Err(PublishError::NoCredits)
    );
    assert_eq!(tx.counters().backpressure, 2);
    assert_eq!(tx.next_seq(), 12);
}

#[test]
fn progress_is_reported_at_release_every_housekeeping_or_empty() {
    let flow = FlowConfig::new().cr_resume(1).release_every(8);
    let (mut tx, mut rx) = link(8, 64, flow);
    for seq in 0..8 {
        tx.try_publish(Header::new(seq), &[]).unwrap();
    }
    assert_eq!(
        tx.try_publish(Header::new(8), &[]),
        Err(PublishError::NoCredits)
    );
    // Four read, not yet reported: the producer cannot know.
    let batch = rx.try_batch(Budget::new(4, 64).unwrap()).unwrap();
    batch.commit();
    assert_eq!(
        tx.try_publish(Header::new(8), &[]),
        Err(PublishError::NoCredits)
    );
    // Housekeeping reports them.
    rx.housekeeping();
    for seq in 8..12 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    assert_eq!(
        tx.try_publish(Header::new(12), &[]),
        Err(PublishError::NoCredits)
    );
    // Seven more read: not reported (7 < release_every)...
    let batch = rx.try_batch(Budget::new(7, 64).unwrap()).unwrap();
    assert_eq!((batch.first_seq(), batch.len()), (4, 7));
    batch.commit();
    assert_eq!(
        tx.try_publish(Header::new(12), &[]),
        Err(PublishError::NoCredits)
    );
    // ...the eighth is.
    drop(rx.try_recv().unwrap());
    for seq in 12..15 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    // Three read, then nothing found: reported although fewer than `release_every`.
    assert_eq!(
        rx.try_batch(Budget::new(8, 64).unwrap())
            .unwrap()
            .iter()
            .count(),
        3
    );
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    // The producer still holds 5 credits; its refill then sees progress 15, not 12.
    for seq in 15..23 {
        assert_eq!(tx.try_publish(Header::new(seq), &[]), Ok(seq));
    }
    assert_eq!(
        tx.try_publish(Header::new(23), &[]),
        Err(PublishError::NoCredits)
    );
}

#[test]
fn producer_housekeeping_refills_credits_early() {
    let (mut tx, mut rx) = link(8, 64, FlowConfig::new().cr_refill(4));
    for seq in 0..6 {
        tx.try_publish(Header::new(seq), &[]).unwrap();
    }
    assert_eq!(tx.credits(), 2);
    let batch = rx.try_batch(Budget::new(8, 64).unwrap()).unwrap();
    batch.commit(); // release_every 1: reported
    tx.housekeeping(); // 2 < cr_refill: refresh
    assert_eq!(tx.credits(), 8);
    assert!(tx.cnc().heartbeat() > 0);
    assert_eq!(tx.cnc().producer_counters().published_frags, 6);
}

#[test]
fn dropped_consumer_disconnects_the_producer() {
    let (mut tx, rx) = link(4, 64, FlowConfig::new());
    assert_eq!(tx.try_publish(Header::new(0), b"a"), Ok(0));
    assert!(!tx.is_disconnected());
    drop(rx);
    // The first publish after the consumer went reports it, though the producer still
    // holds 3 credits.
    assert!(tx.is_disconnected());
    assert_eq!(tx.credits(), 3);
    assert_eq!(
        tx.try_publish(Header::new(1), b"c"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(
        tx.try_publish(Header::new(1), b"c"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(tx.try_claim(1).err(), Some(PublishError::Disconnected));
    // A blocking publish does not wait for a consumer that is gone.
    assert_eq!(
        tx.publish_with(Header::new(4), b"c", SpinThenYield::default()),
        Err(PublishError::Disconnected)
    );
    assert_eq!(
        tx.claim_with(1, SpinThenYield::default()).err(),
        Some(PublishError::Disconnected)
    );
    assert_eq!(tx.next_seq(), 1);
}

#[test]
fn dropped_consumer_disconnects_a_producer_on_another_thread() {
    let (mut tx, mut rx) = link(8, 64, FlowConfig::new());
    let producer = thread::spawn(move || {
        let mut seq = 0u64;
        loop {
            match tx.publish_with(
                Header::new(seq),
                &seq.to_le_bytes(),
                SpinThenYield::default(),
            ) {
                Ok(s) => {
                    assert_eq!(s, seq);
                    seq += 1;
                }
                Err(PublishError::Disconnected) => return (seq, tx),
                Err(e) => panic!("{e}"),
            }
        }
    });
    for seq in 0..20u64 {
        let frag = rx.recv_with(SpinThenYield::default()).unwrap();
        assert_eq!(frag.payload(), &seq.to_le_bytes());
    }
    drop(rx);
    // The producer comes back so that it is not the last handle to go inside the thread
    // (see handle_drop.rs).
    let (published, _tx) = producer.join().unwrap();
    // At most a window beyond what was read.
    assert!((20..=20 + 8).contains(&published), "{published}");
}

/// Publishes `n` frags of the test payloads, the seq in `sig`.
fn publish_n(tx: &mut Producer<'_>, n: u64) {
    for seq in 0..n {
        assert_eq!(
            tx.try_publish(Header::new(seq), &payload(seq, seq as usize % 65)),
            Ok(seq)
        );
    }
}

/// Reads until the stream ends: every frag must be there, in order, then `Closed`.
fn drain(rx: &mut Consumer<'_>, n: u64) {
    drain_to(rx, n, RecvError::Closed);
}

/// Reads until the stream ends: every frag must be there, in order, then `end`.
fn drain_to(rx: &mut Consumer<'_>, n: u64, end: RecvError) {
    for seq in 0..n {
        let frag = rx.try_recv().expect("a published frag is drained");
        assert_eq!((frag.seq(), frag.sig()), (seq, seq));
        assert_eq!(frag.payload(), &payload(seq, seq as usize % 65)[..]);
    }
    for _ in 0..3 {
        assert_eq!(rx.try_recv().err(), Some(end.into()));
        assert_eq!(
            rx.try_batch(Budget::new(4, 1024).unwrap()).err(),
            Some(end.into())
        );
        assert_eq!(
            rx.recv_with(SpinThenYield::default()).err(),
            Some(end.into())
        );
        assert_eq!(rx.recv().err(), Some(end));
        assert_eq!(rx.recv_batch(Budget::default()).err(), Some(end));
    }
    assert_eq!(rx.cnc().end_seq(), Some(n));
}

#[test]
fn halted_producer_lets_the_consumer_drain_then_closed() {
    let (mut tx, mut rx) = link(8, 64, FlowConfig::new());
    publish_n(&mut tx, 6);
    assert_eq!(rx.cnc().signal(), Signal::Run);
    assert_eq!(rx.cnc().end_seq(), None);
    tx.halt();
    assert_eq!(rx.cnc().signal(), Signal::Boot);
    drain(&mut rx, 6);
    assert_eq!(rx.cnc().producer_counters().published_frags, 6);
}

#[test]
fn dropped_producer_lets_the_consumer_drain_then_closed() {
    let (mut tx, mut rx) = link(8, 64, FlowConfig::new());
    publish_n(&mut tx, 8);
    drop(tx);
    assert_eq!(rx.cnc().signal(), Signal::Boot);
    drain(&mut rx, 8);
}

#[test]
fn empty_stream_closed_at_once() {
    let (tx, mut rx) = link(2, 0, FlowConfig::new());
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    tx.halt();
    drain(&mut rx, 0);
}

#[test]
fn halt_request_is_acknowledged_and_the_stream_drains_on_another_thread() {
    let (mut tx, mut rx) = link(16, 64, FlowConfig::new());
    let producer = thread::spawn(move || {
        let mut seq = 0u64;
        while !tx.halt_requested() {
            let p = payload(seq, seq as usize % 65);
            match tx.publish_with(Header::new(seq), &p, SpinThenYield::default()) {
                Ok(s) => assert_eq!(s, seq),
                Err(e) => panic!("{e}"),
            }
            seq += 1;
        }
        assert_eq!(tx.cnc().signal(), Signal::Halt);
        tx.halt();
        seq
    });
    let mut seq = 0u64;
    loop {
        if seq == 50 {
            rx.cnc().request_halt();
        }
        match rx.recv_with(SpinThenYield::default()) {
            Ok(frag) => {
                assert_eq!((frag.seq(), frag.sig()), (seq, seq));
                assert_eq!(frag.payload(), &payload(seq, seq as usize % 65)[..]);
                seq += 1;
            }
            Err(RecvTimeoutError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let published = producer.join().unwrap();
    assert_eq!(seq, published);
    assert!(published >= 50);
    assert_eq!(rx.cnc().signal(), Signal::Boot);
    assert_eq!(rx.cnc().end_seq(), Some(published));
}

#[test]
fn producer_dropped_while_panicking_fails_the_cnc_and_the_stream_drains() {
    let (mut tx, mut rx) = link(16, 64, FlowConfig::new());
    let producer = thread::spawn(move || {
        publish_n(&mut tx, 11);
        panic!("the producer dies (expected by this test)");
    });
    assert!(producer.join().is_err());
    assert_eq!(rx.cnc().signal(), Signal::Fail);
    // What the consumer receives tells the failure from a clean end.
    drain_to(&mut rx, 11, RecvError::Failed);
    assert_eq!(rx.cnc().signal(), Signal::Fail);
}

/// A guard or batch that is forgotten (`mem::forget`) returns nothing: the next read lends
/// the same frags again, each is counted once (when a guard or batch holding it ends),
/// and the producer still cannot pass them.
#[test]
fn forgotten_guards_and_batches_lend_the_same_frags_again() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    for i in 0..4u8 {
        tx.try_publish(Header::new(i as u64), &[i]).unwrap();
    }
    std::mem::forget(rx.try_recv().unwrap());
    let again = rx.try_recv().unwrap();
    assert_eq!((again.seq(), again.payload()), (0, &[0u8][..]));
    drop(again);
    std::mem::forget(rx.try_batch(Budget::new(4, 32).unwrap()).unwrap());
    let batch = rx.try_batch(Budget::new(4, 32).unwrap()).unwrap();
    assert_eq!(batch.first_seq(), 1);
    assert_eq!(batch.len(), 3);
    // Only frag 0 went back (its guard was dropped): one credit, not four.
    assert_eq!(tx.try_publish(Header::new(9), b"x"), Ok(4));
    assert_eq!(
        tx.try_publish(Header::new(9), b"x"),
        Err(PublishError::NoCredits)
    );
    batch.commit();
    rx.housekeeping();
    assert_eq!(rx.counters().consumed_frags, 4, "each frag counted once");
    assert_eq!(tx.try_publish(Header::new(9), b"x"), Ok(5));
}
