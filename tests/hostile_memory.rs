//! Peak memory of the real binary on hostile captures, default settings.
//!
//! The child's peak RSS comes from `wait4`. Linux carries the high-water mark of
//! the address space a process had before `exec` into its `ru_maxrss`, and
//! `Command` spawns with vfork (the child shares this test process's memory until it
//! execs), so the figure is max(this process's peak, the child's peak). That is why
//! these checks live in their own test binary, which streams its captures to disk
//! and stays at a few megabytes, and why its cases run one after another: the
//! figure can only over-state the child, never hide it. Two things keep this
//! process's part of it to its present size: its peak is reset before each run
//! (`reset_own_peak`), so that writing an earlier capture does not count; and the
//! two tests take `ONE_AT_A_TIME` first, as the harness would otherwise run them at
//! once in this one process, each writing captures while the other measures (a
//! check of this process's own peak failed that way once).

mod common;
mod hostile_gen;

use common::TempCaptures;
use hostile_gen::*;

/// Held by each test for its whole run (see the module doc).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Sets this process's peak RSS (VmHWM) back to what it holds now (Linux's
/// `clear_refs`, value 5), so that a child spawned next carries this process's
/// present size in its figure, not the peak of writing an earlier capture.
fn reset_own_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS through /proc/self/clear_refs");
}

/// This process's own peak RSS (VmHWM), in bytes.
fn own_peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM value");
    kb * 1024
}

#[test]
fn hostile_captures_stay_under_100_mb_with_default_settings() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = TempCaptures::new();
    type Generate = fn(&std::path::Path);
    let cases: [(&str, Generate); 5] = [
        ("(a) 2,000 connections x 60 kB beyond a gap", |p| gap_flood(p, 2000)),
        ("(b) 16 MB request head", endless_head),
        ("(c) a million headers", million_headers),
        ("(d) endless chunk-size digits", endless_chunk_digits),
        ("2,000 idle connections after one 60 kB head each", |p| big_heads_then_idle(p, 2000)),
    ];
    for (i, (what, generate)) in cases.iter().enumerate() {
        let path = dir.dir.path().join(format!("case{i}.pcap"));
        generate(&path);
        reset_own_peak();
        let own = own_peak_rss();
        assert!(own < RSS_BUDGET_BYTES / 4, "the test process itself must stay small ({own} bytes)");
        assert_ran_within_budget(what, &path);
        std::fs::remove_file(&path).expect("remove capture");
    }
}

/// What an open connection costs (README, "Memory bounds"): the growth of the
/// binary's peak RSS from a pool of 2,000 open connections to one of 12,000, over
/// the 10,000 added. With one finished transaction each, and with 48 each (a
/// keep-alive connection holds up to a batch of finished transactions until it
/// hands them on, see `RETIRE_BATCH`).
#[test]
fn open_connections_cost_what_the_readme_says() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = TempCaptures::new();
    for (requests, budget) in [(1u32, 2_800u64), (48, 9_500)] {
        let mut peaks = Vec::new();
        for connections in [2_000u32, 12_000] {
            let path = dir.dir.path().join(format!("pool-{connections}x{requests}.pcap"));
            open_keepalive(&path, connections, requests);
            reset_own_peak();
            let run = run_measured(&["analyze", "--no-progress", path.to_str().expect("utf-8 path")]);
            assert_eq!(run.status, 0, "stderr: {}", run.stderr);
            // The child's figure is the larger of its own peak and this process's
            // size (see the module doc): only the child's if this process's is less.
            let own = own_peak_rss();
            assert!(own < run.max_rss_bytes, "the test process itself ({own} bytes) must stay smaller than the child it measures");
            peaks.push(run.max_rss_bytes);
            std::fs::remove_file(&path).expect("remove capture");
        }
        let per_connection = peaks[1].saturating_sub(peaks[0]) / 10_000;
        eprintln!("{requests} request(s) each: {per_connection} bytes per open connection");
        assert!(per_connection <= budget, "{per_connection} bytes per open connection with {requests} request(s) each (budget {budget})");
    }
}
