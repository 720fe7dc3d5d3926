//! The consuming end of a link: a reliable reader that gates the producer.

use core::fmt;

use crate::clock::Clock;
use crate::cnc::Cnc;
use crate::dcache::{DCache, RegionRef};
use crate::error::RecvError;
use crate::frag::{Ctl, FragMeta};
use crate::fseq::{Claims, ConsumerCounters, Fseq};
use crate::mcache::{MCache, Read};
use crate::metrics::Metrics;
use crate::seq;
use crate::spsc::batch::{Run, FILTERED_RUN_MAX};
use crate::spsc::{Batch, Frag, Keep, Parts, SigFilter};
use crate::sync::Ref;
use crate::wait::Wait;

/// A reliable consuming end of a link: `Send`; there is one per reliable consumer.
///
/// It reads frags in order, zero-copy: [`poll`](Self::poll) lends one frag through a
/// [`ReadGuard`], [`batch`](Self::batch) lends several through a [`Batch`]. A frag's
/// credit goes back to the producer when its guard (or its batch) ends, so the payload can
/// never be used after the producer may rewrite it: the borrow checker ties every payload
/// slice to its guard.
///
/// Released frags are reported to the producer (the consumer's fseq is published, with
/// its counters) every `release_every` frags and whenever the consumer finds nothing to
/// read. Dropping the consumer detaches it: it no longer gates the producer, whose next
/// credit refresh reports [`PublishError::Disconnected`](crate::PublishError::Disconnected)
/// once every consumer is gone.
pub struct Consumer<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    /// The next seq to read; every frag before it is released.
    rx_seq: u64,
    /// The progress last published in the fseq.
    published: u64,
    /// Where the producer will most likely place the next payload: just after the last
    /// one this consumer was lent (prefetched by [`poll`](Self::poll) while it checks
    /// the slot, so the two cache misses of a frag overlap).
    next_offset: u32,
    release_every: u64,
    filter: Option<SigFilter>,
    counters: ConsumerCounters,
    fseq: Ref<'a, Fseq>,
    parts: Parts<'a>,
    /// On a shared multi-producer ring: its claim cursor and stall watch.
    claims: Option<Claims<'a>>,
    clock: Option<&'a (dyn Clock + Sync)>,
    keep: Keep,
}

impl<'a> Consumer<'a> {
    pub(crate) fn new(
        parts: Parts<'a>,
        fseq: Ref<'a, Fseq>,
        release_every: u64,
        keep: Keep,
    ) -> Self {
        Consumer {
            mcache: parts.mcache,
            dcache: parts.dcache,
            rx_seq: parts.seq0,
            published: parts.seq0,
            next_offset: 0,
            release_every,
            filter: None,
            counters: ConsumerCounters::default(),
            fseq,
            parts,
            claims: None,
            clock: None,
            keep,
        }
    }

    /// Makes this the consumer of a shared multi-producer ring (see
    /// [`mpsc`](crate::mpsc)): it watches for claimed but unpublished frags when idle.
    pub(crate) fn set_claims(&mut self, claims: Claims<'a>) {
        self.claims = Some(claims);
    }

    /// Gives the consumer a clock. On a shared multi-producer ring, a claim found stalled
    /// is then reported with the tick at which it was first seen
    /// ([`StalledClaim::since`](crate::mpsc::StalledClaim::since)).
    pub fn set_clock(&mut self, clock: &'a (dyn Clock + Sync)) {
        self.clock = Some(clock);
    }

    /// From now on, deliver only frags whose `sig` `filter` accepts; the others are
    /// released without touching their payload and counted as filtered.
    ///
    /// ```
    /// # use milonga::{spsc::Link, Header};
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair().unwrap();
    /// rx.set_filter(Some(|sig| sig % 2 == 0));
    /// for sig in 1..=4 {
    ///     tx.try_publish(Header::new(sig), b"x").unwrap();
    /// }
    /// assert_eq!(rx.poll().unwrap().sig(), 2);
    /// assert_eq!(rx.poll().unwrap().sig(), 4);
    /// assert_eq!(rx.counters().filtered_frags, 2);
    /// ```
    pub fn set_filter(&mut self, filter: Option<SigFilter>) {
        self.filter = filter;
    }

    /// Frags and payload bytes this consumer has been lent and released so far (the
    /// `consumed_*` pair of [`counters`](Self::counters)).
    pub fn consumed(&self) -> (u64, u64) {
        (self.counters.consumed_frags, self.counters.consumed_bytes)
    }

    /// This consumer's counters as it knows them now (published to the link's metrics at
    /// housekeeping).
    pub fn counters(&self) -> ConsumerCounters {
        self.counters
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        let metrics = self.parts.metrics(self.keep.clone());
        match self.claims {
            Some(claims) => metrics.with_cursor(claims.cursor.get()),
            None => metrics,
        }
    }

    /// The seq of the next frag this consumer will read.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.rx_seq
    }

    /// The largest payload, in bytes.
    #[inline]
    pub fn mtu(&self) -> usize {
        self.dcache.mtu()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.parts.cnc.get()
    }

    /// Lends the next frag, if it is published.
    ///
    /// # Errors
    /// [`RecvError::Empty`] if it is not published yet, [`RecvError::Closed`] if the
    /// producer closed the stream and every frag was read.
    ///
    /// ```
    /// # use milonga::{spsc::Link, Header, RecvError};
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair().unwrap();
    /// assert_eq!(rx.poll().err(), Some(RecvError::Empty));
    /// tx.try_publish(Header::new(9), b"x").unwrap();
    /// let frag = rx.poll().unwrap();
    /// assert_eq!((frag.seq(), frag.sig(), frag.payload()), (0, 9, &b"x"[..]));
    /// ```
    #[inline]
    pub fn poll(&mut self) -> Result<ReadGuard<'_, 'a>, RecvError> {
        let (meta, payload) = self.next_frag()?;
        Ok(ReadGuard {
            consumer: self,
            meta,
            payload,
        })
    }

    /// The next published frag the filter accepts, with its payload region (the frags the
    /// filter rejects before it are released). Borrows nothing, so that blocking callers
    /// can loop on it.
    #[inline(always)]
    fn next_frag<'r>(&mut self) -> Result<(FragMeta, RegionRef<'r>), RecvError> {
        loop {
            let seq = self.rx_seq;
            self.dcache.prefetch(self.next_offset);
            match self.mcache.read_gated(seq) {
                Read::Ready(meta) => {
                    if self.rejects(meta.sig) {
                        self.release(0, 0, 1, meta.sz as u64);
                        continue;
                    }
                    let payload = self.payload(&meta)?;
                    self.next_offset = DCache::after(meta.offset, meta.sz as usize);
                    return Ok((meta, payload));
                }
                Read::NotYet => return Err(self.idle()),
                Read::Overrun { .. } => return Err(RecvError::Corrupt { seq }),
            }
        }
    }

    /// Whether [`poll`](Self::poll) would lend a frag now: releases the frags the filter
    /// rejects at the head of the stream, then reports `Ok` if the next frag is published,
    /// or the error `poll` would return. Borrows nothing (for the fan-in scan).
    #[inline]
    pub(crate) fn ready(&mut self) -> Result<(), RecvError> {
        loop {
            let seq = self.rx_seq;
            match self.mcache.poll(seq) {
                0 => {}
                d if d < 0 => return Err(self.idle()),
                _ => return Err(RecvError::Corrupt { seq }),
            }
            if self.filter.is_none() {
                return Ok(());
            }
            let meta = self.mcache.body_gated(seq);
            if !self.rejects(meta.sig) {
                return Ok(());
            }
            self.release(0, 0, 1, meta.sz as u64);
        }
    }

    /// The filter rejects this `sig`.
    #[inline(always)]
    pub(crate) fn rejects(&self, sig: u64) -> bool {
        self.filter.is_some_and(|f| !f(sig))
    }

    /// Lends the next frag, waiting for it with `wait`. Frags the filter rejects are
    /// released while it waits; it returns only with a frag the filter accepts.
    ///
    /// # Errors
    /// [`RecvError::Closed`] at the end of the stream, [`RecvError::Timeout`] if the wait
    /// strategy gives up.
    pub fn recv<W: Wait>(&mut self, mut wait: W) -> Result<ReadGuard<'_, 'a>, RecvError> {
        wait.reset();
        loop {
            match self.next_frag() {
                Ok((meta, payload)) => {
                    return Ok(ReadGuard {
                        consumer: self,
                        meta,
                        payload,
                    })
                }
                Err(RecvError::Empty) => {
                    if !wait.wait() {
                        return Err(RecvError::Timeout);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lends up to `max_frags` consecutive published frags holding at most `max_bytes`
    /// payload bytes in all (frags the filter rejects are skipped and do not count).
    /// Their credits go back when the batch ends: all of them on [`Batch::commit`], and on
    /// drop only those the batch's iterators reached (the rest are read again by the next
    /// call).
    ///
    /// With a filter set, the filter is called once per frag, by this scan (the batch
    /// remembers its answers, so iterating never calls it), and a batch spans at most
    /// [`FILTERED_RUN_MAX`] frags of the stream, delivered and rejected together. A frag
    /// that would take the batch over `max_bytes` ends it before the filter sees it.
    ///
    /// # Errors
    /// [`RecvError::BadBudget`] if `max_frags` is 0 or `max_bytes` is below the mtu (the
    /// budget must admit any single frag); otherwise as [`poll`](Self::poll).
    ///
    /// ```
    /// # use milonga::{spsc::Link, Header};
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(4).heap_pair().unwrap();
    /// for i in 0..5u8 {
    ///     tx.try_publish(Header::new(0), &[i; 4]).unwrap();
    /// }
    /// let batch = rx.batch(16, 12).unwrap(); // 12 bytes: three frags of 4
    /// let firsts: Vec<u8> = batch.iter().map(|f| f.payload()[0]).collect();
    /// assert_eq!(firsts, [0, 1, 2]);
    /// batch.commit();
    /// assert_eq!(rx.batch(16, 64).unwrap().len(), 2);
    /// ```
    pub fn batch(
        &mut self,
        max_frags: usize,
        max_bytes: usize,
    ) -> Result<Batch<'_, 'a>, RecvError> {
        self.check_budget(max_frags, max_bytes)?;
        let run = self.scan(max_frags, max_bytes)?;
        Ok(Batch::new(self, run))
    }

    /// The batch scan: releases the frags the filter rejects at the head of the stream,
    /// then measures the run a batch will lend. Borrows nothing, so that blocking callers
    /// can loop on it.
    #[inline(always)]
    fn scan(&mut self, max_frags: usize, max_bytes: usize) -> Result<Run, RecvError> {
        // Locals, so the scan keeps them in registers (the filter is an opaque call).
        let (mcache, dcache, filter) = (self.mcache, self.dcache, self.filter);
        let mut run = Run {
            start: self.rx_seq,
            raw: 0,
            len: 0,
            bytes: 0,
            rejected: 0,
            rejected_bytes: 0,
        };
        // Rejected frags ahead of the run, released at once.
        let (mut lead, mut lead_bytes) = (0u64, 0u64);
        let result = loop {
            if run.len >= max_frags {
                break Ok(());
            }
            let seq = seq::inc(run.start, run.raw as u64);
            match mcache.poll(seq) {
                0 => {}
                d if d < 0 => break Ok(()),
                _ => break Err(RecvError::Corrupt { seq }),
            }
            let (offset, sz) = mcache.loc_gated(seq);
            if !dcache.in_bounds(offset, sz) {
                break Err(RecvError::Corrupt { seq });
            }
            if run.bytes + sz > max_bytes {
                break Ok(());
            }
            if let Some(f) = filter {
                if run.raw == FILTERED_RUN_MAX {
                    break Ok(());
                }
                if !f(mcache.sig_gated(seq)) {
                    if run.len == 0 {
                        lead += 1;
                        lead_bytes += sz as u64;
                        run.start = seq::inc(seq, 1);
                    } else {
                        run.rejected |= 1 << run.raw;
                        run.rejected_bytes += sz;
                        run.raw += 1;
                    }
                    continue;
                }
            }
            run.bytes += sz;
            run.len += 1;
            run.raw += 1;
        };
        if lead > 0 {
            self.release(0, 0, lead, lead_bytes);
        }
        result?;
        if run.len == 0 {
            return Err(self.idle());
        }
        Ok(run)
    }

    /// [`batch`](Self::batch), waiting with `wait` for at least one frag the filter
    /// accepts (the rejected ones are released while it waits).
    ///
    /// # Errors
    /// As [`batch`](Self::batch) and [`recv`](Self::recv).
    pub fn recv_batch<W: Wait>(
        &mut self,
        max_frags: usize,
        max_bytes: usize,
        mut wait: W,
    ) -> Result<Batch<'_, 'a>, RecvError> {
        self.check_budget(max_frags, max_bytes)?;
        wait.reset();
        loop {
            match self.scan(max_frags, max_bytes) {
                Ok(run) => return Ok(Batch::new(self, run)),
                Err(RecvError::Empty) => {
                    if !wait.wait() {
                        return Err(RecvError::Timeout);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn check_budget(&self, max_frags: usize, max_bytes: usize) -> Result<(), RecvError> {
        let mtu = self.dcache.mtu();
        if max_frags == 0 || max_bytes < mtu {
            return Err(RecvError::BadBudget {
                max_frags,
                max_bytes,
                mtu,
            });
        }
        Ok(())
    }

    /// Reports this consumer's progress and counters now (they are otherwise reported
    /// every `release_every` frags and whenever nothing is ready).
    pub fn housekeeping(&mut self) {
        self.publish_progress();
    }

    /// The payload of a frag this consumer holds, bounds-checked.
    #[inline(always)]
    pub(crate) fn payload<'r>(&self, meta: &FragMeta) -> Result<RegionRef<'r>, RecvError> {
        let sz = meta.sz as usize;
        if !self.dcache.in_bounds(meta.offset, sz) {
            return Err(RecvError::Corrupt { seq: meta.seq });
        }
        // SAFETY: in bounds (checked above). The frag is published (its seq was acquired)
        // and not released by this consumer, so the producer cannot rewrite the region
        // until the credit goes back; callers tie the slice to the guard or batch whose end
        // returns that credit.
        Ok(unsafe { self.dcache.region(meta.offset, sz) })
    }

    /// The views a batch iterator reads through.
    #[inline(always)]
    pub(crate) fn views(&self) -> (MCache<'_>, DCache<'_>) {
        (self.mcache, self.dcache)
    }

    /// Returns the credits of the next `frags + filtered` frags: `frags` delivered
    /// (`bytes` payload bytes) and `filtered` skipped by the filter (`filtered_bytes`).
    #[inline(always)]
    pub(crate) fn release(&mut self, frags: u64, bytes: u64, filtered: u64, filtered_bytes: u64) {
        let n = frags + filtered;
        #[cfg(milonga_loom)]
        for i in 0..n {
            let meta = self.mcache.body_gated(seq::inc(self.rx_seq, i));
            self.dcache.release(meta.offset, meta.sz as usize);
        }
        self.rx_seq = seq::inc(self.rx_seq, n);
        self.counters.consumed_frags += frags;
        self.counters.consumed_bytes += bytes;
        self.counters.filtered_frags += filtered;
        self.counters.filtered_bytes += filtered_bytes;
        if seq::diff(self.rx_seq, self.published) >= self.release_every as i64 {
            self.publish_progress();
        }
    }

    #[inline]
    fn publish_progress(&mut self) {
        if self.published != self.rx_seq {
            self.fseq.publish(self.rx_seq);
            self.fseq.publish_counters(&self.counters);
            self.published = self.rx_seq;
            if let Some(claims) = self.claims {
                claims.watch.progressed(self.rx_seq);
            }
        }
    }

    /// Nothing to read: report progress, then tell an empty link from a closed one.
    #[cold]
    fn idle(&mut self) -> RecvError {
        self.publish_progress();
        if let Some(claims) = self.claims {
            claims
                .watch
                .idle(self.rx_seq, claims.cursor.get(), self.clock);
        }
        match self.parts.cnc.end_seq() {
            Some(end) if seq::ge(self.rx_seq, end) => RecvError::Closed,
            _ => RecvError::Empty,
        }
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        self.publish_progress();
        self.fseq.detach();
    }
}

impl fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("next_seq", &self.rx_seq)
            .field("mtu", &self.dcache.mtu())
            .finish_non_exhaustive()
    }
}

/// One frag lent by [`Consumer::poll`]. Its credit goes back when the guard is dropped;
/// the payload cannot outlive it.
///
/// A guard that is never dropped ([`mem::forget`](core::mem::forget)) returns nothing:
/// the consumer stays where it was, so its next read lends the same frag again (and the
/// frag is counted once, when a guard for it is finally dropped). This is memory-safe:
/// the producer still cannot rewrite a frag whose credit did not go back.
pub struct ReadGuard<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    meta: FragMeta,
    /// A pointer, not a `&[u8]`: dropping the guard by value (`drop(guard)`) returns the
    /// credit inside that call, and a reference field would be protected until it ends.
    payload: RegionRef<'c>,
}

impl ReadGuard<'_, '_> {
    /// The frag's metadata.
    #[inline]
    pub fn meta(&self) -> &FragMeta {
        &self.meta
    }

    /// The frag's seq.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }

    /// The frag's application bits.
    #[inline]
    pub fn sig(&self) -> u64 {
        self.meta.sig
    }

    /// The frag's control bits.
    #[inline]
    pub fn ctl(&self) -> Ctl {
        self.meta.ctl
    }

    /// The payload, borrowed from the link's store for as long as this guard.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.payload.get()
    }

    /// The frag as a [`Frag`] borrowed from this guard.
    #[inline]
    pub fn frag(&self) -> Frag<'_> {
        Frag::new(self.meta, self.payload.get())
    }
}

impl Drop for ReadGuard<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        self.consumer.release(1, self.meta.sz as u64, 0, 0);
    }
}

impl fmt::Debug for ReadGuard<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("meta", &self.meta)
            .finish()
    }
}
