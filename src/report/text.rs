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
        let max = s.requests_per_connection.iter().map(|(_, c)| *c).max().unwrap_or(0);
        // Long tails are folded so the histogram stays short.
        let mut shown = 0;
        let mut folded: u64 = 0;
        let mut folded_from = 0;
        for &(n, count) in &s.requests_per_connection {
            if shown < 12 {
                let _ = writeln!(o, "  {:>6}  {} {}", n, p.cyan(&bar(count, max)), count);
                shown += 1;
            } else {
                if folded == 0 {
                    folded_from = n;
                }
                folded += count;
            }
        }
        if folded > 0 {
            let _ = writeln!(o, "  {:>6}  {} {}", format!("{folded_from}+"), p.cyan(&bar(folded, max)), folded);
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
