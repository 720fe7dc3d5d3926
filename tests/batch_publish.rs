//! Batch publishes (`try_publish_batch`, `publish_batch`, `try_publish_batch_in_place`):
//! what the property tests' model does not reach. A closure that panics mid-batch leaves
//! the frags before it published and the producer after them; the counters (and the
//! link's metrics) are exact after every batch without housekeeping; a batch longer than
//! the credit window is refused by name (the blocking call too, instead of waiting for
//! ever); a blocking batch publish against a consumer thread delivers every frag once, in
//! order; a batch on a link with lossy readers reaches both kinds of reader.

use std::panic::{catch_unwind, AssertUnwindSafe};

use milonga::spsc::{Budget, Link};
use milonga::{FlowConfig, Header, PublishError, TryRecvError};

/// The payload of frag `seq`: its seq, then bytes that depend on it.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq.wrapping_mul(31) as u8) ^ (i as u8).wrapping_mul(7))
        .collect()
}

#[test]
fn a_fill_that_panics_leaves_the_frags_before_it_published() {
    let (mut tx, mut rx) = Link::builder().depth(16).mtu(8).heap_pair().unwrap();
    let metrics = tx.metrics();
    let result = catch_unwind(AssertUnwindSafe(|| {
        tx.try_publish_batch_in_place(6, 8, |seq, buf| {
            assert!(seq < 3, "a fill that fails at seq {seq}");
            buf.copy_from_slice(&payload(seq, 8));
            (Header::new(seq), 8)
        })
    }));
    assert!(result.is_err());
    // Three frags went out, and the producer says so everywhere.
    assert_eq!(tx.next_seq(), 3);
    assert_eq!(tx.credits(), 13);
    assert_eq!(tx.counters().published_frags, 3);
    assert_eq!(tx.counters().published_bytes, 24);
    let snap = metrics.snapshot().producer;
    assert_eq!((snap.published_frags, snap.published_bytes), (3, 24));
    // It goes on after them: no seq is published twice.
    assert_eq!(tx.try_publish(Header::new(3), &payload(3, 5)), Ok(3));
    let batch = rx.try_batch(Budget::frags(16).unwrap()).unwrap();
    assert_eq!(batch.len(), 4);
    for (i, frag) in batch.iter().enumerate() {
        let seq = i as u64;
        assert_eq!((frag.seq(), frag.sig()), (seq, seq));
        assert_eq!(frag.payload(), payload(seq, if seq < 3 { 8 } else { 5 }));
    }
    batch.commit();
}

#[test]
fn an_overfilled_first_frag_publishes_nothing() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(16).heap_pair().unwrap();
    let got = tx.try_publish_batch_in_place(4, 8, |seq, _| (Header::new(seq), 9));
    assert_eq!(
        got,
        Err(PublishError::Overfilled {
            published: 0,
            len: 9,
            max: 8
        })
    );
    assert_eq!((tx.next_seq(), tx.credits()), (0, 8));
    assert_eq!(tx.counters().published_frags, 0);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    // The region offered to the refused frag is offered again.
    assert_eq!(
        tx.try_publish_batch_in_place(2, 8, |seq, buf| {
            buf.fill(seq as u8 + 1);
            (Header::new(seq), 8)
        }),
        Ok(0)
    );
    assert_eq!(rx.try_recv().unwrap().payload(), [1; 8]);
    assert_eq!(rx.try_recv().unwrap().payload(), [2; 8]);
}

#[test]
fn counters_are_exact_after_every_batch_without_housekeeping() {
    let (mut tx, mut rx) = Link::builder().depth(64).mtu(32).heap_pair().unwrap();
    let metrics = tx.metrics();
    let (mut frags, mut bytes) = (0u64, 0u64);
    for round in 0..200u64 {
        let n = (round % 9) as usize;
        if round % 2 == 0 {
            let payloads: Vec<Vec<u8>> = (0..n)
                .map(|k| payload(frags + k as u64, (round as usize + k) % 33))
                .collect();
            let batch: Vec<(Header, &[u8])> = payloads
                .iter()
                .enumerate()
                .map(|(k, p)| (Header::new(frags + k as u64), &p[..]))
                .collect();
            assert_eq!(tx.try_publish_batch(&batch), Ok(frags));
            bytes += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
        } else {
            let first = tx
                .try_publish_batch_in_place(n, 32, |seq, buf| {
                    let len = (seq % 33) as usize;
                    buf[..len].copy_from_slice(&payload(seq, len));
                    (Header::new(seq), len)
                })
                .unwrap();
            assert_eq!(first, frags);
            bytes += (frags..frags + n as u64).map(|s| s % 33).sum::<u64>();
        }
        frags += n as u64;
        let snap = metrics.snapshot().producer;
        assert_eq!((snap.published_frags, snap.published_bytes), (frags, bytes));
        assert_eq!(tx.counters().published_frags, frags);
        while let Ok(frag) = rx.try_recv() {
            assert_eq!(frag.sig(), frag.seq());
            assert_eq!(frag.payload(), payload(frag.seq(), frag.payload().len()));
        }
    }
    assert_eq!(rx.consumed(), (frags, bytes));
}

#[test]
fn a_batch_longer_than_the_window_is_refused_by_name() {
    let (mut tx, _rx) = Link::builder()
        .depth(8)
        .mtu(8)
        .flow(FlowConfig::new().cr_max(4))
        .heap_pair()
        .unwrap();
    let five = [(Header::new(0), &b"x"[..]); 5];
    let refused = Err(PublishError::TooManyFrags { frags: 5, max: 4 });
    assert_eq!(tx.try_publish_batch(&five), refused);
    assert_eq!(tx.publish_batch(&five), refused); // at once: it could never go out
    assert_eq!(
        tx.try_publish_batch_in_place(5, 8, |s, _| (Header::new(s), 1)),
        refused
    );
    assert_eq!(tx.next_seq(), 0);
    // A whole window is fine, and an empty batch publishes nothing.
    assert_eq!(tx.try_publish_batch(&five[..4]), Ok(0));
    assert_eq!(tx.try_publish_batch(&[]), Ok(4));
    assert_eq!(
        tx.try_publish_batch(&five[..1]),
        Err(PublishError::NoCredits)
    );
    assert!(PublishError::TooManyFrags { frags: 5, max: 4 }
        .to_string()
        .contains("5 frags"));
}

#[test]
fn an_empty_batch_still_reports_a_disconnected_link() {
    let (mut tx, rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    drop(rx);
    assert_eq!(tx.try_publish_batch(&[]), Err(PublishError::Disconnected));
    assert_eq!(
        tx.try_publish_batch_in_place(0, 8, |s, _| (Header::new(s), 0)),
        Err(PublishError::Disconnected)
    );
}

#[test]
fn blocking_batches_reach_a_consumer_thread_in_order() {
    const BATCHES: u64 = if cfg!(miri) { 20 } else { 5_000 };
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(16).heap_pair().unwrap();
    let producer = std::thread::spawn(move || {
        let mut seq = 0u64;
        for b in 0..BATCHES {
            let n = 1 + (b % 8) as usize;
            let payloads: Vec<Vec<u8>> = (0..n)
                .map(|k| payload(seq + k as u64, (seq as usize + k) % 17))
                .collect();
            let batch: Vec<(Header, &[u8])> = payloads
                .iter()
                .enumerate()
                .map(|(k, p)| (Header::new(seq + k as u64), &p[..]))
                .collect();
            assert_eq!(tx.publish_batch(&batch), Ok(seq));
            seq += n as u64;
        }
        seq
    });
    let mut next = 0u64;
    loop {
        match rx.recv_batch(Budget::frags(8).unwrap()) {
            Ok(batch) => {
                for frag in &batch {
                    assert_eq!((frag.seq(), frag.sig()), (next, next));
                    assert_eq!(frag.payload(), payload(next, next as usize % 17));
                    next += 1;
                }
                batch.commit();
            }
            Err(e) => {
                assert_eq!(e, milonga::RecvError::Closed);
                break;
            }
        }
    }
    assert_eq!(producer.join().unwrap(), next);
}

#[test]
fn a_batch_on_a_link_with_lossy_readers_reaches_both_kinds() {
    let mut link = Link::builder()
        .depth(8)
        .mtu(16)
        .reliable(1)
        .lossy(1)
        .heap()
        .unwrap();
    let payloads: Vec<Vec<u8>> = (0..6).map(|s| payload(s, s as usize * 3)).collect();
    let batch: Vec<(Header, &[u8])> = payloads
        .iter()
        .enumerate()
        .map(|(s, p)| (Header::new(s as u64), &p[..]))
        .collect();
    assert_eq!(link.producer.try_publish_batch(&batch), Ok(0));
    let mut buf = [0u8; 16];
    for s in 0..6u64 {
        let meta = link.lossy[0].try_recv(&mut buf).unwrap();
        assert_eq!((meta.seq, meta.sig), (s, s));
        assert_eq!(&buf[..meta.sz as usize], &payloads[s as usize][..]);
    }
    let got = link.reliable[0]
        .try_batch(Budget::frags(8).unwrap())
        .unwrap();
    assert_eq!(got.len(), 6);
    for (s, frag) in got.iter().enumerate() {
        assert_eq!(frag.payload(), &payloads[s][..]);
    }
    got.commit();
}

/// A lossy reader lapped by batches learns the bytes it lost from the ledger each frag of
/// a batch was published with: its counts add up exactly.
#[test]
fn a_lossy_reader_lapped_by_batches_counts_every_byte() {
    let mut link = Link::builder()
        .depth(8)
        .mtu(16)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let (mut seq, mut total) = (0u64, 0u64);
    for round in 0..3 {
        let payloads: Vec<Vec<u8>> = (0..7)
            .map(|k| payload(seq + k, (seq + k + round) as usize % 17))
            .collect();
        let batch: Vec<(Header, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(k, p)| (Header::new(seq + k as u64), &p[..]))
            .collect();
        assert_eq!(link.producer.try_publish_batch(&batch), Ok(seq));
        seq += 7;
        total += payloads.iter().map(|p| p.len() as u64).sum::<u64>();
    }
    let rx = &mut link.lossy[0];
    let mut buf = [0u8; 16];
    let mut overruns = 0;
    loop {
        match rx.try_recv(&mut buf) {
            Ok(meta) => {
                let want = payload(meta.seq, meta.sz as usize);
                assert_eq!(&buf[..meta.sz as usize], &want[..]);
            }
            Err(milonga::LossyTryRecvError::Overrun(_)) => overruns += 1,
            Err(milonga::LossyTryRecvError::Empty) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(overruns > 0, "21 frags through 8 slots lap the reader");
    let c = rx.counters();
    assert_eq!(c.consumed_frags + c.lost_frags(), seq);
    assert_eq!(c.consumed_bytes + c.lost_bytes, total);
}
