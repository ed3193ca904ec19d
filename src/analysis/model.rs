//! The report model: the single source of truth for the JSON document, the text
//! report and the TUI. Field names follow `spec/interface.md` exactly; absent
//! values are `None` and serialise as `null`, never omitted.

use serde::Serialize;

pub use crate::http::Text;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub version: u32,
    pub source: SourceInfo,
    pub summary: Summary,
    pub servers: Vec<ServerFigures>,
    pub connections: Vec<ConnectionRecord>,
    pub findings: Vec<Finding>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct SourceInfo {
    /// `file` or `live`.
    pub kind: String,
    pub paths: Vec<String>,
    pub link_types: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    /// Packets lost by the kernel or by keepscope's own queue (live only).
    pub dropped: Option<u64>,
    pub truncated: bool,
    pub warnings: Vec<String>,
    /// Extra counters (not in the spec's minimum): packets without TCP, malformed
    /// packets, packets cut by the snaplen.
    pub non_tcp_packets: u64,
    pub malformed_packets: u64,
    pub snaplen_truncated_packets: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct CloseCounts {
    pub client: u64,
    pub server: u64,
    pub none: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct ExpectCounts {
    pub none: u64,
    pub continued: u64,
    pub rejected_before_body: u64,
    pub body_without_continue: u64,
    pub no_response: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct Summary {
    pub connections: u64,
    pub http_connections: u64,
    pub transactions: u64,
    /// Transactions whose request got a final response (extra field).
    pub answered_transactions: u64,
    pub reused_transactions: u64,
    pub reuse_ratio: f64,
    pub max_depth: u64,
    pub pipelined_transactions: u64,
    pub close_by: CloseCounts,
    pub expect: ExpectCounts,
    pub tcp_keepalive_probes: u64,
    pub tcp_keepalive_acked: u64,
    /// Finding kind → count, in a stable (sorted) order.
    pub findings: std::collections::BTreeMap<String, u64>,
    /// Histogram: number of connections that carried N requests, as [N, count] pairs
    /// sorted by N (extra field).
    pub requests_per_connection: Vec<(u64, u64)>,
    /// Histogram of idle gaps before reused requests, in fixed buckets (extra field).
    pub idle_gaps: Vec<IdleBucket>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IdleBucket {
    /// Human label of the bucket, e.g. `<10ms`, `1-5s`.
    pub label: String,
    /// Upper bound in seconds (None for the last, open bucket).
    pub upper_s: Option<f64>,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServerFigures {
    pub server: String,
    pub connections: u64,
    pub transactions: u64,
    pub reuse_ratio: f64,
    pub max_depth: u64,
    pub advertised_keep_alive: Option<String>,
    pub observed_idle_close_s: Option<f64>,
    pub max_requests_before_close: Option<u64>,
    /// One-line verdict when the figures show the keep-alive race (extra field).
    pub verdict: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConnectionRecord {
    pub id: u64,
    /// Short text (endpoints, kinds, the protocol's name) is a `Text`: stored in
    /// place, where a `String` took an allocation each, several per connection.
    pub client: Text,
    pub server: Text,
    pub first_ts: f64,
    pub last_ts: f64,
    pub syn_seen: bool,
    pub protocol: Text,
    pub transactions: Vec<Transaction>,
    pub close: Close,
    pub tcp_keepalive: KeepaliveBySide,
    pub missing_bytes: BySide<u64>,
    pub findings: Vec<Text>,
    /// Probe and close instants for the TUI timeline (extra fields).
    pub keepalive_probe_ts: Vec<ProbeMark>,
    /// Transactions handed on before the connection ended (the analysis retires
    /// finished transactions of long connections when the sink takes them); they
    /// come before `transactions`, which then starts at depth `retired + 1`.
    #[serde(skip)]
    pub retired_transactions: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProbeMark {
    /// `client` or `server`: who sent the probe.
    pub by: Text,
    pub ts: f64,
    pub acked: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Transaction {
    pub depth: u64,
    pub reused: bool,
    pub pipelined: bool,
    pub idle_before_s: Option<f64>,
    pub request: Option<RequestRecord>,
    pub interim: Vec<Interim>,
    pub response: Option<ResponseRecord>,
    pub expect_outcome: Text,
    pub persistent_after: bool,
    /// Client's wait from request head to first body byte, and server's from request
    /// head to its 100 or final response, for Expect: 100-continue (extra fields).
    pub expect_client_wait_s: Option<f64>,
    pub expect_server_wait_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RequestRecord {
    pub ts: f64,
    pub end_ts: Option<f64>,
    pub method: Text,
    /// `null` when the request line had no target (`GET HTTP/1.1`).
    pub uri: Option<Text>,
    pub version: Text,
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
    pub expect: Option<Text>,
    pub body_bytes: u64,
    /// Extra: false when the capture or connection ended before the request did.
    pub complete: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResponseRecord {
    pub ts: f64,
    pub end_ts: Option<f64>,
    /// `null` for an HTTP/0.9 answer, which has no status line.
    pub status: Option<u16>,
    pub reason: Text,
    pub version: Text,
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
    pub framing: Text,
    pub body_bytes: u64,
    pub complete: bool,
}

#[derive(Copy, Clone, Debug, Serialize, PartialEq)]
pub struct Interim {
    pub status: u16,
    pub ts: f64,
}

/// A transaction as its writers read it, borrowed: from a `Transaction` record
/// (`Transaction::view`), or from the analysis's own state, so that transactions
/// retired from open connections are written without first being made into
/// records (`RetiredTransactions::views`). Records are made from views
/// (`to_record`), so both ways give the same fields.
#[derive(Clone, Debug)]
pub struct TxView<'a> {
    pub depth: u64,
    pub reused: bool,
    pub pipelined: bool,
    pub idle_before_s: Option<f64>,
    pub request: Option<RequestView<'a>>,
    pub interim: Interims<'a>,
    pub response: Option<ResponseView<'a>>,
    pub expect_outcome: &'a str,
    pub persistent_after: bool,
    pub expect_client_wait_s: Option<f64>,
    pub expect_server_wait_s: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct RequestView<'a> {
    pub ts: f64,
    pub end_ts: Option<f64>,
    pub method: &'a str,
    pub uri: Option<&'a str>,
    /// Owned: the analysis keeps the version as a number pair (the usual ones are
    /// static strings, so this allocates nothing).
    pub version: Text,
    pub connection: Option<&'a str>,
    pub keep_alive: Option<&'a str>,
    pub expect: Option<&'a str>,
    pub body_bytes: u64,
    pub complete: bool,
}

#[derive(Clone, Debug)]
pub struct ResponseView<'a> {
    pub ts: f64,
    pub end_ts: Option<f64>,
    pub status: Option<u16>,
    pub reason: &'a str,
    pub version: Text,
    pub connection: Option<&'a str>,
    pub keep_alive: Option<&'a str>,
    pub framing: &'a str,
    pub body_bytes: u64,
    pub complete: bool,
}

/// Interim (1xx) responses: a record's, or the analysis's (status, instant) pairs,
/// whose instants are rounded to microseconds as they are read.
#[derive(Copy, Clone, Debug)]
pub enum Interims<'a> {
    Records(&'a [Interim]),
    Instants(&'a [(u16, crate::time::Timestamp)]),
}

impl Interims<'_> {
    pub fn iter(&self) -> impl Iterator<Item = Interim> + '_ {
        let (records, instants) = match *self {
            Interims::Records(r) => (r, &[][..]),
            Interims::Instants(i) => (&[][..], i),
        };
        records.iter().copied().chain(
            instants.iter().map(|&(status, ts)| Interim { status, ts: crate::time::round_us(ts.as_secs_f64()) }),
        )
    }
}

impl Transaction {
    pub fn view(&self) -> TxView<'_> {
        TxView {
            depth: self.depth,
            reused: self.reused,
            pipelined: self.pipelined,
            idle_before_s: self.idle_before_s,
            request: self.request.as_ref().map(|r| RequestView {
                ts: r.ts,
                end_ts: r.end_ts,
                method: &r.method,
                uri: r.uri.as_deref(),
                version: r.version.clone(),
                connection: r.connection.as_deref(),
                keep_alive: r.keep_alive.as_deref(),
                expect: r.expect.as_deref(),
                body_bytes: r.body_bytes,
                complete: r.complete,
            }),
            interim: Interims::Records(&self.interim),
            response: self.response.as_ref().map(|r| ResponseView {
                ts: r.ts,
                end_ts: r.end_ts,
                status: r.status,
                reason: &r.reason,
                version: r.version.clone(),
                connection: r.connection.as_deref(),
                keep_alive: r.keep_alive.as_deref(),
                framing: &r.framing,
                body_bytes: r.body_bytes,
                complete: r.complete,
            }),
            expect_outcome: &self.expect_outcome,
            persistent_after: self.persistent_after,
            expect_client_wait_s: self.expect_client_wait_s,
            expect_server_wait_s: self.expect_server_wait_s,
        }
    }
}

impl TxView<'_> {
    pub fn to_record(&self) -> Transaction {
        let text = |s: &str| Text::from(s);
        Transaction {
            depth: self.depth,
            reused: self.reused,
            pipelined: self.pipelined,
            idle_before_s: self.idle_before_s,
            request: self.request.as_ref().map(|r| RequestRecord {
                ts: r.ts,
                end_ts: r.end_ts,
                method: text(r.method),
                uri: r.uri.map(text),
                version: r.version.clone(),
                connection: r.connection.map(text),
                keep_alive: r.keep_alive.map(text),
                expect: r.expect.map(text),
                body_bytes: r.body_bytes,
                complete: r.complete,
            }),
            interim: self.interim.iter().collect(),
            response: self.response.as_ref().map(|r| ResponseRecord {
                ts: r.ts,
                end_ts: r.end_ts,
                status: r.status,
                reason: text(r.reason),
                version: r.version.clone(),
                connection: r.connection.map(text),
                keep_alive: r.keep_alive.map(text),
                framing: text(r.framing),
                body_bytes: r.body_bytes,
                complete: r.complete,
            }),
            expect_outcome: text(self.expect_outcome),
            persistent_after: self.persistent_after,
            expect_client_wait_s: self.expect_client_wait_s,
            expect_server_wait_s: self.expect_server_wait_s,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Close {
    /// `client`, `server` or `none`.
    pub by: Text,
    /// `fin`, `rst` or `none`.
    pub how: Text,
    pub ts: Option<f64>,
    pub idle_s: Option<f64>,
    pub announced: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct ProbeCount {
    pub probes: u64,
    pub acked: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct KeepaliveBySide {
    pub client: ProbeCount,
    pub server: ProbeCount,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct BySide<T> {
    pub client: T,
    pub server: T,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Finding {
    pub kind: String,
    pub connection: u64,
    pub transaction: Option<u64>,
    pub message: String,
}
