//! Criterion benchmarks of the tag cache (`cargo bench --bench tcache`).
//!
//! - `tcache_full_insert`: the steady state of a deduplicator that sees new tags: one
//!   insert of a new tag into a FULL cache, so every insert also evicts the oldest tag.
//!   `inline/N` is a `Tcache<N>` (N = 256 to 65536), `heap/N` a `HeapTcache` of depth N
//!   (N = 256 to 2^20). Each cache is built and filled with N distinct tags outside the
//!   timed region; the tags are a Weyl sequence (distinct, random-looking). The cost
//!   should not grow with N as long as the cache fits the CPU caches (40 bytes per tag);
//!   beyond, each insert pays cache misses (the new tag's map slot and the evicted tag's).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use milonga::{HeapTcache, Tcache};

/// The Weyl sequence's step (odd: `k * STEP` is distinct for every `k`).
const STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fills `insert`'s cache with `depth` new tags, then times one new tag per iteration.
fn full_insert(c: &mut Criterion, name: &str, depth: usize, mut insert: impl FnMut(u64) -> bool) {
    let mut tag = 0u64;
    for _ in 0..depth {
        tag = tag.wrapping_add(STEP);
        assert!(!insert(tag), "new tags");
    }
    let mut g = c.benchmark_group("tcache_full_insert");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new(name, depth), |b| {
        b.iter(|| {
            tag = tag.wrapping_add(STEP);
            black_box(insert(black_box(tag)))
        });
    });
    g.finish();
}

fn inline<const N: usize>(c: &mut Criterion) {
    let mut tc: Box<Tcache<N>> = Box::default();
    full_insert(c, "inline", N, |t| tc.insert(t));
    assert_eq!(tc.len(), N);
}

fn heap(c: &mut Criterion, depth: usize) {
    let mut tc = HeapTcache::new(depth).unwrap();
    full_insert(c, "heap", depth, |t| tc.insert(t));
    assert_eq!(tc.len(), depth);
}

/// Inline and heap caches of each depth.
fn full(c: &mut Criterion) {
    inline::<256>(c);
    inline::<4096>(c);
    inline::<16384>(c);
    inline::<65536>(c);
    for depth in [256, 4096, 16384, 65536, 1 << 20] {
        heap(c, depth);
    }
}

/// The groups and their configuration (see `common::config`). (A private module, so the
/// function `criterion_group!` generates needs no doc.)
mod groups {
    use super::*;

    criterion_group! {
        name = benches;
        config = common::config();
        targets = full
    }
}
criterion_main!(groups::benches);
