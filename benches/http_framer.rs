//! Throughput of the HTTP/1.x framer over browser-like keep-alive traffic: ~500-byte
//! request heads, responses of a few KB (Content-Length and chunked), some pipelined,
//! all cut into 1448-byte segments as TCP would deliver them.
//!
//! Run: `cargo bench --bench http_framer`.

use std::hint::black_box;
use std::ops::Range;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepscope::http::{HttpConfig, HttpEvent, Http1Conn};
use keepscope::tcp::Dir;
use keepscope::time::Timestamp;

const SEGMENT: usize = 1448;

struct Traffic {
    client: Vec<u8>,
    server: Vec<u8>,
    /// Segments in capture order: direction and byte range in its stream.
    segments: Vec<(Dir, Range<usize>)>,
    transactions: usize,
}

fn request_head(i: usize) -> Vec<u8> {
    format!(
        "GET /static/assets/bundle.{i:05}.js?v=3f9a2c HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n\
Accept: */*\r\n\
Accept-Language: en-GB,en;q=0.8,de;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/articles/keep-alive-in-practice\r\n\
Connection: keep-alive\r\n\
Cookie: session=6b1f0c2e9d4a4f7e8c3b2a1d0e9f8c7b; theme=dark; consent=yes\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=2\r\n\r\n"
    )
    .into_bytes()
}

fn response(i: usize) -> Vec<u8> {
    let body_len = 1500 + (i * 977) % 6500;
    let mut out = Vec::with_capacity(body_len + 512);
    let common = "Server: nginx/1.27.2\r\nDate: Sun, 22 Nov 2026 01:30:00 GMT\r\n\
Content-Type: application/javascript; charset=utf-8\r\nCache-Control: public, max-age=31536000, immutable\r\n\
ETag: \"66f1c2a0-1a2b\"\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=1000\r\n";
    if i % 4 == 3 {
        out.extend_from_slice(format!("HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n").as_bytes());
        let mut left = body_len;
        while left > 0 {
            let chunk = left.min(1024 + i % 1000);
            out.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'j', chunk));
            out.extend_from_slice(b"\r\n");
            left -= chunk;
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {body_len}\r\n\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b'b', body_len));
    }
    out
}

fn segments_of(dir: Dir, range: Range<usize>, into: &mut Vec<(Dir, Range<usize>)>) {
    let mut at = range.start;
    while at < range.end {
        let end = (at + SEGMENT).min(range.end);
        into.push((dir, at..end));
        at = end;
    }
}

fn traffic() -> Traffic {
    let mut t = Traffic { client: Vec::new(), server: Vec::new(), segments: Vec::new(), transactions: 0 };
    let mut i = 0;
    // Flights: mostly one request at a time, every fifth flight pipelines three.
    for flight in 0..300 {
        let depth = if flight % 5 == 4 { 3 } else { 1 };
        let client_start = t.client.len();
        let server_start = t.server.len();
        for _ in 0..depth {
            t.client.extend_from_slice(&request_head(i));
            t.server.extend_from_slice(&response(i));
            i += 1;
        }
        segments_of(Dir::ClientToServer, client_start..t.client.len(), &mut t.segments);
        segments_of(Dir::ServerToClient, server_start..t.server.len(), &mut t.segments);
    }
    t.transactions = i;
    t
}

fn run(t: &Traffic, events: &mut Vec<HttpEvent>) -> usize {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut ends = 0;
    for (n, (dir, range)) in t.segments.iter().enumerate() {
        let bytes = match dir {
            Dir::ClientToServer => &t.client[range.clone()],
            Dir::ServerToClient => &t.server[range.clone()],
        };
        conn.on_data(*dir, Timestamp(n as i64), bytes, events);
        ends += events.iter().filter(|e| matches!(e, HttpEvent::MessageEnd { complete: true, .. })).count();
        events.clear();
    }
    conn.finish(Timestamp(i64::MAX), events);
    events.clear();
    ends
}

fn bench(c: &mut Criterion) {
    let t = traffic();
    let mut events = Vec::with_capacity(64);
    // Every request and every response must end cleanly, or the number is meaningless.
    assert_eq!(run(&t, &mut events), 2 * t.transactions);
    let total = (t.client.len() + t.server.len()) as u64;
    let mut group = c.benchmark_group("http_framer");
    group.throughput(Throughput::Bytes(total));
    group.bench_function("browser_keepalive_1448B_segments", |b| b.iter(|| black_box(run(black_box(&t), &mut events))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
