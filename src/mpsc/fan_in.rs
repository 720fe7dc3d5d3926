//! Fan-in: one consumer over several SPSC links, polled in a fair order.

use core::fmt;
use core::marker::PhantomData;

use crate::error::RecvError;
use crate::metrics::Metrics;
use crate::spsc::{Batch, Consumer, ReadGuard};
use crate::wait::Wait;

/// Rounds (of `n` frags served, for `n` links) between two reshuffles of the polling
/// order, by default.
const RESHUFFLE_ROUNDS: u64 = 4;

/// The default seed of the order's generator.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// One consumer over `n` SPSC links, each with its own producer, credits, metrics and
/// order: `S` holds the links' [`Consumer`]s (an array `[Consumer; N]` for inline storage,
/// a `Vec` on the heap, or anything that lends a slice of them).
///
/// Each [`poll`](Self::poll) or [`batch`](Self::batch) serves the first link that has a
/// frag, trying the links in the current order from where the last call left off: after
/// serving a link it moves on to the next one, so links that stay busy take turns (round
/// robin). The order visits link `(start + k * stride) % n` at step `k`, with `stride`
/// coprime to `n`; `start` and `stride` are redrawn every few rounds from a small
/// xorshift generator, so no link is always first and no link always follows the same
/// other link (which would give it the turns of an idle neighbour). A link that stays ready
/// is served at least once in every `2n - 1` calls that serve a frag.
///
/// Frags of one link arrive in that link's order; there is no order across links. The
/// stream ends ([`RecvError::Closed`]) when every link is closed and drained.
///
/// ```
/// use milonga::mpsc::{FanIn, FanInHandles};
///
/// use milonga::{FlowConfig, Header};
///
/// let FanInHandles { producers: mut txs, consumer: mut rx } = FanIn::builder().producers(3).depth(8).mtu(64).heap().unwrap();
/// for (p, tx) in txs.iter_mut().enumerate() {
///     tx.try_publish(Header::new(p as u64), b"a").unwrap();
///     tx.try_publish(Header::new(p as u64), b"b").unwrap();
/// }
/// let mut served = Vec::new();
/// while let Ok((link, frag)) = rx.poll() {
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
    /// The largest mtu over the links (for batch budgets).
    mtu: usize,
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
        let mtu = links.as_ref().iter().map(|c| c.mtu()).max().unwrap_or(0);
        let mut fan = FanIn {
            links,
            n,
            start: 0,
            stride: 1,
            step: 0,
            served: 0,
            reshuffle_every: RESHUFFLE_ROUNDS.saturating_mul(n as u64),
            rng: seed | 1,
            mtu,
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
    /// [`RecvError::Empty`] if no link has a frag, [`RecvError::Closed`] if every link is
    /// closed and drained, [`RecvError::Corrupt`] as for [`Consumer::poll`].
    #[inline]
    pub fn poll(&mut self) -> Result<(usize, ReadGuard<'_, 'a>), RecvError> {
        let i = self.next_ready()?;
        let frag = self.links.as_mut()[i].poll()?;
        Ok((i, frag))
    }

    /// [`poll`](Self::poll), waiting with `wait` while no link has a frag.
    ///
    /// # Errors
    /// As [`poll`](Self::poll) except `Empty`; [`RecvError::Timeout`] if the wait strategy
    /// gives up.
    pub fn recv<W: Wait>(&mut self, wait: W) -> Result<(usize, ReadGuard<'_, 'a>), RecvError> {
        let i = self.wait_ready(wait)?;
        let frag = self.links.as_mut()[i].poll()?;
        Ok((i, frag))
    }

    /// Lends a batch (as [`Consumer::batch`]) from the first link in the current order that
    /// has a frag, with the link's index. One call serves one link.
    ///
    /// # Errors
    /// [`RecvError::BadBudget`] if `max_frags` is 0 or `max_bytes` is below the largest
    /// mtu of the links; otherwise as [`poll`](Self::poll).
    pub fn batch(
        &mut self,
        max_frags: usize,
        max_bytes: usize,
    ) -> Result<(usize, Batch<'_, 'a>), RecvError> {
        self.check_budget(max_frags, max_bytes)?;
        let i = self.next_ready()?;
        let batch = self.links.as_mut()[i].batch(max_frags, max_bytes)?;
        Ok((i, batch))
    }

    /// [`batch`](Self::batch), waiting with `wait` while no link has a frag.
    ///
    /// # Errors
    /// As [`batch`](Self::batch) and [`recv`](Self::recv).
    pub fn recv_batch<W: Wait>(
        &mut self,
        max_frags: usize,
        max_bytes: usize,
        wait: W,
    ) -> Result<(usize, Batch<'_, 'a>), RecvError> {
        self.check_budget(max_frags, max_bytes)?;
        let i = self.wait_ready(wait)?;
        let batch = self.links.as_mut()[i].batch(max_frags, max_bytes)?;
        Ok((i, batch))
    }

    /// Reports every link's progress and counters now.
    pub fn housekeeping(&mut self) {
        for c in self.links.as_mut() {
            c.housekeeping();
        }
    }

    fn check_budget(&self, max_frags: usize, max_bytes: usize) -> Result<(), RecvError> {
        if max_frags == 0 || max_bytes < self.mtu {
            return Err(RecvError::BadBudget {
                max_frags,
                max_bytes,
                mtu: self.mtu,
            });
        }
        Ok(())
    }

    fn wait_ready<W: Wait>(&mut self, mut wait: W) -> Result<usize, RecvError> {
        wait.reset();
        loop {
            match self.next_ready() {
                Err(RecvError::Empty) => {
                    if !wait.wait() {
                        return Err(RecvError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// The first link, in the current order from the current step, whose next frag is
    /// ready; the order moves on past it.
    #[inline]
    fn next_ready(&mut self) -> Result<usize, RecvError> {
        let n = self.n;
        let mut closed = 0;
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
                Err(RecvError::Closed) => closed += 1,
                Err(RecvError::Empty) => {}
                Err(e) => {
                    // Do not come back to a corrupt link first.
                    self.step = (k + 1) % n;
                    return Err(e);
                }
            }
        }
        Err(if closed == n {
            RecvError::Closed
        } else {
            RecvError::Empty
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
