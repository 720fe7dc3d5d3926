//! The pipeline's counters and its latency histogram.
//!
//! Every counter has one writer (a sensor thread, the pump or a worker), which keeps its
//! own count and stores it with a plain relaxed store now and then; the stats thread and
//! the final report read and add them up. Nothing is shared-written on the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A count with one writer.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    /// Publishes the writer's count.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    /// The count last published.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// What one sensor thread did (its sensors' events).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct SensorCounts {
    /// Events generated (each got a seq).
    pub generated: Count,
    /// Events the ingest stage took: into a dispatcher (`reject`, `block`) or into the
    /// overwrite link (`overwrite`).
    pub ingested: Count,
    /// Refused because the dispatcher was full (`reject`).
    pub dropped_full: Count,
    /// Given up after waiting the `block:<ms>` timeout for room.
    pub dropped_timeout: Count,
    /// Refused because the dispatcher was shutting down or stopped (a bug if not zero: the
    /// sensors stop before the dispatchers do).
    pub refused_closed: Count,
}

/// What the overwrite pump did.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PumpCounts {
    /// Events read from the overwrite links and handed to the dispatchers.
    pub forwarded: Count,
    /// Events the producers overwrote before the pump read them: the lossy consumers'
    /// exact count.
    pub overwritten: Count,
    /// Refused by a dispatcher that was shutting down or stopped (a bug if not zero).
    pub refused_closed: Count,
}

/// What one worker did.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounts {
    /// Events taken from the worker's dispatcher.
    pub events: Count,
    /// Their bytes.
    pub bytes: Count,
    /// Batches taken.
    pub batches: Count,
    /// Events in batches the sink took.
    pub delivered: Count,
    /// Events in batches the sink refused on every attempt (dead-lettered).
    pub failed: Count,
    /// Batches dead-lettered.
    pub failed_batches: Count,
    /// Sink attempts that failed and were retried.
    pub retries: Count,
    /// Events that did not decode (a bug if not zero: the sensors are ours).
    pub malformed: Count,
    /// Events missing in the sensors' seqs, seen as gaps.
    pub gaps: Count,
    /// Events seen twice, or out of order.
    pub disorder: Count,
}

/// Buckets of the latency histogram: 16 per power of two, up to 2^64 ns.
pub const BUCKETS: usize = 61 * 16;

/// The bucket of a latency of `ns` nanoseconds: exact below 32 ns, then 16 buckets per
/// power of two (each ~6% wide).
#[inline]
pub fn bucket(ns: u64) -> usize {
    if ns < 32 {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros() as usize; // 5..=63
    let sub = (ns >> (e - 4)) as usize & 15;
    (e - 3) * 16 + sub
}

/// The largest latency of bucket `i`.
pub fn bucket_top(i: usize) -> u64 {
    if i < 32 {
        return i as u64;
    }
    let (e, sub) = (i / 16 + 3, (i % 16) as u128);
    let top = ((16 + sub + 1) << (e - 4)) - 1;
    top.min(u64::MAX as u128) as u64
}

/// A latency histogram a worker fills without atomics.
#[derive(Debug)]
pub struct LocalHistogram(Box<[u64; BUCKETS]>);

impl LocalHistogram {
    /// An empty histogram (allocated once, by the worker, before it starts).
    pub fn new() -> Self {
        LocalHistogram(Box::new([0; BUCKETS]))
    }

    /// Counts one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.0[bucket(ns)] += 1;
    }

    /// Adds the counts into `shared` and empties this one.
    pub fn flush_into(&mut self, shared: &SharedHistogram) {
        for (i, n) in self.0.iter_mut().enumerate() {
            if *n != 0 {
                shared.0[i].fetch_add(*n, Relaxed);
                *n = 0;
            }
        }
    }
}

/// A latency histogram workers add into (a few times a second) and the stats thread
/// drains.
#[derive(Debug)]
pub struct SharedHistogram(Box<[AtomicU64]>);

impl SharedHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        SharedHistogram((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }

    /// Moves the counts into `into` (adding) and empties this one.
    pub fn drain_into(&self, into: &mut [u64; BUCKETS]) {
        for (i, n) in self.0.iter().enumerate() {
            let v = n.swap(0, Relaxed);
            into[i] += v;
        }
    }
}

/// Quantile `q` (0..=1) of a histogram: the top of the bucket that holds it (`None` when
/// empty).
pub fn quantile(h: &[u64; BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = h.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, n) in h.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bucket_top(i));
        }
    }
    None
}

/// `n` with a k/M/G suffix.
pub fn si(n: f64) -> String {
    match n.abs() {
        a if a >= 1e9 => format!("{:.2}G", n / 1e9),
        a if a >= 1e6 => format!("{:.2}M", n / 1e6),
        a if a >= 1e4 => format!("{:.1}k", n / 1e3),
        _ => format!("{n:.0}"),
    }
}

/// A duration in nanoseconds, readable.
pub fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1_000_000_000 => format!("{:.2}s", v as f64 / 1e9),
        Some(v) if v >= 1_000_000 => format!("{:.2}ms", v as f64 / 1e6),
        Some(v) if v >= 1_000 => format!("{:.1}us", v as f64 / 1e3),
        Some(v) => format!("{v}ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut values: Vec<u64> = (0..64)
            .flat_map(|s| [1u64 << s, (1u64 << s) + 1, (1u64 << s) / 2 * 3])
            .chain([0, u64::MAX])
            .collect();
        values.sort_unstable();
        let mut last = 0;
        for v in values {
            let b = bucket(v);
            assert!(b < BUCKETS && b >= last, "{v} in {b}");
            assert!(v <= bucket_top(b), "{v} in {b}");
            assert!(b == 0 || v > bucket_top(b - 1), "{v} in {b}");
            last = b;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_a_bucket() {
        let mut h = LocalHistogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000); // 1 us .. 1 ms
        }
        let shared = SharedHistogram::new();
        h.flush_into(&shared);
        let mut all = [0u64; BUCKETS];
        shared.drain_into(&mut all);
        let p50 = quantile(&all, 0.5).unwrap();
        let p99 = quantile(&all, 0.99).unwrap();
        assert!((500_000..=500_000 * 107 / 100).contains(&p50), "{p50}");
        assert!((990_000..=990_000 * 107 / 100).contains(&p99), "{p99}");
        assert_eq!(quantile(&[0; BUCKETS], 0.5), None);
    }
}
