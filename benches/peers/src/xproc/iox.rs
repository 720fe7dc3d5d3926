//! iceoryx2 between two processes: publish-subscribe on its ordinary `ipc` service (shared
//! memory, no daemon), typed payload `[u64; W]`. The publisher loans one sample per message,
//! writes it and sends it; the subscriber receives one sample per message and checks it.
//! Backpressure: the service does not overflow (`enable_safe_overflow(false)`), the
//! publisher's strategy is `RetryUntilDelivered` (iceoryx2's own adaptive wait: it spins,
//! then yields, then sleeps), and the subscriber's buffer holds as many samples as the other
//! peers' rings. A backpressure handler fails the send after the stall limit, so a dead
//! subscriber fails the run instead of hanging it.
//!
//! The parent creates the node, the service and the publisher, then starts the child, which
//! opens the service and subscribes. Ping-pong uses two services, one each way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::{BackpressureAction, BackpressureInfo, LoanError};
use iceoryx2::prelude::*;

use super::child::{ChildProc, Control, STALL};
use super::{child_args, ping_loop, pong_loop, Mode, Spec, PING_DEPTH, PING_WARMUP};
use crate::common::{Ctx, Msg, Pattern};

/// The peer's name on the child's command line.
pub const ID: &str = "iceoryx2";

type Port<T> = iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, T, ()>;

fn node() -> Result<Node<ipc::Service>, String> {
    set_log_level(LogLevel::Error);
    NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| format!("iceoryx2 node: {e:?}"))
}

/// A service name no other run uses.
fn unique_name(what: &str) -> String {
    static RUN: AtomicU64 = AtomicU64::new(0);
    format!(
        "milonga-peers/xproc/{}/{}/{what}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    )
}

/// The service `name` with payload `[u64; W]` and a subscriber buffer of `depth`: created
/// (parent) or opened (child), with the same settings either way.
fn service<const W: usize>(
    node: &Node<ipc::Service>,
    name: &str,
    depth: usize,
    create: bool,
) -> Result<Port<[u64; W]>, String> {
    let name: ServiceName = name
        .try_into()
        .map_err(|e| format!("service name {name:?}: {e:?}"))?;
    let b = node
        .service_builder(&name)
        .publish_subscribe::<[u64; W]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(depth)
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2);
    if create {
        b.create().map_err(|e| format!("create the service: {e:?}"))
    } else {
        b.open().map_err(|e| format!("open the service: {e:?}"))
    }
}

fn publisher<const W: usize>(
    port: &Port<[u64; W]>,
) -> Result<Publisher<ipc::Service, [u64; W], ()>, String> {
    port.publisher_builder()
        .max_loaned_samples(1)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .set_backpressure_handler(|info: &BackpressureInfo| {
            if info.elapsed_time > STALL {
                BackpressureAction::DiscardDataAndFail
            } else {
                BackpressureAction::Retry
            }
        })
        .create()
        .map_err(|e| format!("publisher: {e:?}"))
}

fn subscriber<const W: usize>(
    port: &Port<[u64; W]>,
    depth: usize,
) -> Result<Subscriber<ipc::Service, [u64; W], ()>, String> {
    port.subscriber_builder()
        .buffer_size(depth)
        .create()
        .map_err(|e| format!("subscriber: {e:?}"))
}

/// Throughput, the parent's side: the publisher. Returns the seconds the child measured.
pub fn tput(spec: Spec, ctx: &Ctx) -> Result<f64, String> {
    match spec.bytes {
        8 => tput_w::<1>(spec, ctx),
        64 => tput_w::<8>(spec, ctx),
        1024 => tput_w::<128>(spec, ctx),
        10240 => tput_w::<1280>(spec, ctx),
        n => Err(format!("no iceoryx2 payload type for {n} bytes")),
    }
}

fn tput_w<const W: usize>(spec: Spec, ctx: &Ctx) -> Result<f64, String> {
    let node = node()?;
    let name = unique_name("tput");
    let port = service::<W>(&node, &name, spec.depth, true)?;
    let tx = publisher(&port)?;
    let child = ChildProc::spawn(&child_args(ID, Mode::Tput, spec, &[name]), &[])?;
    let mut msg: [u64; W] = Msg::<W>::template().0;
    let ((), secs) = child.run(ctx, || {
        let mut spin = ctx.spinner();
        for seq in 0..spec.msgs {
            for w in msg.iter_mut().step_by(8) {
                *w = seq;
            }
            let sample = loop {
                match tx.loan_uninit() {
                    Ok(s) => break s,
                    Err(LoanError::OutOfMemory) => spin.spin()?,
                    Err(e) => return Err(format!("loan at message {seq}: {e:?}")),
                }
            };
            spin.reset();
            sample
                .write_payload(msg)
                .send()
                .map_err(|e| format!("send at message {seq}: {e:?}"))?;
        }
        Ok(())
    })?;
    secs.parse()
        .map_err(|_| format!("the child's seconds: {secs:?}"))
}

/// Ping-pong, the parent's side: publishes on one service, subscribes to the other.
pub fn ping(rounds: usize, ctx: &Ctx) -> Result<Vec<u64>, String> {
    let node = node()?;
    let (a, b) = (unique_name("ping"), unique_name("pong"));
    let port_a = service::<1>(&node, &a, PING_DEPTH, true)?;
    let port_b = service::<1>(&node, &b, PING_DEPTH, true)?;
    let tx = publisher(&port_a)?;
    let rx = subscriber(&port_b, PING_DEPTH)?;
    let spec = Spec {
        bytes: 8,
        msgs: (PING_WARMUP + rounds) as u64,
        depth: PING_DEPTH,
    };
    let child = ChildProc::spawn(&child_args(ID, Mode::Ping, spec, &[a, b]), &[])?;
    let (samples, _) = child.run(ctx, || {
        ping_loop(rounds, ctx, |v| send_one(&tx, v), || recv_one(&rx))
    })?;
    Ok(samples)
}

/// Sends `v`; false if no sample could be loaned.
fn send_one(tx: &Publisher<ipc::Service, [u64; 1], ()>, v: u64) -> Result<bool, String> {
    match tx.loan_uninit() {
        Ok(s) => s
            .write_payload([v])
            .send()
            .map(|_| true)
            .map_err(|e| format!("send: {e:?}")),
        Err(LoanError::OutOfMemory) => Ok(false),
        Err(e) => Err(format!("loan: {e:?}")),
    }
}

fn recv_one(rx: &Subscriber<ipc::Service, [u64; 1], ()>) -> Result<Option<u64>, String> {
    match rx.receive() {
        Ok(s) => Ok(s.map(|s| s.payload()[0])),
        Err(e) => Err(format!("receive: {e:?}")),
    }
}

/// The child's side of both modes: subscribes (throughput), or echoes (ping-pong).
pub fn child(
    mode: Mode,
    spec: Spec,
    extra: &[String],
    ctl: &mut Control,
    ctx: &Ctx,
) -> Result<String, String> {
    match (mode, spec.bytes) {
        (Mode::Tput, 8) => child_tput::<1>(spec, extra, ctl, ctx),
        (Mode::Tput, 64) => child_tput::<8>(spec, extra, ctl, ctx),
        (Mode::Tput, 1024) => child_tput::<128>(spec, extra, ctl, ctx),
        (Mode::Tput, 10240) => child_tput::<1280>(spec, extra, ctl, ctx),
        (Mode::Ping, 8) => child_ping(spec, extra, ctl, ctx),
        (_, n) => Err(format!("no iceoryx2 payload type for {n} bytes")),
    }
}

fn child_tput<const W: usize>(
    spec: Spec,
    extra: &[String],
    ctl: &mut Control,
    ctx: &Ctx,
) -> Result<String, String> {
    let [name] = extra else {
        return Err(format!("expected a service name, got {extra:?}"));
    };
    let pat = Pattern::new(W);
    let node = node()?;
    let port = service::<W>(&node, name, spec.depth, false)?;
    let rx = subscriber(&port, spec.depth)?;
    let mut spin = ctx.spinner();
    let mut next = 0u64;
    let t0 = Instant::now();
    ctl.ready()?;
    while next < spec.msgs {
        match rx.receive() {
            Ok(Some(s)) => {
                pat.check_words(s.payload(), next)?;
                next += 1;
                spin.reset();
            }
            Ok(None) => spin.spin()?,
            Err(e) => return Err(format!("receive after {next} of {}: {e:?}", spec.msgs)),
        }
    }
    Ok(t0.elapsed().as_secs_f64().to_string())
}

fn child_ping(
    spec: Spec,
    extra: &[String],
    ctl: &mut Control,
    ctx: &Ctx,
) -> Result<String, String> {
    let [a, b] = extra else {
        return Err(format!("expected two service names, got {extra:?}"));
    };
    let node = node()?;
    let port_a = service::<1>(&node, a, spec.depth, false)?;
    let port_b = service::<1>(&node, b, spec.depth, false)?;
    let rx = subscriber(&port_a, spec.depth)?;
    let tx = publisher(&port_b)?;
    ctl.ready()?;
    pong_loop(spec.msgs, ctx, || recv_one(&rx), |v| send_one(&tx, v))?;
    Ok("0".into())
}
