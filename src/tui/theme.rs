//! Colours and text styles of the UI, in one place so every view agrees on what
//! "a finding", "the selection" or "a server close" looks like.
//!
//! Only the 16 basic ANSI colours are used: they follow the user's terminal palette
//! and stay readable on both light and dark backgrounds.

use ratatui::style::{Color, Modifier, Style};

pub const TITLE: Style = Style::new().add_modifier(Modifier::BOLD);
pub const HEADER: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
/// Header cell of the column the table is sorted on.
pub const HEADER_SORTED: Style = Style::new()
    .fg(Color::Yellow)
    .add_modifier(Modifier::BOLD)
    .add_modifier(Modifier::UNDERLINED);
pub const SELECTED_ROW: Style = Style::new().add_modifier(Modifier::REVERSED);
pub const DIM: Style = Style::new().fg(Color::DarkGray);
pub const LABEL: Style = Style::new().fg(Color::Cyan);
pub const VALUE: Style = Style::new();
pub const KEY: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);

pub const TAB: Style = Style::new();
pub const TAB_ACTIVE: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Cyan)
    .add_modifier(Modifier::BOLD);

pub const STATUS_BAR: Style = Style::new().bg(Color::DarkGray).fg(Color::White);
pub const STATUS_ALERT: Style = Style::new()
    .bg(Color::DarkGray)
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);
pub const FILTER_PROMPT: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

/// Anything that flags a problem: findings, RST closes, unanswered probes.
pub const FINDING: Style = Style::new()
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);
/// Noteworthy but not a problem: pipelining, 100-continue, probes.
pub const NOTE: Style = Style::new().fg(Color::Yellow);
pub const GOOD: Style = Style::new().fg(Color::Green);

pub const REQUEST: Style = Style::new().fg(Color::LightBlue);
pub const RESPONSE: Style = Style::new().fg(Color::LightGreen);
pub const IDLE: Style = Style::new().fg(Color::DarkGray);
pub const INTERIM: Style = Style::new().fg(Color::Magenta);
pub const PROBE: Style = Style::new().fg(Color::Yellow);
pub const PROBE_UNANSWERED: Style = Style::new()
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);
pub const CLOSE_FIN: Style = Style::new().fg(Color::White).add_modifier(Modifier::BOLD);
pub const CLOSE_RST: Style = Style::new()
    .fg(Color::LightRed)
    .add_modifier(Modifier::BOLD);
/// Spans of the transaction selected in the detail table, on the timeline.
pub const TIMELINE_SELECTED: Modifier = Modifier::REVERSED;

pub const BAR: Style = Style::new().fg(Color::Cyan);
pub const SPARKLINE: Style = Style::new().fg(Color::Green);
pub const BORDER: Style = Style::new().fg(Color::DarkGray);

/// Style of an HTTP status code: 1xx/2xx plain, 3xx cyan, 4xx yellow, 5xx red.
pub fn status(code: u16) -> Style {
    match code {
        400..=499 => NOTE,
        500..=599 => FINDING,
        300..=399 => LABEL,
        _ => VALUE,
    }
}
