//! A worker: takes its dispatcher's batches, writes each to the sink (with retry), then
//! reads its events once: gap tracking, the sliding windows, and latency from `tsorig` to
//! the moment the sink took the batch.
//!
//! Worker `k` owns the sensors `s` with `s % workers == k`, in slot `s / workers` of its
//! tables, which are allocated before it starts: nothing is allocated per batch or event.

use std::time::Duration;

use milonga::dispatch::Batches;

use crate::aggregate::Windows;
use crate::clock;
use crate::event::Event;
use crate::gaps::{Gaps, Tally};
use crate::pipeline::Board;
use crate::sink::{Retry, Sink};
use crate::stats::LocalHistogram;

/// How often a worker publishes its latency counts and window summaries.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// What a worker knows at its end about one of its sensors.
#[derive(Clone, Copy, Debug)]
pub struct SensorEnd {
    /// The sensor.
    pub id: u32,
    /// Its seqs as seen.
    pub tally: Tally,
    /// Its events in batches the sink took.
    pub delivered: u64,
}

/// What a worker reports when its stream ends.
#[derive(Debug)]
pub struct WorkerEnd {
    /// Its sensors.
    pub sensors: Vec<SensorEnd>,
    /// The sink's last error, if any.
    pub last_error: Option<String>,
    /// The sink's error at close, if any.
    pub close_error: Option<String>,
}

/// Runs worker `index` of `workers` until its stream ends.
pub fn run(
    index: usize,
    workers: usize,
    sensors: u32,
    mut rx: Batches,
    mut sink: Box<dyn Sink>,
    retry: Retry,
    board: &Board,
) -> WorkerEnd {
    let ids: Vec<u32> = (0..sensors)
        .filter(|s| *s as usize % workers == index)
        .collect();
    let slots = ids.len();
    let mut gaps = Gaps::new();
    let mut windows = Windows::new(slots);
    let mut latency = LocalHistogram::new();
    let mut delivered_by = vec![0u64; slots];
    let counts = &board.workers[index];
    let (mut events, mut bytes, mut batches) = (0u64, 0u64, 0u64);
    let (mut delivered, mut failed, mut failed_batches) = (0u64, 0u64, 0u64);
    let (mut retries, mut malformed) = (0u64, 0u64);
    let mut last_error = None;
    let mut last_publish = clock::now();

    while let Some(batch) = rx.next_batch() {
        let outcome = retry.write(&mut *sink, &batch);
        let now = clock::now();
        retries += outcome.retries as u64;
        if let Some(e) = outcome.last_error {
            last_error = Some(e.to_string());
        }
        let n = batch.len() as u64;
        if outcome.delivered {
            delivered += n;
        } else {
            failed += n;
            failed_batches += 1;
        }
        for item in &batch {
            let e = match Event::decode(item) {
                Ok(e) if e.sensor as usize % workers == index && e.sensor < sensors => e,
                _ => {
                    malformed += 1;
                    continue;
                }
            };
            let slot = e.sensor as usize / workers;
            gaps.observe(e.sensor, e.seq);
            windows.add(slot, e.tsorig, e.value);
            if outcome.delivered {
                latency.record(now.saturating_sub(e.tsorig));
                delivered_by[slot] += 1;
            }
        }
        events += n;
        bytes += batch.bytes() as u64;
        batches += 1;
        drop(batch); // the items go back to the dispatcher: room for new events

        counts.events.set(events);
        counts.bytes.set(bytes);
        counts.batches.set(batches);
        counts.delivered.set(delivered);
        counts.failed.set(failed);
        counts.failed_batches.set(failed_batches);
        counts.retries.set(retries);
        counts.malformed.set(malformed);
        let totals = gaps.totals();
        counts.gaps.set(totals.missing);
        counts.disorder.set(totals.disorder + totals.untracked);
        if now.saturating_sub(last_publish) >= PUBLISH_EVERY.as_nanos() as u64 {
            last_publish = now;
            publish(&mut latency, &windows, &ids, now, board);
        }
    }
    let close_error = sink.close().err().map(|e| e.to_string());
    publish(&mut latency, &windows, &ids, clock::now(), board);
    WorkerEnd {
        sensors: ids
            .iter()
            .enumerate()
            .map(|(slot, &id)| SensorEnd {
                id,
                tally: gaps.tally(id),
                delivered: delivered_by[slot],
            })
            .collect(),
        last_error,
        close_error,
    }
}

/// Adds the latency counts to the board's and stores the window summaries there.
fn publish(latency: &mut LocalHistogram, windows: &Windows, ids: &[u32], now: u64, b: &Board) {
    latency.flush_into(&b.latency);
    let mut summaries = b.windows.lock().unwrap_or_else(|p| p.into_inner());
    for (slot, &id) in ids.iter().enumerate() {
        summaries[id as usize] = windows.summary(slot, now);
    }
}
