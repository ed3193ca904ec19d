//! One connection: what it was, its timeline, and its transactions in order, with
//! the headers that decided its keep-alive behaviour for the selected one.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{cell, header_row, lines, pairs, right, scrollbar, section_title, timeline};
use crate::analysis::model::{ConnectionRecord, Transaction};
use crate::sanitize::display;
use crate::tui::app::App;
use crate::tui::{format, layout, theme};

use super::SPACING;

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let areas = layout::detail(body);
    let Some(conn) = app.detail_connection() else {
        let message = match app.detail_id {
            Some(id) => format!("connection #{id} is not in the current report"),
            None => {
                "no connection selected: pick one in Connections or Findings (Enter)".to_string()
            }
        };
        frame.render_widget(Paragraph::new(Line::styled(message, theme::DIM)), body);
        return;
    };
    info(frame, app, conn, areas.info);
    let selected = (!conn.transactions.is_empty()).then_some(app.tx_cursor.selected);
    timeline::draw(frame, areas.timeline, conn, selected);
    transactions(frame, app, conn, areas.list);
}

/// Facts about the connection: endpoints, lifetime, close, probes, findings.
fn info(frame: &mut Frame, app: &App, conn: &ConnectionRecord, area: Rect) {
    let width = usize::from(area.width);
    let endpoint_room = width.saturating_sub(30) / 2;
    let mut title = vec![
        Span::styled(format!("#{} ", conn.id), theme::TITLE),
        Span::styled(
            display(&conn.client, endpoint_room).into_owned(),
            theme::TITLE,
        ),
        Span::styled(" → ", theme::DIM),
        Span::styled(
            display(&conn.server, endpoint_room).into_owned(),
            theme::TITLE,
        ),
        Span::styled(format!("  {}", display(&conn.protocol, 8)), theme::LABEL),
    ];
    if !conn.syn_seen {
        title.push(Span::styled("  no SYN (picked up mid-stream)", theme::NOTE));
    }

    let reused = conn.transactions.iter().filter(|t| t.reused).count();
    let pipelined = conn.transactions.iter().filter(|t| t.pipelined).count();
    let life = pairs(&[
        ("start", format::clock(conn.first_ts)),
        ("lasted", format::secs(format::connection_duration(conn))),
        (
            "txs",
            format!(
                "{} ({reused} reused, {pipelined} pipelined)",
                conn.transactions.len()
            ),
        ),
    ]);

    let close = &conn.close;
    let mut close_spans = vec![Span::styled("closed ", theme::LABEL)];
    if close.by == "none" {
        close_spans = vec![Span::styled(
            "still open at the end of the capture",
            theme::DIM,
        )];
    } else {
        let how_style = if close.how == "rst" {
            theme::CLOSE_RST
        } else {
            theme::VALUE
        };
        close_spans.push(Span::styled(
            format!("by {} ", display(&close.by, 8)),
            theme::VALUE,
        ));
        close_spans.push(Span::styled(
            display(&close.how, 4).to_uppercase(),
            how_style,
        ));
        if let Some(idle) = close.idle_s {
            close_spans.push(Span::raw(format!(" after {} idle", format::secs(idle))));
        }
        // Announcing (Connection: close) only means something on HTTP.
        if close.announced {
            close_spans.push(Span::styled(", announced", theme::GOOD));
        } else if !conn.transactions.is_empty() {
            close_spans.push(Span::styled(", unannounced", theme::NOTE));
        }
    }
    let ka = &conn.tcp_keepalive;
    for (side, count) in [("client", &ka.client), ("server", &ka.server)] {
        if count.probes == 0 {
            continue;
        }
        let style = if count.acked < count.probes {
            theme::PROBE_UNANSWERED
        } else {
            theme::VALUE
        };
        close_spans.push(Span::styled(format!("  {side} probes "), theme::LABEL));
        close_spans.push(Span::styled(
            format!("{} ({} answered)", count.probes, count.acked),
            style,
        ));
    }
    let missing = &conn.missing_bytes;
    if missing.client > 0 || missing.server > 0 {
        close_spans.push(Span::styled("  missing ", theme::LABEL));
        close_spans.push(Span::styled(
            format!(
                "{}/{} B",
                format::bytes(missing.client),
                format::bytes(missing.server)
            ),
            theme::NOTE,
        ));
    }

    let mut rows = vec![Line::from(title), life, Line::from(close_spans)];
    if conn.findings.is_empty() {
        rows.push(Line::styled("no findings", theme::DIM));
    } else {
        rows.push(Line::from(vec![
            Span::styled("findings ", theme::LABEL),
            Span::styled(
                display(&conn.findings.join(", "), width).into_owned(),
                theme::FINDING,
            ),
        ]));
        // On a tall screen, the messages too.
        let spare = usize::from(area.height).saturating_sub(rows.len());
        for finding in app
            .report()
            .findings
            .iter()
            .filter(|f| f.connection == conn.id)
            .take(spare)
        {
            rows.push(Line::from(vec![
                Span::styled("  ! ", theme::FINDING),
                Span::raw(display(&finding.message, width.saturating_sub(4)).into_owned()),
            ]));
        }
    }
    lines(frame, area, rows);
}

/// Widths of the transaction columns: #, method, URI, status, idle, wait, total,
/// framing, request body, response body, 100-continue, flags.
fn column_widths(total: u16) -> [u16; 12] {
    let wide = total >= 120;
    let mut widths: [u16; 12] = if wide {
        [4, 8, 0, 6, 8, 8, 8, 8, 9, 9, 12, 5]
    } else {
        [3, 6, 0, 3, 6, 6, 6, 5, 5, 5, 4, 2]
    };
    let used: u16 = widths.iter().sum::<u16>() + SPACING * 11;
    widths[2] = total.saturating_sub(used).max(8);
    widths
}

const HEADERS: [&str; 12] = [
    "#", "method", "uri", "st", "idle", "wait", "total", "frame", "req", "resp", "100c", "fl",
];
const HEADERS_WIDE: [&str; 12] = [
    "#",
    "method",
    "uri",
    "status",
    "idle",
    "wait",
    "total",
    "framing",
    "req body",
    "resp body",
    "100c / 1xx",
    "flags",
];

/// The 100-continue outcome and the interim responses: `cont`, or `cont 100` when
/// there is room; an interim without Expect (a 103, an unasked 100) shows its
/// status.
fn expect_cell(tx: &Transaction, wide: bool) -> String {
    let outcome = format::expect_short(&tx.expect_outcome);
    let interims: Vec<String> = tx.interim.iter().map(|i| i.status.to_string()).collect();
    match (&*tx.expect_outcome, interims.is_empty(), wide) {
        (_, true, _) => outcome.to_string(),
        ("none", false, _) => interims.join(","),
        (_, false, true) => format!("{outcome} {}", interims.join(",")),
        (_, false, false) => outcome.to_string(),
    }
}

fn transaction_row<'a>(tx: &Transaction, widths: &[u16; 12]) -> Row<'a> {
    let (method, uri, request_bytes) = match &tx.request {
        Some(r) => (
            cell(&r.method, widths[1], theme::VALUE),
            cell(r.uri.as_deref().unwrap_or("(no target)"), widths[2], theme::VALUE),
            right(&format::bytes(r.body_bytes), widths[8]),
        ),
        None => (
            Span::styled("-", theme::DIM),
            Span::styled("(no request seen)", theme::DIM),
            right("-", widths[8]),
        ),
    };
    let (status, framing, response_bytes) = match &tx.response {
        Some(r) => (
            Span::styled(
                right(&r.status.map_or("0.9".to_string(), |st| st.to_string()), widths[3]),
                theme::status(r.status.unwrap_or(0)),
            ),
            Span::raw(format::framing_short(&r.framing)),
            right(&format::bytes(r.body_bytes), widths[9]),
        ),
        None => (
            Span::styled(right("-", widths[3]), theme::FINDING),
            Span::styled("-", theme::DIM),
            right("-", widths[9]),
        ),
    };
    let expect_style = match &*tx.expect_outcome {
        "none" => theme::DIM,
        "continued" => theme::GOOD,
        _ => theme::NOTE,
    };
    let mut flags = String::new();
    if tx.pipelined {
        flags.push('P');
    }
    if !tx.persistent_after {
        flags.push('C');
    }
    let incomplete = tx.request.as_ref().is_some_and(|r| !r.complete)
        || tx.response.as_ref().is_some_and(|r| !r.complete);
    if incomplete {
        flags.push('I');
    }
    Row::new(vec![
        Cell::from(right(&tx.depth.to_string(), widths[0])),
        Cell::from(method),
        Cell::from(uri),
        Cell::from(status),
        Cell::from(right(&format::opt_secs(tx.idle_before_s), widths[4])),
        Cell::from(right(
            &format::opt_secs(format::time_to_response(tx)),
            widths[5],
        )),
        Cell::from(right(
            &format::opt_secs(format::transaction_total(tx)),
            widths[6],
        )),
        Cell::from(framing),
        Cell::from(request_bytes),
        Cell::from(response_bytes),
        Cell::from(Span::styled(
            expect_cell(tx, widths[10] >= 12),
            expect_style,
        )),
        Cell::from(Span::styled(flags, theme::NOTE)),
    ])
}

fn transactions(frame: &mut Frame, app: &App, conn: &ConnectionRecord, list: layout::ListLayout) {
    let count = conn.transactions.len();
    let wide = list.rows.width >= 120;
    let note = if wide {
        "wait: request → response start  total: → response end  flags: P pipelined, C closes after, I incomplete"
    } else {
        "flags: P pipelined C close I incomplete"
    };
    let title = format!("Transactions {count}");
    frame.render_widget(section_title(&title, note, list.title.width), list.title);
    let widths = column_widths(list.rows.width);
    let constraints: Vec<Constraint> = widths.iter().map(|w| Constraint::Length(*w)).collect();
    let headers = if wide { HEADERS_WIDE } else { HEADERS };
    let numeric = [
        true, false, false, true, true, true, true, false, true, true, false, false,
    ];
    let header = header_row(&headers, &widths, &numeric);
    frame.render_widget(
        Table::new(Vec::<Row>::new(), constraints.clone())
            .header(header)
            .column_spacing(SPACING),
        list.header,
    );
    if count == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "no HTTP transactions on this connection",
                theme::DIM,
            )),
            list.rows,
        );
        return;
    }
    let cursor = app.tx_cursor;
    let window = super::visible_window(cursor, count, usize::from(list.rows.height));
    let start = window.start;
    let rows: Vec<Row> = conn.transactions[window]
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let row = transaction_row(tx, &widths);
            if start + i == cursor.selected {
                row.style(theme::SELECTED_ROW)
            } else {
                row
            }
        })
        .collect();
    frame.render_widget(
        Table::new(rows, constraints).column_spacing(SPACING),
        list.rows,
    );
    scrollbar(frame.buffer_mut(), list.scrollbar, count, start);
    if let Some(tx) = conn.transactions.get(cursor.selected) {
        transaction_pane(frame, tx, list.pane);
    }
}

/// Optional header value as ` Name: value`, escaped.
fn header_span<'a>(name: &str, value: &Option<crate::analysis::model::Text>, room: usize) -> Option<Span<'a>> {
    value
        .as_ref()
        .map(|v| Span::styled(format!("  {name}: {}", display(v, room)), theme::VALUE))
}

/// The selected transaction's keep-alive headers, 100-continue timing and interims.
fn transaction_pane(frame: &mut Frame, tx: &Transaction, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    // Header values share the line; the URI gets the most room.
    let room = (width / 3).max(10);
    let uri_room = width.saturating_sub(40).max(20);
    let mut rows = Vec::with_capacity(3);

    let mut request_line = vec![Span::styled("→ ", theme::REQUEST)];
    match &tx.request {
        Some(r) => {
            request_line.push(Span::raw(format!(
                "{} {} {}",
                display(&r.method, 16),
                display(r.uri.as_deref().unwrap_or("(no target)"), uri_room),
                display(&r.version, 10)
            )));
            request_line.extend(header_span("Connection", &r.connection, room));
            request_line.extend(header_span("Keep-Alive", &r.keep_alive, room));
            request_line.extend(header_span("Expect", &r.expect, room));
            if let Some(wait) = tx.expect_client_wait_s {
                request_line.push(Span::styled(
                    format!(" (body after {})", format::secs(wait)),
                    theme::NOTE,
                ));
            }
            request_line.push(Span::styled(
                format!("  body {}", format::bytes(r.body_bytes)),
                theme::DIM,
            ));
            if !r.complete {
                request_line.push(Span::styled("  incomplete", theme::NOTE));
            }
        }
        None => request_line.push(Span::styled("no request seen", theme::DIM)),
    }
    rows.push(Line::from(request_line));

    let mut response_line = vec![Span::styled("← ", theme::RESPONSE)];
    match &tx.response {
        Some(r) => {
            response_line.push(Span::styled(
                format!(
                    "{} {} {}",
                    display(&r.version, 10),
                    r.status.map_or("-".to_string(), |st| st.to_string()),
                    display(&r.reason, room)
                ),
                theme::status(r.status.unwrap_or(0)),
            ));
            response_line.extend(header_span("Connection", &r.connection, room));
            response_line.extend(header_span("Keep-Alive", &r.keep_alive, room));
            response_line.push(Span::styled(
                format!(
                    "  {} {}",
                    display(&r.framing, 16),
                    format::bytes(r.body_bytes)
                ),
                theme::DIM,
            ));
            if !r.complete {
                response_line.push(Span::styled("  incomplete", theme::NOTE));
            }
        }
        None => response_line.push(Span::styled("no response seen", theme::FINDING)),
    }
    rows.push(Line::from(response_line));

    // Most telling first: whether the connection may carry another request, then
    // the interim responses, then the 100-continue waits.
    let (persistent, style): (&str, Style) = if tx.persistent_after {
        ("stays open", theme::GOOD)
    } else {
        ("must close after this", theme::NOTE)
    };
    let mut notes = vec![Span::styled(persistent, style)];
    let request_ts = tx.request.as_ref().map(|r| r.ts);
    for interim in &tx.interim {
        let at = request_ts.map_or_else(String::new, |ts| {
            format!(" at +{}", format::secs(interim.ts - ts))
        });
        notes.push(Span::styled(
            format!("  interim {}{at}", interim.status),
            theme::INTERIM,
        ));
    }
    if tx.expect_outcome != "none" {
        notes.push(Span::styled("  100-continue ", theme::LABEL));
        notes.push(Span::styled(
            display(&tx.expect_outcome, 24).into_owned(),
            theme::NOTE,
        ));
        // With an interim shown, its time already says when the server answered.
        if let Some(wait) = tx.expect_server_wait_s.filter(|_| tx.interim.is_empty()) {
            notes.push(Span::raw(format!(
                ", server answered in {}",
                format::secs(wait)
            )));
        }
    }
    rows.push(Line::from(notes));
    // Each line on its own row, cut at the pane's edge.
    lines(frame, area, rows);
}
