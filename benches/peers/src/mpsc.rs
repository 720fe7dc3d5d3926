//! Scenario (f): two producers, one consumer, 8-byte values. Each value is
//! `producer id << 56 | per-producer seq`; the consumer checks that every producer's values
//! arrive in order, with none lost or repeated, and that the totals add up.
//!
//! milonga runs in both of its multi-producer designs: the shared ring ([`milonga_ring`]:
//! one ring, producers claim seqs with a compare-exchange) and fan-in ([`milonga_fan_in`]:
//! one SPSC link per producer, the consumer polls them round robin). Each carries the value
//! in its 8-byte payload, as the typed peers carry a `u64`, and reads in batches.

use std::time::{Duration, Instant};

use milonga::spsc::{Batch, Budget};
use milonga::{Header, PublishError, TryRecvError};

use crate::common::{join_all, spawn, Ctx, CONSUMER_CPU, PRODUCER_CPU};
use crate::tput::batch_of;

/// One run of one peer: messages per producer in, the transfer's seconds out.
pub type MpscFn = fn(u64) -> Result<f64, String>;

/// Producers.
pub const PRODUCERS: usize = 2;
/// Ring depth (for fan-in: of each producer's link).
pub const DEPTH: usize = 1024;
/// Bytes of one value (milonga's payload and mtu).
const VALUE: usize = 8;
const STALL: Duration = Duration::from_secs(10);
const SEQ_MASK: u64 = (1 << 56) - 1;

/// The cores of the producers: 0 and 2 when there are three cores or more, otherwise both
/// on core 0 (they then share it, time-sliced by the OS).
pub fn producer_cpus() -> [usize; PRODUCERS] {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus > 2 {
        [PRODUCER_CPU, 2]
    } else {
        [PRODUCER_CPU, PRODUCER_CPU]
    }
}

/// The consumer's check of every value.
pub struct Checker {
    next: [u64; PRODUCERS],
    total: u64,
}

impl Checker {
    /// Checks one value.
    #[inline(always)]
    pub fn check(&mut self, v: u64) -> Result<(), String> {
        let pid = (v >> 56) as usize;
        let seq = v & SEQ_MASK;
        match self.next.get_mut(pid) {
            Some(n) if *n == seq => {
                *n += 1;
                self.total += 1;
                Ok(())
            }
            Some(n) => Err(format!("order: producer {pid} expected {}, got {seq}", *n)),
            None => Err(format!("value {v:#x} names no producer")),
        }
    }
}

/// The core: `make_sender(pid)` makes producer `pid`'s sender (called for pid 0, 1, ... in
/// turn), which returns `Ok(false)` when the queue is full (the value is tried again) and an
/// error to fail the run; `recv` drains what it can into the checker and returns how many
/// values it took (0: empty).
fn core<S, Mk, R>(msgs: u64, mut make_sender: Mk, mut recv: R) -> Result<f64, String>
where
    S: FnMut(u64) -> Result<bool, String> + Send,
    Mk: FnMut(usize) -> S,
    R: FnMut(&mut Checker) -> Result<usize, String> + Send,
{
    let ctx = Ctx::new(PRODUCERS + 1, STALL);
    let cpus = producer_cpus();
    let senders: Vec<S> = (0..PRODUCERS).map(&mut make_sender).collect();
    std::thread::scope(|s| {
        let ctx = &ctx;
        let mut producers = Vec::new();
        for (pid, mut send) in senders.into_iter().enumerate() {
            producers.push(spawn(
                s,
                &format!("producer{pid}"),
                ctx,
                cpus[pid],
                move || {
                    let tag = (pid as u64) << 56;
                    ctx.start()?;
                    let mut spin = ctx.spinner();
                    for seq in 0..msgs {
                        while !send(tag | seq)? {
                            spin.spin()?;
                        }
                        spin.reset();
                    }
                    drop(send);
                    Ok(())
                },
            ));
        }
        let consumer = spawn(s, "consumer", ctx, CONSUMER_CPU, move || {
            let mut check = Checker {
                next: [0; PRODUCERS],
                total: 0,
            };
            let total = msgs * PRODUCERS as u64;
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            while check.total < total {
                if recv(&mut check)? == 0 {
                    spin.spin()?;
                } else {
                    spin.reset();
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            if check.next.iter().any(|&n| n != msgs) || check.total != total {
                return Err(format!(
                    "totals: got {:?} per producer, {} in all, expected {msgs} each",
                    check.next, check.total
                ));
            }
            Ok(secs)
        });
        join_all(producers, consumer)
    })
}

/// crossbeam-queue `ArrayQueue`, shared by reference.
pub fn array_queue(msgs: u64) -> Result<f64, String> {
    let q = crossbeam_queue::ArrayQueue::<u64>::new(DEPTH);
    let q = &q;
    core(
        msgs,
        |_| move |v| Ok(q.push(v).is_ok()),
        move |c: &mut Checker| match q.pop() {
            Some(v) => c.check(v).map(|()| 1),
            None => Ok(0),
        },
    )
}

/// crossbeam-channel `bounded`, one `Sender` clone per producer.
pub fn channel(msgs: u64) -> Result<f64, String> {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(DEPTH);
    core(
        msgs,
        |_| {
            let tx = tx.clone();
            move |v| Ok(tx.try_send(v).is_ok())
        },
        move |c: &mut Checker| match rx.try_recv() {
            Ok(v) => c.check(v).map(|()| 1),
            Err(_) => Ok(0),
        },
    )
}

/// std `sync_channel`, one `SyncSender` clone per producer.
pub fn std_sync_channel(msgs: u64) -> Result<f64, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(DEPTH);
    core(
        msgs,
        |_| {
            let tx = tx.clone();
            move |v| Ok(tx.try_send(v).is_ok())
        },
        move |c: &mut Checker| match rx.try_recv() {
            Ok(v) => c.check(v).map(|()| 1),
            Err(_) => Ok(0),
        },
    )
}

/// disruptor multi-producer, one `MultiProducer` clone per producer; the consumer is an
/// `EventPoller` taking batches of up to `DEPTH / 8`.
pub fn disruptor(msgs: u64) -> Result<f64, String> {
    use disruptor::{build_multi_producer, BusySpin, Polling, Producer as _};
    let (mut poller, builder) = build_multi_producer(DEPTH, || 0u64, BusySpin).new_event_poller();
    let producer = builder.build();
    let max = batch_of(DEPTH) as u64;
    let r = core(
        msgs,
        |_| {
            let mut p = producer.clone();
            move |v| Ok(p.try_publish(|e| *e = v).is_ok())
        },
        move |c: &mut Checker| match poller.take(max) {
            Ok(mut events) => {
                let mut n = 0;
                for &v in &mut events {
                    c.check(v)?;
                    n += 1;
                }
                Ok(n)
            }
            Err(Polling::NoEvents) => Ok(0),
            Err(Polling::Shutdown) => Err("shut down".to_string()),
        },
    );
    drop(producer);
    r
}

/// milonga shared ring (`mpsc::Ring::builder()`, depth 1024, mtu 8): one `RingProducer` clone per
/// producer, each value a `try_publish` (claim a seq with a compare-exchange, copy the 8
/// bytes in, publish); the consumer is the SPSC consumer, reading zero-copy batches of up
/// to `DEPTH / 8` frags across producers.
pub fn milonga_ring(msgs: u64) -> Result<f64, String> {
    use milonga::mpsc::Ring;
    let (tx, mut rx) = Ring::builder()
        .depth(DEPTH)
        .mtu(VALUE)
        .heap_pair()
        .map_err(|e| format!("build: {e}"))?;
    let max = batch_of(DEPTH);
    let budget = Budget::new(max, max * VALUE).unwrap();
    core(
        msgs,
        |pid| {
            let tx = tx.clone();
            let hdr = Header::new(pid as u64);
            move |v: u64| sent(tx.try_publish(hdr, &v.to_le_bytes()))
        },
        move |c: &mut Checker| match rx.try_batch(budget) {
            Ok(batch) => check_batch(c, batch, None),
            Err(e) => idle(c, e),
        },
    )
}

/// milonga fan-in (`mpsc::FanIn::builder()`): one SPSC link of depth 1024, mtu 8 per producer,
/// each value a `try_publish` on the producer's own link; the `FanIn` consumer takes a
/// zero-copy batch of up to `DEPTH / 8` frags from one link per call, round robin.
pub fn milonga_fan_in(msgs: u64) -> Result<f64, String> {
    use milonga::mpsc::{FanIn, FanInHandles};
    let FanInHandles {
        producers: txs,
        consumer: mut rx,
    } = FanIn::builder()
        .producers(PRODUCERS)
        .depth(DEPTH)
        .mtu(VALUE)
        .heap()
        .map_err(|e| format!("build: {e}"))?;
    let mut txs = txs.into_iter();
    let max = batch_of(DEPTH);
    let budget = Budget::new(max, max * VALUE).unwrap();
    core(
        msgs,
        move |pid| {
            // Producer `pid` takes link `pid`; the consumer checks that they match.
            let mut tx = txs.next().expect("one link per producer");
            let hdr = Header::new(pid as u64);
            move |v: u64| sent(tx.try_publish(hdr, &v.to_le_bytes()))
        },
        move |c: &mut Checker| match rx.try_batch(budget) {
            Ok((link, batch)) => check_batch(c, batch, Some(link)),
            Err(e) => idle(c, e),
        },
    )
}

/// A milonga `try_publish` as a sender's result: `Ok(false)` on `NoCredits` (try again),
/// any other error fails the run.
#[inline(always)]
fn sent(r: Result<u64, PublishError>) -> Result<bool, String> {
    match r {
        Ok(_) => Ok(true),
        Err(PublishError::NoCredits) => Ok(false),
        Err(e) => Err(format!("publish: {e}")),
    }
}

/// Checks every frag of a milonga batch and commits it; returns its length. Each frag must
/// be a whole 8-byte value, not an ERR frag (an abandoned shared-ring claim), whose `sig`
/// (and, for fan-in, whose `link`) is the producer the value names; the value then goes to
/// the checker.
#[inline(always)]
fn check_batch(
    c: &mut Checker,
    batch: Batch<'_, '_>,
    link: Option<usize>,
) -> Result<usize, String> {
    for frag in &batch {
        let Ok(bytes) = <[u8; VALUE]>::try_from(frag.payload()) else {
            return Err(format!(
                "frag {}: payload of {} bytes, expected {VALUE}",
                frag.seq(),
                frag.payload().len()
            ));
        };
        let v = u64::from_le_bytes(bytes);
        let pid = v >> 56;
        if frag.ctl().err() || frag.sig() != pid || link.is_some_and(|l| l as u64 != pid) {
            return Err(format!(
                "frag {}: value {v:#x} with sig {}, link {link:?}, ctl {:?}",
                frag.seq(),
                frag.sig(),
                frag.ctl()
            ));
        }
        c.check(v)?;
    }
    let n = batch.len();
    batch.commit();
    Ok(n)
}

/// A milonga read that returned no batch: `Empty` is 0 values, any other error fails the run.
fn idle(c: &Checker, e: TryRecvError) -> Result<usize, String> {
    match e {
        TryRecvError::Empty => Ok(0),
        e => Err(format!("recv after {} values: {e}", c.total)),
    }
}
