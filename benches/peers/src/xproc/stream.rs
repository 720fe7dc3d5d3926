//! The kernel's byte streams between two processes: a Unix domain socket pair (SOCK_STREAM)
//! and pipes. Each message is a frame, its length (u32, little-endian) and then its bytes;
//! the reader takes frames from a 64 KiB `BufReader` and checks each one's length, order
//! stamp and checksum. The writer writes each frame with one `write_all` (one system call),
//! or, in the rows labelled so, through a 64 KiB `BufWriter` (a system call per 64 KiB; the
//! last partial buffer is flushed at the end). Reads and writes block in the kernel: these
//! streams have no busy-polling mode of their own.
//!
//! The parent creates the socket pair or pipes and passes the child's ends to it by number
//! (see [`super::child`]); the parent writes (throughput) or pings (ping-pong).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use super::child::{inherited_fd, ChildProc, Control};
use super::{child_args, Mode, Spec, PING_WARMUP};
use crate::common::{stamp_bytes, Ctx, Pattern};

/// Capacity of the readers' `BufReader` and of the buffered writers' `BufWriter`.
const BUF: usize = 64 << 10;

/// A stream kind and how its writer writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Unix domain socket pair, a `write_all` per frame.
    Uds,
    /// A Unix domain socket pair, frames through a `BufWriter`.
    UdsBuffered,
    /// A pipe, a `write_all` per frame.
    Pipe,
    /// A pipe, frames through a `BufWriter`.
    PipeBuffered,
}

impl Kind {
    /// The peer's name on the child's command line.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Uds => "uds",
            Kind::UdsBuffered => "uds-buf",
            Kind::Pipe => "pipe",
            Kind::PipeBuffered => "pipe-buf",
        }
    }

    /// The kind a child-side peer name names.
    pub fn from_id(id: &str) -> Option<Kind> {
        [Kind::Uds, Kind::UdsBuffered, Kind::Pipe, Kind::PipeBuffered]
            .into_iter()
            .find(|k| k.id() == id)
    }

    fn buffered(self) -> bool {
        matches!(self, Kind::UdsBuffered | Kind::PipeBuffered)
    }

    fn uds(self) -> bool {
        matches!(self, Kind::Uds | Kind::UdsBuffered)
    }
}

/// A connected pair of ends, as descriptors: (ours, the child's), for data going `ours ->
/// theirs` (a pipe: our write end, their read end) or, for a socket, both ways.
fn pair(kind: Kind, child_reads: bool) -> Result<(OwnedFd, OwnedFd), String> {
    if kind.uds() {
        let (a, b) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        Ok((a.into(), b.into()))
    } else {
        let (r, w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        Ok(if child_reads {
            (w.into(), r.into())
        } else {
            (r.into(), w.into())
        })
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// Writes `msgs` frames of the pattern's messages.
fn produce(w: &mut impl Write, pat: &Pattern, msgs: u64) -> Result<(), String> {
    let mut frame = (pat.bytes as u32).to_le_bytes().to_vec();
    frame.extend(pat.template_bytes());
    for seq in 0..msgs {
        stamp_bytes(&mut frame[4..], seq);
        w.write_all(&frame).map_err(io("write"))?;
    }
    w.flush().map_err(io("flush"))
}

/// Reads one frame of `buf.len()` bytes into `buf`.
#[inline(always)]
fn read_frame(r: &mut impl Read, buf: &mut [u8], seq: u64) -> Result<(), String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(io("read"))?;
    let len = u32::from_le_bytes(len) as usize;
    if len != buf.len() {
        return Err(format!(
            "length: message {seq} is {len} bytes, expected {}",
            buf.len()
        ));
    }
    r.read_exact(buf).map_err(io("read"))
}

/// Reads `msgs` frames and checks every one; returns the seconds from `ready` to the last.
fn consume(r: impl Read, pat: &Pattern, msgs: u64, ctl: &mut Control) -> Result<f64, String> {
    let mut r = BufReader::with_capacity(BUF, r);
    let mut buf = vec![0u8; pat.bytes];
    let t0 = Instant::now();
    ctl.ready()?;
    for seq in 0..msgs {
        read_frame(&mut r, &mut buf, seq)?;
        pat.check_bytes(&buf, seq)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    // Nothing more: the writer closes its end after the last frame.
    match r.read(&mut buf[..1]) {
        Ok(0) => Ok(secs),
        Ok(_) => Err(format!("bytes after the last of {msgs} messages")),
        Err(e) => Err(format!("read at the end: {e}")),
    }
}

/// Throughput, the parent's side: the writer. Returns the seconds the child measured.
pub fn tput(kind: Kind, spec: Spec, ctx: &Ctx) -> Result<f64, String> {
    let pat = Pattern::new(spec.bytes / 8);
    let (ours, theirs) = pair(kind, true)?;
    let args = child_args(
        kind.id(),
        Mode::Tput,
        spec,
        &[theirs.as_raw_fd().to_string()],
    );
    let child = ChildProc::spawn(&args, &[&theirs])?;
    drop(theirs);
    let mut w = File::from(ours);
    let ((), secs) = child.run(ctx, || {
        if kind.buffered() {
            produce(&mut BufWriter::with_capacity(BUF, &mut w), &pat, spec.msgs)?;
        } else {
            produce(&mut w, &pat, spec.msgs)?;
        }
        drop(w);
        Ok(())
    })?;
    secs.parse()
        .map_err(|_| format!("the child's seconds: {secs:?}"))
}

/// Ping-pong, the parent's side: pings `rounds` (after a warm-up), returns the samples.
pub fn ping(kind: Kind, rounds: usize, ctx: &Ctx) -> Result<Vec<u64>, String> {
    let total = (PING_WARMUP + rounds) as u64;
    let spec = Spec {
        bytes: 8,
        msgs: total,
        depth: 1,
    };
    let (ping_ours, ping_theirs) = pair(kind, true)?;
    let (pong, extra_fds) = if kind.uds() {
        // One socket carries both directions.
        (ping_ours.try_clone().map_err(io("dup"))?, vec![])
    } else {
        let (ours, theirs) = pair(kind, false)?;
        (ours, vec![theirs])
    };
    let mut args = vec![ping_theirs.as_raw_fd().to_string()];
    args.extend(extra_fds.iter().map(|f| f.as_raw_fd().to_string()));
    let mut fds = vec![&ping_theirs];
    fds.extend(extra_fds.iter());
    let child = ChildProc::spawn(&child_args(kind.id(), Mode::Ping, spec, &args), &fds)?;
    drop(ping_theirs);
    drop(extra_fds);
    let mut w = File::from(ping_ours);
    let mut r = BufReader::with_capacity(BUF, File::from(pong));
    let (samples, _) = child.run(ctx, || {
        let mut samples = Vec::with_capacity(rounds);
        let mut frame = [0u8; 12];
        frame[..4].copy_from_slice(&8u32.to_le_bytes());
        let mut back = [0u8; 8];
        let mut prev = Instant::now();
        for i in 0..total {
            frame[4..].copy_from_slice(&i.to_le_bytes());
            w.write_all(&frame).map_err(io("write"))?;
            read_frame(&mut r, &mut back, i)?;
            let v = u64::from_le_bytes(back);
            if v != i {
                return Err(format!("pinger: sent {i}, got back {v}"));
            }
            let now = Instant::now();
            if i >= PING_WARMUP as u64 {
                samples.push((now - prev).as_nanos() as u64);
            }
            prev = now;
        }
        Ok(samples)
    })?;
    Ok(samples)
}

/// The child's side of both modes.
pub fn child(
    kind: Kind,
    mode: Mode,
    spec: Spec,
    extra: &[String],
    ctl: &mut Control,
) -> Result<String, String> {
    match mode {
        Mode::Tput => {
            let [fd] = extra else {
                return Err(format!("expected one descriptor, got {extra:?}"));
            };
            let pat = Pattern::new(spec.bytes / 8);
            let r = File::from(inherited_fd(fd)?);
            consume(r, &pat, spec.msgs, ctl).map(|s| s.to_string())
        }
        Mode::Ping => {
            let (mut r, mut w) = match (kind.uds(), extra) {
                (true, [fd]) => {
                    let s = File::from(inherited_fd(fd)?);
                    let w = s.try_clone().map_err(io("dup"))?;
                    (BufReader::with_capacity(BUF, s), w)
                }
                (false, [rfd, wfd]) => (
                    BufReader::with_capacity(BUF, File::from(inherited_fd(rfd)?)),
                    File::from(inherited_fd(wfd)?),
                ),
                _ => return Err(format!("unexpected descriptors {extra:?}")),
            };
            ctl.ready()?;
            let mut v = [0u8; 8];
            let mut frame = [0u8; 12];
            frame[..4].copy_from_slice(&8u32.to_le_bytes());
            for i in 0..spec.msgs {
                read_frame(&mut r, &mut v, i)?;
                if u64::from_le_bytes(v) != i {
                    return Err(format!(
                        "ponger: expected {i}, got {}",
                        u64::from_le_bytes(v)
                    ));
                }
                frame[4..].copy_from_slice(&v);
                w.write_all(&frame).map_err(io("write"))?;
            }
            Ok("0".into())
        }
    }
}
