//! Stage 3: HTTP/1.x framing. Each direction of a connection is split into messages
//! incrementally (bytes may arrive split anywhere, down to one at a time); bodies are
//! counted, never stored; requests and responses are paired first-in, first-out.
//!
//! INTERFACE (fixed): `HttpConfig`, `Version`, `Framing`, `Protocol`, `RequestHead`,
//! `ResponseHead`, `HttpEvent`, `FramingError`, `Role`, `sniff_role`, `Http1Conn`
//! (new / on_data / on_missing / on_fin / finish / protocol).
//! (Added: `Http1Conn::tunnel_bytes`.)
//!
//! Layout: `parse.rs` holds the nom 8 line parsers (start lines, header fields,
//! Content-Length), `framer.rs` the per-direction byte machine (head end search,
//! body counting, chunked decoding, resync), `lines.rs` the line-end search both of
//! them use, `conn.rs` what needs both directions (body length per RFC 9112 §6.3,
//! FIFO pairing, tunnels, 100-continue, detection).
//!
//! Behaviour worth knowing when consuming the events:
//! - **Heads** are found by scanning only newly arrived bytes for line ends; the start
//!   line is checked as soon as it is whole, the head is parsed once when its empty
//!   line arrives. A head split across segments is copied into one reusable buffer
//!   per direction; a head within one segment is parsed in place. Body bytes are
//!   never copied. Empty lines between messages are skipped.
//! - **Timestamps**: `ts_first` is the segment with the start line's first byte,
//!   `ts_head` the one completing the head; `MessageEnd.ts` is always the timestamp of
//!   the message's *last byte* (for a bodiless message, its head's), also when the end
//!   is only known later (a FIN ending a close-delimited body, `finish`).
//! - **BodyStart** marks the first byte after the head for messages that have a body,
//!   chunk-size lines included; `body_bytes` of a chunked message is the sum of its
//!   chunk sizes.
//! - **Tunnels** (101, 2xx to CONNECT): the response ends at its head with
//!   `Framing::Tunnel`, `body_bytes: 0`, `complete: true`, then `ProtocolDetected
//!   {Tunnel}`; later bytes of both directions are only counted (`tunnel_bytes`). Bytes
//!   the client sent before that response are still parsed as HTTP.
//! - **Expect: 100-continue**: if the final response (≥ 200) arrives before any body
//!   byte of a request that announced `100-continue` and a body, the client's next
//!   bytes are looked at first: if they form a request line, the client chose not to
//!   send the body, so that request ends with `body_bytes: 0`, `complete: true` (at
//!   its head's timestamp) and the new request is parsed; otherwise they are body.
//! - **Losses** (`on_missing`): inside a Content-Length or close-delimited body the
//!   gap counts as body and the message still ends `complete: true` (the length
//!   fixes the end, so the framing survives); a gap that runs past the end of a
//!   Content-Length body ends it and then desynchronises. In a head, between
//!   messages or in a chunked body: `Error{Desync}`, an open message ends
//!   `complete: false`, and the direction resynchronises at the next request line
//!   (client) or status line (server). `in_sync: false` starts both directions there.
//! - **Errors**: `MalformedHead`, `HeadTooLong` and `BadChunk` resynchronise;
//!   `BadContentLength` (also used for a request whose Transfer-Encoding does not end
//!   in chunked, RFC 9112 §6.3 rule 4) ends the message `complete: false` and stops
//!   parsing that direction.
//! - **HTTP/0.9**: `GET /path` without a version is a complete request. When the
//!   server's bytes do not start with `H` (or `h`) and the oldest waiting request is
//!   0.9, or no response has been seen yet on the connection, a response head with
//!   status 0, version 0.9 and no fields stands for the bare close-delimited answer.
//! - **Leniency** (captured traffic is not always conformant): bare LF line endings,
//!   the `HTTP` name in any case,
//!   empty lines between messages, obs-fold, spaces inside a request-target (the
//!   version is the line's last word), empty Transfer-Encoding list elements, a
//!   request line without a target (`OPTIONS HTTP/1.1`: empty `uri`), a truncated
//!   version (`HTTP/1.` reads as 1.0), the version-less form with any upper-case
//!   method and a `/path` (HTTP/0.9 form), field lines without any colon (skipped).
//!   Field lines with whitespace before the colon are `MalformedHead`.
//! - **A client whose first line is not HTTP** before the server has spoken: the
//!   server's first line decides. A status line makes the connection HTTP (the
//!   client's line is `MalformedHead`, its answer is kept, unpaired); anything else,
//!   or nothing by `finish`, makes it `Other`.
//! - **End of stream inside a head**: if the start line was whole, the head is
//!   parsed as it stands and its message ends `complete: false`; a partial start line
//!   is dropped.
//! - **Detection**: on the connection's first line (bounded at 8 KiB): a TLS record
//!   header, the HTTP/2 preface or anything that cannot become a request or status
//!   line stops parsing of both directions (`ProtocolDetected{Tls|Http2|Other}`).

mod conn;
mod framer;
mod lines;
pub(crate) mod parse;
#[cfg(test)]
mod tests;

use crate::tcp::Dir;
use crate::time::Timestamp;

#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Longest message head (start line plus headers) buffered; longer is malformed.
    pub max_head_bytes: usize,
    /// Most header fields in one head; more is malformed.
    pub max_headers: usize,
    /// Most requests waiting for their response; beyond it the oldest is given up
    /// (reported unanswered).
    pub max_pending_requests: usize,
    /// Partial heads buffered over all connections together. Each direction's head
    /// is bounded by `max_head_bytes`; this bounds their sum, so hostile captures with
    /// many connections that each hold an unfinished head cannot grow memory without
    /// limit. Kept by the analysis (`Http1Conn::buffered_bytes` / `shed`).
    pub max_buffered_total: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { max_head_bytes: 64 * 1024, max_headers: 256, max_pending_requests: 1024, max_buffered_total: 64 << 20 }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Version {
    Http09,
    Http10,
    Http11,
    /// `HTTP/x.y` other than the above (kept so the report can show it).
    Other(u8, u8),
}

impl Version {
    /// The version as written (`HTTP/1.1`); the usual ones without allocating, and
    /// made at compile time (see `conn::known`: made at run time, the JSON writer
    /// waited on each).
    pub fn as_str(&self) -> Text {
        const HTTP09: Text = Text::const_new("HTTP/0.9");
        const HTTP10: Text = Text::const_new("HTTP/1.0");
        const HTTP11: Text = Text::const_new("HTTP/1.1");
        match self {
            Version::Http09 => HTTP09,
            Version::Http10 => HTTP10,
            Version::Http11 => HTTP11,
            Version::Other(a, b) => compact_str::format_compact!("HTTP/{a}.{b}"),
        }
    }
}

/// How a message body's length was determined (RFC 9112 §6.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    Chunked,
    CloseDelimited,
    /// No body by rule: HEAD, 1xx, 204, 304 (and requests without length headers).
    None,
    /// After CONNECT 2xx or 101: bytes are counted, not parsed.
    Tunnel,
}

impl Framing {
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::ContentLength => "content-length",
            Framing::Chunked => "chunked",
            Framing::CloseDelimited => "close-delimited",
            Framing::None => "none",
            Framing::Tunnel => "tunnel",
        }
    }
}

/// What a connection carries, by content.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Nothing decided yet (no payload so far).
    Unknown,
    Http1,
    Tls,
    Http2,
    /// HTTP/1 that turned into a tunnel (CONNECT 2xx, 101 Switching Protocols).
    Tunnel,
    Other,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Unknown => "empty",
            Protocol::Http1 => "http1",
            Protocol::Tls => "tls",
            Protocol::Http2 => "http2",
            Protocol::Tunnel => "tunnel",
            Protocol::Other => "other",
        }
    }
}

/// Captured text: the usual values (`GET`, `OK`, `keep-alive`, …) point at static
/// strings and anything up to 24 bytes (`/`, `127.0.0.1:8080`, a Content-Length)
/// is stored inline, so a typical exchange allocates nothing for its text; longer
/// text goes to the heap. Same size as a `String`.
pub type Text = compact_str::CompactString;

/// A parsed request head: the fields the analysis uses. Captured bytes that are
/// not UTF-8 are converted lossily; escaping for display happens in the views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Text,
    pub uri: Text,
    pub version: Version,
    /// Header values as sent, repeated fields joined with ", ".
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
    pub expect: Option<Text>,
    /// Bytes of the head, start line through the empty line.
    pub head_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Text,
    pub version: Version,
    pub connection: Option<Text>,
    pub keep_alive: Option<Text>,
    pub head_bytes: u32,
}

/// Why a direction stopped being parsed (or a message was abandoned).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Head longer than `max_head_bytes`, or too many headers.
    HeadTooLong,
    /// Start line or header that does not parse.
    MalformedHead,
    /// Invalid or conflicting Content-Length.
    BadContentLength,
    /// Bad chunk-size line.
    BadChunk,
    /// Bytes missing from the capture broke the framing; resynchronising.
    Desync,
    /// A response with no request waiting for it.
    UnsolicitedResponse,
    /// More requests pending than `max_pending_requests`; the oldest was given up.
    TooManyPending,
}

/// What the framer says of a connection, in order. An event is 152 bytes, the size
/// of a head's, even a `MessageEnd`: the framer makes each in its place in the list
/// (`crate::push_made`) rather than pushing a copy.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpEvent {
    /// A request head was parsed. `index` numbers the requests of the connection
    /// from 0. `ts_first`: first byte of the request line; `ts_head`: the packet that
    /// completed the head.
    RequestHead { index: u64, ts_first: Timestamp, ts_head: Timestamp, head: RequestHead },
    /// A response head. `answers` is the index of the request it answers (FIFO), or
    /// `None` when no request was waiting. Interim responses (1xx other than 101)
    /// carry the index of the request they precede and do not consume it.
    ResponseHead { answers: Option<u64>, interim: bool, ts_first: Timestamp, ts_head: Timestamp, head: ResponseHead },
    /// The first body byte of the current message in `dir` arrived.
    BodyStart { dir: Dir, ts: Timestamp },
    /// The current message in `dir` ended (interim responses have no end event).
    /// `complete` is false when the connection ended or bytes went missing before
    /// the framing said the message was over; `body_bytes` then counts what was seen.
    MessageEnd { dir: Dir, ts: Timestamp, body_bytes: u64, framing: Framing, complete: bool },
    /// The connection's protocol was recognised (or changed, to Tunnel).
    ProtocolDetected { protocol: Protocol, ts: Timestamp },
    /// Something in `dir` could not be framed.
    Error { dir: Dir, ts: Timestamp, error: FramingError },
}

/// Which kind of message a byte run starts with, for choosing roles on connections
/// whose SYN was not captured.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Request,
    Response,
    Unknown,
}

/// Looks at the first bytes a side sent: a request line, a status line, or neither.
/// A line cut short counts once it is unambiguous: an upper-case `METHOD SP` for a
/// request, `HTTP/` for a status line.
pub fn sniff_role(bytes: &[u8]) -> Role {
    use parse::{check_request_line, check_status_line, LineVerdict};
    let start = bytes.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let first = &bytes[start..];
    match check_request_line(first) {
        LineVerdict::Match { .. } => return Role::Request,
        // An unfinished line: only trust a conventional (upper-case) method, so that
        // e.g. an SMTP "220 ..." greeting is not taken for a request.
        LineVerdict::NeedMore
            if first.iter().position(|&b| b == b' ').is_some_and(|sp| {
                first[..sp].iter().all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            }) =>
        {
            return Role::Request
        }
        _ => {}
    }
    match check_status_line(first) {
        LineVerdict::Match { .. } => Role::Response,
        LineVerdict::NeedMore if first.len() >= 5 => Role::Response,
        _ => Role::Unknown,
    }
}

/// HTTP/1.x state of one connection: two direction framers and the FIFO of
/// pending requests. Requests travel `Dir::ClientToServer`.
pub struct Http1Conn {
    inner: conn::Conn,
}

impl Http1Conn {
    /// `in_sync` is false when the capture started mid-connection: each direction
    /// then skips bytes until a line that starts a message.
    pub fn new(config: HttpConfig, in_sync: bool) -> Http1Conn {
        Http1Conn { inner: conn::Conn::new(config, in_sync) }
    }

    /// Feeds the next in-order bytes of `dir`; events are appended to `out`.
    pub fn on_data(&mut self, dir: Dir, ts: Timestamp, bytes: &[u8], out: &mut Vec<HttpEvent>) {
        self.inner.on_data(dir, ts, bytes, out)
    }

    /// `len` bytes of `dir` were not captured.
    pub fn on_missing(&mut self, dir: Dir, ts: Timestamp, len: u64, out: &mut Vec<HttpEvent>) {
        self.inner.on_missing(dir, ts, len, out)
    }

    /// Side `dir` sent FIN (or RST): a close-delimited body ends here.
    pub fn on_fin(&mut self, dir: Dir, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        self.inner.on_fin(dir, ts, out)
    }

    /// The connection ended: messages still open end with `complete: false`.
    pub fn finish(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        self.inner.finish(ts, out)
    }

    pub fn protocol(&self) -> Protocol {
        self.inner.protocol()
    }

    /// Bytes `dir` sent after the connection became a tunnel (CONNECT 2xx, 101); they
    /// are counted, not parsed. (Added beside the fixed interface.)
    /// Bytes of memory held for partial heads (both directions' buffers).
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffered_bytes()
    }

    /// Gives up any partial head (reported as `HeadTooLong`, then resynchronising)
    /// and frees the buffers: how the shared budget is kept, by refusing rather
    /// than growing.
    pub fn shed(&mut self, ts: Timestamp, out: &mut Vec<HttpEvent>) {
        self.inner.shed(ts, out)
    }

    pub fn tunnel_bytes(&self, dir: Dir) -> u64 {
        self.inner.tunnel_bytes(dir)
    }
}
