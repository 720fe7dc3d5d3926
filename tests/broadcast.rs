//! One producer, two reliable consumers of different speeds and one lossy consumer, over
//! one link: the reliable ones see every frag in order and intact; the lossy one sees only
//! intact frags, in increasing order, and its counters add up.

use milonga::spsc::Budget;
use milonga::spsc::Link;
use milonga::wait::SpinThenYield;
use milonga::Header;
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga::TryRecvError;

const FRAGS: u64 = if cfg!(any(miri, milonga_tsan)) {
    200
} else {
    2_000_000
};
const MTU: usize = 256;

/// The payload of frag `seq`: its length and bytes follow from the seq alone.
fn payload(seq: u64, buf: &mut [u8; MTU]) -> usize {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = (x % (MTU as u64 + 1)) as usize;
    for b in &mut buf[..len] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    len
}

fn check(seq: u64, sig: u64, got: &[u8]) {
    let mut want = [0u8; MTU];
    let len = payload(seq, &mut want);
    assert_eq!(sig, seq ^ 0x5A5A, "sig of {seq}");
    assert_eq!(got, &want[..len], "payload of {seq}");
}

#[test]
fn reliable_consumers_lose_nothing_and_the_lossy_one_never_sees_a_torn_frag() {
    let depth = if cfg!(any(miri, milonga_tsan)) {
        16
    } else {
        256
    };
    let Link {
        producer: mut tx,
        reliable,
        lossy,
        ..
    } = Link::builder()
        .depth(depth)
        .mtu(MTU)
        .reliable(2)
        .lossy(1)
        .heap()
        .unwrap();
    let metrics = tx.metrics();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = [0u8; MTU];
            for seq in 0..FRAGS {
                let len = payload(seq, &mut buf);
                let got = tx.publish_with(
                    Header::new(seq ^ 0x5A5A),
                    &buf[..len],
                    SpinThenYield::default(),
                );
                assert_eq!(got, Ok(seq));
            }
            tx.halt();
        });
        for (i, mut rx) in reliable.into_iter().enumerate() {
            let metrics = metrics.clone();
            s.spawn(move || {
                if i == 1 {
                    // The slow one: it reads nothing until the producer has run out of
                    // credits once (it cannot get past a full window without this
                    // consumer), so the backpressure asserted below is forced, not hoped
                    // for.
                    while metrics.snapshot().producer.backpressure == 0 {
                        std::thread::yield_now();
                    }
                }
                let mut next = 0u64;
                loop {
                    match rx.try_batch(Budget::new(32, 32 * MTU).unwrap()) {
                        Ok(batch) => {
                            for frag in &batch {
                                assert_eq!(frag.seq(), next);
                                check(next, frag.sig(), frag.payload());
                                next += 1;
                                if i == 1 && next.is_multiple_of(64) {
                                    // The slow one.
                                    for _ in 0..200 {
                                        std::hint::spin_loop();
                                    }
                                }
                            }
                            batch.commit();
                        }
                        Err(TryRecvError::Empty) => std::thread::yield_now(),
                        Err(TryRecvError::Closed) => break,
                        Err(e) => panic!("reliable {i}: {e}"),
                    }
                }
                assert_eq!(next, FRAGS, "reliable {i} saw every frag");
                assert_eq!(rx.counters().lost_frags(), 0);
            });
        }
        let mut lossy = lossy.into_iter().next().unwrap();
        s.spawn(move || {
            let mut buf = [0u8; MTU];
            let mut last: Option<u64> = None;
            let mut lost = 0;
            loop {
                match lossy.try_recv(&mut buf) {
                    Ok(meta) => {
                        assert!(last.is_none_or(|l| meta.seq > l), "in order");
                        check(meta.seq, meta.sig, &buf[..meta.sz as usize]);
                        last = Some(meta.seq);
                    }
                    Err(LossyTryRecvError::Overrun(Overrun { lost: n, .. })) => lost += n,
                    Err(LossyTryRecvError::Empty) => std::thread::yield_now(),
                    Err(LossyTryRecvError::Closed) => break,
                    Err(e) => panic!("lossy: {e}"),
                }
            }
            let c = lossy.counters();
            assert_eq!(c.lost_frags(), lost);
            assert_eq!(c.consumed_frags + c.lost_frags(), FRAGS);
            println!("lossy consumer: {c:?}");
        });
    });
    let snap = metrics.snapshot();
    println!("{snap}");
    assert_eq!(snap.producer.published_frags, FRAGS);
    assert!(snap.closed);
    let slow: u64 = snap.consumers.iter().map(|c| c.slow).sum();
    assert!(
        snap.producer.backpressure > 0,
        "credits ran out (forced above)"
    );
    assert!(
        slow >= snap.producer.backpressure,
        "every backpressure names the consumers that caused it"
    );
    for c in &snap.consumers {
        let n = &c.counters;
        assert_eq!(
            n.consumed_frags + n.filtered_frags + n.lost_frags(),
            FRAGS,
            "{c:?}"
        );
        assert_eq!(
            n.consumed_bytes + n.filtered_bytes + n.lost_bytes,
            snap.producer.published_bytes,
            "{c:?}"
        );
        assert!(c.detached && c.lag == 0);
    }
}
