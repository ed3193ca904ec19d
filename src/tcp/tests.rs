//! Behaviour tests of the TCP stage: segments are built by hand, events recorded.

use super::*;
use crate::decode::TcpFlags;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Open { client: Endpoint, server: Endpoint, syn_seen: bool, roles_known: bool },
    Established,
    Data(Dir, Vec<u8>),
    Missing(Dir, u64, u64),
    Probe(Dir),
    ProbeAck(Dir),
    Fin(Dir),
    Rst(Dir),
    End(EndReason),
}

#[derive(Default)]
struct Rec {
    events: Vec<(ConnId, Ev, Timestamp)>,
    /// Address of every Data run, to check what was borrowed from where.
    data_ptrs: Vec<usize>,
}

impl StreamSink for Rec {
    fn on_stream_event(&mut self, conn: ConnId, event: StreamEvent<'_>) {
        let (ev, ts) = match event {
            StreamEvent::Open { client, server, syn_seen, roles_known, ts } => {
                (Ev::Open { client, server, syn_seen, roles_known }, ts)
            }
            StreamEvent::Established { ts } => (Ev::Established, ts),
            StreamEvent::Data { dir, ts, bytes } => {
                assert!(!bytes.is_empty(), "empty Data run");
                self.data_ptrs.push(bytes.as_ptr() as usize);
                (Ev::Data(dir, bytes.to_vec()), ts)
            }
            StreamEvent::Missing { dir, ts, offset, len } => {
                assert!(len > 0, "empty Missing");
                (Ev::Missing(dir, offset, len), ts)
            }
            StreamEvent::KeepAliveProbe { dir, ts } => (Ev::Probe(dir), ts),
            StreamEvent::KeepAliveAck { dir, ts } => (Ev::ProbeAck(dir), ts),
            StreamEvent::Fin { dir, ts } => (Ev::Fin(dir), ts),
            StreamEvent::Rst { dir, ts } => (Ev::Rst(dir), ts),
            StreamEvent::End { ts, reason } => (Ev::End(reason), ts),
        };
        self.events.push((conn, ev, ts));
    }
}

impl Rec {
    fn evs(&self, conn: ConnId) -> Vec<Ev> {
        self.events.iter().filter(|(c, _, _)| *c == conn).map(|(_, e, _)| e.clone()).collect()
    }
    /// The stream of one direction: data bytes, with `?` for each missing byte.
    fn stream(&self, conn: ConnId, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        for (c, e, _) in &self.events {
            if *c != conn {
                continue;
            }
            match e {
                Ev::Data(d, b) if *d == dir => out.extend_from_slice(b),
                Ev::Missing(d, off, len) if *d == dir => {
                    assert_eq!(*off, out.len() as u64, "Missing offset is the stream position");
                    out.extend(std::iter::repeat_n(b'?', *len as usize));
                }
                _ => {}
            }
        }
        out
    }
    fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.events.iter().filter(|(_, e, _)| pred(e)).count()
    }
}

const C2S: Dir = Dir::ClientToServer;
const S2C: Dir = Dir::ServerToClient;

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port }
}

fn flags(spec: &str) -> TcpFlags {
    TcpFlags {
        syn: spec.contains('S'),
        ack: spec.contains('A'),
        fin: spec.contains('F'),
        rst: spec.contains('R'),
        psh: spec.contains('P'),
    }
}

/// A test connection: client 10.0.0.1:40000, server 10.0.0.2:80.
struct Pair {
    client: Endpoint,
    server: Endpoint,
    window: u16,
}

impl Pair {
    fn new() -> Pair {
        Pair { client: ep(1, 40000), server: ep(2, 80), window: 65535 }
    }
    fn c<'a>(&self, seq: u32, ack: u32, f: &str, payload: &'a [u8]) -> TcpSegment<'a> {
        self.seg(self.client, self.server, seq, ack, f, payload)
    }
    fn s<'a>(&self, seq: u32, ack: u32, f: &str, payload: &'a [u8]) -> TcpSegment<'a> {
        self.seg(self.server, self.client, seq, ack, f, payload)
    }
    fn seg<'a>(&self, src: Endpoint, dst: Endpoint, seq: u32, ack: u32, f: &str, payload: &'a [u8]) -> TcpSegment<'a> {
        TcpSegment {
            src,
            dst,
            vlan: 0,
            seq,
            ack,
            flags: flags(f),
            window: self.window,
            payload,
            payload_len: payload.len() as u32,
        }
    }
}

fn t(n: i64) -> Timestamp {
    Timestamp(n * 1_000_000)
}

struct Run {
    tracker: TcpTracker,
    rec: Rec,
    clock: i64,
}

impl Run {
    fn new() -> Run {
        Run::with(TcpConfig::default())
    }
    fn with(config: TcpConfig) -> Run {
        Run { tracker: TcpTracker::new(config), rec: Rec::default(), clock: 0 }
    }
    fn feed(&mut self, seg: TcpSegment<'_>) {
        self.clock += 1;
        self.tracker.on_segment(t(self.clock), &seg, &mut self.rec);
    }
    fn finish(&mut self) {
        self.clock += 1;
        self.tracker.finish(t(self.clock), &mut self.rec);
    }
    fn stats(&self) -> TcpStats {
        self.tracker.stats()
    }
}

const CISN: u32 = 1000;
const SISN: u32 = 5000;

/// SYN, SYN-ACK, ACK. Afterwards the client's next seq is CISN+1, the server's SISN+1.
fn handshake(run: &mut Run, p: &Pair, cisn: u32, sisn: u32) {
    run.feed(p.c(cisn, 0, "S", b""));
    run.feed(p.s(sisn, cisn.wrapping_add(1), "SA", b""));
    run.feed(p.c(cisn.wrapping_add(1), sisn.wrapping_add(1), "A", b""));
}

#[test]
fn handshake_opens_and_establishes() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    run.finish();
    assert_eq!(
        run.rec.evs(0),
        vec![
            Ev::Open { client: p.client, server: p.server, syn_seen: true, roles_known: true },
            Ev::Established,
            Ev::End(EndReason::EndOfInput),
        ]
    );
    let st = run.stats();
    assert_eq!((st.segments, st.connections, st.retransmitted_segments), (3, 1, 0));
}

#[test]
fn in_order_data_is_borrowed_from_the_packet() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let req = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    let resp = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    run.feed(p.c(CISN + 1, SISN + 1, "PA", &req));
    run.feed(p.s(SISN + 1, CISN + 1 + req.len() as u32, "PA", &resp));
    assert_eq!(run.rec.data_ptrs, vec![req.as_ptr() as usize, resp.as_ptr() as usize]);
    assert_eq!(run.rec.stream(0, C2S), req);
    assert_eq!(run.rec.stream(0, S2C), resp);
    let st = run.stats();
    assert_eq!((st.buffered_bytes, st.buffered_bytes_peak, st.retransmitted_segments), (0, 0, 0));
}

#[test]
fn reordered_segments_wait_for_the_gap() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b + 6, SISN + 1, "PA", b"world")); // ts 4
    run.feed(p.c(b + 11, SISN + 1, "PA", b"!")); // ts 5
    assert_eq!(run.stats().buffered_bytes, 6);
    assert!(run.rec.stream(0, C2S).is_empty());
    run.feed(p.c(b, SISN + 1, "PA", b"hello ")); // ts 6 fills the gap
    assert_eq!(run.rec.stream(0, C2S), b"hello world!");
    // Every run carries the timestamp of the packet that completed it.
    for (_, e, ts) in &run.rec.events {
        if matches!(e, Ev::Data(..)) {
            assert_eq!(*ts, t(6));
        }
    }
    let st = run.stats();
    assert_eq!((st.buffered_bytes, st.buffered_bytes_peak), (0, 6));
    assert_eq!(st.retransmitted_segments, 0);
}

#[test]
fn retransmissions_are_delivered_once_and_differences_counted() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"aaaa"));
    // Already delivered: dropped, counted as retransmission.
    run.feed(p.c(b, SISN + 1, "PA", b"aaaa"));
    // Buffered out of order, then retransmitted identical, then different.
    run.feed(p.c(b + 8, SISN + 1, "PA", b"cccc"));
    run.feed(p.c(b + 8, SISN + 1, "PA", b"cccc"));
    assert_eq!(run.stats().overlaps_differing, 0);
    run.feed(p.c(b + 8, SISN + 1, "PA", b"XXXX"));
    assert_eq!(run.stats().overlaps_differing, 1);
    // The gap filler also overlaps the buffered run with different bytes.
    run.feed(p.c(b + 4, SISN + 1, "PA", b"bbbbYY"));
    // First copy wins everywhere.
    assert_eq!(run.rec.stream(0, C2S), b"aaaabbbbcccc");
    let st = run.stats();
    assert_eq!(st.overlaps_differing, 2);
    assert_eq!(st.retransmitted_segments, 4);
    assert_eq!(st.buffered_bytes, 0);
}

#[test]
fn partial_overlaps_deliver_each_byte_once() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"0123456789"));
    run.feed(p.c(b + 5, SISN + 1, "PA", b"56789abcde"));
    run.feed(p.c(b + 20, SISN + 1, "PA", b"klmno"));
    run.feed(p.c(b + 18, SISN + 1, "PA", b"ijkl")); // overlaps the buffered run's head
    run.feed(p.c(b + 14, SISN + 1, "PA", b"efghij"));
    assert_eq!(run.rec.stream(0, C2S), b"0123456789abcdefghijklmno");
    assert_eq!(run.stats().overlaps_differing, 0);
    assert_eq!(run.stats().retransmitted_segments, 3);
}

#[test]
fn sequence_numbers_wrap_around() {
    let p = Pair::new();
    let mut run = Run::new();
    let cisn = u32::MAX - 10;
    let sisn = u32::MAX - 3;
    handshake(&mut run, &p, cisn, sisn);
    let b = cisn.wrapping_add(1);
    // 8 bytes before the wrap, then segments that straddle and follow it, reordered.
    run.feed(p.c(b, sisn.wrapping_add(1), "PA", b"01234567"));
    run.feed(p.c(b.wrapping_add(16), sisn.wrapping_add(1), "PA", b"GHIJ"));
    run.feed(p.c(b.wrapping_add(8), sisn.wrapping_add(1), "PA", b"89ABCDEF"));
    run.feed(p.s(sisn.wrapping_add(1), b.wrapping_add(20), "PA", b"response"));
    assert_eq!(run.rec.stream(0, C2S), b"0123456789ABCDEFGHIJ");
    assert_eq!(run.rec.stream(0, S2C), b"response");
    // ACK numbers across the wrap do not give anything up.
    run.feed(p.c(b.wrapping_add(20), sisn.wrapping_add(9), "A", b""));
    let st = run.stats();
    assert_eq!((st.missing_bytes, st.keepalive_probes, st.retransmitted_segments), (0, 0, 0));
}

#[test]
fn a_gap_never_filled_is_reported_and_delivery_goes_on() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"aaaa"));
    run.feed(p.c(b + 10, SISN + 1, "PA", b"cccc")); // bytes 4..10 lost
    run.feed(p.c(b + 14, SISN + 1, "PA", b"dd"));
    run.finish();
    assert_eq!(run.rec.stream(0, C2S), b"aaaa??????ccccdd");
    assert!(run.rec.evs(0).contains(&Ev::Missing(C2S, 4, 6)));
    let evs = run.rec.evs(0);
    assert_eq!(evs.last(), Some(&Ev::End(EndReason::EndOfInput)));
    let st = run.stats();
    assert_eq!((st.missing_bytes, st.gaps_forced, st.buffered_bytes), (6, 0, 0));
}

#[test]
fn a_gap_is_given_up_when_the_peer_acks_past_it() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"aaaa"));
    run.feed(p.c(b + 8, SISN + 1, "PA", b"cccc"));
    assert_eq!(run.rec.stream(0, C2S), b"aaaa");
    // The server received everything: the client's bytes 4..8 were just not captured.
    run.feed(p.s(SISN + 1, b + 12, "A", b""));
    assert_eq!(run.rec.stream(0, C2S), b"aaaa????cccc");
    assert_eq!(run.stats().buffered_bytes, 0);
    // Nothing buffered at all: an ACK beyond the data seen also reports the hole.
    run.feed(p.s(SISN + 1, b + 20, "A", b""));
    assert_eq!(run.rec.stream(0, C2S), b"aaaa????cccc????????");
    // And the next segment continues the stream.
    run.feed(p.c(b + 20, SISN + 1, "PA", b"e"));
    assert_eq!(run.rec.stream(0, C2S), b"aaaa????cccc????????e");
    assert_eq!(run.stats().missing_bytes, 12);
}

#[test]
fn truncated_segments_deliver_what_was_captured() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    let mut seg = p.c(b, SISN + 1, "PA", b"abcd");
    seg.payload_len = 10;
    run.feed(seg);
    run.feed(p.c(b + 10, SISN + 1, "PA", b"xy"));
    assert_eq!(run.rec.stream(0, C2S), b"abcd??????xy");
    assert_eq!(run.stats().missing_bytes, 6);
}

#[test]
fn mid_stream_pickup_starts_at_the_first_segment_seen() {
    let p = Pair::new();
    let mut run = Run::new();
    run.feed(p.c(7000, 9000, "PA", b"GET /b HTTP/1.1\r\n\r\n"));
    run.feed(p.s(9000, 7019, "PA", b"HTTP/1.1 200 OK\r\n"));
    // Data before the first byte seen (a late retransmission) is not part of it.
    run.feed(p.c(6990, 9000, "PA", b"0123456789GET"));
    run.finish();
    let evs = run.rec.evs(0);
    assert_eq!(evs[0], Ev::Open { client: p.client, server: p.server, syn_seen: false, roles_known: false });
    assert!(!evs.contains(&Ev::Established));
    assert_eq!(run.rec.stream(0, C2S), b"GET /b HTTP/1.1\r\n\r\n");
    assert_eq!(run.rec.stream(0, S2C), b"HTTP/1.1 200 OK\r\n");
    // Roles by port even when the server talks first.
    let mut run = Run::new();
    run.feed(p.s(9000, 7000, "PA", b"x"));
    assert_eq!(
        run.rec.evs(0)[0],
        Ev::Open { client: p.client, server: p.server, syn_seen: false, roles_known: false }
    );
}

#[test]
fn syn_ack_first_fixes_the_roles() {
    let p = Pair::new();
    let mut run = Run::new();
    run.feed(p.s(SISN, CISN + 1, "SA", b""));
    run.feed(p.c(CISN + 1, SISN + 1, "A", b""));
    run.feed(p.c(CISN + 1, SISN + 1, "PA", b"hi"));
    let evs = run.rec.evs(0);
    assert_eq!(evs[0], Ev::Open { client: p.client, server: p.server, syn_seen: false, roles_known: true });
    assert_eq!(evs[1], Ev::Established);
    assert_eq!(run.rec.stream(0, C2S), b"hi");
    // A client on a low port: roles still come from the SYN-ACK, not the ports.
    let q = Pair { client: ep(1, 22), server: ep(2, 50000), window: 65535 };
    let mut run = Run::new();
    run.feed(q.s(SISN, CISN + 1, "SA", b""));
    assert_eq!(run.rec.evs(0)[0], Ev::Open { client: q.client, server: q.server, syn_seen: false, roles_known: true });
}

#[test]
fn syn_captured_after_its_syn_ack_is_no_retransmission() {
    let p = Pair::new();
    let mut run = Run::new();
    run.feed(p.s(SISN, CISN + 1, "SA", b""));
    run.feed(p.c(CISN, 0, "S", b""));
    run.feed(p.c(CISN + 1, SISN + 1, "A", b""));
    run.feed(p.c(CISN + 1, SISN + 1, "PA", b"hi"));
    assert_eq!(run.stats().connections, 1);
    assert_eq!(run.stats().retransmitted_segments, 0);
    assert_eq!(run.rec.stream(0, C2S), b"hi");
    assert!(run.rec.evs(0).contains(&Ev::Established));
}

#[test]
fn retransmitted_syn_is_not_a_new_connection() {
    let p = Pair::new();
    let mut run = Run::new();
    run.feed(p.c(CISN, 0, "S", b""));
    run.feed(p.c(CISN, 0, "S", b""));
    run.feed(p.s(SISN, CISN + 1, "SA", b""));
    run.feed(p.s(SISN, CISN + 1, "SA", b""));
    run.feed(p.c(CISN + 1, SISN + 1, "A", b""));
    assert_eq!(run.stats().connections, 1);
    assert_eq!(run.stats().retransmitted_segments, 2);
}

#[test]
fn port_reuse_ends_the_old_connection() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    run.feed(p.c(CISN + 1, SISN + 1, "PA", b"one"));
    // New SYN with another ISN on a live 4-tuple.
    run.feed(p.c(90_000, 0, "S", b""));
    let evs0 = run.rec.evs(0);
    assert_eq!(evs0.last(), Some(&Ev::End(EndReason::PortReuse)));
    assert_eq!(run.rec.evs(1)[0], Ev::Open { client: p.client, server: p.server, syn_seen: true, roles_known: true });
    // Finished 4-tuple: the tombstone is replaced silently.
    run.feed(p.s(SISN + 7, 90_001, "SA", b""));
    run.feed(p.c(90_001, SISN + 8, "FA", b""));
    run.feed(p.s(SISN + 8, 90_002, "FA", b""));
    run.feed(p.c(90_002, SISN + 9, "A", b""));
    run.feed(p.c(123_456, 0, "S", b""));
    assert_eq!(run.rec.evs(1).last(), Some(&Ev::End(EndReason::Closed)));
    assert_eq!(run.rec.count(|e| matches!(e, Ev::End(_))), 2);
    assert_eq!(run.rec.evs(2)[0], Ev::Open { client: p.client, server: p.server, syn_seen: true, roles_known: true });
    assert_eq!(run.stats().connections, 3);
}

#[test]
fn rst_closes_and_the_tombstone_absorbs_the_rest() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    run.feed(p.c(CISN + 1, SISN + 1, "PA", b"abc"));
    run.feed(p.c(CISN + 10, SISN + 1, "PA", b"zzz")); // buffered, gap before it
    run.feed(p.s(SISN + 1, CISN + 4, "RA", b""));
    run.feed(p.c(CISN + 13, SISN + 1, "A", b""));
    run.feed(p.s(SISN + 1, 0, "R", b""));
    run.finish();
    assert_eq!(
        run.rec.evs(0)[2..].to_vec(),
        vec![
            Ev::Data(C2S, b"abc".to_vec()),
            Ev::Missing(C2S, 3, 6),
            Ev::Data(C2S, b"zzz".to_vec()),
            Ev::Rst(S2C),
            Ev::End(EndReason::Closed),
        ]
    );
    assert_eq!(run.stats().connections, 1);
    assert_eq!(run.stats().buffered_bytes, 0);
}

#[test]
fn half_close_then_fin_and_the_last_ack_is_absorbed() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"req"));
    run.feed(p.c(b + 3, SISN + 1, "FA", b"")); // client half-closes
    run.feed(p.s(SISN + 1, b + 4, "PA", b"resp"));
    run.feed(p.c(b + 4, SISN + 5, "A", b""));
    run.feed(p.s(SISN + 5, b + 4, "FA", b"")); // server closes: End now
    let evs = run.rec.evs(0);
    assert_eq!(
        evs[2..].to_vec(),
        vec![
            Ev::Data(C2S, b"req".to_vec()),
            Ev::Fin(C2S),
            Ev::Data(S2C, b"resp".to_vec()),
            Ev::Fin(S2C),
            Ev::End(EndReason::Closed),
        ]
    );
    // Final ACK, retransmitted FIN and a late RST: no new connection, no events.
    run.feed(p.c(b + 4, SISN + 6, "A", b""));
    run.feed(p.s(SISN + 5, b + 4, "FA", b""));
    run.feed(p.c(b + 4, 0, "R", b""));
    run.finish();
    assert_eq!(run.rec.evs(0).len(), evs.len());
    assert_eq!(run.stats().connections, 1);
    assert_eq!(run.rec.events.len(), evs.len());
}

/// The server sends "head", then "mid." and "tail" with its FIN; the capture has
/// the FIN segment before "mid.". Returns the run after the FIN (clock 5).
fn fin_before_its_last_data(p: &Pair) -> Run {
    let mut run = Run::new();
    handshake(&mut run, p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.s(SISN + 1, b, "PA", b"head"));
    run.feed(p.s(SISN + 9, b, "FPA", b"tail"));
    assert_eq!(run.rec.stream(0, S2C), b"head", "tail waits for the gap");
    assert!(!run.rec.evs(0).contains(&Ev::Fin(S2C)), "the FIN is held");
    run
}

fn fin_ts(run: &Run, dir: Dir) -> Option<Timestamp> {
    run.rec.events.iter().find(|(_, e, _)| *e == Ev::Fin(dir)).map(|&(_, _, ts)| ts)
}

#[test]
fn a_fin_captured_before_the_last_data_waits_for_it() {
    let p = Pair::new();
    let mut run = fin_before_its_last_data(&p);
    run.feed(p.s(SISN + 5, CISN + 1, "PA", b"mid."));
    assert_eq!(run.rec.stream(0, S2C), b"headmid.tail");
    assert_eq!(run.rec.evs(0).last(), Some(&Ev::Fin(S2C)));
    // The FIN ends the bytes captured after it, so it is reported at their time.
    assert_eq!(fin_ts(&run, S2C), Some(t(6)));
    let st = run.stats();
    assert_eq!((st.missing_bytes, st.gaps_forced, st.buffered_bytes), (0, 0, 0));
    // The client's FIN then ends the connection as usual.
    run.feed(p.c(CISN + 1, SISN + 14, "FA", b""));
    assert_eq!(run.rec.evs(0)[run.rec.evs(0).len() - 2..], [Ev::Fin(C2S), Ev::End(EndReason::Closed)]);
}

#[test]
fn a_held_fin_gives_its_gap_up_when_the_peer_acks_the_fin() {
    let p = Pair::new();
    let mut run = fin_before_its_last_data(&p);
    // The client received everything up to and including the FIN: "mid." was
    // just not captured.
    run.feed(p.c(CISN + 1, SISN + 14, "A", b""));
    assert_eq!(run.rec.stream(0, S2C), b"head????tail");
    assert_eq!(run.rec.evs(0).last(), Some(&Ev::Fin(S2C)));
    assert_eq!(fin_ts(&run, S2C), Some(t(5)), "the FIN keeps its own time");
    assert_eq!(run.stats().missing_bytes, 4, "the FIN's sequence number is no missing byte");
    // The late segment is old news now.
    run.feed(p.s(SISN + 5, CISN + 1, "PA", b"mid."));
    assert_eq!(run.rec.stream(0, S2C), b"head????tail");
}

#[test]
fn a_held_fin_goes_before_anything_the_peer_sends_next() {
    let p = Pair::new();
    let mut run = fin_before_its_last_data(&p);
    // A request on the connection the server has closed (a stale reuse): the
    // server's FIN must come before it, with its missing bytes given up.
    run.feed(p.c(CISN + 1, SISN + 5, "PA", b"GET"));
    let evs = run.rec.evs(0);
    let fin = evs.iter().position(|e| *e == Ev::Fin(S2C)).expect("Fin");
    let request = evs.iter().position(|e| *e == Ev::Data(C2S, b"GET".to_vec())).expect("request");
    assert!(fin < request, "{evs:?}");
    assert_eq!(run.rec.stream(0, S2C), b"head????tail");
    assert_eq!(fin_ts(&run, S2C), Some(t(5)));

    // The peer's FIN likewise: who closed first stays who closed first.
    let mut run = fin_before_its_last_data(&p);
    run.feed(p.c(CISN + 1, SISN + 5, "FA", b""));
    let evs = run.rec.evs(0);
    assert_eq!(evs[evs.len() - 3..], [Ev::Fin(S2C), Ev::Fin(C2S), Ev::End(EndReason::Closed)]);
}

#[test]
fn a_held_fin_is_reported_before_a_reset_or_the_end_of_input() {
    let p = Pair::new();
    let mut run = fin_before_its_last_data(&p);
    run.feed(p.s(SISN + 14, CISN + 1, "R", b""));
    let evs = run.rec.evs(0);
    assert_eq!(evs[evs.len() - 3..], [Ev::Fin(S2C), Ev::Rst(S2C), Ev::End(EndReason::Closed)]);
    assert_eq!(run.rec.stream(0, S2C), b"head????tail");

    let mut run = fin_before_its_last_data(&p);
    run.finish();
    let evs = run.rec.evs(0);
    assert_eq!(evs[evs.len() - 2..], [Ev::Fin(S2C), Ev::End(EndReason::EndOfInput)]);
    assert_eq!(fin_ts(&run, S2C), Some(t(5)));
    assert_eq!(run.rec.stream(0, S2C), b"head????tail");
}

/// Client sends a request, server answers; both sides' data is ACKed.
fn exchange(run: &mut Run, p: &Pair) -> (u32, u32) {
    handshake(run, p, CISN, SISN);
    let c = CISN + 1;
    let s = SISN + 1;
    run.feed(p.c(c, s, "PA", b"GET / HTTP/1.1\r\n\r\n"));
    let c = c + 18;
    run.feed(p.s(s, c, "PA", b"HTTP/1.1 200 OK\r\n\r\n"));
    let s = s + 19;
    run.feed(p.c(c, s, "A", b""));
    (c, s)
}

#[test]
fn linux_zero_byte_keepalive_probe_and_ack() {
    let p = Pair::new();
    let mut run = Run::new();
    let (c, s) = exchange(&mut run, &p);
    for _ in 0..3 {
        run.feed(p.c(c - 1, s, "A", b""));
        run.feed(p.s(s, c, "A", b""));
    }
    let probes: Vec<_> = run.rec.evs(0).into_iter().filter(|e| matches!(e, Ev::Probe(_) | Ev::ProbeAck(_))).collect();
    assert_eq!(probes, [Ev::Probe(C2S), Ev::ProbeAck(C2S)].iter().cycle().take(6).cloned().collect::<Vec<_>>());
    let st = run.stats();
    assert_eq!((st.keepalive_probes, st.retransmitted_segments, st.missing_bytes), (3, 0, 0));
}

#[test]
fn windows_one_byte_probe_never_enters_the_stream() {
    let p = Pair::new();
    let mut run = Run::new();
    let (c, s) = exchange(&mut run, &p);
    run.feed(p.c(c - 1, s, "A", &[0u8]));
    // The ACK may come with a changed window: still the probe's ACK.
    let mut answer = p.s(s, c, "A", b"");
    answer.window = 1234;
    run.feed(answer);
    run.feed(p.c(c, s, "PA", b"next"));
    assert_eq!(run.rec.stream(0, C2S), b"GET / HTTP/1.1\r\n\r\nnext");
    let evs = run.rec.evs(0);
    assert!(evs.contains(&Ev::Probe(C2S)) && evs.contains(&Ev::ProbeAck(C2S)));
    assert_eq!(run.stats().retransmitted_segments, 0);
    assert_eq!(run.stats().overlaps_differing, 0);
}

#[test]
fn server_probe_at_its_isn_before_sending_data() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    run.feed(p.c(CISN + 1, SISN + 1, "PA", b"slow request"));
    run.feed(p.s(SISN, CISN + 13, "A", b""));
    run.feed(p.c(CISN + 13, SISN + 1, "A", b""));
    assert_eq!(run.rec.count(|e| *e == Ev::Probe(S2C)), 1);
    assert_eq!(run.rec.count(|e| *e == Ev::ProbeAck(S2C)), 1);
}

#[test]
fn probes_when_the_capture_starts_idle() {
    let p = Pair::new();
    let mut run = Run::new();
    let (c, s) = (777_000u32, 888_000u32);
    // The very first probe is recognised when the server's ACK is one past it.
    run.feed(p.c(c - 1, s, "A", b""));
    assert_eq!(run.rec.count(|e| matches!(e, Ev::Probe(_))), 0);
    run.feed(p.s(s, c, "A", b""));
    assert_eq!(run.rec.evs(0)[1..].to_vec(), vec![Ev::Probe(C2S), Ev::ProbeAck(C2S)]);
    assert_eq!(run.rec.events[1].2, t(1), "the probe keeps its own time");
    for _ in 0..3 {
        run.feed(p.c(c - 1, s, "A", b""));
        run.feed(p.s(s, c, "A", b""));
    }
    // Windows style, too (the byte was acknowledged: the peer's ACK is past it).
    run.feed(p.c(c - 1, s, "A", &[0]));
    run.feed(p.s(s, c, "A", b""));
    assert_eq!(run.rec.count(|e| *e == Ev::Probe(C2S)), 5);
    assert_eq!(run.rec.count(|e| *e == Ev::ProbeAck(C2S)), 5);
    assert!(run.rec.stream(0, C2S).is_empty());
    let st = run.stats();
    assert_eq!((st.keepalive_probes, st.retransmitted_segments, st.missing_bytes), (5, 0, 0));
}

#[test]
fn bare_acks_at_an_idle_start_are_not_probes() {
    let p = Pair::new();
    let mut run = Run::new();
    // Ordinary pure ACKs: each side's ACK equals the other's seq, never one past.
    run.feed(p.c(777_000, 888_000, "A", b""));
    run.feed(p.s(888_000, 777_000, "A", b""));
    run.feed(p.c(777_000, 888_000, "A", b""));
    run.feed(p.s(888_000, 777_000, "PA", b"data"));
    assert_eq!(run.stats().keepalive_probes, 0);
    assert_eq!(run.rec.count(|e| matches!(e, Ev::Probe(_) | Ev::ProbeAck(_))), 0);
}

#[test]
fn one_byte_tail_retransmission_is_not_a_probe() {
    let p = Pair::new();
    let mut run = Run::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b, SISN + 1, "PA", b"hello"));
    // The last byte again, before the server ACKed it.
    run.feed(p.c(b + 4, SISN + 1, "PA", b"o"));
    assert_eq!(run.rec.count(|e| matches!(e, Ev::Probe(_))), 0);
    assert_eq!(run.stats().keepalive_probes, 0);
    assert_eq!(run.stats().retransmitted_segments, 1);
    assert_eq!(run.rec.stream(0, C2S), b"hello");
}

#[test]
fn zero_window_probe_is_data_not_keepalive() {
    let mut p = Pair::new();
    let mut run = Run::new();
    let (c, s) = exchange(&mut run, &p);
    p.window = 0;
    run.feed(p.s(s, c, "A", b"")); // server's window closes
    p.window = 65535;
    run.feed(p.c(c, s, "PA", b"X")); // zero-window probe with the next byte
    run.feed(p.s(s, c, "A", b"")); // still closed, byte not taken
    run.feed(p.c(c, s, "PA", b"XYZ")); // window opened: the data again, and more
    assert_eq!(run.stats().keepalive_probes, 0);
    assert_eq!(run.rec.count(|e| matches!(e, Ev::Probe(_) | Ev::ProbeAck(_))), 0);
    assert_eq!(run.rec.stream(0, C2S), b"GET / HTTP/1.1\r\n\r\nXYZ");
}

#[test]
fn pure_ack_after_an_unaccepted_zero_window_probe_is_not_a_probe() {
    let mut p = Pair::new();
    let mut run = Run::new();
    let (c, s) = exchange(&mut run, &p);
    p.window = 0;
    run.feed(p.s(s, c, "A", b""));
    p.window = 65535;
    run.feed(p.c(c, s, "PA", b"X")); // zero-window probe, not accepted
    p.window = 0;
    run.feed(p.s(s, c, "A", b""));
    p.window = 65535;
    run.feed(p.s(s, c, "A", b"")); // window opens
    run.feed(p.s(s, c, "PA", b"late response"));
    // The client's ACK still sits at `c`, one below the probe's end.
    run.feed(p.c(c, s + 13, "A", b""));
    assert_eq!(run.stats().keepalive_probes, 0);
    assert_eq!(run.rec.count(|e| matches!(e, Ev::Probe(_))), 0);
}

#[test]
fn vlans_separate_connections() {
    let p = Pair::new();
    let mut run = Run::new();
    let mut a = p.c(CISN, 0, "S", b"");
    run.feed(a);
    a.vlan = 7;
    run.feed(a);
    assert_eq!(run.stats().connections, 2);
    assert_eq!(run.stats().retransmitted_segments, 0);
}

#[test]
fn expiry_and_connection_limit() {
    let mut run = Run::with(TcpConfig { max_connections: 3, idle_timeout_ns: 10_000_000, ..TcpConfig::default() });
    let pairs: Vec<Pair> = (0..5).map(|k| Pair { client: ep(1, 40000 + k), server: ep(2, 80), window: 100 }).collect();
    for p in &pairs[..3] {
        run.feed(p.c(CISN, 0, "S", b""));
    }
    run.feed(pairs[0].c(CISN, 0, "S", b"")); // conn 0 is active again; 1 is now least recent
    run.feed(pairs[3].c(CISN, 0, "S", b""));
    assert_eq!(run.rec.evs(1).last(), Some(&Ev::End(EndReason::Expired)));
    assert_eq!(run.rec.count(|e| matches!(e, Ev::End(_))), 1);
    // Idle expiry (10 ms): just after t(14), conns last seen at t(3) and t(4) go,
    // the one seen at t(5) stays.
    run.tracker.expire_idle(t(14).saturating_add_nanos(1), &mut run.rec);
    let ended: Vec<ConnId> =
        run.rec.events.iter().filter(|(_, e, _)| *e == Ev::End(EndReason::Expired)).map(|(c, _, _)| *c).collect();
    assert_eq!(ended, vec![1, 0, 2]);
    run.finish();
    assert_eq!(run.rec.evs(3).last(), Some(&Ev::End(EndReason::EndOfInput)));
}

/// Finish ends connections in ConnId order, gaps first.
#[test]
fn finish_reports_gaps_then_ends_in_id_order() {
    let mut run = Run::new();
    let pairs: Vec<Pair> = (0..3).map(|k| Pair { client: ep(1, 40000 + k), server: ep(2, 80), window: 100 }).collect();
    for p in pairs.iter().rev() {
        handshake(&mut run, p, CISN, SISN);
        run.feed(p.c(CISN + 3, SISN + 1, "PA", b"x"));
    }
    run.finish();
    let tail: Vec<(ConnId, Ev)> =
        run.rec.events.iter().rev().take(9).rev().map(|(c, e, _)| (*c, e.clone())).collect();
    let mut want = Vec::new();
    for id in 0..3 {
        want.push((id, Ev::Missing(C2S, 0, 2)));
        want.push((id, Ev::Data(C2S, b"x".to_vec())));
    }
    for id in 0..3 {
        want.push((id, Ev::End(EndReason::EndOfInput)));
    }
    assert_eq!(tail, want);
}

#[test]
fn buffering_bounds_hold_with_many_gapped_connections() {
    let per_conn = 3000;
    let total = 20_000;
    let mut run = Run::with(TcpConfig {
        max_buffered_per_conn: per_conn,
        max_buffered_total: total,
        ..TcpConfig::default()
    });
    let chunk = [b'x'; 500];
    let pairs: Vec<Pair> =
        (0..40).map(|k| Pair { client: ep(1, 30000 + k), server: ep(2, 80), window: 100 }).collect();
    for p in &pairs {
        handshake(&mut run, p, CISN, SISN);
    }
    let mut delivered_or_missing = 0u64;
    for round in 0..20u32 {
        for p in &pairs {
            // Always leave byte 0..500 missing: everything after it must wait.
            run.feed(p.c(CISN + 1 + 500 * (round + 1), SISN + 1, "PA", &chunk));
            let st = run.stats();
            assert!(st.buffered_bytes <= total as u64, "total bound broken: {st:?}");
        }
    }
    for id in 0..pairs.len() as u64 {
        let s = run.rec.stream(id, C2S);
        delivered_or_missing += s.len() as u64;
        assert!(s.iter().all(|&b| b == b'x' || b == b'?'));
    }
    let st = run.stats();
    assert!(st.buffered_bytes_peak <= total as u64);
    assert!(st.buffered_bytes_peak >= (total - 500) as u64, "the bound was used: {st:?}");
    assert!(st.gaps_forced > 0);
    // Per connection: never more than the window held.
    run.finish();
    let st = run.stats();
    assert_eq!(st.buffered_bytes, 0);
    assert!(delivered_or_missing > 0);
    for id in 0..pairs.len() as u64 {
        assert_eq!(run.rec.stream(id, C2S).len(), 500 * 21, "conn {id} stream complete");
    }
}

#[test]
fn per_direction_window_bound_gives_up_the_oldest_gap() {
    let mut run = Run::with(TcpConfig { max_buffered_per_conn: 1000, ..TcpConfig::default() });
    let p = Pair::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    run.feed(p.c(b + 100, SISN + 1, "PA", &[b'a'; 400])); // 100..500 buffered
    run.feed(p.c(b + 600, SISN + 1, "PA", &[b'b'; 300])); // 600..900 buffered
    assert_eq!(run.stats().buffered_bytes, 700);
    run.feed(p.c(b + 1000, SISN + 1, "PA", &[b'c'; 500])); // needs the window to move to 500
    let s = run.rec.stream(0, C2S);
    assert_eq!(s.len(), 500);
    assert!(run.stats().buffered_bytes <= 1000);
    assert_eq!(run.stats().gaps_forced, 1);
    // A segment larger than the whole window goes straight through.
    run.feed(p.c(b + 3000, SISN + 1, "PA", &[b'd'; 1500]));
    let s = run.rec.stream(0, C2S);
    assert_eq!(s.len(), 4500);
    assert_eq!(&s[3000..], &[b'd'; 1500][..]);
    assert_eq!(run.stats().buffered_bytes, 0);
}

#[test]
fn too_many_holes_gives_up_gaps_instead_of_growing() {
    let mut run = Run::new();
    let p = Pair::new();
    handshake(&mut run, &p, CISN, SISN);
    let b = CISN + 1;
    for k in 0..40u32 {
        run.feed(p.c(b + 10 * k + 5, SISN + 1, "PA", b"yyyyy"));
    }
    let st = run.stats();
    assert!(st.gaps_forced > 0);
    assert!(st.buffered_bytes <= 5 * assembler::MAX_CONTIGS as u64);
    run.finish();
    let s = run.rec.stream(0, C2S);
    assert_eq!(s, b"?????yyyyy".repeat(40));
}

/// Model check (smoltcp `test_random` idea): a random stream cut into random
/// segments, reordered and duplicated, must come out exactly as it went in.
fn feed_shuffled(
    data: &[u8],
    cuts: &[usize],
    order: &[usize],
    dups: &[usize],
    isn: u32,
    config: TcpConfig,
) -> (Rec, TcpStats) {
    let p = Pair::new();
    let mut run = Run::with(config);
    handshake(&mut run, &p, isn, SISN);
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    bounds.push(0);
    bounds.push(data.len());
    bounds.sort_unstable();
    bounds.dedup();
    let segs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let mut idx: Vec<usize> = (0..segs.len()).collect();
    for (i, &o) in order.iter().enumerate() {
        let n = idx.len();
        idx.swap(i % n, o % n);
    }
    for &d in dups {
        idx.push(d % segs.len());
    }
    let base = isn.wrapping_add(1);
    for &i in &idx {
        let (s, e) = segs[i];
        run.feed(p.c(base.wrapping_add(s as u32), SISN + 1, "PA", &data[s..e]));
    }
    run.feed(p.c(base.wrapping_add(data.len() as u32), SISN + 1, "FA", b""));
    run.finish();
    let st = run.stats();
    (run.rec, st)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn reordered_duplicated_stream_comes_out_intact(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        order in proptest::collection::vec(any::<usize>(), 0..12),
        dups in proptest::collection::vec(any::<usize>(), 0..6),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX],
    ) {
        let (rec, st) = feed_shuffled(&data, &cuts, &order, &dups, isn, TcpConfig::default());
        prop_assert_eq!(rec.stream(0, C2S), data);
        prop_assert_eq!(st.missing_bytes, 0);
        prop_assert_eq!(st.overlaps_differing, 0);
        prop_assert_eq!(st.buffered_bytes, 0);
        prop_assert!(rec.events.iter().all(|(_, e, _)| !matches!(e, Ev::Missing(..))));
    }

    #[test]
    fn under_tight_bounds_every_byte_is_right_or_reported_missing(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        order in proptest::collection::vec(any::<usize>(), 0..40),
        dups in proptest::collection::vec(any::<usize>(), 0..10),
        isn in any::<u32>(),
        window in 1usize..800,
    ) {
        let config = TcpConfig { max_buffered_per_conn: window, max_buffered_total: window, ..TcpConfig::default() };
        let (rec, st) = feed_shuffled(&data, &cuts, &order, &dups, isn, config);
        let got = rec.stream(0, C2S);
        prop_assert_eq!(got.len(), data.len());
        let mut missing = vec![false; data.len()];
        for (_, e, _) in &rec.events {
            if let Ev::Missing(_, off, len) = e {
                for m in &mut missing[*off as usize..(*off + *len) as usize] {
                    *m = true;
                }
            }
        }
        for k in 0..data.len() {
            prop_assert!(missing[k] || got[k] == data[k], "byte {} wrong", k);
        }
        prop_assert!(st.buffered_bytes_peak <= window as u64);
        prop_assert_eq!(st.buffered_bytes, 0);
    }
}

/// One hostile segment: which 4-tuple, which way, and fields drawn from a small
/// space so that they collide (retransmissions, overlaps, reuse) often.
#[derive(Debug, Clone)]
struct Chaos {
    tuple: u8,
    from_client: bool,
    seq_off: u32,
    ack_off: u32,
    flag_bits: u8,
    len: usize,
    captured: usize,
    vlan: u32,
    expire: bool,
}

fn chaos() -> impl Strategy<Value = Chaos> {
    (0u8..3, any::<bool>(), 0u32..3000, 0u32..3000, any::<u8>(), 0usize..600, 0usize..600, 0u32..2, proptest::bool::weighted(0.02))
        .prop_map(|(tuple, from_client, seq_off, ack_off, flag_bits, len, captured, vlan, expire)| Chaos {
            tuple,
            from_client,
            seq_off,
            ack_off,
            flag_bits,
            len,
            captured: captured.min(len),
            vlan,
            expire,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary segment soup: no panic, the bounds hold after every segment, and
    /// every connection's events are well formed (Open first, one End last,
    /// Data/Missing contiguous per direction — `Rec::stream` checks offsets).
    #[test]
    fn hostile_segments_keep_the_invariants(
        ops in proptest::collection::vec(chaos(), 1..300),
        base in any::<u32>(),
        per_conn in 0usize..2000,
        total in 0usize..3000,
        max_conns in 1usize..4,
        max_tombs in 0usize..3,
    ) {
        let config = TcpConfig {
            max_buffered_per_conn: per_conn,
            max_buffered_total: total,
            max_connections: max_conns,
            idle_timeout_ns: 5_000_000,
            max_tombstones: max_tombs,
        };
        let mut run = Run::with(config);
        let payload = [0xABu8; 600];
        for op in &ops {
            let p = Pair { client: ep(1, 1000 + op.tuple as u16), server: ep(2, 80), window: (op.flag_bits as u16) << 3 };
            let f = TcpFlags {
                syn: op.flag_bits & 1 != 0 && op.flag_bits & 0x40 != 0,
                ack: op.flag_bits & 2 != 0,
                fin: op.flag_bits & 4 != 0 && op.flag_bits & 0x80 != 0,
                rst: op.flag_bits & 8 != 0 && op.flag_bits & 0x20 != 0 && op.flag_bits & 0x40 != 0,
                psh: op.flag_bits & 16 != 0,
            };
            let (src, dst) = if op.from_client { (p.client, p.server) } else { (p.server, p.client) };
            let seg = TcpSegment {
                src,
                dst,
                vlan: op.vlan,
                seq: base.wrapping_add(op.seq_off),
                ack: base.wrapping_add(op.ack_off),
                flags: f,
                window: p.window,
                payload: &payload[..op.captured],
                payload_len: op.len as u32,
            };
            run.feed(seg);
            let st = run.stats();
            prop_assert!(st.buffered_bytes <= total as u64);
            prop_assert!(st.buffered_bytes_peak <= total as u64);
            if op.expire {
                run.tracker.expire_idle(t(run.clock), &mut run.rec);
            }
        }
        run.finish();
        let st = run.stats();
        prop_assert_eq!(st.buffered_bytes, 0);
        prop_assert_eq!(st.keepalive_probes as usize, run.rec.count(|e| matches!(e, Ev::Probe(_))));
        prop_assert_eq!(st.connections as usize, run.rec.count(|e| matches!(e, Ev::Open { .. })));
        for id in 0..st.connections {
            let evs = run.rec.evs(id);
            prop_assert!(matches!(evs.first(), Some(Ev::Open { .. })), "conn {} starts with Open", id);
            prop_assert!(matches!(evs.last(), Some(Ev::End(_))), "conn {} ends with End", id);
            prop_assert_eq!(evs.iter().filter(|e| matches!(e, Ev::End(_))).count(), 1);
            prop_assert!(evs.iter().filter(|e| matches!(e, Ev::Fin(C2S))).count() <= 1);
            prop_assert!(evs.iter().filter(|e| matches!(e, Ev::Fin(S2C))).count() <= 1);
            let _ = run.rec.stream(id, C2S);
            let _ = run.rec.stream(id, S2C);
        }
        let missing: u64 = run.rec.events.iter().map(|(_, e, _)| if let Ev::Missing(_, _, l) = e { *l } else { 0 }).sum();
        prop_assert_eq!(st.missing_bytes, missing);
    }
}

#[test]
fn connection_state_stays_small() {
    // One of these per tracked connection, up to `max_connections` of them: the
    // out-of-order store is allocated only while a direction has gaps.
    let size = std::mem::size_of::<conn::Conn>();
    eprintln!("Conn is {size} bytes");
    assert!(size <= 320, "Conn is {size} bytes");
}

#[test]
fn ring_memory_is_bounded_even_when_few_bytes_are_held() {
    // One byte far ahead per connection holds 1 byte but needs a ring covering
    // the span: the memory bound (2 × max_buffered_total) must hold too.
    let total = 100_000usize;
    let mut run = Run::with(TcpConfig {
        max_buffered_per_conn: 65_536,
        max_buffered_total: total,
        ..TcpConfig::default()
    });
    let pairs: Vec<Pair> =
        (0..50).map(|k| Pair { client: ep(3, 30000 + k), server: ep(2, 80), window: 100 }).collect();
    for p in &pairs {
        handshake(&mut run, p, CISN, SISN);
        run.feed(p.c(CISN + 1 + 60_000, SISN + 1, "PA", b"z"));
        assert!(run.tracker.reserved <= run.tracker.max_reserve(), "reserved {}", run.tracker.reserved);
    }
    assert!(run.stats().gaps_forced > 0);
    run.finish();
    assert_eq!(run.tracker.reserved, 0);
    for id in 0..pairs.len() as u64 {
        let s = run.rec.stream(id, C2S);
        assert_eq!(s.len(), 60_001);
        assert_eq!(s[60_000], b'z');
    }
}

#[test]
fn a_segment_to_itself_does_not_confuse_the_table() {
    // src == dst (a self-connect, or forged): both directions map to one side.
    let me = ep(9, 5555);
    let p = Pair { client: me, server: me, window: 1000 };
    let mut run = Run::new();
    run.feed(p.c(10, 0, "S", b""));
    run.feed(p.c(10, 11, "SA", b""));
    run.feed(p.c(11, 11, "PA", b"abc"));
    run.feed(p.c(10, 14, "A", b""));
    run.feed(p.c(14, 14, "FA", b""));
    run.finish();
    assert_eq!(run.rec.count(|e| matches!(e, Ev::End(_))) as u64, run.stats().connections);
    assert_eq!(run.stats().buffered_bytes, 0);
}

#[test]
fn idle_expiry_drops_tombstones_silently() {
    let p = Pair::new();
    let mut run = Run::with(TcpConfig { idle_timeout_ns: 1_000_000, ..TcpConfig::default() });
    handshake(&mut run, &p, CISN, SISN);
    run.feed(p.c(CISN + 1, SISN + 1, "RA", b""));
    let before = run.rec.events.len();
    run.tracker.expire_idle(t(100), &mut run.rec);
    assert_eq!(run.rec.events.len(), before, "a tombstone ends silently");
    // The 4-tuple is free again: a trailing packet now opens a new connection.
    run.feed(p.c(CISN + 1, SISN + 1, "A", b""));
    assert_eq!(run.stats().connections, 2);
}

#[test]
fn data_on_the_syn_starts_the_stream() {
    let p = Pair::new();
    let mut run = Run::new();
    run.feed(p.c(CISN, 0, "S", b"GET /"));
    run.feed(p.s(SISN, CISN + 6, "SA", b""));
    run.feed(p.c(CISN + 6, SISN + 1, "PA", b" HTTP/1.1"));
    assert_eq!(run.rec.stream(0, C2S), b"GET / HTTP/1.1");
    assert_eq!(run.stats().missing_bytes, 0);
}

#[test]
fn tombstones_are_bounded_and_the_oldest_go_first() {
    let mut run = Run::with(TcpConfig { max_tombstones: 3, ..TcpConfig::default() });
    // Ten connections on different ports, each closed by RST.
    let pairs: Vec<Pair> = (0..10).map(|k| Pair { client: ep(1, 41000 + k), ..Pair::new() }).collect();
    for p in &pairs {
        handshake(&mut run, p, CISN, SISN);
        run.feed(p.c(CISN + 1, SISN + 1, "RA", b""));
        assert!(run.tracker.tombstone_count() <= 3);
    }
    assert_eq!(run.tracker.tombstone_count(), 3);
    let events = run.rec.events.len();
    // A trailing packet of one of the three newest is still absorbed silently…
    run.feed(pairs[9].c(CISN + 1, SISN + 1, "A", b""));
    assert_eq!(run.rec.events.len(), events);
    assert_eq!(run.stats().connections, 10);
    // …while the oldest was forgotten: its trailing packet opens a new connection.
    run.feed(pairs[0].c(CISN + 1, SISN + 1, "A", b""));
    assert_eq!(run.stats().connections, 11);
}
