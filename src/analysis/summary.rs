//! Folding finished connections into the summary, the per-server figures and the
//! findings list. Everything here is incremental and bounded, so `--ndjson` and the
//! text report need memory for the aggregates only, not for every connection.

use std::collections::{BTreeMap, HashMap};

use super::connection::{has_token, RetiredTransactions};
use super::findings::kind;
use super::model::{
    ConnectionRecord, Finding, IdleBucket, Report, ServerFigures, SourceInfo, Summary, Transaction,
};

/// Upper bounds (seconds) of the idle-gap histogram buckets; the last is open.
const IDLE_BUCKETS: [(f64, &str); 7] = [
    (0.001, "<1ms"),
    (0.01, "1-10ms"),
    (0.1, "10-100ms"),
    (1.0, "0.1-1s"),
    (5.0, "1-5s"),
    (15.0, "5-15s"),
    (60.0, "15-60s"),
];

/// Findings kept with their messages; beyond this only the counts grow. A kept
/// finding costs about 200 bytes (kind, message of ~100 characters), so the list
/// stays within ~4 MB however many connections the capture holds.
pub const MAX_FINDINGS_KEPT: usize = 20_000;
/// Idle-gap and idle-close samples kept per server for the race verdict.
const MAX_SAMPLES: usize = 4096;
/// Samples kept over all servers (8 bytes each: 4 MB), so many servers with
/// many samples each cannot add up.
const MAX_SAMPLES_TOTAL: usize = 512 * 1024;
/// Servers tracked individually (~250 bytes each); beyond this they are folded
/// into one row.
const MAX_SERVERS: usize = 10_000;

#[derive(Default, Clone)]
struct ServerAcc {
    connections: u64,
    transactions: u64,
    reused: u64,
    max_depth: u64,
    advertised_keep_alive: Option<String>,
    /// Idle time before unannounced server closes.
    idle_closes: Vec<f64>,
    /// Depth reached on connections the server closed after announcing
    /// `Connection: close` (a keepalive_requests-style limit).
    max_requests_before_close: Option<u64>,
    /// Idle gaps (≥ 0.1 s) before reused requests.
    reuse_gaps: Vec<f64>,
    stale_reuse: u64,
}

/// What the summary reads of one transaction, from its record (`of`) or straight
/// from the analysis's state (`RetiredTransactions::facts`), so that transactions
/// retired from open connections are folded without building their records.
#[derive(Clone, Debug)]
pub(crate) struct TxFacts<'a> {
    pub depth: u64,
    /// It has both a request and a response.
    pub answered: bool,
    pub reused: bool,
    pub pipelined: bool,
    pub idle_before_s: Option<f64>,
    pub expect_outcome: &'a str,
    /// The response's Keep-Alive header.
    pub keep_alive: Option<&'a str>,
}

impl<'a> TxFacts<'a> {
    pub fn of(t: &'a Transaction) -> Self {
        TxFacts {
            depth: t.depth,
            answered: t.request.is_some() && t.response.is_some(),
            reused: t.reused,
            pipelined: t.pipelined,
            idle_before_s: t.idle_before_s,
            expect_outcome: &t.expect_outcome,
            keep_alive: t.response.as_ref().and_then(|r| r.keep_alive.as_deref()),
        }
    }
}

/// The server's accumulator, made on its first transaction (past `MAX_SERVERS`
/// servers, the shared "(other servers)" one). Takes the two fields it needs, so the
/// summary can be folded beside it.
fn server_entry<'s>(
    servers: &'s mut HashMap<String, ServerAcc, foldhash::fast::RandomState>,
    order: &mut Vec<String>,
    name: &str,
) -> &'s mut ServerAcc {
    // One lookup when the server is known (every connection but its first).
    let known = servers.contains_key(name);
    let key = if !known && servers.len() >= MAX_SERVERS { "(other servers)" } else { name };
    if !known && !servers.contains_key(key) {
        order.push(key.to_string());
        servers.insert(key.to_string(), ServerAcc::default());
    }
    servers.get_mut(key).expect("inserted")
}

/// One transaction into the summary's counts and the idle-gap histogram.
fn fold_one(s: &mut Summary, idle_counts: &mut [u64; IDLE_BUCKETS.len() + 1], t: &TxFacts<'_>) {
    s.transactions += 1;
    if t.answered {
        s.answered_transactions += 1;
    }
    if t.reused {
        s.reused_transactions += 1;
        if let Some(idle) = t.idle_before_s {
            let b = IDLE_BUCKETS.iter().position(|(upper, _)| idle < *upper).unwrap_or(IDLE_BUCKETS.len());
            idle_counts[b] += 1;
        }
    }
    if t.pipelined {
        s.pipelined_transactions += 1;
    }
    s.max_depth = s.max_depth.max(t.depth);
    match t.expect_outcome {
        "continued" => s.expect.continued += 1,
        "rejected_before_body" => s.expect.rejected_before_body += 1,
        "body_without_continue" => s.expect.body_without_continue += 1,
        "no_response" => s.expect.no_response += 1,
        _ => s.expect.none += 1,
    }
}

#[derive(Default, Clone)]
pub struct ReportBuilder {
    summary: Summary,
    requests_per_connection: BTreeMap<u64, u64>,
    idle_counts: [u64; IDLE_BUCKETS.len() + 1],
    servers: HashMap<String, ServerAcc, foldhash::fast::RandomState>,
    server_order: Vec<String>,
    findings: Vec<Finding>,
    findings_dropped: u64,
    /// Samples kept over all servers (bounded by `MAX_SAMPLES_TOTAL`).
    samples_kept: usize,
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

impl ReportBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The accumulator of server `name` (folded into one row beyond `MAX_SERVERS`).
    fn server_acc(&mut self, name: &str) -> &mut ServerAcc {
        server_entry(&mut self.servers, &mut self.server_order, name)
    }

    /// Folds in finished transactions of a connection to `server` that is still
    /// open (see `ConnectionSink::on_transactions`); `add` folds the rest with the
    /// connection when it ends. Only HTTP connections have transactions.
    pub fn add_transactions(&mut self, server: &str, txs: &[Transaction]) {
        self.add_facts(server, txs.iter().map(TxFacts::of));
    }

    /// `add_transactions` for transactions retired while their connection was open,
    /// without making records of them (see `RetiredTransactions`).
    pub fn add_retired(&mut self, server: &str, txs: &RetiredTransactions) {
        self.add_facts(server, txs.facts());
    }

    /// One pass: the summary's counts and the server's figures together.
    fn add_facts<'a>(&mut self, server: &str, txs: impl Iterator<Item = TxFacts<'a>>) {
        let acc = server_entry(&mut self.servers, &mut self.server_order, server);
        for t in txs {
            fold_one(&mut self.summary, &mut self.idle_counts, &t);
            acc.transactions += 1;
            acc.max_depth = acc.max_depth.max(t.depth);
            if t.reused {
                acc.reused += 1;
                if let Some(idle) = t.idle_before_s.filter(|i| *i >= 0.1) {
                    if acc.reuse_gaps.len() < MAX_SAMPLES && self.samples_kept < MAX_SAMPLES_TOTAL {
                        self.samples_kept += 1;
                        acc.reuse_gaps.push(idle);
                    }
                }
            }
            if let Some(ka) = t.keep_alive {
                acc.advertised_keep_alive = Some(ka.to_string());
            }
        }
    }

    /// The summary's per-transaction counts.
    fn fold_transactions<'a>(&mut self, txs: impl Iterator<Item = TxFacts<'a>>) {
        for t in txs {
            fold_one(&mut self.summary, &mut self.idle_counts, &t);
        }
    }

    /// Folds one finished connection in (its transactions retired earlier were
    /// folded by `add_transactions`; all of them had requests and were answered).
    pub fn add(&mut self, rec: &ConnectionRecord, findings: Vec<Finding>) {
        let retired = rec.retired_transactions;
        self.summary.connections += 1;
        let requests = retired + rec.transactions.iter().filter(|t| t.request.is_some()).count() as u64;
        let is_http = rec.protocol == "http1"
            || (rec.protocol == "tunnel" && (retired > 0 || !rec.transactions.is_empty()));
        if is_http {
            self.summary.http_connections += 1;
            *self.requests_per_connection.entry(requests).or_default() += 1;
        }
        if is_http {
            self.add_transactions(&rec.server, &rec.transactions);
        } else {
            self.fold_transactions(rec.transactions.iter().map(TxFacts::of));
        }
        let s = &mut self.summary;
        match rec.close.by.as_str() {
            "client" => s.close_by.client += 1,
            "server" => s.close_by.server += 1,
            _ => s.close_by.none += 1,
        }
        s.tcp_keepalive_probes += rec.tcp_keepalive.client.probes + rec.tcp_keepalive.server.probes;
        s.tcp_keepalive_acked += rec.tcp_keepalive.client.acked + rec.tcp_keepalive.server.acked;
        for f in &findings {
            *s.findings.entry(f.kind.clone()).or_default() += 1;
        }

        // Per server: only connections that spoke HTTP say anything about a server's
        // keep-alive behaviour.
        if is_http {
            let mut samples_kept = self.samples_kept;
            let acc = self.server_acc(&rec.server);
            acc.connections += 1;
            if rec.findings.iter().any(|k| k == kind::IDLE_CLOSE_UNANNOUNCED) {
                if let Some(idle) = rec.close.idle_s {
                    if acc.idle_closes.len() < MAX_SAMPLES && samples_kept < MAX_SAMPLES_TOTAL {
                        samples_kept += 1;
                        acc.idle_closes.push(idle);
                    }
                }
            }
            // A per-connection request limit (nginx keepalive_requests): the server
            // itself announced the close on a successful answer to a client that
            // wanted to keep the connection.
            if rec.close.by == "server" && rec.close.announced {
                let limit_hit = rec.transactions.iter().rev().find(|t| t.response.is_some()).is_some_and(|t| {
                    let resp = t.response.as_ref().expect("checked");
                    let req_wants_more = t.request.as_ref().is_some_and(|r| {
                        let conn = r.connection.as_deref();
                        !has_token(conn, "close") && (r.version != "HTTP/1.0" || has_token(conn, "keep-alive"))
                    });
                    resp.status.is_some_and(|st| st < 400)
                        && has_token(resp.connection.as_deref(), "close")
                        && req_wants_more
                });
                if limit_hit {
                    let answered = retired
                        + rec.transactions.iter().filter(|t| t.request.is_some() && t.response.is_some()).count() as u64;
                    acc.max_requests_before_close = Some(acc.max_requests_before_close.unwrap_or(0).max(answered));
                }
            }
            // A request after an announced close is the client's bug, not the
            // idle-timeout race.
            if !findings.iter().any(|f| f.kind == kind::REQUEST_AFTER_CLOSE) {
                acc.stale_reuse += findings.iter().filter(|f| f.kind == kind::STALE_REUSE).count() as u64;
            }
            self.samples_kept = samples_kept;
        }

        for f in findings {
            if self.findings.len() < MAX_FINDINGS_KEPT {
                self.findings.push(f);
            } else {
                self.findings_dropped += 1;
            }
        }
    }

    pub fn summary(&self) -> Summary {
        let mut s = self.summary.clone();
        s.reuse_ratio = ratio(s.reused_transactions, s.transactions);
        s.requests_per_connection = self.requests_per_connection.iter().map(|(&k, &v)| (k, v)).collect();
        s.idle_gaps = IDLE_BUCKETS
            .iter()
            .map(|&(upper, label)| (Some(upper), label))
            .chain(std::iter::once((None, "≥60s")))
            .zip(self.idle_counts.iter())
            .map(|((upper_s, label), &count)| IdleBucket { label: label.into(), upper_s, count })
            .collect();
        s
    }

    pub fn servers(&self) -> Vec<ServerFigures> {
        let mut out: Vec<ServerFigures> = self
            .server_order
            .iter()
            .map(|name| {
                let a = &self.servers[name];
                let observed = median(&a.idle_closes).map(crate::time::round_us);
                ServerFigures {
                    server: name.clone(),
                    connections: a.connections,
                    transactions: a.transactions,
                    reuse_ratio: ratio(a.reused, a.transactions),
                    max_depth: a.max_depth,
                    advertised_keep_alive: a.advertised_keep_alive.clone(),
                    observed_idle_close_s: observed,
                    max_requests_before_close: a.max_requests_before_close,
                    verdict: race_verdict(observed, &a.reuse_gaps, a.stale_reuse),
                }
            })
            .collect();
        // Busiest servers first; ties in first-seen order.
        out.sort_by(|a, b| b.transactions.cmp(&a.transactions).then(b.connections.cmp(&a.connections)));
        out
    }

    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    pub fn findings_dropped(&self) -> u64 {
        self.findings_dropped
    }

    /// The whole document, with `connections` supplied by the caller (sorted by id).
    pub fn report(&self, mut source: SourceInfo, mut connections: Vec<ConnectionRecord>) -> Report {
        connections.sort_by_key(|c| c.id);
        if self.findings_dropped > 0 {
            source.warnings.push(format!(
                "{} findings beyond the first {} are counted in the summary but not listed",
                self.findings_dropped, MAX_FINDINGS_KEPT
            ));
        }
        let mut findings = self.findings.clone();
        findings.sort_by_key(|f| (f.connection, f.transaction.unwrap_or(0)));
        Report { version: 1, source, summary: self.summary(), servers: self.servers(), connections, findings }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 1e4).round() / 1e4
    }
}

/// The load-balancer race: a server that closes idle connections after T seconds,
/// and clients that reuse connections after idling for about T or more.
fn race_verdict(idle_close: Option<f64>, reuse_gaps: &[f64], stale_reuse: u64) -> Option<String> {
    match idle_close {
        Some(t) => {
            let near = reuse_gaps.iter().filter(|g| **g >= 0.8 * t).count();
            if near == 0 && stale_reuse == 0 {
                return None;
            }
            let mut v = format!(
                "keep-alive race: the server closes idle connections after ~{t:.1} s without announcing it, and {near} reused request(s) came after ≥{:.1} s idle",
                0.8 * t
            );
            if stale_reuse > 0 {
                v.push_str(&format!(", {stale_reuse} of them on a connection already closed"));
            }
            v.push_str(&format!("; keep the client's idle timeout well below {t:.1} s"));
            Some(v)
        }
        None if stale_reuse > 0 => Some(format!(
            "keep-alive race: {stale_reuse} request(s) were sent on connections the server had already closed; keep the client's idle timeout below the server's"
        )),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_needs_evidence() {
        assert!(race_verdict(None, &[], 0).is_none());
        assert!(race_verdict(Some(5.0), &[1.0, 2.0], 0).is_none());
        let v = race_verdict(Some(5.0), &[4.5, 1.0], 1).unwrap();
        assert!(v.contains("~5.0 s"), "{v}");
        assert!(v.contains("1 reused request(s)"), "{v}");
        assert!(race_verdict(None, &[], 2).unwrap().contains("2 request(s)"));
    }

    #[test]
    fn ratios_round() {
        assert_eq!(ratio(0, 0), 0.0);
        assert_eq!(ratio(31, 40), 0.775);
        assert_eq!(ratio(1, 3), 0.3333);
    }
}
