//! What a handle of a link in shared memory does at its slow paths: beat its role's
//! heartbeat, notice a dead producer (and close its stream on its behalf), notice dead
//! reliable consumers (and evict them, by the link's policy), and give its role back.

use std::sync::Arc;

use crate::cnc::{Cnc, Signal};
use crate::fseq::Fseq;
use crate::liveness::{Resume, Watch};
use crate::mcache::MCache;
use crate::shm::error::Role;
use crate::shm::region::Region;
use crate::shm::role::{now_ns, RoleLine, Word};
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// How often (at most) a handle checks its peers' processes: a peer that died is noticed
/// within this much time of idle polling (or of being out of credits).
pub const CHECK_INTERVAL_NS: u64 = 10_000_000;

/// The watch of one handle: its region (kept mapped while the handle lives), its role and
/// the word it claimed it with.
pub(crate) struct HandleWatch {
    pub(crate) region: Arc<Region>,
    role: Role,
    mine: Word,
    /// When this handle last checked its peers (written by its one thread).
    last_check: AtomicU64,
}

impl HandleWatch {
    pub(crate) fn new(region: Arc<Region>, role: Role, mine: Word) -> HandleWatch {
        HandleWatch {
            region,
            role,
            mine,
            last_check: AtomicU64::new(0),
        }
    }

    fn line(&self) -> &RoleLine {
        self.region.role(self.role)
    }

    /// Beats, and tells whether a check of the peers is due.
    fn beat_and_due(&self) -> bool {
        let now = now_ns();
        self.line().beat.store(now, Relaxed);
        if now.wrapping_sub(self.last_check.load(Relaxed)) < CHECK_INTERVAL_NS {
            return false;
        }
        self.last_check.store(now, Relaxed);
        true
    }
}

impl Watch for HandleWatch {
    fn beat(&self) {
        self.line().beat.store(now_ns(), Relaxed);
    }

    fn consumer_idle(&self, mcache: MCache<'_>, cnc: &Cnc) {
        if !self.beat_and_due() {
            return;
        }
        let producer = self.region.role(Role::Producer);
        if let Some((fenced, dead_pid)) = producer.fence_if_dead(self.region.me) {
            // This handle alone fenced the dead producer's role: it closes the stream at
            // the seq after the last frag that producer published (metadata it names out
            // of bounds ends the stream before that frag), then buries the role.
            let parts = self.region.parts();
            let end = match Resume::find(mcache, &parts.dcache, cnc, parts.seq0) {
                Ok(at) => at.next_seq,
                Err(seq) => seq,
            };
            cnc.close(end, Signal::Fail);
            producer.bury(fenced, dead_pid);
        }
    }

    fn producer_blocked(&self, fseqs: &[Fseq]) {
        if !self.beat_and_due() || !self.region.layout.evict() {
            return;
        }
        for (k, fseq) in fseqs.iter().enumerate() {
            if self.region.role(Role::Reliable(k)).evict_if_dead() {
                // Its process is gone and its role can never be claimed again: the
                // producer stops waiting for it.
                fseq.detach();
            }
        }
    }

    fn leave(&self) {
        self.line().leave(self.mine);
    }
}
