//! The per-direction byte machinery: finding the end of a head without re-scanning,
//! counting bodies (Content-Length, chunked, close-delimited, tunnel) without copying
//! them, and skipping to the next start line after a loss (resync).
//!
//! What a head *means* (which framing a response gets, pairing, tunnels) needs both
//! directions and is decided in `conn.rs`; this file only reports "a head is ready".

use memchr::memchr;

use super::lines::Newlines;
use super::parse::{check_request_line, check_status_line, parse_start_line, FramerNotes, LineVerdict, ParsedStart};
use super::{FramingError, Framing, HttpEvent};
use crate::push_made;
use crate::tcp::Dir;
use crate::time::Timestamp;

/// Longest line kept while deciding whether bytes start a message (protocol detection,
/// resync, the 100-continue decision). Real request lines stay far below it; a
/// longer candidate is treated as "not a start line", so hostile input costs bounded
/// memory and bounded re-checking.
pub(crate) const MAX_CANDIDATE_LINE: usize = 8 * 1024;

/// Hex digits accepted in a chunk size, leading zeros included; 16 significant
/// digits fill a u64. Both bounds turn "endless digits" into `BadChunk`.
const MAX_CHUNK_SIZE_DIGITS: u8 = 32;
const MAX_CHUNK_SIGNIFICANT_DIGITS: u8 = 16;
/// Chunk extensions are skipped, not stored, but an endless one is still an error.
const MAX_CHUNK_EXT: u32 = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    Size { value: u64, digits: u8, significant: u8 },
    /// After the size: extensions or whitespace, up to the end of the line.
    Ext { size: u64, len: u32 },
    Data { remaining: u64 },
    /// After chunk data: CRLF (or a bare LF).
    DataCr,
    DataLf,
    /// After the last chunk: trailer fields up to an empty line.
    Trailer { line_empty: bool, len: usize },
}

pub(crate) enum ChunkResult {
    NeedMore,
    /// The body ended after this many bytes.
    Done(usize),
    /// Bad framing at this byte offset.
    Bad(usize),
}

impl Chunk {
    pub(crate) fn start() -> Chunk {
        Chunk::Size { value: 0, digits: 0, significant: 0 }
    }

    /// Runs over `bytes`, adding chunk-data lengths to `body`. Chunk data is skipped
    /// by arithmetic; only the short framing lines are looked at byte by byte.
    pub(crate) fn advance(&mut self, bytes: &[u8], body: &mut u64, max_trailer: usize) -> ChunkResult {
        let mut i = 0;
        while i < bytes.len() {
            if let Chunk::Data { remaining } = self {
                let take = (*remaining).min((bytes.len() - i) as u64);
                *body += take;
                *remaining -= take;
                i += take as usize;
                if *remaining == 0 {
                    *self = Chunk::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            match self {
                Chunk::Size { value, digits, significant } => {
                    if let Some(d) = (b as char).to_digit(16) {
                        *digits += 1;
                        if *value > 0 || d > 0 {
                            *significant += 1;
                        }
                        if *digits > MAX_CHUNK_SIZE_DIGITS || *significant > MAX_CHUNK_SIGNIFICANT_DIGITS {
                            return ChunkResult::Bad(i - 1);
                        }
                        *value = (*value << 4) | u64::from(d);
                    } else if *digits == 0 {
                        return ChunkResult::Bad(i - 1);
                    } else if b == b'\n' {
                        *self = Self::after_size_line(*value);
                    } else if matches!(b, b';' | b' ' | b'\t' | b'\r') {
                        *self = Chunk::Ext { size: *value, len: 0 };
                    } else {
                        return ChunkResult::Bad(i - 1);
                    }
                }
                Chunk::Ext { size, len } => {
                    if b == b'\n' {
                        *self = Self::after_size_line(*size);
                    } else {
                        *len += 1;
                        if *len > MAX_CHUNK_EXT {
                            return ChunkResult::Bad(i - 1);
                        }
                    }
                }
                Chunk::DataCr => match b {
                    b'\r' => *self = Chunk::DataLf,
                    b'\n' => *self = Chunk::start(),
                    _ => return ChunkResult::Bad(i - 1),
                },
                Chunk::DataLf => match b {
                    b'\n' => *self = Chunk::start(),
                    _ => return ChunkResult::Bad(i - 1),
                },
                Chunk::Trailer { line_empty, len } => {
                    *len += 1;
                    if *len > max_trailer {
                        return ChunkResult::Bad(i - 1);
                    }
                    match b {
                        b'\n' if *line_empty => return ChunkResult::Done(i),
                        b'\n' => *line_empty = true,
                        b'\r' => {}
                        _ => *line_empty = false,
                    }
                }
                Chunk::Data { .. } => unreachable!("handled above"),
            }
        }
        ChunkResult::NeedMore
    }

    fn after_size_line(size: u64) -> Chunk {
        if size == 0 {
            Chunk::Trailer { line_empty: true, len: 0 }
        } else {
            Chunk::Data { remaining: size }
        }
    }
}

/// How the current body of a direction is delimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Length { remaining: u64 },
    Chunked(Chunk),
    /// Until the sender closes (responses only).
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Nothing decided about the connection yet: the first line is collected (bounded)
    /// until it is recognisably HTTP, TLS, HTTP/2 or something else.
    Detect,
    /// Between messages: empty lines are skipped, the next byte starts a head.
    Start,
    /// Inside a head; `buf` holds it if it spans segments.
    Head,
    Body(Body),
    /// Looking for a start line, at the beginning of a line (`buf` may hold part of a
    /// candidate).
    ResyncLine,
    /// Looking for a start line, inside a line that is not one.
    ResyncSkip,
    /// CONNECT 2xx / 101: bytes are counted, not parsed.
    Tunnel,
    /// Nothing more is parsed in this direction.
    Stopped,
}

pub(crate) enum HeadStep {
    Partial,
    /// The head is complete: `len` bytes, in `buf` or at the start of the input.
    Ready { len: usize, in_buf: bool },
    /// The head cannot be parsed; `at_line_start` says whether the input was consumed
    /// up to a line boundary (so resync may look at the very next line).
    Bad { error: FramingError, at_line_start: bool },
}

pub(crate) enum Decision {
    NeedMore,
    NewRequest,
    Body,
}

/// Field lines of a head whose ends `step_head` remembers; a head with more lines
/// (rare: browsers send about 15) has its line ends searched for again when parsed.
const MAX_KNOWN_LINE_ENDS: usize = 24;

/// The offsets (from the head's first byte) of the `\n` ending each line after the
/// start line, noted while `step_head` looks for the end of the head, so that
/// `parse_head` does not search the same bytes for the same line ends again.
#[derive(Default)]
struct LineEnds {
    ends: [u16; MAX_KNOWN_LINE_ENDS],
    len: u8,
    /// More lines than `ends` holds, or a line ending past 64 KiB (heads can be
    /// longer with `--max-head-bytes`): the list is not whole.
    overflow: bool,
}

impl LineEnds {
    fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    fn push(&mut self, at: usize) {
        match (self.ends.get_mut(usize::from(self.len)), u16::try_from(at)) {
            (Some(slot), Ok(at)) => {
                *slot = at;
                self.len += 1;
            }
            _ => self.overflow = true,
        }
    }

    fn get(&self) -> Option<&[u16]> {
        (!self.overflow).then(|| &self.ends[..usize::from(self.len)])
    }
}

/// Head-buffer capacity a direction keeps between messages; bigger buffers (grown
/// by a head or candidate line longer than this) are freed once used.
const KEEP_BUF_CAPACITY: usize = 8 * 1024;

/// One direction of a connection.
pub(crate) struct Framer {
    pub dir: Dir,
    pub state: State,
    /// The incomplete head (or candidate line). One Vec per direction, reused: it is
    /// cleared, never dropped, so a warm connection does not allocate per packet.
    pub buf: Vec<u8>,
    /// Offset (within the head) where the current line began.
    line_start: usize,
    first_line_done: bool,
    /// The current head's start line as `step_head` parsed it (offsets from the
    /// head's first byte, which is `buf[0]` or the first byte `step_head` was given).
    /// Set only there; forgotten with the buffer.
    pub start: Option<ParsedStart>,
    /// Where the current head's field lines end, as `step_head` found them.
    line_ends: LineEnds,
    pub ts_first: Timestamp,
    /// Timestamp of the last byte that belonged to the current message.
    pub last_ts: Timestamp,
    pub body_bytes: u64,
    pub body_started: bool,
    pub framing: Framing,
    /// Request index of the message being read (client direction).
    pub msg_index: Option<u64>,
    /// The request carries `Expect: 100-continue` and its body has not started.
    pub expect_waiting: bool,
    /// ... and its final response has already arrived (the client may skip the body).
    pub expect_rejected: bool,
    pub tunnel_bytes: u64,
    /// Timestamp of the segment whose bytes began `buf` while a decision was pending
    /// (protocol detection, 100-continue), so they keep it when fed again.
    pub held_ts: Timestamp,
    /// Any bytes (not gaps) arrived in this direction yet.
    pub seen_data: bool,
    /// Length of the held candidate line when it was last checked.
    checked_len: usize,
    /// The current head was cut off by the end of the stream: its message cannot be
    /// complete whatever its framing says.
    pub cut_head: bool,
}

impl Framer {
    pub(crate) fn new(dir: Dir, state: State) -> Framer {
        Framer {
            dir,
            state,
            buf: Vec::new(),
            line_start: 0,
            first_line_done: false,
            start: None,
            line_ends: LineEnds::default(),
            ts_first: Timestamp::ZERO,
            last_ts: Timestamp::ZERO,
            body_bytes: 0,
            body_started: false,
            framing: Framing::None,
            msg_index: None,
            expect_waiting: false,
            expect_rejected: false,
            tunnel_bytes: 0,
            held_ts: Timestamp::ZERO,
            seen_data: false,
            checked_len: 0,
            cut_head: false,
        }
    }

    fn is_request(&self) -> bool {
        self.dir == Dir::ClientToServer
    }

    /// The verdict on a candidate start line at the start of `buf` or of a
    /// segment; a match's parse is kept (as offsets from the line's first byte,
    /// which is the head's) for the head parser.
    fn check_start_line(&self, line: &[u8]) -> (LineVerdict, Option<ParsedStart>) {
        parse_start_line(line, self.is_request())
    }

    /// Server direction while resynchronising: where a status line starts inside the
    /// current line, at or after `from`. After a gap the rest of a lost message
    /// (a body without a final newline) runs straight into the next status line, so
    /// looking only at line starts would skip it; `HTTP/1.` is distinctive enough to
    /// look for anywhere.
    fn status_line_inside(&self, bytes: &[u8], from: usize) -> Option<usize> {
        if self.is_request() || from >= bytes.len() {
            return None;
        }
        let line_end = memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |p| from + p);
        memchr::memmem::find(&bytes[from..line_end], b"HTTP/1.").map(|p| from + p)
    }

    /// Empties `buf`. Its capacity is kept for the next head (no allocation per
    /// message) unless one unusually large head grew it: then it is freed, so that a
    /// hostile capture cannot leave every one of up to `max_connections` idle
    /// connections holding a `max_head_bytes` buffer per direction.
    fn clear_buf(&mut self) {
        self.start = None;
        self.line_ends.clear();
        if self.buf.capacity() > KEEP_BUF_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    /// Forgets any partial head or candidate and looks for the next start line.
    pub(crate) fn resync(&mut self, at_line_start: bool) {
        self.clear_buf();
        self.state = if at_line_start { State::ResyncLine } else { State::ResyncSkip };
    }

    pub(crate) fn stop(&mut self) {
        self.clear_buf();
        self.state = State::Stopped;
    }

    pub(crate) fn error(&self, ts: Timestamp, error: FramingError, out: &mut Vec<HttpEvent>) {
        push_made(out, || HttpEvent::Error { dir: self.dir, ts, error });
    }

    /// Ends the current message; `last_ts` is its last byte.
    pub(crate) fn end_message(&mut self, complete: bool, out: &mut Vec<HttpEvent>) {
        push_made(out, || HttpEvent::MessageEnd {
            dir: self.dir,
            ts: self.last_ts,
            body_bytes: self.body_bytes,
            framing: self.framing,
            complete: complete && !self.cut_head,
        });
        self.body_bytes = 0;
        self.body_started = false;
        self.expect_waiting = false;
        self.expect_rejected = false;
        self.msg_index = None;
    }

    /// What `step_head` found in the current head, for the head parser.
    pub(crate) fn notes(&self) -> FramerNotes<'_> {
        FramerNotes { start: self.start, line_ends: self.line_ends.get() }
    }

    /// Inside a head whose start line was valid (its fields may be incomplete).
    pub(crate) fn has_start_line(&self) -> bool {
        self.state == State::Head && self.first_line_done && !self.buf.is_empty()
    }

    /// A complete head at `ts` was taken (parsed or not): the next bytes start a
    /// message.
    pub(crate) fn head_done(&mut self, ts: Timestamp) {
        self.head_consumed();
        self.last_ts = ts;
        self.state = State::Start;
    }

    /// A complete head at `ts` did not parse: reported, and the direction looks for
    /// the next start line.
    pub(crate) fn head_failed(&mut self, ts: Timestamp, error: FramingError, out: &mut Vec<HttpEvent>) {
        self.head_done(ts);
        self.error(ts, error, out);
        self.resync(true);
    }

    /// Head done: prepares for the next head (the buffer keeps a usual capacity).
    pub(crate) fn head_consumed(&mut self) {
        self.clear_buf();
        self.line_start = 0;
        self.first_line_done = false;
    }

    /// Skips empty lines between messages (RFC 9112 §2.2); the first other byte
    /// starts a head. Returns the bytes consumed.
    pub(crate) fn step_start(&mut self, bytes: &[u8], ts: Timestamp) -> usize {
        self.start = None;
        let skipped = bytes.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        if skipped < bytes.len() {
            self.state = State::Head;
            self.head_consumed();
            self.ts_first = ts;
        }
        skipped
    }

    /// Scans only the new bytes for line ends: the start line is validated as soon as
    /// it is whole (so garbage is rejected early, not after 64 KiB), the head ends at
    /// the first empty line (CRLF or bare LF, in any mixture), or right after the
    /// request line of an HTTP/0.9 request. Only an incomplete head is copied.
    pub(crate) fn step_head(&mut self, new: &[u8], max_head: usize) -> (usize, HeadStep) {
        let base = self.buf.len();
        let mut copied = 0usize;
        let mut end = None;
        for p in Newlines::new(new) {
            let abs = base + p;
            if abs >= max_head {
                break;
            }
            if !self.first_line_done {
                self.first_line_done = true;
                let (verdict, start) = if base == 0 {
                    parse_start_line(&new[..=p], self.is_request())
                } else {
                    self.buf.extend_from_slice(&new[..=p]);
                    copied = p + 1;
                    parse_start_line(&self.buf, self.is_request())
                };
                self.start = start;
                match verdict {
                    LineVerdict::Match { http09, .. } => {
                        self.line_start = abs + 1;
                        if http09 {
                            end = Some(p + 1);
                            break;
                        }
                    }
                    _ => {
                        return (p + 1, HeadStep::Bad { error: FramingError::MalformedHead, at_line_start: true });
                    }
                }
                continue;
            }
            self.line_ends.push(abs);
            let line_len = abs - self.line_start;
            let before = if p > 0 { new.get(p - 1) } else { self.buf.get(base.wrapping_sub(1)) };
            let empty = line_len == 0 || (line_len == 1 && before == Some(&b'\r'));
            self.line_start = abs + 1;
            if empty {
                end = Some(p + 1);
                break;
            }
        }
        let take = end.unwrap_or(new.len());
        if base + take > max_head {
            // Without an end in sight, consume only up to the limit: the rest is
            // searched for the next start line, which may sit in this very segment.
            let consumed = if end.is_some() { take } else { max_head.saturating_sub(base).min(take) };
            return (consumed, HeadStep::Bad { error: FramingError::HeadTooLong, at_line_start: end.is_some() });
        }
        match end {
            Some(n) if base == 0 => (n, HeadStep::Ready { len: n, in_buf: false }),
            Some(n) => {
                self.buf.extend_from_slice(&new[copied..n]);
                (n, HeadStep::Ready { len: self.buf.len(), in_buf: true })
            }
            None => {
                self.buf.extend_from_slice(&new[copied..]);
                (new.len(), HeadStep::Partial)
            }
        }
    }

    /// Counts body bytes. Returns the bytes consumed (all of them unless the body ends
    /// or breaks inside `bytes`).
    pub(crate) fn step_body(&mut self, bytes: &[u8], ts: Timestamp, max_trailer: usize, out: &mut Vec<HttpEvent>) -> usize {
        if !self.body_started {
            self.body_started = true;
            self.expect_waiting = false;
            self.expect_rejected = false;
            push_made(out, || HttpEvent::BodyStart { dir: self.dir, ts });
        }
        self.last_ts = ts;
        match &mut self.state {
            State::Body(Body::Length { remaining }) => {
                let take = (*remaining).min(bytes.len() as u64);
                *remaining -= take;
                self.body_bytes += take;
                if *remaining == 0 {
                    self.end_message(true, out);
                    self.state = State::Start;
                }
                take as usize
            }
            State::Body(Body::Close) => {
                self.body_bytes += bytes.len() as u64;
                bytes.len()
            }
            State::Body(Body::Chunked(chunk)) => match chunk.advance(bytes, &mut self.body_bytes, max_trailer) {
                ChunkResult::NeedMore => bytes.len(),
                ChunkResult::Done(n) => {
                    self.end_message(true, out);
                    self.state = State::Start;
                    n
                }
                ChunkResult::Bad(n) => {
                    self.error(ts, FramingError::BadChunk, out);
                    self.end_message(false, out);
                    // The offending byte may begin the next message: look at it again.
                    self.resync(true);
                    n
                }
            },
            // Not reachable from `conn`; consuming everything keeps the caller's loop finite.
            _ => bytes.len(),
        }
    }

    /// Skips bytes until a line that is a start line for this direction. On a match
    /// the line is kept in `buf` and the state becomes `Head`; `Some(http09)` is returned.
    pub(crate) fn step_resync(&mut self, bytes: &[u8], ts: Timestamp) -> (usize, Option<bool>) {
        if self.state == State::ResyncSkip {
            if let Some(at) = self.status_line_inside(bytes, 0) {
                self.state = State::ResyncLine;
                return (at, None);
            }
            return match memchr(b'\n', bytes) {
                Some(p) => {
                    self.state = State::ResyncLine;
                    (p + 1, None)
                }
                None => (bytes.len(), None),
            };
        }
        if self.buf.is_empty() {
            match self.check_start_line(bytes) {
                (LineVerdict::Match { len, http09 }, start) => {
                    self.buf.extend_from_slice(&bytes[..len]);
                    self.ts_first = ts;
                    self.enter_head_after_line();
                    self.start = start;
                    (len, Some(http09))
                }
                (LineVerdict::No, _) => match (self.status_line_inside(bytes, 1), memchr(b'\n', bytes)) {
                    (Some(at), _) => (at, None),
                    (None, Some(p)) => (p + 1, None),
                    (None, None) => {
                        self.state = State::ResyncSkip;
                        (bytes.len(), None)
                    }
                },
                (LineVerdict::NeedMore, _) if bytes.len() >= MAX_CANDIDATE_LINE => {
                    self.state = State::ResyncSkip;
                    (bytes.len(), None)
                }
                (LineVerdict::NeedMore, _) => {
                    self.buf.extend_from_slice(bytes);
                    self.checked_len = bytes.len();
                    self.ts_first = ts;
                    (bytes.len(), None)
                }
            }
        } else {
            let take = memchr(b'\n', bytes).map_or(bytes.len(), |p| p + 1);
            self.buf.extend_from_slice(&bytes[..take]);
            if !self.worth_rechecking(bytes[take - 1] == b'\n') {
                return (take, None);
            }
            match self.check_start_line(&self.buf) {
                (LineVerdict::Match { http09, .. }, start) => {
                    self.enter_head_after_line();
                    self.start = start;
                    (take, Some(http09))
                }
                (LineVerdict::No, _) => {
                    let at_line_start = bytes[take - 1] == b'\n';
                    self.resync(at_line_start);
                    (take, None)
                }
                (LineVerdict::NeedMore, _) if self.buf.len() >= MAX_CANDIDATE_LINE => {
                    self.resync(false);
                    (take, None)
                }
                (LineVerdict::NeedMore, _) => (take, None),
            }
        }
    }

    /// A held candidate line is re-parsed from its start, so with bytes trickling in
    /// one at a time checking on every arrival would be quadratic. Check when the
    /// line is whole, or when it has doubled since the last check: linear overall,
    /// and garbage is still rejected soon after it starts.
    fn worth_rechecking(&mut self, line_complete: bool) -> bool {
        let len = self.buf.len();
        if line_complete || len >= MAX_CANDIDATE_LINE || len >= 2 * self.checked_len {
            self.checked_len = len;
            true
        } else {
            false
        }
    }

    fn enter_head_after_line(&mut self) {
        self.start = None;
        self.line_ends.clear();
        self.state = State::Head;
        self.first_line_done = true;
        self.line_start = self.buf.len();
    }

    /// Protocol detection on the connection's first line (collected in `buf`, bounded).
    pub(crate) fn step_detect(&mut self, bytes: &[u8]) -> (usize, Option<super::Protocol>) {
        let room = MAX_CANDIDATE_LINE.saturating_sub(self.buf.len()).max(1);
        let take = memchr(b'\n', bytes).map_or(bytes.len(), |p| p + 1).min(room);
        let was_empty = self.buf.is_empty();
        self.buf.extend_from_slice(&bytes[..take]);
        if was_empty {
            self.checked_len = self.buf.len();
        } else if !self.worth_rechecking(bytes[take - 1] == b'\n') {
            return (take, None);
        }
        let verdict = detect(&self.buf);
        match verdict {
            None if self.buf.len() >= MAX_CANDIDATE_LINE => (take, Some(super::Protocol::Other)),
            v => (take, v),
        }
    }

    /// The 100-continue case: the final response came before any body byte. Do the
    /// client's next bytes start a request line (it dropped the body) or not (body)?
    pub(crate) fn step_decide(&mut self, bytes: &[u8]) -> (usize, Decision) {
        if self.buf.is_empty() {
            return match check_request_line(bytes) {
                LineVerdict::Match { .. } => (0, Decision::NewRequest),
                LineVerdict::No => (0, Decision::Body),
                LineVerdict::NeedMore if bytes.len() >= MAX_CANDIDATE_LINE => (0, Decision::Body),
                LineVerdict::NeedMore => {
                    self.buf.extend_from_slice(bytes);
                    self.checked_len = bytes.len();
                    (bytes.len(), Decision::NeedMore)
                }
            };
        }
        let take = memchr(b'\n', bytes).map_or(bytes.len(), |p| p + 1);
        self.buf.extend_from_slice(&bytes[..take]);
        if !self.worth_rechecking(bytes[take - 1] == b'\n') {
            return (take, Decision::NeedMore);
        }
        match check_request_line(&self.buf) {
            LineVerdict::Match { .. } => (take, Decision::NewRequest),
            LineVerdict::No => (take, Decision::Body),
            LineVerdict::NeedMore if self.buf.len() >= MAX_CANDIDATE_LINE => (take, Decision::Body),
            LineVerdict::NeedMore => (take, Decision::NeedMore),
        }
    }
}

/// What the first bytes of a connection are. `None`: not decided yet.
pub(crate) fn detect(first: &[u8]) -> Option<super::Protocol> {
    use super::parse::{looks_like_tls, H2_PREFACE_LINE};
    use super::Protocol;
    let start = first.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let b = &first[start..];
    if b.is_empty() {
        return None;
    }
    match looks_like_tls(b) {
        Some(true) => return Some(Protocol::Tls),
        None => return None,
        Some(false) => {}
    }
    if b.starts_with(H2_PREFACE_LINE) {
        return Some(Protocol::Http2);
    }
    if b.len() < H2_PREFACE_LINE.len() && H2_PREFACE_LINE.starts_with(b) {
        return None;
    }
    if b.starts_with(b"HTTP/1.") {
        return Some(Protocol::Http1);
    }
    match (check_request_line(b), check_status_line(b)) {
        (LineVerdict::Match { .. }, _) | (_, LineVerdict::Match { .. }) => Some(Protocol::Http1),
        // A whole first line that is not a start line but names the protocol (as
        // Wireshark's heuristic does) is broken HTTP, not another protocol.
        (LineVerdict::No, LineVerdict::No) if memchr(b'\n', b).is_some() && memchr::memmem::find(b, b"HTTP/1.").is_some() => {
            Some(Protocol::Http1)
        }
        (LineVerdict::No, LineVerdict::No) => Some(Protocol::Other),
        _ => None,
    }
}

#[cfg(test)]
mod buffer_tests {
    use super::*;

    #[test]
    fn a_large_head_buffer_is_freed_once_used_and_a_usual_one_kept() {
        let mut framer = Framer::new(Dir::ClientToServer, State::Start);
        framer.buf.extend_from_slice(&[b'a'; 60 * 1024]);
        framer.head_consumed();
        assert_eq!(framer.buf.capacity(), 0, "a 60 KiB buffer must not stay with an idle connection");
        framer.buf.extend_from_slice(&[b'a'; 1000]);
        let usual = framer.buf.capacity();
        framer.head_consumed();
        assert_eq!(framer.buf.capacity(), usual, "a usual buffer is reused");
        framer.buf.extend_from_slice(&[b'a'; 20 * 1024]);
        framer.resync(true);
        assert_eq!(framer.buf.capacity(), 0);
    }

    /// The line ends `step_head` notes for the head parser are every `\n` after the
    /// start line, however the head is split across segments; a head with more lines
    /// than are noted gives none, and the parser searches.
    #[test]
    fn noted_line_ends_are_those_of_the_head() {
        let many: Vec<u8> = [&b"GET / HTTP/1.1\r\n"[..], &b"A: b\r\n".repeat(MAX_KNOWN_LINE_ENDS), b"\r\n"].concat();
        let heads: [(&[u8], Dir); 4] = [
            (b"GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", Dir::ClientToServer),
            (b"HTTP/1.1 200 OK\nServer: x\n\n", Dir::ServerToClient),
            (b"HTTP/1.0 404\r\n\r\n", Dir::ServerToClient),
            (&many, Dir::ClientToServer),
        ];
        for (head, dir) in heads {
            let expected: Vec<u16> = memchr::memchr_iter(b'\n', head).skip(1).map(|p| p as u16).collect();
            for cut in 1..head.len() {
                let mut framer = Framer::new(dir, State::Head);
                let (n, step) = framer.step_head(&head[..cut], 64 * 1024);
                assert!(matches!(step, HeadStep::Partial), "cut {cut}");
                assert_eq!(n, cut);
                let noted_so_far = framer.notes().line_ends.map(<[u16]>::to_vec);
                let (_, step) = framer.step_head(&head[cut..], 64 * 1024);
                assert!(matches!(step, HeadStep::Ready { in_buf: true, .. }), "cut {cut}");
                if expected.len() > MAX_KNOWN_LINE_ENDS {
                    assert_eq!(framer.notes().line_ends, None);
                    continue;
                }
                assert_eq!(framer.notes().line_ends, Some(&expected[..]), "cut {cut}");
                let before: Vec<u16> = expected.iter().copied().filter(|&e| (e as usize) < cut).collect();
                assert_eq!(noted_so_far.unwrap_or_default(), before, "cut {cut}");
                framer.head_consumed();
                assert_eq!(framer.notes().line_ends, Some(&[][..]));
            }
        }
    }

    #[test]
    fn a_start_line_found_by_resync_is_kept_for_the_head_parser() {
        let ts = Timestamp(0);
        // Whole in one segment, then split across two: either way the head that
        // follows comes with its status line already parsed, and it fits that head.
        for cut in [40usize, 9] {
            let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            let mut framer = Framer::new(Dir::ServerToClient, State::Start);
            framer.resync(true);
            let (first, rest) = bytes.split_at(cut.min(bytes.len()));
            let (mut used, mut matched) = framer.step_resync(first, ts);
            if matched.is_none() {
                let (n, m) = framer.step_resync(rest, ts);
                (used, matched) = (cut + n, m);
            }
            assert_eq!(matched, Some(false), "cut {cut}");
            let Some(start @ ParsedStart::Status { status: 200, .. }) = framer.start else {
                panic!("no parsed status line kept (cut {cut}): {:?}", framer.start);
            };
            let (n, step) = framer.step_head(&bytes[used..], 64 * 1024);
            assert!(matches!(step, HeadStep::Ready { in_buf: true, .. }), "cut {cut}");
            assert_eq!(used + n, bytes.len());
            struct Ignore;
            impl super::super::parse::HeaderSink for Ignore {
                fn header(&mut self, _: &[u8], _: &[u8]) {}
                fn fold(&mut self, _: &[u8]) {}
            }
            let mut fields = Ignore;
            let line = super::super::parse::parse_head(&framer.buf, false, FramerNotes { start: Some(start), ..framer.notes() }, 10, &mut fields).unwrap();
            assert!(matches!(line, super::super::parse::StartLine::Status(l) if l.status == 200 && l.reason == b"OK"));
        }
    }
}
