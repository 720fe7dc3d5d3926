//! Scenario (e): ping-pong round trips over two links (one each way), one 8-byte message
//! in flight. The pinger (producer core) sends `i` and waits for `i` to come back; the
//! ponger (consumer core) echoes. Every echo is checked. Each sample is the time between
//! two consecutive returns, so it includes one clock read.

use std::time::{Duration, Instant};

use crate::common::{join_all, spawn, Ctx, CONSUMER_CPU, PRODUCER_CPU};

/// One run of one peer: round trips in, round-trip samples (ns) out.
pub type PingFn = fn(usize) -> Result<Vec<u64>, String>;

/// Ring depth of both links.
const DEPTH: usize = 1024;
/// Round trips before the measured ones.
const WARMUP: usize = 10_000;
const STALL: Duration = Duration::from_secs(10);

/// The core: `send` returns `Ok(false)` when the link is full, `recv` `Ok(None)` when empty.
fn core<S1, R1, S2, R2>(
    rounds: usize,
    mut ping_send: S1,
    mut ping_recv: R1,
    mut pong_recv: R2,
    mut pong_send: S2,
) -> Result<Vec<u64>, String>
where
    S1: FnMut(u64) -> Result<bool, String> + Send,
    R1: FnMut() -> Result<Option<u64>, String> + Send,
    S2: FnMut(u64) -> Result<bool, String> + Send,
    R2: FnMut() -> Result<Option<u64>, String> + Send,
{
    let total = (WARMUP + rounds) as u64;
    let ctx = Ctx::new(2, STALL);
    std::thread::scope(|s| {
        let ctx = &ctx;
        let ponger = spawn(s, "ponger", ctx, CONSUMER_CPU, move || {
            ctx.start()?;
            let mut spin = ctx.spinner();
            for i in 0..total {
                let v = loop {
                    match pong_recv()? {
                        Some(v) => break v,
                        None => spin.spin()?,
                    }
                };
                spin.reset();
                if v != i {
                    return Err(format!("ponger: expected {i}, got {v}"));
                }
                while !pong_send(v)? {
                    spin.spin()?;
                }
                spin.reset();
            }
            Ok(())
        });
        let pinger = spawn(s, "pinger", ctx, PRODUCER_CPU, move || {
            let mut samples = Vec::with_capacity(rounds);
            ctx.start()?;
            let mut spin = ctx.spinner();
            let mut prev = Instant::now();
            for i in 0..total {
                while !ping_send(i)? {
                    spin.spin()?;
                }
                spin.reset();
                let v = loop {
                    match ping_recv()? {
                        Some(v) => break v,
                        None => spin.spin()?,
                    }
                };
                spin.reset();
                if v != i {
                    return Err(format!("pinger: sent {i}, got back {v}"));
                }
                let now = Instant::now();
                if i >= WARMUP as u64 {
                    samples.push((now - prev).as_nanos() as u64);
                }
                prev = now;
            }
            Ok(samples)
        });
        join_all(vec![ponger], pinger)
    })
}

/// The peers whose API moves values: `push` gives the value back when full.
fn typed<Tx: Send, Rx: Send>(
    rounds: usize,
    a: (Tx, Rx),
    b: (Tx, Rx),
    push: impl Fn(&mut Tx, u64) -> Result<(), u64> + Send + Copy,
    pop: impl Fn(&mut Rx) -> Option<u64> + Send + Copy,
) -> Result<Vec<u64>, String> {
    let (mut a_tx, mut a_rx) = a;
    let (mut b_tx, mut b_rx) = b;
    core(
        rounds,
        move |v| Ok(push(&mut a_tx, v).is_ok()),
        move || Ok(pop(&mut b_rx)),
        move || Ok(pop(&mut a_rx)),
        move |v| Ok(push(&mut b_tx, v).is_ok()),
    )
}

/// The two links of milonga's ping-pong rows that carry the value in an 8-byte payload.
type MilongaPair = (
    milonga::spsc::Producer<'static>,
    milonga::spsc::Consumer<'static>,
);

fn milonga_links() -> Result<(MilongaPair, MilongaPair), String> {
    use milonga::spsc::Link;
    let link = || Link::builder().depth(DEPTH).mtu(8).heap_pair();
    let a = link().map_err(|e| format!("build: {e}"))?;
    let b = link().map_err(|e| format!("build: {e}"))?;
    Ok((a, b))
}

/// `try_publish` of the value as an 8-byte payload: `Ok(false)` when out of credits.
fn milonga_send(tx: &mut milonga::spsc::Producer<'_>, v: u64) -> Result<bool, String> {
    use milonga::{Header, PublishError};
    match tx.try_publish(Header::new(v), &v.to_le_bytes()) {
        Ok(_) => Ok(true),
        Err(PublishError::NoCredits) => Ok(false),
        Err(e) => Err(format!("publish: {e}")),
    }
}

/// milonga: `try_publish` of 8 bytes, `poll` with a read guard.
pub fn milonga(rounds: usize) -> Result<Vec<u64>, String> {
    use milonga::TryRecvError;
    let ((mut a_tx, mut a_rx), (mut b_tx, mut b_rx)) = milonga_links()?;
    fn recv(rx: &mut milonga::spsc::Consumer<'_>) -> Result<Option<u64>, String> {
        match rx.try_recv() {
            Ok(frag) => {
                let p: [u8; 8] = frag
                    .payload()
                    .try_into()
                    .map_err(|_| format!("payload of {} bytes", frag.payload().len()))?;
                Ok(Some(u64::from_le_bytes(p)))
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(e) => Err(format!("recv: {e}")),
        }
    }
    core(
        rounds,
        move |v| milonga_send(&mut a_tx, v),
        move || recv(&mut b_rx),
        move || recv(&mut a_rx),
        move |v| milonga_send(&mut b_tx, v),
    )
}

/// milonga reading with `try_batch` (a budget of 256 frags) instead of `try_recv`: with one
/// message in flight each batch holds one frag, so this row is the cost of a one-frag batch.
pub fn milonga_batch(rounds: usize) -> Result<Vec<u64>, String> {
    use milonga::spsc::Budget;
    use milonga::TryRecvError;
    let ((mut a_tx, mut a_rx), (mut b_tx, mut b_rx)) = milonga_links()?;
    fn recv(rx: &mut milonga::spsc::Consumer<'_>) -> Result<Option<u64>, String> {
        let budget = Budget::frags(256).map_err(|e| format!("budget: {e}"))?;
        match rx.try_batch(budget) {
            Ok(batch) => {
                if batch.len() != 1 {
                    return Err(format!(
                        "a batch of {} with one message in flight",
                        batch.len()
                    ));
                }
                let frag = batch
                    .iter()
                    .next()
                    .ok_or_else(|| "a batch of one with no frag".to_string())?;
                let p: [u8; 8] = frag
                    .payload()
                    .try_into()
                    .map_err(|_| format!("payload of {} bytes", frag.payload().len()))?;
                batch.commit();
                Ok(Some(u64::from_le_bytes(p)))
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(e) => Err(format!("recv: {e}")),
        }
    }
    core(
        rounds,
        move |v| milonga_send(&mut a_tx, v),
        move || recv(&mut b_rx),
        move || recv(&mut a_rx),
        move |v| milonga_send(&mut b_tx, v),
    )
}

/// milonga with the value in the frag's `sig` and an empty payload (the metadata ring
/// alone): an extra row, to show what the payload indirection costs a round trip.
pub fn milonga_sig(rounds: usize) -> Result<Vec<u64>, String> {
    use milonga::spsc::Link;
    use milonga::{Header, PublishError, TryRecvError};
    let link = || Link::builder().depth(DEPTH).mtu(8).heap_pair();
    let (mut a_tx, mut a_rx) = link().map_err(|e| format!("build: {e}"))?;
    let (mut b_tx, mut b_rx) = link().map_err(|e| format!("build: {e}"))?;
    fn send(tx: &mut milonga::spsc::Producer<'_>, v: u64) -> Result<bool, String> {
        match tx.try_publish(Header::new(v), &[]) {
            Ok(_) => Ok(true),
            Err(PublishError::NoCredits) => Ok(false),
            Err(e) => Err(format!("publish: {e}")),
        }
    }
    fn recv(rx: &mut milonga::spsc::Consumer<'_>) -> Result<Option<u64>, String> {
        match rx.try_recv() {
            Ok(frag) if frag.payload().is_empty() => Ok(Some(frag.sig())),
            Ok(frag) => Err(format!("payload of {} bytes", frag.payload().len())),
            Err(TryRecvError::Empty) => Ok(None),
            Err(e) => Err(format!("recv: {e}")),
        }
    }
    core(
        rounds,
        move |v| send(&mut a_tx, v),
        move || recv(&mut b_rx),
        move || recv(&mut a_rx),
        move |v| send(&mut b_tx, v),
    )
}

/// rtrb.
pub fn rtrb(rounds: usize) -> Result<Vec<u64>, String> {
    typed(
        rounds,
        rtrb::RingBuffer::<u64>::new(DEPTH),
        rtrb::RingBuffer::<u64>::new(DEPTH),
        |t, v| t.push(v).map_err(|rtrb::PushError::Full(v)| v),
        |r| r.pop().ok(),
    )
}

/// ringbuf.
pub fn ringbuf(rounds: usize) -> Result<Vec<u64>, String> {
    use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
    typed(
        rounds,
        ringbuf::HeapRb::<u64>::new(DEPTH).split(),
        ringbuf::HeapRb::<u64>::new(DEPTH).split(),
        |t, v| t.try_push(v),
        |r| r.try_pop(),
    )
}

/// crossbeam-queue `ArrayQueue`.
pub fn array_queue(rounds: usize) -> Result<Vec<u64>, String> {
    let a = crossbeam_queue::ArrayQueue::<u64>::new(DEPTH);
    let b = crossbeam_queue::ArrayQueue::<u64>::new(DEPTH);
    typed(rounds, (&a, &a), (&b, &b), |q, v| q.push(v), |q| q.pop())
}

/// crossbeam-channel `bounded`.
pub fn channel(rounds: usize) -> Result<Vec<u64>, String> {
    typed(
        rounds,
        crossbeam_channel::bounded::<u64>(DEPTH),
        crossbeam_channel::bounded::<u64>(DEPTH),
        |t, v| t.try_send(v).map_err(|e| e.into_inner()),
        |r| r.try_recv().ok(),
    )
}

/// heapless `spsc::Queue`.
pub fn heapless(rounds: usize) -> Result<Vec<u64>, String> {
    let mut a = Box::new(heapless::spsc::Queue::<u64, DEPTH>::new());
    let mut b = Box::new(heapless::spsc::Queue::<u64, DEPTH>::new());
    typed(
        rounds,
        a.split(),
        b.split(),
        |t, v| t.enqueue(v),
        |r| r.dequeue(),
    )
}

/// disruptor: single producer, `EventPoller` consumers on our own threads.
pub fn disruptor(rounds: usize) -> Result<Vec<u64>, String> {
    use disruptor::{build_single_producer, BusySpin, Polling, Producer as _};
    let (mut a_rx, a) = build_single_producer(DEPTH, || 0u64, BusySpin).new_event_poller();
    let (mut b_rx, b) = build_single_producer(DEPTH, || 0u64, BusySpin).new_event_poller();
    let (mut a_tx, mut b_tx) = (a.build(), b.build());
    macro_rules! recv {
        ($poller:expr) => {
            match $poller.take(1) {
                Ok(mut events) => Ok((&mut events).next().copied()),
                Err(Polling::NoEvents) => Ok(None),
                Err(Polling::Shutdown) => Err("shut down".to_string()),
            }
        };
    }
    core(
        rounds,
        move |v| Ok(a_tx.try_publish(|e| *e = v).is_ok()),
        move || recv!(b_rx),
        move || recv!(a_rx),
        move |v| Ok(b_tx.try_publish(|e| *e = v).is_ok()),
    )
}

/// rust-tango 0.1.2, with flow control; checks the frag's seq and size too.
pub fn tango(rounds: usize) -> Result<Vec<u64>, String> {
    use rust_tango::{Consumer, DCache, Fctl, Fseq, MCache, Producer, TangoError};
    let a = (
        Box::new(MCache::<DEPTH>::new()),
        Box::new(DCache::<DEPTH, 8>::new()),
    );
    let b = (
        Box::new(MCache::<DEPTH>::new()),
        Box::new(DCache::<DEPTH, 8>::new()),
    );
    let (a_seq, b_seq) = (Fseq::new(1), Fseq::new(1));
    let (a_fctl, b_fctl) = (Fctl::new(DEPTH as u64), Fctl::new(DEPTH as u64));
    let a_tx = Producer::with_flow_control(&a.0, &a.1, &a_seq, &a_fctl);
    let b_tx = Producer::with_flow_control(&b.0, &b.1, &b_seq, &b_fctl);
    let mut a_rx = Consumer::with_flow_control(&a.0, &a.1, &a_fctl, 1);
    let mut b_rx = Consumer::with_flow_control(&b.0, &b.1, &b_fctl, 1);
    fn send(tx: &Producer<'_, DEPTH, DEPTH, 8>, v: u64) -> Result<bool, String> {
        match tx.publish(&v.to_le_bytes(), v, 0, 0) {
            Ok(_) => Ok(true),
            Err(TangoError::NoCredits) => Ok(false),
            Err(e) => Err(format!("publish: {e}")),
        }
    }
    fn recv(rx: &mut Consumer<'_, DEPTH, DEPTH, 8>) -> Result<Option<u64>, String> {
        match rx.poll() {
            Ok(Some(frag)) => {
                let p: [u8; 8] = frag
                    .payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("payload of {} bytes", frag.payload.len()))?;
                let v = u64::from_le_bytes(p);
                if frag.meta.seq != v + 1 || frag.meta.sig != v {
                    return Err(format!(
                        "frag seq {} / sig {} do not match payload {v}",
                        frag.meta.seq, frag.meta.sig
                    ));
                }
                Ok(Some(v))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(format!("poll: {e}")),
        }
    }
    core(
        rounds,
        move |v| send(&a_tx, v),
        move || recv(&mut b_rx),
        move || recv(&mut a_rx),
        move |v| send(&b_tx, v),
    )
}
