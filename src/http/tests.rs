//! Behaviour of `Http1Conn`, one test per rule, plus property tests (any split of the
//! input gives the same events; the head parser agrees with httparse).

use super::*;
use crate::tcp::Dir::{ClientToServer as C, ServerToClient as S};
use proptest::prelude::*;

fn ts(n: i64) -> Timestamp {
    Timestamp(n)
}

/// Feeds each step with timestamp = its position (from 1); `None` as bytes is a FIN.
fn run_cfg(config: HttpConfig, in_sync: bool, steps: &[(Dir, &[u8])]) -> Vec<HttpEvent> {
    let mut conn = Http1Conn::new(config, in_sync);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in steps.iter().enumerate() {
        conn.on_data(*dir, ts(i as i64 + 1), bytes, &mut out);
    }
    conn.finish(ts(steps.len() as i64 + 1), &mut out);
    out
}

fn run(steps: &[(Dir, &[u8])]) -> Vec<HttpEvent> {
    run_cfg(HttpConfig::default(), true, steps)
}

fn d(dir: Dir) -> &'static str {
    match dir {
        C => "C",
        S => "S",
    }
}

/// One line per event, without timestamps, so expectations stay readable.
fn summary(events: &[HttpEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            HttpEvent::RequestHead { index, head, .. } => format!("req{index} {} {}", head.method, head.uri),
            HttpEvent::ResponseHead { answers, interim, head, .. } => {
                let to = answers.map_or("-".to_string(), |a| a.to_string());
                format!("res{to} {}{}", head.status, if *interim { " interim" } else { "" })
            }
            HttpEvent::BodyStart { dir, .. } => format!("body {}", d(*dir)),
            HttpEvent::MessageEnd { dir, body_bytes, framing, complete, .. } => {
                format!("end {} {body_bytes} {}{}", d(*dir), framing.as_str(), if *complete { "" } else { " cut" })
            }
            HttpEvent::ProtocolDetected { protocol, .. } => format!("proto {}", protocol.as_str()),
            HttpEvent::Error { dir, error, .. } => format!("err {} {error:?}", d(*dir)),
        })
        .collect()
}

fn sum(steps: &[(Dir, &[u8])]) -> Vec<String> {
    summary(&run(steps))
}

/// Events with every timestamp set to zero, for comparing differently split feeds.
fn without_ts(events: &[HttpEvent]) -> Vec<HttpEvent> {
    let z = Timestamp::ZERO;
    events
        .iter()
        .cloned()
        .map(|e| match e {
            HttpEvent::RequestHead { index, head, .. } => HttpEvent::RequestHead { index, ts_first: z, ts_head: z, head },
            HttpEvent::ResponseHead { answers, interim, head, .. } => {
                HttpEvent::ResponseHead { answers, interim, ts_first: z, ts_head: z, head }
            }
            HttpEvent::BodyStart { dir, .. } => HttpEvent::BodyStart { dir, ts: z },
            HttpEvent::MessageEnd { dir, body_bytes, framing, complete, .. } => {
                HttpEvent::MessageEnd { dir, ts: z, body_bytes, framing, complete }
            }
            HttpEvent::ProtocolDetected { protocol, .. } => HttpEvent::ProtocolDetected { protocol, ts: z },
            HttpEvent::Error { dir, error, .. } => HttpEvent::Error { dir, ts: z, error },
        })
        .collect()
}

const PIPELINED_REQUESTS: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n\
GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n\
GET /cached HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\n\r\n\
GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n\
GET /close HTTP/1.1\r\nHost: h\r\n\r\n";

const PIPELINED_RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n\
HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";

#[test]
fn pipelined_head_204_304_chunked_in_one_segment() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), PIPELINED_REQUESTS, &mut out);
    conn.on_data(S, ts(2), PIPELINED_RESPONSES, &mut out);
    conn.on_fin(S, ts(3), &mut out);
    conn.finish(ts(4), &mut out);
    assert_eq!(
        summary(&out),
        [
            "proto http1",
            "req0 GET /a",
            "end C 0 none",
            "req1 HEAD /b",
            "end C 0 none",
            "req2 GET /nocontent",
            "end C 0 none",
            "req3 GET /cached",
            "end C 0 none",
            "req4 GET /chunked",
            "end C 0 none",
            "req5 GET /close",
            "end C 0 none",
            "res0 200",
            "body S",
            "end S 5 content-length",
            // The HEAD response's Content-Length describes the GET it stands for:
            // no body, so the following responses are not swallowed.
            "res1 200",
            "end S 0 none",
            "res2 204",
            "end S 0 none",
            "res3 304",
            "end S 0 none",
            "res4 200",
            "body S",
            "end S 9 chunked",
            "res5 200",
            "body S",
            "end S 13 close-delimited",
        ]
    );
    // The close-delimited body ended at the server's FIN.
    assert!(matches!(out.last(), Some(HttpEvent::MessageEnd { ts: t, complete: true, .. }) if *t == ts(2)));
}

#[test]
fn timestamps_first_byte_head_and_last_byte() {
    let out = run(&[
        (C, b"POST /up HTTP/1.1\r\nHost: h\r\n"),
        (C, b"Content-Length: 6\r\n\r\nab"),
        (C, b"cdef"),
        (S, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert!(matches!(&out[1], HttpEvent::RequestHead { index: 0, ts_first, ts_head, head }
        if *ts_first == ts(1) && *ts_head == ts(2) && head.head_bytes == 49));
    assert!(matches!(&out[2], HttpEvent::BodyStart { dir: C, ts: t } if *t == ts(2)));
    assert!(matches!(&out[3], HttpEvent::MessageEnd { dir: C, ts: t, body_bytes: 6, framing: Framing::ContentLength, complete: true } if *t == ts(3)));
    assert!(matches!(&out[4], HttpEvent::ResponseHead { answers: Some(0), ts_first, ts_head, .. } if *ts_first == ts(4) && *ts_head == ts(4)));
    assert!(matches!(&out[5], HttpEvent::MessageEnd { dir: S, body_bytes: 0, framing: Framing::ContentLength, complete: true, .. }));
    assert_eq!(out.len(), 6);
}

#[test]
fn interim_responses_do_not_consume_the_request() {
    assert_eq!(
        sum(&[
            (C, b"GET / HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"),
            (S, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ]),
        [
            "proto http1",
            "req0 GET /",
            "end C 0 none",
            "res0 103 interim",
            "res0 100 interim",
            "res0 100 interim",
            "res0 200",
            "body S",
            "end S 2 content-length",
        ]
    );
}

#[test]
fn expect_100_continue_then_body() {
    assert_eq!(
        sum(&[
            (C, b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
            (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (C, b"data"),
            (S, b"HTTP/1.1 204 No Content\r\n\r\n"),
        ]),
        ["proto http1", "req0 PUT /f", "res0 100 interim", "body C", "end C 4 content-length", "res0 204", "end S 0 none"]
    );
}

#[test]
fn expect_100_continue_rejected_body_withdrawn() {
    // The server refuses before any body byte; the client never sends the body and
    // goes on with a new request, which must not be swallowed as 1000 body bytes.
    let out = run(&[
        (C, b"POST /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n"),
        (S, b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"),
        (C, b"GE"),
        (C, b"T /next HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        summary(&out),
        [
            "proto http1",
            "req0 POST /big",
            "res0 417",
            "end S 0 content-length",
            "end C 0 content-length",
            "req1 GET /next",
            "end C 0 none",
            "res1 200",
            "end S 0 content-length",
        ]
    );
    // The withdrawn request ended with its head, and the new one started at its first byte.
    assert!(matches!(&out[4], HttpEvent::MessageEnd { ts: t, .. } if *t == ts(1)));
    assert!(matches!(&out[5], HttpEvent::RequestHead { ts_first, ts_head, .. } if *ts_first == ts(3) && *ts_head == ts(4)));
}

#[test]
fn expect_100_continue_rejected_but_body_sent_anyway() {
    assert_eq!(
        sum(&[
            (C, b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"),
            (S, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
            (C, b"a=1&b=2&c"),
        ]),
        ["proto http1", "req0 POST /x", "res0 401", "end S 0 content-length", "body C", "end C 9 content-length"]
    );
}

#[test]
fn connect_2xx_becomes_a_tunnel() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x10", &mut out);
    conn.on_data(C, ts(3), b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n\r\n", &mut out);
    conn.on_missing(C, ts(4), 100, &mut out);
    conn.finish(ts(5), &mut out);
    assert_eq!(
        summary(&out),
        ["proto http1", "req0 CONNECT example.com:443", "end C 0 none", "res0 200", "end S 0 tunnel", "proto tunnel"]
    );
    assert_eq!(conn.protocol(), Protocol::Tunnel);
    assert_eq!(conn.tunnel_bytes(S), 5);
    assert_eq!(conn.tunnel_bytes(C), 23 + 100);
}

#[test]
fn connect_refused_is_not_a_tunnel() {
    assert_eq!(
        sum(&[
            (C, b"CONNECT h:443 HTTP/1.1\r\n\r\n"),
            (S, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nno!"),
            (C, b"GET / HTTP/1.1\r\n\r\n"),
        ]),
        ["proto http1", "req0 CONNECT h:443", "end C 0 none", "res0 407", "body S", "end S 3 content-length", "req1 GET /", "end C 0 none"]
    );
}

#[test]
fn upgrade_101_becomes_a_tunnel() {
    let out = sum(&[
        (C, b"GET /chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        (S, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
        (C, b"\x81\x85maskhello"),
    ]);
    assert_eq!(out, ["proto http1", "req0 GET /chat", "end C 0 none", "res0 101", "end S 0 tunnel", "proto tunnel"]);
}

#[test]
fn close_delimited_body_ends_at_server_fin_or_is_cut_at_finish() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET / HTTP/1.0\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.0 200 OK\r\n\r\nsome", &mut out);
    conn.on_data(S, ts(3), b" body", &mut out);
    conn.on_fin(S, ts(4), &mut out);
    conn.finish(ts(5), &mut out);
    assert_eq!(summary(&out)[3..], ["res0 200", "body S", "end S 9 close-delimited"]);
    assert!(matches!(out.last(), Some(HttpEvent::MessageEnd { ts: t, .. }) if *t == ts(3)));

    let cut = sum(&[(C, b"GET / HTTP/1.0\r\n\r\n"), (S, b"HTTP/1.0 200 OK\r\n\r\nsome")]);
    assert_eq!(cut.last().unwrap(), "end S 4 close-delimited cut");
}

#[test]
fn finish_cuts_open_messages() {
    assert_eq!(
        sum(&[
            (C, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"),
        ]),
        ["proto http1", "req0 POST /", "body C", "res0 200", "body S", "end C 5 content-length cut", "end S 3 content-length cut"]
    );
}

#[test]
fn client_fin_cuts_its_body_but_not_the_response() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n123", &mut out);
    conn.on_fin(C, ts(2), &mut out);
    conn.on_data(S, ts(3), b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1\r\n\r\nx", &mut out);
    assert_eq!(summary(&out)[3..], ["end C 3 content-length cut", "res0 400", "body S", "end S 1 content-length"]);
}

#[test]
fn chunked_wins_over_content_length_and_handles_extensions_and_trailers() {
    let out = sum(&[
        (C, b"POST /c HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        (C, b"A ; name=\"v\"\r\n0123456789\r\n10\r\n0123456789abcdef\n0;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n"),
        (C, b"GET /after HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(out, ["proto http1", "req0 POST /c", "body C", "end C 26 chunked", "req1 GET /after", "end C 0 none"]);
}

#[test]
fn response_with_other_transfer_coding_is_close_delimited() {
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz")]);
    assert_eq!(out[3..], ["res0 200", "body S", "end S 3 close-delimited cut"]);
}

#[test]
fn bad_content_length_stops_the_direction() {
    for cl in ["abc", "5, 6", "-1", "", "1 2"] {
        let req = format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\nhello GET / HTTP/1.1\r\n\r\n");
        let out = sum(&[(C, req.as_bytes())]);
        assert_eq!(out, ["proto http1", "req0 POST /", "err C BadContentLength", "end C 0 content-length cut"], "CL {cl:?}");
    }
    // Repeated identical values are one valid length.
    let out = sum(&[(C, b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")]);
    assert_eq!(out[2..], ["body C", "end C 2 content-length"]);
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx")]);
    assert_eq!(out[3..], ["res0 200", "err S BadContentLength", "end S 0 content-length cut"]);
}

#[test]
fn request_with_unframeable_transfer_coding_is_an_error() {
    let out = sum(&[(C, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxx")]);
    assert_eq!(out, ["proto http1", "req0 POST /", "err C BadContentLength", "end C 0 content-length cut"]);
}

#[test]
fn bad_chunks_are_reported_and_bounded() {
    let out = sum(&[
        (C, b"GET / HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ]);
    assert_eq!(out[3..], ["res0 200", "body S", "err S BadChunk", "end S 0 chunked cut"]);
    // Endless size digits stop at the bound instead of overflowing.
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b'f', 100_000));
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, &resp)]);
    assert_eq!(out[3..], ["res0 200", "body S", "err S BadChunk", "end S 0 chunked cut"]);
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b'0', 100));
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, &resp)]);
    assert_eq!(out[5], "err S BadChunk");
    // Data not followed by CRLF.
    let out = sum(&[
        (C, b"GET / HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
    ]);
    assert_eq!(out[5..7], ["err S BadChunk", "end S 2 chunked cut"]);
}

#[test]
fn malformed_head_resyncs_at_the_next_request() {
    let out = sum(&[
        (C, b"GET / HTTP/1.1\r\n\r\n"),
        (C, b"this is not http\r\nGET /ok HTTP/1.1\r\n\r\n"),
        (C, b"GET /bad HTTP/1.1\r\nBad : space before the colon\r\n\r\nGET /ok2 HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(
        out,
        [
            "proto http1",
            "req0 GET /",
            "end C 0 none",
            "err C MalformedHead",
            "req1 GET /ok",
            "end C 0 none",
            "err C MalformedHead",
            "req2 GET /ok2",
            "end C 0 none",
        ]
    );
}

#[test]
fn head_too_long_and_too_many_headers() {
    let config = HttpConfig { max_head_bytes: 64, max_headers: 2, max_pending_requests: 8, ..HttpConfig::default() };
    let mut long = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100));
    long.extend_from_slice(b"\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    let out = summary(&run_cfg(config.clone(), true, &[(C, b"GET / HTTP/1.1\r\n\r\n"), (C, &long)]));
    assert_eq!(out[3..], ["err C HeadTooLong", "req1 GET /next", "end C 0 none"]);
    // Also when it arrives a byte at a time (the buffer must stay bounded).
    let steps: Vec<(Dir, &[u8])> = long.chunks(1).map(|b| (C, b)).collect();
    let out = summary(&run_cfg(config.clone(), true, &steps));
    assert_eq!(out, ["proto http1", "err C HeadTooLong", "req0 GET /next", "end C 0 none"]);
    let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let out = summary(&run_cfg(config, true, &[(C, many)]));
    assert_eq!(out, ["proto http1", "err C HeadTooLong"]);
}

#[test]
fn unsolicited_response_is_reported_not_dropped() {
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")]);
    assert_eq!(out[3..], ["res0 200", "end S 0 content-length", "res- 408", "err S UnsolicitedResponse", "end S 0 content-length"]);
}

#[test]
fn too_many_pending_gives_up_the_oldest() {
    let config = HttpConfig { max_pending_requests: 2, ..HttpConfig::default() };
    let out = summary(&run_cfg(
        config,
        true,
        &[(C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 204 No Content\r\n\r\n")],
    ));
    assert_eq!(out[5..], ["req2 GET /3", "err C TooManyPending", "end C 0 none", "res1 204", "end S 0 none"]);
}

#[test]
fn http09_request_and_bare_response() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET /old.html\r\n", &mut out);
    conn.on_data(S, ts(2), b"<html>hi</html>", &mut out);
    conn.on_fin(S, ts(3), &mut out);
    assert_eq!(summary(&out), ["proto http1", "req0 GET /old.html", "end C 0 none", "res0 0", "body S", "end S 15 close-delimited"]);
    assert!(matches!(&out[1], HttpEvent::RequestHead { head, .. } if head.version == Version::Http09));
    // A 1.1 request answered the 0.9 way (zeek/http.curl-http-09).
    let out = sum(&[(C, b"GET /zeek.html HTTP/1.1\r\nHost: localhost\r\n\r\n"), (S, b"<html>\n</html>\n")]);
    assert_eq!(out[3..], ["res0 0", "body S", "end S 15 close-delimited cut"]);
    // ... but only as the first answer: later, bytes that are no status line are malformed.
    let out = sum(&[
        (C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx<junk>\r\n"),
    ]);
    assert_eq!(out[out.len() - 3..], ["body S", "end S 1 content-length", "err S MalformedHead"]);
    // A 0.9-style request answered with a real status line is parsed as one.
    let out = sum(&[(C, b"GET /\n"), (S, b"HTTP/1.0 200 OK\n\nbody")]);
    assert_eq!(out[3..], ["res0 200", "body S", "end S 4 close-delimited cut"]);
}

#[test]
fn header_fields_and_line_endings() {
    let raw: &[u8] = b"\r\n\r\nget /x?\xff HTTP/1.1\nHOST: a\ncOnNeCtIoN: keep-alive\nConnection: Upgrade\nUpgrade: h2c,\n  websocket\nKeep-Alive: timeout=5,\n\t max=9\nExpect:  100-continue \n\n";
    let out = run(&[(C, raw)]);
    let HttpEvent::RequestHead { head, .. } = &out[1] else { panic!("{out:?}") };
    assert_eq!(head.method, "get");
    assert_eq!(head.uri, "/x?\u{fffd}");
    assert_eq!(head.connection.as_deref(), Some("keep-alive, Upgrade"));
    // An obs-fold continues the field before it (the one after an unkept field is
    // dropped with it).
    assert_eq!(head.keep_alive.as_deref(), Some("timeout=5, max=9"));
    assert_eq!(head.expect.as_deref(), Some("100-continue"));
    // The empty lines before the request are not part of its head.
    assert_eq!(head.head_bytes as usize, raw.len() - 4);
    let out = run(&[(C, b"GET / HTTP/1.0\r\n\r\n"), (S, b"HTTP/1.0 200 \r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n")]);
    let HttpEvent::ResponseHead { head, .. } = &out[3] else { panic!("{out:?}") };
    assert_eq!((head.status, &*head.reason, head.version), (200, "", Version::Http10));
    assert_eq!(head.keep_alive.as_deref(), Some("timeout=5, max=100"));
    assert!(matches!(&out[4], HttpEvent::MessageEnd { dir: S, body_bytes: 0, framing: Framing::ContentLength, complete: true, .. }), "{out:?}");
}

#[test]
fn missing_bytes_inside_a_content_length_body_keep_framing() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc", &mut out);
    conn.on_missing(S, ts(3), 990, &mut out);
    conn.on_data(S, ts(4), b"1234567HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", &mut out);
    assert_eq!(summary(&out)[5..], ["res0 200", "body S", "end S 1000 content-length", "res1 200", "body S", "end S 1 content-length"]);
}

#[test]
fn missing_bytes_in_a_chunked_body_or_head_desync_and_resync() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nab", &mut out);
    conn.on_missing(S, ts(3), 50, &mut out);
    conn.on_data(S, ts(4), b"more body\r\nstill body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 O", &mut out);
    conn.on_missing(S, ts(5), 10, &mut out);
    conn.on_data(S, ts(6), b"Foo: bar\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", &mut out);
    assert_eq!(
        summary(&out)[7..],
        [
            "res0 200",
            "body S",
            "err S Desync",
            "end S 2 chunked cut",
            "res1 200",
            "end S 0 content-length",
            "err S Desync",
            "res2 204",
            "end S 0 none",
        ]
    );
}

#[test]
fn a_head_cut_by_the_snaplen_is_reported_as_far_as_captured() {
    // tcpdump -s 256: each response's packet loses the end of its head. The status
    // line and the fields captured are reported, the message ends cut off, and the
    // next response (next packet) is found again and paired with the next request.
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Len", &mut out);
    conn.on_missing(S, ts(2), 120, &mut out);
    conn.on_data(C, ts(3), b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", &mut out);
    conn.on_data(S, ts(4), b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &mut out);
    assert_eq!(
        summary(&out),
        [
            "proto http1",
            "req0 GET /a",
            "end C 0 none",
            "res0 200",
            "end S 0 none cut",
            "err S Desync",
            "req1 GET /b",
            "end C 0 none",
            "res1 404",
            "end S 0 content-length",
        ]
    );
    let HttpEvent::ResponseHead { head, .. } = &out[3] else { panic!("{:?}", out[3]) };
    assert_eq!(head.connection.as_deref(), Some("keep-alive"), "fields before the cut are kept");
}

#[test]
fn capture_started_mid_connection_resyncs() {
    let out = summary(&run_cfg(
        HttpConfig::default(),
        false,
        &[
            (S, b"dy of a response we missed\r\nHTTP/1.1 fake\r\n"),
            (C, b"ost: x\r\n\r\nGET /seen HTTP/1.1\r\nHost: x\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        ],
    ));
    assert_eq!(out, ["proto http1", "req0 GET /seen", "end C 0 none", "res0 200", "body S", "end S 3 content-length"]);
    // Resync also finds a start line split across segments.
    let out = summary(&run_cfg(HttpConfig::default(), false, &[(C, b"xx\r\nGE"), (C, b"T /a HT"), (C, b"TP/1.1\r\n\r\n")]));
    assert_eq!(out, ["proto http1", "req0 GET /a", "end C 0 none"]);
}

#[test]
fn non_http_protocols_are_recognised_and_not_parsed() {
    let cases: [(&[u8], Dir, &str); 5] = [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", C, "proto tls"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", C, "proto http2"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", S, "proto other"),
        (b"220 mail.example.com ESMTP\r\n", S, "proto other"),
        (b"\x00\x00\x00\x01binary", C, "proto other"),
    ];
    for (first, dir, want) in cases {
        let mut conn = Http1Conn::new(HttpConfig::default(), true);
        let mut out = Vec::new();
        // Split the first line to check detection waits for enough bytes.
        conn.on_data(dir, ts(1), &first[..1], &mut out);
        conn.on_data(dir, ts(2), &first[1..], &mut out);
        conn.on_data(dir.flip(), ts(3), b"GET / HTTP/1.1\r\n\r\n", &mut out);
        conn.finish(ts(4), &mut out);
        assert_eq!(summary(&out), [want], "{first:?}");
    }
    // HTTP on a split first line, any port: decided once the line is whole.
    let out = sum(&[(C, b"G"), (C, b"ET /x HT"), (C, b"TP/1.1\r\nHost: a\r\n\r\n")]);
    assert_eq!(out, ["proto http1", "req0 GET /x", "end C 0 none"]);
    // A request line without a target is a request with an empty one (zeek/http.no-uri).
    let out = sum(&[(C, b"GET HTTP/1.1\r\nHost: a\r\n\r\n")]);
    assert_eq!(out, ["proto http1", "req0 GET ", "end C 0 none"]);
    // A first line that names HTTP/1.x but is no request line is still broken HTTP.
    let out = sum(&[(C, b"OPTIONSHTTP/1.1\r\nHost: a\r\n\r\n")]);
    assert_eq!(out[..2], ["proto http1", "err C MalformedHead"]);
    // TLS seen mid-connection.
    let out = summary(&run_cfg(HttpConfig::default(), false, &[(S, b"\x17\x03\x03\x00\x20abc")]));
    assert_eq!(out, ["proto tls"]);
}

/// zeek/http.http-methods: a client whose first line is no request (`OPTIONS` alone)
/// still gets an HTTP answer; the server's status line decides that the connection is
/// HTTP and the response is kept (unpaired) instead of being lost with the request.
#[test]
fn unparseable_first_request_keeps_the_servers_answer() {
    let out = sum(&[
        (C, b"OPTIONS\r\nHost: a\r\n\r\n"),
        (S, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno"),
        (C, b"GET /next HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(
        out,
        [
            "proto http1",
            "err C MalformedHead",
            "res- 400",
            "err S UnsolicitedResponse",
            "body S",
            "end S 2 content-length",
            "req0 GET /next",
            "end C 0 none",
        ]
    );
    // Without an HTTP answer the client's line decides: not HTTP.
    for server in [&b"+OK ready\r\n"[..], b"GET / HTTP/1.1\r\n\r\n"] {
        let mut conn = Http1Conn::new(HttpConfig::default(), true);
        let mut out = Vec::new();
        conn.on_data(C, ts(1), b"PING\r\n", &mut out);
        conn.on_data(S, ts(2), server, &mut out);
        conn.finish(ts(3), &mut out);
        assert_eq!(summary(&out), ["proto other"], "{server:?}");
    }
    // The server never speaks: decided at the end.
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"PING\r\n", &mut out);
    assert!(out.is_empty());
    conn.finish(ts(3), &mut out);
    assert_eq!(summary(&out), ["proto other"]);
    assert_eq!(conn.protocol(), Protocol::Other);
}

/// zeek/http.http-methods, http.http-09, http.http-connect: request lines Zeek logs
/// and servers answer, though they bend the grammar.
#[test]
fn lenient_request_lines_and_fields() {
    // Truncated version, read as 1.0.
    let out = sum(&[(C, b"GET / HTTP/1.\r\nHost: a\r\n\r\n"), (S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
    assert_eq!(out, ["proto http1", "req0 GET /", "end C 0 none", "res0 200", "end S 0 content-length"]);
    // No target.
    let out = sum(&[(C, b"OPTIONS HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")]);
    assert_eq!(out, ["proto http1", "req0 OPTIONS ", "end C 0 none", "res0 400", "end S 0 content-length"]);
    // A non-GET method in the version-less form is an HTTP/0.9-form request.
    let out = sum(&[(C, b"POST /zeek.html\r\n")]);
    assert_eq!(out[..2], ["proto http1", "req0 POST /zeek.html"]);
    // A field line without a colon is skipped; the request survives and the CONNECT's
    // 200 still opens the tunnel.
    let out = sum(&[
        (C, b"CONNECT mail.example:25 / HTTP/1.0\r\nMozilla 4.0 (compatible; MSIE 5.01)\r\nHost: x\r\n\r\n"),
        (S, b"HTTP/1.0 200 Connection established\r\n\r\n220 smtp\r\n"),
    ]);
    assert_eq!(out[..3], ["proto http1", "req0 CONNECT mail.example:25 /", "end C 0 none"]);
    assert!(out.contains(&"proto tunnel".to_string()), "{out:?}");
}

#[test]
fn sniff_role_cases() {
    assert_eq!(sniff_role(b"GET / HTTP/1.1\r\n"), Role::Request);
    assert_eq!(sniff_role(b"\r\nPOST /upl"), Role::Request);
    assert_eq!(sniff_role(b"HTTP/1.1 200 OK\r\n"), Role::Response);
    assert_eq!(sniff_role(b"HTTP/"), Role::Response);
    assert_eq!(sniff_role(b"GE"), Role::Unknown);
    assert_eq!(sniff_role(b"\x16\x03\x01"), Role::Unknown);
    assert_eq!(sniff_role(b"SSH-2.0-x\r\n"), Role::Unknown);
    assert_eq!(sniff_role(b""), Role::Unknown);
    assert_eq!(sniff_role(b"220 mail.example.com ES"), Role::Unknown);
    assert_eq!(sniff_role(b"M-SEARCH * HT"), Role::Request);
}

#[test]
fn bodies_are_counted_not_buffered() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET / HTTP/1.1\r\n\r\n", &mut out);
    conn.on_data(S, ts(2), b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n", &mut out);
    let segment = [b'x'; 1448];
    for i in 0..10_000_000 / 1448 {
        conn.on_data(S, ts(3 + i), &segment, &mut out);
    }
    conn.on_data(S, ts(99_999), &segment[..10_000_000 % 1448], &mut out);
    assert_eq!(summary(&out).last().unwrap(), "end S 10000000 content-length");
    assert_eq!(out.len(), 6);
    assert!(conn.inner.buffer_capacity(S) < 1024);
}

/// Feeds `client` then `server`, each cut at `client_cuts` / `server_cuts`.
fn feed_split(client: &[u8], server: &[u8], client_cuts: &[usize], server_cuts: &[usize]) -> Vec<HttpEvent> {
    let mut steps: Vec<(Dir, &[u8])> = Vec::new();
    for (dir, bytes, cuts) in [(C, client, client_cuts), (S, server, server_cuts)] {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            if cut > at {
                steps.push((dir, &bytes[at..cut]));
                at = cut;
            }
        }
    }
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in steps.iter().enumerate() {
        conn.on_data(*dir, ts(i as i64), bytes, &mut out);
    }
    conn.on_fin(S, ts(1000), &mut out);
    conn.finish(ts(1001), &mut out);
    without_ts(&out)
}

const TRANSCRIPTS: &[(&[u8], &[u8])] = &[
    (PIPELINED_REQUESTS, PIPELINED_RESPONSES),
    (
        b"\r\nPOST /u HTTP/1.1\nTransfer-Encoding: chunked\n\n3;a=b\nabc\n0\nT: 1\n\nGET /old\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 3\r\n\r\nxyzHTTP/1.0 200 OK\r\n\r\n",
    ),
    (b"GET / HTTP/1.1\r\nBad\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
];

#[test]
fn every_single_split_point_gives_the_same_events() {
    for (client, server) in TRANSCRIPTS {
        let whole = feed_split(client, server, &[], &[]);
        for cut in 0..=client.len() {
            assert_eq!(feed_split(client, server, &[cut], &[]), whole, "client cut {cut}");
        }
        for cut in 0..=server.len() {
            assert_eq!(feed_split(client, server, &[], &[cut]), whole, "server cut {cut}");
        }
        let every: Vec<usize> = (0..client.len().max(server.len())).collect();
        assert_eq!(feed_split(client, server, &every, &every), whole, "one byte at a time");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_events(
        which in 0..TRANSCRIPTS.len(),
        client_cuts in proptest::collection::vec(any::<usize>(), 0..40),
        server_cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (client, server) = TRANSCRIPTS[which];
        prop_assert_eq!(feed_split(client, server, &client_cuts, &server_cuts), feed_split(client, server, &[], &[]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64), 0u8..8), 0..24),
        in_sync in any::<bool>(),
    ) {
        let mut conn = Http1Conn::new(HttpConfig { max_head_bytes: 256, max_headers: 8, max_pending_requests: 4, ..HttpConfig::default() }, in_sync);
        let mut out = Vec::new();
        for (i, (client, bytes, op)) in chunks.iter().enumerate() {
            let dir = if *client { C } else { S };
            match op {
                0 => conn.on_missing(dir, ts(i as i64), bytes.len() as u64 + 1, &mut out),
                1 => conn.on_fin(dir, ts(i as i64), &mut out),
                _ => conn.on_data(dir, ts(i as i64), bytes, &mut out),
            }
        }
        conn.finish(ts(99), &mut out);
        // Every head gets at most one end per direction: ends never outnumber heads.
        let heads = out.iter().filter(|e| matches!(e, HttpEvent::RequestHead { .. } | HttpEvent::ResponseHead { interim: false, .. })).count();
        let ends = out.iter().filter(|e| matches!(e, HttpEvent::MessageEnd { .. })).count();
        prop_assert!(ends <= heads, "{} ends for {} heads: {:?}", ends, heads, out);
    }
}

// ---- differential test of the head parser against httparse ----

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field_value() -> impl Strategy<Value = String> {
    // Visible ASCII with inner spaces; no leading/trailing whitespace (both parsers trim).
    "[!-~]([ -~]{0,20}[!-~])?"
}

struct Collect(Vec<(String, String)>);
impl parse::HeaderSink for Collect {
    fn header(&mut self, name: &[u8], value: &[u8]) {
        self.0.push((lossy(name), lossy(value)));
    }
    fn fold(&mut self, _piece: &[u8]) {
        unreachable!("the generator produces no obs-fold")
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a head through the framer's head finder and parser, a byte at a time.
fn head_end_via_framer(head: &[u8]) -> Option<usize> {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    let mut fed = 0;
    for b in head.chunks(1) {
        conn.on_data(C, ts(0), b, &mut out);
        fed += 1;
        if out.iter().any(|e| matches!(e, HttpEvent::RequestHead { .. })) {
            return Some(fed);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn request_heads_agree_with_httparse(
        method in token(),
        path in "/[!-~]{0,30}",
        minor in 0u8..=1,
        headers in proptest::collection::vec((token(), field_value()), 0..8),
        bare_lf in any::<bool>(),
    ) {
        let eol = if bare_lf { "\n" } else { "\r\n" };
        let mut text = format!("{method} {path} HTTP/1.{minor}{eol}");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}{eol}"));
        }
        text.push_str(eol);
        let bytes = text.as_bytes();
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut slots);
        let status = req.parse(bytes);
        let mut ours = Collect(Vec::new());
        let parsed = parse::parse_head(bytes, true, parse::FramerNotes::default(), 16, &mut ours);
        if let Ok(httparse::Status::Complete(n)) = status {
            prop_assert_eq!(n, bytes.len());
            let Ok(parse::StartLine::Request(line)) = parsed else { panic!("we rejected what httparse accepts: {text:?}") };
            let (m, t) = (lossy(line.method), lossy(line.target));
            prop_assert_eq!(Some(m.as_str()), req.method);
            prop_assert_eq!(Some(t.as_str()), req.path);
            prop_assert_eq!(line.version, if req.version == Some(1) { Version::Http11 } else { Version::Http10 });
            let theirs: Vec<(String, String)> = req.headers.iter().map(|h| (h.name.to_string(), lossy(h.value))).collect();
            prop_assert_eq!(&ours.0, &theirs);
            prop_assert_eq!(head_end_via_framer(bytes), Some(n));
        }
    }

    #[test]
    fn response_heads_agree_with_httparse(
        code in 100u16..=999,
        reason in "([!-~][ -~]{0,15})?",
        minor in 0u8..=1,
        headers in proptest::collection::vec((token(), field_value()), 0..8),
        bare_lf in any::<bool>(),
    ) {
        let eol = if bare_lf { "\n" } else { "\r\n" };
        let mut text = format!("HTTP/1.{minor} {code} {reason}{eol}");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}{eol}"));
        }
        text.push_str(eol);
        let bytes = text.as_bytes();
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut res = httparse::Response::new(&mut slots);
        let status = res.parse(bytes);
        let mut ours = Collect(Vec::new());
        let parsed = parse::parse_head(bytes, false, parse::FramerNotes::default(), 16, &mut ours);
        if let Ok(httparse::Status::Complete(n)) = status {
            prop_assert_eq!(n, bytes.len());
            let Ok(parse::StartLine::Status(line)) = parsed else { panic!("we rejected what httparse accepts: {text:?}") };
            prop_assert_eq!(Some(line.status), res.code);
            let r = lossy(line.reason);
            prop_assert_eq!(Some(r.as_str()), res.reason);
            let theirs: Vec<(String, String)> = res.headers.iter().map(|h| (h.name.to_string(), lossy(h.value))).collect();
            prop_assert_eq!(&ours.0, &theirs);
        }
    }

    #[test]
    fn random_bytes_accepted_by_httparse_are_accepted_by_us(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b':'), Just(b'/'), 0x21u8..0x7f], 0..80),
    ) {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend_from_slice(&bytes);
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut slots);
        if let Ok(httparse::Status::Complete(n)) = req.parse(&head) {
            let mut ours = Collect(Vec::new());
            let parsed = parse::parse_head(&head[..n], true, parse::FramerNotes::default(), 64, &mut ours);
            prop_assert!(parsed.is_ok(), "rejected {:?}", String::from_utf8_lossy(&head[..n]));
            let theirs: Vec<(String, String)> = req.headers.iter().map(|h| (h.name.to_string(), lossy(h.value))).collect();
            prop_assert_eq!(&ours.0, &theirs);
            prop_assert_eq!(head_end_via_framer(&head), Some(n));
        }
    }
}

#[test]
fn long_candidate_lines_trickling_in_stay_bounded_and_correct() {
    // Resync through a long plausible line fed a byte at a time, then a real request.
    let mut stream = b"GET /".to_vec();
    stream.extend(std::iter::repeat_n(b'a', 7000));
    stream.extend_from_slice(b" NOT-A-VERSION\r\nGET /real HTTP/1.1\r\n\r\n");
    let steps: Vec<(Dir, &[u8])> = stream.chunks(1).map(|b| (C, b)).collect();
    let out = summary(&run_cfg(HttpConfig::default(), false, &steps));
    assert_eq!(out, ["proto http1", "req0 GET /real", "end C 0 none"]);
    // A first line that never ends is "other" once it passes the bound.
    let junk = vec![b'A'; 9000];
    let steps: Vec<(Dir, &[u8])> = junk.chunks(1).map(|b| (S, b)).collect();
    assert_eq!(summary(&run_cfg(HttpConfig::default(), true, &steps)), ["proto other"]);
    // A banner trickling in is rejected when its line ends, not after the bound.
    let banner = b"SSH-2.0-OpenSSH_9.6\r\n";
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    for b in banner.chunks(1) {
        conn.on_data(S, ts(1), b, &mut out);
    }
    assert_eq!(conn.protocol(), Protocol::Other);
    // The 100-continue decision on a request line arriving a byte at a time.
    let mut steps: Vec<(Dir, &[u8])> = vec![
        (C, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
        (S, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
    ];
    let next = b"DELETE /x HTTP/1.1\r\n\r\n";
    steps.extend(next.chunks(1).map(|b| (C, b)));
    let out = summary(&run(&steps));
    assert_eq!(out[4..], ["end C 0 content-length", "req1 DELETE /x", "end C 0 none"]);
}

// ---- real captures from the shared corpus ----

/// A minimal stand-in for the capture and TCP stages, enough for the clean
/// single-connection captures below: little-endian µs pcap, Ethernet, in-order
/// delivery per direction (retransmitted bytes dropped, early segments held back).
fn corpus_events(path: &str) -> Vec<HttpEvent> {
    use etherparse::{SlicedPacket, TransportSlice};
    use std::collections::BTreeMap;
    let file = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian µs pcap expected");
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    let mut client_port: Option<u16> = None;
    let mut next_seq: [Option<u32>; 2] = [None, None];
    let mut held: [BTreeMap<u32, Vec<u8>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut fin_at: [Option<u32>; 2] = [None, None];
    let mut at = 24;
    while at + 16 <= file.len() {
        let t = Timestamp::from_secs_nanos(i64::from(u32_at(at)), i64::from(u32_at(at + 4)) * 1000);
        let len = u32_at(at + 8) as usize;
        let packet = &file[at + 16..at + 16 + len];
        at += 16 + len;
        let Ok(sliced) = SlicedPacket::from_ethernet(packet) else { continue };
        let Some(TransportSlice::Tcp(tcp)) = sliced.transport else { continue };
        if tcp.syn() && !tcp.ack() {
            client_port.get_or_insert(tcp.source_port());
        }
        let Some(client) = client_port else { continue };
        let dir = if tcp.source_port() == client { C } else { S };
        let d = dir.index();
        let seq = tcp.sequence_number();
        if tcp.syn() {
            next_seq[d] = Some(seq.wrapping_add(1));
            continue;
        }
        let payload = tcp.payload();
        if tcp.fin() {
            fin_at[d] = Some(seq.wrapping_add(payload.len() as u32));
        }
        if !payload.is_empty() {
            held[d].entry(seq).or_insert_with(|| payload.to_vec());
        }
        let Some(mut next) = next_seq[d] else { continue };
        while let Some((&s, _)) = held[d].iter().next() {
            if s > next {
                break;
            }
            let bytes = held[d].remove(&s).unwrap();
            let skip = (next - s) as usize;
            if skip < bytes.len() {
                conn.on_data(dir, t, &bytes[skip..], &mut out);
                next = s + bytes.len() as u32;
            }
        }
        next_seq[d] = Some(next);
        if fin_at[d] == Some(next) {
            fin_at[d] = None;
            conn.on_fin(dir, t, &mut out);
        }
    }
    conn.finish(Timestamp(i64::MAX), &mut out);
    out
}

fn corpus(rel: &str) -> String {
    format!("{}/../shared/corpus/{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn corpus_two_100_continue_before_200() {
    let out = summary(&corpus_events(&corpus("suricata/http-multiple100/input.pcap")));
    // The second 100 arrives while the body is being sent; the 34 498-byte multipart
    // body carries the 34 293-byte file Suricata expects.
    assert_eq!(
        out,
        [
            "proto http1",
            "req0 POST /upload",
            "res0 100 interim",
            "body C",
            "res0 100 interim",
            "end C 34498 content-length",
            "res0 200",
            "body S",
            "end S 27 content-length",
        ]
    );
}

#[test]
fn corpus_100_continue_upload() {
    let events = corpus_events(&corpus("zeek/http.100-continue/100-continue.pcap"));
    let out = summary(&events);
    assert!(out.iter().all(|l| !l.starts_with("err") && !l.ends_with(" cut")), "{out:?}");
    let HttpEvent::RequestHead { head, .. } = events.iter().find(|e| matches!(e, HttpEvent::RequestHead { .. })).unwrap() else {
        unreachable!()
    };
    assert_eq!((&*head.method, head.expect.as_deref()), ("POST", Some("100-continue")));
    let statuses: Vec<&String> = out.iter().filter(|l| l.starts_with("res")).collect();
    assert_eq!(statuses, ["res0 100 interim", "res0 200"], "{out:?}");
}

#[test]
fn corpus_forty_pipelined_requests_pair_in_order() {
    let events = corpus_events(&corpus("suricata/http-protocol-nodup/input.pcap"));
    let answers: Vec<Option<u64>> = events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::ResponseHead { answers, interim: false, .. } => Some(*answers),
            _ => None,
        })
        .collect();
    assert_eq!(answers, (0..40).map(Some).collect::<Vec<_>>());
    let requests = events.iter().filter(|e| matches!(e, HttpEvent::RequestHead { .. })).count();
    assert_eq!(requests, 40);
    let bad: Vec<&HttpEvent> =
        events.iter().filter(|e| matches!(e, HttpEvent::Error { .. } | HttpEvent::MessageEnd { complete: false, .. })).collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn head_cut_off_by_the_close_is_reported() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_data(C, ts(1), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut out);
    // suricata/http-close-headers: the server closes right after its fields.
    conn.on_data(S, ts(2), b"HTTP/1.0 200 OK\nServer:ng1nx\r\n", &mut out);
    conn.on_fin(S, ts(3), &mut out);
    assert_eq!(summary(&out)[3..], ["res0 200", "end S 0 close-delimited cut"]);
    assert!(matches!(&out[3], HttpEvent::ResponseHead { ts_head, .. } if *ts_head == ts(2)));
    // A start line that never ended is dropped.
    let out = sum(&[(C, b"GET / HTTP/1.1\r\n\r\n"), (S, b"HTTP/1.1 20")]);
    assert_eq!(out.len(), 3);
}

#[test]
fn corpus_response_closed_without_empty_line() {
    let out = summary(&corpus_events(&corpus("suricata/http-close-headers/input.pcap")));
    assert_eq!(out, ["proto http1", "req0 GET /", "end C 0 none", "res0 200", "end S 0 close-delimited cut"]);
}

#[test]
fn corpus_websocket_upgrade_and_request_smuggling_attempt() {
    let out = summary(&corpus_events(&corpus("zeek/http.101-switching-protocols/websocket.pcap")));
    assert_eq!(out, ["proto http1", "req0 GET /echo?.kl=Y", "end C 0 none", "res0 101", "end S 0 tunnel", "proto tunnel"]);
    // A Content-Length inside the first request's body must not become a request.
    let out = summary(&corpus_events(&corpus("zeek/http.content-length-in-request-body/content-length-in-request-body.pcap")));
    let requests: Vec<&String> = out.iter().filter(|l| l.starts_with("req")).collect();
    assert_eq!(requests, ["req0 POST /first", "req1 POST /smuggle-this"]);
    assert!(out.contains(&"end C 95 content-length".to_string()), "{out:?}");
}

#[test]
fn gap_before_anything_was_decided_resyncs() {
    let mut conn = Http1Conn::new(HttpConfig::default(), true);
    let mut out = Vec::new();
    conn.on_missing(C, ts(1), 40, &mut out);
    conn.on_data(C, ts(2), b"der: x\r\n\r\nGET /after-gap HTTP/1.1\r\n\r\n", &mut out);
    conn.on_data(S, ts(3), b"HTTP/1.1 204 No Content\r\n\r\n", &mut out);
    assert_eq!(summary(&out), ["err C Desync", "proto http1", "req0 GET /after-gap", "end C 0 none", "res0 204", "end S 0 none"]);
}

#[test]
fn corpus_lower_case_version_and_http09_answer() {
    let out = summary(&corpus_events(&corpus("zeek/http.http-lower-case/http-lower-case.pcap")));
    // "http/1.1 200 OK", chunked, and the capture ends before any body byte.
    assert_eq!(out, ["proto http1", "req0 GET /index.html", "end C 0 none", "res0 200", "end S 0 chunked cut"]);
    let events = corpus_events(&corpus("zeek/http.curl-http-09/curl_http_09.pcap"));
    assert!(
        events.iter().any(|e| matches!(e, HttpEvent::ResponseHead { answers: Some(0), head, .. } if head.version == Version::Http09 && head.status == 0)),
        "{events:?}"
    );
}

/// The one-OR comparison of field names agrees with `eq_ignore_ascii_case` for every
/// token character at every position of every kept name.
#[test]
fn field_names_match_as_eq_ignore_ascii_case_does() {
    use super::conn::{is_field_name, FIELD_NAMES};
    let tokens: Vec<u8> = (0..=255u8).filter(|&b| parse::is_tchar(b)).collect();
    for lower in FIELD_NAMES {
        assert!(is_field_name(lower, lower));
        assert!(is_field_name(&lower.to_ascii_uppercase(), lower));
        for at in 0..lower.len() {
            for &b in &tokens {
                let mut name = lower.to_vec();
                name[at] = b;
                assert_eq!(is_field_name(&name, lower), name.eq_ignore_ascii_case(lower), "{:?}", String::from_utf8_lossy(&name));
            }
        }
        assert!(!is_field_name(&lower[1..], lower));
    }
}
