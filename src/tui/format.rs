//! Short, fixed-width renderings of the report's numbers for table cells.
//!
//! Table columns are narrow at 80×24, so every formatter here keeps its output to a
//! few characters (durations ≤ 6, byte sizes ≤ 5) while keeping the unit visible.

use crate::analysis::model::{ConnectionRecord, Transaction};

/// A duration in seconds as `412µs`, `12.3ms`, `5.00s`, `12.3s`, `5m02s`, `1h02m`.
/// Non-finite values (which a hostile capture could produce) print as `?`.
pub fn secs(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let v = value.abs();
    let body = if v < 0.000_999_5 {
        format!("{:.0}µs", v * 1e6)
    } else if v < 0.009_995 {
        format!("{:.2}ms", v * 1e3)
    } else if v < 0.099_95 {
        format!("{:.1}ms", v * 1e3)
    } else if v < 0.999_5 {
        format!("{:.0}ms", v * 1e3)
    } else if v < 9.995 {
        format!("{v:.2}s")
    } else if v < 59.95 {
        format!("{v:.1}s")
    } else if v < 3600.0 {
        let whole = v as u64;
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else if v < 360_000.0 {
        let whole = v as u64;
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    } else {
        format!("{:.0}d", v / 86_400.0)
    };
    format!("{sign}{body}")
}

/// An optional duration; absent values print as `-`.
pub fn opt_secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), secs)
}

/// A byte count as `512`, `1.2k`, `51k`, `3.4M`, `1.1G` (powers of 1024).
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 6] = ["k", "M", "G", "T", "P", "E"];
    if value < 1024 {
        return value.to_string();
    }
    let mut scaled = value as f64 / 1024.0;
    let mut unit = 0;
    while scaled >= 1023.95 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if scaled < 9.95 {
        format!("{scaled:.1}{}", UNITS[unit])
    } else {
        format!("{scaled:.0}{}", UNITS[unit])
    }
}

/// A ratio in 0..=1 as a percentage, `77.5%`.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "-".to_string();
    }
    format!("{:.1}%", ratio * 100.0)
}

/// Seconds since the epoch as a UTC date and time with microseconds,
/// `2023-11-14 22:13:20.123456`. Out-of-range values print as the raw number.
pub fn clock(ts: f64) -> String {
    if !ts.is_finite() || !(-1e12..1e12).contains(&ts) {
        return format!("{ts}");
    }
    let whole = ts.floor();
    let micros = ((ts - whole) * 1e6).round() as i64;
    let (whole, micros) = if micros >= 1_000_000 {
        (whole as i64 + 1, 0)
    } else {
        (whole as i64, micros)
    };
    let days = whole.div_euclid(86_400);
    let in_day = whole.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{micros:06}",
        in_day / 3600,
        (in_day % 3600) / 60,
        in_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard
/// Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Who closed and how, compactly: `srv FIN`, `cli RST`, `open`.
pub fn close_short(conn: &ConnectionRecord) -> String {
    let side = match conn.close.by.as_str() {
        "client" => "cli",
        "server" => "srv",
        "none" => return "open".to_string(),
        other => return crate::sanitize::display(other, 7).into_owned(),
    };
    let how = match conn.close.how.as_str() {
        "fin" => "FIN",
        "rst" => "RST",
        other => return format!("{side} {}", crate::sanitize::display(other, 3)),
    };
    format!("{side} {how}")
}

/// A 100-continue outcome in four letters, for table cells.
pub fn expect_short(outcome: &str) -> &'static str {
    match outcome {
        "none" => "-",
        "continued" => "cont",
        "rejected_before_body" => "rej",
        "body_without_continue" => "body",
        "no_response" => "wait",
        _ => "?",
    }
}

/// Framing of a response body in five letters.
pub fn framing_short(framing: &str) -> &'static str {
    match framing {
        "content-length" => "len",
        "chunked" => "chunk",
        "close-delimited" => "close",
        "none" => "none",
        "tunnel" => "tunnl",
        _ => "?",
    }
}

/// The connection's lifetime in seconds: first packet to close (or last packet).
pub fn connection_duration(conn: &ConnectionRecord) -> f64 {
    let end = conn
        .close
        .ts
        .map_or(conn.last_ts, |close| close.max(conn.last_ts));
    let d = end - conn.first_ts;
    if d.is_finite() {
        d
    } else {
        0.0
    }
}

/// Time from the request head to the first byte of the final response.
pub fn time_to_response(tx: &Transaction) -> Option<f64> {
    Some(tx.response.as_ref()?.ts - tx.request.as_ref()?.ts)
}

/// Time from the request head to the end of the final response.
pub fn transaction_total(tx: &Transaction) -> Option<f64> {
    let end = tx.response.as_ref()?.end_ts?;
    Some(end - tx.request.as_ref()?.ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stay_short_and_keep_their_unit() {
        assert_eq!(secs(0.000_412), "412µs");
        assert_eq!(secs(0.001_234), "1.23ms");
        assert_eq!(secs(0.012_34), "12.3ms");
        assert_eq!(secs(0.123_4), "123ms");
        assert_eq!(secs(5.0), "5.00s");
        assert_eq!(secs(12.34), "12.3s");
        assert_eq!(secs(302.0), "5m02s");
        assert_eq!(secs(3720.0), "1h02m");
        assert_eq!(secs(-0.5), "-500ms");
        assert_eq!(secs(0.0), "0");
        assert_eq!(secs(f64::NAN), "?");
        for v in [0.0, 1e-7, 0.9999, 9.999, 59.99, 3599.9, 359_999.0, 1e9] {
            assert!(secs(v).chars().count() <= 6, "{v} -> {}", secs(v));
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(1023), "1023");
        assert_eq!(bytes(1024), "1.0k");
        assert_eq!(bytes(51_200), "50k");
        assert_eq!(bytes(3 * 1024 * 1024 + 400_000), "3.4M");
        assert!(bytes(u64::MAX).chars().count() <= 5);
    }

    #[test]
    fn clock_is_utc_with_microseconds() {
        assert_eq!(clock(0.0), "1970-01-01 00:00:00.000000");
        assert_eq!(clock(1_700_000_000.123_456), "2023-11-14 22:13:20.123456");
        assert_eq!(clock(951_782_400.0), "2000-02-29 00:00:00.000000");
        assert_eq!(clock(f64::INFINITY), "inf");
    }
}
