//! Views for scripts and people: the text report and JSON / NDJSON.

pub mod json;
pub mod packed;
pub mod spool;
pub mod text;
