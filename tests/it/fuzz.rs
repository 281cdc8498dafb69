//! The fuzz targets (tests/fuzz/targets.rs) run over their committed corpora without
//! libFuzzer: the seeds (real queries recorded from dig and kdig, zone files, the documented
//! JSON bodies) and every input a fuzz run found wrong, kept in the corpus once fixed. This keeps
//! the targets compiling with the library and every past finding fixed; the fuzzing itself is
//! `tests/fuzz/run.sh` (docs/testing.md, "Fuzzing").

#[path = "../fuzz/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Run target `name` over every file of its corpus; name the files that failed.
fn replay(name: &str) {
    let (_, run) = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a target of that name");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{name}: only {} seeds", files.len());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a corpus file");
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{name} fails on {failed:#?}");
}

#[test]
fn dns_udp_corpus() {
    replay("dns_udp");
}

#[test]
fn dns_tcp_corpus() {
    replay("dns_tcp");
}

#[test]
fn dns_update_corpus() {
    replay("dns_update");
}

#[test]
fn tsig_corpus() {
    replay("tsig");
}

#[test]
fn zone_file_corpus() {
    replay("zone_file");
}

#[test]
fn policy_corpus() {
    replay("policy");
}

#[test]
fn json_body_corpus() {
    replay("json_body");
}
