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

/// Appends the value `make` makes to `list`, written into room reserved first.
/// Made first and then pushed, a large value (an HTTP event, a transaction) was
/// built on the stack and copied whole, and the copy's wide loads waited on the
/// narrow stores that had just built it (a load spanning several pending stores
/// cannot be forwarded from them): perf put most of the analysis thread's copying
/// there. Made inside the closure, after the room is reserved, it is mostly
/// written in its place.
#[inline(always)]
pub(crate) fn push_made<T>(list: &mut Vec<T>, make: impl FnOnce() -> T) {
    list.reserve(1);
    let len = list.len();
    list.spare_capacity_mut()[0].write(make());
    // SAFETY: the element at `len` was written just above, within the capacity
    // reserved before.
    unsafe { list.set_len(len + 1) };
}

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
