//! Helpers shared by the live-capture tests (`live_capture.rs`, `live_faults.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_keepscope");

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `keepscope live ARGS` and waits for its first stderr line (the
/// "capturing on …" line), which it returns with the child.
pub fn start_live(args: &[&str]) -> (Child, BufReader<ChildStderr>, String) {
    let mut child = Command::new(BIN)
        .arg("live")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    // libpcap is live once open returned; a short pause lets the kernel attach.
    std::thread::sleep(Duration::from_millis(300));
    (child, err, line)
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}
