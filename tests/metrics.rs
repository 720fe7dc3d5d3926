//! Metrics snapshots: taken from another thread while the link runs, monotone, exact at
//! the end, printable; time in backpressure is counted when the producer has a clock.

use std::sync::atomic::{AtomicBool, Ordering};

use milonga::clock::{elapsed, Clock, StdClock};
use milonga::metrics::ConsumerKind;
use milonga::spsc::Link;
use milonga::wait::SpinThenYield;
use milonga::Header;
use milonga::TryRecvError;

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
    assert!(text.contains("reliable") && text.contains("closed"));
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
