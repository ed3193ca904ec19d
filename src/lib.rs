//! keepscope: how HTTP/1.x connections are really kept alive.
//!
//! The pipeline, one module per stage:
//! packets (`capture`) → `decode` (link, IP, TCP) → `tcp` (flow table, reassembly,
//! keep-alive probes) → `http` (HTTP/1.x framing, request/response pairing) →
//! `analysis` (transactions, reuse, 100-continue, findings, per-server figures) →
//! views (`report` text and JSON, `tui`). `pipeline` wires the stages for a run;
//! `offline` and `live` are the commands; `cli` is the command line.

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod http;
pub mod live;
pub mod offline;
pub mod pipeline;
pub mod report;
pub mod sanitize;
pub mod tcp;
pub mod time;
pub mod tui;

/// An error that ends the run: one line for stderr and the exit status of the
/// interface spec (1 input, 2 usage, 3 permission). `quiet` errors print nothing
/// (the reader of our output went away).
#[derive(Debug)]
pub struct AppError {
    pub code: i32,
    pub message: Option<String>,
}

impl AppError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        AppError { code, message: Some(message.into()) }
    }
    pub fn quiet() -> Self {
        AppError { code: 0, message: None }
    }
    /// The same exit status without a message (it was already printed).
    pub fn silent(self) -> Self {
        AppError { code: self.code, message: None }
    }
    pub fn capture(e: capture::CaptureError) -> Self {
        AppError::new(e.exit_code(), e.to_string())
    }
}
