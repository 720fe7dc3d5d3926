//! Batches: several frags lent at once, their credits returned together.

use core::cell::Cell;
use core::fmt;

use crate::dcache::DCache;
use crate::frag::{Ctl, FragMeta};
use crate::mcache::MCache;
use crate::seq;
use crate::spsc::{Consumer, SigFilter};

/// A frag borrowed from a [`Batch`] (or a [`ReadGuard`](crate::spsc::ReadGuard)).
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

/// Consecutive frags lent by [`Consumer::batch`].
///
/// Iterate it with [`iter`](Self::iter) (as often as needed: the frags stay lent until the
/// batch ends). When it ends, credits go back:
/// - [`commit`](Self::commit): for every frag of the batch;
/// - drop: only for the frags some iterator reached, counted from the start of the batch;
///   the others are lent again by the next read.
pub struct Batch<'c, 'a> {
    consumer: &'c mut Consumer<'a>,
    start: u64,
    /// Frags in the run, filtered ones included.
    raw: usize,
    len: usize,
    bytes: usize,
    /// How many frags of the run, from its start, some iterator has gone past (filtered
    /// ones included). Only this is kept per frag; what they add up to is counted when the
    /// batch ends.
    reached: Cell<usize>,
}

impl<'c, 'a> Batch<'c, 'a> {
    pub(crate) fn new(
        consumer: &'c mut Consumer<'a>,
        start: u64,
        raw: usize,
        len: usize,
        bytes: usize,
    ) -> Self {
        Batch {
            consumer,
            start,
            raw,
            len,
            bytes,
            reached: Cell::new(0),
        }
    }

    /// Frags in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: an empty read is an error, not an empty batch.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Payload bytes in the batch.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The seq of the first frag.
    #[inline]
    pub fn first_seq(&self) -> u64 {
        self.start
    }

    /// The frags, in order, borrowed from this batch.
    #[inline]
    pub fn iter(&self) -> BatchIter<'_> {
        let (mcache, dcache) = self.consumer.views();
        BatchIter {
            mcache,
            dcache,
            filter: self.consumer.filter(),
            start: self.start,
            raw: self.raw,
            next: 0,
            left: self.len,
            reached: &self.reached,
        }
    }

    /// Ends the batch, returning the credits of all its frags.
    pub fn commit(self) {
        self.reached.set(self.raw);
    }

    /// Counts the first `n` frags of the run: (delivered, their bytes, filtered, their
    /// bytes). They are still held, so their slots still hold them.
    #[cold]
    fn count(&self, n: usize) -> (u64, u64, u64, u64) {
        let (mcache, _) = self.consumer.views();
        let filter = self.consumer.filter();
        let mut c = (0, 0, 0, 0);
        for i in 0..n {
            let meta = mcache.body_gated(seq::inc(self.start, i as u64));
            if filter.is_some_and(|f| !f(meta.sig)) {
                c.2 += 1;
                c.3 += meta.sz as u64;
            } else {
                c.0 += 1;
                c.1 += meta.sz as u64;
            }
        }
        c
    }
}

impl Drop for Batch<'_, '_> {
    fn drop(&mut self) {
        let n = self.reached.get();
        debug_assert!(n <= self.raw);
        let (frags, bytes, filtered, filtered_bytes) = if n == self.raw && self.len == self.raw {
            // The whole run, and the filter skipped none of it: the scan's totals.
            (self.len as u64, self.bytes as u64, 0, 0)
        } else {
            self.count(n)
        };
        self.consumer
            .release(frags, bytes, filtered, filtered_bytes);
    }
}

impl fmt::Debug for Batch<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("first_seq", &self.start)
            .field("len", &self.len)
            .field("bytes", &self.bytes)
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

/// The frags of a [`Batch`], in order.
pub struct BatchIter<'b> {
    mcache: MCache<'b>,
    dcache: DCache<'b>,
    filter: Option<SigFilter>,
    start: u64,
    raw: usize,
    next: usize,
    left: usize,
    reached: &'b Cell<usize>,
}

impl<'b> Iterator for BatchIter<'b> {
    type Item = Frag<'b>;

    #[inline]
    fn next(&mut self) -> Option<Frag<'b>> {
        while self.next < self.raw {
            let i = self.next;
            self.next += 1;
            // Seen ready by the batch's scan, and not released before the batch ends.
            let meta = self.mcache.body_gated(seq::inc(self.start, i as u64));
            let sz = meta.sz as usize;
            self.reached.set(self.reached.get().max(i + 1));
            if self.filter.is_some_and(|f| !f(meta.sig)) {
                continue;
            }
            self.left -= 1;
            // SAFETY: the batch's scan checked that this frag is published and in bounds;
            // the batch holds its credit until it ends, and the batch outlives the borrow
            // `'b`, so the producer cannot rewrite the region while the slice lives.
            let payload = unsafe { self.dcache.payload(meta.offset, sz) };
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
