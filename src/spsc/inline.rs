//! Inline storage sized by const generics, built by a `const fn`: a link that can live in
//! a `static` with no allocator.

use core::fmt;

use crate::assembly::{check_consumers, check_geometry, Parts};
use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::error::LinkError;
use crate::fctl::{Flow, FlowConfig};
use crate::fseq::Fseq;
use crate::mcache::{MCache, Slot};
use crate::metrics::Metrics;
use crate::spsc::{Consumer, LossyConsumer, Producer};
use crate::spsc::{Exclusive, Shared, WriteMode};
use crate::sync::{AtomicBool, AtomicU64, Ordering::AcqRel, Ref, Track};

/// A link whose storage is this value: `DEPTH` metadata slots, payloads of at most `MTU`
/// bytes, a payload store of `CHUNKS` 64-byte chunks (at least
/// [`data_chunks(DEPTH, MTU)`](crate::data_chunks)), `R` reliable consumers and `L` lossy
/// ones (by default one reliable consumer and no lossy one).
///
/// A bad geometry is a compile-time error:
///
/// ```compile_fail
/// use milonga::spsc::InlineLink;
/// static BAD: InlineLink<12, 64, 100> = InlineLink::new(); // depth not a power of two
/// ```
///
/// ```compile_fail
/// use milonga::spsc::InlineLink;
/// static BAD: InlineLink<4, 64, 5> = InlineLink::new(); // store too small for the mtu
/// ```
///
/// ```compile_fail
/// use milonga::spsc::InlineLink;
/// static BAD: InlineLink<4, 64, 6, 0, 0> = InlineLink::new(); // no consumer
/// ```
///
/// It is meant for `static`s (firmware, or a link shared by threads for the life of the
/// program): as a local variable it lives on the stack, all `CHUNKS * 64` bytes of it.
/// Use a heap link ([`Link::builder`](crate::spsc::Link::builder)) for a large link sized
/// at run time.
///
/// Its handles are handed out once, as [`InlineHandles`]: by [`split`](Self::split) (and
/// [`split_with`](Self::split_with), with flow-control settings) on a link without lossy
/// consumers (`L = 0`), whose producer is a [`Producer<Exclusive>`]; by
/// [`split_lossy`](Self::split_lossy) (and [`split_lossy_with`](Self::split_lossy_with))
/// on any link, whose producer is then a [`Producer<Shared>`]. A link with lossy consumers
/// has no `split`, so its producer cannot be an exclusive one.
///
/// ```
/// use milonga::spsc::InlineLink;
/// use milonga::{data_chunks, Header, LinkError};
///
/// static LINK: InlineLink<8, 64, { data_chunks(8, 64) }> = InlineLink::with_first_seq(100);
/// let (mut tx, mut rx) = LINK.split().unwrap().into_pair();
/// assert_eq!(LINK.split().err(), Some(LinkError::AlreadySplit));
/// assert_eq!(tx.try_publish(Header::new(1), &[1, 2, 3]), Ok(100));
/// assert_eq!(rx.try_recv().unwrap().payload(), &[1, 2, 3]);
/// ```
pub struct InlineLink<
    const DEPTH: usize,
    const MTU: usize,
    const CHUNKS: usize,
    const R: usize = 1,
    const L: usize = 0,
> {
    slots: [Slot; DEPTH],
    ledger: [AtomicU64; DEPTH],
    chunks: [Chunk; CHUNKS],
    fseqs: [Fseq; R],
    lossy: [Fseq; L],
    cnc: Cnc,
    track: Track,
    split: AtomicBool,
    seq0: u64,
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize, const R: usize, const L: usize>
    InlineLink<DEPTH, MTU, CHUNKS, R, L>
{
    /// An empty link whose first frag will have seq 0.
    pub const fn new() -> Self {
        Self::with_first_seq(0)
    }

    /// An empty link whose first frag will have seq `seq0`.
    pub const fn with_first_seq(seq0: u64) -> Self {
        const {
            assert!(
                check_geometry(DEPTH, MTU, CHUNKS).is_ok(),
                "InlineLink: DEPTH must be a power of two >= 2, MTU <= 65535 and \
                 CHUNKS >= data_chunks(DEPTH, MTU)"
            );
            assert!(
                check_consumers(R, L).is_ok(),
                "InlineLink: R + L must be between 1 and MAX_CONSUMERS"
            );
        };
        let mut slots = [const { Slot::empty(0) }; DEPTH];
        let mut i = 0;
        while i < DEPTH {
            slots[i] = Slot::empty(seq0);
            i += 1;
        }
        let mut fseqs = [const { Fseq::new(0) }; R];
        let mut i = 0;
        while i < R {
            fseqs[i] = Fseq::new(seq0);
            i += 1;
        }
        let mut lossy = [const { Fseq::new(0) }; L];
        let mut i = 0;
        while i < L {
            lossy[i] = Fseq::new(seq0);
            i += 1;
        }
        InlineLink {
            slots,
            ledger: [const { AtomicU64::new(0) }; DEPTH],
            chunks: [const { Chunk::zeroed() }; CHUNKS],
            fseqs,
            lossy,
            cnc: Cnc::new(),
            track: Track::new(CHUNKS),
            split: AtomicBool::new(false),
            seq0,
        }
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        &self.cnc
    }

    /// A handle for taking metrics snapshots of the link from any thread.
    pub fn metrics(&self) -> Metrics<'_> {
        self.parts::<Shared>().metrics(Default::default())
    }

    /// The producer and every consumer, with these flow-control settings, once. A bad
    /// setting is an error and leaves the link unsplit.
    fn split_all<W: WriteMode>(
        &self,
        flow: FlowConfig,
    ) -> Result<InlineHandles<'_, W, R, L>, LinkError> {
        let flow: Flow = flow.resolve(DEPTH as u64)?;
        if self.split.swap(true, AcqRel) {
            return Err(LinkError::AlreadySplit);
        }
        let parts = self.parts::<W>();
        #[allow(clippy::unit_arg)]
        let producer = parts.producer::<W>(flow, Default::default());
        #[allow(clippy::unit_arg)]
        let reliable = core::array::from_fn(|i| parts.consumer(i, flow, Default::default()));
        #[allow(clippy::unit_arg)]
        let lossy = core::array::from_fn(|i| parts.lossy_consumer(i, flow, Default::default()));
        #[allow(clippy::unit_arg)]
        let metrics = parts.metrics(Default::default());
        Ok(InlineHandles {
            producer,
            reliable,
            lossy,
            metrics,
        })
    }

    fn parts<W: WriteMode>(&self) -> Parts<'_> {
        let ledger: &[AtomicU64] = if W::SHARED { &self.ledger } else { &[] };
        Parts {
            mcache: MCache::new(&self.slots, ledger),
            dcache: DCache::new(&self.chunks, &self.track, MTU),
            fseqs: Ref::new(&self.fseqs),
            lossy: Ref::new(&self.lossy),
            cnc: Ref::new(&self.cnc),
            seq0: self.seq0,
        }
    }

    /// The producer, the `R` reliable consumers and the `L` lossy consumers, with default
    /// flow control, once: a second call (of any `split` method) returns
    /// [`LinkError::AlreadySplit`]. The producer writes payloads with atomic stores
    /// ([`Shared`]), since a lossy consumer may be copying a region the producer rewrites.
    ///
    /// ```
    /// use milonga::spsc::{InlineHandles, InlineLink};
    /// use milonga::{data_chunks, Header};
    ///
    /// static LINK: InlineLink<16, 64, { data_chunks(16, 64) }, 1, 1> = InlineLink::new();
    /// let InlineHandles { mut producer, reliable: [mut reliable], lossy: [mut lossy], .. } =
    ///     LINK.split_lossy().unwrap();
    /// producer.try_publish(Header::new(3), b"abc").unwrap();
    /// assert_eq!(reliable.try_recv().unwrap().payload(), b"abc");
    /// let mut buf = [0u8; 64];
    /// assert_eq!(lossy.try_recv(&mut buf).unwrap().sz, 3);
    /// ```
    pub fn split_lossy(&self) -> Result<InlineHandles<'_, Shared, R, L>, LinkError> {
        self.split_all::<Shared>(FlowConfig::new())
    }

    /// [`split_lossy`](Self::split_lossy) with these flow-control settings. A bad setting
    /// is an error ([`LinkError::BadFlow`]) and leaves the link unsplit.
    pub fn split_lossy_with(
        &self,
        flow: FlowConfig,
    ) -> Result<InlineHandles<'_, Shared, R, L>, LinkError> {
        self.split_all::<Shared>(flow)
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize, const R: usize>
    InlineLink<DEPTH, MTU, CHUNKS, R, 0>
{
    /// The producer and the `R` reliable consumers (each sees every frag, in order; the
    /// producer is gated by the slowest), with default flow control, once: a second call
    /// (of any `split` method) returns [`LinkError::AlreadySplit`]. For the default
    /// `R = 1`, [`into_pair`](InlineHandles::into_pair) makes the result a
    /// `(Producer, Consumer)` pair.
    ///
    /// ```
    /// use milonga::spsc::InlineLink;
    /// use milonga::{data_chunks, Header};
    ///
    /// static LINK: InlineLink<16, 64, { data_chunks(16, 64) }, 2> = InlineLink::new();
    /// let mut handles = LINK.split().unwrap();
    /// handles.producer.try_publish(Header::new(3), b"abc").unwrap();
    /// for rx in &mut handles.reliable {
    ///     assert_eq!(rx.try_recv().unwrap().payload(), b"abc");
    /// }
    /// ```
    pub fn split(&self) -> Result<InlineHandles<'_, Exclusive, R, 0>, LinkError> {
        self.split_all::<Exclusive>(FlowConfig::new())
    }

    /// [`split`](Self::split) with these flow-control settings. A bad setting is an error
    /// ([`LinkError::BadFlow`]) and leaves the link unsplit.
    ///
    /// ```
    /// use milonga::spsc::InlineLink;
    /// use milonga::{data_chunks, FlowConfig};
    ///
    /// static LINK: InlineLink<16, 64, { data_chunks(16, 64) }> = InlineLink::new();
    /// assert!(LINK.split_with(FlowConfig::new().cr_max(17)).is_err()); // more than the depth
    /// let (tx, rx) = LINK.split_with(FlowConfig::new().cr_max(8)).unwrap().into_pair();
    /// ```
    pub fn split_with(
        &self,
        flow: FlowConfig,
    ) -> Result<InlineHandles<'_, Exclusive, R, 0>, LinkError> {
        self.split_all::<Exclusive>(flow)
    }
}

/// The handles of an [`InlineLink`], handed out once by its `split` methods: the
/// producer, the `R` reliable consumers, the `L` lossy ones and a metrics handle, each to
/// move where it is used. They borrow the link (a `static`, typically).
///
/// `W` is the producer's write mode: [`Exclusive`] from [`InlineLink::split`], [`Shared`]
/// from [`InlineLink::split_lossy`].
///
/// ```
/// use milonga::spsc::{InlineHandles, InlineLink};
/// use milonga::{data_chunks, Header};
///
/// static LINK: InlineLink<16, 64, { data_chunks(16, 64) }, 2, 1> = InlineLink::new();
/// let InlineHandles { mut producer, reliable: [mut a, mut b], lossy: [mut c], metrics } =
///     LINK.split_lossy().unwrap();
/// producer.try_publish(Header::new(1), b"all").unwrap();
/// assert_eq!(a.try_recv().unwrap().payload(), b"all");
/// assert_eq!(b.try_recv().unwrap().payload(), b"all");
/// let mut buf = [0u8; 64];
/// assert_eq!(c.try_recv(&mut buf).unwrap().sz, 3);
/// assert_eq!(metrics.snapshot().consumers.len(), 3);
/// ```
pub struct InlineHandles<'a, W: WriteMode = Exclusive, const R: usize = 1, const L: usize = 0> {
    /// The producer.
    pub producer: Producer<'a, W>,
    /// The reliable consumers (consumer `i` is the `i`-th in metrics snapshots).
    pub reliable: [Consumer<'a>; R],
    /// The lossy consumers.
    pub lossy: [LossyConsumer<'a>; L],
    /// A handle for taking metrics snapshots of the link from any thread.
    pub metrics: Metrics<'a>,
}

impl<'a> InlineHandles<'a, Exclusive, 1, 0> {
    /// The producer and the consumer of a one-consumer link, as a pair.
    ///
    /// ```
    /// use milonga::spsc::InlineLink;
    /// use milonga::{data_chunks, Header};
    ///
    /// static LINK: InlineLink<8, 64, { data_chunks(8, 64) }> = InlineLink::new();
    /// let (mut tx, mut rx) = LINK.split().unwrap().into_pair();
    /// tx.try_publish(Header::new(1), b"hi").unwrap();
    /// assert_eq!(rx.try_recv().unwrap().payload(), b"hi");
    /// ```
    pub fn into_pair(self) -> (Producer<'a>, Consumer<'a>) {
        let [rx] = self.reliable;
        (self.producer, rx)
    }
}

impl<W: WriteMode, const R: usize, const L: usize> fmt::Debug for InlineHandles<'_, W, R, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineHandles")
            .field("producer", &self.producer)
            .field("reliable", &self.reliable)
            .field("lossy", &self.lossy)
            .finish_non_exhaustive()
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize, const R: usize, const L: usize>
    Default for InlineLink<DEPTH, MTU, CHUNKS, R, L>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize, const R: usize, const L: usize>
    core::fmt::Debug for InlineLink<DEPTH, MTU, CHUNKS, R, L>
{
    /// The geometry and whether the link was split; no frag or payload.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InlineLink")
            .field("depth", &DEPTH)
            .field("mtu", &MTU)
            .field("chunks", &CHUNKS)
            .field("reliable", &R)
            .field("lossy", &L)
            .field("first_seq", &self.seq0)
            .field("split", &self.split.load(crate::sync::Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
