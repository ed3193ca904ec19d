//! Throughput of the TCP stage: synthetic in-order segments of many connections
//! through `TcpTracker` into a sink that only counts bytes.
//! Run: `cargo bench --bench tcp`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepscope::decode::{Endpoint, TcpFlags, TcpSegment};
use keepscope::tcp::{ConnId, StreamEvent, StreamSink, TcpConfig, TcpTracker};
use keepscope::time::Timestamp;

struct CountBytes(u64);

impl StreamSink for CountBytes {
    fn on_stream_event(&mut self, _conn: ConnId, event: StreamEvent<'_>) {
        if let StreamEvent::Data { bytes, .. } = event {
            self.0 += bytes.len() as u64;
        }
    }
}

fn seg<'a>(src: Endpoint, dst: Endpoint, seq: u32, ack: u32, f: TcpFlags, payload: &'a [u8]) -> TcpSegment<'a> {
    TcpSegment { src, dst, vlan: 0, seq, ack, flags: f, window: 65535, payload, payload_len: payload.len() as u32 }
}

/// `conns` connections, each: handshake, then `rounds` × (client segment, server
/// ACK), then FINs. Returns the payload bytes delivered.
fn run(conns: u32, rounds: u32, payload: &[u8], reorder: bool) -> u64 {
    let mut tracker = TcpTracker::new(TcpConfig::default());
    let mut sink = CountBytes(0);
    let server = Endpoint { ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), port: 80 };
    let syn = TcpFlags { syn: true, ..TcpFlags::default() };
    let syn_ack = TcpFlags { syn: true, ack: true, ..TcpFlags::default() };
    let ack = TcpFlags { ack: true, ..TcpFlags::default() };
    let fin = TcpFlags { ack: true, fin: true, ..TcpFlags::default() };
    let len = payload.len() as u32;
    let mut ts = 0i64;
    let clients: Vec<Endpoint> = (0..conns)
        .map(|k| Endpoint { ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k)), port: 40000 })
        .collect();
    for c in &clients {
        ts += 1;
        tracker.on_segment(Timestamp(ts), &seg(*c, server, 100, 0, syn, b""), &mut sink);
        tracker.on_segment(Timestamp(ts), &seg(server, *c, 900, 101, syn_ack, b""), &mut sink);
        tracker.on_segment(Timestamp(ts), &seg(*c, server, 101, 901, ack, b""), &mut sink);
    }
    let mut r = 0;
    while r < rounds {
        for c in &clients {
            ts += 1;
            let seq = 101 + r * len;
            if reorder && r + 1 < rounds {
                // Swap each pair: one segment waits in the out-of-order store.
                tracker.on_segment(Timestamp(ts), &seg(*c, server, seq + len, 901, ack, payload), &mut sink);
                tracker.on_segment(Timestamp(ts), &seg(*c, server, seq, 901, ack, payload), &mut sink);
                tracker.on_segment(Timestamp(ts), &seg(server, *c, 901, seq + 2 * len, ack, b""), &mut sink);
            } else {
                tracker.on_segment(Timestamp(ts), &seg(*c, server, seq, 901, ack, payload), &mut sink);
                tracker.on_segment(Timestamp(ts), &seg(server, *c, 901, seq + len, ack, b""), &mut sink);
            }
        }
        r += if reorder && r + 1 < rounds { 2 } else { 1 };
    }
    for c in &clients {
        let end = 101 + rounds * len;
        tracker.on_segment(Timestamp(ts), &seg(*c, server, end, 901, fin, b""), &mut sink);
        tracker.on_segment(Timestamp(ts), &seg(server, *c, 901, end + 1, fin, b""), &mut sink);
    }
    tracker.finish(Timestamp(ts), &mut sink);
    sink.0
}

fn bench_tcp(c: &mut Criterion) {
    let payload = vec![b'x'; 1400];
    let (conns, rounds) = (1000u32, 64u32);
    let bytes = conns as u64 * rounds as u64 * payload.len() as u64;
    assert_eq!(run(conns, rounds, &payload, false), bytes);
    assert_eq!(run(conns, rounds, &payload, true), bytes);
    let mut group = c.benchmark_group("tcp");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    group.bench_function("in_order_1000_conns", |b| {
        b.iter(|| black_box(run(black_box(conns), rounds, &payload, false)))
    });
    group.bench_function("pairwise_reordered_1000_conns", |b| {
        b.iter(|| black_box(run(black_box(conns), rounds, &payload, true)))
    });
    group.finish();
}

criterion_group!(benches, bench_tcp);
criterion_main!(benches);
