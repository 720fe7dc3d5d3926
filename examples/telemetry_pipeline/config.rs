//! The command line: `--flag value` pairs, parsed by hand; every flag has a default.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::event::Format;

/// What the ingest stage does when a worker's dispatcher is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Refuse the newest event (count it as dropped-full) and go on.
    Reject,
    /// Wait for room; with a timeout, give up after it (count it as dropped-timeout).
    Block(Option<Duration>),
    /// Sensors never wait: each publishes into its own ring, which overwrites the oldest
    /// event when the pump falls behind; the pump forwards into the dispatchers, waiting.
    Overwrite,
}

/// Where the workers write batches.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkSpec {
    /// JSON lines into one file.
    File(PathBuf),
    /// Counts events and bytes, writes nothing.
    Count,
    /// Counts, and sleeps this long per batch (a slow downstream).
    Slow(Duration),
    /// Counts, and fails each attempt with this probability.
    Fail(f64),
    /// A sink this binary does not know: `name[:arg]`, for a binary that embeds the
    /// pipeline and adds sinks (the NATS example).
    Other(String, Option<String>),
}

/// Every setting of a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Simulated sensors.
    pub sensors: u32,
    /// Threads generating the sensors' events.
    pub producers: usize,
    /// Workers, each with its own dispatcher and sink handle.
    pub workers: usize,
    /// The drop policy.
    pub policy: Policy,
    /// The sink.
    pub sink: SinkSpec,
    /// How sensors encode events.
    pub format: Format,
    /// Run this long (default: until Ctrl-C or SIGTERM).
    pub duration: Option<Duration>,
    /// Generate this many events in all, then stop.
    pub events: Option<u64>,
    /// A batch closes at this many bytes.
    pub batch_bytes: usize,
    /// ... or this long after its first event.
    pub interval: Duration,
    /// Events each dispatcher holds at most (a power of two).
    pub queue_events: usize,
    /// Bytes each dispatcher holds at most.
    pub queue_bytes: u64,
    /// Frags in each overwrite ring (a power of two).
    pub ring_depth: usize,
    /// Sink attempts per batch before it is dead-lettered.
    pub attempts: u32,
    /// The first retry's backoff; it doubles, up to `backoff_max`.
    pub backoff: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
    /// Stats lines this often; `None`: only the final report.
    pub stats_every: Option<Duration>,
    /// Write the per-sensor accepted and delivered counts here at exit (JSON).
    pub accepted_out: Option<PathBuf>,
    /// The file sink rotates its file at this many bytes.
    pub file_max_bytes: u64,
    /// Pin sensor thread `k` and worker `k` to core `k % cores` (Linux; the default
    /// there): each core runs its own shard, and the events of a shard never cross cores.
    pub pin: bool,
    /// Workers wait for batches by spinning and yielding, never sleeping.
    pub spin: bool,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            sensors: 16,
            producers: cores,
            workers: cores,
            policy: Policy::Block(None),
            sink: SinkSpec::File(std::env::temp_dir().join("telemetry.jsonl")),
            format: Format::Mixed,
            duration: None,
            events: None,
            batch_bytes: 64 * 1024,
            interval: Duration::from_millis(20),
            queue_events: 32 * 1024,
            queue_bytes: 4 << 20,
            ring_depth: 8192,
            attempts: 5,
            backoff: Duration::from_millis(1),
            backoff_max: Duration::from_millis(100),
            stats_every: Some(Duration::from_secs(1)),
            accepted_out: None,
            file_max_bytes: 256 << 20,
            pin: cfg!(target_os = "linux"),
            spin: false,
        }
    }
}

/// A bad command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` was asked for.
    Help,
    /// A flag this program does not know.
    UnknownFlag(String),
    /// A flag without its value.
    MissingValue(&'static str),
    /// A value that does not parse, or is out of range.
    BadValue(&'static str, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Help => f.write_str("help"),
            ConfigError::UnknownFlag(s) => write!(f, "unknown flag {s} (try --help)"),
            ConfigError::MissingValue(s) => write!(f, "{s} needs a value"),
            ConfigError::BadValue(flag, v) => write!(f, "bad value for {flag}: {v}"),
        }
    }
}

/// The flags, for `--help`.
pub const USAGE: &str = "\
flags (all optional):
  --sensors N          simulated sensors (16)
  --producers N        threads generating their events (one per core)
  --workers N          workers, each with its own dispatcher (one per core)
  --policy P           reject | block[:ms] | overwrite (block: wait for room, no timeout)
  --sink S             file[:path] | count | slow:<us per batch> | fail[:rate]
                       (file: JSON lines, telemetry.jsonl in the temp dir)
  --format F           binary | json | mixed (mixed)
  --duration S         run S seconds (default: until Ctrl-C or SIGTERM)
  --events N           generate N events in all, then stop
  --batch-bytes N      a batch closes at N bytes (65536)
  --interval-ms N      ... or N ms after its first event (20)
  --queue-events N     events each dispatcher holds at most, a power of two (32768)
  --queue-bytes N      bytes each dispatcher holds at most (4194304)
  --ring-depth N       events each overwrite ring holds, a power of two (8192)
  --attempts N         sink attempts per batch before it is dead-lettered (5)
  --backoff-ms N       first retry backoff, doubling (1), up to --backoff-max-ms (100)
  --stats-ms N         a stats line every N ms; 0: none (1000)
  --file-max-mb N      the file sink rotates to <path>.1 at N MiB (256)
  --pin 0|1            pin sensor thread k and worker k to core k (1 on Linux)
  --spin 0|1           workers wait by spinning and yielding, never sleeping (0)
  --accepted-out PATH  write per-sensor accepted/delivered counts (JSON) at exit";

impl Config {
    /// Parses `args` (without the program name).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the flag.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(ConfigError::Help);
            }
            let name: &'static str = FLAGS
                .iter()
                .find(|f| **f == flag)
                .ok_or_else(|| ConfigError::UnknownFlag(flag.clone()))?;
            let v = args.next().ok_or(ConfigError::MissingValue(name))?;
            let bad = || ConfigError::BadValue(name, v.clone());
            let num = |v: &str| v.parse::<u64>().map_err(|_| bad());
            let positive = |v: &str| num(v).and_then(|n| if n > 0 { Ok(n) } else { Err(bad()) });
            match name {
                "--sensors" => {
                    c.sensors = u32::try_from(positive(&v)?).map_err(|_| bad())?;
                }
                "--producers" => c.producers = positive(&v)? as usize,
                "--workers" => c.workers = positive(&v)? as usize,
                "--policy" => c.policy = parse_policy(&v).ok_or_else(bad)?,
                "--sink" => c.sink = parse_sink(&v).ok_or_else(bad)?,
                "--format" => {
                    c.format = match v.as_str() {
                        "binary" => Format::Binary,
                        "json" => Format::Json,
                        "mixed" => Format::Mixed,
                        _ => return Err(bad()),
                    }
                }
                "--duration" => {
                    let s: f64 = v.parse().map_err(|_| bad())?;
                    if !(s > 0.0 && s.is_finite()) {
                        return Err(bad());
                    }
                    c.duration = Some(Duration::from_secs_f64(s));
                }
                "--events" => c.events = Some(positive(&v)?),
                "--batch-bytes" => c.batch_bytes = positive(&v)? as usize,
                "--interval-ms" => c.interval = Duration::from_millis(positive(&v)?),
                "--queue-events" => c.queue_events = power_of_two(positive(&v)?).ok_or_else(bad)?,
                "--queue-bytes" => c.queue_bytes = positive(&v)?,
                "--ring-depth" => c.ring_depth = power_of_two(positive(&v)?).ok_or_else(bad)?,
                "--attempts" => c.attempts = u32::try_from(positive(&v)?).map_err(|_| bad())?,
                "--backoff-ms" => c.backoff = Duration::from_millis(num(&v)?),
                "--backoff-max-ms" => c.backoff_max = Duration::from_millis(num(&v)?),
                "--stats-ms" => {
                    c.stats_every = match num(&v)? {
                        0 => None,
                        ms => Some(Duration::from_millis(ms)),
                    }
                }
                "--accepted-out" => c.accepted_out = Some(PathBuf::from(v)),
                "--file-max-mb" => c.file_max_bytes = positive(&v)? << 20,
                "--pin" => c.pin = num(&v)? != 0,
                "--spin" => c.spin = num(&v)? != 0,
                _ => unreachable!("every flag in FLAGS is handled"),
            }
        }
        let per_worker = (c.sensors as usize).div_ceil(c.workers);
        if per_worker > crate::gaps::MAX_SENSORS_PER_WORKER {
            return Err(ConfigError::BadValue(
                "--sensors",
                format!(
                    "{} (at most {} per worker)",
                    c.sensors,
                    crate::gaps::MAX_SENSORS_PER_WORKER
                ),
            ));
        }
        if c.producers > c.sensors as usize {
            c.producers = c.sensors as usize; // a thread without sensors would idle
        }
        Ok(c)
    }
}

const FLAGS: &[&str] = &[
    "--sensors",
    "--producers",
    "--workers",
    "--policy",
    "--sink",
    "--format",
    "--duration",
    "--events",
    "--batch-bytes",
    "--interval-ms",
    "--queue-events",
    "--queue-bytes",
    "--ring-depth",
    "--attempts",
    "--backoff-ms",
    "--backoff-max-ms",
    "--stats-ms",
    "--accepted-out",
    "--file-max-mb",
    "--pin",
    "--spin",
];

fn power_of_two(n: u64) -> Option<usize> {
    (n >= 2 && n.is_power_of_two()).then_some(n as usize)
}

fn parse_policy(v: &str) -> Option<Policy> {
    let (name, arg) = split(v);
    match (name, arg) {
        ("reject", None) => Some(Policy::Reject),
        ("overwrite", None) => Some(Policy::Overwrite),
        ("block", None) => Some(Policy::Block(None)),
        ("block", Some(ms)) => Some(Policy::Block(Some(Duration::from_millis(ms.parse().ok()?)))),
        _ => None,
    }
}

fn parse_sink(v: &str) -> Option<SinkSpec> {
    let (name, arg) = split(v);
    match (name, arg) {
        ("file", None) => Some(SinkSpec::File(std::env::temp_dir().join("telemetry.jsonl"))),
        ("file", Some(path)) if !path.is_empty() => Some(SinkSpec::File(path.into())),
        ("count", None) => Some(SinkSpec::Count),
        ("slow", Some(us)) => Some(SinkSpec::Slow(Duration::from_micros(us.parse().ok()?))),
        ("fail", None) => Some(SinkSpec::Fail(0.5)),
        ("fail", Some(rate)) => {
            let rate: f64 = rate.parse().ok()?;
            (0.0..=1.0).contains(&rate).then_some(SinkSpec::Fail(rate))
        }
        ("count" | "slow", _) => None,
        (other, arg) if !other.is_empty() => {
            Some(SinkSpec::Other(other.to_owned(), arg.map(str::to_owned)))
        }
        _ => None,
    }
}

fn split(v: &str) -> (&str, Option<&str>) {
    match v.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn flags_parse() {
        let c = parse("--policy block:250 --sink slow:100 --workers 3 --format json").unwrap();
        assert_eq!(c.policy, Policy::Block(Some(Duration::from_millis(250))));
        assert_eq!(c.sink, SinkSpec::Slow(Duration::from_micros(100)));
        assert_eq!((c.workers, c.format), (3, Format::Json));
        let c = parse("--sink nats:nats://127.0.0.1:4222 --policy overwrite").unwrap();
        let url = Some("nats://127.0.0.1:4222".to_owned());
        assert_eq!(c.sink, SinkSpec::Other("nats".into(), url));
        assert_eq!(c.policy, Policy::Overwrite);
        assert_eq!(parse("--sink fail").unwrap().sink, SinkSpec::Fail(0.5));
    }

    #[test]
    fn bad_flags_are_named() {
        assert_eq!(
            parse("--workers 0").unwrap_err(),
            ConfigError::BadValue("--workers", "0".into())
        );
        assert_eq!(
            parse("--nope 1").unwrap_err(),
            ConfigError::UnknownFlag("--nope".into())
        );
        assert_eq!(
            parse("--events").unwrap_err(),
            ConfigError::MissingValue("--events")
        );
        assert!(parse("--policy block:x").is_err());
        assert!(parse("--sink fail:2").is_err());
        assert!(parse("--queue-events 1000").is_err());
    }
}
