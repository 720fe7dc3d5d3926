//! `nats_check`: subscribes to `telemetry.>` and checks that every event the pipeline
//! accepted arrived exactly once.
//!
//! ```text
//! nats_check --url nats://127.0.0.1:4222 --accepted counts.json [--ready ready.flag]
//!            [--quiet-secs 10] [--timeout-secs 600]
//! ```
//!
//! It subscribes (and flushes, so the server has the subscription), then writes the
//! `--ready` file if asked: start the pipeline after that. Each message's subject must be
//! `telemetry.<sensor>` of the event it carries; the checker marks `(sensor, seq)` in a
//! bitmap per sensor and counts any seen twice. When the pipeline has written its
//! per-sensor counts (`--accepted-out` of the pipeline: `generated`, `accepted` and
//! `delivered` per sensor), the checker waits until it has received as many events as
//! were accepted (or `--quiet-secs` pass without a message), one more second for late
//! duplicates, and compares: for every sensor, the events received are exactly the
//! accepted ones (as many, each seq once, each seq below what the sensor generated; only
//! accepted events ever reach the sink), and every accepted event was delivered. Exit
//! status 0 if so, 1 if not, 2 for a usage or connection error.

#[allow(dead_code)] // the checker only decodes
#[path = "../../telemetry_pipeline/event.rs"]
mod event;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};

struct Args {
    url: String,
    accepted: PathBuf,
    ready: Option<PathBuf>,
    quiet: Duration,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: "nats://127.0.0.1:4222".into(),
        accepted: PathBuf::new(),
        ready: None,
        quiet: Duration::from_secs(10),
        timeout: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let secs = |v: &str| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("bad value for {flag}: {v}"))
        };
        match flag.as_str() {
            "--url" => a.url = v,
            "--accepted" => a.accepted = v.into(),
            "--ready" => a.ready = Some(v.into()),
            "--quiet-secs" => a.quiet = secs(&v)?,
            "--timeout-secs" => a.timeout = secs(&v)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.accepted.as_os_str().is_empty() {
        return Err("--accepted PATH is required".into());
    }
    Ok(a)
}

/// The pipeline's per-sensor counts.
struct Counts {
    generated: Vec<u64>,
    accepted: Vec<u64>,
    delivered: Vec<u64>,
}

/// Reads `"key":[n,n,...]` out of the pipeline's counts file.
fn list(text: &str, key: &str) -> Result<Vec<u64>, String> {
    let start = text
        .find(&format!("\"{key}\":["))
        .ok_or(format!("no {key} in the counts"))?
        + key.len()
        + 4;
    let end = start + text[start..].find(']').ok_or("unterminated list")?;
    text[start..end]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse().map_err(|_| format!("bad count {s}")))
        .collect()
}

fn read_counts(path: &PathBuf) -> Option<Result<Counts, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some((|| {
        Ok(Counts {
            generated: list(&text, "generated")?,
            accepted: list(&text, "accepted")?,
            delivered: list(&text, "delivered")?,
        })
    })())
}

/// What arrived for one sensor.
#[derive(Default)]
struct Seen {
    bits: Vec<u64>,
    count: u64,
    duplicates: u64,
    max_seq: u64,
}

impl Seen {
    fn mark(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.bits.len() {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        if self.bits[word] & (1 << bit) != 0 {
            self.duplicates += 1;
        } else {
            self.bits[word] |= 1 << bit;
            self.count += 1;
            self.max_seq = self.max_seq.max(seq);
        }
    }
}

/// `n` in decimal, in `buf`.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nats_check: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nats_check: tokio: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(check(args))
}

async fn check(args: Args) -> ExitCode {
    // A deep subscription queue: the checker must never be the slow consumer that the
    // client drops messages for.
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let slow_events = slow.clone();
    let client = match async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 22)
        .event_callback(move |event| {
            let slow = slow_events.clone();
            async move {
                match event {
                    async_nats::Event::SlowConsumer(_) => {
                        slow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    other => eprintln!("nats_check: {other}"),
                }
            }
        })
        .connect(args.url.as_str())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nats_check: cannot connect to {}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let mut sub = match client.subscribe("telemetry.>").await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nats_check: cannot subscribe: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = client.flush().await {
        eprintln!("nats_check: flush: {e}");
        return ExitCode::from(2);
    }
    if let Some(ready) = &args.ready {
        if let Err(e) = std::fs::write(ready, b"ready\n") {
            eprintln!("nats_check: cannot write {}: {e}", ready.display());
            return ExitCode::from(2);
        }
    }
    println!("nats_check: subscribed to telemetry.> on {}", args.url);

    let start = Instant::now();
    let mut seen: Vec<Seen> = Vec::new();
    let (mut received, mut bad_subject, mut malformed) = (0u64, 0u64, 0u64);
    let mut counts: Option<Counts> = None;
    let mut last_message = Instant::now();
    let mut complete_at: Option<Instant> = None;
    let mut digits = [0u8; 20];
    let mut idle = true;
    loop {
        // The counts file is looked for when the queue ran dry, and every 64 Ki messages.
        if counts.is_none() && (idle || received % 65536 == 0) {
            match read_counts(&args.accepted) {
                Some(Ok(c)) => counts = Some(c),
                Some(Err(e)) => {
                    eprintln!("nats_check: {}: {e}", args.accepted.display());
                    return ExitCode::from(2);
                }
                None => {}
            }
        }
        if let Some(c) = &counts {
            let expected: u64 = c.accepted.iter().sum();
            if received >= expected && complete_at.is_none() {
                complete_at = Some(Instant::now());
            }
            // Everything arrived: one more second for duplicates, then judge.
            if complete_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
                || last_message.elapsed() >= args.quiet
            {
                break;
            }
        }
        if start.elapsed() >= args.timeout {
            println!("nats_check: timed out after {:?}", args.timeout);
            break;
        }
        // A message already queued is taken without a timer (one per message would make
        // the checker the slow consumer); an empty queue is waited on for 100 ms.
        let next = match sub.next().now_or_never() {
            Some(m) => Ok(m),
            None => tokio::time::timeout(Duration::from_millis(100), sub.next()).await,
        };
        let msg = match next {
            Ok(Some(m)) => m,
            Ok(None) => {
                eprintln!("nats_check: the subscription ended");
                break;
            }
            Err(_) => {
                idle = true; // nothing for 100 ms: look at the counts file again
                continue;
            }
        };
        idle = false;
        last_message = Instant::now();
        received += 1;
        let ev = match event::Event::decode(&msg.payload) {
            Ok(e) => e,
            Err(_) => {
                malformed += 1;
                continue;
            }
        };
        let id = ev.sensor as usize;
        if msg.subject.as_str().strip_prefix("telemetry.") != Some(itoa(id, &mut digits)) {
            bad_subject += 1;
        }
        if id >= seen.len() {
            seen.resize_with(id + 1, Seen::default);
        }
        seen[id].mark(ev.seq);
    }

    let Some(c) = counts else {
        println!(
            "nats_check: no counts from the pipeline in {}",
            args.accepted.display()
        );
        return ExitCode::from(1);
    };
    let slow = slow.load(std::sync::atomic::Ordering::Relaxed);
    if slow > 0 {
        println!("nats_check: the client dropped messages {slow} times (slow consumer)");
    }
    let mut ok = malformed == 0 && bad_subject == 0 && slow == 0;
    let mut problems = Vec::new();
    for (id, &accepted) in c.accepted.iter().enumerate() {
        let s = seen.get(id);
        let (count, dups, max) = s.map_or((0, 0, 0), |s| (s.count, s.duplicates, s.max_seq));
        let generated = c.generated.get(id).copied().unwrap_or(0);
        let delivered = c.delivered.get(id).copied().unwrap_or(0);
        let sensor_ok = count == accepted
            && dups == 0
            && (count == 0 || max < generated)
            && delivered == accepted;
        if !sensor_ok {
            ok = false;
            problems.push(format!(
                "sensor {id}: accepted {accepted}, delivered {delivered}, received {count} \
                 distinct, {dups} duplicates, highest seq {max} of {generated} generated"
            ));
        }
    }
    if seen.len() > c.accepted.len() {
        ok = false;
        problems.push(format!(
            "events from {} unknown sensors",
            seen.len() - c.accepted.len()
        ));
    }
    let accepted: u64 = c.accepted.iter().sum();
    let duplicates: u64 = seen.iter().map(|s| s.duplicates).sum();
    println!(
        "nats_check: {received} messages from {} sensors, {accepted} accepted, {duplicates} \
         duplicates, {malformed} malformed, {bad_subject} on the wrong subject",
        c.accepted.len()
    );
    for p in problems.iter().take(20) {
        println!("  {p}");
    }
    if ok {
        println!("nats_check: ok: every accepted event arrived exactly once");
        ExitCode::SUCCESS
    } else {
        println!("nats_check: FAILED");
        ExitCode::from(1)
    }
}
