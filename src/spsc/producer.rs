//! The producing end of a link.

use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::cnc::{Cnc, ProducerCounters, Signal};
use crate::dcache::{chunks_for, DCache};
use crate::error::PublishError;
use crate::fctl::{AllDetached, Fctl};
use crate::frag::{FragMeta, Header};
use crate::mcache::MCache;
use crate::seq;
use crate::spsc::Keep;
use crate::wait::Wait;

/// The producing end of a link: `Send`, not `Clone`; there is one per link.
///
/// Publishing copies the payload into the link's store ([`try_publish`](Self::try_publish),
/// [`publish`](Self::publish)) or lets the caller write it in place
/// ([`try_claim`](Self::try_claim)). Each frag takes one credit; credits are refreshed
/// from the consumer's published progress only when they run out, so the hot path touches
/// no line the consumer writes.
///
/// Dropping the producer closes the stream as [`halt`](Self::halt) does (with
/// [`Signal::Fail`] if the thread is panicking): the consumer drains what was published
/// and then sees the end.
pub struct Producer<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    tx_seq: u64,
    cr_avail: u64,
    cursor: u32,
    counters: ProducerCounters,
    fctl: Fctl<'a>,
    cnc: &'a Cnc,
    heartbeat: u64,
    closed: bool,
    _keep: Keep,
}

impl<'a> Producer<'a> {
    pub(crate) fn new(
        mcache: MCache<'a>,
        dcache: DCache<'a>,
        cnc: &'a Cnc,
        fctl: Fctl<'a>,
        seq0: u64,
        keep: Keep,
    ) -> Self {
        Producer {
            mcache,
            dcache,
            tx_seq: seq0,
            cr_avail: fctl.flow().cr_max,
            cursor: 0,
            counters: ProducerCounters::default(),
            fctl,
            cnc,
            heartbeat: 0,
            closed: false,
            _keep: keep,
        }
    }

    /// The seq the next frag will have.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.tx_seq
    }

    /// The credits left before the producer next reads the consumer's progress.
    #[inline]
    pub fn credits(&self) -> u64 {
        self.cr_avail
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

    /// Someone asked this producer to halt ([`Cnc::request_halt`]); acknowledge it with
    /// [`halt`](Self::halt).
    pub fn halt_requested(&self) -> bool {
        self.cnc.signal() == Signal::Halt
    }

    /// The producer's counters as it knows them now (the cnc's copy is refreshed at
    /// housekeeping).
    pub fn counters(&self) -> ProducerCounters {
        ProducerCounters {
            backpressure: self.fctl.backpressure(),
            ..self.counters
        }
    }

    /// Publishes a copy of `payload` with `hdr`, if a credit is available. Returns the
    /// frag's seq.
    ///
    /// # Errors
    /// [`PublishError::TooLarge`] if the payload is longer than the mtu,
    /// [`PublishError::NoCredits`] if the consumer is a full window behind,
    /// [`PublishError::Disconnected`] if the consumer is gone. Nothing is published then.
    ///
    /// ```
    /// # use milonga::{spsc::{heap, LinkConfig}, FlowConfig, Header, PublishError};
    /// let (mut tx, _rx) = heap(LinkConfig::new(2, 8), FlowConfig::new()).unwrap();
    /// assert_eq!(tx.try_publish(Header::new(0), &[0; 9]), Err(PublishError::TooLarge { len: 9, max: 8 }));
    /// assert_eq!(tx.try_publish(Header::new(0), b"a"), Ok(0));
    /// assert_eq!(tx.try_publish(Header::new(0), b"b"), Ok(1));
    /// assert_eq!(tx.try_publish(Header::new(0), b"c"), Err(PublishError::NoCredits));
    /// ```
    #[inline]
    pub fn try_publish(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        let len = payload.len();
        self.check_len(len)?;
        self.take_credit()?;
        let chunk = self.dcache.place(self.cursor, len);
        // SAFETY: `place` keeps the region inside the store and `len <= mtu`; we hold a
        // credit, so the consumer has released every frag whose payload the region can
        // overlap (the store holds `depth + 2` mtu payloads, see `dcache`), and this
        // single producer writes nothing else while the slice lives.
        let dst = unsafe { self.dcache.payload_mut(chunk, len) };
        dst.copy_from_slice(payload);
        self.dcache.written(chunk, len);
        Ok(self.publish_region(hdr, chunk, len))
    }

    /// Publishes a copy of `payload`, waiting with `wait` for a credit if there is none.
    ///
    /// # Errors
    /// As [`try_publish`](Self::try_publish), except that a lack of credits is waited out;
    /// [`PublishError::Timeout`] if the wait strategy gives up.
    pub fn publish<W: Wait>(
        &mut self,
        hdr: Header,
        payload: &[u8],
        wait: W,
    ) -> Result<u64, PublishError> {
        self.check_len(payload.len())?;
        self.wait_credit(wait)?;
        self.try_publish(hdr, payload)
    }

    /// Claims payload space for a frag of up to `len` bytes, to be written in place and
    /// published by [`WriteClaim::commit`]. Dropping the claim abandons it: nothing is
    /// published and the space is offered again by the next claim.
    ///
    /// # Errors
    /// As [`try_publish`](Self::try_publish).
    ///
    /// ```
    /// # use milonga::{spsc::{heap, LinkConfig}, FlowConfig, Header};
    /// let (mut tx, mut rx) = heap(LinkConfig::new(4, 64), FlowConfig::new()).unwrap();
    /// let mut claim = tx.try_claim(64).unwrap();
    /// claim[..5].copy_from_slice(b"hello");
    /// assert_eq!(claim.commit(5), Ok(0));
    /// assert_eq!(rx.poll().unwrap().payload(), b"hello");
    /// ```
    #[inline]
    pub fn try_claim(&mut self, len: usize) -> Result<WriteClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        self.take_credit()?;
        let chunk = self.dcache.place(self.cursor, len);
        // SAFETY: as in `try_publish`: in bounds, credit held, single producer; the slice
        // lives in the claim, which borrows this producer mutably, so nothing else writes
        // the store while it lives.
        let buf = unsafe { self.dcache.payload_mut(chunk, len) };
        Ok(WriteClaim {
            producer: self,
            buf,
            chunk,
            hdr: Header::default(),
        })
    }

    /// [`try_claim`](Self::try_claim), waiting with `wait` for a credit if there is none.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub fn claim<W: Wait>(
        &mut self,
        len: usize,
        wait: W,
    ) -> Result<WriteClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        self.wait_credit(wait)?;
        self.try_claim(len)
    }

    /// The producer's periodic work, for a loop that may go long without publishing:
    /// beats the heartbeat, publishes the counters, and refreshes the credits if fewer
    /// than the refill mark are left.
    pub fn housekeeping(&mut self) {
        self.publish_counters();
        if self.cr_avail < self.fctl.flow().cr_refill {
            if let Ok(cr) = self.fctl.refresh(self.tx_seq, self.cr_avail) {
                self.cr_avail = cr;
            }
        }
    }

    /// Closes the stream: the consumer drains every frag published so far and then sees
    /// end-of-stream. Acknowledges a halt request (the cnc returns to `Boot`).
    pub fn halt(mut self) {
        self.close(Signal::Boot);
    }

    #[inline(always)]
    fn check_len(&self, len: usize) -> Result<(), PublishError> {
        let max = self.dcache.mtu();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        Ok(())
    }

    #[inline(always)]
    fn take_credit(&mut self) -> Result<(), PublishError> {
        if self.cr_avail == 0 {
            self.refill()?;
        }
        Ok(())
    }

    /// The slow path: out of credits, read the consumer's progress (and do housekeeping,
    /// which is due at most once per window of credits).
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> Result<(), PublishError> {
        self.publish_counters();
        match self.fctl.refresh(self.tx_seq, 0) {
            Ok(0) => Err(PublishError::NoCredits),
            Ok(cr) => {
                self.cr_avail = cr;
                Ok(())
            }
            Err(AllDetached) => Err(PublishError::Disconnected),
        }
    }

    fn wait_credit<W: Wait>(&mut self, mut wait: W) -> Result<(), PublishError> {
        if self.cr_avail > 0 {
            return Ok(());
        }
        wait.reset();
        loop {
            match self.refill() {
                Err(PublishError::NoCredits) => {
                    if !wait.wait() {
                        return Err(PublishError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// Publishes the frag whose payload was written at `chunk` (publish steps 1 to 3 in
    /// the mcache) and spends its credit.
    #[inline(always)]
    fn publish_region(&mut self, hdr: Header, chunk: u32, len: usize) -> u64 {
        let seq = self.tx_seq;
        self.mcache.publish(&FragMeta {
            seq,
            sig: hdr.sig,
            chunk,
            sz: len as u16,
            ctl: hdr.ctl,
            tsorig: hdr.tsorig,
            tspub: hdr.tspub,
        });
        self.tx_seq = seq::inc(seq, 1);
        self.cr_avail -= 1;
        self.cursor = chunk + chunks_for(len) as u32;
        self.counters.published_frags += 1;
        self.counters.published_bytes += len as u64;
        seq
    }

    fn publish_counters(&mut self) {
        self.heartbeat = self.heartbeat.wrapping_add(1);
        self.cnc.beat(self.heartbeat);
        self.cnc.publish_counters(&self.counters());
    }

    fn close(&mut self, signal: Signal) {
        if !self.closed {
            self.closed = true;
            self.publish_counters();
            self.cnc.close(self.tx_seq, signal);
        }
    }
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        let signal = if std::thread::panicking() {
            Signal::Fail
        } else {
            Signal::Boot
        };
        #[cfg(not(feature = "std"))]
        let signal = Signal::Boot;
        self.close(signal);
    }
}

impl fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("next_seq", &self.tx_seq)
            .field("credits", &self.cr_avail)
            .field("mtu", &self.dcache.mtu())
            .finish_non_exhaustive()
    }
}

/// Payload space claimed by [`Producer::try_claim`]: write the payload through `DerefMut`,
/// then [`commit`](Self::commit). Dropped without a commit, nothing is published.
pub struct WriteClaim<'p, 'a> {
    producer: &'p mut Producer<'a>,
    buf: &'p mut [u8],
    chunk: u32,
    hdr: Header,
}

impl WriteClaim<'_, '_> {
    /// Sets the header the frag will be published with (default: sig 0, `SOM | EOM`).
    pub fn set_header(&mut self, hdr: Header) {
        self.hdr = hdr;
    }

    /// Publishes the first `len` bytes of the claim. Returns the frag's seq.
    ///
    /// # Errors
    /// [`PublishError::TooLarge`] if `len` is longer than the claim; the claim is then
    /// abandoned and nothing is published.
    pub fn commit(self, len: usize) -> Result<u64, PublishError> {
        let max = self.buf.len();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        self.producer.dcache.written(self.chunk, len);
        Ok(self.producer.publish_region(self.hdr, self.chunk, len))
    }

    /// [`set_header`](Self::set_header) then [`commit`](Self::commit).
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn commit_with(mut self, hdr: Header, len: usize) -> Result<u64, PublishError> {
        self.hdr = hdr;
        self.commit(len)
    }
}

impl Deref for WriteClaim<'_, '_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf
    }
}

impl DerefMut for WriteClaim<'_, '_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf
    }
}

impl fmt::Debug for WriteClaim<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteClaim")
            .field("len", &self.buf.len())
            .field("seq", &self.producer.tx_seq)
            .finish()
    }
}
