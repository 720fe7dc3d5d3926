//! Inline storage sized by const generics, built by a `const fn`: a link that can live in
//! a `static` with no allocator.

use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::error::LinkError;
use crate::fctl::FlowConfig;
use crate::fseq::Fseq;
use crate::mcache::{MCache, Slot};
use crate::spsc::{check_geometry, Consumer, Parts, Producer};
use crate::sync::{AtomicBool, Ordering::AcqRel, Track};

/// A link whose storage is this value: `DEPTH` metadata slots, payloads of at most `MTU`
/// bytes, and a payload store of `CHUNKS` 64-byte chunks (at least
/// [`data_chunks(DEPTH, MTU)`](crate::data_chunks)).
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
/// It is meant for `static`s (firmware, or a link shared by threads for the life of the
/// program): as a local variable it lives on the stack, all `CHUNKS * 64` bytes of it.
/// Use [`heap`](crate::spsc::heap) for a large link sized at run time.
///
/// ```
/// use milonga::spsc::InlineLink;
/// use milonga::{data_chunks, Header, LinkError};
///
/// static LINK: InlineLink<8, 64, { data_chunks(8, 64) }> = InlineLink::with_first_seq(100);
/// let (mut tx, mut rx) = LINK.split().unwrap();
/// assert_eq!(LINK.split().err(), Some(LinkError::AlreadySplit));
/// assert_eq!(tx.try_publish(Header::new(1), &[1, 2, 3]), Ok(100));
/// assert_eq!(rx.poll().unwrap().payload(), &[1, 2, 3]);
/// ```
pub struct InlineLink<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> {
    slots: [Slot; DEPTH],
    chunks: [Chunk; CHUNKS],
    fseqs: [Fseq; 1],
    cnc: Cnc,
    track: Track,
    split: AtomicBool,
    seq0: u64,
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> InlineLink<DEPTH, MTU, CHUNKS> {
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
            )
        };
        let mut slots = [const { Slot::empty(0) }; DEPTH];
        let mut i = 0;
        while i < DEPTH {
            slots[i] = Slot::empty(seq0);
            i += 1;
        }
        InlineLink {
            slots,
            chunks: [const { Chunk::zeroed() }; CHUNKS],
            fseqs: [Fseq::new(seq0)],
            cnc: Cnc::new(),
            track: Track::new(CHUNKS),
            split: AtomicBool::new(false),
            seq0,
        }
    }

    /// The producer and the consumer of this link, with default flow control. A link is
    /// split once: a second call returns [`LinkError::AlreadySplit`].
    pub fn split(&self) -> Result<(Producer<'_>, Consumer<'_>), LinkError> {
        self.split_with(FlowConfig::new())
    }

    /// [`split`](Self::split) with these flow-control settings. A bad setting is an error
    /// and leaves the link unsplit.
    pub fn split_with(&self, flow: FlowConfig) -> Result<(Producer<'_>, Consumer<'_>), LinkError> {
        let flow = flow.resolve(DEPTH as u64)?;
        if self.split.swap(true, AcqRel) {
            return Err(LinkError::AlreadySplit);
        }
        let parts = Parts {
            mcache: MCache::new(&self.slots),
            dcache: DCache::new(&self.chunks, &self.track, MTU),
            fseqs: &self.fseqs,
            cnc: &self.cnc,
            seq0: self.seq0,
        };
        #[allow(clippy::unused_unit)]
        Ok(parts.split(flow, || Default::default()))
    }

    /// The link's command-and-control block.
    pub fn cnc(&self) -> &Cnc {
        &self.cnc
    }
}

impl<const DEPTH: usize, const MTU: usize, const CHUNKS: usize> Default
    for InlineLink<DEPTH, MTU, CHUNKS>
{
    fn default() -> Self {
        Self::new()
    }
}
