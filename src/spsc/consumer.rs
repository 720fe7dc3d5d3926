//! The consuming end of a link: a reliable reader that gates the producer.

use core::fmt;

use crate::cnc::Cnc;
use crate::dcache::DCache;
use crate::error::RecvError;
use crate::frag::{Ctl, FragMeta};
use crate::fseq::Fseq;
use crate::mcache::{MCache, Read};
use crate::seq;
use crate::spsc::{Batch, Frag, Keep};
use crate::wait::Wait;

/// The consuming end of a link: `Send`; there is one per link.
///
/// It reads frags in order, zero-copy: [`poll`](Self::poll) lends one frag through a
/// [`ReadGuard`], [`batch`](Self::batch) lends several through a [`Batch`]. A frag's
/// credit goes back to the producer when its guard (or its batch) ends, so the payload can
/// never be used after the producer may rewrite it: the borrow checker ties every payload
/// slice to its guard.
///
/// Released frags are reported to the producer (the consumer's fseq is published) every
/// `release_every` frags and whenever the consumer finds nothing to read. Dropping the
/// consumer detaches it: the producer's next credit refresh reports
/// [`PublishError::Disconnected`](crate::PublishError::Disconnected).
pub struct Consumer<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    /// The next seq to read; every frag before it is released.
    rx_seq: u64,
    /// The progress last published in the fseq.
    published: u64,
    release_every: u64,
    consumed_frags: u64,
    consumed_bytes: u64,
    fseq: &'a Fseq,
    cnc: &'a Cnc,
    _keep: Keep,
}

impl<'a> Consumer<'a> {
    pub(crate) fn new(
        mcache: MCache<'a>,
        dcache: DCache<'a>,
        fseq: &'a Fseq,
        cnc: &'a Cnc,
        seq0: u64,
        release_every: u64,
        keep: Keep,
    ) -> Self {
        Consumer {
            mcache,
            dcache,
            rx_seq: seq0,
            published: seq0,
            release_every,
            consumed_frags: 0,
            consumed_bytes: 0,
            fseq,
            cnc,
            _keep: keep,
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
        self.cnc
    }

    /// Frags and payload bytes this consumer has released so far.
    pub fn consumed(&self) -> (u64, u64) {
        (self.consumed_frags, self.consumed_bytes)
    }

    /// Lends the next frag, if it is published.
    ///
    /// # Errors
    /// [`RecvError::Empty`] if it is not published yet, [`RecvError::Closed`] if the
    /// producer closed the stream and every frag was read.
    ///
    /// ```
    /// # use milonga::{spsc::{heap, LinkConfig}, FlowConfig, Header, RecvError};
    /// let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    /// assert_eq!(rx.poll().err(), Some(RecvError::Empty));
    /// tx.try_publish(Header::new(9), b"x").unwrap();
    /// let frag = rx.poll().unwrap();
    /// assert_eq!((frag.seq(), frag.sig(), frag.payload()), (0, 9, &b"x"[..]));
    /// ```
    #[inline]
    pub fn poll(&mut self) -> Result<ReadGuard<'_, 'a>, RecvError> {
        let seq = self.rx_seq;
        match self.mcache.read_gated(seq) {
            Read::Ready(meta) => {
                let payload = self.payload(&meta)?;
                Ok(ReadGuard {
                    consumer: self,
                    meta,
                    payload,
                })
            }
            Read::NotYet => Err(self.idle()),
            Read::Overrun { .. } => Err(RecvError::Corrupt { seq }),
        }
    }

    /// Lends the next frag, waiting for it with `wait`.
    ///
    /// # Errors
    /// [`RecvError::Closed`] at the end of the stream, [`RecvError::Timeout`] if the wait
    /// strategy gives up.
    pub fn recv<W: Wait>(&mut self, wait: W) -> Result<ReadGuard<'_, 'a>, RecvError> {
        self.wait_ready(wait)?;
        self.poll()
    }

    /// Lends up to `max_frags` consecutive published frags holding at most `max_bytes`
    /// payload bytes in all. Their credits go back when the batch ends: all of them on
    /// [`Batch::commit`], and on drop only those the batch's iterators reached (the rest
    /// are read again by the next call).
    ///
    /// # Errors
    /// [`RecvError::BadBudget`] if `max_frags` is 0 or `max_bytes` is below the mtu (the
    /// budget must admit any single frag); otherwise as [`poll`](Self::poll).
    ///
    /// ```
    /// # use milonga::{spsc::{heap, LinkConfig}, FlowConfig, Header};
    /// let (mut tx, mut rx) = heap(LinkConfig::new(8, 4), FlowConfig::new()).unwrap();
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
        let mtu = self.dcache.mtu();
        if max_frags == 0 || max_bytes < mtu {
            return Err(RecvError::BadBudget {
                max_frags,
                max_bytes,
                mtu,
            });
        }
        let start = self.rx_seq;
        let (mut len, mut bytes) = (0usize, 0usize);
        while len < max_frags {
            let seq = seq::inc(start, len as u64);
            match self.mcache.poll(seq) {
                0 => {}
                d if d < 0 => break,
                _ => return Err(RecvError::Corrupt { seq }),
            }
            let meta = self.mcache.body_gated(seq);
            let sz = meta.sz as usize;
            if !self.dcache.in_bounds(meta.chunk, sz) {
                return Err(RecvError::Corrupt { seq });
            }
            if bytes + sz > max_bytes {
                break;
            }
            bytes += sz;
            len += 1;
        }
        if len == 0 {
            return Err(self.idle());
        }
        Ok(Batch::new(self, start, len, bytes))
    }

    /// [`batch`](Self::batch), waiting with `wait` for at least one frag.
    ///
    /// # Errors
    /// As [`batch`](Self::batch) and [`recv`](Self::recv).
    pub fn recv_batch<W: Wait>(
        &mut self,
        max_frags: usize,
        max_bytes: usize,
        wait: W,
    ) -> Result<Batch<'_, 'a>, RecvError> {
        self.wait_ready(wait)?;
        self.batch(max_frags, max_bytes)
    }

    /// Reports this consumer's progress to the producer now (it is otherwise reported
    /// every `release_every` frags and whenever nothing is ready).
    pub fn housekeeping(&mut self) {
        self.publish_progress();
    }

    /// The payload of a frag this consumer holds, bounds-checked.
    #[inline(always)]
    pub(crate) fn payload<'r>(&self, meta: &FragMeta) -> Result<&'r [u8], RecvError> {
        let sz = meta.sz as usize;
        if !self.dcache.in_bounds(meta.chunk, sz) {
            return Err(RecvError::Corrupt { seq: meta.seq });
        }
        // SAFETY: in bounds (checked above). The frag is published (its seq was acquired)
        // and not released by this consumer, so the producer cannot rewrite the region
        // until the credit goes back; callers tie the slice to the guard or batch whose end
        // returns that credit.
        Ok(unsafe { self.dcache.payload(meta.chunk, sz) })
    }

    /// The views a batch iterator reads through.
    #[inline(always)]
    pub(crate) fn views(&self) -> (MCache<'_>, DCache<'_>) {
        (self.mcache, self.dcache)
    }

    /// Returns the credits of the next `frags` frags (`bytes` payload bytes in all).
    #[inline(always)]
    pub(crate) fn release(&mut self, frags: u64, bytes: u64) {
        #[cfg(milonga_loom)]
        for i in 0..frags {
            let meta = self.mcache.body_gated(seq::inc(self.rx_seq, i));
            self.dcache.release(meta.chunk, meta.sz as usize);
        }
        self.rx_seq = seq::inc(self.rx_seq, frags);
        self.consumed_frags += frags;
        self.consumed_bytes += bytes;
        if seq::diff(self.rx_seq, self.published) >= self.release_every as i64 {
            self.publish_progress();
        }
    }

    #[inline]
    fn publish_progress(&mut self) {
        if self.published != self.rx_seq {
            self.fseq.publish(self.rx_seq);
            self.fseq
                .publish_consumed(self.consumed_frags, self.consumed_bytes);
            self.published = self.rx_seq;
        }
    }

    /// Nothing to read: report progress, then tell an empty link from a closed one.
    #[cold]
    fn idle(&mut self) -> RecvError {
        self.publish_progress();
        match self.cnc.end_seq() {
            Some(end) if seq::ge(self.rx_seq, end) => RecvError::Closed,
            _ => RecvError::Empty,
        }
    }

    fn wait_ready<W: Wait>(&mut self, mut wait: W) -> Result<(), RecvError> {
        wait.reset();
        while self.mcache.poll(self.rx_seq) < 0 {
            match self.idle() {
                RecvError::Empty => {
                    if !wait.wait() {
                        return Err(RecvError::Timeout);
                    }
                }
                err => return Err(err),
            }
        }
        Ok(())
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
pub struct ReadGuard<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    meta: FragMeta,
    payload: &'c [u8],
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
        self.payload
    }

    /// The frag as a [`Frag`] borrowed from this guard.
    #[inline]
    pub fn frag(&self) -> Frag<'_> {
        Frag::new(self.meta, self.payload)
    }
}

impl Drop for ReadGuard<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        self.consumer.release(1, self.meta.sz as u64);
    }
}

impl fmt::Debug for ReadGuard<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("meta", &self.meta)
            .finish()
    }
}
