//! The receiving end: batches formed by bytes, items and time, lent zero-copy.

use core::cell::Cell;
use core::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dispatch::stats::Shared;
use crate::dispatch::{DispatchStats, NextBatchError, TryNextBatchError};
use crate::seq;
use crate::spsc::{BatchIter, Consumer, Frag, Run};
use crate::sync::Ordering::Relaxed;
use crate::wait::{deadline_in, Strategy, Wait};

/// The receiving end of a dispatcher: hands out [`Batch`]es, in order, one at a time.
/// `Send`, not `Clone`: one consumer.
///
/// A batch begins with the oldest item not yet delivered, and the *interval* starts at
/// that item's time (see below). The batch closes at the first of:
/// - the next item would take it over `max_batch_bytes` (that item starts the next batch);
/// - its bytes reach `max_batch_bytes`, or its items `max_batch_items`;
/// - the interval elapses (an item whose time is past it starts the next batch);
/// - a shutdown begins, or every [`Dispatcher`](crate::dispatch::Dispatcher) handle is
///   gone: what was accepted is flushed without waiting for intervals.
///
/// So an item longer than `max_batch_bytes` goes out alone, and a batch is never empty.
/// Which items share a batch depends only on their order, sizes and times, not on when
/// the consumer asks.
///
/// **Item times.** An item enqueued into an idle dispatcher (nothing pending) gets a fresh
/// clock reading: it starts a batch. An item enqueued while others are pending gets a
/// recent reading the handles share, which a producer moves on when it finds the
/// dispatcher idle, and the consumer whenever it checks a waiting batch's interval and
/// finds the reading `interval / 16` old or more. So producers read the clock only when
/// the dispatcher is idle (the clock is most of an enqueue's cost otherwise), and an
/// item's time is never after its enqueue: at most `interval / 16` and one consumer poll
/// before it while the consumer waits for a batch to fill, and as old as the consumer's
/// last poll while it is busy with a batch (the items enqueued meanwhile then share
/// batches up to the byte and item limits, flushed as soon as it is back). Times can thus
/// only make batches close earlier or hold more items, never later.
/// [`enqueue_at`](crate::dispatch::Dispatcher::enqueue_at) gives an item the caller's
/// time.
///
/// The stream ends ([`next_batch`](Self::next_batch) returns `None`) after a shutdown
/// delivered everything, after a stop (what was not handed out is dropped and counted in
/// [`DispatchStats::dropped`]), or when every `Dispatcher` is gone and the rest was
/// delivered. Dropping the receiver stops the dispatcher.
pub struct Batches {
    consumer: Consumer<'static>,
    shared: Arc<Shared>,
    /// The batch being formed: its first `len` frags from the consumer's next seq.
    open: Open,
    ended: bool,
    wait: Strategy,
    local: Local,
}

#[derive(Clone, Copy, Debug, Default)]
struct Open {
    len: usize,
    bytes: usize,
    /// The first item's time.
    first: u64,
    /// A limit closed it: the next frag (if any) starts the next batch.
    closed: bool,
}

/// The consumer's own counts, stored to the shared ones once per batch.
#[derive(Clone, Copy, Debug, Default)]
struct Local {
    items: u64,
    bytes: u64,
    batches: u64,
    dropped: u64,
}

enum Poll {
    Ready,
    NotReady,
    Ended,
}

impl Batches {
    pub(crate) fn new(consumer: Consumer<'static>, shared: Arc<Shared>, wait: Strategy) -> Self {
        Batches {
            consumer,
            shared,
            open: Open::default(),
            ended: false,
            wait,
            local: Local::default(),
        }
    }

    /// The next batch, if one is complete now.
    ///
    /// # Errors
    /// [`TryNextBatchError::NotReady`] if none is, [`TryNextBatchError::Ended`] at the end
    /// of the stream.
    pub fn try_next_batch(&mut self) -> Result<Batch<'_>, TryNextBatchError> {
        match self.poll() {
            Poll::Ready => Ok(self.lend()),
            Poll::NotReady => Err(TryNextBatchError::NotReady),
            Poll::Ended => Err(TryNextBatchError::Ended),
        }
    }

    /// The next batch, waiting (with the receiver's [`Strategy`]) until one is complete;
    /// `None` at the end of the stream.
    ///
    /// ```
    /// use milonga::dispatch::Dispatcher;
    /// use std::time::Duration;
    ///
    /// let (tx, mut rx) = Dispatcher::builder().interval(Duration::from_secs(3600)).build()?;
    /// tx.enqueue(b"a")?;
    /// tx.enqueue(b"b")?;
    /// drop(tx); // no more producers: the rest is flushed, then the stream ends
    /// let batch = rx.next_batch().unwrap();
    /// assert_eq!(batch.iter().collect::<Vec<_>>(), [b"a", b"b"]);
    /// drop(batch);
    /// assert!(rx.next_batch().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_batch(&mut self) -> Option<Batch<'_>> {
        let mut waiter = self.wait.waiter();
        self.wait_for(&mut waiter).ok().map(|()| self.lend())
    }

    /// [`next_batch`](Self::next_batch), giving up after `timeout`.
    ///
    /// # Errors
    /// [`NextBatchError::Timeout`], or [`NextBatchError::Ended`] at the end of the stream.
    pub fn next_batch_timeout(&mut self, timeout: Duration) -> Result<Batch<'_>, NextBatchError> {
        match deadline_in(timeout) {
            Some(deadline) => self.next_batch_deadline(deadline),
            None => self.next_batch().ok_or(NextBatchError::Ended),
        }
    }

    /// [`next_batch`](Self::next_batch), giving up at `deadline`.
    ///
    /// # Errors
    /// As [`next_batch_timeout`](Self::next_batch_timeout).
    pub fn next_batch_deadline(&mut self, deadline: Instant) -> Result<Batch<'_>, NextBatchError> {
        let mut waiter = self.wait.until(deadline);
        self.wait_for(&mut waiter)?;
        Ok(self.lend())
    }

    /// How the receiver waits in [`next_batch`](Self::next_batch).
    pub fn set_wait(&mut self, wait: Strategy) {
        self.wait = wait;
    }

    /// The receiver's wait strategy.
    pub fn wait_strategy(&self) -> Strategy {
        self.wait
    }

    /// A snapshot of the dispatcher's counters.
    pub fn stats(&self) -> DispatchStats {
        self.shared.stats()
    }

    /// Runs `handler` on every batch, on a thread of its own, until the stream ends; see
    /// [`Worker`](crate::dispatch::Worker).
    pub fn spawn<F>(self, handler: F) -> std::io::Result<crate::dispatch::Worker>
    where
        F: FnMut(Batch<'_>) + Send + 'static,
    {
        crate::dispatch::worker::spawn(self, handler)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Polls until a batch is ready, the stream ends, or `waiter` gives up.
    fn wait_for<W: Wait>(&mut self, waiter: &mut W) -> Result<(), NextBatchError> {
        waiter.reset();
        loop {
            match self.poll() {
                Poll::Ready => return Ok(()),
                Poll::Ended => return Err(NextBatchError::Ended),
                Poll::NotReady => {
                    if !waiter.wait() {
                        return Err(NextBatchError::Timeout);
                    }
                }
            }
        }
    }

    /// Extends the open batch with what was published, and tells whether it is complete.
    fn poll(&mut self) -> Poll {
        if self.ended {
            return Poll::Ended;
        }
        let word = self.shared.admission.load();
        if word.stopped() {
            self.drop_the_rest();
            self.ended = true;
            return Poll::Ended;
        }
        if !self.open.closed {
            self.scan();
        }
        if self.open.closed {
            return Poll::Ready;
        }
        let next = seq::inc(self.consumer.next_seq(), self.open.len as u64);
        // Every producer handle is gone and all they published is scanned.
        let closed = self.consumer.cnc().ended(next).is_some();
        if self.open.len > 0 {
            let now = self.shared.clock.now();
            self.shared.refresh(now);
            let flush = word.shutting_down()
                || closed
                || now.saturating_sub(self.open.first) >= self.shared.settings.interval;
            if flush {
                return Poll::Ready;
            }
        } else if (word.shutting_down() && word.items() == 0) || closed {
            // After a shutdown, nothing is pending once the last batch was released: no
            // item can be admitted any more, and none is being published.
            self.ended = true;
            return Poll::Ended;
        }
        Poll::NotReady
    }

    /// Adds published frags to the open batch until one of its limits closes it.
    fn scan(&mut self) {
        let s = self.shared.settings;
        let (mcache, dcache) = self.consumer.views();
        let start = self.consumer.next_seq();
        let open = &mut self.open;
        while open.len < s.max_batch_items {
            let seq = seq::inc(start, open.len as u64);
            // The ring is gated by this consumer: a slot holds `seq` or an older frag.
            if mcache.poll(seq) != 0 {
                return;
            }
            let (offset, sz) = mcache.loc_gated(seq);
            // Only the dispatcher's own producers write this ring, with lengths checked
            // against the mtu; a frag out of bounds would be a bug in milonga.
            assert!(
                dcache.in_bounds(offset, sz),
                "dispatch ring corrupt at {seq}"
            );
            let at = mcache.sig_gated(seq);
            if open.len == 0 {
                open.first = at;
            } else if at.saturating_sub(open.first) >= s.interval
                || (s.max_batch_bytes > 0 && open.bytes + sz > s.max_batch_bytes)
            {
                open.closed = true;
                return;
            }
            open.len += 1;
            open.bytes += sz;
            if s.max_batch_bytes > 0 && open.bytes >= s.max_batch_bytes {
                open.closed = true;
                return;
            }
        }
        open.closed = true;
    }

    /// Lends the open batch (which `poll` found ready) and starts a new one.
    fn lend(&mut self) -> Batch<'_> {
        let open = core::mem::take(&mut self.open);
        debug_assert!(open.len > 0);
        let run = Run {
            start: self.consumer.next_seq(),
            raw: open.len,
            len: open.len,
            bytes: open.bytes,
            rejected: 0,
            rejected_bytes: 0,
        };
        Batch {
            rx: self,
            run,
            reached: Cell::new(0),
        }
    }

    /// After a stop: releases everything published and not handed out, counting it as
    /// dropped, until no admitted item is left (producers that were admitted before the
    /// stop publish without waiting, so this ends).
    fn drop_the_rest(&mut self) {
        self.open = Open::default();
        loop {
            let (mut n, mut bytes) = (0u64, 0u64);
            {
                let (mcache, _) = self.consumer.views();
                let start = self.consumer.next_seq();
                while mcache.poll(seq::inc(start, n)) == 0 {
                    bytes += mcache.loc_gated(seq::inc(start, n)).1 as u64;
                    n += 1;
                }
            }
            if n > 0 {
                self.release(n, bytes);
                self.local.dropped += n;
                self.shared.out.dropped.store(self.local.dropped, Relaxed);
            }
            if self.shared.admission.load().items() == 0 {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Returns `n` frags to the ring, tells the producers, then frees their admission.
    fn release(&mut self, n: u64, bytes: u64) {
        self.consumer.release(n, bytes, 0, 0);
        // Admission step 2: the ring's free slots are published before the admission
        // that lets producers claim them.
        self.consumer.housekeeping();
        self.shared.admission.release(n, bytes);
    }
}

impl Drop for Batches {
    /// Stops the dispatcher (enqueues then fail with
    /// [`Stopped`](crate::dispatch::EnqueueError::Stopped)) and counts what was not
    /// delivered as dropped.
    fn drop(&mut self) {
        self.shared.admission.stop();
        self.drop_the_rest();
    }
}

impl fmt::Debug for Batches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batches")
            .field("next_seq", &self.consumer.next_seq())
            .field("open_items", &self.open.len)
            .field("ended", &self.ended)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// One batch of items, lent zero-copy from the dispatcher's ring: the items stay valid
/// until the batch is dropped, which releases them (and their bytes, for new enqueues).
///
/// ```
/// use milonga::dispatch::Dispatcher;
/// use std::time::Duration;
///
/// let (tx, mut rx) = Dispatcher::builder()
///     .interval(Duration::from_secs(3600))
///     .max_batch_bytes(6)
///     .build()?;
/// for item in [&b"abc"[..], b"de", b"fg"] {
///     tx.enqueue(item)?;
/// }
/// let batch = rx.try_next_batch()?; // "fg" would take it over 6 bytes: closed
/// assert_eq!((batch.len(), batch.bytes()), (2, 5));
/// for item in &batch {
///     assert!(item.len() <= 3);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Batch<'r> {
    rx: &'r mut Batches,
    run: Run,
    reached: Cell<usize>,
}

impl<'r> Batch<'r> {
    /// Items in the batch (never zero).
    #[inline]
    pub fn len(&self) -> usize {
        self.run.len
    }

    /// Never true: a batch has at least one item.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.run.len == 0
    }

    /// The items' bytes.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.run.bytes
    }

    /// The items, in order.
    #[inline]
    pub fn iter(&self) -> Items<'_> {
        Items(self.frags())
    }

    /// The items as frags: `seq()` is the item's place in the dispatcher's total order,
    /// `sig()` its time (clock ticks; see [`Batches`]), `meta().tsorig` the same time
    /// compressed.
    #[inline]
    pub fn frags(&self) -> BatchIter<'_> {
        let (mcache, dcache) = self.rx.consumer.views();
        BatchIter::new(mcache, dcache, self.run, &self.reached)
    }

    /// The first item's time, in clock ticks (see [`Batches`]).
    pub fn first_enqueued(&self) -> u64 {
        let (mcache, _) = self.rx.consumer.views();
        mcache.sig_gated(self.run.start)
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let (n, bytes) = (self.run.len as u64, self.run.bytes as u64);
        let rx = &mut *self.rx;
        rx.release(n, bytes);
        rx.local.items += n;
        rx.local.bytes += bytes;
        rx.local.batches += 1;
        let out = &rx.shared.out;
        out.items.store(rx.local.items, Relaxed);
        out.bytes.store(rx.local.bytes, Relaxed);
        out.batches.store(rx.local.batches, Relaxed);
    }
}

impl<'b> IntoIterator for &'b Batch<'_> {
    type Item = &'b [u8];
    type IntoIter = Items<'b>;

    fn into_iter(self) -> Items<'b> {
        self.iter()
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("first_seq", &self.run.start)
            .field("len", &self.run.len)
            .field("bytes", &self.run.bytes)
            .finish()
    }
}

/// The items of a [`Batch`], in order: byte slices borrowed from the batch.
#[derive(Debug)]
pub struct Items<'b>(BatchIter<'b>);

impl<'b> Iterator for Items<'b> {
    type Item = &'b [u8];

    #[inline]
    fn next(&mut self) -> Option<&'b [u8]> {
        self.0.next().map(|f: Frag<'b>| f.payload())
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Items<'_> {}
