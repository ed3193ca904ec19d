//! View: the terminal UI (ratatui + crossterm) for `tui` (offline) and `live`.
//!
//! INTERFACE (fixed): `UiUpdate`, `LiveStats`, `run_offline`, `run_live`.

use std::sync::Arc;

use crate::analysis::model::Report;

/// Counters of a live capture, for the overview's sparkline and drop counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveStats {
    pub interface: String,
    pub packets: u64,
    /// Dropped by the kernel (pcap stats).
    pub kernel_dropped: u64,
    /// Dropped by keepscope's own queue between capture and analysis.
    pub queue_dropped: u64,
    /// Requests per second over the last seconds, oldest first.
    pub requests_per_sec: Vec<u64>,
}

/// What the analysis side sends the UI thread in live mode.
#[derive(Clone, Debug)]
pub enum UiUpdate {
    /// A fresh analysis snapshot (immutable; the UI only reads it).
    Snapshot(Arc<Report>),
    Stats(LiveStats),
    /// The capture ended (error or limit); the message is shown in the status bar.
    CaptureEnded(Option<String>),
}

/// Runs the UI over a finished offline analysis until the user quits.
#[allow(unused_variables)]
pub fn run_offline(report: Report) -> anyhow::Result<()> {
    unimplemented!("tui helper")
}

/// Runs the UI in live mode: updates arrive on `updates`; when the user quits,
/// `stop` is set so the capture thread ends.
#[allow(unused_variables)]
pub fn run_live(
    updates: crossbeam_channel::Receiver<UiUpdate>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    unimplemented!("tui helper")
}
