//! The command line as a user meets it: inputs of every kind, bad input, exit
//! codes, one-line errors, closed pipes.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_keepscope");

fn capture(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn one_line_error(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "exactly one line on stderr: {err:?}");
    assert!(err.starts_with("keepscope: "), "{err:?}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err:?}");
    err
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["analyze"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["analyze", "--json", "--ndjson", &capture("reuse-curl.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["analyze", "-f", "tcp port", &capture("reuse-curl.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    let err = one_line_error(&out);
    assert!(err.contains("filter"), "{err}");
}

#[test]
fn missing_and_garbage_files_exit_1_with_one_line() {
    let out = run(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pcap");
    std::fs::write(&garbage, b"this is not a capture file at all, just text\n").unwrap();
    let out = run(&["analyze", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_error(&out);
    assert!(err.contains("garbage.pcap"), "{err}");

    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let out = run(&["analyze", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    one_line_error(&out);

    // A good file then a missing one: fails before printing anything.
    let out = run(&["analyze", &capture("reuse-curl.pcap"), "/nonexistent/y.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn truncated_capture_is_analysed_up_to_the_damage() {
    let bytes = std::fs::read(capture("keepalive-requests.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = run(&["analyze", "--json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"]["truncated"], true);
    assert!(!doc["source"]["warnings"].as_array().unwrap().is_empty());
    assert!(doc["summary"]["transactions"].as_u64().unwrap() >= 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning"), "{err}");
}

#[test]
fn several_files_stdin_and_gzip() {
    let a = capture("reuse-curl.pcap");
    let b = capture("pipelining.pcap");
    let out = run(&["analyze", "--json", &a, &b]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["transactions"], 4 + 5);
    assert_eq!(doc["source"]["paths"].as_array().unwrap().len(), 2);

    // Standard input.
    let mut child = Command::new(BIN)
        .args(["analyze", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(&b).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["transactions"], 5);

    // gzip-compressed.
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("pipelining.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&b).unwrap()).unwrap();
    enc.finish().unwrap();
    let out = run(&["analyze", "--json", gz.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["transactions"], 5);
}

#[test]
fn closed_stdout_ends_quietly() {
    // `keepscope analyze … | head -1`, with more output than a pipe buffer holds so
    // that keepscope really writes into a closed pipe.
    let files: Vec<String> = (0..80).map(|_| format!("'{}'", capture("keepalive-requests.pcap"))).collect();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; '{BIN}' analyze --ndjson {} | head -1", files.join(" ")))
        .output()
        .unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bpf_filter_applies_offline() {
    let out = run(&["analyze", "--json", "-f", "tcp port 1", &capture("reuse-curl.pcap")]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["connections"], 0);
    assert_eq!(doc["source"]["packets"], 0);
}

#[test]
fn json_document_has_every_spec_field() {
    let out = run(&["analyze", "--json", &capture("expect-continue.pcap")]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["version", "source", "summary", "servers", "connections", "findings"] {
        assert!(doc.get(k).is_some(), "{k}");
    }
    for k in ["kind", "paths", "link_types", "packets", "bytes", "first_ts", "last_ts", "dropped", "truncated", "warnings"] {
        assert!(doc["source"].get(k).is_some(), "source.{k}");
    }
    assert!(doc["source"]["dropped"].is_null());
    for k in [
        "connections", "http_connections", "transactions", "reused_transactions", "reuse_ratio", "max_depth",
        "pipelined_transactions", "close_by", "expect", "tcp_keepalive_probes", "tcp_keepalive_acked", "findings",
    ] {
        assert!(doc["summary"].get(k).is_some(), "summary.{k}");
    }
    for k in ["none", "continued", "rejected_before_body", "body_without_continue", "no_response"] {
        assert!(doc["summary"]["expect"].get(k).is_some(), "expect.{k}");
    }
    let s = &doc["servers"][0];
    for k in ["server", "connections", "transactions", "reuse_ratio", "max_depth", "advertised_keep_alive", "observed_idle_close_s", "max_requests_before_close"] {
        assert!(s.get(k).is_some(), "servers.{k}");
    }
    let c = &doc["connections"][0];
    for k in ["id", "client", "server", "first_ts", "last_ts", "syn_seen", "protocol", "transactions", "close", "tcp_keepalive", "missing_bytes", "findings"] {
        assert!(c.get(k).is_some(), "connection.{k}");
    }
    let t = &c["transactions"][0];
    for k in ["depth", "reused", "pipelined", "idle_before_s", "request", "interim", "response", "expect_outcome", "persistent_after"] {
        assert!(t.get(k).is_some(), "transaction.{k}");
    }
    for k in ["ts", "end_ts", "method", "uri", "version", "connection", "keep_alive", "expect", "body_bytes"] {
        assert!(t["request"].get(k).is_some(), "request.{k}");
    }
    for k in ["ts", "end_ts", "status", "reason", "version", "connection", "keep_alive", "framing", "body_bytes"] {
        assert!(t["response"].get(k).is_some(), "response.{k}");
    }
    for k in ["by", "how", "ts", "idle_s", "announced"] {
        assert!(c["close"].get(k).is_some(), "close.{k}");
    }
    // Microsecond precision.
    let ts = t["request"]["ts"].as_f64().unwrap();
    assert!(((ts * 1e6).round() - ts * 1e6).abs() < 1e-3);
}
