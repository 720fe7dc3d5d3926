//! The report as text for a terminal: one block per link (its shape, its producer, a table
//! of its consumers), peers that need attention marked with a word (`DEAD`, `STALE`,
//! `EVICTED`) and, with colour on, highlighted (red, yellow).

use std::fmt::Write as _;
use std::time::Duration;

use milonga::metrics::ConsumerKind;

use crate::model::{stream, Alarm, ConsumerView, Entry, Health, LinkView, Rate, Report};

/// Text with or without ANSI colours.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Highlight alarms with ANSI colours.
    pub color: bool,
}

impl Style {
    /// `text`, padded to `width` (left-aligned), highlighted as `alarm` asks.
    fn paint(self, text: &str, width: usize, alarm: Alarm) -> String {
        let padded = format!("{text:<width$}");
        match (self.color, alarm) {
            (false, _) | (true, Alarm::None) => padded,
            (true, Alarm::Warn) => format!("\x1b[33;1m{padded}\x1b[0m"),
            (true, Alarm::Bad) => format!("\x1b[31;1m{padded}\x1b[0m"),
        }
    }
}

/// A count in at most 8 columns: whole below 10^8, else three digits and an SI prefix.
pub fn count(v: u64) -> String {
    if v < 100_000_000 {
        return v.to_string();
    }
    let mut unit = 1_000_000u64;
    let mut prefix = 'M';
    for p in ['G', 'T', 'P', 'E'] {
        if v / unit < 1000 {
            break;
        }
        unit *= 1000;
        prefix = p;
    }
    let int = v / unit;
    if int < 10 {
        format!("{int}.{:02} {prefix}", v / (unit / 100) % 100)
    } else if int < 100 {
        format!("{int}.{} {prefix}", v / (unit / 10) % 10)
    } else {
        format!("{int} {prefix}")
    }
}

/// A byte count with a decimal SI unit and three significant digits (`512 B`, `1.50 kB`,
/// `96.0 MB`).
pub fn bytes(v: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut x = v;
    let mut u = 0;
    while x >= 999.5 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} {}", units[0])
    } else if x < 9.995 {
        format!("{x:.2} {}", units[u])
    } else if x < 99.95 {
        format!("{x:.1} {}", units[u])
    } else {
        format!("{x:.0} {}", units[u])
    }
}

/// A duration in a few columns: `3 ms`, `1.2 s`, `42 s`, `7 min`.
pub fn age(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else if ms < 600_000 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} min", d.as_secs() / 60)
    }
}

/// A rate in frags per second, whole (`-` without one).
fn frag_rate(r: Option<Rate>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.0}", r.frags))
}

/// A rate in bytes per second (`-` without one).
fn byte_rate(r: Option<Rate>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{}/s", bytes(r.bytes)))
}

/// The consumer table's columns: head and width (the figures are right-aligned).
const COLUMNS: [(&str, usize); 12] = [
    ("pid", 8),
    ("heartbeat", 10),
    ("frags/s", 10),
    ("bytes/s", 12),
    ("consumed", 10),
    ("consumed B", 11),
    ("lag", 9),
    ("overruns", 9),
    ("lost", 9),
    ("lost B", 9),
    ("filtered", 9),
    ("slow", 8),
];

/// The name column (`reliable 0`) and the state column.
const NAME: usize = 13;
const STATE: usize = 8;

fn consumer_line(c: &ConsumerView, style: Style, out: &mut String) {
    let s = &c.snap;
    let n = &s.counters;
    let kind = match s.kind {
        ConsumerKind::Reliable => "reliable",
        ConsumerKind::Lossy => "lossy",
    };
    let name = format!("{kind} {}", s.index);
    let (word, alarm) = match c.health {
        Some(h) => (h.word(), h.alarm()),
        None => ("?", Alarm::None),
    };
    let word = if s.detached && c.health == Some(Health::Free) {
        "gone"
    } else {
        word
    };
    let lossy = s.kind == ConsumerKind::Lossy;
    let dash = || "-".to_string();
    let figures = [
        c.peer
            .and_then(|p| p.pid)
            .map_or_else(dash, |p| p.to_string()),
        c.peer.and_then(|p| p.heartbeat_age).map_or_else(dash, age),
        frag_rate(c.rate),
        byte_rate(c.rate),
        count(n.consumed_frags),
        bytes(n.consumed_bytes as f64),
        count(s.lag),
        if lossy { count(c.overruns()) } else { dash() },
        if lossy { count(n.lost_frags()) } else { dash() },
        if lossy {
            bytes(n.lost_bytes as f64)
        } else {
            dash()
        },
        count(n.filtered_frags),
        if lossy { dash() } else { count(s.slow) },
    ];
    let _ = write!(out, "    {name:<NAME$} {}", style.paint(word, STATE, alarm));
    for (v, (_, w)) in figures.iter().zip(COLUMNS) {
        let _ = write!(out, "{v:>w$}");
    }
    out.push('\n');
}

fn link(l: &LinkView, style: Style, out: &mut String) {
    let s = &l.sample;
    let g = &s.geometry;
    let snap = &s.snapshot;
    let p = &snap.producer;
    let _ = writeln!(
        out,
        "link {}  depth {}  mtu {}  data {}  reliable {}  lossy {}  seq0 {}",
        l.path,
        g.depth,
        g.mtu,
        bytes(g.data_bytes as f64),
        g.reliable,
        g.lossy,
        g.seq0
    );
    let pid = s.producer.pid.map_or_else(|| "-".into(), |p| p.to_string());
    let beat = s
        .producer
        .heartbeat_age
        .map_or_else(|| "-".into(), |a| format!("{} ago", age(a)));
    let _ = writeln!(
        out,
        "  producer {} pid {pid}  heartbeat {beat}  signal {}  stream {}",
        style.paint(l.producer.word(), STATE, l.producer.alarm()),
        s.signal,
        stream(snap.state()),
    );
    let _ = writeln!(
        out,
        "    publish rate {} frags/s  {}   published {} frags  {}  next seq {}  backpressure {} times",
        frag_rate(l.publish),
        byte_rate(l.publish),
        count(p.published_frags),
        bytes(p.published_bytes as f64),
        snap.tx_seq,
        count(p.backpressure),
    );
    let d = &snap.ingest;
    if !d.is_zero() {
        let _ = writeln!(
            out,
            "    ingest drops: {} rejected  {} timed out  {} too large  {} disconnected",
            count(d.rejected),
            count(d.timed_out),
            count(d.too_large),
            count(d.disconnected)
        );
    }
    if l.consumers.is_empty() {
        return;
    }
    let _ = write!(out, "    {:<NAME$} {:<STATE$}", "consumer", "state");
    for (head, w) in COLUMNS {
        let _ = write!(out, "{head:>w$}");
    }
    out.push('\n');
    for c in &l.consumers {
        consumer_line(c, style, out);
    }
}

/// The report as text, one line per `\n`, ending with one.
pub fn report(r: &Report, style: Style) -> String {
    let mut out = String::new();
    let links = r.links().count();
    let _ = writeln!(
        out,
        "milonga-monitor  {}  {links} link{}  every {} ms  STALE after {} ms  refresh {}",
        r.targets.join(" "),
        if links == 1 { "" } else { "s" },
        r.interval.as_millis(),
        r.stale.as_millis(),
        r.refresh,
    );
    for e in &r.errors {
        let _ = writeln!(
            out,
            "{}",
            style.paint(&format!("error: {e}"), 0, Alarm::Bad)
        );
    }
    for e in &r.entries {
        out.push('\n');
        match e {
            Entry::Link(l) => link(l, style, &mut out),
            Entry::NotLink { path, error } => {
                let _ = writeln!(out, "{path}: not a link: {error}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{Peer, RoleState};
    use std::time::Instant;

    fn report_of(view: LinkView) -> Report {
        Report {
            targets: vec!["dir".into()],
            interval: Duration::from_millis(200),
            stale: Duration::from_secs(1),
            refresh: 3,
            entries: vec![Entry::Link(Box::new(view))],
            errors: vec![],
        }
    }

    #[test]
    fn figures_are_short() {
        assert_eq!(count(99_999_999), "99999999");
        assert_eq!(count(1_239_999_999), "1.23 G");
        assert_eq!(count(u64::MAX), "18.4 E");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(1500.0), "1.50 kB");
        assert_eq!(bytes(96_000_000.0), "96.0 MB");
        assert_eq!(bytes(999_600.0), "1.00 MB");
        assert_eq!(age(Duration::from_millis(3)), "3 ms");
        assert_eq!(age(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(age(Duration::from_secs(42)), "42 s");
        assert_eq!(age(Duration::from_secs(3600)), "60 min");
    }

    #[test]
    fn a_link_shows_rates_and_counts() {
        let t0 = Instant::now();
        let a = sample(10, 4, t0);
        let b = sample(30, 14, t0 + Duration::from_millis(500));
        let v = LinkView::new("dir/a".into(), Some(&a), b, Duration::from_secs(1));
        let text = report(&report_of(v), Style { color: false });
        assert!(text.contains("link dir/a  depth 64  mtu 8"), "{text}");
        assert!(text.contains("producer live     pid 10"), "{text}");
        assert!(text.contains("publish rate 40 frags/s  320 B/s"), "{text}");
        let line = text.lines().find(|l| l.contains("reliable 0")).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        // name, index, state, pid, heartbeat, rate, byte rate, consumed, bytes, lag, ...
        let head = [
            "reliable", "0", "live", "11", "5", "ms", "20", "160", "B/s", "14",
        ];
        assert_eq!(words[..10], head, "{line}");
        assert_eq!(
            words[10..],
            ["112", "B", "16", "-", "-", "-", "0", "0"],
            "{line}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn dead_and_stale_peers_are_marked_and_painted() {
        let mut b = sample(3, 0, Instant::now());
        b.producer = Peer {
            state: RoleState::Dead,
            pid: Some(7),
            heartbeat_age: Some(Duration::from_secs(3)),
            claims: 1,
        };
        b.reliable[0].heartbeat_age = Some(Duration::from_secs(2));
        let v = LinkView::new("dir/a".into(), None, b, Duration::from_secs(1));
        let r = report_of(v);
        let plain = report(&r, Style { color: false });
        let producer = plain.lines().find(|l| l.contains("producer")).unwrap();
        assert!(producer.contains("DEAD"), "{plain}");
        let rel = plain.lines().find(|l| l.contains("reliable 0")).unwrap();
        assert!(rel.contains("STALE"), "{plain}");
        assert!(plain.contains("publish rate - frags/s"), "{plain}");
        let painted = report(&r, Style { color: true });
        assert!(painted.contains("\x1b[31;1mDEAD"), "{painted}");
        assert!(painted.contains("\x1b[33;1mSTALE"), "{painted}");
    }
}
