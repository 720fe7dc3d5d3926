//! The telemetry pipeline (`examples/telemetry_pipeline`, whose modules this binary
//! includes as they are) with one more sink: `--sink nats[:url]` publishes every event to
//! `telemetry.<sensor>` on a NATS server (default `nats://127.0.0.1:4222`). Every other
//! flag and sink is the pipeline's (`--help`).
//!
//! ```text
//! nats-server -a 127.0.0.1 -p 4222 &
//! cargo run --release --bin nats_check -- --url nats://127.0.0.1:4222 --accepted /tmp/counts.json &
//! cargo run --release --bin telemetry_nats -- --sink nats --events 2000000 --accepted-out /tmp/counts.json
//! ```
//!
//! One connection (one `async_nats::Client`) serves every worker; a tokio runtime with one
//! thread drives it, and each worker publishes its batch from its own thread with
//! `Handle::block_on`. Exit status as the pipeline's.

#[path = "../../telemetry_pipeline/aggregate.rs"]
mod aggregate;
#[path = "../../telemetry_pipeline/books.rs"]
mod books;
#[path = "../../telemetry_pipeline/clock.rs"]
mod clock;
#[path = "../../telemetry_pipeline/config.rs"]
mod config;
#[path = "../../telemetry_pipeline/event.rs"]
mod event;
#[path = "../../telemetry_pipeline/gaps.rs"]
mod gaps;
#[path = "../../telemetry_pipeline/intake.rs"]
mod intake;
mod nats_sink;
#[path = "../../telemetry_pipeline/pipeline.rs"]
mod pipeline;
#[path = "../../telemetry_pipeline/sensors.rs"]
mod sensors;
#[path = "../../telemetry_pipeline/sink.rs"]
mod sink;
#[path = "../../telemetry_pipeline/stats.rs"]
mod stats;
#[path = "../../telemetry_pipeline/worker.rs"]
mod worker;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use config::{Config, ConfigError, SinkSpec};
use sink::Sink;

const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

fn main() -> ExitCode {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(ConfigError::Help) => {
            println!("telemetry_nats: the telemetry pipeline, with --sink nats[:url]\n");
            println!("{}", config::USAGE);
            println!("  --sink nats[:url]    publish to telemetry.<sensor> ({DEFAULT_URL})");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("telemetry_nats: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let registered = signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()));
        if let Err(e) = registered {
            eprintln!("telemetry_nats: cannot catch signals: {e}");
            return ExitCode::from(2);
        }
    }
    // The runtime lives as long as the sinks that use it.
    let mut nats = None;
    let sinks: Vec<Box<dyn Sink>> = match &cfg.sink {
        SinkSpec::Other(name, url) if name == "nats" => {
            let url = url.as_deref().unwrap_or(DEFAULT_URL);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("telemetry_nats: tokio: {e}");
                    return ExitCode::from(2);
                }
            };
            let client = match rt.block_on(async_nats::connect(url)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("telemetry_nats: cannot connect to {url}: {e}");
                    return ExitCode::from(2);
                }
            };
            let handles =
                nats_sink::NatsSink::handles(&client, rt.handle(), cfg.sensors, cfg.workers);
            nats = Some((rt, client));
            handles
                .into_iter()
                .map(|s| Box::new(s) as Box<dyn Sink>)
                .collect()
        }
        _ => match pipeline::builtin_sinks(&cfg) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("telemetry_nats: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let outcome = pipeline::run(&cfg, sinks, stop);
    if let Some((rt, client)) = nats {
        // Every batch was flushed already; this drains the connection before it closes.
        if let Err(e) = rt.block_on(client.flush()) {
            eprintln!("telemetry_nats: final flush: {e}");
        }
    }
    match outcome {
        Ok(o) if o.balanced => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("telemetry_nats: {e}");
            ExitCode::from(2)
        }
    }
}
