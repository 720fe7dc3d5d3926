//! Receiving as crossbeam-channel users expect: `recv()` fails only at the end of the
//! stream, `recv_timeout` times out, a producer that died is told from a clean end, the
//! wait strategy is chosen once, and the other end going away is reported at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use milonga::mpsc::{FanIn, FanInHandles, Ring};
use milonga::spsc::{Budget, Link, SigFilter};
use milonga::wait::{BusySpin, Park, Strategy};
use milonga::{
    Header, LossyRecvError, LossyTryRecvError, PublishError, RecvError, RecvTimeoutError,
    TryRecvError,
};

#[test]
fn recv_returns_every_frag_then_fails_only_at_the_end_of_the_stream() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    let n = if cfg!(miri) { 40 } else { 5_000 };
    let producer = thread::spawn(move || {
        for i in 0..n {
            tx.publish(Header::new(i), &i.to_le_bytes()).unwrap();
        }
        // Dropped: the stream closes cleanly.
    });
    let mut next = 0u64;
    // `?`-style loops end exactly at the end of the stream.
    let end = loop {
        match rx.recv() {
            Ok(frag) => {
                assert_eq!(frag.payload(), next.to_le_bytes());
                next += 1;
            }
            Err(e) => break e,
        }
    };
    producer.join().unwrap();
    assert_eq!((next, end), (n, RecvError::Closed));
    assert_eq!(rx.recv().err(), Some(RecvError::Closed));
    assert_eq!(
        rx.recv_batch(Budget::default()).err(),
        Some(RecvError::Closed)
    );
}

#[test]
fn recv_timeout_times_out_on_an_empty_link_and_returns_a_ready_frag_at_once() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(timeout).err(),
        Some(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= timeout);
    assert_eq!(
        rx.recv_batch_timeout(Budget::default(), timeout).err(),
        Some(RecvTimeoutError::Timeout)
    );
    // A deadline already past still returns what is ready.
    tx.try_publish(Header::new(1), b"a").unwrap();
    assert_eq!(rx.recv_deadline(Instant::now()).unwrap().payload(), b"a");
    assert_eq!(
        rx.recv_deadline(Instant::now()).err(),
        Some(RecvTimeoutError::Timeout)
    );
    // A timeout too long for an `Instant` means no deadline.
    tx.try_publish(Header::new(2), b"b").unwrap();
    assert_eq!(rx.recv_timeout(Duration::MAX).unwrap().payload(), b"b");
    // The end of the stream, not a timeout, once the producer is gone.
    drop(tx);
    assert_eq!(
        rx.recv_timeout(timeout).err(),
        Some(RecvTimeoutError::Closed)
    );
}

#[test]
fn a_blocking_recv_wakes_for_a_frag_published_later() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        tx.try_publish(Header::new(7), b"late").unwrap();
        tx
    });
    assert_eq!(rx.recv().unwrap().sig(), 7);
    drop(producer.join().unwrap());
    assert_eq!(rx.recv().err(), Some(RecvError::Closed));
}

#[test]
fn the_wait_strategy_is_chosen_once_per_handle() {
    let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    assert_eq!(rx.wait_strategy(), Strategy::default());
    assert!(matches!(Strategy::default(), Strategy::Park { .. }));
    rx.set_wait(Strategy::BusySpin);
    tx.set_wait(Strategy::SpinThenYield { spins: 16 });
    assert_eq!(rx.wait_strategy(), Strategy::BusySpin);
    assert_eq!(tx.wait_strategy(), Strategy::SpinThenYield { spins: 16 });
    let producer = thread::spawn(move || {
        for i in 0..100u64 {
            tx.publish(Header::new(i), b"x").unwrap();
        }
    });
    for i in 0..100u64 {
        assert_eq!(rx.recv().unwrap().sig(), i);
    }
    producer.join().unwrap();
    // The producer is gone: the end, with any strategy.
    assert_eq!(rx.recv_with(BusySpin).err(), Some(RecvTimeoutError::Closed));
    // A per-call strategy stays available, and may give up.
    let (_tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair().unwrap();
    let park = Park::default().with_timeout(Duration::from_millis(2));
    assert_eq!(rx.recv_with(park).err(), Some(RecvTimeoutError::Timeout));
}

#[test]
fn a_producer_that_panicked_is_told_from_a_clean_halt() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    let died = thread::spawn(move || {
        tx.try_publish(Header::new(1), b"one").unwrap();
        panic!("the producer dies (expected by this test)");
    });
    assert!(died.join().is_err());
    assert_eq!(rx.try_recv().unwrap().payload(), b"one");
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Failed));
    assert_eq!(rx.recv().err(), Some(RecvError::Failed));

    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(8)
        .mtu(8)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let died = thread::spawn(move || {
        tx.try_publish(Header::new(1), b"one").unwrap();
        panic!("the producer dies (expected by this test)");
    });
    assert!(died.join().is_err());
    let mut rx = lossy.pop().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(rx.try_recv(&mut buf).unwrap().sz, 3);
    assert_eq!(rx.try_recv(&mut buf).err(), Some(LossyTryRecvError::Failed));
    assert_eq!(rx.recv(&mut buf).err(), Some(LossyRecvError::Failed));

    // A fan-in ends `Failed` once every link ended and one of them failed.
    let FanInHandles {
        producers: mut txs,
        consumer: mut fan,
    } = FanIn::builder()
        .producers(2)
        .depth(4)
        .mtu(8)
        .heap()
        .unwrap();
    let b = txs.pop().unwrap();
    let a = txs.pop().unwrap();
    a.halt();
    assert_eq!(fan.try_recv().err(), Some(TryRecvError::Empty));
    assert!(thread::spawn(move || {
        let _b = b;
        panic!("the producer dies (expected by this test)");
    })
    .join()
    .is_err());
    assert_eq!(fan.try_recv().err(), Some(TryRecvError::Failed));
    assert_eq!(fan.recv().err(), Some(RecvError::Failed));
}

#[test]
fn the_first_publish_after_every_consumer_is_gone_is_disconnected() {
    // Broadcast: one of two consumers gone is not a disconnection.
    let Link {
        producer: mut tx,
        reliable: mut rxs,
        ..
    } = Link::builder().depth(8).mtu(8).reliable(2).heap().unwrap();
    drop(rxs.pop());
    assert_eq!(tx.try_publish(Header::new(0), b"a"), Ok(0));
    drop(rxs);
    assert!(tx.is_disconnected());
    assert_eq!(tx.credits(), 7);
    assert_eq!(
        tx.try_publish(Header::new(1), b"b"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(
        tx.publish(Header::new(1), b"b"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(
        tx.try_publish_message(Header::new(1), b"b"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(tx.next_seq(), 1, "nothing was published");

    // Reliable and lossy: the lossy consumer alone keeps the link connected (it never
    // gates the producer); once it goes too, the next publish says so.
    let Link {
        producer: mut tx,
        reliable: mut rel,
        mut lossy,
        ..
    } = Link::builder()
        .depth(4)
        .mtu(8)
        .reliable(1)
        .lossy(1)
        .heap()
        .unwrap();
    drop(rel.pop());
    for i in 0..10 {
        assert_eq!(tx.try_publish(Header::new(i), b"x"), Ok(i));
    }
    drop(lossy.pop());
    assert_eq!(
        tx.try_publish(Header::new(10), b"x"),
        Err(PublishError::Disconnected)
    );

    // The shared ring: every producer handle learns it at its next claim.
    let (tx, rx) = Ring::builder().depth(8).mtu(8).heap_pair().unwrap();
    let other = tx.clone();
    assert_eq!(tx.try_publish(Header::new(0), b"a"), Ok(0));
    drop(rx);
    assert!(tx.is_disconnected() && other.is_disconnected());
    assert_eq!(tx.try_claim(1).err(), Some(PublishError::Disconnected));
    assert_eq!(other.claim(1).err(), Some(PublishError::Disconnected));
    assert_eq!(
        other.publish(Header::new(1), b"b"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(tx.next_seq(), 1);
}

#[test]
fn a_filter_can_capture_values_chosen_at_run_time() {
    let Link {
        producer: mut tx,
        reliable: mut rxs,
        ..
    } = Link::builder().depth(16).mtu(8).reliable(2).heap().unwrap();
    let shards = 2u64;
    for (shard, rx) in rxs.iter_mut().enumerate() {
        let shard = shard as u64;
        rx.set_filter(Some(SigFilter::new(move |sig| sig % shards == shard)));
    }
    let subscribed: Arc<dyn Fn(u64) -> bool + Send + Sync> = Arc::new(|sig| sig < 3);
    let shared = SigFilter::shared(subscribed);
    assert!(shared.accepts(2) && !shared.accepts(3));
    for sig in 0..10 {
        tx.try_publish(Header::new(sig), b"x").unwrap();
    }
    for (shard, rx) in rxs.iter_mut().enumerate() {
        let batch = rx.try_batch(Budget::frags(16).unwrap()).unwrap();
        let sigs: Vec<u64> = batch.iter().map(|f| f.sig()).collect();
        let want: Vec<u64> = (0..10).filter(|s| s % 2 == shard as u64).collect();
        assert_eq!(sigs, want);
        batch.commit();
        assert_eq!(rx.counters().filtered_frags, 5);
    }
}

#[test]
fn a_heap_link_can_own_a_shared_clock() {
    struct Ticks(AtomicU64);
    impl milonga::clock::Clock for Ticks {
        fn now(&self) -> u64 {
            self.0.fetch_add(10, Ordering::Relaxed)
        }
    }
    let clock = Arc::new(Ticks(AtomicU64::new(0)));
    let (mut tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair().unwrap();
    tx.set_clock(clock.clone());
    rx.set_clock(clock.clone());
    tx.try_publish(Header::new(0), b"a").unwrap();
    tx.try_publish(Header::new(1), b"b").unwrap();
    assert_eq!(
        tx.try_publish(Header::new(2), b"c"),
        Err(PublishError::NoCredits)
    );
    drop(rx.try_recv().unwrap());
    drop(rx.try_recv().unwrap());
    rx.housekeeping();
    tx.try_publish(Header::new(2), b"c").unwrap();
    // Blocked at one reading of the clock, unblocked at a later one.
    assert!(tx.counters().backpressure_ticks > 0);
    assert!(Arc::strong_count(&clock) == 3);
    drop((tx, rx));
    assert_eq!(
        Arc::strong_count(&clock),
        1,
        "the handles released the clock"
    );
}

#[test]
fn capacity_readiness_and_fan_in_readiness_are_cheap_views() {
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    assert_eq!((tx.capacity(), rx.capacity()), (8, 8));
    assert!(!rx.is_ready() && rx.is_empty());
    tx.try_publish(Header::new(0), b"a").unwrap();
    tx.try_publish(Header::new(1), b"b").unwrap();
    assert!(rx.is_ready());
    assert_eq!(rx.len(), 2);
    drop(rx.try_recv().unwrap());
    assert_eq!(rx.len(), 1);

    // On a shared ring, claimed frags count (they will be published or marked ERR).
    let (ring, mut rrx) = Ring::builder().depth(8).mtu(8).heap_pair().unwrap();
    assert_eq!((ring.capacity(), rrx.len()), (8, 0));
    let claim = ring.try_claim(1).unwrap();
    assert_eq!(rrx.len(), 1);
    assert!(!rrx.is_ready());
    claim.commit(0).unwrap();
    drop(rrx.try_recv().unwrap());
    assert!(rrx.is_empty());

    let FanInHandles {
        producers: mut txs,
        consumer: mut fan,
    } = FanIn::builder()
        .producers(3)
        .depth(4)
        .mtu(8)
        .heap()
        .unwrap();
    assert_eq!(fan.ready().count(), 0);
    txs[2].try_publish(Header::new(2), b"c").unwrap();
    txs[0].try_publish(Header::new(0), b"a").unwrap();
    assert_eq!(fan.ready().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(fan.ready().count(), 2, "asking consumes nothing");
    assert_eq!(fan.wait_strategy(), Strategy::default());
    fan.set_wait(Strategy::BusySpin);
    assert_eq!(fan.wait_strategy(), Strategy::BusySpin);
    let (link, frag) = fan.recv().unwrap();
    drop(frag);
    assert_eq!(fan.ready().count(), 1);
    assert_ne!(fan.ready().next(), Some(link));
}

/// A fan-in picks a link with one look at the filter and reads with another; a filter that
/// changes its answer in between leaves the blocking read waiting on, with the frag counted
/// as filtered, never a panic or a lost frag.
#[test]
fn a_fan_in_recv_survives_a_filter_that_changes_its_answer() {
    use std::sync::atomic::AtomicBool;
    for batch in [false, true] {
        let FanInHandles {
            mut producers,
            consumer: mut fan,
        } = FanIn::builder()
            .producers(1)
            .depth(4)
            .mtu(8)
            .heap()
            .unwrap();
        // Accepts on the first look, rejects on the second.
        let flip = Arc::new(AtomicBool::new(true));
        fan.link_mut(0).set_filter(Some(SigFilter::new(move |_| {
            flip.fetch_xor(true, Ordering::Relaxed)
        })));
        producers[0].try_publish(Header::new(1), b"x").unwrap();
        let wait = || Park::default().with_timeout(Duration::from_millis(5));
        if batch {
            let got = fan.recv_batch_with(Budget::default(), wait()).err();
            assert_eq!(got, Some(RecvTimeoutError::Timeout));
        } else {
            assert_eq!(fan.recv_with(wait()).err(), Some(RecvTimeoutError::Timeout));
        }
        assert_eq!(fan.link(0).counters().filtered_frags, 1);
        drop(producers);
        assert_eq!(fan.recv().err(), Some(RecvError::Closed));
    }
}
