//! Batches: several frags lent at once, their credits returned together.

use core::cell::Cell;
use core::fmt;

use crate::dcache::DCache;
use crate::frag::{Ctl, FragMeta};
use crate::mcache::MCache;
use crate::seq;
use crate::spsc::Consumer;

/// A frag borrowed from a [`Batch`] (or a [`ReadGuard`](crate::spsc::ReadGuard)).
///
/// It is `Copy` and cannot outlive the batch or guard it was borrowed from, so code that
/// handles one frag serves both ways of reading:
///
/// ```
/// use milonga::spsc::{Budget, Frag, Link};
/// use milonga::Header;
///
/// fn sum(frag: Frag<'_>) -> u64 {
///     frag.payload().iter().map(|&b| u64::from(b)).sum()
/// }
///
/// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// for i in 1..=3u8 {
///     tx.try_publish(Header::new(u64::from(i)), &[i; 4])?;
/// }
/// let guard = rx.try_recv()?;
/// assert_eq!((guard.frag().seq(), sum(guard.frag())), (0, 4));
/// drop(guard);
/// let batch = rx.try_batch(Budget::default())?;
/// assert_eq!(batch.iter().map(sum).collect::<Vec<_>>(), [8, 12]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Frag<'b> {
    meta: FragMeta,
    payload: &'b [u8],
}

impl<'b> Frag<'b> {
    pub(crate) fn new(meta: FragMeta, payload: &'b [u8]) -> Self {
        Frag { meta, payload }
    }

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

    /// The payload, borrowed from the link's store for as long as the batch (or guard).
    #[inline]
    pub fn payload(&self) -> &'b [u8] {
        self.payload
    }
}

impl fmt::Debug for Frag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frag").field("meta", &self.meta).finish()
    }
}

/// The most frags of the stream (delivered and rejected) one batch spans when the
/// consumer has a filter: the batch keeps the filter's answers as one bit per frag.
///
/// ```
/// use milonga::spsc::{Budget, Link, SigFilter, FILTERED_RUN_MAX};
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(128).mtu(8).heap_pair()?;
/// rx.set_filter(Some(SigFilter::func(|sig| sig % 2 == 0)));
/// for i in 0..100u64 {
///     tx.try_publish(Header::new(i), b"x")?;
/// }
/// let batch = rx.try_batch(Budget::frags(100)?)?;
/// assert_eq!(batch.len(), FILTERED_RUN_MAX / 2); // 64 frags: every other one delivered
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const FILTERED_RUN_MAX: usize = 64;

/// What a batch scan found: the run of frags `start .. start + raw` a batch lends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) start: u64,
    /// Frags in the run, rejected ones included.
    pub(crate) raw: usize,
    /// Frags delivered, and their payload bytes.
    pub(crate) len: usize,
    pub(crate) bytes: usize,
    /// Bit `i` set: the filter rejected frag `start + i` (only with a filter, so then
    /// `raw <= FILTERED_RUN_MAX`).
    pub(crate) rejected: u64,
    /// Payload bytes of the rejected frags.
    pub(crate) rejected_bytes: usize,
}

impl Run {
    /// The filter rejected frag `i` of the run.
    #[inline(always)]
    fn rejects(&self, i: usize) -> bool {
        // A mask is only set with a filter, when `i < raw <= 64`.
        self.rejected != 0 && (self.rejected >> i) & 1 != 0
    }
}

/// Consecutive frags lent by [`Consumer::try_batch`] and [`Consumer::recv_batch`].
///
/// Iterate it with [`iter`](Self::iter) (as often as needed: the frags stay lent until the
/// batch ends). When it ends, credits go back:
/// - [`commit`](Self::commit): for every frag of the batch;
/// - drop: only for the frags some iterator reached, counted from the start of the batch;
///   the others are lent again by the next read.
///
/// A batch that is never dropped ([`mem::forget`](core::mem::forget)) returns nothing: the
/// next read lends the same frags again (each is counted once, when a batch or guard
/// holding it ends). This is memory-safe: the producer still cannot rewrite frags whose
/// credits did not go back.
///
/// ```
/// use milonga::spsc::{Budget, Link};
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// for i in 0..6u64 {
///     tx.try_publish(Header::new(i), &i.to_le_bytes())?;
/// }
/// let batch = rx.try_batch(Budget::frags(4)?)?;
/// assert_eq!((batch.first_seq(), batch.len(), batch.bytes()), (0, 4, 32));
/// let seen: Vec<u64> = batch.iter().take(2).map(|f| f.seq()).collect();
/// assert_eq!(seen, [0, 1]);
/// drop(batch); // only the two frags its iterator reached go back
///
/// let batch = rx.try_batch(Budget::frags(4)?)?;
/// assert_eq!((batch.first_seq(), batch.len()), (2, 4)); // the rest, lent again
/// batch.commit(); // every frag of it goes back
/// assert_eq!(rx.next_seq(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Batch<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    run: Run,
    /// How many frags of the run, from its start, some iterator has gone past (rejected
    /// ones included). Only this is kept per frag; what they add up to is counted when the
    /// batch ends.
    reached: Cell<usize>,
}

impl<'c, 'a> Batch<'c, 'a> {
    pub(crate) fn new(consumer: &'c mut Consumer<'a>, run: Run) -> Self {
        Batch {
            consumer,
            run,
            reached: Cell::new(0),
        }
    }

    /// Frags in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.run.len
    }

    /// Never true: an empty read is an error, not an empty batch.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.run.len == 0
    }

    /// Payload bytes in the batch.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.run.bytes
    }

    /// The seq of the first frag.
    #[inline]
    pub fn first_seq(&self) -> u64 {
        self.run.start
    }

    /// The frags, in order, borrowed from this batch.
    #[inline]
    pub fn iter(&self) -> BatchIter<'_> {
        let (mcache, dcache) = self.consumer.views();
        BatchIter {
            mcache,
            dcache,
            run: self.run,
            next: 0,
            left: self.run.len,
            reached: &self.reached,
        }
    }

    /// Ends the batch, returning the credits of all its frags.
    pub fn commit(self) {
        self.reached.set(self.run.raw);
    }

    /// The first delivered frag whose payload is not `sz` bytes, or that is an empty ERR
    /// frag (an abandoned claim), with its index among the delivered frags: for the typed
    /// layer, which lends only frags of its type's size. Reads only slots this batch holds,
    /// and marks nothing as reached.
    pub(crate) fn first_not_sized(&self, sz: usize) -> Option<(usize, FragMeta)> {
        let (mcache, _) = self.consumer.views();
        let mut delivered = 0;
        for i in 0..self.run.raw {
            if self.run.rejects(i) {
                continue;
            }
            let seq = seq::inc(self.run.start, i as u64);
            let got = mcache.loc_gated(seq).1;
            if got != sz || (got == 0 && mcache.body_gated(seq).ctl.err()) {
                return Some((delivered, mcache.body_gated(seq)));
            }
            delivered += 1;
        }
        None
    }

    /// Shortens the batch to its first `n` delivered frags (`n <= len()`, before any
    /// iterator ran) and the rejected frags among them; the frags after them stay unread.
    pub(crate) fn truncate(&mut self, n: usize) {
        debug_assert!(n <= self.run.len && self.reached.get() == 0);
        let (mcache, _) = self.consumer.views();
        let (mut raw, mut delivered, mut bytes, mut rejected_bytes) = (0, 0, 0, 0);
        while delivered < n {
            let sz = mcache.loc_gated(seq::inc(self.run.start, raw as u64)).1;
            if self.run.rejects(raw) {
                rejected_bytes += sz;
            } else {
                delivered += 1;
                bytes += sz;
            }
            raw += 1;
        }
        self.run.raw = raw;
        self.run.len = n;
        self.run.bytes = bytes;
        self.run.rejected_bytes = rejected_bytes;
        self.run.rejected &= 1u64.checked_shl(raw as u32).map_or(u64::MAX, |b| b - 1);
    }

    /// Counts the first `n` frags of the run: (delivered, their bytes, rejected, their
    /// bytes). They are still held, so their slots still hold them. Calls no user code
    /// (the filter's answers are in the run), so it is safe to run while unwinding.
    #[cold]
    fn count(&self, n: usize) -> (u64, u64, u64, u64) {
        let (mcache, _) = self.consumer.views();
        let mut c = (0, 0, 0, 0);
        for i in 0..n {
            let (_, sz) = mcache.loc_gated(seq::inc(self.run.start, i as u64));
            if self.run.rejects(i) {
                c.2 += 1;
                c.3 += sz as u64;
            } else {
                c.0 += 1;
                c.1 += sz as u64;
            }
        }
        c
    }
}

impl Drop for Batch<'_, '_> {
    fn drop(&mut self) {
        let n = self.reached.get();
        debug_assert!(n <= self.run.raw);
        let (frags, bytes, rejected, rejected_bytes) = if n == self.run.raw {
            // The whole run: the scan's totals.
            (
                self.run.len as u64,
                self.run.bytes as u64,
                (self.run.raw - self.run.len) as u64,
                self.run.rejected_bytes as u64,
            )
        } else {
            self.count(n)
        };
        self.consumer
            .release(frags, bytes, rejected, rejected_bytes);
    }
}

impl fmt::Debug for Batch<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("first_seq", &self.run.start)
            .field("len", &self.run.len)
            .field("bytes", &self.run.bytes)
            .finish()
    }
}

impl<'b> IntoIterator for &'b Batch<'_, '_> {
    type Item = Frag<'b>;
    type IntoIter = BatchIter<'b>;
    fn into_iter(self) -> BatchIter<'b> {
        self.iter()
    }
}

/// The frags of a [`Batch`], in order: from [`Batch::iter`] or a `for` loop over `&batch`.
/// An exact-size iterator; its frags borrow the batch, not the iterator.
///
/// ```
/// use milonga::spsc::{Budget, Link};
/// use milonga::Header;
///
/// let (mut tx, mut rx) = Link::builder().depth(8).mtu(8).heap_pair()?;
/// for i in 0..3u64 {
///     tx.try_publish(Header::new(i), &i.to_le_bytes())?;
/// }
/// let batch = rx.try_batch(Budget::default())?;
/// let iter = batch.iter();
/// assert_eq!(iter.len(), 3);
/// let values = iter.map(|f| u64::from_le_bytes(f.payload().try_into().unwrap()));
/// assert_eq!(values.sum::<u64>(), 3);
/// for frag in &batch {
///     assert_eq!(frag.sig(), frag.seq()); // the batch can be iterated again
/// }
/// batch.commit();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BatchIter<'b> {
    mcache: MCache<'b>,
    dcache: DCache<'b>,
    run: Run,
    next: usize,
    left: usize,
    reached: &'b Cell<usize>,
}

impl<'b> BatchIter<'b> {
    /// The frags of `run`, which its holder keeps lent for `'b`; `reached` records how
    /// far the iterator went.
    #[cfg(all(feature = "std", not(milonga_loom)))]
    pub(crate) fn new(
        mcache: MCache<'b>,
        dcache: DCache<'b>,
        run: Run,
        reached: &'b Cell<usize>,
    ) -> Self {
        BatchIter {
            mcache,
            dcache,
            run,
            next: 0,
            left: run.len,
            reached,
        }
    }
}

impl<'b> Iterator for BatchIter<'b> {
    type Item = Frag<'b>;

    #[inline]
    fn next(&mut self) -> Option<Frag<'b>> {
        while self.next < self.run.raw {
            let i = self.next;
            self.next += 1;
            if self.run.rejects(i) {
                self.reached.set(self.reached.get().max(i + 1));
                continue;
            }
            // Seen ready by the batch's scan, and not released before the batch ends.
            let meta = self.mcache.body_gated(seq::inc(self.run.start, i as u64));
            if !self.dcache.in_bounds(meta.offset, meta.sz as usize) {
                // The slot changed since the scan checked it: only a process that corrupts
                // a link in shared memory can do that. Nothing outside the store is read;
                // the batch ends before this frag, which is not reached (so not released):
                // the consumer's next read reports it `Corrupt`.
                self.next = self.run.raw;
                self.left = 0;
                return None;
            }
            self.reached.set(self.reached.get().max(i + 1));
            self.left -= 1;
            // SAFETY: in bounds (checked just above, on the very values used: metadata
            // from another process is untrusted); the batch's scan saw this frag
            // published, the batch holds its credit until it ends, and the batch outlives
            // the borrow `'b`, so the producer cannot rewrite the region while the slice
            // lives.
            let payload = unsafe { self.dcache.payload(meta.offset, meta.sz as usize) };
            return Some(Frag::new(meta, payload));
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for BatchIter<'_> {}

impl fmt::Debug for BatchIter<'_> {
    /// Where the iterator stands; no payload.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchIter")
            .field("next_seq", &seq::inc(self.run.start, self.next as u64))
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}
