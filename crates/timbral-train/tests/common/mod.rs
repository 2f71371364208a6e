//! Running the `timbral` binary from integration tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs `timbral`; no input may make it panic.
pub fn timbral(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_timbral"))
        .args(args)
        .output()
        .expect("run timbral");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "timbral panicked on {args:?}:\n{stderr}"
    );
    out
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = timbral(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must fail with an error message; returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let out = timbral(args);
    assert!(!out.status.success(), "{args:?} should have failed");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("error"),
        "no error message for {args:?}: {err}"
    );
    err
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A small synthetic data set in `dir` and a full bundle trained on it
/// quickly (no content, no tuning, 8 factors): the bundle's path.
pub fn small_bundle(dir: &Path, users: usize, items: usize) -> std::path::PathBuf {
    let (data, bundle) = (dir.join("plays.tsv"), dir.join("m.bundle"));
    let (users, items) = (users.to_string(), items.to_string());
    ok(&[
        "synth",
        "--out",
        s(&data),
        "--users",
        &users,
        "--items",
        &items,
    ]);
    ok(&[
        "-q",
        "train",
        "--no-content",
        "--no-tune",
        "--data",
        s(&data),
        "--out",
        s(&bundle),
        "--factors",
        "8",
        "--iterations",
        "4",
    ]);
    bundle
}
