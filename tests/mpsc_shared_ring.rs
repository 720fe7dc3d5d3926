//! The shared multi-producer ring: many producers, each producer's order and payloads
//! checked at the consumer, nothing lost or duplicated, credits exhausted often; claims
//! abandoned by an early return or a panic do not wedge the consumer; a stalled claim is
//! visible in the metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use milonga::clock::StdClock;
use milonga::mpsc::{ring_chunks, InlineRing, Ring, RingProducer, RingSnapshot};
use milonga::spsc::Budget;
use milonga::spsc::Consumer;
use milonga::wait::SpinThenYield;
use milonga::RecvTimeoutError;
use milonga::TryRecvError;
use milonga::{Ctl, Header, PublishError, Signal};

/// Every `ABANDON`-th claim of a producer is dropped without a commit.
const ABANDON: u64 = if cfg!(any(miri, milonga_tsan)) {
    17
} else {
    997
};

/// Payload length of frag `i` of producer `p`: 8 to `mtu` bytes.
fn len_of(p: u64, i: u64, mtu: usize) -> usize {
    8 + ((p.wrapping_mul(31) ^ i.wrapping_mul(0x9e37_79b9)) % (mtu as u64 - 7)) as usize
}

/// Byte `j` (past the first 8, which hold `i`) of frag `i` of producer `p`.
fn byte_of(p: u64, i: u64, j: usize) -> u8 {
    (p as u8)
        .wrapping_mul(17)
        .wrapping_add(i as u8)
        .wrapping_add(j as u8)
}

fn fill(buf: &mut [u8], p: u64, i: u64) {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in buf.iter_mut().enumerate().skip(8) {
        *b = byte_of(p, i, j);
    }
}

/// The checksum both ends compute over a producer's committed payloads.
fn checksum(sum: u64, payload: &[u8]) -> u64 {
    payload
        .iter()
        .fold(sum, |s, &b| s.rotate_left(5) ^ u64::from(b))
}

/// One producer: `frags` claims, in runs of 256 blocking claims and 256 `try_claim`s
/// (spinning on `NoCredits`); every `ABANDON`-th claim abandoned. Returns its checksum and
/// the number of `NoCredits` it saw.
fn produce(tx: &RingProducer<'_>, p: u64, frags: u64) -> (u64, u64) {
    let mtu = tx.mtu();
    let (mut sum, mut refused) = (0u64, 0u64);
    for i in 0..frags {
        let len = len_of(p, i, mtu);
        let mut claim = if (i / 256) % 2 == 0 {
            tx.claim_with(len, SpinThenYield::new(16)).unwrap()
        } else {
            loop {
                match tx.try_claim(len) {
                    Ok(c) => break c,
                    Err(PublishError::NoCredits) => {
                        refused += 1;
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        };
        let hdr = Header::new(p).ctl(Ctl::default().with_origin(p as u16));
        if i % ABANDON == ABANDON - 1 {
            claim.set_header(hdr);
            drop(claim); // abandoned: an ERR frag in its place
            continue;
        }
        fill(&mut claim, p, i);
        sum = checksum(sum, &claim);
        claim.commit_with(hdr, len).unwrap();
    }
    (sum, refused)
}

/// The consumer: reads until the stream closes, in batches, pausing now and then so the
/// producers run out of credits. Checks each producer's order and payloads. Returns the
/// per-producer checksums and counts of frags and ERR frags.
fn consume(rx: &mut Consumer<'_>, producers: usize, frags: u64) -> (Vec<u64>, u64, u64) {
    let mtu = rx.mtu();
    let mut next = vec![0u64; producers];
    let mut sums = vec![0u64; producers];
    let (mut total, mut errs, mut expect_seq) = (0u64, 0u64, 0u64);
    loop {
        match rx.try_batch(Budget::new(32, 32 * mtu).unwrap()) {
            Ok(batch) => {
                for frag in &batch {
                    assert_eq!(frag.seq(), expect_seq, "seq order");
                    expect_seq += 1;
                    let p = frag.sig();
                    assert!(p < producers as u64);
                    assert_eq!(frag.ctl().origin(), p as u16);
                    let i = next[p as usize];
                    if frag.ctl().err() {
                        // An abandoned claim: empty, and its producer's next frag is one
                        // that the producer abandoned.
                        assert_eq!(frag.payload().len(), 0);
                        assert_eq!(i % ABANDON, ABANDON - 1, "producer {p} frag {i}");
                        errs += 1;
                    } else {
                        let payload = frag.payload();
                        assert_eq!(payload.len(), len_of(p, i, mtu), "producer {p} frag {i}");
                        assert_eq!(&payload[..8], &i.to_le_bytes(), "producer {p} order");
                        for (j, &b) in payload.iter().enumerate().skip(8) {
                            assert_eq!(b, byte_of(p, i, j), "producer {p} frag {i} byte {j}");
                        }
                        sums[p as usize] = checksum(sums[p as usize], payload);
                    }
                    next[p as usize] = i + 1;
                    total += 1;
                }
                batch.commit();
                if total % 8192 < 32 {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, vec![frags; producers], "nothing lost or duplicated");
    (sums, total, errs)
}

/// Takes the consumer by reference, so the caller drops it (the last handle) outside this
/// call: handles hold references into the heap storage they keep alive, and freeing it
/// from inside a call that received such a handle by value is flagged by Miri (Stacked
/// Borrows protectors), for SPSC links as well.
fn stress(tx: RingProducer<'_>, rx: &mut Consumer<'_>, producers: usize, frags: u64) {
    let metrics = tx.metrics();
    let results: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..producers as u64)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || produce(&tx, p, frags))
            })
            .collect();
        drop(tx);
        // Read nothing until a claim has been refused (the producers claim more than a
        // window in all), so the refusals asserted below are forced.
        while metrics.snapshot().refused == 0 {
            std::thread::yield_now();
        }
        let (sums, total, errs) = consume(rx, producers, frags);
        let results: Vec<(u64, u64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (p, (sum, _)) in results.iter().enumerate() {
            assert_eq!(sums[p], *sum, "producer {p} checksum");
        }
        assert_eq!(total, producers as u64 * frags);
        assert_eq!(errs, producers as u64 * (frags / ABANDON));
        results
    });
    let snap: RingSnapshot = metrics.snapshot();
    assert_eq!(snap.producers, 0);
    assert_eq!(snap.abandoned, producers as u64 * (frags / ABANDON));
    assert!(snap.link.closed);
    assert_eq!(snap.link.signal, Signal::Boot);
    assert_eq!(snap.link.tx_seq, producers as u64 * frags);
    assert_eq!(
        snap.link.consumers[0].counters.consumed_frags,
        snap.link.tx_seq
    );
    assert_eq!(snap.link.consumers[0].lag, 0);
    assert_eq!(snap.oldest_unpublished, None);
    let try_refused: u64 = results.iter().map(|r| r.1).sum();
    // Credits ran out (forced above); every refusal is counted on both sides.
    assert!(snap.refused >= 1, "credits never exhausted");
    assert!(
        snap.refused >= try_refused,
        "{} < {try_refused}",
        snap.refused
    );
}

/// Frags per producer, for `producers` producers: two million in all (fewer under Miri).
fn per_producer(producers: usize) -> u64 {
    if cfg!(any(miri, milonga_tsan)) {
        120 / producers as u64
    } else {
        2_000_000 / producers as u64
    }
}

fn heap_stress(producers: usize) {
    let depth = if cfg!(any(miri, milonga_tsan)) { 8 } else { 64 };
    let (tx, mut rx) = Ring::builder().depth(depth).mtu(100).heap_pair().unwrap();
    stress(tx, &mut rx, producers, per_producer(producers));
}

#[test]
fn two_producers() {
    heap_stress(2);
}

#[test]
fn four_producers() {
    heap_stress(4);
}

#[test]
fn eight_producers() {
    heap_stress(8);
}

#[test]
fn four_producers_on_a_static_ring() {
    static RING: InlineRing<32, 64, { ring_chunks(32, 64) }> = InlineRing::with_first_seq(0);
    let (tx, mut rx) = RING.split().unwrap().into_pair();
    assert_eq!(RING.split().err(), Some(milonga::LinkError::AlreadySplit));
    // More than the 32-slot window in all, so the credits run out (under Miri too).
    stress(tx, &mut rx, 4, (per_producer(4) / 4).max(10));
}

#[test]
fn handles_are_clone_send_sync() {
    fn check<T: Clone + Send + Sync>() {}
    check::<RingProducer<'static>>();
    check::<milonga::mpsc::RingMetrics<'static>>();
    fn send<T: Send>() {}
    send::<milonga::mpsc::RingClaim<'static, 'static>>();
}

#[test]
fn errors_are_named_and_leave_the_ring_as_it_was() {
    let (tx, mut rx) = Ring::builder().depth(4).mtu(16).heap_pair().unwrap();
    assert_eq!(
        tx.try_claim(17).err(),
        Some(PublishError::TooLarge { len: 17, max: 16 })
    );
    for i in 0..4u8 {
        assert_eq!(tx.try_publish(Header::new(0), &[i]), Ok(i as u64));
    }
    assert_eq!(
        tx.try_publish(Header::new(0), b"x"),
        Err(PublishError::NoCredits)
    );
    assert_eq!(
        tx.claim_with(
            1,
            milonga::wait::Park::default().with_timeout(std::time::Duration::from_millis(2))
        )
        .err(),
        Some(PublishError::Timeout)
    );
    assert_eq!(tx.next_seq(), 4, "nothing claimed by the refusals");
    // Hysteresis: one credit back is not enough (resume mark 2), two are.
    drop(rx.try_recv().unwrap());
    rx.housekeeping();
    assert_eq!(
        tx.try_publish(Header::new(0), b"x"),
        Err(PublishError::NoCredits)
    );
    drop(rx.try_recv().unwrap());
    rx.housekeeping();
    assert_eq!(tx.try_publish(Header::new(0), b"x"), Ok(4));
    // A commit longer than the claim abandons it.
    let claim = tx.try_claim(4).unwrap();
    assert_eq!(
        claim.commit(5),
        Err(PublishError::TooLarge { len: 5, max: 4 })
    );
    assert_eq!(rx.try_recv().unwrap().payload(), &[2]);
    assert_eq!(rx.try_recv().unwrap().payload(), &[3]);
    assert_eq!(rx.try_recv().unwrap().payload(), b"x");
    let err = rx.try_recv().unwrap();
    assert!(err.ctl().err() && err.payload().is_empty() && err.seq() == 5);
    drop(err);
    assert_eq!(tx.metrics().snapshot().abandoned, 1);
    assert_eq!(tx.metrics().snapshot().refused, 3);
    drop(rx);
    // The consumer is gone: once the credits run out, claims fail.
    let mut last = Ok(0);
    for _ in 0..8 {
        last = tx.try_publish(Header::new(0), b"y");
    }
    assert_eq!(last, Err(PublishError::Disconnected));
}

#[test]
fn a_claim_dropped_by_an_early_return_publishes_an_err_frag() {
    fn send(tx: &RingProducer<'_>, fail: bool) -> Result<u64, &'static str> {
        let mut claim = tx.try_claim(8).map_err(|_| "no claim")?;
        claim.set_header(Header::new(42));
        claim[..4].copy_from_slice(b"half");
        if fail {
            return Err("gave up"); // the claim is dropped here
        }
        claim.commit(4).map_err(|_| "commit")
    }
    let (tx, mut rx) = Ring::builder().depth(8).mtu(8).heap_pair().unwrap();
    assert_eq!(send(&tx, false), Ok(0));
    assert_eq!(send(&tx, true), Err("gave up"));
    assert_eq!(send(&tx, false), Ok(2));
    drop(tx);
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(f) => seen.push((f.seq(), f.sig(), f.ctl().err(), f.payload().to_vec())),
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        seen,
        [
            (0, 42, false, b"half".to_vec()),
            (1, 42, true, vec![]),
            (2, 42, false, b"half".to_vec())
        ]
    );
}

#[test]
fn a_producer_that_panics_mid_claim_does_not_wedge_the_consumer() {
    let frags: u64 = if cfg!(any(miri, milonga_tsan)) {
        50
    } else {
        20_000
    };
    let (tx, mut rx) = Ring::builder().depth(16).mtu(32).heap_pair().unwrap();
    let metrics = tx.metrics();
    std::thread::scope(|s| {
        let healthy = tx.clone();
        let h = s.spawn(move || {
            for i in 0..frags {
                healthy
                    .publish_with(Header::new(1), &i.to_le_bytes(), SpinThenYield::default())
                    .unwrap();
            }
        });
        let doomed = tx.clone();
        let d = s.spawn(move || {
            for i in 0..frags / 2 {
                doomed
                    .publish_with(Header::new(2), &i.to_le_bytes(), SpinThenYield::default())
                    .unwrap();
            }
            let mut claim = doomed.claim_with(8, SpinThenYield::default()).unwrap();
            claim.set_header(Header::new(2));
            claim.copy_from_slice(b"unlucky!");
            panic!("producer 2 dies holding a claim");
        });
        drop(tx);
        let mut next = [0u64; 3];
        let mut errs = 0;
        loop {
            match rx.recv_with(SpinThenYield::default()) {
                Ok(f) => {
                    let p = f.sig() as usize;
                    if f.ctl().err() {
                        assert_eq!((p, next[p]), (2, frags / 2));
                        errs += 1;
                    } else {
                        assert_eq!(f.payload(), &next[p].to_le_bytes());
                        next[p] += 1;
                    }
                }
                // A handle went down with a panic: the end says so.
                Err(RecvTimeoutError::Failed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((next[1], next[2], errs), (frags, frags / 2, 1));
        h.join().unwrap();
        assert!(d.join().is_err());
    });
    let snap = metrics.snapshot();
    assert_eq!(
        snap.link.signal,
        Signal::Fail,
        "a handle went down with a panic"
    );
    assert_eq!(snap.abandoned, 1);
    assert_eq!(snap.producers, 0);
}

#[test]
fn a_stalled_claim_shows_in_the_metrics_with_its_seq_and_since_when() {
    let (tx, mut rx) = Ring::builder().depth(8).mtu(8).heap_pair().unwrap();
    rx.set_clock(&StdClock);
    let metrics = tx.metrics();
    tx.try_publish(Header::new(0), b"a").unwrap();
    let stalled = tx.try_claim(1).unwrap(); // seq 1, held
    for _ in 0..3 {
        tx.try_publish(Header::new(0), b"b").unwrap(); // seqs 2..5, behind it
    }
    assert_eq!(rx.try_recv().unwrap().payload(), b"a");
    assert_eq!(metrics.snapshot().oldest_unpublished, None);
    let before = milonga::clock::Clock::now(&StdClock);
    for _ in 0..RingSnapshot::STALL_POLLS * 2 {
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    }
    let snap = metrics.snapshot();
    let stall = snap.oldest_unpublished.expect("the stall is reported");
    assert_eq!(stall.seq, 1);
    assert_eq!(stall.idle_polls, RingSnapshot::STALL_POLLS * 2);
    assert!(stall.since.unwrap() >= before);
    assert_eq!(snap.link.tx_seq, 5);
    assert_eq!(snap.link.consumers[0].lag, 4);
    assert!(format!("{snap}").contains("stalled claim at seq 1"));
    // Credits run out behind the stalled claim: seqs 1..=8 claimed, the consumer at 1.
    for _ in 0..4 {
        tx.try_publish(Header::new(0), b"c").unwrap();
    }
    assert_eq!(tx.try_claim(1).err(), Some(PublishError::NoCredits));
    stalled.commit_with(Header::new(0), 0).unwrap();
    let mut n = 0;
    while let Ok(f) = rx.try_recv() {
        assert!(!f.ctl().err());
        n += 1;
    }
    assert_eq!(n, 8);
    assert_eq!(
        metrics.snapshot().oldest_unpublished,
        None,
        "cleared on progress"
    );
}

#[test]
fn an_empty_ring_is_not_reported_stalled_and_the_stream_ends_with_the_last_handle() {
    let (tx, mut rx) = Ring::builder()
        .depth(4)
        .mtu(8)
        .first_seq(u64::MAX - 1)
        .heap_pair()
        .unwrap();
    let metrics = tx.metrics();
    for _ in 0..RingSnapshot::STALL_POLLS * 2 {
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    }
    assert_eq!(metrics.snapshot().oldest_unpublished, None);
    let tx2 = tx.clone();
    assert_eq!(metrics.snapshot().producers, 2);
    assert_eq!(tx2.try_publish(Header::new(0), b"w"), Ok(u64::MAX - 1));
    assert_eq!(tx.try_publish(Header::new(0), b"x"), Ok(u64::MAX));
    assert_eq!(tx2.try_publish(Header::new(0), b"y"), Ok(0));
    drop(tx);
    assert_eq!(rx.cnc().end_seq(), None, "a handle is left");
    tx2.halt();
    assert_eq!(rx.cnc().end_seq(), Some(1));
    for want in [&b"w"[..], b"x", b"y"] {
        assert_eq!(rx.try_recv().unwrap().payload(), want);
    }
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
}

#[test]
fn a_handle_shared_by_reference_between_threads_claims_distinct_seqs() {
    let frags: u64 = if cfg!(any(miri, milonga_tsan)) {
        40
    } else {
        50_000
    };
    let (tx, mut rx) = Ring::builder().depth(32).mtu(16).heap_pair().unwrap();
    let done = AtomicBool::new(false);
    let seen = AtomicU64::new(0);
    std::thread::scope(|s| {
        for p in 0..3u64 {
            let tx = &tx;
            s.spawn(move || {
                for i in 0..frags {
                    tx.publish_with(Header::new(p), &i.to_le_bytes(), SpinThenYield::default())
                        .unwrap();
                }
            });
        }
        s.spawn(|| {
            let mut next = [0u64; 3];
            while seen.load(Ordering::Relaxed) < 3 * frags {
                match rx.try_recv() {
                    Ok(f) => {
                        let p = f.sig() as usize;
                        assert_eq!(f.payload(), &next[p].to_le_bytes());
                        next[p] += 1;
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TryRecvError::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            done.store(true, Ordering::Relaxed);
        });
    });
    assert!(done.load(Ordering::Relaxed));
}

/// A claim is refused only when the consumer is a full window (`cr_max`) behind the claim
/// cursor; after that, claims resume once `cr_resume` credits are back (hysteresis). It
/// used to refuse as soon as a refresh found fewer than `cr_resume` credits, with the
/// consumer 5 behind on a ring of 8.
#[test]
fn claims_are_refused_only_a_full_window_behind() {
    let (tx, mut rx) = Ring::builder().depth(8).mtu(8).heap_pair().unwrap();
    for i in 0..3u8 {
        tx.try_publish(Header::new(0), &[i]).unwrap();
    }
    for _ in 0..3 {
        drop(rx.try_recv().unwrap());
    }
    rx.housekeeping();
    // The consumer needs seq 3: seqs 3..=10 fit the window of 8.
    for seq in 3..=10u64 {
        assert_eq!(tx.try_publish(Header::new(0), b"x"), Ok(seq), "seq {seq}");
    }
    assert_eq!(
        tx.try_publish(Header::new(0), b"x"),
        Err(PublishError::NoCredits)
    );
    // Backpressure: one credit back is not enough (resume mark 4), four are.
    drop(rx.try_recv().unwrap());
    rx.housekeeping();
    assert_eq!(
        tx.try_publish(Header::new(0), b"x"),
        Err(PublishError::NoCredits)
    );
    for _ in 0..3 {
        drop(rx.try_recv().unwrap());
    }
    rx.housekeeping();
    for seq in 11..=14u64 {
        assert_eq!(tx.try_publish(Header::new(0), b"x"), Ok(seq), "seq {seq}");
    }
    assert_eq!(
        tx.try_publish(Header::new(0), b"x"),
        Err(PublishError::NoCredits)
    );
    assert_eq!(
        PublishError::NoCredits.to_string(),
        "no credits: the slowest reliable consumer is a full window behind"
    );
}
