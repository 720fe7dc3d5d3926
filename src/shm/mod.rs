//! Links in shared memory, joined by several processes (std, unix).
//!
//! A link's parts (the metadata ring, the payload store, one fseq per consumer, the cnc)
//! are laid out in one region (a file on a tmpfs such as `/dev/shm`, or a memfd handed to
//! another process), behind a header, at offsets that are multiples of 128 bytes. The
//! algorithms are the very ones of heap and inline links: a process that joins a link
//! gets the crate's ordinary [`Producer`], [`Consumer`] and [`LossyConsumer`] handles (and
//! so the typed layer, batches, wait strategies and metrics), each tied to one *role* it
//! claimed in the region.
//!
//! ```
//! use milonga::shm::ShmLink;
//! use milonga::Header;
//!
//! # let dir = std::env::temp_dir().join(format!("milonga-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let path = dir.join("quotes");
//! let link = ShmLink::builder().depth(64).mtu(128).create(&path)?;
//!
//! // In the producing process:
//! let mut tx = link.producer()?;
//! tx.try_publish(Header::new(7), b"bid 100")?;
//!
//! // In a consuming process (here the same one, through the file):
//! let joined = ShmLink::open(&path)?;
//! let mut rx = joined.consumer(0)?;
//! assert_eq!(rx.try_recv()?.payload(), b"bid 100");
//! assert!(joined.consumer(0).is_err()); // one holder per role
//! # drop((tx, rx, link, joined));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The region
//! The header holds a magic, the layout version, a layout hash (the size and alignment of
//! every part in this build: two builds that would shape a part differently refuse each
//! other's regions), the geometry, the flags and every part's offset. A creator builds the
//! region under a temporary name, initialises every part, stores the magic last and then
//! links the file into place, so a joiner never sees a region half made. A joiner checks
//! the header against the file's length and this build's limits before it forms any view
//! ([`validate_header`]): a foreign, truncated, corrupt or version-mismatched region is a
//! named [`ShmError`], never a panic.
//!
//! # Roles
//! The producer, each reliable consumer `k` and each lossy consumer `k` is a role, held by
//! at most one handle at a time: [`ShmLink::producer`], [`ShmLink::consumer`] and
//! [`ShmLink::lossy_consumer`] claim it with one compare-exchange on its word (state, pid
//! and the holder's start time), and dropping the handle gives it back. A role whose
//! holder died is taken over only explicitly, with the `reclaim_*` methods.
//!
//! - A **reliable consumer is durable**: its fseq keeps gating the producer while nobody
//!   holds the role, and the next holder resumes from the progress (and counters) the last
//!   one published: it may see again the few frags the last holder read after its last
//!   housekeeping (at-least-once), and it never misses one.
//! - A **lossy consumer** resumes the same way; what was overwritten meanwhile is counted
//!   as lost by its first read.
//! - A **producer** continues the stream where it stands: the next seq and payload position
//!   are found from the producer counters and the metadata ring (checked like any other
//!   metadata from another process).
//!
//! # Crashes
//! Each handle beats a heartbeat in its role's line (the monotonic clock, at housekeeping
//! and while it waits), and checks its peers' processes (the pid exists, is not a zombie,
//! and on Linux started when the holder did) at most every [`CHECK_INTERVAL_NS`]:
//! - a consumer that finds nothing to read and finds the producer's process gone closes
//!   the stream on its behalf, at the seq after the last frag it published (one consumer
//!   does this; the role's word fences the others). Every consumer then drains what was
//!   published and gets [`TryRecvError::Failed`](crate::TryRecvError::Failed); nothing
//!   torn is ever delivered, since only frags whose publish completed are read;
//! - a producer out of credits checks its reliable consumers. A dead one shows as
//!   [`RoleState::Dead`] in [`ShmLink::status`]; by the link's [`DeadConsumer`] policy the
//!   producer keeps waiting for a new holder to reclaim the role (the default) or evicts it
//!   so credits flow again (it never gates the producer, and never rejoins).
//!
//! A heartbeat only says that a holder still calls into the link: a producer that
//! publishes rarely should call [`Producer::housekeeping`] from its idle loop (a consumer
//! that polls beats as it polls), or observers will see its heartbeat age while its
//! process lives. Liveness decisions (fencing, eviction, [`RoleState::Dead`]) rest on the
//! process check alone, never on the heartbeat's age.
//!
//! All processes of a link must share a pid namespace (as with any pid-based liveness).
//!
//! # Who can join, and what a bad joiner can do
//! A region is created with owner-only permissions (`0o600`; [`ShmBuilder::mode`] widens
//! them), so only processes of the same user (and root) can open it; a memfd is reached
//! only by processes it is handed to. A process that can map the region can write any
//! byte of it, so it can corrupt the data on the link, make consumers see frags that
//! were never published, stall the producer, or claim roles it should not. It cannot make
//! another process read or write outside the region: a joiner trusts no header field it
//! did not validate, and every payload address is computed from metadata only after the
//! chunk and size were checked against the store's bounds and the mtu (a frag that fails
//! is [`TryRecvError::Corrupt`](crate::TryRecvError::Corrupt)). A process that shrinks
//! the file under the others makes their next access to the lost pages fault (`SIGBUS`);
//! a memfd link is sealed against shrinking and growing, so it cannot.

mod error;
mod layout;
mod region;
mod role;
mod status;
mod watch;

use std::borrow::ToOwned;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

pub use error::{Role, ShmError};
pub use layout::{validate_header, Geometry, HeaderValues, LAYOUT_HASH, LAYOUT_VERSION, MAX_DEPTH};
pub use status::{LinkStatus, RoleState, RoleStatus};
pub use watch::CHECK_INTERVAL_NS;

use crate::fctl::{Fctl, FlowConfig};
use crate::liveness::{Hook, Resume, Watch};
use crate::metrics::Metrics;
use crate::spsc::{Consumer, Exclusive, LossyConsumer, Producer, WriteMode};
use crate::sync::Keep;
use layout::Layout;
use region::Region;
use role::ClaimError;
use watch::HandleWatch;

/// What a producer does about a reliable consumer whose process died.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadConsumer {
    /// Keep waiting (the consumer is durable): the producer runs out of credits until a
    /// new process reclaims the role ([`ShmLink::reclaim_consumer`]) and reads on. The dead
    /// consumer shows in [`ShmLink::status`].
    #[default]
    Wait,
    /// Evict it: it stops gating the producer, and the role can never be claimed again.
    /// If it was the link's last consumer, the producer then reports
    /// [`PublishError::Disconnected`](crate::PublishError::Disconnected).
    Evict,
}

/// Settings of a link to create in shared memory; see [`ShmLink::builder`].
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct ShmBuilder {
    depth: usize,
    mtu: usize,
    data_bytes: Option<usize>,
    reliable: usize,
    lossy: usize,
    seq0: u64,
    dead: DeadConsumer,
    mode: u32,
    replace: bool,
}

impl ShmBuilder {
    /// Slots in the metadata ring: a power of two of at least 2 (default 1024).
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The largest payload of one frag, in bytes (default 1500).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// The payload store's size in bytes, a multiple of 64 (default
    /// [`data_bytes(depth, mtu)`](crate::data_bytes)).
    pub fn data_bytes(mut self, bytes: usize) -> Self {
        self.data_bytes = Some(bytes);
        self
    }

    /// Reliable consumer slots (default 1).
    pub fn reliable(mut self, n: usize) -> Self {
        self.reliable = n;
        self
    }

    /// Lossy consumer slots (default 0). A link with lossy slots has a
    /// [`Shared`](crate::spsc::Shared) producer.
    pub fn lossy(mut self, n: usize) -> Self {
        self.lossy = n;
        self
    }

    /// The seq of the stream's first frag (default 0).
    pub fn first_seq(mut self, seq0: u64) -> Self {
        self.seq0 = seq0;
        self
    }

    /// What the producer does about a reliable consumer that died (default
    /// [`DeadConsumer::Wait`]).
    pub fn on_dead_consumer(mut self, policy: DeadConsumer) -> Self {
        self.dead = policy;
        self
    }

    /// The file's permission bits (default `0o600`: the owner only).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Replace a file already at the path (default: creating fails with
    /// [`ShmError::AlreadyExists`]). Processes that mapped the old file keep it.
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    fn layout(&self) -> Result<Layout, ShmError> {
        let data_bytes = self
            .data_bytes
            .unwrap_or_else(|| crate::data_bytes(self.depth, self.mtu));
        Layout::new(
            Geometry {
                depth: self.depth,
                mtu: self.mtu,
                data_bytes,
                reliable: self.reliable,
                lossy: self.lossy,
                seq0: self.seq0,
            },
            self.dead == DeadConsumer::Evict,
        )
    }

    /// Creates the link in a new file at `path` (on a tmpfs such as `/dev/shm`, for
    /// memory that is never written back to a disk).
    ///
    /// # Errors
    /// [`ShmError::Geometry`] for a bad setting, [`ShmError::AlreadyExists`],
    /// [`ShmError::Io`]; nothing is left at the path then.
    pub fn create(self, path: impl AsRef<Path>) -> Result<ShmLink, ShmError> {
        let layout = self.layout()?;
        let region = Region::create(path.as_ref(), layout, self.mode, self.replace)?;
        Ok(ShmLink {
            region: Arc::new(region),
        })
    }

    /// Creates the link in an anonymous memory file (Linux `memfd`), sealed against
    /// shrinking and growing. Hand the returned descriptor to another process (inherited,
    /// or over a Unix socket) and join with [`ShmLink::from_fd`].
    ///
    /// # Errors
    /// As [`create`](Self::create).
    #[cfg(target_os = "linux")]
    pub fn create_memfd(self, name: &str) -> Result<(ShmLink, OwnedFd), ShmError> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let layout = self.layout()?;
        let io = |op| {
            move |e: rustix::io::Errno| ShmError::Io {
                op,
                source: e.into(),
            }
        };
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(io("memfd"))?;
        let file = std::fs::File::from(fd);
        let region = Region::init(&file, layout, None)?;
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(io("seal"))?;
        Ok((
            ShmLink {
                region: Arc::new(region),
            },
            OwnedFd::from(file),
        ))
    }
}

/// A link in shared memory, mapped into this process: the roles it offers and what an
/// observer can read. Cloning it shares the mapping; every handle taken from it keeps the
/// mapping alive.
#[derive(Clone)]
pub struct ShmLink {
    region: Arc<Region>,
}

impl core::fmt::Debug for ShmLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShmLink")
            .field("path", &self.region.path)
            .field("geometry", &self.region.layout.geometry)
            .field("writable", &self.region.writable)
            .finish()
    }
}

impl ShmLink {
    /// A builder with the defaults: depth 1024, mtu 1500, one reliable consumer slot, no
    /// lossy one, owner-only permissions.
    pub const fn builder() -> ShmBuilder {
        ShmBuilder {
            depth: 1024,
            mtu: 1500,
            data_bytes: None,
            reliable: 1,
            lossy: 0,
            seq0: 0,
            dead: DeadConsumer::Wait,
            mode: 0o600,
            replace: false,
        }
    }

    /// Opens and validates the link at `path`, to take roles in it.
    ///
    /// # Errors
    /// [`ShmError::Io`] if it cannot be opened or mapped; a named error for a region that
    /// is not a valid link of this build ([`validate_header`]).
    pub fn open(path: impl AsRef<Path>) -> Result<ShmLink, ShmError> {
        Self::open_with(path.as_ref(), true)
    }

    /// Opens and validates the link at `path` read-only, to observe it
    /// ([`metrics`](Self::metrics), [`status`](Self::status)) without being able to
    /// change a byte of it. Taking a role fails with [`ShmError::ReadOnly`].
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<ShmLink, ShmError> {
        Self::open_with(path.as_ref(), false)
    }

    fn open_with(path: &Path, writable: bool) -> Result<ShmLink, ShmError> {
        let file = std::fs::File::options()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|source| ShmError::Io { op: "open", source })?;
        let region = Region::open(&file, writable, Some(path.to_owned()))?;
        Ok(ShmLink {
            region: Arc::new(region),
        })
    }

    /// Joins the link in a descriptor handed over by another process (a memfd from
    /// [`ShmBuilder::create_memfd`], or any open file of a region).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_fd(fd: OwnedFd) -> Result<ShmLink, ShmError> {
        let file = std::fs::File::from(fd);
        let region = Region::open(&file, true, None)?;
        Ok(ShmLink {
            region: Arc::new(region),
        })
    }

    /// The link's geometry.
    pub fn geometry(&self) -> Geometry {
        self.region.layout.geometry
    }

    /// The path the link was created at or opened from (none for a memfd).
    pub fn path(&self) -> Option<&Path> {
        self.region.path.as_deref()
    }

    /// The link's policy for reliable consumers that die.
    pub fn dead_consumer_policy(&self) -> DeadConsumer {
        if self.region.layout.evict() {
            DeadConsumer::Evict
        } else {
            DeadConsumer::Wait
        }
    }

    /// A metrics handle: the producer's and every consumer's published counters and lags,
    /// as for any link. Takes no role.
    pub fn metrics(&self) -> Metrics<'static> {
        let keep: Keep = Some(self.region.clone());
        // SAFETY: the handle holds `keep`, an `Arc` of the region, so the mapping outlives
        // every view it was built from.
        let parts = unsafe { self.static_parts() };
        parts.metrics(keep)
    }

    /// Every role's holder and whether it is alive (each holder's process is checked now),
    /// with the producer's signal.
    pub fn status(&self) -> LinkStatus {
        let g = self.geometry();
        let r = &self.region;
        LinkStatus {
            signal: r.parts().cnc.signal(),
            producer: RoleStatus::read(Role::Producer, r.role(Role::Producer)),
            reliable: (0..g.reliable)
                .map(|k| RoleStatus::read(Role::Reliable(k), r.role(Role::Reliable(k))))
                .collect(),
            lossy: (0..g.lossy)
                .map(|k| RoleStatus::read(Role::Lossy(k), r.role(Role::Lossy(k))))
                .collect(),
        }
    }

    /// The views of the region with the `'static` lifetime.
    ///
    /// # Safety
    /// Every handle built from them must hold a `Keep` of the region.
    unsafe fn static_parts(&self) -> crate::assembly::Parts<'static> {
        // SAFETY: the region lives in an `Arc` that the caller's handles keep alive, so
        // extending the borrow to `'static` never outlives the mapping.
        unsafe { &*Arc::as_ptr(&self.region) }.parts()
    }

    /// Claims `role`, and builds the keep and hook of the handle that will hold it.
    fn claim(&self, role: Role, reclaim: bool) -> Result<(Keep, Hook<'static>), ShmError> {
        if !self.region.writable {
            return Err(ShmError::ReadOnly);
        }
        let g = self.geometry();
        match role {
            Role::Reliable(k) if k >= g.reliable => return Err(ShmError::NoSuchRole(role)),
            Role::Lossy(k) if k >= g.lossy => return Err(ShmError::NoSuchRole(role)),
            _ => {}
        }
        let mine = self
            .region
            .role(role)
            .claim(self.region.me, reclaim)
            .map_err(|e| match e {
                ClaimError::Held(pid) => ShmError::RoleHeld { role, pid },
                ClaimError::HeldByDead(pid) => ShmError::HolderDied { role, pid },
                ClaimError::Evicted => ShmError::Evicted(role),
                ClaimError::Corrupt(word) => ShmError::CorruptRole { role, word },
            })?;
        let watch = Arc::new(HandleWatch::new(self.region.clone(), role, mine));
        // SAFETY: the watch lives in an `Arc` that the handle keeps (returned with the
        // hook), so the reference never outlives it.
        let hook = Hook::new(unsafe { &*Arc::as_ptr(&watch) } as &'static dyn Watch);
        let keep: Keep = Some(watch);
        Ok((keep, hook))
    }

    fn take_producer<W: WriteMode>(&self, reclaim: bool) -> Result<Producer<'static, W>, ShmError> {
        if !self.region.writable {
            return Err(ShmError::ReadOnly);
        }
        if W::SHARED != self.region.layout.shared() {
            return Err(ShmError::WriteMode {
                lossy: self.geometry().lossy,
            });
        }
        let flow = FlowConfig::new()
            .resolve(self.geometry().depth as u64)
            .map_err(ShmError::Geometry)?;
        let (keep, mut hook) = self.claim(Role::Producer, reclaim)?;
        // SAFETY: the producer holds `keep`, which holds the region.
        let parts = unsafe { self.static_parts() };
        let at = match Resume::find(parts.mcache, &parts.dcache, &parts.cnc, parts.seq0) {
            Ok(at) => at,
            Err(seq) => {
                hook.leave();
                return Err(ShmError::StreamCorrupt { seq });
            }
        };
        parts.cnc.reopen();
        let fctl = Fctl::new(parts.fseqs, parts.lossy, flow);
        Ok(Producer::resume(parts, fctl, keep, at, hook))
    }

    /// Takes the producer role of a link without lossy consumer slots (whose producer
    /// writes payloads with plain copies, [`Exclusive`]); for a link with lossy slots use
    /// [`shared_producer`](Self::shared_producer). The producer continues the stream where
    /// it stands (a new link: at its first seq).
    ///
    /// # Errors
    /// [`ShmError::RoleHeld`] (a live process is the producer), [`ShmError::HolderDied`]
    /// (the last producer died: use [`reclaim_producer`](Self::reclaim_producer)),
    /// [`ShmError::WriteMode`], [`ShmError::ReadOnly`], [`ShmError::StreamCorrupt`].
    pub fn producer(&self) -> Result<Producer<'static, Exclusive>, ShmError> {
        self.take_producer(false)
    }

    /// Takes the producer role of a link with lossy consumer slots (its producer writes
    /// payloads with atomic stores, [`Shared`](crate::spsc::Shared)).
    ///
    /// # Errors
    /// As [`producer`](Self::producer).
    pub fn shared_producer(&self) -> Result<Producer<'static, crate::spsc::Shared>, ShmError> {
        self.take_producer(false)
    }

    /// Takes over the producer role from a process that died (or takes a free role). The
    /// stream, closed as failed if a consumer noticed the death, is open again and goes on
    /// after the last frag the dead producer published.
    ///
    /// # Errors
    /// As [`producer`](Self::producer), except [`ShmError::HolderDied`].
    pub fn reclaim_producer<W: WriteMode>(&self) -> Result<Producer<'static, W>, ShmError> {
        self.take_producer(true)
    }

    fn take_consumer(&self, k: usize, reclaim: bool) -> Result<Consumer<'static>, ShmError> {
        let (keep, hook) = self.claim(Role::Reliable(k), reclaim)?;
        let flow = FlowConfig::new()
            .resolve(self.geometry().depth as u64)
            .map_err(ShmError::Geometry)?;
        // SAFETY: the consumer holds `keep`, which holds the region.
        let parts = unsafe { self.static_parts() };
        Ok(Consumer::resume(
            parts,
            parts.fseqs.at(k),
            flow.release_every,
            keep,
            hook,
        ))
    }

    /// Takes reliable consumer role `k`: it resumes from the progress the role last
    /// published (a new link: the first frag).
    ///
    /// # Errors
    /// [`ShmError::NoSuchRole`], [`ShmError::RoleHeld`], [`ShmError::HolderDied`] (use
    /// [`reclaim_consumer`](Self::reclaim_consumer)), [`ShmError::Evicted`],
    /// [`ShmError::ReadOnly`].
    pub fn consumer(&self, k: usize) -> Result<Consumer<'static>, ShmError> {
        self.take_consumer(k, false)
    }

    /// Takes over reliable consumer role `k` from a process that died (or takes a free
    /// role); it resumes from the dead holder's last published progress.
    ///
    /// # Errors
    /// As [`consumer`](Self::consumer), except [`ShmError::HolderDied`].
    pub fn reclaim_consumer(&self, k: usize) -> Result<Consumer<'static>, ShmError> {
        self.take_consumer(k, true)
    }

    fn take_lossy(&self, k: usize, reclaim: bool) -> Result<LossyConsumer<'static>, ShmError> {
        let (keep, hook) = self.claim(Role::Lossy(k), reclaim)?;
        let flow = FlowConfig::new()
            .resolve(self.geometry().depth as u64)
            .map_err(ShmError::Geometry)?;
        // SAFETY: the consumer holds `keep`, which holds the region.
        let parts = unsafe { self.static_parts() };
        Ok(LossyConsumer::resume(
            parts,
            parts.lossy.at(k),
            flow.release_every,
            keep,
            hook,
        ))
    }

    /// Takes lossy consumer role `k`: it resumes from the progress the role last
    /// published, and its first read counts what was overwritten since as lost.
    ///
    /// # Errors
    /// As [`consumer`](Self::consumer).
    pub fn lossy_consumer(&self, k: usize) -> Result<LossyConsumer<'static>, ShmError> {
        self.take_lossy(k, false)
    }

    /// Takes over lossy consumer role `k` from a process that died (or takes a free role).
    ///
    /// # Errors
    /// As [`lossy_consumer`](Self::lossy_consumer), except [`ShmError::HolderDied`].
    pub fn reclaim_lossy_consumer(&self, k: usize) -> Result<LossyConsumer<'static>, ShmError> {
        self.take_lossy(k, true)
    }
}
