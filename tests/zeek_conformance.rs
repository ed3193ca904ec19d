//! Zeek conformance: runs `../shared/tools/zeek_conformance.py` over the Zeek
//! baselines in `../shared/corpus/zeek/` with the keepscope binary of this build and
//! holds the score at the level reached. Every remaining difference is listed, with
//! the reason it is Zeek's choice, in `docs/zeek-conformance.md`; a change that loses
//! a matching transaction fails here.
//!
//! The script and the corpus are part of CI: if either is missing the test fails.

use std::path::Path;
use std::process::Command;

/// Transactions that match Zeek's `http.log` rows (see docs/zeek-conformance.md).
const MIN_MATCHED: u64 = 128;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tools/zeek_conformance.py");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/zeek");

/// `zeek conformance: M/N transactions match (P%) in C captures` → (M, N).
fn parse_score(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("zeek conformance: ")?;
    let fraction = rest.split_whitespace().next()?;
    let (matched, total) = fraction.split_once('/')?;
    Some((matched.parse().ok()?, total.parse().ok()?))
}

#[test]
fn score_parser_reads_the_last_line() {
    assert_eq!(parse_score("zeek conformance: 128/148 transactions match (86.5%) in 52 captures"), Some((128, 148)));
    assert_eq!(parse_score("zeek conformance: x/148 transactions"), None);
    assert_eq!(parse_score("something else"), None);
}

#[test]
fn zeek_conformance_score_does_not_drop() {
    assert!(Path::new(SCRIPT).is_file(), "conformance script missing: {SCRIPT}");
    assert!(Path::new(CORPUS).is_dir(), "Zeek corpus missing: {CORPUS}");
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(env!("CARGO_BIN_EXE_keepscope"))
        .arg("--corpus")
        .arg(CORPUS)
        .arg("--verbose")
        .output()
        .expect("python3 must be installed to run the Zeek conformance script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "script failed ({}):\n{stdout}\n{stderr}", output.status);
    let last = stdout.lines().last().unwrap_or_default();
    let (matched, total) = parse_score(last).unwrap_or_else(|| panic!("no score line in:\n{stdout}\n{stderr}"));
    assert!(total > 0, "the corpus held no Zeek baselines:\n{stdout}");
    assert!(
        matched >= MIN_MATCHED,
        "Zeek conformance fell to {matched}/{total} (at least {MIN_MATCHED} expected):\n{stdout}"
    );
}
