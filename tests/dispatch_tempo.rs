//! The behaviour of Go's `tempo` dispatcher, test by test: each test here is named after
//! one of tempo's 28 tests (`tempo_test.go`) and asserts the same behaviour on
//! `milonga::dispatch`, except where tempo's behaviour is one of its known flaws, which
//! the test inverts (and says so). Intervals are timed by a clock moved by hand, so no
//! test sleeps or depends on scheduling: where tempo waits "some time" to see that
//! something has *not* happened, these tests hold the state that prevents it (a batch not
//! yet released, a clock not yet moved) and check it directly.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use milonga::clock::Clock;
use milonga::dispatch::{
    Batch, Batches, ConfigError, DispatchState, Dispatcher, EnqueueError, ShutdownError,
    TryNextBatchError,
};

const KIB: usize = 1024;
const MIB: u64 = 1024 * 1024;
const HOUR: Duration = Duration::from_secs(3600);
/// Long enough never to pass in a test that expects success.
const PATIENCE: Duration = Duration::from_secs(60);

/// A clock moved by hand, in nanoseconds.
#[derive(Default)]
struct Manual(AtomicU64);

impl Clock for Manual {
    fn now(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Manual {
    fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Relaxed);
    }
}

/// A dispatcher like tempo's `&Config{Interval, MaxBatchBytes, MaxBufferedBytes}`, on a
/// clock moved by hand.
fn dispatcher(
    interval: Duration,
    max_batch_bytes: usize,
    max_buffered_bytes: u64,
) -> (Dispatcher, Batches, Arc<Manual>) {
    let clock = Arc::new(Manual::default());
    let (tx, rx) = Dispatcher::builder()
        .interval(interval)
        .max_batch_bytes(max_batch_bytes)
        .max_buffered_bytes(max_buffered_bytes)
        .max_items(64)
        .max_item_bytes(64)
        .clock(clock.clone())
        .build()
        .expect("a valid config");
    (tx, rx, clock)
}

fn strings(batch: &Batch<'_>) -> Vec<String> {
    batch
        .iter()
        .map(|item| String::from_utf8(item.to_vec()).unwrap())
        .collect()
}

/// The next batch, which must be complete now.
fn ready(rx: &mut Batches) -> Vec<String> {
    let batch = rx.try_next_batch().expect("a complete batch");
    strings(&batch)
}

fn not_ready(rx: &mut Batches) {
    assert_eq!(rx.try_next_batch().err(), Some(TryNextBatchError::NotReady));
}

/// Waits (without a time limit that could fail) until a shutdown has begun.
fn until_shutting_down(tx: &Dispatcher) {
    while tx.stats().state != DispatchState::ShuttingDown {
        thread::yield_now();
    }
}

#[test]
fn new_dispatcher_rejects_invalid_config() {
    // "nil config", "negative interval" and "negative max batch bytes" cannot be written:
    // the builder is a value, `Duration` and `usize` are never negative.
    let zero_interval = Dispatcher::builder()
        .interval(Duration::ZERO)
        .max_batch_bytes(10)
        .max_buffered_bytes(20)
        .build();
    assert_eq!(zero_interval.err(), Some(ConfigError::ZeroInterval));
    let zero_buffered = Dispatcher::builder()
        .interval(Duration::from_secs(1))
        .max_batch_bytes(10)
        .max_buffered_bytes(0)
        .build();
    assert_eq!(zero_buffered.err(), Some(ConfigError::ZeroMaxBufferedBytes));
    // Limits of our own.
    let huge = Dispatcher::builder().max_buffered_bytes(1 << 40).build();
    assert_eq!(huge.err(), Some(ConfigError::MaxBufferedBytesTooLarge));
    let odd = Dispatcher::builder().max_items(100).build();
    assert!(matches!(odd.err(), Some(ConfigError::Ring(_))));
    let too_many = Dispatcher::builder().max_items(1 << 22).build();
    assert_eq!(too_many.err(), Some(ConfigError::TooManyItems));
    let zero_items = Dispatcher::builder().max_batch_items(0).build();
    assert_eq!(zero_items.err(), Some(ConfigError::ZeroMaxBatchItems));
    let mtu = Dispatcher::builder().max_item_bytes(1 << 16).build();
    assert!(matches!(mtu.err(), Some(ConfigError::Ring(_))));
}

#[test]
fn new_dispatcher_accepts_valid_config() {
    let shaped = Dispatcher::builder()
        .interval(Duration::from_secs(1))
        .max_batch_bytes(10)
        .max_buffered_bytes(100)
        .build();
    assert!(shaped.is_ok());
    // Without batch shaping (tempo's `MaxBatchBytes: 0`).
    let unshaped = Dispatcher::builder()
        .interval(Duration::from_secs(1))
        .max_batch_bytes(0)
        .max_buffered_bytes(100)
        .build();
    assert!(unshaped.is_ok());
}

#[test]
fn dispatch_order() {
    // tempo: 100 goroutines of 10 items each; every item is dispatched. Here also: each
    // producer's items arrive in its order, and every item exactly once.
    let (tx, rx) = Dispatcher::builder()
        .interval(Duration::from_secs(1))
        .max_batch_bytes(16 * KIB)
        .max_buffered_bytes(2 * MIB)
        .max_items(1024)
        .max_item_bytes(32)
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let worker = rx
        .spawn(move |batch| sink.lock().unwrap().extend(strings(&batch)))
        .unwrap();
    // 100 producers of 10 items, as tempo's test (fewer under Miri, which is slow).
    let producers = if cfg!(miri) { 4 } else { 100 };
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..10 {
                    let item = format!("producer#{p}, item#{i}");
                    loop {
                        match tx.enqueue(item.as_bytes()) {
                            Ok(()) => break,
                            Err(EnqueueError::QueueFull) => thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    tx.shutdown(PATIENCE).unwrap();
    let report = worker.join();
    let seen = seen.lock().unwrap();
    let total = producers * 10;
    assert_eq!(
        (seen.len(), report.items as usize),
        (total, total),
        "no lost items"
    );
    let mut next = vec![0usize; producers];
    for item in seen.iter() {
        let (p, i) = item
            .strip_prefix("producer#")
            .and_then(|r| r.split_once(", item#"))
            .unwrap();
        let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[p], "producer {p}'s items in order, each once");
        next[p] += 1;
    }
    assert_eq!(next, vec![10; producers]);
}

#[test]
fn flushes_immediately_when_batch_bytes_are_full() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, "first".len() + "second".len(), 128);
    tx.enqueue(b"first").unwrap();
    not_ready(&mut rx);
    tx.enqueue(b"second").unwrap();
    // The clock never moved: the byte limit alone closed the batch.
    assert_eq!(ready(&mut rx), ["first", "second"]);
}

#[test]
fn flushes_pending_items_when_interval_elapses() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    clock.advance(Duration::from_millis(50) - Duration::from_nanos(1));
    not_ready(&mut rx);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(ready(&mut rx), ["first"]);
}

#[test]
fn preserves_sequential_order_within_batch() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    for item in ["first", "second", "third"] {
        tx.enqueue(item.as_bytes()).unwrap();
    }
    clock.advance(Duration::from_millis(50));
    assert_eq!(ready(&mut rx), ["first", "second", "third"]);
}

#[test]
fn blocked_batch_consumer_traps_dispatcher() {
    // tempo's flaw: a consumer that does not read traps the dispatcher, and `Stop` blocks
    // until someone drains a batch. Inverted: `stop` never waits for the consumer.
    let (tx, mut rx, _clock) = dispatcher(HOUR, 1, 8);
    tx.enqueue(b"a").unwrap();
    tx.enqueue(b"b").unwrap(); // two complete batches, nobody reading
    tx.stop(); // returns: this line is reached without any batch taken
    assert_eq!(tx.stats().state, DispatchState::Stopped);
    // The consumer that comes later finds the stream ended, the two items dropped.
    assert!(rx.next_batch().is_none());
    let stats = tx.stats();
    assert_eq!(
        (stats.dropped, stats.delivered_items, stats.pending_items),
        (2, 0, 0)
    );
}

#[test]
fn stop_returns_promptly_without_draining_buffered_items() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    tx.stop(); // does not drain: the item is still pending, nothing was delivered
    let stats = tx.stats();
    assert_eq!((stats.pending_items, stats.delivered_items), (1, 0));
    assert_eq!(rx.try_next_batch().err(), Some(TryNextBatchError::Ended));
}

#[test]
fn stop_drops_buffered_items() {
    let (tx, mut rx, clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    tx.stop();
    clock.advance(2 * HOUR); // even with its interval elapsed, no batch is flushed
    assert!(rx.next_batch().is_none());
    let stats = rx.stats();
    assert_eq!((stats.dropped, stats.batches, stats.accepted()), (1, 0, 1));
}

#[test]
fn shutdown_flushes_buffered_items_before_returning() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    thread::scope(|s| {
        let shutdown = s.spawn(|| tx.shutdown(PATIENCE));
        // Flushed by the shutdown, although the hour has not passed.
        let batch = rx.next_batch().expect("the flushed batch");
        assert_eq!(strings(&batch), ["first"]);
        // While the batch is held, the item is not delivered, so the shutdown waits.
        assert!(!shutdown.is_finished());
        assert_eq!(tx.stats().pending_items, 1);
        drop(batch);
        assert_eq!(shutdown.join().unwrap(), Ok(()));
    });
    // tempo's flaw inverted: the stream ends.
    assert!(rx.next_batch().is_none());
}

#[test]
fn shutdown_returns_context_error_when_drain_cannot_complete() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 1, 8);
    tx.enqueue(b"a").unwrap();
    // No consumer: the drain cannot complete before the deadline.
    let err = tx.shutdown(Duration::from_millis(100));
    assert_eq!(err, Err(ShutdownError::Deadline { undelivered: 1 }));
    // The dispatcher was stopped at the deadline; the item is dropped and counted.
    assert_eq!(tx.enqueue(b"b"), Err(EnqueueError::Stopped));
    assert!(rx.next_batch().is_none());
    assert_eq!(rx.stats().dropped, 1);
}

#[test]
fn enqueue_accepts_items_while_running() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    assert_eq!(tx.enqueue(b"first"), Ok(()));
    clock.advance(Duration::from_millis(50));
    assert_eq!(ready(&mut rx), ["first"]);
}

#[test]
fn enqueue_copies_payload() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    let mut original = *b"first";
    tx.enqueue(&original).unwrap();
    original.copy_from_slice(b"mutat");
    clock.advance(Duration::from_millis(50));
    assert_eq!(ready(&mut rx), ["first"]);
    assert_eq!(&original, b"mutat");
}

#[test]
fn enqueue_returns_error_after_stop() {
    let (tx, _rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.stop();
    assert_eq!(tx.enqueue(b"first"), Err(EnqueueError::Stopped));
    assert_eq!(tx.stats().refused_stopped, 1);
}

#[test]
fn enqueue_returns_error_after_shutdown_begins() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    thread::scope(|s| {
        let shutdown = s.spawn(|| tx.shutdown(PATIENCE));
        until_shutting_down(&tx);
        assert_eq!(tx.enqueue(b"second"), Err(EnqueueError::ShuttingDown));
        // Only the item accepted before the shutdown is drained.
        let batch = rx.next_batch().unwrap();
        assert_eq!(strings(&batch), ["first"]);
        drop(batch);
        assert_eq!(shutdown.join().unwrap(), Ok(()));
    });
    assert!(rx.next_batch().is_none());
    assert_eq!(tx.stats().refused_shutting_down, 1);
}

#[test]
fn enqueue_returns_queue_full_at_pending_limit() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 1, 2);
    assert_eq!(tx.enqueue(b"a"), Ok(()));
    assert_eq!(tx.enqueue(b"b"), Ok(()));
    assert_eq!(tx.enqueue(b"c"), Err(EnqueueError::QueueFull));
    thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(rx.next_batch().map(|b| strings(&b)), Some(vec!["a".into()]));
            assert_eq!(rx.next_batch().map(|b| strings(&b)), Some(vec!["b".into()]));
        });
        assert_eq!(tx.shutdown(PATIENCE), Ok(()));
    });
    assert_eq!(tx.stats().refused_queue_full, 1);
}

#[test]
fn enqueue_succeeds_again_after_pending_limit_drains() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 1, 2);
    tx.enqueue(b"a").unwrap();
    tx.enqueue(b"b").unwrap();
    assert_eq!(tx.enqueue(b"c"), Err(EnqueueError::QueueFull));
    let batch = rx.try_next_batch().unwrap();
    assert_eq!(strings(&batch), ["a"]);
    // Its bytes are pending until the consumer is done with the batch.
    assert_eq!(tx.enqueue(b"c"), Err(EnqueueError::QueueFull));
    drop(batch);
    assert_eq!(tx.enqueue(b"c"), Ok(()));
}

#[test]
fn enqueue_allows_payload_larger_than_batch_limit_and_rejects_pending_overflow() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 4, 8);
    assert_eq!(tx.enqueue(b"12345"), Ok(()));
    let batch = rx.try_next_batch().unwrap(); // alone, at once
    assert_eq!((strings(&batch), batch.bytes()), (vec!["12345".into()], 5));
    drop(batch);

    let (tx2, _rx2, _clock2) = dispatcher(HOUR, 8, 4);
    assert_eq!(
        tx2.enqueue(b"12345"),
        Err(EnqueueError::PayloadTooLarge { len: 5, limit: 4 })
    );
    assert_eq!(tx2.stats().refused_too_large, 1);
}

#[test]
fn enqueue_returns_queue_full_when_payload_would_fit_eventually_but_not_now() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(20), 0, 8);
    assert_eq!(tx.enqueue(b"12345"), Ok(()));
    assert_eq!(tx.enqueue(b"1234"), Err(EnqueueError::QueueFull));
    clock.advance(Duration::from_millis(20));
    assert_eq!(ready(&mut rx), ["12345"]); // the batch ends inside `ready`
    assert_eq!(tx.enqueue(b"1234"), Ok(()));
}

#[test]
fn flushes_before_appending_payload_that_would_overflow_batch() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), 5, 32);
    for item in ["abc", "de", "fg"] {
        tx.enqueue(item.as_bytes()).unwrap();
    }
    assert_eq!(ready(&mut rx), ["abc", "de"]); // reached 5 bytes: closed at once
    not_ready(&mut rx);
    clock.advance(Duration::from_millis(50));
    assert_eq!(ready(&mut rx), ["fg"]);
}

#[test]
fn batch_byte_limit_bounds_emitted_batch_size() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(100), 4, 32);
    for item in ["aa", "bb", "cc"] {
        tx.enqueue(item.as_bytes()).unwrap();
    }
    let first = rx.try_next_batch().unwrap();
    assert!(first.bytes() <= 4);
    assert_eq!(strings(&first), ["aa", "bb"]);
    drop(first);
    clock.advance(Duration::from_millis(100));
    let second = rx.try_next_batch().unwrap();
    assert!(second.bytes() <= 4);
    assert_eq!(strings(&second), ["cc"]);
}

#[test]
fn flushes_by_interval_when_batch_shaping_is_disabled() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(20), 0, 64);
    tx.enqueue(b"aa").unwrap();
    tx.enqueue(b"bb").unwrap();
    not_ready(&mut rx);
    clock.advance(Duration::from_millis(20));
    assert_eq!(ready(&mut rx), ["aa", "bb"]);
}

#[test]
fn single_payload_may_exceed_batch_byte_limit_when_it_fits_pending_limit() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 4, 32);
    assert_eq!(tx.enqueue(b"12345"), Ok(()));
    let batch = rx.try_next_batch().unwrap();
    assert_eq!(batch.bytes(), 5);
    assert_eq!(strings(&batch), ["12345"]);
}

#[test]
fn batches_exposes_read_only_output_stream() {
    // tempo hands out a receive-only channel. Here the stream is the `Batches` receiver,
    // which is not `Clone` (one consumer), and a batch lends its items as `&[u8]`.
    fn is_send<T: Send>() {}
    is_send::<Batches>();
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    clock.advance(Duration::from_millis(50));
    let batch = rx.try_next_batch().unwrap();
    let items: Vec<&[u8]> = batch.iter().collect();
    assert_eq!(items, [b"first"]);
}

#[test]
fn method_based_usage_preserves_batching_behavior() {
    // tempo has two ways in (its `Q` channel and `Enqueue`); here `enqueue` is the only
    // one, with the same batching.
    let (tx, mut rx, _clock) = dispatcher(HOUR, "first".len() + "second".len(), 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    tx.enqueue(b"second").unwrap();
    assert_eq!(ready(&mut rx), ["first", "second"]);
}

#[test]
fn stop_is_safe_to_call_more_than_once() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.stop();
    tx.stop();
    tx.clone().stop();
    assert_eq!(tx.stats().state, DispatchState::Stopped);
    assert!(rx.next_batch().is_none());
}

#[test]
fn shutdown_is_safe_to_call_more_than_once() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    thread::scope(|s| {
        let shutdown = s.spawn(|| tx.shutdown(PATIENCE));
        assert_eq!(
            rx.next_batch().map(|b| strings(&b)),
            Some(vec!["first".into()])
        );
        assert_eq!(shutdown.join().unwrap(), Ok(()));
    });
    assert_eq!(tx.shutdown(Duration::ZERO), Ok(())); // nothing left: at once
    assert!(rx.next_batch().is_none());
}

#[test]
fn stop_after_shutdown_begins_does_not_hang() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"first").unwrap();
    thread::scope(|s| {
        let shutdown = s.spawn(|| tx.shutdown(PATIENCE));
        until_shutting_down(&tx);
        tx.stop();
        // The shutdown returns (long before its deadline) and says what was lost.
        assert_eq!(
            shutdown.join().unwrap(),
            Err(ShutdownError::Stopped { undelivered: 1 })
        );
    });
    assert!(rx.next_batch().is_none());
    assert_eq!(rx.stats().dropped, 1);
}

// Beyond tempo: its known flaws, fixed, and what milonga adds.

#[test]
fn shutdown_before_any_consumer_returns() {
    // tempo's `Shutdown` before `Start` waits for its context forever without a deadline.
    let (tx, _rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    assert_eq!(tx.shutdown(Duration::from_secs(3600)), Ok(())); // nothing accepted: at once
    let (tx, _rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"x").unwrap();
    assert_eq!(
        tx.shutdown(Duration::from_millis(10)),
        Err(ShutdownError::Deadline { undelivered: 1 })
    );
}

#[test]
fn zero_length_items_are_bounded_by_max_items() {
    let (tx, mut rx) = Dispatcher::builder()
        .interval(HOUR)
        .max_items(4)
        .max_buffered_bytes(100)
        .build()
        .unwrap();
    for _ in 0..4 {
        tx.enqueue(b"").unwrap();
    }
    assert_eq!(tx.enqueue(b""), Err(EnqueueError::QueueFull));
    assert_eq!(tx.stats().pending_items, 4);
    drop(tx);
    let batch = rx.next_batch().unwrap(); // flushed: no producer is left
    assert_eq!((batch.len(), batch.bytes()), (4, 0));
}

#[test]
fn max_batch_items_closes_a_batch() {
    let (tx, mut rx) = Dispatcher::builder()
        .interval(HOUR)
        .max_batch_items(2)
        .build()
        .unwrap();
    for item in ["a", "b", "c"] {
        tx.enqueue(item.as_bytes()).unwrap();
    }
    assert_eq!(ready(&mut rx), ["a", "b"]);
    not_ready(&mut rx);
}

#[test]
fn the_stream_ends_when_every_producer_is_gone() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    let second = tx.clone();
    tx.enqueue(b"a").unwrap();
    drop(tx);
    not_ready(&mut rx); // one producer is left: the hour still counts
    second.enqueue(b"b").unwrap();
    drop(second);
    assert_eq!(ready(&mut rx), ["a", "b"]); // flushed: nobody can add to it
    assert_eq!(rx.try_next_batch().err(), Some(TryNextBatchError::Ended));
}

#[test]
fn dropping_the_receiver_stops_and_counts_the_drop() {
    let (tx, rx, _clock) = dispatcher(HOUR, KIB, 8 * KIB as u64);
    tx.enqueue(b"a").unwrap();
    tx.enqueue(b"b").unwrap();
    drop(rx);
    assert_eq!(tx.enqueue(b"c"), Err(EnqueueError::Stopped));
    let stats = tx.stats();
    assert_eq!((stats.dropped, stats.pending_items), (2, 0));
    assert_eq!(
        tx.shutdown(PATIENCE),
        Err(ShutdownError::Stopped { undelivered: 2 })
    );
}

#[test]
fn next_batch_timeout_gives_up_and_then_delivers() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_millis(50), KIB, 8 * KIB as u64);
    tx.enqueue(b"a").unwrap();
    // The manual clock does not move, so no batch can complete while this waits.
    assert_eq!(
        rx.next_batch_timeout(Duration::from_millis(5)).err(),
        Some(milonga::dispatch::NextBatchError::Timeout)
    );
    clock.advance(Duration::from_millis(50));
    let batch = rx.next_batch_timeout(PATIENCE).unwrap();
    assert_eq!(strings(&batch), ["a"]);
}

#[test]
fn a_panicking_handler_loses_nothing_else() {
    let (tx, rx) = Dispatcher::builder()
        .interval(HOUR)
        .max_batch_items(1)
        .build()
        .unwrap();
    let delivered = Arc::new(AtomicU64::new(0));
    let count = delivered.clone();
    let worker = rx
        .spawn(move |batch| {
            if batch.iter().next() == Some(b"boom") {
                panic!("boom");
            }
            count.fetch_add(batch.len() as u64, Relaxed);
        })
        .unwrap();
    for item in ["a", "boom", "b", "boom", "c"] {
        tx.enqueue(item.as_bytes()).unwrap();
    }
    assert_eq!(tx.shutdown(PATIENCE), Ok(()));
    let report = worker.join();
    assert_eq!((report.batches, report.panics), (5, 2));
    assert_eq!(report.first_panic.as_deref(), Some("boom"));
    assert_eq!(delivered.load(Relaxed), 3);
    let stats = tx.stats();
    assert_eq!(
        (
            stats.handler_panics,
            stats.delivered_items,
            stats.pending_items
        ),
        (2, 5, 0)
    );
}

#[test]
fn accounting_adds_up_under_concurrent_enqueue_and_stop() {
    // Producers race a stop: every enqueue that returned Ok is delivered or dropped, and
    // counted exactly once.
    let (tx, rx) = Dispatcher::builder()
        .max_items(64)
        .max_item_bytes(8)
        .max_batch_items(16)
        .build()
        .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let sink = got.clone();
    let worker = rx
        .spawn(move |batch| {
            sink.fetch_add(batch.len() as u64, Relaxed);
        })
        .unwrap();
    let accepted = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for i in 0..if cfg!(miri) { 200u64 } else { 20_000 } {
                    match tx.enqueue(&i.to_le_bytes()) {
                        Ok(()) => {
                            accepted.fetch_add(1, Relaxed);
                        }
                        Err(EnqueueError::QueueFull) => thread::yield_now(),
                        Err(EnqueueError::Stopped) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        s.spawn(|| {
            while tx.stats().delivered_items < if cfg!(miri) { 50 } else { 5_000 } {
                thread::yield_now();
            }
            tx.stop();
        });
    });
    worker.join();
    let stats = tx.stats();
    assert_eq!(stats.pending_items, 0);
    assert_eq!(stats.delivered_items, got.load(Relaxed));
    assert_eq!(
        stats.delivered_items + stats.dropped,
        accepted.load(Relaxed)
    );
}

#[test]
fn enqueue_timeout_waits_for_room_then_gives_up() {
    let (tx, mut rx, _clock) = dispatcher(HOUR, 1, 2);
    tx.enqueue(b"a").unwrap();
    tx.enqueue(b"b").unwrap();
    // Full, and nobody reads: the wait ends in `Timeout`, counted apart from `QueueFull`.
    assert_eq!(
        tx.enqueue_timeout(b"c", Duration::from_millis(2)),
        Err(EnqueueError::Timeout)
    );
    let stats = tx.stats();
    assert_eq!((stats.refused_timed_out, stats.refused_queue_full), (1, 0));
    thread::scope(|s| {
        // Waits until the consumer releases a batch, however long that takes.
        let blocked = s.spawn(|| tx.enqueue_timeout(b"c", PATIENCE));
        while tx.stats().pending_items < 2 {
            thread::yield_now();
        }
        assert_eq!(ready(&mut rx), ["a"]);
        assert_eq!(blocked.join().unwrap(), Ok(()));
    });
    assert_eq!(ready(&mut rx), ["b"]);
    assert_eq!(ready(&mut rx), ["c"]);
}

#[test]
fn enqueue_at_times_items_by_the_callers_stamp() {
    let (tx, mut rx, clock) = dispatcher(Duration::from_nanos(100), KIB, 8 * KIB as u64);
    clock.advance(Duration::from_nanos(1000));
    // Stamped by the caller: 1000 and 1099 share a batch, 1100 starts the next.
    tx.enqueue_at(b"a", 1000).unwrap();
    tx.enqueue_at(b"b", 1099).unwrap();
    tx.enqueue_at(b"c", 1100).unwrap();
    assert_eq!(ready(&mut rx), ["a", "b"]); // closed by "c"'s time, not by the clock
    not_ready(&mut rx);
    clock.advance(Duration::from_nanos(199)); // the clock at 1199: "c" is 99 ns old
    not_ready(&mut rx);
    clock.advance(Duration::from_nanos(1));
    let batch = rx.try_next_batch().unwrap();
    assert_eq!(
        (strings(&batch), batch.first_enqueued()),
        (vec!["c".into()], 1100)
    );
}
