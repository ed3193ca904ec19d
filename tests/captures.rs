//! Golden tests over the project's own captures (recorded from real clients and
//! servers on loopback by `scripts/record-captures.sh`; the ground truth of each is
//! in `captures/README.md`). Each test runs the real binary the way a user would
//! and checks the classification against that ground truth; the text reports are
//! also kept as snapshots so any change in what people read is reviewed.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_keepscope");

fn capture(name: &str) -> String {
    format!("{}/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn analyze_json(name: &str) -> Value {
    let out = Command::new(BIN).args(["analyze", "--json"]).arg(capture(name)).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: bad JSON: {e}"))
}

fn text_report(name: &str) -> String {
    let out = Command::new(BIN).args(["analyze", "--color", "never"]).arg(capture(name)).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn conns(doc: &Value) -> &Vec<Value> {
    doc["connections"].as_array().unwrap()
}

fn txs(conn: &Value) -> &Vec<Value> {
    conn["transactions"].as_array().unwrap()
}

/// (method, uri, status) of each transaction of a connection.
fn exchanges(conn: &Value) -> Vec<(String, String, Option<u64>)> {
    txs(conn)
        .iter()
        .map(|t| {
            (
                t["request"]["method"].as_str().unwrap_or("-").to_string(),
                t["request"]["uri"].as_str().unwrap_or("-").to_string(),
                t["response"]["status"].as_u64(),
            )
        })
        .collect()
}

fn ex(m: &str, u: &str, s: u64) -> (String, String, Option<u64>) {
    (m.to_string(), u.to_string(), Some(s))
}

fn findings(conn: &Value) -> Vec<String> {
    conn["findings"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
}

fn summary(doc: &Value) -> &Value {
    &doc["summary"]
}

fn persistent(conn: &Value) -> Vec<bool> {
    txs(conn).iter().map(|t| t["persistent_after"].as_bool().unwrap()).collect()
}

#[test]
fn reuse_curl() {
    let doc = analyze_json("reuse-curl.pcap");
    let s = summary(&doc);
    assert_eq!(s["connections"], 2);
    assert_eq!(s["transactions"], 4);
    assert_eq!(s["reused_transactions"], 2);
    assert_eq!(s["reuse_ratio"], 0.5);
    assert_eq!(s["max_depth"], 3);
    assert_eq!(s["pipelined_transactions"], 0);
    assert_eq!(s["expect"]["none"], 4);
    let c = conns(&doc);
    assert_eq!(exchanges(&c[0]), vec![ex("GET", "/a", 200), ex("GET", "/b", 200), ex("GET", "/c", 200)]);
    assert_eq!(txs(&c[0])[1]["reused"], true);
    assert_eq!(txs(&c[0])[0]["idle_before_s"].as_f64().map(|v| v < 0.1), Some(true));
    assert_eq!(persistent(&c[0]), vec![true, true, true]);
    assert_eq!(c[0]["close"]["by"], "client");
    assert_eq!(txs(&c[1])[0]["request"]["version"], "HTTP/1.0");
    assert_eq!(txs(&c[1])[0]["response"]["connection"], "close");
    assert_eq!(persistent(&c[1]), vec![false]);
    // Loopback race: either FIN may be first on the HTTP/1.0 connection.
    assert!(c[1]["close"]["by"] == "server" || c[1]["close"]["by"] == "client");
    assert!(findings(&c[0]).is_empty() && findings(&c[1]).is_empty(), "{doc}");
    assert_eq!(c[0]["protocol"], "http1");
    assert_eq!(c[0]["syn_seen"], true);
    assert_eq!(doc["source"]["link_types"][0], "EN10MB");
}

#[test]
fn http10_keepalive() {
    let doc = analyze_json("http10-keepalive.pcap");
    let s = summary(&doc);
    assert_eq!((s["connections"].as_u64(), s["transactions"].as_u64(), s["reused_transactions"].as_u64()), (Some(2), Some(3), Some(1)));
    let c = conns(&doc);
    assert_eq!(persistent(&c[0]), vec![true, true]);
    assert_eq!(txs(&c[0])[0]["request"]["connection"], "keep-alive");
    assert_eq!(persistent(&c[1]), vec![false]);
    assert_eq!(c[1]["close"]["by"], "server");
    assert_eq!(c[1]["close"]["announced"], false);
    assert!(findings(&c[1]).is_empty(), "HTTP/1.0 close is not an unannounced idle close: {doc}");
    assert!(findings(&c[0]).is_empty());
}

#[test]
fn python_http11_client_requested_close() {
    let doc = analyze_json("python-http11.pcap");
    let c = &conns(&doc)[0];
    assert_eq!(exchanges(c), vec![ex("GET", "/a", 200), ex("GET", "/b", 200), ex("GET", "/c", 200)]);
    assert_eq!(persistent(c), vec![true, true, false]);
    assert_eq!(c["close"]["by"], "server");
    assert_eq!(c["close"]["how"], "fin");
    assert_eq!(c["close"]["announced"], true);
    assert!(findings(c).is_empty(), "{c}");
    let idle = txs(c)[1]["idle_before_s"].as_f64().unwrap();
    assert!((0.09..0.2).contains(&idle), "requests were 0.1 s apart: {idle}");
}

#[test]
fn expect_continue() {
    let doc = analyze_json("expect-continue.pcap");
    let t = &txs(&conns(&doc)[0])[0];
    assert_eq!(t["expect_outcome"], "continued");
    assert_eq!(t["interim"][0]["status"], 100);
    assert_eq!(t["request"]["expect"], "100-continue");
    assert_eq!(t["request"]["body_bytes"], 3000);
    assert_eq!(t["response"]["status"], 200);
    assert_eq!(t["response"]["body_bytes"], 9);
    assert_eq!(t["response"]["framing"], "content-length");
    assert_eq!(summary(&doc)["expect"]["continued"], 1);
    assert!(t["request"]["ts"].as_f64().unwrap() < t["interim"][0]["ts"].as_f64().unwrap());
}

#[test]
fn expect_rejected_with_417() {
    let doc = analyze_json("expect-417.pcap");
    let t = &txs(&conns(&doc)[0])[0];
    assert_eq!(t["expect_outcome"], "rejected_before_body");
    assert_eq!(t["request"]["body_bytes"], 0);
    assert_eq!(t["response"]["status"], 417);
    assert_eq!(summary(&doc)["expect"]["rejected_before_body"], 1);
}

#[test]
fn expect_final_status_before_body() {
    let doc = analyze_json("expect-final-before-body.pcap");
    let c = conns(&doc);
    assert_eq!(c.len(), 2);
    for (conn, status) in c.iter().zip([401, 413]) {
        let t = &txs(conn)[0];
        assert_eq!(t["expect_outcome"], "rejected_before_body");
        assert_eq!(t["request"]["body_bytes"], 0);
        assert_eq!(t["response"]["status"], status);
    }
    assert_eq!(persistent(&c[1]), vec![false]);
    assert_eq!(summary(&doc)["expect"]["rejected_before_body"], 2);
}

#[test]
fn expect_ignored_by_server() {
    let doc = analyze_json("expect-ignored.pcap");
    let t = &txs(&conns(&doc)[0])[0];
    assert_eq!(t["expect_outcome"], "body_without_continue");
    assert_eq!(t["interim"].as_array().unwrap().len(), 0);
    assert_eq!(t["request"]["body_bytes"], 3000);
    let wait = t["expect_client_wait_s"].as_f64().unwrap();
    assert!((0.95..1.1).contains(&wait), "curl waited about 1 s: {wait}");
    assert_eq!(summary(&doc)["expect"]["body_without_continue"], 1);
    let text = text_report("expect-ignored.pcap");
    assert!(text.contains("expect_delay"), "the 1 s stall is pointed out:\n{text}");
}

#[test]
fn idle_timeout_and_stale_reuse() {
    let doc = analyze_json("idle-timeout.pcap");
    let s = summary(&doc);
    assert_eq!(s["connections"], 2);
    assert_eq!(s["transactions"], 3);
    assert_eq!(s["close_by"]["server"], 2);
    let c = conns(&doc);
    for conn in c {
        assert_eq!(conn["close"]["by"], "server");
        assert_eq!(conn["close"]["how"], "fin");
        assert_eq!(conn["close"]["announced"], false);
        let idle = conn["close"]["idle_s"].as_f64().unwrap();
        assert!((0.95..1.1).contains(&idle), "nginx keepalive_timeout 1s: {idle}");
        assert!(findings(conn).contains(&"idle_close_unannounced".to_string()), "{conn}");
    }
    let stale = &txs(&c[1])[1];
    assert_eq!(stale["depth"], 2);
    assert_eq!(stale["reused"], true);
    assert!(stale["response"].is_null());
    assert!(findings(&c[1]).contains(&"stale_reuse".to_string()));
    assert!(!findings(&c[0]).contains(&"stale_reuse".to_string()));
    assert_eq!(s["findings"]["idle_close_unannounced"], 2);
    assert_eq!(s["findings"]["stale_reuse"], 1);
    let server = &doc["servers"][0];
    let observed = server["observed_idle_close_s"].as_f64().unwrap();
    assert!((0.95..1.1).contains(&observed), "{server}");
    assert!(server["advertised_keep_alive"].is_null());
    assert!(server["verdict"].as_str().unwrap().contains("keep-alive race"), "{server}");
    let f = doc["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "stale_reuse").unwrap();
    assert_eq!(f["connection"], 1);
    assert_eq!(f["transaction"], 2);
    assert!(f["message"].as_str().unwrap().contains("after the server had closed"), "{f}");
}

#[test]
fn keepalive_requests_limit_and_request_after_close() {
    let doc = analyze_json("keepalive-requests.pcap");
    let s = summary(&doc);
    assert_eq!(s["connections"], 3);
    assert_eq!(s["transactions"], 9);
    assert_eq!(s["reused_transactions"], 6);
    assert_eq!(s["max_depth"], 4);
    let c = conns(&doc);
    assert_eq!(persistent(&c[0]), vec![true, true, false]);
    assert_eq!(c[0]["close"]["announced"], true);
    let w4 = &txs(&c[2])[3];
    assert_eq!(w4["request"]["uri"], "/w4");
    assert!(w4["response"].is_null());
    assert!(findings(&c[2]).contains(&"request_after_close".to_string()), "{}", c[2]);
    let server = &doc["servers"][0];
    assert_eq!(server["max_requests_before_close"], 3);
    assert_eq!(server["advertised_keep_alive"], "timeout=5");
}

#[test]
fn pipelining_with_head_204_chunked_and_close() {
    let doc = analyze_json("pipelining.pcap");
    let c = &conns(&doc)[0];
    assert_eq!(
        exchanges(c),
        vec![
            ex("GET", "/a", 200),
            ex("HEAD", "/b", 200),
            ex("GET", "/nocontent", 204),
            ex("GET", "/chunked", 200),
            ex("GET", "/close", 200)
        ]
    );
    let framing: Vec<&str> = txs(c).iter().map(|t| t["response"]["framing"].as_str().unwrap()).collect();
    assert_eq!(framing, vec!["content-length", "none", "none", "chunked", "content-length"]);
    let bodies: Vec<u64> = txs(c).iter().map(|t| t["response"]["body_bytes"].as_u64().unwrap()).collect();
    assert_eq!(bodies, vec![23, 0, 0, 151, 27]);
    let pipelined: Vec<bool> = txs(c).iter().map(|t| t["pipelined"].as_bool().unwrap()).collect();
    assert_eq!(pipelined, vec![false, true, true, true, true]);
    assert_eq!(summary(&doc)["pipelined_transactions"], 4);
    assert_eq!(persistent(c), vec![true, true, true, true, false]);
    assert!(findings(c).is_empty(), "{c}");
}

#[test]
fn tcp_keepalive_probes() {
    let doc = analyze_json("tcp-keepalive-probes.pcap");
    let c = &conns(&doc)[0];
    assert_eq!(c["tcp_keepalive"]["client"]["probes"], 4);
    assert_eq!(c["tcp_keepalive"]["client"]["acked"], 4);
    assert_eq!(c["tcp_keepalive"]["server"]["probes"], 0);
    assert_eq!(summary(&doc)["tcp_keepalive_probes"], 4);
    assert_eq!(summary(&doc)["tcp_keepalive_acked"], 4);
    assert_eq!(exchanges(c), vec![ex("GET", "/slow?s=4.5", 200)]);
    assert_eq!(c["missing_bytes"]["client"], 0);
    assert!(findings(c).is_empty(), "{c}");
}

#[test]
fn missed_reuse() {
    let doc = analyze_json("missed-reuse.pcap");
    let c = conns(&doc);
    assert!(findings(&c[0]).is_empty(), "{}", c[0]);
    assert_eq!(findings(&c[1]), vec!["missed_reuse".to_string()]);
    assert_eq!(summary(&doc)["findings"]["missed_reuse"], 1);
}

#[test]
fn rst_closes() {
    let doc = analyze_json("rst-close.pcap");
    let c = conns(&doc);
    assert_eq!((c[0]["close"]["by"].as_str(), c[0]["close"]["how"].as_str()), (Some("server"), Some("rst")));
    assert_eq!((c[1]["close"]["by"].as_str(), c[1]["close"]["how"].as_str()), (Some("client"), Some("rst")));
    assert_eq!(findings(&c[0]), vec!["idle_close_unannounced".to_string()]);
    assert!(findings(&c[1]).is_empty());
}

#[test]
fn ipv6_and_ipv4_servers() {
    let doc = analyze_json("mixed-ipv6.pcap");
    let c = conns(&doc);
    assert!(c[0]["client"].as_str().unwrap().starts_with("[::1]:"));
    assert_eq!(c[0]["server"], "[::1]:38414");
    assert_eq!(c[1]["server"], "127.0.0.1:38414");
    let servers: Vec<&str> = doc["servers"].as_array().unwrap().iter().map(|s| s["server"].as_str().unwrap()).collect();
    assert_eq!(servers.len(), 2);
    assert!(servers.contains(&"[::1]:38414") && servers.contains(&"127.0.0.1:38414"));
    assert_eq!(summary(&doc)["reused_transactions"], 2);
}

#[test]
fn every_capture_gives_a_stable_text_report() {
    let mut names: Vec<String> = std::fs::read_dir(format!("{}/captures", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert!(names.len() >= 14);
    for name in names {
        let text = text_report(&name);
        // Paths differ between checkouts; the rest of the report must not change
        // without a reviewed snapshot update.
        let text = text.replace(&capture(&name), &format!("captures/{name}"));
        insta::assert_snapshot!(format!("report-{}", name.trim_end_matches(".pcap")), text);
    }
}

#[test]
fn ndjson_matches_the_json_document() {
    let doc = analyze_json("keepalive-requests.pcap");
    let out = Command::new(BIN).args(["analyze", "--ndjson"]).arg(capture("keepalive-requests.pcap")).output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (last, conns_lines) = lines.split_last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["summary"], doc["summary"]);
    assert_eq!(last["servers"], doc["servers"]);
    let mut ids: Vec<u64> = conns_lines.iter().map(|l| {
        assert_eq!(l["type"], "connection");
        l["id"].as_u64().unwrap()
    }).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2]);
    for l in conns_lines {
        let id = l["id"].as_u64().unwrap() as usize;
        assert_eq!(l["transactions"], doc["connections"][id]["transactions"]);
    }
}
