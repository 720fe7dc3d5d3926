//! The consuming end of a link: a reliable reader that gates the producer.

use core::fmt;

use crate::clock::ClockRef;
use crate::cnc::Cnc;
use crate::dcache::{DCache, RegionRef};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::frag::{Ctl, FragMeta};
use crate::fseq::{ConsumerCounters, Fseq};
use crate::liveness::Hook;
use crate::mcache::{MCache, Read};
use crate::metrics::Metrics;
use crate::seq;
use crate::spsc::batch::{Run, FILTERED_RUN_MAX};
use crate::spsc::{Batch, Budget, Frag, Keep, Parts, SigFilter};
use crate::stall_watch::Claims;
use crate::sync::Ref;
use crate::wait::{retry, Strategy, Wait};

/// A reliable consuming end of a link: `Send`; there is one per reliable consumer.
///
/// It reads frags in order, zero-copy: [`try_recv`](Self::try_recv) and
/// [`recv`](Self::recv) lend one frag through a [`ReadGuard`],
/// [`try_batch`](Self::try_batch) and [`recv_batch`](Self::recv_batch) lend several
/// through a [`Batch`]. The blocking calls wait with the handle's [`Strategy`] (see
/// [`set_wait`](Self::set_wait)); the `*_with` calls take a [`Wait`] for one call. A
/// reliable consumer is never overrun, so its errors have no such case: only
/// [`TryRecvError::Empty`] means "try again", and `recv` fails only at the end of the
/// stream. A frag's
/// credit goes back to the producer when its guard (or its batch) ends, so the payload can
/// never be used after the producer may rewrite it: the borrow checker ties every payload
/// slice to its guard.
///
/// Released frags are reported to the producer (the consumer's fseq is published, with
/// its counters) every `release_every` frags and whenever the consumer finds nothing to
/// read. Dropping the consumer detaches it: it no longer gates the producer, and once
/// every consumer of the link is gone the producer's next publish reports
/// [`PublishError::Disconnected`](crate::PublishError::Disconnected).
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(64).mtu(8).heap_pair()?;
/// let producer = std::thread::spawn(move || {
///     for i in 0..1000u64 {
///         tx.publish(Header::new(i), &i.to_le_bytes()).unwrap();
///     }
/// }); // dropping the producer closes the stream
/// let mut next = 0u64;
/// while let Ok(frag) = rx.recv() {
///     assert_eq!(frag.payload(), next.to_le_bytes());
///     next += 1;
/// }
/// assert_eq!(next, 1000);
/// producer.join().unwrap();
/// # Ok::<(), milonga::LinkError>(())
/// ```
pub struct Consumer<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    /// The next seq to read; every frag before it is released.
    rx_seq: u64,
    /// The progress last published in the fseq.
    published: u64,
    /// Where the producer will most likely place the next payload: just after the last
    /// one this consumer was lent (prefetched by [`try_recv`](Self::try_recv) and
    /// [`try_batch`](Self::try_batch) while they check the slot, so the two cache misses of
    /// a frag overlap), or `NO_HINT` after a payload larger than a chunk.
    next_offset: u32,
    release_every: u64,
    filter: Option<SigFilter<'a>>,
    counters: ConsumerCounters,
    fseq: Ref<'a, Fseq>,
    parts: Parts<'a>,
    /// On a shared multi-producer ring: its claim cursor and stall watch.
    claims: Option<Claims<'a>>,
    clock: Option<ClockRef<'a>>,
    wait: Strategy,
    /// The storage owner's liveness hook (none unless the link spans processes).
    hook: Hook<'a>,
    keep: Keep,
}

impl<'a> Consumer<'a> {
    pub(crate) fn new(
        parts: Parts<'a>,
        fseq: Ref<'a, Fseq>,
        release_every: u64,
        keep: Keep,
    ) -> Self {
        parts.cnc.attach();
        Self::unattached(parts, fseq, release_every, keep)
    }

    /// A consumer that resumes from the progress and counters its fseq last published (a
    /// fresh fseq: the start of the stream), watched by its storage owner's `hook`. It is
    /// not counted among the link's attached consumers: its fseq keeps gating the producer
    /// after it is dropped, until another handle takes the role over.
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
        c.published = c.rx_seq;
        c.counters = fseq.counters();
        c.hook = hook;
        c
    }

    fn unattached(parts: Parts<'a>, fseq: Ref<'a, Fseq>, release_every: u64, keep: Keep) -> Self {
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
            wait: Strategy::default(),
            hook: Hook::none(),
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
    pub fn set_clock(&mut self, clock: impl Into<ClockRef<'a>>) {
        self.clock = Some(clock.into());
    }

    /// The wait strategy of the blocking calls ([`recv`](Self::recv),
    /// [`recv_batch`](Self::recv_batch), ...). The default spins briefly, then parks.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.wait = wait;
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.wait
    }

    /// From now on, deliver only frags whose `sig` `filter` accepts; the others are
    /// released without touching their payload and counted as filtered.
    ///
    /// A filter can be a plain function, a closure borrowed for the link's lifetime, or
    /// (with `alloc`) a closure the consumer owns, chosen at run time:
    ///
    /// ```
    /// use milonga::spsc::{Link, SigFilter};
    /// use milonga::Header;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
    /// let shard = 2; // chosen at run time
    /// rx.set_filter(Some(SigFilter::new(move |sig| sig % 3 == shard)));
    /// for sig in 1..=6 {
    ///     tx.try_publish(Header::new(sig), b"x")?;
    /// }
    /// assert_eq!(rx.try_recv()?.sig(), 2);
    /// assert_eq!(rx.try_recv()?.sig(), 5);
    /// assert!(rx.try_recv().is_err()); // frag 6 is filtered: nothing left
    /// assert_eq!(rx.counters().filtered_frags, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_filter(&mut self, filter: Option<SigFilter<'a>>) {
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

    /// The ring's depth: the most frags the producer can publish ahead of this consumer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mcache.depth() as usize
    }

    /// Frags published (on a shared ring: claimed) and not yet read by this consumer, as
    /// of now: one load of the producer's counter line. Filtered frags count until the
    /// consumer passes them.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::Header;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
    /// assert!(rx.is_empty());
    /// tx.try_publish(Header::new(0), b"a")?;
    /// tx.try_publish(Header::new(1), b"b")?;
    /// assert_eq!((rx.len(), rx.capacity()), (2, 8));
    /// drop(rx.try_recv()?);
    /// assert_eq!(rx.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        let head = match self.claims {
            Some(claims) => claims.cursor.get().load(crate::sync::Ordering::Relaxed),
            None => seq::inc(self.parts.seq0, self.parts.cnc.published_frags()),
        };
        seq::diff(head, self.rx_seq).max(0) as usize
    }

    /// Nothing is published that this consumer has not read ([`len`](Self::len) is 0).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next frag is published: [`try_recv`](Self::try_recv) would lend a frag now
    /// (unless a filter rejects it). One load of the frag's slot; changes nothing.
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.mcache.poll(self.rx_seq) == 0
    }

    /// Lends the next frag, if it is published.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if it is not published yet; at the end of the stream
    /// [`TryRecvError::Closed`] (or [`Failed`](TryRecvError::Failed) if the producer
    /// died) once every frag was read.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, TryRecvError};
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair()?;
    /// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
    /// tx.try_publish(Header::new(9), b"x")?;
    /// let frag = rx.try_recv()?;
    /// assert_eq!((frag.seq(), frag.sig(), frag.payload()), (0, 9, &b"x"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<ReadGuard<'_, 'a>, TryRecvError> {
        let (meta, payload) = self.next_frag()?;
        Ok(ReadGuard {
            consumer: self,
            meta,
            payload,
        })
    }

    // Per-frag budget (x86-64 instructions per 8-byte message, the caller's check of the
    // message's number and checksum of its payload included; callgrind, one thread, the
    // difference between 200k and 400k messages):
    //   try_recv                         61   (rtrb pop 25)
    //   try_batch, batches of 128        60   (rtrb read_chunk 14, disruptor take 11):
    //     the scan about 13 (a seq poll and a size load per frag), the iteration about 25
    //     (the slot's body, the region's bounds check, the reached mark), the caller 15
    //   try_batch, batches of 1         120   (a ping-pong's read; the scan prefetches the
    //     next payload's line as try_recv does, which took a batch ping-pong from 231-240
    //     to 171-190 ns, against try_recv's 161-180)
    // Measured with `benches/peers` `prof` (see its docs for the callgrind commands):
    //   prof st m-poll 8 N; prof st m-batch 8 N 128 128; prof st m-batch 8 N 128 1;
    //   prof st rtrb 8 N; prof st rtrb-chunk 8 N; prof st dis 8 N.

    /// The next published frag the filter accepts, with its payload region (the frags the
    /// filter rejects before it are released). Borrows nothing, so that blocking callers
    /// can loop on it.
    #[inline(always)]
    pub(crate) fn next_frag<'r>(&mut self) -> Result<(FragMeta, RegionRef<'r>), TryRecvError> {
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
                    self.next_offset = DCache::next_hint(meta.offset, meta.sz as usize);
                    return Ok((meta, payload));
                }
                Read::NotYet => return Err(self.idle()),
                Read::Overrun { .. } => return Err(TryRecvError::Corrupt { seq }),
            }
        }
    }

    /// Lends a frag [`next_frag`](Self::next_frag) found (for callers that had to find it
    /// without borrowing, such as the fan-in's wait loops).
    #[inline(always)]
    pub(crate) fn lend<'c>(
        &'c mut self,
        (meta, payload): (FragMeta, RegionRef<'c>),
    ) -> ReadGuard<'c, 'a> {
        ReadGuard {
            consumer: self,
            meta,
            payload,
        }
    }

    /// Whether [`try_recv`](Self::try_recv) would lend a frag now: releases the frags the
    /// filter rejects at the head of the stream, then reports `Ok` if the next frag is
    /// published, or the error `try_recv` would return. Borrows nothing (for the fan-in
    /// scan).
    #[inline]
    pub(crate) fn ready(&mut self) -> Result<(), TryRecvError> {
        loop {
            let seq = self.rx_seq;
            match self.mcache.poll(seq) {
                0 => {}
                d if d < 0 => return Err(self.idle()),
                _ => return Err(TryRecvError::Corrupt { seq }),
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
        self.filter.as_ref().is_some_and(|f| !f.accepts(sig))
    }

    /// Lends the next frag, waiting for it with the handle's [`Strategy`]. Frags the
    /// filter rejects are released while it waits; it returns only with a frag the filter
    /// accepts.
    ///
    /// # Errors
    /// Only at the end of the stream ([`RecvError::Closed`], [`RecvError::Failed`]) or on
    /// a fault ([`RecvError::Corrupt`]).
    pub fn recv(&mut self) -> Result<ReadGuard<'_, 'a>, RecvError> {
        let (meta, payload) = loop {
            match retry(self.wait.waiter(), TryRecvError::Empty, || self.next_frag()) {
                Ok(Some(frag)) => break frag,
                Ok(None) => continue, // a waiter without deadline never gives up
                Err(e) => return Err(e.end()),
            }
        };
        Ok(ReadGuard {
            consumer: self,
            meta,
            payload,
        })
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time; otherwise as
    /// [`recv`](Self::recv).
    #[cfg(feature = "std")]
    pub fn recv_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<ReadGuard<'_, 'a>, RecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            None => Ok(self.recv()?),
        }
    }

    /// [`recv`](Self::recv), giving up at `deadline`.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout).
    #[cfg(feature = "std")]
    pub fn recv_deadline(
        &mut self,
        deadline: std::time::Instant,
    ) -> Result<ReadGuard<'_, 'a>, RecvTimeoutError> {
        self.recv_with(self.wait.until(deadline))
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call) instead of the handle's
    /// strategy.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if `wait` gives up; otherwise as [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(&mut self, wait: W) -> Result<ReadGuard<'_, 'a>, RecvTimeoutError> {
        match retry(wait, TryRecvError::Empty, || self.next_frag()) {
            Ok(Some((meta, payload))) => Ok(ReadGuard {
                consumer: self,
                meta,
                payload,
            }),
            Ok(None) => Err(RecvTimeoutError::Timeout),
            Err(e) => Err(e.end().into()),
        }
    }

    /// Lends up to `budget.max_frags()` consecutive published frags holding at most
    /// `budget.max_bytes()` payload bytes in all, except that the first frag is always
    /// lent whatever its size (frags the filter rejects are skipped and do not count).
    /// Their credits go back when the batch ends: all of them on [`Batch::commit`], and on
    /// drop only those the batch's iterators reached (the rest are read again by the next
    /// call).
    ///
    /// With a filter set, the filter is called once per frag, by this scan (the batch
    /// remembers its answers, so iterating never calls it), and a batch spans at most
    /// [`FILTERED_RUN_MAX`] frags of the stream, delivered and rejected together. A frag
    /// that would take the batch over its bytes ends it before the filter sees it.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    ///
    /// ```
    /// use milonga::spsc::{Budget, Link};
    /// use milonga::Header;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(4).heap_pair()?;
    /// for i in 0..5u8 {
    ///     tx.try_publish(Header::new(0), &[i; 4])?;
    /// }
    /// let batch = rx.try_batch(Budget::new(16, 12)?)?; // 12 bytes: three frags of 4
    /// let firsts: Vec<u8> = batch.iter().map(|f| f.payload()[0]).collect();
    /// assert_eq!(firsts, [0, 1, 2]);
    /// batch.commit();
    /// assert_eq!(rx.try_batch(Budget::frags(16)?)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_batch(&mut self, budget: Budget) -> Result<Batch<'_, 'a>, TryRecvError> {
        let run = self.scan(budget)?;
        Ok(Batch::new(self, run))
    }

    /// The batch scan: releases the frags the filter rejects at the head of the stream,
    /// then measures the run a batch will lend. Borrows nothing, so that blocking callers
    /// can loop on it.
    #[inline(always)]
    pub(crate) fn scan(&mut self, budget: Budget) -> Result<Run, TryRecvError> {
        let (max_frags, max_bytes) = (budget.max_frags(), budget.max_bytes());
        // Locals, so the scan keeps them in registers (the filter is an opaque call).
        let (mcache, dcache, filter) = (self.mcache, self.dcache, self.filter.as_ref());
        // As in `next_frag`: the next payload's line starts to move while the slot is polled.
        dcache.prefetch(self.next_offset);
        if filter.is_none() && max_bytes >= max_frags.saturating_mul(dcache.mtu()) {
            return self.scan_seqs(max_frags);
        }
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
                _ => break Err(TryRecvError::Corrupt { seq }),
            }
            let (offset, sz) = mcache.loc_gated(seq);
            if !dcache.in_bounds(offset, sz) {
                break Err(TryRecvError::Corrupt { seq });
            }
            // The first frag is lent whatever its size: a budget never stalls the stream.
            if run.bytes + sz > max_bytes && run.len > 0 {
                break Ok(());
            }
            if let Some(f) = filter {
                if run.raw == FILTERED_RUN_MAX {
                    break Ok(());
                }
                if !f.accepts(mcache.sig_gated(seq)) {
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
        self.expect_after(run);
        Ok(run)
    }

    /// Expects the next payload after the run's last frag's (a prefetch hint: a frag the
    /// batch leaves unread, or a region outside the store, only makes it a wrong guess).
    #[inline(always)]
    fn expect_after(&mut self, run: Run) {
        let (offset, sz) = self
            .mcache
            .loc_gated(seq::inc(run.start, run.raw as u64 - 1));
        self.next_offset = DCache::next_hint(offset, sz);
    }

    /// The batch scan without a filter, for a budget whose bytes cannot bind (`max_frags`
    /// frags of at most mtu bytes fit it): after the first frag, it only polls seqs and
    /// adds up sizes. The first frag's region is checked here, so a read that starts at a
    /// frag naming a region outside the store reports it `Corrupt`; the later frags' regions
    /// are checked by the batch's iterator (which ends the batch before a frag outside the
    /// store, leaving it unreached) and by [`Batch::commit`] (which releases nothing from
    /// such a frag on), so the next read reports that frag `Corrupt`. It expects the next
    /// payload after the run's last (see [`expect_after`](Self::expect_after)).
    #[inline(always)]
    fn scan_seqs(&mut self, max_frags: usize) -> Result<Run, TryRecvError> {
        let (mcache, dcache) = (self.mcache, self.dcache);
        let start = self.rx_seq;
        match mcache.poll(start) {
            0 => {}
            d if d < 0 => return Err(self.idle()),
            _ => return Err(TryRecvError::Corrupt { seq: start }),
        }
        let (offset, sz) = mcache.loc_gated(start);
        if !dcache.in_bounds(offset, sz) {
            return Err(TryRecvError::Corrupt { seq: start });
        }
        let (mut len, mut bytes, mut last) = (1, sz, (offset, sz));
        while len < max_frags {
            let seq = seq::inc(start, len as u64);
            match mcache.poll(seq) {
                0 => {}
                d if d < 0 => break,
                _ => return Err(TryRecvError::Corrupt { seq }),
            }
            last = mcache.loc_gated(seq);
            // At most `u16::MAX` per frag and fewer frags than the ring's depth: no
            // overflow, whatever the slots hold.
            bytes += last.1;
            len += 1;
        }
        self.next_offset = DCache::next_hint(last.0, last.1);
        Ok(Run {
            start,
            raw: len,
            len,
            bytes,
            rejected: 0,
            rejected_bytes: 0,
        })
    }

    /// [`try_batch`](Self::try_batch), waiting with the handle's [`Strategy`] for at
    /// least one frag the filter accepts (the rejected ones are released while it waits).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, budget: Budget) -> Result<Batch<'_, 'a>, RecvError> {
        let run = loop {
            match retry(self.wait.waiter(), TryRecvError::Empty, || {
                self.scan(budget)
            }) {
                Ok(Some(run)) => break run,
                Ok(None) => continue, // a waiter without deadline never gives up
                Err(e) => return Err(e.end()),
            }
        };
        Ok(Batch::new(self, run))
    }

    /// [`recv_batch`](Self::recv_batch), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_timeout`](Self::recv_timeout).
    #[cfg(feature = "std")]
    pub fn recv_batch_timeout(
        &mut self,
        budget: Budget,
        timeout: std::time::Duration,
    ) -> Result<Batch<'_, 'a>, RecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.recv_batch_with(budget, self.wait.until(deadline)),
            None => Ok(self.recv_batch(budget)?),
        }
    }

    /// [`recv_batch`](Self::recv_batch), waiting with `wait` (for this call) instead of the
    /// handle's strategy.
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with).
    pub fn recv_batch_with<W: Wait>(
        &mut self,
        budget: Budget,
        wait: W,
    ) -> Result<Batch<'_, 'a>, RecvTimeoutError> {
        match retry(wait, TryRecvError::Empty, || self.scan(budget)) {
            Ok(Some(run)) => Ok(Batch::new(self, run)),
            Ok(None) => Err(RecvTimeoutError::Timeout),
            Err(e) => Err(e.end().into()),
        }
    }

    /// Reports this consumer's progress and counters now (they are otherwise reported
    /// every `release_every` frags and whenever nothing is ready).
    pub fn housekeeping(&mut self) {
        self.publish_progress();
    }

    /// The payload of a frag this consumer holds, bounds-checked.
    #[inline(always)]
    pub(crate) fn payload<'r>(&self, meta: &FragMeta) -> Result<RegionRef<'r>, TryRecvError> {
        let sz = meta.sz as usize;
        if !self.dcache.in_bounds(meta.offset, sz) {
            return Err(TryRecvError::Corrupt { seq: meta.seq });
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
        // The counts wrap: a consumer that took over a role in shared memory resumed them
        // from the region, which is untrusted.
        let c = &mut self.counters;
        c.consumed_frags = c.consumed_frags.wrapping_add(frags);
        c.consumed_bytes = c.consumed_bytes.wrapping_add(bytes);
        c.filtered_frags = c.filtered_frags.wrapping_add(filtered);
        c.filtered_bytes = c.filtered_bytes.wrapping_add(filtered_bytes);
        if seq::diff(self.rx_seq, self.published) >= self.release_every as i64 {
            self.publish_progress_cold();
        }
    }

    /// [`publish_progress`](Self::publish_progress) out of line: due once per
    /// `release_every` frags, so it stays out of the inlined release path.
    #[cold]
    #[inline(never)]
    fn publish_progress_cold(&mut self) {
        self.publish_progress();
    }

    #[inline]
    fn publish_progress(&mut self) {
        if self.published != self.rx_seq {
            self.fseq.publish(self.rx_seq);
            self.fseq.publish_counters(&self.counters);
            self.published = self.rx_seq;
            self.hook.progressed();
            if let Some(claims) = self.claims {
                claims.watch.progressed(self.rx_seq);
            }
        }
    }

    /// Nothing to read: report progress, then tell an empty link from a closed one.
    #[cold]
    fn idle(&mut self) -> TryRecvError {
        self.publish_progress();
        if let Some(claims) = self.claims {
            claims
                .watch
                .idle(self.rx_seq, claims.cursor.get(), self.clock.as_ref());
        }
        self.hook.consumer_idle(self.mcache, &self.parts.cnc);
        match self.parts.cnc.ended(self.rx_seq) {
            Some(false) => TryRecvError::Closed,
            Some(true) => TryRecvError::Failed,
            None => TryRecvError::Empty,
        }
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        self.publish_progress();
        if self.hook.is_watched() {
            // A role of a link that spans processes: it stays in the link for the next
            // handle to take over.
            self.hook.leave();
        } else {
            self.fseq.detach();
            self.parts.cnc.detach();
        }
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

/// One frag lent by [`Consumer::try_recv`] or [`Consumer::recv`]. Its credit goes back when the guard is dropped;
/// the payload cannot outlive it.
///
/// A guard that is never dropped ([`mem::forget`](core::mem::forget)) returns nothing:
/// the consumer stays where it was, so its next read lends the same frag again (and the
/// frag is counted once, when a guard for it is finally dropped). This is memory-safe:
/// the producer still cannot rewrite a frag whose credit did not go back.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, PublishError};
///
/// let (mut tx, mut rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(1), b"a")?;
/// tx.try_publish(Header::new(2), b"b")?;
/// let guard = rx.try_recv()?;
/// assert_eq!((guard.seq(), guard.sig(), guard.payload()), (0, 1, &b"a"[..]));
/// // While the guard lives, its slot and payload are not the producer's to rewrite.
/// assert_eq!(tx.try_publish(Header::new(3), b"c"), Err(PublishError::NoCredits));
/// drop(guard); // the credit goes back
/// rx.housekeeping(); // and is reported now (releases are otherwise reported in groups)
/// assert_eq!(tx.try_publish(Header::new(3), b"c"), Ok(2));
/// assert_eq!(rx.try_recv()?.payload(), b"b"); // a guard dropped at the end of the line
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

#[cfg(all(test, feature = "std", not(milonga_loom)))]
mod tests {
    use crate::dcache::NO_HINT;
    use crate::frag::Header;
    use crate::spsc::{Budget, Link};

    /// The prefetch hint: after each kind of read (one frag, a batch of the seq-only scan,
    /// a batch of the full scan), the consumer expects the next payload exactly where the
    /// producer places it (payloads of 1 and 3 words, that never cross a chunk, and no
    /// wrap of the store).
    #[test]
    fn every_read_expects_the_next_payload_where_the_producer_places_it() {
        let (mut tx, mut rx) = Link::builder().depth(16).mtu(24).heap_pair().unwrap();
        // 1, 3, 1 and 3 words: a chunk of 8 words exactly, so no payload moves on to the
        // next chunk (where the hint, a guess, would be wrong).
        let sizes = [5usize, 24, 8, 17];
        let mut sent = 0;
        let mut publish = |n: usize| {
            for _ in 0..n {
                let sz = sizes[sent % sizes.len()];
                tx.try_publish(Header::new(sent as u64), &[sent as u8; 24][..sz])
                    .unwrap();
                sent += 1;
            }
        };
        let next_payload = |rx: &super::Consumer<'_>| rx.mcache.loc_gated(rx.rx_seq).0;
        publish(1);
        for read in 0..6 {
            publish(2);
            match read % 3 {
                0 => {
                    for _ in 0..3 {
                        drop(rx.try_recv().unwrap());
                    }
                }
                // The budget's bytes cannot bind: the seq-only scan.
                1 => {
                    let batch = rx.try_batch(Budget::frags(8).unwrap()).unwrap();
                    assert_eq!(batch.len(), 3);
                    batch.commit();
                }
                // They can (100 < 8 frags x mtu 24): the full scan.
                _ => {
                    let batch = rx.try_batch(Budget::new(8, 100).unwrap()).unwrap();
                    assert_eq!(batch.len(), 3);
                    batch.commit();
                }
            }
            publish(1);
            assert_ne!(next_payload(&rx), 0, "read {read}: the store wrapped");
            assert_eq!(rx.next_offset, next_payload(&rx), "after read {read}");
        }
    }

    /// After a payload larger than a chunk, by either read, the consumer prefetches
    /// nothing (see `DCache::next_hint`); after a small one it expects the next again.
    #[test]
    fn no_read_expects_a_payload_after_one_larger_than_a_chunk() {
        let (mut tx, mut rx) = Link::builder().depth(8).mtu(200).heap_pair().unwrap();
        // Placed at words 0 (9 words), 9 (1), 16 (25: a payload larger than a chunk
        // starts one) and 48 (8: a chunk's payload never crosses one), so the producer's
        // cursor is 10 after the second and 56 after the fourth.
        let cursors = [0, 10, 0, 56];
        for (i, sz) in [65usize, 8, 200, 64].into_iter().enumerate() {
            tx.try_publish(Header::new(0), &[1; 200][..sz]).unwrap();
            if i % 2 == 0 {
                drop(rx.try_recv().unwrap());
            } else {
                rx.try_batch(Budget::frags(4).unwrap()).unwrap().commit();
            }
            let expected = if sz > 64 { NO_HINT } else { cursors[i] };
            assert_eq!(rx.next_offset, expected, "after a payload of {sz} bytes");
        }
    }
}
