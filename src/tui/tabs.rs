//! The tab bar: one label per view, with counts when they fit. The same function
//! lays the labels out for drawing and for mapping a mouse click to a view.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::app::{App, View};
use super::theme;

const SEPARATOR: &str = "│";

/// Label text of each view, from the most to the least detailed variant.
fn label(app: &App, view: View, detail: u8) -> String {
    let short = match view {
        View::Overview => "Ovw",
        View::Connections => "Conn",
        View::Detail => "Det",
        View::Findings => "Find",
        View::Servers => "Srv",
    };
    if detail == 0 {
        return short.to_string();
    }
    let title = view.title();
    if detail == 1 {
        return title.to_string();
    }
    let report = app.report();
    let filtered = !app.filter.is_empty();
    let count = |shown: usize, total: usize| {
        if filtered && shown != total {
            format!("{title} {shown}/{total}")
        } else {
            format!("{title} {total}")
        }
    };
    match view {
        View::Overview => title.to_string(),
        View::Connections => count(app.conn_rows.len(), report.connections.len()),
        View::Findings => count(app.finding_rows.len(), report.findings.len()),
        View::Servers => count(app.server_rows.len(), report.servers.len()),
        View::Detail => match app.detail_id {
            Some(id) => format!("{title} #{id}"),
            None => title.to_string(),
        },
    }
}

/// The labels and the column each starts at, in the most detailed variant that fits.
fn layout(app: &App, width: u16) -> Vec<(View, u16, String)> {
    for detail in [2u8, 1, 0] {
        let mut x = 0u16;
        let mut placed = Vec::with_capacity(View::ALL.len());
        for view in View::ALL {
            let text = format!(" {} ", label(app, view, detail));
            let w = text.chars().count() as u16;
            placed.push((view, x, text));
            x = x.saturating_add(w + 1); // +1 for the separator
        }
        if x <= width || detail == 0 {
            return placed;
        }
    }
    Vec::new()
}

/// The view whose tab covers column `x` of the tab bar.
pub fn tab_at(app: &App, bar: Rect, x: u16) -> Option<View> {
    let rel = x.checked_sub(bar.x)?;
    layout(app, bar.width)
        .into_iter()
        .find(|(_, start, text)| rel >= *start && rel < start + text.chars().count() as u16)
        .map(|(view, _, _)| view)
}

pub fn draw(frame: &mut Frame, app: &App, bar: Rect) {
    let placed = layout(app, bar.width);
    let mut spans = Vec::with_capacity(placed.len() * 2 + 2);
    let mut used = 0usize;
    for (view, _, text) in placed {
        let style = if view == app.view {
            theme::TAB_ACTIVE
        } else {
            theme::TAB
        };
        used += text.chars().count() + 1;
        spans.push(Span::styled(text, style));
        spans.push(Span::styled(SEPARATOR, theme::DIM));
    }
    // The program's name (and LIVE) on the right when there is room.
    let tag = if app.is_live() {
        " keepscope LIVE "
    } else {
        " keepscope "
    };
    let free = usize::from(bar.width).saturating_sub(used);
    if free >= tag.len() {
        spans.push(Span::raw(" ".repeat(free - tag.len())));
        spans.push(Span::styled(tag, theme::DIM));
    }
    frame.render_widget(Line::from(spans), bar);
}
