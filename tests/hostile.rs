//! Hostile traffic stays within the configured bounds.
//!
//! Each test generates its capture at test time (nothing is committed), checks the
//! analyzer's own accounting (`TcpStats::buffered_bytes_peak`, read through the
//! library's `Pipeline`) against the configured bound, and runs the real binary to
//! see that it ends normally and says what it gave up. Peak memory of the binary is
//! checked in `hostile_memory.rs`, a separate test process kept small on purpose.

mod common;
mod hostile_gen;

use std::path::Path;

use common::{addr, flags, tcp_frame, Link, TempCaptures, LINKTYPE_RAW};
use hostile_gen::*;
use keepscope::analysis::CollectSink;
use keepscope::capture::RawPacket;
use keepscope::decode::LinkKind;
use keepscope::pipeline::{Options, Pipeline};
use keepscope::time::Timestamp;

#[test]
fn gaps_that_never_fill_stay_within_the_buffering_bounds() {
    let dir = TempCaptures::new();
    let path = dir.dir.path().join("gap-flood.pcap");
    gap_flood(&path, 2000);

    let options = Options::default();
    let stats = stats_of(&path, &options);
    eprintln!("gap flood, default bounds: {stats:?}");
    assert_eq!(stats.connections, 2000);
    assert!(stats.buffered_bytes_peak > 0, "the test must actually buffer out-of-order data");
    assert!(
        stats.buffered_bytes_peak <= options.tcp.max_buffered_total as u64,
        "peak {} over the global bound {}",
        stats.buffered_bytes_peak,
        options.tcp.max_buffered_total
    );
    assert!(stats.gaps_forced > 0, "120 MB cannot fit 32 MB: gaps must be given up");
    assert_eq!(stats.buffered_bytes, 0, "finish gives every gap up");

    // A tighter configuration is kept as well.
    let mut tight = Options::default();
    tight.tcp.max_buffered_total = 1024 * 1024;
    tight.tcp.max_buffered_per_conn = 64 * 1024;
    let stats = stats_of(&path, &tight);
    eprintln!("gap flood, 1 MB total bound: {stats:?}");
    assert!(stats.buffered_bytes_peak <= 1024 * 1024, "peak {}", stats.buffered_bytes_peak);
    assert!(stats.buffered_bytes_peak > 512 * 1024, "peak {} should fill the bound", stats.buffered_bytes_peak);

    let run = run_measured(&["analyze", "--no-progress", path.to_str().unwrap()]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let stderr = run.stderr;
    assert!(stderr.contains("reassembly gaps were given up"), "the report says what was given up: {stderr}");
}

/// One connection whose request head runs on for 16 MB without ever ending.
#[test]
fn a_16_mb_request_head_is_cut_off() {
    let dir = TempCaptures::new();
    let path = dir.dir.path().join("endless-head.pcap");
    endless_head(&path);
    let stats = stats_of(&path, &Options::default());
    assert_eq!(stats.buffered_bytes_peak, 0, "in-order bytes are never buffered by the TCP stage");
    let run = run_measured(&["analyze", "--no-progress", path.to_str().unwrap()]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("message head longer than the limit"), "the report names the cut: {text}");
}

/// Analyses `path` with `--json` and returns the single connection's record.
fn only_connection(path: &Path) -> serde_json::Value {
    let run = run_measured(&["analyze", "--json", "--no-progress", path.to_str().unwrap()]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert!(!run.stderr.contains("internal error"), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("valid JSON");
    let conns = doc["connections"].as_array().expect("connections array");
    assert_eq!(conns.len(), 1, "{doc}");
    conns[0].clone()
}

#[test]
fn a_million_headers_are_cut_off() {
    let dir = TempCaptures::new();
    let path = dir.dir.path().join("million-headers.pcap");
    million_headers(&path);
    let started = std::time::Instant::now();
    let conn = only_connection(&path);
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
    assert!(conn.to_string().len() < 100_000, "the record must not carry the headers");
    assert!(conn.to_string().contains("framing_error"), "the cut is reported: {conn}");
}

#[test]
fn endless_chunk_size_digits_are_cut_off() {
    let dir = TempCaptures::new();
    let path = dir.dir.path().join("chunk-digits.pcap");
    endless_chunk_digits(&path);
    let conn = only_connection(&path);
    assert!(conn.to_string().len() < 100_000);
    assert!(conn.to_string().contains("framing_error"), "the bad chunk size is reported: {conn}");
}

/// (e) Hundreds of thousands of connections, each holding a gap with its
/// out-of-order store filled to the per-connection bound: fed straight to the
/// pipeline (a file would be hundreds of megabytes).
#[test]
fn many_connections_with_full_out_of_order_buffers_stay_within_bounds() {
    const CONNECTIONS: u32 = 300_000;
    let mut options = Options::default();
    options.tcp.max_buffered_per_conn = 2048;
    options.tcp.max_buffered_total = 8 * 1024 * 1024;
    let mut pipeline = Pipeline::new(&options, CollectSink::new(false));
    let server = addr("10.255.0.1:80");
    let payload = vec![b'x'; 1000];
    let mut frame = Vec::with_capacity(1100);
    let mut micros = 1_700_000_000_000_000i64;
    let mut feed = |pipeline: &mut Pipeline<CollectSink>, frame_bytes: Vec<u8>, frame: &mut Vec<u8>| {
        *frame = frame_bytes;
        micros += 1;
        let pkt = RawPacket {
            ts: Timestamp::from_secs_nanos(micros / 1_000_000, (micros % 1_000_000) * 1000),
            wire_len: frame.len() as u32,
            link: LinkKind::from_linktype(LINKTYPE_RAW),
            data: frame,
        };
        pipeline.on_packet(&pkt);
    };
    let mut peak_seen = 0u64;
    for i in 0..CONNECTIONS {
        let c = client(i);
        // Picked up mid-stream: 10 bytes in order, then a 48-byte gap and 2000
        // bytes behind it, which fills the 2048-byte window.
        feed(&mut pipeline, tcp_frame(Link::RawIp, c, server, 1, 1, flags("A"), &payload[..10]), &mut frame);
        feed(&mut pipeline, tcp_frame(Link::RawIp, c, server, 59, 1, flags("A"), &payload), &mut frame);
        feed(&mut pipeline, tcp_frame(Link::RawIp, c, server, 1059, 1, flags("A"), &payload), &mut frame);
        if i % 10_000 == 0 {
            let stats = pipeline.tcp_stats();
            assert!(stats.buffered_bytes <= options.tcp.max_buffered_total as u64);
            peak_seen = peak_seen.max(stats.buffered_bytes);
        }
    }
    let stats = pipeline.tcp_stats();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // For the record (other tests run in this process too): memory at the peak.
        eprintln!("{CONNECTIONS} connections: {}", status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or(""));
    }
    assert_eq!(stats.connections, CONNECTIONS as u64);
    assert!(stats.buffered_bytes_peak <= options.tcp.max_buffered_total as u64, "peak {}", stats.buffered_bytes_peak);
    assert!(peak_seen > options.tcp.max_buffered_total as u64 / 2, "the bound was reached: {peak_seen}");
    assert!(stats.gaps_forced as u32 >= CONNECTIONS - 8 * 1024 * 1024 / 2000, "gaps forced {}", stats.gaps_forced);
    pipeline.finish();
    let stats = pipeline.tcp_stats();
    assert_eq!(stats.buffered_bytes, 0);
    let report = pipeline.analyzer.sink.builder.report(pipeline.source_info("test"), Vec::new());
    assert!(report.source.warnings.iter().any(|w| w.contains("reassembly gaps were given up")), "{:?}", report.source.warnings);
}
