//! Lossy consumers: they never slow the producer, copy payloads out, and count exactly
//! what they lose when the producer laps them.

use core::fmt;

use crate::cnc::Cnc;
use crate::dcache::DCache;
use crate::error::{
    LossyRecvError, LossyRecvTimeoutError, LossyTryRecvError, Overrun, OverrunKind,
};
use crate::frag::FragMeta;
use crate::fseq::{ConsumerCounters, Fseq};
use crate::liveness::Hook;
use crate::mcache::{MCache, Read};
use crate::metrics::Metrics;
use crate::seq;
use crate::spsc::{Keep, Parts, SigFilter};
use crate::sync::Ref;
use crate::wait::{retry, Strategy, Wait};

/// A consumer that never gates the producer (`Send`).
///
/// It reads a frag by copying its payload into a caller's buffer with atomic loads and
/// then checking that the frag's slot still holds it; if the producer lapped it meanwhile,
/// the copy is thrown away. It never receives a plain `&[u8]` into the link's store.
///
/// When it finds it was overrun, it resumes at the oldest frag still intact (or, with a
/// [resume margin](Self::set_resume_margin), that many frags later), returns an
/// [`Overrun`] error with the number of frags skipped and how it was found, and counts
/// them: overruns found before the read (the slot already held a later frag:
/// [`OverrunKind::Lapped`]) and during the copy (the slot changed under it:
/// [`OverrunKind::Overwritten`]) separately, each in events and in frags, plus the bytes
/// lost.
/// Its metadata is untrusted: the offset and size are checked against the store before
/// any address is formed.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, LossyTryRecvError, Overrun, OverrunKind};
///
/// let mut link = Link::builder().depth(4).mtu(16).reliable(0).lossy(1).heap()?;
/// let (mut tx, mut rx) = (link.producer, link.lossy.pop().unwrap());
/// for i in 0..10u8 {
///     tx.try_publish(Header::new(i as u64), &[i; 16])?; // never blocks
/// }
/// let mut buf = [0u8; 16];
/// let lapped = Overrun { lost: 6, kind: OverrunKind::Lapped };
/// assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Overrun(lapped)));
/// assert_eq!(rx.try_recv(&mut buf)?.sig, 6);
/// assert_eq!(buf, [6; 16]);
/// assert_eq!(rx.counters().poll_lost, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LossyConsumer<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    rx_seq: u64,
    /// Payload bytes published before the frag after the last one this consumer consumed
    /// or filtered. Equal to the bytes before `rx_seq` unless frags were lost since; the
    /// difference is resolved (and counted as lost) by the next read's ledger value.
    bytes_before: u64,
    since_publish: u64,
    release_every: u64,
    /// Frags to skip past the oldest intact one when resuming after an overrun.
    resume_margin: u64,
    filter: Option<SigFilter<'a>>,
    wait: Strategy,
    counters: ConsumerCounters,
    fseq: Ref<'a, Fseq>,
    parts: Parts<'a>,
    /// The storage owner's liveness hook (none unless the link spans processes).
    hook: Hook<'a>,
    keep: Keep,
}

impl<'a> LossyConsumer<'a> {
    pub(crate) fn new(
        parts: Parts<'a>,
        fseq: Ref<'a, Fseq>,
        release_every: u64,
        keep: Keep,
    ) -> Self {
        parts.cnc.attach();
        Self::unattached(parts, fseq, release_every, keep)
    }

    /// A lossy consumer that resumes from the progress and counters its fseq last
    /// published (a fresh fseq: the start of the stream), watched by its storage owner's
    /// `hook`; not counted among the link's attached consumers. Frags published since and
    /// already overwritten are found, and counted as lost, by its first read.
    #[cfg(all(feature = "shm", unix, not(milonga_loom)))]
    pub(crate) fn resume(
        parts: Parts<'a>,
        fseq: Ref<'a, Fseq>,
        release_every: u64,
        keep: Keep,
        hook: Hook<'a>,
    ) -> Self {
        let mut c = Self::unattached(parts, fseq, release_every, keep);
        c.rx_seq = fseq.query();
        c.counters = fseq.counters();
        // Every byte published before `rx_seq` was consumed, filtered or counted lost,
        // except lost bytes not yet resolved: the first read's ledger value resolves them.
        // (The counters came from the region: untrusted, so every count wraps.)
        c.bytes_before = c
            .counters
            .consumed_bytes
            .wrapping_add(c.counters.filtered_bytes)
            .wrapping_add(c.counters.lost_bytes);
        c.hook = hook;
        c
    }

    fn unattached(parts: Parts<'a>, fseq: Ref<'a, Fseq>, release_every: u64, keep: Keep) -> Self {
        LossyConsumer {
            mcache: parts.mcache,
            dcache: parts.dcache,
            rx_seq: parts.seq0,
            bytes_before: 0,
            since_publish: 0,
            release_every,
            resume_margin: 0,
            filter: None,
            wait: Strategy::default(),
            counters: ConsumerCounters::default(),
            fseq,
            parts,
            hook: Hook::none(),
            keep,
        }
    }

    /// The seq of the next frag this consumer will try to read.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.rx_seq
    }

    /// The largest payload, in bytes: a buffer this long always suffices.
    #[inline]
    pub fn mtu(&self) -> usize {
        self.dcache.mtu()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.parts.cnc.get()
    }

    /// After an overrun, resume `margin` frags after the oldest intact frag (at most at
    /// the newest published one) instead of at it. The oldest intact frag is the next one
    /// the producer overwrites, so a consumer that keeps falling behind and resumes there
    /// is lapped again almost at once, and pays for a recovery (and often a wasted copy)
    /// each time. A margin of, say, half the depth skips more frags per overrun but leaves
    /// room before the next one. Default 0. Every skipped frag is counted either way.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, LossyTryRecvError, Overrun, OverrunKind};
    ///
    /// let mut link = Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
    /// let (mut tx, mut rx) = (link.producer, link.lossy.pop().unwrap());
    /// rx.set_resume_margin(2);
    /// for i in 0..10u64 {
    ///     tx.try_publish(Header::new(i), &i.to_le_bytes())?;
    /// }
    /// let mut buf = [0u8; 8];
    /// // Frags 6 to 9 are intact; the margin skips 6 and 7 too.
    /// let lapped = Overrun { lost: 8, kind: OverrunKind::Lapped };
    /// assert_eq!(rx.try_recv(&mut buf), Err(LossyTryRecvError::Overrun(lapped)));
    /// assert_eq!(rx.try_recv(&mut buf)?.sig, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_resume_margin(&mut self, margin: u64) {
        self.resume_margin = margin;
    }

    /// From now on, deliver only frags whose `sig` `filter` accepts; the others are
    /// skipped without touching their payload and counted as filtered.
    pub fn set_filter(&mut self, filter: Option<SigFilter<'a>>) {
        self.filter = filter;
    }

    /// The wait strategy of the blocking calls ([`recv`](Self::recv), ...). The default
    /// spins briefly, then parks.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.wait = wait;
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.wait
    }

    /// The ring's depth: how far the producer may get ahead before it overruns this
    /// consumer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mcache.depth() as usize
    }

    /// This consumer's counters as it knows them now (published to the link's metrics at
    /// housekeeping).
    pub fn counters(&self) -> ConsumerCounters {
        self.counters
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        self.parts.metrics(self.keep.clone())
    }

    /// Copies the next frag's payload into `buf` and returns its metadata; the payload is
    /// `buf[..meta.sz]`.
    ///
    /// # Errors
    /// [`LossyTryRecvError::Empty`] if nothing new is published, `Closed` (or `Failed`)
    /// at the end of the stream, `Overrun` if frags were lost (the next call goes on at
    /// the oldest intact frag), `BufferTooSmall` if `buf` cannot hold the payload (nothing
    /// is consumed), `Corrupt` if the metadata names a region outside the store (the frag
    /// is skipped and counted as lost).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<FragMeta, LossyTryRecvError> {
        loop {
            let seq = self.rx_seq;
            let (read, before) = self.mcache.read_with_ledger(seq);
            let meta = match read {
                Read::Ready(meta) => meta,
                Read::NotYet => return Err(self.idle()),
                Read::Overrun { found } => {
                    return Err(LossyTryRecvError::Overrun(self.skip(found, false)))
                }
            };
            // Frags lost since the last frag this consumer saw carried these bytes. (On a
            // link in shared memory the metadata, and the counters a consumer resumed, are
            // untrusted: every count wraps, as seqs do, rather than overflow.)
            self.counters.lost_bytes = self
                .counters
                .lost_bytes
                .wrapping_add(before.wrapping_sub(self.bytes_before));
            self.bytes_before = before;
            let sz = meta.sz as usize;
            if !self.dcache.in_bounds(meta.offset, sz) {
                self.counters.read_lost = self.counters.read_lost.wrapping_add(1);
                self.counters.lost_bytes = self.counters.lost_bytes.wrapping_add(sz as u64);
                self.advance(sz);
                return Err(LossyTryRecvError::Corrupt { seq });
            }
            if self.filter.as_ref().is_some_and(|f| !f.accepts(meta.sig)) {
                let c = &mut self.counters;
                c.filtered_frags = c.filtered_frags.wrapping_add(1);
                c.filtered_bytes = c.filtered_bytes.wrapping_add(sz as u64);
                self.advance(sz);
                continue;
            }
            let Some(dst) = buf.get_mut(..sz) else {
                return Err(LossyTryRecvError::BufferTooSmall { needed: sz });
            };
            // SAFETY: the region is in bounds (checked above); `read_shared` only performs
            // atomic loads, and the copy is kept only if the slot still holds `seq` below.
            unsafe { self.dcache.read_shared(meta.offset, dst) };
            if let Err(found) = self.mcache.still(seq) {
                return Err(LossyTryRecvError::Overrun(self.skip(found, true)));
            }
            let c = &mut self.counters;
            c.consumed_frags = c.consumed_frags.wrapping_add(1);
            c.consumed_bytes = c.consumed_bytes.wrapping_add(sz as u64);
            self.advance(sz);
            return Ok(meta);
        }
    }

    /// [`try_recv`](Self::try_recv), waiting with the handle's [`Strategy`] while nothing
    /// is published.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv) except `Empty`: an overrun or a small buffer is
    /// reported at once; otherwise it fails only at the end of the stream.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<FragMeta, LossyRecvError> {
        loop {
            match retry(self.wait.waiter(), LossyTryRecvError::Empty, || {
                self.try_recv(buf)
            }) {
                Ok(Some(meta)) => return Ok(meta),
                Ok(None) => continue, // a waiter without deadline never gives up
                Err(e) => return Err(lossy_end(e)),
            }
        }
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// [`LossyRecvTimeoutError::Timeout`] if nothing arrived in time; otherwise as
    /// [`recv`](Self::recv).
    #[cfg(feature = "std")]
    pub fn recv_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: std::time::Duration,
    ) -> Result<FragMeta, LossyRecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.recv_with(buf, self.wait.until(deadline)),
            None => Ok(self.recv(buf)?),
        }
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call) instead of the handle's
    /// strategy.
    ///
    /// # Errors
    /// [`LossyRecvTimeoutError::Timeout`] if `wait` gives up; otherwise as
    /// [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(
        &mut self,
        buf: &mut [u8],
        wait: W,
    ) -> Result<FragMeta, LossyRecvTimeoutError> {
        match retry(wait, LossyTryRecvError::Empty, || self.try_recv(buf)) {
            Ok(Some(meta)) => Ok(meta),
            Ok(None) => Err(LossyRecvTimeoutError::Timeout),
            Err(e) => Err(lossy_end(e).into()),
        }
    }

    /// Publishes this consumer's progress and counters now (they are otherwise published
    /// every `release_every` frags and whenever nothing is ready).
    pub fn housekeeping(&mut self) {
        self.fseq.publish(self.rx_seq);
        self.fseq.publish_counters(&self.counters);
        self.since_publish = 0;
        self.hook.progressed();
    }

    #[inline]
    fn advance(&mut self, sz: usize) {
        self.rx_seq = seq::inc(self.rx_seq, 1);
        self.bytes_before = self.bytes_before.wrapping_add(sz as u64);
        self.since_publish += 1;
        if self.since_publish >= self.release_every {
            self.housekeeping();
        }
    }

    /// The slot of `rx_seq` held `found`: the producer lapped this consumer. Resume at the
    /// oldest frag still intact (plus the resume margin, up to the newest) and count the
    /// frags skipped.
    #[cold]
    fn skip(&mut self, found: u64, reading: bool) -> Overrun {
        let newest = self.newest_published(found);
        let depth = self.mcache.depth();
        // The ring holds `newest - depth + 1 ..= newest`, unless the producer has begun
        // to overwrite the oldest of them.
        let mut resume = seq::dec(newest, depth - 1);
        if self.mcache.poll(resume) != 0 {
            resume = seq::inc(resume, 1);
        }
        let room = seq::diff(newest, resume).max(0) as u64;
        resume = seq::inc(resume, self.resume_margin.min(room));
        if seq::le(resume, self.rx_seq) {
            resume = seq::inc(self.rx_seq, 1);
        }
        let lost = seq::diff(resume, self.rx_seq) as u64;
        // `found` came from a slot (untrusted on a link in shared memory): the counts wrap.
        if reading {
            self.counters.read_overruns = self.counters.read_overruns.wrapping_add(1);
            self.counters.read_lost = self.counters.read_lost.wrapping_add(lost);
        } else {
            self.counters.poll_overruns = self.counters.poll_overruns.wrapping_add(1);
            self.counters.poll_lost = self.counters.poll_lost.wrapping_add(lost);
        }
        self.rx_seq = resume;
        self.housekeeping();
        let kind = if reading {
            OverrunKind::Overwritten
        } else {
            OverrunKind::Lapped
        };
        Overrun { lost, kind }
    }

    /// The newest published seq, found by binary search from `found`, a value read from a
    /// slot after an overrun: `found` itself was published (a later frag), or is the
    /// in-progress marker `t - 1` of a frag `t`, in which case `t - 1` was published.
    /// Over `found .. found + depth`, "the slot of `s` holds `s` or later" is true up to
    /// the newest published seq and false after it.
    fn newest_published(&self, found: u64) -> u64 {
        let (mut lo, mut len) = (found, self.mcache.depth());
        // Invariant: `lo` is published; the answer is in `lo .. lo + len`.
        while len > 1 {
            let half = len / 2;
            let mid = seq::inc(lo, half);
            if self.mcache.poll(mid) >= 0 {
                lo = mid;
                len -= half;
            } else {
                len = half;
            }
        }
        lo
    }

    /// Nothing to read: publish progress, then tell an empty link from a closed one. At
    /// the end of the stream, bytes lost at its tail are resolved from the producer's
    /// final count.
    #[cold]
    fn idle(&mut self) -> LossyTryRecvError {
        self.hook.consumer_idle(self.mcache, &self.parts.cnc);
        let err = match self.parts.cnc.ended(self.rx_seq) {
            Some(failed) => {
                let total = self.parts.cnc.producer_counters().published_bytes;
                let lost = total.wrapping_sub(self.bytes_before);
                self.counters.lost_bytes = self.counters.lost_bytes.wrapping_add(lost);
                self.bytes_before = total;
                if failed {
                    LossyTryRecvError::Failed
                } else {
                    LossyTryRecvError::Closed
                }
            }
            None => LossyTryRecvError::Empty,
        };
        if self.since_publish > 0 || err != LossyTryRecvError::Empty {
            self.housekeeping();
        }
        err
    }
}

impl Drop for LossyConsumer<'_> {
    fn drop(&mut self) {
        self.housekeeping();
        if self.hook.is_watched() {
            // A role of a link that spans processes: it stays for the next handle.
            self.hook.leave();
        } else {
            self.fseq.detach();
            self.parts.cnc.detach();
        }
    }
}

/// The error a retry loop let through (never `Empty`), as a blocking read reports it.
fn lossy_end(e: LossyTryRecvError) -> LossyRecvError {
    match e {
        LossyTryRecvError::Overrun(o) => LossyRecvError::Overrun(o),
        LossyTryRecvError::BufferTooSmall { needed } => LossyRecvError::BufferTooSmall { needed },
        LossyTryRecvError::Closed => LossyRecvError::Closed,
        LossyTryRecvError::Failed => LossyRecvError::Failed,
        LossyTryRecvError::Corrupt { seq } => LossyRecvError::Corrupt { seq },
        LossyTryRecvError::Empty => unreachable!("retry loops never let `Empty` through"),
    }
}

impl fmt::Debug for LossyConsumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossyConsumer")
            .field("next_seq", &self.rx_seq)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}
