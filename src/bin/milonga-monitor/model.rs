//! What the monitor shows, as plain data: one [`Sample`] of a link (read from shared
//! memory by `watch`), and the [`Report`] made from two samples of every link (rates need
//! two), which `render` prints and `json` writes.

use std::time::{Duration, Instant};

use milonga::metrics::{ConsumerKind, ConsumerSnapshot, ProducerState, Snapshot};
use milonga::Signal;

/// Who holds a role of a link, as the link's status reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleState {
    /// Nobody holds it.
    Free,
    /// A live process holds it.
    Live,
    /// The process that held it is gone.
    Dead,
    /// A reliable consumer that died and that the producer stopped waiting for.
    Evicted,
    /// The role's word holds a value milonga never writes.
    Corrupt,
    /// A state this build of the monitor does not know.
    Unknown,
}

/// One role of a link: its state, its holder and how long ago the holder last showed life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Who holds it.
    pub state: RoleState,
    /// The holder's process id, if it has one.
    pub pid: Option<u32>,
    /// Time since the holder's last heartbeat, if it ever beat.
    pub heartbeat_age: Option<Duration>,
    /// How often the role was claimed.
    pub claims: u64,
}

/// What the monitor calls a peer: its role state, with a live peer whose heartbeat is
/// older than the stale threshold called stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nobody holds the role.
    Free,
    /// Held by a live process that beat recently.
    Live,
    /// Held by a live process whose heartbeat is older than the threshold.
    Stale,
    /// Held by a process that is gone.
    Dead,
    /// A dead reliable consumer the producer stopped waiting for.
    Evicted,
    /// The role's word is corrupt (or its state unknown to this build).
    Corrupt,
}

impl Health {
    /// The health of `peer` with `stale` as the threshold.
    pub fn of(peer: &Peer, stale: Duration) -> Health {
        match peer.state {
            RoleState::Free => Health::Free,
            RoleState::Dead => Health::Dead,
            RoleState::Evicted => Health::Evicted,
            RoleState::Corrupt | RoleState::Unknown => Health::Corrupt,
            RoleState::Live => match peer.heartbeat_age {
                Some(age) if age > stale => Health::Stale,
                _ => Health::Live,
            },
        }
    }

    /// The word shown for it: upper case for the states that need attention (so a script
    /// can look for `DEAD` or `STALE`).
    pub fn word(self) -> &'static str {
        match self {
            Health::Free => "free",
            Health::Live => "live",
            Health::Stale => "STALE",
            Health::Dead => "DEAD",
            Health::Evicted => "EVICTED",
            Health::Corrupt => "CORRUPT",
        }
    }

    /// How urgent it is, for colour: none, a warning (yellow) or an alarm (red).
    pub fn alarm(self) -> Alarm {
        match self {
            Health::Free | Health::Live => Alarm::None,
            Health::Stale | Health::Evicted => Alarm::Warn,
            Health::Dead | Health::Corrupt => Alarm::Bad,
        }
    }
}

/// What the producer side of a stream is doing, in a word or two (the library's own text
/// for [`ProducerState::Failed`] names a panic, but in shared memory a failed stream is
/// more often one whose producer process died).
pub fn stream(state: ProducerState) -> String {
    match state {
        ProducerState::NotStarted => "not started".into(),
        ProducerState::Running => "running".into(),
        ProducerState::HaltRequested => "halt requested".into(),
        ProducerState::Closed => "closed".into(),
        ProducerState::Failed => "failed".into(),
        ProducerState::User(v) => format!("user signal {v}"),
    }
}

/// How a figure is highlighted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// Plain.
    None,
    /// Yellow.
    Warn,
    /// Red.
    Bad,
}

/// A link's shape, as its header in shared memory holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Metadata ring slots.
    pub depth: u64,
    /// Largest payload in bytes.
    pub mtu: u64,
    /// Payload store size in bytes.
    pub data_bytes: u64,
    /// Reliable consumer slots.
    pub reliable: u64,
    /// Lossy consumer slots.
    pub lossy: u64,
    /// The first seq.
    pub seq0: u64,
}

/// One reading of one link.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was read.
    pub at: Instant,
    /// The link's shape.
    pub geometry: Geometry,
    /// The producer role.
    pub producer: Peer,
    /// The reliable consumer roles, by index.
    pub reliable: Vec<Peer>,
    /// The lossy consumer roles, by index.
    pub lossy: Vec<Peer>,
    /// The producer's signal as the status read it.
    pub signal: Signal,
    /// The link's counters.
    pub snapshot: Snapshot,
}

impl Sample {
    /// The role of a consumer of the snapshot, if the status has it.
    pub fn peer_of(&self, c: &ConsumerSnapshot) -> Option<&Peer> {
        match c.kind {
            ConsumerKind::Reliable => self.reliable.get(c.index),
            ConsumerKind::Lossy => self.lossy.get(c.index),
        }
    }
}

/// Frags and bytes per second between two samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Frags per second.
    pub frags: f64,
    /// Bytes per second.
    pub bytes: f64,
}

impl Rate {
    /// The rate of going from `(frags0, bytes0)` to `(frags1, bytes1)` in `dt`; none when
    /// `dt` is zero or a count went back (the link was made anew under the same name).
    pub fn between(before: (u64, u64), after: (u64, u64), dt: Duration) -> Option<Rate> {
        let secs = dt.as_secs_f64();
        if secs <= 0.0 || after.0 < before.0 || after.1 < before.1 {
            return None;
        }
        Some(Rate {
            frags: (after.0 - before.0) as f64 / secs,
            bytes: (after.1 - before.1) as f64 / secs,
        })
    }
}

/// One consumer of a [`LinkView`].
#[derive(Clone, Debug)]
pub struct ConsumerView {
    /// Its counters as of the newer sample.
    pub snap: ConsumerSnapshot,
    /// Its role, if the status has it.
    pub peer: Option<Peer>,
    /// Its health, if the status has its role.
    pub health: Option<Health>,
    /// Its consume rate between the two samples.
    pub rate: Option<Rate>,
}

impl ConsumerView {
    /// Overruns of either kind (lossy consumers only).
    pub fn overruns(&self) -> u64 {
        let c = &self.snap.counters;
        c.poll_overruns.saturating_add(c.read_overruns)
    }
}

/// A link as the monitor shows it: the newer sample, and the rates since the older one.
#[derive(Clone, Debug)]
pub struct LinkView {
    /// The link's file.
    pub path: String,
    /// The newer sample.
    pub sample: Sample,
    /// The producer's health.
    pub producer: Health,
    /// The publish rate between the two samples (none for a link seen once).
    pub publish: Option<Rate>,
    /// Every consumer: reliable ones first, then lossy ones.
    pub consumers: Vec<ConsumerView>,
}

impl LinkView {
    /// The view of `cur`, with rates since `prev` if there is one.
    pub fn new(path: String, prev: Option<&Sample>, cur: Sample, stale: Duration) -> LinkView {
        let dt = prev.map(|p| cur.at.saturating_duration_since(p.at));
        let publish = prev.zip(dt).and_then(|(p, dt)| {
            let before = &p.snapshot.producer;
            let after = &cur.snapshot.producer;
            Rate::between(
                (before.published_frags, before.published_bytes),
                (after.published_frags, after.published_bytes),
                dt,
            )
        });
        let consumers = cur
            .snapshot
            .consumers
            .iter()
            .map(|c| {
                let peer = cur.peer_of(c).copied();
                let rate = prev.zip(dt).and_then(|(p, dt)| {
                    let before = p
                        .snapshot
                        .consumers
                        .iter()
                        .find(|b| b.kind == c.kind && b.index == c.index)?;
                    Rate::between(
                        (
                            before.counters.consumed_frags,
                            before.counters.consumed_bytes,
                        ),
                        (c.counters.consumed_frags, c.counters.consumed_bytes),
                        dt,
                    )
                });
                ConsumerView {
                    snap: *c,
                    health: peer.map(|p| Health::of(&p, stale)),
                    peer,
                    rate,
                }
            })
            .collect();
        LinkView {
            path,
            producer: Health::of(&cur.producer, stale),
            publish,
            consumers,
            sample: cur,
        }
    }
}

/// One entry of a report.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A link.
    Link(Box<LinkView>),
    /// A file that is not a link (or could not be read as one).
    NotLink {
        /// The file.
        path: String,
        /// Why it is not a link.
        error: String,
    },
}

/// Everything one refresh shows.
#[derive(Clone, Debug)]
pub struct Report {
    /// The paths watched, as given.
    pub targets: Vec<String>,
    /// The time between refreshes.
    pub interval: Duration,
    /// A live peer whose heartbeat is older than this is stale.
    pub stale: Duration,
    /// How many refreshes came before this one.
    pub refresh: u64,
    /// Links and non-links, by path.
    pub entries: Vec<Entry>,
    /// Problems with the targets themselves (a directory that cannot be read).
    pub errors: Vec<String>,
}

impl Report {
    /// The links of the report.
    pub fn links(&self) -> impl Iterator<Item = &LinkView> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Link(l) => Some(&**l),
            Entry::NotLink { .. } => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use milonga::metrics::ConsumerKind;
    use milonga::spsc::Link;
    use milonga::Header;

    /// A sample of a heap link with one reliable and one lossy consumer, after `n` frags of
    /// 8 bytes were published and the reliable consumer read `read` of them.
    pub(crate) fn sample(n: u64, read: u64, at: Instant) -> Sample {
        let Link {
            mut producer,
            mut reliable,
            lossy,
            metrics,
        } = Link::builder()
            .depth(64)
            .mtu(8)
            .reliable(1)
            .lossy(1)
            .heap()
            .unwrap();
        for i in 0..n {
            producer
                .try_publish(Header::new(i), &i.to_le_bytes())
                .unwrap();
        }
        let rx = &mut reliable[0];
        for _ in 0..read {
            drop(rx.try_recv().unwrap());
        }
        rx.housekeeping();
        let snapshot = metrics.snapshot();
        drop((producer, reliable, lossy));
        let live = |pid| Peer {
            state: RoleState::Live,
            pid: Some(pid),
            heartbeat_age: Some(Duration::from_millis(5)),
            claims: 1,
        };
        Sample {
            at,
            geometry: Geometry {
                depth: 64,
                mtu: 8,
                data_bytes: 4096,
                reliable: 1,
                lossy: 1,
                seq0: 0,
            },
            producer: live(10),
            reliable: vec![live(11)],
            lossy: vec![Peer {
                state: RoleState::Free,
                pid: None,
                heartbeat_age: None,
                claims: 0,
            }],
            signal: Signal::Run,
            snapshot,
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let t0 = Instant::now();
        let a = sample(10, 4, t0);
        let b = sample(30, 14, t0 + Duration::from_millis(500));
        let v = LinkView::new("l".into(), Some(&a), b.clone(), Duration::from_secs(1));
        assert_eq!(
            v.publish,
            Some(Rate {
                frags: 40.0,
                bytes: 320.0
            })
        );
        let r = &v.consumers[0];
        assert_eq!(r.snap.kind, ConsumerKind::Reliable);
        assert_eq!(
            r.rate,
            Some(Rate {
                frags: 20.0,
                bytes: 160.0
            })
        );
        assert_eq!(r.health, Some(Health::Live));
        assert_eq!(v.consumers[1].health, Some(Health::Free));
        let first = LinkView::new("l".into(), None, b, Duration::from_secs(1));
        assert_eq!(first.publish, None);
        assert_eq!(first.consumers[0].rate, None);
    }

    #[test]
    fn counts_that_go_back_have_no_rate() {
        let d = Duration::from_secs(1);
        assert_eq!(Rate::between((5, 5), (4, 6), d), None);
        assert_eq!(Rate::between((5, 5), (6, 6), Duration::ZERO), None);
        assert!(Rate::between((5, 5), (5, 5), d).is_some());
    }

    #[test]
    fn a_live_peer_with_an_old_heartbeat_is_stale() {
        let stale = Duration::from_millis(100);
        let mut p = Peer {
            state: RoleState::Live,
            pid: Some(1),
            heartbeat_age: Some(Duration::from_millis(100)),
            claims: 1,
        };
        assert_eq!(Health::of(&p, stale), Health::Live);
        p.heartbeat_age = Some(Duration::from_millis(101));
        assert_eq!(Health::of(&p, stale), Health::Stale);
        p.heartbeat_age = None;
        assert_eq!(Health::of(&p, stale), Health::Live);
        p.state = RoleState::Dead;
        assert_eq!(Health::of(&p, stale), Health::Dead);
        assert_eq!(Health::Dead.word(), "DEAD");
        assert_eq!(Health::Stale.word(), "STALE");
    }
}
