//! Live capture driven the way a user would: a real HTTP/1.1 server on 127.0.0.1
//! (python3, `scripts/keepscope_testserver.py`), `keepscope live -i lo --no-tui --json` in the
//! background, real curl clients, then Ctrl-C (SIGINT) and a check of the JSON.
//! Needs root (CI runs as root); without it the tests say so and return.

use std::io::{BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod live_common;

use live_common::{is_root, signal, BIN};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), "first file\n").unwrap();
    std::fs::write(dir.path().join("b"), "second file\n").unwrap();
    let port = free_port();
    // The project's loopback test server: keep-alive GETs, and an upload path that
    // answers 100 Continue, reads the body, then 200 (python's plain http.server
    // answers POST with 501 and may close before the body is sent).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/keepscope_testserver.py");
    let child = Command::new("python3")
        .arg(script)
        .arg("--http")
        .arg(port.to_string())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port, _dir: dir }
}

/// Starts `keepscope live` and waits for its "capturing on" line.
fn start_live(args: &[&str]) -> (Child, BufReader<std::process::ChildStderr>) {
    let (child, err, line) = live_common::start_live(args);
    assert!(line.contains("capturing on lo"), "unexpected first stderr line: {line:?}");
    (child, err)
}

fn curl(args: &[&str]) {
    let status = Command::new("curl").args(["-s", "-o", "/dev/null", "--max-time", "10"]).args(args).status().unwrap();
    assert!(status.success(), "curl {args:?} failed");
}

fn sigint(child: &Child) {
    signal(child, libc::SIGINT);
}

fn transactions(doc: &serde_json::Value, port: u16) -> Vec<(u64, String, String, u64)> {
    let server = format!("127.0.0.1:{port}");
    let mut out = Vec::new();
    for c in doc["connections"].as_array().unwrap() {
        if c["server"] != server.as_str() {
            continue;
        }
        for t in c["transactions"].as_array().unwrap() {
            out.push((
                t["depth"].as_u64().unwrap(),
                t["request"]["method"].as_str().unwrap_or("-").to_string(),
                t["request"]["uri"].as_str().unwrap_or("-").to_string(),
                t["response"]["status"].as_u64().unwrap_or(0),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn live_capture_of_real_curl_traffic_with_json_and_pcap_output() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let server = start_server();
    let port = server.port;
    let out_dir = tempfile::tempdir().unwrap();
    let pcap_path = out_dir.path().join("live.pcap");
    let filter = format!("tcp port {port}");
    let (mut live, mut err) = start_live(&[
        "-i", "lo", "-f", &filter, "--no-tui", "--json", "--duration", "30", "-w", pcap_path.to_str().unwrap(),
    ]);

    let base = format!("http://127.0.0.1:{port}");
    // Two requests on one reused connection.
    curl(&[&format!("{base}/a"), &format!("{base}/b")]);
    // A request that announces Connection: close.
    curl(&["-H", "Connection: close", &format!("{base}/a")]);
    // An Expect: 100-continue upload (100 Continue, body, 200).
    let body = out_dir.path().join("body");
    std::fs::write(&body, vec![b'x'; 4096]).unwrap();
    curl(&["-H", "Expect: 100-continue", "--data-binary", &format!("@{}", body.display()), &format!("{base}/expect/continue")]);
    std::thread::sleep(Duration::from_millis(500));
    sigint(&live);

    let mut stdout = String::new();
    live.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let status = live.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "live exited with {status}; stderr: {rest}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["source"]["kind"], "live");
    assert!(doc["source"]["dropped"].is_u64(), "live runs report drops");

    let conns: Vec<&serde_json::Value> = doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["server"] == format!("127.0.0.1:{port}").as_str())
        .collect();
    assert_eq!(conns.len(), 3, "three curl connections: {stdout}");
    let reused = conns.iter().find(|c| c["transactions"].as_array().unwrap().len() == 2).expect("a reused connection");
    assert_eq!(reused["transactions"][1]["reused"], true);
    assert_eq!(reused["transactions"][1]["request"]["uri"], "/b");
    assert_eq!(reused["transactions"][1]["response"]["status"], 200);
    let closing = conns
        .iter()
        .find(|c| c["transactions"][0]["request"]["connection"] == "close")
        .expect("the Connection: close request");
    assert_eq!(closing["transactions"][0]["persistent_after"], false);
    let upload = conns
        .iter()
        .find(|c| c["transactions"][0]["request"]["method"] == "POST")
        .expect("the upload");
    assert_eq!(upload["transactions"][0]["expect_outcome"], "continued");
    assert_eq!(upload["transactions"][0]["interim"][0]["status"], 100);

    // The -w file reads back to the same transactions.
    let replay = Command::new(BIN).args(["analyze", "--json"]).arg(&pcap_path).output().unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let replayed: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(transactions(&replayed, port), transactions(&doc, port));
    drop(server);
}

#[test]
fn live_ndjson_streams_transactions_and_stops_on_packet_count() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let server = start_server();
    let port = server.port;
    let filter = format!("tcp port {port}");
    let (mut live, _err) = start_live(&["-i", "lo", "-f", &filter, "--no-tui", "--ndjson", "--count", "400", "--duration", "20"]);
    let base = format!("http://127.0.0.1:{port}");
    curl(&[&format!("{base}/a"), &format!("{base}/b")]);
    sigint(&live);
    let mut stdout = String::new();
    live.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(live.wait().unwrap().success());
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == "transaction").count(), 2, "{stdout}");
    assert_eq!(types.last(), Some(&"summary"));
    assert_eq!(lines.last().unwrap()["summary"]["transactions"], 2);
}

#[test]
fn unprivileged_live_capture_exits_3_with_a_hint() {
    if !is_root() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "live", "-i", "lo", "--no-tui", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("setcap cap_net_raw,cap_net_admin+eip"), "{err}");
}

#[test]
fn unknown_interface_and_bad_filter_have_their_exit_codes() {
    let out = Command::new(BIN).args(["live", "-i", "nosuchif0", "--no-tui", "--duration", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if is_root() {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("nosuchif0"), "{err}");
        let out = Command::new(BIN).args(["live", "-i", "lo", "-f", "tcp port", "--no-tui", "--duration", "1"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    } else {
        assert!(matches!(out.status.code(), Some(1) | Some(3)), "{err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
