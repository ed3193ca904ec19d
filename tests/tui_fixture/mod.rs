//! A hand-built report for the TUI tests, with one connection of each kind the UI
//! has to draw: a reused keep-alive connection closed by an idle server, a
//! pipelined one, a 100-continue upload, a rejected 100-continue, a stale reuse
//! answered by RST, a long-lived connection with TCP keep-alive probes, a TLS
//! connection, and a URI carrying terminal escapes and a bidi override.
//!
//! The summary is computed from the connections so that it always agrees with them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use keepscope::analysis::model::*;

pub const T0: f64 = 1_700_000_000.0;

pub fn request(method: &str, uri: &str, ts: f64, end: f64) -> RequestRecord {
    RequestRecord {
        ts: T0 + ts,
        end_ts: Some(T0 + end),
        method: method.to_string().into(),
        uri: Some(uri.into()),
        version: "HTTP/1.1".into(),
        connection: None,
        keep_alive: None,
        expect: None,
        body_bytes: 0,
        complete: true,
    }
}

pub fn response(status: u16, reason: &str, ts: f64, end: f64, body: u64) -> ResponseRecord {
    ResponseRecord {
        ts: T0 + ts,
        end_ts: Some(T0 + end),
        status: Some(status),
        reason: reason.to_string().into(),
        version: "HTTP/1.1".into(),
        connection: None,
        keep_alive: Some("timeout=5, max=100".into()),
        framing: "content-length".into(),
        body_bytes: body,
        complete: true,
    }
}

pub fn tx(
    depth: u64,
    idle: Option<f64>,
    request: Option<RequestRecord>,
    response: Option<ResponseRecord>,
) -> Transaction {
    Transaction {
        depth,
        reused: depth > 1,
        pipelined: false,
        idle_before_s: idle,
        request,
        interim: vec![],
        response,
        expect_outcome: "none".into(),
        persistent_after: true,
        expect_client_wait_s: None,
        expect_server_wait_s: None,
    }
}

pub fn close(by: &str, how: &str, ts: Option<f64>, idle: Option<f64>, announced: bool) -> Close {
    Close {
        by: by.into(),
        how: how.into(),
        ts: ts.map(|t| T0 + t),
        idle_s: idle,
        announced,
    }
}

pub fn connection(id: u64, client: &str, server: &str, first: f64, last: f64) -> ConnectionRecord {
    ConnectionRecord {
        id,
        client: client.into(),
        server: server.into(),
        first_ts: T0 + first,
        last_ts: T0 + last,
        syn_seen: true,
        protocol: "http1".into(),
        transactions: vec![],
        close: close("none", "none", None, None, false),
        tcp_keepalive: KeepaliveBySide::default(),
        missing_bytes: BySide::default(),
        findings: vec![],
        keepalive_probe_ts: vec![],
        retired_transactions: 0,
    }
}

/// The URI with an ANSI colour sequence and a right-to-left override.
pub const EVIL_URI: &str = "/search?q=\x1b[31mred\u{202e}gpj.exe";

pub fn connections() -> Vec<ConnectionRecord> {
    let mut out = Vec::new();

    // 0: reused keep-alive connection, closed by the server after 5 s idle, unannounced.
    let mut c = connection(0, "10.0.0.1:51234", "10.0.0.2:80", 0.0, 12.5);
    c.transactions = vec![
        tx(
            1,
            Some(0.0002),
            Some(request("GET", "/index.html", 0.001, 0.001)),
            Some(response(200, "OK", 0.020, 0.031, 5120)),
        ),
        tx(
            2,
            Some(0.469),
            Some(request("GET", "/style.css", 0.5, 0.5)),
            Some(response(200, "OK", 0.512, 0.515, 2048)),
        ),
        tx(
            3,
            Some(1.985),
            Some(request("GET", "/app.js", 2.5, 2.5)),
            Some(response(200, "OK", 2.52, 2.6, 81_920)),
        ),
        tx(
            4,
            Some(4.4),
            Some(request("GET", "/api/items?page=2", 7.0, 7.0)),
            Some(response(200, "OK", 7.3, 7.5, 734)),
        ),
    ];
    // The first response was preceded by 103 Early Hints.
    c.transactions[0].interim = vec![Interim {
        status: 103,
        ts: T0 + 0.010,
    }];
    c.close = close("server", "fin", Some(12.5), Some(5.0), false);
    c.findings = vec!["idle_close_unannounced".into()];
    out.push(c);

    // 1: pipelined: three requests in one burst, responses in order; client closes.
    let mut c = connection(1, "10.0.0.1:51240", "10.0.0.2:80", 0.2, 1.4);
    let mut t1 = tx(
        1,
        Some(0.0003),
        Some(request("GET", "/a.png", 0.21, 0.21)),
        Some(response(200, "OK", 0.3, 0.5, 20_000)),
    );
    let mut t2 = tx(
        2,
        Some(0.0),
        Some(request("GET", "/b.png", 0.211, 0.211)),
        Some(response(200, "OK", 0.5, 0.7, 30_000)),
    );
    let mut t3 = tx(
        3,
        Some(0.0),
        Some(request("GET", "/c.png", 0.212, 0.212)),
        Some(response(304, "Not Modified", 0.7, 0.7, 0)),
    );
    t2.pipelined = true;
    t3.pipelined = true;
    t3.response.as_mut().unwrap().framing = "none".into();
    t1.request.as_mut().unwrap().connection = Some("keep-alive".into());
    c.transactions = vec![t1, t2, t3];
    c.close = close("client", "fin", Some(1.4), Some(0.7), false);
    c.findings = vec!["missed_reuse".into()];
    out.push(c);

    // 2: 100-continue upload: interim 100, then the body, then 201.
    let mut c = connection(2, "10.0.0.3:40000", "10.0.0.2:80", 1.0, 3.2);
    let mut req = request("POST", "/upload", 1.01, 2.1);
    req.expect = Some("100-continue".into());
    req.body_bytes = 51_200;
    let mut t = tx(
        1,
        Some(0.0004),
        Some(req),
        Some(response(201, "Created", 2.2, 2.2, 2)),
    );
    t.interim = vec![Interim {
        status: 100,
        ts: T0 + 1.21,
    }];
    t.expect_outcome = "continued".into();
    t.expect_client_wait_s = Some(0.2);
    t.expect_server_wait_s = Some(0.2);
    t.response.as_mut().unwrap().connection = Some("keep-alive".into());
    c.transactions = vec![t];
    c.close = close("client", "fin", Some(3.2), Some(1.0), false);
    out.push(c);

    // 3: stale reuse: the server closed after 5 s idle, the client's next request got RST.
    let mut c = connection(3, "10.0.0.1:51300", "10.0.0.2:80", 2.0, 9.0);
    c.transactions = vec![
        tx(
            1,
            Some(0.0002),
            Some(request("GET", "/health", 2.01, 2.01)),
            Some(response(200, "OK", 2.03, 2.03, 2)),
        ),
        tx(
            2,
            Some(5.97),
            Some(request("GET", "/health", 8.0, 8.0)),
            None,
        ),
    ];
    c.close = close("server", "fin", Some(7.03), Some(5.0), false);
    c.findings = vec!["idle_close_unannounced".into(), "stale_reuse".into()];
    out.push(c);

    // 4: long-lived connection with TCP keep-alive probes, the last one unanswered; open.
    let mut c = connection(4, "192.168.100.200:54321", "10.0.0.9:8080", 0.5, 300.0);
    c.transactions = vec![tx(
        1,
        Some(0.001),
        Some(request("GET", "/events", 0.6, 0.6)),
        Some(response(200, "OK", 0.7, 1.0, 512)),
    )];
    c.transactions[0].response.as_mut().unwrap().framing = "chunked".into();
    c.transactions[0].response.as_mut().unwrap().keep_alive = None;
    c.keepalive_probe_ts = vec![
        ProbeMark {
            by: "client".into(),
            ts: T0 + 75.0,
            acked: true,
        },
        ProbeMark {
            by: "client".into(),
            ts: T0 + 150.0,
            acked: true,
        },
        ProbeMark {
            by: "client".into(),
            ts: T0 + 225.0,
            acked: true,
        },
        ProbeMark {
            by: "client".into(),
            ts: T0 + 300.0,
            acked: false,
        },
    ];
    c.tcp_keepalive.client = ProbeCount {
        probes: 4,
        acked: 3,
    };
    c.findings = vec!["keepalive_unanswered".into()];
    out.push(c);

    // 5: a URI with escapes, a 404 with a hostile reason; the client resets.
    let mut c = connection(5, "10.0.0.4:33333", "10.0.0.2:80", 3.0, 3.5);
    let mut resp = response(404, "Not\x07Found\u{202e}", 3.1, 3.1, 0);
    resp.connection = Some("keep-alive\x1b]0;owned\x07".into());
    c.transactions = vec![tx(
        1,
        Some(0.0002),
        Some(request("GET", EVIL_URI, 3.01, 3.01)),
        Some(resp),
    )];
    c.close = close("client", "rst", Some(3.5), Some(0.4), false);
    out.push(c);

    // 6: TLS: no HTTP to parse.
    let mut c = connection(6, "10.0.0.5:44444", "[2001:db8::1]:443", 4.0, 6.0);
    c.protocol = "tls".into();
    c.close = close("client", "fin", Some(6.0), None, false);
    out.push(c);

    // 7: 100-continue rejected with 417 and Connection: close; the server closes, announced.
    let mut c = connection(7, "10.0.0.6:50000", "10.0.0.2:80", 5.0, 5.3);
    let mut req = request("PUT", "/big-file.iso", 5.01, 5.01);
    req.expect = Some("100-continue".into());
    let mut resp = response(417, "Expectation Failed", 5.05, 5.05, 0);
    resp.connection = Some("close".into());
    resp.keep_alive = None;
    let mut t = tx(1, Some(0.0002), Some(req), Some(resp));
    t.expect_outcome = "rejected_before_body".into();
    t.expect_server_wait_s = Some(0.04);
    t.persistent_after = false;
    c.transactions = vec![t];
    c.close = close("server", "fin", Some(5.3), Some(0.25), true);
    out.push(c);

    out
}

pub fn findings() -> Vec<Finding> {
    vec![
        Finding {
            kind: "idle_close_unannounced".into(),
            connection: 0,
            transaction: None,
            message: "server closed the idle connection after 5.0 s without announcing it".into(),
        },
        Finding {
            kind: "missed_reuse".into(),
            connection: 1,
            transaction: Some(1),
            message: "client opened a new connection to 10.0.0.2:80 while connection 0 sat idle"
                .into(),
        },
        Finding {
            kind: "idle_close_unannounced".into(),
            connection: 3,
            transaction: None,
            message: "server closed the idle connection after 5.0 s without announcing it".into(),
        },
        Finding {
            kind: "stale_reuse".into(),
            connection: 3,
            transaction: Some(2),
            message: "request sent 0.97 s after the server had closed the connection; no response"
                .into(),
        },
        Finding {
            kind: "keepalive_unanswered".into(),
            connection: 4,
            transaction: None,
            message: "1 of 4 TCP keep-alive probes from the client got no answer".into(),
        },
    ]
}

pub fn servers() -> Vec<ServerFigures> {
    vec![
        ServerFigures {
            server: "10.0.0.2:80".into(),
            connections: 6,
            transactions: 11,
            reuse_ratio: 5.0 / 11.0,
            max_depth: 4,
            advertised_keep_alive: Some("timeout=5, max=100".into()),
            observed_idle_close_s: Some(5.0),
            max_requests_before_close: None,
            verdict: Some(
                "closes idle connections after 5.0 s, as advertised; a client reusing one later races the close (1 stale reuse)".into(),
            ),
        },
        ServerFigures {
            server: "10.0.0.9:8080".into(),
            connections: 1,
            transactions: 1,
            reuse_ratio: 0.0,
            max_depth: 1,
            advertised_keep_alive: None,
            observed_idle_close_s: None,
            max_requests_before_close: None,
            verdict: None,
        },
    ]
}

/// Counts the summary from the connections, as the analysis would.
pub fn summarise(connections: &[ConnectionRecord], findings: &[Finding]) -> Summary {
    let mut s = Summary {
        connections: connections.len() as u64,
        ..Summary::default()
    };
    let mut per_connection: BTreeMap<u64, u64> = BTreeMap::new();
    let bounds = [
        (0.01, "<10ms"),
        (0.1, "10-100ms"),
        (1.0, "0.1-1s"),
        (5.0, "1-5s"),
    ];
    let mut gaps = [0u64; 5];
    for c in connections {
        if c.protocol == "http1" {
            s.http_connections += 1;
            *per_connection
                .entry(c.transactions.len() as u64)
                .or_default() += 1;
        }
        for t in &c.transactions {
            s.transactions += 1;
            s.max_depth = s.max_depth.max(t.depth);
            if t.reused {
                s.reused_transactions += 1;
                let gap = t.idle_before_s.unwrap_or(0.0);
                let bucket = bounds
                    .iter()
                    .position(|(upper, _)| gap < *upper)
                    .unwrap_or(4);
                gaps[bucket] += 1;
            }
            if t.pipelined {
                s.pipelined_transactions += 1;
            }
            match &*t.expect_outcome {
                "continued" => s.expect.continued += 1,
                "rejected_before_body" => s.expect.rejected_before_body += 1,
                "body_without_continue" => s.expect.body_without_continue += 1,
                "no_response" => s.expect.no_response += 1,
                _ => s.expect.none += 1,
            }
        }
        match c.close.by.as_str() {
            "client" => s.close_by.client += 1,
            "server" => s.close_by.server += 1,
            _ => s.close_by.none += 1,
        }
        s.tcp_keepalive_probes += c.tcp_keepalive.client.probes + c.tcp_keepalive.server.probes;
        s.tcp_keepalive_acked += c.tcp_keepalive.client.acked + c.tcp_keepalive.server.acked;
    }
    s.reuse_ratio = if s.transactions > 0 {
        s.reused_transactions as f64 / s.transactions as f64
    } else {
        0.0
    };
    for f in findings {
        *s.findings.entry(f.kind.clone()).or_default() += 1;
    }
    s.requests_per_connection = per_connection.into_iter().collect();
    s.idle_gaps = bounds
        .iter()
        .enumerate()
        .map(|(i, (upper, label))| IdleBucket {
            label: label.to_string(),
            upper_s: Some(*upper),
            count: gaps[i],
        })
        .chain(std::iter::once(IdleBucket {
            label: ">5s".into(),
            upper_s: None,
            count: gaps[4],
        }))
        .collect();
    s
}

pub fn report() -> Report {
    let connections = connections();
    let findings = findings();
    Report {
        version: 1,
        source: SourceInfo {
            kind: "file".into(),
            paths: vec!["/captures/keepalive-mix.pcapng".into()],
            link_types: vec!["EN10MB".into()],
            packets: 1834,
            bytes: 412_345,
            first_ts: Some(T0),
            last_ts: Some(T0 + 300.0),
            dropped: None,
            truncated: false,
            warnings: vec!["packet 1201: TCP header cut by the snaplen".into()],
            non_tcp_packets: 12,
            malformed_packets: 0,
            snaplen_truncated_packets: 1,
        },
        summary: summarise(&connections, &findings),
        servers: servers(),
        connections,
        findings,
    }
}

/// `count` simple connections, for the large-table test.
pub fn many_connections(count: u64) -> Report {
    let connections: Vec<ConnectionRecord> = (0..count)
        .map(|id| {
            let mut c = connection(
                id,
                &format!(
                    "10.{}.{}.{}:{}",
                    (id >> 16) & 255,
                    (id >> 8) & 255,
                    id & 255,
                    1024 + id % 60_000
                ),
                "10.0.0.2:80",
                id as f64 * 0.001,
                id as f64 * 0.001 + 1.0,
            );
            let requests = 1 + id % 4;
            c.transactions = (1..=requests)
                .map(|depth| {
                    let at = id as f64 * 0.001 + depth as f64 * 0.1;
                    tx(
                        depth,
                        Some(0.05),
                        Some(request("GET", &format!("/item/{id}/{depth}"), at, at)),
                        Some(response(200, "OK", at + 0.01, at + 0.02, 100)),
                    )
                })
                .collect();
            c.close = close(
                if id % 3 == 0 { "server" } else { "client" },
                "fin",
                Some(id as f64 * 0.001 + 1.0),
                Some(0.5),
                false,
            );
            c
        })
        .collect();
    let findings = vec![];
    Report {
        version: 1,
        source: SourceInfo {
            kind: "file".into(),
            paths: vec!["big.pcap".into()],
            ..SourceInfo::default()
        },
        summary: summarise(&connections, &findings),
        servers: vec![],
        connections,
        findings,
    }
}
