//! Reading links from shared memory: the files to watch (named ones, and every file
//! directly in a named directory), each opened read-only once
//! ([`ShmLink::open_read_only`]: the mapping cannot change a byte of the link, and no role
//! can be claimed through it) and kept open while its file stays the same, and sampled at
//! each refresh through its status (which checks every holder's process then) and its
//! metrics.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use milonga::shm::{self, RoleStatus, ShmLink};

use crate::model::{Entry, Geometry, LinkView, Peer, Report, RoleState, Sample};

/// A link kept open between refreshes.
struct Open {
    link: ShmLink,
    /// The file's device and inode when it was opened: a file made anew under the same
    /// name is opened anew.
    id: (u64, u64),
    /// The sample of the last refresh (for rates).
    prev: Option<Sample>,
}

/// The links under watch.
pub struct Watch {
    targets: Vec<PathBuf>,
    interval: Duration,
    stale: Duration,
    verbose: bool,
    open: BTreeMap<PathBuf, Open>,
    refresh: u64,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("targets", &self.targets)
            .field("open", &self.open.keys().collect::<Vec<_>>())
            .field("refresh", &self.refresh)
            .finish()
    }
}

/// A file to look at, and whether it was named (its failures are errors) or found in a
/// directory (its failures are shown only when verbose).
struct Candidate {
    path: PathBuf,
    named: bool,
    id: (u64, u64),
}

fn role_state(s: shm::RoleState) -> RoleState {
    match s {
        shm::RoleState::Free => RoleState::Free,
        shm::RoleState::Live => RoleState::Live,
        shm::RoleState::Dead => RoleState::Dead,
        shm::RoleState::Evicted => RoleState::Evicted,
        shm::RoleState::Corrupt => RoleState::Corrupt,
        _ => RoleState::Unknown,
    }
}

fn peer(r: &RoleStatus) -> Peer {
    Peer {
        state: role_state(r.state),
        pid: r.pid,
        heartbeat_age: r.heartbeat_age,
        claims: r.claims,
    }
}

/// One reading of `link`: its status (which checks each holder's pid) and its metrics.
fn sample(link: &ShmLink) -> Sample {
    let status = link.status();
    let snapshot = link.metrics().snapshot();
    let g = link.geometry();
    Sample {
        at: Instant::now(),
        geometry: Geometry {
            depth: g.depth as u64,
            mtu: g.mtu as u64,
            data_bytes: g.data_bytes as u64,
            reliable: g.reliable as u64,
            lossy: g.lossy as u64,
            seq0: g.seq0,
        },
        producer: peer(&status.producer),
        reliable: status.reliable.iter().map(peer).collect(),
        lossy: status.lossy.iter().map(peer).collect(),
        signal: status.signal,
        snapshot,
    }
}

impl Watch {
    /// Watches `targets` (files, or directories whose files are watched).
    pub fn new(targets: Vec<PathBuf>, interval: Duration, stale: Duration, verbose: bool) -> Self {
        Watch {
            targets,
            interval,
            stale,
            verbose,
            open: BTreeMap::new(),
            refresh: 0,
        }
    }

    /// The files to look at, by path; problems with the targets go to `errors`.
    fn candidates(&self, errors: &mut Vec<String>) -> Vec<Candidate> {
        let mut found = BTreeMap::new();
        let id = |m: &std::fs::Metadata| (m.dev(), m.ino());
        for target in &self.targets {
            let meta = match std::fs::metadata(target) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(format!("{}: {e}", target.display()));
                    continue;
                }
            };
            if !meta.is_dir() {
                found.insert(target.clone(), (true, id(&meta)));
                continue;
            }
            let dir = match std::fs::read_dir(target) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("{}: {e}", target.display()));
                    continue;
                }
            };
            for entry in dir.flatten() {
                let path = entry.path();
                // Following symlinks; a file removed meanwhile is simply not there.
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => {
                        found.entry(path).or_insert((false, id(&m)));
                    }
                    _ => {}
                }
            }
        }
        found
            .into_iter()
            .map(|(path, (named, id))| Candidate { path, named, id })
            .collect()
    }

    /// Opens `c` unless it is open already (as the same file).
    fn open(&mut self, c: &Candidate) -> Result<&mut Open, String> {
        let same = self.open.get(&c.path).is_some_and(|o| o.id == c.id);
        if !same {
            self.open.remove(&c.path);
            let link = ShmLink::open_read_only(&c.path).map_err(|e| e.to_string())?;
            self.open.insert(
                c.path.clone(),
                Open {
                    link,
                    id: c.id,
                    prev: None,
                },
            );
        }
        Ok(self.open.get_mut(&c.path).expect("inserted above"))
    }

    /// Reads every link once: the report of this refresh, with rates since the last one.
    pub fn poll(&mut self) -> Report {
        let mut errors = Vec::new();
        let candidates = self.candidates(&mut errors);
        let mut entries = Vec::new();
        let (stale, verbose) = (self.stale, self.verbose);
        for c in &candidates {
            let shown = display(&c.path);
            match self.open(c) {
                Ok(open) => {
                    let cur = sample(&open.link);
                    let view = LinkView::new(shown, open.prev.as_ref(), cur.clone(), stale);
                    open.prev = Some(cur);
                    entries.push(Entry::Link(Box::new(view)));
                }
                Err(error) if c.named => errors.push(format!("{shown}: not a link: {error}")),
                Err(error) if verbose => entries.push(Entry::NotLink { path: shown, error }),
                Err(_) => {}
            }
        }
        // Links whose files are gone are closed.
        self.open
            .retain(|path, _| candidates.iter().any(|c| &c.path == path));
        let report = Report {
            targets: self.targets.iter().map(|t| display(t)).collect(),
            interval: self.interval,
            stale,
            refresh: self.refresh,
            entries,
            errors,
        };
        self.refresh += 1;
        report
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
