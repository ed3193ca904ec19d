//! The UI's whole state, and how it changes with the report, the filter and the
//! sort (what keys and the mouse do to it is in `event.rs`).
//!
//! Nothing here touches the terminal: the event loop (`terminal.rs`) feeds events in
//! and draws `&App` after each one, and tests drive the same `App` with synthetic
//! events and render it into ratatui's `TestBackend`.
//!
//! The report is shared (`Arc`) and never modified. The lists the views show are
//! vectors of indices into it, rebuilt only when the report, the filter or the sort
//! changes, so drawing a frame costs the visible rows only, even with 100k
//! connections.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use ratatui::layout::Rect;

use super::{layout, LiveStats, UiUpdate};
use crate::analysis::model::{ConnectionRecord, Report, SourceInfo, Summary};

/// The views, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Connections,
    Detail,
    Findings,
    Servers,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Overview,
        View::Connections,
        View::Detail,
        View::Findings,
        View::Servers,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Connections => "Connections",
            View::Detail => "Detail",
            View::Findings => "Findings",
            View::Servers => "Servers",
        }
    }

    fn position(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    pub fn next(self) -> View {
        View::ALL[(self.position() + 1) % View::ALL.len()]
    }

    pub fn prev(self) -> View {
        View::ALL[(self.position() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// The connections table's columns, in display (and `s` cycling) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnColumn {
    Id,
    Client,
    Server,
    Protocol,
    Transactions,
    Reused,
    Pipelined,
    Expect,
    Probes,
    ClosedBy,
    Duration,
    Findings,
}

impl ConnColumn {
    pub const ALL: [ConnColumn; 12] = [
        ConnColumn::Id,
        ConnColumn::Client,
        ConnColumn::Server,
        ConnColumn::Protocol,
        ConnColumn::Transactions,
        ConnColumn::Reused,
        ConnColumn::Pipelined,
        ConnColumn::Expect,
        ConnColumn::Probes,
        ConnColumn::ClosedBy,
        ConnColumn::Duration,
        ConnColumn::Findings,
    ];

    /// Full name, for the title line and the help.
    pub fn name(self) -> &'static str {
        match self {
            ConnColumn::Id => "id",
            ConnColumn::Client => "client",
            ConnColumn::Server => "server",
            ConnColumn::Protocol => "protocol",
            ConnColumn::Transactions => "transactions",
            ConnColumn::Reused => "reused",
            ConnColumn::Pipelined => "pipelined",
            ConnColumn::Expect => "100-continue",
            ConnColumn::Probes => "probes",
            ConnColumn::ClosedBy => "closed by",
            ConnColumn::Duration => "duration",
            ConnColumn::Findings => "findings",
        }
    }

    /// Counts and durations are most interesting largest first; names A to Z.
    pub fn descending_by_default(self) -> bool {
        !matches!(
            self,
            ConnColumn::Id
                | ConnColumn::Client
                | ConnColumn::Server
                | ConnColumn::Protocol
                | ConnColumn::ClosedBy
        )
    }

    pub(crate) fn next(self) -> ConnColumn {
        let at = ConnColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        ConnColumn::ALL[(at + 1) % ConnColumn::ALL.len()]
    }
}

/// How the connections table is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: ConnColumn,
    pub descending: bool,
}

/// A cursor over a list: the selected position and the first visible position.
/// Positions index the view's row vector, not the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub selected: usize,
    pub offset: usize,
}

impl ListCursor {
    /// Moves the selection to `target` (clamped) and scrolls just enough to show it.
    pub(crate) fn select(&mut self, target: usize, len: usize, page: usize) {
        self.selected = target.min(len.saturating_sub(1));
        self.fit(len, page);
    }

    pub(crate) fn move_by(&mut self, delta: isize, len: usize, page: usize) {
        let target = self.selected.saturating_add_signed(delta);
        self.select(target, len, page);
    }

    /// Keeps the selection inside the list and inside the visible window.
    fn fit(&mut self, len: usize, page: usize) {
        let page = page.max(1);
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        // Do not leave empty space below the last row when the list could fill it.
        self.offset = self.offset.min(len.saturating_sub(page));
    }
}

/// The UI state. Fields are crate-visible for the views; tests use the accessors.
pub struct App {
    pub(crate) report: Arc<Report>,
    /// Live mode: the overview shows capture counters and a sparkline.
    pub(crate) live_mode: bool,
    pub(crate) live: Option<LiveStats>,
    /// Message for the status bar (the capture ended, why); stays.
    pub(crate) status: Option<String>,
    /// Answer to the last key (mouse toggled, …); gone at the next key.
    pub(crate) notice: Option<String>,
    pub(crate) view: View,
    pub(crate) help: bool,
    /// Whether the terminal should report the mouse. Capturing it disables the
    /// terminal's own text selection, so `m` turns it off to copy an address.
    pub(crate) mouse_capture: bool,
    pub(crate) screen: Rect,

    pub(crate) filter: String,
    pub(crate) filter_editing: bool,
    pub(crate) sort: Sort,

    /// Connection id → index in `report.connections`.
    pub(crate) id_index: HashMap<u64, usize>,
    /// Indices into `report.connections`, filtered and sorted.
    pub(crate) conn_rows: Vec<usize>,
    pub(crate) conn_cursor: ListCursor,
    /// Indices into `report.findings`, filtered.
    pub(crate) finding_rows: Vec<usize>,
    pub(crate) finding_cursor: ListCursor,
    /// Indices into `report.servers`, filtered.
    pub(crate) server_rows: Vec<usize>,
    pub(crate) server_cursor: ListCursor,

    /// The connection the detail view shows (by id, so it survives new snapshots).
    pub(crate) detail_id: Option<u64>,
    /// Cursor over the detail connection's transactions.
    pub(crate) tx_cursor: ListCursor,
    /// Where Esc goes back to from the detail view.
    pub(crate) detail_return: View,
}

/// An empty report, shown in live mode until the first snapshot arrives.
pub fn empty_report(kind: &str) -> Report {
    Report {
        version: 1,
        source: SourceInfo {
            kind: kind.to_string(),
            ..SourceInfo::default()
        },
        summary: Summary::default(),
        servers: Vec::new(),
        connections: Vec::new(),
        findings: Vec::new(),
    }
}

impl App {
    /// An App over `report`, drawn on a terminal of `width`×`height`.
    pub fn new(report: Arc<Report>, width: u16, height: u16) -> App {
        let mut app = App {
            report,
            live_mode: false,
            live: None,
            status: None,
            notice: None,
            view: View::Overview,
            help: false,
            mouse_capture: true,
            screen: Rect::new(0, 0, width, height),
            filter: String::new(),
            filter_editing: false,
            sort: Sort {
                column: ConnColumn::Id,
                descending: false,
            },
            id_index: HashMap::new(),
            conn_rows: Vec::new(),
            conn_cursor: ListCursor::default(),
            finding_rows: Vec::new(),
            finding_cursor: ListCursor::default(),
            server_rows: Vec::new(),
            server_cursor: ListCursor::default(),
            detail_id: None,
            tx_cursor: ListCursor::default(),
            detail_return: View::Connections,
        };
        app.index_report();
        app.rebuild_rows();
        app.sync_detail_to_table();
        app
    }

    /// An App for live mode, empty until the first snapshot.
    pub fn new_live(width: u16, height: u16) -> App {
        let mut app = App::new(Arc::new(empty_report("live")), width, height);
        app.live_mode = true;
        app
    }

    // ----- accessors (for tests and the event loop) -----

    pub fn view(&self) -> View {
        self.view
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Whether the event loop should keep mouse capture on.
    pub fn mouse_capture(&self) -> bool {
        self.mouse_capture
    }

    pub fn help_visible(&self) -> bool {
        self.help
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn filter_editing(&self) -> bool {
        self.filter_editing
    }

    pub fn sort(&self) -> Sort {
        self.sort
    }

    pub fn status_message(&self) -> Option<&str> {
        self.status.as_deref()
    }

    pub fn live_stats(&self) -> Option<&LiveStats> {
        self.live.as_ref()
    }

    /// Ids of the connections in the table, in the order shown.
    pub fn connection_ids(&self) -> Vec<u64> {
        self.conn_rows
            .iter()
            .map(|&i| self.report.connections[i].id)
            .collect()
    }

    /// Id of the connection selected in the table.
    pub fn selected_connection_id(&self) -> Option<u64> {
        self.conn_rows
            .get(self.conn_cursor.selected)
            .map(|&i| self.report.connections[i].id)
    }

    pub fn connection_cursor(&self) -> ListCursor {
        self.conn_cursor
    }

    pub fn finding_cursor(&self) -> ListCursor {
        self.finding_cursor
    }

    pub fn server_cursor(&self) -> ListCursor {
        self.server_cursor
    }

    pub fn transaction_cursor(&self) -> ListCursor {
        self.tx_cursor
    }

    /// Indices (into `report.findings`) of the findings listed.
    pub fn finding_rows(&self) -> &[usize] {
        &self.finding_rows
    }

    /// Indices (into `report.servers`) of the servers listed.
    pub fn server_rows(&self) -> &[usize] {
        &self.server_rows
    }

    /// The connection the detail view shows.
    pub fn detail_connection(&self) -> Option<&ConnectionRecord> {
        let index = *self.id_index.get(&self.detail_id?)?;
        self.report.connections.get(index)
    }

    pub(crate) fn connection_by_id(&self, id: u64) -> Option<&ConnectionRecord> {
        self.report.connections.get(*self.id_index.get(&id)?)
    }

    pub fn is_live(&self) -> bool {
        self.live_mode
    }

    // ----- updates from outside -----

    /// The terminal was resized: remember the size and keep cursors on screen.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.screen = Rect::new(0, 0, width, height);
        self.fit_cursors();
    }

    /// Applies one message from the capture/analysis side (live mode).
    pub fn apply_update(&mut self, update: UiUpdate) {
        match update {
            UiUpdate::Snapshot(report) => self.set_report(report),
            UiUpdate::Stats(stats) => self.live = Some(stats),
            UiUpdate::CaptureEnded(message) => {
                self.status = Some(match message {
                    Some(text) => format!("capture ended: {text}"),
                    None => "capture ended".to_string(),
                });
            }
        }
    }

    /// Replaces the report (a new live snapshot), keeping the user's place: the
    /// selected connection, finding and server stay selected if they still exist.
    pub fn set_report(&mut self, report: Arc<Report>) {
        let selected_conn = self.selected_connection_id();
        let selected_server = self
            .server_rows
            .get(self.server_cursor.selected)
            .map(|&i| self.report.servers[i].server.clone());
        self.report = report;
        self.index_report();
        self.rebuild_rows();
        if let Some(id) = selected_conn {
            self.select_connection_id(id);
        }
        if let Some(name) = selected_server {
            if let Some(pos) = self
                .server_rows
                .iter()
                .position(|&i| self.report.servers[i].server == name)
            {
                let page = self.page(View::Servers);
                self.server_cursor.select(pos, self.server_rows.len(), page);
            }
        }
        if self.detail_id.is_none() {
            self.sync_detail_to_table();
        }
        self.fit_cursors();
    }

    fn index_report(&mut self) {
        self.id_index.clear();
        self.id_index.reserve(self.report.connections.len());
        for (index, conn) in self.report.connections.iter().enumerate() {
            self.id_index.insert(conn.id, index);
        }
    }

    // ----- rows: filter and sort -----

    /// Recomputes the three lists from the report, the filter and the sort.
    fn rebuild_rows(&mut self) {
        let needle = self.filter.to_ascii_lowercase();
        let report = &*self.report;
        let id_index = &self.id_index;

        let mut conn_rows: Vec<usize> = (0..report.connections.len())
            .filter(|&i| connection_matches(&report.connections[i], &needle))
            .collect();
        sort_connections(&report.connections, &mut conn_rows, self.sort);
        self.conn_rows = conn_rows;
        self.finding_rows = (0..report.findings.len())
            .filter(|&i| finding_matches(report, id_index, i, &needle))
            .collect();
        self.server_rows = (0..report.servers.len())
            .filter(|&i| server_matches(report, i, &needle))
            .collect();
        self.fit_cursors();
    }

    /// Applies a filter that only got longer: every row it keeps was kept by the
    /// previous one, so only the current rows are tested and their order stays.
    /// Typing into the filter on 100k connections costs one pass over the
    /// survivors per key, not a full scan and sort.
    fn narrow_rows(&mut self) {
        let needle = self.filter.to_ascii_lowercase();
        let report = &*self.report;
        let id_index = &self.id_index;
        self.conn_rows
            .retain(|&i| connection_matches(&report.connections[i], &needle));
        self.finding_rows
            .retain(|&i| finding_matches(report, id_index, i, &needle));
        self.server_rows
            .retain(|&i| server_matches(report, i, &needle));
        self.fit_cursors();
    }

    /// Rows a list view shows at once, from the current screen size.
    pub(crate) fn page(&self, view: View) -> usize {
        let body = layout::screen(self.screen).body;
        let rows = match view {
            View::Connections => layout::list(body, 0).rows,
            View::Findings => layout::list(body, layout::FINDINGS_PANE).rows,
            View::Servers => layout::list(body, layout::SERVERS_PANE).rows,
            View::Detail => layout::detail(body).list.rows,
            View::Overview => return 1,
        };
        usize::from(rows.height).max(1)
    }

    fn fit_cursors(&mut self) {
        let (conns, findings, servers) = (
            self.conn_rows.len(),
            self.finding_rows.len(),
            self.server_rows.len(),
        );
        let page = self.page(View::Connections);
        self.conn_cursor.fit(conns, page);
        let page = self.page(View::Findings);
        self.finding_cursor.fit(findings, page);
        let page = self.page(View::Servers);
        self.server_cursor.fit(servers, page);
        let txs = self.detail_connection().map_or(0, |c| c.transactions.len());
        let page = self.page(View::Detail);
        self.tx_cursor.fit(txs, page);
    }

    pub(crate) fn select_connection_id(&mut self, id: u64) {
        let Some(&index) = self.id_index.get(&id) else {
            return;
        };
        if let Some(pos) = self.conn_rows.iter().position(|&i| i == index) {
            let page = self.page(View::Connections);
            self.conn_cursor.select(pos, self.conn_rows.len(), page);
        }
    }

    /// The detail view follows the table's selection.
    pub(crate) fn sync_detail_to_table(&mut self) {
        let id = self.selected_connection_id();
        if id != self.detail_id && id.is_some() {
            self.detail_id = id;
            self.tx_cursor = ListCursor::default();
        }
    }

    pub(crate) fn set_filter(&mut self, filter: String) {
        let keep = self.selected_connection_id();
        let previous = std::mem::replace(&mut self.filter, filter);
        // Matching is a substring test, so a filter containing the previous one can
        // only drop rows.
        if !previous.is_empty()
            && self
                .filter
                .to_ascii_lowercase()
                .contains(&previous.to_ascii_lowercase())
        {
            self.narrow_rows();
        } else {
            self.rebuild_rows();
        }
        self.conn_cursor = ListCursor::default();
        self.finding_cursor = ListCursor::default();
        self.server_cursor = ListCursor::default();
        if let Some(id) = keep {
            self.select_connection_id(id);
        }
        self.sync_detail_to_table();
    }

    pub(crate) fn set_sort(&mut self, sort: Sort) {
        let keep = self.selected_connection_id();
        self.sort = sort;
        sort_connections(&self.report.connections, &mut self.conn_rows, sort);
        if let Some(id) = keep {
            self.select_connection_id(id);
        }
    }
}

/// ASCII case-insensitive substring test; `needle` must already be lower case.
/// Candidates are found with `memchr2` on the first byte in both cases, so the
/// common no-match case runs at memchr speed; nothing is allocated.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let last_start = hay.len() - needle.len();
    let (lower, upper) = (first, first.to_ascii_uppercase());
    let mut from = 0;
    while from <= last_start {
        let Some(found) = memchr::memchr2(lower, upper, &hay[from..=last_start]) else {
            return false;
        };
        let at = from + found;
        if hay[at + 1..at + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Whether finding `index` mentions the filter text (kind, message, or its
/// connection's endpoints).
fn finding_matches(
    report: &Report,
    id_index: &HashMap<u64, usize>,
    index: usize,
    needle: &str,
) -> bool {
    if needle.is_empty() {
        return true;
    }
    let finding = &report.findings[index];
    contains_ci(&finding.kind, needle)
        || contains_ci(&finding.message, needle)
        || id_index.get(&finding.connection).is_some_and(|&c| {
            let conn = &report.connections[c];
            contains_ci(&conn.client, needle) || contains_ci(&conn.server, needle)
        })
}

/// Whether server `index` mentions the filter text (endpoint, verdict, header).
fn server_matches(report: &Report, index: usize, needle: &str) -> bool {
    let server = &report.servers[index];
    needle.is_empty()
        || contains_ci(&server.server, needle)
        || server
            .verdict
            .as_deref()
            .is_some_and(|v| contains_ci(v, needle))
        || server
            .advertised_keep_alive
            .as_deref()
            .is_some_and(|v| contains_ci(v, needle))
}

/// Whether the filter text appears in the connection's endpoints, protocol,
/// finding kinds, or any transaction's method, URI or status code.
fn connection_matches(conn: &ConnectionRecord, needle: &str) -> bool {
    if needle.is_empty()
        || contains_ci(&conn.client, needle)
        || contains_ci(&conn.server, needle)
        || contains_ci(&conn.protocol, needle)
        || conn.findings.iter().any(|f| contains_ci(f, needle))
    {
        return true;
    }
    let needle_is_digits = needle.bytes().all(|b| b.is_ascii_digit());
    conn.transactions.iter().any(|tx| {
        tx.request
            .as_ref()
            .is_some_and(|r| contains_ci(&r.method, needle) || r.uri.as_deref().is_some_and(|u| contains_ci(u, needle)))
            || (needle_is_digits
                && tx.response.as_ref().is_some_and(|r| {
                    let mut digits = [0u8; 5];
                    r.status.is_some_and(|st| contains_ci(status_text(st, &mut digits), needle))
                }))
    })
}

/// `status` as decimal text in `buffer`, without allocating.
fn status_text(status: u16, buffer: &mut [u8; 5]) -> &str {
    let mut value = status;
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).unwrap_or("")
}

/// A connection's numeric sort key for the count-like columns.
fn numeric_key(conn: &ConnectionRecord, column: ConnColumn) -> f64 {
    let count = |f: &dyn Fn(&crate::analysis::model::Transaction) -> bool| {
        conn.transactions.iter().filter(|t| f(t)).count() as f64
    };
    match column {
        ConnColumn::Id => conn.id as f64,
        ConnColumn::Transactions => conn.transactions.len() as f64,
        ConnColumn::Reused => count(&|t| t.reused),
        ConnColumn::Pipelined => count(&|t| t.pipelined),
        ConnColumn::Expect => count(&|t| t.expect_outcome != "none"),
        ConnColumn::Probes => conn
            .tcp_keepalive
            .client
            .probes
            .saturating_add(conn.tcp_keepalive.server.probes) as f64,
        ConnColumn::Duration => super::format::connection_duration(conn),
        ConnColumn::Findings => conn.findings.len() as f64,
        ConnColumn::Client | ConnColumn::Server | ConnColumn::Protocol | ConnColumn::ClosedBy => {
            0.0
        }
    }
}

/// Sort key of an endpoint: parsed addresses order numerically (`10.0.0.2` before
/// `10.0.0.10`, ports as numbers) and come before anything unparseable, which
/// orders as text.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum EndpointKey<'a> {
    Address(std::net::IpAddr, u16),
    Text(&'a str),
}

fn endpoint_key(endpoint: &str) -> EndpointKey<'_> {
    match endpoint.parse::<std::net::SocketAddr>() {
        Ok(address) => EndpointKey::Address(address.ip(), address.port()),
        Err(_) => EndpointKey::Text(endpoint),
    }
}

/// Sorts `rows` (indices into `connections`) by `sort`; ties keep id order.
/// Keys are computed once per row, not once per comparison: parsing an endpoint
/// or counting a connection's transactions is not free, and tables are large.
fn sort_connections(connections: &[ConnectionRecord], rows: &mut Vec<usize>, sort: Sort) {
    let directed = |ordering: Ordering| {
        if sort.descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    let by_id = |a: usize, b: usize| connections[a].id.cmp(&connections[b].id);
    match sort.column {
        ConnColumn::Client | ConnColumn::Server => {
            let mut keyed: Vec<(EndpointKey, usize)> = rows
                .iter()
                .map(|&i| {
                    let c = &connections[i];
                    let endpoint = if sort.column == ConnColumn::Client {
                        &c.client
                    } else {
                        &c.server
                    };
                    (endpoint_key(endpoint), i)
                })
                .collect();
            keyed.sort_by(|a, b| directed(a.0.cmp(&b.0)).then_with(|| by_id(a.1, b.1)));
            rows.clear();
            rows.extend(keyed.into_iter().map(|(_, i)| i));
        }
        ConnColumn::Protocol | ConnColumn::ClosedBy => {
            let text = |i: usize| -> (&str, &str) {
                let c = &connections[i];
                if sort.column == ConnColumn::Protocol {
                    (c.protocol.as_str(), "")
                } else {
                    (c.close.by.as_str(), c.close.how.as_str())
                }
            };
            rows.sort_by(|&a, &b| directed(text(a).cmp(&text(b))).then_with(|| by_id(a, b)));
        }
        column => {
            let mut keyed: Vec<(f64, usize)> = rows
                .iter()
                .map(|&i| (numeric_key(&connections[i], column), i))
                .collect();
            keyed.sort_by(|a, b| directed(a.0.total_cmp(&b.0)).then_with(|| by_id(a.1, b.1)));
            rows.clear();
            rows.extend(keyed.into_iter().map(|(_, i)| i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ci("/Index.HTML", "index.html"));
        assert!(contains_ci("GET", "ge"));
        assert!(!contains_ci("GE", "get"));
        assert!(contains_ci("anything", ""));
        assert!(contains_ci("a\u{202e}b", "\u{202e}"));
    }

    #[test]
    fn status_digits_without_allocation() {
        let mut buffer = [0u8; 5];
        assert_eq!(status_text(404, &mut buffer), "404");
        assert_eq!(status_text(0, &mut buffer), "0");
        assert_eq!(status_text(65535, &mut buffer), "65535");
    }

    #[test]
    fn endpoints_sort_numerically() {
        assert!(endpoint_key("10.0.0.2:80") < endpoint_key("10.0.0.10:80"));
        assert!(endpoint_key("10.0.0.2:9") < endpoint_key("10.0.0.2:80"));
        assert!(endpoint_key("[::1]:80") == endpoint_key("[::1]:80"));
        assert!(endpoint_key("10.0.0.2:80") < endpoint_key("a"));
        assert!(endpoint_key("b") > endpoint_key("a"));
    }

    #[test]
    fn case_insensitive_search_finds_every_occurrence() {
        // The first candidate fails, a later one matches.
        assert!(contains_ci("aXb aXc", "axc"));
        assert!(contains_ci("abc", "abc"));
        assert!(contains_ci("xABC", "abc"));
        assert!(!contains_ci("ab", "abc"));
        assert!(contains_ci("/Ünïcode/PATH", "path"));
    }

    #[test]
    fn cursor_scrolls_just_enough() {
        let mut cursor = ListCursor::default();
        cursor.select(12, 100, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 12,
                offset: 3
            }
        );
        cursor.move_by(-5, 100, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 7,
                offset: 3
            }
        );
        cursor.move_by(isize::MAX, 100, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 99,
                offset: 90
            }
        );
        cursor.move_by(isize::MIN, 100, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 0,
                offset: 0
            }
        );
        cursor.select(5, 0, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 0,
                offset: 0
            }
        );
        // A list that shrank below the window scrolls back to the top.
        let mut cursor = ListCursor {
            selected: 50,
            offset: 45,
        };
        cursor.fit(8, 10);
        assert_eq!(
            cursor,
            ListCursor {
                selected: 7,
                offset: 0
            }
        );
    }
}
