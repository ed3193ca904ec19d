//! Arbitrary segment sequences through `TcpTracker`: a few flows, arbitrary flags,
//! sequence numbers near a wrap point, overlaps, gaps, truncated segments, time going
//! backwards, idle expiry, tiny buffering bounds. Checks that the tracker never
//! panics, never buffers more than `max_buffered_total`, and that its events make
//! sense per connection: Open first, End last, nothing after End, and each
//! direction's Data/Missing runs contiguous (a Missing starts where delivery is).
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use keepscope::decode::{Endpoint, TcpFlags, TcpSegment};
use keepscope::tcp::{ConnId, Dir, StreamEvent, StreamSink, TcpConfig, TcpTracker};
use keepscope::time::Timestamp;
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct ConnState {
    ended: bool,
    delivered: [u64; 2],
}

#[derive(Default)]
struct Checker {
    conns: HashMap<ConnId, ConnState>,
}

impl StreamSink for Checker {
    fn on_stream_event(&mut self, conn: ConnId, event: StreamEvent<'_>) {
        if let StreamEvent::Open { .. } = event {
            assert!(self.conns.insert(conn, ConnState::default()).is_none(), "connection {conn} opened twice");
            return;
        }
        let state = self.conns.get_mut(&conn).expect("event before Open");
        assert!(!state.ended, "event after End on connection {conn}: {event:?}");
        match event {
            StreamEvent::Data { dir, bytes, .. } => {
                assert!(!bytes.is_empty(), "empty Data run");
                state.delivered[dir.index()] += bytes.len() as u64;
            }
            StreamEvent::Missing { dir, offset, len, .. } => {
                assert_eq!(offset, state.delivered[dir.index()], "Missing does not start at the delivery point");
                assert!(len > 0, "empty Missing run");
                state.delivered[dir.index()] += len;
            }
            StreamEvent::End { .. } => state.ended = true,
            _ => {}
        }
    }
}

fn endpoint(host: u8, port: u16) -> Endpoint {
    Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port }
}

fuzz_target!(|data: &[u8]| {
    let Some((setup, mut rest)) = data.split_first_chunk::<4>() else { return };
    let config = TcpConfig {
        max_buffered_per_conn: 16 + usize::from(setup[0]) * 16,
        max_buffered_total: 64 + usize::from(setup[1]) * 64,
        max_connections: 1 + usize::from(setup[2] & 7),
        idle_timeout_ns: 1_000 * i64::from(setup[2] >> 3 | 1),
    };
    // Initial sequence numbers near the 2^32 wrap when asked.
    let base = if setup[3] & 1 == 1 { u32::MAX - 300 } else { 1000 };
    let mut tracker = TcpTracker::new(config.clone());
    let mut checker = Checker::default();
    let payload_pool = [0xabu8; 512];
    let mut ts = 0i64;
    // Each segment: flow/direction, flags, seq offset (2), ack offset (2), length,
    // extra wire length, time step: 9 bytes.
    while let Some((op, tail)) = rest.split_first_chunk::<9>() {
        rest = tail;
        let flow = op[0] & 3;
        let from_client = op[0] & 4 == 0;
        let (client, server) = (endpoint(1 + flow, 40000 + u16::from(flow)), endpoint(100, 80));
        let (src, dst) = if from_client { (client, server) } else { (server, client) };
        let f = op[1];
        let flags = TcpFlags { syn: f & 1 != 0, ack: f & 2 != 0, fin: f & 4 != 0, rst: f & 8 != 0, psh: f & 16 != 0 };
        let seq = base.wrapping_add(u32::from(u16::from_le_bytes([op[2], op[3]])));
        let ack = base.wrapping_add(u32::from(u16::from_le_bytes([op[4], op[5]])));
        let len = usize::from(op[6]) * 2;
        let payload = &payload_pool[..len];
        // Time mostly moves forward; a step of 255 goes back (damaged captures).
        ts += if op[8] == 255 { -500 } else { i64::from(op[8]) * 10 };
        let seg = TcpSegment {
            src,
            dst,
            vlan: u32::from(op[0] >> 6),
            seq,
            ack,
            flags,
            window: 65535,
            payload,
            payload_len: len as u32 + u32::from(op[7] & 0x0f),
        };
        tracker.on_segment(Timestamp(ts), &seg, &mut checker);
        let stats = tracker.stats();
        assert!(stats.buffered_bytes <= config.max_buffered_total as u64, "{} buffered over {}", stats.buffered_bytes, config.max_buffered_total);
        if op[1] & 0xe0 == 0xe0 {
            tracker.expire_idle(Timestamp(ts), &mut checker);
        }
    }
    tracker.finish(Timestamp(ts), &mut checker);
    let stats = tracker.stats();
    assert_eq!(stats.buffered_bytes, 0, "bytes still buffered after finish");
    assert!(stats.buffered_bytes_peak <= config.max_buffered_total as u64);
    assert!(checker.conns.values().all(|c| c.ended), "a connection was never ended");
});
