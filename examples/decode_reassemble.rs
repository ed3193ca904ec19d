//! Decode plus TCP reassembly only, over a capture: what the foundation costs
//! before HTTP framing and analysis. `scripts/bench.sh` times it beside the
//! read-and-slice floor (`examples/read_slice_floor.rs`); the target is at least half
//! the floor's speed.
//!
//! usage: cargo run --release --example decode_reassemble FILE

use keepscope::capture::{OfflineSource, PacketSource};
use keepscope::decode::{decode, Decoded};
use keepscope::tcp::{ConnId, StreamEvent, StreamSink, TcpConfig, TcpTracker};

/// Counts what the TCP stage delivers, touching every byte run once.
#[derive(Default)]
struct Count {
    events: u64,
    bytes: u64,
}

impl StreamSink for Count {
    fn on_stream_event(&mut self, _conn: ConnId, event: StreamEvent<'_>) {
        self.events += 1;
        if let StreamEvent::Data { bytes, .. } = event {
            self.bytes += bytes.len() as u64;
        }
    }
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: decode_reassemble FILE");
        std::process::exit(2);
    };
    let mut source = match OfflineSource::open(&[path.clone().into()], None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("decode_reassemble: {e}");
            std::process::exit(1);
        }
    };
    let mut tracker = TcpTracker::new(TcpConfig::default());
    let mut sink = Count::default();
    let (mut packets, mut last) = (0u64, keepscope::time::Timestamp::ZERO);
    while let Ok(Some(pkt)) = source.next_packet() {
        packets += 1;
        last = last.max(pkt.ts);
        if let Decoded::Tcp(seg) = decode(pkt.link, pkt.data) {
            tracker.on_segment(pkt.ts, &seg, &mut sink);
        }
    }
    tracker.finish(last, &mut sink);
    println!("packets {packets} events {} stream_bytes {}", sink.events, sink.bytes);
}
