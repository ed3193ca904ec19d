//! Generators of hostile captures and a child runner that measures peak RSS, shared
//! by `hostile.rs` (bounds from the analyzer's own accounting) and
//! `hostile_memory.rs` (peak RSS of the real binary). Captures are written record by
//! record so that the test process itself stays small.
#![allow(dead_code)]

use std::io::{BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::common::{addr, flags, tcp_frame, Link, LINKTYPE_RAW};
use keepscope::analysis::CollectSink;
use keepscope::capture::{OfflineSource, PacketSource};
use keepscope::pipeline::{Options, Pipeline};
use keepscope::tcp::TcpStats;

/// Peak RSS allowed for the binary on the big inputs, default settings.
pub const RSS_BUDGET_BYTES: u64 = 100 * 1024 * 1024;

/// Writes a classic pcap (LINKTYPE_RAW, µs) record by record, so that captures of
/// hundreds of megabytes never sit in the test's memory.
pub struct PcapWriter {
    out: BufWriter<std::fs::File>,
    micros: u64,
}

impl PcapWriter {
    pub fn create(path: &Path) -> PcapWriter {
        let file = std::fs::File::create(path).expect("create capture");
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::new();
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&262_144u32.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header).expect("write");
        PcapWriter { out, micros: 1_700_000_000_000_000 }
    }

    /// One frame, 10 µs after the previous one.
    pub fn frame(&mut self, data: &[u8]) {
        self.micros += 10;
        let len = data.len() as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((self.micros / 1_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((self.micros % 1_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec).expect("write");
        self.out.write_all(data).expect("write");
    }

    pub fn segment(&mut self, src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, f: &str, payload: &[u8]) {
        self.frame(&tcp_frame(Link::RawIp, src, dst, seq, ack, flags(f), payload));
    }

    /// A client→server stream of `bytes`, cut into segments, from `seq` on.
    pub fn stream(&mut self, src: SocketAddr, dst: SocketAddr, mut seq: u32, bytes: &[u8]) -> u32 {
        for piece in bytes.chunks(1400) {
            self.segment(src, dst, seq, 1, "AP", piece);
            seq = seq.wrapping_add(piece.len() as u32);
        }
        seq
    }

    /// SYN, SYN-ACK, ACK between `client` and `server` with these initial sequence
    /// numbers.
    pub fn handshake(&mut self, client: SocketAddr, server: SocketAddr, client_isn: u32, server_isn: u32) {
        self.segment(client, server, client_isn, 0, "S", b"");
        self.segment(server, client, server_isn, client_isn + 1, "SA", b"");
        self.segment(client, server, client_isn + 1, server_isn + 1, "A", b"");
    }

    pub fn finish(mut self) {
        self.out.flush().expect("flush");
    }
}

/// Client `i` of many: distinct addresses and ports so every one is its own flow.
pub fn client(i: u32) -> SocketAddr {
    let ip = 0x0a00_0000u32 + 1 + (i / 50_000);
    let port = 10_000 + (i % 50_000) as u16;
    SocketAddr::new(std::net::Ipv4Addr::from(ip).into(), port)
}

/// Runs the whole capture through the library pipeline; returns the TCP stats.
pub fn stats_of(path: &Path, options: &Options) -> TcpStats {
    let mut source = OfflineSource::open(&[path.to_path_buf()], None).expect("open capture");
    let mut pipeline = Pipeline::new(options, CollectSink::new(false));
    while let Some(pkt) = source.next_packet().expect("read capture") {
        pipeline.on_packet(&pkt);
    }
    pipeline.finish();
    pipeline.tcp_stats()
}

/// What one run of the binary left behind.
pub struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub max_rss_bytes: u64,
}

/// Runs `keepscope ARGS` and measures its peak RSS with `wait4` (this child only).
// The child is reaped by `wait4` below, which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run_measured(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keepscope"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keepscope");
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    // Drain stderr on a thread so neither pipe can fill up and stall the child.
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut stdout = Vec::new();
    stdout_pipe.read_to_end(&mut stdout).expect("read stdout");
    let stderr = stderr_reader.join().expect("stderr thread");
    let mut status = 0i32;
    // SAFETY: plain FFI; `rusage` is a POD struct we own, the pid is our child's and
    // `Child::wait` is never called for it afterwards.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "keepscope did not exit normally (status {status:#x}); stderr: {stderr}");
    Run {
        status: libc::WEXITSTATUS(status),
        stdout,
        stderr,
        // Linux reports ru_maxrss in kilobytes.
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
    }
}

pub fn assert_ran_within_budget(what: &str, path: &Path) -> Run {
    let run = run_measured(&["analyze", "--no-progress", path.to_str().expect("utf-8 path")]);
    assert_eq!(run.status, 0, "{what}: exit status; stderr: {}", run.stderr);
    assert!(!run.stderr.contains("internal error"), "{what}: {}", run.stderr);
    eprintln!("{what}: peak RSS {:.1} MB", run.max_rss_bytes as f64 / 1048576.0);
    assert!(
        run.max_rss_bytes < RSS_BUDGET_BYTES,
        "{what}: peak RSS {} bytes is over the {} byte budget",
        run.max_rss_bytes,
        RSS_BUDGET_BYTES
    );
    run
}

pub const REQUEST_HEAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: victim\r\nContent-Length: 100000\r\n\r\n";

/// (a) 2,000 connections, each a request head then 60 kB beyond a gap that never
/// fills: 120 MB out of order against a 32 MB global bound.
pub fn gap_flood(path: &Path, connections: u32) {
    let server = addr("10.255.0.1:80");
    let mut w = PcapWriter::create(path);
    let body = vec![b'b'; 60_000];
    for i in 0..connections {
        let c = client(i);
        w.handshake(c, server, 1000, 5000);
        let after_head = w.stream(c, server, 1001, REQUEST_HEAD);
        // 2,000 bytes never captured, then 60 kB that wait for them.
        w.stream(c, server, after_head.wrapping_add(2000), &body);
    }
    w.finish();
}


/// (b) One connection whose request head runs on for 16 MB without ever ending.
pub fn endless_head(path: &Path) {
    let (c, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
    let mut w = PcapWriter::create(path);
    w.handshake(c, server, 0, 0);
    let mut seq = w.stream(c, server, 1, b"GET /endless HTTP/1.1\r\nX-Long: ");
    let chunk = vec![b'a'; 14_000];
    let mut sent = 0usize;
    while sent < 16 * 1024 * 1024 {
        seq = w.stream(c, server, seq, &chunk);
        sent += chunk.len();
    }
    w.finish();
}

/// (c) A million header fields in one request head (about 7 MB).
pub fn million_headers(path: &Path) {
    let (c, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
    let mut w = PcapWriter::create(path);
    w.handshake(c, server, 0, 0);
    let mut seq = w.stream(c, server, 1, b"GET /many HTTP/1.1\r\nHost: h\r\n");
    // 200 fields per segment, so the test never holds the whole head.
    let mut block = Vec::with_capacity(1400);
    for i in 0..1_000_000u32 {
        block.extend_from_slice(format!("X{}: v\r\n", i % 10).as_bytes());
        if block.len() >= 1390 {
            seq = w.stream(c, server, seq, &block);
            block.clear();
        }
    }
    block.extend_from_slice(b"\r\n");
    seq = w.stream(c, server, seq, &block);
    w.segment(c, server, seq, 1, "AF", b"");
    w.finish();
}

/// (d) A chunked response whose chunk-size line is 8 MB of hex digits.
pub fn endless_chunk_digits(path: &Path) {
    let (c, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
    let mut w = PcapWriter::create(path);
    w.handshake(c, server, 0, 0);
    let cseq = w.stream(c, server, 1, b"GET /chunks HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut sseq = 1u32;
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1";
    w.segment(server, c, sseq, cseq, "AP", head);
    sseq += head.len() as u32;
    let digits = vec![b'f'; 1400];
    for _ in 0..(8 * 1024 * 1024 / 1400) {
        w.segment(server, c, sseq, cseq, "AP", &digits);
        sseq = sseq.wrapping_add(1400);
    }
    w.finish();
}

/// 2,000 keep-alive connections that each sent one 60 kB request head (within
/// `max_head_bytes`), got their answer and stay open: nothing is pending, so
/// nothing of those heads should stay in memory.
pub fn big_heads_then_idle(path: &Path, connections: u32) {
    let server = addr("10.255.0.1:80");
    let mut w = PcapWriter::create(path);
    let mut head = b"GET /big HTTP/1.1\r\nHost: h\r\n".to_vec();
    while head.len() < 60_000 {
        head.extend_from_slice(b"Cookie: 0123456789012345678901234567890123456789\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for i in 0..connections {
        let c = client(i);
        w.handshake(c, server, 1000, 5000);
        let end = w.stream(c, server, 1001, &head);
        w.segment(server, c, 5001, end, "AP", response);
    }
    w.finish();
}

/// `connections` keep-alive connections, each carrying `requests` requests with
/// their responses and then left open (no FIN): what a busy load balancer's pool
/// looks like when the capture stops.
pub fn open_keepalive(path: &Path, connections: u32, requests: u32) {
    let server = addr("10.255.0.1:80");
    let mut w = PcapWriter::create(path);
    let request = b"GET /pool HTTP/1.1\r\nHost: backend\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for i in 0..connections {
        let c = client(i);
        w.handshake(c, server, 1000, 5000);
        let (mut cseq, mut sseq) = (1001u32, 5001u32);
        for _ in 0..requests {
            w.segment(c, server, cseq, sseq, "AP", request);
            cseq += request.len() as u32;
            w.segment(server, c, sseq, cseq, "AP", response);
            sseq += response.len() as u32;
        }
    }
    w.finish();
}
