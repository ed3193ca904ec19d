//! The speed floor for offline analysis: read every packet of a capture with
//! libpcap and slice it with etherparse, nothing else. `scripts/bench.sh` times this
//! beside `keepscope analyze` so the README can say how close keepscope runs to
//! the cost of merely reading the file.
//!
//! usage: cargo run --release --example read_slice_floor FILE

use etherparse::{LaxSlicedPacket, TransportSlice};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: read_slice_floor FILE");
        std::process::exit(2);
    };
    let mut cap = match pcap::Capture::from_file_with_precision(&path, pcap::Precision::Nano) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("read_slice_floor: {path}: {e}");
            std::process::exit(1);
        }
    };
    let link = cap.get_datalink().0;
    let (mut packets, mut tcp, mut payload) = (0u64, 0u64, 0u64);
    while let Ok(pkt) = cap.next_packet() {
        packets += 1;
        let sliced = match link {
            1 => LaxSlicedPacket::from_ethernet(pkt.data).ok(),
            _ => LaxSlicedPacket::from_ip(pkt.data).ok(),
        };
        if let Some(TransportSlice::Tcp(t)) = sliced.and_then(|s| s.transport) {
            tcp += 1;
            payload += t.payload().len() as u64;
        }
    }
    println!("packets {packets} tcp {tcp} payload_bytes {payload}");
}
