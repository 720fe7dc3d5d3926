//! The report as one JSON document (`--json`), written by hand: a small value tree and
//! its writer, with strings escaped as RFC 8259 requires.

use std::fmt::Write as _;
use std::time::Duration;

use milonga::metrics::ConsumerKind;

use crate::model::{stream, ConsumerView, Entry, Health, LinkView, Peer, Rate, Report, RoleState};

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An exact unsigned integer.
    U64(u64),
    /// A number; written as `null` when it is not finite.
    F64(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, its members in order.
    Obj(Vec<(&'static str, Value)>),
}

impl Value {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }

    /// Writes the value, compact, to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::U64(n) => {
                let _ = write!(out, "{n}");
            }
            // `Display` of a finite f64 is plain decimal digits: a valid JSON number.
            Value::F64(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Value::F64(_) => out.push_str("null"),
            Value::Str(s) => string(s, out),
            Value::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes `s` as a JSON string: quotes, backslashes and control characters escaped.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ms(d: Duration) -> Value {
    Value::U64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn role_state(s: RoleState) -> &'static str {
    match s {
        RoleState::Free => "free",
        RoleState::Live => "live",
        RoleState::Dead => "dead",
        RoleState::Evicted => "evicted",
        RoleState::Corrupt => "corrupt",
        RoleState::Unknown => "unknown",
    }
}

fn health(h: Health) -> &'static str {
    match h {
        Health::Free => "free",
        Health::Live => "live",
        Health::Stale => "stale",
        Health::Dead => "dead",
        Health::Evicted => "evicted",
        Health::Corrupt => "corrupt",
    }
}

/// A role: `state` (free, live, dead, evicted, corrupt), `health` (the same, with `stale`
/// for a live one whose heartbeat is old), `pid` and `heartbeat_age_ms` (null when
/// unknown), and `claims` (how often it was claimed).
fn peer(p: &Peer, h: Health) -> Vec<(&'static str, Value)> {
    vec![
        ("state", Value::Str(role_state(p.state).into())),
        ("health", Value::Str(health(h).into())),
        ("pid", Value::opt(p.pid, |v| Value::U64(v.into()))),
        ("heartbeat_age_ms", Value::opt(p.heartbeat_age, ms)),
        ("claims", Value::U64(p.claims)),
    ]
}

fn rate(r: Option<Rate>) -> [(&'static str, Value); 2] {
    [
        ("frags_per_s", Value::opt(r, |r| Value::F64(r.frags))),
        ("bytes_per_s", Value::opt(r, |r| Value::F64(r.bytes))),
    ]
}

fn consumer(c: &ConsumerView) -> Value {
    let s = &c.snap;
    let n = &s.counters;
    let mut m = vec![
        (
            "kind",
            Value::Str(
                match s.kind {
                    ConsumerKind::Reliable => "reliable",
                    ConsumerKind::Lossy => "lossy",
                }
                .into(),
            ),
        ),
        ("index", Value::U64(s.index as u64)),
    ];
    match (c.peer, c.health) {
        (Some(p), Some(h)) => m.extend(peer(&p, h)),
        _ => m.extend([
            ("state", Value::Null),
            ("health", Value::Null),
            ("pid", Value::Null),
            ("heartbeat_age_ms", Value::Null),
            ("claims", Value::Null),
        ]),
    }
    m.extend(rate(c.rate));
    m.extend([
        ("rx_seq", Value::U64(s.rx_seq)),
        ("lag", Value::U64(s.lag)),
        ("detached", Value::Bool(s.detached)),
        ("consumed_frags", Value::U64(n.consumed_frags)),
        ("consumed_bytes", Value::U64(n.consumed_bytes)),
        ("filtered_frags", Value::U64(n.filtered_frags)),
        ("filtered_bytes", Value::U64(n.filtered_bytes)),
        ("overruns", Value::U64(c.overruns())),
        ("poll_overruns", Value::U64(n.poll_overruns)),
        ("read_overruns", Value::U64(n.read_overruns)),
        ("lost_frags", Value::U64(n.lost_frags())),
        ("lost_bytes", Value::U64(n.lost_bytes)),
        ("slow", Value::U64(s.slow)),
    ]);
    Value::Obj(m)
}

fn link(l: &LinkView) -> Value {
    let s = &l.sample;
    let g = &s.geometry;
    let snap = &s.snapshot;
    let p = &snap.producer;
    let d = &snap.ingest;
    let mut producer = peer(&s.producer, l.producer);
    producer.extend(rate(l.publish));
    producer.extend([
        ("signal", Value::Str(s.signal.to_string())),
        ("stream", Value::Str(stream(snap.state()))),
        ("closed", Value::Bool(snap.closed)),
        ("heartbeat", Value::U64(snap.heartbeat)),
        ("published_frags", Value::U64(p.published_frags)),
        ("published_bytes", Value::U64(p.published_bytes)),
        ("tx_seq", Value::U64(snap.tx_seq)),
        ("backpressure", Value::U64(p.backpressure)),
        ("backpressure_ticks", Value::U64(p.backpressure_ticks)),
        (
            "ingest_drops",
            Value::Obj(vec![
                ("rejected", Value::U64(d.rejected)),
                ("timed_out", Value::U64(d.timed_out)),
                ("too_large", Value::U64(d.too_large)),
                ("disconnected", Value::U64(d.disconnected)),
            ]),
        ),
    ]);
    Value::Obj(vec![
        ("path", Value::Str(l.path.clone())),
        (
            "geometry",
            Value::Obj(vec![
                ("depth", Value::U64(g.depth)),
                ("mtu", Value::U64(g.mtu)),
                ("data_bytes", Value::U64(g.data_bytes)),
                ("reliable", Value::U64(g.reliable)),
                ("lossy", Value::U64(g.lossy)),
                ("seq0", Value::U64(g.seq0)),
            ]),
        ),
        ("producer", Value::Obj(producer)),
        (
            "consumers",
            Value::Arr(l.consumers.iter().map(consumer).collect()),
        ),
    ])
}

/// The report as a JSON value: `links` (each with `path`, `geometry`, `producer`,
/// `consumers`), `not_links` (files that are not links, each with `path` and `error`;
/// only those the report holds) and `errors`.
pub fn report(r: &Report) -> Value {
    let not_links = r
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::NotLink { path, error } => Some(Value::Obj(vec![
                ("path", Value::Str(path.clone())),
                ("error", Value::Str(error.clone())),
            ])),
            Entry::Link(_) => None,
        })
        .collect();
    Value::Obj(vec![
        (
            "targets",
            Value::Arr(r.targets.iter().map(|t| Value::Str(t.clone())).collect()),
        ),
        ("interval_ms", ms(r.interval)),
        ("stale_ms", ms(r.stale)),
        ("refresh", Value::U64(r.refresh)),
        ("links", Value::Arr(r.links().map(link).collect())),
        ("not_links", Value::Arr(not_links)),
        (
            "errors",
            Value::Arr(r.errors.iter().map(|e| Value::Str(e.clone())).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use std::time::Instant;

    fn text(v: &Value) -> String {
        let mut s = String::new();
        v.write(&mut s);
        s
    }

    #[test]
    fn strings_are_escaped() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{1f}h\u{7f}i é 😀";
        let s = text(&Value::Str(nasty.into()));
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\\u007fi é 😀\""
        );
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn numbers_are_exact_and_non_finite_is_null() {
        let v = Value::Arr(vec![
            Value::U64(u64::MAX),
            Value::F64(0.1),
            Value::F64(1e21),
            Value::F64(1e-7),
            Value::F64(f64::NAN),
            Value::F64(f64::INFINITY),
            Value::Bool(true),
            Value::Null,
        ]);
        let s = text(&v);
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0].as_u64(), Some(u64::MAX));
        assert_eq!(back[1].as_f64(), Some(0.1));
        assert_eq!(back[2].as_f64(), Some(1e21));
        assert_eq!(back[3].as_f64(), Some(1e-7));
        assert!(back[4].is_null() && back[5].is_null());
        assert_eq!(back[6], serde_json::Value::Bool(true));
    }

    #[test]
    fn a_report_parses_and_holds_the_counts() {
        let t0 = Instant::now();
        let a = sample(10, 4, t0);
        let b = sample(30, 14, t0 + Duration::from_millis(500));
        let view = LinkView::new("dir/\"x\"".into(), Some(&a), b, Duration::from_secs(1));
        let r = Report {
            targets: vec!["dir".into()],
            interval: Duration::from_millis(200),
            stale: Duration::from_secs(1),
            refresh: 1,
            entries: vec![
                Entry::Link(Box::new(view)),
                Entry::NotLink {
                    path: "dir/junk".into(),
                    error: "bad magic".into(),
                },
            ],
            errors: vec![],
        };
        let doc: serde_json::Value = serde_json::from_str(&text(&report(&r))).unwrap();
        let l = &doc["links"][0];
        assert_eq!(l["path"], "dir/\"x\"");
        assert_eq!(l["geometry"]["depth"], 64);
        assert_eq!(l["producer"]["published_frags"], 30);
        assert_eq!(l["producer"]["published_bytes"], 240);
        assert_eq!(l["producer"]["frags_per_s"], 40.0);
        assert_eq!(l["producer"]["pid"], 10);
        assert_eq!(l["producer"]["health"], "live");
        assert_eq!(l["producer"]["signal"], "run");
        let c = &l["consumers"][0];
        assert_eq!(
            (&c["kind"], &c["consumed_frags"], &c["lag"]),
            (&"reliable".into(), &14.into(), &16.into())
        );
        assert_eq!(c["frags_per_s"], 20.0);
        let lossy = &l["consumers"][1];
        assert_eq!(
            (&lossy["state"], &lossy["pid"]),
            (&"free".into(), &().into())
        );
        assert_eq!(doc["not_links"][0]["error"], "bad magic");
        assert_eq!(doc["interval_ms"], 200);
    }
}
