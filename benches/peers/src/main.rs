//! The peer comparison: the same scenarios on milonga and on other queues, producer and
//! consumer pinned to cores 0 and 1, busy-polling, every received value verified, the
//! median of several runs, and each peer's ratio to milonga.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml                 # the full run (about 3 minutes)
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- --quick      # a fast smoke run
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- --runs 9 --only ae
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- --only x     # across processes (about 2 minutes)
//! ```
//!
//! Scenarios: (a) 8 B, (b) 64 B, (c) 1 KiB, (d) 10 KiB messages, msg/s and GiB/s;
//! (e) ping-pong round-trip latency; (f) two producers and one consumer; (g) the physical
//! reference (memcpy, and one cache line's round trip between the two cores); (x), not in the
//! default run, the sizes and the ping-pong with producer and consumer in two processes
//! (see [`xproc`]). Scenario (f) has two milonga rows, one per multi-producer design (shared
//! ring and fan-in); its ratios are to the faster of the two.
//!
//! A peer whose delivery fails verification in any run (a value out of order, a torn or
//! corrupt payload, an error, a panic, a stall) is reported as FAILED with the first thing
//! that went wrong, and is not timed.

mod common;
mod mpsc;
mod pingpong;
mod reference;
mod tput;
mod xproc;

use std::time::{Duration, Instant};

use common::{latency_stats, median, CONSUMER_CPU, PRODUCER_CPU};

const GIB: f64 = (1u64 << 30) as f64;

struct Opts {
    runs: usize,
    quick: bool,
    only: String,
}

fn usage(code: i32) -> ! {
    eprintln!(
        "usage: peers [--runs N] [--quick] [--only LETTERS]\n\
         \n  --runs N        runs per peer and scenario; the median is reported (default 5, 1 with --quick)\
         \n  --quick         a fast smoke run: a tenth of the messages and round trips\
         \n  --only LETTERS  only these scenarios, e.g. `--only ae` (a-d sizes, e ping-pong,\
         \n                  f 2 producers, x across processes: not in the default); g, the\
         \n                  reference, always runs, so `--only g` runs just it"
    );
    std::process::exit(code)
}

fn parse_opts() -> Opts {
    let mut runs = None;
    let mut quick = false;
    let mut only = "abcdef".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => usage(0),
            "--quick" => quick = true,
            "--runs" => {
                runs = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&n: &usize| n > 0)
                        .unwrap_or_else(|| usage(2)),
                )
            }
            "--only" => only = args.next().unwrap_or_else(|| usage(2)),
            _ => usage(2),
        }
    }
    Opts {
        runs: runs.unwrap_or(if quick { 1 } else { 5 }),
        quick,
        only,
    }
}

/// What the runs of one peer gave.
enum Outcome<T> {
    Ok(Vec<T>),
    Failed {
        failed: usize,
        runs: usize,
        first: String,
    },
}

/// Runs every peer `runs` times, round-robin (so slow drift of the machine spreads over all
/// peers rather than biasing one), and gathers each peer's outcome.
fn measure_all<F: Copy, T>(
    peers: &[Peer<F>],
    runs: usize,
    mut run: impl FnMut(F) -> Result<T, String>,
) -> Vec<Outcome<T>> {
    let mut oks: Vec<Vec<T>> = peers.iter().map(|_| Vec::new()).collect();
    let mut errs: Vec<Vec<String>> = peers.iter().map(|_| Vec::new()).collect();
    for r in 0..runs {
        for (i, p) in peers.iter().enumerate() {
            match run(p.run) {
                Ok(v) => oks[i].push(v),
                Err(e) => errs[i].push(format!("run {}: {e}", r + 1)),
            }
        }
    }
    oks.into_iter()
        .zip(errs)
        .map(|(ok, err)| {
            if err.is_empty() {
                Outcome::Ok(ok)
            } else {
                Outcome::Failed {
                    failed: err.len(),
                    runs,
                    first: err[0].clone(),
                }
            }
        })
        .collect()
}

fn failed_text(failed: usize, runs: usize, first: &str) -> String {
    format!("FAILED verification in {failed}/{runs} runs; first: {first}")
}

#[derive(Clone, Copy)]
struct Peer<F> {
    name: &'static str,
    run: F,
    note: &'static str,
}

const MILONGA_NOTE: &str = "byte API: try_publish copies in, zero-copy batch reads";

fn spsc_peers<const W: usize, const N: usize, const D: usize>() -> Vec<Peer<tput::TputFn>> {
    vec![
        Peer {
            name: "milonga",
            run: tput::milonga::<W, N, D>,
            note: MILONGA_NOTE,
        },
        Peer {
            name: "rtrb",
            run: tput::rtrb::<W, N, D>,
            note: "typed [u64; N/8], push/pop",
        },
        Peer {
            name: "ringbuf",
            run: tput::ringbuf::<W, N, D>,
            note: "typed, HeapRb try_push/try_pop",
        },
        Peer {
            name: "crossbeam ArrayQueue",
            run: tput::array_queue::<W, N, D>,
            note: "typed, MPMC queue used SPSC",
        },
        Peer {
            name: "crossbeam channel",
            run: tput::channel::<W, N, D>,
            note: "typed, bounded, try_send/try_recv",
        },
        Peer {
            name: "heapless spsc",
            run: tput::heapless::<W, N, D>,
            note: "typed, capacity depth-1",
        },
        Peer {
            name: "disruptor",
            run: tput::disruptor::<W, N, D>,
            note: "typed, single producer, EventPoller batches",
        },
        Peer {
            name: "rust-tango 0.1.2",
            run: tput::tango::<W, N, D>,
            note: "bytes, Fctl credits, zero-copy poll",
        },
    ]
}

const SIG_NAME: &str = "milonga (value in sig)";
const SIG_NOTE: &str = "extra row: empty payload, value in the frag's sig";

/// Adds, after milonga's row, the row of milonga carrying the value in the sig.
fn with_sig_row<F>(mut peers: Vec<Peer<F>>, run: F) -> Vec<Peer<F>> {
    peers.insert(
        1,
        Peer {
            name: SIG_NAME,
            run,
            note: SIG_NOTE,
        },
    );
    peers
}

const BP_NAME: &str = "milonga (batch publish)";
const BP_NOTE: &str = "extra row: try_publish_batch_in_place of 32, batch reads";
const DIS_BP_NAME: &str = "disruptor (batch publish)";
const DIS_BP_NOTE: &str = "extra row: try_batch_publish of 32, EventPoller batches";

/// Adds the rows of milonga and of the disruptor publishing in batches (of
/// `tput::PUBLISH_BATCH`), each after its one-at-a-time row.
fn with_batch_rows<const W: usize, const N: usize, const D: usize>(
    mut peers: Vec<Peer<tput::TputFn>>,
) -> Vec<Peer<tput::TputFn>> {
    let after = |peers: &[Peer<tput::TputFn>], names: &[&str]| {
        names
            .iter()
            .find_map(|n| peers.iter().position(|p| p.name == *n))
            .map_or(peers.len(), |i| i + 1)
    };
    let at = after(&peers, &[SIG_NAME, "milonga"]);
    peers.insert(
        at,
        Peer {
            name: BP_NAME,
            run: tput::milonga_bp::<W, N, D>,
            note: BP_NOTE,
        },
    );
    let at = after(&peers, &["disruptor"]);
    peers.insert(
        at,
        Peer {
            name: DIS_BP_NAME,
            run: tput::disruptor_bp::<W, N, D>,
            note: DIS_BP_NOTE,
        },
    );
    peers
}

struct Size {
    letter: char,
    bytes: usize,
    depth: usize,
    msgs: u64,
    peers: Vec<Peer<tput::TputFn>>,
}

fn sizes(quick: bool) -> Vec<Size> {
    let q = |n: u64| if quick { n / 10 } else { n };
    vec![
        Size {
            letter: 'a',
            bytes: 8,
            depth: 1024,
            msgs: q(10_000_000),
            peers: with_batch_rows::<1, 8, 1024>(with_sig_row(
                spsc_peers::<1, 8, 1024>(),
                tput::milonga_sig::<1024>,
            )),
        },
        Size {
            letter: 'b',
            bytes: 64,
            depth: 1024,
            msgs: q(5_000_000),
            peers: with_batch_rows::<8, 64, 1024>(spsc_peers::<8, 64, 1024>()),
        },
        Size {
            letter: 'c',
            bytes: 1024,
            depth: 256,
            msgs: q(1_000_000),
            peers: spsc_peers::<128, 1024, 256>(),
        },
        Size {
            letter: 'd',
            bytes: 10240,
            depth: 256,
            msgs: q(200_000),
            peers: spsc_peers::<1280, 10240, 256>(),
        },
    ]
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// The physical reference, measured first so the other tables can refer to it.
struct Reference {
    /// (size, hot GiB/s, ring-sized GiB/s, ring slots)
    memcpy: Vec<(usize, f64, f64, usize)>,
    rtt: Option<(f64, f64)>,
}

fn reference(opts: &Opts) -> Reference {
    let time = Duration::from_millis(if opts.quick { 50 } else { 200 });
    let rounds = if opts.quick { 20_000 } else { 200_000 };
    let slots = 256;
    let memcpy = [1024usize, 10240]
        .iter()
        .map(|&size| {
            let mut hot: Vec<f64> = (0..opts.runs)
                .map(|_| reference::memcpy_gibs(size, 1, time))
                .collect();
            let mut ring: Vec<f64> = (0..opts.runs)
                .map(|_| reference::memcpy_gibs(size, slots, time))
                .collect();
            (size, median(&mut hot), median(&mut ring), slots)
        })
        .collect();
    let mut med = Vec::new();
    let mut p99 = Vec::new();
    let mut err = None;
    for _ in 0..opts.runs {
        match reference::atomic_rtt(rounds) {
            Ok(mut s) => {
                let (m, p) = latency_stats(&mut s);
                med.push(m);
                p99.push(p);
            }
            Err(e) => err = Some(e),
        }
    }
    println!(
        "(g) physical reference (measured first; single thread on cpu {PRODUCER_CPU} for memcpy)"
    );
    for &(size, hot, ring, slots) in &memcpy {
        println!(
            "    memcpy {:>6}, same destination (hot):        {hot:>7.2} GiB/s",
            size_name(size)
        );
        println!(
            "    memcpy {:>6}, into {slots} slots in turn (ring): {ring:>7.2} GiB/s",
            size_name(size)
        );
    }
    let rtt = if let Some(e) = err {
        println!("    cache-line round trip: FAILED: {e}");
        None
    } else {
        let (m, p) = (median(&mut med), median(&mut p99));
        println!(
            "    cache-line round trip cpu {PRODUCER_CPU} <-> cpu {CONSUMER_CPU} (one AtomicU64, {rounds} trips): median {m:.0} ns, p99 {p:.0} ns"
        );
        Some((m, p))
    };
    println!();
    Reference { memcpy, rtt }
}

fn throughput(opts: &Opts, size: &Size, refs: &Reference) {
    eprintln!("running ({}) {} ...", size.letter, size_name(size.bytes));
    let outcomes = measure_all(&size.peers, opts.runs, |f| f(size.msgs));
    let rate = |secs: &[f64]| {
        let mut s = secs.to_vec();
        size.msgs as f64 / median(&mut s)
    };
    let base = match &outcomes[0] {
        Outcome::Ok(secs) => Some(rate(secs)),
        Outcome::Failed { .. } => None,
    };
    println!(
        "({}) {} messages: {} per run through a ring of {} slots, median of {} run(s)",
        size.letter,
        size_name(size.bytes),
        size.msgs,
        size.depth,
        opts.runs
    );
    println!(
        "    {:<25} {:>9} {:>8} {:>7} {:>11}  notes",
        "peer", "Mmsg/s", "GiB/s", "spread", "vs milonga"
    );
    for (p, o) in size.peers.iter().zip(&outcomes) {
        match o {
            Outcome::Ok(secs) => {
                let r = rate(secs);
                let min = secs.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = secs.iter().cloned().fold(0.0, f64::max);
                let mut s = secs.clone();
                let spread = (max - min) / median(&mut s) * 100.0;
                let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", r / b));
                println!(
                    "    {:<25} {:>9.2} {:>8.3} {:>6.0}% {:>11}  {}",
                    p.name,
                    r / 1e6,
                    r * size.bytes as f64 / GIB,
                    spread,
                    ratio,
                    p.note
                );
            }
            Outcome::Failed {
                failed,
                runs,
                first,
            } => println!("    {:<25} {}", p.name, failed_text(*failed, *runs, first)),
        }
    }
    if let (Some(b), Some(&(_, hot, ring, slots))) =
        (base, refs.memcpy.iter().find(|m| m.0 == size.bytes))
    {
        let gibs = b * size.bytes as f64 / GIB;
        println!(
            "    milonga moves {gibs:.2} GiB/s = {:.0}% of a hot memcpy ({hot:.2} GiB/s), {:.0}% of a memcpy into {slots} slots ({ring:.2} GiB/s)",
            gibs / hot * 100.0,
            gibs / ring * 100.0
        );
    }
    println!();
}

fn ping_pong(opts: &Opts, refs: &Reference) {
    eprintln!("running (e) ping-pong ...");
    let rounds = if opts.quick { 20_000 } else { 200_000 };
    let peers: Vec<Peer<pingpong::PingFn>> = vec![
        Peer {
            name: "milonga",
            run: pingpong::milonga,
            note: "try_publish / try_recv",
        },
        Peer {
            name: "milonga (batch)",
            run: pingpong::milonga_batch,
            note: "try_publish / try_batch",
        },
        Peer {
            name: SIG_NAME,
            run: pingpong::milonga_sig,
            note: SIG_NOTE,
        },
        Peer {
            name: "rtrb",
            run: pingpong::rtrb,
            note: "",
        },
        Peer {
            name: "ringbuf",
            run: pingpong::ringbuf,
            note: "",
        },
        Peer {
            name: "crossbeam ArrayQueue",
            run: pingpong::array_queue,
            note: "",
        },
        Peer {
            name: "crossbeam channel",
            run: pingpong::channel,
            note: "",
        },
        Peer {
            name: "heapless spsc",
            run: pingpong::heapless,
            note: "",
        },
        Peer {
            name: "disruptor",
            run: pingpong::disruptor,
            note: "EventPoller",
        },
        Peer {
            name: "rust-tango 0.1.2",
            run: pingpong::tango,
            note: "",
        },
    ];
    let outcomes = measure_all(&peers, opts.runs, |f| {
        f(rounds).map(|mut s| latency_stats(&mut s))
    });
    let stats = |v: &[(f64, f64)]| {
        let mut m: Vec<f64> = v.iter().map(|x| x.0).collect();
        let mut p: Vec<f64> = v.iter().map(|x| x.1).collect();
        (median(&mut m), median(&mut p))
    };
    let base = match &outcomes[0] {
        Outcome::Ok(v) => Some(stats(v)),
        Outcome::Failed { .. } => None,
    };
    println!(
        "(e) ping-pong: 8-byte messages, two links of 1024 slots, one message in flight, {rounds} round trips per run, median of {} run(s)",
        opts.runs
    );
    println!(
        "    {:<22} {:>10} {:>10} {:>11}  notes",
        "peer", "median ns", "p99 ns", "vs milonga"
    );
    for (p, o) in peers.iter().zip(&outcomes) {
        match o {
            Outcome::Ok(v) => {
                let (m, p99) = stats(v);
                let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", m / b.0));
                println!(
                    "    {:<22} {m:>10.0} {p99:>10.0} {ratio:>11}  {}",
                    p.name, p.note
                );
            }
            Outcome::Failed {
                failed,
                runs,
                first,
            } => println!("    {:<22} {}", p.name, failed_text(*failed, *runs, first)),
        }
    }
    if let Some((am, ap)) = refs.rtt {
        // milonga's two reads, `try_recv` (row 0) and a one-frag `try_batch` (row 1).
        for (o, read) in outcomes.iter().zip(["try_recv", "try_batch"]) {
            if let Outcome::Ok(v) = o {
                let (m, p99) = stats(v);
                println!(
                    "    milonga's round trip with {read} = {:.2}x the cache-line round trip (median {am:.0} ns), p99 {:.2}x ({ap:.0} ns)",
                    m / am,
                    p99 / ap
                );
            }
        }
    }
    println!("    (ratios: peer latency / milonga latency; above 1 is slower than milonga)");
    println!();
}

fn multi_producer(opts: &Opts) {
    eprintln!("running (f) 2 producers ...");
    let msgs: u64 = if opts.quick { 200_000 } else { 2_000_000 };
    // milonga's designs first: the first `MILONGA_ROWS` rows, the faster one the base.
    const MILONGA_ROWS: usize = 2;
    let peers: Vec<Peer<mpsc::MpscFn>> = vec![
        Peer {
            name: "milonga shared ring",
            run: mpsc::milonga_ring,
            note: "one ring, CAS claim per value, batch reads",
        },
        Peer {
            name: "milonga fan-in",
            run: mpsc::milonga_fan_in,
            note: "SPSC link per producer, round-robin batch reads",
        },
        Peer {
            name: "crossbeam ArrayQueue",
            run: mpsc::array_queue,
            note: "",
        },
        Peer {
            name: "crossbeam channel",
            run: mpsc::channel,
            note: "",
        },
        Peer {
            name: "std sync_channel",
            run: mpsc::std_sync_channel,
            note: "",
        },
        Peer {
            name: "disruptor",
            run: mpsc::disruptor,
            note: "multi producer, EventPoller",
        },
    ];
    let outcomes = measure_all(&peers, opts.runs, |f| f(msgs));
    let total = msgs * mpsc::PRODUCERS as u64;
    let rate = |secs: &[f64]| {
        let mut s = secs.to_vec();
        total as f64 / median(&mut s)
    };
    // The base: the faster milonga design that passed verification.
    let base = peers
        .iter()
        .zip(&outcomes)
        .take(MILONGA_ROWS)
        .filter_map(|(p, o)| match o {
            Outcome::Ok(secs) => Some((p.name, rate(secs))),
            Outcome::Failed { .. } => None,
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let cpus = mpsc::producer_cpus();
    println!(
        "(f) {} producers -> 1 consumer: 8-byte values, {msgs} per producer, rings of {} slots (fan-in: one per producer), median of {} run(s); vs milonga = vs {}",
        mpsc::PRODUCERS,
        mpsc::DEPTH,
        opts.runs,
        base.map_or("nothing (both milonga designs failed)".to_string(), |(name, _)| {
            format!("{name}, the faster milonga design")
        })
    );
    println!(
        "    producers on cpus {cpus:?}, consumer on cpu {CONSUMER_CPU}{}",
        if cpus[0] == cpus[1] {
            " (only 2 cores: the two producers share one, time-sliced by the OS)"
        } else {
            ""
        }
    );
    println!(
        "    {:<22} {:>9} {:>7} {:>11}  notes",
        "peer", "Mmsg/s", "spread", "vs milonga"
    );
    for (p, o) in peers.iter().zip(&outcomes) {
        match o {
            Outcome::Ok(secs) => {
                let r = rate(secs);
                let min = secs.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = secs.iter().cloned().fold(0.0, f64::max);
                let mut s = secs.clone();
                let spread = (max - min) / median(&mut s) * 100.0;
                let ratio = base.map_or("-".to_string(), |(_, b)| format!("{:.2}x", r / b));
                println!(
                    "    {:<22} {:>9.2} {:>6.0}% {:>11}  {}",
                    p.name,
                    r / 1e6,
                    spread,
                    ratio,
                    p.note
                );
            }
            Outcome::Failed {
                failed,
                runs,
                first,
            } => println!("    {:<22} {}", p.name, failed_text(*failed, *runs, first)),
        }
    }
    println!();
}

fn machine() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let avail = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    println!("machine: {model}");
    println!(
        "cores: {logical} logical in /proc/cpuinfo, {avail} available to this process; load average {load}"
    );
    println!(
        "producer (pinger) on cpu {PRODUCER_CPU}, consumer (ponger) on cpu {CONSUMER_CPU}, busy-polling; every value verified"
    );
    let pinned = std::thread::scope(|s| {
        s.spawn(|| common::pin(PRODUCER_CPU) && common::pin(CONSUMER_CPU))
            .join()
            .unwrap_or(false)
    });
    if !pinned {
        println!("WARNING: could not pin to cpus {PRODUCER_CPU} and {CONSUMER_CPU}: numbers are not comparable");
    }
    println!();
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(xproc::CHILD_ARG) {
        xproc::child_main(args.collect());
    }
    let opts = parse_opts();
    common::install_panic_hook();
    let t0 = Instant::now();
    machine();
    let refs = reference(&opts);
    for size in sizes(opts.quick) {
        if opts.only.contains(size.letter) {
            throughput(&opts, &size, &refs);
        }
    }
    if opts.only.contains('e') {
        ping_pong(&opts, &refs);
    }
    if opts.only.contains('f') {
        multi_producer(&opts);
    }
    if opts.only.contains('x') {
        xproc::run(&opts);
    }
    println!("total time {:.0} s", t0.elapsed().as_secs_f64());
}
