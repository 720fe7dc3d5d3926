//! Sinks: where a worker writes its batches, and the bounded retry around them.
//!
//! Each worker has its own sink handle and hands it the batch as the dispatcher lent it
//! (zero-copy: the items are still in the dispatcher's ring). A write that fails is
//! retried with exponential backoff, a bounded number of times; then the batch is
//! dead-lettered (counted as failed) and released, so a failing sink slows the pipeline
//! but never holds it.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use milonga::dispatch::Batch;

use crate::event::Event;
use crate::sensors::Rng;

/// Why a sink write failed.
#[derive(Debug)]
pub enum SinkError {
    /// The file (or socket) said no.
    Io(io::Error),
    /// `--sink fail`: a failure on purpose.
    Injected,
    /// Another sink's error, in words (the NATS example's).
    #[allow(dead_code)] // not every binary that includes this module has such a sink
    Other(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Io(e) => write!(f, "i/o: {e}"),
            SinkError::Injected => f.write_str("injected failure"),
            SinkError::Other(e) => f.write_str(e),
        }
    }
}

impl From<io::Error> for SinkError {
    fn from(e: io::Error) -> Self {
        SinkError::Io(e)
    }
}

/// A worker's sink handle.
pub trait Sink: Send {
    /// Writes every event of `batch`, or fails (and may be called again with the same
    /// batch: a sink that wrote part of it must not write that part twice).
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError>;

    /// Flushes what is buffered; called once, when the worker ends.
    fn close(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Counts events and bytes (the counts are the worker's); writes nothing.
#[derive(Debug, Default)]
pub struct CountSink;

impl Sink for CountSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        // Touch every item, as a sink that forwards them would.
        let bytes: usize = batch.iter().map(<[u8]>::len).sum();
        std::hint::black_box(bytes);
        Ok(())
    }
}

/// A downstream that takes `delay` per batch.
#[derive(Debug)]
pub struct SlowSink(pub Duration);

impl Sink for SlowSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        CountSink.write(batch)?;
        std::thread::sleep(self.0);
        Ok(())
    }
}

/// Fails each attempt with probability `rate`.
#[derive(Debug)]
pub struct FailSink {
    rate: f64,
    rng: Rng,
}

impl FailSink {
    /// A sink failing with probability `rate`, seeded per worker.
    pub fn new(rate: f64, seed: u64) -> Self {
        FailSink {
            rate,
            rng: Rng::new(seed),
        }
    }
}

impl Sink for FailSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if self.rng.unit() < self.rate {
            return Err(SinkError::Injected);
        }
        CountSink.write(batch)
    }
}

/// JSON lines into one file shared by the workers: each worker renders its batch into a
/// buffer of its own (reused; it grows to the largest batch once), then writes it with
/// one call under the file's lock, so lines of different batches never interleave.
///
/// Flat out the pipeline writes hundreds of MB/s, so the file is rotated: once it holds
/// `max_bytes`, it is renamed to `<path>.1` (replacing the previous one) and a new file is
/// started. At most twice `max_bytes` are kept.
#[derive(Debug)]
pub struct FileSink {
    file: Arc<Mutex<Rotating>>,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl FileSink {
    /// Creates (truncates) the file: one handle for each of `workers` workers.
    pub fn create(path: &Path, max_bytes: u64, workers: usize) -> io::Result<Vec<FileSink>> {
        let file = Arc::new(Mutex::new(Rotating {
            path: path.to_owned(),
            file: File::create(path)?,
            written: 0,
            max_bytes,
        }));
        Ok((0..workers)
            .map(|_| FileSink {
                file: file.clone(),
                buf: Vec::with_capacity(256 * 1024),
            })
            .collect())
    }
}

impl Sink for FileSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.buf.clear();
        for item in batch {
            match Event::decode(item) {
                Ok(e) => e.write_json_line(item.len(), &mut self.buf),
                // Written as an error line rather than lost (the worker counts it too).
                Err(e) => {
                    let _ = writeln!(
                        self.buf,
                        "{{\"malformed\":\"{e}\",\"bytes\":{}}}",
                        item.len()
                    );
                }
            }
        }
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if f.written >= f.max_bytes {
            let mut old = f.path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(&f.path, old)?;
            f.file = File::create(&f.path)?;
            f.written = 0;
        }
        f.file.write_all(&self.buf)?;
        f.written += self.buf.len() as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.file.flush()?;
        Ok(())
    }
}

/// The retry rule: `attempts` in all, sleeping `backoff`, then twice that... up to
/// `backoff_max`, between them.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts per batch (at least 1).
    pub attempts: u32,
    /// The first sleep.
    pub backoff: Duration,
    /// The longest sleep.
    pub backoff_max: Duration,
}

/// What became of a batch.
#[derive(Debug)]
pub struct Outcome {
    /// The sink took it.
    pub delivered: bool,
    /// Failed attempts that were retried.
    pub retries: u32,
    /// The last error, if any attempt failed.
    pub last_error: Option<SinkError>,
}

impl Retry {
    /// Writes `batch` to `sink`, retrying as the rule says.
    pub fn write(&self, sink: &mut dyn Sink, batch: &Batch<'_>) -> Outcome {
        let mut backoff = self.backoff;
        let mut out = Outcome {
            delivered: false,
            retries: 0,
            last_error: None,
        };
        for attempt in 1..=self.attempts.max(1) {
            match sink.write(batch) {
                Ok(()) => {
                    out.delivered = true;
                    return out;
                }
                Err(e) => {
                    out.last_error = Some(e);
                    if attempt == self.attempts.max(1) {
                        break;
                    }
                    out.retries += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.backoff_max);
                }
            }
        }
        out
    }
}
