//! Findings: what someone chasing keep-alive trouble wants pointed out, each with a
//! sentence a person understands. Computed when a connection ends, from its state
//! (timestamps of FIN/RST, announcements) and its transactions.

use crate::http::{FramingError, Protocol};
use crate::sanitize;
use crate::tcp::Dir;

use super::connection::{CloseHow, ConnState};
use super::model::{ConnectionRecord, Finding};

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
    for (i, tx) in c.txs.iter().enumerate() {
        let Some(req) = tx.request.as_ref() else { continue };
        let depth = i as u64 + 1;
        let idle = tx.idle_before_s.map(|s| format!(" after {} idle", secs(s))).unwrap_or_default();
        if let Some(closed) = server_closed {
            if req.ts_first > closed {
                push!(
                    kind::STALE_REUSE,
                    Some(depth),
                    format!(
                        "request {depth} ({}) was sent{idle}, {} after the server had closed the connection",
                        describe(&req.head.method, &req.head.uri),
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
                            "request {depth} ({}) sent{idle} was answered by a server RST, no response",
                            describe(&req.head.method, &req.head.uri)
                        ),
                    );
                    break;
                }
            }
        }
    }

    // request_after_close: a request after `Connection: close` was announced by an
    // earlier message on this connection.
    let announcing_tx = c.txs.iter().position(|tx| {
        let close_in = |v: &Option<Box<str>>| {
            v.as_deref().map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))).unwrap_or(false)
        };
        tx.request.as_ref().map(|r| close_in(&r.head.connection)).unwrap_or(false)
            || tx.response.as_ref().map(|r| close_in(&r.head.connection)).unwrap_or(false)
    });
    if let Some(a) = announcing_tx {
        if let Some((j, tx)) = c.txs.iter().enumerate().skip(a + 1).find(|(_, tx)| tx.request.is_some()) {
            let req = tx.request.as_ref().expect("filtered on request");
            push!(
                kind::REQUEST_AFTER_CLOSE,
                Some(j as u64 + 1),
                format!(
                    "request {} ({}) was sent after transaction {} announced Connection: close",
                    j + 1,
                    describe(&req.head.method, &req.head.uri),
                    a + 1
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
                if all_answered && c.persistent_after(last) {
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
    let cut = rec.transactions.iter().any(|t| {
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
                Some(i as u64 + 1),
                format!("request {} ({}) got no response before the connection closed", i + 1, describe(&req.head.method, &req.head.uri)),
            );
        }
    }

    // expect_delay: the 100-continue dance cost time.
    for t in &rec.transactions {
        match t.expect_outcome.as_str() {
            "body_without_continue" => {
                if let Some(w) = t.expect_client_wait_s.filter(|w| *w >= EXPECT_DELAY_S) {
                    push!(
                        kind::EXPECT_DELAY,
                        Some(t.depth),
                        format!("client waited {} for a 100 Continue that never came, then sent the body anyway", secs(w)),
                    );
                }
            }
            "continued" => {
                if let Some(w) = t.expect_server_wait_s.filter(|w| *w >= EXPECT_DELAY_S) {
                    push!(kind::EXPECT_DELAY, Some(t.depth), format!("server took {} to send 100 Continue", secs(w)));
                }
            }
            _ => {}
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

    let mut kinds: Vec<String> = Vec::new();
    for f in &out {
        if !kinds.contains(&f.kind) {
            kinds.push(f.kind.clone());
        }
    }
    rec.findings = kinds;
    out
}
