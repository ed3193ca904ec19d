//! View: the terminal UI (ratatui + crossterm) for `tui` (offline) and `live`.
//!
//! INTERFACE (fixed): `UiUpdate`, `LiveStats`, `run_offline`, `run_live`.
//!
//! Layout of the module (bandwhich's idea: state and drawing apart from terminal I/O,
//! so that tests drive the UI without a terminal):
//! - `app`: the whole UI state (report, lists, cursors, filter, sort);
//! - `event`: `handle_key`/`handle_mouse`, returning an `Action`;
//! - `views`: `draw(frame, &app)`, one file per view, plus the timeline;
//! - `layout`, `tabs`: where things are, shared by drawing and mouse hit-testing;
//! - `theme`, `format`: colours and short renderings of numbers;
//! - `terminal`: terminal set-up and restore, panic hook, the event loop.
//!
//! Every captured string is drawn through `crate::sanitize::display`.

use std::sync::Arc;

pub mod app;
pub mod event;
pub mod format;
pub mod layout;
mod tabs;
mod terminal;
pub mod theme;
pub mod views;

pub use app::{App, View};
pub use event::Action;
pub use views::draw;

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
pub fn run_offline(report: Report) -> anyhow::Result<()> {
    let app = App::new(Arc::new(report), 80, 24);
    terminal::run(app, crossbeam_channel::never(), None)
}

/// Runs the UI in live mode: updates arrive on `updates`; when the user quits,
/// `stop` is set so the capture thread ends.
pub fn run_live(
    updates: crossbeam_channel::Receiver<UiUpdate>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let app = App::new_live(80, 24);
    terminal::run(app, updates, Some(stop))
}
