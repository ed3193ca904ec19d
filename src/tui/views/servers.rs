//! Per-server figures: how each server treats persistent connections — the idle
//! timeout it advertises and the one it really applies, how many requests it
//! allows, and the keep-alive race verdict. Enter lists the server's connections.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use super::connections::endpoint_cell;
use super::{cell, header_row, list_note, pairs, right, section_title};
use crate::analysis::model::ServerFigures;
use crate::sanitize::display;
use crate::tui::app::App;
use crate::tui::{format, layout, theme};

use super::SPACING;

/// server, conns, txs, reuse, depth, idle close, max requests, advertised, verdict.
fn column_widths(total: u16) -> [u16; 9] {
    if total >= 120 {
        let fixed = 26 + 6 + 7 + 6 + 5 + 10 + 7 + 24 + SPACING * 8;
        [26, 6, 7, 6, 5, 10, 7, 24, total.saturating_sub(fixed)]
    } else {
        let fixed = 21 + 5 + 6 + 6 + 5 + 7 + 5 + 1 + SPACING * 8;
        [21, 5, 6, 6, 5, 7, 5, total.saturating_sub(fixed), 1]
    }
}

fn opt_count(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn row<'a>(server: &ServerFigures, widths: &[u16; 9], wide: bool) -> Row<'a> {
    let verdict = match (&server.verdict, wide) {
        (None, _) => Span::raw(""),
        (Some(text), true) => cell(text, widths[8], theme::FINDING),
        (Some(_), false) => Span::styled("!", theme::FINDING),
    };
    let advertised = match &server.advertised_keep_alive {
        Some(text) => cell(text, widths[7], theme::VALUE),
        None => Span::styled("-", theme::DIM),
    };
    Row::new(vec![
        Cell::from(endpoint_cell(&server.server, widths[0], theme::VALUE)),
        Cell::from(right(&server.connections.to_string(), widths[1])),
        Cell::from(right(&server.transactions.to_string(), widths[2])),
        Cell::from(right(&format::percent(server.reuse_ratio), widths[3])),
        Cell::from(right(&server.max_depth.to_string(), widths[4])),
        Cell::from(right(
            &format::opt_secs(server.observed_idle_close_s),
            widths[5],
        )),
        Cell::from(right(
            &opt_count(server.max_requests_before_close),
            widths[6],
        )),
        Cell::from(advertised),
        Cell::from(verdict),
    ])
}

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let list = layout::list(body, layout::SERVERS_PANE);
    let report = app.report();
    let (shown, total) = (app.server_rows.len(), report.servers.len());
    let note = list_note(shown, total, "", &app.filter, "  Enter: its connections");
    frame.render_widget(section_title("Servers", &note, body.width), list.title);

    let widths = column_widths(list.rows.width);
    let wide = list.rows.width >= 120;
    let headers: [&str; 9] = if wide {
        [
            "server",
            "conns",
            "txs",
            "reuse",
            "depth",
            "idle close",
            "max req",
            "advertised keep-alive",
            "verdict",
        ]
    } else {
        [
            "server",
            "conns",
            "txs",
            "reuse",
            "depth",
            "idle cl",
            "maxrq",
            "advertised",
            "!",
        ]
    };
    let numeric = [false, true, true, true, true, true, true, false, false];
    let header = header_row(&headers, &widths, &numeric);
    let empty = if total == 0 { "no HTTP servers seen" } else { "no server matches the filter (Esc clears it)" };
    let cursor = app.server_cursor;
    if !super::draw_list(frame, &list, (&widths, header), &app.server_rows, cursor, empty, |index| {
        row(&report.servers[index], &widths, wide)
    }) {
        return;
    }

    if let Some(&index) = app.server_rows.get(cursor.selected) {
        pane(frame, &report.servers[index], list.pane);
    }
}

/// The selected server's figures spelled out, and its verdict in full.
fn pane(frame: &mut Frame, server: &ServerFigures, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let mut text = vec![Line::from(vec![
        Span::styled("─ ", theme::BORDER),
        Span::styled(
            display(&server.server, width.saturating_sub(4)).into_owned(),
            theme::TITLE,
        ),
    ])];
    text.push(Line::from(vec![
        Span::styled("advertises ", theme::LABEL),
        match &server.advertised_keep_alive {
            Some(value) => Span::raw(format!(
                "Keep-Alive: {}",
                display(value, width.saturating_sub(24))
            )),
            None => Span::styled("no Keep-Alive header", theme::DIM),
        },
    ]));
    text.push(pairs(&[
        (
            "closes idle connections after",
            server
                .observed_idle_close_s
                .map_or_else(|| "- (not seen)".to_string(), format::secs),
        ),
        (
            "max requests per connection",
            server
                .max_requests_before_close
                .map_or_else(|| "- (not seen)".to_string(), |v| v.to_string()),
        ),
    ]));
    text.push(pairs(&[
        ("connections", server.connections.to_string()),
        ("transactions", server.transactions.to_string()),
        ("reuse", format::percent(server.reuse_ratio)),
        ("max depth", server.max_depth.to_string()),
    ]));
    text.push(match &server.verdict {
        Some(verdict) => Line::from(vec![
            Span::styled("verdict ", theme::LABEL),
            Span::styled(display(verdict, 1000).into_owned(), theme::FINDING),
        ]),
        None => Line::styled("no keep-alive race seen", theme::GOOD),
    });
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
}
