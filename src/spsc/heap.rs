//! Heap-backed links sized at run time (`alloc`): what [`LinkBuilder`] builds.

use alloc::vec::Vec;
use core::fmt;

use crate::assembly::{check_consumers, check_geometry};
use crate::dcache::{data_chunks, CHUNK_SZ};
use crate::error::LinkError;
use crate::heap_alloc::vec_with_capacity;
use crate::heap_storage::{HeapStorage, Spec, Store};
use crate::metrics::Metrics;
use crate::spsc::shape::{Broadcast, Pair, WithLossy};
use crate::spsc::MAX_CONSUMERS;
use crate::spsc::{Consumer, Exclusive, LinkBuilder, LossyConsumer, Producer, Shared, WriteMode};

/// A heap-backed link, split into its handles: what [`LinkBuilder::heap`] returns. Each
/// field is a handle to move where it is used (the storage lives until the last one is
/// dropped).
///
/// `W` is the producer's write mode: [`Exclusive`] for a link with reliable consumers
/// only, [`Shared`] for one built with [`lossy`](LinkBuilder::lossy) consumers.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::Header;
///
/// let Link { mut producer, mut reliable, lossy, metrics } =
///     Link::builder().depth(64).mtu(64).reliable(2).heap()?;
/// assert!(lossy.is_empty());
/// producer.try_publish(Header::new(1), b"to both")?;
/// for rx in &mut reliable {
///     assert_eq!(rx.try_recv()?.payload(), b"to both");
/// }
/// assert_eq!(metrics.snapshot().consumers.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Link<W: WriteMode = Exclusive> {
    /// The producer.
    pub producer: Producer<'static, W>,
    /// The reliable consumers, in the order of their fseqs (consumer `i` is the `i`-th in
    /// metrics snapshots).
    pub reliable: Vec<Consumer<'static>>,
    /// The lossy consumers (empty unless the link was built with
    /// [`lossy`](LinkBuilder::lossy)).
    pub lossy: Vec<LossyConsumer<'static>>,
    /// A handle for taking metrics snapshots of the link from any thread.
    pub metrics: Metrics<'static>,
}

impl Link {
    /// A builder with the defaults: depth 1024, mtu 1500, one reliable consumer (see
    /// [`LinkBuilder`]).
    ///
    /// ```
    /// let (tx, rx) = milonga::spsc::Link::builder().depth(8).mtu(64).heap_pair()?;
    /// # Ok::<(), milonga::LinkError>(())
    /// ```
    pub const fn builder() -> LinkBuilder {
        LinkBuilder::new()
    }
}

impl<W: WriteMode> fmt::Debug for Link<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("producer", &self.producer)
            .field("reliable", &self.reliable)
            .field("lossy", &self.lossy)
            .finish_non_exhaustive()
    }
}

impl LinkBuilder<Pair> {
    /// Builds the link and splits it into its producer and its consumer.
    ///
    /// The payload store is allocated zeroed (the operating system hands out zero pages
    /// lazily), so a link of any size is built without touching the stack.
    ///
    /// # Errors
    /// A named [`LinkError`] for a bad setting (each setter says which), or
    /// [`LinkError::OutOfMemory`]; nothing is kept then.
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::Header;
    ///
    /// let (mut tx, mut rx) = Link::builder().depth(1024).mtu(1500).first_seq(7).heap_pair()?;
    /// assert_eq!(tx.try_publish(Header::new(0), &[0u8; 1500])?, 7);
    /// assert_eq!(rx.try_recv()?.payload().len(), 1500);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap_pair(self) -> Result<(Producer<'static>, Consumer<'static>), LinkError> {
        let link = self.heap()?;
        // A `Pair` has one reliable consumer (the count cannot change without leaving the
        // shape), so this never fails.
        match link.reliable.into_iter().next() {
            Some(rx) => Ok((link.producer, rx)),
            None => Err(LinkError::BadConsumers {
                reliable: 0,
                lossy: 0,
                max: MAX_CONSUMERS,
            }),
        }
    }

    /// Builds the link: its producer, one reliable consumer and a metrics handle.
    ///
    /// # Errors
    /// As [`heap_pair`](Self::heap_pair).
    pub fn heap(self) -> Result<Link<Exclusive>, LinkError> {
        build(self)
    }
}

impl LinkBuilder<Broadcast> {
    /// Builds the link: its producer, the [`reliable`](Self::reliable) consumers (every one
    /// sees every frag in order and gates the producer: its credits are the minimum over
    /// them) and a metrics handle.
    ///
    /// # Errors
    /// As [`LinkBuilder::heap_pair`].
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::Header;
    ///
    /// let mut link = Link::builder().depth(64).mtu(64).reliable(2).heap()?;
    /// link.producer.try_publish(Header::new(1), b"to both")?;
    /// for rx in &mut link.reliable {
    ///     assert_eq!(rx.try_recv()?.payload(), b"to both");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap(self) -> Result<Link<Exclusive>, LinkError> {
        build(self)
    }
}

impl LinkBuilder<WithLossy> {
    /// Builds the link: its producer, which writes payloads with atomic stores
    /// ([`Shared`]), since a lossy consumer may be copying a region the producer rewrites;
    /// the [`reliable`](Self::reliable) consumers that gate it, the
    /// [`lossy`](LinkBuilder::lossy) consumers that never do, and a metrics handle.
    ///
    /// # Errors
    /// As [`LinkBuilder::heap_pair`].
    ///
    /// ```
    /// use milonga::spsc::Link;
    /// use milonga::Header;
    ///
    /// let mut link = Link::builder().depth(64).mtu(64).lossy(1).heap()?;
    /// link.producer.try_publish(Header::new(1), b"hi")?;
    /// assert_eq!(link.reliable[0].try_recv()?.payload(), b"hi");
    /// let mut buf = [0u8; 64];
    /// let meta = link.lossy[0].try_recv(&mut buf)?;
    /// assert_eq!(&buf[..meta.sz as usize], b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap(self) -> Result<Link<Shared>, LinkError> {
        build(self)
    }
}

/// Builds a link with these settings on the heap.
fn build<S, W: WriteMode>(b: LinkBuilder<S>) -> Result<Link<W>, LinkError> {
    let chunks = match b.data_bytes {
        Some(bytes) => bytes / CHUNK_SZ,
        None => data_chunks(b.depth, b.mtu),
    };
    check_geometry(b.depth, b.mtu, chunks)?;
    check_consumers(b.reliable, b.lossy)?;
    let flow = b.flow.resolve(b.depth as u64)?;
    let spec = Spec {
        depth: b.depth,
        mtu: b.mtu,
        chunks,
        seq0: b.seq0,
        store: Store::Compact,
        ledger: W::SHARED,
        reliable: b.reliable,
        lossy: b.lossy,
    };
    let mut reliable = vec_with_capacity(b.reliable)?;
    let mut lossy = vec_with_capacity(b.lossy)?;
    let storage = HeapStorage::new(spec, ())?;
    let keep = || HeapStorage::keep(&storage);
    // SAFETY: every handle built from these views holds `keep()` of the storage.
    let (parts, _) = unsafe { HeapStorage::parts(&storage) };
    let mut producer = parts.producer::<W>(flow, keep());
    reliable.extend((0..b.reliable).map(|i| parts.consumer(i, flow, keep())));
    lossy.extend((0..b.lossy).map(|i| parts.lossy_consumer(i, flow, keep())));
    if let Some(wait) = b.wait {
        producer.set_wait(wait);
        reliable.iter_mut().for_each(|rx| rx.set_wait(wait));
        lossy.iter_mut().for_each(|rx| rx.set_wait(wait));
    }
    Ok(Link {
        producer,
        reliable,
        lossy,
        metrics: parts.metrics(keep()),
    })
}
