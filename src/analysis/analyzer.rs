//! The analyzer: receives the TCP stage's events, drives one HTTP framer per
//! connection, and hands each finished connection (record + findings) to a
//! `ConnectionSink` — the report builder, an NDJSON writer, the live UI.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;
use smallvec::SmallVec;

use crate::decode::Endpoint;
use crate::http::{sniff_role, Http1Conn, HttpConfig, HttpEvent, Role};
use crate::tcp::{ConnId, Dir, StreamEvent, StreamSink};
use crate::time::Timestamp;

use super::connection::{CloseHow, ConnState, RetiredTransactions};
use super::findings::{self, kind};
use super::model::{ConnectionRecord, Finding, Transaction};

/// Where finished connections go.
pub trait ConnectionSink {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>);

    /// Whether `on_transaction` should be called (building a transaction record
    /// as each one completes costs time that offline reports do not need).
    fn wants_transactions(&self) -> bool {
        false
    }

    /// A transaction's response ended (live streaming output).
    fn on_transaction(&mut self, _connection: &TransactionContext, _tx: &Transaction) {}

    /// Whether finished transactions of open connections should be handed over in
    /// batches (`on_transactions`) instead of all at once in the record when the
    /// connection ends. Sinks that write or fold transactions say yes, so that a
    /// long keep-alive connection does not hold thousands of them; the record then
    /// carries only the rest (`ConnectionRecord::retired_transactions` says how
    /// many came before).
    fn takes_transactions(&self) -> bool {
        false
    }

    /// Finished transactions of connection `connection` (to `server`, as
    /// `Endpoint::to_text` writes it), in order, before its record.
    fn on_transactions(&mut self, _connection: u64, _server: &str, _txs: RetiredTransactions) {}
}

/// Finished transactions are handed on in batches of at least this many (see
/// `ConnState::retire`): per open connection, at most about this many finished
/// transactions are held (360 bytes each). 16 rather than 32 halves what an idle
/// keep-alive connection holds for no measurable cost in instructions; at 8 each
/// batch's own cost (about 2,000 instructions) shows, 1 % on keep-alive `--json`.
pub const RETIRE_BATCH: usize = 16;

/// Which connection a streamed transaction belongs to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransactionContext {
    pub connection: u64,
    pub client: crate::http::Text,
    pub server: crate::http::Text,
}

/// Room in the analyzer's list of HTTP events, which every packet's events go
/// through. A list this large (155 KB) is mapped on pages of its own by the
/// allocator (glibc maps allocations above its mmap threshold, 128 KiB unless a
/// larger mapped one was freed before); only the pages it uses (one, usually)
/// take memory.
///
/// With room for 16 (2.4 KB) it lay among other small allocations, and the
/// two-thread run of the keep-alive capture took 10 to 15 % more CPU time for some
/// layouts of the heap, which changed with the length of the command line: 0.61 s
/// against 0.53 s for the text report, as `analyze FILE` and as `analyze --color
/// never FILE` (median of 5, the same binary). This machine has no hardware
/// counters to tell why (the other thread writing a neighbouring cache line is the
/// likely cause); with the list on its own pages, every command line ran as fast as
/// the fast one.
const EVENT_LIST_CAPACITY: usize = 1024;

/// Idle time (seconds) a persistent connection must have had before a new one from
/// the same client to the same server counts as a missed reuse.
const MISSED_REUSE_MIN_IDLE_S: f64 = 0.05;

/// Most of a client's other open connections to a server that a new connection's
/// first request looks at for one sitting idle, oldest first. A client holding more
/// open at once (a proxy) would otherwise make every new connection look through
/// all of them: with 50,000 open, 25 s on 350k packets. Below it, nothing changes.
const MISSED_REUSE_SCAN: usize = 1024;

/// Partial-head bytes held over all connections, kept at most `limit`
/// (`HttpConfig::max_buffered_total`, plus the one connection being fed).
struct HeadBudget {
    total: usize,
    peak: usize,
    limit: usize,
}

impl HeadBudget {
    /// Recounts what connection `c`'s framer holds for partial heads; when the sum
    /// over all connections goes over the budget, this connection's partial heads
    /// are given up (a `HeadTooLong` framing error each) — the budget is kept by
    /// refusing, never by growing.
    fn keep(&mut self, c: &mut Conn, ts: Timestamp, events: &mut Vec<HttpEvent>) {
        let Some(http) = c.http.as_mut() else { return };
        let now = http.buffered_bytes();
        self.total = self.total - c.head_bytes + now;
        c.head_bytes = now;
        if self.total > self.limit && now > 0 {
            http.shed(ts, events);
            self.total -= now;
            c.head_bytes = 0;
        }
        self.peak = self.peak.max(self.total);
    }
}

struct Conn {
    state: ConnState,
    /// Created on the first payload byte, so connections without payload cost no
    /// framer buffers.
    http: Option<Http1Conn>,
    /// What `http` held for partial heads at the last count (see `keep_head_budget`).
    head_bytes: usize,
    /// Its place in its (client address, server) group: when it joined.
    group_seq: u64,
}

/// The open connections of one client address to one server endpoint, in the order
/// they joined. A connection that ends is only marked gone (found by its join
/// number, the list being in that order), and the list is compacted once half of
/// it is: with a plain list, each end looked through the whole group, and 50,000
/// connections open at once from one client took 25 s on 350k packets.
#[derive(Default)]
struct Group {
    /// (`Conn::group_seq`, id), in join order; id `GONE` once it left. Most
    /// groups hold one connection at a time, kept inline (an allocation per new
    /// connection otherwise, on short connections from many clients).
    members: SmallVec<[(u64, ConnId); 1]>,
    gone: usize,
}

const GONE: ConnId = ConnId::MAX;

impl Group {
    fn open(&self) -> impl Iterator<Item = &ConnId> {
        self.members.iter().map(|(_, id)| id).filter(|&&id| id != GONE)
    }

    /// The member that joined as `seq` leaves; true when none is left.
    fn leave(&mut self, seq: u64) -> bool {
        if let Ok(at) = self.members.binary_search_by_key(&seq, |&(s, _)| s) {
            if self.members[at].1 != GONE {
                self.members[at].1 = GONE;
                self.gone += 1;
            }
        }
        if self.gone * 2 > self.members.len() {
            self.members.retain(|&mut (_, id)| id != GONE);
            self.gone = 0;
        }
        self.members.is_empty()
    }
}

pub struct Analyzer<S: ConnectionSink> {
    http_config: HttpConfig,
    conns: HashMap<ConnId, Box<Conn>, RandomState>,
    /// Open connections per (client address, server endpoint), to notice a client
    /// opening a new connection while one of its own sits idle (missed reuse).
    by_client_server: HashMap<(IpAddr, Endpoint), Group, RandomState>,
    /// The next `Conn::group_seq`.
    next_group_seq: u64,
    /// Reused buffer for the HTTP stage's events (no allocation per packet).
    events: Vec<HttpEvent>,
    head_budget: HeadBudget,
    pub sink: S,
    /// Most recent packet time seen, for snapshots.
    now: Timestamp,
    /// See `RETIRE_BATCH` (tests lower it to retire as early as possible).
    retire_batch: usize,
}

impl<S: ConnectionSink> Analyzer<S> {
    pub fn new(http_config: HttpConfig, sink: S) -> Self {
        Analyzer {
            head_budget: HeadBudget { total: 0, peak: 0, limit: http_config.max_buffered_total },
            http_config,
            conns: HashMap::default(),
            by_client_server: HashMap::default(),
            next_group_seq: 0,
            events: Vec::with_capacity(EVENT_LIST_CAPACITY),
            sink,
            now: Timestamp::ZERO,
            retire_batch: RETIRE_BATCH,
        }
    }

    /// Retire finished transactions in batches of `batch` instead of `RETIRE_BATCH`
    /// (1: as soon as possible). The output must not depend on it.
    pub fn set_retire_batch(&mut self, batch: usize) {
        self.retire_batch = batch.max(1);
    }

    /// Connections still open, in report form (for live snapshots).
    pub fn open_records(&self) -> Vec<ConnectionRecord> {
        let mut ids: Vec<&ConnId> = self.conns.keys().collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let c = &self.conns[id];
                let mut rec = c.state.to_record();
                let _ = findings::connection_findings(&c.state, &mut rec);
                rec
            })
            .collect()
    }

    /// Bytes held for partial HTTP heads over all connections: now and at most.
    pub fn head_bytes(&self) -> (usize, usize) {
        (self.head_budget.total, self.head_budget.peak)
    }

    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn group_key(state: &ConnState) -> (IpAddr, Endpoint) {
        (state.client.ip, state.server)
    }

    /// `id` (just opened, or with its roles swapped) joins its group, last.
    fn join_group(&mut self, id: ConnId) {
        let seq = self.next_group_seq;
        self.next_group_seq += 1;
        let Some(c) = self.conns.get_mut(&id) else { return };
        c.group_seq = seq;
        self.by_client_server.entry(Self::group_key(&c.state)).or_default().members.push((seq, id));
    }

    /// The connection that joined group `key` as `seq` leaves it.
    fn leave_group(&mut self, key: (IpAddr, Endpoint), seq: u64) {
        if let Some(group) = self.by_client_server.get_mut(&key) {
            if group.leave(seq) {
                self.by_client_server.remove(&key);
            }
        }
    }

    /// A first request on `id`: was another persistent connection from the same
    /// client to the same server sitting idle?
    fn check_missed_reuse(&self, id: ConnId, ts: Timestamp) -> Option<String> {
        let key = Self::group_key(&self.conns.get(&id)?.state);
        let others = self.by_client_server.get(&key)?;
        for other in others.open().filter(|&&o| o != id).take(MISSED_REUSE_SCAN) {
            let o = &self.conns.get(other)?.state;
            if !o.is_idle_persistent() {
                continue;
            }
            let idle_since = o.txs.last().and_then(|tx| tx.response.as_ref()).and_then(|r| r.end)?;
            // A connection idle for less than this was most likely still being read
            // when the client picked a connection for its next request (pools
            // race like that); only a connection left idle longer was really passed over.
            if ts.secs_since(idle_since) >= MISSED_REUSE_MIN_IDLE_S {
                return Some(format!(
                    "client opened a new connection while its connection #{} to the same server had been idle for {:.1} s",
                    other,
                    ts.secs_since(idle_since)
                ));
            }
        }
        None
    }

    fn dispatch_http_events(&mut self, id: ConnId) {
        // A connection's first request may be a missed reuse. That looks at the
        // other connections, so it is decided before this one is borrowed, which
        // is then looked up once for all the events, not once per event.
        let first_request = self.events.iter().find_map(|ev| match ev {
            HttpEvent::RequestHead { index: 0, ts_first, .. } => Some(*ts_first),
            _ => None,
        });
        let missed_reuse = first_request.and_then(|ts| self.check_missed_reuse(id, ts));
        let Some(c) = self.conns.get_mut(&id) else {
            self.events.clear();
            return;
        };
        if let Some(msg) = missed_reuse {
            c.state.early_findings.push((kind::MISSED_REUSE, Some(1), msg));
        }
        for ev in self.events.iter_mut() {
            let response_end = matches!(ev, HttpEvent::MessageEnd { dir: Dir::ServerToClient, .. });
            c.state.take_http_event(ev);
            if response_end && self.sink.wants_transactions() {
                if let Some(t) = c.state.current_response_tx {
                    let ctx = TransactionContext {
                        connection: id,
                        client: c.state.client.to_text(),
                        server: c.state.server.to_text(),
                    };
                    let tx = c.state.tx_record(t);
                    self.sink.on_transaction(&ctx, &tx);
                }
            }
            if response_end && self.sink.takes_transactions() {
                if let Some(batch) = c.state.retire(self.retire_batch) {
                    self.sink.on_transactions(id, &c.state.server.to_text(), batch);
                }
            }
        }
        self.events.clear();
    }

    fn end_connection(&mut self, id: ConnId, ts: Timestamp) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        self.head_budget.total -= conn.head_bytes;
        if let Some(http) = conn.http.as_mut() {
            http.finish(ts, &mut self.events);
            for ev in self.events.iter_mut() {
                conn.state.take_http_event(ev);
            }
            self.events.clear();
        }
        conn.state.ended = Some(ts);
        let key = Self::group_key(&conn.state);
        self.leave_group(key, conn.group_seq);
        let mut record = conn.state.to_record();
        let found = findings::connection_findings(&conn.state, &mut record);
        self.sink.on_connection(record, found);
    }
}

impl<S: ConnectionSink> StreamSink for Analyzer<S> {
    fn on_stream_event(&mut self, id: ConnId, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Open { client, server, syn_seen, roles_known, ts } => {
                self.now = self.now.max(ts);
                let state = ConnState::new(id, client, server, syn_seen, roles_known, ts);
                self.conns.insert(id, Box::new(Conn { state, http: None, head_bytes: 0, group_seq: 0 }));
                self.join_group(id);
            }
            StreamEvent::Established { ts } => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.state.established.get_or_insert(ts);
                    c.state.touch(ts);
                }
            }
            StreamEvent::Data { dir, ts, bytes } => {
                self.now = self.now.max(ts);
                let Some(mut c) = self.conns.get_mut(&id) else { return };
                c.state.touch(ts);
                c.state.last_data = Some(ts);
                if !c.state.roles_settled {
                    // No handshake seen: the side that sends requests is the client.
                    let role = sniff_role(bytes);
                    let dir_now = c.state.dir(dir);
                    let swap = matches!(
                        (dir_now, role),
                        (Dir::ClientToServer, Role::Response) | (Dir::ServerToClient, Role::Request)
                    );
                    if role != Role::Unknown {
                        c.state.roles_settled = true;
                    }
                    if swap && c.state.txs.is_empty() && c.state.retired == 0 {
                        let old_key = (c.state.client.ip, c.state.server);
                        let seq = c.group_seq;
                        c.state.swap_roles();
                        // Bytes already given to the framer went to the wrong side;
                        // nothing was parsed from them (no transaction yet), so start
                        // the framer afresh.
                        c.http = None;
                        self.leave_group(old_key, seq);
                        self.join_group(id);
                        let Some(swapped) = self.conns.get_mut(&id) else { return };
                        c = swapped;
                    }
                }
                let dir = c.state.dir(dir);
                let in_sync = c.state.roles_known;
                let http = c.http.get_or_insert_with(|| Http1Conn::new(self.http_config.clone(), in_sync));
                http.on_data(dir, ts, bytes, &mut self.events);
                self.head_budget.keep(c, ts, &mut self.events);
                if !self.events.is_empty() {
                    self.dispatch_http_events(id);
                }
            }
            StreamEvent::Missing { dir, ts, offset: _, len } => {
                let Some(c) = self.conns.get_mut(&id) else { return };
                let dir = c.state.dir(dir);
                c.state.missing[dir.index()] += len;
                c.state.touch(ts);
                if let Some(http) = c.http.as_mut() {
                    http.on_missing(dir, ts, len, &mut self.events);
                    self.head_budget.keep(c, ts, &mut self.events);
                    self.dispatch_http_events(id);
                }
            }
            StreamEvent::KeepAliveProbe { dir, ts } => {
                let Some(c) = self.conns.get_mut(&id) else { return };
                let dir = c.state.dir(dir);
                c.state.on_probe(dir, ts);
                c.state.touch(ts);
            }
            StreamEvent::KeepAliveAck { dir, ts } => {
                let Some(c) = self.conns.get_mut(&id) else { return };
                let dir = c.state.dir(dir);
                c.state.on_probe_ack(dir);
                c.state.touch(ts);
            }
            StreamEvent::Fin { dir, ts } | StreamEvent::Rst { dir, ts } => {
                let how = if matches!(event, StreamEvent::Fin { .. }) { CloseHow::Fin } else { CloseHow::Rst };
                let Some(c) = self.conns.get_mut(&id) else { return };
                let dir = c.state.dir(dir);
                c.state.on_close_flag(dir, how, ts);
                c.state.touch(ts);
                if let Some(http) = c.http.as_mut() {
                    http.on_fin(dir, ts, &mut self.events);
                    self.head_budget.keep(c, ts, &mut self.events);
                    self.dispatch_http_events(id);
                }
            }
            StreamEvent::End { ts, reason: _ } => {
                self.now = self.now.max(ts);
                self.end_connection(id, ts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::CollectSink;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn a_group_keeps_its_open_connections_in_join_order() {
        let mut g = Group::default();
        for seq in 0..10u64 {
            g.members.push((seq, 100 + seq));
        }
        for seq in [3, 0, 7, 3] {
            assert!(!g.leave(seq), "members are left");
        }
        assert_eq!(g.open().copied().collect::<Vec<_>>(), [101, 102, 104, 105, 106, 108, 109]);
        // Past half gone, the list is compacted; order and lookups still hold.
        for seq in [1, 2, 9] {
            assert!(!g.leave(seq));
        }
        assert_eq!(g.members.len(), 4, "compacted");
        assert_eq!(g.open().copied().collect::<Vec<_>>(), [104, 105, 106, 108]);
        for seq in [4, 5, 6] {
            assert!(!g.leave(seq));
        }
        assert!(g.leave(8), "the last one left");
        assert!(g.members.is_empty());
    }

    #[test]
    fn partial_heads_share_one_budget() {
        let config = HttpConfig { max_buffered_total: 64 * 1024, ..HttpConfig::default() };
        let mut a = Analyzer::new(config, CollectSink::new(false));
        let server = Endpoint { ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), port: 80 };
        // 400 connections, each leaving a 3 kB request head unfinished: 1.2 MB of
        // partial heads if nothing refused them.
        let mut head = b"GET /x HTTP/1.1\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', 3000));
        for i in 0..400u64 {
            let client = Endpoint { ip: server.ip, port: 10_000 + i as u16 };
            let ts = Timestamp(i as i64 * 1000);
            a.on_stream_event(i, StreamEvent::Open { client, server, syn_seen: true, roles_known: true, ts });
            // Split in two, so the head spans segments and must be buffered.
            a.on_stream_event(i, StreamEvent::Data { dir: Dir::ClientToServer, ts, bytes: &head[..1500] });
            a.on_stream_event(i, StreamEvent::Data { dir: Dir::ClientToServer, ts, bytes: &head[1500..] });
        }
        let (now, peak) = a.head_bytes();
        // The budget, plus at most what the one connection being fed holds.
        assert!(peak <= 64 * 1024 + 8 * 1024, "peak {peak}");
        assert!(now <= 64 * 1024, "now {now}");
        for i in 0..400u64 {
            a.on_stream_event(i, StreamEvent::End { ts: Timestamp(1_000_000), reason: crate::tcp::EndReason::EndOfInput });
        }
        assert_eq!(a.head_bytes().0, 0, "every connection's share is returned when it ends");
        let findings = &a.sink.builder.summary().findings;
        assert!(findings.get("framing_error").copied().unwrap_or(0) > 300, "{findings:?}");
    }
}
