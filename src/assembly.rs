//! Link assembly, shared by every storage owner (inline and heap, SPSC links and shared
//! rings): the checks a geometry and a consumer count must pass, and the borrowed views
//! ([`Parts`]) a storage presents, from which the handles are built.

use crate::cnc::{Cnc, Signal};
use crate::dcache::{data_chunks, DCache, MAX_CHUNKS};
use crate::error::LinkError;
use crate::fctl::{Fctl, Flow};
use crate::fseq::Fseq;
use crate::mcache::MCache;
use crate::metrics::Metrics;
use crate::spsc::{Consumer, LossyConsumer, Producer, WriteMode, MAX_CONSUMERS, MTU_MAX};
use crate::sync::{Keep, Ref};

/// Checks a link's geometry: depth a power of two of at least 2, mtu within the frag size
/// field, payload store of at least [`data_chunks`] chunks and its words addressable by a
/// `u32`.
pub(crate) const fn check_geometry(
    depth: usize,
    mtu: usize,
    chunks: usize,
) -> Result<(), LinkError> {
    check_store(depth, mtu, chunks, data_chunks(depth, mtu))
}

/// [`check_geometry`] for a store that needs `needed` chunks (the layout decides how many).
pub(crate) const fn check_store(
    depth: usize,
    mtu: usize,
    chunks: usize,
    needed: usize,
) -> Result<(), LinkError> {
    if depth < 2 || !depth.is_power_of_two() {
        return Err(LinkError::BadDepth { depth });
    }
    if mtu > MTU_MAX {
        return Err(LinkError::MtuTooLarge { mtu, max: MTU_MAX });
    }
    let max = MAX_CHUNKS;
    if chunks < needed || chunks > max {
        return Err(LinkError::BadDataSize {
            chunks,
            needed,
            max,
        });
    }
    Ok(())
}

/// Checks a link's consumer counts: at least one consumer, at most [`MAX_CONSUMERS`].
pub(crate) const fn check_consumers(reliable: usize, lossy: usize) -> Result<(), LinkError> {
    let total = reliable.saturating_add(lossy);
    if total == 0 || total > MAX_CONSUMERS {
        return Err(LinkError::BadConsumers {
            reliable,
            lossy,
            max: MAX_CONSUMERS,
        });
    }
    Ok(())
}

/// The borrowed views every storage owner presents, from which the handles are built.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) mcache: MCache<'a>,
    pub(crate) dcache: DCache<'a>,
    /// Reliable consumers' fseqs.
    pub(crate) fseqs: Ref<'a, [Fseq]>,
    /// Lossy consumers' fseqs (progress and counters; never read for credits).
    pub(crate) lossy: Ref<'a, [Fseq]>,
    pub(crate) cnc: Ref<'a, Cnc>,
    pub(crate) seq0: u64,
}

impl<'a> Parts<'a> {
    /// The producer of a freshly built storage (fseqs at `seq0`, slots empty, cnc in
    /// `Boot`), with checked flow settings; sets the cnc to `Run`.
    pub(crate) fn producer<W: WriteMode>(&self, flow: Flow, keep: Keep) -> Producer<'a, W> {
        self.cnc.set_signal(Signal::Run);
        let fctl = Fctl::new(self.fseqs, self.lossy, flow);
        Producer::new(*self, fctl, keep)
    }

    /// The reliable consumer `i`.
    pub(crate) fn consumer(&self, i: usize, flow: Flow, keep: Keep) -> Consumer<'a> {
        Consumer::new(*self, self.fseqs.at(i), flow.release_every, keep)
    }

    /// The lossy consumer `i`.
    pub(crate) fn lossy_consumer(&self, i: usize, flow: Flow, keep: Keep) -> LossyConsumer<'a> {
        LossyConsumer::new(*self, self.lossy.at(i), flow.release_every, keep)
    }

    /// A metrics handle.
    pub(crate) fn metrics(&self, keep: Keep) -> Metrics<'a> {
        Metrics::new(self.cnc, self.fseqs, self.lossy, self.seq0, keep)
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
                max: MAX_CHUNKS
            })
        );
        assert_eq!(check_geometry(4, 65, 12), Ok(()));
        assert_eq!(check_geometry(2, 64, MAX_CHUNKS), Ok(()));
        assert_eq!(
            check_geometry(2, 64, MAX_CHUNKS + 1),
            Err(LinkError::BadDataSize {
                chunks: MAX_CHUNKS + 1,
                needed: 4,
                max: MAX_CHUNKS
            })
        );
        assert_eq!(check_geometry(2, 0, 0), Ok(()));
        assert!(check_consumers(0, 0).is_err() && check_consumers(20, 13).is_err());
        assert!(check_consumers(0, 1).is_ok() && check_consumers(32, 0).is_ok());
    }
}
