//! The terminal UI end to end, in a real terminal: the real binary runs inside
//! tmux over a capture from `captures/`; the test types keys, reads the screen,
//! opens a connection's detail, quits, and checks the terminal is back to the
//! shell (alternate screen left, mouse reporting off, exit status 0).

use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keepscope");

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.0]).output();
    }
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux is installed");
    assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screen(s: &Session) -> String {
    tmux(&["capture-pane", "-p", "-t", &s.0])
}

fn keys(s: &Session, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", &s.0];
    args.extend_from_slice(keys);
    tmux(&args);
}

/// Waits until the screen satisfies `ok`, or fails with the last screen.
fn wait_for(s: &Session, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = screen(s);
        if ok(&text) {
            return text;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; screen:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn flag(s: &Session, name: &str) -> String {
    tmux(&["display-message", "-p", "-t", &s.0, &format!("#{{{name}}}")]).trim().to_string()
}

#[test]
fn tui_in_tmux_opens_a_connection_and_restores_the_terminal() {
    let session = Session(format!("keepscope-test-{}", std::process::id()));
    tmux(&["new-session", "-d", "-s", &session.0, "-x", "100", "-y", "30", "bash --norc --noprofile"]);
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/idle-timeout.pcap");
    keys(&session, &[&format!("'{BIN}' tui '{capture}'"), "Enter"]);

    let overview = wait_for(&session, "the overview", |t| {
        t.contains("Overview") && t.contains("stale_reuse") && t.contains("idle_close_unannounced")
    });
    assert!(overview.contains("idle_close_unannounced"), "{overview}");
    assert_eq!(flag(&session, "alternate_on"), "1", "the UI runs on the alternate screen");

    keys(&session, &["Tab"]);
    let table = wait_for(&session, "the connections table", |t| {
        t.contains("127.0.0.1:38408") && t.contains("sort:") && t.contains("127.0.0.1:54670")
    });
    assert!(table.contains("127.0.0.1:54670"), "{table}");

    // The second connection is the one whose reused request met a closed server.
    keys(&session, &["j", "Enter"]);
    // Waits for the transactions table too: a capture can catch a frame half drawn
    // (the terminal receives it in several writes).
    let detail = wait_for(&session, "the connection detail", |t| {
        t.contains("Timeline") && t.contains("#1 127.0.0.1:54670") && t.contains("/b")
    });
    assert!(detail.contains("closed by server FIN"), "{detail}");
    assert!(detail.contains("stale_reuse"), "{detail}");
    assert!(detail.contains("/b"), "the unanswered reused request is listed: {detail}");

    keys(&session, &["?"]);
    wait_for(&session, "the help overlay", |t| t.to_lowercase().contains("help"));
    keys(&session, &["Escape"]);

    keys(&session, &["q"]);
    wait_for(&session, "the shell again", |_| flag(&session, "alternate_on") == "0");
    keys(&session, &["echo DONE-$?", "Enter"]);
    let after = wait_for(&session, "the exit status", |t| t.contains("DONE-"));
    assert!(after.contains("DONE-0"), "keepscope tui exits 0 on q: {after}");
    assert_eq!(flag(&session, "mouse_any_flag"), "0", "mouse reporting is switched off again");
    assert!(!after.contains("Timeline"), "the UI is gone from the normal screen: {after}");
}
