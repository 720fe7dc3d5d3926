//! Roles in a shared region (the producer, each reliable and each lossy consumer): who
//! holds one, claimed by compare-exchange on one word, and whether that process is alive.
//!
//! A role's word holds its state (3 bits), the low 29 bits of its holder's start time
//! (clock ticks since boot, from `/proc/<pid>/stat` on Linux, 0 elsewhere) and the holder's
//! pid (32 bits). A pid alone can be reused by a new process once the holder died; the
//! start time tells the two apart.
//!
//! | state | meaning | next |
//! | --- | --- | --- |
//! | free | nobody holds it (never claimed, or left cleanly) | live (claim) |
//! | live | `pid` holds it | free (leave), fenced (its process died), evicted |
//! | fenced | producer role only: a consumer found the producer dead and is closing its stream on its behalf | dead |
//! | dead | producer role only: the holder died and its stream was closed as failed | live (claim) |
//! | evicted | reliable consumer only: it died and the producer stopped waiting for it | final |

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync::AtomicU64;

/// One role's line: its word, its holder's heartbeat, how often it was claimed.
#[repr(C, align(128))]
pub(crate) struct RoleLine {
    pub(crate) word: AtomicU64,
    /// The holder's last heartbeat: the monotonic clock in nanoseconds (the same clock in
    /// every process of the machine).
    pub(crate) beat: AtomicU64,
    /// How often the role was claimed.
    pub(crate) claims: AtomicU64,
}

/// The state of a role, from its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Free,
    Live,
    Fenced,
    Dead,
    Evicted,
    /// A state this build does not know (a corrupt word).
    Unknown,
}

const FREE: u64 = 0;
const LIVE: u64 = 1;
const FENCED: u64 = 2;
const DEAD: u64 = 3;
const EVICTED: u64 = 4;
const START_BITS: u32 = 29;
const START_MASK: u64 = (1 << START_BITS) - 1;

/// A role word's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    fn new(state: u64, who: Me) -> Word {
        Word(state << 61 | (who.start & START_MASK) << 32 | u64::from(who.pid))
    }

    pub(crate) fn state(self) -> State {
        match self.0 >> 61 {
            FREE => State::Free,
            LIVE => State::Live,
            FENCED => State::Fenced,
            DEAD => State::Dead,
            EVICTED => State::Evicted,
            _ => State::Unknown,
        }
    }

    pub(crate) fn pid(self) -> u32 {
        self.0 as u32
    }

    fn holder(self) -> Me {
        Me {
            pid: self.pid(),
            start: (self.0 >> 32) & START_MASK,
        }
    }

    /// Whether the process named by the word is alive (for a free word: no).
    pub(crate) fn holder_alive(self) -> bool {
        self.state() != State::Free && self.holder().alive()
    }
}

/// A process: its pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    pid: u32,
    start: u64,
}

impl Me {
    /// This process.
    pub(crate) fn get() -> Me {
        let pid = std::process::id();
        Me {
            pid,
            start: stat(pid).map_or(0, |s| s.start),
        }
    }

    /// Whether this process still runs: its pid exists, is not a zombie and (on Linux)
    /// started when it did.
    fn alive(self) -> bool {
        // A pid is a positive `i32`: any other value (a corrupt word) names no process (and
        // a negative one would name a process group).
        let Some(pid) = i32::try_from(self.pid)
            .ok()
            .filter(|&p| p > 0)
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // EPERM: the process exists, owned by another user.
        if rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH) {
            return false;
        }
        match stat(self.pid) {
            Some(s) => !s.zombie && (s.start & START_MASK) == self.start,
            // No `/proc` (not Linux): the signal test is all there is.
            None => cfg!(not(target_os = "linux")),
        }
    }
}

struct Stat {
    start: u64,
    zombie: bool,
}

/// The state and start time of process `pid` from `/proc/<pid>/stat` (Linux), read into a
/// buffer on the stack.
fn stat(pid: u32) -> Option<Stat> {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    if !cfg!(target_os = "linux") {
        return None;
    }
    let mut path = [0u8; 32];
    let mut w = &mut path[..];
    std::io::Write::write_fmt(&mut w, format_args!("/proc/{pid}/stat")).ok()?;
    let len = 32 - w.len();
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(&path[..len]));
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    // `pid (comm) state ppid ...`: comm may hold anything, so fields count from the last ')'.
    let text = &buf[..n];
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // `starttime` is field 22; the state is field 3.
    let start = fields.nth(22 - 4)?;
    let start = core::str::from_utf8(start).ok()?.trim().parse().ok()?;
    Some(Stat {
        start,
        zombie: matches!(state, b'Z' | b'X' | b'x'),
    })
}

/// The monotonic clock in nanoseconds: the same clock in every process of the machine.
pub(crate) fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// Why a claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// A live process holds the role.
    Held(u32),
    /// A process that died holds it: reclaim it explicitly.
    HeldByDead(u32),
    /// The producer evicted it.
    Evicted,
    /// Its word is not one this build writes.
    Corrupt(u64),
}

impl RoleLine {
    pub(crate) fn word(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    /// Claims the role for `me`: a free or dead role at once; one held by a process that
    /// died only if `reclaim`. A fenced producer role is waited for (its fencer is closing
    /// the stream: a few reads and stores), or taken over if its fencer died too.
    pub(crate) fn claim(&self, me: Me, reclaim: bool) -> Result<Word, ClaimError> {
        loop {
            let w = self.word();
            match w.state() {
                State::Free | State::Dead => {}
                State::Live if w.holder_alive() => return Err(ClaimError::Held(w.pid())),
                State::Live if !reclaim => return Err(ClaimError::HeldByDead(w.pid())),
                State::Live => {}
                State::Fenced if w.holder_alive() => {
                    std::thread::yield_now();
                    continue;
                }
                // Its fencer died before it could bury the role: the role is dead.
                State::Fenced => {}
                State::Evicted => return Err(ClaimError::Evicted),
                State::Unknown => return Err(ClaimError::Corrupt(w.0)),
            }
            let mine = Word::new(LIVE, me);
            // Acquire: what the last holder (or fencer) wrote before giving the role up is
            // visible to the new holder.
            if self
                .word
                .compare_exchange(w.0, mine.0, Acquire, Relaxed)
                .is_ok()
            {
                self.claims.fetch_add(1, Relaxed);
                self.beat.store(now_ns(), Relaxed);
                return Ok(mine);
            }
        }
    }

    /// The holder `mine` leaves cleanly (release: its last writes happen before a new
    /// holder's claim).
    pub(crate) fn leave(&self, mine: Word) {
        let _ = self.word.compare_exchange(
            mine.0,
            Word::new(FREE, Me { pid: 0, start: 0 }).0,
            Release,
            Relaxed,
        );
    }

    /// If the live holder of this (producer) role died, fences it for `me`: `Some((word,
    /// dead pid))` to the one caller that must now close the stream and then
    /// [`bury`](Self::bury) it.
    pub(crate) fn fence_if_dead(&self, me: Me) -> Option<(Word, u32)> {
        let w = self.word();
        let fenceable = matches!(w.state(), State::Live | State::Fenced) && !w.holder_alive();
        if !fenceable {
            return None;
        }
        let fenced = Word::new(FENCED, me);
        self.word
            .compare_exchange(w.0, fenced.0, Acquire, Relaxed)
            .ok()
            .map(|_| (fenced, w.pid()))
    }

    /// The fencer closed the stream of the dead holder `dead_pid`: the role is dead (and
    /// free to claim).
    pub(crate) fn bury(&self, fenced: Word, dead_pid: u32) {
        let dead = Word(DEAD << 61 | u64::from(dead_pid));
        let _ = self
            .word
            .compare_exchange(fenced.0, dead.0, Release, Relaxed);
    }

    /// If the live holder of this (reliable consumer) role died, evicts it: true to the
    /// one caller that must now detach its fseq.
    pub(crate) fn evict_if_dead(&self) -> bool {
        let w = self.word();
        if w.state() != State::Live || w.holder_alive() {
            return false;
        }
        let evicted = Word(EVICTED << 61 | u64::from(w.pid()));
        self.word
            .compare_exchange(w.0, evicted.0, Relaxed, Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "system calls on processes")]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = Me::get();
        assert!(me.alive());
        let reused = Me {
            start: (me.start + 1) & START_MASK,
            ..me
        };
        assert_eq!(reused.alive(), !cfg!(target_os = "linux"));
        let gone = Me {
            pid: i32::MAX as u32,
            start: 0,
        };
        assert!(!gone.alive());
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls on processes")]
    fn claims_are_exclusive_and_leaving_frees() {
        let line = RoleLine {
            word: AtomicU64::new(0),
            beat: AtomicU64::new(0),
            claims: AtomicU64::new(0),
        };
        let me = Me::get();
        let mine = line.claim(me, false).unwrap();
        assert_eq!(mine.state(), State::Live);
        assert_eq!(line.claim(me, true), Err(ClaimError::Held(me.pid)));
        assert!(line.fence_if_dead(me).is_none());
        assert!(!line.evict_if_dead());
        line.leave(mine);
        assert_eq!(line.word().state(), State::Free);
        assert_eq!(line.claims.load(Relaxed), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "system calls on processes")]
    fn a_dead_holder_is_reclaimed_only_explicitly() {
        let dead = Me {
            pid: i32::MAX as u32,
            start: 3,
        };
        let line = RoleLine {
            word: AtomicU64::new(Word::new(LIVE, dead).0),
            beat: AtomicU64::new(0),
            claims: AtomicU64::new(0),
        };
        let me = Me::get();
        assert_eq!(line.claim(me, false), Err(ClaimError::HeldByDead(dead.pid)));
        let (fenced, pid) = line.fence_if_dead(me).unwrap();
        assert_eq!(pid, dead.pid);
        assert_eq!(line.word().state(), State::Fenced);
        assert!(line.fence_if_dead(me).is_none()); // one fencer
        line.bury(fenced, dead.pid);
        assert_eq!(
            (line.word().state(), line.word().pid()),
            (State::Dead, dead.pid)
        );
        assert!(line.claim(me, false).is_ok()); // a dead role is free to claim
        line.word.store(Word::new(LIVE, dead).0, Relaxed);
        assert!(line.evict_if_dead());
        assert_eq!(line.claim(me, true), Err(ClaimError::Evicted));
    }
}
