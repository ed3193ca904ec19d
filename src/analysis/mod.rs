//! Stage 4: analysis. Stream events and HTTP events become transactions, connection
//! records, findings, per-server figures and the summary.

pub mod model;
