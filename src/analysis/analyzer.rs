//! The analyzer: receives the TCP stage's events, drives one HTTP framer per
//! connection, and hands each finished connection (record + findings) to a
//! `ConnectionSink` — the report builder, an NDJSON writer, the live UI.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use foldhash::fast::RandomState;

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

    /// Finished transactions of an open connection, in order, before its record.
    fn on_transactions(&mut self, _connection: &TransactionContext, _txs: RetiredTransactions) {}
}

/// Finished transactions are handed on in batches of at least this many (see
/// `ConnState::retire`): per open connection, at most about this many finished
/// transactions are held.
pub const RETIRE_BATCH: usize = 32;

/// Which connection a streamed transaction belongs to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransactionContext {
    pub connection: u64,
    pub client: crate::http::Text,
    pub server: crate::http::Text,
}

/// Idle time (seconds) a persistent connection must have had before a new one from
/// the same client to the same server counts as a missed reuse.
const MISSED_REUSE_MIN_IDLE_S: f64 = 0.05;

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
    /// When the connection joined its (client address, server) group, and whether it
    /// is listed there as idle (see `Analyzer::idle_by_group`).
    group_seq: u64,
    idle_listed: bool,
}

pub struct Analyzer<S: ConnectionSink> {
    http_config: HttpConfig,
    conns: HashMap<ConnId, Conn, RandomState>,
    /// Per (client address, server endpoint), the open connections that sit idle
    /// waiting for a next request (`ConnState::is_idle_persistent`), in the order
    /// they joined the group: to notice a client opening a new connection while one
    /// of its own sits idle (missed reuse). Only the idle ones are listed, and each
    /// connection's entry is kept up to date as its state changes, so that neither
    /// the check nor a connection's end looks through all of a client's connections
    /// (a proxy with 50,000 connections open to one server took 25 s on 350k packets
    /// when every first request and every end went through the whole list).
    idle_by_group: HashMap<(IpAddr, Endpoint), BTreeMap<u64, ConnId>, RandomState>,
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
            idle_by_group: HashMap::default(),
            next_group_seq: 0,
            events: Vec::with_capacity(16),
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
        if let Some(c) = self.conns.get_mut(&id) {
            c.group_seq = seq;
            c.idle_listed = false;
        }
        self.sync_idle(id);
    }

    /// `id` (its `Conn` given, as it may be out of `conns` already) leaves the group
    /// `key`.
    fn leave_group(&mut self, c: &mut Conn, key: (IpAddr, Endpoint)) {
        if !std::mem::take(&mut c.idle_listed) {
            return;
        }
        if let Some(idle) = self.idle_by_group.get_mut(&key) {
            idle.remove(&c.group_seq);
            if idle.is_empty() {
                self.idle_by_group.remove(&key);
            }
        }
    }

    /// Lists or unlists `id` as idle in its group after its state changed. Called
    /// wherever `is_idle_persistent` can change: after its HTTP events, its first
    /// FIN or RST, and when it joins a group.
    fn sync_idle(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            Self::list_idle(&mut self.idle_by_group, id, c);
        }
    }

    fn list_idle(idle_by_group: &mut HashMap<(IpAddr, Endpoint), BTreeMap<u64, ConnId>, RandomState>, id: ConnId, c: &mut Conn) {
        let idle = c.state.is_idle_persistent();
        if idle == c.idle_listed {
            return;
        }
        c.idle_listed = idle;
        let key = Self::group_key(&c.state);
        if idle {
            idle_by_group.entry(key).or_default().insert(c.group_seq, id);
        } else if let Some(list) = idle_by_group.get_mut(&key) {
            list.remove(&c.group_seq);
            if list.is_empty() {
                idle_by_group.remove(&key);
            }
        }
    }

    /// A first request on `id`: was another persistent connection from the same
    /// client to the same server sitting idle?
    fn check_missed_reuse(&self, id: ConnId, ts: Timestamp) -> Option<String> {
        let key = Self::group_key(&self.conns.get(&id)?.state);
        let idle = self.idle_by_group.get(&key)?;
        for other in idle.values().filter(|&&o| o != id) {
            let o = &self.conns.get(other)?.state;
            debug_assert!(o.is_idle_persistent(), "connection {other} is listed as idle");
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
        for ev in self.events.drain(..) {
            let response_end = matches!(ev, HttpEvent::MessageEnd { dir: Dir::ServerToClient, .. });
            c.state.on_http_event(ev);
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
                    let ctx = TransactionContext {
                        connection: id,
                        client: c.state.client.to_text(),
                        server: c.state.server.to_text(),
                    };
                    self.sink.on_transactions(&ctx, batch);
                }
            }
        }
        Self::list_idle(&mut self.idle_by_group, id, c);
    }

    fn end_connection(&mut self, id: ConnId, ts: Timestamp) {
        let Some(mut conn) = self.conns.remove(&id) else { return };
        self.head_budget.total -= conn.head_bytes;
        if let Some(http) = conn.http.as_mut() {
            http.finish(ts, &mut self.events);
            for ev in self.events.drain(..) {
                conn.state.on_http_event(ev);
            }
        }
        conn.state.ended = Some(ts);
        let key = Self::group_key(&conn.state);
        self.leave_group(&mut conn, key);
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
                self.conns.insert(id, Conn { state, http: None, head_bytes: 0, group_seq: 0, idle_listed: false });
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
                        c.state.swap_roles();
                        // Bytes already given to the framer went to the wrong side;
                        // nothing was parsed from them (no transaction yet), so start
                        // the framer afresh.
                        c.http = None;
                        // Without a transaction it was not listed as idle in its old
                        // group; it joins the one its swapped roles name.
                        debug_assert!(!c.idle_listed);
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
                // A closing connection is no longer idle (with or without HTTP).
                self.sync_idle(id);
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
    fn only_idle_connections_are_listed_for_missed_reuse_in_the_order_they_opened() {
        let mut a = Analyzer::new(HttpConfig::default(), CollectSink::new(false));
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        let server = Endpoint { ip, port: 80 };
        let ms = |m: i64| Timestamp(m * 1_000_000);
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let exchange = |a: &mut Analyzer<CollectSink>, id: u64, at: i64| {
            a.on_stream_event(id, StreamEvent::Data { dir: Dir::ClientToServer, ts: ms(at), bytes: request });
            a.on_stream_event(id, StreamEvent::Data { dir: Dir::ServerToClient, ts: ms(at + 1), bytes: response });
        };
        let listed = |a: &Analyzer<CollectSink>| -> Vec<u64> {
            a.idle_by_group.values().flat_map(|idle| idle.values().copied()).collect()
        };
        for id in 0..3u64 {
            let client = Endpoint { ip, port: 40_000 + id as u16 };
            a.on_stream_event(id, StreamEvent::Open { client, server, syn_seen: true, roles_known: true, ts: ms(0) });
            assert!(!listed(&a).contains(&id), "a connection without an exchange is not idle");
            exchange(&mut a, id, 10 * id as i64);
        }
        assert_eq!(listed(&a), [0, 1, 2]);
        // Connection 0 is busy again (a request without its answer yet).
        a.on_stream_event(0, StreamEvent::Data { dir: Dir::ClientToServer, ts: ms(100), bytes: request });
        assert_eq!(listed(&a), [1, 2]);
        // A new connection's first request: the first idle one, in the order they
        // opened, is the one passed over.
        let client = Endpoint { ip, port: 40_003 };
        a.on_stream_event(3, StreamEvent::Open { client, server, syn_seen: true, roles_known: true, ts: ms(900) });
        exchange(&mut a, 3, 1000);
        let early = &a.conns[&3].state.early_findings;
        assert_eq!(early.len(), 1);
        assert!(early[0].2.contains("connection #1 "), "{}", early[0].2);
        assert_eq!(listed(&a), [1, 2, 3]);
        // Closing, and ending, take a connection off the list.
        a.on_stream_event(1, StreamEvent::Fin { dir: Dir::ClientToServer, ts: ms(1100) });
        assert_eq!(listed(&a), [2, 3]);
        for id in 0..4u64 {
            a.on_stream_event(id, StreamEvent::End { ts: ms(2000), reason: crate::tcp::EndReason::EndOfInput });
        }
        assert!(a.idle_by_group.is_empty());
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
