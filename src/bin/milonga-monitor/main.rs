//! `milonga-monitor`: a live view of milonga links in shared memory, refreshed like `top`.
//!
//! ```text
//! milonga-monitor [--interval MS] [--once] [--json] [--stale-ms N] [--verbose]
//!                 [--no-color] PATH...
//! ```
//!
//! Each `PATH` is a link file or a directory whose files (not its subdirectories) are
//! watched; files that are not links are skipped (shown with `--verbose`). The monitor
//! only reads: it opens each link with `ShmLink::open_read_only` and reads its status
//! (which checks each holder's process) and metrics at every refresh, never claiming a
//! role. Per link it shows the producer (its role
//! state, pid, heartbeat age, signal, publish rate and counts) and each reliable and lossy
//! consumer (state, pid, heartbeat age, consume rate, lag, overruns, lost, filtered, and
//! the times it held the producer back). A holder that is gone is marked `DEAD` (red); a
//! live one whose heartbeat is older than `--stale-ms` is marked `STALE` (yellow).
//!
//! With `--once` it reads every link twice, `--interval` apart (200 ms unless given), prints
//! the second reading with the rates between the two, and exits (status 1 if a path could
//! not be read or a named file is not a link). `--json` prints one JSON document per
//! reading instead of text (with `--once`: one document).

#[cfg(unix)]
mod json;
#[cfg(unix)]
mod model;
#[cfg(unix)]
mod render;
#[cfg(unix)]
mod watch;

#[cfg(not(unix))]
fn main() {
    eprintln!("milonga-monitor: shared-memory links need a unix system");
    std::process::exit(1);
}

#[cfg(unix)]
fn main() {
    std::process::exit(cli::run(std::env::args().skip(1).collect()));
}

#[cfg(unix)]
mod cli {
    use std::io::{IsTerminal as _, Write as _};
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::render::Style;
    use crate::watch::Watch;
    use crate::{json, render};

    const USAGE: &str = "\
usage: milonga-monitor [OPTIONS] PATH...

Watches milonga links in shared memory (read only). Each PATH is a link file or a
directory whose files are watched (files that are not links are skipped).

options:
  --interval MS   time between refreshes (default 1000; with --once, 200)
  --once          read twice, --interval apart, print the second reading and exit
  --json          print JSON documents instead of text (with --once: one document)
  --stale-ms N    call a live peer STALE when its heartbeat is older (default 1000)
  --verbose       also show files that are not links, and why
  --no-color      no ANSI colours (also when NO_COLOR is set or output is no terminal)
  -h, --help      this text
";

    /// The command line.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Options {
        pub(crate) interval: Option<Duration>,
        pub(crate) once: bool,
        pub(crate) json: bool,
        pub(crate) stale: Duration,
        pub(crate) verbose: bool,
        pub(crate) no_color: bool,
        pub(crate) help: bool,
        pub(crate) targets: Vec<PathBuf>,
    }

    fn millis(opt: &str, v: Option<String>) -> Result<Duration, String> {
        let v = v.ok_or_else(|| format!("{opt} needs a value in milliseconds"))?;
        match v.parse::<u64>() {
            Ok(ms) if ms > 0 || opt == "--stale-ms" => Ok(Duration::from_millis(ms)),
            _ => Err(format!(
                "{opt}: not a positive count of milliseconds: {v:?}"
            )),
        }
    }

    /// Parses the arguments (after the program name).
    pub(crate) fn parse(args: Vec<String>) -> Result<Options, String> {
        let mut o = Options {
            interval: None,
            once: false,
            json: false,
            stale: Duration::from_millis(1000),
            verbose: false,
            no_color: false,
            help: false,
            targets: Vec::new(),
        };
        let mut args = args.into_iter();
        let mut only_paths = false;
        while let Some(a) = args.next() {
            if only_paths || !a.starts_with('-') || a == "-" {
                o.targets.push(PathBuf::from(a));
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (a.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| args.next());
            match name.as_str() {
                "--" => only_paths = true,
                "--interval" => o.interval = Some(millis("--interval", value())?),
                "--stale-ms" => o.stale = millis("--stale-ms", value())?,
                "--once" => o.once = true,
                "--json" => o.json = true,
                "--verbose" | "-v" => o.verbose = true,
                "--no-color" => o.no_color = true,
                "--help" | "-h" => o.help = true,
                _ => return Err(format!("unknown option {a:?}")),
            }
        }
        if o.targets.is_empty() && !o.help {
            return Err("no PATH given".into());
        }
        Ok(o)
    }

    /// Runs the monitor; returns the exit status.
    pub(crate) fn run(args: Vec<String>) -> i32 {
        let o = match parse(args) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("milonga-monitor: {e}\n\n{USAGE}");
                return 2;
            }
        };
        if o.help {
            print!("{USAGE}");
            return 0;
        }
        let default = if o.once { 200 } else { 1000 };
        let interval = o.interval.unwrap_or(Duration::from_millis(default));
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        let style = Style {
            color: terminal && !o.no_color && std::env::var_os("NO_COLOR").is_none(),
        };
        let mut watch = Watch::new(o.targets, interval, o.stale, o.verbose);
        let mut out = stdout.lock();
        if o.once {
            watch.poll();
            std::thread::sleep(interval);
            let report = watch.poll();
            let text = if o.json {
                let mut s = String::new();
                json::report(&report).write(&mut s);
                s.push('\n');
                s
            } else {
                render::report(&report, style)
            };
            for e in &report.errors {
                eprintln!("milonga-monitor: {e}");
            }
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return 1;
            }
            return if report.errors.is_empty() { 0 } else { 1 };
        }
        let redraw = terminal && !o.json;
        if redraw {
            // Clear the screen once; each frame then overwrites the last in place.
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        loop {
            let report = watch.poll();
            let mut frame = String::new();
            if o.json {
                json::report(&report).write(&mut frame);
                frame.push('\n');
            } else if redraw {
                // Home, each line cleared to its end, the rest of the screen cleared.
                frame.push_str("\x1b[H");
                for line in render::report(&report, style).lines() {
                    frame.push_str(line);
                    frame.push_str("\x1b[K\n");
                }
                frame.push_str("\x1b[J");
            } else {
                frame = render::report(&report, style);
                frame.push('\n');
            }
            if out
                .write_all(frame.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                // The reader went away (a closed pipe): nothing more to show.
                return 0;
            }
            std::thread::sleep(interval);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn args(s: &str) -> Vec<String> {
            s.split_whitespace().map(String::from).collect()
        }

        #[test]
        fn options_parse() {
            let o = parse(args("--interval 250 --once --json --stale-ms=0 -v a b")).unwrap();
            assert_eq!(o.interval, Some(Duration::from_millis(250)));
            assert!(o.once && o.json && o.verbose && !o.no_color);
            assert_eq!(o.stale, Duration::ZERO);
            assert_eq!(o.targets, [PathBuf::from("a"), PathBuf::from("b")]);
            let o = parse(args("-- --once")).unwrap();
            assert_eq!((o.once, o.targets.len()), (false, 1));
        }

        #[test]
        fn bad_options_are_named() {
            for (line, msg) in [
                ("", "no PATH"),
                ("--interval", "needs a value"),
                ("--interval 0 d", "not a positive"),
                ("--interval x d", "not a positive"),
                ("--frobnicate d", "unknown option"),
            ] {
                let e = parse(args(line)).unwrap_err();
                assert!(e.contains(msg), "{line}: {e}");
            }
        }
    }
}
