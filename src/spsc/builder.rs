//! The builder of heap-backed links (`alloc`): every setting by name, the consumer counts
//! as a typestate (see [`shape`](crate::spsc::shape)).

use core::fmt;
use core::marker::PhantomData;

use crate::fctl::FlowConfig;
use crate::spsc::shape::{Broadcast, Pair, WithLossy};
use crate::wait::Strategy;

/// The depth a builder starts with.
pub(crate) const DEFAULT_DEPTH: usize = 1024;
/// The mtu a builder starts with.
pub(crate) const DEFAULT_MTU: usize = 1500;

/// Builds a link on the heap, sized at run time: obtained from
/// [`Link::builder`](crate::spsc::Link::builder), configured by name, finished by
/// [`heap`](LinkBuilder::heap) (a [`Link`](crate::spsc::Link): the producer, the
/// consumers and a metrics handle) or, for one producer and one consumer,
/// [`heap_pair`](LinkBuilder::heap_pair) (a `(Producer, Consumer)` pair, like
/// `crossbeam_channel::bounded` or `rtrb::RingBuffer::new`).
///
/// Every setting has a default, so only what differs needs saying: 1024 slots, an mtu of
/// 1500 bytes, the smallest payload store that works, first seq 0, default flow control,
/// the default wait strategy, one reliable consumer and no lossy one. Settings are checked
/// when the link is built; a bad one is a named [`LinkError`](crate::LinkError) and
/// nothing is allocated.
///
/// The type parameter `S` is the link's [`shape`](crate::spsc::shape), which the consumer
/// setters change: [`Pair`] (the default: one reliable consumer, [`heap_pair`] available),
/// [`Broadcast`] (after [`reliable`](LinkBuilder::reliable)) and [`WithLossy`] (after
/// [`lossy`](LinkBuilder::lossy)), whose producer is a
/// [`Producer<Shared>`](crate::spsc::Shared). So the producer's type is known from the
/// code that builds the link, never decided at run time.
///
/// [`heap_pair`]: LinkBuilder::heap_pair
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::wait::Strategy;
/// use milonga::{FlowConfig, Header};
///
/// // One producer, one consumer.
/// let (mut tx, mut rx) = Link::builder().depth(256).mtu(1024).heap_pair()?;
/// tx.try_publish(Header::new(1), b"hello")?;
/// assert_eq!(rx.try_recv()?.payload(), b"hello");
///
/// // Two reliable consumers, one lossy one, every setting named.
/// let link = Link::builder()
///     .depth(64)
///     .mtu(64)
///     .data_bytes(64 * 1024)
///     .first_seq(100)
///     .flow(FlowConfig::new().cr_max(32))
///     .wait(Strategy::BusySpin)
///     .reliable(2)
///     .lossy(1)
///     .heap()?;
/// assert_eq!((link.reliable.len(), link.lossy.len()), (2, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `heap` or `heap_pair` builds the link"]
pub struct LinkBuilder<S = Pair> {
    pub(crate) depth: usize,
    pub(crate) mtu: usize,
    pub(crate) data_bytes: Option<usize>,
    pub(crate) seq0: u64,
    pub(crate) flow: FlowConfig,
    pub(crate) wait: Option<Strategy>,
    pub(crate) reliable: usize,
    pub(crate) lossy: usize,
    shape: PhantomData<fn() -> S>,
}

impl LinkBuilder<Pair> {
    /// The defaults (see [`LinkBuilder`]).
    pub(crate) const fn new() -> Self {
        LinkBuilder {
            depth: DEFAULT_DEPTH,
            mtu: DEFAULT_MTU,
            data_bytes: None,
            seq0: 0,
            flow: FlowConfig::new(),
            wait: None,
            reliable: 1,
            lossy: 0,
            shape: PhantomData,
        }
    }
}

impl<S> LinkBuilder<S> {
    /// Metadata slots: the most frags published and not yet consumed. A power of two of at
    /// least 2; default 1024. Otherwise the build fails with
    /// [`LinkError::BadDepth`](crate::LinkError::BadDepth).
    pub const fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The largest payload of one frag, in bytes: `0..=`[`MTU_MAX`](crate::spsc::MTU_MAX)
    /// (65535); default 1500. Otherwise the build fails with
    /// [`LinkError::MtuTooLarge`](crate::LinkError::MtuTooLarge).
    pub const fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// The payload store's size in bytes, rounded down to whole 64-byte chunks: at least
    /// [`data_bytes(depth, mtu)`](crate::data_bytes) and at most
    /// [`MAX_CHUNKS`](crate::MAX_CHUNKS) chunks; default exactly
    /// [`data_bytes(depth, mtu)`](crate::data_bytes), the smallest that works. A larger
    /// store holds more small payloads in flight. Otherwise the build fails with
    /// [`LinkError::BadDataSize`](crate::LinkError::BadDataSize).
    pub const fn data_bytes(mut self, bytes: usize) -> Self {
        self.data_bytes = Some(bytes);
        self
    }

    /// The first frag's seq: any `u64` (seqs wrap); default 0.
    pub const fn first_seq(mut self, seq0: u64) -> Self {
        self.seq0 = seq0;
        self
    }

    /// Flow control (credits, how often consumers return them): default
    /// [`FlowConfig::new()`], whose defaults follow the depth; each value's range is on
    /// its [`FlowConfig`] setter. Otherwise the build fails with
    /// [`LinkError::BadFlow`](crate::LinkError::BadFlow).
    pub const fn flow(mut self, flow: FlowConfig) -> Self {
        self.flow = flow;
        self
    }

    /// What every handle of the link does while a blocking call waits (for credits, for a
    /// frag): any [`Strategy`]; default [`Strategy::default()`] (spin, yield, then park,
    /// under `std`). Each handle can change its own later with `set_wait`.
    pub const fn wait(mut self, wait: Strategy) -> Self {
        self.wait = Some(wait);
        self
    }

    /// The same settings in another shape.
    const fn reshape<T>(self) -> LinkBuilder<T> {
        LinkBuilder {
            depth: self.depth,
            mtu: self.mtu,
            data_bytes: self.data_bytes,
            seq0: self.seq0,
            flow: self.flow,
            wait: self.wait,
            reliable: self.reliable,
            lossy: self.lossy,
            shape: PhantomData,
        }
    }

    /// `n` lossy consumers: they never slow the producer, copy payloads out and count
    /// exactly what they lose ([`LossyConsumer`](crate::spsc::LossyConsumer)). Reliable
    /// and lossy consumers together: `1..=`[`MAX_CONSUMERS`](crate::spsc::MAX_CONSUMERS)
    /// (32); default no lossy consumer. Otherwise the build fails with
    /// [`LinkError::BadConsumers`](crate::LinkError::BadConsumers).
    ///
    /// The link becomes [`WithLossy`]: its producer is a
    /// [`Producer<Shared>`](crate::spsc::Shared), which writes payloads with atomic stores
    /// (a lossy consumer may be copying a region while it is rewritten). That holds even
    /// for `n = 0`.
    pub const fn lossy(mut self, n: usize) -> LinkBuilder<WithLossy> {
        self.lossy = n;
        self.reshape()
    }
}

impl LinkBuilder<Pair> {
    /// `n` reliable consumers: each sees every frag, in order, zero-copy, and the producer
    /// is gated by the slowest ([`Consumer`](crate::spsc::Consumer)). Reliable and lossy
    /// consumers together: `1..=`[`MAX_CONSUMERS`](crate::spsc::MAX_CONSUMERS) (32);
    /// default 1. Otherwise the build fails with
    /// [`LinkError::BadConsumers`](crate::LinkError::BadConsumers).
    ///
    /// The link becomes [`Broadcast`] (its consumers come as a `Vec`, and
    /// [`heap_pair`](LinkBuilder::heap_pair) is no longer offered), or stays
    /// [`WithLossy`] if [`lossy`](LinkBuilder::lossy) was set.
    pub const fn reliable(mut self, n: usize) -> LinkBuilder<Broadcast> {
        self.reliable = n;
        self.reshape()
    }
}

impl LinkBuilder<Broadcast> {
    /// `n` reliable consumers (see [`LinkBuilder::<Pair>::reliable`](LinkBuilder::reliable)).
    pub const fn reliable(mut self, n: usize) -> Self {
        self.reliable = n;
        self
    }
}

impl LinkBuilder<WithLossy> {
    /// `n` reliable consumers (see [`LinkBuilder::<Pair>::reliable`](LinkBuilder::reliable));
    /// may be 0 when there is a lossy one.
    pub const fn reliable(mut self, n: usize) -> Self {
        self.reliable = n;
        self
    }
}

impl<S> Clone for LinkBuilder<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for LinkBuilder<S> {}

impl<S> fmt::Debug for LinkBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkBuilder")
            .field("shape", &core::any::type_name::<S>())
            .field("depth", &self.depth)
            .field("mtu", &self.mtu)
            .field("data_bytes", &self.data_bytes)
            .field("first_seq", &self.seq0)
            .field("flow", &self.flow)
            .field("wait", &self.wait)
            .field("reliable", &self.reliable)
            .field("lossy", &self.lossy)
            .finish()
    }
}
