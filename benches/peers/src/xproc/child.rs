//! The second process of a cross-process run: this same binary, started again with a hidden
//! first argument, given the open file descriptors it needs.
//!
//! The control channel is the child's stdin and stdout (never the channel under test): the
//! child prints `ready` once its side is set up, then one final line, `ok VALUE` or
//! `err TEXT`, and exits. The parent's side of a run waits for `ready` before it starts (so
//! process start, mapping and connecting are outside the timed part), and collects the final
//! line when its own side is done. A child that does not answer within the stall limit is
//! killed.

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{guarded, panic_text, Ctx, ABORTED, CONSUMER_CPU};

/// The hidden first argument that makes the binary the child of a cross-process run.
pub const CHILD_ARG: &str = "--xproc-child";

/// How long a parent waits for a line from its child, and how long either side waits
/// without progress before it fails the run.
pub const STALL: Duration = Duration::from_secs(10);

/// After its own side failed, how long the parent gives the child to report why (the
/// child's error is usually the cause, the parent's the consequence) before killing it.
const GRACE: Duration = Duration::from_secs(1);

/// The parent's handle on a running child.
pub struct ChildProc {
    child: Child,
    /// Kept open for the child's lifetime: the child may read it (it sees EOF when we go).
    _stdin: ChildStdin,
    lines: Receiver<String>,
    done: bool,
}

impl ChildProc {
    /// Starts this binary as the child with `args` (after the hidden argument), giving it
    /// `fds` (passed on with their numbers, which the args should name).
    pub fn spawn(args: &[String], fds: &[&OwnedFd]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(exe);
        cmd.arg(CHILD_ARG)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
        // calls are allowed: it calls fcntl alone, on descriptors this process owns and keeps
        // open until spawn returns (the caller holds them by reference), and allocates nothing
        // (`raw` was built before the fork). Clearing FD_CLOEXEC there lets exactly this child
        // inherit them; the parent's copies keep the flag.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &raw {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn the child: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = unbounded();
        // A reader thread, so that the parent can wait for a line with a timeout. It sleeps in
        // read(2) and ends at the child's EOF.
        std::thread::Builder::new()
            .name("xproc-lines".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(l) = line else { break };
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("spawn the line reader: {e}"))?;
        Ok(ChildProc {
            child,
            _stdin: stdin,
            lines,
            done: false,
        })
    }

    fn line(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("the child said nothing for {timeout:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map_err(|e| format!("wait: {e}"))?;
                self.done = true;
                Err(format!("the child exited ({status}) without a result"))
            }
        }
    }

    /// Waits until the child has set up its side.
    pub fn ready(&mut self) -> Result<(), String> {
        match self.line(STALL)? {
            l if l == "ready" => Ok(()),
            l => Err(child_error(&l)),
        }
    }

    /// Runs the parent's side `work` once the child is ready; returns its value and the
    /// child's result (the text after `ok`).
    ///
    /// While `work` runs, a watcher waits for the child's last line: if the child fails (or
    /// dies), the watcher aborts `ctx`, so that `work` stops at its next busy-wait step and
    /// the child's error is reported. If `work` fails, the child gets a moment to report
    /// its own error (usually the cause), and is then killed.
    pub fn run<T>(
        mut self,
        ctx: &Ctx,
        work: impl FnOnce() -> Result<T, String>,
    ) -> Result<(T, String), String> {
        self.ready()?;
        let (lines, child) = (&self.lines, &mut self.child);
        let (r, last) = std::thread::scope(|s| {
            let watcher = s.spawn(move || {
                let l = lines.recv().ok();
                if !l.as_deref().is_some_and(|l| l.starts_with("ok ")) {
                    ctx.abort();
                }
                l
            });
            let r = catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&*p))));
            let until = Instant::now() + if r.is_ok() { STALL } else { GRACE };
            while !watcher.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !watcher.is_finished() {
                // Its stdout closes, and the watcher sees the end.
                let _ = child.kill();
            }
            (r, watcher.join().unwrap_or(None))
        });
        let status = self.child.wait().map_err(|e| format!("wait: {e}"));
        self.done = true;
        match (r, last) {
            (Ok(v), Some(l)) => match (l.strip_prefix("ok "), status?) {
                (Some(res), st) if st.success() => Ok((v, res.to_string())),
                (Some(_), st) => Err(format!("the child reported success but exited with {st}")),
                (None, _) => Err(child_error(&l)),
            },
            (Ok(_), None) => Err(format!("the child exited ({}) without a result", status?)),
            (Err(e), Some(l)) if l.starts_with("err ") => Err(if e == ABORTED {
                child_error(&l)
            } else {
                format!("{e}; {}", child_error(&l))
            }),
            (Err(e), _) => Err(e),
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn child_error(line: &str) -> String {
    match line.strip_prefix("err ") {
        Some(e) => format!("child: {e}"),
        None => format!("the child said {line:?}"),
    }
}

/// The child's end of the control channel.
pub struct Control(());

impl Control {
    /// Tells the parent that this side is set up (the parent starts on it).
    pub fn ready(&mut self) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")
            .and_then(|()| out.flush())
            .map_err(|e| format!("tell the parent: {e}"))
    }
}

/// Takes ownership of a descriptor the parent passed on by number (as text in an argument).
pub fn inherited_fd(arg: &str) -> Result<OwnedFd, String> {
    let fd: RawFd = arg
        .parse()
        .map_err(|_| format!("not a descriptor number: {arg:?}"))?;
    // SAFETY: a valid descriptor number only; the kernel answers F_GETFD without touching
    // anything, and fails with EBADF if it is not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(format!("descriptor {fd} is not open in the child"));
    }
    // SAFETY: the parent cleared FD_CLOEXEC on this descriptor for this child alone and passed
    // its number once; it is open (checked above) and nothing else in this process owns it,
    // so the OwnedFd is its only owner and closes it once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The child's `main`: runs `work` pinned to the consumer core, guarded like a benchmark
/// thread (with a context of its own for spinning and stall detection), prints its result
/// line and exits.
pub fn main(
    args: Vec<String>,
    work: fn(&[String], &mut Control, &Ctx) -> Result<String, String>,
) -> ! {
    crate::common::install_panic_hook();
    let ctx = Ctx::new(1, STALL);
    let r = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("peer-child".into())
            .spawn_scoped(s, || {
                guarded(&ctx, CONSUMER_CPU, || work(&args, &mut Control(()), &ctx))
            })
            .map_err(|e| format!("spawn: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("the child's thread died".into()))
    });
    let mut out = std::io::stdout().lock();
    let code = match r {
        Ok(v) => {
            let _ = writeln!(out, "ok {v}");
            0
        }
        Err(e) => {
            let _ = writeln!(out, "err {}", e.replace('\n', " "));
            1
        }
    };
    let _ = out.flush();
    std::process::exit(code)
}
