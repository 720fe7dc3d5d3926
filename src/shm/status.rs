//! Who holds each role of a link in shared memory, and whether they are alive: what a
//! monitor shows beside the link's metrics.

use core::time::Duration;
use std::vec::Vec;

use crate::cnc::Signal;
use crate::shm::error::Role;
use crate::shm::role::{now_ns, RoleLine, State};

/// The state of a role, as an observer finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RoleState {
    /// Nobody holds it (never claimed, or its holder left cleanly).
    Free,
    /// A live process holds it.
    Live,
    /// Its holder died (its process is gone); for the producer, its stream is closed as
    /// failed once a consumer notices. The role can be reclaimed.
    Dead,
    /// A reliable consumer that died and that the producer stopped waiting for.
    Evicted,
    /// The role's word holds a value milonga never writes.
    Corrupt,
}

/// One role's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RoleStatus {
    /// The role.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub role: Role,
    /// Its state.
    pub state: RoleState,
    /// The pid of its holder (live or dead), if any.
    pub pid: Option<u32>,
    /// Time since its holder last beat its heartbeat (`None` if it never did). A holder
    /// beats at housekeeping and while it waits; a live holder that stopped calling into
    /// the link (blocked elsewhere) ages without dying.
    pub heartbeat_age: Option<Duration>,
    /// How often the role was claimed.
    pub claims: u64,
}

impl RoleStatus {
    pub(crate) fn read(role: Role, line: &RoleLine) -> RoleStatus {
        use crate::sync::Ordering::Relaxed;
        let w = line.word();
        let beat = line.beat.load(Relaxed);
        let (state, pid) = match w.state() {
            State::Free => (RoleState::Free, None),
            State::Live if w.holder_alive() => (RoleState::Live, Some(w.pid())),
            State::Live | State::Dead => (RoleState::Dead, Some(w.pid())),
            // A consumer is closing the dead producer's stream: already dead.
            State::Fenced => (RoleState::Dead, None),
            State::Evicted => (RoleState::Evicted, Some(w.pid())),
            State::Unknown => (RoleState::Corrupt, None),
        };
        RoleStatus {
            role,
            state,
            pid,
            heartbeat_age: (beat != 0).then(|| Duration::from_nanos(now_ns().saturating_sub(beat))),
            claims: line.claims.load(Relaxed),
        }
    }
}

/// Every role of a link, and its producer's signal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkStatus {
    /// The producer's signal (from the link's cnc).
    pub signal: Signal,
    /// The producer role.
    pub producer: RoleStatus,
    /// The reliable consumer roles, by index.
    pub reliable: Vec<RoleStatus>,
    /// The lossy consumer roles, by index.
    pub lossy: Vec<RoleStatus>,
}
