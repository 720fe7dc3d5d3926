//! The single-producer single-consumer link: a reliable consumer that gates the producer
//! through credits and reads payloads zero-copy, one frag at a time or in batches.
//!
//! A link's storage is owned inline (an [`InlineLink`], which can be a `static`) or on the
//! heap ([`heap`], under `alloc`); both are split into the same [`Producer`] and
//! [`Consumer`].
//!
//! ```
//! use milonga::spsc::InlineLink;
//! use milonga::{data_chunks, Header};
//!
//! static LINK: InlineLink<64, 256, { data_chunks(64, 256) }> = InlineLink::new();
//!
//! let (mut tx, mut rx) = LINK.split().unwrap();
//! tx.try_publish(Header::new(7), b"hello").unwrap();
//! let frag = rx.poll().unwrap();
//! assert_eq!((frag.sig(), frag.payload()), (7, &b"hello"[..]));
//! drop(frag); // the credit goes back when the guard ends
//! tx.halt();
//! assert_eq!(rx.poll().err(), Some(milonga::RecvError::Closed));
//! ```

mod batch;
mod consumer;
#[cfg(feature = "alloc")]
mod heap;
#[cfg(not(milonga_loom))]
mod inline;
mod producer;

pub use batch::{Batch, BatchIter, Frag};
pub use consumer::{Consumer, ReadGuard};
#[cfg(feature = "alloc")]
pub use heap::{heap, LinkConfig};
#[cfg(not(milonga_loom))]
pub use inline::InlineLink;
pub use producer::{Producer, WriteClaim};

use crate::cnc::{Cnc, Signal};
use crate::dcache::{data_chunks, DCache};
use crate::error::LinkError;
use crate::fctl::{Fctl, Flow};
use crate::fseq::Fseq;
use crate::mcache::MCache;

/// Keeps heap storage alive for as long as a handle into it exists.
#[cfg(feature = "alloc")]
type Keep = Option<alloc::sync::Arc<heap::HeapStorage>>;
#[cfg(not(feature = "alloc"))]
type Keep = ();

/// The largest mtu: a frag's size field is 16 bits.
pub const MTU_MAX: usize = u16::MAX as usize;

/// Checks a link's geometry: depth a power of two of at least 2, mtu within the frag size
/// field, payload store of at least [`data_chunks`] chunks and addressable by a `u32`.
pub(crate) const fn check_geometry(
    depth: usize,
    mtu: usize,
    chunks: usize,
) -> Result<(), LinkError> {
    if depth < 2 || !depth.is_power_of_two() {
        return Err(LinkError::BadDepth { depth });
    }
    if mtu > MTU_MAX {
        return Err(LinkError::MtuTooLarge { mtu, max: MTU_MAX });
    }
    let needed = data_chunks(depth, mtu);
    let max = u32::MAX as usize;
    if chunks < needed || chunks > max {
        return Err(LinkError::BadDataSize {
            chunks,
            needed,
            max,
        });
    }
    Ok(())
}

/// The borrowed views every storage owner presents, from which the two ends are built.
pub(crate) struct Parts<'a> {
    pub(crate) mcache: MCache<'a>,
    pub(crate) dcache: DCache<'a>,
    pub(crate) fseqs: &'a [Fseq],
    pub(crate) cnc: &'a Cnc,
    pub(crate) seq0: u64,
}

impl<'a> Parts<'a> {
    /// Builds the producer and the consumer of a freshly built storage (fseq at `seq0`,
    /// slots empty, cnc in `Boot`) with checked flow settings, and sets the cnc to `Run`.
    pub(crate) fn split(self, flow: Flow, keep: impl Fn() -> Keep) -> (Producer<'a>, Consumer<'a>) {
        let fctl = Fctl::new(self.fseqs, flow);
        let fseq = &self.fseqs[0];
        self.cnc.set_signal(Signal::Run);
        let tx = Producer::new(self.mcache, self.dcache, self.cnc, fctl, self.seq0, keep());
        let rx = Consumer::new(
            self.mcache,
            self.dcache,
            fseq,
            self.cnc,
            self.seq0,
            flow.release_every,
            keep(),
        );
        (tx, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_errors_are_named() {
        assert_eq!(
            check_geometry(0, 64, 100),
            Err(LinkError::BadDepth { depth: 0 })
        );
        assert_eq!(
            check_geometry(1, 64, 100),
            Err(LinkError::BadDepth { depth: 1 })
        );
        assert_eq!(
            check_geometry(12, 64, 100),
            Err(LinkError::BadDepth { depth: 12 })
        );
        assert_eq!(
            check_geometry(4, MTU_MAX + 1, 1 << 20),
            Err(LinkError::MtuTooLarge {
                mtu: MTU_MAX + 1,
                max: MTU_MAX
            })
        );
        assert_eq!(
            check_geometry(4, 65, 11),
            Err(LinkError::BadDataSize {
                chunks: 11,
                needed: 12,
                max: u32::MAX as usize
            })
        );
        assert_eq!(check_geometry(4, 65, 12), Ok(()));
        assert_eq!(check_geometry(2, 0, 0), Ok(()));
    }
}
