//! The human report: a summary read in ten seconds, the per-server table, the
//! findings. Captured text is escaped (`sanitize::display`); colour only when asked
//! (stdout is a terminal, or `--color always`).

use std::fmt::Write as _;

use crate::analysis::model::{Report, ServerFigures};
use crate::sanitize::display;

/// Findings listed with their message; the rest are counted.
const FINDINGS_LISTED: usize = 20;
const BAR_WIDTH: usize = 32;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn cyan(&self, t: &str) -> String {
        self.wrap("36", t)
    }
}

fn bar(count: u64, max: u64) -> String {
    if max == 0 || count == 0 {
        return String::new();
    }
    let eighths = ((count as f64 / max as f64) * (BAR_WIDTH * 8) as f64).round().max(1.0) as usize;
    let full = eighths / 8;
    let rest = eighths % 8;
    let mut s = "█".repeat(full);
    if rest > 0 {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][rest - 1]);
    }
    s
}

/// Rows of the requests-per-connection histogram: one per value when there are
/// few, otherwise ranges doubling in width (1, 2, 3-4, 5-8, …) so that a capture
/// whose connections carried 10,579 to 10,688 requests each reads as one or two
/// rows, not a hundred. Empty ranges between the first and the last are shown, so
/// the shape stays honest.
fn requests_histogram_rows(values: &[(u64, u64)]) -> Vec<(String, u64)> {
    const MAX_EXACT_ROWS: usize = 12;
    if values.len() <= MAX_EXACT_ROWS {
        return values.iter().map(|&(n, c)| (n.to_string(), c)).collect();
    }
    // Range k holds [lo_k, hi_k]: 0, 1, 2, 3-4, 5-8, 9-16, …
    let range_of = |n: u64| -> u32 { if n <= 1 { n as u32 } else { 65 - (n - 1).leading_zeros() } };
    let bounds = |k: u32| -> (u64, u64) {
        if k <= 1 { (k as u64, k as u64) } else { ((1u64 << (k - 2)) + 1, 1u64 << (k - 1)) }
    };
    let first = range_of(values[0].0);
    let last = range_of(values[values.len() - 1].0);
    let mut counts = vec![0u64; (last - first + 1) as usize];
    for &(n, c) in values {
        counts[(range_of(n) - first) as usize] += c;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let (lo, hi) = bounds(first + i as u32);
            let label = if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") };
            (label, c)
        })
        .collect()
}

fn pct(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

fn duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!("{}h{:02}m", (secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64)
    }
}

/// Severity colour of a finding kind: red for what breaks requests, yellow for
/// what wastes or risks, plain for information.
fn finding_colour(p: &Paint, kind: &str) -> String {
    match kind {
        "stale_reuse" | "request_after_close" | "incomplete" | "no_response" | "framing_error" => p.red(kind),
        "idle_close_unannounced" | "missed_reuse" | "keepalive_unanswered" | "expect_delay" | "unsolicited_response" => {
            p.yellow(kind)
        }
        _ => kind.to_string(),
    }
}

pub fn render(report: &Report, colour: bool) -> String {
    let p = Paint { on: colour };
    let mut o = String::new();
    let src = &report.source;
    let s = &report.summary;

    // Header: what was read.
    let span = match (src.first_ts, src.last_ts) {
        (Some(a), Some(b)) => format!(", {} of traffic", duration((b - a).max(0.0))),
        _ => String::new(),
    };
    let names: Vec<String> = src.paths.iter().map(|p| display(p, 60).into_owned()).collect();
    let _ = writeln!(
        o,
        "{} {} — {} packets{}{}",
        p.bold("keepscope"),
        if names.is_empty() { src.kind.clone() } else { names.join(", ") },
        src.packets,
        span,
        src.dropped.map(|d| format!(", {d} dropped")).unwrap_or_default()
    );
    for w in &src.warnings {
        let _ = writeln!(o, "{} {}", p.yellow("warning:"), display(w, 200));
    }
    o.push('\n');

    // The ten-second summary.
    let _ = writeln!(
        o,
        "{:<14}{} ({} HTTP/1.x)",
        p.bold("Connections"),
        s.connections,
        s.http_connections
    );
    let _ = writeln!(
        o,
        "{:<14}{}   reused {} ({})   max per connection {}   pipelined {}",
        p.bold("Requests"),
        s.transactions,
        s.reused_transactions,
        p.bold(&pct(s.reuse_ratio)),
        s.max_depth,
        s.pipelined_transactions
    );
    let _ = writeln!(
        o,
        "{:<14}server {} · client {} · still open {}",
        p.bold("Closed by"),
        s.close_by.server,
        s.close_by.client,
        s.close_by.none
    );
    let e = &s.expect;
    let expect_total = e.continued + e.rejected_before_body + e.body_without_continue + e.no_response;
    if expect_total > 0 {
        let _ = writeln!(
            o,
            "{:<14}continued {} · rejected before body {} · body without 100 {} · no response {}",
            p.bold("100-continue"),
            e.continued,
            e.rejected_before_body,
            e.body_without_continue,
            e.no_response
        );
    } else {
        let _ = writeln!(o, "{:<14}none", p.bold("100-continue"));
    }
    let _ = writeln!(
        o,
        "{:<14}{} probes, {} answered",
        p.bold("TCP keepalive"),
        s.tcp_keepalive_probes,
        s.tcp_keepalive_acked
    );

    // Histograms.
    if !s.requests_per_connection.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Requests per HTTP connection"));
        let rows = requests_histogram_rows(&s.requests_per_connection);
        let max = rows.iter().map(|(_, c)| *c).max().unwrap_or(0);
        let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(6);
        for (label, count) in &rows {
            let _ = writeln!(o, "  {:>width$}  {} {}", label, p.cyan(&bar(*count, max)), count);
        }
    }
    if let (Some(first), Some(last)) =
        (s.idle_gaps.iter().position(|b| b.count > 0), s.idle_gaps.iter().rposition(|b| b.count > 0))
    {
        let _ = writeln!(o, "\n{}", p.bold("Idle gap before reused requests"));
        let max = s.idle_gaps.iter().map(|b| b.count).max().unwrap_or(0);
        for b in &s.idle_gaps[first..=last] {
            let _ = writeln!(o, "  {:>8}  {} {}", b.label, p.cyan(&bar(b.count, max)), b.count);
        }
    }

    // Servers.
    if !report.servers.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Servers"));
        let _ = writeln!(
            o,
            "  {:<28} {:>6} {:>7} {:>7} {:>5}  {:<20} {:>10} {:>8}",
            "server", "conns", "reqs", "reuse", "max", "keep-alive header", "idle close", "max reqs"
        );
        for sv in report.servers.iter().take(40) {
            write_server_row(&mut o, &p, sv);
        }
        if report.servers.len() > 40 {
            let _ = writeln!(o, "  … {} more servers (see --json)", report.servers.len() - 40);
        }
    }

    // Findings.
    if !s.findings.is_empty() {
        let total: u64 = s.findings.values().sum();
        let _ = writeln!(o, "\n{} ({total})", p.bold("Findings"));
        for (kind, count) in &s.findings {
            let _ = writeln!(o, "  {:>6}  {}", count, finding_colour(&p, kind));
        }
        o.push('\n');
        for f in report.findings.iter().take(FINDINGS_LISTED) {
            let conn = report.connections.iter().find(|c| c.id == f.connection);
            let who = conn.map(|c| format!(" {} → {}", c.client, c.server)).unwrap_or_default();
            let _ = writeln!(
                o,
                "  {} {}{}{}",
                p.dim(&format!("#{}", f.connection)),
                finding_colour(&p, &f.kind),
                p.dim(&who),
                f.transaction.map(|t| p.dim(&format!(" (request {t})"))).unwrap_or_default()
            );
            let _ = writeln!(o, "      {}", display(&f.message, 300));
        }
        if report.findings.len() > FINDINGS_LISTED || (total as usize) > FINDINGS_LISTED {
            let _ = writeln!(o, "  … {} more (see --json)", total as usize - FINDINGS_LISTED.min(total as usize));
        }
    } else {
        let _ = writeln!(o, "\n{} none", p.bold("Findings"));
    }
    o
}

fn write_server_row(o: &mut String, p: &Paint, sv: &ServerFigures) {
    let ka = sv.advertised_keep_alive.as_deref().map(|k| display(k, 20).into_owned()).unwrap_or_else(|| "-".into());
    let idle = sv.observed_idle_close_s.map(duration).unwrap_or_else(|| "-".into());
    let maxr = sv.max_requests_before_close.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    let reuse = if sv.reuse_ratio > 0.0 { p.green(&format!("{:>7}", pct(sv.reuse_ratio))) } else { format!("{:>7}", pct(sv.reuse_ratio)) };
    let _ = writeln!(
        o,
        "  {:<28} {:>6} {:>7} {} {:>5}  {:<20} {:>10} {:>8}",
        display(&sv.server, 28),
        sv.connections,
        sv.transactions,
        reuse,
        sv.max_depth,
        ka,
        idle,
        maxr
    );
    if let Some(v) = &sv.verdict {
        let _ = writeln!(o, "    {} {}", p.red("!"), display(v, 300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_request_counts_fold_into_doubling_ranges() {
        let exact = requests_histogram_rows(&[(1, 5), (3, 2)]);
        assert_eq!(exact, [("1".to_string(), 5), ("3".to_string(), 2)]);
        let many: Vec<(u64, u64)> = (10_579..10_600).map(|n| (n, 1)).chain([(1, 4), (3, 1)]).collect();
        let mut many = many;
        many.sort();
        let rows = requests_histogram_rows(&many);
        let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels.first(), Some(&"1"));
        assert_eq!(labels.last(), Some(&"8193-16384"));
        assert_eq!(rows.iter().map(|(_, c)| c).sum::<u64>(), 26, "every connection counted once");
        assert_eq!(rows.iter().find(|(l, _)| l == "3-4").map(|(_, c)| *c), Some(1));
        assert_eq!(rows.last().map(|(_, c)| *c), Some(21));
    }

    #[test]
    fn bars_scale() {
        assert_eq!(bar(0, 10), "");
        assert_eq!(bar(10, 10).chars().count(), BAR_WIDTH);
        assert!(!bar(1, 1000).is_empty(), "a non-zero count always shows");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.0123), "12 ms");
        assert_eq!(duration(5.04), "5.0 s");
        assert_eq!(duration(185.0), "3m05s");
    }
}
