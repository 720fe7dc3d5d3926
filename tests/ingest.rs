//! Ingest with an explicit drop policy: `RejectNewest` refuses exactly when the credits
//! run out, `Block` gives up after its timeout and goes on once a consumer frees a credit,
//! `OverwriteOldest` never fails on a full ring while the lossy consumer counts exactly what
//! it lost; a policy that does not fit its link hands the producer back intact; every drop
//! is counted by reason, in the metrics snapshot, its printed form and its JSON.

use std::time::Duration;

use milonga::ingest::{DropPolicy, Ingest, IngestCounters, IngestError, PolicyMismatch};
use milonga::mpsc::Ring;
use milonga::spsc::{InlineHandles, InlineLink, Link};
use milonga::{data_chunks, FlowConfig, Header, LossyTryRecvError, Overrun, OverrunKind};

/// A timeout long enough that a send given it only ends when a consumer frees a credit: a
/// test that would exceed it is broken, not slow.
const FOREVER: Duration = Duration::from_secs(600);

fn drops(rejected: u64, timed_out: u64, too_large: u64, disconnected: u64) -> IngestCounters {
    IngestCounters {
        rejected,
        timed_out,
        too_large,
        disconnected,
    }
}

#[test]
fn reject_newest_refuses_exactly_when_the_credits_run_out_and_counts_each_refusal() {
    // A window of 3 credits on a ring of 8: the producer may be 3 frags ahead, no more.
    let (tx, mut rx) = Link::builder()
        .depth(8)
        .mtu(8)
        .flow(FlowConfig::new().cr_max(3).cr_resume(3).release_every(1))
        .heap_pair()
        .unwrap();
    let metrics = tx.metrics();
    let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest).unwrap();
    assert_eq!(ingest.policy(), DropPolicy::RejectNewest);
    for i in 0..3u64 {
        assert_eq!(ingest.send(Header::new(i), &i.to_le_bytes()), Ok(i));
    }
    assert_eq!(ingest.producer().credits(), 0, "the window is full");
    for i in 3..5u64 {
        assert_eq!(
            ingest.send(Header::new(i), &i.to_le_bytes()),
            Err(IngestError::Rejected)
        );
    }
    assert_eq!(ingest.counters(), drops(2, 0, 0, 0));
    assert_eq!(metrics.snapshot().producer.published_frags, 3);

    // Nothing published was touched: the consumer reads the three in order. Once they are
    // released, the credits are back and the next item goes through.
    for i in 0..3u64 {
        assert_eq!(rx.try_recv().unwrap().payload(), i.to_le_bytes());
    }
    assert_eq!(ingest.send(Header::new(5), b"again"), Ok(3));
    let snap = metrics.snapshot();
    assert_eq!(snap.ingest, drops(2, 0, 0, 0));
    // Every send is accounted for: 6 sends, 4 published, 2 dropped.
    assert_eq!(snap.producer.published_frags + snap.ingest.total(), 6);
}

#[test]
fn reject_newest_on_an_inline_link_counts_in_its_metrics_too() {
    static LINK: InlineLink<4, 16, { data_chunks(4, 16) }> = InlineLink::new();
    let (tx, _rx) = LINK.split().unwrap().into_pair();
    let metrics = tx.metrics();
    let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest).unwrap();
    let sent = (0..10u64)
        .filter(|&i| ingest.send(Header::new(i), b"x").is_ok())
        .count();
    assert_eq!(sent, 4, "a window of 4, nobody reads");
    assert_eq!(metrics.snapshot().ingest, drops(6, 0, 0, 0));
}

#[test]
fn block_gives_up_after_its_timeout_and_counts_it() {
    let (tx, rx) = Link::builder().depth(2).mtu(8).heap_pair().unwrap();
    let metrics = tx.metrics();
    let timeout = Duration::from_millis(1);
    let mut ingest = Ingest::new(tx, DropPolicy::Block { timeout }).unwrap();
    assert_eq!(ingest.send(Header::new(0), b"a"), Ok(0));
    assert_eq!(ingest.send(Header::new(1), b"b"), Ok(1));
    // The consumer is alive and never reads: no credit can come back.
    assert_eq!(
        ingest.send(Header::new(2), b"c"),
        Err(IngestError::TimedOut)
    );
    assert_eq!(
        ingest.send(Header::new(3), b"d"),
        Err(IngestError::TimedOut)
    );
    // A zero timeout gives up after one look.
    let mut now = Ingest::new(
        ingest.into_inner(),
        DropPolicy::Block {
            timeout: Duration::ZERO,
        },
    )
    .unwrap();
    assert_eq!(now.send(Header::new(4), b"e"), Err(IngestError::TimedOut));
    let snap = metrics.snapshot();
    assert_eq!(snap.ingest, drops(0, 3, 0, 0));
    assert_eq!(snap.producer.published_frags, 2);
    drop(rx);
}

#[test]
fn block_goes_on_once_a_consumer_frees_a_credit() {
    const ITEMS: u64 = 20;
    let (tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair().unwrap();
    let metrics = tx.metrics();
    let mut ingest = Ingest::new(tx, DropPolicy::Block { timeout: FOREVER }).unwrap();
    ingest.send(Header::new(0), &0u64.to_le_bytes()).unwrap();
    ingest.send(Header::new(1), &1u64.to_le_bytes()).unwrap(); // the window is full
    std::thread::scope(|s| {
        let watch = metrics.clone();
        s.spawn(move || {
            // Read nothing until the producer has run out of credits, so the send below
            // waits for a credit this thread frees, whatever the scheduler does.
            while watch.snapshot().producer.backpressure == 0 {
                std::thread::yield_now();
            }
            for i in 0..ITEMS {
                let frag = rx.recv().unwrap();
                assert_eq!(frag.payload(), i.to_le_bytes());
            }
        });
        for i in 2..ITEMS {
            assert_eq!(ingest.send(Header::new(i), &i.to_le_bytes()), Ok(i));
        }
    });
    let snap = metrics.snapshot();
    assert!(snap.producer.backpressure > 0, "the producer did wait");
    assert_eq!(snap.producer.published_frags, ITEMS);
    assert!(
        snap.ingest.is_zero(),
        "nothing was dropped: {:?}",
        snap.ingest
    );
}

#[test]
fn overwrite_oldest_never_fails_and_the_lossy_consumer_counts_exactly_what_it_lost() {
    const DEPTH: u64 = 8;
    let Link {
        producer,
        mut lossy,
        metrics,
        ..
    } = Link::builder()
        .depth(DEPTH as usize)
        .mtu(8)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    let mut ingest = Ingest::new(producer, DropPolicy::OverwriteOldest).unwrap();
    for i in 0..3 * DEPTH {
        assert_eq!(ingest.send(Header::new(i), &i.to_le_bytes()), Ok(i));
    }
    let mut buf = [0u8; 8];
    let mut received = Vec::new();
    let mut lost = 0;
    loop {
        match rx.try_recv(&mut buf) {
            Ok(meta) => {
                assert_eq!(buf, meta.sig.to_le_bytes());
                received.push(meta.sig);
            }
            Err(LossyTryRecvError::Overrun(o)) => lost += o.lost,
            Err(LossyTryRecvError::Empty) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // The consumer read nothing while the producer wrote: it lost the first two rings'
    // worth and got the last ring intact, in order.
    assert_eq!(lost, 2 * DEPTH);
    assert_eq!(received, (2 * DEPTH..3 * DEPTH).collect::<Vec<_>>());
    assert_eq!(lost + received.len() as u64, 3 * DEPTH);

    // The same sum from the snapshot (the consumer published its counters when it found
    // nothing new to read).
    let snap = metrics.snapshot();
    let c = &snap.consumers[0].counters;
    assert_eq!(snap.producer.published_frags, 3 * DEPTH);
    assert_eq!(c.lost_frags(), lost);
    assert_eq!(c.consumed_frags, DEPTH);
    assert_eq!(
        c.consumed_frags + c.filtered_frags + c.lost_frags() + snap.consumers[0].lag,
        snap.producer.published_frags
    );
    assert_eq!(c.lost_bytes + c.consumed_bytes, 3 * DEPTH * 8);
    assert!(snap.ingest.is_zero(), "the producer dropped nothing");
}

#[test]
fn overwrite_oldest_reports_the_first_overrun_as_lapped() {
    let mut link = Link::builder()
        .depth(4)
        .mtu(8)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = link.lossy.pop().unwrap();
    let mut ingest = Ingest::new(link.producer, DropPolicy::OverwriteOldest).unwrap();
    for i in 0..12u64 {
        ingest.send(Header::new(i), &i.to_le_bytes()).unwrap();
    }
    let mut buf = [0u8; 8];
    let lapped = Overrun {
        lost: 8,
        kind: OverrunKind::Lapped,
    };
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(LossyTryRecvError::Overrun(lapped))
    );
    assert_eq!(rx.try_recv(&mut buf).unwrap().sig, 8);
}

#[test]
fn overwrite_oldest_fits_an_inline_link_without_reliable_consumers() {
    static LINK: InlineLink<4, 8, { data_chunks(4, 8) }, 0, 1> = InlineLink::new();
    let InlineHandles {
        producer,
        lossy: [mut rx],
        ..
    } = LINK.split_lossy().unwrap();
    let mut ingest = Ingest::new(producer, DropPolicy::OverwriteOldest).unwrap();
    for i in 0..100u64 {
        assert_eq!(ingest.send(Header::new(i), &i.to_le_bytes()), Ok(i));
    }
    let mut buf = [0u8; 8];
    assert!(matches!(
        rx.try_recv(&mut buf),
        Err(LossyTryRecvError::Overrun(Overrun { lost: 96, .. }))
    ));
}

#[test]
fn a_policy_that_does_not_fit_hands_the_producer_back_intact() {
    // One reliable consumer.
    let (tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    let err = Ingest::new(tx, DropPolicy::OverwriteOldest).unwrap_err();
    assert_eq!(err.policy, DropPolicy::OverwriteOldest);
    assert_eq!(err.reason, PolicyMismatch::Gated { reliable: 1 });
    assert!(err.to_string().contains("1 reliable consumer"), "{err}");
    let mut tx = err.into_inner();
    assert_eq!(tx.try_publish(Header::new(7), b"intact"), Ok(0));
    let frag = rx.try_recv().unwrap();
    assert_eq!((frag.sig(), frag.payload()), (7, &b"intact"[..]));
    drop(frag);
    // The same producer fits the other policies.
    let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest).unwrap();
    assert_eq!(ingest.send(Header::new(8), b"ok"), Ok(1));
    let tx = ingest.into_inner();
    assert!(Ingest::new(tx, DropPolicy::Block { timeout: FOREVER }).is_ok());

    // Reliable consumers next to lossy ones still gate the producer.
    let link = Link::builder()
        .depth(4)
        .mtu(8)
        .reliable(2)
        .lossy(1)
        .heap()
        .unwrap();
    let err = Ingest::new(link.producer, DropPolicy::OverwriteOldest).unwrap_err();
    assert_eq!(err.reason, PolicyMismatch::Gated { reliable: 2 });
    // A shared ring's consumer is reliable.
    let (tx, _rx) = Ring::builder().depth(4).mtu(8).heap_pair().unwrap();
    let err = Ingest::new(tx, DropPolicy::OverwriteOldest).unwrap_err();
    assert_eq!(err.reason, PolicyMismatch::Gated { reliable: 1 });
    assert_eq!(err.producer.try_publish(Header::new(0), b"ring"), Ok(0));
}

#[test]
fn too_large_and_disconnected_are_dropped_and_counted_under_every_policy() {
    let policies = [
        DropPolicy::RejectNewest,
        DropPolicy::Block { timeout: FOREVER },
    ];
    for policy in policies {
        let (tx, rx) = Link::builder().depth(4).mtu(4).heap_pair().unwrap();
        let mut ingest = Ingest::new(tx, policy).unwrap();
        assert_eq!(
            ingest.send(Header::new(0), b"12345"),
            Err(IngestError::TooLarge { len: 5, max: 4 })
        );
        assert_eq!(ingest.send(Header::new(1), b"1234"), Ok(0));
        drop(rx);
        assert_eq!(
            ingest.send(Header::new(2), b"1"),
            Err(IngestError::Disconnected)
        );
        assert_eq!(ingest.counters(), drops(0, 0, 1, 1), "{policy:?}");
    }
    // OverwriteOldest: disconnected once its last lossy consumer is gone.
    let mut link = Link::builder()
        .depth(4)
        .mtu(4)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut ingest = Ingest::new(link.producer, DropPolicy::OverwriteOldest).unwrap();
    assert_eq!(
        ingest.send(Header::new(0), b"12345"),
        Err(IngestError::TooLarge { len: 5, max: 4 })
    );
    drop(link.lossy.pop());
    assert_eq!(
        ingest.send(Header::new(1), b"1"),
        Err(IngestError::Disconnected)
    );
    assert_eq!(link.metrics.snapshot().ingest, drops(0, 0, 1, 1));
}

/// One drop of each reason on one link: the snapshot (taken on another thread) shows each
/// counter, they survive re-wrapping the producer, and the printed form shows them on two
/// lines of at most 80 columns, only when one is not zero.
#[test]
fn the_snapshot_shows_each_counter_and_prints_them_only_when_not_zero() {
    let (tx, rx) = Link::builder().depth(2).mtu(8).heap_pair().unwrap();
    let metrics = tx.metrics();
    let quiet = metrics.snapshot();
    assert!(quiet.ingest.is_zero());
    assert!(!quiet.to_string().contains("ingest"), "{quiet}");

    let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest).unwrap();
    ingest.send(Header::new(0), b"a").unwrap();
    ingest.send(Header::new(1), b"b").unwrap();
    assert_eq!(
        ingest.send(Header::new(2), b"c"),
        Err(IngestError::Rejected)
    );
    assert!(ingest.send(Header::new(3), &[0; 9]).is_err());
    let timeout = Duration::from_millis(1);
    let mut ingest = Ingest::new(ingest.into_inner(), DropPolicy::Block { timeout }).unwrap();
    assert_eq!(
        ingest.send(Header::new(4), b"e"),
        Err(IngestError::TimedOut)
    );
    drop(rx);
    assert_eq!(
        ingest.send(Header::new(5), b"f"),
        Err(IngestError::Disconnected)
    );
    assert_eq!(ingest.counters(), drops(1, 1, 1, 1));

    let watcher = metrics.clone();
    let snap = std::thread::spawn(move || watcher.snapshot())
        .join()
        .unwrap();
    assert_eq!(snap.ingest, drops(1, 1, 1, 1));
    assert_eq!(snap.ingest.total(), 4);
    assert_eq!(snap.producer.published_frags + snap.ingest.total(), 6);
    assert_eq!(ingest.producer().cnc().ingest_counters(), snap.ingest);
    let text = snap.to_string();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[3], "  ingest drops (frags): 1 rejected, 1 timed out");
    assert_eq!(lines[4], "    1 too large, 1 disconnected");

    let mut big = snap;
    big.ingest = drops(u64::MAX, u64::MAX, u64::MAX, u64::MAX);
    let text = big.to_string();
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    assert!(text.contains("  ingest drops (frags): 18.4 E rejected, 18.4 E timed out\n"));
    assert!(text.contains("    18.4 E too large, 18.4 E disconnected\n"));
}

/// The producer handles of a shared ring add their drops up: two threads send into a ring
/// nobody reads, so exactly a window's worth goes through and the rest is counted.
#[test]
fn shared_ring_handles_count_their_drops_together() {
    const EACH: u64 = 10;
    let (tx, _rx) = Ring::builder().depth(4).mtu(8).heap_pair().unwrap();
    let metrics = tx.metrics();
    let sent: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let mut ingest = Ingest::new(tx.clone(), DropPolicy::RejectNewest).unwrap();
                s.spawn(move || {
                    let mut sent = 0;
                    for i in 0..EACH {
                        match ingest.send(Header::new(i), b"x") {
                            Ok(_) => sent += 1,
                            Err(e) => assert_eq!(e, IngestError::Rejected),
                        }
                    }
                    sent
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(sent, 4, "a window of 4 credits, nobody reads");
    let snap = metrics.snapshot();
    assert_eq!(snap.link.ingest, drops(2 * EACH - 4, 0, 0, 0));
    assert_eq!(snap.link.producer.published_frags, 4);
    assert!(snap.to_string().contains("16 rejected"));
}

#[test]
fn block_on_a_shared_ring_times_out_and_counts() {
    let (tx, _rx) = Ring::builder().depth(2).mtu(8).heap_pair().unwrap();
    let timeout = Duration::from_millis(1);
    let mut ingest = Ingest::new(tx, DropPolicy::Block { timeout }).unwrap();
    ingest.send(Header::new(0), b"a").unwrap();
    ingest.send(Header::new(1), b"b").unwrap();
    assert_eq!(
        ingest.send(Header::new(2), b"c"),
        Err(IngestError::TimedOut)
    );
    let snap = ingest.producer().metrics().snapshot();
    assert_eq!(snap.link.ingest, drops(0, 1, 0, 0));
    assert_eq!(snap.refused, 1, "the waiting send counts one refused claim");
}

/// The machine-readable form: the drop counters in the snapshot's JSON.
#[cfg(feature = "serde")]
#[test]
fn the_snapshot_json_holds_the_drop_counters() {
    let (tx, _rx) = Link::builder().depth(2).mtu(4).heap_pair().unwrap();
    let mut ingest = Ingest::new(tx, DropPolicy::RejectNewest).unwrap();
    for i in 0..5u64 {
        let _ = ingest.send(Header::new(i), b"x");
    }
    let _ = ingest.send(Header::new(5), b"12345");
    let json = serde_json::to_value(ingest.producer().metrics().snapshot()).unwrap();
    assert_eq!(json["ingest"]["rejected"], 3);
    assert_eq!(json["ingest"]["timed_out"], 0);
    assert_eq!(json["ingest"]["too_large"], 1);
    assert_eq!(json["ingest"]["disconnected"], 0);
    assert_eq!(json["producer"]["published_frags"], 2);
}
