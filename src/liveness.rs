//! Liveness hooks: what a storage owner whose handles live in other processes (the
//! shared-memory owner, [`shm`](crate::shm)) attaches to a link's handles, so that each
//! handle beats its heartbeat and learns of a peer that died, without the handle knowing
//! who owns its storage.
//!
//! Links whose handles all live in one process (inline and heap storage) attach nothing:
//! each hook is then one branch on a `None`, taken only on a slow path (housekeeping, an
//! empty poll, a producer out of credits, a drop), never per frag.

// Only the shared-memory owner attaches a watch or resumes a stream.
#![cfg_attr(not(all(feature = "shm", unix, not(milonga_loom))), allow(dead_code))]

use crate::cnc::Cnc;
use crate::dcache::DCache;
use crate::frag::FragMeta;
use crate::fseq::Fseq;
use crate::mcache::{MCache, Read};
use crate::seq;
use crate::sync::Ref;

/// What a storage owner does at a handle's slow paths. Every method is called by the one
/// thread that holds the handle.
pub(crate) trait Watch: Send + Sync {
    /// Housekeeping: beat this handle's heartbeat.
    fn beat(&self);
    /// A consumer found nothing to read: beat, and check that the producer is alive; if it
    /// died, close its stream on its behalf (consumers then drain what it published and
    /// report that it failed).
    fn consumer_idle(&self, mcache: MCache<'_>, cnc: &Cnc);
    /// The producer is out of credits: beat, and check that its reliable consumers are
    /// alive (reporting, and by the owner's policy evicting, the dead ones).
    fn producer_blocked(&self, fseqs: &[Fseq]);
    /// The handle is dropped: give its role back.
    fn leave(&self);
}

/// How many calls of a frequent slow path (empty polls, progress publications) pass between
/// two calls of the watch, which reads the clock.
const EVERY: u32 = 64;

/// A handle's hook: the watch of its storage owner (none for inline and heap links) and a
/// call counter that thins out the frequent slow paths.
pub(crate) struct Hook<'a> {
    watch: Option<Ref<'a, dyn Watch + 'a>>,
    ticks: u32,
}

impl<'a> Hook<'a> {
    /// No watch: the handle of an inline or heap link.
    pub(crate) const fn none() -> Self {
        Hook {
            watch: None,
            ticks: 0,
        }
    }

    /// The hook of a handle whose owner watches it.
    pub(crate) fn new(watch: &'a (dyn Watch + 'a)) -> Self {
        Hook {
            watch: Some(Ref::new(watch)),
            ticks: 0,
        }
    }

    /// Whether an owner watches this handle (its handles span processes).
    #[inline(always)]
    pub(crate) fn is_watched(&self) -> bool {
        self.watch.is_some()
    }

    #[inline(always)]
    fn due(&mut self) -> Option<Ref<'a, dyn Watch + 'a>> {
        let watch = self.watch?;
        self.ticks = self.ticks.wrapping_add(1);
        self.ticks.is_multiple_of(EVERY).then_some(watch)
    }

    /// Producer housekeeping (already amortised over a window of credits): beat.
    #[inline(always)]
    pub(crate) fn housekeeping(&mut self) {
        if let Some(watch) = self.watch {
            watch.get().beat();
        }
    }

    /// A consumer published its progress: beat every [`EVERY`] times.
    #[inline(always)]
    pub(crate) fn progressed(&mut self) {
        if let Some(watch) = self.due() {
            watch.get().beat();
        }
    }

    /// A consumer found nothing to read (the first time, then every [`EVERY`] times).
    #[inline(always)]
    pub(crate) fn consumer_idle(&mut self, mcache: MCache<'_>, cnc: &Cnc) {
        if let Some(watch) = self.due_or_first() {
            watch.get().consumer_idle(mcache, cnc);
        }
    }

    /// The producer is out of credits (the first time, then every [`EVERY`] times).
    #[inline(always)]
    pub(crate) fn producer_blocked(&mut self, fseqs: &[Fseq]) {
        if let Some(watch) = self.due_or_first() {
            watch.get().producer_blocked(fseqs);
        }
    }

    fn due_or_first(&mut self) -> Option<Ref<'a, dyn Watch + 'a>> {
        let first = self.ticks == 0;
        match self.due() {
            Some(w) => Some(w),
            None if first => self.watch,
            None => None,
        }
    }

    /// The handle is dropped.
    pub(crate) fn leave(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.get().leave();
        }
    }
}

/// Where a stream stands: what a producer that takes it over continues from (the next
/// seq, where its next payload goes, and its counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) next_seq: u64,
    pub(crate) cursor: u32,
    pub(crate) published_frags: u64,
    pub(crate) published_bytes: u64,
}

impl Resume {
    /// Finds where the stream of a producer that is gone (or never was) stands.
    ///
    /// A producer stores its frag and byte counts after each publish, so they are at most
    /// one frag behind its mcache; the slots after that point are read (validated reads) to
    /// find frags it published and did not count. Its next payload goes after the last
    /// frag's payload. Nothing here is trusted: a region outside the store is
    /// `Err(seq)` of the frag that names it.
    pub(crate) fn find(
        mcache: MCache<'_>,
        dcache: &DCache<'_>,
        cnc: &Cnc,
        seq0: u64,
    ) -> Result<Resume, u64> {
        let counted = cnc.producer_counters();
        let mut at = Resume {
            next_seq: seq::inc(seq0, counted.published_frags),
            cursor: 0,
            published_frags: counted.published_frags,
            published_bytes: counted.published_bytes,
        };
        if at.published_frags > 0 {
            let last = seq::dec(at.next_seq, 1);
            match mcache.read(last) {
                Read::Ready(meta) => at.cursor = Self::after(dcache, &meta)?,
                _ => return Err(last),
            }
        }
        for _ in 0..mcache.depth() {
            let Read::Ready(meta) = mcache.read(at.next_seq) else {
                break;
            };
            at.cursor = Self::after(dcache, &meta)?;
            at.next_seq = seq::inc(at.next_seq, 1);
            // The counts came from the region: untrusted, so they wrap.
            at.published_frags = at.published_frags.wrapping_add(1);
            at.published_bytes = at.published_bytes.wrapping_add(u64::from(meta.sz));
        }
        Ok(at)
    }

    fn after(dcache: &DCache<'_>, meta: &FragMeta) -> Result<u32, u64> {
        let sz = meta.sz as usize;
        if dcache.in_bounds(meta.offset, sz) {
            Ok(DCache::after(meta.offset, sz))
        } else {
            Err(meta.seq)
        }
    }
}
