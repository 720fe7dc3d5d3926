//! A consumer's published progress (the next seq it needs) and its diagnostic counters.
//!
//! The consumer is the only writer of its progress and of its counters; the producer is
//! the only writer of the `slow` counter (how often this consumer was the one that held it
//! back). Progress, consumer counters and the producer's counter each sit on their own
//! cache line: the producer reads the progress line only when it refreshes its credits.

use crate::sync::{AtomicBool, AtomicU64, CachePadded, Ordering::*, FSEQ_ACQUIRE, FSEQ_PUBLISH};

/// The consumer's progress. Written by the consumer only; read by the producer.
#[repr(C)]
struct Progress {
    /// The next seq the consumer needs: every frag before it has been released.
    seq: AtomicU64,
    /// The consumer is gone and no longer gates the producer.
    detached: AtomicBool,
}

/// What one consumer did with the frags published to it, as counted by the consumer.
///
/// At any quiescent point (producer halted, consumer drained),
/// `published = consumed + filtered + lost` holds in frags and in bytes, where
/// `lost = poll_lost + read_lost` frags and `lost_bytes` bytes.
///
/// A consumer has its own copy ([`Consumer::counters`](crate::spsc::Consumer::counters),
/// [`LossyConsumer::counters`](crate::spsc::LossyConsumer::counters)); any thread reads
/// the published one in a metrics snapshot
/// ([`ConsumerSnapshot::counters`](crate::metrics::ConsumerSnapshot::counters)).
///
/// ```
/// use milonga::spsc::{Link, SigFilter};
/// use milonga::{Header, LossyTryRecvError};
///
/// let Link { producer: mut tx, mut lossy, .. } =
///     Link::builder().depth(4).mtu(8).reliable(0).lossy(1).heap()?;
/// let rx = &mut lossy[0];
/// rx.set_filter(Some(SigFilter::func(|sig| sig % 2 == 0)));
/// for i in 0..6u64 {
///     tx.try_publish(Header::new(i), &[0; 8])?; // seqs 0 and 1 are lapped
/// }
/// tx.halt();
/// let mut buf = [0u8; 8];
/// loop {
///     match rx.try_recv(&mut buf) {
///         Ok(_) | Err(LossyTryRecvError::Overrun(_)) => {}
///         Err(_) => break, // closed and drained
///     }
/// }
/// let c = rx.counters();
/// assert_eq!((c.consumed_frags, c.filtered_frags, c.lost_frags()), (2, 2, 2));
/// assert_eq!(c.consumed_bytes + c.filtered_bytes + c.lost_bytes, 6 * 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConsumerCounters {
    /// Frags delivered to the application.
    pub consumed_frags: u64,
    /// Payload bytes delivered to the application.
    pub consumed_bytes: u64,
    /// Frags skipped by the consumer's `sig` filter.
    pub filtered_frags: u64,
    /// Payload bytes of the filtered frags.
    pub filtered_bytes: u64,
    /// Overruns found while polling: the slot already held a later frag (lossy only).
    pub poll_overruns: u64,
    /// Frags lost to overruns found while polling.
    pub poll_lost: u64,
    /// Overruns found while reading: the slot changed under the copy (lossy only).
    pub read_overruns: u64,
    /// Frags lost to overruns found while reading.
    pub read_lost: u64,
    /// Payload bytes of all lost frags.
    pub lost_bytes: u64,
}

impl ConsumerCounters {
    /// Frags lost to overruns of either kind.
    pub fn lost_frags(&self) -> u64 {
        self.poll_lost.wrapping_add(self.read_lost)
    }
}

/// The consumer's [`ConsumerCounters`] as last published, one atomic per field. Written by
/// the consumer only ([`Fseq::publish_counters`]); read by any thread ([`Fseq::counters`]).
#[repr(C)]
struct Diag {
    consumed_frags: AtomicU64,
    consumed_bytes: AtomicU64,
    filtered_frags: AtomicU64,
    filtered_bytes: AtomicU64,
    poll_overruns: AtomicU64,
    poll_lost: AtomicU64,
    read_overruns: AtomicU64,
    read_lost: AtomicU64,
    lost_bytes: AtomicU64,
}

/// A consumer's flow-control sequence and counters.
#[repr(C)]
pub(crate) struct Fseq {
    /// Written by the consumer.
    progress: CachePadded<Progress>,
    /// Written by the consumer.
    diag: CachePadded<Diag>,
    /// How often this consumer was the one that held the producer back. Written by the
    /// producer only ([`Fseq::publish_slow`]); read by any thread.
    slow: CachePadded<AtomicU64>,
}

macro_rules! fseq_new {
    ($seq0:expr) => {
        Fseq {
            progress: CachePadded::new(Progress {
                seq: AtomicU64::new($seq0),
                detached: AtomicBool::new(false),
            }),
            diag: CachePadded::new(Diag {
                consumed_frags: AtomicU64::new(0),
                consumed_bytes: AtomicU64::new(0),
                filtered_frags: AtomicU64::new(0),
                filtered_bytes: AtomicU64::new(0),
                poll_overruns: AtomicU64::new(0),
                poll_lost: AtomicU64::new(0),
                read_overruns: AtomicU64::new(0),
                read_lost: AtomicU64::new(0),
                lost_bytes: AtomicU64::new(0),
            }),
            slow: CachePadded::new(AtomicU64::new(0)),
        }
    };
}

impl Fseq {
    /// An fseq whose consumer starts at `seq0`.
    #[cfg(not(milonga_loom))]
    pub(crate) const fn new(seq0: u64) -> Fseq {
        fseq_new!(seq0)
    }

    /// See the non-loom variant.
    #[cfg(milonga_loom)]
    pub(crate) fn new(seq0: u64) -> Fseq {
        fseq_new!(seq0)
    }

    /// Consumer: every frag before `seq` is released (credit return). Release ordering:
    /// the consumer's reads of those payloads happen before the producer reuses them.
    #[inline(always)]
    pub(crate) fn publish(&self, seq: u64) {
        self.progress.seq.store(seq, FSEQ_PUBLISH);
    }

    /// Producer: the consumer's last published progress (credit refill).
    #[inline(always)]
    pub(crate) fn query(&self) -> u64 {
        self.progress.seq.load(FSEQ_ACQUIRE)
    }

    /// Consumer: it is gone; after this it never touches the link again.
    pub(crate) fn detach(&self) {
        self.progress.detached.store(true, Release);
    }

    /// Producer: the consumer is gone.
    #[inline]
    pub(crate) fn is_detached(&self) -> bool {
        self.progress.detached.load(Acquire)
    }

    /// Consumer: publishes its counters.
    #[inline]
    pub(crate) fn publish_counters(&self, c: &ConsumerCounters) {
        // Destructured, so a field added to `ConsumerCounters` cannot be left out here.
        let ConsumerCounters {
            consumed_frags,
            consumed_bytes,
            filtered_frags,
            filtered_bytes,
            poll_overruns,
            poll_lost,
            read_overruns,
            read_lost,
            lost_bytes,
        } = *c;
        let d = &self.diag;
        d.consumed_frags.store(consumed_frags, Relaxed);
        d.consumed_bytes.store(consumed_bytes, Relaxed);
        d.filtered_frags.store(filtered_frags, Relaxed);
        d.filtered_bytes.store(filtered_bytes, Relaxed);
        d.poll_overruns.store(poll_overruns, Relaxed);
        d.poll_lost.store(poll_lost, Relaxed);
        d.read_overruns.store(read_overruns, Relaxed);
        d.read_lost.store(read_lost, Relaxed);
        d.lost_bytes.store(lost_bytes, Relaxed);
    }

    /// Any thread: the consumer's counters as last published.
    pub(crate) fn counters(&self) -> ConsumerCounters {
        let d = &self.diag;
        ConsumerCounters {
            consumed_frags: d.consumed_frags.load(Relaxed),
            consumed_bytes: d.consumed_bytes.load(Relaxed),
            filtered_frags: d.filtered_frags.load(Relaxed),
            filtered_bytes: d.filtered_bytes.load(Relaxed),
            poll_overruns: d.poll_overruns.load(Relaxed),
            poll_lost: d.poll_lost.load(Relaxed),
            read_overruns: d.read_overruns.load(Relaxed),
            read_lost: d.read_lost.load(Relaxed),
            lost_bytes: d.lost_bytes.load(Relaxed),
        }
    }

    /// Producer: publishes how often this consumer held it back.
    #[inline]
    pub(crate) fn publish_slow(&self, slow: u64) {
        self.slow.store(slow, Relaxed);
    }

    /// Any thread: how often this consumer held the producer back.
    pub(crate) fn slow(&self) -> u64 {
        self.slow.load(Relaxed)
    }
}

#[cfg(all(test, not(milonga_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_field_by_field() {
        // Distinct values, so two fields crossed over would be caught.
        let c = ConsumerCounters {
            consumed_frags: 1,
            consumed_bytes: 2,
            filtered_frags: 3,
            filtered_bytes: 4,
            poll_overruns: 5,
            poll_lost: 6,
            read_overruns: 7,
            read_lost: 8,
            lost_bytes: 9,
        };
        let fseq = Fseq::new(0);
        assert_eq!(fseq.counters(), ConsumerCounters::default());
        fseq.publish_counters(&c);
        assert_eq!(fseq.counters(), c);
        fseq.publish_slow(10);
        assert_eq!((fseq.slow(), fseq.counters()), (10, c));
    }
}
