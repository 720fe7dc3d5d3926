//! Compile-fail tests: what the types promise, checked against the compiler.
//!
//! Each program in `tests/compile-fail/` uses the crate correctly, except for the lines
//! under `#[cfg(feature = "violation")]` (or a constant derived from that feature). Built
//! without the feature it must compile (the control: the code is otherwise sound, so the
//! failure below cannot come from an unrelated error); built with it, it must fail with
//! exactly the errors its `//~ CODE` comments name, each on the line that carries the
//! comment: a payload outliving its guard or batch (E0505, E0597), two claims or a poll
//! while a guard lives (E0499), a claim on a producer with lossy readers or a borrowed read
//! from a lossy consumer (E0599), and so on; each file's first comment says what it shows.
//!
//! Why not trybuild: its `.stderr` snapshots hold the compiler's full wording, which
//! changes between Rust releases (CI uses the current stable), so they would fail for
//! reasons unrelated to milonga. An error code on a given line is stable and still says
//! why the program was rejected.
//!
//! The programs are built with `cargo check` as binaries of a scratch package in the
//! target directory (`target/compile-fail`), which depends on this crate by path: two
//! builds in all, one per feature setting. Skipped under Miri (it builds nothing).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A program of `tests/compile-fail/`: its name and the errors (code, line) it must
/// produce with the `violation` feature.
struct Case {
    name: String,
    expected: BTreeSet<(String, usize)>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut cases: Vec<Case> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let expected: BTreeSet<(String, usize)> = text
                .lines()
                .enumerate()
                .filter_map(|(i, line)| {
                    let code = line.split("//~ ").nth(1)?;
                    Some((code.trim().to_string(), i + 1))
                })
                .collect();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(!expected.is_empty(), "{name}: no `//~ CODE` annotation");
            Case { name, expected }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The target directory this test was built in (`<target>/<profile>/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Writes the scratch package: one binary per case.
fn scratch_package(root: &Path, cases: &[Case], src: &Path) {
    let bin = root.join("src/bin");
    let _ = fs::remove_dir_all(&bin);
    fs::create_dir_all(&bin).unwrap();
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let mut manifest = format!(
        "[package]\nname = \"milonga-compile-fail\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\nmilonga = {{ path = {manifest_dir:?} }}\n\n\
         [features]\nviolation = []\n\n[workspace]\n"
    );
    for case in cases {
        fs::copy(
            src.join(format!("{}.rs", case.name)),
            bin.join(format!("{}.rs", case.name)),
        )
        .unwrap();
        manifest.push_str(&format!(
            "\n[[bin]]\nname = {:?}\npath = \"src/bin/{}.rs\"\n",
            case.name, case.name
        ));
    }
    fs::write(root.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file, so the scratch build uses the same (already downloaded)
    // versions.
    let lock = Path::new(manifest_dir).join("Cargo.lock");
    if lock.exists() {
        fs::copy(lock, root.join("Cargo.lock")).unwrap();
    }
}

/// `cargo check` of every binary, with or without the `violation` feature: the errors,
/// as (binary, code, line), and the whole output.
fn check(root: &Path, violation: bool) -> (BTreeSet<(String, String, usize)>, String) {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "check",
            "--bins",
            "--keep-going",
            "--offline",
            "--message-format=short",
        ])
        .arg("--target-dir")
        .arg(root.join("target"))
        // Flags meant for the outer build (sanitizers, cfgs) are not for these programs.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    if violation {
        cmd.args(["--features", "violation"]);
    }
    let out = cmd.output().expect("cargo runs");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    // Short format: `src/bin/NAME.rs:LINE:COL: error[CODE]: message`.
    let errors = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("src/bin/")?;
            let (name, rest) = rest.split_once(".rs:")?;
            let (line_no, rest) = rest.split_once(':')?;
            let code = rest.split_once(": error[")?.1.split_once(']')?.0;
            Some((name.to_string(), code.to_string(), line_no.parse().ok()?))
        })
        .collect();
    assert!(
        violation || out.status.success(),
        "the controls must compile:\n{text}"
    );
    (errors, text)
}

#[test]
#[cfg_attr(miri, ignore = "builds programs with cargo; nothing for Miri to run")]
fn each_violation_fails_for_its_stated_reason_and_its_control_compiles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compile-fail");
    let cases = cases(&src);
    let root = target_dir().join("compile-fail");
    scratch_package(&root, &cases, &src);

    let (errors, text) = check(&root, false);
    assert!(errors.is_empty(), "errors in the controls:\n{text}");

    let (errors, text) = check(&root, true);
    let mut failed = Vec::new();
    for case in &cases {
        let got: BTreeSet<(String, usize)> = errors
            .iter()
            .filter(|(name, _, _)| *name == case.name)
            .map(|(_, code, line)| (code.clone(), *line))
            .collect();
        println!("{}: {:?}", case.name, got);
        if got != case.expected {
            failed.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expected, got
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{}\n\ncompiler output:\n{text}",
        failed.join("\n")
    );
}
