//! The harness shared by every scenario: pinning, a start barrier, busy-wait with abort and
//! stall detection, panic capture per run, the verified message pattern, and statistics.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// The producer's (or pinger's) core.
pub const PRODUCER_CPU: usize = 0;
/// The consumer's (or ponger's) core.
pub const CONSUMER_CPU: usize = 1;

/// Pins the calling thread to `cpu`; false if the OS refused (or the cpu does not exist).
pub fn pin(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// The error a thread reports when it stopped because another thread of the run failed.
pub const ABORTED: &str = "aborted (another thread of the run failed)";

/// Shared state of one run: start barrier, abort flag, stall limit.
pub struct Ctx {
    abort: AtomicBool,
    ready: AtomicUsize,
    parties: usize,
    stall: Duration,
}

impl Ctx {
    /// A run of `parties` threads; a thread that waits `stall` without progress fails.
    pub fn new(parties: usize, stall: Duration) -> Self {
        Ctx {
            abort: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            parties,
            stall,
        }
    }

    /// The start barrier: spins (no futex, so the timed region starts on time) until every
    /// party has arrived.
    pub fn start(&self) -> Result<(), String> {
        self.ready.fetch_add(1, Ordering::AcqRel);
        let mut spin = self.spinner();
        while self.ready.load(Ordering::Acquire) < self.parties {
            spin.spin()?;
        }
        Ok(())
    }

    /// A busy-wait helper for one thread.
    pub fn spinner(&self) -> Spin<'_> {
        Spin {
            ctx: self,
            n: 0,
            since: None,
        }
    }

    /// Aborts the run: every thread's next busy-wait step fails with [`ABORTED`].
    pub fn abort(&self) {
        self.abort.store(true, Ordering::Relaxed);
    }
}

/// Busy-waits one step at a time (`spin_loop`), failing if the run was aborted or nothing
/// happened for the stall limit.
pub struct Spin<'a> {
    ctx: &'a Ctx,
    n: u32,
    since: Option<Instant>,
}

impl Spin<'_> {
    /// One step of waiting.
    #[inline(always)]
    pub fn spin(&mut self) -> Result<(), String> {
        if self.ctx.abort.load(Ordering::Relaxed) {
            return Err(ABORTED.to_string());
        }
        self.n = self.n.wrapping_add(1);
        if self.n & 0xffff == 0 {
            self.check_stall()?;
        }
        std::hint::spin_loop();
        Ok(())
    }

    /// Progress was made: the stall clock starts again.
    #[inline(always)]
    pub fn reset(&mut self) {
        self.n = 0;
        self.since = None;
    }

    #[cold]
    fn check_stall(&mut self) -> Result<(), String> {
        let now = Instant::now();
        match self.since {
            None => self.since = Some(now),
            Some(t) if now - t > self.ctx.stall => {
                return Err(format!(
                    "stalled: no progress for {:?} (lost or never-published message?)",
                    self.ctx.stall
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Silences the default panic message for the benchmark's own threads (named `peer-*`):
/// their panics are caught and reported in the tables instead.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let peer = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("peer-"));
        if peer {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string().replace('\n', " ")));
        } else {
            default(info);
        }
    }));
}

/// The text of a caught panic: the message the hook kept, or the payload.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = LAST_PANIC.with(|p| p.borrow_mut().take()) {
        return s;
    }
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f` pinned to `cpu`, turning a panic into an error; any error aborts the run.
pub fn guarded<T>(
    ctx: &Ctx,
    cpu: usize,
    f: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    pin(cpu);
    let r = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!("panicked: {}", panic_text(&*p))),
    };
    if r.is_err() {
        ctx.abort();
    }
    r
}

/// Spawns a named benchmark thread in `s`, pinned to `cpu`, guarded as [`guarded`].
pub fn spawn<'s, 'e, T: Send + 's>(
    s: &'s Scope<'s, 'e>,
    name: &str,
    ctx: &'s Ctx,
    cpu: usize,
    f: impl FnOnce() -> Result<T, String> + Send + 's,
) -> ScopedJoinHandle<'s, Result<T, String>> {
    std::thread::Builder::new()
        .name(format!("peer-{name}"))
        .spawn_scoped(s, move || guarded(ctx, cpu, f))
        .expect("spawn a benchmark thread")
}

/// Joins a run's helper threads and its measuring thread, reporting the first real
/// error (not the aborts it caused).
pub fn join_all<T>(
    helpers: Vec<ScopedJoinHandle<'_, Result<(), String>>>,
    main: ScopedJoinHandle<'_, Result<T, String>>,
) -> Result<T, String> {
    let mut errors = Vec::new();
    for h in helpers {
        if let Err(e) = h.join().unwrap_or_else(|_| Err("thread died".into())) {
            errors.push(e);
        }
    }
    let main = main.join().unwrap_or_else(|_| Err("thread died".into()));
    match main {
        Ok(v) if errors.is_empty() => Ok(v),
        Ok(_) => Err(errors.remove(0)),
        Err(e) => {
            errors.insert(0, e);
            let real = errors.iter().find(|e| e.as_str() != ABORTED);
            Err(real.unwrap_or(&errors[0]).clone())
        }
    }
}

/// Builds something large on a thread with a big stack (for peers whose storage is an
/// inline array built by value, such as heapless and rust-tango), outside the timed region.
pub fn build_big<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("builder".into())
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
            .expect("spawn the builder thread")
            .join()
            .expect("building the storage panicked")
    })
}

// ---------------------------------------------------------------------------------------
// The message pattern.
//
// A message of N bytes is N/8 little-endian u64 words. The first word of every 64-byte line
// holds the message's seq (0, 1, 2, ...); every other word holds a fixed pseudo-random value.
// The consumer checks that the first word is the seq it expects (order, nothing lost or
// repeated) and that the wrapping sum of all words is `base + lines * seq` (content: a line
// of another message, a stale or half-written line, changes the sum). A reader that tears a
// payload (the producer rewrote it while it was read) fails one of the two.

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn template_word(i: usize) -> u64 {
    if i.is_multiple_of(8) {
        0
    } else {
        splitmix(i as u64)
    }
}

/// A typed message of `W` words (`8 * W` bytes), for the peers whose API moves values.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Msg<const W: usize>(pub [u64; W]);

impl<const W: usize> Msg<W> {
    /// The template (stamps zero).
    pub fn template() -> Self {
        Msg(std::array::from_fn(template_word))
    }

    /// Stamps `seq` into the first word of every 64-byte line.
    #[inline(always)]
    pub fn stamp(&mut self, seq: u64) {
        for w in self.0.iter_mut().step_by(8) {
            *w = seq;
        }
    }
}

/// What a consumer checks every message against.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    /// Message size in bytes.
    pub bytes: usize,
    base: u64,
    lines: u64,
}

impl Pattern {
    /// The pattern of `words`-word messages.
    pub fn new(words: usize) -> Self {
        Pattern {
            bytes: words * 8,
            base: (0..words).map(template_word).fold(0, u64::wrapping_add),
            lines: words.div_ceil(8) as u64,
        }
    }

    /// The template as bytes (stamps zero).
    pub fn template_bytes(&self) -> Vec<u8> {
        (0..self.bytes / 8)
            .flat_map(|i| template_word(i).to_le_bytes())
            .collect()
    }

    #[inline(always)]
    fn sum_for(&self, seq: u64) -> u64 {
        self.base.wrapping_add(self.lines.wrapping_mul(seq))
    }

    /// Checks a typed message.
    #[inline(always)]
    pub fn check_words(&self, w: &[u64], seq: u64) -> Result<(), String> {
        if w[0] != seq {
            return Err(order_error(seq, w[0]));
        }
        let sum = w.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        if sum != self.sum_for(seq) {
            let stamps = w.iter().step_by(8).copied();
            return Err(content_error(seq, sum, self.sum_for(seq), stamps));
        }
        Ok(())
    }

    /// Checks a byte payload.
    #[inline(always)]
    pub fn check_bytes(&self, b: &[u8], seq: u64) -> Result<(), String> {
        if b.len() != self.bytes {
            return Err(len_error(seq, b.len(), self.bytes));
        }
        let first = u64::from_le_bytes(b[..8].try_into().unwrap());
        if first != seq {
            return Err(order_error(seq, first));
        }
        let sum = b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .fold(0u64, u64::wrapping_add);
        if sum != self.sum_for(seq) {
            let stamps = b
                .chunks(64)
                .map(|l| u64::from_le_bytes(l[..8].try_into().unwrap()));
            return Err(content_error(seq, sum, self.sum_for(seq), stamps));
        }
        Ok(())
    }
}

/// Stamps `seq` into the first word of every 64-byte line of a byte payload.
#[inline(always)]
pub fn stamp_bytes(b: &mut [u8], seq: u64) {
    for i in (0..b.len()).step_by(64) {
        b[i..i + 8].copy_from_slice(&seq.to_le_bytes());
    }
}

#[cold]
fn order_error(expected: u64, found: u64) -> String {
    format!("order: expected message {expected}, got one stamped {found}")
}

/// Describes a payload whose checksum was wrong, with the line stamps it holds when
/// re-read now (they may have changed again since the checksum was taken).
#[cold]
fn content_error(seq: u64, sum: u64, expected: u64, stamps: impl Iterator<Item = u64>) -> String {
    let mut seen: Vec<(u64, usize)> = Vec::new();
    let mut lines = 0;
    for st in stamps {
        lines += 1;
        match seen.iter_mut().find(|(v, _)| *v == st) {
            Some((_, n)) => *n += 1,
            None => seen.push((st, 1)),
        }
    }
    let shown: Vec<String> = seen
        .iter()
        .take(4)
        .map(|(v, n)| format!("{n}x message {v}"))
        .collect();
    format!(
        "content: message {seq} has checksum {sum:#018x}, expected {expected:#018x} (torn or overwritten payload; its {lines} line stamps re-read now: {}{})",
        shown.join(", "),
        if seen.len() > 4 { ", ..." } else { "" }
    )
}

#[cold]
fn len_error(seq: u64, len: usize, expected: usize) -> String {
    format!("length: message {seq} is {len} bytes, expected {expected}")
}

/// A verification failure found outside the payload (a peer's own metadata).
#[cold]
pub fn meta_error(what: &str, seq: u64, found: u64, expected: u64) -> String {
    format!("{what}: message {seq} has {found}, expected {expected}")
}

// ---------------------------------------------------------------------------------------
// Statistics.

/// The median of `v` (sorted in place); NaN if empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median and p99 of latency samples (sorted in place), in ns.
pub fn latency_stats(samples: &mut [u64]) -> (f64, f64) {
    samples.sort_unstable();
    (
        percentile(samples, 50.0) as f64,
        percentile(samples, 99.0) as f64,
    )
}
