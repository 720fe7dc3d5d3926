//! Soak run: frags through every link kind in turn, each on its own threads, every byte
//! of every delivered frag checked.
//!
//! ```text
//! cargo run --release --example soak                    # 10^9 frags, for a manual run
//! cargo run --release --example soak -- --frags 2000000 # CI
//! cargo run --release --example soak -- --frags 10000000 --only lossy
//! ```
//!
//! `--frags N` frags are split evenly over the link kinds run (`--only NAME` runs one):
//! `spsc-heap` (publish copies), `spsc-inline` (a `static` link, claims written in
//! place), `broadcast` (two reliable consumers), `lossy` (a reliable and a lossy consumer;
//! the lossy one is slowed now and then so that it is lapped), `mpsc-ring` (two producers
//! claiming on a shared ring) and `mpsc-fan-in` (two producers, one fan-in consumer).
//!
//! Sizes vary with the frag (small payloads that share a 64-byte chunk, a chunk exactly,
//! several chunks), and every payload byte is a function of the frag's key and position,
//! so a torn, misplaced or stale copy is counted as corrupt. Reliable consumers must get
//! every frag in order (per producer on the multi-producer links); a frag missing is
//! counted as lost. The lossy consumer may lose frags, but for it published = consumed +
//! filtered + lost must hold exactly, in frags and bytes.
//!
//! Prints progress lines, one line per link kind, and a last line
//! `soak: published P / consumed C / lost L / corrupt X`, where C counts frags delivered
//! to every reliable consumer of their link, and L frags a reliable consumer never got.
//! Exits with status 1 if anything is corrupt or lost, or a lossy consumer's accounting is
//! not exact.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use milonga::mpsc::{FanIn, FanInHandles, Ring};
use milonga::spsc::Budget;
use milonga::spsc::SigFilter;
use milonga::spsc::{Batch, Consumer, InlineLink, Link, LinkBuilder};
use milonga::wait::SpinThenYield;
use milonga::LossyTryRecvError;
use milonga::Overrun;
use milonga::RecvTimeoutError;
use milonga::{data_chunks, ConsumerCounters, Header};

const MTU: usize = 512;
const DEPTH: usize = 1024;
/// Frags per batch read.
const BATCH: usize = 64;

/// The payloads, fast: byte `i` of the payload of `key` is `(key * 131 + 7 * i) as u8` XOR
/// `(key >> 8) as u8`. Row `a = key * 131 % 256` of the additive part is `(a + 7 * i) as u8`,
/// which is `base[i + a * 183 % 256]` for `base[i] = (7 * i) as u8` (183 is 7's inverse
/// modulo 256), so one base row of `MTU + 256` bytes serves every `key`, and the payload is
/// written and checked 8 bytes at a time.
struct Payloads(Vec<u8>);

impl Payloads {
    fn new() -> Self {
        Payloads((0..MTU + 256).map(|i| (i * 7) as u8).collect())
    }

    /// Writes the payload of `key` into `buf` (its length is the payload's).
    fn fill(&self, key: u64, buf: &mut [u8]) {
        let a = key.wrapping_mul(131) as u8 as usize;
        let j = a * 183 % 256;
        let row = &self.0[j..j + MTU];
        let x = (key >> 8) as u8;
        let k = u64::from_ne_bytes([x; 8]);
        let whole = buf.len() / 8 * 8;
        let mut dst = buf.chunks_exact_mut(8);
        for (d, s) in (&mut dst).zip(row.chunks_exact(8)) {
            d.copy_from_slice(&(u64::from_ne_bytes(s.try_into().unwrap()) ^ k).to_ne_bytes());
        }
        for (d, s) in dst.into_remainder().iter_mut().zip(&row[whole..]) {
            *d = s ^ x;
        }
    }
}

/// The size of the frag with this key.
fn size(key: u64) -> usize {
    let r = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize;
    match key % 5 {
        0 => 1 + r % 24,
        1 => 64,
        2 => 65 + r % (MTU - 65),
        3 => MTU,
        _ => r % (MTU + 1),
    }
}

/// The key of frag `i` of producer `p` (carried in the sig).
fn key(p: u64, i: u64) -> u64 {
    p << 56 | i
}

/// Checks one payload; `scratch` holds at least `MTU` bytes.
fn intact(p: &Payloads, key: u64, payload: &[u8], scratch: &mut [u8]) -> bool {
    if payload.len() != size(key) {
        return false;
    }
    let want = &mut scratch[..payload.len()];
    p.fill(key, want);
    payload == want
}

/// What the consumers of one link kind saw.
#[derive(Default, Debug)]
struct Tally {
    published: u64,
    /// Frags delivered to every reliable consumer.
    consumed: u64,
    /// Frags a reliable consumer never got.
    lost: u64,
    corrupt: u64,
    /// The lossy consumer's counters, if any.
    lossy: Option<ConsumerCounters>,
    lossy_exact: bool,
}

/// One reliable consumer's view of in-order streams, one per producer, of `per_producer[p]`
/// frags.
struct Reader {
    next: Vec<u64>,
    per_producer: Vec<u64>,
    corrupt: u64,
    lost: u64,
    frags: u64,
    payloads: Payloads,
    scratch: Vec<u8>,
}

impl Reader {
    fn new(per_producer: &[u64]) -> Self {
        Reader {
            next: vec![0; per_producer.len()],
            per_producer: per_producer.to_vec(),
            corrupt: 0,
            lost: 0,
            frags: 0,
            payloads: Payloads::new(),
            scratch: vec![0; MTU],
        }
    }

    fn frag(&mut self, sig: u64, payload: &[u8]) {
        let (p, i) = ((sig >> 56) as usize, sig & ((1 << 56) - 1));
        if p >= self.next.len() || i < self.next[p] || i >= self.per_producer[p] {
            self.corrupt += 1; // out of order, repeated, or a key never published
            return;
        }
        self.lost += i - self.next[p];
        self.next[p] = i + 1;
        if !intact(&self.payloads, sig, payload, &mut self.scratch) {
            self.corrupt += 1;
        }
        self.frags += 1;
    }

    fn batch(&mut self, batch: Batch<'_, '_>) {
        for f in &batch {
            if f.ctl().err() {
                self.corrupt += 1;
                continue;
            }
            self.frag(f.sig(), f.payload());
        }
        batch.commit();
    }

    /// Reads a reliable consumer to the end of its stream.
    fn drain(mut self, rx: &mut Consumer<'_>, name: &str, total: u64) -> Self {
        let step = (total / 4).max(1);
        let mut report = step;
        let budget = Budget::new(BATCH, BATCH * MTU).unwrap();
        loop {
            match rx.recv_batch_with(budget, SpinThenYield::default()) {
                Ok(batch) => self.batch(batch),
                Err(RecvTimeoutError::Closed) => break,
                Err(e) => {
                    eprintln!("soak: {name}: {e}");
                    self.corrupt += 1;
                    break;
                }
            }
            if self.frags >= report {
                println!("soak: {name}: {} / {total} frags", self.frags);
                report += step;
            }
        }
        self.finish()
    }

    /// Frags never delivered at the end count as lost.
    fn finish(mut self) -> Self {
        for (n, &per) in self.next.iter_mut().zip(&self.per_producer) {
            self.lost += per - *n;
            *n = per;
        }
        self
    }
}

/// Publishes frags `0..n` of producer `p` with `publish`, which gets the key and payload.
fn produce(p: u64, n: u64, mut publish: impl FnMut(u64, &[u8])) {
    let payloads = Payloads::new();
    let mut buf = vec![0u8; MTU];
    for i in 0..n {
        let k = key(p, i);
        let len = size(k);
        payloads.fill(k, &mut buf[..len]);
        publish(k, &buf[..len]);
    }
}

fn wait() -> SpinThenYield {
    SpinThenYield::default()
}

fn link() -> LinkBuilder {
    Link::builder().depth(DEPTH).mtu(MTU)
}

fn spsc_heap(n: u64) -> Tally {
    let (mut tx, mut rx) = link().heap_pair().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            produce(0, n, |k, b| {
                tx.publish_with(Header::new(k), b, wait()).unwrap();
            });
            tx.halt();
        });
        let r = Reader::new(&[n]).drain(&mut rx, "spsc-heap", n);
        tally(n, &[r])
    })
}

static INLINE: InlineLink<DEPTH, MTU, { data_chunks(DEPTH, MTU) }> = InlineLink::new();

fn spsc_inline(n: u64) -> Tally {
    let (mut tx, mut rx) = INLINE.split().unwrap().into_pair();
    std::thread::scope(|s| {
        s.spawn(move || {
            produce(0, n, |k, b| {
                let mut claim = tx.claim_with(MTU, wait()).unwrap();
                claim[..b.len()].copy_from_slice(b);
                claim.commit_with(Header::new(k), b.len()).unwrap();
            });
            tx.halt();
        });
        let r = Reader::new(&[n]).drain(&mut rx, "spsc-inline", n);
        tally(n, &[r])
    })
}

fn broadcast(n: u64) -> Tally {
    let Link {
        producer: mut tx,
        reliable: rxs,
        ..
    } = link().reliable(2).heap().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            produce(0, n, |k, b| {
                tx.publish_with(Header::new(k), b, wait()).unwrap();
            });
            tx.halt();
        });
        let readers: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, mut rx)| {
                s.spawn(move || {
                    let name = format!("broadcast consumer {i}");
                    Reader::new(&[n]).drain(&mut rx, &name, n)
                })
            })
            .collect();
        let readers: Vec<Reader> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        tally(n, &readers)
    })
}

fn lossy(n: u64) -> Tally {
    let Link {
        producer: mut tx,
        reliable: mut rels,
        lossy: mut lossies,
        ..
    } = link().reliable(1).lossy(1).heap().unwrap();
    let (mut rx, mut lossy) = (rels.pop().unwrap(), lossies.pop().unwrap());
    lossy.set_filter(Some(SigFilter::func(|sig| sig % 11 != 5)));
    let bytes = AtomicU64::new(0);
    std::thread::scope(|s| {
        let bytes = &bytes;
        s.spawn(move || {
            let mut sum = 0;
            produce(0, n, |k, b| {
                sum += b.len() as u64;
                tx.publish_with(Header::new(k), b, wait()).unwrap();
            });
            bytes.store(sum, Relaxed);
            tx.halt();
        });
        let reader = s.spawn(move || Reader::new(&[n]).drain(&mut rx, "lossy: reliable", n));
        // The lossy consumer: every delivered frag intact and in order.
        let (payloads, mut scratch, mut buf) = (Payloads::new(), vec![0; MTU], vec![0; MTU]);
        let (mut last, mut corrupt, mut reads) = (None::<u64>, 0u64, 0u64);
        loop {
            match lossy.try_recv(&mut buf) {
                Ok(meta) => {
                    reads += 1;
                    if last.is_some_and(|l| meta.seq <= l)
                        || meta.sig != meta.seq
                        || !intact(&payloads, meta.sig, &buf[..meta.sz as usize], &mut scratch)
                    {
                        corrupt += 1;
                    }
                    last = Some(meta.seq);
                    if reads % 1024 == 0 {
                        // Slowed now and then, so that the producer laps it.
                        for _ in 0..200_000 {
                            std::hint::spin_loop();
                        }
                    }
                }
                Err(LossyTryRecvError::Overrun(Overrun { .. })) => {}
                Err(LossyTryRecvError::Empty) => std::thread::yield_now(),
                Err(LossyTryRecvError::Closed) => break,
                Err(e) => {
                    eprintln!("soak: lossy: {e}");
                    corrupt += 1;
                    break;
                }
            }
        }
        let reader = reader.join().unwrap();
        let mut t = tally(n, &[reader]);
        let c = lossy.counters();
        let total = bytes.load(Relaxed);
        t.lossy_exact = c.consumed_frags + c.filtered_frags + c.lost_frags() == n
            && c.consumed_bytes + c.filtered_bytes + c.lost_bytes == total;
        t.corrupt += corrupt;
        t.lossy = Some(c);
        t
    })
}

fn mpsc_ring(n: u64) -> Tally {
    let per = [n / 2, n - n / 2];
    let (tx, mut rx) = Ring::builder().depth(DEPTH).mtu(MTU).heap_pair().unwrap();
    std::thread::scope(|s| {
        for p in 0..2u64 {
            let tx = tx.clone();
            s.spawn(move || {
                produce(p, per[p as usize], |k, b| {
                    let mut claim = tx.claim_with(b.len(), wait()).unwrap();
                    claim.copy_from_slice(b);
                    claim.commit_with(Header::new(k), b.len()).unwrap();
                });
            });
        }
        drop(tx);
        let r = Reader::new(&per).drain(&mut rx, "mpsc-ring", n);
        tally(n, &[r])
    })
}

fn mpsc_fan_in(n: u64) -> Tally {
    let per = [n / 2, n - n / 2];
    let FanInHandles {
        producers: txs,
        consumer: mut rx,
    } = FanIn::builder()
        .producers(2)
        .depth(DEPTH)
        .mtu(MTU)
        .heap()
        .unwrap();
    std::thread::scope(|s| {
        for (p, mut tx) in txs.into_iter().enumerate() {
            s.spawn(move || {
                produce(p as u64, per[p], |k, b| {
                    tx.publish_with(Header::new(k), b, wait()).unwrap();
                });
                tx.halt();
            });
        }
        let mut r = Reader::new(&per);
        let total = n;
        let step = (total / 4).max(1);
        let mut report = step;
        let budget = Budget::new(BATCH, BATCH * MTU).unwrap();
        loop {
            match rx.recv_batch_with(budget, wait()) {
                Ok((_, batch)) => r.batch(batch),
                Err(RecvTimeoutError::Closed) => break,
                Err(e) => {
                    eprintln!("soak: mpsc-fan-in: {e}");
                    r.corrupt += 1;
                    break;
                }
            }
            if r.frags >= report {
                println!("soak: mpsc-fan-in: {} / {total} frags", r.frags);
                report += step;
            }
        }
        tally(total, &[r.finish()])
    })
}

/// The tally of a link whose reliable consumers are `readers`.
fn tally(published: u64, readers: &[Reader]) -> Tally {
    Tally {
        published,
        consumed: readers.iter().map(|r| r.frags).min().unwrap_or(0),
        lost: readers.iter().map(|r| r.lost).sum(),
        corrupt: readers.iter().map(|r| r.corrupt).sum(),
        lossy: None,
        lossy_exact: true,
    }
}

type Kind = (&'static str, fn(u64) -> Tally);

const KINDS: [Kind; 6] = [
    ("spsc-heap", spsc_heap),
    ("spsc-inline", spsc_inline),
    ("broadcast", broadcast),
    ("lossy", lossy),
    ("mpsc-ring", mpsc_ring),
    ("mpsc-fan-in", mpsc_fan_in),
];

fn main() {
    let mut frags: u64 = 1_000_000_000;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frags" => frags = args.next().and_then(|v| v.parse().ok()).expect("--frags N"),
            "--only" => only = Some(args.next().expect("--only NAME")),
            _ => {
                let names: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
                eprintln!("usage: soak [--frags N] [--only {}]", names.join("|"));
                std::process::exit(2);
            }
        }
    }
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| only.as_deref().is_none_or(|o| o == k.0))
        .collect();
    if kinds.is_empty() {
        eprintln!("soak: no link kind named {only:?}");
        std::process::exit(2);
    }
    let start = Instant::now();
    let mut all = Tally::default();
    let mut ok = true;
    let k = kinds.len() as u64;
    for (i, (name, run)) in kinds.into_iter().enumerate() {
        // Kind `i` of `k` publishes its share of the frags (in all, exactly `frags`).
        let share = frags * (i as u64 + 1) / k - frags * i as u64 / k;
        let t0 = Instant::now();
        let t = run(share);
        let secs = t0.elapsed().as_secs_f64();
        let lossy = match t.lossy {
            Some(c) => format!(
                "; lossy consumer: consumed {} / filtered {} / lost {} in {} overruns, \
                 accounting {}",
                c.consumed_frags,
                c.filtered_frags,
                c.lost_frags(),
                c.poll_overruns + c.read_overruns,
                if t.lossy_exact { "exact" } else { "NOT EXACT" }
            ),
            None => String::new(),
        };
        println!(
            "soak: {name}: published {} / consumed {} / lost {} / corrupt {} in {secs:.2} s \
             ({:.1} Mfrags/s){lossy}",
            t.published,
            t.consumed,
            t.lost,
            t.corrupt,
            t.published as f64 / secs / 1e6
        );
        ok &= t.corrupt == 0 && t.lost == 0 && t.consumed == t.published && t.lossy_exact;
        all.published += t.published;
        all.consumed += t.consumed;
        all.lost += t.lost;
        all.corrupt += t.corrupt;
    }
    println!(
        "soak: published {} / consumed {} / lost {} / corrupt {}",
        all.published, all.consumed, all.lost, all.corrupt
    );
    eprintln!("soak: {:.2} s in all", start.elapsed().as_secs_f64());
    if !ok {
        eprintln!("soak: FAILED");
        std::process::exit(1);
    }
}
