//! The consuming half of a link in shared memory (see `shm_producer`): joins the link,
//! takes a consumer role, verifies every frag and prints its rate every second.
//!
//! ```text
//! cargo run --release --example shm_consumer -- [PATH] [options]
//! ```
//!
//! `PATH` defaults to `/dev/shm/milonga-demo`; if nothing is there yet, the consumer waits
//! up to 10 seconds for the producer to create it. Options:
//! - `--lossy K`: take lossy consumer `K` instead of reliable consumer 0 (`--reliable K`
//!   for another reliable one);
//! - `--reclaim`: take the role over from a process that died holding it;
//! - `--frags N`, `--seconds S`: stop after N verified frags or S seconds (the first
//!   reached); by default the consumer reads until the stream ends.
//!
//! Every frag is checked: its seq is the next one (a reliable consumer: exactly; a lossy
//! one: exactly, after the frags each overrun reports lost), its sig is its seq, its size
//! and every payload byte are those `shm_producer` writes for that seq. The first frag
//! that fails ends the program (exit status 3). At the end of the stream the program says
//! how it ended: the producer closed it (status 0), or the producer's process died (status
//! 1; everything it published was read and verified first).
//!
//! A reliable consumer resumes where its role last published its progress, so after
//! `--reclaim` it may see again a few frags the dead holder had read: it starts at the
//! role's next seq, whatever that is.
//!
//! The consumer busy-polls (one core), and after about a million empty polls sleeps
//! 100 µs between polls.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use milonga::shm::{ShmError, ShmLink};
use milonga::{LossyTryRecvError, TryRecvError};

/// Empty polls before the consumer starts sleeping between polls.
const IDLE_SPINS: u32 = 1 << 20;
/// The sleep between polls, once idle.
const IDLE_SLEEP: Duration = Duration::from_micros(100);

/// Waits after an empty poll: busy at first, then sleeping.
fn idle(n: &mut u32) {
    *n = n.saturating_add(1);
    if *n < IDLE_SPINS {
        std::hint::spin_loop();
    } else {
        std::thread::sleep(IDLE_SLEEP);
    }
}

/// The payload size of frag `seq`, from 8 to `mtu` bytes (as in `shm_producer`).
fn size_of(seq: u64, mtu: usize) -> usize {
    let h = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    8 + (h as usize) % (mtu - 7)
}

/// Byte `i` (from 8 on) of the payload of frag `seq` (as in `shm_producer`).
fn pattern(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(31) as u8) ^ (i as u8).wrapping_mul(7)
}

/// Checks one frag against what the producer wrote for `expected`.
fn verify(expected: u64, seq: u64, sig: u64, payload: &[u8], mtu: usize) -> Result<(), String> {
    if seq != expected {
        return Err(format!("expected seq {expected}, got {seq}"));
    }
    if sig != seq {
        return Err(format!("seq {seq}: sig {sig}"));
    }
    let len = size_of(seq, mtu);
    if payload.len() != len {
        return Err(format!(
            "seq {seq}: {} payload bytes, expected {len}",
            payload.len()
        ));
    }
    let stamp = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
    if stamp != seq {
        return Err(format!("seq {seq}: payload stamped {stamp}"));
    }
    match (8..len).find(|&i| payload[i] != pattern(seq, i)) {
        Some(i) => Err(format!(
            "seq {seq}: payload byte {i} is {:#04x}, expected {:#04x}",
            payload[i],
            pattern(seq, i)
        )),
        None => Ok(()),
    }
}

enum Role {
    Reliable(usize),
    Lossy(usize),
}

struct Opts {
    path: PathBuf,
    role: Role,
    reclaim: bool,
    frags: Option<u64>,
    seconds: Option<f64>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        path: PathBuf::from("/dev/shm/milonga-demo"),
        role: Role::Reliable(0),
        reclaim: false,
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
            "--lossy" => o.role = Role::Lossy(num("--lossy", value("--lossy")?)? as usize),
            "--reliable" => {
                o.role = Role::Reliable(num("--reliable", value("--reliable")?)? as usize)
            }
            "--reclaim" => o.reclaim = true,
            "--frags" => o.frags = Some(num("--frags", value("--frags")?)?),
            "--seconds" => {
                let v = value("--seconds")?;
                o.seconds = Some(v.parse().map_err(|_| format!("--seconds: {v:?}"))?);
            }
            p if !p.starts_with('-') => o.path = PathBuf::from(p),
            _ => return Err(format!("unknown option {a:?}")),
        }
    }
    Ok(o)
}

/// How reading ended.
enum End {
    /// A limit of the command line.
    Limit,
    /// The producer closed the stream.
    Closed,
    /// The producer's process died.
    Failed,
}

/// Counts and prints the rate once a second.
struct Meter {
    start: Instant,
    last: Instant,
    limit: Option<Duration>,
    frags: u64,
    bytes: u64,
    lost: u64,
    last_frags: u64,
    last_bytes: u64,
    polls: u32,
}

impl Meter {
    fn new(seconds: Option<f64>) -> Meter {
        let now = Instant::now();
        Meter {
            start: now,
            last: now,
            limit: seconds.map(Duration::from_secs_f64),
            frags: 0,
            bytes: 0,
            lost: 0,
            last_frags: 0,
            last_bytes: 0,
            polls: 0,
        }
    }

    /// Reads the clock every 1024 calls; true when the time limit is reached.
    fn tick(&mut self) -> bool {
        self.polls = self.polls.wrapping_add(1);
        if !self.polls.is_multiple_of(1024) {
            return false;
        }
        let now = Instant::now();
        if now - self.last >= Duration::from_secs(1) {
            let dt = (now - self.last).as_secs_f64();
            println!(
                "verified {:>12} frags  {:>10.0} frags/s  {:>8.1} MiB/s  lost {}",
                self.frags,
                (self.frags - self.last_frags) as f64 / dt,
                (self.bytes - self.last_bytes) as f64 / dt / (1 << 20) as f64,
                self.lost
            );
            (self.last, self.last_frags, self.last_bytes) = (now, self.frags, self.bytes);
        }
        self.limit.is_some_and(|l| now - self.start >= l)
    }
}

fn run(link: &ShmLink, o: &Opts) -> Result<(End, Meter), String> {
    let mtu = link.geometry().mtu;
    let mut m = Meter::new(o.seconds);
    let done = |m: &Meter| o.frags.is_some_and(|n| m.frags >= n);
    let mut empty = 0u32;
    match o.role {
        Role::Reliable(k) => {
            let taken = if o.reclaim {
                link.reclaim_consumer(k)
            } else {
                link.consumer(k)
            };
            let mut rx = taken.map_err(|e| format!("reliable consumer {k}: {e}"))?;
            let mut next = rx.next_seq();
            println!("reliable consumer {k}, from seq {next}");
            while !done(&m) {
                match rx.try_recv() {
                    Ok(frag) => {
                        verify(next, frag.seq(), frag.sig(), frag.payload(), mtu)?;
                        m.frags += 1;
                        m.bytes += frag.payload().len() as u64;
                        next += 1;
                        empty = 0;
                    }
                    Err(TryRecvError::Empty) => idle(&mut empty),
                    Err(TryRecvError::Closed) => return Ok((End::Closed, m)),
                    Err(TryRecvError::Failed) => return Ok((End::Failed, m)),
                    Err(e) => return Err(format!("at seq {next}: {e}")),
                }
                if m.tick() {
                    break;
                }
            }
        }
        Role::Lossy(k) => {
            let taken = if o.reclaim {
                link.reclaim_lossy_consumer(k)
            } else {
                link.lossy_consumer(k)
            };
            let mut rx = taken.map_err(|e| format!("lossy consumer {k}: {e}"))?;
            let mut next = rx.next_seq();
            let mut buf = vec![0u8; mtu];
            println!("lossy consumer {k}, from seq {next}");
            while !done(&m) {
                match rx.try_recv(&mut buf) {
                    Ok(meta) => {
                        let len = meta.sz as usize;
                        verify(next, meta.seq, meta.sig, &buf[..len], mtu)?;
                        m.frags += 1;
                        m.bytes += len as u64;
                        next += 1;
                        empty = 0;
                    }
                    Err(LossyTryRecvError::Empty) => idle(&mut empty),
                    Err(LossyTryRecvError::Overrun(o)) => {
                        m.lost += o.lost;
                        next += o.lost;
                    }
                    Err(LossyTryRecvError::Closed) => return Ok((End::Closed, m)),
                    Err(LossyTryRecvError::Failed) => return Ok((End::Failed, m)),
                    Err(e) => return Err(format!("at seq {next}: {e}")),
                }
                if m.tick() {
                    break;
                }
            }
        }
    }
    Ok((End::Limit, m))
}

/// Joins the link, waiting up to 10 s for the producer to create it.
fn join(o: &Opts) -> Result<ShmLink, ShmError> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match ShmLink::open(&o.path) {
            Err(ShmError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shm_consumer: {e}");
            return ExitCode::from(2);
        }
    };
    let link = match join(&o) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shm_consumer: {}: {e}", o.path.display());
            return ExitCode::from(2);
        }
    };
    let g = link.geometry();
    if g.mtu < 8 {
        eprintln!(
            "shm_consumer: the link's mtu is {}: the demo needs at least 8",
            g.mtu
        );
        return ExitCode::from(2);
    }
    println!(
        "joined {}: depth {}, mtu {}, {} reliable and {} lossy consumer slots",
        o.path.display(),
        g.depth,
        g.mtu,
        g.reliable,
        g.lossy
    );
    match run(&link, &o) {
        Ok((end, m)) => {
            let secs = m.start.elapsed().as_secs_f64();
            let summary = format!(
                "{} frags ({:.1} MiB) verified in {secs:.2} s, {:.0} frags/s, {} lost to overruns",
                m.frags,
                m.bytes as f64 / (1 << 20) as f64,
                m.frags as f64 / secs,
                m.lost
            );
            match end {
                End::Limit => {
                    println!("stopped at the limit: {summary}");
                    ExitCode::SUCCESS
                }
                End::Closed => {
                    println!("the producer closed the stream: {summary}");
                    ExitCode::SUCCESS
                }
                End::Failed => {
                    println!(
                        "the producer died (its process is gone); every frag it published was read: {summary}"
                    );
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("shm_consumer: FAILED: {e}");
            ExitCode::from(3)
        }
    }
}
