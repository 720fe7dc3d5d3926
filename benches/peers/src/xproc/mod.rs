//! Group (x): producer and consumer in two processes. The binary starts itself again
//! ([`child`]) with a hidden first argument; the parent's side runs on the producer core,
//! the child's on the consumer core. Every message is checked on the receiving side (its
//! order stamp and its payload's checksum, as in the in-process scenarios). Starting the
//! child, mapping and connecting are not timed: the receiving child takes its start time,
//! tells the parent it is ready, and stops the clock at the last message; the parent starts
//! sending when it hears `ready`.
//!
//! Each peer's message count is set by a first, untimed calibration run, so that a run takes
//! about [`TARGET`] whatever the peer's speed (milonga's in-process rows take the count of
//! their cross-process counterparts); then the runs, round-robin, median reported.

mod child;
mod iox;
mod shm;
mod stream;

use std::time::{Duration, Instant};

use crate::common::{latency_stats, median, spawn, Ctx, CONSUMER_CPU, PRODUCER_CPU};
use crate::{failed_text, measure_all, size_name, Opts, Outcome, Peer, GIB};

pub use child::CHILD_ARG;

/// Round trips before the measured ones, in every ping-pong run.
pub const PING_WARMUP: usize = 2_000;
/// Ring depth (subscriber buffer) of each direction of a ping-pong.
pub const PING_DEPTH: usize = 1024;
/// The length of one timed run, roughly.
const TARGET: Duration = Duration::from_millis(200);
/// The payload bytes of a calibration run, at most (and at most `CAL_MSGS` messages).
const CAL_BYTES: u64 = 64 << 20;
const CAL_MSGS: u64 = 100_000;

/// What a run does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Throughput: the parent sends `msgs` messages, the child receives and times them.
    Tput,
    /// Ping-pong: the parent pings `msgs` times (warm-up included), the child echoes.
    Ping,
}

/// The shape of one run.
#[derive(Clone, Copy)]
pub struct Spec {
    /// Message size.
    pub bytes: usize,
    /// Messages (or round trips, warm-up included).
    pub msgs: u64,
    /// Ring depth, or the subscriber's buffer.
    pub depth: usize,
}

/// The child's command line: peer, mode, size, count, depth, then the peer's own.
pub fn child_args(peer: &str, mode: Mode, spec: Spec, extra: &[String]) -> Vec<String> {
    let mode = match mode {
        Mode::Tput => "tput",
        Mode::Ping => "ping",
    };
    let mut v = vec![
        peer.to_string(),
        mode.to_string(),
        spec.bytes.to_string(),
        spec.msgs.to_string(),
        spec.depth.to_string(),
    ];
    v.extend(extra.iter().cloned());
    v
}

/// The child's `main`, for the arguments after [`CHILD_ARG`].
pub fn child_main(args: Vec<String>) -> ! {
    child::main(args, child_work)
}

fn child_work(args: &[String], ctl: &mut child::Control, ctx: &Ctx) -> Result<String, String> {
    let [peer, mode, bytes, msgs, depth, extra @ ..] = args else {
        return Err(format!("bad child arguments {args:?}"));
    };
    let mode = match mode.as_str() {
        "tput" => Mode::Tput,
        "ping" => Mode::Ping,
        m => return Err(format!("unknown mode {m:?}")),
    };
    let num = |s: &str| s.parse::<u64>().map_err(|_| format!("not a number: {s:?}"));
    let spec = Spec {
        bytes: num(bytes)? as usize,
        msgs: num(msgs)?,
        depth: num(depth)? as usize,
    };
    if let Some(kind) = stream::Kind::from_id(peer) {
        return stream::child(kind, mode, spec, extra, ctl);
    }
    if let Some(read) = shm::Read::from_id(peer) {
        return shm::child(read, mode, spec, extra, ctl, ctx);
    }
    match peer.as_str() {
        iox::ID => iox::child(mode, spec, extra, ctl, ctx),
        p => Err(format!("unknown peer {p:?}")),
    }
}

/// Runs the parent's side of a run on the producer core, guarded like a benchmark thread.
pub fn parent<T: Send>(f: impl FnOnce(&Ctx) -> Result<T, String> + Send) -> Result<T, String> {
    let ctx = Ctx::new(1, child::STALL);
    std::thread::scope(|s| {
        let ctx = &ctx;
        spawn(s, "parent", ctx, PRODUCER_CPU, move || f(ctx))
            .join()
            .unwrap_or_else(|_| Err("the parent's thread died".into()))
    })
}

/// The pinger's loop: sends `0, 1, ...` and waits for each to come back, for the warm-up and
/// then `rounds` measured round trips; returns one sample (ns) per measured round trip, the
/// time between two consecutive returns. `send` returns `Ok(false)` when full, `recv`
/// `Ok(None)` when empty; both busy-poll.
pub fn ping_loop(
    rounds: usize,
    ctx: &Ctx,
    mut send: impl FnMut(u64) -> Result<bool, String>,
    mut recv: impl FnMut() -> Result<Option<u64>, String>,
) -> Result<Vec<u64>, String> {
    let total = (PING_WARMUP + rounds) as u64;
    let mut samples = Vec::with_capacity(rounds);
    let mut spin = ctx.spinner();
    let mut prev = Instant::now();
    for i in 0..total {
        while !send(i)? {
            spin.spin()?;
        }
        spin.reset();
        let v = loop {
            match recv()? {
                Some(v) => break v,
                None => spin.spin()?,
            }
        };
        spin.reset();
        if v != i {
            return Err(format!("pinger: sent {i}, got back {v}"));
        }
        let now = Instant::now();
        if i >= PING_WARMUP as u64 {
            samples.push((now - prev).as_nanos() as u64);
        }
        prev = now;
    }
    Ok(samples)
}

/// The ponger's loop: echoes `total` values, checking each is the next.
pub fn pong_loop(
    total: u64,
    ctx: &Ctx,
    mut recv: impl FnMut() -> Result<Option<u64>, String>,
    mut send: impl FnMut(u64) -> Result<bool, String>,
) -> Result<(), String> {
    let mut spin = ctx.spinner();
    for i in 0..total {
        let v = loop {
            match recv()? {
                Some(v) => break v,
                None => spin.spin()?,
            }
        };
        spin.reset();
        if v != i {
            return Err(format!("ponger: expected {i}, got {v}"));
        }
        while !send(v)? {
            spin.spin()?;
        }
        spin.reset();
    }
    Ok(())
}

/// One throughput run: the spec in, the seconds out.
type TputFn = fn(Spec) -> Result<f64, String>;
/// One ping-pong run: round trips in, samples (ns) out.
type PingFn = fn(usize) -> Result<Vec<u64>, String>;

/// The rows of milonga in two processes come first (the first is the base of the ratios),
/// then the same link in one process (its rows pair with them in the same order).
const MILONGA_XPROC_ROWS: usize = 2;

fn tput_peers() -> Vec<Peer<TputFn>> {
    vec![
        Peer {
            name: "milonga shm, 2 processes",
            run: |s| parent(|ctx| shm::tput(shm::Read::Each, s, ctx)),
            note: "memfd link, try_publish / try_recv per message",
        },
        Peer {
            name: "milonga shm, 2 processes, batch",
            run: |s| parent(|ctx| shm::tput(shm::Read::Batch, s, ctx)),
            note: "memfd link, try_publish / try_batch (depth/8)",
        },
        Peer {
            name: "milonga shm, 2 threads",
            run: |s| shm::tput_in_process(shm::Read::Each, s),
            note: "the same link and loops in one process",
        },
        Peer {
            name: "milonga shm, 2 threads, batch",
            run: |s| shm::tput_in_process(shm::Read::Batch, s),
            note: "the same link and loops in one process",
        },
        Peer {
            name: "iceoryx2",
            run: |s| parent(|ctx| iox::tput(s, ctx)),
            note: "ipc pub-sub, loan/write/send, RetryUntilDelivered",
        },
        Peer {
            name: "UDS stream",
            run: |s| parent(|ctx| stream::tput(stream::Kind::Uds, s, ctx)),
            note: "socketpair, one write per message, BufReader",
        },
        Peer {
            name: "UDS stream, BufWriter",
            run: |s| parent(|ctx| stream::tput(stream::Kind::UdsBuffered, s, ctx)),
            note: "socketpair, writes batched in a 64 KiB BufWriter",
        },
        Peer {
            name: "pipe",
            run: |s| parent(|ctx| stream::tput(stream::Kind::Pipe, s, ctx)),
            note: "one write per message, BufReader",
        },
        Peer {
            name: "pipe, BufWriter",
            run: |s| parent(|ctx| stream::tput(stream::Kind::PipeBuffered, s, ctx)),
            note: "writes batched in a 64 KiB BufWriter",
        },
    ]
}

fn ping_peers() -> Vec<Peer<PingFn>> {
    vec![
        Peer {
            name: "milonga shm, 2 processes",
            run: |r| parent(|ctx| shm::ping(r, ctx)),
            note: "two memfd links, try_publish / try_recv",
        },
        Peer {
            name: "milonga shm, 2 threads",
            run: shm::ping_in_process,
            note: "the same links and loops in one process",
        },
        Peer {
            name: "iceoryx2",
            run: |r| parent(|ctx| iox::ping(r, ctx)),
            note: "two services, busy-polling receive",
        },
        Peer {
            name: "UDS stream",
            run: |r| parent(|ctx| stream::ping(stream::Kind::Uds, r, ctx)),
            note: "one socketpair, blocking reads",
        },
        Peer {
            name: "pipe",
            run: |r| parent(|ctx| stream::ping(stream::Kind::Pipe, r, ctx)),
            note: "two pipes, blocking reads",
        },
    ]
}

/// The sizes: (bytes, ring depth), as in scenarios (a) to (d).
const SIZES: [(usize, usize); 4] = [(8, 1024), (64, 1024), (1024, 256), (10240, 256)];

/// Runs the group and prints its tables.
pub fn run(opts: &Opts) {
    let target = if opts.quick { TARGET / 4 } else { TARGET };
    println!(
        "(x) across processes: parent (producer, pinger) on cpu {PRODUCER_CPU}, child process (consumer, ponger) on cpu {CONSUMER_CPU}; \
         set-up untimed; each peer's message count calibrated to about {} ms a run",
        target.as_millis()
    );
    println!();
    for (bytes, depth) in SIZES {
        throughput(opts, bytes, depth, target);
    }
    ping_pong(opts);
}

fn throughput(opts: &Opts, bytes: usize, depth: usize, target: Duration) {
    eprintln!("running (x) {} across processes ...", size_name(bytes));
    let peers = tput_peers();
    let cal_msgs =
        (CAL_BYTES / bytes as u64).clamp(2_000, CAL_MSGS) / if opts.quick { 4 } else { 1 };
    // Calibration: one untimed run each, which also warms up.
    let mut counts: Vec<Result<u64, String>> = peers
        .iter()
        .map(|p| {
            let spec = Spec {
                bytes,
                msgs: cal_msgs,
                depth,
            };
            (p.run)(spec).map(|secs| {
                let rate = cal_msgs as f64 / secs.max(1e-9);
                ((rate * target.as_secs_f64()) as u64).clamp(cal_msgs / 4, 200_000_000)
            })
        })
        .collect();
    // The in-process rows move as many messages as their cross-process counterparts.
    for i in MILONGA_XPROC_ROWS..2 * MILONGA_XPROC_ROWS {
        if let (Ok(_), Ok(n)) = (&counts[i], &counts[i - MILONGA_XPROC_ROWS]) {
            counts[i] = Ok(*n);
        }
    }
    let indexed: Vec<Peer<usize>> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| Peer {
            name: p.name,
            run: i,
            note: p.note,
        })
        .collect();
    let outcomes = measure_all(&indexed, opts.runs, |i| match &counts[i] {
        Ok(msgs) => (peers[i].run)(Spec {
            bytes,
            msgs: *msgs,
            depth,
        })
        .map(|secs| *msgs as f64 / secs),
        Err(e) => Err(format!("calibration: {e}")),
    });
    let rate = |rates: &[f64]| median(&mut rates.to_vec());
    let base = match &outcomes[0] {
        Outcome::Ok(r) if peers[0].name.starts_with("milonga") => Some(rate(r)),
        _ => None,
    };
    println!(
        "(x) {} messages across processes, rings (buffers) of {depth} slots, median of {} run(s)",
        size_name(bytes),
        opts.runs
    );
    println!(
        "    {:<32} {:>10} {:>9} {:>8} {:>7} {:>11}  notes",
        "peer", "msgs/run", "Mmsg/s", "GiB/s", "spread", "vs milonga"
    );
    for ((p, o), n) in peers.iter().zip(&outcomes).zip(&counts) {
        match o {
            Outcome::Ok(rates) => {
                let r = rate(rates);
                let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = rates.iter().cloned().fold(0.0, f64::max);
                let spread = (max - min) / r * 100.0;
                let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", r / b));
                println!(
                    "    {:<32} {:>10} {:>9.2} {:>8.3} {:>6.0}% {:>11}  {}",
                    p.name,
                    n.as_ref().map_or(0, |n| *n),
                    r / 1e6,
                    r * bytes as f64 / GIB,
                    spread,
                    ratio,
                    p.note
                );
            }
            Outcome::Failed {
                failed,
                runs,
                first,
            } => println!("    {:<32} {}", p.name, failed_text(*failed, *runs, first)),
        }
    }
    let ok = |i: usize| match &outcomes[i] {
        Outcome::Ok(r) => Some(rate(r)),
        Outcome::Failed { .. } => None,
    };
    let pairs: Vec<String> = (0..MILONGA_XPROC_ROWS)
        .map(|i| {
            let what = if i == 0 { "per message" } else { "batch" };
            match (ok(i), ok(i + MILONGA_XPROC_ROWS)) {
                (Some(x), Some(t)) => format!("{what} {:.3}", x / t),
                _ => format!("{what} -"),
            }
        })
        .collect();
    println!(
        "    milonga 2 processes / 2 threads (same link): {} (the goal: within 5%, 0.95 or more)",
        pairs.join(", ")
    );
    println!("    (ratios: peer rate / milonga rate; below 1 is slower than milonga)");
    println!();
}

fn ping_pong(opts: &Opts) {
    eprintln!("running (x) ping-pong across processes ...");
    let rounds = if opts.quick { 5_000 } else { 20_000 };
    let peers = ping_peers();
    let outcomes = measure_all(&peers, opts.runs, |f| {
        f(rounds).map(|mut s| latency_stats(&mut s))
    });
    let stats = |v: &[(f64, f64)]| {
        let mut m: Vec<f64> = v.iter().map(|x| x.0).collect();
        let mut p: Vec<f64> = v.iter().map(|x| x.1).collect();
        (median(&mut m), median(&mut p))
    };
    let base = match &outcomes[0] {
        Outcome::Ok(v) if peers[0].name.starts_with("milonga") => Some(stats(v)),
        _ => None,
    };
    println!(
        "(x) ping-pong across processes: 8-byte messages, one each way, one in flight, {rounds} round trips per run after {PING_WARMUP} warm-up, median of {} run(s)",
        opts.runs
    );
    println!(
        "    {:<32} {:>10} {:>10} {:>11}  notes",
        "peer", "median ns", "p99 ns", "vs milonga"
    );
    for (p, o) in peers.iter().zip(&outcomes) {
        match o {
            Outcome::Ok(v) => {
                let (m, p99) = stats(v);
                let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", m / b.0));
                println!(
                    "    {:<32} {m:>10.0} {p99:>10.0} {ratio:>11}  {}",
                    p.name, p.note
                );
            }
            Outcome::Failed {
                failed,
                runs,
                first,
            } => println!("    {:<32} {}", p.name, failed_text(*failed, *runs, first)),
        }
    }
    if let (Some(x), Outcome::Ok(v)) = (base, &outcomes[1]) {
        let (t, _) = stats(v);
        println!(
            "    milonga round trip, 2 processes / 2 threads (same links): {:.3}",
            x.0 / t
        );
    }
    println!("    (ratios: peer latency / milonga latency; above 1 is slower than milonga)");
    println!();
}
