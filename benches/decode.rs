//! The floor for decoding: how fast libpcap + etherparse can read and slice a
//! capture, against libpcap + keepscope's `decode` and `OfflineSource` + `decode`.
//!
//! `KEEPSCOPE_BENCH_PCAP=/path/to/big.pcap cargo bench --bench decode`
//! (an Ethernet capture for the etherparse baseline; other link types run only the
//! keepscope cases). Without the variable the benchmarks are skipped.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::{LaxSlicedPacket, SlicedPacket, TransportSlice};
use keepscope::capture::{OfflineSource, PacketSource};
use keepscope::decode::{decode, Decoded, LinkKind};

/// Packets, captured bytes and link type of the capture.
fn survey(path: &PathBuf) -> (u64, u64, LinkKind) {
    let mut cap = pcap::Capture::from_file(path)
        .expect("KEEPSCOPE_BENCH_PCAP must be a capture libpcap reads");
    let link = LinkKind::from_linktype(cap.get_datalink().0 as u32);
    let (mut packets, mut bytes) = (0, 0);
    while let Ok(p) = cap.next_packet() {
        packets += 1;
        bytes += p.data.len() as u64;
    }
    (packets, bytes, link)
}

fn benches(c: &mut Criterion) {
    let Some(path) = std::env::var_os("KEEPSCOPE_BENCH_PCAP").map(PathBuf::from) else {
        eprintln!("KEEPSCOPE_BENCH_PCAP is not set: skipping the decode benchmarks");
        return;
    };
    let (packets, bytes, link) = survey(&path);
    eprintln!(
        "{}: {packets} packets, {bytes} bytes, {}",
        path.display(),
        link.name()
    );

    let mut group = c.benchmark_group("read+slice");
    group.throughput(Throughput::Elements(packets));
    group.sample_size(20);
    if link == LinkKind::Ethernet {
        group.bench_function("libpcap + SlicedPacket::from_ethernet", |b| {
            b.iter(|| {
                let mut cap = pcap::Capture::from_file(&path).unwrap();
                let mut tcp = 0u64;
                while let Ok(p) = cap.next_packet() {
                    if let Ok(sliced) = SlicedPacket::from_ethernet(p.data) {
                        if let Some(TransportSlice::Tcp(t)) = sliced.transport {
                            tcp += u64::from(t.source_port()) + t.payload().len() as u64;
                        }
                    }
                }
                black_box(tcp)
            })
        });
        group.bench_function("libpcap + LaxSlicedPacket::from_ethernet", |b| {
            b.iter(|| {
                let mut cap = pcap::Capture::from_file(&path).unwrap();
                let mut tcp = 0u64;
                while let Ok(p) = cap.next_packet() {
                    if let Ok(sliced) = LaxSlicedPacket::from_ethernet(p.data) {
                        if let Some(TransportSlice::Tcp(t)) = sliced.transport {
                            tcp += u64::from(t.source_port()) + t.payload().len() as u64;
                        }
                    }
                }
                black_box(tcp)
            })
        });
    }
    group.bench_function("libpcap + keepscope decode", |b| {
        b.iter(|| {
            let mut cap = pcap::Capture::from_file(&path).unwrap();
            let mut tcp = 0u64;
            while let Ok(p) = cap.next_packet() {
                if let Decoded::Tcp(t) = decode(link, p.data) {
                    tcp += u64::from(t.src.port) + t.payload.len() as u64;
                }
            }
            black_box(tcp)
        })
    });
    group.bench_function("libpcap (ns precision) + keepscope decode", |b| {
        b.iter(|| {
            let mut cap =
                pcap::Capture::from_file_with_precision(&path, pcap::Precision::Nano).unwrap();
            let mut tcp = 0u64;
            while let Ok(p) = cap.next_packet() {
                if let Decoded::Tcp(t) = decode(link, p.data) {
                    tcp += u64::from(t.src.port) + t.payload.len() as u64;
                }
            }
            black_box(tcp)
        })
    });
    group.bench_function("OfflineSource + keepscope decode", |b| {
        b.iter(|| {
            let mut source = OfflineSource::open(std::slice::from_ref(&path), None).unwrap();
            let mut tcp = 0u64;
            while let Some(p) = source.next_packet().unwrap() {
                if let Decoded::Tcp(t) = decode(p.link, p.data) {
                    tcp += u64::from(t.src.port) + t.payload.len() as u64;
                }
            }
            black_box(tcp)
        })
    });
    group.finish();

    // Slicing alone, on frames already in memory (no I/O), for the same capture.
    let mut frames = Vec::new();
    let mut cap = pcap::Capture::from_file(&path).unwrap();
    while let Ok(p) = cap.next_packet() {
        if frames.len() >= 100_000 {
            break;
        }
        frames.push(p.data.to_vec());
    }
    let mut group = c.benchmark_group("slice only");
    group.throughput(Throughput::Elements(frames.len() as u64));
    if link == LinkKind::Ethernet {
        group.bench_function("SlicedPacket::from_ethernet", |b| {
            b.iter(|| {
                let mut tcp = 0u64;
                for f in &frames {
                    if let Ok(s) = SlicedPacket::from_ethernet(f) {
                        if let Some(TransportSlice::Tcp(t)) = s.transport {
                            tcp += u64::from(t.source_port()) + t.payload().len() as u64;
                        }
                    }
                }
                black_box(tcp)
            })
        });
    }
    group.bench_function("keepscope decode", |b| {
        b.iter(|| {
            let mut tcp = 0u64;
            for f in &frames {
                if let Decoded::Tcp(t) = decode(link, f) {
                    tcp += u64::from(t.src.port) + t.payload.len() as u64;
                }
            }
            black_box(tcp)
        })
    });
    group.finish();
}

criterion_group!(decode_benches, benches);
criterion_main!(decode_benches);
