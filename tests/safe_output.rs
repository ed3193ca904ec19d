//! Captured text cannot reach the user's terminal raw: a capture whose URI, header
//! values and reason phrase carry escape sequences, C0/C1 controls, DEL, bidi
//! overrides and invalid UTF-8 goes through all three views (text report, `--json`,
//! TUI) and none of them lets those bytes through unescaped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{addr, flags, tcp_frame, ts, Link, Record, TempCaptures, TsPrecision, LINKTYPE_ETHERNET};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keepscope::pipeline::Options;
use keepscope::tui::{draw, App, View};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// The hostile target: a C1 CSI (UTF-8 U+009B), a right-to-left override, a bidi
/// isolate, a zero-width space, two bytes that are not UTF-8 and a tab. (C0 bytes
/// and DEL end a request line for the HTTP parser, which then reports a framing
/// error instead of a request, so those go into header values and the reason.)
const URI: &[u8] = b"/a\xc2\x9b2J\xe2\x80\xaeevil\xe2\x81\xa6x\xe2\x80\x8b\xff\xfe\tz";
/// OSC window-title set, BEL, screen clear, DEL, right-to-left override.
const KEEP_ALIVE: &[u8] = b"timeout=5\x1b]0;pwned\x07\x1b[2J\x7f\xe2\x80\xae, max=9";
const REASON: &[u8] = b"OK\x1b[?1049h\xc2\x85";

fn hostile_capture(dir: &TempCaptures) -> PathBuf {
    let (c, s) = (addr("10.1.1.1:45000"), addr("10.1.1.2:80"));
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(URI);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
    let mut response = b"HTTP/1.1 200 ".to_vec();
    response.extend_from_slice(REASON);
    response.extend_from_slice(b"\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: ");
    response.extend_from_slice(KEEP_ALIVE);
    response.extend_from_slice(b"\r\n\r\nhi");
    let frames = [
        (c, s, 100, 0, "S", &b""[..]),
        (s, c, 500, 101, "SA", b""),
        (c, s, 101, 501, "A", b""),
        (c, s, 101, 501, "AP", &request),
        (s, c, 501, 101 + request.len() as u32, "AP", &response),
        (c, s, 101 + request.len() as u32, 501 + response.len() as u32, "AF", b""),
        (s, c, 501 + response.len() as u32, 102 + request.len() as u32, "AF", b""),
        (c, s, 102 + request.len() as u32, 502 + response.len() as u32, "A", b""),
    ];
    let records: Vec<Record> = frames
        .iter()
        .enumerate()
        .map(|(i, &(src, dst, seq, ack, f, payload))| {
            Record::new(ts(1_700_000_000, i as i64 * 1_000_000), tcp_frame(Link::Ethernet, src, dst, seq, ack, flags(f), payload))
        })
        .collect();
    dir.file("hostile-text.pcap", &common::pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records))
}

/// Characters no view may print raw: C0 (other than newline), DEL, C1, bidi and
/// zero-width controls.
fn dangerous(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn run(args: &[&str], path: &Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_keepscope"))
        .args(args)
        .arg(path)
        .output()
        .expect("run keepscope");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Raw bytes that must never appear in output: ESC, BEL, DEL, C1 as UTF-8 (C2 80–9F),
/// U+202E as UTF-8, and the invalid bytes FF/FE.
fn assert_no_raw_controls(what: &str, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        assert!(b >= 0x20 || b == b'\n', "{what}: raw control byte {b:#04x} at {i}");
        assert!(b != 0x7f && b != 0xff && b != 0xfe, "{what}: raw byte {b:#04x} at {i}");
    }
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: output is not UTF-8: {e}"));
    if let Some(c) = text.chars().find(|&c| dangerous(c)) {
        panic!("{what}: raw {:?} in output", c);
    }
}

#[test]
fn text_report_escapes_captured_text() {
    let dir = TempCaptures::new();
    let path = hostile_capture(&dir);
    let out = run(&["analyze", "--no-progress", "--color", "never"], &path);
    assert_no_raw_controls("text report", &out.stdout);
    assert_no_raw_controls("stderr", &out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    // The keep-alive header value is shown, escaped.
    assert!(text.contains("timeout=5\\x1b]0;pw"), "escaped Keep-Alive value in:\n{text}");
}

#[test]
fn json_keeps_the_text_but_escapes_it() {
    let dir = TempCaptures::new();
    let path = hostile_capture(&dir);
    let out = run(&["analyze", "--no-progress", "--json"], &path);
    assert_no_raw_controls("JSON", &out.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let conn = &doc["connections"][0];
    let tx = &conn["transactions"][0];
    assert_eq!(tx["request"]["uri"].as_str(), Some(String::from_utf8_lossy(URI).as_ref()), "{conn}");
    assert_eq!(tx["response"]["keep_alive"].as_str(), Some(String::from_utf8_lossy(KEEP_ALIVE).as_ref()), "{conn}");
    assert_eq!(tx["response"]["reason"].as_str(), Some(String::from_utf8_lossy(REASON).as_ref()), "{conn}");
}

#[test]
fn tui_detail_shows_the_escaped_form() {
    let dir = TempCaptures::new();
    let path = hostile_capture(&dir);
    let report = keepscope::offline::analyze_files(&[path], None, &Options::default(), true, false).expect("analysis");
    let mut app = App::new(Arc::new(report), 160, 40);
    app.handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(app.view(), View::Detail);
    let mut terminal = Terminal::new(TestBackend::new(160, 40)).unwrap();
    terminal.draw(|frame| draw(frame, &app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut screen = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            if let Some(c) = symbol.chars().find(|&c| dangerous(c)) {
                panic!("cell ({x},{y}) holds {c:?}");
            }
            screen.push_str(symbol);
        }
        screen.push('\n');
    }
    assert!(screen.contains("/a\\x9b2J\\u{202e}evil\\u{2066}x\\u{200b}\u{fffd}\u{fffd}\\tz"), "escaped URI in:\n{screen}");
    assert!(screen.contains("timeout=5\\x1b]0;pwned\\x07\\x1b[2J\\x7f\\u{202e}, max=9"), "escaped Keep-Alive in:\n{screen}");
    assert!(screen.contains("OK\\x1b[?1049h\\x85"), "escaped reason in:\n{screen}");
}
