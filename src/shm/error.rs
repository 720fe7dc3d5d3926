//! What can go wrong creating, joining or taking a role in a link in shared memory.

use core::fmt;
use std::io;

use crate::error::LinkError;

/// A role in a link in shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The producer.
    Producer,
    /// Reliable consumer `k`.
    Reliable(usize),
    /// Lossy consumer `k`.
    Lossy(usize),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Producer => f.write_str("producer"),
            Role::Reliable(k) => write!(f, "reliable consumer {k}"),
            Role::Lossy(k) => write!(f, "lossy consumer {k}"),
        }
    }
}

/// Why a link in shared memory could not be created or joined, or a role not taken. The
/// region is left as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShmError {
    /// A system call failed (`op` names it: "create", "open", "map", ...).
    Io {
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file already exists at the path (create with
    /// [`replace`](crate::shm::ShmBuilder::replace) to replace it).
    AlreadyExists,
    /// The region is shorter than its header says (or than a header).
    Truncated {
        /// The region's length.
        len: u64,
        /// The length it needs.
        needed: u64,
    },
    /// The region does not start with milonga's magic: it is not a link (or its creator
    /// has not finished initialising it).
    NotALink {
        /// The first 8 bytes, as a little-endian word.
        magic: u64,
    },
    /// The region was laid out by another version of milonga.
    Version {
        /// The region's layout version.
        found: u64,
        /// This build's.
        expected: u64,
    },
    /// The region was laid out by a build that shapes some part differently (another
    /// architecture, or another layout of the same version).
    LayoutMismatch {
        /// The region's layout hash.
        found: u64,
        /// This build's.
        expected: u64,
    },
    /// A header field is out of range or disagrees with the geometry.
    Corrupt {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The geometry is not one a link may have (in a builder, or in a header).
    Geometry(LinkError),
    /// The region would not fit the address space.
    TooLarge,
    /// The link has no such role (consumer index out of range).
    NoSuchRole(Role),
    /// A live process holds the role.
    RoleHeld {
        /// The role.
        role: Role,
        /// The holder's pid.
        pid: u32,
    },
    /// A process that died holds the role: take it with the `reclaim_*` methods.
    HolderDied {
        /// The role.
        role: Role,
        /// The dead holder's pid.
        pid: u32,
    },
    /// The producer evicted this reliable consumer (it died, and the link evicts dead
    /// consumers): the role stays out of the link.
    Evicted(Role),
    /// The role's word holds a value this build never writes.
    CorruptRole {
        /// The role.
        role: Role,
        /// The word.
        word: u64,
    },
    /// The producer's write mode does not match the link: a link with lossy consumers
    /// needs a [`Shared`](crate::spsc::Shared) producer, one without an
    /// [`Exclusive`](crate::spsc::Exclusive) one.
    WriteMode {
        /// The link's lossy consumer slots.
        lossy: usize,
    },
    /// The link was opened read-only: it can be observed, not joined.
    ReadOnly,
    /// The stream's metadata names a payload outside the store: the producer that left it
    /// did not follow the protocol, and a new one cannot take it over.
    StreamCorrupt {
        /// The seq of the frag.
        seq: u64,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Io { op, source } => write!(f, "shared memory {op} failed: {source}"),
            ShmError::AlreadyExists => f.write_str("a file already exists at that path"),
            ShmError::Truncated { len, needed } => {
                write!(f, "region of {len} bytes, needs {needed}")
            }
            ShmError::NotALink { magic } => {
                write!(f, "not a milonga link (magic {magic:#018x})")
            }
            ShmError::Version { found, expected } => {
                write!(f, "layout version {found}, this build reads {expected}")
            }
            ShmError::LayoutMismatch { found, expected } => write!(
                f,
                "layout hash {found:#018x}, this build's is {expected:#018x}"
            ),
            ShmError::Corrupt { field, value } => {
                write!(f, "corrupt header: {field} = {value}")
            }
            ShmError::Geometry(e) => write!(f, "bad geometry: {e}"),
            ShmError::TooLarge => f.write_str("the region would not fit the address space"),
            ShmError::NoSuchRole(role) => write!(f, "the link has no {role}"),
            ShmError::RoleHeld { role, pid } => write!(f, "the {role} is held by pid {pid}"),
            ShmError::HolderDied { role, pid } => write!(
                f,
                "the {role} is held by pid {pid}, which died (reclaim it explicitly)"
            ),
            ShmError::Evicted(role) => write!(f, "the {role} was evicted"),
            ShmError::CorruptRole { role, word } => {
                write!(f, "the {role}'s word is corrupt ({word:#018x})")
            }
            ShmError::WriteMode { lossy } => write!(
                f,
                "write mode mismatch: the link has {lossy} lossy consumer slots"
            ),
            ShmError::ReadOnly => f.write_str("the link was opened read-only"),
            ShmError::StreamCorrupt { seq } => {
                write!(f, "frag {seq} names a payload outside the store")
            }
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io { source, .. } => Some(source),
            ShmError::Geometry(e) => Some(e),
            _ => None,
        }
    }
}

/// Compares everything but the I/O error's payload (its kind instead).
impl PartialEq for ShmError {
    fn eq(&self, other: &Self) -> bool {
        use ShmError::*;
        match (self, other) {
            (Io { op: a, source: x }, Io { op: b, source: y }) => a == b && x.kind() == y.kind(),
            (AlreadyExists, AlreadyExists) | (TooLarge, TooLarge) | (ReadOnly, ReadOnly) => true,
            (Truncated { len: a, needed: b }, Truncated { len: c, needed: d }) => (a, b) == (c, d),
            (NotALink { magic: a }, NotALink { magic: b }) => a == b,
            (
                Version {
                    found: a,
                    expected: b,
                },
                Version {
                    found: c,
                    expected: d,
                },
            )
            | (
                LayoutMismatch {
                    found: a,
                    expected: b,
                },
                LayoutMismatch {
                    found: c,
                    expected: d,
                },
            ) => (a, b) == (c, d),
            (Corrupt { field: a, value: b }, Corrupt { field: c, value: d }) => (a, b) == (c, d),
            (Geometry(a), Geometry(b)) => a == b,
            (NoSuchRole(a), NoSuchRole(b)) | (Evicted(a), Evicted(b)) => a == b,
            (RoleHeld { role: a, pid: b }, RoleHeld { role: c, pid: d })
            | (HolderDied { role: a, pid: b }, HolderDied { role: c, pid: d }) => (a, b) == (c, d),
            (CorruptRole { role: a, word: b }, CorruptRole { role: c, word: d }) => {
                (a, b) == (c, d)
            }
            (WriteMode { lossy: a }, WriteMode { lossy: b }) => a == b,
            (StreamCorrupt { seq: a }, StreamCorrupt { seq: b }) => a == b,
            _ => false,
        }
    }
}
