//! The builders of heap-backed shared rings and fan-ins (`alloc`): every setting by name.

use crate::fctl::FlowConfig;
use crate::mpsc::{FanIn, Ring};
use crate::spsc::builder::{DEFAULT_DEPTH, DEFAULT_MTU};
use crate::spsc::shape::Pair;
use crate::spsc::{Consumer, Link, LinkBuilder};
use crate::wait::Strategy;

/// Builds a shared multi-producer ring on the heap: obtained from [`Ring::builder`],
/// configured by name, finished by [`heap`](RingBuilder::heap) (a [`Ring`]: the first
/// producer handle, the consumer and a metrics handle) or
/// [`heap_pair`](RingBuilder::heap_pair) (a `(RingProducer, Consumer)` pair).
///
/// Every setting has a default: 1024 slots, an mtu of 1500 bytes, first seq 0, default
/// flow control, the default wait strategy. The payload store holds one mtu region per slot
/// ([`ring_chunks`](crate::mpsc::ring_chunks)). Settings are checked when the ring is
/// built; a bad one is a named [`LinkError`](crate::LinkError) and nothing is allocated.
///
/// ```
/// use milonga::mpsc::Ring;
/// use milonga::{FlowConfig, Header};
///
/// let (tx, mut rx) = Ring::builder()
///     .depth(1024)
///     .mtu(1500)
///     .first_seq(7)
///     .flow(FlowConfig::new().cr_max(512))
///     .heap_pair()?;
/// assert_eq!(tx.try_publish(Header::new(0), &[1u8; 1500])?, 7);
/// assert_eq!(rx.try_recv()?.payload().len(), 1500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `heap` or `heap_pair` builds the ring"]
pub struct RingBuilder {
    pub(crate) depth: usize,
    pub(crate) mtu: usize,
    pub(crate) seq0: u64,
    pub(crate) flow: FlowConfig,
    pub(crate) wait: Option<Strategy>,
}

impl Ring<'static> {
    /// A builder with the defaults: depth 1024, mtu 1500 (see [`RingBuilder`]).
    ///
    /// ```
    /// let (tx, rx) = milonga::mpsc::Ring::builder().depth(8).mtu(64).heap_pair()?;
    /// # Ok::<(), milonga::LinkError>(())
    /// ```
    pub const fn builder() -> RingBuilder {
        RingBuilder {
            depth: DEFAULT_DEPTH,
            mtu: DEFAULT_MTU,
            seq0: 0,
            flow: FlowConfig::new(),
            wait: None,
        }
    }
}

impl RingBuilder {
    /// Metadata slots: the most frags claimed and not yet consumed. A power of two of at
    /// least 2; default 1024. Otherwise the build fails with
    /// [`LinkError::BadDepth`](crate::LinkError::BadDepth).
    pub const fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The largest payload of one frag, in bytes: `0..=`[`MTU_MAX`](crate::spsc::MTU_MAX)
    /// (65535); default 1500. Otherwise the build fails with
    /// [`LinkError::MtuTooLarge`](crate::LinkError::MtuTooLarge) (or
    /// [`LinkError::BadDataSize`](crate::LinkError::BadDataSize) if `depth` regions of
    /// `mtu` bytes are more than a store can address).
    pub const fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// The first frag's seq: any `u64` (seqs wrap); default 0.
    pub const fn first_seq(mut self, seq0: u64) -> Self {
        self.seq0 = seq0;
        self
    }

    /// Flow control (credits, how often the consumer returns them): default
    /// [`FlowConfig::new()`], whose defaults follow the depth; each value's range is on
    /// its [`FlowConfig`] setter. Otherwise the build fails with
    /// [`LinkError::BadFlow`](crate::LinkError::BadFlow).
    pub const fn flow(mut self, flow: FlowConfig) -> Self {
        self.flow = flow;
        self
    }

    /// What the producer handle (and every clone of it) and the consumer do while a
    /// blocking call waits (for credits, for a frag): any [`Strategy`]; default
    /// [`Strategy::default()`] (spin, yield, then park, under `std`). Each handle can
    /// change its own later with `set_wait`.
    pub const fn wait(mut self, wait: Strategy) -> Self {
        self.wait = Some(wait);
        self
    }
}

/// Builds a fan-in on the heap: `n` SPSC links with the same settings, their `n`
/// producers and one [`FanIn`] consumer over them. Obtained from [`FanIn::builder`],
/// configured by name, finished by [`heap`](FanInBuilder::heap) (a
/// [`FanInHandles`](crate::mpsc::FanInHandles)).
///
/// Every setting has a default: one producer, and each link as a default
/// [`LinkBuilder`]: 1024 slots, an mtu of 1500 bytes, the smallest payload store that
/// works, first seq 0, default flow control, the default wait strategy. Settings are
/// checked when the links are built; a bad one is a named [`LinkError`](crate::LinkError)
/// and nothing is kept.
///
/// ```
/// use milonga::mpsc::{FanIn, FanInHandles};
/// use milonga::Header;
///
/// let FanInHandles { mut producers, mut consumer } =
///     FanIn::builder().producers(3).depth(64).mtu(16).heap()?;
/// producers[2].try_publish(Header::new(2), b"from 2")?;
/// let (link, frag) = consumer.try_recv()?;
/// assert_eq!((link, frag.payload()), (2, &b"from 2"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `heap` builds the links"]
pub struct FanInBuilder {
    pub(crate) producers: usize,
    pub(crate) link: LinkBuilder<Pair>,
}

impl FanIn<'static, alloc::vec::Vec<Consumer<'static>>> {
    /// A builder with the defaults: one producer, each link of depth 1024 and mtu 1500
    /// (see [`FanInBuilder`]).
    ///
    /// ```
    /// let handles = milonga::mpsc::FanIn::builder().producers(2).depth(8).mtu(8).heap()?;
    /// assert_eq!((handles.producers.len(), handles.consumer.len()), (2, 2));
    /// # Ok::<(), milonga::LinkError>(())
    /// ```
    pub const fn builder() -> FanInBuilder {
        FanInBuilder {
            producers: 1,
            link: Link::builder(),
        }
    }
}

impl FanInBuilder {
    /// The number of producers, each with its own link (producer `i` feeds link `i`):
    /// any count the memory allows; default 1. With 0 the fan-in is closed from the start.
    /// A count the allocator cannot hold fails with
    /// [`LinkError::OutOfMemory`](crate::LinkError::OutOfMemory).
    pub const fn producers(mut self, n: usize) -> Self {
        self.producers = n;
        self
    }

    /// Each link's metadata slots (see [`LinkBuilder::depth`]): a power of two of at least
    /// 2; default 1024.
    pub const fn depth(mut self, depth: usize) -> Self {
        self.link = self.link.depth(depth);
        self
    }

    /// Each link's largest payload in bytes (see [`LinkBuilder::mtu`]):
    /// `0..=`[`MTU_MAX`](crate::spsc::MTU_MAX); default 1500.
    pub const fn mtu(mut self, mtu: usize) -> Self {
        self.link = self.link.mtu(mtu);
        self
    }

    /// Each link's payload store in bytes (see [`LinkBuilder::data_bytes`]): at least
    /// [`data_bytes(depth, mtu)`](crate::data_bytes), which is the default.
    pub const fn data_bytes(mut self, bytes: usize) -> Self {
        self.link = self.link.data_bytes(bytes);
        self
    }

    /// Each link's first seq: any `u64`; default 0.
    pub const fn first_seq(mut self, seq0: u64) -> Self {
        self.link = self.link.first_seq(seq0);
        self
    }

    /// Each link's flow control (see [`LinkBuilder::flow`]); default
    /// [`FlowConfig::new()`].
    pub const fn flow(mut self, flow: FlowConfig) -> Self {
        self.link = self.link.flow(flow);
        self
    }

    /// What every producer and the fan-in consumer do while a blocking call waits (for
    /// credits, for a frag on any link): any [`Strategy`]; default
    /// [`Strategy::default()`]. Each handle can change its own later with `set_wait`.
    pub const fn wait(mut self, wait: Strategy) -> Self {
        self.link = self.link.wait(wait);
        self
    }
}
