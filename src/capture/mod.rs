//! Stage 0: packets in. Offline files (pcap, pcapng, gzip-compressed, `-` for stdin)
//! through libpcap, with a pcap-parser fallback for pcapng files whose interfaces
//! have different link types (libpcap refuses those). Live capture is in `live`.
//!
//! INTERFACE (fixed): `RawPacket`, `PacketSource`, `CaptureError`, `OfflineSource`.
//! Added: `live::{LiveConfig, LiveSource, PacketWriter, InterfaceInfo,
//! list_interfaces}` (re-exported here) and `CaptureError::Write`.
//!
//! Layout:
//! - `input`: opens a path or `-`, sniffs the magic, decompresses gzip on a pump
//!   thread into a pipe (libpcap wants a descriptor), puts sniffed stream bytes back.
//! - `offline`: `OfflineSource`, one reader per file, libpcap first.
//! - `ng`: the pcap-parser reader for mixed-link-type pcapng (and pcapng streams).
//! - `bpf`: offline BPF filtering with libpcap's `pcap_offline_filter`, per link type.
//! - `live`: live capture (non-blocking handle + poll(2) + dispatch), `-w` writer.

use crate::decode::LinkKind;
use crate::time::Timestamp;

mod bpf;
mod input;
mod live;
mod ng;
mod offline;

pub use live::{list_interfaces, InterfaceInfo, LiveConfig, LiveSource, PacketWriter};
pub use offline::{open_libpcap_file, BufferedCapture};

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Copy, Clone, Debug)]
pub struct RawPacket<'a> {
    pub ts: Timestamp,
    /// Length on the wire; larger than `data.len()` when the snaplen cut the frame.
    pub wire_len: u32,
    pub link: LinkKind,
    pub data: &'a [u8],
}

/// Anything that yields packets: files, stdin, a live interface, a test's vector.
/// A lending iterator: the packet borrows the source until the next call.
pub trait PacketSource {
    /// `Ok(None)` at the end of input. A damaged tail is not an error: the source
    /// stops, records a warning (see `warnings`) and returns `Ok(None)`.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;
}

/// Errors that end a run. Each maps to the exit code of the interface spec.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: no such file")]
    NotFound { path: String },
    #[error("{path}: not a pcap or pcapng capture ({detail})")]
    NotACapture { path: String, detail: String },
    #[error("{path}: cannot read: {detail}")]
    Unreadable { path: String, detail: String },
    #[error("bad capture filter '{filter}': {detail}")]
    BadFilter { filter: String, detail: String },
    #[error("{iface}: capture not permitted: run as root, or grant the binary the capability: sudo setcap cap_net_raw,cap_net_admin+eip {binary}")]
    PermissionDenied { iface: String, binary: String },
    #[error("{iface}: no such capture interface (see 'keepscope interfaces')")]
    NoSuchDevice { iface: String },
    #[error("{iface}: capture failed: {detail}")]
    Live { iface: String, detail: String },
    /// Writing packets out (`-w OUT.pcap`) failed. (Added to the interface.)
    #[error("{path}: cannot write: {detail}")]
    Write { path: String, detail: String },
}

impl CaptureError {
    /// Exit status per the spec: 1 unreadable input, 2 usage (bad filter), 3 no permission.
    pub fn exit_code(&self) -> i32 {
        match self {
            CaptureError::BadFilter { .. } => 2,
            CaptureError::PermissionDenied { .. } => 3,
            CaptureError::NoSuchDevice { .. } => 1,
            _ => 1,
        }
    }
}

/// A libpcap timestamp read with nanosecond precision: `tv_usec` then holds
/// nanoseconds (libpcap scales microsecond files up).
#[allow(clippy::useless_conversion)] // time_t and suseconds_t are not i64 everywhere
fn nano_timeval(tv: &libc::timeval) -> Timestamp {
    Timestamp::from_secs_nanos(i64::from(tv.tv_sec), i64::from(tv.tv_usec))
}

/// libpcap's message without the crate's "libpcap error: " prefix: the CLI prints
/// these after the file or interface name.
fn pcap_detail(error: &pcap::Error) -> String {
    match error {
        pcap::Error::PcapError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Reads a list of capture files one after the other, in the order given.
/// `open`, the accessors and `next_packet` are in `offline.rs`.
pub struct OfflineSource {
    inputs: Vec<offline::Input>,
    /// Index of the input being read; `inputs.len()` once all are done.
    current: usize,
    /// The BPF expression, compiled per file (or per pcapng interface) link type.
    filter: Option<String>,
    links: Vec<LinkKind>,
    warnings: Vec<String>,
    truncated: bool,
}
