//! `milonga-monitor --once --json DIR` on links made and used in this process: the
//! document holds exactly what was done to them (counts, lag, geometry, role states, pids),
//! and a file in the directory that is not a link does not break it.

#![cfg(all(unix, not(miri)))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use milonga::shm::ShmLink;
use milonga::Header;
use serde_json::Value;

/// A fresh directory under the temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("milonga-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn monitor(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milonga-monitor"))
        .args(args)
        .arg(dir)
        .output()
        .expect("the monitor runs")
}

fn document(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "monitor failed: {:?}\nstdout: {text}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn link<'d>(doc: &'d Value, name: &str) -> &'d Value {
    let links = doc["links"].as_array().expect("a links array");
    links
        .iter()
        .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("no link {name} in {doc:#}"))
}

#[test]
fn once_json_reports_what_was_done() {
    let dir = TempDir::new("monitor-json");
    let pid = u64::from(std::process::id());

    // Link a: one reliable and one lossy consumer, every role held by this process.
    let a = ShmLink::builder()
        .depth(64)
        .mtu(128)
        .reliable(1)
        .lossy(1)
        .create(dir.0.join("a"))
        .unwrap();
    let mut tx = a.shared_producer().unwrap();
    let mut rx = a.consumer(0).unwrap();
    let mut lx = a.lossy_consumer(0).unwrap();
    let mut bytes = 0u64;
    for i in 0..10u64 {
        let payload = vec![i as u8; 10 * i as usize + 1];
        bytes += payload.len() as u64;
        tx.try_publish(Header::new(i), &payload).unwrap();
    }
    tx.housekeeping();
    let mut consumed_bytes = 0u64;
    for _ in 0..4 {
        consumed_bytes += rx.try_recv().unwrap().payload().len() as u64;
    }
    rx.housekeeping();
    let mut buf = [0u8; 128];
    for _ in 0..10 {
        lx.try_recv(&mut buf).unwrap();
    }
    lx.housekeeping();

    // Link b: two reliable consumer slots, only the second claimed; no producer; its own
    // first seq.
    let b = ShmLink::builder()
        .depth(128)
        .mtu(64)
        .reliable(2)
        .first_seq(1000)
        .create(dir.0.join("b"))
        .unwrap();
    let mut rx_b = b.consumer(1).unwrap();
    rx_b.housekeeping();

    // A file that is not a link.
    std::fs::write(dir.0.join("junk"), b"not a milonga link\n").unwrap();

    let out = monitor(&["--once", "--json", "--stale-ms", "3600000"], &dir.0);
    let doc = document(&out);
    assert_eq!(doc["links"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(doc["not_links"].as_array().unwrap().len(), 0, "{doc:#}");
    assert_eq!(doc["errors"].as_array().unwrap().len(), 0, "{doc:#}");

    let la = link(&doc, "a");
    let g = &la["geometry"];
    assert_eq!(
        (
            &g["depth"],
            &g["mtu"],
            &g["reliable"],
            &g["lossy"],
            &g["seq0"]
        ),
        (&64.into(), &128.into(), &1.into(), &1.into(), &0.into()),
        "{la:#}"
    );
    assert_eq!(
        g["data_bytes"].as_u64(),
        Some(a.geometry().data_bytes as u64)
    );
    let p = &la["producer"];
    assert_eq!(p["state"], "live", "{p:#}");
    assert_eq!(p["health"], "live", "{p:#}");
    assert_eq!(p["pid"], pid, "{p:#}");
    assert_eq!(p["published_frags"], 10, "{p:#}");
    assert_eq!(p["published_bytes"], bytes, "{p:#}");
    assert_eq!(p["tx_seq"], 10, "{p:#}");
    assert_eq!(p["closed"], false, "{p:#}");
    assert_eq!(
        (&p["signal"], &p["stream"]),
        (&"run".into(), &"running".into())
    );
    assert_eq!(p["claims"], 1, "{p:#}");
    // Nothing moved between the monitor's two readings.
    assert_eq!(p["frags_per_s"], 0.0, "{p:#}");
    assert_eq!(p["bytes_per_s"], 0.0, "{p:#}");
    let cs = la["consumers"].as_array().unwrap();
    assert_eq!(cs.len(), 2, "{la:#}");
    let r = &cs[0];
    assert_eq!((&r["kind"], &r["index"]), (&"reliable".into(), &0.into()));
    assert_eq!(
        (&r["state"], &r["pid"]),
        (&"live".into(), &pid.into()),
        "{r:#}"
    );
    assert_eq!(r["consumed_frags"], 4, "{r:#}");
    assert_eq!(r["consumed_bytes"], consumed_bytes, "{r:#}");
    assert_eq!((&r["rx_seq"], &r["lag"]), (&4.into(), &6.into()), "{r:#}");
    assert_eq!((&r["overruns"], &r["lost_frags"]), (&0.into(), &0.into()));
    assert_eq!(r["frags_per_s"], 0.0, "{r:#}");
    let l = &cs[1];
    assert_eq!((&l["kind"], &l["index"]), (&"lossy".into(), &0.into()));
    assert_eq!(
        (&l["state"], &l["pid"]),
        (&"live".into(), &pid.into()),
        "{l:#}"
    );
    assert_eq!(l["consumed_frags"], 10, "{l:#}");
    assert_eq!(l["consumed_bytes"], bytes, "{l:#}");
    assert_eq!(
        (&l["lag"], &l["overruns"], &l["lost_frags"]),
        (&0.into(), &0.into(), &0.into())
    );

    let lb = link(&doc, "b");
    let g = &lb["geometry"];
    assert_eq!(
        (
            &g["depth"],
            &g["mtu"],
            &g["reliable"],
            &g["lossy"],
            &g["seq0"]
        ),
        (&128.into(), &64.into(), &2.into(), &0.into(), &1000.into()),
        "{lb:#}"
    );
    let p = &lb["producer"];
    assert_eq!(
        (&p["state"], &p["pid"]),
        (&"free".into(), &Value::Null),
        "{p:#}"
    );
    assert_eq!(
        (&p["published_frags"], &p["tx_seq"]),
        (&0.into(), &1000.into())
    );
    let cs = lb["consumers"].as_array().unwrap();
    assert_eq!(cs.len(), 2, "{lb:#}");
    assert_eq!(
        (&cs[0]["state"], &cs[0]["pid"]),
        (&"free".into(), &Value::Null)
    );
    assert_eq!(
        (&cs[1]["state"], &cs[1]["pid"]),
        (&"live".into(), &pid.into())
    );
    assert_eq!(
        (&cs[1]["consumed_frags"], &cs[1]["lag"]),
        (&0.into(), &0.into())
    );

    // With a stale threshold of 0, every live holder (none has beaten since the monitor
    // started) is STALE, in the document and in the text.
    let doc = document(&monitor(&["--once", "--json", "--stale-ms", "0"], &dir.0));
    let p = &link(&doc, "a")["producer"];
    assert_eq!(
        (&p["state"], &p["health"]),
        (&"live".into(), &"stale".into())
    );
    let out = monitor(&["--once", "--stale-ms", "0", "--no-color"], &dir.0);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let producers: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("producer "))
        .collect();
    assert_eq!(producers.len(), 2, "{text}");
    assert!(producers[0].contains("STALE") && producers[0].contains(&format!("pid {pid}")));
    assert!(producers[1].contains("free"), "{text}");
    assert!(!text.contains("junk") && !text.contains('\x1b'), "{text}");

    // With --verbose the file that is not a link is listed, with its error.
    let doc = document(&monitor(&["--once", "--json", "--verbose"], &dir.0));
    assert_eq!(doc["links"].as_array().unwrap().len(), 2, "{doc:#}");
    let not_links = doc["not_links"].as_array().unwrap();
    assert_eq!(not_links.len(), 1, "{doc:#}");
    assert!(not_links[0]["path"].as_str().unwrap().ends_with("junk"));
    assert!(!not_links[0]["error"].as_str().unwrap().is_empty());

    // Named on its own, a file that is not a link is an error.
    let out = monitor(&["--once", "--json"], &dir.0.join("junk"));
    assert!(!out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["links"].as_array().unwrap().len(), 0, "{doc:#}");
    assert_eq!(doc["errors"].as_array().unwrap().len(), 1, "{doc:#}");
    drop((tx, rx, lx, rx_b));
}
