//! Both directions of a connection together: what a head means for framing (which
//! needs the request a response answers), FIFO pairing, interim responses, tunnels,
//! the 100-continue decision, protocol detection, losses and the end of the stream.

use std::collections::VecDeque;

use super::framer::{Body, Chunk, Decision, Framer, HeadStep, State};
use super::parse::{chunked_is_final, parse_content_length, parse_head, FramerNotes, HeaderSink, StartLine};
use super::{Framing, FramingError, HttpConfig, HttpEvent, Protocol, RequestHead, ResponseHead, Text, Version};
use crate::push_made;
use crate::tcp::Dir;
use crate::time::Timestamp;

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// A request waiting for its final response.
#[derive(Clone, Debug)]
struct Pending {
    index: u64,
    is_head: bool,
    is_connect: bool,
    version: Version,
}

/// Requests waiting for their final responses, oldest first. The oldest is kept
/// inline: most connections have one request waiting at a time, and a short
/// connection's first request allocated the queue.
#[derive(Default)]
struct PendingQueue {
    oldest: Option<Pending>,
    /// The others, when requests are pipelined.
    rest: VecDeque<Pending>,
}

impl PendingQueue {
    fn push_back(&mut self, p: Pending) {
        if self.oldest.is_none() {
            debug_assert!(self.rest.is_empty());
            self.oldest = Some(p);
        } else {
            self.rest.push_back(p);
        }
    }

    fn pop_front(&mut self) -> Option<Pending> {
        let oldest = self.oldest.take();
        self.oldest = self.rest.pop_front();
        oldest
    }

    fn front(&self) -> Option<&Pending> {
        self.oldest.as_ref()
    }

    fn len(&self) -> usize {
        usize::from(self.oldest.is_some()) + self.rest.len()
    }
}

pub(crate) struct Conn {
    config: HttpConfig,
    framers: [Framer; 2],
    pending: PendingQueue,
    next_index: u64,
    protocol: Protocol,
    /// A response head (of any kind) has been seen on this connection.
    response_seen: bool,
    /// The client's first line was not HTTP, but the server had not spoken yet: the
    /// server's first line decides (an HTTP status line keeps its response, which a
    /// broken request such as a lone `OPTIONS` still gets); the client's bytes are
    /// dropped until then. The timestamp is that of the client's line.
    client_undecided: Option<Timestamp>,
    /// While the client is undecided: whether its last dropped byte ended a line, so
    /// that its next request line is not skipped once the server shows HTTP.
    client_at_line_start: bool,
}

/// The header fields keepscope keeps, filled while the head is parsed.
#[derive(Default)]
struct Fields {
    values: [Option<Text>; 5],
    /// Field the last header line filled, for obs-fold continuations.
    last: Option<usize>,
}

/// Slot order of `Fields::values`: the fields the analysis reads or reports (the
/// framing's and the keep-alive's). Others (Host, Upgrade) are not kept: nothing
/// reads them, and every request carries a Host.
pub(super) const FIELD_NAMES: [&[u8]; 5] = [b"connection", b"keep-alive", b"expect", b"content-length", b"transfer-encoding"];

impl HeaderSink for Fields {
    fn header(&mut self, name: &[u8], value: &[u8]) {
        // Most fields of a head are none of ours: the length rules them out cheaply.
        let candidate = match name.len() {
            6 => 2,
            10 if name[0].eq_ignore_ascii_case(&b'c') => 0,
            10 => 1,
            14 => 3,
            17 => 4,
            _ => usize::MAX,
        };
        self.last = FIELD_NAMES.get(candidate).filter(|n| is_field_name(name, n)).map(|_| candidate);
        if let Some(slot) = self.last {
            match &mut self.values[slot] {
                Some(joined) => {
                    joined.push_str(", ");
                    joined.push_str(&String::from_utf8_lossy(value));
                }
                empty => *empty = Some(text(value, &COMMON_VALUES)),
            }
        }
    }

    fn fold(&mut self, piece: &[u8]) {
        if let Some(Some(value)) = self.last.map(|slot| &mut self.values[slot]) {
            if !piece.is_empty() {
                value.push(' ');
                value.push_str(&String::from_utf8_lossy(piece));
            }
        }
    }
}

/// Whether `name` (token characters, as `parse_head` passes them) is `lower` (one of
/// `FIELD_NAMES`: lower-case letters and `-`, same length) without regard to case.
/// Setting bit 0x20 lower-cases a letter; among token characters only `-` itself
/// becomes `-` (the other byte that would, CR, is not one), so one OR per byte
/// decides, where `eq_ignore_ascii_case` lower-cases both sides. Every field line of
/// every head of the right length comes through here.
pub(super) fn is_field_name(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(name.iter().all(|&b| super::parse::is_tchar(b)));
    name.len() == lower.len() && name.iter().zip(lower).all(|(&a, &b)| a | 0x20 == b)
}

/// A usual value, with its `Text` made once, at compile time. Made at run time,
/// `Text::const_new` copies the string into its inline buffer byte by byte, and the
/// buffer, read whole right after, waits for those stores (they cannot be
/// forwarded to a wider load): perf put about a fifth of `on_head`'s time there.
const fn known(s: &'static str) -> (&'static str, Text) {
    (s, Text::const_new(s))
}

/// Values of the kept fields common enough to be worth not allocating.
static COMMON_VALUES: [(&str, Text); 7] = [
    known("keep-alive"),
    known("close"),
    known("Keep-Alive"),
    known("Close"),
    known("100-continue"),
    known("chunked"),
    known("0"),
];
/// Methods and reason phrases likewise.
static COMMON_METHODS: [(&str, Text); 9] = [
    known("GET"),
    known("POST"),
    known("HEAD"),
    known("PUT"),
    known("DELETE"),
    known("OPTIONS"),
    known("PATCH"),
    known("CONNECT"),
    known("TRACE"),
];
static COMMON_REASONS: [(&str, Text); 30] = [
    known("OK"),
    known("Continue"),
    known("Switching Protocols"),
    known("Created"),
    known("Accepted"),
    known("No Content"),
    known("Partial Content"),
    known("Moved Permanently"),
    known("Found"),
    known("See Other"),
    known("Not Modified"),
    known("Temporary Redirect"),
    known("Permanent Redirect"),
    known("Bad Request"),
    known("Unauthorized"),
    known("Forbidden"),
    known("Not Found"),
    known("Method Not Allowed"),
    known("Request Timeout"),
    known("Conflict"),
    known("Payload Too Large"),
    known("Content Too Large"),
    known("Expectation Failed"),
    known("Too Many Requests"),
    known("Internal Server Error"),
    known("Not Implemented"),
    known("Bad Gateway"),
    known("Service Unavailable"),
    known("Gateway Timeout"),
    known(""),
];

/// Captured bytes as text: one of `common` (compared exactly) is a copy of its
/// ready-made `Text`, anything else is converted lossily.
fn text(bytes: &[u8], common: &[(&'static str, Text)]) -> Text {
    match common.iter().find(|(c, _)| c.as_bytes() == bytes) {
        Some((_, known)) => known.clone(),
        None => lossy(bytes),
    }
}

fn lossy(bytes: &[u8]) -> Text {
    // Valid UTF-8 (nearly always) is checked and copied in one go; compact_str's own
    // lossy conversion walks the text in chunks and is several times slower.
    match std::str::from_utf8(bytes) {
        Ok(s) => Text::new(s),
        Err(_) => Text::from(String::from_utf8_lossy(bytes)),
    }
}

fn head_len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Parses a request head; gives it with the body framing its length fields choose
/// (those fields are not kept in the head: nothing after the framing reads them,
/// and leaving them out made each head event a quarter smaller to copy).
fn parse_request(head: &[u8], notes: FramerNotes<'_>, max_headers: usize) -> Result<(RequestHead, LengthRule), FramingError> {
    let mut f = Fields::default();
    let StartLine::Request(line) = parse_head(head, true, notes, max_headers, &mut f)? else {
        return Err(FramingError::MalformedHead);
    };
    let [connection, keep_alive, expect, content_length, transfer_encoding] = f.values;
    let head = RequestHead {
        method: text(line.method, &COMMON_METHODS),
        uri: lossy(line.target),
        version: line.version,
        connection,
        keep_alive,
        expect,
        head_bytes: head_len_u32(head.len()),
    };
    Ok((head, length_rule(transfer_encoding.as_deref(), content_length.as_deref())))
}

/// Parses a response head (see `parse_request`).
fn parse_response(head: &[u8], notes: FramerNotes<'_>, max_headers: usize) -> Result<(ResponseHead, LengthRule), FramingError> {
    let mut f = Fields::default();
    let StartLine::Status(line) = parse_head(head, false, notes, max_headers, &mut f)? else {
        return Err(FramingError::MalformedHead);
    };
    let [connection, keep_alive, _expect, content_length, transfer_encoding] = f.values;
    let head = ResponseHead {
        status: line.status,
        reason: text(line.reason, &COMMON_REASONS),
        version: line.version,
        connection,
        keep_alive,
        head_bytes: head_len_u32(head.len()),
    };
    Ok((head, length_rule(transfer_encoding.as_deref(), content_length.as_deref())))
}

/// Whether `bytes` start with a whole line (within `MAX_CANDIDATE_LINE`) that
/// `Framer::step_detect` would call HTTP/1.x.
fn first_line_is_http(bytes: &[u8]) -> bool {
    memchr::memchr(b'\n', bytes)
        .is_some_and(|p| p < super::framer::MAX_CANDIDATE_LINE && super::framer::detect(&bytes[..=p]) == Some(Protocol::Http1))
}

/// Body framing chosen from the length fields (RFC 9112 §6.3 rules 3–6).
enum LengthRule {
    Chunked,
    Length(u64),
    /// No length field: a request has no body, a response runs to the close.
    Absent,
    /// Transfer-Encoding without final chunked: a response runs to the close, a request
    /// cannot be framed.
    OtherCoding,
    BadLength,
}

fn length_rule(transfer_encoding: Option<&str>, content_length: Option<&str>) -> LengthRule {
    match (transfer_encoding, content_length) {
        // Transfer-Encoding overrides Content-Length (rule 3).
        (Some(te), _) if chunked_is_final(te) => LengthRule::Chunked,
        (Some(_), _) => LengthRule::OtherCoding,
        (None, Some(cl)) => parse_content_length(cl).map_or(LengthRule::BadLength, LengthRule::Length),
        (None, None) => LengthRule::Absent,
    }
}

impl Conn {
    pub(crate) fn new(config: HttpConfig, in_sync: bool) -> Conn {
        let initial = if in_sync { State::Detect } else { State::ResyncLine };
        Conn {
            config,
            framers: [Framer::new(Dir::ClientToServer, initial.clone()), Framer::new(Dir::ServerToClient, initial)],
            pending: PendingQueue::default(),
            next_index: 0,
            protocol: Protocol::Unknown,
            response_seen: false,
            client_undecided: None,
            client_at_line_start: false,
        }
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Bytes counted in `dir` after the connection became a tunnel.
    pub(crate) fn tunnel_bytes(&self, dir: Dir) -> u64 {
        self.framers[dir.index()].tunnel_bytes
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.framers.iter().map(|f| f.buf.capacity()).sum()
    }

    pub(crate) fn shed(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        for framer in &mut self.framers {
            if !framer.buf.is_empty() {
                push_made(out, || HttpEvent::Error { dir: framer.dir, ts, error: FramingError::HeadTooLong });
                framer.resync(false);
            }
            framer.buf = Vec::new();
        }
    }

    /// Capacity of the head buffer of `dir`, to check that bodies are never buffered.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self, dir: Dir) -> usize {
        self.framers[dir.index()].buf.capacity()
    }

    fn set_protocol(&mut self, protocol: Protocol, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        if self.protocol != protocol {
            self.protocol = protocol;
            push_made(out, || HttpEvent::ProtocolDetected { protocol, ts });
        }
    }

    /// Feeds bytes that were held back while something was being decided, then gives
    /// the buffer back so its capacity is reused.
    /// They are fed with the timestamp of the segment that began them.
    fn refeed_buffer(&mut self, d: usize, out: &mut Vec<HttpEvent>) {
        let held = std::mem::take(&mut self.framers[d].buf);
        if !held.is_empty() {
            let ts = self.framers[d].held_ts;
            self.on_data(self.framers[d].dir, ts, &held, out);
        }
        let f = &mut self.framers[d];
        if f.buf.is_empty() {
            let mut held = held;
            held.clear();
            f.buf = held;
        }
    }

    pub(crate) fn on_data(&mut self, dir: Dir, ts: Timestamp, mut bytes: &[u8], out: &mut Vec<HttpEvent>) {
        let d = dir.index();
        let first_run = !self.framers[d].seen_data;
        self.framers[d].seen_data = true;
        if first_run && self.protocol == Protocol::Unknown && self.framers[d].state == State::ResyncLine {
            // Mid-connection capture: a TLS record header at the start of a run is the
            // best early sign of TLS we can get without a handshake.
            if super::parse::looks_like_tls(bytes) == Some(true) {
                self.set_protocol(Protocol::Tls, ts, out);
                self.framers.iter_mut().for_each(Framer::stop);
                return;
            }
        }
        while !bytes.is_empty() {
            let max_head = self.config.max_head_bytes;
            let f = &mut self.framers[d];
            match f.state {
                State::Stopped => {
                    if d == CLIENT && self.client_undecided.is_some() {
                        self.client_at_line_start = bytes.last() == Some(&b'\n');
                    }
                    return;
                }
                State::Tunnel => {
                    f.tunnel_bytes += bytes.len() as u64;
                    return;
                }
                State::Detect => {
                    if f.buf.is_empty() {
                        f.held_ts = ts;
                    }
                    if self.protocol == Protocol::Http1 {
                        // The other direction already showed this is HTTP.
                        f.state = State::Start;
                        self.refeed_buffer(d, out);
                        continue;
                    }
                    if f.buf.is_empty() && self.client_undecided.is_none() && first_line_is_http(bytes) {
                        // The usual case: the connection's first segment holds a whole
                        // request line. Deciding from the segment itself, rather than
                        // from a copy that is then fed again, lets the head be parsed
                        // in place: no copy and no buffer for it (three allocations
                        // per connection fewer).
                        self.set_protocol(Protocol::Http1, ts, out);
                        self.framers[d].state = State::Start;
                        continue;
                    }
                    let (n, mut verdict) = f.step_detect(bytes);
                    bytes = &bytes[n..];
                    if d == SERVER && self.client_undecided.is_some() && verdict == Some(Protocol::Http1) {
                        // Only an answer can vouch for the client's odd first line: a
                        // server that starts with anything but a status line does not.
                        let line = &self.framers[d].buf;
                        let start = line.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
                        if !line[start..].get(..5).is_some_and(|name| name.eq_ignore_ascii_case(b"HTTP/")) {
                            verdict = Some(Protocol::Other);
                        }
                    }
                    match verdict {
                        None => {}
                        Some(Protocol::Http1) => {
                            self.set_protocol(Protocol::Http1, ts, out);
                            self.framers[d].state = State::Start;
                            if let Some(line_ts) = self.client_undecided.take() {
                                // The server speaks HTTP: the client's first line was a
                                // broken request. Look for its next request from the
                                // next line on.
                                let client = &mut self.framers[CLIENT];
                                client.state =
                                    if self.client_at_line_start { State::ResyncLine } else { State::ResyncSkip };
                                client.error(line_ts, FramingError::MalformedHead, out);
                            }
                            self.refeed_buffer(d, out);
                        }
                        Some(Protocol::Other) if d == CLIENT && self.framers[SERVER].state == State::Detect => {
                            let f = &mut self.framers[d];
                            self.client_undecided = Some(f.held_ts);
                            // Whether the bytes dropped so far end with a whole line.
                            self.client_at_line_start = bytes.last().or(f.buf.last()) == Some(&b'\n');
                            f.stop();
                            return;
                        }
                        Some(other) => {
                            self.set_protocol(other, ts, out);
                            self.framers.iter_mut().for_each(Framer::stop);
                            return;
                        }
                    }
                }
                State::Start => {
                    if d == SERVER && self.bare_response_starts(bytes[0]) {
                        self.http09_response(ts, out);
                        continue;
                    }
                    let n = self.framers[d].step_start(bytes, ts);
                    bytes = &bytes[n..];
                }
                State::Head => {
                    f.last_ts = ts;
                    let (n, step) = f.step_head(bytes, max_head);
                    match step {
                        HeadStep::Partial => {}
                        HeadStep::Bad { error, at_line_start } => {
                            f.error(ts, error, out);
                            f.resync(at_line_start);
                        }
                        HeadStep::Ready { len, in_buf } => {
                            let source = if in_buf { HeadSource::Buf } else { HeadSource::Input(&bytes[..len]) };
                            self.on_head(d, source, ts, out);
                        }
                    }
                    bytes = &bytes[n..];
                }
                State::Body(_) => {
                    if f.expect_rejected && !f.body_started {
                        if f.buf.is_empty() {
                            f.held_ts = ts;
                        }
                        let (n, decision) = f.step_decide(bytes);
                        bytes = &bytes[n..];
                        match decision {
                            Decision::NeedMore => {}
                            Decision::NewRequest => {
                                // The client withdrew the body after the final answer:
                                // the request ended with its head.
                                f.end_message(true, out);
                                f.state = State::Start;
                                self.refeed_buffer(d, out);
                            }
                            Decision::Body => {
                                f.expect_rejected = false;
                                self.refeed_buffer(d, out);
                            }
                        }
                        continue;
                    }
                    let max_trailer = self.config.max_head_bytes;
                    let n = f.step_body(bytes, ts, max_trailer, out);
                    bytes = &bytes[n..];
                }
                State::ResyncLine | State::ResyncSkip => {
                    let (n, found) = f.step_resync(bytes, ts);
                    bytes = &bytes[n..];
                    if let Some(http09) = found {
                        if self.protocol == Protocol::Unknown {
                            self.set_protocol(Protocol::Http1, ts, out);
                        }
                        if http09 {
                            self.on_head(d, HeadSource::Buf, ts, out);
                        }
                    }
                }
            }
        }
    }

    /// A complete head in direction `d`. Each kind goes straight from its parse to
    /// its handler (one `Parsed` enum of both kinds cost another copy of the head,
    /// shifted a byte by the enum's tag).
    fn on_head(&mut self, d: usize, source: HeadSource<'_>, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        let max_headers = self.config.max_headers;
        let head: &[u8] = match source {
            HeadSource::Buf => &self.framers[d].buf,
            HeadSource::Input(h) => h,
        };
        let notes = self.framers[d].notes();
        if d == CLIENT {
            match parse_request(head, notes, max_headers) {
                Ok((head, rule)) => {
                    self.framers[d].head_done(ts);
                    self.on_request(head, rule, ts, out);
                }
                Err(error) => self.framers[d].head_failed(ts, error, out),
            }
        } else {
            match parse_response(head, notes, max_headers) {
                Ok((head, rule)) => {
                    self.framers[d].head_done(ts);
                    self.on_response(head, rule, ts, out);
                }
                Err(error) => self.framers[d].head_failed(ts, error, out),
            }
        }
    }

    fn on_request(&mut self, head: RequestHead, rule: LengthRule, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        if self.protocol == Protocol::Unknown {
            self.set_protocol(Protocol::Http1, ts, out);
        }
        let index = self.next_index;
        self.next_index += 1;
        self.pending.push_back(Pending {
            index,
            is_head: head.method.eq_ignore_ascii_case("HEAD"),
            is_connect: head.method.eq_ignore_ascii_case("CONNECT"),
            version: head.version,
        });
        let expects_continue =
            head.expect.as_deref().is_some_and(|e| e.split(',').any(|v| v.trim().eq_ignore_ascii_case("100-continue")));
        let f = &mut self.framers[CLIENT];
        push_made(out, || HttpEvent::RequestHead { index, ts_first: f.ts_first, ts_head: ts, head });
        while self.pending.len() > self.config.max_pending_requests {
            self.pending.pop_front();
            f.error(ts, FramingError::TooManyPending, out);
        }
        f.msg_index = Some(index);
        let body = match rule {
            LengthRule::Chunked => Some((Framing::Chunked, Body::Chunked(Chunk::start()))),
            LengthRule::Length(0) => {
                f.framing = Framing::ContentLength;
                None
            }
            LengthRule::Length(n) => Some((Framing::ContentLength, Body::Length { remaining: n })),
            LengthRule::Absent => {
                f.framing = Framing::None;
                None
            }
            // RFC 9112 §6.3 rule 4: a request whose length cannot be determined is a
            // framing error; reported with the Content-Length kind, as the length is
            // what went wrong, and the direction stops rather than guess.
            LengthRule::OtherCoding | LengthRule::BadLength => {
                f.error(ts, FramingError::BadContentLength, out);
                f.framing = Framing::ContentLength;
                f.end_message(false, out);
                f.stop();
                return;
            }
        };
        match body {
            None => f.end_message(true, out),
            Some((framing, body)) => {
                f.framing = framing;
                f.expect_waiting = expects_continue;
                f.state = State::Body(body);
            }
        }
    }

    fn on_response(&mut self, head: ResponseHead, rule: LengthRule, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        if self.protocol == Protocol::Unknown {
            self.set_protocol(Protocol::Http1, ts, out);
        }
        self.response_seen = true;
        let status = head.status;
        let ts_first = self.framers[SERVER].ts_first;
        if (100..200).contains(&status) && status != 101 {
            // Interim: answers the oldest waiting request without consuming it, and
            // has no body and no end event.
            let answers = self.pending.front().map(|p| p.index);
            push_made(out, || HttpEvent::ResponseHead { answers, interim: true, ts_first, ts_head: ts, head });
            if answers.is_none() {
                push_made(out, || HttpEvent::Error { dir: Dir::ServerToClient, ts, error: FramingError::UnsolicitedResponse });
            }
            return;
        }
        let request = self.pending.pop_front();
        push_made(out, || HttpEvent::ResponseHead { answers: request.as_ref().map(|r| r.index), interim: false, ts_first, ts_head: ts, head });
        if request.is_none() {
            push_made(out, || HttpEvent::Error { dir: Dir::ServerToClient, ts, error: FramingError::UnsolicitedResponse });
        }
        if let Some(r) = &request {
            let client = &mut self.framers[CLIENT];
            if client.msg_index == Some(r.index) && client.expect_waiting && !client.body_started {
                client.expect_rejected = true;
            }
        }
        let is_head = request.as_ref().is_some_and(|r| r.is_head);
        let is_connect = request.as_ref().is_some_and(|r| r.is_connect);
        let server = &mut self.framers[SERVER];
        // RFC 9112 §6.3, in its order.
        if is_head || status == 204 || status == 304 {
            server.framing = Framing::None;
            server.end_message(true, out);
            return;
        }
        if status == 101 || (is_connect && (200..300).contains(&status)) {
            self.enter_tunnel(ts, out);
            return;
        }
        let body = match rule {
            LengthRule::Chunked => (Framing::Chunked, Body::Chunked(Chunk::start())),
            LengthRule::Length(0) => {
                server.framing = Framing::ContentLength;
                server.end_message(true, out);
                return;
            }
            LengthRule::Length(n) => (Framing::ContentLength, Body::Length { remaining: n }),
            LengthRule::Absent | LengthRule::OtherCoding => (Framing::CloseDelimited, Body::Close),
            LengthRule::BadLength => {
                server.error(ts, FramingError::BadContentLength, out);
                server.framing = Framing::ContentLength;
                server.end_message(false, out);
                server.stop();
                return;
            }
        };
        server.framing = body.0;
        server.state = State::Body(body.1);
    }

    /// CONNECT 2xx or 101: the response ends with its head (`Framing::Tunnel`, no
    /// body); from here both directions are only counted (`tunnel_bytes`).
    fn enter_tunnel(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        let server = &mut self.framers[SERVER];
        server.framing = Framing::Tunnel;
        server.end_message(true, out);
        server.head_consumed();
        server.state = State::Tunnel;
        let client = &mut self.framers[CLIENT];
        if matches!(client.state, State::Body(_)) {
            client.end_message(false, out);
        }
        client.head_consumed();
        client.state = State::Tunnel;
        self.set_protocol(Protocol::Tunnel, ts, out);
    }

    /// Whether server bytes starting with `first` are an HTTP/0.9-style answer (no
    /// status line): to a 0.9 request, or as the first answer on the connection from
    /// a server that only speaks 0.9 (curl's `--http0.9` case). Later in a connection,
    /// a message not starting with `H`/`h` is treated as a malformed head instead.
    fn bare_response_starts(&self, first: u8) -> bool {
        if first == b'H' || first == b'h' {
            return false;
        }
        match self.pending.front() {
            Some(p) => p.version == Version::Http09 || !self.response_seen,
            None => false,
        }
    }

    /// An HTTP/0.9 request is answered by bare bytes until the close: there is no
    /// status line, so a head with status 0 and version 0.9 stands for it.
    fn http09_response(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        self.response_seen = true;
        let request = self.pending.pop_front();
        push_made(out, || HttpEvent::ResponseHead {
            answers: request.map(|r| r.index),
            interim: false,
            ts_first: ts,
            ts_head: ts,
            head: ResponseHead {
                status: 0,
                reason: Text::const_new(""),
                version: Version::Http09,
                connection: None,
                keep_alive: None,
                head_bytes: 0,
            },
        });
        let server = &mut self.framers[SERVER];
        server.last_ts = ts;
        server.framing = Framing::CloseDelimited;
        server.state = State::Body(Body::Close);
    }

    pub(crate) fn on_missing(&mut self, dir: Dir, ts: Timestamp, len: u64, out: &mut Vec<HttpEvent>) {
        let d = dir.index();
        if len == 0 {
            return;
        }
        {
            let f = &mut self.framers[d];
            if f.expect_rejected && !f.body_started {
                // Bytes were sent after the final response; whatever they were, the
                // held bytes are body now.
                f.expect_rejected = false;
                self.refeed_buffer(d, out);
            }
        }
        let f = &mut self.framers[d];
        let cut_head = f.has_start_line();
        match &mut f.state {
            State::Stopped => {}
            State::Tunnel => f.tunnel_bytes += len,
            State::Body(Body::Length { remaining }) => {
                // The length still tells where the message ends: count the gap as body.
                let take = (*remaining).min(len);
                *remaining -= take;
                f.body_bytes += take;
                let done = *remaining == 0;
                if !f.body_started {
                    f.body_started = true;
                    push_made(out, || HttpEvent::BodyStart { dir, ts });
                }
                f.last_ts = ts;
                if done {
                    f.end_message(true, out);
                    f.state = State::Start;
                    if len > take {
                        f.error(ts, FramingError::Desync, out);
                        f.resync(true);
                    }
                }
            }
            State::Body(Body::Close) => {
                f.body_bytes += len;
                if !f.body_started {
                    f.body_started = true;
                    push_made(out, || HttpEvent::BodyStart { dir, ts });
                }
                f.last_ts = ts;
            }
            State::Body(Body::Chunked(_)) => {
                f.error(ts, FramingError::Desync, out);
                f.end_message(false, out);
                f.resync(true);
            }
            State::ResyncLine | State::ResyncSkip => f.resync(true),
            State::Head if cut_head => {
                // Bytes lost inside a head whose start line was whole: most often a
                // capture taken with a small snaplen (`tcpdump -s 256`) that cut the
                // head's packet. Report the head as far as it was captured (as
                // Wireshark shows a cut packet's fields), end that message cut off —
                // where its body would end is unknown — and resynchronise at the
                // next start line, which usually begins the next packet.
                // With no length field captured, the framing reads `none`.
                f.cut_head = true;
                let head_ts = f.last_ts;
                self.on_head(d, HeadSource::Buf, head_ts, out);
                let f = &mut self.framers[d];
                match f.state {
                    State::Tunnel | State::Stopped => {}
                    State::Body(ref body) => {
                        if matches!(body, Body::Close) {
                            // No length field was captured; "close-delimited" would
                            // claim the server must close the connection, which
                            // nothing captured says.
                            f.framing = Framing::None;
                        }
                        f.end_message(false, out);
                        f.error(ts, FramingError::Desync, out);
                        f.resync(true);
                    }
                    _ => {
                        f.error(ts, FramingError::Desync, out);
                        f.resync(true);
                    }
                }
                self.framers[d].cut_head = false;
            }
            State::Detect | State::Start | State::Head => {
                f.error(ts, FramingError::Desync, out);
                f.head_consumed();
                f.resync(true);
            }
        }
    }

    pub(crate) fn on_fin(&mut self, dir: Dir, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        let _ = ts;
        self.close_direction(dir.index(), true, out);
    }

    pub(crate) fn finish(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        if self.client_undecided.take().is_some() && self.protocol == Protocol::Unknown {
            // The server never showed HTTP: the client's first line stands.
            self.set_protocol(Protocol::Other, ts, out);
            self.framers.iter_mut().for_each(Framer::stop);
        }
        self.close_direction(CLIENT, false, out);
        self.close_direction(SERVER, false, out);
    }

    /// No more bytes will come in direction `d`. A close-delimited body is complete
    /// at the sender's FIN; any other open message was cut off. A partial head is
    /// reported if its start line was whole, otherwise dropped silently.
    fn close_direction(&mut self, d: usize, by_fin: bool, out: &mut Vec<HttpEvent>) {
        if self.framers[d].has_start_line() {
            // The stream ended inside a head whose start line was whole (servers do
            // close right after the fields, without the empty line): report what was
            // sent, and end that message as cut off.
            let f = &mut self.framers[d];
            f.cut_head = true;
            let ts = f.last_ts;
            self.on_head(d, HeadSource::Buf, ts, out);
        }
        let f = &mut self.framers[d];
        if f.expect_rejected && !f.body_started && !f.buf.is_empty() {
            f.expect_rejected = false;
            let held = std::mem::take(&mut f.buf);
            let dir = f.dir;
            let ts = f.held_ts;
            self.on_data(dir, ts, &held, out);
        }
        let f = &mut self.framers[d];
        match f.state {
            State::Body(Body::Close) => f.end_message(by_fin, out),
            State::Body(_) => f.end_message(false, out),
            _ => {}
        }
        if f.state != State::Tunnel {
            f.stop();
        }
        f.cut_head = false;
    }
}

enum HeadSource<'a> {
    Buf,
    Input(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_queue_is_first_in_first_out() {
        let p = |index| Pending { index, is_head: false, is_connect: false, version: Version::Http11 };
        let mut q = PendingQueue::default();
        assert_eq!((q.len(), q.front().map(|p| p.index)), (0, None));
        q.push_back(p(0));
        assert_eq!(q.pop_front().map(|p| p.index), Some(0));
        assert!(q.pop_front().is_none());
        // Pipelined: the oldest inline, the others behind it, and so on as they go.
        for i in 1..=5 {
            q.push_back(p(i));
        }
        assert_eq!((q.len(), q.front().map(|p| p.index)), (5, Some(1)));
        let mut order = vec![q.pop_front().unwrap().index, q.pop_front().unwrap().index];
        q.push_back(p(6));
        while let Some(next) = q.pop_front() {
            order.push(next.index);
        }
        assert_eq!(order, [1, 2, 3, 4, 5, 6]);
        assert_eq!(q.len(), 0);
    }
}
