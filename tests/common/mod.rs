//! Helpers shared by the integration tests: building TCP frames for every link type
//! keepscope decodes, writing them into classic pcap and pcapng files, reading a
//! `PacketSource` into owned packets, and finding the shared corpus.
//!
//! Files are written byte by byte (not through libpcap) so that tests can also make
//! the broken ones: cut records, odd resolutions, interfaces declared midway.
//! Put them under a `tempfile::TempDir` (see `TempCaptures`).
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use etherparse::{PacketBuilder, TcpHeader};
use keepscope::capture::{CaptureError, PacketSource};
use keepscope::decode::{LinkKind, TcpFlags};
use keepscope::time::Timestamp;

// ---------------------------------------------------------------------------
// Link types

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// The link layers `tcp_frame` can put in front of an IP packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Ethernet with one 802.1Q tag carrying this VLAN id.
    EthernetVlan(u16),
    LinuxSll,
    LinuxSll2,
    /// BSD loopback, address family in this machine's byte order (as BSD writes it).
    Null,
    /// Raw IPv4 or IPv6, no link header (LINKTYPE_RAW).
    RawIp,
}

impl Link {
    /// The LINKTYPE to put in a capture file holding these frames.
    pub fn linktype(self) -> u32 {
        match self {
            Link::Ethernet | Link::EthernetVlan(_) => LINKTYPE_ETHERNET,
            Link::LinuxSll => LINKTYPE_LINUX_SLL,
            Link::LinuxSll2 => LINKTYPE_LINUX_SLL2,
            Link::Null => LINKTYPE_NULL,
            Link::RawIp => LINKTYPE_RAW,
        }
    }

    pub fn kind(self) -> LinkKind {
        LinkKind::from_linktype(self.linktype())
    }
}

// ---------------------------------------------------------------------------
// Frames

/// Flags for `tcp_frame`, by name: `flags("SA")` is SYN+ACK. Letters: S syn, A ack,
/// F fin, R rst, P psh.
pub fn flags(letters: &str) -> TcpFlags {
    let mut f = TcpFlags::default();
    for c in letters.chars() {
        match c {
            'S' => f.syn = true,
            'A' => f.ack = true,
            'F' => f.fin = true,
            'R' => f.rst = true,
            'P' => f.psh = true,
            other => panic!("unknown TCP flag letter {other:?}"),
        }
    }
    f
}

/// One TCP segment in a frame of link type `link`. `src` and `dst` must both be IPv4
/// or both IPv6. The acknowledgment number is written whatever the flags say (as
/// stacks do). Window 65535, TTL/hop limit 64, no options.
pub fn tcp_frame(
    link: Link,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = TcpHeader::new(src.port(), dst.port(), seq, 65535);
    tcp.acknowledgment_number = ack;
    tcp.syn = flags.syn;
    tcp.ack = flags.ack;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = flags.psh;

    let mut frame = Vec::new();
    macro_rules! finish {
        ($builder:expr) => {
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => $builder
                    .ipv4(s.octets(), d.octets(), 64)
                    .tcp_header(tcp)
                    .write(&mut frame, payload),
                (IpAddr::V6(s), IpAddr::V6(d)) => $builder
                    .ipv6(s.octets(), d.octets(), 64)
                    .tcp_header(tcp)
                    .write(&mut frame, payload),
                _ => panic!("tcp_frame: {src} and {dst} are not the same IP version"),
            }
            .expect("PacketBuilder writes into a Vec")
        };
    }
    match link {
        Link::Ethernet => finish!(PacketBuilder::ethernet2(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2]
        )),
        Link::EthernetVlan(id) => finish!(PacketBuilder::ethernet2(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2]
        )
        .single_vlan(etherparse::VlanId::try_new(id).expect("VLAN id below 4095"))),
        Link::LinuxSll => finish!(PacketBuilder::linux_sll(
            etherparse::LinuxSllPacketType::HOST,
            6,
            [2, 0, 0, 0, 0, 1, 0, 0]
        )),
        Link::LinuxSll2 => {
            let protocol: u16 = if src.is_ipv4() { 0x0800 } else { 0x86DD };
            frame.extend_from_slice(&protocol.to_be_bytes());
            // reserved, ifindex 1, ARPHRD_ETHER, PACKET_HOST, address length 6, address.
            frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            frame.extend_from_slice(&ip_packet(src, dst, tcp, payload));
        }
        Link::Null => {
            let family: u32 = if src.is_ipv4() { 2 } else { 24 };
            frame.extend_from_slice(&family.to_ne_bytes());
            frame.extend_from_slice(&ip_packet(src, dst, tcp, payload));
        }
        Link::RawIp => frame.extend_from_slice(&ip_packet(src, dst, tcp, payload)),
    }
    frame
}

/// An IP packet (no link header) carrying `tcp` and `payload`.
fn ip_packet(src: SocketAddr, dst: SocketAddr, tcp: TcpHeader, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            .tcp_header(tcp)
            .write(&mut packet, payload),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .tcp_header(tcp)
            .write(&mut packet, payload),
        _ => panic!("tcp_frame: {src} and {dst} are not the same IP version"),
    }
    .expect("PacketBuilder writes into a Vec");
    packet
}

/// `"10.0.0.1:80"` as a `SocketAddr`.
pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

// ---------------------------------------------------------------------------
// Classic pcap

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TsPrecision {
    /// Magic a1b2c3d4: the fraction field holds microseconds.
    Micro,
    /// Magic a1b23c4d: the fraction field holds nanoseconds.
    Nano,
}

/// One packet record for a pcap file: its timestamp and captured bytes. The wire
/// length is the captured length unless `wire_len` says more.
#[derive(Clone, Debug)]
pub struct Record {
    pub ts: Timestamp,
    pub data: Vec<u8>,
    pub wire_len: Option<u32>,
}

impl Record {
    pub fn new(ts: Timestamp, data: Vec<u8>) -> Record {
        Record {
            ts,
            data,
            wire_len: None,
        }
    }
}

impl From<(Timestamp, Vec<u8>)> for Record {
    fn from((ts, data): (Timestamp, Vec<u8>)) -> Record {
        Record::new(ts, data)
    }
}

/// A whole classic pcap file (little-endian, snaplen 262144) in memory.
pub fn pcap_bytes(linktype: u32, precision: TsPrecision, records: &[Record]) -> Vec<u8> {
    let magic: u32 = match precision {
        TsPrecision::Micro => 0xa1b2_c3d4,
        TsPrecision::Nano => 0xa1b2_3c4d,
    };
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for record in records {
        let nanos = record.ts.as_nanos();
        let secs = nanos.div_euclid(1_000_000_000);
        let frac = nanos.rem_euclid(1_000_000_000);
        let frac = match precision {
            TsPrecision::Micro => frac / 1000,
            TsPrecision::Nano => frac,
        };
        let caplen = record.data.len() as u32;
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&(frac as u32).to_le_bytes());
        out.extend_from_slice(&caplen.to_le_bytes());
        out.extend_from_slice(&record.wire_len.unwrap_or(caplen).to_le_bytes());
        out.extend_from_slice(&record.data);
    }
    out
}

/// Writes a classic pcap file; see `pcap_bytes`.
pub fn write_pcap(path: &Path, linktype: u32, precision: TsPrecision, records: &[Record]) {
    std::fs::write(path, pcap_bytes(linktype, precision, records)).expect("write pcap");
}

// ---------------------------------------------------------------------------
// pcapng

/// The blocks of a pcapng file after its section header, in file order.
#[derive(Clone, Debug)]
pub enum NgBlock {
    /// An interface description. `tsresol` is the if_tsresol option (6 = µs, 9 = ns,
    /// 0x80|n = 2^-n s); `None` leaves the option out (meaning µs).
    Interface { linktype: u32, tsresol: Option<u8> },
    /// An enhanced packet block on interface `interface` (its index among the
    /// interfaces declared so far). The timestamp is stored in that interface's units.
    Packet {
        interface: u32,
        ts: Timestamp,
        data: Vec<u8>,
    },
}

fn units_per_sec(tsresol: Option<u8>) -> u128 {
    match tsresol {
        None => 1_000_000,
        Some(r) if r & 0x80 == 0 => 10u128.pow(u32::from(r)),
        Some(r) => 1u128 << (r & 0x7f),
    }
}

fn push_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let padded = body.len().next_multiple_of(4);
    let total = (12 + padded) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&total.to_le_bytes());
}

/// A whole little-endian pcapng file (one section) in memory.
pub fn pcapng_bytes(blocks: &[NgBlock]) -> Vec<u8> {
    let mut out = Vec::new();
    // Section header: byte-order magic, version 1.0, section length unknown.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    push_block(&mut out, 0x0A0D_0D0A, &shb);

    let mut resolutions = Vec::new();
    for block in blocks {
        match block {
            NgBlock::Interface { linktype, tsresol } => {
                let mut idb = Vec::new();
                idb.extend_from_slice(&(*linktype as u16).to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&262_144u32.to_le_bytes());
                if let Some(r) = tsresol {
                    // if_tsresol (9), length 1, value, padding; then opt_endofopt.
                    idb.extend_from_slice(&9u16.to_le_bytes());
                    idb.extend_from_slice(&1u16.to_le_bytes());
                    idb.extend_from_slice(&[*r, 0, 0, 0]);
                    idb.extend_from_slice(&[0, 0, 0, 0]);
                }
                push_block(&mut out, 1, &idb);
                resolutions.push(*tsresol);
            }
            NgBlock::Packet {
                interface,
                ts,
                data,
            } => {
                let resolution = *resolutions
                    .get(*interface as usize)
                    .expect("packet on an interface declared earlier");
                let nanos = ts.as_nanos() as u128;
                let ticks = (nanos * units_per_sec(resolution) / 1_000_000_000) as u64;
                let mut epb = Vec::new();
                epb.extend_from_slice(&interface.to_le_bytes());
                epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
                epb.extend_from_slice(&(ticks as u32).to_le_bytes());
                epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
                epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
                epb.extend_from_slice(data);
                epb.resize(epb.len().next_multiple_of(4), 0);
                push_block(&mut out, 6, &epb);
            }
        }
    }
    out
}

/// Writes a pcapng file; see `pcapng_bytes`.
pub fn write_pcapng(path: &Path, blocks: &[NgBlock]) {
    std::fs::write(path, pcapng_bytes(blocks)).expect("write pcapng");
}

/// The usual mixed file: all interfaces declared first, then the packets.
pub fn pcapng_with_interfaces(
    interfaces: &[(u32, Option<u8>)],
    packets: &[(u32, Timestamp, Vec<u8>)],
) -> Vec<u8> {
    let mut blocks: Vec<NgBlock> = interfaces
        .iter()
        .map(|&(linktype, tsresol)| NgBlock::Interface { linktype, tsresol })
        .collect();
    blocks.extend(packets.iter().map(|(interface, ts, data)| NgBlock::Packet {
        interface: *interface,
        ts: *ts,
        data: data.clone(),
    }));
    pcapng_bytes(&blocks)
}

/// gzip-compresses `bytes` (as `gzip` would).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("compress")
}

// ---------------------------------------------------------------------------
// Files and reading

/// A temporary directory for capture files, removed when dropped.
pub struct TempCaptures {
    pub dir: tempfile::TempDir,
}

impl TempCaptures {
    pub fn new() -> TempCaptures {
        TempCaptures {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// Writes `bytes` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write capture");
        path
    }
}

/// A packet copied out of a source, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedPacket {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub link: LinkKind,
    pub data: Vec<u8>,
}

/// Reads `source` to its end.
pub fn read_all(source: &mut dyn PacketSource) -> Result<Vec<OwnedPacket>, CaptureError> {
    let mut packets = Vec::new();
    while let Some(p) = source.next_packet()? {
        packets.push(OwnedPacket {
            ts: p.ts,
            wire_len: p.wire_len,
            link: p.link,
            data: p.data.to_vec(),
        });
    }
    Ok(packets)
}

/// `secs` seconds plus `nanos` nanoseconds since the epoch.
pub fn ts(secs: i64, nanos: i64) -> Timestamp {
    Timestamp::from_secs_nanos(secs, nanos)
}

/// The shared corpus beside the repository (`../shared/corpus`).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"))
}
