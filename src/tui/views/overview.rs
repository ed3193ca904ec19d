//! The overview: the capture's totals, the two distributions that say how
//! connections are reused (requests per connection, idle gaps before reuse), and
//! the findings by kind. In live mode, a sparkline of requests per second and the
//! capture's packet and drop counters on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Sparkline;
use ratatui::Frame;

use super::{lines, pairs, section_title};
use crate::analysis::model::Report;
use crate::sanitize::display;
use crate::tui::app::App;
use crate::tui::{format, theme, LiveStats};

pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let report = app.report();
    let live_height = if app.is_live() { 4 } else { 0 };
    let [live_area, top, bottom] = Layout::vertical([
        Constraint::Length(live_height),
        Constraint::Length(10),
        Constraint::Min(0),
    ])
    .areas(body);
    if app.is_live() {
        live(frame, app.live_stats(), live_area);
    }
    // Wide terminals put the two histograms side by side, next to the totals.
    let (left, per_connection, idle) = if body.width >= 120 {
        let [left, middle, right] = Layout::horizontal([Constraint::Ratio(1, 3); 3])
            .spacing(2)
            .areas(top);
        (left, middle, right)
    } else {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .spacing(1)
                .areas(top);
        let [upper, lower] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
        (left, upper, lower)
    };
    totals(frame, report, left);
    requests_per_connection(frame, report, per_connection);
    idle_gaps(frame, report, idle);
    findings(frame, report, bottom);
}

/// Live capture counters and the requests-per-second sparkline.
fn live(frame: &mut Frame, stats: Option<&LiveStats>, area: Rect) {
    let default = LiveStats::default();
    let stats = stats.unwrap_or(&default);
    let rates = &stats.requests_per_sec;
    let (now, peak) = (
        rates.last().copied().unwrap_or(0),
        rates.iter().copied().max().unwrap_or(0),
    );
    let note = format!("now {now}/s  peak {peak}/s over {}s", rates.len());
    let drops_style = if stats.kernel_dropped > 0 || stats.queue_dropped > 0 {
        theme::FINDING
    } else {
        theme::VALUE
    };
    let counters = Line::from(vec![
        Span::styled("interface ", theme::LABEL),
        Span::raw(display(&stats.interface, 20).into_owned()),
        Span::styled("  packets ", theme::LABEL),
        Span::raw(stats.packets.to_string()),
        Span::styled("  dropped by kernel ", theme::LABEL),
        Span::styled(stats.kernel_dropped.to_string(), drops_style),
        Span::styled("  by queue ", theme::LABEL),
        Span::styled(stats.queue_dropped.to_string(), drops_style),
    ]);
    lines(
        frame,
        area,
        vec![
            section_title("Requests per second", &note, area.width),
            counters,
        ],
    );
    let spark_area = Rect {
        y: area.y + 2,
        height: area.height.saturating_sub(2),
        ..area
    };
    // The newest seconds at the right edge: keep only what fits.
    let skip = rates.len().saturating_sub(usize::from(spark_area.width));
    let shown = (rates.len() - skip) as u16;
    let spark_area = Rect {
        x: spark_area.right() - shown,
        width: shown,
        ..spark_area
    };
    frame.render_widget(
        Sparkline::default()
            .data(rates[skip..].iter().copied())
            .style(theme::SPARKLINE),
        spark_area,
    );
}

fn totals(frame: &mut Frame, report: &Report, area: Rect) {
    let s = &report.summary;
    let src = &report.source;
    let span = match (src.first_ts, src.last_ts) {
        (Some(first), Some(last)) => format::secs(last - first),
        _ => "-".to_string(),
    };
    let mut packets = format!(
        "{} ({}B) over {span}",
        src.packets,
        format::bytes(src.bytes)
    );
    if let Some(dropped) = src.dropped {
        packets.push_str(&format!(", {dropped} dropped"));
    }
    let expect = &s.expect;
    let mut rows = vec![
        section_title("Totals", "", area.width),
        pairs(&[("packets", packets)]),
        pairs(&[(
            "connections",
            format!("{} ({} HTTP)", s.connections, s.http_connections),
        )]),
        pairs(&[
            ("requests", s.transactions.to_string()),
            (
                "reused",
                format!(
                    "{} ({})",
                    s.reused_transactions,
                    format::percent(s.reuse_ratio)
                ),
            ),
        ]),
        pairs(&[
            ("pipelined", s.pipelined_transactions.to_string()),
            ("max depth", s.max_depth.to_string()),
        ]),
        pairs(&[
            ("closed by client", s.close_by.client.to_string()),
            ("server", s.close_by.server.to_string()),
            ("open", s.close_by.none.to_string()),
        ]),
        Line::from(vec![
            Span::styled("100-continue ", theme::LABEL),
            Span::raw(format!(
                "cont {} rej {} body {} wait {}",
                expect.continued,
                expect.rejected_before_body,
                expect.body_without_continue,
                expect.no_response
            )),
        ]),
        pairs(&[(
            "TCP keep-alive probes",
            format!(
                "{} ({} answered)",
                s.tcp_keepalive_probes, s.tcp_keepalive_acked
            ),
        )]),
    ];
    if !src.warnings.is_empty()
        || src.malformed_packets > 0
        || src.snaplen_truncated_packets > 0
        || src.truncated
    {
        // Only what is not zero, so that it fits the half width of 80 columns.
        let mut parts = Vec::new();
        match src.warnings.len() {
            0 => {}
            1 => parts.push("1 warning".to_string()),
            n => parts.push(format!("{n} warnings")),
        }
        if src.malformed_packets > 0 {
            parts.push(format!("{} malformed", src.malformed_packets));
        }
        if src.snaplen_truncated_packets > 0 {
            parts.push(format!("{} cut by snaplen", src.snaplen_truncated_packets));
        }
        if src.truncated {
            parts.push("file truncated".to_string());
        }
        rows.push(Line::from(vec![
            Span::styled("! ", theme::NOTE),
            Span::styled(parts.join(", "), theme::NOTE),
        ]));
    }
    lines(frame, area, rows);
}

/// One histogram row: label, bar scaled to the largest count, count.
fn bar_line<'a>(label: &str, label_width: usize, count: u64, max: u64, width: usize) -> Line<'a> {
    let count_text = count.to_string();
    let bar_room = width.saturating_sub(label_width + count_text.len() + 3);
    let eighths = if max == 0 {
        0
    } else {
        (count as u128 * bar_room as u128 * 8 / max as u128) as usize
    };
    let mut bar = "█".repeat(eighths / 8);
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    bar.push_str(PARTS[eighths % 8]);
    if count > 0 && bar.is_empty() {
        bar.push('▏');
    }
    Line::from(vec![
        Span::styled(
            format!("{:>label_width$} ", display(label, label_width)),
            theme::LABEL,
        ),
        Span::styled(bar, theme::BAR),
        Span::raw(format!(" {count_text}")),
    ])
}

/// Groups `[requests, connections]` pairs into at most `rows` bars: one per value
/// when they fit, otherwise powers of two (1, 2, 3-4, 5-8, …) and a last open bar.
pub(crate) fn bucket_requests(pairs: &[(u64, u64)], rows: usize) -> Vec<(String, u64)> {
    if rows == 0 {
        return Vec::new();
    }
    if pairs.len() <= rows {
        return pairs
            .iter()
            .map(|(n, count)| (n.to_string(), *count))
            .collect();
    }
    let mut buckets: Vec<(u64, u64, u64)> = Vec::new(); // (low, high, count)
    for &(n, count) in pairs {
        // Connections without a request (TLS, empty) keep a bar of their own.
        let high = if n == 0 { 0 } else { n.next_power_of_two() };
        let low = if high <= 2 { high } else { high / 2 + 1 };
        match buckets.last_mut() {
            Some(last) if last.1 == high => last.2 = last.2.saturating_add(count),
            _ => buckets.push((low, high, count)),
        }
    }
    if buckets.len() > rows {
        let tail = buckets[rows - 1..]
            .iter()
            .fold(0u64, |sum, b| sum.saturating_add(b.2));
        let low = buckets[rows - 1].0;
        buckets.truncate(rows - 1);
        buckets.push((low, u64::MAX, tail));
    }
    buckets
        .into_iter()
        .map(|(low, high, count)| {
            let label = if high == u64::MAX {
                format!("≥{low}")
            } else if low == high {
                low.to_string()
            } else {
                format!("{low}-{high}")
            };
            (label, count)
        })
        .collect()
}

fn histogram(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    note: &str,
    bars: &[(String, u64)],
    empty: &str,
) {
    let mut rows = vec![section_title(title, note, area.width)];
    if bars.is_empty() {
        rows.push(Line::styled(empty.to_string(), theme::DIM));
    } else {
        let label_width = bars
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(1)
            .min(10);
        let max = bars.iter().map(|(_, c)| *c).max().unwrap_or(0);
        for (label, count) in bars {
            rows.push(bar_line(
                label,
                label_width,
                *count,
                max,
                usize::from(area.width),
            ));
        }
    }
    lines(frame, area, rows);
}

fn requests_per_connection(frame: &mut Frame, report: &Report, area: Rect) {
    let rows = usize::from(area.height.saturating_sub(1));
    let bars = bucket_requests(&report.summary.requests_per_connection, rows);
    histogram(
        frame,
        area,
        "Requests per connection",
        "",
        &bars,
        "no HTTP connections",
    );
}

fn idle_gaps(frame: &mut Frame, report: &Report, area: Rect) {
    let rows = usize::from(area.height.saturating_sub(1));
    let buckets = &report.summary.idle_gaps;
    // Skip empty buckets when they do not all fit, so the populated ones show.
    let mut bars: Vec<(String, u64)> = buckets.iter().map(|b| (b.label.clone(), b.count)).collect();
    if bars.len() > rows {
        bars.retain(|(_, count)| *count > 0);
        bars.truncate(rows);
    }
    histogram(
        frame,
        area,
        "Idle gap before reuse",
        "",
        &bars,
        "no reused connections",
    );
}

/// Findings by kind (most frequent first) with what each means, then the first
/// few messages if there is room.
fn findings(frame: &mut Frame, report: &Report, area: Rect) {
    if area.height == 0 {
        return;
    }
    // Counts come from the analysis; saturate rather than trust them.
    let total = report
        .summary
        .findings
        .values()
        .fold(0u64, |sum, n| sum.saturating_add(*n));
    let note = if total > 0 {
        format!("{total}  (Tab to Findings for all)")
    } else {
        String::new()
    };
    let mut rows = vec![section_title("Findings", &note, area.width)];
    let width = usize::from(area.width);
    if total == 0 {
        rows.push(Line::styled(
            "no findings: nothing looked wrong",
            theme::GOOD,
        ));
        lines(frame, area, rows);
        return;
    }
    let mut kinds: Vec<(&String, &u64)> = report.summary.findings.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let count_width = kinds.first().map_or(1, |(_, c)| c.to_string().len());
    for (kind, count) in &kinds {
        let meaning = super::findings::describe(kind);
        let room = width.saturating_sub(count_width + 24);
        rows.push(Line::from(vec![
            Span::raw(format!("{count:>count_width$} ")),
            Span::styled(format!("{:<22}", display(kind, 22)), theme::FINDING),
            Span::styled(format!(" {}", display(meaning, room)), theme::DIM),
        ]));
    }
    let room = usize::from(area.height).saturating_sub(rows.len() + 1);
    if room > 0 && !report.findings.is_empty() {
        rows.push(Line::raw(""));
        for finding in report.findings.iter().take(room) {
            let prefix = format!("#{} ", finding.connection);
            rows.push(Line::from(vec![
                Span::styled(prefix.clone(), theme::LABEL),
                Span::raw(
                    display(&finding.message, width.saturating_sub(prefix.len())).into_owned(),
                ),
            ]));
        }
    }
    lines(frame, area, rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_histogram_buckets_by_powers_of_two() {
        let pairs = [(1, 10), (2, 5), (3, 2), (4, 1), (7, 1), (100, 3)];
        assert_eq!(bucket_requests(&pairs, 10).len(), 6);
        let buckets = bucket_requests(&pairs, 4);
        assert_eq!(
            buckets,
            vec![
                ("1".to_string(), 10),
                ("2".to_string(), 5),
                ("3-4".to_string(), 3),
                ("≥5".to_string(), 4)
            ]
        );
        let total: u64 = buckets.iter().map(|b| b.1).sum();
        assert_eq!(total, 22);
        assert!(bucket_requests(&pairs, 0).is_empty());
        assert_eq!(bucket_requests(&pairs, 1), vec![("≥1".to_string(), 22)]);
        let with_zero = [(0, 4), (1, 1), (5, 1), (6, 1)];
        assert_eq!(
            bucket_requests(&with_zero, 3),
            vec![
                ("0".to_string(), 4),
                ("1".to_string(), 1),
                ("5-8".to_string(), 2)
            ]
        );
    }
}
