//! Criterion benchmarks of the batching dispatcher (`cargo bench --bench dispatch`), in the
//! scenarios of the Go `tempo` dispatcher's benchmarks (`performance/benchmarks_test.go`),
//! with the same payloads and configuration:
//!
//! - payloads `"event:" + id` (7 to 26 bytes), formatted into a stack buffer (no
//!   allocation), and, for the large case, 256 bytes holding `"large:" + id` then zeros;
//! - an interval of an hour (only the byte limit closes batches), `max_batch_bytes` of
//!   `N * len("event:0")` (`N` = 256, 64 or 8 items; `256 * 256` for the large case) and
//!   `max_buffered_bytes` of 1 GiB. The ring (what tempo does not have) holds
//!   [`MAX_ITEMS`] items of at most 64 bytes, 256 for the large case.
//!
//! | bench | producers | batch limit | payload |
//! | --- | --- | --- | --- |
//! | `enqueue_single_producer` | 1 | 256 * 7 B | event |
//! | `sustained_parallel_flush_256` | 2 (`b.RunParallel`, GOMAXPROCS = 2) | 256 * 7 B | event |
//! | `burst_parallel_flush_64` | 32 threads (tempo: 64 goroutines) | 64 * 7 B | event |
//! | `batch_delivery_small_batch` | 1 | 8 * 7 B | event |
//! | `parallel_large_payload` | 2 | 256 * 256 B | 256 B |
//!
//! Single producers number their items from 0, parallel ones from 1 (tempo's shared
//! `seq.Add(1)`), each thread taking every `P`-th id so that no shared counter is needed:
//! the same ids, so the same payload lengths.
//!
//! One consumer thread drains the batches (`next_batch` in a loop, like tempo's drain
//! goroutine), counting items and bytes and checking each item's first byte. Each sample
//! builds the dispatcher and spawns the threads outside the timed region, then times from a
//! start barrier until the consumer has released the batch holding the last item (the last,
//! partial batch is flushed when the last producer drops its handle): one iteration is one
//! item delivered. (tempo's benchmarks stop their timer when the producers are done, before
//! the shutdown that delivers the rest.) Every sample moves at least [`MIN_ITEMS`] items;
//! if criterion asks for fewer, the time is scaled down.
//!
//! `enqueue` never blocks: on `QueueFull` a producer retries (spinning a few times, then
//! yielding); tempo's `Enqueue` blocks instead. At the end of each bench, on stderr, over
//! all its samples (warm-up included): the `QueueFull` retries per item, the allocations
//! per item in the timed regions (a counting global allocator; this binary's own), and, for
//! the first two scenarios, the enqueue latency (every 64th item, from its first `enqueue`
//! call to its acceptance, retries included; the figure includes one `Instant::now`) at
//! p50, p99 and p99.9.
//!
//! Each scenario runs twice: with `enqueue`, for which the dispatcher reads its clock
//! (`StdClock`) for every item, and (`.../stamped_every_64`) with `enqueue_at`, the
//! producer reading the clock once per 64 items, as a producer that already holds a
//! timestamp would.
//!
//! Threads are not pinned (like goroutines): on a two-core machine the consumer shares
//! the cores with the producers. It waits with the receiver's default strategy (spin, yield,
//! then sleep up to 1 ms), as a user's would, and like tempo's drain goroutine blocking on
//! its channel. (A consumer that busy-polls right behind a producer on another core reads
//! every line the producer is about to write, and slows it down several times over.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use milonga::clock::{Clock, StdClock};
use milonga::dispatch::{Dispatcher, EnqueueError};

use common::arrive_sharing;

/// Counts every allocation of the process (alloc, alloc_zeroed, realloc).
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `len("event:0")`: tempo's `benchPayloadBytes()`, the unit of its batch limits.
const EVENT_BYTES: usize = 7;
/// The large payload: tempo's `benchLargeEventPayload`.
const LARGE_BYTES: usize = 256;
/// tempo's `benchmarkMaxBufferedBytes`: 1 GiB.
const MAX_BUFFERED_BYTES: u64 = 1 << 30;
/// The ring's depth: the most items pending at once (1 MiB of 64-byte slots, 4 MiB of
/// 256-byte ones).
const MAX_ITEMS: usize = 16 * 1024;
/// The longest small item: `"event:"` and 20 digits fit.
const SMALL_ITEM_BYTES: usize = 64;
/// Items per sample at least.
const MIN_ITEMS: u64 = 1 << 18;
/// Latency: every this many items, one is timed.
const SAMPLE_EVERY: u64 = 64;
/// The `stamped` variants: one clock reading per this many items, passed to `enqueue_at`.
const STAMP_EVERY: u64 = 64;
/// `QueueFull` retries spun before each further one yields.
const SPINS: u32 = 16;

/// One of tempo's scenarios.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    name: &'static str,
    /// Producer threads.
    producers: usize,
    /// `max_batch_bytes`.
    batch_bytes: usize,
    /// 256-byte payloads rather than `"event:" + id`.
    large: bool,
    /// Sample the enqueue latency.
    latency: bool,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "enqueue_single_producer",
        producers: 1,
        batch_bytes: 256 * EVENT_BYTES,
        large: false,
        latency: true,
    },
    Scenario {
        name: "sustained_parallel_flush_256",
        producers: 2,
        batch_bytes: 256 * EVENT_BYTES,
        large: false,
        latency: true,
    },
    Scenario {
        name: "burst_parallel_flush_64",
        producers: 32,
        batch_bytes: 64 * EVENT_BYTES,
        large: false,
        latency: false,
    },
    Scenario {
        name: "batch_delivery_small_batch",
        producers: 1,
        batch_bytes: 8 * EVENT_BYTES,
        large: false,
        latency: false,
    },
    Scenario {
        name: "parallel_large_payload",
        producers: 2,
        batch_bytes: 256 * LARGE_BYTES,
        large: true,
        latency: false,
    },
];

/// A payload buffer on the stack: a fixed prefix, then the id's digits written in place.
struct Payload {
    buf: [u8; LARGE_BYTES],
    /// Bytes of the item: 0 for `"event:" + id` (its length varies), else fixed.
    fixed: usize,
}

impl Payload {
    fn new(large: bool) -> Self {
        let mut buf = [0u8; LARGE_BYTES];
        buf[..6].copy_from_slice(if large { b"large:" } else { b"event:" });
        Payload {
            buf,
            fixed: if large { LARGE_BYTES } else { 0 },
        }
    }

    /// The item for `id`. (A large payload keeps the zeros after the digits: the ids of a
    /// producer only grow, so no longer id's digits are left behind.)
    #[inline(always)]
    fn item(&mut self, id: u64) -> &[u8] {
        let len = 6 + write_digits(&mut self.buf[6..26], id);
        &self.buf[..if self.fixed > 0 { self.fixed } else { len }]
    }
}

/// Writes `v` in decimal at the start of `out` (20 bytes); returns the digits written.
#[inline(always)]
fn write_digits(out: &mut [u8], mut v: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let n = tmp.len() - i;
    out[..n].copy_from_slice(&tmp[i..]);
    n
}

/// Decimal digits of every id in `lo..hi`: what the consumer's byte count must come to.
fn digits_in(lo: u64, hi: u64) -> u64 {
    let (mut total, mut start, mut digits, mut bound) = (0, lo, 1u64, 10u64);
    while start < hi {
        if start < bound {
            let end = hi.min(bound);
            total += (end - start) * digits;
            start = end;
        }
        digits += 1;
        bound = bound.saturating_mul(10);
    }
    total
}

/// What the samples of one bench add up to, reported at its end.
#[derive(Default)]
struct Totals {
    items: u64,
    retries: u64,
    allocs: u64,
    latencies: Vec<u64>,
}

impl Totals {
    fn report(&mut self, name: &str) {
        let per = |x: u64| x as f64 / self.items.max(1) as f64;
        eprintln!(
            "{name}: {} items; QueueFull retries {} ({:.4}/item); allocations in timed regions {} ({:.6}/item)",
            self.items,
            self.retries,
            per(self.retries),
            self.allocs,
            per(self.allocs),
        );
        if !self.latencies.is_empty() {
            let v = &mut self.latencies;
            v.sort_unstable();
            let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
            eprintln!(
                "{name}: enqueue latency ({} samples, 1 in {SAMPLE_EVERY}): p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
                v.len(),
                at(0.50),
                at(0.99),
                at(0.999),
                v[v.len() - 1],
            );
        }
    }
}

/// What one producer thread did.
struct Produced {
    retries: u64,
    latencies: Vec<u64>,
}

/// Producer `p` of `producers`: enqueues `per` items with ids `first + p + k * producers`.
#[allow(clippy::too_many_arguments)]
fn produce(
    tx: Dispatcher,
    s: Scenario,
    p: usize,
    first: u64,
    per: u64,
    ready: &AtomicUsize,
    parties: usize,
    stamped: bool,
) -> Produced {
    let mut payload = Payload::new(s.large);
    let mut latencies = Vec::with_capacity(if s.latency {
        (per / SAMPLE_EVERY + 1) as usize
    } else {
        0
    });
    let mut retries = 0u64;
    let stride = s.producers as u64;
    let mut at = 0;
    arrive_sharing(ready, parties);
    for k in 0..per {
        let item = payload.item(first + p as u64 + k * stride);
        let t0 = (s.latency && k % SAMPLE_EVERY == 0).then(Instant::now);
        let mut tries = 0u32;
        // Stamped by the producer itself: one clock reading per `STAMP_EVERY` items.
        if stamped && k % STAMP_EVERY == 0 {
            at = StdClock.now();
        }
        loop {
            let result = if stamped {
                tx.enqueue_at(item, at)
            } else {
                tx.enqueue(item)
            };
            match result {
                Ok(()) => break,
                Err(EnqueueError::QueueFull) => {
                    retries += 1;
                    if tries < SPINS {
                        tries += 1;
                        spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                Err(e) => panic!("enqueue: {e}"),
            }
        }
        if let Some(t0) = t0 {
            latencies.push(t0.elapsed().as_nanos() as u64);
        }
    }
    // Dropping the last handle flushes the last, partial batch.
    drop(tx);
    Produced { retries, latencies }
}

/// One sample: `iters` items (at least `MIN_ITEMS`) through a fresh dispatcher; returns
/// the time of `iters` items.
fn run(s: Scenario, stamped: bool, iters: u64, totals: &mut Totals) -> Duration {
    let per = iters.max(MIN_ITEMS).div_ceil(s.producers as u64);
    let n = per * s.producers as u64;
    // tempo: `i` from 0 for one producer, `seq.Add(1)` from 1 for parallel ones.
    let first = if s.producers == 1 { 0 } else { 1 };
    let want_bytes = if s.large {
        n * LARGE_BYTES as u64
    } else {
        n * 6 + digits_in(first, first + n)
    };
    let (tx, mut rx) = Dispatcher::builder()
        .interval(Duration::from_secs(3600))
        .max_batch_bytes(s.batch_bytes)
        .max_buffered_bytes(MAX_BUFFERED_BYTES)
        .max_items(MAX_ITEMS)
        .max_item_bytes(if s.large {
            LARGE_BYTES
        } else {
            SMALL_ITEM_BYTES
        })
        .build()
        .expect("dispatcher");
    let ready = AtomicUsize::new(0);
    let parties = s.producers + 1;
    let lead = if s.large { b'l' } else { b'e' };
    let (elapsed, allocs, produced) = std::thread::scope(|scope| {
        let ready = &ready;
        let producers: Vec<_> = (0..s.producers)
            .map(|p| {
                let tx = tx.clone();
                scope.spawn(move || produce(tx, s, p, first, per, ready, parties, stamped))
            })
            .collect();
        drop(tx);
        let consumer = scope.spawn(move || {
            arrive_sharing(ready, parties);
            let start = Instant::now();
            let allocs = ALLOCS.load(Relaxed);
            let (mut items, mut bytes, mut bad) = (0u64, 0u64, 0u64);
            let mut done = None;
            while let Some(batch) = rx.next_batch() {
                items += batch.len() as u64;
                bytes += batch.bytes() as u64;
                for item in &batch {
                    bad += u64::from(item[0] != lead);
                }
                drop(batch);
                if items == n {
                    done = Some((start.elapsed(), ALLOCS.load(Relaxed) - allocs));
                }
            }
            let stats = rx.stats();
            assert_eq!((items, bytes, bad), (n, want_bytes, 0), "delivered");
            assert_eq!((stats.delivered_items, stats.dropped), (n, 0), "{stats}");
            done.expect("every item delivered")
        });
        // The consumer first: nothing may allocate on this thread while it times.
        let (elapsed, allocs) = consumer.join().unwrap();
        let produced: Vec<Produced> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        (elapsed, allocs, produced)
    });
    totals.items += n;
    totals.allocs += allocs as u64;
    for p in produced {
        totals.retries += p.retries;
        totals.latencies.extend_from_slice(&p.latencies);
    }
    elapsed.mul_f64(iters as f64 / n as f64)
}

/// The five scenarios, items per second.
fn tempo_scenarios(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    // Each scenario twice: `enqueue` (the dispatcher reads its clock for every item), and
    // `enqueue_at` with the producer reading the clock once per `STAMP_EVERY` items.
    for stamped in [false, true] {
        for s in SCENARIOS {
            let name = if stamped {
                format!("{}/stamped_every_{STAMP_EVERY}", s.name)
            } else {
                s.name.to_string()
            };
            let mut totals = Totals::default();
            g.bench_function(&name, |b| {
                b.iter_custom(|iters| run(s, stamped, iters, &mut totals));
            });
            if totals.items > 0 {
                totals.report(&name);
            }
        }
    }
    g.finish();
}

/// The group and its configuration (a private module, so the function `criterion_group!`
/// generates needs no doc).
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = tempo_scenarios
    }
}
criterion_main!(groups::benches);
