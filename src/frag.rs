//! Fragment metadata: the 32-byte record a consumer reads before (or instead of) touching
//! the payload.

use core::fmt;

/// Control bits of a frag: start and end of message, an error mark and a 13-bit origin id.
///
/// A message that fits in one frag has both [`Ctl::SOM`] and [`Ctl::EOM`] set, which is
/// the default.
///
/// ```
/// use milonga::Ctl;
/// let ctl = Ctl::SOM.with_origin(7);
/// assert!(ctl.som() && !ctl.eom() && !ctl.err());
/// assert_eq!(ctl.origin(), 7);
/// assert_eq!(Ctl::default(), Ctl::SOM | Ctl::EOM);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Ctl(u16);

impl Ctl {
    /// No bits set: a middle fragment of a multi-frag message.
    pub const NONE: Ctl = Ctl(0);
    /// Start of message.
    pub const SOM: Ctl = Ctl(1 << 0);
    /// End of message.
    pub const EOM: Ctl = Ctl(1 << 1);
    /// The frag is marked as an error (for example, an abandoned multi-producer claim).
    pub const ERR: Ctl = Ctl(1 << 2);
    /// The largest origin id that fits.
    pub const ORIGIN_MAX: u16 = (1 << 13) - 1;
    const ORIGIN_SHIFT: u32 = 3;

    /// A `Ctl` from its raw bits.
    #[inline]
    pub const fn from_bits(bits: u16) -> Ctl {
        Ctl(bits)
    }

    /// The raw bits.
    #[inline]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Start of message is set.
    #[inline]
    pub const fn som(self) -> bool {
        self.0 & Self::SOM.0 != 0
    }

    /// End of message is set.
    #[inline]
    pub const fn eom(self) -> bool {
        self.0 & Self::EOM.0 != 0
    }

    /// The error mark is set.
    #[inline]
    pub const fn err(self) -> bool {
        self.0 & Self::ERR.0 != 0
    }

    /// The origin id (13 bits).
    #[inline]
    pub const fn origin(self) -> u16 {
        self.0 >> Self::ORIGIN_SHIFT
    }

    /// These bits with the origin replaced; origins above [`Ctl::ORIGIN_MAX`] are masked.
    #[inline]
    pub const fn with_origin(self, origin: u16) -> Ctl {
        Ctl((self.0 & 0b111) | ((origin & Self::ORIGIN_MAX) << Self::ORIGIN_SHIFT))
    }
}

impl Default for Ctl {
    fn default() -> Self {
        Ctl(Self::SOM.0 | Self::EOM.0)
    }
}

impl core::ops::BitOr for Ctl {
    type Output = Ctl;
    fn bitor(self, rhs: Ctl) -> Ctl {
        Ctl(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctl")
            .field("som", &self.som())
            .field("eom", &self.eom())
            .field("err", &self.err())
            .field("origin", &self.origin())
            .finish()
    }
}

/// What the producer says about a frag besides its payload.
///
/// ```
/// use milonga::{Ctl, Header};
/// let hdr = Header::new(42).ctl(Ctl::SOM).tsorig(1000);
/// assert_eq!(hdr.sig, 42);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Application bits a consumer can filter on without touching the payload.
    pub sig: u64,
    /// Control bits.
    pub ctl: Ctl,
    /// When the data originated, in compressed ticks.
    pub tsorig: u32,
    /// When the frag was published, in compressed ticks.
    pub tspub: u32,
}

impl Header {
    /// A header with this `sig`, a whole message (`SOM | EOM`) and zero timestamps.
    #[inline]
    pub fn new(sig: u64) -> Header {
        Header {
            sig,
            ..Header::default()
        }
    }

    /// This header with other control bits.
    #[inline]
    pub fn ctl(mut self, ctl: Ctl) -> Header {
        self.ctl = ctl;
        self
    }

    /// This header with an origin timestamp.
    #[inline]
    pub fn tsorig(mut self, ts: u32) -> Header {
        self.tsorig = ts;
        self
    }

    /// This header with a publish timestamp.
    #[inline]
    pub fn tspub(mut self, ts: u32) -> Header {
        self.tspub = ts;
        self
    }
}

/// The metadata of one published frag: 32 bytes, two per cache line.
///
/// `offset` and `sz` locate the payload in the dcache (in 8-byte words from its start, and
/// in bytes).
///
/// A reliable consumer shows it through its guards
/// ([`ReadGuard::meta`](crate::spsc::ReadGuard::meta),
/// [`Frag::meta`](crate::spsc::Frag::meta)); a lossy consumer returns it with each copied
/// payload.
///
/// ```
/// use milonga::spsc::Link;
/// use milonga::{FragMeta, Header};
///
/// let (mut tx, mut rx) = Link::builder().depth(4).mtu(8).heap_pair()?;
/// tx.try_publish(Header::new(7).tsorig(100), b"abc")?;
/// let frag = rx.try_recv()?;
/// let meta: &FragMeta = frag.meta();
/// assert_eq!((meta.seq, meta.sig, meta.sz, meta.tsorig), (0, 7, 3, 100));
/// assert!(meta.ctl.som() && meta.ctl.eom()); // a whole message
/// assert_eq!(meta.header(), Header::new(7).tsorig(100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct FragMeta {
    /// The frag's sequence number.
    pub seq: u64,
    /// Application bits.
    pub sig: u64,
    /// Where the payload starts, in 8-byte words from the start of the dcache (a payload
    /// of at most 64 bytes never straddles a 64-byte chunk; a longer one starts on one).
    pub offset: u32,
    /// Payload size in bytes.
    pub sz: u16,
    /// Control bits.
    pub ctl: Ctl,
    /// Origin timestamp (compressed ticks).
    pub tsorig: u32,
    /// Publish timestamp (compressed ticks).
    pub tspub: u32,
}

const _: () = assert!(core::mem::size_of::<FragMeta>() == 32);
const _: () = assert!(core::mem::align_of::<FragMeta>() == 32);

impl FragMeta {
    /// The header fields of this frag.
    #[inline]
    pub fn header(&self) -> Header {
        Header {
            sig: self.sig,
            ctl: self.ctl,
            tsorig: self.tsorig,
            tspub: self.tspub,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_bits_do_not_overlap_the_origin() {
        let ctl = (Ctl::SOM | Ctl::ERR).with_origin(Ctl::ORIGIN_MAX);
        assert!(ctl.som() && ctl.err() && !ctl.eom());
        assert_eq!(ctl.origin(), Ctl::ORIGIN_MAX);
        assert_eq!(Ctl::from_bits(ctl.bits()), ctl);
        assert_eq!(Ctl::EOM.with_origin(u16::MAX).origin(), Ctl::ORIGIN_MAX);
    }
}
