//! `milonga-monitor` live, in a detached tmux session: a producer in a child process
//! publishes into a link this process consumes; the monitor's pane shows a nonzero publish
//! rate, and once the child is killed it shows the producer as `DEAD`.
//!
//! Needs `tmux` (Debian package `tmux`); without it the test fails, unless
//! `MILONGA_SKIP_TMUX=1` is set (then it is skipped).

#![cfg(all(unix, not(miri)))]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use milonga::shm::ShmLink;
use milonga::{Header, TryRecvError};

/// Set in the child process to the link's path: `child_producer` then publishes into it
/// until it is killed.
const CHILD_ENV: &str = "MILONGA_MONITOR_TMUX_CHILD";

/// The child's part (returns at once in an ordinary test run): claims the producer role
/// of the link and publishes into it, a little at a time, until it is killed (or its
/// parent is gone).
#[test]
fn child_producer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let parent = std::os::unix::process::parent_id();
    let link = ShmLink::open(&path).expect("the child opens the link");
    let mut tx = link.producer().expect("the child claims the producer role");
    let payload = [0x5au8; 100];
    let mut i = 0u64;
    while std::os::unix::process::parent_id() == parent {
        for _ in 0..64 {
            if tx.try_publish(Header::new(i), &payload).is_ok() {
                i += 1;
            }
        }
        tx.housekeeping();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A fresh directory under the temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("milonga-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The child process: killed and reaped on drop (if the test ends early).
struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// SIGKILLs the child and waits for it, so that its pid no longer names a process.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let status = child.wait().expect("the child is reaped");
            eprintln!("child producer ended: {status}");
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tmux server of our own (its own socket), killed on drop with its session.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).env_remove("TMUX");
        c
    }

    /// Starts `shell_command` in a detached 200x50 session.
    fn start(shell_command: &str) -> Tmux {
        let tag = format!("milonga-monitor-{}", std::process::id());
        let tmux = Tmux {
            socket: tag.clone(),
            session: tag,
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-s", &tmux.session])
            .args(["-x", "200", "-y", "50", shell_command])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed: {status}");
        tmux
    }

    /// The pane's text as it is now.
    fn capture(&self) -> String {
        let out = self
            .command()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux runs");
        if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            format!(
                "(capture-pane failed: {}: {})",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        }
    }

    /// Captures the pane until `done` holds for it (returning that capture), or fails after
    /// `limit` with the last capture.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let pane = self.capture();
            if done(&pane) {
                return pane;
            }
            assert!(
                start.elapsed() < limit,
                "the monitor did not show {what} within {limit:?}; its pane:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether tmux can be run; fails (or skips, with `MILONGA_SKIP_TMUX=1`) when it cannot.
fn tmux_or_skip() -> bool {
    if std::env::var("MILONGA_SKIP_TMUX").as_deref() == Ok("1") {
        eprintln!("MILONGA_SKIP_TMUX=1: skipping the tmux test");
        return false;
    }
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => true,
        other => panic!(
            "this test needs tmux (Debian package `tmux`), which could not be run ({other:?}); \
             install it, or set MILONGA_SKIP_TMUX=1 to skip the test"
        ),
    }
}

/// The producer's line of the pane (the first one: there is one link).
fn producer_line(pane: &str) -> Option<&str> {
    pane.lines()
        .find(|l| l.trim_start().starts_with("producer "))
}

/// The publish rate the pane shows, in frags per second (none while it shows `-`).
fn publish_rate(pane: &str) -> Option<u64> {
    let line = pane.lines().find(|l| l.contains("publish rate "))?;
    let rest = line.split("publish rate ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn monitor_in_tmux_shows_rates_then_a_dead_producer() {
    if !tmux_or_skip() {
        return;
    }
    let dir = TempDir::new("monitor-tmux");
    let path = dir.0.join("feed");
    let link = ShmLink::builder()
        .depth(256)
        .mtu(128)
        .reliable(1)
        .create(&path)
        .unwrap();
    let mut rx = link.consumer(0).unwrap();

    // The producer: this test binary again, running only `child_producer`.
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_producer", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::null())
        .spawn()
        .expect("the child starts");
    let mut child = ChildGuard(Some(child));

    // The consumer: reads until the producer is found dead and what it published is
    // drained (or until told to stop).
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> (u64, Option<TryRecvError>) {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match rx.try_recv() {
                    Ok(frag) => {
                        assert_eq!(frag.payload(), [0x5au8; 100]);
                        n += 1;
                    }
                    Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_micros(200)),
                    Err(end) => return (n, Some(end)),
                }
            }
            (n, None)
        })
    };
    let stop_consumer = StopOnDrop(stop);

    let exe = env!("CARGO_BIN_EXE_milonga-monitor");
    let shell = format!(
        "{} --interval 200 {}; echo \"milonga-monitor exited: $?\"; sleep 600",
        quote(exe),
        quote(&dir.0.to_string_lossy())
    );
    let tmux = Tmux::start(&shell);

    let limit = Duration::from_secs(10);
    let running = tmux.wait_for("a nonzero publish rate", limit, |pane| {
        publish_rate(pane).is_some_and(|r| r > 0)
            && producer_line(pane).is_some_and(|l| l.contains(" live "))
    });
    eprintln!("--- pane with rates ---\n{running}");
    assert!(!running.contains("DEAD"), "{running}");
    let consumer_line = running.lines().find(|l| l.contains("reliable 0")).unwrap();
    let me = std::process::id().to_string();
    assert!(
        consumer_line.split_whitespace().any(|w| w == me),
        "{running}"
    );

    child.kill();
    let dead = tmux.wait_for("the producer DEAD", limit, |pane| {
        producer_line(pane).is_some_and(|l| l.contains("DEAD"))
    });
    eprintln!("--- pane after the producer was killed ---\n{dead}");
    // Once dead, nothing more is published: the rate falls to zero.
    let idle = tmux.wait_for("a zero publish rate", limit, |pane| {
        publish_rate(pane) == Some(0) && producer_line(pane).is_some_and(|l| l.contains("DEAD"))
    });
    assert!(idle.contains("stream"), "{idle}");

    drop(stop_consumer);
    let (n, end) = consumer.join().expect("the consumer thread ends");
    assert!(n > 0, "the consumer read nothing");
    eprintln!("consumer read {n} frags, then {end:?}");
    drop(tmux);
    drop(link);
}

/// Tells the consumer thread to stop when dropped (also when the test fails).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn pane_parsing() {
    let pane = "link /x  depth 8\n  producer live     pid 7  heartbeat 3 ms ago\n    \
                publish rate 1234 frags/s  1.23 MB/s   published 9 frags\n";
    assert_eq!(publish_rate(pane), Some(1234));
    assert!(producer_line(pane).unwrap().contains("pid 7"));
    assert_eq!(publish_rate("    publish rate - frags/s"), None);
    assert_eq!(quote("a'b"), r"'a'\''b'");
}
