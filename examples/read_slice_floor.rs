//! The speed floor for offline analysis: read every packet of a capture with
//! libpcap and slice it with etherparse, nothing else. `scripts/bench.sh` times this
//! beside `keepscope analyze` so the README can say how close keepscope runs to
//! the cost of merely reading the file.
//!
//! With `--as-keepscope-reads`, the file is opened as keepscope opens it (a 64 KiB
//! stdio buffer instead of glibc's 4 KiB, and no stdio lock on each of libpcap's
//! two freads per packet), which is about 30 % faster: the floor of reading the
//! way keepscope does, beside the floor of plain libpcap.
//!
//! usage: cargo run --release --example read_slice_floor [--as-keepscope-reads] FILE

use etherparse::{LaxSlicedPacket, TransportSlice};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let as_keepscope = args.first().is_some_and(|a| a == "--as-keepscope-reads");
    if as_keepscope {
        args.remove(0);
    }
    let [path] = args.as_slice() else {
        eprintln!("usage: read_slice_floor [--as-keepscope-reads] FILE");
        std::process::exit(2);
    };
    // Whichever is opened lives in its own binding (the keepscope one keeps its
    // read buffer with the capture); `cap` borrows it.
    let (mut keepscope_file, mut plain_file) = (None, None);
    let opened = if as_keepscope {
        keepscope::capture::open_libpcap_file(std::path::Path::new(path)).map(|file| &mut keepscope_file.insert(file).cap)
    } else {
        pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).map(|cap| plain_file.insert(cap)).map_err(|e| e.to_string())
    };
    let cap = match opened {
        Ok(cap) => cap,
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
