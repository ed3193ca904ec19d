//! Reassembly of one direction of a connection: maps sequence numbers to stream
//! offsets, delivers bytes in order (straight from the packet when they arrive in
//! order), buffers out-of-order bytes in the `Assembler`, and gives gaps up.
//!
//! Overlap policy: **the first copy seen wins.** Bytes already delivered are never
//! delivered again; bytes already buffered are kept and compared with the new copy
//! (`overlaps_differing` counts segments whose overlapping bytes differed). Bytes
//! already delivered are not compared: in-order data is handed on without being
//! copied, so there is nothing left to compare against.

use super::assembler::{Assembler, Refused};
use super::seq::SeqNum;
use super::{ConnId, Dir, StreamEvent, StreamSink, TcpStats};
use crate::time::Timestamp;

/// Everything the reassembler needs to report to: the sink, the counters, and the
/// identity of the direction it works for.
pub(crate) struct Ctx<'a, S: StreamSink> {
    pub sink: &'a mut S,
    pub stats: &'a mut TcpStats,
    /// Ring bytes allocated over all connections (memory bound bookkeeping).
    pub reserved: &'a mut u64,
    pub conn: ConnId,
    pub dir: Dir,
    pub ts: Timestamp,
}

impl<S: StreamSink> Ctx<'_, S> {
    fn data(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.sink
                .on_stream_event(self.conn, StreamEvent::Data { dir: self.dir, ts: self.ts, bytes });
        }
    }

    fn missing(&mut self, offset: u64, len: u64, forced: bool) {
        self.stats.missing_bytes += len;
        if forced {
            self.stats.gaps_forced += 1;
        }
        self.sink.on_stream_event(
            self.conn,
            StreamEvent::Missing { dir: self.dir, ts: self.ts, offset, len },
        );
    }
}

/// How much more the out-of-order store of this direction may take right now.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Room {
    /// Span of the reassembly window: max_buffered_per_conn.
    pub window: usize,
    /// Bytes that may still be buffered over all connections.
    pub bytes: u64,
    /// Ring bytes that may still be allocated over all connections.
    pub reserve: u64,
}

/// What the tracker must know after a payload was handled.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct PayloadOutcome {
    /// Some byte of the segment had been received before.
    pub retransmitted: bool,
    /// The store went from empty to non-empty (the tracker queues it for the
    /// oldest-first global bound).
    pub started_buffering: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Stream {
    started: bool,
    /// Sequence number of the next byte to deliver.
    next_seq: SeqNum,
    /// Stream offset of the next byte to deliver (0 = first byte after the SYN, or
    /// the first byte seen when the SYN was not captured).
    next_offset: u64,
    /// After FIN or RST: nothing more is accepted.
    closed: bool,
    asm: Assembler,
}

impl Stream {
    pub fn is_started(&self) -> bool {
        self.started
    }

    pub fn has_buffered(&self) -> bool {
        !self.asm.is_empty()
    }

    /// Starts the stream with `seq` as offset 0 (no-op once started).
    pub fn start(&mut self, seq: SeqNum) {
        if !self.started {
            self.started = true;
            self.next_seq = seq;
            self.next_offset = 0;
        }
    }

    /// Stream offset of `seq`, relative to the delivery point (may be negative for
    /// data before the stream start).
    fn offset_of(&self, seq: SeqNum) -> i64 {
        self.next_offset as i64 + seq.diff(self.next_seq) as i64
    }

    fn advance(&mut self, n: u64) {
        self.next_offset += n;
        // n < 2^32: every jump comes from a serial difference or a segment length.
        self.next_seq = self.next_seq + n as u32;
    }

    /// What buffering a payload at `seq` would take: `(bytes, ring growth)`, or
    /// `None` when it would not be buffered (in order, old, or closed).
    pub fn ooo_demand(&self, seq: SeqNum, captured: usize, window: usize) -> Option<(u64, u64)> {
        if !self.started || self.closed || captured == 0 {
            return None;
        }
        let off = self.offset_of(seq);
        let start = off.max(self.next_offset as i64);
        let end = off + captured as i64;
        if start == self.next_offset as i64 || end <= start {
            return None;
        }
        let (start, end) = (start as u64, end as u64);
        if end - self.next_offset > window as u64 {
            // Will give up gaps instead; the growth is bounded by the window.
            return Some((end - start, (window as u64).saturating_sub(self.asm.capacity())));
        }
        let grow = self.asm.capacity_needed(self.next_offset, end, window) - self.asm.capacity();
        Some((end - start, grow))
    }

    /// Handles the payload of a segment: `payload` are the captured bytes, `wire_len`
    /// the length on the wire (larger when the snaplen cut the packet).
    pub fn on_payload<S: StreamSink>(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        wire_len: u64,
        room: Room,
        ctx: &mut Ctx<'_, S>,
    ) -> PayloadOutcome {
        let mut out = PayloadOutcome::default();
        if !self.started || wire_len == 0 {
            return out;
        }
        if self.closed {
            // After FIN/RST: only retransmissions of old data are legitimate.
            out.retransmitted = self.offset_of(seq) < self.next_offset as i64;
            return out;
        }
        let was_empty = self.asm.is_empty();
        loop {
            let off = self.offset_of(seq);
            let wire_end = off + wire_len as i64;
            let front = self.next_offset as i64;
            if wire_end <= front {
                out.retransmitted = true;
                break;
            }
            let skip = (front - off).max(0) as u64;
            let start = (off + skip as i64) as u64;
            let captured = &payload[(skip.min(payload.len() as u64)) as usize..];
            let cap_end = start + captured.len() as u64;
            if skip > 0 || self.asm.overlaps(start, cap_end) {
                out.retransmitted = true;
            }
            if start == self.next_offset {
                self.deliver_in_order(captured, wire_end as u64, ctx);
                break;
            }
            if captured.is_empty() {
                // Only never-captured bytes lie ahead: nothing to store. The hole
                // stays open until it is given up like any other.
                break;
            }
            // Out of order: make it fit the window, the hole list and the budget.
            if cap_end - self.next_offset > room.window as u64 {
                // Give up gaps until it fits; a segment longer than the whole window
                // only needs the gap in front of it given up (then it is in order).
                let target = (cap_end - room.window as u64).min(start);
                self.skip_to(target, true, ctx);
                continue;
            }
            let grow = self.asm.capacity_needed(self.next_offset, cap_end, room.window)
                - self.asm.capacity();
            if captured.len() as u64 > room.bytes || grow > room.reserve {
                // No budget left even after the tracker freed the oldest buffers:
                // give up the gap in front of this segment so it can go through now.
                self.skip_to(start, true, ctx);
                continue;
            }
            match self.asm.insert(self.next_offset, start, captured, room.window) {
                Ok(ins) => {
                    if ins.differs {
                        ctx.stats.overlaps_differing += 1;
                    }
                    ctx.stats.buffered_bytes += ins.new_bytes;
                    ctx.stats.buffered_bytes_peak =
                        ctx.stats.buffered_bytes_peak.max(ctx.stats.buffered_bytes);
                    *ctx.reserved += ins.grown_by;
                    break;
                }
                Err(Refused::TooManyHoles) => {
                    self.give_up_first_gap(ctx);
                }
            }
        }
        out.started_buffering = was_empty && !self.asm.is_empty();
        out
    }

    /// In-order delivery of `captured` (which starts at the delivery point), merged
    /// with buffered runs it runs into; then the truncated tail, then whatever
    /// buffered data became contiguous.
    fn deliver_in_order<S: StreamSink>(&mut self, captured: &[u8], wire_end: u64, ctx: &mut Ctx<'_, S>) {
        let base = self.next_offset;
        let cap_end = base + captured.len() as u64;
        let mut differs = false;
        while self.next_offset < cap_end {
            let pos = (self.next_offset - base) as usize;
            match self.asm.first() {
                Some((cs, ce)) if cs == self.next_offset => {
                    // Already buffered: the buffered (first-seen) copy wins.
                    let overlap_end = ce.min(cap_end);
                    let (a, b) = self.asm.bytes(cs, overlap_end);
                    let new_copy = &captured[pos..pos + (overlap_end - cs) as usize];
                    if a != &new_copy[..a.len()] || b != &new_copy[a.len()..] {
                        differs = true;
                    }
                    self.deliver_first_run(ctx);
                }
                next_run => {
                    let upto = next_run.map_or(cap_end, |(cs, _)| cs.min(cap_end));
                    let run = (upto - self.next_offset) as usize;
                    ctx.data(&captured[pos..pos + run]);
                    self.advance(run as u64);
                }
            }
        }
        if differs {
            ctx.stats.overlaps_differing += 1;
        }
        if wire_end > self.next_offset {
            // The snaplen cut the segment: the rest was sent but not captured.
            self.skip_to(wire_end, false, ctx);
        }
        self.deliver_contiguous(ctx);
    }

    /// Delivers the first buffered run (which must start at the delivery point).
    fn deliver_first_run<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        let Some((cs, ce)) = self.asm.first() else { return };
        debug_assert_eq!(cs, self.next_offset);
        let (a, b) = self.asm.bytes(cs, ce);
        ctx.data(a);
        ctx.data(b);
        self.advance(ce - cs);
        ctx.stats.buffered_bytes -= ce - cs;
        *ctx.reserved -= self.asm.pop_front();
    }

    fn deliver_contiguous<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        while matches!(self.asm.first(), Some((cs, _)) if cs == self.next_offset) {
            self.deliver_first_run(ctx);
        }
    }

    /// Gives up everything before stream offset `target`: holes become `Missing`,
    /// buffered runs are delivered (whole, even past `target`). `forced` marks gaps
    /// given up to keep a buffering bound.
    fn skip_to<S: StreamSink>(&mut self, target: u64, forced: bool, ctx: &mut Ctx<'_, S>) {
        while self.next_offset < target {
            match self.asm.first() {
                Some((cs, _)) if cs == self.next_offset => self.deliver_first_run(ctx),
                next_run => {
                    let hole_end = next_run.map_or(target, |(cs, _)| cs.min(target));
                    let len = hole_end - self.next_offset;
                    ctx.missing(self.next_offset, len, forced);
                    self.advance(len);
                }
            }
        }
        self.deliver_contiguous(ctx);
    }

    /// Gives up the gap in front of the first buffered run (buffering bound).
    pub fn give_up_first_gap<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        if let Some((cs, _)) = self.asm.first() {
            self.skip_to(cs, true, ctx);
        }
    }

    /// Gives up every gap and delivers everything buffered.
    pub fn flush<S: StreamSink>(&mut self, forced: bool, ctx: &mut Ctx<'_, S>) {
        if let Some(end) = self.asm.last_end() {
            self.skip_to(end, forced, ctx);
        }
    }

    /// The peer acknowledged up to `ack`: bytes before it were sent and received,
    /// so any of them not captured will never be: give those gaps up now.
    pub fn on_peer_ack<S: StreamSink>(&mut self, ack: SeqNum, ctx: &mut Ctx<'_, S>) {
        if !self.started || self.closed {
            return;
        }
        let ahead = ack.diff(self.next_seq);
        if ahead > 0 {
            let target = self.next_offset + ahead as u64;
            self.skip_to(target, false, ctx);
        }
    }

    /// Every byte before `seq` has been delivered (or given up), or the stream is
    /// closed or not started: a FIN at `seq` can be handed on now without giving
    /// anything up. Otherwise the tracker holds it (`conn::HeldFin`).
    pub fn delivered_up_to(&self, seq: SeqNum) -> bool {
        self.closed || !self.started || self.offset_of(seq) <= self.next_offset as i64
    }

    /// FIN at `fin_seq`: the stream ends there. Gaps before it are given up.
    pub fn on_fin<S: StreamSink>(&mut self, fin_seq: SeqNum, ctx: &mut Ctx<'_, S>) {
        if self.closed {
            return;
        }
        self.start(fin_seq);
        let fin_off = self.offset_of(fin_seq).max(self.next_offset as i64) as u64;
        self.skip_to(fin_off, false, ctx);
        // Bytes buffered beyond the FIN cannot be part of this stream: deliver them
        // anyway rather than lose them silently (a FIN with a bogus seq is more
        // likely than data after the end).
        self.flush(false, ctx);
        self.closed = true;
        // The FIN occupies one sequence number; keep `next_seq` aligned for ACKs.
        self.next_seq = self.next_seq + 1;
    }

    /// RST or end of the connection: give everything up and accept nothing more.
    pub fn close<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        self.flush(false, ctx);
        self.closed = true;
    }
}
