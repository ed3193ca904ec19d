//! Findings: every problem the analysis flagged, one per row; Enter opens the
//! connection it is about. The pane below shows the selected message in full.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use super::connections::endpoint_cell;
use super::{cell, header_row, list_note, right, section_title};
use crate::sanitize::display;
use crate::tui::app::App;
use crate::tui::{layout, theme};

use super::SPACING;

/// kind, connection, transaction, server, message.
fn column_widths(total: u16) -> [u16; 5] {
    let server = if total >= 120 { 22 } else { 0 };
    // Four gaps even when the server column is hidden (zero wide): ratatui still
    // spaces around an empty column.
    let fixed = 22 + 6 + 3 + server + SPACING * 4;
    [22, 6, 3, server, total.saturating_sub(fixed)]
}

/// A sentence on what each finding kind means, for the overview and the help.
pub fn describe(kind: &str) -> &'static str {
    match kind {
        "stale_reuse" => "request on a connection the server had already closed",
        "idle_close_unannounced" => "server closed an idle connection without Connection: close",
        "request_after_close" => "request sent after Connection: close was announced",
        "missed_reuse" => "new connection opened while an idle one to the same server was open",
        "keepalive_unanswered" => "TCP keep-alive probes got no answer",
        "incomplete" => "bytes missing from the capture broke a message",
        _ => "",
    }
}

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let list = layout::list(body, layout::FINDINGS_PANE);
    let report = app.report();
    let (shown, total) = (app.finding_rows.len(), report.findings.len());
    let note = list_note(shown, total, "", &app.filter, "  Enter: open connection");
    frame.render_widget(section_title("Findings", &note, body.width), list.title);

    let widths = column_widths(list.rows.width);
    let wide = widths[3] > 0;
    let headers: &[&str] = if wide {
        &["kind", "conn", "tx", "server", "message"]
    } else {
        &["kind", "conn", "tx", "", "message"]
    };
    let header = header_row(headers, &widths, &[false, true, true, false, false]);
    let empty = if total == 0 {
        "no findings: nothing looked wrong"
    } else {
        "no finding matches the filter (Esc clears it)"
    };
    let cursor = app.finding_cursor;
    let drawn = super::draw_list(frame, &list, (&widths, header), &app.finding_rows, cursor, empty, |index| {
        let finding = &report.findings[index];
        let server = app.connection_by_id(finding.connection).map_or("?", |c| c.server.as_str());
        Row::new(vec![
            Cell::from(cell(&finding.kind, widths[0], theme::FINDING)),
            Cell::from(right(&format!("#{}", finding.connection), widths[1])),
            Cell::from(right(&finding.transaction.map_or("-".to_string(), |t| t.to_string()), widths[2])),
            Cell::from(endpoint_cell(server, widths[3], theme::VALUE)),
            Cell::from(cell(&finding.message, widths[4], theme::VALUE)),
        ])
    });
    if !drawn {
        return;
    }

    // The selected finding in full.
    let Some(&index) = app.finding_rows.get(cursor.selected) else {
        return;
    };
    if list.pane.height == 0 {
        return;
    }
    let finding = &report.findings[index];
    let mut about = vec![
        Span::styled("─ ", theme::BORDER),
        Span::styled(display(&finding.kind, 40).into_owned(), theme::FINDING),
        Span::styled(
            format!(" on connection #{}", finding.connection),
            theme::TITLE,
        ),
    ];
    if let Some(conn) = app.connection_by_id(finding.connection) {
        about.push(Span::styled(
            format!(
                "  {} → {}",
                display(&conn.client, 48),
                display(&conn.server, 48)
            ),
            theme::DIM,
        ));
    }
    if let Some(depth) = finding.transaction {
        about.push(Span::styled(format!("  transaction {depth}"), theme::DIM));
    }
    let mut text = vec![Line::from(about)];
    text.push(Line::raw(display(&finding.message, 2000).into_owned()));
    let meaning = describe(&finding.kind);
    if !meaning.is_empty() {
        text.push(Line::styled(format!("({meaning})"), theme::DIM));
    }
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), list.pane);
}
