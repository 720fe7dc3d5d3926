//! Links in shared memory across real processes killed at random points: this test binary
//! re-executes itself as the producer or a consumer (`child_main`, which does nothing
//! unless `MILONGA_SHM_CHILD` tells it a role), and the parent kills it with `SIGKILL`.
//!
//! What each test checks is what the link guarantees: every frag a surviving reliable
//! consumer gets is whole (its payload is a function of its seq, checked byte by byte) and
//! in order with none missing; a dead producer is noticed and its stream ends as failed
//! after everything it published; a dead consumer is seen dead, and either reclaimed (it
//! resumes where its last holder published its progress) or evicted (credits flow again);
//! the counters stay exact.
#![cfg(all(unix, feature = "shm", not(miri)))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use milonga::shm::{DeadConsumer, RoleState, ShmLink};
use milonga::{Header, PublishError, TryRecvError};

const MTU: usize = 200;
const SIG_KEY: u64 = 0x5eed_f00d;
/// A bound on how long anything this test waits for may take: far above the time it
/// takes (milliseconds), so a slow machine never fails it, while a hang still does.
const PATIENCE: Duration = Duration::from_secs(30);

/// The payload of the frag with seq `seq`: its length and every byte follow from the seq.
fn payload(seq: u64, buf: &mut [u8; MTU]) -> &[u8] {
    let len = (seq.wrapping_mul(7919) % (MTU as u64 + 1)) as usize;
    for (i, b) in buf[..len].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add((i as u8).wrapping_mul(31));
    }
    &buf[..len]
}

fn check(seq: u64, sig: u64, got: &[u8]) {
    let mut buf = [0u8; MTU];
    assert_eq!(sig, seq ^ SIG_KEY, "sig of frag {seq}");
    assert_eq!(got, payload(seq, &mut buf), "payload of frag {seq}");
}

/// The child side: runs only when the parent set `MILONGA_SHM_CHILD` to
/// `producer <path> <reclaim> <batch>` or `consumer <path> <k> <reclaim> <until>`.
#[test]
fn child_main() {
    let Ok(spec) = std::env::var("MILONGA_SHM_CHILD") else {
        return;
    };
    let args: Vec<&str> = spec.split(' ').collect();
    let link = ShmLink::open(args[1]).unwrap();
    match args[0] {
        "producer" => {
            let mut tx = if args[2] == "1" {
                link.reclaim_producer().unwrap()
            } else {
                link.producer().unwrap()
            };
            // Batches of up to this many frags (0: one frag at a time), and the seq at
            // which the process ends, in the middle of writing that frag of a batch (no
            // destructor runs: as if it were killed there).
            let batch: u64 = args[3].parse().unwrap();
            let die_at: u64 = args.get(4).map_or(u64::MAX, |a| a.parse().unwrap());
            let mut buf = [0u8; MTU];
            loop {
                let seq = tx.next_seq();
                let got = if batch == 0 {
                    tx.try_publish(Header::new(seq ^ SIG_KEY), payload(seq, &mut buf))
                } else {
                    let n = batch_len(seq, batch);
                    tx.try_publish_batch_in_place(n, MTU, |s, region| {
                        if s == die_at {
                            std::process::exit(0);
                        }
                        let p = payload(s, &mut buf);
                        region[..p.len()].copy_from_slice(p);
                        (Header::new(s ^ SIG_KEY), p.len())
                    })
                };
                match got {
                    Ok(_) => {}
                    Err(PublishError::NoCredits) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "consumer" => {
            let k: usize = args[2].parse().unwrap();
            let mut rx = if args[3] == "1" {
                link.reclaim_consumer(k).unwrap()
            } else {
                link.consumer(k).unwrap()
            };
            let until: u64 = args[4].parse().unwrap();
            loop {
                match rx.try_recv() {
                    Ok(f) => {
                        check(f.seq(), f.sig(), f.payload());
                        if f.seq() + 1 == until {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("consumer ended with {e}"),
                }
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A child process running `child_main` as `spec`; killed and reaped when dropped.
struct Kid(Child);

impl Kid {
    fn spawn(spec: &str) -> Kid {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_main", "--nocapture", "--test-threads=1"])
            .env("MILONGA_SHM_CHILD", spec)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Kid(child)
    }

    /// `SIGKILL`, then reap (a zombie would still look alive to a signal test).
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// Waits for it to exit on its own, and asserts it succeeded.
    fn join(mut self) {
        let status = self.0.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("milonga-crash-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn link(&self) -> PathBuf {
        self.0.join("link")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A xorshift step: reproducible kill points from a seed printed on failure.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn seed() -> u64 {
    let s = std::env::var("MILONGA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("MILONGA_CRASH_SEED={s}");
    s
}

/// Reads and checks frags from `seq` on until the stream ends; returns the seq after the
/// last frag and whether it ended as failed.
fn drain(
    rx: &mut milonga::spsc::Consumer<'static>,
    mut seq: u64,
    stop_at: Option<u64>,
) -> (u64, Option<TryRecvError>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if Some(seq) == stop_at {
            return (seq, None);
        }
        match rx.try_recv() {
            Ok(f) => {
                assert_eq!(f.seq(), seq, "frags in order, none missing");
                check(f.seq(), f.sig(), f.payload());
                seq += 1;
            }
            Err(TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "stuck at {seq}");
                std::thread::yield_now();
            }
            Err(e) => return (seq, Some(e)),
        }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishes the next frag of the pattern.
fn publish_one(tx: &mut milonga::spsc::Producer<'static>) -> Result<u64, PublishError> {
    let mut buf = [0u8; MTU];
    let seq = tx.next_seq();
    tx.try_publish(Header::new(seq ^ SIG_KEY), payload(seq, &mut buf))
}

/// Publishes until the next seq is `n`; false if credits never came back.
fn publish_until(tx: &mut milonga::spsc::Producer<'static>, n: u64) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while tx.next_seq() < n {
        match publish_one(tx) {
            Ok(_) => {}
            Err(PublishError::NoCredits) => {
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    }
    true
}

/// The frags of the batch a batch producer publishes from `seq` on (every size from 1 to
/// `batch`, so a kill lands anywhere in a batch).
fn batch_len(seq: u64, batch: u64) -> usize {
    1 + (seq % batch) as usize
}

fn producer_spec(path: &Path, reclaim: bool, batch: u64) -> String {
    format!("producer {} {} {batch}", path.display(), reclaim as u8)
}

#[test]
fn a_producer_killed_mid_stream_ends_its_stream_as_failed_after_all_it_published() {
    let mut x = seed();
    for round in 0..4 {
        let dir = Dir::new(&format!("producer{round}"));
        let link = ShmLink::builder()
            .depth(64)
            .mtu(MTU)
            .create(dir.link())
            .unwrap();
        let mut rx = link.consumer(0).unwrap();
        // Odd rounds publish in batches of up to the whole window: the producer's counters
        // then lag its frags by up to a batch while it publishes one, and the next producer
        // must still find where the stream stands.
        let batch = if round % 2 == 1 { 64 } else { 0 };
        let kid = Kid::spawn(&producer_spec(&dir.link(), false, batch));
        // Read a random number of frags (the producer is then anywhere in its loop: in a
        // publish, or waiting for credits this consumer holds back), then kill it.
        let kill_at = 1 + next(&mut x) % 20_000;
        let (seq, end) = drain(&mut rx, 0, Some(kill_at));
        assert_eq!((seq, end), (kill_at, None));
        kid.kill();
        let (end_seq, end) = drain(&mut rx, seq, None);
        assert_eq!(end, Some(TryRecvError::Failed), "round {round}");
        assert_eq!(rx.cnc().end_seq(), Some(end_seq));
        assert_eq!(link.status().producer.state, RoleState::Dead);
        // Exact: the consumer counted every frag of the stream once.
        assert_eq!(rx.counters().consumed_frags, end_seq);
        let published = link.metrics().snapshot().producer.published_frags;
        assert!(
            end_seq - published <= batch.max(1),
            "a publish (a batch) is counted right after it"
        );

        // A new producer takes the stream over and goes on after the last frag.
        let kid = Kid::spawn(&producer_spec(&dir.link(), true, batch));
        // Until it has reopened the stream, the consumer still finds it ended.
        wait_until("the stream is reopened", || {
            link.status().signal == milonga::Signal::Run
        });
        let more = end_seq + 1 + next(&mut x) % 5_000;
        let (seq, _) = drain(&mut rx, end_seq, Some(more));
        assert_eq!(seq, more);
        kid.kill();
        let (end_seq, end) = drain(&mut rx, seq, None);
        assert_eq!(end, Some(TryRecvError::Failed));
        assert_eq!(rx.counters().consumed_frags, end_seq);
    }
}

/// A producer that dies in the middle of a batch has published the batch's first frags
/// but not counted them (it counts a batch once, at its end): whoever finds where its
/// stream stands (the consumer's watch, closing it; the next producer, resuming it) reads
/// the slots past its counters, so the stream ends right after its last frag and goes on
/// from there without a gap. A batch has at most `cr_max <= depth` frags: never more than
/// those slots.
#[test]
fn a_producer_that_dies_mid_batch_is_resumed_after_its_last_frag() {
    const BATCH: u64 = 64;
    let mut x = seed();
    for round in 0..3 {
        let dir = Dir::new(&format!("midbatch{round}"));
        let link = ShmLink::builder()
            .depth(BATCH as usize)
            .mtu(MTU)
            .create(dir.link())
            .unwrap();
        let mut rx = link.consumer(0).unwrap();
        // The batches' first seqs follow from the sizes; die inside a batch of at least
        // two frags, after its first.
        let skip = 1 + next(&mut x) % 200;
        let mut first = 0u64;
        let mut k = 0;
        let (first, die_at) = loop {
            let n = batch_len(first, BATCH) as u64;
            if n >= 2 {
                k += 1;
                if k == skip {
                    break (first, first + 1 + next(&mut x) % (n - 1));
                }
            }
            first += n;
        };
        let spec = format!("{} {die_at}", producer_spec(&dir.link(), false, BATCH));
        let kid = Kid::spawn(&spec);
        let (end_seq, end) = drain(&mut rx, 0, None);
        kid.join(); // it ended on its own
        assert_eq!(end, Some(TryRecvError::Failed), "round {round}");
        assert_eq!(end_seq, die_at, "the stream ends right after the last frag");
        assert_eq!(rx.cnc().end_seq(), Some(die_at));
        // The counters stopped at the batch's start (what makes this case: the frags of
        // the unfinished batch are found in the slots after them).
        assert_eq!(
            link.metrics().snapshot().producer.published_frags,
            first,
            "round {round}"
        );
        // The next producer resumes after the last frag, counting every one.
        let kid = Kid::spawn(&producer_spec(&dir.link(), true, 0));
        wait_until("the stream is reopened", || {
            link.status().signal == milonga::Signal::Run
        });
        let more = die_at + 1 + next(&mut x) % 500;
        let (seq, _) = drain(&mut rx, die_at, Some(more));
        assert_eq!(seq, more);
        kid.kill();
        let (end_seq, end) = drain(&mut rx, seq, None);
        assert_eq!(end, Some(TryRecvError::Failed));
        assert_eq!(rx.counters().consumed_frags, end_seq);
        assert!(link.metrics().snapshot().producer.published_frags <= end_seq);
    }
}

#[test]
fn a_dead_producer_without_reclaim_is_refused_by_name() {
    let dir = Dir::new("refuse");
    let link = ShmLink::builder()
        .depth(8)
        .mtu(MTU)
        .create(dir.link())
        .unwrap();
    let mut rx = link.consumer(0).unwrap();
    let kid = Kid::spawn(&producer_spec(&dir.link(), false, 0));
    drain(&mut rx, 0, Some(3));
    let pid = kid.0.id();
    kid.kill();
    // The consumer polled only while the producer lived, so nobody fenced the role: it
    // still names the dead pid, and only an explicit reclaim takes it.
    assert_eq!(
        link.producer().err(),
        Some(milonga::shm::ShmError::HolderDied {
            role: milonga::shm::Role::Producer,
            pid
        })
    );
    assert_eq!(link.status().producer.state, RoleState::Dead);
    assert!(link.reclaim_producer::<milonga::spsc::Exclusive>().is_ok());
}

#[test]
fn a_killed_reliable_consumer_is_reclaimed_and_resumes_without_a_gap() {
    let mut x = seed();
    for round in 0..3 {
        let dir = Dir::new(&format!("consumer{round}"));
        let link = ShmLink::builder()
            .depth(64)
            .mtu(MTU)
            .create(dir.link())
            .unwrap();
        let mut tx = link.producer().unwrap();
        let total = 30_000u64;
        let kid = Kid::spawn(&format!("consumer {} 0 0 {total}", dir.link().display()));
        // Killed before it claims its role, it would leave nothing to reclaim.
        let pid = kid.0.id();
        wait_until("the child holds the role", || {
            link.status().reliable[0].pid == Some(pid)
        });
        let kill_at = next(&mut x) % 20_000;
        assert!(publish_until(&mut tx, kill_at));
        kid.kill();
        // The producer waits (the default policy) and sees the consumer dead.
        wait_until("the consumer is seen dead", || {
            link.status().reliable[0].state == RoleState::Dead
        });
        let progress = link.metrics().snapshot().consumers[0].rx_seq;
        // It can publish at most a window past the dead consumer's progress.
        let window_end = progress + 64;
        let mut probe = tx.next_seq();
        while probe < window_end + 1 {
            match publish_one(&mut tx) {
                Ok(_) => probe += 1,
                Err(PublishError::NoCredits) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(tx.next_seq() <= window_end, "gated by the dead consumer");
        // A new process reclaims the role and reads on from the published progress.
        let kid = Kid::spawn(&format!("consumer {} 0 1 {total}", dir.link().display()));
        assert!(publish_until(&mut tx, total));
        kid.join();
        drop(tx);
        let snap = link.metrics().snapshot();
        assert_eq!(snap.producer.published_frags, total);
        assert_eq!(
            snap.consumers[0].counters.consumed_frags, total,
            "round {round}"
        );
    }
}

#[test]
fn a_killed_reliable_consumer_is_evicted_by_policy_and_credits_flow_again() {
    let dir = Dir::new("evict");
    let link = ShmLink::builder()
        .depth(32)
        .mtu(MTU)
        .reliable(2)
        .on_dead_consumer(DeadConsumer::Evict)
        .create(dir.link())
        .unwrap();
    let mut tx = link.producer().unwrap();
    let mut survivor = link.consumer(1).unwrap();
    let kid = Kid::spawn(&format!(
        "consumer {} 0 0 {}",
        dir.link().display(),
        u64::MAX
    ));
    let mut read = 0;
    // Publish 100 frags (the child reads them too), then kill the child.
    while tx.next_seq() < 100 {
        match publish_one(&mut tx) {
            Ok(_) => {}
            Err(PublishError::NoCredits) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
        read = drain(&mut survivor, read, Some(tx.next_seq())).0;
    }
    wait_until("the child read everything", || {
        link.metrics().snapshot().consumers[0].rx_seq >= 90
    });
    kid.kill();
    // The survivor keeps up; the dead consumer would stop the producer 32 frags past its
    // progress, but it is evicted and the stream goes on for 10 windows.
    let deadline = Instant::now() + PATIENCE;
    while tx.next_seq() < 100 + 320 {
        match publish_one(&mut tx) {
            Ok(_) => {}
            Err(PublishError::NoCredits) => {
                assert!(Instant::now() < deadline, "never evicted");
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
        read = drain(&mut survivor, read, Some(tx.next_seq())).0;
    }
    let status = link.status();
    assert_eq!(status.reliable[0].state, RoleState::Evicted);
    assert!(matches!(
        link.reclaim_consumer(0),
        Err(milonga::shm::ShmError::Evicted(_))
    ));
    assert!(link.metrics().snapshot().consumers[0].detached);
}
