//! Live capture under faults and with dropped privileges:
//! - SIGTERM ends `keepscope live` cleanly: exit 0, the summary, and a `-w` file that
//!   is flushed and reads back whole;
//! - an interface deleted during capture (a veth pair this test creates, the peer in
//!   a network namespace of its own) ends the run with a clear error, after the
//!   summary was written;
//! - `--user nobody` drops root once the capture is open: the process runs as
//!   nobody while capturing, and `-w` (opened before the drop) still works.
//!
//! Test traffic only ever crosses loopback; the veth pair carries none. Needs root
//! (CI runs as root); without it the tests say so and return.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod live_common;

use live_common::{is_root, signal, BIN};

/// A loopback HTTP/1.1 server answering every request on a connection with a
/// 5-byte body, until the client closes. Returns its port.
fn start_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut closing = false;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header.to_ascii_lowercase().starts_with("connection: close") {
                            closing = true;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let connection = if closing { "close" } else { "keep-alive" };
                    let response = format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: {connection}\r\n\r\nhello");
                    if writer.write_all(response.as_bytes()).is_err() || closing {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Two requests on one connection, the second announcing `Connection: close`.
fn two_requests(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut first = [0u8; 256];
    let mut got = 0;
    while !first[..got].ends_with(b"hello") {
        let n = stream.read(&mut first[got..]).unwrap();
        assert!(n > 0, "server closed early");
        got += n;
    }
    stream.write_all(b"GET /two HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(b"hello"));
}

/// Starts `keepscope live ARGS` and waits for its "capturing on" line.
fn start_live(args: &[&str]) -> (Child, BufReader<ChildStderr>) {
    let (child, err, line) = live_common::start_live(args);
    assert!(line.contains("capturing on"), "unexpected first stderr line: {line:?}");
    (child, err)
}

/// Waits for the child to end on its own (or kills it after `limit` and fails).
fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keepscope did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stdout, the exit status and the rest of stderr of a finished run.
fn finish(mut child: Child, mut err: BufReader<ChildStderr>, limit: Duration) -> (String, ExitStatus, String) {
    let mut stdout_pipe = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stdout = String::new();
        stdout_pipe.read_to_string(&mut stdout).unwrap();
        stdout
    });
    let status = wait_within(&mut child, limit);
    let stdout = reader.join().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    (stdout, status, rest)
}

/// `(method, uri, status)` of the transactions to `127.0.0.1:port`, sorted.
fn transactions(doc: &serde_json::Value, port: u16) -> Vec<(String, String, u64)> {
    let server = format!("127.0.0.1:{port}");
    let mut out = Vec::new();
    for c in doc["connections"].as_array().unwrap() {
        if c["server"] != server.as_str() {
            continue;
        }
        for t in c["transactions"].as_array().unwrap() {
            out.push((
                t["request"]["method"].as_str().unwrap_or("-").to_string(),
                t["request"]["uri"].as_str().unwrap_or("-").to_string(),
                t["response"]["status"].as_u64().unwrap_or(0),
            ));
        }
    }
    out.sort();
    out
}

/// The `-w` file reads back whole (no truncation warning) with these transactions.
fn assert_written_file_matches(path: &Path, port: u16, expected: &[(String, String, u64)]) {
    let replay = Command::new(BIN).args(["analyze", "--json", "--no-progress"]).arg(path).output().unwrap();
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{stderr}");
    assert!(!stderr.contains("middle of a record"), "-w output was not flushed whole: {stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(doc["source"]["truncated"], false);
    assert_eq!(transactions(&doc, port), expected);
}

fn expected_pair() -> Vec<(String, String, u64)> {
    vec![("GET".into(), "/one".into(), 200), ("GET".into(), "/two".into(), 200)]
}

#[test]
fn sigterm_ends_live_capture_with_the_summary_and_a_whole_pcap() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let port = start_server();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("term.pcap");
    let filter = format!("tcp port {port}");
    let (live, err) = start_live(&["-i", "lo", "-f", &filter, "--no-tui", "--json", "--duration", "60", "-w", pcap.to_str().unwrap()]);
    two_requests(port);
    std::thread::sleep(Duration::from_millis(300));
    signal(&live, libc::SIGTERM);
    let (stdout, status, stderr) = finish(live, err, Duration::from_secs(10));
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("the JSON document");
    assert_eq!(transactions(&doc, port), expected_pair(), "{stdout}");
    assert_written_file_matches(&pcap, port, &expected_pair());
}

/// Runs `ip ARGS`, failing the test with its stderr.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The namespace and host-side veth this test made; removed on drop, test passed or not.
struct Veth {
    netns: String,
    host_end: String,
}

impl Drop for Veth {
    fn drop(&mut self) {
        // The host end may already be gone (that is the test); errors are expected.
        let _ = Command::new("ip").args(["link", "del", &self.host_end]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).stderr(Stdio::null()).status();
    }
}

#[test]
fn an_interface_that_goes_away_ends_the_capture_with_an_error_and_the_summary() {
    if !is_root() {
        eprintln!("skipped: needs root to create a veth pair");
        return;
    }
    let pid = std::process::id();
    let veth = Veth { netns: format!("ks-test-{pid}"), host_end: format!("ksh{pid}") };
    let peer = format!("ksp{pid}");
    ip(&["netns", "add", &veth.netns]);
    ip(&["link", "add", &veth.host_end, "type", "veth", "peer", "name", &peer, "netns", &veth.netns]);
    // No addresses and no IPv6 autoconfiguration: the pair carries no traffic.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", veth.host_end), "1");
    ip(&["link", "set", &veth.host_end, "up"]);

    let (live, err) = start_live(&["-i", &veth.host_end, "--no-tui", "--json", "--duration", "60"]);
    ip(&["link", "del", &veth.host_end]);
    let (stdout, status, stderr) = finish(live, err, Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("the summary is still written");
    assert_eq!(doc["source"]["kind"], "live");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(lines[0].starts_with("keepscope: ") && lines[0].contains(&veth.host_end), "{stderr}");
    assert!(lines[0].contains("capture ended"), "{stderr}");
    let warnings = doc["source"]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap_or("").contains("capture ended")), "{warnings:?}");
    drop(veth);
}

/// The uid fields (real, effective, saved, filesystem) of `/proc/<pid>/task/*/status`
/// for every thread of the process.
fn thread_uids(pid: u32) -> Vec<Vec<u32>> {
    let mut all = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
        all.push(line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect());
    }
    all
}

fn uid_of(user: &str) -> u32 {
    let name = std::ffi::CString::new(user).unwrap();
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "no user {user}");
    unsafe { (*pw).pw_uid }
}

#[test]
fn user_option_drops_root_while_capturing_and_still_writes_the_file() {
    if !is_root() {
        eprintln!("skipped: needs root to drop privileges");
        return;
    }
    let nobody = uid_of("nobody");
    let port = start_server();
    let dir = tempfile::tempdir().unwrap();
    // The directory stays root-only: the file can only be written because it was
    // opened before the drop.
    let pcap = dir.path().join("as-nobody.pcap");
    let filter = format!("tcp port {port}");
    let (live, err) = start_live(&[
        "-i", "lo", "-f", &filter, "--no-tui", "--json", "--duration", "60", "--user", "nobody", "-w", pcap.to_str().unwrap(),
    ]);
    let uids = thread_uids(live.id());
    assert!(uids.len() >= 2, "the capture thread runs: {uids:?}");
    for fields in &uids {
        assert_eq!(fields, &vec![nobody; 4], "every thread runs as nobody: {uids:?}");
    }
    two_requests(port);
    std::thread::sleep(Duration::from_millis(300));
    signal(&live, libc::SIGTERM);
    let (stdout, status, stderr) = finish(live, err, Duration::from_secs(10));
    assert!(status.success(), "exit {status}; stderr: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(transactions(&doc, port), expected_pair());
    assert_written_file_matches(&pcap, port, &expected_pair());
}
