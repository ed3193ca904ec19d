//! Findings: what someone chasing keep-alive trouble wants pointed out, each with a
//! sentence a person understands. Computed when a connection ends, from its state
//! (timestamps of FIN/RST, announcements) and its transactions.

use crate::http::{FramingError, Protocol};
use crate::sanitize;
use crate::tcp::Dir;

use super::connection::{has_token, CloseHow, ConnState};
use super::model::{ConnectionRecord, Finding, Text, Transaction};

/// Finding kinds, as they appear in JSON.
pub mod kind {
    pub const STALE_REUSE: &str = "stale_reuse";
    pub const IDLE_CLOSE_UNANNOUNCED: &str = "idle_close_unannounced";
    pub const REQUEST_AFTER_CLOSE: &str = "request_after_close";
    pub const MISSED_REUSE: &str = "missed_reuse";
    pub const KEEPALIVE_UNANSWERED: &str = "keepalive_unanswered";
    pub const INCOMPLETE: &str = "incomplete";
    /// A request that never got a response before the connection closed.
    pub const NO_RESPONSE: &str = "no_response";
    /// An `Expect: 100-continue` upload that waited noticeably for the server.
    pub const EXPECT_DELAY: &str = "expect_delay";
    /// A message the framer could not parse (bad Content-Length, malformed head…).
    pub const FRAMING_ERROR: &str = "framing_error";
    /// A response with no request waiting for it.
    pub const UNSOLICITED_RESPONSE: &str = "unsolicited_response";
}

/// Waits at or above this (seconds) in a 100-continue exchange are worth a finding:
/// curl's default expect timeout is 1 s, and a stall of that size is what people
/// notice in their upload times.
const EXPECT_DELAY_S: f64 = 0.5;

fn describe(method: &str, uri: &str) -> String {
    format!("{} {}", sanitize::display(method, 16), sanitize::display(uri, 60))
}

fn secs(v: f64) -> String {
    if v < 0.01 {
        format!("{:.1} ms", v * 1000.0)
    } else {
        format!("{v:.1} s")
    }
}

/// The `expect_delay` finding's message for a transaction whose 100-continue
/// exchange cost noticeable time.
pub(crate) fn expect_delay(t: &Transaction) -> Option<String> {
    expect_delay_of(&t.expect_outcome, t.expect_client_wait_s, t.expect_server_wait_s)
}

/// `expect_delay` from a transaction's expect outcome and waits (as its record holds them).
pub(crate) fn expect_delay_of(outcome: &str, client_wait_s: Option<f64>, server_wait_s: Option<f64>) -> Option<String> {
    match outcome {
        "body_without_continue" => client_wait_s.filter(|w| *w >= EXPECT_DELAY_S).map(|w| {
            format!("client waited {} for a 100 Continue that never came, then sent the body anyway", secs(w))
        }),
        "continued" => server_wait_s
            .filter(|w| *w >= EXPECT_DELAY_S)
            .map(|w| format!("server took {} to send 100 Continue", secs(w))),
        _ => None,
    }
}

/// Fills `rec.findings` (kinds) and returns the findings with their messages.
pub(crate) fn connection_findings(c: &ConnState, rec: &mut ConnectionRecord) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let id = c.id;
    fn add(out: &mut Vec<Finding>, id: u64, kind: &str, tx: Option<u64>, message: String) {
        out.push(Finding { kind: kind.into(), connection: id, transaction: tx, message });
    }
    macro_rules! push {
        ($kind:expr, $tx:expr, $msg:expr $(,)?) => {
            add(&mut out, id, $kind, $tx, $msg)
        };
    }

    for (k, tx, msg) in &c.early_findings {
        push!(k, *tx, msg.clone());
    }

    let server_fin = c.fin_ts[Dir::ServerToClient.index()];
    let server_rst = c.rst_ts[Dir::ServerToClient.index()];
    let server_closed = match (server_fin, server_rst) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    // stale_reuse: a request sent after the server had already closed its side, or
    // answered by RST with no response. The keep-alive race behind many 502s.
    // (Transactions retired while the connection was open all came before any
    // close, with their responses: they can take part in none of these.)
    let first = c.retired;
    for (i, tx) in c.txs.iter().enumerate() {
        let Some(req) = tx.request.as_ref() else { continue };
        let depth = (first + i) as u64 + 1;
        // Formatted only for a finding: most transactions have none.
        let idle = || tx.idle_before_s.map(|s| format!(" after {} idle", secs(s))).unwrap_or_default();
        if let Some(closed) = server_closed {
            if req.ts_first > closed {
                push!(
                    kind::STALE_REUSE,
                    Some(depth),
                    format!(
                        "request {depth} ({}) was sent{}, {} after the server had closed the connection",
                        describe(&req.head.method, &req.head.uri),
                        idle(),
                        secs(req.ts_first.secs_since(closed)),
                    ),
                );
                break;
            }
        }
        if tx.response.is_none() {
            if let Some(rst) = server_rst {
                if rst >= req.ts_first {
                    push!(
                        kind::STALE_REUSE,
                        Some(depth),
                        format!(
                            "request {depth} ({}) sent{} was answered by a server RST, no response",
                            describe(&req.head.method, &req.head.uri),
                            idle(),
                        ),
                    );
                    break;
                }
            }
        }
    }

    // request_after_close: a request sent after `Connection: close` was announced
    // by an earlier message on this connection — after the announcement was on the
    // wire, so a pipelined request already in flight does not count.
    let close_in = |v: &Option<Text>| has_token(v.as_deref(), "close");
    let announcement = c.txs.iter().enumerate().find_map(|(i, tx)| {
        let by_request = tx.request.as_ref().filter(|r| close_in(&r.head.connection)).map(|r| r.ts_first);
        let by_response = tx.response.as_ref().filter(|r| close_in(&r.head.connection)).map(|r| r.ts_first);
        by_request.or(by_response).map(|ts| (i, ts))
    });
    if let Some((a, announced_at)) = announcement {
        let late = c.txs.iter().enumerate().skip(a + 1).find(|(_, tx)| {
            tx.request.as_ref().is_some_and(|r| r.ts_first >= announced_at)
        });
        if let Some((j, tx)) = late {
            let req = tx.request.as_ref().expect("filtered on request");
            push!(
                kind::REQUEST_AFTER_CLOSE,
                Some((first + j) as u64 + 1),
                format!(
                    "request {} ({}) was sent after transaction {} announced Connection: close",
                    first + j + 1,
                    describe(&req.head.method, &req.head.uri),
                    first + a + 1
                ),
            );
        }
    }

    // idle_close_unannounced: the server closed an idle persistent connection
    // without saying so. Harmless alone; the cause of stale_reuse when a client
    // pool keeps connections longer than the server does.
    if let Some((Dir::ServerToClient, how, ts)) = c.first_close {
        if c.protocol == Protocol::Http1 && !rec.close.announced {
            // Idle at the close: every request sent before it was answered, and the
            // last exchange left the connection persistent. Requests sent after the
            // close (stale reuse) do not make it less idle.
            let before: Vec<_> = c
                .txs
                .iter()
                .filter(|tx| tx.request.as_ref().map(|r| r.ts_first <= ts).unwrap_or(true))
                .collect();
            let all_answered = before.iter().all(|tx| {
                tx.response.as_ref().and_then(|r| r.end).map(|e| e <= ts).unwrap_or(false)
            });
            if let Some(last) = before.last() {
                if all_answered && ConnState::persistent_after(last) {
                    let idle = rec.close.idle_s.unwrap_or(0.0);
                    let how = if how == CloseHow::Rst { " with RST" } else { "" };
                    push!(
                        kind::IDLE_CLOSE_UNANNOUNCED,
                        None,
                        format!("server closed the idle connection{how} after {} without announcing it", secs(idle)),
                    );
                }
            }
        }
    }

    // keepalive_unanswered: TCP keep-alive probes the peer never acknowledged.
    for (side, count) in [("client", &rec.tcp_keepalive.client), ("server", &rec.tcp_keepalive.server)] {
        if count.probes > count.acked {
            push!(
                kind::KEEPALIVE_UNANSWERED,
                None,
                format!(
                    "{} of {} TCP keep-alive probes sent by the {side} got no answer",
                    count.probes - count.acked,
                    count.probes
                ),
            );
        }
    }

    // incomplete: bytes missing from the capture broke a message.
    let desync = c.framing_errors.iter().any(|(_, e, _)| *e == FramingError::Desync);
    let cut = c.retired_cut || rec.transactions.iter().any(|t| {
        t.request.as_ref().map(|r| !r.complete).unwrap_or(false) || t.response.as_ref().map(|r| !r.complete).unwrap_or(false)
    });
    if (c.missing[0] > 0 || c.missing[1] > 0) && (desync || cut) {
        push!(
            kind::INCOMPLETE,
            None,
            format!(
                "{} bytes from the client and {} from the server were not captured; messages were cut",
                c.missing[0], c.missing[1]
            ),
        );
    }

    // no_response: a request the server never answered although the connection
    // was closed (when the capture just ended, nothing is concluded).
    if c.first_close.is_some() && !out.iter().any(|f| f.kind == kind::STALE_REUSE) {
        if let Some((i, tx)) =
            c.txs.iter().enumerate().find(|(_, tx)| tx.request.is_some() && tx.response.is_none())
        {
            let req = tx.request.as_ref().expect("filtered on request");
            push!(
                kind::NO_RESPONSE,
                Some((first + i) as u64 + 1),
                format!(
                    "request {} ({}) got no response before the connection closed",
                    first + i + 1,
                    describe(&req.head.method, &req.head.uri)
                ),
            );
        }
    }

    // expect_delay: the 100-continue dance cost time.
    for (depth, message) in &c.retired_expect_delays {
        push!(kind::EXPECT_DELAY, Some(*depth), message.clone());
    }
    for t in &rec.transactions {
        if let Some(message) = expect_delay(t) {
            push!(kind::EXPECT_DELAY, Some(t.depth), message);
        }
    }

    // framing errors other than gaps (those are `incomplete`).
    if let Some((dir, err, _)) = c.framing_errors.iter().find(|(_, e, _)| {
        !matches!(e, FramingError::Desync | FramingError::UnsolicitedResponse)
    }) {
        let side = if *dir == Dir::ClientToServer { "client" } else { "server" };
        let what = match err {
            FramingError::HeadTooLong => "a message head longer than the limit",
            FramingError::MalformedHead => "a message head that does not parse",
            FramingError::BadContentLength => "an invalid or conflicting Content-Length",
            FramingError::BadChunk => "a bad chunk-size line",
            FramingError::TooManyPending => "more pipelined requests than the limit",
            _ => "a framing error",
        };
        push!(kind::FRAMING_ERROR, None, format!("the {side} sent {what}; the rest of that direction was not parsed"));
    }
    if c.framing_errors.iter().any(|(_, e, _)| *e == FramingError::UnsolicitedResponse) {
        push!(kind::UNSOLICITED_RESPONSE, None, "the server sent a response no request was waiting for".into());
    }

    let mut kinds: Vec<Text> = Vec::new();
    for f in &out {
        if !kinds.iter().any(|k| *k == f.kind) {
            kinds.push(f.kind.as_str().into());
        }
    }
    rec.findings = kinds;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::connection::tests::{ep, req, resp, t};
    use crate::http::{Framing, HttpEvent, Version};

    fn conn() -> ConnState {
        let mut c = ConnState::new(7, ep(40000), ep(80), true, true, t(0));
        c.protocol = Protocol::Http1;
        c
    }

    fn exchange(c: &mut ConnState, index: u64, at: i64, connection: Option<&str>, resp_connection: Option<&str>) {
        let v = Version::Http11;
        c.on_http_event(HttpEvent::RequestHead { index, ts_first: t(at), ts_head: t(at), head: req("GET", "/x", v, connection, None) });
        c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ClientToServer, ts: t(at), body_bytes: 0, framing: Framing::None, complete: true });
        c.on_http_event(HttpEvent::ResponseHead { answers: Some(index), interim: false, ts_first: t(at + 1), ts_head: t(at + 1), head: resp(200, v, resp_connection) });
        c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ServerToClient, ts: t(at + 2), body_bytes: 5, framing: Framing::ContentLength, complete: true });
    }

    fn unanswered(c: &mut ConnState, index: u64, at: i64) {
        c.on_http_event(HttpEvent::RequestHead { index, ts_first: t(at), ts_head: t(at), head: req("GET", "/late", Version::Http11, None, None) });
    }

    fn kinds(c: &ConnState) -> Vec<String> {
        let mut rec = c.to_record();
        connection_findings(c, &mut rec).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn idle_close_then_stale_reuse() {
        let mut c = conn();
        exchange(&mut c, 0, 0, None, None);
        c.on_close_flag(Dir::ServerToClient, CloseHow::Fin, t(5000));
        unanswered(&mut c, 1, 5400);
        c.on_close_flag(Dir::ServerToClient, CloseHow::Rst, t(5401));
        let k = kinds(&c);
        assert!(k.contains(&kind::IDLE_CLOSE_UNANNOUNCED.to_string()), "{k:?}");
        assert!(k.contains(&kind::STALE_REUSE.to_string()), "{k:?}");
        assert!(!k.contains(&kind::NO_RESPONSE.to_string()), "stale reuse explains the missing response: {k:?}");
    }

    #[test]
    fn rst_answering_a_request_is_stale_reuse() {
        let mut c = conn();
        exchange(&mut c, 0, 0, None, None);
        unanswered(&mut c, 1, 3000);
        c.on_close_flag(Dir::ServerToClient, CloseHow::Rst, t(3001));
        assert_eq!(kinds(&c), vec![kind::STALE_REUSE.to_string()]);
    }

    #[test]
    fn announced_or_non_persistent_closes_are_not_unannounced() {
        let mut c = conn();
        exchange(&mut c, 0, 0, None, Some("close"));
        c.on_close_flag(Dir::ServerToClient, CloseHow::Fin, t(3));
        assert!(kinds(&c).is_empty(), "{:?}", kinds(&c));

        let mut c = conn();
        let v = Version::Http10;
        c.on_http_event(HttpEvent::RequestHead { index: 0, ts_first: t(0), ts_head: t(0), head: req("GET", "/", v, None, None) });
        c.on_http_event(HttpEvent::ResponseHead { answers: Some(0), interim: false, ts_first: t(1), ts_head: t(1), head: resp(200, v, None) });
        c.on_http_event(HttpEvent::MessageEnd { dir: Dir::ServerToClient, ts: t(2), body_bytes: 5, framing: Framing::ContentLength, complete: true });
        c.on_close_flag(Dir::ServerToClient, CloseHow::Fin, t(3));
        assert!(kinds(&c).is_empty(), "HTTP/1.0 without keep-alive closes by design: {:?}", kinds(&c));
    }

    #[test]
    fn request_after_close_counts_only_requests_sent_after_the_announcement() {
        // Pipelined: the second request left before the close was announced.
        let mut c = conn();
        c.on_http_event(HttpEvent::RequestHead { index: 0, ts_first: t(0), ts_head: t(0), head: req("GET", "/a", Version::Http11, None, None) });
        unanswered(&mut c, 1, 1);
        c.on_http_event(HttpEvent::ResponseHead { answers: Some(0), interim: false, ts_first: t(5), ts_head: t(5), head: resp(200, Version::Http11, Some("close")) });
        assert!(!kinds(&c).contains(&kind::REQUEST_AFTER_CLOSE.to_string()));

        // Sent after reading the announcement.
        let mut c = conn();
        exchange(&mut c, 0, 0, None, Some("close"));
        unanswered(&mut c, 1, 10);
        assert!(kinds(&c).contains(&kind::REQUEST_AFTER_CLOSE.to_string()));
    }

    #[test]
    fn unanswered_keepalive_probes() {
        let mut c = conn();
        c.on_probe(Dir::ClientToServer, t(1000));
        c.on_probe_ack(Dir::ClientToServer);
        c.on_probe(Dir::ClientToServer, t(2000));
        let mut rec = c.to_record();
        let found = connection_findings(&c, &mut rec);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, kind::KEEPALIVE_UNANSWERED);
        assert!(found[0].message.starts_with("1 of 2"), "{}", found[0].message);
    }
}
