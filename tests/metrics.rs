//! Metrics snapshots: taken from another thread while the link runs, monotone, exact at
//! the end, printable; time in backpressure is counted when the producer has a clock. The
//! producer's frag and byte counts are exact after every publish, with no housekeeping, on
//! a single-producer link and on a shared ring; the producer's state reads as what
//! happened to it; the printed form fits 80 columns and names its units.

use std::sync::atomic::{AtomicBool, Ordering};

use milonga::clock::{elapsed, Clock, StdClock};
use milonga::metrics::{ConsumerKind, ProducerState, Snapshot};
use milonga::mpsc::{Ring, RingSnapshot, StalledClaim};
use milonga::spsc::Link;
use milonga::wait::SpinThenYield;
use milonga::{Header, Signal, TryRecvError};

#[test]
fn snapshots_from_a_third_thread_are_monotone_and_exact_at_the_end() {
    const FRAGS: u64 = if cfg!(any(miri, milonga_tsan)) {
        500
    } else {
        1_000_000
    };
    let Link {
        producer: mut tx,
        reliable: rxs,
        ..
    } = Link::builder()
        .depth(64)
        .mtu(32)
        .reliable(2)
        .heap()
        .unwrap();
    tx.set_clock(&StdClock);
    let metrics = tx.metrics();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = metrics.snapshot();
            let mut taken = 0u64;
            while !done.load(Ordering::Relaxed) {
                let snap = metrics.snapshot();
                assert!(snap.producer.published_frags >= last.producer.published_frags);
                for (c, l) in snap.consumers.iter().zip(&last.consumers) {
                    assert!(c.counters.consumed_frags >= l.counters.consumed_frags);
                    assert!(c.counters.consumed_frags <= FRAGS);
                }
                last = snap;
                taken += 1;
                std::thread::yield_now();
            }
            assert!(taken > 0);
        });
        s.spawn(move || {
            for i in 0..FRAGS {
                let ts = milonga::clock::comp(StdClock.now());
                tx.publish_with(
                    Header::new(i).tspub(ts),
                    &i.to_le_bytes(),
                    SpinThenYield::default(),
                )
                .unwrap();
            }
            tx.halt();
        });
        let handles: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(n, mut rx)| {
                s.spawn(move || {
                    if n == 1 {
                        // The sleepy consumer reads nothing until the producer has been held
                        // back once, so it is named slow whatever the scheduler does (under
                        // Miri a sleep of a few microseconds may not slow it at all).
                        let m = rx.metrics();
                        while m.snapshot().producer.backpressure == 0 {
                            std::thread::yield_now();
                        }
                    }
                    let mut worst = 0i64;
                    loop {
                        match rx.try_recv() {
                            Ok(f) => {
                                worst = worst.max(elapsed(f.meta().tspub, StdClock.now()));
                                if n == 1 && f.seq() % 128 == 0 {
                                    std::thread::sleep(std::time::Duration::from_micros(50));
                                }
                            }
                            Err(TryRecvError::Empty) => std::thread::yield_now(),
                            Err(TryRecvError::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    assert!(worst >= 0, "publish-to-consume latency is never negative");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let snap = metrics.snapshot();
    let text = snap.to_string();
    println!("{text}");
    assert!(text.contains("reliable") && text.contains("closed (halted cleanly)"));
    assert_eq!(snap.producer.published_frags, FRAGS);
    assert_eq!(snap.producer.published_bytes, FRAGS * 8);
    assert!(
        snap.producer.backpressure > 0,
        "the sleepy consumer held the producer back"
    );
    assert!(
        snap.producer.backpressure_ticks > 0,
        "time in backpressure was counted"
    );
    assert_eq!(snap.consumers.len(), 2);
    assert!(
        snap.consumers[1].slow > 0,
        "the sleepy consumer is named as the slow one"
    );
    for c in &snap.consumers {
        assert_eq!(c.kind, ConsumerKind::Reliable);
        assert_eq!(c.counters.consumed_frags, FRAGS);
        assert_eq!(c.counters.consumed_bytes, FRAGS * 8);
        assert_eq!((c.lag, c.rx_seq), (0, FRAGS));
    }
}

/// Payload `i` of a test: 0 to 32 bytes, so the byte count tells a miscount apart.
fn payload(i: u64) -> Vec<u8> {
    vec![i as u8; (i * 7 % 33) as usize]
}

fn bytes_of(frags: impl Iterator<Item = u64>) -> u64 {
    frags.map(|i| payload(i).len() as u64).sum()
}

/// Reads until the link is empty; returns the frags read.
fn drain(rx: &mut milonga::spsc::Consumer<'_>) -> u64 {
    let mut n = 0;
    while let Ok(f) = rx.try_recv() {
        assert_eq!(f.payload(), payload(f.seq()).as_slice());
        n += 1;
    }
    n
}

#[test]
fn a_snapshot_counts_every_publish_without_housekeeping() {
    // Depth 8: the first 8 frags take the whole window; the 9th refreshes the credits (the
    // only point the counters used to be published), the 10th does not.
    let (mut tx, mut rx) = Link::builder().depth(8).mtu(32).heap_pair().unwrap();
    let metrics = rx.metrics();
    for i in 0..8 {
        tx.try_publish(Header::new(i), &payload(i)).unwrap();
        let snap = metrics.snapshot();
        assert_eq!(snap.producer.published_frags, i + 1);
        assert_eq!(snap.producer.published_bytes, bytes_of(0..=i));
        assert_eq!(snap.tx_seq, i + 1);
        assert_eq!(snap.consumers[0].lag, i + 1);
    }
    assert_eq!(drain(&mut rx), 8);
    for i in 8..10 {
        tx.try_publish(Header::new(i), &payload(i)).unwrap();
    }
    let snap = metrics.snapshot();
    assert_eq!(snap.producer.published_frags, 10);
    assert_eq!(snap.producer.published_bytes, bytes_of(0..10));
    assert_eq!((snap.tx_seq, snap.consumers[0].lag), (10, 2));
    assert_eq!(snap.state(), ProducerState::Running);
    let text = snap.to_string();
    println!("{text}");
    let line = format!(
        "  published 10 frags, {} bytes, next seq 10",
        bytes_of(0..10)
    );
    assert!(text.lines().any(|l| l == line), "{text}");
    assert!(text.starts_with("producer: running, heartbeat "), "{text}");
    // The consumer's counters are exact once it finds nothing more to read.
    assert_eq!(drain(&mut rx), 2);
    let c = metrics.snapshot().consumers[0];
    assert_eq!(c.counters.consumed_frags, 10);
    assert_eq!(c.counters.consumed_bytes, bytes_of(0..10));
    assert_eq!((c.lag, c.rx_seq), (0, 10));
    // The producer's own view agrees with the published one.
    assert_eq!(tx.counters(), metrics.snapshot().producer);
}

#[test]
fn a_shared_ring_counts_bytes_on_the_producer_side() {
    const PRODUCERS: u64 = 3;
    const FRAGS: u64 = 20; // 60 frags and one abandoned claim fit the 64-frag window
    let (tx, mut rx) = Ring::builder().depth(64).mtu(32).heap_pair().unwrap();
    let metrics = tx.metrics();
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            s.spawn(move || {
                for i in p * FRAGS..(p + 1) * FRAGS {
                    tx.try_publish(Header::new(i), &payload(i)).unwrap();
                }
            });
        }
    });
    drop(tx.try_claim(32).unwrap()); // abandoned: an ERR frag, no bytes
    let total = PRODUCERS * FRAGS;
    let snap = metrics.snapshot();
    assert_eq!(snap.producers, 1);
    assert_eq!(snap.link.state(), ProducerState::Running);
    assert_eq!(snap.link.producer.published_frags, total + 1);
    // Nothing was consumed yet: the bytes are counted by the producers.
    assert_eq!(snap.link.producer.published_bytes, bytes_of(0..total));
    assert_eq!(snap.link.consumers[0].counters.consumed_bytes, 0);
    let text = snap.to_string();
    println!("{text}");
    assert!(text.contains("producer handles: 1 live\n"), "{text}");
    assert!(
        text.contains(&format!("{} bytes", bytes_of(0..total))),
        "{text}"
    );

    drop(tx);
    let mut bytes = 0;
    loop {
        match rx.try_recv() {
            Ok(f) => bytes += f.payload().len() as u64,
            Err(TryRecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let snap = metrics.snapshot();
    assert_eq!(snap.link.state(), ProducerState::Closed);
    assert_eq!(snap.producers, 0);
    assert_eq!(snap.abandoned, 1);
    assert_eq!(snap.link.producer.published_frags, total + 1);
    assert_eq!(snap.link.producer.published_bytes, bytes_of(0..total));
    assert_eq!(bytes, bytes_of(0..total));
    assert_eq!(snap.link.consumers[0].counters.consumed_bytes, bytes);
    // The consumer's own metrics handle of the ring sees the same producer counts.
    assert_eq!(rx.metrics().snapshot().producer, snap.link.producer);
    let text = snap.to_string();
    assert!(
        text.starts_with("producer: closed (halted cleanly)"),
        "{text}"
    );
    assert!(text.contains("producer handles: 0 live\n"), "{text}");
}

#[test]
fn the_producer_state_reads_as_what_happened() {
    let state = |m: &milonga::metrics::Metrics<'_>| {
        let snap = m.snapshot();
        let first = snap.to_string().lines().next().unwrap().to_string();
        (snap.state(), first)
    };
    // Running, then a halt requested, then acknowledged.
    let (tx, _rx) = Link::builder().depth(8).mtu(32).heap_pair().unwrap();
    let m = tx.metrics();
    let (s, line) = state(&m);
    assert_eq!(s, ProducerState::Running);
    assert!(line.starts_with("producer: running,"), "{line}");
    tx.cnc().request_halt();
    let (s, line) = state(&m);
    assert_eq!(s, ProducerState::HaltRequested);
    assert!(line.starts_with("producer: halt requested,"), "{line}");
    tx.halt();
    let (s, line) = state(&m);
    assert_eq!(s, ProducerState::Closed);
    assert!(
        line.starts_with("producer: closed (halted cleanly),"),
        "{line}"
    );
    assert_eq!(m.snapshot().signal, Signal::Boot);

    // Dropped: the same normal end.
    let (tx, _rx) = Link::builder().depth(8).mtu(32).heap_pair().unwrap();
    let m = tx.metrics();
    drop(tx);
    assert_eq!(state(&m).0, ProducerState::Closed);

    // Dropped by a panic.
    let (mut tx, _rx) = Link::builder().depth(8).mtu(32).heap_pair().unwrap();
    let m = tx.metrics();
    let died = std::thread::spawn(move || {
        tx.try_publish(Header::new(0), b"last words").unwrap();
        panic!("the producer dies");
    })
    .join();
    assert!(died.is_err());
    let (s, line) = state(&m);
    assert_eq!(s, ProducerState::Failed);
    assert!(
        line.starts_with("producer: failed (producer died),"),
        "{line}"
    );
    let snap = m.snapshot();
    assert!(snap.closed);
    assert_eq!(
        (snap.producer.published_frags, snap.producer.published_bytes),
        (1, 10)
    );

    // A shared ring: live handles, then one of them dropped by a panic.
    let (tx, _rx) = Ring::builder().depth(8).mtu(32).heap_pair().unwrap();
    let m = tx.metrics();
    let other = tx.clone();
    let text = m.snapshot().to_string();
    assert!(text.starts_with("producer: running,"), "{text}");
    assert!(text.contains("producer handles: 2 live\n"), "{text}");
    let died = std::thread::spawn(move || {
        let _held = other;
        panic!("a producer dies");
    })
    .join();
    assert!(died.is_err());
    let snap = m.snapshot();
    assert!(snap.panicked && snap.producers == 1);
    assert_eq!(snap.link.state(), ProducerState::Running);
    let text = snap.to_string();
    assert!(
        text.contains("producer handles: 1 live, one was dropped by a panic\n"),
        "{text}"
    );
    drop(tx);
    let snap = m.snapshot();
    assert_eq!(snap.link.state(), ProducerState::Failed);
    assert!(snap
        .to_string()
        .starts_with("producer: failed (producer died),"));
}

/// Every line of `text` fits 80 columns.
fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
}

#[test]
fn the_printed_form_fits_80_columns_with_units() {
    // 32 consumers (16 reliable, 16 lossy), every counter near its maximum.
    let link = Link::builder()
        .depth(8)
        .mtu(32)
        .reliable(16)
        .lossy(16)
        .heap()
        .unwrap();
    let mut snap: Snapshot = link.producer.metrics().snapshot();
    assert_eq!(snap.consumers.len(), 32);
    let big = |k: u64| u64::MAX - k;
    snap.heartbeat = big(0);
    snap.tx_seq = big(1);
    snap.producer.published_frags = big(2);
    snap.producer.published_bytes = big(3);
    snap.producer.backpressure = big(4);
    snap.producer.backpressure_ticks = big(5);
    for (i, c) in snap.consumers.iter_mut().enumerate() {
        let k = i as u64;
        c.rx_seq = big(k);
        c.lag = big(k + 1);
        c.slow = big(k + 2);
        c.detached = i % 2 == 0;
        let n = &mut c.counters;
        (n.consumed_frags, n.consumed_bytes) = (big(k), big(k + 1));
        (n.filtered_frags, n.filtered_bytes) = (big(k + 2), big(k + 3));
        (n.poll_lost, n.read_lost, n.lost_bytes) = (big(0) / 2, big(0) / 2, big(k));
    }
    let signals = [
        Signal::Boot,
        Signal::Run,
        Signal::Halt,
        Signal::Fail,
        Signal::User(u64::MAX),
    ];
    for signal in signals {
        for closed in [false, true] {
            snap.signal = signal;
            snap.closed = closed;
            let text = snap.to_string();
            assert_fits(&text);
            assert_eq!(text.lines().count(), 3 + 2 + 32);
        }
    }
    let text = snap.to_string();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(&format!("heartbeat {}", u64::MAX)));
    assert_eq!(
        lines[1],
        format!(
            "  published 18.4 E frags, 18.4 E bytes, next seq {}",
            big(1)
        )
    );
    assert_eq!(lines[2], "  backpressure: 18.4 E times, 18.4 E ticks");
    // The table names a unit for every column.
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["frags", "bytes", "frags", "frags", "bytes", "frags", "times"]
    );
    assert!(
        lines[5].starts_with("reliable  0 gone   18.4 E"),
        "{}",
        lines[5]
    );
    assert!(
        lines[36].starts_with("lossy    15 live   18.4 E"),
        "{}",
        lines[36]
    );
    assert!(
        lines[36].ends_with(" -"),
        "lossy consumers have no slow count"
    );

    // A shared ring's lines too, with a stalled claim.
    let (ring, _rx) = Ring::builder().depth(8).mtu(32).heap_pair().unwrap();
    let mut rs: RingSnapshot = ring.metrics().snapshot();
    rs.link = snap;
    rs.producers = u64::MAX;
    rs.panicked = true;
    rs.abandoned = u64::MAX;
    rs.refused = u64::MAX;
    rs.oldest_unpublished = Some(StalledClaim {
        seq: u64::MAX,
        idle_polls: u64::MAX,
        since: Some(u64::MAX),
    });
    let text = rs.to_string();
    println!("{text}");
    assert_fits(&text);
    assert!(text.contains("producer handles: 18.4 E live, one was dropped by a panic\n"));
    assert!(text.contains(&format!(
        "  stalled claim at seq {}: waited 18.4 E idle polls\n",
        u64::MAX
    )));
}

/// The machine-readable form: the snapshot as JSON, exact values and all.
#[cfg(feature = "serde")]
#[test]
fn snapshots_serialize_with_exact_values() {
    let (mut tx, _rx) = Link::builder().depth(8).mtu(32).heap_pair().unwrap();
    tx.try_publish(Header::new(0), b"hello").unwrap();
    let json = serde_json::to_value(tx.metrics().snapshot()).unwrap();
    assert_eq!(json["producer"]["published_frags"], 1);
    assert_eq!(json["producer"]["published_bytes"], 5);
    assert_eq!(json["signal"], "Run");
    assert_eq!(json["consumers"][0]["kind"], "Reliable");
    assert_eq!(json["consumers"][0]["lag"], 1);
    let (ring, _rx) = Ring::builder().depth(8).mtu(32).heap_pair().unwrap();
    ring.try_publish(Header::new(0), b"hi").unwrap();
    let json = serde_json::to_value(ring.metrics().snapshot()).unwrap();
    assert_eq!(json["link"]["producer"]["published_bytes"], 2);
    assert_eq!(json["producers"], 1);
    assert_eq!(json["oldest_unpublished"], serde_json::Value::Null);
}
