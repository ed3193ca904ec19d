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

/// The terminal going away (the tmux server, or an ssh session, ending) ends
/// keepscope: it gets SIGHUP while its input thread is stuck reading a terminal
/// that only returns end-of-file, and must not wait for that thread forever.
#[test]
fn tui_exits_when_its_terminal_goes_away() {
    let socket = format!("keepscope-hup-{}", std::process::id());
    let capture = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/idle-timeout.pcap");
    let pid_file = std::env::temp_dir().join(format!("{socket}.pid"));
    let _ = std::fs::remove_file(&pid_file);
    let command = format!("echo $$ > {}; exec {BIN} tui {capture}", pid_file.display());
    let server = |args: &[&str]| {
        let mut all = vec!["-L", socket.as_str()];
        all.extend_from_slice(args);
        Command::new("tmux").args(&all).output().expect("tmux is installed")
    };
    assert!(server(&["new-session", "-d", "-x", "100", "-y", "30", &command]).status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid = loop {
        let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
        let screen = String::from_utf8_lossy(&server(&["capture-pane", "-p"]).stdout).into_owned();
        if let (Ok(pid), true) = (text.trim().parse::<u32>(), screen.contains("Overview")) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the UI did not start; screen:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    };
    server(&["kill-server"]);
    let proc_dir = format!("/proc/{pid}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&proc_dir).exists() {
        let state = std::fs::read_to_string(format!("{proc_dir}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break; // exited, not yet reaped by tmux's gone server
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
            panic!("keepscope tui still running 5 s after its terminal went away");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(&pid_file);
}
