//! Stage 3: HTTP/1.x framing. Each direction of a connection is split into messages
//! incrementally (bytes may arrive split anywhere, down to one at a time); bodies are
//! counted, never stored; requests and responses are paired first-in, first-out.
//!
//! INTERFACE (fixed): `HttpConfig`, `Version`, `Framing`, `Protocol`, `RequestHead`,
//! `ResponseHead`, `HttpEvent`, `FramingError`, `Role`, `sniff_role`, `Http1Conn`
//! (new / on_data / on_missing / on_fin / finish / protocol).

mod conn;
mod framer;
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { max_head_bytes: 64 * 1024, max_headers: 256, max_pending_requests: 1024 }
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
    pub fn as_str(&self) -> String {
        match self {
            Version::Http09 => "HTTP/0.9".into(),
            Version::Http10 => "HTTP/1.0".into(),
            Version::Http11 => "HTTP/1.1".into(),
            Version::Other(a, b) => format!("HTTP/{a}.{b}"),
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

/// A parsed request head: the fields the analysis uses. Captured bytes that are
/// not UTF-8 are converted lossily; escaping for display happens in the views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub uri: String,
    pub version: Version,
    /// Header values as sent, repeated fields joined with ", ".
    pub connection: Option<String>,
    pub keep_alive: Option<String>,
    pub expect: Option<String>,
    pub host: Option<String>,
    pub upgrade: Option<String>,
    pub content_length: Option<String>,
    pub transfer_encoding: Option<String>,
    /// Bytes of the head, start line through the empty line.
    pub head_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub version: Version,
    pub connection: Option<String>,
    pub keep_alive: Option<String>,
    pub upgrade: Option<String>,
    pub content_length: Option<String>,
    pub transfer_encoding: Option<String>,
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
/// A line cut short counts once it is unambiguous: `METHOD SP` for a request,
/// `HTTP/` for a status line.
pub fn sniff_role(bytes: &[u8]) -> Role {
    use parse::{check_request_line, check_status_line, LineVerdict};
    let start = bytes.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let first = &bytes[start..];
    match check_request_line(first) {
        LineVerdict::Match { .. } => return Role::Request,
        LineVerdict::NeedMore if first.contains(&b' ') => return Role::Request,
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
    pub fn tunnel_bytes(&self, dir: Dir) -> u64 {
        self.inner.tunnel_bytes(dir)
    }
}
