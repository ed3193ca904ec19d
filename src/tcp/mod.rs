//! Stage 2: TCP. A flow table keyed by the 4-tuple (plus VLAN), connection roles,
//! handshake/FIN/RST tracking, per-direction reassembly into in-order byte runs,
//! and TCP keep-alive probe detection.
//!
//! INTERFACE (fixed): `ConnId`, `Dir`, `EndReason`, `StreamEvent`, `StreamSink`,
//! `TcpConfig`, `TcpStats`, `TcpTracker` (new / on_segment / expire_idle / finish / stats).
//!
//! Layout: `seq` (wrap-safe sequence numbers), `assembler` (bounded out-of-order
//! store: fixed run list + one ring per direction), `stream` (one direction's
//! reassembly and gap policy), `conn` (per-connection state), this file (flow
//! table, LRU, global bounds, the per-segment state machine, keep-alive rule).
//!
//! Decisions worth knowing when reading the events:
//! - **Overlaps:** the first copy seen wins; bytes are delivered once.
//!   `overlaps_differing` counts segments that overlapped *buffered* bytes with
//!   different content (delivered bytes are not kept, so not compared).
//!   `retransmitted_segments` counts segments carrying bytes already received, plus
//!   repeated SYN / SYN-ACK / bare FIN; keep-alive probes are never counted.
//! - **Gaps** are given up (a `Missing` event, then delivery continues) when
//!   (a) a segment would reach beyond `max_buffered_per_conn` past the delivery
//!   point (the oldest gaps of that direction go first), (b) the total over all
//!   connections would exceed `max_buffered_total` (all gaps of the direction that
//!   started buffering longest ago go first), or the run list is full; these count
//!   in `gaps_forced`. Also (c) when the peer ACKs past the gap (the bytes were
//!   received, just not captured), (d) on FIN (once handed on: below), RST,
//!   connection end and `finish`.
//!   So one `on_segment` call can emit events for the *other* direction (an ACK
//!   gives up its gaps) and for *other connections* (the global bound).
//!   `max_buffered_per_conn` bounds the span from the delivery point to the end of
//!   the furthest buffered byte, which also bounds the bytes held.
//! - **A FIN with bytes missing before it** is held (`conn::HeldFin`), not handed
//!   on: a capture point that reorders packets can record it before the last data
//!   segment. Its `Fin` comes once those bytes are delivered (with the time of the
//!   last of them if later than its own), or, with its own time and the gap given
//!   up, when the peer ACKs it, sends data or its own FIN, on RST and at the end.
//! - **Truncated segments** (snaplen) deliver the captured bytes and report the
//!   rest as `Missing` at once when in order.
//! - **Event order within one segment:** Open, Established, KeepAliveAck (for the
//!   peer's probe), Missing/Data of the peer's stream given up by this ACK,
//!   KeepAliveProbe or this side's Missing/Data, Fin, End. A segment carrying data,
//!   FIN or RST first hands on the peer's held FIN. On RST: buffered data of both
//!   sides, Rst, End.
//! - **Idle capture start:** a bare 0-byte segment sent before anything is known
//!   about its side is recognised as a keep-alive probe when the peer's next ACK
//!   is exactly one past it; its `KeepAliveProbe` (carrying its own timestamp)
//!   then comes right before the `KeepAliveAck`.
//! - **Closed connections** stay as tombstones that absorb trailing packets
//!   silently until a new SYN, idle expiry, eviction or `finish`.

mod assembler;
mod conn;
mod seq;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::hash_map::HashMap;
use std::collections::VecDeque;

use crate::decode::{Endpoint, TcpSegment};
use crate::time::Timestamp;
use conn::{Conn, FlowKey, HeldFin};
pub use seq::SeqNum;
use stream::{Ctx, Room};

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
#[derive(Copy, Clone, Debug)]
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
    /// Most closed connections kept as tombstones (to absorb their trailing
    /// packets); beyond it the longest-closed one is forgotten. Offline nothing
    /// calls `expire_idle`, so without this bound memory would grow with every
    /// finished connection until `max_connections`.
    pub max_tombstones: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_buffered_per_conn: 256 * 1024,
            max_buffered_total: 32 * 1024 * 1024,
            max_connections: 1_000_000,
            idle_timeout_ns: 300 * 1_000_000_000,
            // Trailing packets (the last ACK, a retransmitted FIN) come within a
            // few round trips; 16k recent closes cover any realistic close rate
            // for that long, at ~0.5 KiB each.
            max_tombstones: 16 * 1024,
        }
    }
}

/// Counters of the TCP stage, for the report's warnings and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments fed to `on_segment` (including those absorbed by tombstones).
    pub segments: u64,
    /// Connections opened (Open events).
    pub connections: u64,
    /// Segments carrying bytes already received (delivered or buffered), plus
    /// repeated SYN / SYN-ACK / bare FIN. Keep-alive probes are never counted.
    pub retransmitted_segments: u64,
    /// Overlapping retransmissions whose bytes differed from what was delivered.
    pub overlaps_differing: u64,
    /// Gaps given up to keep the buffering bound.
    pub gaps_forced: u64,
    /// Bytes reported in Missing events (all causes, truncation included).
    pub missing_bytes: u64,
    /// Bytes buffered out of order right now, over all connections.
    pub buffered_bytes: u64,
    /// Highest value `buffered_bytes` reached.
    pub buffered_bytes_peak: u64,
    /// KeepAliveProbe events emitted.
    pub keepalive_probes: u64,
}

/// Marks the end of the LRU list and an empty link.
const NIL: u32 = u32::MAX;

/// Ring memory the out-of-order stores may hold over all connections, as a
/// multiple of `max_buffered_total`: rings are sized by the span of the window they
/// cover, which can exceed the bytes they hold, and that memory must be bounded too.
const RESERVE_FACTOR: u64 = 2;
/// Floor of the ring-memory bound, so tiny `max_buffered_total` values in tests
/// still leave room for one ring.
const MIN_RESERVE: u64 = 64 * 1024;

/// One entry of the connection slab, linked into the LRU list (head = most
/// recently active), so that eviction and idle expiry never scan the table.
struct Slot {
    conn: Option<Box<Conn>>,
    prev: u32,
    next: u32,
}

/// A direction whose out-of-order store became non-empty, in the order that
/// happened: the global buffering bound gives up the oldest first (the gap that has
/// waited longest is the one least likely to be filled).
#[derive(Copy, Clone, Debug)]
struct Pending {
    slot: u32,
    conn: ConnId,
    dir: Dir,
    epoch: u64,
}

/// The flow table and reassembler. Feed it segments in capture order.
///
/// Policies (see the module docs of `stream` and `assembler` for reassembly):
/// - the per-direction bound `max_buffered_per_conn` is the span of the reassembly
///   window: a segment beyond it gives up the oldest gaps of that direction;
/// - the global bound `max_buffered_total` gives up *all* gaps of the direction
///   that started buffering longest ago, until the new segment fits;
/// - tombstones (closed connections kept to absorb trailing packets) count toward
///   `max_connections` and are dropped silently when evicted or idle.
pub struct TcpTracker {
    config: TcpConfig,
    stats: TcpStats,
    table: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slab: Vec<Slot>,
    free_slots: Vec<u32>,
    lru_head: u32,
    lru_tail: u32,
    next_id: ConnId,
    pending: VecDeque<Pending>,
    /// Queue length at which stale `pending` entries are swept out.
    compact_pending_at: usize,
    /// Ring bytes allocated over all connections.
    reserved: u64,
    /// Connections that became tombstones, oldest first (slot, id). Entries whose
    /// slot was reused meanwhile are stale and skipped; the queue never holds more
    /// than `max_tombstones` entries, so neither do the tombstones.
    tombstones: VecDeque<(u32, ConnId)>,
}

impl TcpTracker {
    pub fn new(config: TcpConfig) -> TcpTracker {
        TcpTracker {
            config,
            stats: TcpStats::default(),
            // Seeded per process: the 4-tuples come from hostile traffic.
            table: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slab: Vec::new(),
            free_slots: Vec::new(),
            lru_head: NIL,
            lru_tail: NIL,
            next_id: 0,
            pending: VecDeque::new(),
            compact_pending_at: 64,
            reserved: 0,
            tombstones: VecDeque::new(),
        }
    }

    /// Processes one segment captured at `ts`.
    pub fn on_segment(&mut self, ts: Timestamp, seg: &TcpSegment<'_>, sink: &mut impl StreamSink) {
        self.stats.segments += 1;
        let key = FlowKey::of(seg);
        let syn = seg.flags.syn && !seg.flags.rst;
        let slot = match self.table.get(&key).copied() {
            Some(slot) => {
                let starts_new = syn
                    && self.slab[slot as usize].conn.as_ref().is_none_or(|c| c.syn_starts_new(seg));
                if starts_new {
                    self.drop_conn(slot, EndReason::PortReuse, ts, sink);
                    self.open(ts, seg, key, sink)
                } else {
                    slot
                }
            }
            None => self.open(ts, seg, key, sink),
        };
        self.touch(slot, ts);
        // The connection is taken out of the slab while it is processed, so the
        // global buffering bound can reach other connections meanwhile.
        let Some(mut conn) = self.slab[slot as usize].conn.take() else { return };
        if !conn.tombstone {
            self.process(slot, &mut conn, ts, seg, sink);
            if conn.tombstone {
                self.tombstones.push_back((slot, conn.id));
            }
        }
        self.slab[slot as usize].conn = Some(conn);
        self.bound_tombstones(ts, sink);
    }

    /// Forgets the longest-closed tombstones beyond `max_tombstones`.
    fn bound_tombstones(&mut self, ts: Timestamp, sink: &mut impl StreamSink) {
        while self.tombstones.len() > self.config.max_tombstones {
            let Some((slot, id)) = self.tombstones.pop_front() else { break };
            let still_there = self.slab[slot as usize].conn.as_ref().is_some_and(|c| c.id == id && c.tombstone);
            if still_there {
                // A tombstone ends silently: no events reach the sink.
                self.drop_conn(slot, EndReason::Closed, ts, sink);
            }
        }
    }

    /// Closed connections currently kept as tombstones (for tests and memory checks).
    pub fn tombstone_count(&self) -> usize {
        self.slab.iter().filter(|s| s.conn.as_ref().is_some_and(|c| c.tombstone)).count()
    }

    /// Ends connections idle since before `now - idle_timeout` (reason `Expired`).
    pub fn expire_idle(&mut self, now: Timestamp, sink: &mut impl StreamSink) {
        let mut idle: Vec<(ConnId, u32)> = Vec::new();
        let mut slot = self.lru_tail;
        while slot != NIL {
            let entry = &self.slab[slot as usize];
            let Some(conn) = entry.conn.as_ref() else { break };
            if now.0.saturating_sub(conn.last_seen.0) <= self.config.idle_timeout_ns {
                // The list is in activity order: everything before is more recent.
                break;
            }
            idle.push((conn.id, slot));
            slot = entry.prev;
        }
        idle.sort_unstable();
        for (_, slot) in idle {
            self.drop_conn(slot, EndReason::Expired, now, sink);
        }
    }

    /// End of input: gives up remaining gaps (Missing), then ends every connection
    /// still in the table (reason `EndOfInput`), in ConnId order.
    pub fn finish(&mut self, now: Timestamp, sink: &mut impl StreamSink) {
        let mut live: Vec<(ConnId, u32)> = self
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.conn.as_ref().filter(|c| !c.tombstone).map(|c| (c.id, i as u32)))
            .collect();
        live.sort_unstable();
        for &(_, slot) in &live {
            if let Some(conn) = self.slab[slot as usize].conn.as_mut() {
                for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                    let mut ctx = Ctx {
                        sink: &mut *sink,
                        stats: &mut self.stats,
                        reserved: &mut self.reserved,
                        conn: conn.id,
                        dir,
                        ts: now,
                    };
                    conn.halves[dir.index()].stream.close(&mut ctx);
                }
            }
        }
        for &(_, slot) in &live {
            self.drop_conn(slot, EndReason::EndOfInput, now, sink);
        }
        // Only tombstones are left: forget them silently.
        self.table.clear();
        self.slab.clear();
        self.free_slots.clear();
        self.pending.clear();
        self.tombstones.clear();
        self.lru_head = NIL;
        self.lru_tail = NIL;
    }

    pub fn stats(&self) -> TcpStats {
        self.stats.clone()
    }

    /// Creates the connection for a segment of an unknown 4-tuple and emits Open.
    fn open<S: StreamSink>(&mut self, ts: Timestamp, seg: &TcpSegment<'_>, key: FlowKey, sink: &mut S) -> u32 {
        while self.table.len() >= self.config.max_connections.max(1) && self.lru_tail != NIL {
            self.drop_conn(self.lru_tail, EndReason::Expired, ts, sink);
        }
        let f = seg.flags;
        let (client, server, syn_seen, roles_known) = if f.syn && !f.ack && !f.rst {
            (seg.src, seg.dst, true, true)
        } else if f.syn && f.ack && !f.rst {
            (seg.dst, seg.src, false, true)
        } else {
            // Picked up mid-stream: servers usually listen on the lower port.
            let src_is_server = match seg.src.port.cmp(&seg.dst.port) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Equal => seg.src < seg.dst,
            };
            if src_is_server {
                (seg.dst, seg.src, false, false)
            } else {
                (seg.src, seg.dst, false, false)
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        self.stats.connections += 1;
        sink.on_stream_event(id, StreamEvent::Open { client, server, syn_seen, roles_known, ts });
        let conn = Box::new(Conn::new(id, key, client, f.syn && !f.rst, ts));
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slab[slot as usize].conn = Some(conn);
                slot
            }
            None => {
                self.slab.push(Slot { conn: Some(conn), prev: NIL, next: NIL });
                (self.slab.len() - 1) as u32
            }
        };
        self.table.insert(key, slot);
        self.lru_push_front(slot);
        slot
    }

    /// Removes a connection from the table; a live one is ended with `reason`
    /// first (its gaps given up), a tombstone silently.
    fn drop_conn<S: StreamSink>(&mut self, slot: u32, reason: EndReason, ts: Timestamp, sink: &mut S) {
        let Some(mut conn) = self.slab[slot as usize].conn.take() else { return };
        if !conn.tombstone {
            end_conn(&mut conn, reason, ts, sink, &mut self.stats, &mut self.reserved);
        }
        self.table.remove(&conn.key);
        self.lru_unlink(slot);
        self.free_slots.push(slot);
    }

    fn touch(&mut self, slot: u32, ts: Timestamp) {
        if let Some(conn) = self.slab[slot as usize].conn.as_mut() {
            // Timestamps can go backwards in real captures; activity never does.
            conn.last_seen = conn.last_seen.max(ts);
        }
        if self.lru_head != slot {
            self.lru_unlink(slot);
            self.lru_push_front(slot);
        }
    }

    fn lru_unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let s = &self.slab[slot as usize];
            (s.prev, s.next)
        };
        if prev != NIL {
            self.slab[prev as usize].next = next;
        } else if self.lru_head == slot {
            self.lru_head = next;
        }
        if next != NIL {
            self.slab[next as usize].prev = prev;
        } else if self.lru_tail == slot {
            self.lru_tail = prev;
        }
        let s = &mut self.slab[slot as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn lru_push_front(&mut self, slot: u32) {
        let old_head = self.lru_head;
        {
            let s = &mut self.slab[slot as usize];
            s.prev = NIL;
            s.next = old_head;
        }
        if old_head != NIL {
            self.slab[old_head as usize].prev = slot;
        } else {
            self.lru_tail = slot;
        }
        self.lru_head = slot;
    }

    /// The state machine for one segment of a live connection.
    fn process<S: StreamSink>(
        &mut self,
        slot: u32,
        conn: &mut Conn,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) {
        let dir = conn.dir_of(&seg.src);
        let (me, peer) = (dir.index(), dir.flip().index());
        let f = seg.flags;
        let seq = SeqNum(seg.seq);
        let ack = SeqNum(seg.ack);
        let id = conn.id;

        if seg.payload_len > 0 || f.fin || f.rst {
            // The peer's held FIN was sent before this segment was: it goes first,
            // its missing bytes given up, so that who closed first, and what was
            // sent after a close, read as on the wire.
            release_fin(conn, dir.flip(), sink, &mut self.stats, &mut self.reserved);
        }

        if f.syn && !f.rst {
            let half = &mut conn.halves[me];
            match half.isn {
                Some(isn) if isn == seq && half.syn_seen => self.stats.retransmitted_segments += 1,
                Some(_) => {}
                None => {
                    half.isn = Some(seq);
                    half.stream.start(seq + 1);
                }
            }
            if half.isn == Some(seq) {
                half.syn_seen = true;
                half.note_sent_up_to(seq + 1);
            }
            if f.ack {
                // A SYN-ACK acknowledges the client's ISN: that fixes where the
                // client's stream starts even when its SYN was not captured.
                let other = &mut conn.halves[peer];
                if other.isn.is_none() && !other.stream.is_started() {
                    other.isn = Some(ack - 1);
                    other.stream.start(ack);
                }
            }
        }

        if !conn.established && dir == Dir::ClientToServer && f.ack && !f.syn && !f.rst {
            if let Some(server_isn) = conn.halves[Dir::ServerToClient.index()].isn {
                if ack == server_isn + 1 {
                    conn.established = true;
                    sink.on_stream_event(id, StreamEvent::Established { ts });
                }
            }
        }

        if f.rst {
            // What was sent before the reset comes first: give up the gaps and
            // deliver what is buffered, then report the RST.
            release_fin(conn, dir, sink, &mut self.stats, &mut self.reserved);
            for d in [Dir::ClientToServer, Dir::ServerToClient] {
                let mut ctx = Ctx {
                    sink: &mut *sink,
                    stats: &mut self.stats,
                    reserved: &mut self.reserved,
                    conn: id,
                    dir: d,
                    ts,
                };
                conn.halves[d.index()].stream.close(&mut ctx);
            }
            if !conn.halves[me].rst {
                conn.halves[me].rst = true;
                sink.on_stream_event(id, StreamEvent::Rst { dir, ts });
            }
            end_conn(conn, EndReason::Closed, ts, sink, &mut self.stats, &mut self.reserved);
            conn.tombstone = true;
            return;
        }

        if f.ack {
            if let Some((probe_seq, probe_ts)) = conn.halves[peer].idle_probe_candidate {
                if ack == probe_seq + 1 {
                    // Recognised only now: report the probe (with its own time)
                    // and its answer.
                    conn.halves[peer].idle_probe_candidate = None;
                    self.stats.keepalive_probes += 1;
                    sink.on_stream_event(id, StreamEvent::KeepAliveProbe { dir: dir.flip(), ts: probe_ts });
                    sink.on_stream_event(id, StreamEvent::KeepAliveAck { dir: dir.flip(), ts });
                }
            }
            if conn.halves[peer].probe_answer == Some(ack) {
                conn.halves[peer].probe_answer = None;
                sink.on_stream_event(id, StreamEvent::KeepAliveAck { dir: dir.flip(), ts });
            }
            let mut ctx = Ctx {
                sink: &mut *sink,
                stats: &mut self.stats,
                reserved: &mut self.reserved,
                conn: id,
                dir: dir.flip(),
                ts,
            };
            let peer_fin = conn.held_fin.filter(|h| h.dir != dir);
            // An ACK of a held FIN covers its sequence number too, which is no byte.
            let acked_bytes = match peer_fin {
                Some(held) if ack.diff(held.seq) > 0 => held.seq,
                _ => ack,
            };
            conn.halves[peer].stream.on_peer_ack(acked_bytes, &mut ctx);
            if peer_fin.is_some_and(|h| conn.halves[peer].stream.delivered_up_to(h.seq)) {
                release_fin(conn, dir.flip(), sink, &mut self.stats, &mut self.reserved);
                if self.end_if_both_closed(conn, ts, sink) {
                    return;
                }
            }
            let half = &mut conn.halves[me];
            half.last_ack = Some(half.last_ack.map_or(ack, |a| a.max(ack)));
        }

        // Bytes on the wire; a decoder bug must not make us read past the capture.
        let wire_len = seg.payload_len as u64;
        let captured = &seg.payload[..seg.payload.len().min(seg.payload_len as usize)];

        // Only the peer's very next ACK can confirm an idle-start candidate.
        conn.halves[me].idle_probe_candidate = None;
        if !f.syn && !f.fin && wire_len == 0 {
            let mine = &conn.halves[me];
            if mine.next_seq.is_none() && !mine.stream.is_started() && conn.halves[peer].last_ack.is_none() {
                conn.halves[me].idle_probe_candidate = Some((seq, ts));
            }
        }
        let zero_window_probe = !f.syn && !f.fin && wire_len == 1 && is_zero_window_probe(conn, me, peer, seq);
        if !f.syn && !f.fin && wire_len <= 1 && !zero_window_probe && is_keepalive_probe(conn, me, peer, seq, wire_len) {
            self.stats.keepalive_probes += 1;
            conn.halves[me].probe_answer = Some(seq + 1);
            conn.halves[me].window = Some(seg.window);
            sink.on_stream_event(id, StreamEvent::KeepAliveProbe { dir, ts });
            return;
        }
        conn.halves[me].window = Some(seg.window);

        let data_seq = if f.syn { seq + 1 } else { seq };
        if wire_len > 0 {
            {
                let half = &mut conn.halves[me];
                half.stream.start(data_seq);
                // Like Wireshark, a zero-window probe does not move "next expected":
                // its byte is sent again once the window opens, and the sender's
                // pure ACKs meanwhile sit at the old value, not one below it.
                if !zero_window_probe {
                    half.note_sent_up_to(data_seq + wire_len as u32);
                }
                // New data supersedes an unanswered probe.
                half.probe_answer = None;
            }
            self.make_room(slot, conn, dir, data_seq, captured.len(), ts, sink);
            let room = Room {
                window: self.config.max_buffered_per_conn,
                bytes: (self.config.max_buffered_total as u64).saturating_sub(self.stats.buffered_bytes),
                reserve: self.max_reserve().saturating_sub(self.reserved),
            };
            let mut ctx = Ctx {
                sink: &mut *sink,
                stats: &mut self.stats,
                reserved: &mut self.reserved,
                conn: id,
                dir,
                ts,
            };
            let out = conn.halves[me].stream.on_payload(data_seq, captured, wire_len, room, &mut ctx);
            if out.retransmitted {
                self.stats.retransmitted_segments += 1;
            }
            if let Some(held) = conn.held_fin.as_mut().filter(|h| h.dir == dir) {
                // The FIN ends these bytes: it is reported no earlier.
                held.ts = held.ts.max(ts);
                let seq = held.seq;
                if conn.halves[me].stream.delivered_up_to(seq) {
                    release_fin(conn, dir, sink, &mut self.stats, &mut self.reserved);
                    if self.end_if_both_closed(conn, ts, sink) {
                        return;
                    }
                }
            }
            if out.started_buffering {
                let half = &mut conn.halves[me];
                half.buffer_epoch += 1;
                let entry = Pending { slot, conn: id, dir, epoch: half.buffer_epoch };
                self.push_pending(entry, slot, conn);
            }
        }

        if f.fin {
            let fin_seq = data_seq + wire_len as u32;
            let first_fin = !conn.halves[me].fin;
            conn.halves[me].note_sent_up_to(fin_seq + 1);
            if first_fin {
                conn.halves[me].fin = true;
                // Held (the peer's held FIN, if any, was handed on above), and
                // handed on at once unless bytes before it are still missing.
                conn.held_fin = Some(HeldFin { dir, seq: fin_seq, ts });
                if conn.halves[me].stream.delivered_up_to(fin_seq) {
                    release_fin(conn, dir, sink, &mut self.stats, &mut self.reserved);
                    self.end_if_both_closed(conn, ts, sink);
                }
            } else if wire_len == 0 {
                self.stats.retransmitted_segments += 1;
            }
        }
    }

    /// After a FIN was handed on: once both sides' FINs have been, the
    /// connection ends (returns true; it is a tombstone now).
    fn end_if_both_closed<S: StreamSink>(&mut self, conn: &mut Conn, ts: Timestamp, sink: &mut S) -> bool {
        if !(conn.halves[0].fin && conn.halves[1].fin && conn.held_fin.is_none()) {
            return false;
        }
        end_conn(conn, EndReason::Closed, ts, sink, &mut self.stats, &mut self.reserved);
        conn.tombstone = true;
        true
    }

    fn max_reserve(&self) -> u64 {
        (self.config.max_buffered_total as u64).saturating_mul(RESERVE_FACTOR).max(MIN_RESERVE)
    }

    /// Before buffering a segment out of order: if it would break the global
    /// bounds, give up all gaps of the directions that started buffering longest ago
    /// until it fits (possibly this very direction).
    #[allow(clippy::too_many_arguments)]
    fn make_room<S: StreamSink>(
        &mut self,
        slot: u32,
        conn: &mut Conn,
        dir: Dir,
        seq: SeqNum,
        captured: usize,
        ts: Timestamp,
        sink: &mut S,
    ) {
        let max_total = self.config.max_buffered_total as u64;
        let max_reserve = self.max_reserve();
        loop {
            let stream = &conn.halves[dir.index()].stream;
            let Some((bytes, grow)) = stream.ooo_demand(seq, captured, self.config.max_buffered_per_conn) else {
                return;
            };
            if self.stats.buffered_bytes + bytes <= max_total && self.reserved + grow <= max_reserve {
                return;
            }
            if bytes > max_total || grow > max_reserve {
                // Could never fit: the stream gives its own gap up instead.
                return;
            }
            let Some(p) = self.pending.pop_front() else { return };
            let target: Option<&mut Conn> = if p.slot == slot {
                Some(&mut *conn)
            } else {
                self.slab.get_mut(p.slot as usize).and_then(|s| s.conn.as_deref_mut())
            };
            let Some(target) = target else { continue };
            let half = &mut target.halves[p.dir.index()];
            if target.id != p.conn || target.tombstone || half.buffer_epoch != p.epoch {
                continue;
            }
            let mut ctx = Ctx {
                sink: &mut *sink,
                stats: &mut self.stats,
                reserved: &mut self.reserved,
                conn: p.conn,
                dir: p.dir,
                ts,
            };
            half.stream.flush(true, &mut ctx);
        }
    }

    fn push_pending(&mut self, entry: Pending, current_slot: u32, current: &Conn) {
        self.pending.push_back(entry);
        if self.pending.len() < self.compact_pending_at {
            return;
        }
        // Sweep entries whose direction has since emptied (gap filled, connection
        // gone): amortised O(1) per push, and the queue stays proportional to the
        // number of directions actually buffering.
        let slab = &self.slab;
        self.pending.retain(|p| {
            let conn = if p.slot == current_slot {
                Some(current)
            } else {
                slab.get(p.slot as usize).and_then(|s| s.conn.as_deref())
            };
            conn.is_some_and(|c| {
                let half = &c.halves[p.dir.index()];
                c.id == p.conn && !c.tombstone && half.buffer_epoch == p.epoch && half.stream.has_buffered()
            })
        });
        self.compact_pending_at = (self.pending.len() * 2).max(64);
    }
}

/// Wireshark's keep-alive rule, improved as wireshark-behaviour.md §1a/§5 says:
/// a segment of 0 or 1 byte (no SYN/FIN/RST, checked by the caller) one before the
/// next expected sequence number. "Next expected" is what this side sent so far or,
/// when the capture began while the connection was idle, the peer's ACK. A 1-byte
/// segment qualifies only if the peer already acknowledged that byte (otherwise it
/// is a retransmission of the last byte). A 1-byte segment *at* the next sequence
/// number while the peer advertises a zero window is a zero-window probe: data.
fn is_keepalive_probe(conn: &Conn, me: usize, peer: usize, seq: SeqNum, wire_len: u64) -> bool {
    let next = conn.halves[me].next_seq;
    let peer_ack = conn.halves[peer].last_ack;
    let one_before_next = next.is_some_and(|n| seq == n - 1)
        || peer_ack.is_some_and(|a| seq == a - 1 && next.is_none_or(|n| a >= n));
    if !one_before_next {
        return false;
    }
    wire_len == 0 || peer_ack.is_some_and(|a| a > seq)
}

/// A 1-byte segment (checked by the caller) at the next expected sequence number
/// while the peer advertises a zero window: data probing the window, not a
/// keep-alive.
fn is_zero_window_probe(conn: &Conn, me: usize, peer: usize, seq: SeqNum) -> bool {
    let theirs = &conn.halves[peer];
    let at_next = conn.halves[me].next_seq.map_or(theirs.last_ack == Some(seq), |n| n == seq);
    theirs.window == Some(0) && at_next
}

/// Hands on side `dir`'s held FIN, if there is one (`HeldFin`), with its own
/// time: the bytes still missing before it are given up.
fn release_fin<S: StreamSink>(conn: &mut Conn, dir: Dir, sink: &mut S, stats: &mut TcpStats, reserved: &mut u64) {
    let Some(held) = conn.held_fin.filter(|h| h.dir == dir) else { return };
    conn.held_fin = None;
    let ts = held.ts;
    let mut ctx = Ctx { sink: &mut *sink, stats, reserved, conn: conn.id, dir, ts };
    conn.halves[dir.index()].stream.on_fin(held.seq, &mut ctx);
    sink.on_stream_event(conn.id, StreamEvent::Fin { dir, ts });
}

/// Hands on a held FIN, gives up both directions' gaps and emits `End`.
fn end_conn<S: StreamSink>(
    conn: &mut Conn,
    reason: EndReason,
    ts: Timestamp,
    sink: &mut S,
    stats: &mut TcpStats,
    reserved: &mut u64,
) {
    if let Some(held) = conn.held_fin {
        release_fin(conn, held.dir, sink, stats, reserved);
    }
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        let mut ctx = Ctx { sink: &mut *sink, stats: &mut *stats, reserved: &mut *reserved, conn: conn.id, dir, ts };
        conn.halves[dir.index()].stream.close(&mut ctx);
    }
    sink.on_stream_event(conn.id, StreamEvent::End { ts, reason });
}
