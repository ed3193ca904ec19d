//! The connections table: one row per connection, sortable on every column,
//! filtered by the `/` text. Only the rows in the visible window are built.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{cell, list_note, right, section_title};
use crate::analysis::model::ConnectionRecord;
use crate::tui::app::{App, ConnColumn};
use crate::tui::{format, layout, theme};

use super::SPACING;
/// From this width on, headers are spelled out and the findings column names kinds.
pub const WIDE: u16 = 120;

/// Width of each column (in `ConnColumn::ALL` order) for a table `total` wide.
/// Computed here rather than left to ratatui's layout so that a click on the header
/// maps to the column drawn there.
pub fn column_widths(total: u16, id_width: u16) -> [u16; 12] {
    let spacing = SPACING * 11;
    let wide = total >= WIDE;
    // id, proto, tx, reused, pipelined, 100c, probes, closed, duration, findings
    let fixed: [u16; 10] = if wide {
        [id_width.max(3), 6, 4, 6, 5, 8, 6, 9, 8, 0]
    } else {
        [id_width, 3, 3, 3, 3, 5, 4, 7, 6, 2]
    };
    let fixed_sum: u16 = fixed.iter().sum::<u16>() + spacing;
    let rest = total.saturating_sub(fixed_sum);
    let (endpoint_client, endpoint_server, findings) = if wide {
        let endpoint = (rest.saturating_sub(20) / 2).clamp(10, 26);
        (endpoint, endpoint, rest.saturating_sub(endpoint * 2))
    } else {
        (rest / 2, rest - rest / 2, fixed[9])
    };
    [
        fixed[0],
        endpoint_client,
        endpoint_server,
        fixed[1],
        fixed[2],
        fixed[3],
        fixed[4],
        fixed[5],
        fixed[6],
        fixed[7],
        fixed[8],
        findings,
    ]
}

/// Width of the id column: the digits of the largest id (ids are never cut), and
/// room for the header's sort arrow.
pub fn id_width(app: &App) -> u16 {
    let max_id = app
        .report()
        .connections
        .iter()
        .map(|c| c.id)
        .max()
        .unwrap_or(0);
    (max_id.max(1).ilog10() as u16 + 1).max(2)
}

/// The column whose cells cover column `x` of the table (0 = the table's left edge).
pub fn column_at(widths: &[u16; 12], x: u16) -> Option<ConnColumn> {
    let mut start = 0u16;
    for (column, width) in ConnColumn::ALL.iter().zip(widths) {
        // A click on the gap after a column counts for that column.
        if x >= start && x < start + width + SPACING {
            return Some(*column);
        }
        start += width + SPACING;
    }
    None
}

fn header_label(column: ConnColumn, wide: bool) -> &'static str {
    match (column, wide) {
        (ConnColumn::Id, _) => "#",
        (ConnColumn::Client, _) => "client",
        (ConnColumn::Server, _) => "server",
        (ConnColumn::Protocol, true) => "proto",
        (ConnColumn::Protocol, false) => "pr",
        (ConnColumn::Transactions, true) => "txs",
        (ConnColumn::Transactions, false) => "tx",
        (ConnColumn::Reused, true) => "reused",
        (ConnColumn::Reused, false) => "re",
        (ConnColumn::Pipelined, true) => "piped",
        (ConnColumn::Pipelined, false) => "pl",
        (ConnColumn::Expect, true) => "100-cont",
        (ConnColumn::Expect, false) => "100c",
        (ConnColumn::Probes, true) => "probes",
        (ConnColumn::Probes, false) => "prb",
        (ConnColumn::ClosedBy, _) => "closed",
        (ConnColumn::Duration, true) => "duration",
        (ConnColumn::Duration, false) => "dur",
        (ConnColumn::Findings, true) => "findings",
        (ConnColumn::Findings, false) => "!",
    }
}

fn protocol_label(protocol: &str, wide: bool) -> String {
    if wide {
        return protocol.to_string();
    }
    match protocol {
        "http1" => "h1",
        "http2" => "h2",
        "tls" => "tls",
        "tunnel" => "tun",
        "other" => "oth",
        "empty" => "-",
        other => other,
    }
    .to_string()
}

/// The most telling 100-continue outcome of the connection, and how many
/// transactions used Expect: problems (no answer, rejected) win over success.
fn expect_summary(conn: &ConnectionRecord) -> (String, Style) {
    let rank = |outcome: &str| match outcome {
        "no_response" => 4,
        "rejected_before_body" => 3,
        "body_without_continue" => 2,
        "continued" => 1,
        _ => 0,
    };
    let mut count = 0;
    let mut worst = "none";
    for tx in &conn.transactions {
        if tx.expect_outcome != "none" {
            count += 1;
            if rank(&tx.expect_outcome) > rank(worst) {
                worst = &tx.expect_outcome;
            }
        }
    }
    let text = match count {
        0 => "-".to_string(),
        1 => format::expect_short(worst).to_string(),
        _ => format!("{}+", format::expect_short(worst)),
    };
    let style = match worst {
        "none" => theme::DIM,
        "continued" => theme::GOOD,
        _ => theme::NOTE,
    };
    (text, style)
}

/// An endpoint cut in the middle of the address, so the port stays readable:
/// `192.168.1.10:51234` in 14 columns is `192.16…:51234`.
pub(crate) fn endpoint_cell<'a>(endpoint: &str, width: u16, style: Style) -> Span<'a> {
    Span::styled(elide_address(endpoint, usize::from(width)), style)
}

/// `endpoint` escaped and fitted to `width` characters, keeping its `:port` tail.
pub(crate) fn elide_address(endpoint: &str, width: usize) -> String {
    let clean = crate::sanitize::display(endpoint, 200);
    let chars: Vec<char> = clean.chars().collect();
    if chars.len() <= width {
        return clean.into_owned();
    }
    let port_len = chars
        .iter()
        .rev()
        .position(|&c| c == ':')
        .map_or(0, |p| p + 1);
    // Keep the port if at least three characters of the address fit before it.
    if port_len == 0 || port_len + 4 > width {
        return crate::sanitize::display(&clean, width).into_owned();
    }
    let head = width - port_len - 1;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - port_len..]);
    out
}

/// A count cell: `-` (dim) for zero.
fn count_cell<'a>(count: usize, width: u16, style: Style) -> Cell<'a> {
    if count == 0 {
        Cell::from(Span::styled(right("-", width), theme::DIM))
    } else {
        Cell::from(Span::styled(right(&count.to_string(), width), style))
    }
}

fn row<'a>(conn: &ConnectionRecord, widths: &[u16; 12], wide: bool) -> Row<'a> {
    let reused = conn.transactions.iter().filter(|t| t.reused).count();
    let pipelined = conn.transactions.iter().filter(|t| t.pipelined).count();
    let probes = conn
        .tcp_keepalive
        .client
        .probes
        .saturating_add(conn.tcp_keepalive.server.probes);
    let acked = conn
        .tcp_keepalive
        .client
        .acked
        .saturating_add(conn.tcp_keepalive.server.acked);
    let probe_style = if acked < probes {
        theme::PROBE_UNANSWERED
    } else {
        theme::PROBE
    };
    let (expect, expect_style) = expect_summary(conn);
    let close_style = match (conn.close.how.as_str(), conn.close.by.as_str()) {
        ("rst", _) => theme::CLOSE_RST,
        (_, "none") => theme::DIM,
        _ => theme::VALUE,
    };
    let has_findings = !conn.findings.is_empty();
    let endpoint_style = if has_findings {
        theme::FINDING
    } else {
        theme::VALUE
    };
    let findings = if !has_findings {
        Span::raw("")
    } else if wide {
        cell(&conn.findings.join(", "), widths[11], theme::FINDING)
    } else {
        Span::styled(
            if conn.findings.len() > 9 {
                "!+".to_string()
            } else {
                format!("!{}", conn.findings.len())
            },
            theme::FINDING,
        )
    };
    Row::new(vec![
        Cell::from(right(&conn.id.to_string(), widths[0])),
        Cell::from(endpoint_cell(&conn.client, widths[1], endpoint_style)),
        Cell::from(endpoint_cell(&conn.server, widths[2], theme::VALUE)),
        Cell::from(cell(
            &protocol_label(&conn.protocol, wide),
            widths[3],
            theme::DIM,
        )),
        Cell::from(right(&conn.transactions.len().to_string(), widths[4])),
        count_cell(reused, widths[5], theme::VALUE),
        count_cell(pipelined, widths[6], theme::NOTE),
        Cell::from(Span::styled(expect, expect_style)),
        count_cell(probes as usize, widths[8], probe_style),
        Cell::from(Span::styled(format::close_short(conn), close_style)),
        Cell::from(right(
            &format::secs(format::connection_duration(conn)),
            widths[10],
        )),
        Cell::from(findings),
    ])
}

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let list = layout::list(body, 0);
    let report = app.report();
    let total = report.connections.len();
    let shown = app.conn_rows.len();
    let wide = list.rows.width >= WIDE;
    let widths = column_widths(list.rows.width, id_width(app));

    // Title: counts, sort, filter.
    let arrow = if app.sort.descending { "▼" } else { "▲" };
    let sort = format!("  sort: {} {arrow} (s/S)", app.sort.column.name());
    let note = list_note(shown, total, &sort, &app.filter, "");
    frame.render_widget(section_title("Connections", &note, body.width), list.title);

    let header = Row::new(ConnColumn::ALL.iter().zip(widths).map(|(&column, width)| {
        let mut label = header_label(column, wide).to_string();
        let style = if column == app.sort.column {
            label.push_str(arrow);
            theme::HEADER_SORTED
        } else {
            theme::HEADER
        };
        // Numbers are right-aligned, so are their headers.
        let numeric = matches!(
            column,
            ConnColumn::Id
                | ConnColumn::Transactions
                | ConnColumn::Reused
                | ConnColumn::Pipelined
                | ConnColumn::Probes
                | ConnColumn::Duration
        );
        let text = if numeric { right(&label, width) } else { label };
        Cell::from(Span::styled(text, style))
    }));
    let empty = if total == 0 {
        if app.is_live() {
            "no connections yet"
        } else {
            "no connections in this capture"
        }
    } else {
        "no connection matches the filter (Esc clears it)"
    };
    super::draw_list(frame, &list, (&widths, header), &app.conn_rows, app.conn_cursor, empty, |index| {
        row(&report.connections[index], &widths, wide)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fill_the_table_exactly() {
        for total in [40u16, 79, 80, 119, 120, 159, 200] {
            let widths = column_widths(total, 3);
            let sum: u16 = widths.iter().sum::<u16>() + SPACING * 11;
            if total >= 60 {
                assert_eq!(sum, total, "width {total}");
            }
        }
    }

    #[test]
    fn header_clicks_map_to_columns() {
        let widths = column_widths(79, 3);
        assert_eq!(column_at(&widths, 0), Some(ConnColumn::Id));
        assert_eq!(column_at(&widths, widths[0] + 1), Some(ConnColumn::Client));
        assert_eq!(column_at(&widths, 78), Some(ConnColumn::Findings));
        assert_eq!(column_at(&widths, 200), None);
    }

    #[test]
    fn endpoints_keep_their_port() {
        assert_eq!(elide_address("10.0.0.1:51234", 14), "10.0.0.1:51234");
        assert_eq!(elide_address("192.168.1.10:51234", 14), "192.168…:51234");
        assert_eq!(elide_address("[2001:db8::1]:443", 10), "[2001…:443");
        assert_eq!(elide_address("a\x1bbcdef:80", 9).chars().count(), 9);
        assert_eq!(elide_address("abcdefgh:80", 5), "abcd…");
    }
}
