//! The classic four-stage telemetry pipeline on milonga, runnable with one command:
//!
//! ```text
//! cargo run --release --example telemetry_pipeline                 # until Ctrl-C, JSON lines to a file
//! cargo run --release --example telemetry_pipeline -- --duration 10 --sink count
//! cargo run --release --example telemetry_pipeline -- --duration 5 --policy overwrite --sink slow:2000
//! cargo run --release --example telemetry_pipeline -- --help
//! ```
//!
//! # Stages
//!
//! 1. **Sensors** (`sensors.rs`, `event.rs`): simulated vision detectors, PLC cycle
//!    counters, temperature probes and vibration sensors, each with its own seq. Events
//!    are a flat binary record or a JSON object (`--format`), 50 to 400 bytes, mean about
//!    160, stamped with `tsorig` from one process-wide clock (`clock.rs`). Sensor threads
//!    (`--producers`) sample their sensors in turn, flat out, into one reused buffer.
//! 2. **Ingest with a drop policy** (`intake.rs`, `--policy`): `reject` refuses an event
//!    when the worker's dispatcher is full, `block[:ms]` waits for room (up to a timeout),
//!    `overwrite` has each sensor thread publish into a ring of its own that overwrites its
//!    oldest events when the pump reading it falls behind. Every drop is counted by reason.
//! 3. **Batching by bytes and time**: one `milonga::dispatch` dispatcher per worker; a
//!    batch closes at `--batch-bytes` or `--interval-ms` after its first event. Sensor `s`
//!    goes to dispatcher `s % workers`, so all its events reach one worker, in order.
//! 4. **Workers and sink** (`worker.rs`, `sink.rs`): each worker writes its batches to the
//!    sink as the dispatcher lends them (zero-copy: the only copy of an event is the
//!    enqueue into the dispatcher's ring), retrying a failed write with bounded exponential
//!    backoff (`--attempts`, `--backoff-ms`); after the last attempt the batch is
//!    dead-lettered (counted as failed) and released, so a failing sink cannot hold the
//!    pipeline hostage. Sinks: `file` (JSON lines, the default, rotated at `--file-max-mb`),
//!    `count`, `slow:<us>`
//!    (a slow downstream), `fail[:rate]` (a failing one). The NATS sink is in
//!    `examples/telemetry-nats`, which reuses these modules.
//! 5. **Sliding windows** (`aggregate.rs`): per sensor, count, min, max and mean over the
//!    last 60 seconds, in one-second buckets; each worker keeps its sensors' windows.
//! 6. **Stats** (`stats.rs`): a line every second: events in and out per second, dropped
//!    by reason, seq gaps seen by the workers, lag (events accepted and not yet
//!    delivered), batches, retries, dead-lettered events, p50/p99 latency from `tsorig` to
//!    the sink; the windows by kind every ten lines.
//!
//! # Shutdown and accounting
//!
//! Ctrl-C or SIGTERM (a second one ends the process at once), `--duration` or `--events`
//! stop the sensors; then the pump drains the overwrite rings, each dispatcher is shut down
//! (it delivers everything it accepted) and the workers end with their streams. Nothing
//! accepted is lost. The final report checks that the books balance:
//!
//! - generated = accepted + dropped (by reason), and the dispatchers' own counts agree;
//! - accepted = seen by the workers = delivered + dead-lettered;
//! - the seqs missing at the workers equal the drops, sensor by sensor;
//! - the overwritten events equal what the lossy consumers counted;
//! - no event out of order, malformed or refused while closing.
//!
//! The exit status is 1 if any check fails, 2 for a bad command line.
//!
//! # Flags
//!
//! See `--help` (or `config.rs`): `--sensors 16`, `--producers` and `--workers` (one per
//! core), `--policy block`, `--sink file`, `--format mixed`, `--duration`, `--events`,
//! `--batch-bytes 65536`, `--interval-ms 20`, `--queue-events 32768`,
//! `--queue-bytes 4194304`, `--ring-depth 8192`, `--attempts 5`, `--backoff-ms 1`,
//! `--backoff-max-ms 100`, `--file-max-mb 256`, `--stats-ms 1000`, `--pin 1` (Linux),
//! `--spin 0`, `--accepted-out PATH`.

mod aggregate;
mod books;
mod clock;
mod config;
mod event;
mod gaps;
mod intake;
mod pipeline;
mod sensors;
mod sink;
mod stats;
mod worker;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use config::{Config, ConfigError};

fn main() -> ExitCode {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(ConfigError::Help) => {
            println!("telemetry_pipeline: sensors -> ingest -> batching -> workers -> sink\n");
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("telemetry_pipeline: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = match signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("telemetry_pipeline: cannot catch signals: {e}");
            return ExitCode::from(2);
        }
    };
    let sinks = match pipeline::builtin_sinks(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("telemetry_pipeline: {e}");
            return ExitCode::from(2);
        }
    };
    match pipeline::run(&cfg, sinks, stop) {
        Ok(outcome) if outcome.balanced => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("telemetry_pipeline: {e}");
            ExitCode::from(2)
        }
    }
}

/// A flag set by SIGINT or SIGTERM; a second signal ends the process at once.
fn signals() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}
