//! The picture of one connection's life: two lanes of characters on a time axis
//! scaled to the pane's width. The client lane shows request spans (`▶`), the
//! client's keep-alive probes (`k`) and its FIN/RST (`F`/`R`); the server lane shows
//! response spans (`◀`), interim 100 responses (`1`), the server's probes and close.
//! Idle time (no HTTP message in flight on an open connection) is `·` on both lanes.
//!
//! `build` is pure (connection + width → marks) so it is tested on its own; `draw`
//! only turns marks into styled characters.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::section_title;
use crate::analysis::model::ConnectionRecord;
use crate::tui::{format, theme};

/// What one character cell of a lane shows. Later kinds in `build`'s painting order
/// overwrite earlier ones when they fall into the same cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Empty,
    Idle,
    /// Part of a request; `tx` is the transaction's position on the connection.
    Request {
        tx: usize,
    },
    Response {
        tx: usize,
    },
    /// An interim (1xx) response, usually `100 Continue`.
    Interim {
        tx: usize,
    },
    Probe {
        acked: bool,
    },
    Fin,
    Rst,
}

impl Mark {
    pub fn symbol(self) -> char {
        match self {
            Mark::Empty => ' ',
            Mark::Idle => '·',
            Mark::Request { .. } => '▶',
            Mark::Response { .. } => '◀',
            Mark::Interim { .. } => '1',
            Mark::Probe { .. } => 'k',
            Mark::Fin => 'F',
            Mark::Rst => 'R',
        }
    }

    fn style(self, selected_tx: Option<usize>) -> Style {
        let highlight = |style: Style, tx: usize| {
            if selected_tx == Some(tx) {
                style.add_modifier(theme::TIMELINE_SELECTED)
            } else {
                style
            }
        };
        match self {
            Mark::Empty => Style::new(),
            Mark::Idle => theme::IDLE,
            Mark::Request { tx } => highlight(theme::REQUEST, tx),
            Mark::Response { tx } => highlight(theme::RESPONSE, tx),
            Mark::Interim { tx } => highlight(theme::INTERIM, tx),
            Mark::Probe { acked: true } => theme::PROBE,
            Mark::Probe { acked: false } => theme::PROBE_UNANSWERED,
            Mark::Fin => theme::CLOSE_FIN,
            Mark::Rst => theme::CLOSE_RST,
        }
    }
}

/// Both lanes of a connection, `width` cells each, and the time range they cover.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub client: Vec<Mark>,
    pub server: Vec<Mark>,
    /// Seconds since the epoch at the first and the last cell.
    pub start: f64,
    pub end: f64,
}

/// Maps instants onto `width` cells between `start` and `end`.
struct Axis {
    start: f64,
    span: f64,
    last_cell: usize,
}

impl Axis {
    fn cell(&self, ts: f64) -> usize {
        if !ts.is_finite() || self.span <= 0.0 {
            return 0;
        }
        let at = ((ts - self.start) / self.span * self.last_cell as f64).round();
        if at <= 0.0 {
            0
        } else {
            (at as usize).min(self.last_cell)
        }
    }
}

/// Every finite instant the connection records, to find the axis' range.
fn instants(conn: &ConnectionRecord) -> impl Iterator<Item = f64> + '_ {
    let ends = [Some(conn.first_ts), Some(conn.last_ts), conn.close.ts];
    let messages = conn.transactions.iter().flat_map(|tx| {
        let request = tx
            .request
            .as_ref()
            .map_or([None, None], |r| [Some(r.ts), r.end_ts]);
        let response = tx
            .response
            .as_ref()
            .map_or([None, None], |r| [Some(r.ts), r.end_ts]);
        request
            .into_iter()
            .chain(response)
            .chain(tx.interim.iter().map(|i| Some(i.ts)))
    });
    let probes = conn.keepalive_probe_ts.iter().map(|p| Some(p.ts));
    ends.into_iter()
        .chain(messages)
        .chain(probes)
        .flatten()
        .filter(|t| t.is_finite())
}

pub fn build(conn: &ConnectionRecord, width: usize) -> Timeline {
    let mut client = vec![Mark::Empty; width];
    let mut server = vec![Mark::Empty; width];
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    for t in instants(conn) {
        start = start.min(t);
        end = end.max(t);
    }
    if start > end {
        (start, end) = (0.0, 0.0);
    }
    if width == 0 {
        return Timeline {
            client,
            server,
            start,
            end,
        };
    }
    let axis = Axis {
        start,
        span: end - start,
        last_cell: width - 1,
    };
    let span_cells = |from: f64, to: f64| {
        let (a, b) = (axis.cell(from), axis.cell(to));
        a.min(b)..=a.max(b)
    };

    // 1. Idle: the gap before each request, and after the last message until the
    //    close (or until the capture ends, for a connection still open).
    let mut last_activity = f64::NEG_INFINITY;
    for tx in &conn.transactions {
        if let Some(request) = &tx.request {
            if let Some(gap) = tx.idle_before_s.filter(|g| *g > 0.0 && g.is_finite()) {
                for cell in span_cells(request.ts - gap, request.ts) {
                    client[cell] = Mark::Idle;
                    server[cell] = Mark::Idle;
                }
            }
            last_activity = last_activity.max(request.end_ts.unwrap_or(request.ts));
        }
        if let Some(response) = &tx.response {
            last_activity = last_activity.max(response.end_ts.unwrap_or(response.ts));
        }
    }
    let idle_until = match conn.close.ts {
        Some(close) if conn.close.by != "none" => Some(close),
        _ => Some(conn.last_ts),
    };
    if let Some(until) = idle_until.filter(|_| last_activity.is_finite()) {
        if until > last_activity {
            for cell in span_cells(last_activity, until) {
                client[cell] = Mark::Idle;
                server[cell] = Mark::Idle;
            }
        }
    }

    // 2. Messages: requests on the client lane, responses and 1xx on the server's.
    for (tx_index, tx) in conn.transactions.iter().enumerate() {
        if let Some(request) = &tx.request {
            for cell in span_cells(request.ts, request.end_ts.unwrap_or(request.ts)) {
                client[cell] = Mark::Request { tx: tx_index };
            }
        }
        if let Some(response) = &tx.response {
            for cell in span_cells(response.ts, response.end_ts.unwrap_or(response.ts)) {
                server[cell] = Mark::Response { tx: tx_index };
            }
        }
        for interim in &tx.interim {
            server[axis.cell(interim.ts)] = Mark::Interim { tx: tx_index };
        }
    }

    // 3. Instants that must stay visible however busy the lane: probes, then the close.
    for probe in &conn.keepalive_probe_ts {
        let lane = if probe.by == "server" {
            &mut server
        } else {
            &mut client
        };
        lane[axis.cell(probe.ts)] = Mark::Probe { acked: probe.acked };
    }
    if let Some(close_ts) = conn.close.ts {
        let mark = if conn.close.how == "rst" {
            Mark::Rst
        } else {
            Mark::Fin
        };
        match conn.close.by.as_str() {
            "client" => client[axis.cell(close_ts)] = mark,
            "server" => server[axis.cell(close_ts)] = mark,
            _ => {}
        }
    }
    Timeline {
        client,
        server,
        start,
        end,
    }
}

const LANE_LABEL: usize = 4;

/// Draws the timeline of `conn` into `area` (title, two lanes, axis, legend),
/// highlighting the spans of transaction `selected_tx`.
pub fn draw(frame: &mut Frame, area: Rect, conn: &ConnectionRecord, selected_tx: Option<usize>) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width).saturating_sub(LANE_LABEL + 1);
    let timeline = build(conn, width);
    let duration = timeline.end - timeline.start;
    let note = format!(
        "{} from {}",
        format::secs(duration),
        format::clock(timeline.start)
    );
    let mut lines = vec![section_title("Timeline", &note, area.width)];

    let lane = |label: &str, marks: &[Mark]| {
        let mut spans = vec![Span::styled(format!("{label:<LANE_LABEL$}"), theme::LABEL)];
        // Runs of equally styled cells become one span.
        let mut run = String::new();
        let mut run_style = None;
        for mark in marks {
            let style = mark.style(selected_tx);
            if run_style.is_some_and(|s| s != style) {
                spans.push(Span::styled(
                    std::mem::take(&mut run),
                    run_style.unwrap_or_default(),
                ));
            }
            run_style = Some(style);
            run.push(mark.symbol());
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, run_style.unwrap_or_default()));
        }
        Line::from(spans)
    };
    lines.push(lane("cli", &timeline.client));
    lines.push(lane("srv", &timeline.server));
    lines.push(axis_labels(width, duration));
    lines.push(legend());
    super::lines(frame, area, lines);
}

/// `0` under the first cell, the midpoint in the middle, the duration at the end.
fn axis_labels<'a>(width: usize, duration: f64) -> Line<'a> {
    let mut row: Vec<char> = vec![' '; width];
    let mut put = |at: usize, text: &str| {
        for (i, c) in text.chars().enumerate() {
            if let Some(cell) = row.get_mut(at + i) {
                *cell = c;
            }
        }
    };
    let end_label = format!("{}┘", format::secs(duration));
    let mid_label = format!("┴{}", format::secs(duration / 2.0));
    put(0, "└0");
    let end_len = end_label.chars().count();
    if width > end_len + 2 {
        put(width - end_len, &end_label);
    }
    let mid = width / 2;
    if width > 2 * (mid_label.chars().count() + end_len) {
        put(mid, &mid_label);
    }
    Line::from(vec![
        Span::raw(" ".repeat(LANE_LABEL)),
        Span::styled(row.into_iter().collect::<String>(), theme::DIM),
    ])
}

fn legend<'a>() -> Line<'a> {
    let item = |symbol: &'static str, style: Style, text: &'static str| {
        [Span::styled(symbol, style), Span::styled(text, theme::DIM)]
    };
    let spans: Vec<Span> = [
        item("▶", theme::REQUEST, " request  "),
        item("◀", theme::RESPONSE, " response  "),
        item("·", theme::IDLE, " idle  "),
        item("1", theme::INTERIM, " 1xx  "),
        item("k", theme::PROBE, " probe  "),
        item("F", theme::CLOSE_FIN, " FIN  "),
        item("R", theme::CLOSE_RST, " RST"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut line = vec![Span::raw(" ".repeat(LANE_LABEL))];
    line.extend(spans);
    Line::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::*;

    fn tx(depth: u64, req: (f64, f64), resp: (f64, f64), idle: Option<f64>) -> Transaction {
        Transaction {
            depth,
            reused: depth > 1,
            pipelined: false,
            idle_before_s: idle,
            request: Some(RequestRecord {
                ts: req.0,
                end_ts: Some(req.1),
                method: "GET".into(),
                uri: Some("/".into()),
                version: "HTTP/1.1".into(),
                connection: None,
                keep_alive: None,
                expect: None,
                body_bytes: 0,
                complete: true,
            }),
            interim: vec![],
            response: Some(ResponseRecord {
                ts: resp.0,
                end_ts: Some(resp.1),
                status: Some(200),
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                connection: None,
                keep_alive: None,
                framing: "content-length".into(),
                body_bytes: 10,
                complete: true,
            }),
            expect_outcome: "none".into(),
            persistent_after: true,
            expect_client_wait_s: None,
            expect_server_wait_s: None,
        }
    }

    fn conn(
        transactions: Vec<Transaction>,
        close: Close,
        probes: Vec<ProbeMark>,
        last_ts: f64,
    ) -> ConnectionRecord {
        ConnectionRecord {
            id: 1,
            client: "10.0.0.1:5000".into(),
            server: "10.0.0.2:80".into(),
            first_ts: 0.0,
            last_ts,
            syn_seen: true,
            protocol: "http1".into(),
            transactions,
            close,
            tcp_keepalive: KeepaliveBySide::default(),
            missing_bytes: BySide::default(),
            findings: vec![],
            keepalive_probe_ts: probes,
            retired_transactions: 0,
        }
    }

    fn text(marks: &[Mark]) -> String {
        marks.iter().map(|m| m.symbol()).collect()
    }

    #[test]
    fn keep_alive_connection_closed_by_idle_server() {
        // Two requests at 0 and 5 s, server closes after 5 s idle: 10 s on 11 cells.
        let c = conn(
            vec![
                tx(1, (0.0, 0.0), (1.0, 1.0), None),
                tx(2, (5.0, 5.0), (6.0, 6.0), Some(4.0)),
            ],
            Close {
                by: "server".into(),
                how: "fin".into(),
                ts: Some(10.0),
                idle_s: Some(4.0),
                announced: false,
            },
            vec![],
            10.0,
        );
        let t = build(&c, 11);
        assert_eq!(text(&t.client), "▶····▶·····");
        assert_eq!(text(&t.server), " ◀····◀···F");
        assert_eq!((t.start, t.end), (0.0, 10.0));
        assert_eq!(t.client[5], Mark::Request { tx: 1 });
    }

    #[test]
    fn probes_and_rst_land_on_the_sender_lane() {
        let c = conn(
            vec![tx(1, (0.0, 0.0), (0.0, 0.0), None)],
            Close {
                by: "client".into(),
                how: "rst".into(),
                ts: Some(4.0),
                idle_s: Some(4.0),
                announced: false,
            },
            vec![
                ProbeMark {
                    by: "client".into(),
                    ts: 2.0,
                    acked: true,
                },
                ProbeMark {
                    by: "server".into(),
                    ts: 3.0,
                    acked: false,
                },
            ],
            4.0,
        );
        let t = build(&c, 5);
        assert_eq!(text(&t.client), "▶·k·R");
        assert_eq!(text(&t.server), "◀··k·");
        assert_eq!(t.server[3], Mark::Probe { acked: false });
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let open = Close {
            by: "none".into(),
            how: "none".into(),
            ts: None,
            idle_s: None,
            announced: false,
        };
        let empty = conn(vec![], open.clone(), vec![], 0.0);
        assert_eq!(text(&build(&empty, 3).client), "   ");
        assert!(build(&empty, 0).client.is_empty());
        // Timestamps going backwards, NaN and infinities.
        let weird = conn(
            vec![tx(
                1,
                (f64::NAN, -5.0),
                (f64::INFINITY, 3.0),
                Some(f64::NAN),
            )],
            open,
            vec![ProbeMark {
                by: "client".into(),
                ts: f64::NEG_INFINITY,
                acked: true,
            }],
            1.0,
        );
        let t = build(&weird, 8);
        assert_eq!(t.client.len(), 8);
        assert!(t.start <= t.end);
    }
}
