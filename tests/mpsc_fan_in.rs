//! Fan-in over per-producer links: many producers, each link's order and payloads checked,
//! nothing lost or duplicated, credits exhausted often, per-link metrics; the polling order
//! is fair and reshuffled.

use milonga::mpsc::{FanIn, FanInHandles, InlineFanIn, InlineFanInHandles};
use milonga::spsc::Budget;
use milonga::spsc::SigFilter;
use milonga::spsc::{Consumer, Producer};
use milonga::wait::SpinThenYield;
use milonga::RecvTimeoutError;
use milonga::TryRecvError;
use milonga::{data_chunks, Header, PublishError};

fn len_of(p: u64, i: u64, mtu: usize) -> usize {
    8 + ((p.wrapping_mul(131) ^ i.wrapping_mul(0x9e37_79b9)) % (mtu as u64 - 7)) as usize
}

fn byte_of(p: u64, i: u64, j: usize) -> u8 {
    (p as u8)
        .wrapping_mul(29)
        .wrapping_add((i >> 3) as u8)
        .wrapping_add(j as u8)
}

fn checksum(sum: u64, payload: &[u8]) -> u64 {
    payload
        .iter()
        .fold(sum, |s, &b| s.rotate_left(7) ^ u64::from(b))
}

/// One producer on its own link: `frags` frags written in place through claims (runs of
/// blocking claims and of `try_claim` spinning on `NoCredits`). Returns its checksum.
fn produce(mut tx: Producer<'_>, p: u64, frags: u64) -> u64 {
    let mtu = tx.mtu();
    let mut sum = 0;
    for i in 0..frags {
        let len = len_of(p, i, mtu);
        let mut claim = if (i / 256) % 2 == 0 {
            tx.claim_with(len, SpinThenYield::new(16)).unwrap()
        } else {
            loop {
                match tx.try_claim(len) {
                    Ok(claim) => break claim,
                    Err(PublishError::NoCredits) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        };
        claim[..8].copy_from_slice(&i.to_le_bytes());
        for (j, b) in claim.iter_mut().enumerate().skip(8) {
            *b = byte_of(p, i, j);
        }
        sum = checksum(sum, &claim);
        claim.commit_with(Header::new(p), len).unwrap();
    }
    tx.halt();
    sum
}

/// Drains the fan-in until every link is closed, in batches and single polls, pausing now
/// and then so producers run out of credits. Returns the per-link checksums.
fn consume<'a, S>(rx: &mut FanIn<'a, S>, frags: u64) -> Vec<u64>
where
    S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>,
{
    let n = rx.len();
    let mtu = rx.link(0).mtu();
    let mut next = vec![0u64; n];
    let mut sums = vec![0u64; n];
    let mut check = |link: usize, sig: u64, payload: &[u8]| {
        assert_eq!(sig, link as u64, "frag on the wrong link");
        let i = next[link];
        assert_eq!(payload.len(), len_of(sig, i, mtu));
        assert_eq!(&payload[..8], &i.to_le_bytes(), "link {link} order");
        for (j, &b) in payload.iter().enumerate().skip(8) {
            assert_eq!(b, byte_of(sig, i, j));
        }
        sums[link] = checksum(sums[link], payload);
        next[link] = i + 1;
    };
    let mut total = 0u64;
    let mut calls = 0u64;
    loop {
        calls += 1;
        let got = if calls.is_multiple_of(3) {
            match rx.try_recv() {
                Ok((link, frag)) => {
                    check(link, frag.sig(), frag.payload());
                    Ok(1)
                }
                Err(e) => Err(e),
            }
        } else {
            match rx.try_batch(Budget::new(16, 16 * mtu).unwrap()) {
                Ok((link, batch)) => {
                    for frag in &batch {
                        check(link, frag.sig(), frag.payload());
                    }
                    let len = batch.len() as u64;
                    batch.commit();
                    Ok(len)
                }
                Err(e) => Err(e),
            }
        };
        match got {
            Ok(k) => {
                total += k;
                if calls.is_multiple_of(2048) {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, vec![frags; n], "nothing lost or duplicated");
    assert_eq!(total, frags * n as u64);
    sums
}

fn stress(producers: usize) {
    let frags = if cfg!(any(miri, milonga_tsan)) {
        120 / producers as u64
    } else {
        2_000_000 / producers as u64
    };
    let depth = if cfg!(any(miri, milonga_tsan)) { 8 } else { 64 };
    let FanInHandles {
        producers: txs,
        consumer: mut rx,
    } = FanIn::builder()
        .producers(producers)
        .depth(depth)
        .mtu(100)
        .heap()
        .unwrap();
    let sums: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, tx)| s.spawn(move || produce(tx, p as u64, frags)))
            .collect();
        // Read nothing until every producer has run out of credits once (each publishes
        // more than a window), so the backpressure asserted below is forced.
        while rx
            .metrics()
            .any(|m| m.snapshot().producer.backpressure == 0)
        {
            std::thread::yield_now();
        }
        let sums = consume(&mut rx, frags);
        for (p, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), sums[p], "link {p} checksum");
        }
        sums
    });
    assert_eq!(sums.len(), producers);
    // Per-link metrics: every link delivered all its frags, and its producer ran out of
    // credits (forced above).
    for (i, m) in rx.metrics().enumerate() {
        let snap = m.snapshot();
        assert!(snap.closed);
        assert_eq!(snap.producer.published_frags, frags);
        assert_eq!(snap.consumers[0].counters.consumed_frags, frags);
        assert!(
            snap.producer.backpressure >= 1,
            "link {i}: credits never exhausted"
        );
    }
}

#[test]
fn two_producers() {
    stress(2);
}

#[test]
fn four_producers() {
    stress(4);
}

#[test]
fn eight_producers() {
    stress(8);
}

#[test]
fn a_static_fan_in_over_four_links() {
    static LINKS: InlineFanIn<4, 32, 64, { data_chunks(32, 64) }> = InlineFanIn::new();
    let frags = if cfg!(any(miri, milonga_tsan)) {
        30
    } else {
        100_000
    };
    let InlineFanInHandles {
        producers: txs,
        consumer: mut rx,
    } = LINKS.split().unwrap();
    assert!(matches!(
        LINKS.split(),
        Err(milonga::LinkError::AlreadySplit)
    ));
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(p, tx)| s.spawn(move || produce(tx, p as u64, frags)))
            .collect();
        let sums = consume(&mut rx, frags);
        for (p, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), sums[p]);
        }
    });
    assert!(LINKS.cnc(3).end_seq().is_some());
}

/// Fills every link with `per_link` frags (payload: link, index).
fn filled(n: usize, per_link: u64) -> FanIn<'static, Vec<Consumer<'static>>> {
    let FanInHandles {
        producers: mut txs,
        consumer: rx,
    } = FanIn::builder()
        .producers(n)
        .depth(64)
        .mtu(16)
        .heap()
        .unwrap();
    for (p, tx) in txs.iter_mut().enumerate() {
        for i in 0..per_link {
            tx.try_publish(Header::new(p as u64), &i.to_le_bytes())
                .unwrap();
        }
    }
    rx
}

/// The links served by `polls` polls, checking each link's order.
fn serve<'a>(rx: &mut FanIn<'a, Vec<Consumer<'a>>>, polls: usize) -> Vec<usize> {
    let mut next = vec![0u64; rx.len()];
    let mut order = Vec::new();
    for _ in 0..polls {
        let (link, frag) = rx.try_recv().unwrap();
        assert_eq!(frag.payload(), &next[link].to_le_bytes());
        next[link] += 1;
        order.push(link);
    }
    order
}

#[test]
fn links_that_stay_ready_take_turns() {
    for n in [1usize, 2, 3, 5, 8] {
        let mut rx = filled(n, 64);
        let order = serve(&mut rx, 64 * n);
        // Every link that stays ready is served in every 2n - 1 consecutive polls.
        for window in order.windows(2 * n - 1) {
            for link in 0..n {
                assert!(
                    window.contains(&link),
                    "n {n}: link {link} starved in {window:?}"
                );
            }
        }
        // Equal shares.
        for link in 0..n {
            assert_eq!(order.iter().filter(|&&l| l == link).count(), 64);
        }
    }
}

#[test]
fn the_order_is_reshuffled_so_no_link_is_always_first() {
    let n = 5;
    let mut rx = filled(n, 64);
    let order = serve(&mut rx, 64 * n);
    // Rounds of n polls: which link opens a round, and which link follows which.
    let firsts: std::collections::BTreeSet<usize> = order.chunks(n).map(|round| round[0]).collect();
    assert!(firsts.len() >= 3, "rounds opened by {firsts:?} only");
    let follows: std::collections::BTreeSet<(usize, usize)> =
        order.windows(2).map(|w| (w[0], w[1])).collect();
    assert!(follows.len() > n, "always the same successors: {follows:?}");
    // Without reshuffling: plain round robin, each link always followed by the same one.
    let mut plain = filled(n, 64);
    plain.reshuffle_every(0);
    let order = serve(&mut plain, 64 * n);
    for w in order.windows(n + 1) {
        assert_eq!(w[0], w[n]);
    }
    // Equal seeds, equal orders.
    let a = serve(&mut FanIn::with_seed(filled(3, 8).into_inner(), 7), 24);
    let b = serve(&mut FanIn::with_seed(filled(3, 8).into_inner(), 7), 24);
    assert_eq!(a, b);
}

#[test]
fn an_idle_or_filtered_link_does_not_hide_the_others() {
    let FanInHandles {
        producers: mut txs,
        consumer: mut rx,
    } = FanIn::builder()
        .producers(3)
        .depth(8)
        .mtu(8)
        .heap()
        .unwrap();
    rx.link_mut(1)
        .set_filter(Some(SigFilter::func(|sig| sig != 99)));
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    for _ in 0..4 {
        txs[1].try_publish(Header::new(99), b"no").unwrap(); // all filtered
    }
    txs[2].try_publish(Header::new(2), b"yes").unwrap();
    let mut none: FanIn<'_, Vec<Consumer<'_>>> = FanIn::new(Vec::new());
    assert!(none.is_empty());
    assert_eq!(none.try_recv().err(), Some(TryRecvError::Closed));
    let (link, frag) = rx.try_recv().unwrap();
    assert_eq!((link, frag.payload()), (2, &b"yes"[..]));
    drop(frag);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    assert_eq!(rx.link(1).counters().filtered_frags, 4);
    // A budget below a frag's size still lends that frag alone.
    txs[0].try_publish(Header::new(0), b"12345678").unwrap();
    txs[0].try_publish(Header::new(0), b"x").unwrap();
    let (link, batch) = rx.try_batch(Budget::new(4, 7).unwrap()).unwrap();
    assert_eq!((link, batch.len(), batch.bytes()), (0, 1, 8));
    batch.commit();
    assert_eq!(rx.try_recv().unwrap().1.payload(), b"x");
    // Closed only once every link is closed and drained.
    let last = txs.pop().unwrap();
    assert_eq!(last.next_seq(), 1);
    drop(txs);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    drop(last);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
    assert_eq!(
        rx.recv_with(milonga::wait::BusySpin).err(),
        Some(RecvTimeoutError::Closed)
    );
}

#[test]
fn recv_waits_for_any_link() {
    let FanInHandles {
        producers: mut txs,
        consumer: mut rx,
    } = FanIn::builder()
        .producers(4)
        .depth(8)
        .mtu(8)
        .heap()
        .unwrap();
    std::thread::scope(|s| {
        let mut tx = txs.remove(3);
        s.spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            tx.try_publish(Header::new(3), b"late").unwrap();
        });
        let (link, frag) = rx.recv_with(SpinThenYield::default()).unwrap();
        assert_eq!((link, frag.payload()), (3, &b"late"[..]));
    });
    let timeout = milonga::wait::Park::default().with_timeout(std::time::Duration::from_millis(2));
    assert_eq!(
        rx.recv_batch_with(Budget::new(4, 64).unwrap(), timeout)
            .err(),
        Some(RecvTimeoutError::Timeout)
    );
}
