//! milonga between two processes: a link in shared memory (`milonga::shm`), created by the
//! parent in a memfd whose descriptor the child inherits. The parent takes the producer
//! role and publishes with `try_publish` (it copies the payload in); the child takes
//! reliable consumer 0 and reads with `try_recv` (one frag per call) or `try_batch` (zero-copy
//! batches of up to an eighth of the ring, committed per batch). Every frag's seq, order
//! stamp and payload checksum are checked.
//!
//! The same link in one process, producer and consumer on two threads (the same cores, the
//! same loops), gives the in-process rate that the cross-process one is compared with.
//! Ping-pong uses two links, one each way, 8-byte payloads.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use milonga::shm::ShmLink;
use milonga::spsc::{Budget, Consumer, Producer};
use milonga::{Header, PublishError, TryRecvError};

use super::child::{inherited_fd, ChildProc, Control};
use super::{child_args, ping_loop, pong_loop, Mode, Spec, PING_DEPTH, PING_WARMUP};
use crate::common::{
    join_all, meta_error, spawn, stamp_bytes, Ctx, Pattern, CONSUMER_CPU, PRODUCER_CPU,
};
use crate::tput::{batch_of, pair};

/// How the consumer reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `try_recv`, one frag per call.
    Each,
    /// `try_batch`, committed per batch.
    Batch,
}

impl Read {
    /// The peer's name on the child's command line.
    pub fn id(self) -> &'static str {
        match self {
            Read::Each => "milonga",
            Read::Batch => "milonga-batch",
        }
    }

    /// The read a child-side peer name names.
    pub fn from_id(id: &str) -> Option<Read> {
        [Read::Each, Read::Batch].into_iter().find(|r| r.id() == id)
    }
}

/// A link for `spec`, in a new memfd.
fn create(spec: Spec, what: &str) -> Result<(ShmLink, OwnedFd), String> {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "milonga-peers-{}-{}-{what}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    );
    ShmLink::builder()
        .depth(spec.depth)
        .mtu(spec.bytes)
        .reliable(1)
        .lossy(0)
        .create_memfd(&name)
        .map_err(|e| format!("create the link: {e}"))
}

/// Publishes `msgs` messages of the pattern, busy-polling for credits.
fn produce(tx: &mut Producer<'static>, pat: &Pattern, msgs: u64, ctx: &Ctx) -> Result<(), String> {
    let mut buf = pat.template_bytes();
    let mut spin = ctx.spinner();
    for seq in 0..msgs {
        stamp_bytes(&mut buf, seq);
        loop {
            match tx.try_publish(Header::new(seq), &buf) {
                Ok(_) => break,
                Err(PublishError::NoCredits) => spin.spin()?,
                Err(e) => return Err(format!("publish at message {seq}: {e}")),
            }
        }
        spin.reset();
    }
    Ok(())
}

/// Reads and checks `msgs` messages; returns the seconds from `start` (which starts the
/// producer) to the last one.
fn consume(
    rx: &mut Consumer<'static>,
    read: Read,
    pat: &Pattern,
    msgs: u64,
    ctx: &Ctx,
    start: impl FnOnce() -> Result<(), String>,
) -> Result<f64, String> {
    let mut spin = ctx.spinner();
    let mut next = 0u64;
    let max = batch_of(rx.capacity());
    let budget = Budget::new(max, max * pat.bytes).map_err(|e| format!("budget: {e}"))?;
    let t0 = Instant::now();
    start()?;
    while next < msgs {
        match read {
            Read::Each => match rx.try_recv() {
                Ok(frag) => {
                    if frag.seq() != next {
                        return Err(meta_error("frag seq", next, frag.seq(), next));
                    }
                    pat.check_bytes(frag.payload(), next)?;
                    next += 1;
                    spin.reset();
                }
                Err(TryRecvError::Empty) => spin.spin()?,
                Err(e) => return Err(format!("recv after {next} of {msgs}: {e}")),
            },
            Read::Batch => match rx.try_batch(budget) {
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
            },
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Throughput across processes, the parent's side: the producer.
pub fn tput(read: Read, spec: Spec, ctx: &Ctx) -> Result<f64, String> {
    let pat = Pattern::new(spec.bytes / 8);
    let (link, fd) = create(spec, "tput")?;
    let mut tx = link.producer().map_err(|e| format!("producer role: {e}"))?;
    let args = child_args(read.id(), Mode::Tput, spec, &[fd.as_raw_fd().to_string()]);
    let child = ChildProc::spawn(&args, &[&fd])?;
    drop(fd);
    let ((), secs) = child.run(ctx, || produce(&mut tx, &pat, spec.msgs, ctx))?;
    secs.parse()
        .map_err(|_| format!("the child's seconds: {secs:?}"))
}

/// Throughput in one process, the same link and loops on two threads.
pub fn tput_in_process(read: Read, spec: Spec) -> Result<f64, String> {
    let pat = Pattern::new(spec.bytes / 8);
    let (link, _fd) = create(spec, "tput-inproc")?;
    let mut tx = link.producer().map_err(|e| format!("producer role: {e}"))?;
    let mut rx = link
        .consumer(0)
        .map_err(|e| format!("consumer role: {e}"))?;
    pair(
        move |ctx| {
            ctx.start()?;
            produce(&mut tx, &pat, spec.msgs, ctx)
        },
        move |ctx| consume(&mut rx, read, &pat, spec.msgs, ctx, || ctx.start()),
    )
}

fn send(tx: &mut Producer<'static>, v: u64) -> Result<bool, String> {
    match tx.try_publish(Header::new(v), &v.to_le_bytes()) {
        Ok(_) => Ok(true),
        Err(PublishError::NoCredits) => Ok(false),
        Err(e) => Err(format!("publish: {e}")),
    }
}

fn recv(rx: &mut Consumer<'static>) -> Result<Option<u64>, String> {
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

fn ping_spec(rounds: usize) -> Spec {
    Spec {
        bytes: 8,
        msgs: (PING_WARMUP + rounds) as u64,
        depth: PING_DEPTH,
    }
}

/// Ping-pong across processes, the parent's side: producer of link a, consumer of link b.
pub fn ping(rounds: usize, ctx: &Ctx) -> Result<Vec<u64>, String> {
    let spec = ping_spec(rounds);
    let (a, a_fd) = create(spec, "ping")?;
    let (b, b_fd) = create(spec, "pong")?;
    let mut tx = a.producer().map_err(|e| format!("producer role: {e}"))?;
    let mut rx = b.consumer(0).map_err(|e| format!("consumer role: {e}"))?;
    let args = child_args(
        Read::Each.id(),
        Mode::Ping,
        spec,
        &[a_fd.as_raw_fd().to_string(), b_fd.as_raw_fd().to_string()],
    );
    let child = ChildProc::spawn(&args, &[&a_fd, &b_fd])?;
    drop((a_fd, b_fd));
    let (samples, _) = child.run(ctx, || {
        ping_loop(rounds, ctx, |v| send(&mut tx, v), || recv(&mut rx))
    })?;
    Ok(samples)
}

/// Ping-pong in one process: the same links and loops on two threads.
pub fn ping_in_process(rounds: usize) -> Result<Vec<u64>, String> {
    let spec = ping_spec(rounds);
    let (a, _a_fd) = create(spec, "ping-inproc")?;
    let (b, _b_fd) = create(spec, "pong-inproc")?;
    let role = |e| format!("role: {e}");
    let (mut a_tx, mut a_rx) = (a.producer().map_err(role)?, a.consumer(0).map_err(role)?);
    let (mut b_tx, mut b_rx) = (b.producer().map_err(role)?, b.consumer(0).map_err(role)?);
    let ctx = Ctx::new(2, super::child::STALL);
    std::thread::scope(|s| {
        let ctx = &ctx;
        let ponger = spawn(s, "ponger", ctx, CONSUMER_CPU, move || {
            ctx.start()?;
            pong_loop(spec.msgs, ctx, || recv(&mut a_rx), |v| send(&mut b_tx, v))
        });
        let pinger = spawn(s, "pinger", ctx, PRODUCER_CPU, move || {
            ctx.start()?;
            ping_loop(rounds, ctx, |v| send(&mut a_tx, v), || recv(&mut b_rx))
        });
        join_all(vec![ponger], pinger)
    })
}

/// The child's side: the consumer (throughput), or the echo (ping-pong).
pub fn child(
    read: Read,
    mode: Mode,
    spec: Spec,
    extra: &[String],
    ctl: &mut Control,
    ctx: &Ctx,
) -> Result<String, String> {
    let join = |fd: &String| {
        ShmLink::from_fd(inherited_fd(fd)?).map_err(|e| format!("join the link: {e}"))
    };
    match (mode, extra) {
        (Mode::Tput, [fd]) => {
            let pat = Pattern::new(spec.bytes / 8);
            let link = join(fd)?;
            let mut rx = link
                .consumer(0)
                .map_err(|e| format!("consumer role: {e}"))?;
            consume(&mut rx, read, &pat, spec.msgs, ctx, || ctl.ready()).map(|s| s.to_string())
        }
        (Mode::Ping, [a, b]) => {
            let (a, b) = (join(a)?, join(b)?);
            let mut rx = a.consumer(0).map_err(|e| format!("consumer role: {e}"))?;
            let mut tx = b.producer().map_err(|e| format!("producer role: {e}"))?;
            ctl.ready()?;
            pong_loop(spec.msgs, ctx, || recv(&mut rx), |v| send(&mut tx, v))?;
            Ok("0".into())
        }
        _ => Err(format!("unexpected descriptors {extra:?}")),
    }
}
