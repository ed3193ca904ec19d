//! The TCP stage on real captures from the shared corpus. A tiny test-only reader
//! (classic pcap, Ethernet with VLAN tags, IPv4/IPv6, TCP) stands in for the
//! capture and decode stages so this stage can be checked on its own.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use keepscope::decode::{Endpoint, TcpFlags, TcpSegment};
use keepscope::tcp::{ConnId, EndReason, StreamEvent, StreamSink, TcpConfig, TcpStats, TcpTracker};
use keepscope::time::Timestamp;

fn corpus(rel: &str) -> Vec<u8> {
    let path = format!("{}/../shared/corpus/{}", env!("CARGO_MANIFEST_DIR"), rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Classic little-endian pcap, or little-endian pcapng (Enhanced Packet Blocks,
/// µs or ns timestamps told apart by size): (timestamp, frame).
fn pcap_records(file: &[u8]) -> Vec<(Timestamp, &[u8])> {
    let le32 = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().unwrap());
    if le32(file) == 0x0a0d0d0a {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 12 <= file.len() {
            let kind = le32(&file[at..]);
            let len = le32(&file[at + 4..]) as usize;
            if len < 12 || at + len > file.len() {
                break;
            }
            if kind == 6 {
                let body = &file[at + 8..at + len - 4];
                let ts = ((le32(&body[4..]) as i64) << 32) | le32(&body[8..]) as i64;
                let caplen = le32(&body[12..]) as usize;
                // Microseconds unless the value only makes sense as nanoseconds.
                let ns = if ts > 100_000_000_000_000_000 { ts } else { ts * 1000 };
                out.push((Timestamp(ns), &body[20..20 + caplen]));
            }
            at += len;
        }
        return out;
    }
    let magic = u32::from_le_bytes(file[0..4].try_into().unwrap());
    let nanos = match magic {
        0xa1b2c3d4 => false,
        0xa1b23c4d => true,
        other => panic!("unsupported pcap magic {other:#x}"),
    };
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let secs = le32(&file[at..]) as i64;
        let frac = le32(&file[at + 4..]) as i64;
        let caplen = le32(&file[at + 8..]) as usize;
        let data = &file[at + 16..(at + 16 + caplen).min(file.len())];
        let ts = Timestamp::from_secs_nanos(secs, if nanos { frac } else { frac * 1000 });
        out.push((ts, data));
        at += 16 + caplen;
    }
    out
}

/// Ethernet (+802.1Q/QinQ) → IPv4/IPv6 → TCP, enough for these captures.
fn tcp_of(frame: &[u8]) -> Option<TcpSegment<'_>> {
    let mut at = 12;
    let mut vlan = 0u32;
    let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        let tci = u16::from_be_bytes([*frame.get(at + 2)?, *frame.get(at + 3)?]) & 0x0fff;
        vlan = vlan.wrapping_mul(4096).wrapping_add(tci as u32 + 1);
        at += 4;
        ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    let ip = frame.get(at + 2..)?;
    let (src_ip, dst_ip, proto, l4, ip_payload_len): (IpAddr, IpAddr, u8, &[u8], usize) = match ethertype {
        0x0800 => {
            let ihl = (ip.first()? & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let end = total.min(ip.len());
            (Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into(), ip[9], ip.get(ihl..end)?, total.checked_sub(ihl)?)
        }
        0x86dd => {
            let plen = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]) as usize;
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(ip.len());
            (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into(), ip[6], ip.get(40..end)?, plen)
        }
        _ => return None,
    };
    if proto != 6 {
        return None;
    }
    let off = (l4.get(12)? >> 4) as usize * 4;
    let fl = *l4.get(13)?;
    let payload = l4.get(off..).unwrap_or(&[]);
    Some(TcpSegment {
        src: Endpoint { ip: src_ip, port: u16::from_be_bytes([l4[0], l4[1]]) },
        dst: Endpoint { ip: dst_ip, port: u16::from_be_bytes([l4[2], l4[3]]) },
        vlan,
        seq: u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?),
        ack: u32::from_be_bytes(l4.get(8..12)?.try_into().ok()?),
        flags: TcpFlags { fin: fl & 1 != 0, syn: fl & 2 != 0, rst: fl & 4 != 0, psh: fl & 8 != 0, ack: fl & 16 != 0 },
        window: u16::from_be_bytes([*l4.get(14)?, *l4.get(15)?]),
        payload,
        payload_len: ip_payload_len.saturating_sub(off) as u32,
    })
}

#[derive(Default)]
struct Summary {
    opens: BTreeMap<ConnId, (Endpoint, Endpoint, bool, bool)>,
    bytes: BTreeMap<(ConnId, usize), Vec<u8>>,
    missing: BTreeMap<(ConnId, usize), u64>,
    probes: BTreeMap<(ConnId, usize), u32>,
    probe_acks: BTreeMap<(ConnId, usize), u32>,
    ends: BTreeMap<ConnId, EndReason>,
}

impl StreamSink for Summary {
    fn on_stream_event(&mut self, conn: ConnId, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Open { client, server, syn_seen, roles_known, .. } => {
                self.opens.insert(conn, (client, server, syn_seen, roles_known));
            }
            StreamEvent::Data { dir, bytes, .. } => {
                self.bytes.entry((conn, dir.index())).or_default().extend_from_slice(bytes)
            }
            StreamEvent::Missing { dir, len, .. } => *self.missing.entry((conn, dir.index())).or_default() += len,
            StreamEvent::KeepAliveProbe { dir, .. } => *self.probes.entry((conn, dir.index())).or_default() += 1,
            StreamEvent::KeepAliveAck { dir, .. } => *self.probe_acks.entry((conn, dir.index())).or_default() += 1,
            StreamEvent::End { reason, .. } => {
                assert!(self.ends.insert(conn, reason).is_none(), "two Ends for {conn}");
            }
            _ => {}
        }
    }
}

fn run(rel: &str) -> (Summary, TcpStats) {
    let file = corpus(rel);
    let mut tracker = TcpTracker::new(TcpConfig::default());
    let mut sink = Summary::default();
    let mut last = Timestamp::ZERO;
    for (ts, frame) in pcap_records(&file) {
        if let Some(seg) = tcp_of(frame) {
            tracker.on_segment(ts, &seg, &mut sink);
            last = last.max(ts);
        }
    }
    tracker.finish(last, &mut sink);
    let stats = tracker.stats();
    assert_eq!(sink.ends.len() as u64, stats.connections);
    (sink, stats)
}

const C2S: usize = 0;
const S2C: usize = 1;

#[test]
fn docker_upgrade_keepalive_probes_match_tshark() {
    let (sum, st) = run("zeek/http.upgrade-to-tcp/docker-http-upgrade.pcap");
    // tshark: 6 keep-alive + 6 keep-alive ACK, 3 TCP streams, all with handshakes.
    assert_eq!(st.connections, 3);
    assert_eq!(st.keepalive_probes, 6);
    assert_eq!(sum.probes.values().sum::<u32>(), 6);
    assert_eq!(sum.probe_acks.values().sum::<u32>(), 6);
    assert_eq!(st.missing_bytes, 0);
    assert!(sum.opens.values().all(|o| o.2 && o.3), "every connection opened by its SYN");
    for (id, (_, server, _, _)) in &sum.opens {
        assert_eq!(server.port, 2375);
        let req = &sum.bytes[&(*id, C2S)];
        assert!(req.starts_with(b"HEAD ") || req.starts_with(b"POST "), "conn {id} request stream");
        assert!(sum.bytes[&(*id, S2C)].starts_with(b"HTTP/1.1 "), "conn {id} response stream");
    }
}

#[test]
fn the_same_connection_on_three_vlans_stays_three_clean_connections() {
    let (sum, st) = run("zeek/policy.frameworks.conn_key.vlan_fivetuple/vlan-collisions.pcap");
    // tshark merges them and sees 4 keep-alives and 18 retransmissions.
    assert_eq!(st.connections, 3);
    assert_eq!(st.keepalive_probes, 0);
    assert_eq!(st.retransmitted_segments, 0);
    assert_eq!(st.missing_bytes, 0);
    let requests: Vec<&Vec<u8>> = (0..3).map(|id| &sum.bytes[&(id, C2S)]).collect();
    assert!(requests[0].starts_with(b"GET "));
    assert!(requests.iter().all(|r| *r == requests[0]));
    assert!(sum.ends.values().all(|r| *r == EndReason::Closed));
}

#[test]
fn a_dropped_server_segment_is_reported_and_delivery_goes_on() {
    let (sum, st) = run("zeek/http.http-pending-state-growth/1000-requests-one-dropped-response.pcap");
    assert_eq!(st.connections, 1);
    // The client's 1000 requests all arrive.
    let reqs = &sum.bytes[&(0, C2S)];
    assert_eq!(reqs.windows(4).filter(|w| w == b"GET ").count(), 1000);
    // Exactly the dropped part of the server stream is missing; the rest flows.
    let missing = sum.missing.get(&(0, S2C)).copied().unwrap_or(0);
    assert!(missing > 0, "the dropped server segment is reported");
    assert_eq!(st.missing_bytes, missing);
    let resp = &sum.bytes[&(0, S2C)];
    let starts: Vec<usize> = resp
        .windows(9)
        .enumerate()
        .filter(|(_, w)| w == b"HTTP/1.1 ")
        .map(|(i, _)| i)
        .collect();
    // The dropped segment held the start of one response (less than a whole
    // one): the other 999 are all there, and delivery went on after the hole.
    let one_response = starts[1] - starts[0];
    assert_eq!(starts.len(), 999);
    assert!(missing < one_response as u64);
    assert_eq!(st.buffered_bytes, 0);
    assert_eq!(st.retransmitted_segments, 0);
}

#[test]
fn client_probes_on_idle_connections_are_recognised() {
    let (sum, st) = run("zeek/policy.protocols.http.sql-injection-plus-dvwa2/cooper-grill-dvwa.pcapng");
    // tshark: 4 TCP streams, 2 keep-alive + 2 keep-alive ACK, all sent by clients.
    // Plus one tshark misses: the capture starts on an idle connection (port
    // 39004) with a 0-byte probe (seq 1395129210) that the server ACKs one past
    // (1395129211) — the idle-start false negative of wireshark-behaviour.md §1a.
    assert_eq!(st.connections, 4);
    assert_eq!(st.keepalive_probes, 3);
    assert_eq!(sum.opens[&0].0.port, 39004);
    assert!(!sum.opens[&0].2, "conn 0 was picked up mid-stream");
    assert_eq!(sum.probes.get(&(0, C2S)), Some(&1));
    assert_eq!(sum.probes.keys().filter(|(_, d)| *d == C2S).count(), sum.probes.len());
    assert_eq!(sum.probes.values().sum::<u32>(), 3);
    assert_eq!(sum.probe_acks.values().sum::<u32>(), 3);
    let gets = sum
        .bytes
        .iter()
        .filter(|((_, d), _)| *d == C2S)
        .filter(|(_, b)| b.starts_with(b"GET "))
        .count();
    assert_eq!(gets, 3);
    // Probe bytes never reach the streams, and probes are not retransmissions.
    assert!(sum.bytes.values().all(|b| !b.is_empty()));
}

fn corpus_captures() -> Vec<String> {
    let root = format!("{}/../shared/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(&root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                out.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Every capture of the corpus (frames of other link types decode to junk or
/// nothing, which is hostile input too): no panic, every connection ends exactly
/// once, the buffers drain, and missing bytes add up.
#[test]
fn whole_corpus_keeps_the_invariants() {
    let files = corpus_captures();
    assert!(files.len() > 100, "corpus found: {}", files.len());
    for rel in files {
        let file = corpus(&rel);
        if file.len() < 24 || !matches!(&file[..4], [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] | [0x0a, 0x0d, 0x0d, 0x0a]) {
            continue;
        }
        let (sum, st) = run(&rel);
        assert_eq!(st.buffered_bytes, 0, "{rel}");
        assert_eq!(sum.missing.values().sum::<u64>(), st.missing_bytes, "{rel}");
        if std::env::var_os("KEEPSCOPE_TCP_CORPUS_VERBOSE").is_some() {
            eprintln!(
                "{rel}: conns {} segs {} retrans {} probes {} missing {} differing {}",
                st.connections, st.segments, st.retransmitted_segments, st.keepalive_probes, st.missing_bytes, st.overlaps_differing
            );
        }
    }
}
