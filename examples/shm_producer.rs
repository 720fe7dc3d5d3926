//! The producing half of a link in shared memory, for two terminals (or two programs): it
//! creates the link (or joins one), publishes frags whose payloads the consumer can verify,
//! and prints its rate every second. See `shm_consumer` for the other half.
//!
//! ```text
//! cargo run --release --example shm_producer -- [PATH] [options]    # terminal 1
//! cargo run --release --example shm_consumer -- [PATH] [options]    # terminal 2
//! ```
//!
//! `PATH` defaults to `/dev/shm/milonga-demo`. Options:
//! - `--open`: join an existing link instead of creating one; with `--reclaim`, take the
//!   producer role over from a process that died holding it;
//! - `--replace`: create even if a file is at the path (processes that mapped it keep it);
//! - `--keep`: leave the file in place at the end (the creator removes it by default;
//!   consumers that joined keep their mapping and drain it);
//! - `--depth N` (4096), `--mtu N` (1024), `--reliable N` (1), `--lossy N` (0): the link
//!   to create;
//! - `--frags N`, `--seconds S`: stop after N frags or S seconds (the first reached; no
//!   limit by default, Ctrl-C stops); then the stream is closed, and the consumers drain
//!   it and see its end.
//!
//! Frag `seq` carries `sig = seq` and a payload of `size_of(seq)` bytes (from 8 up to the
//! mtu, varying with the seq): the seq in its first 8 bytes, then `pattern(seq, i)` at each
//! byte `i`. The consumer recomputes both for every frag (the two functions below are
//! repeated in `shm_consumer.rs` and must stay the same).
//!
//! A reliable consumer role is durable: until a process takes it, the producer fills the
//! ring once and then waits for credits, so the consumer may start later and misses
//! nothing. The producer busy-polls (one core) while it waits, and after about a million
//! polls without credits sleeps 100 µs between polls.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use milonga::shm::{ShmError, ShmLink};
use milonga::spsc::{Producer, WriteMode};
use milonga::{Header, PublishError};

/// Polls without credits before the producer starts sleeping between polls.
const IDLE_SPINS: u32 = 1 << 20;
/// The sleep between polls, once idle.
const IDLE_SLEEP: Duration = Duration::from_micros(100);

/// The payload size of frag `seq`, from 8 to `mtu` bytes (shared with `shm_consumer`).
fn size_of(seq: u64, mtu: usize) -> usize {
    let h = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    8 + (h as usize) % (mtu - 7)
}

/// Byte `i` (from 8 on) of the payload of frag `seq` (shared with `shm_consumer`).
fn pattern(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(31) as u8) ^ (i as u8).wrapping_mul(7)
}

struct Opts {
    path: PathBuf,
    open: bool,
    reclaim: bool,
    replace: bool,
    keep: bool,
    depth: usize,
    mtu: usize,
    reliable: usize,
    lossy: usize,
    frags: Option<u64>,
    seconds: Option<f64>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        path: PathBuf::from("/dev/shm/milonga-demo"),
        open: false,
        reclaim: false,
        replace: false,
        keep: false,
        depth: 4096,
        mtu: 1024,
        reliable: 1,
        lossy: 0,
        frags: None,
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match a.as_str() {
            "--open" => o.open = true,
            "--reclaim" => o.reclaim = true,
            "--replace" => o.replace = true,
            "--keep" => o.keep = true,
            "--depth" => o.depth = num("--depth", value("--depth")?)? as usize,
            "--mtu" => o.mtu = num("--mtu", value("--mtu")?)? as usize,
            "--reliable" => o.reliable = num("--reliable", value("--reliable")?)? as usize,
            "--lossy" => o.lossy = num("--lossy", value("--lossy")?)? as usize,
            "--frags" => o.frags = Some(num("--frags", value("--frags")?)?),
            "--seconds" => {
                let v = value("--seconds")?;
                o.seconds = Some(v.parse().map_err(|_| format!("--seconds: {v:?}"))?);
            }
            p if !p.starts_with('-') => o.path = PathBuf::from(p),
            _ => return Err(format!("unknown option {a:?}")),
        }
    }
    if o.reclaim && !o.open {
        return Err("--reclaim goes with --open".into());
    }
    Ok(o)
}

/// Publishes until a limit is reached; returns the frags published.
fn run<W: WriteMode>(mut tx: Producer<'static, W>, o: &Opts) -> Result<u64, String> {
    let mtu = tx.mtu();
    if mtu < 8 {
        return Err(format!(
            "the link's mtu is {mtu}: this demo needs at least 8"
        ));
    }
    let mut buf = vec![0u8; mtu];
    let start = Instant::now();
    let (mut last, mut last_frags, mut last_bytes) = (start, 0u64, 0u64);
    let (mut frags, mut bytes, mut waits) = (0u64, 0u64, 0u64);
    let limit = o.seconds.map(Duration::from_secs_f64);
    println!(
        "producing from seq {}, payloads of 8 to {mtu} bytes",
        tx.next_seq()
    );
    let (mut polls, mut idle) = (0u32, 0u32);
    while o.frags.is_none_or(|n| frags < n) {
        let seq = tx.next_seq();
        let len = size_of(seq, mtu);
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        for (i, b) in buf.iter_mut().enumerate().take(len).skip(8) {
            *b = pattern(seq, i);
        }
        match tx.try_publish(Header::new(seq), &buf[..len]) {
            Ok(_) => {
                frags += 1;
                bytes += len as u64;
                idle = 0;
            }
            Err(PublishError::NoCredits) => {
                waits += 1;
                idle = idle.saturating_add(1);
                if idle < IDLE_SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::sleep(IDLE_SLEEP);
                }
            }
            Err(e) => return Err(format!("publish at seq {seq}: {e}")),
        }
        // The clock, once every 1024 attempts.
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(1024) {
            let now = Instant::now();
            if limit.is_some_and(|l| now - start >= l) {
                break;
            }
            if now - last >= Duration::from_secs(1) {
                let dt = (now - last).as_secs_f64();
                if frags == last_frags {
                    println!(
                        "published {frags:>12} frags  waiting for credits (a reliable consumer is a full ring behind, or not there)"
                    );
                } else {
                    println!(
                        "published {frags:>12} frags  {:>10.0} frags/s  {:>8.1} MiB/s  ({waits} polls found no credits)",
                        (frags - last_frags) as f64 / dt,
                        (bytes - last_bytes) as f64 / dt / (1 << 20) as f64,
                    );
                }
                (last, last_frags, last_bytes, waits) = (now, frags, bytes, 0);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    tx.halt();
    println!(
        "closed the stream after {frags} frags ({:.1} MiB) in {secs:.2} s: {:.0} frags/s",
        bytes as f64 / (1 << 20) as f64,
        frags as f64 / secs
    );
    Ok(frags)
}

fn join(o: &Opts) -> Result<ShmLink, ShmError> {
    if o.open {
        ShmLink::open(&o.path)
    } else {
        ShmLink::builder()
            .depth(o.depth)
            .mtu(o.mtu)
            .reliable(o.reliable)
            .lossy(o.lossy)
            .replace(o.replace)
            .create(&o.path)
    }
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shm_producer: {e}");
            return ExitCode::from(2);
        }
    };
    let link = match join(&o) {
        Ok(l) => l,
        Err(ShmError::AlreadyExists) => {
            eprintln!(
                "shm_producer: {} exists: join it with --open, or replace it with --replace",
                o.path.display()
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("shm_producer: {}: {e}", o.path.display());
            return ExitCode::from(2);
        }
    };
    let g = link.geometry();
    println!(
        "{} {}: depth {}, mtu {}, {} reliable and {} lossy consumer slots",
        if o.open { "joined" } else { "created" },
        o.path.display(),
        g.depth,
        g.mtu,
        g.reliable,
        g.lossy
    );
    // A link with lossy slots needs the producer that writes payloads with atomic stores.
    let r = match (g.lossy > 0, o.reclaim) {
        (false, false) => link
            .producer()
            .map_err(|e| e.to_string())
            .and_then(|tx| run(tx, &o)),
        (false, true) => link
            .reclaim_producer()
            .map_err(|e| e.to_string())
            .and_then(|tx| run::<milonga::spsc::Exclusive>(tx, &o)),
        (true, false) => link
            .shared_producer()
            .map_err(|e| e.to_string())
            .and_then(|tx| run(tx, &o)),
        (true, true) => link
            .reclaim_producer()
            .map_err(|e| e.to_string())
            .and_then(|tx| run::<milonga::spsc::Shared>(tx, &o)),
    };
    if !o.open && !o.keep {
        let _ = std::fs::remove_file(&o.path);
    }
    match r {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm_producer: {e}");
            ExitCode::FAILURE
        }
    }
}
