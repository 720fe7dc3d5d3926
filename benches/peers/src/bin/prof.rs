//! A profiling harness for small messages: the per-message cost of each side of milonga's
//! SPSC link against rtrb and the disruptor, at 8 and 64 bytes.
//!
//! ```text
//! cargo build --release --manifest-path benches/peers/Cargo.toml --bin prof
//! prof st VARIANT SIZE MSGS [CHUNK] [BATCH]   # one thread: publish CHUNK, consume CHUNK, repeat
//! prof mt VARIANT SIZE MSGS [BATCH]           # two pinned threads, busy-polling
//! ```
//!
//! `st` (single thread) is for instruction counters (a simulator, or `perf stat`): the
//! producer and the consumer are interleaved in one thread, `CHUNK` messages at a time
//! (default 128, less than the ring's 1024 slots, so no call ever fails), and each side is
//! its own never-inlined function (`*_produce`, `*_consume`), so an inclusive profile splits
//! the cost per side. Run it at two message counts and take the difference to remove
//! set-up. `BATCH` is the most frags (events) one batch read takes (default 128).
//!
//! Per-message counts, for example:
//!
//! ```text
//! valgrind --tool=callgrind --branch-sim=yes --callgrind-out-file=cg.1 prof st m-poll 8 1000000
//! valgrind --tool=callgrind --branch-sim=yes --callgrind-out-file=cg.2 prof st m-poll 8 2000000
//! callgrind_annotate --inclusive=yes cg.1 | grep -E 'prof::\w+_(produce|consume)'
//! callgrind_annotate --inclusive=yes cg.2 | grep -E 'prof::\w+_(produce|consume)'
//! ```
//!
//! (the difference of each side's inclusive count, divided by 1000000). Build with
//! `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only` for line references; add
//! `--dump-instr=yes` for per-instruction counts.
//!
//! `mt` runs the same calls on two pinned threads and prints Mmsg/s, the consumer's empty
//! polls and the producer's refused publishes per message, and the mean batch.
//!
//! Variants: `m-poll` (milonga `try_publish` / `try_recv`), `m-batch` (`try_publish` /
//! `try_batch`), `m-sig-poll` / `m-sig-batch` (the value in the sig, no payload), `rtrb`
//! (`push` / `pop`), `rtrb-chunk` (`write_chunk_uninit` / `read_chunk`), `dis` (disruptor:
//! `try_publish` per event, `EventPoller::take` batches), `dis-bp` (disruptor:
//! `try_batch_publish` per chunk in `st`, `take` batches); `m-bp-batch` / `m-bp-poll`
//! (`try_publish_batch_in_place` of `PCHUNK` frags, default 32 / `try_batch` or
//! `try_recv`), `m-bpc-batch` (`try_publish_batch`, payloads copied in), `m-sig-bp-batch`
//! (`try_publish_batch_in_place` of sig-only frags: what a layout with the payload in the
//! slot would move per message); in `mt` only, `raw`: the
//! physical reference, a ring whose messages carry their own seq (no index, no metadata:
//! `SIZE / 64` of a cache line moved per message; see `raw`).
//!
//! Every side does the same work on a message: the producer stamps the message's number in
//! its first word; the consumer checks that word and folds every word of the payload into
//! a checksum (so no read is optimised away).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use milonga::spsc::{Budget, Consumer, Link, Producer};
use milonga::Header;

const DEPTH: usize = 1024;

#[cold]
#[inline(never)]
fn fail(what: &str, at: u64) -> ! {
    panic!("{what} at message {at}")
}

/// The consumer's fold of one message's words.
#[inline(always)]
fn fold_words(words: &[u64]) -> u64 {
    words.iter().fold(0u64, |a, &w| a.rotate_left(5) ^ w)
}

/// The same fold over a byte payload of `N` bytes (8-byte words, little-endian), after
/// one length check (as a reader of fixed-size messages does): the payload's length is
/// known only at run time, the peers' at compile time.
#[inline(always)]
fn fold_bytes<const N: usize>(bytes: &[u8], at: u64) -> u64 {
    let Ok(bytes) = <&[u8; N]>::try_from(bytes) else {
        fail("payload length", at)
    };
    let mut a = 0u64;
    for w in bytes.chunks_exact(8) {
        a = a.rotate_left(5) ^ u64::from_le_bytes(w.try_into().unwrap());
    }
    a
}

#[inline(always)]
fn first_word(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => u64::MAX,
    }
}

/// One side's state in the single-thread interleaving.
struct Sides<P, C> {
    tx: P,
    rx: C,
    /// Next message to publish, next to consume.
    sent: u64,
    got: u64,
    sum: u64,
}

// ---------------------------------------------------------------------------------------
// milonga

type MTx = Producer<'static>;
type MRx = Consumer<'static>;

fn milonga_pair(size: usize) -> (MTx, MRx) {
    Link::builder()
        .depth(DEPTH)
        .mtu(size.max(8))
        .heap_pair()
        .expect("build")
}

#[inline(never)]
fn milonga_produce<const N: usize>(s: &mut Sides<MTx, MRx>, k: u64) {
    let mut buf = [0x5au8; N];
    for _ in 0..k {
        let seq = s.sent;
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        if s.tx.try_publish(Header::new(seq), &buf).is_err() {
            fail("publish", seq);
        }
        s.sent += 1;
    }
}

/// Frags per batch publish (`m-bp-*`, `m-bpc-*`, `m-sig-bp-*`): `PCHUNK`, default 32.
fn pchunk() -> u64 {
    std::env::var("PCHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

/// Writes message `seq` (`N` bytes: its number, then 0x5a) into `buf` (at least `N`).
#[inline(always)]
fn stamp<const N: usize>(seq: u64, buf: &mut [u8]) -> (Header, usize) {
    let mut m = [0x5au8; N];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    buf[..N].copy_from_slice(&m);
    (Header::new(seq), N)
}

/// Publishes messages `first..first + k` with one in-place batch publish.
#[inline(always)]
fn milonga_bp<const N: usize>(tx: &mut MTx, first: u64, k: u64) -> bool {
    tx.try_publish_batch_in_place(k as usize, N, stamp::<N>)
        .inspect(|&s| debug_assert_eq!(s, first))
        .is_ok()
}

/// The caller's side of a copy-in batch: `k <= 64` messages built in a buffer that lives
/// across calls, as a producer that gathers messages before publishing them would keep.
struct Gather<const N: usize> {
    bufs: [[u8; N]; 64],
    hdrs: [Header; 64],
}

impl<const N: usize> Gather<N> {
    fn new() -> Box<Self> {
        Box::new(Gather {
            bufs: [[0x5au8; N]; 64],
            hdrs: [Header::new(0); 64],
        })
    }
}

/// Publishes messages `first..first + k` (`k <= 64`) with one copy-in batch publish.
#[inline(always)]
fn milonga_bpc<const N: usize>(g: &mut Gather<N>, tx: &mut MTx, first: u64, k: u64) -> bool {
    let k = k as usize;
    for i in 0..k {
        g.bufs[i][..8].copy_from_slice(&(first + i as u64).to_le_bytes());
        g.hdrs[i] = Header::new(first + i as u64);
    }
    let frags: [(Header, &[u8]); 64] = std::array::from_fn(|i| (g.hdrs[i], &g.bufs[i][..]));
    tx.try_publish_batch(&frags[..k]).is_ok()
}

/// Publishes messages `first..first + k`, each only a sig (no payload), with one in-place
/// batch publish.
#[inline(always)]
fn milonga_sig_bp(tx: &mut MTx, first: u64, k: u64) -> bool {
    tx.try_publish_batch_in_place(k as usize, 0, |seq, _| (Header::new(seq), 0))
        .inspect(|&s| debug_assert_eq!(s, first))
        .is_ok()
}

/// The producer side of a batch-publishing variant: `k` messages in calls of at most
/// `pchunk` frags.
#[inline(always)]
fn milonga_batches(
    s: &mut Sides<MTx, MRx>,
    k: u64,
    pchunk: u64,
    mut publish: impl FnMut(&mut MTx, u64, u64) -> bool,
) {
    let end = s.sent + k;
    while s.sent < end {
        let n = pchunk.min(end - s.sent);
        if !publish(&mut s.tx, s.sent, n) {
            fail("publish batch", s.sent);
        }
        s.sent += n;
    }
}

#[inline(never)]
fn milonga_bp_produce<const N: usize>(s: &mut Sides<MTx, MRx>, k: u64, pchunk: u64) {
    milonga_batches(s, k, pchunk, milonga_bp::<N>);
}

#[inline(never)]
fn milonga_bpc_produce<const N: usize>(
    s: &mut Sides<MTx, MRx>,
    k: u64,
    pchunk: u64,
    g: &mut Gather<N>,
) {
    milonga_batches(s, k, pchunk, |tx, first, n| {
        milonga_bpc::<N>(g, tx, first, n)
    });
}

#[inline(never)]
fn milonga_sig_bp_produce(s: &mut Sides<MTx, MRx>, k: u64, pchunk: u64) {
    milonga_batches(s, k, pchunk, milonga_sig_bp);
}

#[inline(never)]
fn milonga_poll_consume<const N: usize>(s: &mut Sides<MTx, MRx>, k: u64) {
    for _ in 0..k {
        let Ok(frag) = s.rx.try_recv() else {
            fail("try_recv", s.got)
        };
        let p = frag.payload();
        if first_word(p) != s.got {
            fail("payload", s.got);
        }
        s.sum = s.sum.wrapping_add(fold_bytes::<N>(p, s.got));
        drop(frag);
        s.got += 1;
    }
}

#[inline(never)]
fn milonga_batch_consume<const N: usize>(s: &mut Sides<MTx, MRx>, k: u64, budget: Budget) {
    let end = s.got + k;
    while s.got < end {
        let Ok(batch) = s.rx.try_batch(budget) else {
            fail("try_batch", s.got)
        };
        for frag in &batch {
            let p = frag.payload();
            if first_word(p) != s.got {
                fail("payload", s.got);
            }
            s.sum = s.sum.wrapping_add(fold_bytes::<N>(p, s.got));
            s.got += 1;
        }
        batch.commit();
    }
}

#[inline(never)]
fn milonga_sig_produce(s: &mut Sides<MTx, MRx>, k: u64) {
    for _ in 0..k {
        let seq = s.sent;
        if s.tx.try_publish(Header::new(seq), &[]).is_err() {
            fail("publish", seq);
        }
        s.sent += 1;
    }
}

#[inline(never)]
fn milonga_sig_poll_consume(s: &mut Sides<MTx, MRx>, k: u64) {
    for _ in 0..k {
        let Ok(frag) = s.rx.try_recv() else {
            fail("try_recv", s.got)
        };
        if frag.sig() != s.got {
            fail("sig", s.got);
        }
        s.sum = s.sum.wrapping_add(frag.sig());
        drop(frag);
        s.got += 1;
    }
}

#[inline(never)]
fn milonga_sig_batch_consume(s: &mut Sides<MTx, MRx>, k: u64, budget: Budget) {
    let end = s.got + k;
    while s.got < end {
        let Ok(batch) = s.rx.try_batch(budget) else {
            fail("try_batch", s.got)
        };
        for frag in &batch {
            if frag.sig() != s.got {
                fail("sig", s.got);
            }
            s.sum = s.sum.wrapping_add(frag.sig());
            s.got += 1;
        }
        batch.commit();
    }
}

// ---------------------------------------------------------------------------------------
// rtrb

type RTx<const W: usize> = rtrb::Producer<[u64; W]>;
type RRx<const W: usize> = rtrb::Consumer<[u64; W]>;

#[inline(never)]
fn rtrb_produce<const W: usize>(s: &mut Sides<RTx<W>, RRx<W>>, k: u64) {
    let mut msg = [0x5a5a_5a5a_5a5a_5a5au64; W];
    for _ in 0..k {
        msg[0] = s.sent;
        if s.tx.push(msg).is_err() {
            fail("push", s.sent);
        }
        s.sent += 1;
    }
}

#[inline(never)]
fn rtrb_consume<const W: usize>(s: &mut Sides<RTx<W>, RRx<W>>, k: u64) {
    for _ in 0..k {
        let Ok(m) = s.rx.pop() else {
            fail("pop", s.got)
        };
        if m[0] != s.got {
            fail("payload", s.got);
        }
        s.sum = s.sum.wrapping_add(fold_words(&m));
        s.got += 1;
    }
}

#[inline(never)]
fn rtrb_chunk_produce<const W: usize>(s: &mut Sides<RTx<W>, RRx<W>>, k: u64) {
    let first = s.sent;
    let Ok(chunk) = s.tx.write_chunk_uninit(k as usize) else {
        fail("write_chunk_uninit", first)
    };
    let template = [0x5a5a_5a5a_5a5a_5a5au64; W];
    let n = chunk.fill_from_iter((first..first + k).map(|seq| {
        let mut m = template;
        m[0] = seq;
        m
    }));
    s.sent += n as u64;
}

#[inline(never)]
fn rtrb_chunk_consume<const W: usize>(s: &mut Sides<RTx<W>, RRx<W>>, k: u64, batch: usize) {
    let end = s.got + k;
    while s.got < end {
        let n = s.rx.slots().min(batch);
        let Ok(chunk) = s.rx.read_chunk(n) else {
            fail("read_chunk", s.got)
        };
        let (a, b) = chunk.as_slices();
        for m in a.iter().chain(b) {
            if m[0] != s.got {
                fail("payload", s.got);
            }
            s.sum = s.sum.wrapping_add(fold_words(m));
            s.got += 1;
        }
        chunk.commit_all();
    }
}

// ---------------------------------------------------------------------------------------
// disruptor

type DTx<const W: usize> = disruptor::SingleProducer<[u64; W], disruptor::SingleConsumerBarrier>;
type DRx<const W: usize> = disruptor::EventPoller<[u64; W], disruptor::SingleProducerBarrier>;

fn disruptor_pair<const W: usize>() -> (DTx<W>, DRx<W>) {
    let (poller, builder) = disruptor::build_single_producer(
        DEPTH,
        || [0x5a5a_5a5a_5a5a_5a5au64; W],
        disruptor::BusySpin,
    )
    .new_event_poller();
    (builder.build(), poller)
}

#[inline(never)]
fn dis_produce<const W: usize>(s: &mut Sides<DTx<W>, DRx<W>>, k: u64) {
    use disruptor::Producer as _;
    let mut msg = [0x5a5a_5a5a_5a5a_5a5au64; W];
    for _ in 0..k {
        msg[0] = s.sent;
        if s.tx.try_publish(|e| *e = msg).is_err() {
            fail("try_publish", s.sent);
        }
        s.sent += 1;
    }
}

#[inline(never)]
fn dis_batch_produce<const W: usize>(s: &mut Sides<DTx<W>, DRx<W>>, k: u64) {
    use disruptor::Producer as _;
    let first = s.sent;
    let template = [0x5a5a_5a5a_5a5a_5a5au64; W];
    let r = s.tx.try_batch_publish(k as usize, |iter| {
        for (seq, e) in (first..).zip(iter) {
            let mut m = template;
            m[0] = seq;
            *e = m;
        }
    });
    if r.is_err() {
        fail("try_batch_publish", first);
    }
    s.sent += k;
}

#[inline(never)]
fn dis_consume<const W: usize>(s: &mut Sides<DTx<W>, DRx<W>>, k: u64, batch: u64) {
    let end = s.got + k;
    while s.got < end {
        let Ok(mut events) = s.rx.take(batch) else {
            fail("take", s.got)
        };
        for m in &mut events {
            if m[0] != s.got {
                fail("payload", s.got);
            }
            s.sum = s.sum.wrapping_add(fold_words(m));
            s.got += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// single thread

/// Publishes and consumes `msgs` messages, `chunk` at a time, in one thread.
fn interleave<P, C>(
    mut s: Sides<P, C>,
    msgs: u64,
    chunk: u64,
    mut produce: impl FnMut(&mut Sides<P, C>, u64),
    mut consume: impl FnMut(&mut Sides<P, C>, u64),
) -> u64 {
    let mut left = msgs;
    while left > 0 {
        let k = left.min(chunk);
        produce(&mut s, k);
        consume(&mut s, k);
        left -= k;
    }
    assert_eq!((s.sent, s.got), (msgs, msgs));
    s.sum
}

fn sides<P, C>((tx, rx): (P, C)) -> Sides<P, C> {
    Sides {
        tx,
        rx,
        sent: 0,
        got: 0,
        sum: 0,
    }
}

fn single<const W: usize, const N: usize>(variant: &str, msgs: u64, chunk: u64, batch: usize) {
    assert!(chunk as usize <= DEPTH / 2 && batch >= 1);
    let pchunk = pchunk();
    assert!((1..=64).contains(&pchunk), "PCHUNK must be 1 to 64");
    let budget = Budget::new(batch, batch * N.max(8)).expect("budget");
    let sum = match variant {
        "m-poll" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            milonga_produce::<N>,
            milonga_poll_consume::<N>,
        ),
        "m-batch" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            milonga_produce::<N>,
            |s, k| milonga_batch_consume::<N>(s, k, budget),
        ),
        "m-sig-poll" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            milonga_sig_produce,
            milonga_sig_poll_consume,
        ),
        "m-sig-batch" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            milonga_sig_produce,
            |s, k| milonga_sig_batch_consume(s, k, budget),
        ),
        "m-bp-batch" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            |s, k| milonga_bp_produce::<N>(s, k, pchunk),
            |s, k| milonga_batch_consume::<N>(s, k, budget),
        ),
        "m-bp-poll" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            |s, k| milonga_bp_produce::<N>(s, k, pchunk),
            milonga_poll_consume::<N>,
        ),
        "m-bpc-batch" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            {
                let mut g = Gather::<N>::new();
                move |s, k| milonga_bpc_produce::<N>(s, k, pchunk, &mut g)
            },
            |s, k| milonga_batch_consume::<N>(s, k, budget),
        ),
        "m-sig-bp-batch" => interleave(
            sides(milonga_pair(N)),
            msgs,
            chunk,
            |s, k| milonga_sig_bp_produce(s, k, pchunk),
            |s, k| milonga_sig_batch_consume(s, k, budget),
        ),
        "rtrb" => interleave(
            sides(rtrb::RingBuffer::<[u64; W]>::new(DEPTH)),
            msgs,
            chunk,
            rtrb_produce::<W>,
            rtrb_consume::<W>,
        ),
        "rtrb-chunk" => interleave(
            sides(rtrb::RingBuffer::<[u64; W]>::new(DEPTH)),
            msgs,
            chunk,
            rtrb_chunk_produce::<W>,
            |s, k| rtrb_chunk_consume::<W>(s, k, batch),
        ),
        "dis" => interleave(
            sides(disruptor_pair::<W>()),
            msgs,
            chunk,
            dis_produce::<W>,
            |s, k| dis_consume::<W>(s, k, batch as u64),
        ),
        "dis-bp" => interleave(
            sides(disruptor_pair::<W>()),
            msgs,
            chunk,
            dis_batch_produce::<W>,
            |s, k| dis_consume::<W>(s, k, batch as u64),
        ),
        v => usage(&format!("unknown variant {v}")),
    };
    black_box(sum);
}

// ---------------------------------------------------------------------------------------
// two threads

fn pin(cpu: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!("warning: could not pin to cpu {cpu}");
    }
}

/// What one two-thread run found.
struct Stats {
    secs: f64,
    /// Producer calls refused (full), consumer calls that found nothing, batch reads.
    refused: u64,
    empty: u64,
    batches: u64,
}

/// Runs `producer` on cpu 0 and `consumer` on cpu 1 behind a spinning start barrier;
/// the consumer's time from the barrier to its last message is the run's.
fn pair<P, C>(producer: P, consumer: C) -> Stats
where
    P: FnOnce() -> u64 + Send,
    C: FnOnce() -> (u64, u64) + Send,
{
    let go = AtomicBool::new(false);
    std::thread::scope(|s| {
        let go = &go;
        let p = s.spawn(move || {
            pin(0);
            while !go.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            producer()
        });
        let c = s.spawn(move || {
            pin(1);
            go.store(true, Ordering::Release);
            let t0 = Instant::now();
            let (empty, batches) = consumer();
            (t0.elapsed().as_secs_f64(), empty, batches)
        });
        let refused = p.join().expect("producer");
        let (secs, empty, batches) = c.join().expect("consumer");
        Stats {
            secs,
            refused,
            empty,
            batches,
        }
    })
}

fn threaded<const W: usize, const N: usize>(variant: &str, msgs: u64, batch: usize) -> Stats {
    let budget = Budget::new(batch, batch * N.max(8)).expect("budget");
    match variant {
        "m-poll" | "m-batch" => {
            let (mut tx, mut rx) = milonga_pair(N);
            let batched = variant == "m-batch";
            pair(
                move || {
                    let mut refused = 0;
                    let mut buf = [0x5au8; N];
                    for seq in 0..msgs {
                        buf[..8].copy_from_slice(&seq.to_le_bytes());
                        while tx.try_publish(Header::new(seq), &buf).is_err() {
                            refused += 1;
                            std::hint::spin_loop();
                        }
                    }
                    tx.halt();
                    refused
                },
                move || {
                    let (mut got, mut empty, mut batches, mut sum) = (0u64, 0u64, 0u64, 0u64);
                    while got < msgs {
                        if batched {
                            match rx.try_batch(budget) {
                                Ok(b) => {
                                    for frag in &b {
                                        let p = frag.payload();
                                        if first_word(p) != got {
                                            fail("payload", got);
                                        }
                                        sum = sum.wrapping_add(fold_bytes::<N>(p, got));
                                        got += 1;
                                    }
                                    b.commit();
                                    batches += 1;
                                }
                                Err(_) => empty += 1,
                            }
                        } else {
                            match rx.try_recv() {
                                Ok(frag) => {
                                    let p = frag.payload();
                                    if first_word(p) != got {
                                        fail("payload", got);
                                    }
                                    sum = sum.wrapping_add(fold_bytes::<N>(p, got));
                                    got += 1;
                                    batches += 1;
                                }
                                Err(_) => empty += 1,
                            }
                        }
                    }
                    black_box(sum);
                    (empty, batches)
                },
            )
        }
        "m-sig-poll" | "m-sig-batch" => milonga_mt::<N>(variant, msgs, budget, 1, |tx, seq, _| {
            tx.try_publish(Header::new(seq), &[]).is_ok()
        }),
        "m-bp-batch" | "m-bp-poll" => {
            milonga_mt::<N>(variant, msgs, budget, pchunk(), milonga_bp::<N>)
        }
        "m-bpc-batch" => {
            let mut g = Gather::<N>::new();
            milonga_mt::<N>(variant, msgs, budget, pchunk(), move |tx, first, n| {
                milonga_bpc::<N>(&mut g, tx, first, n)
            })
        }
        "m-sig-bp-batch" => milonga_mt::<N>(variant, msgs, budget, pchunk(), milonga_sig_bp),
        "rtrb" | "rtrb-chunk" => {
            let (mut tx, mut rx) = rtrb::RingBuffer::<[u64; W]>::new(DEPTH);
            let chunked = variant == "rtrb-chunk";
            pair(
                move || {
                    let mut refused = 0;
                    let mut msg = [0x5a5a_5a5a_5a5a_5a5au64; W];
                    for seq in 0..msgs {
                        msg[0] = seq;
                        while tx.push(msg).is_err() {
                            refused += 1;
                            std::hint::spin_loop();
                        }
                    }
                    refused
                },
                move || {
                    let (mut got, mut empty, mut batches, mut sum) = (0u64, 0u64, 0u64, 0u64);
                    while got < msgs {
                        if chunked {
                            let n = rx.slots().min(batch);
                            if n == 0 {
                                empty += 1;
                                continue;
                            }
                            let chunk = rx.read_chunk(n).expect("read_chunk");
                            let (a, b) = chunk.as_slices();
                            for m in a.iter().chain(b) {
                                if m[0] != got {
                                    fail("payload", got);
                                }
                                sum = sum.wrapping_add(fold_words(m));
                                got += 1;
                            }
                            chunk.commit_all();
                            batches += 1;
                        } else {
                            match rx.pop() {
                                Ok(m) => {
                                    if m[0] != got {
                                        fail("payload", got);
                                    }
                                    sum = sum.wrapping_add(fold_words(&m));
                                    got += 1;
                                    batches += 1;
                                }
                                Err(_) => empty += 1,
                            }
                        }
                    }
                    black_box(sum);
                    (empty, batches)
                },
            )
        }
        "dis" => {
            use disruptor::Producer as _;
            let (mut tx, mut rx) = disruptor_pair::<W>();
            pair(
                move || {
                    let mut refused = 0;
                    let mut msg = [0x5a5a_5a5a_5a5a_5a5au64; W];
                    for seq in 0..msgs {
                        msg[0] = seq;
                        while tx.try_publish(|e| *e = msg).is_err() {
                            refused += 1;
                            std::hint::spin_loop();
                        }
                    }
                    drop(tx);
                    refused
                },
                move || {
                    let (mut got, mut empty, mut batches, mut sum) = (0u64, 0u64, 0u64, 0u64);
                    while got < msgs {
                        match rx.take(batch as u64) {
                            Ok(mut events) => {
                                for m in &mut events {
                                    if m[0] != got {
                                        fail("payload", got);
                                    }
                                    sum = sum.wrapping_add(fold_words(m));
                                    got += 1;
                                }
                                batches += 1;
                            }
                            Err(_) => empty += 1,
                        }
                    }
                    black_box(sum);
                    (empty, batches)
                },
            )
        }
        "raw" => raw::<W>(msgs),
        v => usage(&format!("unknown variant for mt {v}")),
    }
}

/// The two-thread run of a milonga variant whose producer publishes with `publish(tx,
/// first, k)`, `per_call` messages a call (`m-sig-*`: the value in the sig; `*-batch`:
/// batch reads, else polls).
fn milonga_mt<const N: usize>(
    variant: &str,
    msgs: u64,
    budget: Budget,
    per_call: u64,
    mut publish: impl FnMut(&mut MTx, u64, u64) -> bool + Send,
) -> Stats {
    assert!((1..=64).contains(&per_call), "PCHUNK must be 1 to 64");
    let (mut tx, mut rx) = milonga_pair(N);
    let sig = variant.starts_with("m-sig");
    let batched = variant.ends_with("batch");
    pair(
        move || {
            let (mut refused, mut seq) = (0, 0);
            while seq < msgs {
                let k = per_call.min(msgs - seq);
                while !publish(&mut tx, seq, k) {
                    refused += 1;
                    std::hint::spin_loop();
                }
                seq += k;
            }
            tx.halt();
            refused
        },
        move || {
            let (mut got, mut empty, mut batches, mut sum) = (0u64, 0u64, 0u64, 0u64);
            let mut check = |frag: milonga::spsc::Frag<'_>, got: u64| {
                if sig {
                    if frag.sig() != got {
                        fail("sig", got);
                    }
                    sum = sum.wrapping_add(frag.sig());
                } else {
                    let p = frag.payload();
                    if first_word(p) != got {
                        fail("payload", got);
                    }
                    sum = sum.wrapping_add(fold_bytes::<N>(p, got));
                }
            };
            while got < msgs {
                if batched {
                    match rx.try_batch(budget) {
                        Ok(b) => {
                            for frag in &b {
                                check(frag, got);
                                got += 1;
                            }
                            b.commit();
                            batches += 1;
                        }
                        Err(_) => empty += 1,
                    }
                } else {
                    match rx.try_recv() {
                        Ok(frag) => {
                            check(frag.frag(), got);
                            got += 1;
                            batches += 1;
                        }
                        Err(_) => empty += 1,
                    }
                }
            }
            black_box(sum);
            (empty, batches)
        },
    )
}

/// One cache line of the reference ring: eight atomic words.
#[repr(C, align(64))]
struct Line([AtomicU64; 8]);

/// The physical reference: the least a ring can move between the cores. Messages of
/// `8 * W` bytes (`W` 1 or 8) packed `8 / W` to a cache line, each carrying its own
/// `seq + 1` in its first word (stored last, with release ordering), so the consumer polls
/// the message itself; the consumer reports its position every 64 messages and the
/// producer reads it only when its cached credits run out. Per message: `W / 8` of a line
/// from producer to consumer, and no index line per message.
fn raw<const W: usize>(msgs: u64) -> Stats {
    const LINES: usize = 1024;
    let per_line = 8 / W;
    let slots = (LINES * per_line) as u64;
    let ring: Vec<Line> = (0..LINES)
        .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect();
    let pos = crossbeam_utils::CachePadded::new(AtomicU64::new(0));
    let (ring, pos) = (&ring, &pos);
    let word = move |seq: u64| {
        let i = (seq % slots) as usize * W;
        &ring[i / 8].0[i % 8..i % 8 + W]
    };
    pair(
        move || {
            let mut refused = 0;
            let mut limit = slots;
            for seq in 0..msgs {
                while seq >= limit {
                    limit = pos.load(Ordering::Acquire) + slots;
                    if seq >= limit {
                        refused += 1;
                        std::hint::spin_loop();
                    }
                }
                let w = word(seq);
                for x in &w[1..] {
                    x.store(0x5a5a_5a5a_5a5a_5a5a, Ordering::Relaxed);
                }
                w[0].store(seq + 1, Ordering::Release);
            }
            refused
        },
        move || {
            let (mut empty, mut sum) = (0u64, 0u64);
            for seq in 0..msgs {
                let w = word(seq);
                loop {
                    let v = w[0].load(Ordering::Acquire);
                    if v == seq + 1 {
                        break;
                    }
                    if v > seq + 1 {
                        fail("raw ring overrun", seq);
                    }
                    empty += 1;
                    std::hint::spin_loop();
                }
                sum = w[1..]
                    .iter()
                    .fold(sum, |a, x| a.rotate_left(5) ^ x.load(Ordering::Relaxed));
                if seq % 64 == 63 {
                    pos.store(seq + 1, Ordering::Release);
                }
            }
            black_box(sum);
            (empty, msgs)
        },
    )
}

fn usage(why: &str) -> ! {
    eprintln!(
        "{why}\nusage: prof st VARIANT SIZE MSGS [CHUNK] [BATCH]\n       prof mt VARIANT SIZE MSGS [BATCH]\n\
         variants: m-poll m-batch m-sig-poll m-sig-batch m-bp-batch m-bp-poll m-bpc-batch m-sig-bp-batch\n         rtrb rtrb-chunk dis dis-bp (st and mt), raw (mt only); SIZE 8 or 64; PCHUNK=k: frags per batch publish (default 32)"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        usage("missing arguments");
    }
    let num = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|_| usage(&format!("bad number {a}")))
            })
            .unwrap_or(default)
    };
    let (mode, variant, size, msgs) = (args[0].as_str(), args[1].as_str(), num(2, 0), num(3, 0));
    match mode {
        "st" => {
            let (chunk, batch) = (num(4, 128), num(5, 128) as usize);
            match size {
                8 => single::<1, 8>(variant, msgs, chunk, batch),
                64 => single::<8, 64>(variant, msgs, chunk, batch),
                _ => usage("SIZE must be 8 or 64"),
            }
        }
        "mt" => {
            let batch = num(4, 128) as usize;
            let st = match size {
                8 => threaded::<1, 8>(variant, msgs, batch),
                64 => threaded::<8, 64>(variant, msgs, batch),
                _ => usage("SIZE must be 8 or 64"),
            };
            let m = msgs as f64;
            println!(
                "{variant} {size} B: {:.1} Mmsg/s ({:.2} ns/msg); per msg: {:.3} refused publishes, {:.3} empty polls; mean batch {:.1}",
                m / st.secs / 1e6,
                st.secs * 1e9 / m,
                st.refused as f64 / m,
                st.empty as f64 / m,
                m / st.batches.max(1) as f64
            );
        }
        _ => usage("mode must be st or mt"),
    }
}
