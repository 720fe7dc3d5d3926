//! The builders and their named results: each setting reaches the link it builds, the
//! consumer counts come out as asked (and in the producer's type: a link with lossy
//! consumers has a `Producer<Shared>`), bad settings are the named `LinkError`s, and inline
//! storage splits into named handles once.

use milonga::mpsc::{
    ring_chunks, FanIn, FanInHandles, InlineFanIn, InlineFanInHandles, InlineRing, Ring,
};
use milonga::spsc::{
    Consumer, Exclusive, InlineHandles, InlineLink, Link, LossyConsumer, Producer, Shared,
    MAX_CONSUMERS, MTU_MAX,
};
use milonga::wait::Strategy;
use milonga::{data_bytes, data_chunks, FlowConfig, Header, LinkError, CHUNK_SZ};

/// Compiles only for an exclusive producer.
fn exclusive<W>(_: &Producer<'_, W>) -> bool
where
    W: milonga::spsc::WriteMode,
{
    !W::SHARED
}

fn is_exclusive(_: &Producer<'_, Exclusive>) {}
fn is_shared(_: &Producer<'_, Shared>) {}

/// Publishes empty frags until the producer refuses one; returns how many it took.
fn credits<W: milonga::spsc::WriteMode>(tx: &mut Producer<'_, W>) -> u64 {
    let mut n = 0;
    while tx.try_publish(Header::new(n), &[]).is_ok() {
        n += 1;
        assert!(n <= 1 << 20, "the producer never ran out of credits");
    }
    n
}

#[test]
fn heap_pair_is_a_producer_and_a_consumer_with_the_settings_given() {
    let (mut tx, mut rx) = Link::builder()
        .depth(16)
        .mtu(100)
        .first_seq(u64::MAX - 1)
        .heap_pair()
        .unwrap();
    is_exclusive(&tx);
    assert_eq!(tx.mtu(), 100);
    assert_eq!(tx.try_publish(Header::new(7), &[1; 100]), Ok(u64::MAX - 1));
    assert!(tx.try_publish(Header::new(7), &[1; 101]).is_err());
    let frag = rx.try_recv().unwrap();
    assert_eq!(
        (frag.seq(), frag.sig(), frag.payload()),
        (u64::MAX - 1, 7, &[1; 100][..])
    );
    drop(frag);
    // The depth bounds the frags in flight (default cr_max = depth).
    let (mut tx, _rx) = Link::builder().depth(16).mtu(0).heap_pair().unwrap();
    assert_eq!(credits(&mut tx), 16);
}

#[test]
fn defaults_are_depth_1024_mtu_1500_one_reliable_consumer() {
    let link = Link::builder().heap().unwrap();
    let Link {
        mut producer,
        reliable,
        lossy,
        metrics,
    } = link;
    assert_eq!((reliable.len(), lossy.len()), (1, 0));
    assert_eq!(producer.mtu(), 1500);
    assert_eq!(credits(&mut producer), 1024);
    assert_eq!(metrics.snapshot().consumers.len(), 1);
}

#[test]
fn flow_settings_reach_the_link() {
    let (mut tx, _rx) = Link::builder()
        .depth(64)
        .mtu(8)
        .flow(FlowConfig::new().cr_max(5))
        .heap_pair()
        .unwrap();
    assert_eq!(credits(&mut tx), 5);
    // The consumer stays alive: a producer whose consumers are gone is disconnected.
    let Ring {
        producer,
        consumer: _rx,
        ..
    } = Ring::builder()
        .depth(64)
        .mtu(8)
        .flow(FlowConfig::new().cr_max(3))
        .heap()
        .unwrap();
    let mut n = 0;
    while producer.try_publish(Header::new(0), b"x").is_ok() {
        n += 1;
        assert!(n <= 64);
    }
    assert_eq!(n, 3);
}

#[test]
fn a_larger_store_holds_more_small_payloads() {
    // With the minimum store a depth-4 link of mtu 640 holds 4 frags; with the store of a
    // much larger link it still holds 4 (the depth bounds it), and payloads of the mtu fit.
    let bytes = data_bytes(4, 640) * 4 + CHUNK_SZ - 1; // rounded down to whole chunks
    let (mut tx, mut rx) = Link::builder()
        .depth(4)
        .mtu(640)
        .data_bytes(bytes)
        .heap_pair()
        .unwrap();
    for round in 0..40u8 {
        tx.try_publish(Header::new(round as u64), &[round; 640])
            .unwrap();
        assert_eq!(rx.try_recv().unwrap().payload(), &[round; 640][..]);
    }
}

#[test]
fn broadcast_link_has_named_reliable_consumers_and_an_exclusive_producer() {
    let Link {
        mut producer,
        mut reliable,
        lossy,
        metrics,
    } = Link::builder().depth(8).mtu(8).reliable(3).heap().unwrap();
    is_exclusive(&producer);
    assert!(exclusive(&producer));
    assert_eq!((reliable.len(), lossy.len()), (3, 0));
    assert_eq!(metrics.snapshot().consumers.len(), 3);
    producer.try_publish(Header::new(1), b"all").unwrap();
    for rx in &mut reliable {
        assert_eq!(rx.try_recv().unwrap().payload(), b"all");
    }
    // `reliable(1)` is a broadcast of one: still a Vec.
    let one: Vec<Consumer<'static>> = Link::builder()
        .depth(8)
        .mtu(8)
        .reliable(1)
        .heap()
        .unwrap()
        .reliable;
    assert_eq!(one.len(), 1);
}

#[test]
fn lossy_consumers_make_the_producer_shared_in_either_order() {
    let a = Link::builder().depth(8).mtu(8).lossy(2).heap().unwrap();
    is_shared(&a.producer);
    assert!(!exclusive(&a.producer));
    assert_eq!(
        (a.reliable.len(), a.lossy.len()),
        (1, 2),
        "one reliable by default"
    );

    let b = Link::builder()
        .depth(8)
        .mtu(8)
        .reliable(2)
        .lossy(1)
        .heap()
        .unwrap();
    let c = Link::builder()
        .depth(8)
        .mtu(8)
        .lossy(1)
        .reliable(2)
        .heap()
        .unwrap();
    is_shared(&b.producer);
    is_shared(&c.producer);
    assert_eq!((b.reliable.len(), b.lossy.len()), (2, 1));
    assert_eq!((c.reliable.len(), c.lossy.len()), (2, 1));

    let Link {
        mut producer,
        reliable,
        mut lossy,
        metrics,
    } = Link::builder()
        .depth(4)
        .mtu(8)
        .lossy(1)
        .reliable(0)
        .heap()
        .unwrap();
    assert!(reliable.is_empty());
    let rx: &mut LossyConsumer<'static> = &mut lossy[0];
    // No reliable consumer: the producer never waits.
    for i in 0..20u64 {
        producer
            .try_publish(Header::new(i), &i.to_le_bytes())
            .unwrap();
    }
    let mut buf = [0u8; 8];
    // Lapped: one error counts what it lost, then it reads the oldest intact frag.
    let got = (0..2).find_map(|_| rx.try_recv(&mut buf).ok());
    assert!(got.is_some_and(|meta| meta.seq >= 16), "{got:?}");
    assert_eq!(metrics.snapshot().consumers.len(), 1);

    // Even `lossy(0)` gives the shared producer: the shape, not the count, decides.
    let d = Link::builder().depth(8).mtu(8).lossy(0).heap().unwrap();
    is_shared(&d.producer);
    assert_eq!((d.reliable.len(), d.lossy.len()), (1, 0));
}

#[test]
fn consumer_counts_out_of_range_are_named() {
    let none = LinkError::BadConsumers {
        reliable: 0,
        lossy: 0,
        max: MAX_CONSUMERS,
    };
    assert_eq!(Link::builder().reliable(0).heap().err(), Some(none));
    assert_eq!(
        Link::builder().lossy(0).reliable(0).heap().err(),
        Some(none)
    );
    assert_eq!(
        Link::builder().reliable(20).lossy(13).heap().err(),
        Some(LinkError::BadConsumers {
            reliable: 20,
            lossy: 13,
            max: MAX_CONSUMERS
        })
    );
    assert_eq!(
        Link::builder().reliable(MAX_CONSUMERS + 1).heap().err(),
        Some(LinkError::BadConsumers {
            reliable: MAX_CONSUMERS + 1,
            lossy: 0,
            max: MAX_CONSUMERS
        })
    );
    assert!(Link::builder()
        .depth(2)
        .mtu(0)
        .reliable(MAX_CONSUMERS)
        .heap()
        .is_ok());
    assert!(Link::builder()
        .depth(2)
        .mtu(0)
        .reliable(0)
        .lossy(MAX_CONSUMERS)
        .heap()
        .is_ok());
}

#[test]
fn geometry_and_flow_errors_are_named() {
    for depth in [0, 1, 3, 12, 1000] {
        let want = Some(LinkError::BadDepth { depth });
        assert_eq!(Link::builder().depth(depth).heap_pair().err(), want);
        assert_eq!(Link::builder().depth(depth).lossy(1).heap().err(), want);
        assert_eq!(Ring::builder().depth(depth).heap_pair().err(), want);
        assert_eq!(
            FanIn::builder().producers(2).depth(depth).heap().err(),
            want
        );
    }
    let too_large = Some(LinkError::MtuTooLarge {
        mtu: MTU_MAX + 1,
        max: MTU_MAX,
    });
    assert_eq!(
        Link::builder().mtu(MTU_MAX + 1).heap_pair().err(),
        too_large
    );
    assert_eq!(Ring::builder().mtu(MTU_MAX + 1).heap().err(), too_large);
    assert_eq!(
        Link::builder()
            .depth(8)
            .mtu(64)
            .data_bytes(data_bytes(8, 64) - 1)
            .heap_pair()
            .err(),
        Some(LinkError::BadDataSize {
            chunks: data_chunks(8, 64) - 1,
            needed: data_chunks(8, 64),
            max: milonga::MAX_CHUNKS,
        })
    );
    let bad_flow = Some(LinkError::BadFlow {
        param: "cr_max",
        value: 9,
        min: 1,
        max: 8,
    });
    let flow = FlowConfig::new().cr_max(9);
    assert_eq!(
        Link::builder().depth(8).flow(flow).heap_pair().err(),
        bad_flow
    );
    assert_eq!(
        Ring::builder().depth(8).flow(flow).heap_pair().err(),
        bad_flow
    );
    assert_eq!(FanIn::builder().depth(8).flow(flow).heap().err(), bad_flow);
}

#[test]
fn a_builder_is_a_value_that_builds_many_links() {
    let base = Link::builder().depth(8).mtu(16).first_seq(5);
    let (mut a, _ra) = base.heap_pair().unwrap();
    let (mut b, mut rb) = base.flow(FlowConfig::new().cr_max(2)).heap_pair().unwrap();
    assert_eq!(credits(&mut b), 2);
    assert_eq!(
        credits(&mut a),
        8,
        "the first link kept its own flow settings"
    );
    assert_eq!(rb.try_recv().unwrap().seq(), 5);
    // Debug shows the settings by name.
    let shown = format!("{base:?}");
    assert!(
        shown.contains("depth: 8") && shown.contains("first_seq: 5"),
        "{shown}"
    );
}

#[test]
fn ring_builder_names_its_handles() {
    let Ring {
        producer,
        mut consumer,
        metrics,
    } = Ring::builder()
        .depth(8)
        .mtu(32)
        .first_seq(40)
        .heap()
        .unwrap();
    let second = producer.clone();
    assert_eq!(producer.mtu(), 32);
    assert_eq!(producer.try_publish(Header::new(1), b"one"), Ok(40));
    assert_eq!(second.try_publish(Header::new(2), b"two"), Ok(41));
    assert_eq!(consumer.try_recv().unwrap().payload(), b"one");
    assert_eq!(consumer.try_recv().unwrap().payload(), b"two");
    assert_eq!(metrics.snapshot().producers, 2);

    let (tx, mut rx) = Ring::builder().depth(4).mtu(8).heap_pair().unwrap();
    assert_eq!(tx.try_publish(Header::new(3), b"x"), Ok(0));
    assert_eq!(rx.try_recv().unwrap().sig(), 3);
    // The defaults: depth 1024 (the credit window), mtu 1500.
    let (tx, _rx) = Ring::builder().heap_pair().unwrap();
    assert_eq!(tx.mtu(), 1500);
    let mut n = 0;
    while tx.try_publish(Header::new(0), &[]).is_ok() {
        n += 1;
        assert!(n <= 4096);
    }
    assert_eq!(n, 1024);
}

#[test]
fn fan_in_builder_gives_one_producer_per_link_in_order() {
    let FanInHandles {
        mut producers,
        mut consumer,
    } = FanIn::builder()
        .producers(3)
        .depth(8)
        .mtu(16)
        .first_seq(9)
        .heap()
        .unwrap();
    assert_eq!((producers.len(), consumer.len()), (3, 3));
    for (i, tx) in producers.iter_mut().enumerate() {
        is_exclusive(tx);
        assert_eq!(tx.mtu(), 16);
        assert_eq!(tx.try_publish(Header::new(i as u64), b"p"), Ok(9));
    }
    let mut seen = [false; 3];
    for _ in 0..3 {
        let (link, frag) = consumer.try_recv().unwrap();
        assert_eq!(frag.sig(), link as u64, "producer i feeds link i");
        seen[link] = true;
    }
    assert_eq!(seen, [true; 3]);

    let one = FanIn::builder().depth(4).mtu(4).heap().unwrap();
    assert_eq!(
        (one.producers.len(), one.consumer.len()),
        (1, 1),
        "the default"
    );
    let none = FanIn::builder().producers(0).heap().unwrap();
    assert!(none.producers.is_empty() && none.consumer.is_empty());
}

static PAIR: InlineLink<8, 64, { data_chunks(8, 64) }> = InlineLink::new();

#[test]
fn inline_split_hands_out_named_handles_once() {
    let InlineHandles {
        mut producer,
        reliable: [mut rx],
        lossy: [],
        metrics,
    } = PAIR.split().unwrap();
    is_exclusive(&producer);
    producer.try_publish(Header::new(1), b"hi").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"hi");
    assert_eq!(metrics.snapshot().consumers.len(), 1);
    assert_eq!(PAIR.split().err(), Some(LinkError::AlreadySplit));
    assert_eq!(
        PAIR.split_with(FlowConfig::new()).err(),
        Some(LinkError::AlreadySplit)
    );
    assert_eq!(PAIR.split_lossy().err(), Some(LinkError::AlreadySplit));
}

static WIDE: InlineLink<8, 64, { data_chunks(8, 64) }, 2, 1> = InlineLink::with_first_seq(3);

#[test]
fn inline_split_lossy_gives_a_shared_producer_and_arrays_of_consumers() {
    // A bad setting leaves the link unsplit.
    assert_eq!(
        WIDE.split_lossy_with(FlowConfig::new().cr_max(0)).err(),
        Some(LinkError::BadFlow {
            param: "cr_max",
            value: 0,
            min: 1,
            max: 8
        })
    );
    let InlineHandles {
        mut producer,
        reliable: [mut a, mut b],
        lossy: [mut c],
        metrics,
    } = WIDE.split_lossy_with(FlowConfig::new().cr_max(4)).unwrap();
    is_shared(&producer);
    assert_eq!(credits(&mut producer), 4, "the flow settings of the split");
    for rx in [&mut a, &mut b] {
        let frag = rx.try_recv().unwrap();
        assert_eq!(
            (frag.seq(), frag.sig()),
            (3, 0),
            "the first seq of the link"
        );
    }
    let mut buf = [0u8; 64];
    assert_eq!(c.try_recv(&mut buf).unwrap().seq, 3);
    assert_eq!(metrics.snapshot().consumers.len(), 3);
    assert_eq!(WIDE.split_lossy().err(), Some(LinkError::AlreadySplit));
}

#[test]
fn inline_pair_from_a_local_link() {
    let link = InlineLink::<4, 16, { data_chunks(4, 16) }>::new();
    let (mut tx, mut rx) = link.split().unwrap().into_pair();
    tx.try_publish(Header::new(2), b"local").unwrap();
    assert_eq!(rx.try_recv().unwrap().payload(), b"local");
    assert!(link.split().is_err());
}

static RING: InlineRing<8, 16, { ring_chunks(8, 16) }> = InlineRing::new();

#[test]
fn inline_ring_splits_into_a_named_ring_once() {
    let Ring {
        producer,
        mut consumer,
        metrics,
    } = RING.split().unwrap();
    producer.clone().try_publish(Header::new(1), b"r").unwrap();
    assert_eq!(consumer.try_recv().unwrap().payload(), b"r");
    assert_eq!(metrics.snapshot().producers, 1, "the clone is gone");
    assert_eq!(RING.split().err(), Some(LinkError::AlreadySplit));
    assert_eq!(
        RING.split_with(FlowConfig::new()).err(),
        Some(LinkError::AlreadySplit)
    );
}

static FAN: InlineFanIn<3, 8, 8, { data_chunks(8, 8) }> = InlineFanIn::new();

#[test]
fn inline_fan_in_splits_into_named_handles_once() {
    let InlineFanInHandles {
        producers: [_, mut b, _],
        mut consumer,
    } = FAN.split().unwrap();
    b.try_publish(Header::new(1), b"b").unwrap();
    let (link, frag) = consumer.try_recv().unwrap();
    assert_eq!((link, frag.payload()), (1, &b"b"[..]));
    drop(frag);
    assert_eq!(consumer.len(), 3);
    assert!(FAN.split().is_err());
}

#[test]
fn the_wait_strategy_reaches_every_handle() {
    let spin = Strategy::BusySpin;
    let yielding = Strategy::SpinThenYield { spins: 7 };
    assert_ne!(Strategy::default(), spin);

    let link = Link::builder()
        .depth(8)
        .mtu(8)
        .wait(spin)
        .reliable(2)
        .lossy(1)
        .heap()
        .unwrap();
    assert_eq!(link.producer.wait_strategy(), spin);
    assert!(link.reliable.iter().all(|rx| rx.wait_strategy() == spin));
    assert!(link.lossy.iter().all(|rx| rx.wait_strategy() == spin));

    let (tx, rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    assert_eq!(
        (tx.wait_strategy(), rx.wait_strategy()),
        (Strategy::default(), Strategy::default()),
        "the default"
    );

    let (tx, rx) = Ring::builder()
        .depth(8)
        .mtu(8)
        .wait(yielding)
        .heap_pair()
        .unwrap();
    assert_eq!(tx.wait_strategy(), yielding);
    assert_eq!(tx.clone().wait_strategy(), yielding, "clones keep it");
    assert_eq!(rx.wait_strategy(), yielding);

    let fan = FanIn::builder()
        .producers(2)
        .depth(8)
        .mtu(8)
        .wait(spin)
        .heap()
        .unwrap();
    assert!(fan.producers.iter().all(|tx| tx.wait_strategy() == spin));
    assert!((0..2).all(|i| fan.consumer.link(i).wait_strategy() == spin));
}
