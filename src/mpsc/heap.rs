//! Heap-backed shared rings and fan-ins (`alloc`): what [`RingBuilder`] and
//! [`FanInBuilder`] build.

use alloc::vec::Vec;

use crate::error::LinkError;
use crate::heap_alloc::vec_with_capacity;
use crate::heap_storage::{HeapStorage, Spec, Store};
use crate::mpsc::builder::{FanInBuilder, RingBuilder};
use crate::mpsc::shared_ring::{self, RingState};
use crate::mpsc::{check_ring_geometry, ring_chunks, FanIn, Ring, RingProducer};
use crate::spsc::{Consumer, Producer};

impl RingBuilder {
    /// Builds the ring: its first producer handle (clone it for more producers), its
    /// consumer and a metrics handle.
    ///
    /// The payload store is allocated zeroed (the operating system hands out zero pages
    /// lazily), so a ring of any size is built without touching the stack.
    ///
    /// # Errors
    /// A named [`LinkError`] for a bad setting (each setter says which), or
    /// [`LinkError::OutOfMemory`]; nothing is kept then.
    pub fn heap(self) -> Result<Ring<'static>, LinkError> {
        let chunks = ring_chunks(self.depth, self.mtu);
        check_ring_geometry(self.depth, self.mtu, chunks)?;
        let flow = self.flow.resolve(self.depth as u64)?;
        let spec = Spec {
            depth: self.depth,
            mtu: self.mtu,
            chunks,
            seq0: self.seq0,
            store: Store::PerSlot,
            ledger: false,
            reliable: 1,
            lossy: 0,
        };
        let storage = HeapStorage::new(spec, RingState::new(self.seq0))?;
        // SAFETY: every handle built from these views (and the ring state) holds a keep of
        // the storage: `split` gives each handle one from the closure.
        let (parts, state) = unsafe { HeapStorage::parts(&storage) };
        let keep = || HeapStorage::keep(&storage);
        let (mut producer, mut consumer) = shared_ring::split(parts, state, flow, keep);
        if let Some(wait) = self.wait {
            producer.set_wait(wait);
            consumer.set_wait(wait);
        }
        let metrics = producer.metrics();
        Ok(Ring {
            producer,
            consumer,
            metrics,
        })
    }

    /// Builds the ring and splits it into its first producer handle and its consumer.
    ///
    /// # Errors
    /// As [`heap`](Self::heap).
    pub fn heap_pair(self) -> Result<(RingProducer<'static>, Consumer<'static>), LinkError> {
        Ok(self.heap()?.into_pair())
    }
}

/// A heap-backed fan-in, split into its handles: what [`FanInBuilder::heap`] returns.
///
/// ```
/// use milonga::mpsc::{FanIn, FanInHandles};
/// use milonga::Header;
///
/// let FanInHandles { mut producers, mut consumer } =
///     FanIn::builder().producers(2).depth(8).mtu(8).heap()?;
/// producers[0].try_publish(Header::new(0), b"a")?;
/// assert_eq!(consumer.try_recv()?.0, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FanInHandles {
    /// The producers: producer `i` feeds link `i`.
    pub producers: Vec<Producer<'static>>,
    /// The consumer over every link (link `i` is the one of producer `i`).
    pub consumer: FanIn<'static, Vec<Consumer<'static>>>,
}

impl FanInBuilder {
    /// Builds the [`producers`](Self::producers) links: their producers and one
    /// [`FanIn`] consumer over them.
    ///
    /// # Errors
    /// A named [`LinkError`] for a bad setting (each setter says which), or
    /// [`LinkError::OutOfMemory`]; nothing is kept then.
    pub fn heap(self) -> Result<FanInHandles, LinkError> {
        // Fallible: a count the allocator cannot hold is `OutOfMemory`, not an abort.
        let mut producers = vec_with_capacity(self.producers)?;
        let mut consumers = vec_with_capacity(self.producers)?;
        for _ in 0..self.producers {
            let (tx, rx) = self.link.heap_pair()?;
            producers.push(tx);
            consumers.push(rx);
        }
        let mut consumer = FanIn::new(consumers);
        if let Some(wait) = self.link.wait {
            consumer.set_wait(wait);
        }
        Ok(FanInHandles {
            producers,
            consumer,
        })
    }
}
