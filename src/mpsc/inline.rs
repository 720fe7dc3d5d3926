//! Inline storage for the shared ring and for fan-in: built by a `const fn`, for `static`s
//! with no allocator.

use crate::assembly::Parts;
use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::error::LinkError;
use crate::fctl::FlowConfig;
use crate::fseq::Fseq;
use crate::mcache::{MCache, Slot};
use crate::mpsc::shared_ring::{self, RingState};
use crate::mpsc::{check_ring_geometry, FanIn, Ring, RingMetrics};
use crate::spsc::{Consumer, InlineLink, Producer};
use crate::sync::{AtomicBool, Ordering::AcqRel, Ref, Track};

/// A shared multi-producer ring whose storage is this value: `DEPTH` metadata slots,
/// payloads of at most `MTU` bytes, and a payload store of `CHUNKS` 64-byte chunks, at
/// least [`ring_chunks(DEPTH, MTU)`](crate::mpsc::ring_chunks) (one region per slot).
///
/// A bad geometry is a compile-time error:
///
/// ```compile_fail
/// use milonga::mpsc::InlineRing;
/// static BAD: InlineRing<4, 65, 7> = InlineRing::new(); // needs 4 * 2 chunks
/// ```
///
/// ```
/// use milonga::mpsc::{ring_chunks, InlineRing};
/// use milonga::Header;
///
/// static RING: InlineRing<16, 64, { ring_chunks(16, 64) }> = InlineRing::new();
/// let (tx, mut rx) = RING.split().unwrap().into_pair();
/// let tx2 = tx.clone();
/// assert_eq!(tx.try_publish(Header::new(1), b"one"), Ok(0));
/// assert_eq!(tx2.try_publish(Header::new(2), b"two"), Ok(1));
/// assert_eq!(rx.try_recv().unwrap().payload(), b"one");
/// assert_eq!(rx.try_recv().unwrap().payload(), b"two");
/// assert_eq!(RING.metrics().snapshot().producers, 2);
/// ```
pub struct InlineRing<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> {
    slots: [Slot; DEPTH],
    chunks: [Chunk; CHUNKS],
    fseq: [Fseq; 1],
    cnc: Cnc,
    state: RingState,
    track: Track,
    split: AtomicBool,
    seq0: u64,
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> InlineRing<DEPTH, MTU, CHUNKS> {
    /// An empty ring whose first frag will have seq 0.
    pub const fn new() -> Self {
        Self::with_first_seq(0)
    }

    /// An empty ring whose first frag will have seq `seq0`.
    pub const fn with_first_seq(seq0: u64) -> Self {
        const {
            assert!(
                check_ring_geometry(DEPTH, MTU, CHUNKS).is_ok(),
                "InlineRing: DEPTH must be a power of two >= 2, MTU <= 65535 and \
                 CHUNKS >= ring_chunks(DEPTH, MTU)"
            );
        };
        let mut slots = [const { Slot::empty(0) }; DEPTH];
        let mut i = 0;
        while i < DEPTH {
            slots[i] = Slot::empty(seq0);
            i += 1;
        }
        InlineRing {
            slots,
            chunks: [const { Chunk::zeroed() }; CHUNKS],
            fseq: [Fseq::new(seq0)],
            cnc: Cnc::new(),
            state: RingState::new(seq0),
            track: Track::new(CHUNKS),
            split: AtomicBool::new(false),
            seq0,
        }
    }

    /// The ring's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        &self.cnc
    }

    /// A handle for taking metrics snapshots of the ring from any thread.
    pub fn metrics(&self) -> RingMetrics<'_> {
        RingMetrics::new(
            self.parts()
                .metrics(Default::default())
                .with_cursor(self.state.cursor()),
            &self.state,
        )
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            mcache: MCache::new(&self.slots, &[]),
            dcache: DCache::per_slot(&self.chunks, &self.track, MTU, DEPTH),
            fseqs: Ref::new(&self.fseq),
            lossy: Ref::new(&[]),
            cnc: Ref::new(&self.cnc),
            seq0: self.seq0,
        }
    }

    /// The first producer handle (clone it for more producers), the consumer and a
    /// metrics handle, with default flow control, once: a second call returns
    /// [`LinkError::AlreadySplit`]. [`Ring::into_pair`] makes it a
    /// `(RingProducer, Consumer)` pair.
    ///
    /// ```
    /// use milonga::mpsc::{ring_chunks, InlineRing, Ring};
    /// use milonga::Header;
    ///
    /// static RING: InlineRing<16, 64, { ring_chunks(16, 64) }> = InlineRing::new();
    /// let Ring { producer, mut consumer, .. } = RING.split().unwrap();
    /// producer.try_publish(Header::new(1), b"one").unwrap();
    /// assert_eq!(consumer.try_recv().unwrap().payload(), b"one");
    /// ```
    pub fn split(&self) -> Result<Ring<'_>, LinkError> {
        self.split_with(FlowConfig::new())
    }

    /// [`split`](Self::split) with these flow-control settings. A bad setting is an error
    /// ([`LinkError::BadFlow`]) and leaves the ring unsplit.
    pub fn split_with(&self, flow: FlowConfig) -> Result<Ring<'_>, LinkError> {
        let flow = flow.resolve(DEPTH as u64)?;
        if self.split.swap(true, AcqRel) {
            return Err(LinkError::AlreadySplit);
        }
        let (producer, consumer) =
            shared_ring::split(self.parts(), Ref::new(&self.state), flow, Default::default);
        let metrics = producer.metrics();
        Ok(Ring {
            producer,
            consumer,
            metrics,
        })
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> Default
    for InlineRing<DEPTH, MTU, CHUNKS>
{
    fn default() -> Self {
        Self::new()
    }
}

/// `N` SPSC links whose storage is this value, each like an
/// [`InlineLink<DEPTH, MTU, CHUNKS>`](crate::spsc::InlineLink), split into `N` producers
/// and one [`FanIn`] consumer.
///
/// ```
/// use milonga::mpsc::{InlineFanIn, InlineFanInHandles};
/// use milonga::{data_chunks, Header};
///
/// static LINKS: InlineFanIn<4, 16, 64, { data_chunks(16, 64) }> = InlineFanIn::new();
/// let InlineFanInHandles { producers: [mut a, _, _, mut d], consumer: mut rx } =
///     LINKS.split().unwrap();
/// a.try_publish(Header::new(0), b"from a").unwrap();
/// d.try_publish(Header::new(3), b"from d").unwrap();
/// let (link, frag) = rx.try_recv().unwrap();
/// assert!(link == 0 || link == 3);
/// drop(frag);
/// assert_eq!(rx.try_recv().unwrap().0 + link, 3);
/// ```
pub struct InlineFanIn<const N: usize, const DEPTH: usize, const MTU: usize, const CHUNKS: usize> {
    links: [InlineLink<DEPTH, MTU, CHUNKS>; N],
    split: AtomicBool,
}

impl<const N: usize, const DEPTH: usize, const MTU: usize, const CHUNKS: usize>
    InlineFanIn<N, DEPTH, MTU, CHUNKS>
{
    /// `N` empty links whose first frags will have seq 0.
    pub const fn new() -> Self {
        InlineFanIn {
            links: [const { InlineLink::new() }; N],
            split: AtomicBool::new(false),
        }
    }

    /// The command-and-control block of link `i`.
    ///
    /// # Panics
    /// If `i >= N`.
    pub fn cnc(&self, i: usize) -> &Cnc {
        self.links[i].cnc()
    }

    /// The `N` producers (producer `i` feeds link `i`) and the fan-in consumer, with
    /// default flow control, once: a second call returns [`LinkError::AlreadySplit`].
    pub fn split(&self) -> Result<InlineFanInHandles<'_, N>, LinkError> {
        self.split_with(FlowConfig::new())
    }

    /// [`split`](Self::split) with these flow-control settings for every link. A bad
    /// setting is an error ([`LinkError::BadFlow`]) and leaves the links unsplit.
    pub fn split_with(&self, flow: FlowConfig) -> Result<InlineFanInHandles<'_, N>, LinkError> {
        flow.resolve(DEPTH as u64)?;
        if self.split.swap(true, AcqRel) {
            return Err(LinkError::AlreadySplit);
        }
        // The links are reachable only through this value and were not split before (the
        // flag above), and the flow settings are valid, so every split succeeds.
        let mut rxs: [Option<Consumer<'_>>; N] = [const { None }; N];
        let mut i = 0;
        let producers = self.links.each_ref().map(|link| {
            let (tx, rx) = link
                .split_with(flow)
                .expect("a fresh link splits")
                .into_pair();
            rxs[i] = Some(rx);
            i += 1;
            tx
        });
        let rxs = rxs.map(|rx| rx.expect("every link was split"));
        Ok(InlineFanInHandles {
            producers,
            consumer: FanIn::new(rxs),
        })
    }
}

/// The handles of an [`InlineFanIn`], handed out once by its `split` methods: `N`
/// producers and one [`FanIn`] consumer, each to move where it is used.
///
/// ```
/// use milonga::mpsc::{InlineFanIn, InlineFanInHandles};
/// use milonga::{data_chunks, Header};
///
/// static LINKS: InlineFanIn<2, 8, 8, { data_chunks(8, 8) }> = InlineFanIn::new();
/// let InlineFanInHandles { producers: [_, mut b], mut consumer } = LINKS.split().unwrap();
/// b.try_publish(Header::new(1), b"b").unwrap();
/// assert_eq!(consumer.try_recv().unwrap().0, 1);
/// ```
#[derive(Debug)]
pub struct InlineFanInHandles<'a, const N: usize> {
    /// The producers: producer `i` feeds link `i`.
    pub producers: [Producer<'a>; N],
    /// The consumer over every link (link `i` is the one of producer `i`).
    pub consumer: FanIn<'a, [Consumer<'a>; N]>,
}

impl<const N: usize, const DEPTH: usize, const MTU: usize, const CHUNKS: usize> Default
    for InlineFanIn<N, DEPTH, MTU, CHUNKS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> core::fmt::Debug
    for InlineRing<DEPTH, MTU, CHUNKS>
{
    /// The geometry and whether the ring was split; no frag or payload.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InlineRing")
            .field("depth", &DEPTH)
            .field("mtu", &MTU)
            .field("chunks", &CHUNKS)
            .field("first_seq", &self.seq0)
            .field("split", &self.split.load(crate::sync::Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<const N: usize, const DEPTH: usize, const MTU: usize, const CHUNKS: usize> core::fmt::Debug
    for InlineFanIn<N, DEPTH, MTU, CHUNKS>
{
    /// The geometry of the links and whether they were split; no frag or payload.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InlineFanIn")
            .field("links", &N)
            .field("depth", &DEPTH)
            .field("mtu", &MTU)
            .field("chunks", &CHUNKS)
            .field("split", &self.split.load(crate::sync::Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
