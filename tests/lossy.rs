//! Lossy consumers: overruns of both kinds are detected, counted in events and frags, and
//! published = consumed + filtered + lost holds exactly, in frags and in bytes.

use milonga::spsc::SigFilter;
use milonga::spsc::{InlineHandles, InlineLink, Link};
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga::OverrunKind;
use milonga::{data_chunks, ConsumerCounters, Header, PublishError};

fn assert_exact(c: &ConsumerCounters, frags: u64, bytes: u64) {
    assert_eq!(
        c.consumed_frags + c.filtered_frags + c.lost_frags(),
        frags,
        "{c:?}"
    );
    assert_eq!(
        c.consumed_bytes + c.filtered_bytes + c.lost_bytes,
        bytes,
        "{c:?}"
    );
}

#[test]
fn a_lapped_reader_resumes_at_the_oldest_intact_frag_and_counts_what_it_skipped() {
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(8)
        .mtu(100)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    let mut buf = [0u8; 100];
    for i in 0..20u64 {
        assert_eq!(
            tx.try_publish(Header::new(i), &vec![i as u8; i as usize]),
            Ok(i)
        );
    }
    // The ring holds 12..=19; 0..=11 are gone.
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(LossyTryRecvError::Overrun(Overrun {
            lost: 12,
            kind: OverrunKind::Lapped
        }))
    );
    for i in 12..20u64 {
        let meta = rx.try_recv(&mut buf).unwrap();
        assert_eq!((meta.seq, meta.sig, meta.sz as u64), (i, i, i));
        assert!(buf[..i as usize].iter().all(|&b| b == i as u8));
    }
    assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Empty));
    let c = rx.counters();
    assert_eq!((c.poll_overruns, c.poll_lost, c.read_overruns), (1, 12, 0));
    assert_eq!(c.lost_bytes, (0..12).sum::<u64>());
    tx.halt();
    assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Closed));
    assert_exact(&rx.counters(), 20, (0..20).sum());
}

#[test]
fn a_resume_margin_skips_past_the_oldest_intact_frag_up_to_the_newest() {
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(8)
        .mtu(100)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    rx.set_resume_margin(3);
    let mut buf = [0u8; 100];
    for i in 0..20u64 {
        tx.try_publish(Header::new(i), &vec![i as u8; i as usize])
            .unwrap();
    }
    // The ring holds 12..=19; the margin skips 12..=14 as well.
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(LossyTryRecvError::Overrun(Overrun {
            lost: 15,
            kind: OverrunKind::Lapped
        }))
    );
    assert_eq!(rx.try_recv(&mut buf).unwrap().seq, 15);
    // Lapped again by far more than the ring: a margin past the newest stops at it.
    rx.set_resume_margin(1000);
    for i in 20..40u64 {
        tx.try_publish(Header::new(i), &vec![i as u8; i as usize])
            .unwrap();
    }
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(LossyTryRecvError::Overrun(Overrun {
            lost: 23,
            kind: OverrunKind::Lapped
        }))
    );
    let meta = rx.try_recv(&mut buf).unwrap();
    assert_eq!((meta.seq, meta.sz), (39, 39));
    assert!(buf[..39].iter().all(|&b| b == 39));
    let c = rx.counters();
    assert_eq!((c.poll_overruns, c.poll_lost), (2, 38));
    tx.halt();
    assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Closed));
    assert_exact(&rx.counters(), 40, (0..40).sum());
}

#[test]
fn a_small_buffer_consumes_nothing_and_filters_count_as_filtered() {
    static LINK: InlineLink<4, 64, { data_chunks(4, 64) }, 0, 1> = InlineLink::new();
    let InlineHandles {
        producer: mut tx,
        reliable: [],
        lossy: [mut rx],
        ..
    } = LINK.split_lossy().unwrap();
    tx.try_publish(Header::new(1), &[1; 10]).unwrap();
    tx.try_publish(Header::new(2), &[2; 20]).unwrap();
    let mut small = [0u8; 5];
    assert_eq!(
        rx.try_recv(&mut small),
        Err(LossyTryRecvError::BufferTooSmall { needed: 10 })
    );
    rx.set_filter(Some(SigFilter::func(|sig| sig != 1)));
    let mut buf = [0u8; 64];
    assert_eq!(rx.try_recv(&mut buf).unwrap().sig, 2);
    let c = rx.counters();
    assert_eq!(
        (
            c.filtered_frags,
            c.filtered_bytes,
            c.consumed_frags,
            c.consumed_bytes
        ),
        (1, 10, 1, 20)
    );
    // Lapping after the filter: bytes lost at the tail are resolved at the end.
    for i in 0..9u64 {
        tx.try_publish(Header::new(3), &[0; 7][..i as usize % 8])
            .unwrap();
    }
    tx.halt();
    let mut lost = 0;
    loop {
        match rx.try_recv(&mut buf) {
            Ok(_) => {}
            Err(LossyTryRecvError::Overrun(Overrun { lost: n, .. })) => lost += n,
            Err(LossyTryRecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(lost, 5);
    let total = 10 + 20 + (0..9u64).map(|i| i % 8).sum::<u64>();
    assert_exact(&rx.counters(), 11, total);
}

/// A slowed lossy consumer against a producer that publishes until the consumer has seen
/// both kinds of overrun (or a bound), then halts and reports its count: both kinds happen,
/// and the accounting is exact at the end.
#[test]
fn both_kinds_of_overrun_are_provoked_and_the_accounting_is_exact() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const MTU: usize = if cfg!(any(miri, milonga_tsan)) {
        512
    } else {
        32768
    };
    let max_frags: u64 = if cfg!(any(miri, milonga_tsan)) {
        120
    } else {
        50_000_000
    };
    let Link {
        producer: mut tx,
        mut lossy,
        ..
    } = Link::builder()
        .depth(4)
        .mtu(MTU)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let mut rx = lossy.pop().unwrap();
    let stop = AtomicBool::new(false);
    let ((frags, published_bytes), counters) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            let buf = vec![0xC3u8; MTU];
            let (mut frags, mut bytes) = (0u64, 0u64);
            while frags < max_frags && !stop.load(Ordering::Relaxed) {
                let len = MTU - (frags as usize * 977) % (MTU / 2);
                tx.try_publish(Header::new(frags), &buf[..len]).unwrap();
                frags += 1;
                bytes += len as u64;
            }
            tx.halt();
            (frags, bytes)
        });
        let mut buf = vec![0u8; MTU];
        let mut expect_lost = 0;
        loop {
            match rx.try_recv(&mut buf) {
                Ok(meta) => {
                    assert_eq!(
                        meta.sz as u64,
                        MTU as u64 - (meta.sig * 977) % (MTU as u64 / 2)
                    );
                    assert!(
                        buf[..meta.sz as usize].iter().all(|&b| b == 0xC3),
                        "never torn"
                    );
                    // Slowed on purpose, now and then.
                    if meta.seq % 16 == 0 {
                        for _ in 0..2000 {
                            std::hint::spin_loop();
                        }
                    }
                }
                Err(LossyTryRecvError::Overrun(Overrun { lost, .. })) => expect_lost += lost,
                Err(LossyTryRecvError::Empty) => std::hint::spin_loop(),
                Err(LossyTryRecvError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
            let c = rx.counters();
            if c.poll_overruns > 0 && c.read_overruns > 0 {
                stop.store(true, Ordering::Relaxed);
            }
        }
        assert_eq!(rx.counters().lost_frags(), expect_lost);
        (producer.join().unwrap(), rx.counters())
    });
    println!("published {frags} frags / {published_bytes} bytes; {counters:?}");
    assert_exact(&counters, frags, published_bytes);
    assert!(
        counters.poll_overruns > 0,
        "an overrun found while polling: {counters:?}"
    );
    assert!(counters.poll_lost >= counters.poll_overruns);
    if !cfg!(any(miri, milonga_tsan)) {
        assert!(
            counters.read_overruns > 0,
            "an overrun found while reading: {counters:?}"
        );
    }
    assert!(counters.read_lost >= counters.read_overruns);
}

/// A link whose consumers are all lossy is disconnected once every one of them is gone:
/// the producer's next credit refresh (within `cr_max` publishes) reports it, and nothing
/// is published then. It used to publish forever.
#[test]
fn a_link_with_only_lossy_consumers_disconnects_when_they_are_all_gone() {
    let depth = 8;
    let Link {
        producer: mut tx,
        reliable,
        lossy,
        ..
    } = Link::builder()
        .depth(depth)
        .mtu(8)
        .reliable(0)
        .lossy(2)
        .heap()
        .unwrap();
    assert!(reliable.is_empty());
    let mut lossy = lossy.into_iter();
    let first = lossy.next().unwrap();
    drop(first);
    // One lossy consumer is left: never disconnected, never out of credits.
    for i in 0..4 * depth as u64 {
        assert_eq!(tx.try_publish(Header::new(i), b"x"), Ok(i));
    }
    drop(lossy);
    let mut published = 0;
    let err = loop {
        match tx.try_publish(Header::new(0), b"y") {
            Ok(_) => published += 1,
            Err(e) => break e,
        }
        assert!(
            published <= depth,
            "still publishing {published} frags after"
        );
    };
    assert_eq!(err, PublishError::Disconnected);
    let next = tx.next_seq();
    assert_eq!(
        tx.try_publish(Header::new(0), b"z"),
        Err(PublishError::Disconnected)
    );
    assert_eq!(tx.next_seq(), next, "nothing published by the refusal");
}
