//! State of one tracked connection: roles, per-side handshake/FIN/RST flags, the
//! values keep-alive detection needs, and the two reassembly streams.

use super::seq::SeqNum;
use super::stream::Stream;
use super::{ConnId, Dir};
use crate::decode::{Endpoint, TcpSegment};
use crate::time::Timestamp;

/// Flow-table key: the two endpoints in canonical order plus the VLAN, so both
/// directions of a connection find the same entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
    vlan: u32,
}

impl FlowKey {
    pub fn of(seg: &TcpSegment<'_>) -> FlowKey {
        let (lo, hi) = if seg.src <= seg.dst { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
        FlowKey { lo, hi, vlan: seg.vlan }
    }
}

/// What one side (the sender of one direction) has done.
#[derive(Debug, Default)]
pub(crate) struct Half {
    /// Initial sequence number, from its SYN (or inferred from the peer's SYN-ACK).
    pub isn: Option<SeqNum>,
    /// This side's own SYN was captured (the ISN may also be inferred from the
    /// peer's SYN-ACK; a SYN arriving after its SYN-ACK is then no retransmission).
    pub syn_seen: bool,
    /// A FIN was seen (its Fin event is emitted, or it is `Conn::held_fin`).
    pub fin: bool,
    /// A RST was seen.
    pub rst: bool,
    /// Wireshark's "nextseq": highest seq + length (+1 for SYN/FIN) this side sent,
    /// keep-alive probes excluded.
    pub next_seq: Option<SeqNum>,
    /// Highest acknowledgement number this side sent (about the peer's stream).
    pub last_ack: Option<SeqNum>,
    /// Last window this side advertised.
    pub window: Option<u16>,
    /// The ACK number that would answer this side's last keep-alive probe.
    pub probe_answer: Option<SeqNum>,
    /// A bare 0-byte segment sent before anything was known about this side's
    /// sequence space (capture started while idle): a keep-alive probe if the
    /// peer's next ACK is exactly one past it. (seq, capture time).
    pub idle_probe_candidate: Option<(SeqNum, Timestamp)>,
    /// Bumped each time this side's out-of-order store becomes non-empty, so stale
    /// entries of the tracker's oldest-first queue can be recognised.
    pub buffer_epoch: u64,
    pub stream: Stream,
}

impl Half {
    pub fn note_sent_up_to(&mut self, end: SeqNum) {
        self.next_seq = Some(self.next_seq.map_or(end, |n| n.max(end)));
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub key: FlowKey,
    pub client: Endpoint,
    /// Opened by a SYN or SYN-ACK (not picked up mid-stream).
    pub from_handshake: bool,
    pub established: bool,
    /// Ended (End{Closed} emitted); the entry only absorbs trailing packets.
    pub tombstone: bool,
    pub last_seen: Timestamp,
    /// Indexed by `Dir::index()` of the direction the side sends in.
    pub halves: [Half; 2],
    /// A FIN captured before some of the bytes it ends, not handed on yet.
    pub held_fin: Option<HeldFin>,
}

/// A FIN captured before some of the bytes it ends: the capture put the last data
/// segment after it (reordering on the way to the capture point). Giving the gap
/// up at once would lose those bytes and cut the last message short, so the FIN is
/// held until they are delivered, until the peer acknowledges the FIN (they were
/// sent, just not captured), or until anything else happens on the connection that
/// must come after it: the peer sending data or its own FIN, a RST, the end. Only
/// one can be held at a time, since the peer's FIN hands on the one held before it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct HeldFin {
    pub dir: Dir,
    pub seq: SeqNum,
    /// When it was captured, or the time of data it ends captured after it.
    pub ts: Timestamp,
}

impl Conn {
    pub fn new(id: ConnId, key: FlowKey, client: Endpoint, from_handshake: bool, ts: Timestamp) -> Conn {
        Conn {
            id,
            key,
            client,
            from_handshake,
            established: false,
            tombstone: false,
            last_seen: ts,
            halves: [Half::default(), Half::default()],
            held_fin: None,
        }
    }

    /// Direction of a segment sent by `src`.
    pub fn dir_of(&self, src: &Endpoint) -> Dir {
        if *src == self.client {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        }
    }

    /// Whether a SYN (or SYN-ACK) `seg` starts a new connection on this 4-tuple
    /// rather than belonging to this one.
    pub fn syn_starts_new(&self, seg: &TcpSegment<'_>) -> bool {
        if self.tombstone {
            return true;
        }
        let dir = self.dir_of(&seg.src);
        let half = &self.halves[dir.index()];
        match half.isn {
            // Same ISN: a retransmitted SYN / SYN-ACK.
            Some(isn) => isn != SeqNum(seg.seq),
            // The server's first SYN-ACK after the client's SYN is expected.
            None => !(self.from_handshake && seg.flags.ack && dir == Dir::ServerToClient),
        }
    }
}
