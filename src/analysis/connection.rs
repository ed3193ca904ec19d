//! One connection's analysis state: HTTP events become transactions, TCP events
//! become the close, probe and missing-byte figures. `finish` turns it into the
//! report's `ConnectionRecord` with its findings.

use smallvec::SmallVec;

use crate::decode::Endpoint;
use crate::http::{Framing, HttpEvent, Protocol, RequestHead, ResponseHead, Text, Version};
use crate::tcp::Dir;
use crate::time::{round_us, Timestamp};

use super::summary::TxFacts;

use super::model::{
    BySide, Close, ConnectionRecord, Interims, KeepaliveBySide, ProbeCount, ProbeMark, RequestView,
    ResponseView, Transaction, TxView,
};

/// A request head as kept until its transaction is handed on: only the fields the
/// analysis reads (the usual values borrowed from static strings, see `Text`),
/// about 130 bytes instead of the parser's 260.
#[derive(Debug)]
pub(crate) struct StoredRequest {
    pub method: Text,
    pub uri: Text,
    pub version: Version,
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
    pub expect: Option<Text>,
}

impl StoredRequest {
    /// Takes the fields it keeps out of `h`, which is left with empty text.
    fn take(h: &mut RequestHead) -> Self {
        StoredRequest {
            method: std::mem::take(&mut h.method),
            uri: std::mem::take(&mut h.uri),
            version: h.version,
            connection: h.connection.take(),
            keep_alive: h.keep_alive.take(),
            expect: h.expect.take(),
        }
    }
}

/// A response head as kept until its transaction is handed on (see `StoredRequest`).
#[derive(Debug)]
pub(crate) struct StoredResponse {
    pub status: u16,
    pub version: Version,
    pub reason: Text,
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
}

impl StoredResponse {
    /// Takes the fields it keeps out of `h` (see `StoredRequest::take`).
    fn take(h: &mut ResponseHead) -> Self {
        StoredResponse {
            status: h.status,
            version: h.version,
            reason: std::mem::take(&mut h.reason),
            connection: h.connection.take(),
            keep_alive: h.keep_alive.take(),
        }
    }
}

/// A message head and what followed it, while the connection is alive.
#[derive(Debug)]
pub(crate) struct RequestState {
    pub ts_first: Timestamp,
    pub ts_head: Timestamp,
    pub head: StoredRequest,
    pub body_start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub body_bytes: u64,
    pub complete: bool,
}

#[derive(Debug)]
pub(crate) struct ResponseState {
    pub ts_first: Timestamp,
    pub head: StoredResponse,
    pub end: Option<Timestamp>,
    pub body_bytes: u64,
    pub framing: Framing,
    pub complete: bool,
}

#[derive(Debug)]
pub(crate) struct TxState {
    pub request: Option<RequestState>,
    pub interim: Vec<(u16, Timestamp)>,
    pub response: Option<ResponseState>,
    pub pipelined: bool,
    pub idle_before_s: Option<f64>,
}

impl TxState {
    /// When the exchange was over: the response's end, else its head.
    fn response_end(&self) -> Option<Timestamp> {
        self.response.as_ref().and_then(|r| r.end)
    }
}

/// Who closed first and how.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseHow {
    Fin,
    Rst,
}

#[derive(Debug)]
pub(crate) struct ConnState {
    pub id: u64,
    pub client: Endpoint,
    pub server: Endpoint,
    pub syn_seen: bool,
    pub roles_known: bool,
    /// True once the analysis swapped the TCP stage's guessed roles (no handshake,
    /// and the "server" turned out to send the requests). Directions coming from the
    /// TCP stage are flipped from then on.
    pub swapped: bool,
    /// Roles are settled (by the handshake, or by the first payload seen).
    pub roles_settled: bool,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub established: Option<Timestamp>,
    pub protocol: Protocol,
    /// The transactions not yet handed on: `txs[0]` is transaction number
    /// `retired + 1` (see `retire`).
    pub txs: Vec<TxState>,
    /// Transactions already handed to the sink while the connection was open.
    pub retired: usize,
    /// What the retired transactions leave for the findings: whether one was cut
    /// off, and their 100-continue delays (depth, message).
    pub retired_cut: bool,
    pub retired_expect_delays: Vec<(u64, String)>,
    /// Transaction number (0-based, counting retired ones) of request number
    /// `request_base + i` of the HTTP stage (requests are numbered from 0 in order;
    /// orphan responses take a transaction but no request number). Room for two
    /// inline: a short connection's first request would otherwise allocate.
    pub tx_of_request: SmallVec<[usize; 2]>,
    pub request_base: usize,
    /// The transaction (0-based number) whose response is being received.
    pub current_response_tx: Option<usize>,
    pub last_http_byte: Option<Timestamp>,
    pub last_data: Option<Timestamp>,
    pub first_close: Option<(Dir, CloseHow, Timestamp)>,
    /// The last HTTP (or other payload) byte before the first close, for the
    /// close's idle time (bytes sent after a close must not shorten it).
    pub last_byte_before_close: Option<Timestamp>,
    pub fin_ts: [Option<Timestamp>; 2],
    pub rst_ts: [Option<Timestamp>; 2],
    /// When a `Connection: close` was first sent (either side).
    pub close_announced: Option<Timestamp>,
    pub probes: [ProbeCount; 2],
    pub probe_marks: Vec<ProbeMark>,
    pub missing: [u64; 2],
    pub framing_errors: Vec<(Dir, crate::http::FramingError, Timestamp)>,
    /// Findings decided while the connection was alive (missed_reuse needs the
    /// state of other connections at that moment): kind, depth, message.
    pub early_findings: Vec<(&'static str, Option<u64>, String)>,
    pub ended: Option<Timestamp>,
}

/// 100-continue delay findings kept per connection for retired transactions.
const MAX_RETIRED_FINDINGS: usize = 64;

/// Probe marks kept per connection for the timeline; more are counted, not kept.
const MAX_PROBE_MARKS: usize = 64;

/// Whether a comma-separated header value (`Connection`, `Expect`) lists `token`,
/// compared without regard to case as RFC 9110 asks.
pub(crate) fn has_token(value: Option<&str>, token: &str) -> bool {
    // Split as bytes: `str::split` sets up a substring searcher per call, which
    // cost more than the comparisons on these short values.
    value.is_some_and(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes())))
}

impl ConnState {
    pub fn new(id: u64, client: Endpoint, server: Endpoint, syn_seen: bool, roles_known: bool, ts: Timestamp) -> Self {
        ConnState {
            id,
            client,
            server,
            syn_seen,
            roles_known,
            swapped: false,
            roles_settled: roles_known,
            first_ts: ts,
            last_ts: ts,
            established: None,
            protocol: Protocol::Unknown,
            txs: Vec::new(),
            retired: 0,
            retired_cut: false,
            retired_expect_delays: Vec::new(),
            tx_of_request: SmallVec::new(),
            request_base: 0,
            current_response_tx: None,
            last_http_byte: None,
            last_data: None,
            first_close: None,
            last_byte_before_close: None,
            fin_ts: [None; 2],
            rst_ts: [None; 2],
            close_announced: None,
            probes: Default::default(),
            probe_marks: Vec::new(),
            missing: [0; 2],
            framing_errors: Vec::new(),
            early_findings: Vec::new(),
            ended: None,
        }
    }

    /// Maps a direction of the TCP stage onto this connection's (possibly swapped) roles.
    pub fn dir(&self, tcp_dir: Dir) -> Dir {
        if self.swapped {
            tcp_dir.flip()
        } else {
            tcp_dir
        }
    }

    /// Swaps client and server (capture started mid-connection, and the side taken
    /// for the server sends requests).
    pub fn swap_roles(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.swapped = !self.swapped;
        self.missing.swap(0, 1);
        self.probes.swap(0, 1);
        self.fin_ts.swap(0, 1);
        self.rst_ts.swap(0, 1);
        if let Some((d, how, ts)) = self.first_close {
            self.first_close = Some((d.flip(), how, ts));
        }
    }

    pub fn touch(&mut self, ts: Timestamp) {
        if ts > self.last_ts {
            self.last_ts = ts;
        }
    }

    pub fn on_close_flag(&mut self, dir: Dir, how: CloseHow, ts: Timestamp) {
        let slot = match how {
            CloseHow::Fin => &mut self.fin_ts[dir.index()],
            CloseHow::Rst => &mut self.rst_ts[dir.index()],
        };
        if slot.is_none() {
            *slot = Some(ts);
        }
        if self.first_close.is_none() {
            self.first_close = Some((dir, how, ts));
            self.last_byte_before_close = self.last_http_byte.or(self.last_data);
        }
    }

    pub fn on_probe(&mut self, dir: Dir, ts: Timestamp) {
        self.probes[dir.index()].probes += 1;
        if self.probe_marks.len() < MAX_PROBE_MARKS {
            let by = if dir == Dir::ClientToServer { "client" } else { "server" };
            self.probe_marks.push(ProbeMark { by: by.into(), ts: round_us(ts.as_secs_f64()), acked: false });
        }
    }

    pub fn on_probe_ack(&mut self, dir: Dir) {
        let count = &mut self.probes[dir.index()];
        if count.acked < count.probes {
            count.acked += 1;
        }
        let by = if dir == Dir::ClientToServer { "client" } else { "server" };
        if let Some(mark) = self.probe_marks.iter_mut().rev().find(|m| m.by == by) {
            mark.acked = true;
        }
    }

    /// True when the connection is open, HTTP, and waiting for the client's next
    /// request on a connection both sides left persistent: the state in which a
    /// client pool should reuse it.
    pub fn is_idle_persistent(&self) -> bool {
        if self.first_close.is_some() || self.protocol != Protocol::Http1 {
            return false;
        }
        match self.txs.last() {
            Some(tx) => tx.response_end().is_some() && Self::persistent_after(tx),
            None => false,
        }
    }

    /// `take_http_event` for an event made on the spot (the tests' way).
    #[cfg(test)]
    pub fn on_http_event(&mut self, mut event: HttpEvent) {
        self.take_http_event(&mut event);
    }

    /// The HTTP stage's events, in order, each left where it is (in the analyzer's
    /// event list): the text kept is taken out of it, and the rest is read in place.
    /// Moving each event out of the list instead cost a copy of the whole event
    /// (152 bytes, the size of a request head's) per event.
    pub fn take_http_event(&mut self, event: &mut HttpEvent) {
        match *event {
            HttpEvent::RequestHead { index, ts_first, ts_head, ref mut head } => {
                self.on_request(index, ts_first, ts_head, head);
            }
            HttpEvent::ResponseHead { answers, interim, ts_first, ts_head: _, ref mut head } => {
                let head = StoredResponse::take(head);
                self.note_http_byte(ts_first);
                if has_token(head.connection.as_deref(), "close") && self.close_announced.is_none() {
                    self.close_announced = Some(ts_first);
                }
                let tx_index = answers.and_then(|i| self.tx_of_request(i)).filter(|&t| self.tx_mut(t).is_some());
                match (tx_index, interim) {
                    (Some(t), true) => self.tx_mut(t).expect("checked").interim.push((head.status, ts_first)),
                    (None, true) => {
                        // An interim response before any request: keep it for the
                        // next transaction is not possible without guessing; record it
                        // as an orphan transaction so nothing is dropped.
                        self.push_orphan(ts_first, head, Framing::None);
                    }
                    (Some(t), false) => {
                        self.tx_mut(t).expect("checked").response = Some(ResponseState {
                            ts_first,
                            head,
                            end: None,
                            body_bytes: 0,
                            framing: Framing::None,
                            complete: false,
                        });
                        self.current_response_tx = Some(t);
                    }
                    (None, false) => {
                        let t = self.push_orphan(ts_first, head, Framing::None);
                        self.current_response_tx = Some(t);
                    }
                }
            }
            HttpEvent::BodyStart { dir, ts } => {
                self.note_http_byte(ts);
                if dir == Dir::ClientToServer {
                    if let Some(req) = self.current_request_mut() {
                        if req.body_start.is_none() {
                            req.body_start = Some(ts);
                        }
                    }
                }
            }
            HttpEvent::MessageEnd { dir, ts, body_bytes, framing, complete } => {
                self.note_http_byte(ts);
                match dir {
                    Dir::ClientToServer => {
                        if let Some(req) = self.current_request_mut() {
                            if req.end.is_none() {
                                req.end = Some(ts);
                                req.body_bytes = body_bytes;
                                req.complete = complete;
                            }
                        }
                    }
                    Dir::ServerToClient => {
                        if let Some(tx) = self.current_response_tx.and_then(|t| self.tx_mut(t)) {
                            if let Some(resp) = tx.response.as_mut() {
                                if resp.end.is_none() {
                                    resp.end = Some(ts);
                                    resp.body_bytes = body_bytes;
                                    resp.framing = framing;
                                    resp.complete = complete;
                                }
                            }
                        }
                    }
                }
            }
            HttpEvent::ProtocolDetected { protocol, ts: _ } => {
                self.protocol = protocol;
            }
            HttpEvent::Error { dir, ts, error } => {
                if self.framing_errors.len() < 16 {
                    self.framing_errors.push((dir, error, ts));
                }
            }
        }
    }

    fn note_http_byte(&mut self, ts: Timestamp) {
        self.last_http_byte = Some(self.last_http_byte.map_or(ts, |t| t.max(ts)));
    }

    fn current_request_mut(&mut self) -> Option<&mut RequestState> {
        let t = *self.tx_of_request.last()?;
        self.tx_mut(t)?.request.as_mut()
    }

    /// Transaction number `t` (0-based), unless it was retired.
    fn tx_mut(&mut self, t: usize) -> Option<&mut TxState> {
        self.txs.get_mut(t.checked_sub(self.retired)?)
    }

    /// The transaction number of request number `index` of the HTTP stage.
    fn tx_of_request(&self, index: u64) -> Option<usize> {
        self.tx_of_request.get((index as usize).checked_sub(self.request_base)?).copied()
    }

    /// A request head, whose text is taken out of `head` straight into the new
    /// transaction (see `push_tx`).
    fn on_request(&mut self, index: u64, ts_first: Timestamp, ts_head: Timestamp, head: &mut RequestHead) {
        self.note_http_byte(ts_first);
        if self.protocol == Protocol::Unknown {
            self.protocol = Protocol::Http1;
        }
        if has_token(head.connection.as_deref(), "close") && self.close_announced.is_none() {
            self.close_announced = Some(ts_first);
        }
        let (pipelined, idle_before_s) = match self.txs.last() {
            None => (false, self.established.map(|e| round_us(ts_first.secs_since(e).max(0.0)))),
            Some(prev) => match prev.response_end() {
                Some(end) if end <= ts_first => (false, Some(round_us(ts_first.secs_since(end)))),
                // The previous response had not ended (or never came) when this
                // request began: it was sent ahead of it.
                Some(_) => (true, Some(0.0)),
                None if prev.request.is_some() => (true, Some(0.0)),
                None => (false, None),
            },
        };
        // Requests are numbered by the HTTP stage; keep our table aligned even if a
        // number is skipped.
        let index = (index as usize).saturating_sub(self.request_base);
        let skipped_from = self.tx_of_request.len();
        while self.tx_of_request.len() < index {
            self.tx_of_request.push(usize::MAX);
        }
        self.push_tx(|| TxState {
            request: Some(RequestState {
                ts_first,
                ts_head,
                head: StoredRequest::take(head),
                body_start: None,
                end: None,
                body_bytes: 0,
                complete: false,
            }),
            interim: Vec::new(),
            response: None,
            pipelined,
            idle_before_s,
        });
        let t = self.retired + self.txs.len() - 1;
        if self.tx_of_request.len() == index {
            self.tx_of_request.push(t);
        } else if let Some(slot) = self.tx_of_request.get_mut(index) {
            *slot = t;
        }
        // Requests whose number was skipped must not be addressed. Every earlier
        // request filled the slots skipped before it, so only the slots pushed just
        // now can hold the marker (scanning the whole table made each request cost
        // O(requests so far) on long keep-alive connections).
        let skipped_to = index.min(self.tx_of_request.len());
        for slot in self.tx_of_request.get_mut(skipped_from.min(skipped_to)..skipped_to).into_iter().flatten() {
            if *slot == usize::MAX {
                *slot = t;
            }
        }
    }

    /// A connection's first transaction gets room for itself alone: a Vec's first
    /// growth makes room for four (1.4 KB), and an open connection that has carried
    /// one request (or a keep-alive one between batches) holds no more than that.
    ///
    /// The transaction `make` makes is written in its place (`crate::push_made`;
    /// 360 bytes, whose copy was 4 % of the analysis thread's time on the
    /// keep-alive capture; about 1 % is left, as the compiler still builds part of
    /// it aside).
    fn push_tx(&mut self, make: impl FnOnce() -> TxState) {
        if self.txs.capacity() == 0 {
            self.txs.reserve_exact(1);
        }
        crate::push_made(&mut self.txs, make);
    }

    fn push_orphan(&mut self, ts_first: Timestamp, head: StoredResponse, framing: Framing) -> usize {
        self.push_tx(|| TxState {
            request: None,
            interim: Vec::new(),
            response: Some(ResponseState { ts_first, head, end: None, body_bytes: 0, framing, complete: false }),
            pipelined: false,
            idle_before_s: None,
        });
        self.retired + self.txs.len() - 1
    }

    /// RFC 9112 §9.3: may the connection carry another request after `tx`?
    pub fn persistent_after(tx: &TxState) -> bool {
        let req = tx.request.as_ref();
        let resp = tx.response.as_ref();
        let req_close = req.map(|r| has_token(r.head.connection.as_deref(), "close")).unwrap_or(false);
        let resp_close = resp.map(|r| has_token(r.head.connection.as_deref(), "close")).unwrap_or(false);
        if req_close || resp_close {
            return false;
        }
        if let Some(r) = resp {
            if matches!(r.framing, Framing::CloseDelimited | Framing::Tunnel) {
                return false;
            }
            if r.head.status == 101 {
                return false;
            }
        }
        // HTTP/1.0 on either side needs keep-alive from that side.
        let req_ok = match req {
            Some(r) => match r.head.version {
                Version::Http11 | Version::Other(1, _) | Version::Other(2..=9, _) => true,
                Version::Http10 => has_token(r.head.connection.as_deref(), "keep-alive"),
                _ => false,
            },
            None => true,
        };
        let resp_ok = match resp {
            Some(r) => match r.head.version {
                Version::Http11 | Version::Other(1, _) | Version::Other(2..=9, _) => true,
                Version::Http10 => has_token(r.head.connection.as_deref(), "keep-alive"),
                _ => false,
            },
            None => req.is_some(),
        };
        req_ok && resp_ok
    }


    /// Hands on the oldest finished transactions of an open connection once at
    /// least `min_batch` of them have piled up, so a long keep-alive connection
    /// does not hold every transaction until it ends. Finished: request and response
    /// both ended. The last transaction is always kept (the next request's
    /// pipelining and idle time, missed-reuse checks read it), and nothing is
    /// retired once a close was announced or seen: the findings about closes
    /// (`stale_reuse`, `request_after_close`, `idle_close_unannounced`,
    /// `no_response`) only look at transactions from around then. What retired
    /// transactions mean for the other findings is kept in `retired_cut` and
    /// `retired_expect_delays`.
    pub fn retire(&mut self, min_batch: usize) -> Option<RetiredTransactions> {
        if self.txs.len() <= min_batch || self.first_close.is_some() || self.close_announced.is_some() {
            return None;
        }
        let finished = |tx: &TxState| {
            tx.request.as_ref().is_none_or(|r| r.end.is_some()) && tx.response.as_ref().is_some_and(|r| r.end.is_some())
        };
        let count = self.txs[..self.txs.len() - 1].iter().take_while(|tx| finished(tx)).count();
        if count < min_batch.max(1) {
            return None;
        }
        let first_depth = self.retired as u64 + 1;
        let mut any_heap = false;
        for (i, tx) in self.txs[..count].iter().enumerate() {
            any_heap |= owns_heap(tx);
            let cut = tx.request.as_ref().is_some_and(|r| !r.complete) || tx.response.as_ref().is_some_and(|r| !r.complete);
            self.retired_cut |= cut;
            let (outcome, client_wait, server_wait) = expect_outcome(tx);
            if let Some(message) = super::findings::expect_delay_of(outcome, client_wait, server_wait) {
                if self.retired_expect_delays.len() < MAX_RETIRED_FINDINGS {
                    self.retired_expect_delays.push((first_depth + i as u64, message));
                }
            }
        }
        // The batch keeps the allocation the transactions are in, and only the
        // unfinished rest (usually the one being received) moves to a new one: a
        // transaction is a few hundred bytes, and copying every one of them out was
        // a tenth of this thread's copying on keep-alive connections. The new one
        // has room for the next batch, no more: it is what an idle keep-alive
        // connection holds (with the old capacity, twice that).
        let mut rest = Vec::with_capacity(self.txs.len() - count + min_batch);
        rest.extend(self.txs.drain(count..));
        let txs = std::mem::replace(&mut self.txs, rest);
        self.retired += count;
        if self.current_response_tx.is_some_and(|t| t < self.retired) {
            self.current_response_tx = None;
        }
        // Requests whose transaction is gone cannot be answered any more (each was);
        // the last entry stays so the request being received is still found.
        let gone = self.tx_of_request.iter().take(self.tx_of_request.len().saturating_sub(1)).take_while(|&&t| t < self.retired).count();
        self.tx_of_request.drain(..gone);
        self.request_base += gone;
        Some(RetiredTransactions { first_depth, txs, owns_heap: any_heap })
    }

    /// Transaction number `t` (0-based, counting retired ones) in report form.
    pub fn tx_record(&self, t: usize) -> Transaction {
        record_of(&self.txs[t - self.retired], t as u64 + 1)
    }

    /// The report's record. `findings` are computed by the caller (they need the
    /// transactions in report form).
    pub fn to_record(&self) -> ConnectionRecord {
        let us = |t: Timestamp| round_us(t.as_secs_f64());
        let transactions: Vec<Transaction> =
            (self.retired..self.retired + self.txs.len()).map(|t| self.tx_record(t)).collect();
        let close = match self.first_close {
            None => Close { by: "none".into(), how: "none".into(), ts: None, idle_s: None, announced: false },
            Some((dir, how, ts)) => {
                let last = self.last_byte_before_close;
                Close {
                    by: if dir == Dir::ClientToServer { "client" } else { "server" }.into(),
                    how: if how == CloseHow::Fin { "fin" } else { "rst" }.into(),
                    ts: Some(us(ts)),
                    idle_s: last.map(|l| round_us(ts.secs_since(l).max(0.0))),
                    announced: self.close_announced.map(|a| a <= ts).unwrap_or(false),
                }
            }
        };
        let protocol = match self.protocol {
            Protocol::Unknown if self.last_data.is_some() => Protocol::Other,
            p => p,
        };
        ConnectionRecord {
            id: self.id,
            client: self.client.to_text(),
            server: self.server.to_text(),
            first_ts: us(self.first_ts),
            last_ts: us(self.last_ts),
            syn_seen: self.syn_seen,
            protocol: protocol.as_str().into(),
            transactions,
            close,
            tcp_keepalive: KeepaliveBySide { client: self.probes[0].clone(), server: self.probes[1].clone() },
            missing_bytes: BySide { client: self.missing[0], server: self.missing[1] },
            findings: Vec::new(),
            keepalive_probe_ts: self.probe_marks.clone(),
            retired_transactions: self.retired as u64,
        }
    }
}

/// Transaction `tx`, the `depth`-th of its connection, in report form.
fn record_of(tx: &TxState, depth: u64) -> Transaction {
    view_of(tx, depth).to_record()
}

/// Transaction `tx`, the `depth`-th of its connection, as the report reads it.
fn view_of(tx: &TxState, depth: u64) -> TxView<'_> {
    let us = |t: Timestamp| round_us(t.as_secs_f64());
    // A message mostly ends in the packet it began in: its end is then its start,
    // already converted (two floating-point divisions each, which the writer thread
    // waits on).
    let start_end = |start: Timestamp, end: Option<Timestamp>| {
        let first = us(start);
        (first, end.map(|e| if e == start { first } else { us(e) }))
    };
    let request = tx.request.as_ref().map(|r| {
        let (ts, end_ts) = start_end(r.ts_first, r.end);
        RequestView {
            ts,
            end_ts,
            method: &r.head.method,
            uri: if r.head.uri.is_empty() { None } else { Some(&r.head.uri) },
            version: r.head.version.as_str(),
            connection: r.head.connection.as_deref(),
            keep_alive: r.head.keep_alive.as_deref(),
            expect: r.head.expect.as_deref(),
            body_bytes: r.body_bytes,
            complete: r.complete,
        }
    });
    let response = tx.response.as_ref().map(|r| {
        let (ts, end_ts) = start_end(r.ts_first, r.end);
        ResponseView {
            ts,
            end_ts,
            status: if r.head.version == Version::Http09 { None } else { Some(r.head.status) },
            reason: &r.head.reason,
            version: r.head.version.as_str(),
            connection: r.head.connection.as_deref(),
            keep_alive: r.head.keep_alive.as_deref(),
            framing: r.framing.as_str(),
            body_bytes: r.body_bytes,
            complete: r.complete,
        }
    });
    let (outcome, client_wait, server_wait) = expect_outcome(tx);
    TxView {
        depth,
        reused: depth > 1,
        pipelined: tx.pipelined,
        idle_before_s: tx.idle_before_s,
        request,
        interim: Interims::Instants(&tx.interim),
        response,
        expect_outcome: outcome,
        persistent_after: ConnState::persistent_after(tx),
        expect_client_wait_s: client_wait,
        expect_server_wait_s: server_wait,
    }
}

/// Finished transactions of an open connection, handed on by `ConnState::retire` in
/// the analysis's own form: whoever writes them (with `--threads 2`, the writer
/// thread) reads them through `for_each_view`, without making report records of them. What
/// the summary needs of them (`facts`) is cheap to read directly.
#[derive(Debug)]
pub struct RetiredTransactions {
    /// Depth (1-based) of the first.
    first_depth: u64,
    txs: Vec<TxState>,
    /// Whether any of them owns memory of its own (see `owns_heap`).
    owns_heap: bool,
}

impl Drop for RetiredTransactions {
    /// A batch is freed on the analysis thread once the writer is done with it
    /// (see `report::json`), long after the analysis last touched it: dropping
    /// each transaction read all of them again (their text's tags), from memory the
    /// writer's core had last, and perf put 3 % of the analysis thread's time there.
    /// Usually none owns any memory (its text is inline or static), and then only
    /// the list's own allocation is freed.
    fn drop(&mut self) {
        if !self.owns_heap {
            // SAFETY: shortening a Vec only forgets elements, and these own no
            // memory (checked as they retired), so nothing is leaked either.
            unsafe { self.txs.set_len(0) };
        }
    }
}

/// Whether `tx` owns heap memory: interim responses, or text too long to be kept
/// inline. Every field is named, so that one added later must be looked at here.
fn owns_heap(tx: &TxState) -> bool {
    let TxState { request, interim, response, pipelined: _, idle_before_s: _ } = tx;
    let heap = |t: &Text| t.is_heap_allocated();
    let heap_opt = |t: &Option<Text>| t.as_ref().is_some_and(heap);
    let request_heap = request.as_ref().is_some_and(|r| {
        let RequestState { head, ts_first: _, ts_head: _, body_start: _, end: _, body_bytes: _, complete: _ } = r;
        let StoredRequest { method, uri, version: _, connection, keep_alive, expect } = head;
        heap(method) || heap(uri) || heap_opt(connection) || heap_opt(keep_alive) || heap_opt(expect)
    });
    let response_heap = response.as_ref().is_some_and(|r| {
        let ResponseState { head, ts_first: _, end: _, body_bytes: _, framing: _, complete: _ } = r;
        let StoredResponse { reason, status: _, version: _, connection, keep_alive } = head;
        heap(reason) || heap_opt(connection) || heap_opt(keep_alive)
    });
    interim.capacity() > 0 || request_heap || response_heap
}

impl RetiredTransactions {
    /// Hands `f` the transactions as the report reads them, in order
    /// (`TxView::to_record` makes records of them). Each view is made where `f`
    /// reads it: an iterator of views moved each one (376 bytes) through its
    /// adapters, and that copy's wide loads waited on the narrow stores that had
    /// just made the view (perf: 5 % of the JSON writer's time).
    pub fn for_each_view(&self, mut f: impl FnMut(&TxView<'_>)) {
        for (tx, depth) in self.txs.iter().zip(self.first_depth..) {
            f(&view_of(tx, depth));
        }
    }

    /// What the summary folds, read straight from the transactions; the same as
    /// `TxFacts::of` gives for their records.
    pub(crate) fn facts(&self) -> impl Iterator<Item = TxFacts<'_>> {
        self.txs.iter().zip(self.first_depth..).map(|(tx, depth)| TxFacts {
            depth,
            answered: tx.request.is_some() && tx.response.is_some(),
            reused: depth > 1,
            pipelined: tx.pipelined,
            idle_before_s: tx.idle_before_s,
            expect_outcome: expect_outcome(tx).0,
            keep_alive: tx.response.as_ref().and_then(|r| r.head.keep_alive.as_deref()),
        })
    }
}

/// Classifies a transaction's `Expect: 100-continue` exchange, with the client's
/// wait (request head to first body byte) and the server's (request head to its 100
/// or final response).
fn expect_outcome(tx: &TxState) -> (&'static str, Option<f64>, Option<f64>) {
    let Some(req) = tx.request.as_ref() else { return ("none", None, None) };
    if !has_token(req.head.expect.as_deref(), "100-continue") {
        return ("none", None, None);
    }
    let first_100 = tx.interim.iter().find(|(s, _)| *s == 100).map(|&(_, ts)| ts);
    let final_ts = tx.response.as_ref().map(|r| r.ts_first);
    let server_first = match (first_100, final_ts) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let server_wait = server_first.map(|t| round_us(t.secs_since(req.ts_head).max(0.0)));
    let client_wait = req.body_start.map(|t| round_us(t.secs_since(req.ts_head).max(0.0)));
    let outcome = match (req.body_start, first_100, final_ts) {
        (Some(body), Some(c), _) if c <= body => "continued",
        (Some(body), _, Some(f)) if f <= body => "rejected_before_body",
        (Some(_), _, _) => "body_without_continue",
        // No body byte: an empty body sent after a 100 is still "continued".
        (None, Some(_), _) if req.complete => "continued",
        (None, _, Some(_)) => "rejected_before_body",
        (None, _, None) => "no_response",
    };
    (outcome, client_wait, server_wait)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn header_lists_are_matched_token_by_token() {
        assert!(has_token(Some("close"), "close"));
        assert!(has_token(Some("Keep-Alive, Upgrade"), "keep-alive"));
        assert!(has_token(Some("upgrade,\tCLOSE "), "close"));
        assert!(has_token(Some(",,close,"), "close"));
        assert!(!has_token(Some("closed"), "close"));
        assert!(!has_token(Some("keep-alive"), "close"));
        assert!(!has_token(Some(""), "close"));
        assert!(!has_token(None, "close"));
    }

    pub fn ep(port: u16) -> Endpoint {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), port }
    }
    pub fn t(ms: i64) -> Timestamp {
        Timestamp(1_700_000_000_000_000_000 + ms * 1_000_000)
    }
    pub fn req(method: &str, uri: &str, version: Version, connection: Option<&str>, expect: Option<&str>) -> RequestHead {
        RequestHead {
            method: method.to_string().into(),
            uri: uri.into(),
            version,
            connection: connection.map(|c| c.to_string().into()),
            keep_alive: None,
            expect: expect.map(|e| e.to_string().into()),
            head_bytes: 40,
        }
    }
    pub fn resp(status: u16, version: Version, connection: Option<&str>) -> ResponseHead {
        ResponseHead {
            status,
            reason: "OK".into(),
            version,
            connection: connection.map(|c| c.to_string().into()),
            keep_alive: None,
            head_bytes: 40,
        }
    }

    fn exchange(c: &mut ConnState, index: u64, at: i64, head: RequestHead, response: ResponseHead) {
        c.on_http_event(HttpEvent::RequestHead { index, ts_first: t(at), ts_head: t(at), head });
        c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ClientToServer, ts: t(at), body_bytes: 0, framing: Framing::None, complete: true });
        c.on_http_event(HttpEvent::ResponseHead { answers: Some(index), interim: false, ts_first: t(at + 1), ts_head: t(at + 1), head: response });
        c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ServerToClient, ts: t(at + 2), body_bytes: 10, framing: Framing::ContentLength, complete: true });
    }

    /// A retired batch skips dropping its transactions only when none owns memory:
    /// one long URI, one long header value or one interim response is enough to
    /// drop them all (else that memory would leak).
    #[test]
    fn a_retired_batch_knows_whether_its_transactions_own_memory() {
        let long = "/a-path-longer-than-twenty-four-bytes-is-kept-on-the-heap";
        let batch_of = |special: Option<usize>| {
            let mut c = ConnState::new(0, ep(40000), ep(80), true, true, t(0));
            for i in 0..4u64 {
                let at = i as i64 * 10;
                let mut head = req("GET", "/", Version::Http11, None, None);
                let mut response = resp(200, Version::Http11, None);
                match special {
                    Some(0) if i == 1 => head.uri = long.into(),
                    Some(1) if i == 1 => response.keep_alive = Some(Text::from(long)),
                    _ => {}
                }
                c.on_http_event(HttpEvent::RequestHead { index: i, ts_first: t(at), ts_head: t(at), head });
                c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ClientToServer, ts: t(at), body_bytes: 0, framing: Framing::None, complete: true });
                if special == Some(2) && i == 1 {
                    let interim = resp(100, Version::Http11, None);
                    c.on_http_event(HttpEvent::ResponseHead { answers: Some(i), interim: true, ts_first: t(at), ts_head: t(at), head: interim });
                }
                c.on_http_event(HttpEvent::ResponseHead { answers: Some(i), interim: false, ts_first: t(at + 1), ts_head: t(at + 1), head: response });
                c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ServerToClient, ts: t(at + 2), body_bytes: 0, framing: Framing::ContentLength, complete: true });
            }
            c.retire(2).expect("three finished transactions retire")
        };
        let plain = batch_of(None);
        assert_eq!(plain.txs.len(), 3);
        assert!(!plain.owns_heap, "short text is inline and owns nothing");
        for special in 0..3 {
            assert!(batch_of(Some(special)).owns_heap, "case {special}");
        }
    }

    #[test]
    fn reuse_depth_and_idle_gaps() {
        let mut c = ConnState::new(0, ep(40000), ep(80), true, true, t(0));
        c.established = Some(t(1));
        exchange(&mut c, 0, 3, req("GET", "/a", Version::Http11, None, None), resp(200, Version::Http11, None));
        exchange(&mut c, 1, 1005, req("GET", "/b", Version::Http11, None, None), resp(200, Version::Http11, None));
        let rec = c.to_record();
        assert_eq!(rec.transactions.len(), 2);
        assert_eq!(rec.transactions[0].idle_before_s, Some(0.002));
        assert!(!rec.transactions[0].reused);
        assert!(rec.transactions[1].reused);
        assert_eq!(rec.transactions[1].idle_before_s, Some(1.0));
        assert!(!rec.transactions[1].pipelined);
        assert!(rec.transactions[1].persistent_after);
        assert!(c.is_idle_persistent());
    }

    #[test]
    fn pipelined_requests_are_marked() {
        let mut c = ConnState::new(0, ep(40000), ep(80), true, true, t(0));
        for i in 0..2 {
            c.on_http_event(HttpEvent::RequestHead { index: i, ts_first: t(5), ts_head: t(5), head: req("GET", "/", Version::Http11, None, None) });
            c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ClientToServer, ts: t(5), body_bytes: 0, framing: Framing::None, complete: true });
        }
        for i in 0..2 {
            c.on_http_event(HttpEvent::ResponseHead { answers: Some(i), interim: false, ts_first: t(9), ts_head: t(9), head: resp(200, Version::Http11, None) });
            c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ServerToClient, ts: t(9), body_bytes: 1, framing: Framing::ContentLength, complete: true });
        }
        let rec = c.to_record();
        assert!(!rec.transactions[0].pipelined);
        assert!(rec.transactions[1].pipelined);
        assert_eq!(rec.transactions[1].response.as_ref().unwrap().status, Some(200));
    }

    #[test]
    fn persistence_rules_rfc9112_9_3() {
        let mk = |mut rq: RequestHead, mut rs: ResponseHead, framing: Framing| TxState {
            request: Some(RequestState { ts_first: t(0), ts_head: t(0), head: StoredRequest::take(&mut rq), body_start: None, end: Some(t(0)), body_bytes: 0, complete: true }),
            interim: vec![],
            response: Some(ResponseState { ts_first: t(1), head: StoredResponse::take(&mut rs), end: Some(t(1)), body_bytes: 0, framing, complete: true }),
            pipelined: false,
            idle_before_s: None,
        };
        let v11 = Version::Http11;
        let v10 = Version::Http10;
        assert!(ConnState::persistent_after(&mk(req("GET", "/", v11, None, None), resp(200, v11, None), Framing::ContentLength)));
        assert!(!ConnState::persistent_after(&mk(req("GET", "/", v11, Some("close"), None), resp(200, v11, None), Framing::ContentLength)));
        assert!(!ConnState::persistent_after(&mk(req("GET", "/", v11, None, None), resp(200, v11, Some("Close")), Framing::ContentLength)));
        assert!(!ConnState::persistent_after(&mk(req("GET", "/", v10, None, None), resp(200, v10, None), Framing::ContentLength)));
        assert!(ConnState::persistent_after(&mk(req("GET", "/", v10, Some("keep-alive"), None), resp(200, v10, Some("keep-alive")), Framing::ContentLength)));
        assert!(!ConnState::persistent_after(&mk(req("GET", "/", v10, Some("keep-alive"), None), resp(200, v10, None), Framing::ContentLength)));
        assert!(!ConnState::persistent_after(&mk(req("GET", "/", v11, None, None), resp(200, v11, None), Framing::CloseDelimited)));
    }

    fn expect_tx(c: &mut ConnState, events: Vec<HttpEvent>) -> Transaction {
        for e in events {
            c.on_http_event(e);
        }
        c.to_record().transactions.remove(0)
    }

    #[test]
    fn expect_outcomes() {
        let head = || req("POST", "/up", Version::Http11, None, Some("100-continue"));
        let rq = |h| HttpEvent::RequestHead { index: 0, ts_first: t(0), ts_head: t(0), head: h };
        let body = |ms| HttpEvent::BodyStart { dir: Dir::ClientToServer, ts: t(ms) };
        let cont = |ms| HttpEvent::ResponseHead { answers: Some(0), interim: true, ts_first: t(ms), ts_head: t(ms), head: resp(100, Version::Http11, None) };
        let fin = |ms, s| HttpEvent::ResponseHead { answers: Some(0), interim: false, ts_first: t(ms), ts_head: t(ms), head: resp(s, Version::Http11, None) };

        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        let tx = expect_tx(&mut c, vec![rq(head()), cont(2), body(3), fin(10, 200)]);
        assert_eq!(tx.expect_outcome, "continued");
        assert_eq!(tx.expect_server_wait_s, Some(0.002));
        assert_eq!(tx.expect_client_wait_s, Some(0.003));

        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        assert_eq!(expect_tx(&mut c, vec![rq(head()), fin(2, 417)]).expect_outcome, "rejected_before_body");

        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        let tx = expect_tx(&mut c, vec![rq(head()), body(1000), fin(1010, 200)]);
        assert_eq!(tx.expect_outcome, "body_without_continue");
        assert_eq!(tx.expect_client_wait_s, Some(1.0));

        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        assert_eq!(expect_tx(&mut c, vec![rq(head())]).expect_outcome, "no_response");

        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        assert_eq!(expect_tx(&mut c, vec![rq(req("GET", "/", Version::Http11, None, None)), fin(1, 200)]).expect_outcome, "none");
    }

    #[test]
    fn orphan_response_takes_a_depth() {
        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        exchange(&mut c, 0, 0, req("GET", "/", Version::Http11, None, None), resp(200, Version::Http11, None));
        c.on_http_event(HttpEvent::ResponseHead { answers: None, interim: false, ts_first: t(50), ts_head: t(50), head: resp(200, Version::Http11, None) });
        let rec = c.to_record();
        assert_eq!(rec.transactions.len(), 2);
        assert_eq!(rec.transactions[1].depth, 2);
        assert!(rec.transactions[1].request.is_none());
    }

    #[test]
    fn close_figures() {
        let mut c = ConnState::new(0, ep(1), ep(2), true, true, t(0));
        exchange(&mut c, 0, 0, req("GET", "/", Version::Http11, None, None), resp(200, Version::Http11, None));
        c.on_close_flag(Dir::ServerToClient, CloseHow::Fin, t(5002));
        c.on_close_flag(Dir::ClientToServer, CloseHow::Fin, t(5003));
        let rec = c.to_record();
        assert_eq!(rec.close.by, "server");
        assert_eq!(rec.close.how, "fin");
        assert_eq!(rec.close.idle_s, Some(5.0));
        assert!(!rec.close.announced);
    }
}
