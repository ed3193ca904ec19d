//! JSON and NDJSON output. Strings stay lossless, but beyond what serde_json
//! escapes (C0 controls) the formatter also escapes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX`, so `keepscope analyze --json | less -R` or a
//! `cat` of the file cannot be turned against the terminal by captured bytes.

use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::model::{ConnectionRecord, Finding, Report, ServerFigures, SourceInfo, Summary};
use crate::analysis::{ConnectionSink, ReportBuilder};

/// serde_json's compact formatter with extra escaping of terminal-dangerous text.
pub struct SafeFormatter;

fn must_escape(c: char) -> bool {
    let u = c as u32;
    u == 0x7f
        || (0x80..=0x9f).contains(&u)
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
}

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        // Every character to escape is DEL or outside ASCII: plain ASCII text (nearly
        // all of it) is written as is, without decoding characters.
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if must_escape(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one line of safe JSON.
pub fn write_json<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SafeFormatter);
    value.serialize(&mut ser).map_err(io::Error::from)?;
    Ok(())
}

/// The whole document, followed by a newline.
pub fn write_document<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    write_json(out, report)?;
    out.write_all(b"\n")
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    inner: &'a T,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
    source: &'a SourceInfo,
    summary: &'a Summary,
    servers: &'a [ServerFigures],
    findings: &'a [Finding],
}

/// The `"type":"summary"` line of NDJSON output: the document without connections.
pub fn write_summary_line<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    let line = SummaryLine {
        kind: "summary",
        version: report.version,
        source: &report.source,
        summary: &report.summary,
        servers: &report.servers,
        findings: &report.findings,
    };
    write_json(out, &line)?;
    out.write_all(b"\n")
}

/// `--ndjson`: every finished connection is written as it ends
/// (`"type":"connection"`) and only the aggregates are kept; `finish` writes the
/// `"type":"summary"` line.
pub struct NdjsonSink<W: Write> {
    pub builder: ReportBuilder,
    out: W,
    /// The first write error (a closed pipe ends the run quietly).
    pub error: Option<io::Error>,
}

impl<W: Write> NdjsonSink<W> {
    pub fn new(out: W) -> Self {
        NdjsonSink { builder: ReportBuilder::new(), out, error: None }
    }

    fn write_line<T: Serialize>(&mut self, kind: &'static str, value: &T) -> io::Result<()> {
        write_json(&mut self.out, &Tagged { kind, inner: value })?;
        self.out.write_all(b"\n")
    }

    pub fn finish(&mut self, source: SourceInfo) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let report = self.builder.report(source, Vec::new());
        write_summary_line(&mut self.out, &report)?;
        self.out.flush()
    }

    /// Flushes what was written so far (live mode writes as it goes).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> ConnectionSink for NdjsonSink<W> {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>) {
        self.builder.add(&record, findings);
        if self.error.is_none() {
            if let Err(e) = self.write_line("connection", &record) {
                self.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_dangerous_characters_losslessly() {
        let mut out = Vec::new();
        write_json(&mut out, &"a\u{1b}[31m\u{7f}\u{9b}\u{202e}é").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\u001b[31m\\u007f\\u009b\\u202eé\"");
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "a\u{1b}[31m\u{7f}\u{9b}\u{202e}é");
    }
}
