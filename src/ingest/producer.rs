//! The producer handles an [`Ingest`](crate::ingest::Ingest) can wrap: a sealed trait over
//! the single producer of an SPSC link and a producer handle of a shared ring.

use crate::cnc::Cnc;
use crate::error::PublishError;
use crate::frag::Header;
use crate::mpsc::RingProducer;
use crate::spsc::{Producer, WriteMode};

pub(super) mod sealed {
    use super::*;

    /// What an ingest handle needs of its producer. Private: the methods are not part of
    /// the public API, and no type outside the crate can implement it.
    pub trait Sealed {
        /// Several handles of the link may count drops at once (a shared ring's): the
        /// drop counters are then added to with a read-modify-write instead of stored.
        const SHARED_COUNTS: bool;

        /// Publishes one frag if a credit is available now.
        fn try_send(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError>;

        /// Publishes one frag, waiting up to `timeout` for a credit.
        #[cfg(feature = "std")]
        fn send_timeout(
            &mut self,
            hdr: Header,
            payload: &[u8],
            timeout: core::time::Duration,
        ) -> Result<u64, PublishError>;

        /// The reliable consumers the link was built with: 0 means nothing ever gates the
        /// producer.
        fn reliable_consumers(&self) -> usize;

        /// The link's cnc, where the drops are counted.
        fn link_cnc(&self) -> &Cnc;
    }
}

/// A producer handle an [`Ingest`](crate::ingest::Ingest) can wrap: the single
/// [`Producer`] of an SPSC link (either write mode), or a
/// [`RingProducer`] handle of a shared ring. Sealed.
pub trait IngestProducer: sealed::Sealed {}

impl<W: WriteMode> sealed::Sealed for Producer<'_, W> {
    const SHARED_COUNTS: bool = false;

    #[inline(always)]
    fn try_send(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        self.try_publish(hdr, payload)
    }

    #[cfg(feature = "std")]
    #[inline]
    fn send_timeout(
        &mut self,
        hdr: Header,
        payload: &[u8],
        timeout: core::time::Duration,
    ) -> Result<u64, PublishError> {
        // With a credit at hand this is a plain publish: the deadline (a clock read) is
        // computed only when the producer has to wait.
        match self.try_publish(hdr, payload) {
            Err(PublishError::NoCredits) => self.publish_timeout(hdr, payload, timeout),
            done => done,
        }
    }

    fn reliable_consumers(&self) -> usize {
        Producer::reliable_consumers(self)
    }

    fn link_cnc(&self) -> &Cnc {
        self.cnc()
    }
}

impl<W: WriteMode> IngestProducer for Producer<'_, W> {}

impl sealed::Sealed for RingProducer<'_> {
    const SHARED_COUNTS: bool = true;

    #[inline(always)]
    fn try_send(&mut self, hdr: Header, payload: &[u8]) -> Result<u64, PublishError> {
        self.try_publish(hdr, payload)
    }

    #[cfg(feature = "std")]
    #[inline]
    fn send_timeout(
        &mut self,
        hdr: Header,
        payload: &[u8],
        timeout: core::time::Duration,
    ) -> Result<u64, PublishError> {
        // Straight to the waiting call: a `try_publish` first would count a refused claim
        // twice in the ring's metrics.
        self.publish_timeout(hdr, payload, timeout)
    }

    fn reliable_consumers(&self) -> usize {
        // A shared ring's one consumer is reliable.
        1
    }

    fn link_cnc(&self) -> &Cnc {
        self.cnc()
    }
}

impl IngestProducer for RingProducer<'_> {}
