//! Scale properties of the whole pipeline, measured with a counting allocator:
//! - the two-thread reader gives the same JSON document as the single thread (on
//!   the project's captures, a generated one and the shared corpus);
//! - no allocation per packet on in-order traffic (beyond per-message heads);
//! - memory does not grow with finished connections in the text / NDJSON modes;
//! - the heap cost of a kept connection record (TUI) is bounded;
//! - transactions retired early (so long connections hold none) change no output,
//!   and the JSON document's heap grows by its small index only.
//!
//! The allocator counts per thread, so tests running in parallel in this binary do
//! not disturb each other's figures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;

use common::{addr, flags, tcp_frame, write_pcap, Link, Record, TsPrecision};
use keepscope::analysis::CollectSink;
use keepscope::capture::RawPacket;
use keepscope::decode::LinkKind;
use keepscope::offline::{analyze_files_threads, analyze_into};
use keepscope::pipeline::{Options, Pipeline};
use keepscope::report::json::{write_document, JsonDocumentSink, NdjsonSink};
use keepscope::time::Timestamp;

struct Counting;

thread_local! {
    /// (allocations, live bytes) of this thread.
    static COUNTS: Cell<(u64, i64)> = const { Cell::new((0, 0)) };
}

fn count(allocs: u64, bytes: i64) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = COUNTS.try_with(|c| {
        let (a, b) = c.get();
        c.set((a + allocs, b + bytes));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(1, layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, -(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(1, new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    COUNTS.with(|c| c.get().0)
}

fn live_bytes() -> i64 {
    COUNTS.with(|c| c.get().1)
}

const SERVER: &str = "127.0.0.1:8080";

fn client(k: usize) -> SocketAddr {
    addr(&format!("127.{}.{}.{}:{}", 1 + (k >> 16) % 250, (k >> 8) & 255, k & 255, 1024 + k % 60_000))
}

fn ts(n: u64) -> Timestamp {
    Timestamp(1_700_000_000_000_000_000 + n as i64 * 7_000)
}

/// The packets of connection `k`: handshake, `requests` keep-alive exchanges
/// (the last one announcing `Connection: close` when `announce_close`), then FINs
/// from both sides, or an RST from the server when `rst`.
fn conversation(k: usize, requests: usize, announce_close: bool, rst: bool) -> Vec<Vec<u8>> {
    let (c, s) = (client(k), addr(SERVER));
    let c_isn = (k as u32).wrapping_mul(2_654_435_761);
    let s_isn = c_isn ^ 0x5555_5555;
    let (mut cs, mut ss) = (c_isn.wrapping_add(1), s_isn.wrapping_add(1));
    let mut out = vec![
        tcp_frame(Link::Ethernet, c, s, c_isn, 0, flags("S"), b""),
        tcp_frame(Link::Ethernet, s, c, s_isn, cs, flags("SA"), b""),
        tcp_frame(Link::Ethernet, c, s, cs, ss, flags("A"), b""),
    ];
    for r in 0..requests {
        let request = format!("GET /item/{k}/{r} HTTP/1.1\r\nHost: {SERVER}\r\nUser-Agent: scale/1\r\n\r\n");
        let last = r + 1 == requests;
        let connection = if last && announce_close { "close" } else { "keep-alive" };
        let response = format!("HTTP/1.1 200 OK\r\nConnection: {connection}\r\nContent-Length: 2\r\n\r\nok");
        out.push(tcp_frame(Link::Ethernet, c, s, cs, ss, flags("PA"), request.as_bytes()));
        cs = cs.wrapping_add(request.len() as u32);
        out.push(tcp_frame(Link::Ethernet, s, c, ss, cs, flags("PA"), response.as_bytes()));
        ss = ss.wrapping_add(response.len() as u32);
    }
    if rst {
        out.push(tcp_frame(Link::Ethernet, s, c, ss, cs, flags("RA"), b""));
    } else {
        out.push(tcp_frame(Link::Ethernet, c, s, cs, ss, flags("FA"), b""));
        out.push(tcp_frame(Link::Ethernet, s, c, ss, cs.wrapping_add(1), flags("FA"), b""));
        out.push(tcp_frame(Link::Ethernet, c, s, cs.wrapping_add(1), ss.wrapping_add(1), flags("A"), b""));
    }
    out
}

/// Calls `each` with the frames of `n` connections, interleaved 32 at a time (so
/// many are open at once), varied: 1–4 requests, some announced closes, some RSTs.
fn for_each_frame(n: usize, mut each: impl FnMut(usize, Vec<u8>)) {
    let mut start = 0;
    while start < n {
        let end = (start + 32).min(n);
        let mut convs: Vec<std::vec::IntoIter<Vec<u8>>> = (start..end)
            .map(|k| conversation(k, 1 + k % 4, k % 3 == 0, k % 7 == 0).into_iter())
            .collect();
        loop {
            let mut any = false;
            for (i, conv) in convs.iter_mut().enumerate() {
                if let Some(frame) = conv.next() {
                    any = true;
                    each(start + i, frame);
                }
            }
            if !any {
                break;
            }
        }
        start = end;
    }
}

fn feed<S: keepscope::analysis::ConnectionSink>(pipeline: &mut Pipeline<S>, n: u64, frame: &[u8]) {
    let pkt = RawPacket { ts: ts(n), wire_len: frame.len() as u32, link: LinkKind::Ethernet, data: frame };
    pipeline.on_packet(&pkt);
}

fn json_of(paths: &[PathBuf], threads: usize) -> String {
    let report = analyze_files_threads(paths, None, &Options::default(), true, false, threads)
        .unwrap_or_else(|e| panic!("{paths:?}: {:?}", e.message));
    let mut out = Vec::new();
    write_document(&mut out, &report).expect("write to a Vec");
    String::from_utf8(out).expect("JSON is UTF-8")
}

#[test]
fn two_threads_give_the_same_document_as_one() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("captures/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 10, "captures/ holds the recorded captures");
    // A larger generated capture: many reader batches, thousands of connections.
    let tmp = tempfile::tempdir().expect("temp dir");
    let big = tmp.path().join("generated.pcap");
    let mut records = Vec::new();
    let mut n = 0u64;
    for_each_frame(4000, |_, frame| {
        records.push(Record::new(ts(n), frame));
        n += 1;
    });
    write_pcap(&big, common::LINKTYPE_ETHERNET, TsPrecision::Micro, &records);
    assert!(std::fs::metadata(&big).expect("written").len() > 4 * 256 * 1024, "spans many batches");
    captures.push(big.clone());
    for path in &captures {
        let one = json_of(std::slice::from_ref(path), 1);
        let two = json_of(std::slice::from_ref(path), 2);
        assert!(one == two, "{}: --threads 2 differs from --threads 1", path.display());
    }
    // Several files in one run, across the file boundary.
    let both = [captures[0].clone(), big];
    assert_eq!(json_of(&both, 1), json_of(&both, 2));
    let doc: serde_json::Value = serde_json::from_str(&json_of(&captures[captures.len() - 1..], 2)).expect("JSON");
    assert_eq!(doc["summary"]["connections"], 4000);
}

/// Every capture under `dir`, recursively, sorted.
fn captures_under(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            captures_under(&path, found);
        } else if path.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap") {
            found.push(path);
        }
    }
    found.sort();
}

/// The shared corpus holds captures from real networks: loss, reordering,
/// retransmissions, probes, damaged files. With two threads the TCP stage runs on
/// the reader thread and its events cross to the analysis in batches; whatever it
/// says about a capture must come out the same as on one thread (or fail the same).
#[test]
fn two_threads_agree_on_the_corpus() {
    let mut captures = Vec::new();
    captures_under(&common::corpus_dir(), &mut captures);
    assert!(captures.len() >= 100, "the shared corpus is beside the repository ({} captures)", captures.len());
    let report = |path: &PathBuf, threads| {
        analyze_files_threads(std::slice::from_ref(path), None, &Options::default(), true, false, threads).map(|r| {
            let mut out = Vec::new();
            write_document(&mut out, &r).expect("write to a Vec");
            out
        })
    };
    let mut analysed = 0;
    for path in &captures {
        match (report(path, 1), report(path, 2)) {
            (Ok(one), Ok(two)) => {
                analysed += 1;
                assert!(one == two, "{}: --threads 2 differs from --threads 1", path.display());
            }
            (Err(one), Err(two)) => assert_eq!(one.message, two.message, "{}", path.display()),
            (one, two) => panic!("{}: one thread {:?}, two {:?}", path.display(), one.err().map(|e| e.message), two.err().map(|e| e.message)),
        }
    }
    assert!(analysed >= 100, "{analysed} captures analysed");
}

#[test]
fn in_order_traffic_allocates_per_message_not_per_packet() {
    let (c, s) = (addr("127.0.0.2:40000"), addr(SERVER));
    let (c_isn, s_isn) = (1000u32, u32::MAX - 3_000_000); // the server's seq wraps
    let request = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    const SEGMENTS: usize = 4000;
    const SEG: usize = 1448;
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", SEGMENTS * SEG);
    let body = vec![b'x'; SEG];
    let mut frames = vec![
        tcp_frame(Link::Ethernet, c, s, c_isn, 0, flags("S"), b""),
        tcp_frame(Link::Ethernet, s, c, s_isn, c_isn + 1, flags("SA"), b""),
        tcp_frame(Link::Ethernet, c, s, c_isn + 1, s_isn.wrapping_add(1), flags("A"), b""),
    ];
    let cs = c_isn + 1 + request.len() as u32;
    let mut ss = s_isn.wrapping_add(1);
    frames.push(tcp_frame(Link::Ethernet, c, s, c_isn + 1, ss, flags("PA"), request));
    frames.push(tcp_frame(Link::Ethernet, s, c, ss, cs, flags("PA"), head.as_bytes()));
    ss = ss.wrapping_add(head.len() as u32);
    for i in 0..SEGMENTS {
        frames.push(tcp_frame(Link::Ethernet, s, c, ss, cs, flags("A"), &body));
        ss = ss.wrapping_add(SEG as u32);
        if i % 2 == 1 {
            frames.push(tcp_frame(Link::Ethernet, c, s, cs, ss, flags("A"), b""));
        }
    }
    // Then keep-alive exchanges, one segment each way.
    const EXCHANGES: usize = 2000;
    let mut cs = cs;
    for r in 0..EXCHANGES {
        let req = format!("GET /r/{r} HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        frames.push(tcp_frame(Link::Ethernet, c, s, cs, ss, flags("PA"), req.as_bytes()));
        cs = cs.wrapping_add(req.len() as u32);
        frames.push(tcp_frame(Link::Ethernet, s, c, ss, cs, flags("PA"), resp));
        ss = ss.wrapping_add(resp.len() as u32);
    }
    let body_start = 5 + 20; // a few body segments in: buffers are warm
    let body_end = 5 + SEGMENTS * 3 / 2;

    let mut pipeline = Pipeline::new(&Options::default(), CollectSink::new(false));
    let mut marks = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        if i == body_start || i == body_end || i == body_end + 200 {
            marks.push(allocations());
        }
        feed(&mut pipeline, i as u64, frame);
    }
    let end = allocations();
    let body_allocs = marks[1] - marks[0];
    // Zero per packet; one amortised growth of a reused buffer may fall in the window.
    assert!(body_allocs <= 2, "{} in-order body segments allocated {body_allocs} times", body_end - body_start);
    // Keep-alive exchanges: methods, reasons and usual header values are static,
    // short text (`/r/N`, `x`) is held inline, so only the batches of finished
    // transactions handed on allocate (one vector per batch); nothing per packet.
    let per_exchange = (end - marks[2]) as f64 / (EXCHANGES - 100) as f64;
    eprintln!("allocations per keep-alive exchange (2 packets, 2 heads): {per_exchange:.2}");
    assert!(per_exchange <= 0.5, "{per_exchange:.2} allocations per exchange");
    pipeline.finish();
    let summary = pipeline.analyzer.sink.builder.summary();
    assert_eq!(summary.transactions, 1 + EXCHANGES as u64);
}

/// Live heap after feeding `total` connections, sampled after `sample_at` too.
fn heap_growth<S: keepscope::analysis::ConnectionSink>(sink: S, sample_at: usize, total: usize) -> (i64, i64, Pipeline<S>) {
    let mut pipeline = Pipeline::new(&Options::default(), sink);
    let mut n = 0u64;
    let mut at_sample = None;
    for_each_frame(total, |k, frame| {
        if k >= sample_at && at_sample.is_none() {
            at_sample = Some(live_bytes());
        }
        feed(&mut pipeline, n, &frame);
        n += 1;
    });
    let at_end = live_bytes();
    (at_sample.expect("sampled"), at_end, pipeline)
}

/// Heap held by the findings list (which grows up to `MAX_FINDINGS_KEPT`, then
/// only its counts do).
fn findings_heap(builder: &keepscope::analysis::ReportBuilder) -> i64 {
    assert!(builder.findings().len() <= keepscope::analysis::summary::MAX_FINDINGS_KEPT);
    builder
        .findings()
        .iter()
        .map(|f| (std::mem::size_of_val(f) + f.kind.capacity() + f.message.capacity()) as i64)
        .sum()
}

#[test]
fn memory_does_not_grow_with_finished_connections() {
    // Text report: aggregates only. 30,000 → 90,000 connections (beyond the 16k
    // tombstones kept) must not grow the heap by more than noise (hash tables and
    // vectors at capacity stay; they do not double again), apart from the bounded
    // findings list filling up.
    let (mid, end, mut pipeline) = heap_growth(CollectSink::new(false), 30_000, 90_000);
    let growth = end - mid - findings_heap(&pipeline.analyzer.sink.builder);
    eprintln!("text: live heap {mid} B at 30k connections, {end} B at 90k");
    assert!(growth < 256 * 1024, "text mode grew by {growth} bytes over 60,000 finished connections");
    assert!(pipeline.tracker.tombstone_count() <= keepscope::tcp::TcpConfig::default().max_tombstones);
    pipeline.finish();
    assert_eq!(pipeline.analyzer.sink.builder.summary().connections, 90_000);

    // NDJSON: every connection written out as it ends, aggregates kept.
    let (mid, end, mut pipeline) = heap_growth(NdjsonSink::new(std::io::sink()), 30_000, 90_000);
    let growth = end - mid - findings_heap(&pipeline.analyzer.sink.builder);
    eprintln!("ndjson: live heap {mid} B at 30k connections, {end} B at 90k");
    assert!(growth < 256 * 1024, "ndjson mode grew by {growth} bytes over 60,000 finished connections");
    pipeline.finish();
}

/// With the writer on a thread of its own, the records the analysis thread builds
/// come back to it to be freed (glibc's malloc makes frees from another thread
/// queue on the allocating thread's arena lock, which made the threaded run slower
/// than one thread on many short connections). This thread's own count of live
/// bytes shows it: freed elsewhere, every record would stay counted here.
#[test]
fn the_writer_thread_hands_records_back_to_be_freed() {
    for ndjson in [true, false] {
        let (mid, end) = if ndjson {
            let (mid, end, mut pipeline) = heap_growth(NdjsonSink::threaded(std::io::sink()), 30_000, 90_000);
            let kept = findings_heap(&pipeline.analyzer.sink.builder);
            pipeline.finish();
            (mid, end - kept)
        } else {
            let (mid, end, mut pipeline) = heap_growth(JsonDocumentSink::threaded(), 30_000, 90_000);
            let kept = findings_heap(&pipeline.analyzer.sink.builder);
            pipeline.finish();
            (mid, end - kept)
        };
        let growth = end - mid;
        eprintln!("threaded writer (ndjson {ndjson}): analysis thread's live heap {mid} B at 30k connections, {end} B at 90k");
        // Batches in flight at either moment: at most a few hundred records.
        assert!(growth < 1 << 20, "the analysis thread holds {growth} more bytes after 60,000 more connections");
    }
}

/// What a kept connection record costs on the heap (JSON document, TUI): the
/// figure stated in `analysis::RECORD_BYTES_PER_TRANSACTION` and
/// `RECORD_BYTES_PER_CONNECTION`.
#[test]
fn kept_connection_records_cost_what_is_stated() {
    const N: usize = 8000;
    let mut pipeline = Pipeline::new(&Options::default(), CollectSink::new(true));
    let mut n = 0u64;
    for_each_frame(N, |_, frame| {
        feed(&mut pipeline, n, &frame);
        n += 1;
    });
    pipeline.finish();
    let records = pipeline.analyzer.sink.take_connections();
    assert_eq!(records.len(), N);
    let transactions: usize = records.iter().map(|r| r.transactions.len()).sum();
    let before = live_bytes();
    drop(records);
    let held = before - live_bytes();
    let limit = N * keepscope::analysis::RECORD_BYTES_PER_CONNECTION
        + transactions * keepscope::analysis::RECORD_BYTES_PER_TRANSACTION;
    eprintln!(
        "{N} records with {transactions} transactions hold {held} B: {:.0} B per connection with {:.2} transactions",
        held as f64 / N as f64,
        transactions as f64 / N as f64
    );
    assert!(held > 0);
    assert!(held as usize <= limit, "{held} B held, {limit} B stated");
}

/// The recorded captures, plus generated ones: thousands of short connections,
/// and long keep-alive connections (interleaved) with thousands of exchanges.
fn captures_and_generated(tmp: &std::path::Path) -> Vec<PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("captures/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    captures.sort();
    let short = tmp.join("short.pcap");
    let mut records = Vec::new();
    let mut n = 0u64;
    for_each_frame(3000, |_, frame| {
        records.push(Record::new(ts(n), frame));
        n += 1;
    });
    write_pcap(&short, common::LINKTYPE_ETHERNET, TsPrecision::Micro, &records);
    captures.push(short);
    let long = tmp.join("long.pcap");
    let mut convs: Vec<std::vec::IntoIter<Vec<u8>>> =
        (0..6).map(|k| conversation(k, 700 + 300 * k, k % 2 == 0, k == 5).into_iter()).collect();
    let mut records = Vec::new();
    loop {
        let mut any = false;
        for conv in convs.iter_mut() {
            if let Some(frame) = conv.next() {
                any = true;
                records.push(Record::new(ts(n), frame));
                n += 1;
            }
        }
        if !any {
            break;
        }
    }
    write_pcap(&long, common::LINKTYPE_ETHERNET, TsPrecision::Micro, &records);
    captures.push(long);
    captures
}

fn pipeline_with<S: keepscope::analysis::ConnectionSink>(sink: S, retire_batch: Option<usize>) -> Pipeline<S> {
    let mut pipeline = Pipeline::new(&Options::default(), sink);
    if let Some(b) = retire_batch {
        pipeline.analyzer.set_retire_batch(b);
    }
    pipeline
}

/// Every output built with transactions retired early equals the one built from
/// whole connections (the TUI's path, which retires nothing): the JSON document
/// byte for byte, the NDJSON connection lines as values, the text report.
#[test]
fn retiring_transactions_early_changes_no_output() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for path in captures_and_generated(tmp.path()) {
        let paths = std::slice::from_ref(&path);
        let whole = analyze_files_threads(paths, None, &Options::default(), true, false, 1).expect("analysed");
        let mut want = Vec::new();
        write_document(&mut want, &whole).expect("write to a Vec");
        let want_doc: serde_json::Value = serde_json::from_slice(&want).expect("JSON");

        for (batch, spool) in [(Some(1), 512), (None, 64 * 1024), (Some(1), 64 << 20)] {
            for threaded in [false, true] {
                let sink = if threaded {
                    JsonDocumentSink::threaded_with_spool_memory(spool)
                } else {
                    JsonDocumentSink::with_spool_memory(spool)
                };
                let mut pipeline = pipeline_with(sink, batch);
                let info = analyze_into(paths, None, &mut pipeline, false, 1 + threaded as usize).expect("analysed");
                let mut got = Vec::new();
                pipeline.analyzer.sink.finish(info, &mut got).expect("written");
                assert!(
                    got == want,
                    "{}: the JSON document differs with retire batch {batch:?}, spool memory {spool}, writer thread {threaded}",
                    path.display()
                );
            }

            let threaded = spool == 64 * 1024;
            let sink = if threaded { NdjsonSink::threaded(Vec::new()) } else { NdjsonSink::with_spool_memory(Vec::new(), spool) };
            let mut pipeline = pipeline_with(sink, batch);
            let info = analyze_into(paths, None, &mut pipeline, false, 1 + threaded as usize).expect("analysed");
            pipeline.analyzer.sink.finish(info).expect("written");
            let text = String::from_utf8(std::mem::take(pipeline.analyzer.sink.out_mut().expect("finished"))).expect("UTF-8");
            let mut lines: Vec<serde_json::Value> =
                text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
            let summary = lines.pop().expect("a summary line");
            assert_eq!(summary["type"], "summary");
            assert_eq!(summary["summary"], want_doc["summary"], "{}: NDJSON summary", path.display());
            assert_eq!(summary["servers"], want_doc["servers"], "{}: NDJSON servers", path.display());
            let mut connections: Vec<serde_json::Value> = lines
                .into_iter()
                .map(|mut l| {
                    assert_eq!(l["type"], "connection");
                    l.as_object_mut().expect("object").remove("type");
                    l
                })
                .collect();
            connections.sort_by_key(|c| c["id"].as_u64());
            assert!(
                serde_json::Value::Array(connections) == want_doc["connections"],
                "{}: NDJSON connections differ with retire batch {batch:?}",
                path.display()
            );

            let mut pipeline = pipeline_with(CollectSink::new(false), batch);
            let info = analyze_into(paths, None, &mut pipeline, false, 1).expect("analysed");
            let report = pipeline.analyzer.sink.builder.report(info, Vec::new());
            assert_eq!(report.summary, whole.summary, "{}: text summary", path.display());
            assert_eq!(report.servers, whole.servers, "{}: text servers", path.display());
            assert_eq!(report.findings, whole.findings, "{}: text findings", path.display());
        }
    }
}

/// Heap growth while one keep-alive connection carries `exchanges` requests,
/// sampled after `exchanges / 4`.
fn long_connection_heap<S: keepscope::analysis::ConnectionSink>(sink: S, exchanges: usize) -> (i64, i64, Pipeline<S>) {
    let mut pipeline = Pipeline::new(&Options::default(), sink);
    let frames = conversation(1, exchanges, false, false);
    let sample_at = 3 + 2 * (exchanges / 4);
    let mut at_sample = 0;
    for (n, frame) in frames.iter().enumerate() {
        if n == sample_at {
            at_sample = live_bytes();
        }
        feed(&mut pipeline, n as u64, frame);
    }
    let at_end = live_bytes();
    (at_sample, at_end, pipeline)
}

#[test]
fn long_keepalive_connections_hold_no_finished_transactions() {
    // 40,000 exchanges on one connection: kept whole, ~20 MB of transactions.
    // Text, NDJSON and the JSON document hand them on as they finish; NDJSON and
    // the document set them aside, packed, in a spool whose memory is bounded
    // (64 kB here; the rest goes to a temporary file).
    const EXCHANGES: usize = 40_000;
    let (mid, end, _) = long_connection_heap(CollectSink::new(false), EXCHANGES);
    eprintln!("text: live heap {mid} B after 10k exchanges, {end} B after 40k");
    assert!(end - mid < 64 * 1024, "text mode grew by {} bytes over 30,000 exchanges", end - mid);

    let (mid, end, _) = long_connection_heap(NdjsonSink::with_spool_memory(std::io::sink(), 64 * 1024), EXCHANGES);
    eprintln!("ndjson: live heap {mid} B after 10k exchanges, {end} B after 40k");
    assert!(end - mid < 256 * 1024, "ndjson mode grew by {} bytes over 30,000 exchanges", end - mid);

    let (mid, end, mut pipeline) = long_connection_heap(JsonDocumentSink::with_spool_memory(64 * 1024), EXCHANGES);
    eprintln!("json: live heap {mid} B after 10k exchanges, {end} B after 40k");
    // One 16-byte note per retired batch of 32 transactions.
    assert!(end - mid < 256 * 1024, "the JSON document grew by {} bytes over 30,000 exchanges", end - mid);
    pipeline.finish();
    let mut out = Vec::new();
    pipeline.analyzer.sink.finish(keepscope::analysis::model::SourceInfo::default(), &mut out).expect("written");
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let txs = doc["connections"][0]["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), EXCHANGES, "every transaction is in the document");
    for (i, tx) in txs.iter().enumerate() {
        assert_eq!(tx["depth"], i as u64 + 1);
    }
    assert_eq!(doc["summary"]["transactions"], EXCHANGES as u64);
}

#[test]
fn json_document_memory_grows_by_its_index_only() {
    // 30,000 → 90,000 short connections: the document notes 32 bytes for each
    // (id and where its bytes are), everything else waits in the spool (bounded
    // memory, then a temporary file). Vectors double, so allow twice the notes.
    let (mid, end, mut pipeline) = heap_growth(JsonDocumentSink::with_spool_memory(256 * 1024), 30_000, 90_000);
    let growth = end - mid - findings_heap(&pipeline.analyzer.sink.builder);
    eprintln!("json: live heap {mid} B at 30k connections, {end} B at 90k");
    let notes = 60_000 * keepscope::report::json::DOCUMENT_BYTES_PER_CONNECTION as i64;
    assert!(growth < 2 * notes + 256 * 1024, "the JSON document grew by {growth} bytes over 60,000 connections");
    pipeline.finish();
    let mut out = Vec::new();
    pipeline.analyzer.sink.finish(keepscope::analysis::model::SourceInfo::default(), &mut out).expect("written");
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(doc["connections"].as_array().map(Vec::len), Some(90_000));
}

/// Short connections (handshake, one request and its response in one segment each,
/// FINs): what each costs in allocations. The first request head is parsed where it
/// lies in the packet, like every later one; it used to be copied for protocol
/// detection and then fed again, which cost three allocations per connection. Four
/// are left: the TCP stage's and the analysis's connection, the first transaction,
/// and its record when the connection ends (the group of connections from one
/// client, the pending-request queue and the request-to-transaction table keep
/// their first entries inline).
#[test]
fn short_connections_allocate_a_few_times_each() {
    const CONNECTIONS: usize = 3000;
    let frames: Vec<Vec<u8>> = (0..CONNECTIONS).flat_map(|k| conversation(k, 1, false, false)).collect();
    let per_conversation = frames.len() / CONNECTIONS;
    let mut pipeline = Pipeline::new(&Options::default(), CollectSink::new(false));
    // The first thousand warm the tables up; the rest are counted.
    let warm = 1000 * per_conversation;
    let mut start = 0;
    for (i, frame) in frames.iter().enumerate() {
        if i == warm {
            start = allocations();
        }
        feed(&mut pipeline, i as u64, frame);
    }
    let per_connection = (allocations() - start) as f64 / (CONNECTIONS - 1000) as f64;
    eprintln!("allocations per short connection: {per_connection:.2}");
    pipeline.finish();
    assert_eq!(pipeline.analyzer.sink.builder.summary().transactions, CONNECTIONS as u64);
    assert!(per_connection <= 4.5, "{per_connection:.2} allocations per short connection");
}
