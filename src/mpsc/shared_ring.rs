//! The shared ring: producers claim seqs with one compare-exchange, write in place, and
//! publish each slot with the gated publish; the consumer is the SPSC consumer.
//!
//! Claim (producer `p`, for the next seq `s` of the claim cursor):
//! 1. load the credit mark `m` (the consumer's progress as some producer last read it),
//!    acquire ([`CREDIT_TAKE`]); if `s - m >= cr_max`, read the consumer's fseq (acquire)
//!    and, if it grants at least `cr_resume` credits, store it as the new mark, release
//!    ([`CREDIT_SHARE`]); otherwise there are no credits;
//! 2. compare-exchange the cursor from `s` to `s + 1` (relaxed); on failure retry from 1
//!    with the cursor's new value.
//!
//! The claimer of `s` is then the only writer of slot `s % depth` and of its payload
//! region until it publishes: `s - m < cr_max <= depth` means the consumer released
//! `s - depth`, the region's and slot's previous frag, and every later claim of the same
//! slot needs a credit that only the consumer's release of `s` gives. The consumer's reads
//! of the region happen before its fseq store (release), which happens before the mark's
//! store by whichever producer read it, which happens before the claimer's load of the mark
//! and so before its writes. The compare-exchange hands out distinct seqs and orders
//! nothing.
//!
//! Publish (the claimer): the payload with plain writes into its region, then the slot
//! with [`MCache::publish_gated`](crate::mcache::MCache::publish_gated) (body, release the
//! seq: the one consumer is gated by credits). A claim dropped without a commit publishes
//! an empty frag with [`Ctl::ERR`](crate::Ctl::ERR) instead.
//!
//! Close: each handle counts itself in; the last one to go ([`PRODUCER_LEAVE`], acquire
//! and release) reads the cursor, which then covers every claim of every handle (each
//! published before its handle went), and closes the stream there.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use crate::cnc::{Cnc, ProducerCounters, Signal, TxCell};
use crate::dcache::{DCache, RegionMut};
use crate::error::PublishError;
use crate::fctl::Flow;
use crate::frag::{Ctl, FragMeta, Header};
use crate::fseq::Fseq;
use crate::mcache::MCache;
use crate::metrics::Metrics;
use crate::mpsc::RingMetrics;
use crate::seq;
use crate::spsc::{Consumer, Keep, Parts};
use crate::stall_watch::{Claims, StallWatch};
use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::Relaxed, Ref};
use crate::sync::{CREDIT_SHARE, CREDIT_TAKE, PRODUCER_LEAVE};
use crate::wait::{retry, Strategy, Wait};

/// The line every claim reads and writes: the claim cursor and the credit mark.
struct ClaimLine {
    /// The seq the next claim takes.
    cursor: AtomicU64,
    /// The consumer's progress (next seq it needs) as last read by some producer: seqs
    /// before `credit + cr_max` may be claimed.
    credit: AtomicU64,
}

/// Producer-side bookkeeping, off the claim path.
pub(super) struct RingDiag {
    /// Live producer handles.
    pub(super) producers: AtomicU64,
    /// Claims dropped without a commit (published as ERR frags).
    pub(super) abandoned: AtomicU64,
    /// Claim calls that found no credits (a blocking call counts once).
    pub(super) refused: AtomicU64,
    /// A handle was dropped while its thread was panicking.
    pub(super) failed: AtomicBool,
    /// In backpressure: a refresh found no credits at all, and claims wait for
    /// `cr_resume` (hysteresis, as for a single producer). Only a hint shared by the
    /// producers: which refresh sees which value orders nothing.
    blocked: AtomicBool,
}

/// The shared state of a ring besides its mcache, dcache, fseq and cnc.
pub(crate) struct RingState {
    claim: CachePadded<ClaimLine>,
    pub(super) diag: CachePadded<RingDiag>,
    pub(super) watch: CachePadded<StallWatch>,
}

macro_rules! ring_state_new {
    ($seq0:expr) => {
        RingState {
            claim: CachePadded::new(ClaimLine {
                cursor: AtomicU64::new($seq0),
                credit: AtomicU64::new($seq0),
            }),
            diag: CachePadded::new(RingDiag {
                producers: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                failed: AtomicBool::new(false),
                blocked: AtomicBool::new(false),
            }),
            watch: CachePadded::new(StallWatch::new($seq0)),
        }
    };
}

impl RingState {
    /// The state of a fresh ring whose first frag is `seq0`.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn new(seq0: u64) -> RingState {
        ring_state_new!(seq0)
    }

    /// See the non-loom variant.
    #[cfg(milonga_loom)]
    pub(crate) fn new(seq0: u64) -> RingState {
        ring_state_new!(seq0)
    }

    /// The claim cursor: the seq the next claim takes.
    #[cfg_attr(milonga_loom, allow(dead_code))]
    pub(crate) fn cursor(&self) -> &AtomicU64 {
        &self.claim.cursor
    }
}

/// Splits a freshly built ring (slots empty at `parts.seq0`, one fseq, cnc in `Boot`,
/// `parts.dcache` with one region per slot) into its first producer handle and its
/// consumer; sets the cnc to `Run`.
pub(crate) fn split<'a>(
    parts: Parts<'a>,
    state: Ref<'a, RingState>,
    flow: Flow,
    keep: impl Fn() -> Keep,
) -> (RingProducer<'a>, Consumer<'a>) {
    parts.cnc.set_signal(Signal::Run);
    state.diag.producers.store(1, Relaxed);
    let core = RingCore {
        mcache: parts.mcache,
        dcache: parts.dcache,
        fseq: parts.fseqs.at(0),
        cnc: parts.cnc,
        state,
        flow,
        mask: parts.mcache.depth() - 1,
        seq0: parts.seq0,
        bytes: parts.cnc.get().tx_cell(),
    };
    let mut rx = parts.consumer(0, flow, keep());
    rx.set_claims(Claims {
        cursor: Ref::new(&state.get().claim.cursor),
        watch: Ref::new(&state.get().watch),
    });
    let metrics = parts.metrics(keep()).with_cursor(&state.get().claim.cursor);
    let tx = RingProducer {
        core,
        metrics,
        wait: Strategy::default(),
        keep: keep(),
    };
    (tx, rx)
}

/// The views a producer handle works through.
#[derive(Clone, Copy)]
struct RingCore<'a> {
    mcache: MCache<'a>,
    dcache: DCache<'a>,
    fseq: Ref<'a, Fseq>,
    cnc: Ref<'a, Cnc>,
    state: Ref<'a, RingState>,
    flow: Flow,
    mask: u64,
    seq0: u64,
    /// This handle's cell of the ring's payload byte count.
    bytes: TxCell<'a>,
}

/// A producer handle of a shared ring: `Clone + Send + Sync`; every method takes `&self`,
/// so one handle may also be shared by several threads (or interrupt handlers, through a
/// `static`).
///
/// Each claim takes the next seq of the ring with one compare-exchange, only if a credit
/// is available ([`try_claim`](Self::try_claim), [`claim`](Self::claim)); the payload is
/// written in place and published by [`RingClaim::commit`].
/// [`try_publish`](Self::try_publish) and [`publish`](Self::publish) do all three with a
/// copy.
///
/// The stream closes when the last handle is dropped (with [`Signal::Fail`] if any handle
/// was dropped by a panic): the consumer then drains every claimed frag and sees
/// [`RecvError::Closed`](crate::RecvError::Closed).
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::{Header, TryRecvError};
///
/// let (tx, mut rx) = Ring::builder().depth(8).mtu(16).heap_pair()?;
/// let tx2 = tx.clone(); // another producer (or share `&tx` between threads)
/// assert_eq!(tx.try_publish(Header::new(1), b"copied")?, 0);
/// let mut claim = tx2.try_claim(16)?; // written in place
/// claim[..5].copy_from_slice(b"claim");
/// assert_eq!(claim.commit_with(Header::new(2), 5)?, 1);
/// drop((tx, tx2)); // the last handle closes the stream
/// let mut sigs = Vec::new();
/// while let Ok(frag) = rx.try_recv() {
///     sigs.push(frag.sig());
/// }
/// assert_eq!(sigs, [1, 2]);
/// assert_eq!(rx.try_recv().err(), Some(TryRecvError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingProducer<'a> {
    core: RingCore<'a>,
    metrics: Metrics<'a>,
    wait: Strategy,
    keep: Keep,
}

impl<'a> RingProducer<'a> {
    /// The largest payload of one frag, in bytes.
    #[inline]
    pub fn mtu(&self) -> usize {
        self.core.dcache.mtu()
    }

    /// The seq the next claim (by any handle) will take, as of now.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.core.state.claim.cursor.load(Relaxed)
    }

    /// The ring's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.core.cnc.get()
    }

    /// The ring's depth: the most frags that can be claimed and not yet released.
    #[inline]
    pub fn capacity(&self) -> usize {
        (self.core.mask + 1) as usize
    }

    /// The consumer is gone: the next claim reports [`PublishError::Disconnected`].
    #[inline]
    pub fn is_disconnected(&self) -> bool {
        self.core.cnc.consumers_gone()
    }

    /// The wait strategy of this handle's blocking calls ([`claim`](Self::claim),
    /// [`publish`](Self::publish)); a clone starts with the same. The default spins
    /// briefly, then parks.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.wait = wait;
    }

    /// The wait strategy of this handle's blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.wait
    }

    /// Someone asked the producers to halt ([`Cnc::request_halt`]); acknowledge it by
    /// dropping every handle.
    pub fn halt_requested(&self) -> bool {
        self.core.cnc.signal() == Signal::Halt
    }

    /// A handle for taking metrics snapshots of the ring from any thread.
    pub fn metrics(&self) -> RingMetrics<'a> {
        RingMetrics::new(self.metrics.clone(), self.core.state.get())
    }

    /// Claims the next seq and payload space for up to `len` bytes, if a credit is
    /// available. Write the payload through the claim, then [`RingClaim::commit`]; a claim
    /// dropped without a commit publishes an empty ERR frag.
    ///
    /// # Errors
    /// [`PublishError::TooLarge`] if `len` is over the mtu, [`PublishError::NoCredits`] if
    /// the consumer is `cr_max` frags behind the claim cursor (or, after that, until it is
    /// no more than `cr_max - cr_resume` behind), [`PublishError::Disconnected`] if the
    /// consumer is gone (from the first claim after it was dropped). Nothing is claimed
    /// then.
    ///
    /// ```
    /// # use milonga::mpsc::Ring;
    /// # use milonga::{FlowConfig, Header, PublishError};
    /// let (tx, mut rx) = Ring::builder().depth(2).mtu(64).heap_pair().unwrap();
    /// let mut a = tx.try_claim(5).unwrap();
    /// let b = tx.clone().try_claim(3).unwrap().commit(0).unwrap(); // seq 1, published first
    /// assert_eq!(tx.try_claim(1).err(), Some(PublishError::NoCredits));
    /// a.copy_from_slice(b"hello");
    /// assert_eq!(a.commit(5), Ok(0));
    /// assert_eq!(b, 1);
    /// assert_eq!(rx.try_recv().unwrap().payload(), b"hello");
    /// ```
    #[inline]
    pub fn try_claim(&self, len: usize) -> Result<RingClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        match self.claim_seq() {
            Ok(seq) => Ok(self.claim_region(seq, len)),
            Err(e) => {
                if e == PublishError::NoCredits {
                    self.core.state.diag.refused.fetch_add(1, Relaxed);
                }
                Err(e)
            }
        }
    }

    /// [`try_claim`](Self::try_claim), waiting with the handle's [`Strategy`] for a
    /// credit if there is none.
    ///
    /// # Errors
    /// As [`try_claim`](Self::try_claim), except that a lack of credits is waited out.
    pub fn claim(&self, len: usize) -> Result<RingClaim<'_, 'a>, PublishError> {
        self.claim_with(len, self.wait.waiter())
    }

    /// [`claim`](Self::claim), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`claim`](Self::claim); [`PublishError::Timeout`] if `wait` gives up.
    pub fn claim_with<W: Wait>(
        &self,
        len: usize,
        wait: W,
    ) -> Result<RingClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        let mut counted = false;
        let seq = retry(wait, PublishError::NoCredits, || {
            let claimed = self.claim_seq();
            if claimed == Err(PublishError::NoCredits) && !counted {
                counted = true;
                self.core.state.diag.refused.fetch_add(1, Relaxed);
            }
            claimed
        })?;
        match seq {
            Some(seq) => Ok(self.claim_region(seq, len)),
            None => Err(PublishError::Timeout),
        }
    }

    /// Publishes a copy of `payload` with `hdr`, if a credit is available. Returns the
    /// frag's seq.
    ///
    /// # Errors
    /// As [`try_claim`](Self::try_claim).
    #[inline]
    pub fn try_publish(&self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        let mut claim = self.try_claim(payload.len())?;
        claim.copy_from_slice(payload);
        claim.commit_with(hdr, payload.len())
    }

    /// Publishes a copy of `payload`, waiting with the handle's [`Strategy`] for a credit
    /// if there is none.
    ///
    /// # Errors
    /// As [`claim`](Self::claim).
    pub fn publish(&self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        self.publish_with(hdr, payload, self.wait.waiter())
    }

    /// [`publish`](Self::publish), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`claim_with`](Self::claim_with).
    #[cfg(feature = "std")]
    pub fn publish_timeout(
        &self,
        hdr: Header,
        payload: &[u8],
        timeout: std::time::Duration,
    ) -> Result<u64, PublishError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.publish_with(hdr, payload, self.wait.until(deadline)),
            None => self.publish(hdr, payload),
        }
    }

    /// [`publish`](Self::publish), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`claim_with`](Self::claim_with).
    pub fn publish_with<W: Wait>(
        &self,
        hdr: Header,
        payload: &[u8],
        wait: W,
    ) -> Result<u64, PublishError> {
        let mut claim = self.claim_with(payload.len(), wait)?;
        claim.copy_from_slice(payload);
        claim.commit_with(hdr, payload.len())
    }

    /// Drops this handle. The stream closes when the last handle is gone; this also
    /// acknowledges a halt request once every handle has been dropped.
    pub fn halt(self) {}

    #[inline(always)]
    fn check_len(&self, len: usize) -> Result<(), PublishError> {
        let max = self.core.dcache.mtu();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        Ok(())
    }

    /// Claim steps 1 and 2: the seq this caller now owns.
    #[inline]
    fn claim_seq(&self) -> Result<u64, PublishError> {
        if self.core.cnc.consumers_gone() {
            return Err(PublishError::Disconnected);
        }
        let line = &self.core.state.claim;
        let cr_max = self.core.flow.cr_max as i64;
        let mut s = line.cursor.load(Relaxed);
        let mut mark = line.credit.load(CREDIT_TAKE);
        loop {
            if seq::diff(s, mark) >= cr_max {
                mark = line.credit.load(CREDIT_TAKE);
                if seq::diff(s, mark) >= cr_max {
                    mark = self.refresh(s, mark)?;
                }
            }
            // Relaxed: the seq is what is claimed; the region's and slot's ordering comes
            // from the credit mark (see the module docs).
            match line
                .cursor
                .compare_exchange_weak(s, seq::inc(s, 1), Relaxed, Relaxed)
            {
                Ok(_) => return Ok(s),
                Err(now) => s = now,
            }
        }
    }

    /// The credit mark does not allow claiming `s`: read the consumer's progress. Returns
    /// the new mark if it grants a credit for `s`: any credit normally, and at least
    /// `cr_resume` once a refresh found none (hysteresis: after running out, producers wait
    /// for a sizeable window rather than claim frag by frag).
    #[cold]
    #[inline(never)]
    fn refresh(&self, s: u64, mark: u64) -> Result<u64, PublishError> {
        let core = &self.core;
        if core.fseq.is_detached() {
            return Err(PublishError::Disconnected);
        }
        let rx = core.fseq.query();
        core.cnc.beat(s);
        let lag = seq::diff(s, rx).max(0) as u64;
        let credits = core.flow.cr_max.saturating_sub(lag);
        let blocked = &core.state.diag.blocked;
        if blocked.load(Relaxed) {
            if credits < core.flow.cr_resume {
                return Err(PublishError::NoCredits);
            }
            blocked.store(false, Relaxed);
        } else if credits == 0 {
            blocked.store(true, Relaxed);
            return Err(PublishError::NoCredits);
        }
        if seq::gt(rx, mark) {
            core.state.claim.credit.store(rx, CREDIT_SHARE);
        }
        Ok(rx)
    }

    #[inline(always)]
    fn claim_region(&self, seq: u64, len: usize) -> RingClaim<'_, 'a> {
        // The region of slot `seq % depth`, whose words fit a u32 (checked when the ring
        // was built).
        let at = self.core.dcache.region_start(seq & self.core.mask);
        // SAFETY: claim: the region lies inside the store (`ring_chunks` checked at build,
        // `len <= mtu`), and this caller is its only writer and nobody reads it: the claim
        // of `seq` was granted by a credit mark showing the consumer released
        // `seq - depth`, the region's previous frag (its reads happen before the mark's
        // acquire load), no other claim can take `seq`, and the claim of `seq + depth`
        // needs the consumer to release `seq`, which it cannot before this claim
        // publishes it. The slice lives in the claim, which ends with that publish.
        let buf = unsafe { self.core.dcache.region_mut(at, len) };
        RingClaim {
            core: &self.core,
            seq,
            at,
            buf,
            hdr: Header::default(),
        }
    }
}

impl RingProducer<'_> {
    /// This handle and its clones stop counting their payload bytes in the ring's metrics
    /// (one read-modify-write per commit saved), for an owner that never shows them (the
    /// dispatcher, which counts its own).
    #[cfg(all(feature = "std", not(milonga_loom)))]
    pub(crate) fn without_byte_count(mut self) -> Self {
        self.core.bytes = TxCell::none();
        self
    }
}

impl Clone for RingProducer<'_> {
    /// Another handle to the same ring: one more producer.
    fn clone(&self) -> Self {
        // Relaxed, as for `Arc`: the caller holds a handle, so the count is not 0.
        self.core.state.diag.producers.fetch_add(1, Relaxed);
        RingProducer {
            core: RingCore {
                bytes: if self.core.bytes.counts() {
                    self.core.cnc.get().tx_cell()
                } else {
                    TxCell::none()
                },
                ..self.core
            },
            metrics: self.metrics.clone(),
            wait: self.wait,
            keep: self.keep.clone(),
        }
    }
}

impl Drop for RingProducer<'_> {
    fn drop(&mut self) {
        let diag = &self.core.state.diag;
        #[cfg(feature = "std")]
        if std::thread::panicking() {
            diag.failed.store(true, Relaxed);
        }
        if diag.producers.fetch_sub(1, PRODUCER_LEAVE) != 1 {
            return;
        }
        // Close: the last handle. Every claim of every handle was published before its
        // handle's decrement, which this one acquired, so the cursor covers them all.
        let end = self.core.state.claim.cursor.load(Relaxed);
        let signal = if diag.failed.load(Relaxed) {
            Signal::Fail
        } else {
            Signal::Boot
        };
        let counters = ProducerCounters {
            published_frags: seq::diff(end, self.core.seq0) as u64,
            published_bytes: 0, // counted in the handles' cells of the cnc
            backpressure: diag.refused.load(Relaxed),
            backpressure_ticks: 0,
        };
        self.core.cnc.publish_counters(&counters);
        self.core.cnc.close(end, signal);
    }
}

impl fmt::Debug for RingProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingProducer")
            .field("next_seq", &self.next_seq())
            .field("mtu", &self.mtu())
            .finish_non_exhaustive()
    }
}

/// A claimed seq and its payload space, from [`RingProducer::try_claim`]: write the
/// payload through `DerefMut`, then [`commit`](Self::commit).
///
/// Until it is committed (or dropped) the consumer cannot read past its seq. Dropped
/// without a commit (including by a panic unwinding through it), it publishes an empty frag
/// with [`Ctl::ERR`] added to its header, so the ring goes on.
///
/// ```
/// use milonga::mpsc::Ring;
///
/// let (tx, mut rx) = Ring::builder().depth(4).mtu(8).heap_pair()?;
/// let mut claim = tx.try_claim(8)?;
/// assert_eq!((claim.seq(), claim.len()), (0, 8));
/// claim.copy_from_slice(b"12345678");
/// claim.commit(8)?;
/// let claim = tx.try_claim(8)?;
/// drop(claim); // abandoned (an early return, a panic): an ERR frag takes its place
/// assert_eq!(rx.try_recv()?.payload(), b"12345678");
/// let frag = rx.try_recv()?;
/// assert!(frag.ctl().err() && frag.payload().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingClaim<'p, 'a> {
    core: &'p RingCore<'a>,
    seq: u64,
    at: u32,
    /// A pointer, not a `&mut [u8]`: see [`WriteClaim`](crate::spsc::WriteClaim).
    buf: RegionMut<'p>,
    hdr: Header,
}

impl RingClaim<'_, '_> {
    /// The claimed seq.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the header the frag will be published with (default: sig 0, `SOM | EOM`).
    /// It is also the header of the ERR frag published if the claim is abandoned.
    pub fn set_header(&mut self, hdr: Header) {
        self.hdr = hdr;
    }

    /// Publishes the first `len` bytes of the claim. Returns the frag's seq.
    ///
    /// # Errors
    /// [`PublishError::TooLarge`] if `len` is longer than the claim; the claim is then
    /// abandoned: an empty ERR frag is published in its place.
    #[inline]
    pub fn commit(self, len: usize) -> Result<u64, PublishError> {
        let max = self.buf.len();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        let this = ManuallyDrop::new(self);
        this.publish(this.hdr, len);
        this.core.bytes.add(len as u64);
        Ok(this.seq)
    }

    /// [`set_header`](Self::set_header) then [`commit`](Self::commit).
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    #[inline]
    pub fn commit_with(mut self, hdr: Header, len: usize) -> Result<u64, PublishError> {
        self.hdr = hdr;
        self.commit(len)
    }

    /// Publishes the claimed seq: the claimer is the only writer of its slot (see the
    /// module docs), and the ring's one consumer is gated by credits, so the gated publish
    /// (body, then the release of the seq) is enough.
    #[inline(always)]
    fn publish(&self, hdr: Header, len: usize) {
        self.core.dcache.written(self.at, self.buf.len());
        self.core.mcache.publish_gated(&FragMeta {
            seq: self.seq,
            sig: hdr.sig,
            offset: self.at,
            sz: len as u16,
            ctl: hdr.ctl,
            tsorig: hdr.tsorig,
            tspub: hdr.tspub,
        });
    }
}

impl Drop for RingClaim<'_, '_> {
    /// The claim was abandoned: publish an empty ERR frag in its place.
    fn drop(&mut self) {
        self.publish(self.hdr.ctl(self.hdr.ctl | Ctl::ERR), 0);
        self.core.state.diag.abandoned.fetch_add(1, Relaxed);
    }
}

impl Deref for RingClaim<'_, '_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.buf.get()
    }
}

impl DerefMut for RingClaim<'_, '_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut()
    }
}

impl fmt::Debug for RingClaim<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingClaim")
            .field("seq", &self.seq)
            .field("len", &self.buf.len())
            .finish()
    }
}
