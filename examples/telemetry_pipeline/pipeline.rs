//! Wiring: builds the stages, runs them, prints the stats lines, shuts down in order and
//! checks that every event is accounted for.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use milonga::dispatch::{DispatchStats, Dispatcher};

use crate::aggregate::Summary;
use crate::books::Books;
use crate::clock;
use crate::config::{Config, Policy, SinkSpec};
use crate::event::{Kind, MAX_SIZE};
use crate::intake::{self, Direct, Intake, Overwrite, PumpReport};
use crate::sensors::{self, Sensor};
use crate::sink::{CountSink, FailSink, FileSink, Retry, Sink, SlowSink};
use crate::stats::{self, quantile, si, PumpCounts, SensorCounts, SharedHistogram, WorkerCounts};
use crate::worker::{self, WorkerEnd};

/// What every stage publishes and the stats lines read.
#[derive(Debug)]
pub struct Board {
    /// Per sensor thread.
    pub sensors: Vec<SensorCounts>,
    /// The overwrite pump's.
    pub pump: PumpCounts,
    /// Per worker.
    pub workers: Vec<WorkerCounts>,
    /// Latency from `tsorig` to the sink, drained by the stats lines.
    pub latency: SharedHistogram,
    /// The sliding-window summary of each sensor, by id, as its worker last stored it.
    pub windows: Mutex<Vec<Summary>>,
}

/// The built-in sinks (`file`, `count`, `slow`, `fail`): one handle per worker.
///
/// # Errors
/// The file cannot be created, or the sink is not a built-in one.
pub fn builtin_sinks(cfg: &Config) -> Result<Vec<Box<dyn Sink>>, String> {
    let workers = cfg.workers;
    let boxed = |f: &dyn Fn(usize) -> Box<dyn Sink>| (0..workers).map(f).collect();
    Ok(match &cfg.sink {
        SinkSpec::File(path) => FileSink::create(path, cfg.file_max_bytes, workers)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .collect(),
        SinkSpec::Count => boxed(&|_| Box::new(CountSink)),
        SinkSpec::Slow(d) => boxed(&|_| Box::new(SlowSink(*d))),
        SinkSpec::Fail(rate) => boxed(&|k| Box::new(FailSink::new(*rate, k as u64 + 1))),
        SinkSpec::Other(name, _) => return Err(format!("unknown sink {name}")),
    })
}

/// How a run ended, and whether its books balance.
#[derive(Debug)]
pub struct Outcome {
    /// Every check held.
    pub balanced: bool,
}

/// Runs the pipeline with `sinks` (one per worker) until `stop` is set (a signal), the
/// duration passes or the sensors generated their events; then shuts down and reports.
///
/// # Errors
/// A stage could not be built or started.
pub fn run(
    cfg: &Config,
    sinks: Vec<Box<dyn Sink>>,
    stop: Arc<AtomicBool>,
) -> Result<Outcome, String> {
    clock::init();
    assert_eq!(sinks.len(), cfg.workers, "one sink handle per worker");
    let board = Arc::new(Board {
        sensors: (0..cfg.producers)
            .map(|_| SensorCounts::default())
            .collect(),
        pump: PumpCounts::default(),
        workers: (0..cfg.workers).map(|_| WorkerCounts::default()).collect(),
        latency: SharedHistogram::new(),
        windows: Mutex::new(vec![Summary::EMPTY; cfg.sensors as usize]),
    });
    print_header(cfg);

    // Batching: one dispatcher per worker, sharing the pipeline's clock.
    let mut dispatchers = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..cfg.workers {
        let (tx, rx) = Dispatcher::builder()
            .interval(cfg.interval)
            .max_batch_bytes(cfg.batch_bytes)
            .max_items(cfg.queue_events)
            .max_item_bytes(MAX_SIZE)
            .max_buffered_bytes(cfg.queue_bytes)
            .clock(Arc::new(clock::now))
            .build()
            .map_err(|e| format!("dispatcher: {e}"))?;
        dispatchers.push(tx);
        receivers.push(rx);
    }
    let retry = Retry {
        attempts: cfg.attempts,
        backoff: cfg.backoff,
        backoff_max: cfg.backoff_max,
    };
    let start = Instant::now();
    let run_start = clock::now();

    // Workers.
    let mut worker_threads = Vec::new();
    for (k, (rx, sink)) in receivers.into_iter().zip(sinks).enumerate() {
        let board = board.clone();
        let (workers, sensors, pin, spin) = (cfg.workers, cfg.sensors, cfg.pin, cfg.spin);
        let mut rx = rx;
        if spin {
            rx.set_wait(milonga::wait::Strategy::SpinThenYield { spins: 64 });
        }
        worker_threads.push(spawn(format!("worker-{k}"), move || {
            if pin {
                pin_to(k);
            }
            worker::run(k, workers, sensors, rx, sink, retry, &board)
        })?);
    }

    // Ingest: straight into the dispatchers, or through overwrite rings and the pump.
    let mut intakes = Vec::new();
    let mut pump_thread = None;
    let pump_stop = Arc::new(AtomicBool::new(false));
    if cfg.policy == Policy::Overwrite {
        let mut rings = Vec::new();
        for _ in 0..cfg.producers {
            let (tx, rx) = Overwrite::ring(cfg.ring_depth);
            intakes.push(Intake::Overwrite(Box::new(tx)));
            rings.push(rx);
        }
        let (board, ds, pump_stop) = (board.clone(), dispatchers.clone(), pump_stop.clone());
        pump_thread = Some(spawn("pump".into(), move || {
            intake::pump(rings, &ds, &board.pump, &pump_stop)
        })?);
    } else {
        for _ in 0..cfg.producers {
            intakes.push(Intake::Direct(Direct::new(dispatchers.clone(), cfg.policy)));
        }
    }

    // Sensors: sensor s belongs to thread s % producers.
    let sensor_stop = Arc::new(AtomicBool::new(false));
    let mut sensor_threads = Vec::new();
    for (p, intake) in intakes.into_iter().enumerate() {
        let mine: Vec<Sensor> = (0..cfg.sensors)
            .filter(|s| *s as usize % cfg.producers == p)
            .map(|s| Sensor::new(s, sensors::limit(cfg.events, cfg.sensors, s)))
            .collect();
        let (board, stop, format) = (board.clone(), sensor_stop.clone(), cfg.format);
        let pin = cfg.pin;
        sensor_threads.push(spawn(format!("sensors-{p}"), move || {
            if pin {
                pin_to(p);
            }
            sensors::run(mine, format, p as u64 + 1, intake, &board.sensors[p], &stop)
        })?);
    }

    // Stats lines until a signal, the duration, or the sensors are done.
    let mut lines = Lines::new(cfg, run_start);
    let why = loop {
        std::thread::sleep(Duration::from_millis(20));
        if stop.load(Relaxed) {
            break "signal";
        }
        if cfg.duration.is_some_and(|d| start.elapsed() >= d) {
            break "duration";
        }
        if sensor_threads.iter().all(|t| t.is_finished()) {
            break "events";
        }
        lines.tick(&board, &dispatchers, false);
    };
    let stopped_at = clock::now();

    // Shutdown, in order: sensors, pump, dispatchers (which deliver what they accepted),
    // workers.
    sensor_stop.store(true, Relaxed);
    let mut generated = vec![0u64; cfg.sensors as usize];
    for t in sensor_threads {
        for (id, n) in join(t) {
            generated[id as usize] = n;
        }
    }
    pump_stop.store(true, Relaxed);
    let pump = pump_thread.map(join).unwrap_or_default();
    let shutdown_errors: Vec<String> = dispatchers
        .iter()
        .enumerate()
        .filter_map(|(k, d)| {
            d.shutdown(Duration::from_secs(60))
                .err()
                .map(|e| format!("dispatcher {k}: {e}"))
        })
        .collect();
    let ends: Vec<WorkerEnd> = worker_threads.into_iter().map(join).collect();
    let finished_at = clock::now();
    lines.tick(&board, &dispatchers, true);
    let dstats: Vec<DispatchStats> = dispatchers.iter().map(Dispatcher::stats).collect();
    drop(dispatchers);

    let report = Final {
        cfg,
        why,
        board: &board,
        generated: &generated,
        pump,
        dstats: &dstats,
        ends: &ends,
        shutdown_errors: &shutdown_errors,
        run_ns: stopped_at.saturating_sub(run_start),
        total_ns: finished_at.saturating_sub(run_start),
        latency: &lines.all_latency,
    };
    let balanced = report.print();
    if let Some(path) = &cfg.accepted_out {
        // Written whole, then renamed: a checker waiting for the file never reads half.
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, report.accepted_json())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(Outcome { balanced })
}

fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, String> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|e| format!("cannot start {name}: {e}"))
}

/// Pins the calling thread to core `k % cores` (Linux; elsewhere nothing).
fn pin_to(k: usize) {
    #[cfg(target_os = "linux")]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: `set` is a plain bit mask on the stack; sched_setaffinity only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(k % cores, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = k;
}

fn join<T>(t: std::thread::JoinHandle<T>) -> T {
    t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn print_header(cfg: &Config) {
    let sink = match &cfg.sink {
        SinkSpec::File(p) => format!("file {}", p.display()),
        SinkSpec::Count => "count".into(),
        SinkSpec::Slow(d) => format!("slow ({d:?} per batch)"),
        SinkSpec::Fail(r) => format!("fail (each attempt with p={r})"),
        SinkSpec::Other(n, a) => format!("{n} {}", a.as_deref().unwrap_or("")),
    };
    println!(
        "telemetry_pipeline: {} sensors on {} threads, {} workers, policy {:?}, sink {sink}, \
         format {:?}, batches of {} B or {:?}",
        cfg.sensors,
        cfg.producers,
        cfg.workers,
        cfg.policy,
        cfg.format,
        cfg.batch_bytes,
        cfg.interval
    );
}

/// Sums of the board's counts at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    generated: u64,
    ingested: u64,
    full: u64,
    timed_out: u64,
    refused: u64,
    overwritten: u64,
    events: u64,
    bytes: u64,
    batches: u64,
    delivered: u64,
    failed: u64,
    failed_batches: u64,
    retries: u64,
    malformed: u64,
    gaps: u64,
    disorder: u64,
}

impl Totals {
    fn read(b: &Board) -> Totals {
        let mut t = Totals {
            overwritten: b.pump.overwritten.get(),
            refused: b.pump.refused_closed.get(),
            ..Totals::default()
        };
        for s in &b.sensors {
            t.generated += s.generated.get();
            t.ingested += s.ingested.get();
            t.full += s.dropped_full.get();
            t.timed_out += s.dropped_timeout.get();
            t.refused += s.refused_closed.get();
        }
        for w in &b.workers {
            t.events += w.events.get();
            t.bytes += w.bytes.get();
            t.batches += w.batches.get();
            t.delivered += w.delivered.get();
            t.failed += w.failed.get();
            t.failed_batches += w.failed_batches.get();
            t.retries += w.retries.get();
            t.malformed += w.malformed.get();
            t.gaps += w.gaps.get();
            t.disorder += w.disorder.get();
        }
        t
    }
}

/// The stats lines: one every `stats_every`, the window summaries every ten.
struct Lines {
    every: Option<u64>,
    start: u64,
    last_at: u64,
    last: Totals,
    printed: u64,
    interval_latency: Box<[u64; stats::BUCKETS]>,
    all_latency: Box<[u64; stats::BUCKETS]>,
}

impl Lines {
    fn new(cfg: &Config, start: u64) -> Self {
        Lines {
            every: cfg.stats_every.map(|d| d.as_nanos() as u64),
            start,
            last_at: start,
            last: Totals::default(),
            printed: 0,
            interval_latency: Box::new([0; stats::BUCKETS]),
            all_latency: Box::new([0; stats::BUCKETS]),
        }
    }

    /// Prints a line if one is due (or `last`: drains the latency counts only).
    fn tick(&mut self, b: &Board, dispatchers: &[Dispatcher], last: bool) {
        let now = clock::now();
        let due = self.every.is_some_and(|e| now - self.last_at >= e);
        if !due && !last {
            return;
        }
        self.interval_latency.fill(0);
        b.latency.drain_into(&mut self.interval_latency);
        for (a, i) in self
            .all_latency
            .iter_mut()
            .zip(self.interval_latency.iter())
        {
            *a += i;
        }
        if last {
            return;
        }
        let t = Totals::read(b);
        let secs = (now - self.last_at) as f64 / 1e9;
        let rate = |a: u64, b: u64| si(a.saturating_sub(b) as f64 / secs);
        let lag: u64 = dispatchers.iter().map(|d| d.stats().pending_items).sum();
        println!(
            "{:>7.1}s in {}/s out {}/s | dropped full {} timeout {} overwritten {} | gaps {} | \
             lag {} | batches {}/s | retries {} failed {} | p50 {} p99 {}",
            (now - self.start) as f64 / 1e9,
            rate(t.generated, self.last.generated),
            rate(t.delivered, self.last.delivered),
            si(t.full as f64),
            si(t.timed_out as f64),
            si(t.overwritten as f64),
            si(t.gaps as f64),
            si(lag as f64),
            rate(t.batches, self.last.batches),
            si(t.retries as f64),
            si(t.failed as f64),
            stats::ns(quantile(&self.interval_latency, 0.5)),
            stats::ns(quantile(&self.interval_latency, 0.99)),
        );
        self.printed += 1;
        if self.printed.is_multiple_of(10) {
            println!("{}", window_line(b));
        }
        self.last = t;
        self.last_at = now;
    }
}

/// The 60-second windows, summed by kind.
fn window_line(b: &Board) -> String {
    let windows = b.windows.lock().unwrap_or_else(|p| p.into_inner());
    let mut by_kind = [Summary::EMPTY; 4];
    for (id, s) in windows.iter().enumerate() {
        by_kind[Kind::of_sensor(id as u32) as usize].merge(s);
    }
    let mut line = String::from("  last 60 s:");
    for k in Kind::ALL {
        let s = &by_kind[k as usize];
        if let Some(mean) = s.mean() {
            let _ = write!(
                line,
                " {} n {} min {:.3} max {:.3} mean {:.3};",
                k.name(),
                si(s.count as f64),
                s.min as f64 / 1e3,
                s.max as f64 / 1e3,
                mean / 1e3
            );
        }
    }
    line
}

/// The final report and its checks.
struct Final<'a> {
    cfg: &'a Config,
    why: &'static str,
    board: &'a Board,
    generated: &'a [u64],
    pump: PumpReport,
    dstats: &'a [DispatchStats],
    ends: &'a [WorkerEnd],
    shutdown_errors: &'a [String],
    run_ns: u64,
    total_ns: u64,
    latency: &'a [u64; stats::BUCKETS],
}

impl Final<'_> {
    /// Prints the report; true if every check held.
    fn print(&self) -> bool {
        let t = Totals::read(self.board);
        let secs = self.total_ns as f64 / 1e9;
        let generated: u64 = self.generated.iter().sum();
        let accepted_lib: u64 = self.dstats.iter().map(DispatchStats::accepted).sum();
        let lib_dropped: u64 = self
            .dstats
            .iter()
            .map(|d| d.dropped + d.pending_items)
            .sum();
        let lib_full: u64 = self.dstats.iter().map(|d| d.refused_queue_full).sum();
        let lib_timed_out: u64 = self.dstats.iter().map(|d| d.refused_timed_out).sum();
        let accepted = if self.cfg.policy == Policy::Overwrite {
            self.pump.forwarded
        } else {
            t.ingested
        };
        let dropped = t.full + t.timed_out + self.pump.overwritten + t.refused;
        let mut lost_by_seq = 0u64;
        let mut seen = 0u64;
        let mut per_sensor_ok = true;
        for end in self.ends {
            for s in &end.sensors {
                let g = self.generated[s.id as usize];
                lost_by_seq += s.tally.lost(g);
                seen += s.tally.seen;
                per_sensor_ok &= s.tally.seen + s.tally.lost(g) == g;
            }
        }
        println!(
            "telemetry_pipeline: stopped by {} after {:.2} s; everything delivered after {:.2} s",
            self.why,
            self.run_ns as f64 / 1e9,
            secs
        );
        println!(
            "  generated  {generated} events ({}/s)",
            si(generated as f64 / secs)
        );
        println!("  accepted   {accepted} by the dispatchers (their own count: {accepted_lib})");
        println!(
            "  delivered  {} events ({}/s, {:.1} MB/s, mean {:.0} B/event) in {} batches",
            t.delivered,
            si(t.delivered as f64 / secs),
            t.bytes as f64 / secs / 1e6,
            t.bytes as f64 / t.events.max(1) as f64,
            t.batches
        );
        println!(
            "  failed     {} events in {} batches, dead-lettered after {} attempts; {} retries",
            t.failed, t.failed_batches, self.cfg.attempts, t.retries
        );
        println!(
            "  dropped    {dropped}: full {}, timeout {}, overwritten {} (the lossy consumers \
             counted {}), refused while closing {}",
            t.full, t.timed_out, self.pump.overwritten, self.pump.lost_by_consumers, t.refused
        );
        println!(
            "  seqs       {lost_by_seq} missing at the workers ({} in gaps, the rest before the \
             first or after the last event seen), {} out of order, {} malformed",
            t.gaps, t.disorder, t.malformed
        );
        println!(
            "  latency    p50 {} p99 {} p99.9 {} max {} (tsorig to sink)",
            stats::ns(quantile(self.latency, 0.5)),
            stats::ns(quantile(self.latency, 0.99)),
            stats::ns(quantile(self.latency, 0.999)),
            stats::ns(quantile(self.latency, 1.0)),
        );
        println!("{}", window_line(self.board));
        for end in self.ends {
            if let Some(e) = &end.last_error {
                println!("  sink error (last): {e}");
            }
            if let Some(e) = &end.close_error {
                println!("  sink error at close: {e}");
            }
        }
        for e in self.shutdown_errors {
            println!("  shutdown: {e}");
        }

        let books = Books {
            generated,
            accepted,
            accepted_by_dispatchers: accepted_lib,
            lost_in_dispatchers: lib_dropped,
            full: t.full,
            full_by_dispatchers: lib_full,
            timed_out: t.timed_out,
            timed_out_by_dispatchers: lib_timed_out,
            overwritten: self.pump.overwritten,
            lost_by_consumers: self.pump.lost_by_consumers,
            refused: t.refused,
            events: t.events,
            seen,
            delivered: t.delivered,
            failed: t.failed,
            lost_by_seq,
            per_sensor_ok,
            disorder: t.disorder,
            malformed: t.malformed,
            shutdown_ok: self.shutdown_errors.is_empty(),
        };
        for (what, held) in books.checks() {
            if !held {
                println!("  CHECK FAILED: {what}");
            }
        }
        let ok = books.balanced();
        println!(
            "  accounting {}",
            if ok {
                "ok: every event is accounted for"
            } else {
                "MISMATCH"
            }
        );
        ok
    }

    /// Per-sensor counts for a checker: `{"generated":[...],"accepted":[...],"delivered":[...]}`
    /// indexed by sensor id.
    fn accepted_json(&self) -> String {
        let n = self.cfg.sensors as usize;
        let (mut accepted, mut delivered) = (vec![0u64; n], vec![0u64; n]);
        for end in self.ends {
            for s in &end.sensors {
                accepted[s.id as usize] = s.tally.seen;
                delivered[s.id as usize] = s.delivered;
            }
        }
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        format!(
            "{{\"sensors\":{n},\"generated\":[{}],\"accepted\":[{}],\"delivered\":[{}]}}\n",
            list(self.generated),
            list(&accepted),
            list(&delivered)
        )
    }
}
