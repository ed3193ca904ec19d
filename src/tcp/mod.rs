//! Stage 2: TCP. A flow table keyed by the 4-tuple (plus VLAN), connection roles,
//! handshake/FIN/RST tracking, per-direction reassembly into in-order byte runs,
//! and TCP keep-alive probe detection.
//!
//! INTERFACE (fixed): `ConnId`, `Dir`, `EndReason`, `StreamEvent`, `StreamSink`,
//! `TcpConfig`, `TcpStats`, `TcpTracker` (new / on_segment / expire_idle / finish / stats).

use crate::decode::{Endpoint, TcpSegment};
use crate::time::Timestamp;

/// Connections are numbered in the order their first packet was seen, from 0.
pub type ConnId = u64;

/// Direction of a byte run or event, relative to the connection's roles.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    pub fn flip(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
    /// 0 for client→server, 1 for server→client: index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        }
    }
}

/// Why a connection left the flow table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Both sides sent FIN, or one sent RST.
    Closed,
    /// A new SYN reused the 4-tuple of this connection.
    PortReuse,
    /// No packet for longer than the idle timeout (live mode); still open at expiry.
    Expired,
    /// The capture ended with the connection still open.
    EndOfInput,
}

/// What the TCP stage tells the next one. Byte runs borrow the packet (in-order
/// data) or the reassembly buffer (data that waited for a gap): nothing is copied.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// First event of every connection. Roles: the side that sent the SYN is the
    /// client; without a SYN (capture started mid-connection) the lower port is taken
    /// as the server — the analysis may swap roles once it sees which side sends
    /// HTTP requests (`TcpTracker` does not look at payloads). `roles_known` is true
    /// when the SYN or the SYN-ACK was seen, so roles must not be swapped.
    Open { client: Endpoint, server: Endpoint, syn_seen: bool, roles_known: bool, ts: Timestamp },
    /// The ACK that completed the three-way handshake.
    Established { ts: Timestamp },
    /// The next in-order bytes of one direction. `ts` is the timestamp of the packet
    /// that completed the run (for out-of-order data: the packet that filled the gap).
    Data { dir: Dir, ts: Timestamp, bytes: &'a [u8] },
    /// `len` bytes at stream offset `offset` were never captured; delivery goes on
    /// after them.
    Missing { dir: Dir, ts: Timestamp, offset: u64, len: u64 },
    /// A TCP keep-alive probe sent in direction `dir`.
    KeepAliveProbe { dir: Dir, ts: Timestamp },
    /// The peer acknowledged the last keep-alive probe sent in direction `dir`.
    KeepAliveAck { dir: Dir, ts: Timestamp },
    /// First FIN of side `dir` (its data is complete).
    Fin { dir: Dir, ts: Timestamp },
    /// First RST sent by side `dir`.
    Rst { dir: Dir, ts: Timestamp },
    /// Last event of every connection.
    End { ts: Timestamp, reason: EndReason },
}

pub trait StreamSink {
    fn on_stream_event(&mut self, conn: ConnId, event: StreamEvent<'_>);
}

/// Bounds and timeouts of the TCP stage.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Out-of-order bytes buffered per direction of one connection before the
    /// oldest gap is given up (reported as missing).
    pub max_buffered_per_conn: usize,
    /// Out-of-order bytes buffered over all connections.
    pub max_buffered_total: usize,
    /// Most connections tracked at once; beyond it the least recently active is ended
    /// as `Expired`.
    pub max_connections: usize,
    /// Connections silent for longer than this are ended by `expire_idle` (live mode).
    pub idle_timeout_ns: i64,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_per_conn: 256 * 1024,
            max_buffered_total: 32 * 1024 * 1024,
            max_connections: 1_000_000,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// Counters of the TCP stage, for the report's warnings and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub connections: u64,
    pub retransmitted_segments: u64,
    /// Overlapping retransmissions whose bytes differed from what was delivered.
    pub overlaps_differing: u64,
    /// Gaps given up to keep the buffering bound.
    pub gaps_forced: u64,
    pub missing_bytes: u64,
    /// Bytes buffered out of order right now, over all connections.
    pub buffered_bytes: u64,
    /// Highest value `buffered_bytes` reached.
    pub buffered_bytes_peak: u64,
    pub keepalive_probes: u64,
}

/// The flow table and reassembler. Feed it segments in capture order.
pub struct TcpTracker {
    #[allow(dead_code)]
    config: TcpConfig,
}

impl TcpTracker {
    pub fn new(config: TcpConfig) -> TcpTracker {
        TcpTracker { config }
    }

    /// Processes one segment captured at `ts`.
    #[allow(unused_variables)]
    pub fn on_segment(&mut self, ts: Timestamp, seg: &TcpSegment<'_>, sink: &mut impl StreamSink) {
        unimplemented!("tcp helper")
    }

    /// Ends connections idle since before `now - idle_timeout` (reason `Expired`).
    #[allow(unused_variables)]
    pub fn expire_idle(&mut self, now: Timestamp, sink: &mut impl StreamSink) {
        unimplemented!("tcp helper")
    }

    /// End of input: gives up remaining gaps (Missing), then ends every connection
    /// still in the table (reason `EndOfInput`), in ConnId order.
    #[allow(unused_variables)]
    pub fn finish(&mut self, now: Timestamp, sink: &mut impl StreamSink) {
        unimplemented!("tcp helper")
    }

    pub fn stats(&self) -> TcpStats {
        unimplemented!("tcp helper")
    }
}
