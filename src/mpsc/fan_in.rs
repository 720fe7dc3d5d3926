//! Fan-in: one consumer over several SPSC links, polled in a fair order.

use core::fmt;
use core::marker::PhantomData;

use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::metrics::Metrics;
use crate::spsc::{Batch, Budget, Consumer, ReadGuard};
use crate::wait::{retry, Strategy, Wait};

/// Rounds (of `n` frags served, for `n` links) between two reshuffles of the polling
/// order, by default.
const RESHUFFLE_ROUNDS: u64 = 4;

/// The default seed of the order's generator.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// One consumer over `n` SPSC links, each with its own producer, credits, metrics and
/// order: `S` holds the links' [`Consumer`]s (an array `[Consumer; N]` for inline storage,
/// a `Vec` on the heap, or anything that lends a slice of them).
///
/// Each [`try_recv`](Self::try_recv) or [`try_batch`](Self::try_batch) (and their
/// blocking forms) serves the first link that has a
/// frag, trying the links in the current order from where the last call left off: after
/// serving a link it moves on to the next one, so links that stay busy take turns (round
/// robin). The order visits link `(start + k * stride) % n` at step `k`, with `stride`
/// coprime to `n`; `start` and `stride` are redrawn every few rounds from a small
/// xorshift generator, so no link is always first and no link always follows the same
/// other link (which would give it the turns of an idle neighbour). A link that stays ready
/// is served at least once in every `2n - 1` calls that serve a frag.
///
/// Frags of one link arrive in that link's order; there is no order across links. The
/// stream ends when every link is closed and drained: [`RecvError::Closed`], or
/// [`RecvError::Failed`] if any link's producer died.
///
/// ```
/// use milonga::mpsc::{FanIn, FanInHandles};
/// use milonga::Header;
///
/// let FanInHandles { producers: mut txs, consumer: mut rx } =
///     FanIn::builder().producers(3).depth(8).mtu(64).heap().unwrap();
/// for (p, tx) in txs.iter_mut().enumerate() {
///     tx.try_publish(Header::new(p as u64), b"a").unwrap();
///     tx.try_publish(Header::new(p as u64), b"b").unwrap();
/// }
/// let mut served = Vec::new();
/// while let Ok((link, frag)) = rx.try_recv() {
///     assert_eq!(frag.sig(), link as u64);
///     served.push((link, frag.payload()[0]));
/// }
/// served.sort_by_key(|&(link, _)| link); // stable: each link's own order is kept
/// assert_eq!(served, [(0, b'a'), (0, b'b'), (1, b'a'), (1, b'b'), (2, b'a'), (2, b'b')]);
/// ```
pub struct FanIn<'a, S> {
    links: S,
    n: usize,
    /// The order: step `k` visits link `(start + k * stride) % n`.
    start: usize,
    stride: usize,
    /// The step the next call tries first.
    step: usize,
    /// Frags (or batches) served, and how many between reshuffles (0: never).
    served: u64,
    reshuffle_every: u64,
    rng: u64,
    wait: Strategy,
    link: PhantomData<Consumer<'a>>,
}

impl<'a, S: AsRef<[Consumer<'a>]> + AsMut<[Consumer<'a>]>> FanIn<'a, S> {
    /// A fan-in over `links`, polled in a reshuffled round-robin order.
    pub fn new(links: S) -> Self {
        Self::with_seed(links, SEED)
    }

    /// [`new`](Self::new) with this seed for the order's generator (equal seeds give
    /// equal orders).
    pub fn with_seed(links: S, seed: u64) -> Self {
        let n = links.as_ref().len();
        let mut fan = FanIn {
            links,
            n,
            start: 0,
            stride: 1,
            step: 0,
            served: 0,
            reshuffle_every: RESHUFFLE_ROUNDS.saturating_mul(n as u64),
            rng: seed | 1,
            wait: Strategy::default(),
            link: PhantomData,
        };
        fan.reshuffle();
        fan
    }

    /// Reshuffle the order every `rounds` rounds of `n` frags served (0: never; the order
    /// then stays plain round robin from a fixed start). The default is 4.
    pub fn reshuffle_every(&mut self, rounds: u64) {
        self.reshuffle_every = rounds.saturating_mul(self.n as u64);
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

    /// The links whose next frag is published, in link order, without reading anything:
    /// one load of one slot per link.
    ///
    /// ```
    /// # use milonga::mpsc::{FanIn, FanInHandles};
    /// # use milonga::Header;
    /// let FanInHandles { producers: mut txs, consumer: rx } =
    ///     FanIn::builder().producers(3).depth(8).mtu(64).heap().unwrap();
    /// txs[2].try_publish(Header::new(0), b"x").unwrap();
    /// assert!(rx.ready().eq([2]));
    /// ```
    pub fn ready(&self) -> impl Iterator<Item = usize> + '_ {
        self.links
            .as_ref()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ready())
            .map(|(i, _)| i)
    }

    /// The number of links.
    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    /// There are no links (such a fan-in is closed from the start).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The consumer of link `i` (its counters, next seq, cnc, metrics).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn link(&self, i: usize) -> &Consumer<'a> {
        &self.links.as_ref()[i]
    }

    /// The consumer of link `i`, to set its filter or clock, or to read it directly.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn link_mut(&mut self, i: usize) -> &mut Consumer<'a> {
        &mut self.links.as_mut()[i]
    }

    /// A metrics handle per link, in link order.
    pub fn metrics(&self) -> impl Iterator<Item = Metrics<'a>> + '_ {
        self.links.as_ref().iter().map(|c| c.metrics())
    }

    /// The links' consumers back.
    pub fn into_inner(self) -> S {
        self.links
    }

    /// Lends the next frag of the first link in the current order that has one, with the
    /// link's index.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] if no link has a frag; `Closed` (or `Failed`, if any
    /// link's producer died) once every link is closed and drained; `Corrupt` as for
    /// [`Consumer::try_recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<(usize, ReadGuard<'_, 'a>), TryRecvError> {
        let (i, frag) = self.take(Consumer::next_frag)?;
        Ok((i, self.links.as_mut()[i].lend(frag)))
    }

    /// [`try_recv`](Self::try_recv), waiting with the fan-in's [`Strategy`] while no link
    /// has a frag.
    ///
    /// # Errors
    /// Only at the end of every link's stream, or on a fault.
    pub fn recv(&mut self) -> Result<(usize, ReadGuard<'_, 'a>), RecvError> {
        let (i, frag) = self.wait_take(Consumer::next_frag)?;
        Ok((i, self.links.as_mut()[i].lend(frag)))
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
    ) -> Result<(usize, ReadGuard<'_, 'a>), RecvTimeoutError> {
        match crate::wait::deadline_in(timeout) {
            Some(deadline) => self.recv_with(self.wait.until(deadline)),
            None => Ok(self.recv()?),
        }
    }

    /// [`recv`](Self::recv), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] if `wait` gives up; otherwise as
    /// [`recv`](Self::recv).
    pub fn recv_with<W: Wait>(
        &mut self,
        wait: W,
    ) -> Result<(usize, ReadGuard<'_, 'a>), RecvTimeoutError> {
        let (i, frag) = self.wait_take_with(wait, Consumer::next_frag)?;
        Ok((i, self.links.as_mut()[i].lend(frag)))
    }

    /// Lends a batch (as [`Consumer::try_batch`]) from the first link in the current order
    /// that has a frag, with the link's index. One call serves one link.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    pub fn try_batch(&mut self, budget: Budget) -> Result<(usize, Batch<'_, 'a>), TryRecvError> {
        let (i, run) = self.take(|c| c.scan(budget))?;
        Ok((i, Batch::new(&mut self.links.as_mut()[i], run)))
    }

    /// [`try_batch`](Self::try_batch), waiting with the fan-in's [`Strategy`] while no
    /// link has a frag.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_batch(&mut self, budget: Budget) -> Result<(usize, Batch<'_, 'a>), RecvError> {
        let (i, run) = self.wait_take(|c| c.scan(budget))?;
        Ok((i, Batch::new(&mut self.links.as_mut()[i], run)))
    }

    /// [`recv_batch`](Self::recv_batch), waiting with `wait` (for this call).
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with).
    pub fn recv_batch_with<W: Wait>(
        &mut self,
        budget: Budget,
        wait: W,
    ) -> Result<(usize, Batch<'_, 'a>), RecvTimeoutError> {
        let (i, run) = self.wait_take_with(wait, |c| c.scan(budget))?;
        Ok((i, Batch::new(&mut self.links.as_mut()[i], run)))
    }

    /// Reports every link's progress and counters now.
    pub fn housekeeping(&mut self) {
        for c in self.links.as_mut() {
            c.housekeeping();
        }
    }

    /// The next ready link and what `read` finds there, borrowing nothing (so that the
    /// wait loops can retry it). `read` may still find nothing (`Empty`): a filter that
    /// changes its answer can reject, on the second look, the frag it let through when
    /// the link was picked; the frag is then released and counted as filtered.
    #[inline]
    fn take<R>(
        &mut self,
        read: impl FnOnce(&mut Consumer<'a>) -> Result<R, TryRecvError>,
    ) -> Result<(usize, R), TryRecvError> {
        let i = self.next_ready()?;
        Ok((i, read(&mut self.links.as_mut()[i])?))
    }

    /// [`take`](Self::take), waiting with the fan-in's strategy.
    fn wait_take<R>(
        &mut self,
        mut read: impl FnMut(&mut Consumer<'a>) -> Result<R, TryRecvError>,
    ) -> Result<(usize, R), RecvError> {
        loop {
            match retry(self.wait.waiter(), TryRecvError::Empty, || {
                self.take(&mut read)
            }) {
                Ok(Some(taken)) => return Ok(taken),
                Ok(None) => continue, // a waiter without deadline never gives up
                Err(e) => return Err(e.end()),
            }
        }
    }

    /// [`take`](Self::take), waiting with `wait`.
    fn wait_take_with<W: Wait, R>(
        &mut self,
        wait: W,
        mut read: impl FnMut(&mut Consumer<'a>) -> Result<R, TryRecvError>,
    ) -> Result<(usize, R), RecvTimeoutError> {
        match retry(wait, TryRecvError::Empty, || self.take(&mut read)) {
            Ok(Some(taken)) => Ok(taken),
            Ok(None) => Err(RecvTimeoutError::Timeout),
            Err(e) => Err(e.end().into()),
        }
    }

    /// The first link, in the current order from the current step, whose next frag is
    /// ready; the order moves on past it.
    #[inline]
    fn next_ready(&mut self) -> Result<usize, TryRecvError> {
        let n = self.n;
        let (mut closed, mut failed) = (0, false);
        let links = self.links.as_mut();
        for t in 0..n {
            let k = (self.step + t) % n;
            // `k, stride < n`, and `n` (a count of consumers in memory) is far below 2^32,
            // so the product fits.
            let i = (self.start + (k as u64 * self.stride as u64 % n as u64) as usize) % n;
            match links[i].ready() {
                Ok(()) => {
                    self.step = (k + 1) % n;
                    self.served += 1;
                    if self.reshuffle_every != 0 && self.served.is_multiple_of(self.reshuffle_every)
                    {
                        self.reshuffle();
                    }
                    return Ok(i);
                }
                Err(TryRecvError::Closed) => closed += 1,
                Err(TryRecvError::Failed) => {
                    closed += 1;
                    failed = true;
                }
                Err(TryRecvError::Empty) => {}
                Err(e) => {
                    // Do not come back to a corrupt link first.
                    self.step = (k + 1) % n;
                    return Err(e);
                }
            }
        }
        Err(match (closed == n, failed) {
            (true, false) => TryRecvError::Closed,
            (true, true) => TryRecvError::Failed,
            _ => TryRecvError::Empty,
        })
    }

    /// Draws a new order: a start and a stride coprime to `n`; the next call tries its
    /// first step.
    fn reshuffle(&mut self) {
        let n = self.n.max(1);
        self.start = (self.next_random() % n as u64) as usize;
        let mut stride = (self.next_random() % n as u64) as usize;
        while gcd(stride, n) != 1 {
            stride = (stride + 1) % n;
        }
        self.stride = stride;
        self.step = 0;
    }

    /// xorshift64*.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl<S> fmt::Debug for FanIn<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanIn")
            .field("links", &self.n)
            .field("start", &self.start)
            .field("stride", &self.stride)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::gcd;

    #[test]
    fn gcd_finds_coprime_strides() {
        assert_eq!(gcd(0, 1), 1);
        assert_eq!(gcd(0, 4), 4);
        assert_eq!(gcd(6, 4), 2);
        assert_eq!(gcd(3, 8), 1);
    }
}
