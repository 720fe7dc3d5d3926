//! The layout of a link in shared memory: a header, then every part at an offset that is a
//! multiple of 128 bytes (a cache-line pair), computed from the geometry alone; and the
//! validation a joiner runs on a header it did not write.

use core::mem::{align_of, size_of};

use crate::assembly::{check_consumers, check_geometry};
use crate::cnc::Cnc;
use crate::dcache::{Chunk, CHUNK_SZ};
use crate::fseq::Fseq;
use crate::mcache::Slot;
use crate::shm::error::ShmError;
use crate::shm::role::RoleLine;
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// The first 8 bytes of every milonga region: `"MILONGA"` and a format byte.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"MILONGA\x01");

/// The layout version: bumped whenever a part's layout or the header changes meaning.
pub const LAYOUT_VERSION: u64 = 1;

/// Parts start on multiples of this (two cache lines: x86's adjacent-line prefetch pairs
/// them).
const LINE: usize = 128;
/// The payload store starts on a page.
const PAGE: usize = 4096;

/// The most slots a link in shared memory may have (its metadata ring is then 32 GiB).
pub const MAX_DEPTH: usize = 1 << 30;

/// The header at offset 0. Every field is an atomic: a joiner reads it while other
/// processes may hold the region, and trusts none of it until [`validate`] passed.
#[repr(C)]
pub(crate) struct Header {
    /// [`MAGIC`], stored last (release) by the creator: a region whose magic is set is
    /// fully initialised.
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU64,
    pub(crate) layout_hash: AtomicU64,
    pub(crate) size: AtomicU64,
    pub(crate) depth: AtomicU64,
    pub(crate) mtu: AtomicU64,
    pub(crate) chunks: AtomicU64,
    pub(crate) reliable: AtomicU64,
    pub(crate) lossy: AtomicU64,
    pub(crate) seq0: AtomicU64,
    pub(crate) flags: AtomicU64,
    pub(crate) off_roles: AtomicU64,
    pub(crate) off_cnc: AtomicU64,
    pub(crate) off_fseqs: AtomicU64,
    pub(crate) off_lossy: AtomicU64,
    pub(crate) off_slots: AtomicU64,
    pub(crate) off_ledger: AtomicU64,
    pub(crate) off_chunks: AtomicU64,
}

/// Flag: the producer writes payloads with atomic stores and keeps a ledger (the link has
/// lossy consumers).
pub(crate) const FLAG_SHARED: u64 = 1;
/// Flag: the producer evicts reliable consumers that died ([`DeadConsumer::Evict`]).
///
/// [`DeadConsumer::Evict`]: crate::shm::DeadConsumer::Evict
pub(crate) const FLAG_EVICT: u64 = 2;
const FLAGS_KNOWN: u64 = FLAG_SHARED | FLAG_EVICT;

/// The header's values, read (with atomic loads) from a region, not yet trusted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderValues {
    /// The magic.
    pub magic: u64,
    /// The layout version.
    pub version: u64,
    /// The layout hash.
    pub layout_hash: u64,
    /// The region's size in bytes.
    pub size: u64,
    /// Slots in the metadata ring.
    pub depth: u64,
    /// The largest payload of one frag.
    pub mtu: u64,
    /// Payload store size in 64-byte chunks.
    pub chunks: u64,
    /// Reliable consumer slots.
    pub reliable: u64,
    /// Lossy consumer slots.
    pub lossy: u64,
    /// The seq of the stream's first frag.
    pub seq0: u64,
    /// Flags: bit 0, the link has lossy consumers; bit 1, dead consumers are evicted.
    pub flags: u64,
    /// Offsets of the parts, in order: roles, cnc, reliable fseqs, lossy fseqs, slots,
    /// ledger, chunks.
    pub offsets: [u64; 7],
}

impl Header {
    /// Reads every field (relaxed loads; the magic, read first by the caller with acquire,
    /// orders them after the creator's initialisation).
    pub(crate) fn values(&self) -> HeaderValues {
        let o = [
            &self.off_roles,
            &self.off_cnc,
            &self.off_fseqs,
            &self.off_lossy,
            &self.off_slots,
            &self.off_ledger,
            &self.off_chunks,
        ];
        HeaderValues {
            magic: self.magic.load(Relaxed),
            version: self.version.load(Relaxed),
            layout_hash: self.layout_hash.load(Relaxed),
            size: self.size.load(Relaxed),
            depth: self.depth.load(Relaxed),
            mtu: self.mtu.load(Relaxed),
            chunks: self.chunks.load(Relaxed),
            reliable: self.reliable.load(Relaxed),
            lossy: self.lossy.load(Relaxed),
            seq0: self.seq0.load(Relaxed),
            flags: self.flags.load(Relaxed),
            offsets: o.map(|a| a.load(Relaxed)),
        }
    }

    /// Writes every field but the magic (the creator, before anyone can see the region).
    pub(crate) fn write(&self, v: &HeaderValues) {
        self.version.store(v.version, Relaxed);
        self.layout_hash.store(v.layout_hash, Relaxed);
        self.size.store(v.size, Relaxed);
        self.depth.store(v.depth, Relaxed);
        self.mtu.store(v.mtu, Relaxed);
        self.chunks.store(v.chunks, Relaxed);
        self.reliable.store(v.reliable, Relaxed);
        self.lossy.store(v.lossy, Relaxed);
        self.seq0.store(v.seq0, Relaxed);
        self.flags.store(v.flags, Relaxed);
        let o = [
            &self.off_roles,
            &self.off_cnc,
            &self.off_fseqs,
            &self.off_lossy,
            &self.off_slots,
            &self.off_ledger,
            &self.off_chunks,
        ];
        for (a, v) in o.iter().zip(v.offsets) {
            a.store(v, Relaxed);
        }
    }
}

/// The geometry of a link in shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Slots in the metadata ring (a power of two, at least 2).
    pub depth: usize,
    /// The largest payload of one frag, in bytes.
    pub mtu: usize,
    /// The payload store's size in bytes (a multiple of 64).
    pub data_bytes: usize,
    /// Reliable consumer slots.
    pub reliable: usize,
    /// Lossy consumer slots.
    pub lossy: usize,
    /// The seq of the stream's first frag.
    pub seq0: u64,
}

/// Where every part of a region is: byte offsets from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) geometry: Geometry,
    pub(crate) flags: u64,
    pub(crate) roles: usize,
    pub(crate) cnc: usize,
    pub(crate) fseqs: usize,
    pub(crate) lossy: usize,
    pub(crate) slots: usize,
    pub(crate) ledger: usize,
    pub(crate) chunks: usize,
    /// The region's size: the end of the payload store, rounded up to a page.
    pub(crate) size: usize,
}

/// A layout fingerprint of this build: the version and the size and alignment of every
/// part. Two builds that would place or shape any part differently disagree on it.
pub const LAYOUT_HASH: u64 = {
    let words: [u64; 16] = [
        LAYOUT_VERSION,
        size_of::<Header>() as u64,
        size_of::<RoleLine>() as u64,
        align_of::<RoleLine>() as u64,
        size_of::<Cnc>() as u64,
        align_of::<Cnc>() as u64,
        size_of::<Fseq>() as u64,
        align_of::<Fseq>() as u64,
        size_of::<Slot>() as u64,
        align_of::<Slot>() as u64,
        size_of::<Chunk>() as u64,
        align_of::<Chunk>() as u64,
        size_of::<AtomicU64>() as u64,
        CHUNK_SZ as u64,
        cfg!(target_endian = "little") as u64,
        usize::BITS as u64,
    ];
    // FNV-1a over the words' little-endian bytes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < words.len() {
        let bytes = words[i].to_le_bytes();
        let mut j = 0;
        while j < 8 {
            h ^= bytes[j] as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            j += 1;
        }
        i += 1;
    }
    h
};

const fn round_up(x: usize, to: usize) -> Option<usize> {
    match x.checked_add(to - 1) {
        Some(v) => Some(v / to * to),
        None => None,
    }
}

/// `base + n * size`, rounded up to `align`; `None` on overflow.
fn after(base: usize, n: usize, size: usize, align: usize) -> Option<usize> {
    round_up(base.checked_add(n.checked_mul(size)?)?, align)
}

impl Layout {
    /// The layout of a link of this geometry.
    ///
    /// # Errors
    /// [`ShmError::Geometry`] if the geometry is not one a link may have,
    /// [`ShmError::TooLarge`] if the region would not fit the address space.
    pub(crate) fn new(geometry: Geometry, evict: bool) -> Result<Layout, ShmError> {
        let g = geometry;
        if !g.data_bytes.is_multiple_of(CHUNK_SZ) {
            return Err(ShmError::Geometry(crate::LinkError::BadDataSize {
                chunks: g.data_bytes / CHUNK_SZ,
                needed: crate::data_chunks(g.depth, g.mtu),
                max: crate::MAX_CHUNKS,
            }));
        }
        check_geometry(g.depth, g.mtu, g.data_bytes / CHUNK_SZ).map_err(ShmError::Geometry)?;
        check_consumers(g.reliable, g.lossy).map_err(ShmError::Geometry)?;
        if g.depth > MAX_DEPTH {
            return Err(ShmError::TooLarge);
        }
        let shared = g.lossy > 0;
        let roles = round_up(size_of::<Header>(), LINE).ok_or(ShmError::TooLarge)?;
        let layout = (|| {
            let cnc = after(roles, 1 + g.reliable + g.lossy, size_of::<RoleLine>(), LINE)?;
            let fseqs = after(cnc, 1, size_of::<Cnc>(), LINE)?;
            let lossy = after(fseqs, g.reliable, size_of::<Fseq>(), LINE)?;
            let slots = after(lossy, g.lossy, size_of::<Fseq>(), LINE)?;
            let ledger = after(slots, g.depth, size_of::<Slot>(), LINE)?;
            let ledger_len = if shared { g.depth } else { 0 };
            let chunks = after(ledger, ledger_len, 8, PAGE)?;
            let size = after(chunks, g.data_bytes, 1, PAGE)?;
            // Offsets are stored and compared as u64, and the mapping's size is an isize.
            if size > isize::MAX as usize {
                return None;
            }
            Some(Layout {
                geometry,
                flags: (shared as u64 * FLAG_SHARED) | (evict as u64 * FLAG_EVICT),
                roles,
                cnc,
                fseqs,
                lossy,
                slots,
                ledger,
                chunks,
                size,
            })
        })();
        layout.ok_or(ShmError::TooLarge)
    }

    /// The header a creator writes for this layout.
    pub(crate) fn header(&self) -> HeaderValues {
        let g = self.geometry;
        HeaderValues {
            magic: MAGIC,
            version: LAYOUT_VERSION,
            layout_hash: LAYOUT_HASH,
            size: self.size as u64,
            depth: g.depth as u64,
            mtu: g.mtu as u64,
            chunks: (g.data_bytes / CHUNK_SZ) as u64,
            reliable: g.reliable as u64,
            lossy: g.lossy as u64,
            seq0: g.seq0,
            flags: self.flags,
            offsets: [
                self.roles,
                self.cnc,
                self.fseqs,
                self.lossy,
                self.slots,
                self.ledger,
                self.chunks,
            ]
            .map(|o| o as u64),
        }
    }

    /// The link has lossy consumers: its producer writes with atomic stores.
    pub(crate) fn shared(&self) -> bool {
        self.flags & FLAG_SHARED != 0
    }

    /// Dead reliable consumers are evicted.
    pub(crate) fn evict(&self) -> bool {
        self.flags & FLAG_EVICT != 0
    }
}

/// Checks a header read from a region of `file_len` bytes, field by field, and returns the
/// layout it describes. Nothing is trusted: every value is checked against the limits, the
/// offsets must be exactly those this build computes from the geometry, and the region must
/// hold all of them.
///
/// # Errors
/// The first check that fails, as a named [`ShmError`]: [`NotALink`](ShmError::NotALink),
/// [`Version`](ShmError::Version), [`LayoutMismatch`](ShmError::LayoutMismatch),
/// [`Corrupt`](ShmError::Corrupt), [`Geometry`](ShmError::Geometry),
/// [`TooLarge`](ShmError::TooLarge) or [`Truncated`](ShmError::Truncated).
///
/// ```
/// use milonga::shm::{validate_header, HeaderValues, ShmError};
///
/// let foreign = HeaderValues { magic: 0x7f45_4c46, ..HeaderValues::default() };
/// assert!(matches!(validate_header(&foreign, 1 << 20), Err(ShmError::NotALink { .. })));
/// ```
pub fn validate_header(v: &HeaderValues, file_len: u64) -> Result<(), ShmError> {
    validate(v, file_len).map(|_| ())
}

/// See [`validate_header`]; returns the layout.
pub(crate) fn validate(v: &HeaderValues, file_len: u64) -> Result<Layout, ShmError> {
    if v.magic != MAGIC {
        return Err(ShmError::NotALink { magic: v.magic });
    }
    if v.version != LAYOUT_VERSION {
        return Err(ShmError::Version {
            found: v.version,
            expected: LAYOUT_VERSION,
        });
    }
    if v.layout_hash != LAYOUT_HASH {
        return Err(ShmError::LayoutMismatch {
            found: v.layout_hash,
            expected: LAYOUT_HASH,
        });
    }
    if v.flags & !FLAGS_KNOWN != 0 {
        return Err(ShmError::Corrupt {
            field: "flags",
            value: v.flags,
        });
    }
    let small = |field: &'static str, value: u64, max: usize| -> Result<usize, ShmError> {
        match usize::try_from(value) {
            Ok(x) if x <= max => Ok(x),
            _ => Err(ShmError::Corrupt { field, value }),
        }
    };
    let chunks = small("chunks", v.chunks, crate::MAX_CHUNKS)?;
    let geometry = Geometry {
        depth: small("depth", v.depth, MAX_DEPTH)?,
        mtu: small("mtu", v.mtu, crate::spsc::MTU_MAX)?,
        data_bytes: chunks * CHUNK_SZ,
        reliable: small("reliable", v.reliable, crate::spsc::MAX_CONSUMERS)?,
        lossy: small("lossy", v.lossy, crate::spsc::MAX_CONSUMERS)?,
        seq0: v.seq0,
    };
    let layout = Layout::new(geometry, v.flags & FLAG_EVICT != 0)?;
    let expected = layout.header();
    if v.flags != expected.flags {
        return Err(ShmError::Corrupt {
            field: "flags",
            value: v.flags,
        });
    }
    if v.size != expected.size {
        return Err(ShmError::Corrupt {
            field: "size",
            value: v.size,
        });
    }
    const NAMES: [&str; 7] = [
        "roles offset",
        "cnc offset",
        "fseqs offset",
        "lossy fseqs offset",
        "slots offset",
        "ledger offset",
        "chunks offset",
    ];
    for ((found, want), field) in v.offsets.iter().zip(expected.offsets).zip(NAMES) {
        if *found != want {
            return Err(ShmError::Corrupt {
                field,
                value: *found,
            });
        }
    }
    if file_len < v.size {
        return Err(ShmError::Truncated {
            len: file_len,
            needed: v.size,
        });
    }
    Ok(layout)
}

/// The header's size: a region shorter than this is [`ShmError::Truncated`] before any of
/// it is read.
pub(crate) const HEADER_SIZE: usize = size_of::<Header>();

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            depth: 64,
            mtu: 256,
            data_bytes: crate::data_bytes(64, 256),
            reliable: 2,
            lossy: 1,
            seq0: 5,
        }
    }

    #[test]
    fn parts_are_aligned_ordered_and_inside() {
        let l = Layout::new(geometry(), false).unwrap();
        let offs = [
            l.roles, l.cnc, l.fseqs, l.lossy, l.slots, l.ledger, l.chunks,
        ];
        assert!(offs.iter().all(|o| o % LINE == 0));
        assert!(offs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(l.chunks % PAGE, 0);
        assert_eq!(
            l.size,
            (l.chunks + crate::data_bytes(64, 256)).div_ceil(PAGE) * PAGE
        );
        assert!(l.roles >= HEADER_SIZE);
        assert!(l.shared() && !l.evict());
    }

    #[test]
    fn a_header_validates_to_its_layout_and_every_field_is_checked() {
        let l = Layout::new(geometry(), true).unwrap();
        let h = l.header();
        assert_eq!(validate(&h, l.size as u64), Ok(l));
        assert_eq!(
            validate(&h, l.size as u64 - 1),
            Err(ShmError::Truncated {
                len: l.size as u64 - 1,
                needed: l.size as u64
            })
        );
        let mut bad = h;
        bad.magic ^= 1;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::NotALink { .. })
        ));
        let mut bad = h;
        bad.version = 2;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Version { .. })
        ));
        let mut bad = h;
        bad.layout_hash ^= 1;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::LayoutMismatch { .. })
        ));
        for i in 0..7 {
            let mut bad = h;
            bad.offsets[i] += 128;
            assert!(
                matches!(validate(&bad, u64::MAX), Err(ShmError::Corrupt { .. })),
                "{i}"
            );
        }
        let mut bad = h;
        bad.depth = 48;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Geometry(_))
        ));
        let mut bad = h;
        bad.depth = u64::MAX;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Corrupt { field: "depth", .. })
        ));
        let mut bad = h;
        bad.flags = 8;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Corrupt { field: "flags", .. })
        ));
        let mut bad = h;
        bad.flags ^= FLAG_SHARED;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Corrupt { field: "flags", .. })
        ));
        let mut bad = h;
        bad.size += 4096;
        assert!(matches!(
            validate(&bad, u64::MAX),
            Err(ShmError::Corrupt { field: "size", .. })
        ));
        let mut bad = h;
        bad.lossy = 0;
        assert!(validate(&bad, u64::MAX).is_err());
    }
}
