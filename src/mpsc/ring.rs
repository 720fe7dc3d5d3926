//! The handles of a shared ring, as one value with named fields.

use core::fmt;

use crate::mpsc::{RingMetrics, RingProducer};
use crate::spsc::Consumer;

/// A shared multi-producer ring, split into its handles: what
/// [`RingBuilder::heap`](crate::mpsc::RingBuilder::heap) (a heap ring, `Ring<'static>`) and
/// [`InlineRing::split`](crate::mpsc::InlineRing::split) (borrowing the inline ring)
/// return. Clone the producer for more producers.
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::Header;
///
/// let Ring { producer, mut consumer, metrics } = Ring::builder().depth(64).mtu(32).heap()?;
/// let second = producer.clone();
/// assert_eq!(producer.try_publish(Header::new(1), b"one")?, 0);
/// assert_eq!(second.try_publish(Header::new(2), b"two")?, 1);
/// assert_eq!(consumer.try_recv()?.payload(), b"one");
/// assert_eq!(metrics.snapshot().producers, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ring<'a> {
    /// The first producer handle (`Clone`: every clone is a producer).
    pub producer: RingProducer<'a>,
    /// The consumer: an SPSC [`Consumer`], reading the frags in seq order.
    pub consumer: Consumer<'a>,
    /// A handle for taking metrics snapshots of the ring from any thread.
    pub metrics: RingMetrics<'a>,
}

impl<'a> Ring<'a> {
    /// The producer and the consumer, as a pair.
    ///
    /// ```
    /// use milonga::mpsc::{ring_chunks, InlineRing};
    ///
    /// static RING: InlineRing<16, 64, { ring_chunks(16, 64) }> = InlineRing::new();
    /// let (tx, rx) = RING.split().unwrap().into_pair();
    /// ```
    pub fn into_pair(self) -> (RingProducer<'a>, Consumer<'a>) {
        (self.producer, self.consumer)
    }
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("producer", &self.producer)
            .field("consumer", &self.consumer)
            .field("metrics", &self.metrics)
            .finish()
    }
}
