//! Typed messages: round trips of `Pod` values through every link kind (inline and heap
//! SPSC, broadcast, lossy, the shared ring with two producer threads, fan-in), zero-copy
//! `&T` guards and batches (their addresses aligned), in-place `&mut T` claims, the
//! crossbeam-style iterators, values handed back by a full link, and frags that are not a
//! `T` (published through the byte API): reported by name, never cast, never skipped.

use bytemuck::{Pod, Zeroable};
use milonga::mpsc::{FanIn, InlineRing, Ring};
use milonga::spsc::{Budget, InlineLink, Link};
use milonga::typed::{self, PushError, RecvError, TryRecvError};
use milonga::wait::SpinThenYield;
use milonga::{data_chunks, mpsc, Header, Overrun, OverrunKind, PublishError};

/// Values per round trip (small under Miri, which is slow).
const N: u64 = if cfg!(miri) { 40 } else { 20_000 };

/// A 64-byte message: its body is derived from `seq`, so a reader can check every byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
struct Msg64 {
    seq: u64,
    producer: u64,
    body: [u64; 6],
}

impl Msg64 {
    fn new(producer: u64, seq: u64) -> Self {
        let mut body = [0u64; 6];
        for (k, w) in body.iter_mut().enumerate() {
            *w = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((producer << 8) | k as u64);
        }
        Msg64 {
            seq,
            producer,
            body,
        }
    }
}

const _: () = assert!(core::mem::size_of::<Msg64>() == 64);

/// The address of a lent value is aligned for its type (the payload alignment guarantee).
fn assert_aligned<T>(v: &T) {
    let addr = v as *const T as usize;
    assert_eq!(addr % core::mem::align_of::<T>(), 0, "misaligned &T");
    assert_eq!(
        addr % typed::PAYLOAD_ALIGN,
        0,
        "payload not on an 8-byte word"
    );
}

static INLINE: InlineLink<16, 64, { data_chunks(16, 64) }> = InlineLink::new();

#[test]
fn inline_static_link_round_trip() {
    let link = INLINE.split().unwrap().into_pair();
    let (mut tx, mut rx) = typed::pair::<Msg64, _>(link).unwrap();
    for i in 0..N {
        match i % 3 {
            0 => {
                tx.try_push(Msg64::new(0, i)).unwrap();
            }
            1 => {
                let mut claim = tx.try_claim().unwrap();
                *claim = Msg64::new(0, i);
                claim.commit();
            }
            _ => {
                tx.try_publish(Header::new(i), Msg64::new(0, i)).unwrap();
            }
        }
        if i % 2 == 0 {
            assert_eq!(rx.try_pop().unwrap(), Msg64::new(0, i));
        } else {
            let guard = rx.try_recv().unwrap();
            assert_aligned(&*guard);
            assert_eq!(*guard, Msg64::new(0, i));
            assert_eq!(guard.seq(), i);
        }
    }
    assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
    assert_eq!(rx.consumed(), (N, N * 64));
    tx.halt();
    assert_eq!(rx.try_pop(), Err(TryRecvError::Closed));
}

#[test]
fn heap_link_two_threads_iter_sees_every_value_and_ends() {
    let (tx, rx) = Link::builder().depth(64).mtu(8).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<u64, _>((tx, rx)).unwrap();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            if i % 4 == 0 {
                let mut claim = tx.claim().unwrap();
                *claim = i;
                claim.commit();
            } else {
                tx.push(i).unwrap();
            }
        }
        tx.halt();
    });
    let mut next = 0u64;
    for v in rx.iter() {
        assert_eq!(v, next);
        next += 1;
    }
    assert_eq!(next, N, "iter ends only after the last value");
    assert_eq!(rx.pop(), Err(RecvError::Closed));
    producer.join().unwrap();
}

#[test]
fn heap_link_batches_lend_aligned_values_in_order() {
    let (tx, rx) = Link::builder().depth(64).mtu(64).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<Msg64, _>((tx, rx)).unwrap();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            tx.push(Msg64::new(7, i)).unwrap();
        }
    });
    let budget = Budget::frags(16).unwrap();
    let mut next = 0u64;
    loop {
        match rx.recv_batch(budget) {
            Ok(batch) => {
                assert!(batch.len() <= 16 && !batch.is_empty());
                assert_eq!(batch.first_seq(), next);
                for (v, frag) in batch.iter().zip(batch.frags()) {
                    assert_aligned(v);
                    assert_eq!(*v, Msg64::new(7, next));
                    assert_eq!(frag.seq(), next);
                    assert!(core::ptr::eq(v, frag.value()));
                    next += 1;
                }
                batch.commit();
            }
            Err(RecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, N);
    producer.join().unwrap();
}

#[test]
fn broadcast_two_reliable_consumers_see_every_value() {
    let link = Link::builder().depth(32).mtu(8).reliable(2).heap().unwrap();
    let (tx, rxs) = (link.producer, link.reliable);
    let mut tx = typed::Producer::<u64>::new(tx).unwrap();
    let rxs: Vec<typed::Consumer<'static, u64>> = rxs
        .into_iter()
        .map(|rx| typed::Consumer::new(rx).unwrap())
        .collect();
    std::thread::scope(|s| {
        for mut rx in rxs {
            s.spawn(move || {
                let mut next = 0;
                while let Ok(v) = rx.pop() {
                    assert_eq!(v, next * 3);
                    next += 1;
                }
                assert_eq!(next, N);
            });
        }
        for i in 0..N {
            tx.push(i * 3).unwrap();
        }
        drop(tx);
    });
}

#[test]
fn lossy_consumer_copies_exactly_and_counts_what_it_loses() {
    let link = Link::builder()
        .depth(4)
        .mtu(64)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let (tx, _reliable, mut lossy) = (link.producer, link.reliable, link.lossy);
    let mut tx = typed::Producer::<Msg64, _>::new(tx).unwrap();
    let mut rx = typed::LossyConsumer::<Msg64>::new(lossy.pop().unwrap()).unwrap();
    for i in 0..10 {
        tx.try_push(Msg64::new(1, i)).unwrap(); // a lossy-only link never blocks
    }
    let lapped = Overrun {
        lost: 6,
        kind: OverrunKind::Lapped,
    };
    assert_eq!(rx.try_pop(), Err(typed::LossyTryRecvError::Overrun(lapped)));
    for i in 6..9 {
        assert_eq!(rx.try_pop().unwrap(), Msg64::new(1, i));
    }
    let (meta, v) = rx.try_recv().unwrap();
    assert_eq!((meta.seq, meta.sz as usize, v), (9, 64, Msg64::new(1, 9)));
    assert_eq!(rx.try_pop(), Err(typed::LossyTryRecvError::Empty));
    let c = rx.counters();
    assert_eq!((c.poll_overruns, c.poll_lost), (1, 6));
    assert_eq!((c.consumed_frags, c.consumed_bytes), (4, 4 * 64));
    assert_eq!(c.lost_bytes, 6 * 64);
    // The iterators read past overruns; try_iter ends when nothing is ready.
    for i in 10..30 {
        tx.try_push(Msg64::new(1, i)).unwrap();
    }
    let seen: Vec<u64> = rx.try_iter().map(|m| m.seq).collect();
    assert_eq!(seen, [26, 27, 28, 29]);
    assert_eq!(rx.counters().poll_lost, 6 + 16);
    tx.halt();
    assert_eq!(rx.iter().count(), 0);
    assert_eq!(rx.pop(), Err(typed::LossyRecvError::Closed));
}

#[test]
fn lossy_consumer_beside_a_reliable_one_on_two_threads() {
    let link = Link::builder()
        .depth(16)
        .mtu(8)
        .reliable(1)
        .lossy(1)
        .heap()
        .unwrap();
    let (tx, mut reliable, mut lossy) = (link.producer, link.reliable, link.lossy);
    let mut tx = typed::Producer::<u64, _>::new(tx).unwrap();
    let mut rx = typed::Consumer::<u64>::new(reliable.pop().unwrap()).unwrap();
    let mut lossy = typed::LossyConsumer::<u64>::new(lossy.pop().unwrap()).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..N {
                tx.push(i).unwrap();
            }
        });
        s.spawn(move || {
            let mut last = None;
            for v in lossy.iter() {
                assert!(last.is_none_or(|l| v > l), "in order, never twice");
                assert!(v < N);
                last = Some(v);
            }
            let c = lossy.counters();
            assert_eq!(c.consumed_frags + c.poll_lost + c.read_lost, N);
        });
        assert!(rx.iter().eq(0..N));
    });
}

#[test]
fn shared_ring_two_producer_threads() {
    let ring = Ring::builder().depth(32).mtu(64).heap_pair().unwrap();
    let (tx, mut rx) = typed::ring::<Msg64>(ring).unwrap();
    std::thread::scope(|s| {
        for p in 0..2u64 {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..N {
                    if i % 2 == 0 {
                        tx.publish(Header::new(p), Msg64::new(p, i)).unwrap();
                    } else {
                        let mut claim = tx.claim().unwrap();
                        *claim = Msg64::new(p, i);
                        claim.commit_with(Header::new(p));
                    }
                }
            });
        }
        drop(tx); // the stream closes when both threads' handles are gone
        let mut next = [0u64; 2];
        loop {
            match rx.recv() {
                Ok(v) => {
                    assert_aligned(&*v);
                    let p = v.sig() as usize;
                    assert_eq!(*v, Msg64::new(p as u64, next[p]));
                    next[p] += 1;
                }
                Err(RecvError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(next, [N, N]);
    });
}

static RING: InlineRing<8, 8, { mpsc::ring_chunks(8, 8) }> = InlineRing::new();

#[test]
fn inline_ring_claims_and_abandoned_claims() {
    let (tx, mut rx) = typed::ring::<u64>(RING.split().unwrap().into_pair()).unwrap();
    let mut claim = tx.try_claim().unwrap();
    *claim = 5;
    assert_eq!(claim.seq(), 0);
    assert_eq!(claim.commit(), 0);
    drop(tx.try_claim().unwrap()); // abandoned: an empty ERR frag at seq 1
    tx.try_push(6).unwrap();
    drop(tx.try_claim().unwrap()); // seq 3
    tx.try_push(7).unwrap();
    // The recv reads report an abandoned claim once (consumed); the pop reads skip it.
    assert_eq!(*rx.try_recv().unwrap(), 5);
    assert_eq!(
        rx.try_recv().err(),
        Some(TryRecvError::Abandoned { seq: 1 })
    );
    assert_eq!(*rx.try_recv().unwrap(), 6);
    assert_eq!(rx.try_pop(), Ok(7));
    assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
    assert_eq!(RING.metrics().snapshot().abandoned, 2);
}

#[test]
fn fan_in_over_three_links() {
    let link = FanIn::builder()
        .producers(3)
        .depth(16)
        .mtu(8)
        .heap()
        .unwrap();
    let (txs, fan) = (link.producers, link.consumer);
    let mut fan = typed::FanIn::<u64, _>::new(fan).unwrap();
    let txs: Vec<typed::Producer<'static, u64>> = txs
        .into_iter()
        .map(|tx| typed::Producer::new(tx).unwrap())
        .collect();
    std::thread::scope(|s| {
        for (p, mut tx) in txs.into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..N {
                    tx.push(i * 3 + p as u64).unwrap();
                }
            });
        }
        let mut next = [0u64; 3];
        for (link, v) in fan.iter() {
            assert_eq!(v, next[link] * 3 + link as u64, "each link in order");
            next[link] += 1;
        }
        assert_eq!(next, [N; 3]);
        assert_eq!(fan.pop(), Err(RecvError::Closed));
    });
}

#[test]
fn fan_in_batches_and_a_frag_of_another_size_names_its_link() {
    let link = FanIn::builder()
        .producers(2)
        .depth(8)
        .mtu(16)
        .heap()
        .unwrap();
    let (mut txs, fan) = (link.producers, link.consumer);
    let mut fan = typed::FanIn::<u32, _>::new(fan).unwrap();
    fan.reshuffle_every(0);
    txs[1].try_publish(Header::new(0), b"wide").unwrap();
    txs[1].try_publish(Header::new(0), &[0u8; 3]).unwrap(); // not a u32
    let mut wrong = None;
    for _ in 0..4 {
        match fan.try_batch(Budget::frags(8).unwrap()) {
            Ok((link, batch)) => {
                assert_eq!(link, 1);
                assert_eq!(batch.len(), 1);
                assert_eq!(batch.iter().next(), Some(&u32::from_ne_bytes(*b"wide")));
                batch.commit();
            }
            Err(e) => wrong = Some(e),
        }
    }
    let wrong_size = TryRecvError::WrongSize {
        seq: 1,
        size: 3,
        link: 1,
    };
    assert_eq!(wrong, Some(wrong_size));
    assert_eq!(
        fan.try_pop(),
        Err(wrong_size),
        "reported again: not consumed"
    );
    // Dealt with through the byte consumer of its link, the stream goes on.
    drop(fan.link_mut(1).try_recv().unwrap());
    txs[0]
        .try_publish(Header::new(0), &9u32.to_ne_bytes())
        .unwrap();
    assert_eq!(fan.try_pop(), Ok((0, 9)));
}

#[test]
fn a_frag_of_another_size_is_reported_and_not_consumed() {
    let (tx, rx) = Link::builder().depth(8).mtu(64).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<u64, _>((tx, rx)).unwrap();
    tx.try_push(1).unwrap();
    tx.try_push(2).unwrap();
    tx.as_bytes_mut()
        .try_publish(Header::new(0), b"twelve bytes")
        .unwrap();
    tx.try_push(4).unwrap();
    // A batch ends before the frag that is not a u64.
    let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
    assert!(batch.iter().copied().eq([1, 2]));
    batch.commit();
    let wrong = TryRecvError::WrongSize {
        seq: 2,
        size: 12,
        link: 0,
    };
    for _ in 0..3 {
        assert_eq!(rx.try_recv().err(), Some(wrong));
        assert_eq!(rx.try_pop(), Err(wrong));
        assert_eq!(rx.try_batch(Budget::frags(8).unwrap()).err(), Some(wrong));
        assert_eq!(rx.next_seq(), 2, "not consumed");
    }
    assert_eq!(
        rx.recv().err(),
        Some(RecvError::WrongSize {
            seq: 2,
            size: 12,
            link: 0
        })
    );
    assert_eq!(rx.iter().next(), None, "iter stops at it");
    assert_eq!(rx.consumed(), (2, 16));
    // The byte consumer reads it; the typed reads go on after it.
    assert_eq!(
        rx.as_bytes_mut().try_recv().unwrap().payload(),
        b"twelve bytes"
    );
    assert_eq!(rx.try_pop(), Ok(4));
}

#[test]
fn a_lossy_consumer_reports_frags_of_another_size() {
    let link = Link::builder()
        .depth(8)
        .mtu(64)
        .reliable(0)
        .lossy(1)
        .heap()
        .unwrap();
    let (tx, _reliable, mut lossy) = (link.producer, link.reliable, link.lossy);
    let mut tx = typed::Producer::<u64, _>::new(tx).unwrap();
    let mut rx = typed::LossyConsumer::<u64>::new(lossy.pop().unwrap()).unwrap();
    tx.as_bytes_mut()
        .try_publish(Header::new(0), b"abc")
        .unwrap(); // shorter
    tx.as_bytes_mut()
        .try_publish(Header::new(0), b"sixteen bytes..!")
        .unwrap(); // longer
    tx.try_push(8).unwrap();
    let shorter = typed::LossyTryRecvError::WrongSize {
        seq: 0,
        size: 3,
        link: 0,
    };
    assert_eq!(rx.try_pop(), Err(shorter)); // copied, so read past
    let longer = typed::LossyTryRecvError::WrongSize {
        seq: 1,
        size: 16,
        link: 0,
    };
    assert_eq!(rx.try_pop(), Err(longer));
    assert_eq!(rx.try_pop(), Err(longer), "not consumed");
    let mut buf = [0u8; 64];
    assert_eq!(rx.as_bytes_mut().try_recv(&mut buf).unwrap().sz, 16);
    assert_eq!(rx.try_pop(), Ok(8));
}

#[test]
fn try_push_hands_the_value_back_when_full() {
    let (tx, rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    let (mut tx, rx) = typed::pair::<Msg64, _>((tx, rx)).unwrap();
    for i in 0..4 {
        tx.try_push(Msg64::new(0, i)).unwrap();
    }
    // Nobody reads: the window is full, deterministically.
    let err = tx.try_push(Msg64::new(0, 4)).unwrap_err();
    assert_eq!(err, PushError::Full(Msg64::new(0, 4)));
    assert!(err.is_full());
    assert_eq!(err.publish_error(), PublishError::NoCredits);
    assert_eq!(err.into_inner(), Msg64::new(0, 4));
    assert_eq!(
        tx.try_claim().err(),
        Some(PublishError::NoCredits),
        "no claim either"
    );
    assert_eq!(
        tx.push_with(
            Msg64::new(0, 5),
            milonga::wait::Park::default().with_timeout(std::time::Duration::from_millis(1))
        ),
        Err(PushError::Timeout(Msg64::new(0, 5)))
    );
    assert_eq!(
        tx.push_timeout(Msg64::new(0, 6), std::time::Duration::from_millis(1)),
        Err(PushError::Timeout(Msg64::new(0, 6)))
    );
    drop(rx);
    assert_eq!(
        tx.push(Msg64::new(0, 7)),
        Err(PushError::Disconnected(Msg64::new(0, 7)))
    );
    assert_eq!(tx.counters().published_frags, 4);
}

#[test]
fn ring_try_push_hands_the_value_back_when_full() {
    let ring = Ring::builder().depth(2).mtu(8).heap_pair().unwrap();
    let (tx, rx) = typed::ring::<u64>(ring).unwrap();
    tx.try_push(1).unwrap();
    tx.clone().try_push(2).unwrap();
    assert_eq!(tx.try_push(3), Err(PushError::Full(3)));
    assert_eq!(
        tx.push_timeout(4, std::time::Duration::from_millis(1)),
        Err(PushError::Timeout(4))
    );
    drop(rx);
    assert_eq!(tx.push(5), Err(PushError::Disconnected(5)));
}

#[test]
fn try_iter_stops_at_empty_and_goes_on_later() {
    let (tx, rx) = Link::builder().depth(16).mtu(4).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<f32, _>((tx, rx)).unwrap();
    assert_eq!(rx.try_iter().next(), None);
    for v in [1.5f32, 2.5, 3.5] {
        tx.try_push(v).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1.5, 2.5, 3.5]);
    assert_eq!(rx.try_pop(), Err(TryRecvError::Empty));
    tx.try_push(4.5).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4.5]);
    tx.halt();
    assert_eq!(rx.try_iter().next(), None);
    assert_eq!(rx.try_pop(), Err(TryRecvError::Closed));
    assert_eq!(
        rx.pop_timeout(std::time::Duration::from_millis(1)),
        Err(typed::RecvTimeoutError::Closed)
    );
}

#[test]
fn timeouts_and_a_dropped_partial_batch() {
    let (tx, rx) = Link::builder().depth(16).mtu(8).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<u64, _>((tx, rx)).unwrap();
    assert_eq!(
        rx.pop_timeout(std::time::Duration::from_millis(1)),
        Err(typed::RecvTimeoutError::Timeout)
    );
    assert_eq!(
        rx.recv_with(milonga::wait::Park::default().with_timeout(std::time::Duration::ZERO))
            .err(),
        Some(typed::RecvTimeoutError::Timeout)
    );
    for v in 0..5 {
        tx.try_push(v).unwrap();
    }
    // A batch dropped after reading two values releases those two only.
    let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
    assert_eq!(batch.len(), 5);
    let mut it = batch.iter();
    assert_eq!((it.next(), it.next()), (Some(&0), Some(&1)));
    drop(batch);
    assert_eq!(rx.pop_with(SpinThenYield::default()), Ok(2));
    assert_eq!(
        rx.recv_batch_timeout(
            Budget::frags(8).unwrap(),
            std::time::Duration::from_millis(1)
        )
        .unwrap()
        .len(),
        2
    );
}

#[test]
fn a_type_too_large_for_the_mtu_hands_the_handle_back() {
    let (tx, rx) = Link::builder().depth(4).mtu(32).heap_pair().unwrap();
    let err = typed::Producer::<Msg64>::new(tx).unwrap_err();
    assert_eq!((err.size, err.mtu), (64, 32));
    let mut tx = err.into_inner();
    let err = typed::Consumer::<Msg64>::new(rx).unwrap_err();
    let rx = err.handle;
    // The handles were never closed: the link still works, with a type that fits.
    tx.try_publish(Header::new(0), &[1; 32]).unwrap();
    let (mut tx, mut rx) = typed::pair::<[u64; 4], _>((tx, rx)).unwrap();
    assert_eq!(rx.try_pop(), Ok([u64::from_ne_bytes([1; 8]); 4]));
    tx.try_push([9; 4]).unwrap();
    assert_eq!(rx.try_pop(), Ok([9; 4]));
    assert!(typed::fits::<[u64; 4]>(32) && !typed::fits::<Msg64>(32));
}

#[test]
fn zero_sized_messages_carry_their_sig() {
    let (tx, rx) = Link::builder().depth(8).mtu(0).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<(), _>((tx, rx)).unwrap();
    for sig in 0..5 {
        tx.try_publish(Header::new(sig), ()).unwrap();
    }
    assert_eq!(rx.try_pop(), Ok(()));
    assert_eq!(rx.try_recv().unwrap().sig(), 1);
    let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
    assert!(batch.frags().map(|f| f.sig()).eq(2..5));
    batch.commit();
    assert_eq!(rx.consumed(), (5, 0));
}

#[test]
fn typed_handles_forward_to_their_byte_handles() {
    let (tx, rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<u64, _>((tx, rx)).unwrap();
    tx.set_wait(milonga::wait::Strategy::BusySpin);
    rx.set_wait(milonga::wait::Strategy::BusySpin);
    assert_eq!(tx.wait_strategy(), milonga::wait::Strategy::BusySpin);
    assert_eq!((tx.capacity(), rx.capacity()), (8, 8));
    rx.set_filter(Some(milonga::spsc::SigFilter::func(|sig| sig % 2 == 0)));
    for sig in 0..4 {
        tx.try_publish(Header::new(sig), sig * 10).unwrap();
    }
    assert!(rx.is_ready());
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 20]);
    assert_eq!(rx.counters().filtered_frags, 2);
    tx.housekeeping();
    rx.housekeeping();
    let snap = tx.metrics().snapshot();
    assert_eq!(snap.producer.published_frags, 4);
    assert_eq!(rx.cnc().heartbeat(), tx.cnc().heartbeat());
    assert_eq!(tx.next_seq(), 4);
    assert_eq!(rx.next_seq(), 4);
    let (tx, rx) = (tx.into_inner(), rx.into_inner());
    assert_eq!((tx.mtu(), rx.mtu()), (8, 8));
}

#[test]
fn a_filtered_batch_ends_before_a_frag_of_another_size() {
    let (tx, rx) = Link::builder().depth(16).mtu(16).heap_pair().unwrap();
    let (mut tx, mut rx) = typed::pair::<u32, _>((tx, rx)).unwrap();
    rx.set_filter(Some(milonga::spsc::SigFilter::func(|sig| sig % 2 == 0)));
    tx.try_publish(Header::new(0), 10).unwrap(); // seq 0
    tx.as_bytes_mut().try_publish(Header::new(1), b"x").unwrap(); // seq 1, filtered out
    tx.try_publish(Header::new(2), 12).unwrap(); // seq 2
    tx.as_bytes_mut()
        .try_publish(Header::new(4), b"yy")
        .unwrap(); // seq 3: not a u32
    tx.try_publish(Header::new(5), 15).unwrap(); // seq 4, filtered out
    tx.try_publish(Header::new(6), 16).unwrap(); // seq 5
    let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
    assert!(batch
        .frags()
        .map(|f| (f.seq(), *f.value()))
        .eq([(0, 10), (2, 12)]));
    batch.commit();
    let c = rx.counters();
    assert_eq!((c.consumed_frags, c.consumed_bytes), (2, 8));
    assert_eq!((c.filtered_frags, c.filtered_bytes), (1, 1));
    let wrong = TryRecvError::WrongSize {
        seq: 3,
        size: 2,
        link: 0,
    };
    assert_eq!(rx.try_batch(Budget::frags(8).unwrap()).err(), Some(wrong));
    assert_eq!(rx.next_seq(), 3);
    drop(rx.as_bytes_mut().try_recv().unwrap());
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [16]);
    assert_eq!(rx.counters().filtered_frags, 2);
}

static FAN: milonga::mpsc::InlineFanIn<2, 8, 8, { data_chunks(8, 8) }> =
    milonga::mpsc::InlineFanIn::new();

#[test]
fn inline_fan_in_round_trip() {
    let link = FAN.split().unwrap();
    let (txs, fan) = (link.producers, link.consumer);
    let mut fan = typed::FanIn::<u64, _>::new(fan).unwrap();
    let [mut a, mut b] = txs.map(|tx| typed::Producer::<u64>::new(tx).unwrap());
    let rounds = if cfg!(miri) { 20 } else { 1000 };
    for i in 0..rounds {
        a.try_push(2 * i).unwrap();
        b.try_push(2 * i + 1).unwrap();
        let mut got: Vec<(usize, u64)> = fan.try_iter().collect();
        got.sort();
        assert_eq!(got, [(0, 2 * i), (1, 2 * i + 1)]);
    }
    a.halt();
    assert_eq!(fan.try_pop(), Err(TryRecvError::Empty), "link 1 still open");
    drop(b);
    assert_eq!(fan.try_pop(), Err(TryRecvError::Closed));
}

static LOSSY: InlineLink<4, 8, { data_chunks(4, 8) }, 1, 1> = InlineLink::new();

#[test]
fn inline_lossy_link_round_trip() {
    let link = LOSSY.split_lossy().unwrap();
    let (tx, [rx], [lossy]) = (link.producer, link.reliable, link.lossy);
    let mut tx = typed::Producer::<u64, _>::new(tx).unwrap();
    let mut rx = typed::Consumer::<u64>::new(rx).unwrap();
    let mut lossy = typed::LossyConsumer::<u64>::new(lossy).unwrap();
    for i in 0..4 {
        tx.try_push(i).unwrap();
    }
    assert_eq!(
        tx.try_push(4),
        Err(PushError::Full(4)),
        "the reliable one gates"
    );
    assert_eq!(lossy.try_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert!(rx.try_iter().eq(0..4));
    tx.try_push(4).unwrap();
    let (meta, v) = lossy.try_recv().unwrap();
    assert_eq!((meta.seq, v), (4, 4));
    assert_eq!(rx.try_pop(), Ok(4));
}
