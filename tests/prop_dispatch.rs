//! Property tests of the dispatcher's batch boundaries and admission against a model.
//!
//! Random sequences of enqueues (lengths 0..40, some over the limits), clock moves, polls
//! (`try_next_batch`, the batch held across later operations or released at once),
//! shutdowns and producers dropping, on a clock moved by hand, with random settings
//! (interval, byte limit or none, item limit, buffered bytes, ring depth). Shows that:
//! - every enqueue returns what the model says: accepted, `QueueFull` exactly when the
//!   pending items or bytes would go over (exactly at the limit is accepted),
//!   `PayloadTooLarge` exactly for items over the item limit, `ShuttingDown` after a
//!   shutdown began, `Stopped` after the deadline;
//! - every item gets the time the model gives it: a clock reading when nothing was
//!   pending, else the shared recent reading, moved on by idle enqueues and by the
//!   consumer's polls once it is `interval / 16` old;
//! - a poll returns a batch exactly when the model's rules close one (bytes, items,
//!   interval, shutdown, no producer left), with exactly the model's items, intact and in
//!   order; the stream ends exactly when the model says;
//! - the statistics count what the model counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use milonga::clock::Clock;
use milonga::dispatch::{Dispatcher, EnqueueError, TryNextBatchError};
use proptest::prelude::*;

#[derive(Default)]
struct Manual(AtomicU64);

impl Clock for Manual {
    fn now(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    interval: u64,
    max_batch_bytes: usize,
    max_batch_items: usize,
    max_buffered: u64,
    depth: usize,
    mtu: usize,
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue(usize),
    Advance(u64),
    /// Poll; hold the batch (if any) until the next `Release`, or release it at once.
    Poll {
        hold: bool,
    },
    Release,
    Shutdown,
    DropProducer,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1u64..50,
        prop_oneof![Just(0usize), 1usize..64],
        1usize..10,
        1u64..160,
        prop_oneof![Just(4usize), Just(8), Just(16)],
    )
        .prop_map(
            |(interval, max_batch_bytes, items, max_buffered, depth)| Settings {
                interval,
                max_batch_bytes,
                max_batch_items: items.min(depth),
                max_buffered,
                depth,
                mtu: 32,
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            8 => (0usize..40).prop_map(Op::Enqueue),
            3 => (0u64..30).prop_map(Op::Advance),
            4 => any::<bool>().prop_map(|hold| Op::Poll { hold }),
            2 => Just(Op::Release),
            1 => Just(Op::Shutdown),
            1 => Just(Op::DropProducer),
        ],
        if cfg!(miri) { 10..40 } else { 0..160 },
    )
}

/// An item: its number (which its bytes spell) and its enqueue time.
#[derive(Clone, Copy, Debug)]
struct Item {
    n: u64,
    len: usize,
    at: u64,
}

fn bytes_of(n: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (n as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// The model: the items accepted and not yet handed out, those handed out and not yet
/// released, and the rules that close a batch.
struct Model {
    s: Settings,
    queue: VecDeque<Item>,
    held: Option<(usize, usize)>,
    shutting_down: bool,
    producers_gone: bool,
    ended: bool,
    /// The dispatcher's shared recent clock reading: an item enqueued while others are
    /// pending takes it as its time; one enqueued into an idle dispatcher reads the clock
    /// (and moves it forward); the consumer moves it forward when it reads the clock and
    /// finds it `max(interval / 16, 1)` old or more.
    recent: u64,
}

impl Model {
    /// The time of an item accepted now.
    fn stamp(&mut self, now: u64) -> u64 {
        if self.pending().0 == 0 {
            self.recent = self.recent.max(now);
            now
        } else {
            self.recent
        }
    }

    /// A poll that reads the clock.
    fn refresh(&mut self, now: u64) {
        if now >= self.recent + (self.s.interval / 16).max(1) {
            self.recent = self.recent.max(now);
        }
    }

    fn pending(&self) -> (usize, usize) {
        let (mut items, mut bytes) = self.held.unwrap_or((0, 0));
        items += self.queue.len();
        bytes += self.queue.iter().map(|i| i.len).sum::<usize>();
        (items, bytes)
    }

    fn enqueue(&self, len: usize) -> Result<(), EnqueueError> {
        if self.shutting_down {
            return Err(EnqueueError::ShuttingDown);
        }
        let limit = self.s.mtu.min(self.s.max_buffered as usize);
        if len > limit {
            return Err(EnqueueError::PayloadTooLarge { len, limit });
        }
        let (items, bytes) = self.pending();
        if items >= self.s.depth || (bytes + len) as u64 > self.s.max_buffered {
            return Err(EnqueueError::QueueFull);
        }
        Ok(())
    }

    /// The next batch's items so far, and whether a limit closed it.
    fn open(&self) -> Option<(usize, bool)> {
        let s = self.s;
        let first = self.queue.front()?;
        let (mut n, mut bytes, mut closed) = (0usize, 0usize, false);
        for item in &self.queue {
            if n == s.max_batch_items {
                closed = true;
                break;
            }
            if n > 0
                && (item.at.saturating_sub(first.at) >= s.interval
                    || (s.max_batch_bytes > 0 && bytes + item.len > s.max_batch_bytes))
            {
                closed = true;
                break;
            }
            n += 1;
            bytes += item.len;
            if s.max_batch_bytes > 0 && bytes >= s.max_batch_bytes {
                closed = true;
                break;
            }
        }
        if n == s.max_batch_items {
            closed = true;
        }
        Some((n, closed))
    }

    /// How many items the next batch takes if it is complete at `now`.
    fn next(&self, now: u64) -> Option<usize> {
        let (n, closed) = self.open()?;
        let first = self.queue.front()?;
        let flush = self.shutting_down || self.producers_gone;
        (closed || flush || now.saturating_sub(first.at) >= self.s.interval).then_some(n)
    }
}

/// The operations that do not touch the receiver (so they can run while a batch is held).
struct Side {
    tx: Option<Dispatcher>,
    clock: Arc<Manual>,
    next_n: u64,
    refused: u64,
}

impl Side {
    fn apply(&mut self, op: &Op, model: &mut Model) -> Result<(), TestCaseError> {
        match *op {
            Op::Enqueue(len) => {
                let Some(tx) = &self.tx else { return Ok(()) };
                let want = model.enqueue(len);
                let got = tx.enqueue(&bytes_of(self.next_n, len));
                prop_assert_eq!(got, want);
                if got.is_ok() {
                    let at = model.stamp(self.clock.now());
                    model.queue.push_back(Item {
                        n: self.next_n,
                        len,
                        at,
                    });
                    self.next_n += 1;
                } else {
                    self.refused += 1;
                }
            }
            Op::Advance(d) => {
                self.clock.0.fetch_add(d, Relaxed);
            }
            Op::Shutdown => {
                // With nothing pending it returns at once; otherwise (nobody drains while
                // it waits) it would stop at its deadline: not tried then.
                if let Some(tx) = &self.tx {
                    if model.held.is_none() && model.queue.is_empty() {
                        prop_assert_eq!(tx.shutdown(Duration::ZERO), Ok(()));
                        model.shutting_down = true;
                    }
                }
            }
            Op::DropProducer => {
                self.tx = None;
                model.producers_gone = true;
            }
            Op::Poll { .. } | Op::Release => {}
        }
        Ok(())
    }
}

fn run(s: Settings, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = Arc::new(Manual::default());
    let (tx, mut rx) = Dispatcher::builder()
        .interval(Duration::from_nanos(s.interval))
        .max_batch_bytes(s.max_batch_bytes)
        .max_buffered_bytes(s.max_buffered)
        .max_items(s.depth)
        .max_item_bytes(s.mtu)
        .max_batch_items(s.max_batch_items)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut model = Model {
        s,
        queue: VecDeque::new(),
        held: None,
        shutting_down: false,
        producers_gone: false,
        ended: false,
        recent: 0,
    };
    let mut side = Side {
        tx: Some(tx),
        clock,
        next_n: 0,
        refused: 0,
    };
    let (mut delivered, mut batches) = (0u64, 0u64);
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        let Op::Poll { hold } = *op else {
            side.apply(op, &mut model)?;
            continue;
        };
        let now = side.clock.now();
        // The consumer reads the clock when its open batch has items and no limit closed
        // it.
        if !model.ended && matches!(model.open(), Some((_, false))) {
            model.refresh(now);
        }
        let want = model.next(now);
        let ended = model.ended
            || (want.is_none()
                && model.queue.is_empty()
                && (model.shutting_down || model.producers_gone));
        match rx.try_next_batch() {
            Ok(batch) => {
                let n = want.expect("the model has no complete batch");
                prop_assert_eq!(batch.len(), n);
                let mut bytes = 0;
                for got in batch.iter() {
                    let item = model.queue.pop_front().unwrap();
                    prop_assert_eq!(got, &bytes_of(item.n, item.len)[..]);
                    bytes += item.len;
                }
                prop_assert_eq!(batch.bytes(), bytes);
                delivered += n as u64;
                batches += 1;
                if hold {
                    // Held while the next operations run, up to a release or a poll.
                    model.held = Some((n, bytes));
                    while i < ops.len() && !matches!(ops[i], Op::Poll { .. } | Op::Release) {
                        side.apply(&ops[i], &mut model)?;
                        i += 1;
                    }
                    model.held = None;
                }
                drop(batch);
            }
            Err(TryNextBatchError::NotReady) => {
                prop_assert!(want.is_none() && !ended, "the model has a batch");
            }
            Err(TryNextBatchError::Ended) => {
                prop_assert!(ended, "ended early");
                model.ended = true;
            }
        }
    }
    let stats = rx.stats();
    prop_assert_eq!(stats.batches, batches);
    prop_assert_eq!(stats.delivered_items, delivered);
    prop_assert_eq!(stats.refused(), side.refused);
    prop_assert_eq!(stats.pending_items as usize, model.queue.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg!(miri) { 6 } else { 4096 }),
        // No regressions file in the repository: a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn batches_and_admission_follow_the_model(s in settings(), ops in ops()) {
        run(s, ops)?;
    }
}
