//! Scenario (f): two producers, one consumer, 8-byte values. Each value is
//! `producer id << 56 | per-producer seq`; the consumer checks that every producer's values
//! arrive in order, with none lost or repeated, and that the totals add up.
//!
//! milonga's multi-producer link (`mpsc`) is not built yet: see [`MILONGA`].

use std::time::{Duration, Instant};

use crate::common::{join_all, spawn, Ctx, CONSUMER_CPU, PRODUCER_CPU};

/// One run of one peer: messages per producer in, the transfer's seconds out.
pub type MpscFn = fn(u64) -> Result<f64, String>;

/// Producers.
pub const PRODUCERS: usize = 2;
/// Ring depth.
const DEPTH: usize = 1024;
const STALL: Duration = Duration::from_secs(10);
const SEQ_MASK: u64 = (1 << 56) - 1;

/// The slot for milonga's multi-producer link. When `milonga::mpsc` exists, write a
/// `milonga(msgs_per_producer) -> Result<f64, String>` below (same shape as the peers') and
/// put it here; the table then prints its numbers and the ratios to it.
pub const MILONGA: Option<MpscFn> = None;

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

/// The core: `send(pid)` makes producer `pid`'s sender; `recv` drains what it can into the
/// checker and returns how many values it took (0: empty).
fn core<S, Mk, R>(msgs: u64, make_sender: Mk, mut recv: R) -> Result<f64, String>
where
    S: FnMut(u64) -> bool + Send,
    Mk: Fn(usize) -> S,
    R: FnMut(&mut Checker) -> Result<usize, String> + Send,
{
    let ctx = Ctx::new(PRODUCERS + 1, STALL);
    let cpus = producer_cpus();
    let senders: Vec<S> = (0..PRODUCERS).map(&make_sender).collect();
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
                        while !send(tag | seq) {
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
        |_| move |v| q.push(v).is_ok(),
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
            move |v| tx.try_send(v).is_ok()
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
            move |v| tx.try_send(v).is_ok()
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
    let max = crate::tput::batch_of(DEPTH) as u64;
    let r = core(
        msgs,
        |_| {
            let mut p = producer.clone();
            move |v| p.try_publish(|e| *e = v).is_ok()
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
