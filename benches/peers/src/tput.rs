//! Scenarios (a) to (d): one producer, one consumer, pinned to two cores, busy-polling; a
//! fixed number of messages of `N = 8 * W` bytes through a ring of `D` slots, every one
//! verified. Each function returns the seconds the transfer took, measured by the consumer
//! from the start barrier to the last message; building the ring and the threads is
//! outside that.

use std::time::{Duration, Instant};

use crate::common::{
    join_all, meta_error, spawn, stamp_bytes, Ctx, Msg, Pattern, CONSUMER_CPU, PRODUCER_CPU,
};

/// One run of one peer: the number of messages in, the transfer's seconds out.
pub type TputFn = fn(u64) -> Result<f64, String>;

/// A thread that waits this long without progress fails the run.
const STALL: Duration = Duration::from_secs(10);

/// Frags (events) a batch reader takes at most: an eighth of the ring, so the producer
/// keeps writing the rest of the ring while a batch is read.
pub const fn batch_of(depth: usize) -> usize {
    if depth >= 16 {
        depth / 8
    } else {
        1
    }
}

/// Runs `producer` on the producer core and `consumer` (which returns the timed seconds)
/// on the consumer core, behind a common start barrier.
pub fn pair<P, C>(producer: P, consumer: C) -> Result<f64, String>
where
    P: FnOnce(&Ctx) -> Result<(), String> + Send,
    C: FnOnce(&Ctx) -> Result<f64, String> + Send,
{
    let ctx = Ctx::new(2, STALL);
    std::thread::scope(|s| {
        let ctx = &ctx;
        let p = spawn(s, "producer", ctx, PRODUCER_CPU, move || producer(ctx));
        let c = spawn(s, "consumer", ctx, CONSUMER_CPU, move || consumer(ctx));
        join_all(vec![p], c)
    })
}

/// The common shape of the peers whose API moves typed values: `push` gives the value back
/// when the ring is full, `pop` returns `None` when it is empty.
fn typed<const W: usize, Tx: Send, Rx: Send>(
    msgs: u64,
    tx: Tx,
    rx: Rx,
    mut push: impl FnMut(&mut Tx, Msg<W>) -> Result<(), Msg<W>> + Send,
    mut pop: impl FnMut(&mut Rx) -> Option<Msg<W>> + Send,
) -> Result<f64, String> {
    let pat = Pattern::new(W);
    pair(
        move |ctx| {
            let mut tx = tx;
            let mut msg = Msg::<W>::template();
            ctx.start()?;
            let mut spin = ctx.spinner();
            for seq in 0..msgs {
                msg.stamp(seq);
                let mut m = msg;
                loop {
                    match push(&mut tx, m) {
                        Ok(()) => break,
                        Err(back) => {
                            m = back;
                            spin.spin()?;
                        }
                    }
                }
                spin.reset();
            }
            drop(tx);
            Ok(())
        },
        move |ctx| {
            let mut rx = rx;
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            let mut next = 0u64;
            while next < msgs {
                match pop(&mut rx) {
                    Some(m) => {
                        pat.check_words(&m.0, next)?;
                        next += 1;
                        spin.reset();
                    }
                    None => spin.spin()?,
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        },
    )
}

/// Messages per batch publish in the rows that publish in batches (milonga's
/// `try_publish_batch_in_place`, the disruptor's `try_batch_publish`).
pub const PUBLISH_BATCH: u64 = 32;

/// milonga, through its byte API: `try_publish` copies a payload slice in, the consumer
/// reads batches of zero-copy payload slices and commits each batch.
pub fn milonga<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    milonga_run::<W, N, D>(msgs, 1)
}

/// [`milonga`] with the producer publishing in batches of [`PUBLISH_BATCH`]:
/// `try_publish_batch_in_place` writes each payload straight into the link's store (one
/// credit check and one counter update per batch).
pub fn milonga_bp<const W: usize, const N: usize, const D: usize>(
    msgs: u64,
) -> Result<f64, String> {
    milonga_run::<W, N, D>(msgs, PUBLISH_BATCH)
}

fn milonga_run<const W: usize, const N: usize, const D: usize>(
    msgs: u64,
    publish_batch: u64,
) -> Result<f64, String> {
    use milonga::spsc::{Budget, Link};
    use milonga::{Header, PublishError, TryRecvError};
    const { assert!(N == 8 * W) };
    let pat = Pattern::new(W);
    let (mut tx, mut rx) = Link::builder()
        .depth(D)
        .mtu(N)
        .heap_pair()
        .map_err(|e| format!("build: {e}"))?;
    let max = batch_of(D);
    pair(
        move |ctx| {
            let mut buf = pat.template_bytes();
            ctx.start()?;
            let mut spin = ctx.spinner();
            let mut seq = 0;
            while seq < msgs {
                let k = publish_batch.min(msgs - seq);
                loop {
                    let got = if publish_batch == 1 {
                        stamp_bytes(&mut buf, seq);
                        tx.try_publish(Header::new(seq), &buf)
                    } else {
                        tx.try_publish_batch_in_place(k as usize, N, |seq, region| {
                            region.copy_from_slice(&buf);
                            stamp_bytes(region, seq);
                            (Header::new(seq), N)
                        })
                    };
                    match got {
                        Ok(_) => break,
                        Err(PublishError::NoCredits) => spin.spin()?,
                        Err(e) => return Err(format!("publish: {e}")),
                    }
                }
                seq += k;
                spin.reset();
            }
            tx.halt();
            Ok(())
        },
        move |ctx| {
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            let mut next = 0u64;
            let budget = Budget::new(max, max * N).unwrap();
            while next < msgs {
                match rx.try_batch(budget) {
                    Ok(batch) => {
                        for frag in &batch {
                            if frag.seq() != next {
                                return Err(meta_error("frag seq", next, frag.seq(), next));
                            }
                            pat.check_bytes(frag.payload(), next)?;
                            next += 1;
                        }
                        batch.commit();
                        spin.reset();
                    }
                    Err(TryRecvError::Empty) => spin.spin()?,
                    Err(e) => return Err(format!("recv after {next} of {msgs}: {e}")),
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        },
    )
}

/// milonga carrying the 8-byte value in the frag's `sig`, with an empty payload: the
/// metadata ring alone, no payload chunk. An extra row for scenario (a), to show what the
/// payload store costs a message that fits in the metadata.
pub fn milonga_sig<const D: usize>(msgs: u64) -> Result<f64, String> {
    use milonga::spsc::{Budget, Link};
    use milonga::{Header, PublishError, TryRecvError};
    let (mut tx, mut rx) = Link::builder()
        .depth(D)
        .mtu(8)
        .heap_pair()
        .map_err(|e| format!("build: {e}"))?;
    let max = batch_of(D);
    pair(
        move |ctx| {
            ctx.start()?;
            let mut spin = ctx.spinner();
            for seq in 0..msgs {
                loop {
                    match tx.try_publish(Header::new(seq), &[]) {
                        Ok(_) => break,
                        Err(PublishError::NoCredits) => spin.spin()?,
                        Err(e) => return Err(format!("publish: {e}")),
                    }
                }
                spin.reset();
            }
            tx.halt();
            Ok(())
        },
        move |ctx| {
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            let mut next = 0u64;
            let budget = Budget::new(max, max * 8).unwrap();
            while next < msgs {
                match rx.try_batch(budget) {
                    Ok(batch) => {
                        for frag in &batch {
                            if frag.seq() != next || frag.sig() != next {
                                return Err(meta_error("frag seq/sig", next, frag.sig(), next));
                            }
                            if !frag.payload().is_empty() {
                                return Err(format!("message {next}: payload not empty"));
                            }
                            next += 1;
                        }
                        batch.commit();
                        spin.reset();
                    }
                    Err(TryRecvError::Empty) => spin.spin()?,
                    Err(e) => return Err(format!("recv after {next} of {msgs}: {e}")),
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        },
    )
}

/// rtrb: `RingBuffer<Msg<W>>`, `push` / `pop`.
pub fn rtrb<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    let (tx, rx) = rtrb::RingBuffer::<Msg<W>>::new(D);
    typed(
        msgs,
        tx,
        rx,
        |t, m| t.push(m).map_err(|rtrb::PushError::Full(m)| m),
        |r| r.pop().ok(),
    )
}

/// ringbuf: `HeapRb<Msg<W>>` split into its caching producer and consumer.
pub fn ringbuf<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    let (tx, rx) = ringbuf::HeapRb::<Msg<W>>::new(D).split();
    typed(msgs, tx, rx, |t, m| t.try_push(m), |r| r.try_pop())
}

/// crossbeam-queue: `ArrayQueue<Msg<W>>` shared by reference.
pub fn array_queue<const W: usize, const N: usize, const D: usize>(
    msgs: u64,
) -> Result<f64, String> {
    let q = crossbeam_queue::ArrayQueue::<Msg<W>>::new(D);
    typed(msgs, &q, &q, |q, m| q.push(m), |q| q.pop())
}

/// crossbeam-channel: `bounded(D)`, `try_send` / `try_recv`.
pub fn channel<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    let (tx, rx) = crossbeam_channel::bounded::<Msg<W>>(D);
    typed(
        msgs,
        tx,
        rx,
        |t, m| t.try_send(m).map_err(|e| e.into_inner()),
        |r| r.try_recv().ok(),
    )
}

/// heapless: `spsc::Queue<Msg<W>, D>` (capacity `D - 1`), built on the heap.
pub fn heapless<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    let mut q = crate::common::build_big(|| Box::new(heapless::spsc::Queue::<Msg<W>, D>::new()));
    let (tx, rx) = q.split();
    typed(msgs, tx, rx, |t, m| t.enqueue(m), |r| r.dequeue())
}

/// disruptor (v4): single producer, `try_publish` writes the event in place; the consumer is
/// an `EventPoller` on our own pinned thread, taking batches of up to `D / 8` events.
pub fn disruptor<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    disruptor_run::<W, N, D>(msgs, 1)
}

/// [`disruptor`] with the producer publishing in batches of [`PUBLISH_BATCH`] events
/// (`try_batch_publish`, each event written in place).
pub fn disruptor_bp<const W: usize, const N: usize, const D: usize>(
    msgs: u64,
) -> Result<f64, String> {
    disruptor_run::<W, N, D>(msgs, PUBLISH_BATCH)
}

fn disruptor_run<const W: usize, const N: usize, const D: usize>(
    msgs: u64,
    publish_batch: u64,
) -> Result<f64, String> {
    use disruptor::{build_single_producer, BusySpin, Polling, Producer as _};
    let pat = Pattern::new(W);
    let (mut poller, builder) =
        build_single_producer(D, Msg::<W>::template, BusySpin).new_event_poller();
    let mut producer = builder.build();
    let max = batch_of(D) as u64;
    pair(
        move |ctx| {
            let mut msg = Msg::<W>::template();
            ctx.start()?;
            let mut spin = ctx.spinner();
            let mut seq = 0;
            while seq < msgs {
                let k = publish_batch.min(msgs - seq);
                if publish_batch == 1 {
                    msg.stamp(seq);
                    while producer.try_publish(|e| *e = msg).is_err() {
                        spin.spin()?;
                    }
                } else {
                    while producer
                        .try_batch_publish(k as usize, |events| {
                            for (s, e) in (seq..).zip(events) {
                                msg.stamp(s);
                                *e = msg;
                            }
                        })
                        .is_err()
                    {
                        spin.spin()?;
                    }
                }
                seq += k;
                spin.reset();
            }
            drop(producer);
            Ok(())
        },
        move |ctx| {
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            let mut next = 0u64;
            while next < msgs {
                match poller.take(max) {
                    Ok(mut events) => {
                        for e in &mut events {
                            pat.check_words(&e.0, next)?;
                            next += 1;
                        }
                        spin.reset();
                    }
                    Err(Polling::NoEvents) => spin.spin()?,
                    Err(Polling::Shutdown) => {
                        return Err(format!("shut down after {next} of {msgs}"))
                    }
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        },
    )
}

/// rust-tango 0.1.2: `MCache<D>`, `DCache<D, N>` (one chunk of N bytes per message), `Fctl`
/// credits, producer `publish` (copies the slice in), consumer `poll` (zero-copy view).
/// Verified strictly: the frag's seq and size, and the payload's order stamp and checksum.
pub fn tango<const W: usize, const N: usize, const D: usize>(msgs: u64) -> Result<f64, String> {
    use rust_tango::{Consumer, DCache, Fctl, Fseq, MCache, Producer, TangoError};
    const { assert!(N == 8 * W) };
    let pat = Pattern::new(W);
    let (mcache, dcache) = crate::common::build_big(|| {
        (
            Box::new(MCache::<D>::new()),
            Box::new(DCache::<D, N>::new()),
        )
    });
    let fseq = Fseq::new(1);
    let fctl = Fctl::new(D as u64);
    let producer = Producer::with_flow_control(&mcache, &dcache, &fseq, &fctl);
    let mut consumer = Consumer::with_flow_control(&mcache, &dcache, &fctl, 1);
    let mcache = &*mcache;
    pair(
        move |ctx| {
            let mut buf = pat.template_bytes();
            ctx.start()?;
            let mut spin = ctx.spinner();
            for seq in 0..msgs {
                stamp_bytes(&mut buf, seq);
                loop {
                    match producer.publish(&buf, seq, 0, 0) {
                        Ok(_) => break,
                        Err(TangoError::NoCredits) => spin.spin()?,
                        Err(e) => return Err(format!("publish: {e}")),
                    }
                }
                spin.reset();
            }
            mcache.stop();
            Ok(())
        },
        move |ctx| {
            ctx.start()?;
            let t0 = Instant::now();
            let mut spin = ctx.spinner();
            let mut next = 0u64;
            while next < msgs {
                match consumer.poll() {
                    Ok(Some(frag)) => {
                        // rust-tango numbers frags from 1 (its Fseq starts there).
                        if frag.meta.seq != next + 1 {
                            return Err(meta_error("frag seq", next, frag.meta.seq, next + 1));
                        }
                        if frag.meta.sig != next {
                            return Err(meta_error("frag sig", next, frag.meta.sig, next));
                        }
                        if frag.meta.size as usize != N {
                            return Err(meta_error(
                                "frag size",
                                next,
                                frag.meta.size.into(),
                                N as u64,
                            ));
                        }
                        pat.check_bytes(frag.payload.as_slice(), next)?;
                        next += 1;
                        spin.reset();
                    }
                    Ok(None) => spin.spin()?,
                    Err(e) => return Err(format!("poll at message {next}: {e}")),
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        },
    )
}
