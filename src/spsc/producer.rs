//! The producing end of a link.

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::clock::ClockRef;
use crate::cnc::{Cnc, ProducerCounters, Signal};
use crate::dcache::{DCache, RegionMut};
use crate::error::PublishError;
use crate::fctl::{AllDetached, Fctl};
use crate::frag::{Ctl, FragMeta, Header};
use crate::liveness::Hook;
use crate::mcache::MCache;
use crate::metrics::Metrics;
use crate::seq;
use crate::spsc::{Keep, Parts};
use crate::wait::{retry, Strategy, Wait};

mod sealed {
    pub trait Sealed {}
}

/// How a producer writes payloads: decided by whether lossy consumers may read the link.
///
/// Sealed: its two modes are [`Exclusive`] and [`Shared`]. Code that publishes on either
/// kind of link is generic over it:
///
/// ```
/// use milonga::spsc::{Link, Producer, WriteMode};
/// use milonga::{Header, PublishError};
///
/// /// Publishes a reading on any link, with or without lossy consumers.
/// fn report<W: WriteMode>(tx: &mut Producer<'_, W>, value: u64) -> Result<u64, PublishError> {
///     tx.try_publish(Header::new(value), &value.to_le_bytes())
/// }
///
/// let (mut exclusive, _rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let mut shared = Link::builder().depth(4).mtu(8).lossy(1).heap()?;
/// assert_eq!(report(&mut exclusive, 1)?, 0);
/// assert_eq!(report(&mut shared.producer, 2)?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WriteMode: sealed::Sealed + 'static {
    /// Lossy readers may copy a region while it is rewritten.
    const SHARED: bool;
}

/// The write mode of a link whose consumers are all reliable: payloads are written with
/// plain copies, and [`Producer::try_claim`] hands out `&mut [u8]` into the store.
///
/// ```
/// use milonga::spsc::{Exclusive, Link, Producer};
///
/// let (tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// let mut tx: Producer<'static, Exclusive> = tx; // reliable consumers only
/// let mut claim = tx.try_claim(8)?; // so the payload can be written in place
/// claim.copy_from_slice(b"in place");
/// claim.commit(8)?;
/// assert_eq!(rx.try_recv()?.payload(), b"in place");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum Exclusive {}

/// The write mode of a link with lossy consumers: payloads are written with atomic word
/// stores (a lossy reader may be copying the region), and no `&mut [u8]` into the store
/// is ever handed out.
///
/// ```
/// use milonga::spsc::{Link, Producer, Shared};
/// use milonga::Header;
///
/// let mut link = Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
/// let tx: &mut Producer<'static, Shared> = &mut link.producer; // lossy readers: no claims
/// tx.try_publish(Header::new(1), b"copied")?; // written with atomic word stores
/// let mut buf = [0u8; 8];
/// let meta = link.lossy[0].try_recv(&mut buf)?;
/// assert_eq!(&buf[..meta.sz as usize], b"copied");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum Shared {}

impl sealed::Sealed for Exclusive {}
impl sealed::Sealed for Shared {}
impl WriteMode for Exclusive {
    const SHARED: bool = false;
}
impl WriteMode for Shared {
    const SHARED: bool = true;
}

/// The producing end of a link: `Send`, not `Clone`; there is one per link.
///
/// Publishing copies the payload into the link's store ([`try_publish`](Self::try_publish),
/// [`publish`](Self::publish), [`try_publish_message`](Self::try_publish_message)) or, on a
/// link without lossy consumers, lets the caller write it in place
/// ([`try_claim`](Self::try_claim)). Each frag takes one credit; credits are refreshed
/// from the reliable consumers' published progress only when they run out, so the hot path
/// touches no line a consumer writes.
///
/// Dropping the producer closes the stream as [`halt`](Self::halt) does (with
/// [`Signal::Fail`] if the thread is panicking): consumers drain what was published and
/// then see the end.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(8).mtu(16).heap_pair()?;
/// assert_eq!((tx.capacity(), tx.mtu(), tx.next_seq()), (8, 16, 0));
/// assert_eq!(tx.try_publish(Header::new(1), b"copied")?, 0); // a copy
/// let mut claim = tx.try_claim(16)?; // written in place
/// claim[..8].copy_from_slice(&7u64.to_le_bytes());
/// claim.commit_with(Header::new(2), 8)?;
/// tx.try_publish_message(Header::new(3), &[0xaa; 40])?; // 40 bytes in 3 frags
/// tx.halt();
/// let mut sigs = Vec::new();
/// while let Ok(frag) = rx.try_recv() {
///     sigs.push(frag.sig());
/// }
/// assert_eq!(sigs, [1, 2, 3, 3, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<'a, W: WriteMode = Exclusive> {
    parts: Parts<'a>,
    tx_seq: u64,
    cr_avail: u64,
    cursor: u32,
    counters: ProducerCounters,
    fctl: Fctl<'a>,
    heartbeat: u64,
    closed: bool,
    clock: Option<ClockRef<'a>>,
    wait: Strategy,
    blocked_since: u64,
    /// The storage owner's liveness hook (none unless the link spans processes).
    hook: Hook<'a>,
    keep: Keep,
    mode: PhantomData<W>,
}

impl<'a, W: WriteMode> Producer<'a, W> {
    pub(crate) fn new(parts: Parts<'a>, fctl: Fctl<'a>, keep: Keep) -> Self {
        Producer {
            tx_seq: parts.seq0,
            cr_avail: fctl.flow().cr_max,
            cursor: 0,
            counters: ProducerCounters::default(),
            fctl,
            heartbeat: 0,
            closed: false,
            clock: None,
            wait: Strategy::default(),
            blocked_since: 0,
            hook: Hook::none(),
            keep,
            parts,
            mode: PhantomData,
        }
    }

    /// A producer that takes over a stream another producer left at `at` (see
    /// [`Resume`]), watched by its storage owner's `hook`. It has no credits until it reads
    /// the consumers' progress, which its first publish does.
    #[cfg(all(feature = "shm", unix, not(milonga_loom)))]
    pub(crate) fn resume(
        parts: Parts<'a>,
        fctl: Fctl<'a>,
        keep: Keep,
        at: crate::liveness::Resume,
        hook: Hook<'a>,
    ) -> Self {
        let mut p = Self::new(parts, fctl, keep);
        p.tx_seq = at.next_seq;
        p.cursor = at.cursor;
        p.counters.published_frags = at.published_frags;
        p.counters.published_bytes = at.published_bytes;
        p.cr_avail = 0;
        p.hook = hook;
        p
    }

    /// The seq the next frag will have.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.tx_seq
    }

    /// The credits left before the producer next reads the consumers' progress: this
    /// many frags can be published now without touching a line a consumer writes.
    #[inline]
    pub fn credits(&self) -> u64 {
        self.cr_avail
    }

    /// The ring's depth: the most frags that can be published and not yet released.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.parts.mcache.depth() as usize
    }

    /// The reliable consumers the link was built with, attached or not: with none, no
    /// consumer ever gates this producer (it never runs out of credits).
    #[inline]
    pub(crate) fn reliable_consumers(&self) -> usize {
        self.parts.fseqs.len()
    }

    /// Every consumer of the link is gone: the next publish reports
    /// [`PublishError::Disconnected`].
    #[inline]
    pub fn is_disconnected(&self) -> bool {
        self.parts.cnc.consumers_gone()
    }

    /// The wait strategy of the blocking calls ([`publish`](Self::publish), ...). The
    /// default spins briefly, then parks.
    pub fn set_wait(&mut self, wait: Strategy) {
        self.wait = wait;
    }

    /// The wait strategy of the blocking calls.
    pub fn wait_strategy(&self) -> Strategy {
        self.wait
    }

    /// The largest payload of one frag, in bytes.
    #[inline]
    pub fn mtu(&self) -> usize {
        self.parts.dcache.mtu()
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        self.parts.cnc.get()
    }

    /// A handle for taking metrics snapshots of the whole link from any thread.
    pub fn metrics(&self) -> Metrics<'a> {
        self.parts.metrics(self.keep.clone())
    }

    /// Gives the producer a clock: the time it spends in backpressure is then counted in
    /// ticks ([`ProducerCounters::backpressure_ticks`]).
    pub fn set_clock(&mut self, clock: impl Into<ClockRef<'a>>) {
        self.clock = Some(clock.into());
    }

    /// Someone asked this producer to halt ([`Cnc::request_halt`]); acknowledge it with
    /// [`halt`](Self::halt).
    pub fn halt_requested(&self) -> bool {
        self.parts.cnc.signal() == Signal::Halt
    }

    /// The producer's counters (the cnc's copy, which metrics read, is kept the same: frags
    /// and bytes at every publish, backpressure at every credit refresh).
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
    /// [`PublishError::NoCredits`] if a reliable consumer is a full window behind,
    /// [`PublishError::Disconnected`] if every consumer is gone (at once: the first
    /// publish after the last consumer was dropped reports it). Nothing is published then.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::{Header, PublishError};
    ///
    /// let (mut tx, rx) = Link::builder().depth(2).mtu(8).heap_pair()?;
    /// assert_eq!(tx.try_publish(Header::new(0), &[0; 9]), Err(PublishError::TooLarge { len: 9, max: 8 }));
    /// assert_eq!(tx.try_publish(Header::new(0), b"a"), Ok(0));
    /// assert_eq!(tx.try_publish(Header::new(0), b"b"), Ok(1));
    /// assert_eq!(tx.try_publish(Header::new(0), b"c"), Err(PublishError::NoCredits));
    /// drop(rx);
    /// assert_eq!(tx.try_publish(Header::new(0), b"d"), Err(PublishError::Disconnected));
    /// # Ok::<(), milonga::LinkError>(())
    /// ```
    #[inline]
    pub fn try_publish(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        self.check_len(payload.len())?;
        self.take_credits(1)?;
        Ok(self.write_frag(hdr, payload))
    }

    /// Publishes a copy of `payload`, waiting with the handle's [`Strategy`] for a credit
    /// if there is none.
    ///
    /// # Errors
    /// As [`try_publish`](Self::try_publish), except that a lack of credits is waited out:
    /// [`PublishError::TooLarge`] or [`PublishError::Disconnected`].
    pub fn publish(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        self.publish_with(hdr, payload, self.wait.waiter())
    }

    /// [`publish`](Self::publish), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`publish`](Self::publish); [`PublishError::Timeout`] if no credit came in time.
    #[cfg(feature = "std")]
    pub fn publish_timeout(
        &mut self,
        hdr: Header,
        payload: &[u8],
        timeout: std::time::Duration,
    ) -> Result<u64, PublishError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.publish_with(hdr, payload, self.wait.until(deadline)),
            None => self.publish(hdr, payload),
        }
    }

    /// [`publish`](Self::publish), waiting with `wait` (for this call) instead of the
    /// handle's strategy.
    ///
    /// # Errors
    /// As [`publish`](Self::publish); [`PublishError::Timeout`] if `wait` gives up.
    pub fn publish_with<Wt: Wait>(
        &mut self,
        hdr: Header,
        payload: &[u8],
        wait: Wt,
    ) -> Result<u64, PublishError> {
        self.check_len(payload.len())?;
        self.wait_credits(1, wait)?;
        Ok(self.write_frag(hdr, payload))
    }

    /// Publishes a message of any length up to `cr_max * mtu` bytes as consecutive frags
    /// of at most mtu bytes, the first marked SOM and the last EOM (other bits of
    /// `hdr.ctl`, such as the origin, are kept on every frag). All or nothing: it publishes
    /// only if credits for every frag are available. Returns the first seq and the number
    /// of frags. An empty message is one empty frag.
    ///
    /// # Errors
    /// As [`try_publish`](Self::try_publish); `TooLarge` names the longest message the
    /// link can carry.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::Header;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(4).heap_pair()?;
    /// assert_eq!(tx.try_publish_message(Header::new(1), b"0123456789"), Ok((0, 3)));
    /// let f = rx.try_recv()?;
    /// assert!(f.ctl().som() && !f.ctl().eom());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_publish_message(
        &mut self,
        hdr: Header,
        msg: &[u8],
    ) -> Result<(u64, usize), PublishError> {
        let frags = self.message_frags(msg.len())?;
        self.take_credits(frags as u64)?;
        Ok(self.write_message(hdr, msg, frags))
    }

    /// [`try_publish_message`](Self::try_publish_message), waiting with the handle's
    /// [`Strategy`] for the credits.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub fn publish_message(
        &mut self,
        hdr: Header,
        msg: &[u8],
    ) -> Result<(u64, usize), PublishError> {
        self.publish_message_with(hdr, msg, self.wait.waiter())
    }

    /// [`publish_message`](Self::publish_message), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`publish_with`](Self::publish_with).
    pub fn publish_message_with<Wt: Wait>(
        &mut self,
        hdr: Header,
        msg: &[u8],
        wait: Wt,
    ) -> Result<(u64, usize), PublishError> {
        let frags = self.message_frags(msg.len())?;
        self.wait_credits(frags as u64, wait)?;
        Ok(self.write_message(hdr, msg, frags))
    }

    /// Publishes copies of `frags` (each a header and a payload of at most mtu bytes) as
    /// consecutive frags, in order, with one credit check and one update of the counters for
    /// the whole batch. All or nothing: it publishes only if every payload fits and credits
    /// for every frag are available. Returns the first frag's seq (an empty batch publishes
    /// nothing and returns [`next_seq`](Self::next_seq)).
    ///
    /// Each frag is published as [`try_publish`](Self::try_publish) publishes one, so a
    /// consumer may read the first frags while the producer writes the rest; the batch
    /// saves the per-frag credit check and counter stores.
    ///
    /// # Errors
    /// [`PublishError::TooManyFrags`] if the batch is longer than the credit window
    /// (`cr_max`, the ring's depth by default), [`PublishError::TooLarge`] for the first
    /// payload longer than the mtu, then as [`try_publish`](Self::try_publish):
    /// [`PublishError::NoCredits`] if fewer credits than frags are available,
    /// [`PublishError::Disconnected`]. Nothing is published then.
    ///
    /// ```
    /// use milonga::spsc::{Budget, Link};
    /// use milonga::{Header, PublishError};
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
    /// let batch = [(Header::new(1), &b"one"[..]), (Header::new(2), b"two"), (Header::new(3), b"")];
    /// assert_eq!(tx.try_publish_batch(&batch), Ok(0)); // seqs 0, 1 and 2
    /// assert_eq!(tx.try_publish_batch(&batch[..2]), Err(PublishError::NoCredits)); // 1 left
    /// let long = [(Header::new(4), &[0u8; 9][..])];
    /// assert_eq!(tx.try_publish_batch(&long), Err(PublishError::TooLarge { len: 9, max: 8 }));
    /// let got = rx.try_batch(Budget::frags(4)?)?;
    /// let sigs: Vec<u64> = got.iter().map(|f| f.sig()).collect();
    /// assert_eq!(sigs, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_publish_batch(&mut self, frags: &[(Header, &[u8])]) -> Result<u64, PublishError> {
        self.check_batch(frags)?;
        self.take_credits(frags.len() as u64)?;
        Ok(self.write_batch(frags))
    }

    /// [`try_publish_batch`](Self::try_publish_batch), waiting with the handle's
    /// [`Strategy`] for credits for the whole batch.
    ///
    /// # Errors
    /// As [`try_publish_batch`](Self::try_publish_batch), except that a lack of credits is
    /// waited out.
    pub fn publish_batch(&mut self, frags: &[(Header, &[u8])]) -> Result<u64, PublishError> {
        self.publish_batch_with(frags, self.wait.waiter())
    }

    /// [`publish_batch`](Self::publish_batch), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`publish_batch`](Self::publish_batch); [`PublishError::Timeout`] if `wait`
    /// gives up.
    pub fn publish_batch_with<Wt: Wait>(
        &mut self,
        frags: &[(Header, &[u8])],
        wait: Wt,
    ) -> Result<u64, PublishError> {
        self.check_batch(frags)?;
        self.wait_credits(frags.len() as u64, wait)?;
        Ok(self.write_batch(frags))
    }

    /// The producer's periodic work, for a loop that may go long without publishing:
    /// beats the heartbeat, publishes the counters, and refreshes the credits if fewer
    /// than the refill mark are left.
    pub fn housekeeping(&mut self) {
        self.publish_counters();
        if self.cr_avail < self.fctl.flow().cr_refill {
            let _ = self.refresh(self.cr_avail);
        }
    }

    /// Closes the stream: consumers drain every frag published so far and then see
    /// end-of-stream. Acknowledges a halt request (the cnc returns to `Boot`).
    pub fn halt(mut self) {
        self.close(Signal::Boot);
    }

    #[inline(always)]
    fn check_len(&self, len: usize) -> Result<(), PublishError> {
        let max = self.parts.dcache.mtu();
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        Ok(())
    }

    fn message_frags(&self, len: usize) -> Result<usize, PublishError> {
        let mtu = self.mtu();
        let max = self.fctl.flow().cr_max as usize * mtu;
        if len > max {
            return Err(PublishError::TooLarge { len, max });
        }
        Ok(if len == 0 { 1 } else { len.div_ceil(mtu) })
    }

    /// Makes sure `n` credits are available (the fast path is one compare and one load
    /// of the consumers-gone flag, a line nobody writes while the link runs).
    #[inline(always)]
    fn take_credits(&mut self, n: u64) -> Result<(), PublishError> {
        if self.parts.cnc.consumers_gone() {
            return Err(PublishError::Disconnected);
        }
        if self.cr_avail < n {
            self.refresh(self.cr_avail)?;
            if self.cr_avail < n {
                return Err(PublishError::NoCredits);
            }
        }
        Ok(())
    }

    /// The slow path: read the consumers' progress (and do housekeeping, which is due at
    /// most once per window of credits).
    #[cold]
    #[inline(never)]
    fn refresh(&mut self, have: u64) -> Result<(), PublishError> {
        let was_blocked = self.fctl.blocked();
        let result = self.fctl.refresh(self.tx_seq, have);
        if let Some(clock) = &self.clock {
            match (was_blocked, self.fctl.blocked()) {
                (false, true) => self.blocked_since = clock.now(),
                (true, false) => {
                    let now = clock.now();
                    self.counters.backpressure_ticks += now.saturating_sub(self.blocked_since);
                }
                _ => {}
            }
        }
        self.publish_counters();
        match result {
            Ok(0) => {
                self.hook.producer_blocked(&self.parts.fseqs);
                Err(PublishError::NoCredits)
            }
            Ok(cr) => {
                self.cr_avail = cr;
                Ok(())
            }
            Err(AllDetached) => Err(PublishError::Disconnected),
        }
    }

    fn wait_credits<Wt: Wait>(&mut self, n: u64, wait: Wt) -> Result<(), PublishError> {
        match retry(wait, PublishError::NoCredits, || self.take_credits(n))? {
            Some(()) => Ok(()),
            None => Err(PublishError::Timeout),
        }
    }

    // Per-frag budget (x86-64 instructions per 8-byte message, the caller's loop and its
    // stamping of the message included; callgrind, one thread, the difference between
    // 200k and 400k messages):
    //   try_publish                                44   (rtrb push 28)
    //   try_publish_batch_in_place, batches of 32  19   (disruptor try_batch_publish 8)
    //   try_publish_batch, batches of 32          108   (with the caller building the
    //     slice of headers and payloads, and a call to memcpy per payload, whose length
    //     is not known where it is copied)
    // Measured with `benches/peers` `prof` (see its docs for the callgrind commands):
    //   prof st m-poll 8 N; PCHUNK=32 prof st m-bp-batch 8 N; prof st m-bpc-batch 8 N;
    //   prof st rtrb 8 N; prof st dis-bp 8 N.
    // A slot publish is 4 stores (sig, loc, ts, then seq with release); the rest is the
    // placement of the payload, its copy, the credit and the counters (per frag here, per
    // batch in a batch publish).

    /// Writes and publishes one frag; a credit and `len <= mtu` are checked by the caller.
    #[inline(always)]
    fn write_frag(&mut self, hdr: Header, payload: &[u8]) -> u64 {
        let dcache = self.parts.dcache;
        let len = payload.len();
        let at = dcache.place(self.cursor, len);
        copy_in::<W>(dcache, at, payload);
        self.publish_region(hdr, at, len)
    }

    fn write_message(&mut self, hdr: Header, msg: &[u8], frags: usize) -> (u64, usize) {
        let first = self.tx_seq;
        let base = Ctl::from_bits(hdr.ctl.bits() & !(Ctl::SOM.bits() | Ctl::EOM.bits()));
        let mtu = self.mtu().max(1);
        for i in 0..frags {
            let piece = &msg[(i * mtu).min(msg.len())..((i + 1) * mtu).min(msg.len())];
            let mut ctl = base;
            if i == 0 {
                ctl = ctl | Ctl::SOM;
            }
            if i + 1 == frags {
                ctl = ctl | Ctl::EOM;
            }
            self.write_frag(hdr.ctl(ctl), piece);
        }
        (first, frags)
    }

    /// Publishes the frag whose payload was written at word `at` (in the mcache: the gated
    /// publish, or the seqlock one with the ledger on a shared link) and spends its
    /// credit.
    #[inline(always)]
    fn publish_region(&mut self, hdr: Header, at: u32, len: usize) -> u64 {
        let seq = self.tx_seq;
        publish_meta::<W>(
            self.parts.mcache,
            seq,
            hdr,
            at,
            len,
            self.counters.published_bytes,
        );
        self.tx_seq = seq::inc(seq, 1);
        self.cr_avail -= 1;
        self.cursor = DCache::after(at, len);
        // The counts wrap: a producer that took over a stream in shared memory resumed
        // them from the region, which is untrusted.
        self.counters.published_frags = self.counters.published_frags.wrapping_add(1);
        self.counters.published_bytes = self.counters.published_bytes.wrapping_add(len as u64);
        self.parts
            .cnc
            .publish_tx(self.counters.published_frags, self.counters.published_bytes);
        seq
    }

    /// A batch of `frags` frags fits the credit window (so it can be published whole).
    #[inline(always)]
    fn check_frags(&self, frags: usize) -> Result<(), PublishError> {
        let max = self.fctl.flow().cr_max;
        if frags as u64 > max {
            return Err(PublishError::TooManyFrags {
                frags,
                max: max as usize,
            });
        }
        Ok(())
    }

    /// Checks a copied batch: it fits the credit window and every payload fits the mtu.
    #[inline(always)]
    fn check_batch(&self, frags: &[(Header, &[u8])]) -> Result<(), PublishError> {
        self.check_frags(frags.len())?;
        for (_, payload) in frags {
            self.check_len(payload.len())?;
        }
        Ok(())
    }

    /// Writes and publishes `frags` in order, each as [`write_frag`](Self::write_frag)
    /// does; their credits (and `len <= mtu`) are checked by the caller. Returns the first
    /// seq.
    #[inline(always)]
    fn write_batch(&mut self, frags: &[(Header, &[u8])]) -> u64 {
        let (dcache, mcache) = (self.parts.dcache, self.parts.mcache);
        let mut tail = Tail::new(self);
        for &(hdr, payload) in frags {
            let len = payload.len();
            let at = dcache.place(tail.cursor, len);
            copy_in::<W>(dcache, at, payload);
            publish_meta::<W>(mcache, tail.seq, hdr, at, len, tail.bytes);
            tail.advance(at, len);
        }
        tail.first
    }

    fn publish_counters(&mut self) {
        self.heartbeat = self.heartbeat.wrapping_add(1);
        self.parts.cnc.beat(self.heartbeat);
        self.hook.housekeeping();
        self.parts.cnc.publish_counters(&self.counters());
    }

    fn close(&mut self, signal: Signal) {
        if !self.closed {
            self.closed = true;
            self.publish_counters();
            self.parts.cnc.close(self.tx_seq, signal);
        }
    }
}

impl<'a> Producer<'a, Exclusive> {
    /// Claims payload space for a frag of up to `len` bytes, to be written in place and
    /// published by [`WriteClaim::commit`]. Dropping the claim abandons it: nothing is
    /// published and the space is offered again by the next claim. Only on links without
    /// lossy consumers ([`Exclusive`]).
    ///
    /// # Errors
    /// As [`try_publish`](Self::try_publish).
    ///
    /// ```
    /// use milonga::spsc::Link;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair()?;
    /// let mut claim = tx.try_claim(64)?;
    /// claim[..5].copy_from_slice(b"hello");
    /// assert_eq!(claim.commit(5), Ok(0));
    /// assert_eq!(rx.try_recv()?.payload(), b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_claim(&mut self, len: usize) -> Result<WriteClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        self.take_credits(1)?;
        Ok(self.claim_region(len))
    }

    /// [`try_claim`](Self::try_claim), waiting with the handle's [`Strategy`] for a
    /// credit if there is none.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub fn claim(&mut self, len: usize) -> Result<WriteClaim<'_, 'a>, PublishError> {
        let wait = self.wait.waiter();
        self.claim_with(len, wait)
    }

    /// [`claim`](Self::claim), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`publish_with`](Self::publish_with).
    pub fn claim_with<Wt: Wait>(
        &mut self,
        len: usize,
        wait: Wt,
    ) -> Result<WriteClaim<'_, 'a>, PublishError> {
        self.check_len(len)?;
        self.wait_credits(1, wait)?;
        Ok(self.claim_region(len))
    }

    /// Publishes `n` frags written in place, with one credit check and one update of the
    /// counters for the whole batch. For each frag in turn, `fill(seq, buf)` writes the
    /// payload into `buf` (`max_len` bytes of the link's store, of unspecified content) and
    /// returns the frag's header and how many bytes of `buf` it used; the frag is then
    /// published (as [`WriteClaim::commit_with`] publishes a claim: the next payload goes
    /// right after the bytes used) before `fill` is called for the next one. Only on links
    /// without lossy consumers ([`Exclusive`]). Returns the first frag's seq (for `n == 0`,
    /// [`next_seq`](Self::next_seq): nothing is published and `fill` is not called).
    ///
    /// # Errors
    /// Before anything is published: [`PublishError::TooLarge`] if `max_len` is larger than
    /// the mtu, [`PublishError::TooManyFrags`] if `n` is larger than the credit window
    /// (`cr_max`), [`PublishError::NoCredits`] if fewer than `n` credits are available,
    /// [`PublishError::Disconnected`]; `fill` is then not called.
    ///
    /// [`PublishError::Overfilled`] if `fill` reports more than `max_len` bytes for a
    /// frag: that frag is abandoned (nothing is published for it and its region is
    /// offered again, as for a claim committed too long) and the batch stops there. The
    /// frags before it are published, and the error says how many; the producer is left
    /// exactly as if only those had been asked for (its next frag takes the refused one's
    /// seq). Likewise, if `fill` panics, the frags before that call stay published and
    /// the producer continues after them.
    ///
    /// ```
    /// use milonga::spsc::{Budget, Link};
    /// use milonga::{Header, PublishError};
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(8).mtu(16).heap_pair()?;
    /// // Three readings, each written straight into the store: 8 bytes of 16 used.
    /// let first = tx.try_publish_batch_in_place(3, 16, |seq, buf| {
    ///     buf[..8].copy_from_slice(&(seq * 10).to_le_bytes());
    ///     (Header::new(seq), 8)
    /// })?;
    /// assert_eq!((first, tx.next_seq()), (0, 3));
    /// // A closure that reports more than it was lent stops the batch at that frag.
    /// let err = tx.try_publish_batch_in_place(3, 8, |seq, _| (Header::new(seq), if seq < 4 { 8 } else { 9 }));
    /// assert_eq!(err, Err(PublishError::Overfilled { published: 1, len: 9, max: 8 }));
    /// assert_eq!(tx.next_seq(), 4); // seq 3 went out, seq 4 was abandoned
    /// let batch = rx.try_batch(Budget::frags(8)?)?;
    /// let values: Vec<u64> = batch.iter().map(|f| u64::from_le_bytes(f.payload()[..8].try_into().unwrap())).collect();
    /// assert_eq!(values[..3], [0, 10, 20]);
    /// assert_eq!(batch.len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_publish_batch_in_place<F>(
        &mut self,
        n: usize,
        max_len: usize,
        fill: F,
    ) -> Result<u64, PublishError>
    where
        F: FnMut(u64, &mut [u8]) -> (Header, usize),
    {
        self.check_len(max_len)?;
        self.check_frags(n)?;
        self.take_credits(n as u64)?;
        self.fill_batch(n, max_len, fill)
    }

    /// Writes (with `fill`) and publishes `n` frags; their credits (and `max_len <= mtu`)
    /// are checked by the caller.
    #[inline(always)]
    fn fill_batch<F>(&mut self, n: usize, max_len: usize, mut fill: F) -> Result<u64, PublishError>
    where
        F: FnMut(u64, &mut [u8]) -> (Header, usize),
    {
        let (dcache, mcache) = (self.parts.dcache, self.parts.mcache);
        // Dropped on every way out of this call, a panic of `fill` included: the producer
        // then continues after the frags that went out.
        let mut tail = Tail::new(self);
        for published in 0..n {
            let at = dcache.place(tail.cursor, max_len);
            // SAFETY: as in `write_frag` (in bounds, credit held, no lossy readers on an
            // `Exclusive` link). The slice lives only for this call of `fill` (its type is
            // higher-ranked, so `fill` cannot keep it), which ends before the frag is
            // published.
            let (hdr, used) = fill(tail.seq, unsafe { dcache.payload_mut(at, max_len) });
            if used > max_len {
                return Err(PublishError::Overfilled {
                    published,
                    len: used,
                    max: max_len,
                });
            }
            dcache.written(at, used);
            publish_meta::<Exclusive>(mcache, tail.seq, hdr, at, used, tail.bytes);
            tail.advance(at, used);
        }
        Ok(tail.first)
    }

    #[inline(always)]
    fn claim_region(&mut self, len: usize) -> WriteClaim<'_, 'a> {
        let at = self.parts.dcache.place(self.cursor, len);
        // SAFETY: as in `write_frag` (in bounds, credit held, no lossy readers); the slice
        // lives in the claim, which borrows this producer mutably, so nothing else writes
        // the store while it lives.
        let buf = unsafe { self.parts.dcache.region_mut(at, len) };
        WriteClaim {
            producer: self,
            buf,
            at,
            hdr: Header::default(),
        }
    }
}

/// Copies `payload` into the region at word `at` the way the write mode needs (plain
/// copies, or atomic word stores where lossy readers may be reading). The caller holds the
/// frag's credit and placed the region with [`DCache::place`] for `payload.len() <= mtu`.
#[inline(always)]
fn copy_in<W: WriteMode>(dcache: DCache<'_>, at: u32, payload: &[u8]) {
    let len = payload.len();
    if W::SHARED {
        // SAFETY: `place` keeps the region inside the store and `len <= mtu`. Its words
        // were last used by a frag at least `depth + 1` back (the placement rule in
        // `dcache`: each frag starts at most `ceil(mtu / 64)` fresh chunks of a store of
        // `depth + 2` such runs), and the producer holds a credit, so no reliable
        // consumer still holds that frag; frags sharing a chunk use disjoint words.
        // Lossy readers only copy with atomic loads and re-check the slot after.
        unsafe { dcache.write_shared(at, payload) };
    } else {
        // SAFETY: as above; with no lossy readers, nobody else touches the region while
        // this single producer writes it.
        unsafe { dcache.payload_mut(at, len) }.copy_from_slice(payload);
        dcache.written(at, len);
    }
}

/// Publishes frag `seq` (payload of `len` bytes at word `at`) in the mcache: the gated
/// publish, or the seqlock one with the ledger (`bytes_before`: the payload bytes
/// published before it) on a link with lossy readers. One frag, one slot, in seq order:
/// every publish path of the producer goes through here.
#[inline(always)]
fn publish_meta<W: WriteMode>(
    mcache: MCache<'_>,
    seq: u64,
    hdr: Header,
    at: u32,
    len: usize,
    bytes_before: u64,
) {
    let meta = FragMeta {
        seq,
        sig: hdr.sig,
        offset: at,
        sz: len as u16,
        ctl: hdr.ctl,
        tsorig: hdr.tsorig,
        tspub: hdr.tspub,
    };
    if W::SHARED {
        mcache.publish_with_ledger(&meta, bytes_before);
    } else {
        mcache.publish_gated(&meta);
    }
}

/// A batch publish under way: where the stream stands after the frags published so far,
/// kept in locals (registers) rather than in the producer. Dropped, on every way out of
/// the batch (a panic of an in-place batch's closure included), it stores that into the
/// producer once: its seq, cursor, credits and counters, and the cnc's copy of the
/// counters. So the producer never reuses the seq of a frag it published, and the counters
/// in the cnc are at most one batch behind the mcache while it runs (a batch has at most
/// `cr_max <= depth` frags: `Resume::find` looks that far past them).
struct Tail<'p, 'a, W: WriteMode> {
    producer: &'p mut Producer<'a, W>,
    /// The batch's first seq.
    first: u64,
    /// The next frag's seq, where its payload may go, and the bytes published before it.
    seq: u64,
    cursor: u32,
    bytes: u64,
}

impl<'p, 'a, W: WriteMode> Tail<'p, 'a, W> {
    #[inline(always)]
    fn new(producer: &'p mut Producer<'a, W>) -> Self {
        Tail {
            first: producer.tx_seq,
            seq: producer.tx_seq,
            cursor: producer.cursor,
            bytes: producer.counters.published_bytes,
            producer,
        }
    }

    /// The frag `seq` (payload of `len` bytes at word `at`) is published.
    #[inline(always)]
    fn advance(&mut self, at: u32, len: usize) {
        self.seq = seq::inc(self.seq, 1);
        self.cursor = DCache::after(at, len);
        // Wraps, as in `publish_region`.
        self.bytes = self.bytes.wrapping_add(len as u64);
    }
}

impl<W: WriteMode> Drop for Tail<'_, '_, W> {
    #[inline(always)]
    fn drop(&mut self) {
        let n = self.seq.wrapping_sub(self.first);
        if n == 0 {
            return;
        }
        let p = &mut *self.producer;
        p.tx_seq = self.seq;
        p.cursor = self.cursor;
        // `n` is at most the credits the caller checked.
        p.cr_avail -= n;
        p.counters.published_frags = p.counters.published_frags.wrapping_add(n);
        p.counters.published_bytes = self.bytes;
        p.parts
            .cnc
            .publish_tx(p.counters.published_frags, p.counters.published_bytes);
    }
}

impl<W: WriteMode> Drop for Producer<'_, W> {
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
        self.hook.leave();
    }
}

impl<W: WriteMode> fmt::Debug for Producer<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("next_seq", &self.tx_seq)
            .field("credits", &self.cr_avail)
            .field("mtu", &self.mtu())
            .field("shared", &W::SHARED)
            .finish_non_exhaustive()
    }
}

/// Payload space claimed by [`Producer::try_claim`]: write the payload through `DerefMut`,
/// then [`commit`](Self::commit). Dropped without a commit, nothing is published.
///
/// The claim holds its region as a pointer and forms the `&mut [u8]` only for the
/// duration of a `deref_mut` borrow, so committing it by value publishes no memory that a
/// live reference still covers.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{Header, PublishError};
///
/// let (mut tx, mut rx) = Link::builder().depth(4).mtu(64).heap_pair()?;
/// drop(tx.try_claim(8)?); // abandoned: nothing is published
/// assert!(rx.try_recv().is_err());
///
/// let mut claim = tx.try_claim(8)?;
/// assert_eq!(claim.len(), 8);
/// claim.copy_from_slice(b"in place");
/// claim.set_header(Header::new(5));
/// assert_eq!(claim.commit(8), Ok(0)); // published as seq 0
/// let frag = rx.try_recv()?;
/// assert_eq!((frag.sig(), frag.payload()), (5, &b"in place"[..]));
/// drop(frag);
///
/// let claim = tx.try_claim(4)?;
/// assert_eq!(claim.commit(5), Err(PublishError::TooLarge { len: 5, max: 4 }));
/// assert_eq!(tx.next_seq(), 1); // that claim was abandoned too
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WriteClaim<'p, 'a> {
    producer: &'p mut Producer<'a, Exclusive>,
    buf: RegionMut<'p>,
    at: u32,
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
        self.producer.parts.dcache.written(self.at, len);
        Ok(self.producer.publish_region(self.hdr, self.at, len))
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
    #[inline]
    fn deref(&self) -> &[u8] {
        self.buf.get()
    }
}

impl DerefMut for WriteClaim<'_, '_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut()
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
