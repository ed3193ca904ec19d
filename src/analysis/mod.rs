//! Stage 4: analysis. Stream events and HTTP events become transactions, connection
//! records, findings, per-server figures and the summary.
//!
//! - `connection`: one connection's state → `ConnectionRecord`
//! - `findings`: the findings of a finished connection
//! - `analyzer`: the `StreamSink` that drives the HTTP framers
//! - `summary`: folds finished connections into summary, servers and findings
//! - `model`: the report model shared by JSON, text and TUI

pub mod analyzer;
mod connection;
pub mod findings;
pub mod model;
pub mod summary;

pub use analyzer::{Analyzer, ConnectionSink, TransactionContext};
pub use connection::RetiredTransactions;
pub use summary::ReportBuilder;

use model::{ConnectionRecord, Finding};

/// Heap bytes a kept `ConnectionRecord` costs (JSON document, TUI): this much per
/// connection plus `RECORD_BYTES_PER_TRANSACTION` per transaction, for ordinary
/// HTTP traffic (short header values). Checked by `tests/scale.rs`.
pub const RECORD_BYTES_PER_CONNECTION: usize = 1024;
/// See `RECORD_BYTES_PER_CONNECTION`.
pub const RECORD_BYTES_PER_TRANSACTION: usize = 512;

/// Keeps every finished connection (for the JSON document and the TUI), or only
/// the aggregates (for the text report, whose memory must not grow with the
/// number of connections).
pub struct CollectSink {
    pub builder: ReportBuilder,
    pub keep_connections: bool,
    /// Most connections kept in full (live mode's `--history`); older ones stay in
    /// the aggregates only. `None`: keep all.
    pub history: Option<usize>,
    pub connections: std::collections::VecDeque<ConnectionRecord>,
}

impl CollectSink {
    pub fn new(keep_connections: bool) -> Self {
        CollectSink {
            builder: ReportBuilder::new(),
            keep_connections,
            history: None,
            connections: Default::default(),
        }
    }

    pub fn with_history(history: usize) -> Self {
        CollectSink { history: Some(history), ..CollectSink::new(true) }
    }

    /// The connections kept, oldest first.
    pub fn take_connections(&mut self) -> Vec<ConnectionRecord> {
        std::mem::take(&mut self.connections).into()
    }
}

impl ConnectionSink for CollectSink {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>) {
        self.builder.add(&record, findings);
        if self.keep_connections {
            if let Some(h) = self.history {
                while self.connections.len() >= h.max(1) {
                    self.connections.pop_front();
                }
            }
            self.connections.push_back(record);
        }
    }

    /// Aggregates only: transactions are folded as they finish, so long
    /// connections hold none (see `ConnectionSink::takes_transactions`).
    fn takes_transactions(&self) -> bool {
        !self.keep_connections
    }

    fn on_transactions(&mut self, _connection: u64, server: &str, txs: RetiredTransactions) {
        self.builder.add_retired(server, &txs);
    }
}
