//! A mapped region: created and initialised, or opened and validated; the views into it.

use std::borrow::ToOwned;
use std::format;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::assembly::Parts;
use crate::cnc::Cnc;
use crate::dcache::{Chunk, DCache};
use crate::fseq::Fseq;
use crate::mcache::{MCache, Slot};
use crate::shm::error::{Role, ShmError};
use crate::shm::layout::{validate, Header, Layout, HEADER_SIZE, MAGIC};
use crate::shm::role::{Me, RoleLine};
use crate::sync::{AtomicU64, Ordering::Acquire, Ordering::Release, Ref, Track};

/// Payload access tracking is a no-op outside loom (and shared memory is never under loom).
static NO_TRACK: Track = Track::new(0);

/// A mapped, validated region.
pub(crate) struct Region {
    map: memmap2::MmapRaw,
    pub(crate) layout: Layout,
    pub(crate) writable: bool,
    pub(crate) path: Option<PathBuf>,
    pub(crate) me: Me,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> ShmError {
    move |source| ShmError::Io { op, source }
}

impl Region {
    /// Maps `file` (`size` bytes, fresh and zero-filled, seen by nobody else yet) and
    /// initialises a link of `layout` in it; the magic is stored last.
    pub(crate) fn init(
        file: &File,
        layout: Layout,
        path: Option<PathBuf>,
    ) -> Result<Region, ShmError> {
        file.set_len(layout.size as u64).map_err(io("resize"))?;
        let map = memmap2::MmapOptions::new()
            .len(layout.size)
            .map_raw(file)
            .map_err(io("map"))?;
        let region = Region {
            map,
            layout,
            writable: true,
            path,
            me: Me::get(),
        };
        let g = layout.geometry;
        let base = region.map.as_mut_ptr();
        // SAFETY: the mapping is `layout.size` bytes, page-aligned, and every part lies
        // inside it at an offset that is a multiple of 128 (the layout's construction), so
        // each write is in bounds and aligned. The file was just created by this process
        // and no other process can have mapped it yet (it is not at its final path), so
        // nothing reads these bytes while they are written. All-zero bytes are already a
        // valid role line, ledger entry and chunk.
        unsafe {
            core::ptr::write(base.add(layout.cnc).cast::<Cnc>(), Cnc::new());
            for (off, n) in [(layout.fseqs, g.reliable), (layout.lossy, g.lossy)] {
                let fseqs = base.add(off).cast::<Fseq>();
                for i in 0..n {
                    core::ptr::write(fseqs.add(i), Fseq::new(g.seq0));
                }
            }
            let slots = base.add(layout.slots).cast::<Slot>();
            for i in 0..g.depth {
                core::ptr::write(slots.add(i), Slot::empty(g.seq0));
            }
        }
        let header = region.header();
        header.write(&layout.header());
        // Creation step: every part is initialised before the magic, which a joiner
        // acquires first.
        header.magic.store(MAGIC, Release);
        Ok(region)
    }

    /// Maps and validates the region in `file`.
    pub(crate) fn open(
        file: &File,
        writable: bool,
        path: Option<PathBuf>,
    ) -> Result<Region, ShmError> {
        let len = file.metadata().map_err(io("stat"))?.len();
        if len < HEADER_SIZE as u64 {
            return Err(ShmError::Truncated {
                len,
                needed: HEADER_SIZE as u64,
            });
        }
        let size = usize::try_from(len).map_err(|_| ShmError::TooLarge)?;
        let mut options = memmap2::MmapOptions::new();
        options.len(size);
        let map = if writable {
            options.map_raw(file)
        } else {
            options.map_raw_read_only(file)
        }
        .map_err(io("map"))?;
        // SAFETY: the mapping holds at least a header (checked above), at a page-aligned
        // address; the header is all atomics, so reading it while another process writes
        // it is no data race.
        let header = unsafe { &*map.as_ptr().cast::<Header>() };
        if header.magic.load(Acquire) != MAGIC {
            return Err(ShmError::NotALink {
                magic: header.magic.load(Acquire),
            });
        }
        let layout = validate(&header.values(), len)?;
        Ok(Region {
            map,
            layout,
            writable,
            path,
            me: Me::get(),
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a header (created so, or checked by `open`).
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    /// `n` values of `T` at byte offset `off`.
    ///
    /// # Safety
    /// The layout places `n` initialised values of `T` at `off` (it was validated against
    /// the mapping's length, and its offsets are aligned for every part).
    unsafe fn slice<T>(&self, off: usize, n: usize) -> &[T] {
        // SAFETY: the caller's contract; every `T` here is made of atomics (or of payload
        // chunks accessed under the credit protocol), so shared references to memory other
        // processes write are sound.
        unsafe { core::slice::from_raw_parts(self.map.as_ptr().add(off).cast::<T>(), n) }
    }

    /// The line of `role` (which the caller checked exists).
    pub(crate) fn role(&self, role: Role) -> &RoleLine {
        let g = self.layout.geometry;
        let i = match role {
            Role::Producer => 0,
            Role::Reliable(k) => 1 + k,
            Role::Lossy(k) => 1 + g.reliable + k,
        };
        // SAFETY: the layout holds `1 + reliable + lossy` role lines at `roles`.
        let lines = unsafe { self.slice::<RoleLine>(self.layout.roles, 1 + g.reliable + g.lossy) };
        &lines[i]
    }

    /// The link's views, borrowed from the region.
    pub(crate) fn parts(&self) -> Parts<'_> {
        let l = self.layout;
        let g = l.geometry;
        let ledger_len = if l.shared() { g.depth } else { 0 };
        // SAFETY: validated layout (see `slice`): each part holds exactly these counts.
        unsafe {
            let chunks = self.slice::<Chunk>(l.chunks, g.data_bytes / crate::CHUNK_SZ);
            Parts {
                mcache: MCache::new(
                    self.slice::<Slot>(l.slots, g.depth),
                    self.slice::<AtomicU64>(l.ledger, ledger_len),
                ),
                dcache: DCache::new(chunks, &NO_TRACK, g.mtu),
                fseqs: Ref::new(self.slice::<Fseq>(l.fseqs, g.reliable)),
                lossy: Ref::new(self.slice::<Fseq>(l.lossy, g.lossy)),
                cnc: Ref::new(&self.slice::<Cnc>(l.cnc, 1)[0]),
                seq0: g.seq0,
            }
        }
    }

    /// Creates the file at `path` (or replaces it) with the region initialised: built under
    /// a temporary name and linked into place, so no joiner ever sees it half made.
    pub(crate) fn create(
        path: &Path,
        layout: Layout,
        mode: u32,
        replace: bool,
    ) -> Result<Region, ShmError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            crate::shm::role::now_ns()
        ));
        let tmp = PathBuf::from(tmp);
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("create"))?;
        let made = Region::init(&file, layout, Some(path.to_owned())).and_then(|region| {
            let linked = if replace {
                std::fs::rename(&tmp, path)
            } else {
                std::fs::hard_link(&tmp, path)
            };
            match linked {
                Ok(()) => Ok(region),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(ShmError::AlreadyExists)
                }
                Err(e) => Err(ShmError::Io {
                    op: "link",
                    source: e,
                }),
            }
        });
        let _ = std::fs::remove_file(&tmp);
        made
    }
}
