//! Drawing: `draw(frame, &app)` paints one frame from the state, nothing else.
//! One module per view, plus the parts every screen shares (status bar, section
//! titles, the list scrollbar).

pub mod connections;
pub mod detail;
pub mod findings;
pub mod help;
pub mod overview;
pub mod servers;
pub mod timeline;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::app::{App, View};
use super::{layout, tabs, theme};
use crate::sanitize;

/// Columns between table cells, in every table.
pub(crate) const SPACING: u16 = 1;

/// Paints the whole screen for the current state.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let screen = layout::screen(area);
    tabs::draw(frame, app, screen.tabs);
    match app.view {
        View::Overview => overview::draw(frame, app, screen.body),
        View::Connections => connections::draw(frame, app, screen.body),
        View::Detail => detail::draw(frame, app, screen.body),
        View::Findings => findings::draw(frame, app, screen.body),
        View::Servers => servers::draw(frame, app, screen.body),
    }
    status_bar(frame, app, screen.status);
    if app.help {
        help::draw(frame, area);
    }
}

/// The bottom line: the filter prompt while typing one; otherwise the status message
/// or key hints on the left and what is being looked at on the right.
fn status_bar(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    frame.buffer_mut().set_style(area, theme::STATUS_BAR);
    if app.filter_editing {
        let hint = " Enter keep · Esc clear ";
        let room = width.saturating_sub(hint.chars().count() + 3).max(1);
        let text = sanitize::display(&app.filter, 1000);
        // Show the end of a long filter, where the typing happens.
        let shown: String = {
            let count = text.chars().count();
            text.chars().skip(count.saturating_sub(room)).collect()
        };
        let line = Line::from(vec![
            Span::styled(format!("/{shown}█"), theme::FILTER_PROMPT),
            Span::raw(" "),
            Span::styled(hint, theme::STATUS_BAR),
        ]);
        frame.render_widget(line, area);
        return;
    }
    let right = source_text(app);
    let (left, left_style) = match (&app.notice, &app.status) {
        (Some(notice), _) => (
            format!(" {}", sanitize::display(notice, width)),
            theme::STATUS_BAR,
        ),
        (None, Some(message)) => (
            format!(" {}", sanitize::display(message, width)),
            theme::STATUS_ALERT,
        ),
        (None, None) => (format!(" {}", hints(app, width)), theme::STATUS_BAR),
    };
    let left_len = left.chars().count();
    let right_len = right.chars().count();
    let mut spans = vec![Span::styled(left, left_style)];
    if left_len + right_len + 2 <= width {
        spans.push(Span::raw(" ".repeat(width - left_len - right_len)));
        spans.push(Span::styled(right, theme::STATUS_BAR));
    }
    frame.render_widget(Line::from(spans), area);
}

/// Key hints for the current view, shortened to the width.
fn hints(app: &App, width: usize) -> String {
    let view_hint = match app.view {
        View::Connections => "Enter detail  / filter  s/S sort",
        View::Findings => "Enter open  / filter",
        View::Servers => "Enter connections  / filter",
        View::Detail => "Esc back  ←→ conn",
        View::Overview => "/ filter",
    };
    let full = format!("Tab view  {view_hint}  ? help  q quit");
    if full.chars().count() + 30 <= width {
        full
    } else {
        format!("{view_hint}  ? help")
    }
}

/// What is being looked at: the files or the interface, and packet counts.
fn source_text(app: &App) -> String {
    let source = &app.report().source;
    if let Some(stats) = app.live_stats() {
        return format!(
            "{} · {} pkts · drop {}/{} ",
            sanitize::display(&stats.interface, 16),
            stats.packets,
            stats.kernel_dropped,
            stats.queue_dropped
        );
    }
    let name = match source.paths.as_slice() {
        [] => sanitize::display(&source.kind, 16).into_owned(),
        [one] => short_path(one),
        [first, rest @ ..] => format!("{} +{}", short_path(first), rest.len()),
    };
    format!("{} · {} pkts ", name, source.packets)
}

/// The file name of a path, escaped and cut for the status bar.
fn short_path(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    sanitize::display(name, 24).into_owned()
}

/// A list's title note: how many rows it shows (of how many, when the filter hides
/// some), then `extra` (its sort), the filter text (escaped), and `key` (what Enter
/// does).
pub(crate) fn list_note(shown: usize, total: usize, extra: &str, filter: &str, key: &str) -> String {
    let mut note = if shown == total { format!("{total}") } else { format!("{shown} of {total}") };
    note.push_str(extra);
    if !filter.is_empty() {
        note.push_str(&format!("  filter: {}", sanitize::display(filter, 30)));
    }
    note.push_str(key);
    note
}

/// A section heading drawn as `─ Title ───────`, with optional dim notes after it.
pub(crate) fn section_title<'a>(title: &str, note: &str, width: u16) -> Line<'a> {
    let mut spans = vec![
        Span::styled("─ ", theme::BORDER),
        Span::styled(title.to_string(), theme::TITLE),
    ];
    let mut used = 2 + title.chars().count();
    if !note.is_empty() {
        let note = format!("  {note}");
        used += note.chars().count();
        spans.push(Span::styled(note, theme::DIM));
    }
    let width = usize::from(width);
    if used + 1 < width {
        spans.push(Span::styled(
            format!(" {}", "─".repeat(width - used - 1)),
            theme::BORDER,
        ));
    }
    Line::from(spans)
}

/// The body every list view shares: the header row, a dim `empty` message when no
/// row is shown, else the visible window of `rows` (the selected one highlighted)
/// and the scrollbar. `make_row(index)` builds the row of the item `index` (an
/// index into the report, as `rows` holds them). Returns false when the list was
/// empty, so the caller can skip its pane.
pub(crate) fn draw_list<'a>(
    frame: &mut Frame,
    list: &layout::ListLayout,
    (widths, header): (&[u16], ratatui::widgets::Row<'a>),
    rows: &[usize],
    cursor: crate::tui::app::ListCursor,
    empty: &str,
    mut make_row: impl FnMut(usize) -> ratatui::widgets::Row<'a>,
) -> bool {
    use ratatui::layout::Constraint;
    use ratatui::widgets::{Paragraph, Row, Table};
    let constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    frame.render_widget(
        Table::new(Vec::<Row>::new(), constraints.clone()).header(header).column_spacing(SPACING),
        list.header,
    );
    if rows.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled(empty.to_string(), theme::DIM)), list.rows);
        return false;
    }
    let window = visible_window(cursor, rows.len(), usize::from(list.rows.height));
    let start = window.start;
    let visible: Vec<Row> = rows[window]
        .iter()
        .enumerate()
        .map(|(i, &index)| {
            let row = make_row(index);
            if start + i == cursor.selected {
                row.style(theme::SELECTED_ROW)
            } else {
                row
            }
        })
        .collect();
    frame.render_widget(Table::new(visible, constraints).column_spacing(SPACING), list.rows);
    scrollbar(frame.buffer_mut(), list.scrollbar, rows.len(), start);
    true
}

/// A vertical scrollbar for a list of `len` rows showing `page` from `offset`;
/// nothing when everything fits.
pub(crate) fn scrollbar(buffer: &mut Buffer, area: Rect, len: usize, offset: usize) {
    let page = usize::from(area.height);
    if area.width == 0 || page == 0 || len <= page {
        return;
    }
    let thumb = (page * page / len).clamp(1, page);
    let travel = page - thumb;
    let start = if len > page {
        offset.min(len - page) * travel / (len - page)
    } else {
        0
    };
    for row in 0..page {
        let (symbol, style) = if row >= start && row < start + thumb {
            ("█", theme::LABEL)
        } else {
            ("│", theme::BORDER)
        };
        buffer[(area.x, area.y + row as u16)]
            .set_symbol(symbol)
            .set_style(style);
    }
}

/// The slice of a list to draw: from the cursor's offset, but never past the end
/// and always including the selected row, even if the frame is not the size the
/// App last heard of (drawing must not trust state it does not own).
pub(crate) fn visible_window(
    cursor: crate::tui::app::ListCursor,
    len: usize,
    page: usize,
) -> std::ops::Range<usize> {
    let page = page.max(1);
    let selected = cursor.selected.min(len.saturating_sub(1));
    let mut start = cursor.offset.min(selected);
    if selected >= start + page {
        start = selected + 1 - page;
    }
    // No blank rows at the bottom while earlier rows could fill them.
    start = start.min(len.saturating_sub(page));
    start..(start + page).min(len)
}

/// Text cut to `width` display characters, escaped, as a span.
pub(crate) fn cell<'a>(text: &str, width: u16, style: Style) -> Span<'a> {
    Span::styled(
        sanitize::display(text, usize::from(width)).into_owned(),
        style,
    )
}

/// Text right-aligned in `width` columns (numbers in tables).
pub(crate) fn right(text: &str, width: u16) -> String {
    let text = sanitize::display(text, usize::from(width));
    format!("{text:>w$}", w = usize::from(width))
}

/// A table header: labels over their columns, right-aligned over numbers.
pub(crate) fn header_row<'a>(
    labels: &[&str],
    widths: &[u16],
    numeric: &[bool],
) -> ratatui::widgets::Row<'a> {
    ratatui::widgets::Row::new(labels.iter().zip(widths).zip(numeric).map(
        |((label, width), numeric)| {
            let text = if *numeric {
                right(label, *width)
            } else {
                (*label).to_string()
            };
            ratatui::widgets::Cell::from(Span::styled(text, theme::HEADER))
        },
    ))
}

/// A line of `label value` pairs, the label dim and the value plain.
pub(crate) fn pairs<'a>(items: &[(&str, String)]) -> Line<'a> {
    let mut spans = Vec::with_capacity(items.len() * 2);
    for (i, (label, value)) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { "  " };
        spans.push(Span::styled(format!("{sep}{label} "), theme::LABEL));
        spans.push(Span::styled(value.clone(), theme::VALUE));
    }
    Line::from(spans)
}

/// Draws lines into `area`, one per row, stopping at its bottom.
pub(crate) fn lines(frame: &mut Frame, area: Rect, lines: Vec<Line<'_>>) {
    for (i, line) in lines.into_iter().enumerate() {
        let y = area.y + i as u16;
        if y >= area.bottom() {
            break;
        }
        frame.render_widget(
            line,
            Rect {
                y,
                height: 1,
                ..area
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::ListCursor;

    #[test]
    fn visible_window_follows_the_cursor_and_stays_in_bounds() {
        let at = |selected, offset| ListCursor { selected, offset };
        assert_eq!(visible_window(at(5, 3), 100, 10), 3..13);
        // A frame smaller than the App assumed still shows the selected row.
        assert_eq!(visible_window(at(12, 3), 100, 5), 8..13);
        // Stale cursors past the end of a shrunken list.
        assert_eq!(visible_window(at(50, 45), 8, 10), 0..8);
        assert_eq!(visible_window(at(0, 0), 0, 10), 0..0);
        assert_eq!(visible_window(at(3, 0), 10, 0), 3..4);
    }
}
