//! keepscope: how HTTP/1.x connections are really kept alive.
//!
//! The pipeline, one module per stage:
//! packets (`capture`) → `decode` (link, IP, TCP) → `tcp` (flow table, reassembly,
//! keep-alive probes) → `http` (HTTP/1.x framing, request/response pairing) →
//! `analysis` (transactions, reuse, 100-continue, findings, per-server figures) →
//! views (`report` text and JSON, `tui`). `pipeline` wires the stages for a run.

pub mod analysis;
pub mod capture;
pub mod decode;
pub mod http;
pub mod report;
pub mod sanitize;
pub mod tcp;
pub mod time;
pub mod tui;
