//! Line parsers for HTTP/1.x heads, written with nom 8.
//!
//! The start-line parsers run in nom's *streaming* mode: on a line that is cut short
//! they answer `Err::Incomplete`, on one that cannot become a start line they answer
//! `Err::Error`. That lets the same code serve three purposes: parsing a complete head,
//! recognising HTTP by content from a partial first line (detection, resync) and
//! `sniff_role`. A head is only handed to `parse_head` once its end has been found, so
//! it is parsed exactly once.

use nom::branch::alt;
use nom::bytes::{tag, tag_no_case, take_while, take_while1, take_while_m_n};
use nom::combinator::{map, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::{FramingError, Version};

/// RFC 9110 §5.6.2 `tchar`: the characters of a method or field name. A table, as
/// every byte of every field name goes through it.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        b += 1;
    }
    table
};

/// Reason-phrase bytes: anything up to the end of the line (HTAB, SP, VCHAR, obs-text;
/// stray control bytes are tolerated because the phrase carries no meaning).
fn is_reason_char(b: u8) -> bool {
    b != b'\r' && b != b'\n'
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// `Version::Http09` for the version-less `GET /path` form.
    pub version: Version,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StatusLine<'a> {
    pub version: Version,
    pub status: u16,
    pub reason: &'a [u8],
}

/// CRLF or a bare LF (RFC 9112 §2.2 lets a recipient accept LF alone).
fn line_end(i: &[u8]) -> IResult<&[u8], ()> {
    map(alt((tag("\r\n"), tag("\n"))), |_| ()).parse(i)
}

fn digit(i: &[u8]) -> IResult<&[u8], u8> {
    map(take_while_m_n(1, 1, |b: u8| b.is_ascii_digit()), |d: &[u8]| d[0] - b'0').parse(i)
}

fn version_of(major: u8, minor: u8) -> Version {
    match (major, minor) {
        (1, 1) => Version::Http11,
        (1, 0) => Version::Http10,
        (0, 9) => Version::Http09,
        (a, b) => Version::Other(a, b),
    }
}

/// `HTTP/x.y`, followed by more input (streaming). The name is matched without
/// regard to case: RFC 9112 makes it case-sensitive, but servers answering
/// `http/1.1 200 OK` exist and their messages are still worth framing.
pub(crate) fn version(i: &[u8]) -> IResult<&[u8], Version> {
    map((tag_no_case("HTTP/"), digit, tag("."), digit), |(_, major, _, minor)| version_of(major, minor)).parse(i)
}

/// The last word of a request line, when it names a version: `HTTP/x.y`, or a
/// truncated `HTTP/x.` / `HTTP/x` (minor version 0). Clients that cut the version
/// short still send requests servers answer (Zeek reads such a version the same way),
/// so they are framed rather than dropped; the version is then taken as `x.0`.
fn version_word(w: &[u8]) -> Option<Version> {
    let (name, number) = w.split_at_checked(5)?;
    if !name.eq_ignore_ascii_case(b"HTTP/") {
        return None;
    }
    match number {
        [major @ b'0'..=b'9', b'.', minor @ b'0'..=b'9'] => Some(version_of(major - b'0', minor - b'0')),
        [major @ b'0'..=b'9'] | [major @ b'0'..=b'9', b'.'] => Some(version_of(major - b'0', 0)),
        _ => None,
    }
}

/// A method as HTTP/0.9-form requests use it: upper-case letters, digits, `_`, `-`
/// (`GET`, `POST`, `CCM_POST`). Lower-case words are left out so that ordinary text
/// ("see /usr") does not pass for a request.
fn is_conventional_method(method: &[u8]) -> bool {
    method.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `method SP request-target [SP HTTP-version] EOL`.
///
/// Whitespace is parsed leniently, as RFC 9112 §3 permits: the version is the last
/// word of the line, and the target is everything between the method and it, so
/// unencoded spaces in a target (sent by real clients and scanners) do not lose the
/// message. A line whose only word after the method is a version (`OPTIONS HTTP/1.1`)
/// is a request with an empty target: the method and the server's answer are worth
/// keeping, and the analysis reports the missing target as null.
///
/// The version-less form is HTTP/0.9: an upper-case method and one word that starts
/// with `/` (`GET /path`; other methods are not HTTP/0.9 but clients send them in that
/// form and servers answer). Requiring the `/` keeps "word word" text lines from
/// looking like requests. Control bytes other than HTAB end the candidate at once,
/// which keeps binary protocols from looking plausible.
pub(crate) fn request_line(i: &[u8]) -> IResult<&[u8], RequestLine<'_>> {
    let (rest, (method, _, words, _)) =
        (take_while1(is_tchar), tag(" "), take_while1(is_line_char), line_end).parse(i)?;
    let reject = || nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Verify));
    let words = trim_ows(words);
    let split = words.iter().rposition(|&b| b == b' ' || b == b'\t');
    let (target, last) = match split {
        Some(at) => (trim_ows(&words[..at]), &words[at + 1..]),
        None => (&words[..0], words),
    };
    if let Some(version) = version_word(last) {
        return Ok((rest, RequestLine { method, target, version }));
    }
    if split.is_none() && words.first() == Some(&b'/') && is_conventional_method(method) {
        return Ok((rest, RequestLine { method, target: words, version: Version::Http09 }));
    }
    Err(reject())
}

/// Bytes of a request line after the method: visible ASCII, SP, HTAB, obs-text.
fn is_line_char(b: u8) -> bool {
    (b >= 0x20 && b != 0x7f) || b == b'\t'
}

/// `HTTP-version SP 3DIGIT [SP reason-phrase] EOL` (a missing reason, with or without
/// its space, is tolerated: servers send `HTTP/1.1 200\r\n`).
pub(crate) fn status_line(i: &[u8]) -> IResult<&[u8], StatusLine<'_>> {
    map(
        (
            version,
            tag(" "),
            take_while_m_n(3, 3, |b: u8| b.is_ascii_digit()),
            opt(preceded(tag(" "), take_while(is_reason_char))),
            line_end,
        ),
        |(version, _, code, reason, _): (Version, _, &[u8], Option<&[u8]>, ())| StatusLine {
            version,
            status: code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')),
            reason: reason.unwrap_or(b""),
        },
    )
    .parse(i)
}

pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Receives the header fields of a head as they are parsed.
pub(crate) trait HeaderSink {
    fn header(&mut self, name: &[u8], value: &[u8]);
    /// An obs-fold continuation line (RFC 9112 §5.2): more value for the last field.
    fn fold(&mut self, piece: &[u8]);
    /// A field line without a colon was skipped.
    fn skipped_line(&mut self) {}
}

pub(crate) enum StartLine<'a> {
    Request(RequestLine<'a>),
    Status(StatusLine<'a>),
}

/// What the framer found in a head while looking for its end, so that `parse_head`
/// need not find it again (`default()`: nothing; the head is parsed from its bytes).
#[derive(Copy, Clone, Default)]
pub(crate) struct FramerNotes<'a> {
    /// The start line as the framer parsed it, if it did.
    pub start: Option<ParsedStart>,
    /// Where the lines after it end (offsets of every `\n` after the start line,
    /// from the head's first byte), if the framer noted them all.
    pub line_ends: Option<&'a [u16]>,
}

/// Parses a complete head (start line through the empty line, or just the request line
/// of an HTTP/0.9 request). Header fields go to `sink`.
pub(crate) fn parse_head<'a>(
    head: &'a [u8],
    is_request: bool,
    notes: FramerNotes<'_>,
    max_headers: usize,
    sink: &mut impl HeaderSink,
) -> Result<StartLine<'a>, FramingError> {
    let (fields, start) = if let Some(known) = known_start(head, is_request, notes.start) {
        known
    } else if is_request {
        let (rest, line) = request_line(head).map_err(|_| FramingError::MalformedHead)?;
        (rest, StartLine::Request(line))
    } else {
        let (rest, line) = status_line(head).map_err(|_| FramingError::MalformedHead)?;
        (rest, StartLine::Status(line))
    };
    let mut count = 0usize;
    let mut line_start = 0usize;
    for eol in LineEndsOf::new(head, fields, notes.line_ends) {
        let Some(mut line) = fields.get(line_start..eol) else {
            return Err(FramingError::MalformedHead);
        };
        line_start = eol + 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if count == 0 {
                return Err(FramingError::MalformedHead);
            }
            sink.fold(trim_ows(line));
            continue;
        }
        count += 1;
        if count > max_headers {
            return Err(FramingError::HeadTooLong);
        }
        // `field-name ":" OWS field-value OWS`: the name is the run of token
        // characters, which must end at the colon (`:` is not one). Whitespace
        // between the name and the colon is rejected (RFC 9112 §5.1: it has been
        // used for request smuggling).
        let name_len = line.iter().position(|&b| !is_tchar(b)).unwrap_or(line.len());
        if name_len > 0 && line.get(name_len) == Some(&b':') {
            sink.header(&line[..name_len], trim_ows(&line[name_len + 1..]));
        } else if memchr::memchr(b':', line).is_none() {
            // A line with no colon at all names no field (seen in the wild: a bare
            // `Mozilla 4.0 (...)` user-agent line). It cannot change the framing, so it
            // is skipped (the sink is told) rather than losing the whole message. A line
            // that has a colon but no valid name before it stays an error.
            sink.skipped_line();
        } else {
            return Err(FramingError::MalformedHead);
        }
    }
    Ok(start)
}

/// The line ends within a head's fields (offsets from the fields' first byte): the
/// framer's list when it has a whole one, else found by searching.
enum LineEndsOf<'h, 'e> {
    Known { ends: std::slice::Iter<'e, u16>, offset: usize },
    Search(super::lines::Newlines<'h>),
}

impl<'h, 'e> LineEndsOf<'h, 'e> {
    fn new(head: &'h [u8], fields: &'h [u8], known: Option<&'e [u16]>) -> Self {
        let offset = head.len() - fields.len();
        match known {
            // The framer notes every `\n` after the start line (tested in
            // `framer.rs`), so its list is the one a search would find. It is still
            // not trusted blindly: an end outside the fields ends the parse with an
            // error (see `parse_head`), never a panic.
            Some(ends) => {
                debug_assert!(
                    ends.iter().map(|&e| (e as usize).wrapping_sub(offset)).eq(memchr::memchr_iter(b'\n', fields)),
                    "the framer's line ends differ from the head's"
                );
                LineEndsOf::Known { ends: ends.iter(), offset }
            }
            None => LineEndsOf::Search(super::lines::Newlines::new(fields)),
        }
    }
}

impl Iterator for LineEndsOf<'_, '_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            LineEndsOf::Known { ends, offset } => ends.next().map(|&e| (e as usize).wrapping_sub(*offset)),
            LineEndsOf::Search(search) => search.next(),
        }
    }
}

/// A start line the framer has already parsed while looking for the end of the
/// head, kept as offsets from the head's first byte, so that `parse_head` does not
/// parse it a second time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParsedStart {
    Request { method: (u32, u32), target: (u32, u32), version: Version, len: u32 },
    Status { version: Version, status: u16, reason: (u32, u32), len: u32 },
}

/// Where `part` lies within `whole` (it must be a subslice of it).
fn span(whole: &[u8], part: &[u8]) -> (u32, u32) {
    // An empty part may be a static `b""` (a status line without a reason), not a
    // subslice; any empty span stands for it.
    if part.is_empty() {
        return (0, 0);
    }
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    (start as u32, (start + part.len()) as u32)
}

/// `check_request_line` / `check_status_line` for the line at the start of a head,
/// that also returns what was parsed.
pub(crate) fn parse_start_line(line: &[u8], is_request: bool) -> (LineVerdict, Option<ParsedStart>) {
    if is_request {
        match request_line(line) {
            Ok((rest, l)) => {
                let len = line.len() - rest.len();
                let start = ParsedStart::Request {
                    method: span(line, l.method),
                    target: span(line, l.target),
                    version: l.version,
                    len: len as u32,
                };
                (LineVerdict::Match { len, http09: l.version == Version::Http09 }, Some(start))
            }
            Err(nom::Err::Incomplete(_)) => (LineVerdict::NeedMore, None),
            Err(_) => (LineVerdict::No, None),
        }
    } else {
        match status_line(line) {
            Ok((rest, l)) => {
                let len = line.len() - rest.len();
                let start =
                    ParsedStart::Status { version: l.version, status: l.status, reason: span(line, l.reason), len: len as u32 };
                (LineVerdict::Match { len, http09: false }, Some(start))
            }
            Err(nom::Err::Incomplete(_)) => (LineVerdict::NeedMore, None),
            Err(_) => (LineVerdict::No, None),
        }
    }
}

/// The start line of `head` from what the framer parsed, if it fits this head.
fn known_start<'a>(head: &'a [u8], is_request: bool, known: Option<ParsedStart>) -> Option<(&'a [u8], StartLine<'a>)> {
    let at = |(a, b): (u32, u32)| head.get(a as usize..b as usize);
    let fits = |len: u32| (len as usize) <= head.len() && len > 0 && head[len as usize - 1] == b'\n';
    match known? {
        ParsedStart::Request { method, target, version, len } if is_request && fits(len) => {
            Some((&head[len as usize..], StartLine::Request(RequestLine { method: at(method)?, target: at(target)?, version })))
        }
        ParsedStart::Status { version, status, reason, len } if !is_request && fits(len) => {
            Some((&head[len as usize..], StartLine::Status(StatusLine { version, status, reason: at(reason)? })))
        }
        _ => None,
    }
}

/// What a partial or complete first line says about the stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineVerdict {
    /// A whole start line of the asked kind, `len` bytes with its line ending.
    Match { len: usize, http09: bool },
    /// Still a plausible prefix: more bytes are needed.
    NeedMore,
    No,
}

pub(crate) fn check_request_line(i: &[u8]) -> LineVerdict {
    match request_line(i) {
        Ok((rest, line)) => LineVerdict::Match { len: i.len() - rest.len(), http09: line.version == Version::Http09 },
        Err(nom::Err::Incomplete(_)) => LineVerdict::NeedMore,
        Err(_) => LineVerdict::No,
    }
}

pub(crate) fn check_status_line(i: &[u8]) -> LineVerdict {
    match status_line(i) {
        Ok((rest, _)) => LineVerdict::Match { len: i.len() - rest.len(), http09: false },
        Err(nom::Err::Incomplete(_)) => LineVerdict::NeedMore,
        Err(_) => LineVerdict::No,
    }
}

/// Content-Length (RFC 9110 §8.6): digits only; a list of identical values (from
/// repeated fields, joined with ", ") counts as one; anything else is invalid.
pub(crate) fn parse_content_length(value: &str) -> Option<u64> {
    let mut length: Option<u64> = None;
    for item in value.as_bytes().split(|&b| b == b',') {
        let item = trim_ows(item);
        if item.is_empty() {
            return None;
        }
        let mut n = 0u64;
        for &b in item {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        match length {
            Some(prev) if prev != n => return None,
            _ => length = Some(n),
        }
    }
    length
}

/// Whether `chunked` is the final transfer coding (RFC 9112 §6.3 rules 3 and 4).
/// Empty list elements are skipped (RFC 9110 §5.6.1.2), so `chunked,` and `, chunked`
/// still end in chunked.
pub(crate) fn chunked_is_final(transfer_encoding: &str) -> bool {
    transfer_encoding
        .rsplit(',')
        .map(|coding| coding.trim_matches(|c| c == ' ' || c == '\t'))
        .find(|coding| !coding.is_empty())
        .is_some_and(|last| last.eq_ignore_ascii_case("chunked"))
}

/// A TLS record header (handshake, alert, change-cipher-spec or application data,
/// protocol version 3.x): what a TLS stream starts with, seen from either side.
pub(crate) fn looks_like_tls(b: &[u8]) -> Option<bool> {
    match b {
        [] => None,
        [0x14..=0x17] => None,
        [0x14..=0x17, 0x03] => None,
        [0x14..=0x17, 0x03, minor, ..] => Some(*minor <= 0x04),
        _ => Some(false),
    }
}

pub(crate) const H2_PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_forms() {
        let (rest, l) = request_line(b"GET /a?b HTTP/1.1\r\nHost: x").unwrap();
        assert_eq!((l.method, l.target, l.version), (&b"GET"[..], &b"/a?b"[..], Version::Http11));
        assert_eq!(rest, b"Host: x");
        let (_, l) = request_line(b"GET /old\n").unwrap();
        assert_eq!(l.version, Version::Http09);
        let (_, l) = request_line(b"M-SEARCH * HTTP/1.0\n").unwrap();
        assert_eq!((l.method, l.version), (&b"M-SEARCH"[..], Version::Http10));
        // Version-less lines are HTTP/0.9-form requests when the method is
        // conventional and the target a path; Zeek logs them the same way.
        let (_, l) = request_line(b"CCM_POST /HTTP/1.1\r\n").unwrap();
        assert_eq!((l.method, l.target, l.version), (&b"CCM_POST"[..], &b"/HTTP/1.1"[..], Version::Http09));
        assert!(request_line(b"post /x\r\n").is_err());
        assert!(request_line(b"EHLO mail.example\r\n").is_err());
        assert!(matches!(request_line(b"GET /x HTTP/2.5\r\n"), Ok((_, RequestLine { version: Version::Other(2, 5), .. }))));
        // Lenient whitespace: spaces inside the target, doubled separators.
        let (_, l) = request_line(b"GET /my file.html  HTTP/1.1\r\n").unwrap();
        assert_eq!((l.target, l.version), (&b"/my file.html"[..], Version::Http11));
        let (_, l) = request_line(b"CONNECT mail.example:25 / HTTP/1.0\r\n").unwrap();
        assert_eq!(l.target, b"mail.example:25 /");
        assert!(request_line(b"GET /a b\r\n").is_err());
        // No target: a request with an empty target (the method and the server's
        // answer are kept); a lone method is still not a request line.
        let (_, l) = request_line(b"OPTIONS HTTP/1.1\r\n").unwrap();
        assert_eq!((l.method, l.target, l.version), (&b"OPTIONS"[..], &b""[..], Version::Http11));
        let (_, l) = request_line(b"GET  HTTP/1.0\r\n").unwrap();
        assert_eq!((l.target, l.version), (&b""[..], Version::Http10));
        assert!(request_line(b"OPTIONS\r\n").is_err());
        assert!(request_line(b"OPTIONSHTTP/1.1\r\n").is_err());
        // A truncated version is read as x.0 (clients send `HTTP/1.`).
        let (_, l) = request_line(b"GET / HTTP/1.\r\n").unwrap();
        assert_eq!((l.target, l.version), (&b"/"[..], Version::Http10));
        assert_eq!(request_line(b"GET / HTTP/1\r\n").unwrap().1.version, Version::Http10);
        assert!(request_line(b"GET / HTTP/\r\n").is_err());
        assert!(request_line(b"GET / HTTP/1.12\r\n").is_err());
        assert!(request_line(b"GET /a\x01 HTTP/1.1\r\n").is_err());
    }

    #[test]
    fn every_strict_prefix_of_a_start_line_is_incomplete() {
        for line in [&b"GET /index.html HTTP/1.1\r\n"[..], b"OPTIONS * HTTP/1.0\n"] {
            for cut in 1..line.len() {
                assert_eq!(check_request_line(&line[..cut]), LineVerdict::NeedMore, "cut {cut}");
            }
            assert!(matches!(check_request_line(line), LineVerdict::Match { .. }));
        }
        let status = b"HTTP/1.1 404 Not Found\r\n";
        for cut in 1..status.len() {
            assert_eq!(check_status_line(&status[..cut]), LineVerdict::NeedMore, "cut {cut}");
        }
    }

    #[test]
    fn status_line_forms() {
        let (_, s) = status_line(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!((s.status, s.reason), (200, &b"OK"[..]));
        let (_, s) = status_line(b"HTTP/1.0 204\r\n").unwrap();
        assert_eq!((s.status, s.reason, s.version), (204, &b""[..], Version::Http10));
        let (_, s) = status_line(b"HTTP/1.1 500 \n").unwrap();
        assert_eq!(s.reason, b"");
        assert!(status_line(b"HTTP/1.1 20 OK\r\n").is_err());
        let (_, s) = status_line(b"http/1.1 200 OK\r\n").unwrap();
        assert_eq!((s.status, s.version), (200, Version::Http11));
        assert_eq!(request_line(b"GET / http/1.0\n").unwrap().1.version, Version::Http10);
        assert!(status_line(b"HTTP/1.1 2000 OK\r\n").is_err());
    }

    #[test]
    fn non_http_is_rejected_early() {
        assert_eq!(check_request_line(b"\x16\x03\x01\x02\x00"), LineVerdict::No);
        assert_eq!(check_status_line(b"SSH-2.0-OpenSSH"), LineVerdict::No);
        assert_eq!(check_request_line(b"SSH-2.0-OpenSSH_9.6\r\n"), LineVerdict::No);
        assert_eq!(looks_like_tls(b"\x16\x03\x01"), Some(true));
        assert_eq!(looks_like_tls(b"\x16"), None);
        assert_eq!(looks_like_tls(b"GET"), Some(false));
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length("42"), Some(42));
        assert_eq!(parse_content_length("5, 5"), Some(5));
        assert_eq!(parse_content_length("5, 6"), None);
        assert_eq!(parse_content_length("-1"), None);
        assert_eq!(parse_content_length("+1"), None);
        assert_eq!(parse_content_length(""), None);
        assert_eq!(parse_content_length("99999999999999999999999"), None);
        assert!(chunked_is_final("gzip, Chunked"));
        assert!(!chunked_is_final("chunked, gzip"));
        assert!(chunked_is_final(",\tchunked,"));
        assert!(!chunked_is_final(", ,"));
    }

    struct Collect(Vec<(Vec<u8>, Vec<u8>)>, usize);
    impl HeaderSink for Collect {
        fn skipped_line(&mut self) {
            self.1 += 1;
        }
        fn header(&mut self, name: &[u8], value: &[u8]) {
            self.0.push((name.to_vec(), value.to_vec()));
        }
        fn fold(&mut self, piece: &[u8]) {
            if let Some(last) = self.0.last_mut() {
                last.1.push(b' ');
                last.1.extend_from_slice(piece);
            }
        }
    }

    /// A start line the framer parsed stands in for parsing it again, with the same
    /// result; one that does not fit the head (another head's) is not used.
    #[test]
    fn a_known_start_line_gives_the_same_head() {
        let heads: [(&[u8], bool); 5] = [
            (b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (b"GET /old\n", true),
            (b"OPTIONS  HTTP/1.0\r\n\r\n", true),
            (b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false),
            (b"HTTP/1.0 404\nA: b\n\n", false),
        ];
        let shape = |r: Result<StartLine<'_>, FramingError>| match r {
            Ok(StartLine::Request(l)) => format!("{:?} {:?} {:?}", l.method, l.target, l.version),
            Ok(StartLine::Status(l)) => format!("{:?} {} {:?}", l.version, l.status, l.reason),
            Err(e) => format!("{e:?}"),
        };
        for (head, is_request) in heads {
            let line_end = head.iter().position(|&b| b == b'\n').unwrap() + 1;
            let (verdict, known) = parse_start_line(&head[..line_end], is_request);
            assert!(matches!(verdict, LineVerdict::Match { len, .. } if len == line_end));
            let (mut a, mut b) = (Collect(Vec::new(), 0), Collect(Vec::new(), 0));
            let with = shape(parse_head(head, is_request, FramerNotes { start: known, line_ends: None }, 10, &mut a));
            assert_eq!(with, shape(parse_head(head, is_request, FramerNotes::default(), 10, &mut b)));
            assert_eq!(a.0, b.0);
            // Too long for a shorter head, or of the other kind: parsed afresh.
            assert!(known_start(&head[..line_end - 1], is_request, known).is_none());
            assert!(known_start(head, !is_request, known).is_none());
        }
    }

    #[test]
    fn headers_with_bare_lf_and_obs_fold() {
        let mut c = Collect(Vec::new(), 0);
        let head = b"HTTP/1.1 200 OK\nX-A:  one \n\ttwo\r\nServer:x\n\n";
        assert!(parse_head(head, false, FramerNotes::default(), 10, &mut c).is_ok());
        assert_eq!(c.0, vec![(b"X-A".to_vec(), b"one two".to_vec()), (b"Server".to_vec(), b"x".to_vec())]);
        let mut c = Collect(Vec::new(), 0);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", true, FramerNotes::default(), 10, &mut c).err(), Some(FramingError::MalformedHead));
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", true, FramerNotes::default(), 1, &mut c).err(), Some(FramingError::HeadTooLong));
        // A line without any colon is skipped (and reported to the sink); the fields
        // around it are kept.
        let mut c = Collect(Vec::new(), 0);
        let head = b"CONNECT host:25 / HTTP/1.0\r\nMozilla 4.0 (compatible)\r\nHost: h\r\n\r\n";
        assert!(parse_head(head, true, FramerNotes::default(), 10, &mut c).is_ok());
        assert_eq!(c.0, vec![(b"Host".to_vec(), b"h".to_vec())]);
        assert_eq!(c.1, 1);
    }
}
