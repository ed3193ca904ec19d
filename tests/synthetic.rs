//! Synthetic captures for what real traffic rarely shows, written by the test and
//! analysed by the real binary: reordering, retransmissions with different bytes,
//! overlaps, sequence-number wrap-around, segments never captured, a capture that
//! starts mid-connection, a 1-byte (Windows-style) keep-alive probe, and every link
//! type keepscope decodes.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{addr, flags, pcap_bytes, tcp_frame, Link, Record, TempCaptures, TsPrecision};
use keepscope::time::Timestamp;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_keepscope");
const REQUEST: &[u8] = b"GET /one HTTP/1.1\r\nHost: example\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
const REQUEST2: &[u8] = b"GET /two HTTP/1.1\r\nHost: example\r\n\r\n";

/// A TCP conversation being written packet by packet.
struct Conv {
    link: Link,
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of each side.
    cseq: u32,
    sseq: u32,
    ms: i64,
    records: Vec<Record>,
}

impl Conv {
    fn new(link: Link, client_isn: u32, server_isn: u32) -> Conv {
        let (client, server) = match link {
            Link::RawIp | Link::Null | Link::Ethernet | Link::EthernetVlan(_) | Link::LinuxSll | Link::LinuxSll2 => {
                (addr("127.0.0.1:40000"), addr("127.0.0.1:8080"))
            }
        };
        Conv { link, client, server, cseq: client_isn, sseq: server_isn, ms: 0, records: Vec::new() }
    }

    fn at(&mut self, ms: i64) -> &mut Self {
        self.ms = ms;
        self
    }

    fn push(&mut self, from_client: bool, seq: u32, f: &str, payload: &[u8]) {
        let (src, dst, ack) =
            if from_client { (self.client, self.server, self.sseq) } else { (self.server, self.client, self.cseq) };
        let frame = tcp_frame(self.link, src, dst, seq, ack, flags(f), payload);
        self.records.push(Record::new(Timestamp(1_700_000_000_000_000_000 + self.ms * 1_000_000), frame));
        self.ms += 1;
    }

    fn handshake(&mut self) {
        let (c, s) = (self.cseq, self.sseq);
        self.push(true, c, "S", b"");
        self.cseq = c.wrapping_add(1);
        self.push(false, s, "SA", b"");
        self.sseq = s.wrapping_add(1);
        let c = self.cseq;
        self.push(true, c, "A", b"");
    }

    /// Sends `data` from one side as one segment, in order.
    fn send(&mut self, from_client: bool, data: &[u8]) {
        let seq = if from_client { self.cseq } else { self.sseq };
        self.push(from_client, seq, "PA", data);
        self.advance(from_client, data.len());
    }

    fn advance(&mut self, from_client: bool, n: usize) {
        if from_client {
            self.cseq = self.cseq.wrapping_add(n as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(n as u32);
        }
    }

    fn fin_both(&mut self) {
        let c = self.cseq;
        self.push(true, c, "FA", b"");
        self.cseq = c.wrapping_add(1);
        let s = self.sseq;
        self.push(false, s, "FA", b"");
        self.sseq = s.wrapping_add(1);
        let c = self.cseq;
        self.push(true, c, "A", b"");
    }

    fn analyze(&self, dir: &TempCaptures, name: &str) -> Value {
        let path = dir.file(name, &pcap_bytes(self.link.linktype(), TsPrecision::Nano, &self.records));
        let out = Command::new(BIN).args(["analyze", "--json"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn uris(doc: &Value) -> Vec<String> {
    doc["connections"][0]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["request"]["uri"].as_str().unwrap_or("-"),
                t["response"]["status"].as_u64().map_or("-".to_string(), |s| s.to_string())
            )
        })
        .collect()
}

#[test]
fn every_link_type_carries_the_exchange() {
    let dir = TempCaptures::new();
    for link in [Link::Ethernet, Link::EthernetVlan(42), Link::LinuxSll, Link::LinuxSll2, Link::Null, Link::RawIp] {
        let mut c = Conv::new(link, 1000, 5000);
        c.handshake();
        c.send(true, REQUEST);
        c.send(false, RESPONSE);
        c.fin_both();
        let doc = c.analyze(&dir, &format!("{link:?}.pcap"));
        assert_eq!(uris(&doc), vec!["/one 200"], "{link:?}");
        assert_eq!(doc["connections"][0]["syn_seen"], true, "{link:?}");
        assert_eq!(doc["connections"][0]["close"]["by"], "client", "{link:?}");
    }
}

#[test]
fn reordered_segments_wait_for_the_gap() {
    let dir = TempCaptures::new();
    let mut c = Conv::new(Link::Ethernet, 1000, 5000);
    c.handshake();
    // The request in three pieces, the last two swapped on the wire.
    let (a, rest) = REQUEST.split_at(10);
    let (b, tail) = rest.split_at(10);
    let base = c.cseq;
    c.push(true, base, "PA", a);
    c.push(true, base + 20, "PA", tail);
    c.push(true, base + 10, "PA", b);
    c.advance(true, REQUEST.len());
    c.send(false, RESPONSE);
    c.fin_both();
    let doc = c.analyze(&dir, "reorder.pcap");
    assert_eq!(uris(&doc), vec!["/one 200"]);
    assert_eq!(doc["connections"][0]["missing_bytes"]["client"], 0);
}

#[test]
fn retransmission_with_different_bytes_keeps_the_first_copy_and_warns() {
    let dir = TempCaptures::new();
    let mut c = Conv::new(Link::Ethernet, 1000, 5000);
    c.handshake();
    let base = c.cseq;
    // First the tail arrives out of order, then a retransmission of the tail with
    // other bytes (an overlap that differs), then the head.
    let (head, tail) = REQUEST.split_at(12);
    c.push(true, base + 12, "PA", tail);
    let mut forged = tail.to_vec();
    forged[0] = b'X';
    c.push(true, base + 12, "PA", &forged);
    c.push(true, base, "PA", head);
    // A partial overlap re-sending bytes already delivered.
    c.push(true, base + 5, "PA", &REQUEST[5..20]);
    c.advance(true, REQUEST.len());
    c.send(false, RESPONSE);
    c.fin_both();
    let doc = c.analyze(&dir, "retrans.pcap");
    assert_eq!(uris(&doc), vec!["/one 200"], "the first copy won");
    let warnings = doc["source"]["warnings"].to_string();
    assert!(warnings.contains("different"), "{warnings}");
}

#[test]
fn sequence_numbers_wrap_around() {
    let dir = TempCaptures::new();
    // The client's stream crosses 2^32 in the middle of the second request.
    let mut c = Conv::new(Link::Ethernet, u32::MAX - 50, u32::MAX - 3);
    c.handshake();
    c.send(true, REQUEST);
    c.send(false, RESPONSE);
    c.send(true, REQUEST2);
    c.send(false, RESPONSE);
    c.fin_both();
    let doc = c.analyze(&dir, "wrap.pcap");
    assert_eq!(uris(&doc), vec!["/one 200", "/two 200"]);
    assert_eq!(doc["connections"][0]["transactions"][1]["reused"], true);
    assert_eq!(doc["connections"][0]["missing_bytes"]["client"], 0);
}

#[test]
fn missing_segment_is_reported_and_analysis_resynchronises() {
    let dir = TempCaptures::new();
    let mut c = Conv::new(Link::Ethernet, 1000, 5000);
    c.handshake();
    c.send(true, REQUEST);
    // The first response's head is never captured; its body and the next
    // exchange are.
    let head_len = RESPONSE.len() - 10;
    c.advance(false, head_len);
    c.send(false, &RESPONSE[head_len..]);
    c.send(true, REQUEST2);
    c.send(false, RESPONSE);
    c.fin_both();
    let doc = c.analyze(&dir, "missing.pcap");
    let conn = &doc["connections"][0];
    assert_eq!(conn["missing_bytes"]["server"], head_len as u64);
    assert_eq!(conn["missing_bytes"]["client"], 0);
    let requests: Vec<String> = conn["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["request"]["uri"].as_str().map(String::from))
        .collect();
    assert_eq!(requests, vec!["/one", "/two"], "both requests are still seen");
    let statuses: Vec<u64> =
        conn["transactions"].as_array().unwrap().iter().filter_map(|t| t["response"]["status"].as_u64()).collect();
    assert!(statuses.contains(&200), "the response after the gap is found again: {conn}");
    assert!(conn["findings"].as_array().unwrap().iter().any(|f| f == "incomplete"), "{conn}");
}

#[test]
fn capture_starting_mid_connection_finds_roles_by_content() {
    let dir = TempCaptures::new();
    let mut c = Conv::new(Link::Ethernet, 1000, 5000);
    // No handshake; the client uses the lower port here, so only the content can tell
    // which side is the client.
    c.client = addr("127.0.0.1:80");
    c.server = addr("127.0.0.1:9000");
    c.send(false, b"tail of an earlier response body");
    c.send(true, REQUEST);
    c.send(false, RESPONSE);
    let doc = c.analyze(&dir, "midstream.pcap");
    let conn = &doc["connections"][0];
    assert_eq!(conn["syn_seen"], false);
    assert_eq!(conn["client"], "127.0.0.1:80");
    assert_eq!(conn["server"], "127.0.0.1:9000");
    assert_eq!(uris(&doc), vec!["/one 200"]);
    assert_eq!(conn["close"]["by"], "none");
}

#[test]
fn one_byte_keepalive_probe_is_not_data() {
    let dir = TempCaptures::new();
    let mut c = Conv::new(Link::Ethernet, 1000, 5000);
    c.handshake();
    c.send(true, REQUEST);
    c.send(false, RESPONSE);
    // Windows-style probe: one garbage byte at next-expected − 1, then the ACK.
    c.at(10_000);
    let probe_seq = c.cseq.wrapping_sub(1);
    c.push(true, probe_seq, "A", &[0]);
    let s = c.sseq;
    c.push(false, s, "A", b"");
    c.at(12_000);
    c.send(true, REQUEST2);
    c.send(false, RESPONSE);
    c.fin_both();
    let doc = c.analyze(&dir, "probe.pcap");
    let conn = &doc["connections"][0];
    assert_eq!(conn["tcp_keepalive"]["client"]["probes"], 1);
    assert_eq!(conn["tcp_keepalive"]["client"]["acked"], 1);
    assert_eq!(uris(&doc), vec!["/one 200", "/two 200"], "the probe's byte never reached HTTP");
    let idle = conn["transactions"][1]["idle_before_s"].as_f64().unwrap();
    assert!((11.9..12.1).contains(&idle), "{idle}");
}
