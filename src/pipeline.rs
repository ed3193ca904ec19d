//! Wires the stages for one run: packets → decode → TCP → analysis, with the
//! counters the report's `source` section needs. Used by offline analysis, the TUI
//! and live capture alike; packets are processed inline, zero-copy. (Offline with
//! two threads, the packet half, `track_packet`, runs on the reader thread: see
//! `offline::read_ahead`.)

use crate::analysis::model::SourceInfo;
use crate::analysis::{Analyzer, ConnectionSink};
use crate::capture::RawPacket;
use crate::decode::{decode, Decoded};
use crate::http::HttpConfig;
use crate::tcp::{StreamSink, TcpConfig, TcpStats, TcpTracker};
use crate::time::{round_us, Timestamp};

/// The packet half of the pipeline: counts one captured packet (`captured` of its
/// `wire_len` bytes, already decoded) and hands a TCP segment to the TCP stage, whose
/// events go to `sink`. The analysis is the sink, on the same thread
/// (`Pipeline::on_decoded`), or the offline reader thread records the events for
/// the analysis thread (`offline::read_ahead`).
pub fn track_packet(
    counters: &mut Counters,
    tracker: &mut TcpTracker,
    ts: Timestamp,
    wire_len: u32,
    captured: usize,
    decoded: Decoded<'_>,
    sink: &mut impl StreamSink,
) {
    let c = counters;
    c.packets += 1;
    c.bytes += wire_len as u64;
    if (captured as u64) < wire_len as u64 {
        c.snaplen_truncated += 1;
    }
    if c.first_ts.is_none() {
        c.first_ts = Some(ts);
    }
    // Timestamps may go backwards in damaged or merged captures; time in the
    // analysis never does.
    c.last_ts = Some(c.last_ts.map_or(ts, |t| t.max(ts)));
    match decoded {
        Decoded::Tcp(seg) => {
            c.tcp_segments += 1;
            tracker.on_segment(ts, &seg, sink);
        }
        Decoded::NotTcp => c.non_tcp += 1,
        Decoded::Malformed(_) => c.malformed += 1,
    }
}

/// Everything configurable about the analysis of a run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub tcp: TcpConfig,
    pub http: HttpConfig,
}

/// Packet-level counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    pub tcp_segments: u64,
    pub non_tcp: u64,
    pub malformed: u64,
    /// Packets cut short by the snaplen.
    pub snaplen_truncated: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

pub struct Pipeline<S: ConnectionSink> {
    pub tracker: TcpTracker,
    pub analyzer: Analyzer<S>,
    pub counters: Counters,
}

impl<S: ConnectionSink> Pipeline<S> {
    pub fn new(options: &Options, sink: S) -> Self {
        Pipeline {
            tracker: TcpTracker::new(options.tcp.clone()),
            analyzer: Analyzer::new(options.http.clone(), sink),
            counters: Counters::default(),
        }
    }

    /// One captured packet.
    pub fn on_packet(&mut self, pkt: &RawPacket<'_>) {
        self.on_decoded(pkt.ts, pkt.wire_len, pkt.data.len(), decode(pkt.link, pkt.data));
    }

    /// One captured packet (`captured` of its `wire_len` bytes), already decoded.
    pub fn on_decoded(&mut self, ts: Timestamp, wire_len: u32, captured: usize, decoded: Decoded<'_>) {
        track_packet(&mut self.counters, &mut self.tracker, ts, wire_len, captured, decoded, &mut self.analyzer);
    }

    /// Ends connections idle for longer than the configured timeout (live mode).
    pub fn expire_idle(&mut self, now: Timestamp) {
        self.tracker.expire_idle(now, &mut self.analyzer);
    }

    /// End of input: every connection still open is finished.
    pub fn finish(&mut self) {
        let now = self.counters.last_ts.unwrap_or(Timestamp::ZERO);
        self.tracker.finish(now, &mut self.analyzer);
    }

    pub fn tcp_stats(&self) -> TcpStats {
        self.tracker.stats()
    }

    /// The `source` section from the counters; the caller adds kind, paths, link
    /// types and warnings.
    pub fn source_info(&self, kind: &str) -> SourceInfo {
        let c = &self.counters;
        let stats = self.tracker.stats();
        let mut warnings = Vec::new();
        if stats.gaps_forced > 0 {
            warnings.push(format!(
                "{} reassembly gaps were given up to stay within the out-of-order buffer limits",
                stats.gaps_forced
            ));
        }
        if stats.overlaps_differing > 0 {
            warnings.push(format!(
                "{} retransmitted segments carried bytes different from the first copy (the first copy was kept)",
                stats.overlaps_differing
            ));
        }
        if c.malformed > 0 {
            warnings.push(format!("{} packets were malformed and skipped", c.malformed));
        }
        if c.snaplen_truncated > 0 {
            warnings.push(format!(
                "{} packets were cut short by the capture's snaplen; their missing bytes are counted as not captured",
                c.snaplen_truncated
            ));
        }
        SourceInfo {
            kind: kind.into(),
            packets: c.packets,
            bytes: c.bytes,
            first_ts: c.first_ts.map(|t| round_us(t.as_secs_f64())),
            last_ts: c.last_ts.map(|t| round_us(t.as_secs_f64())),
            warnings,
            non_tcp_packets: c.non_tcp,
            malformed_packets: c.malformed,
            snaplen_truncated_packets: c.snaplen_truncated,
            ..SourceInfo::default()
        }
    }
}
