//! Stage 1: decode. A captured frame (link header, IP, TCP) becomes a borrowed
//! `TcpSegment` view, without allocating and without copying the payload.
//!
//! INTERFACE (fixed; other stages depend on it): `LinkKind`, `Endpoint`, `TcpFlags`,
//! `TcpSegment`, `Decoded`, `DecodeError`, `decode()`.

use std::fmt;
use std::net::IpAddr;

/// The link layer of a capture (or of one pcapng interface), from its DLT/LINKTYPE.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// 1: Ethernet II, with any number of 802.1Q / 802.1ad tags.
    Ethernet,
    /// 113: Linux cooked capture v1.
    LinuxSll,
    /// 276: Linux cooked capture v2.
    LinuxSll2,
    /// 0: BSD loopback, 4-byte address family in host byte order.
    Null,
    /// 108: OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
    /// 101 (and 12/14 as live DLTs): raw IPv4 or IPv6, version from the first nibble.
    RawIp,
    /// 228: raw IPv4.
    Ipv4,
    /// 229: raw IPv6.
    Ipv6,
    /// Anything else: counted and skipped.
    Unsupported(u32),
}

impl LinkKind {
    pub fn from_linktype(linktype: u32) -> LinkKind {
        todo_decode_from_linktype(linktype)
    }

    /// The libpcap name of the link type (`EN10MB`, `LINUX_SLL2`, …) for reports.
    pub fn name(self) -> String {
        todo_decode_name(self)
    }
}

#[allow(unused_variables)]
fn todo_decode_from_linktype(linktype: u32) -> LinkKind {
    unimplemented!("decode helper")
}
#[allow(unused_variables)]
fn todo_decode_name(kind: LinkKind) -> String {
    unimplemented!("decode helper")
}

/// One side of a TCP connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// `ip:port`, IPv6 as `[addr]:port`, as the JSON contract says.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{}:{}", a, self.port),
            IpAddr::V6(a) => write!(f, "[{}]:{}", a, self.port),
        }
    }
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

/// A decoded TCP segment, borrowing the frame.
#[derive(Copy, Clone, Debug)]
pub struct TcpSegment<'a> {
    pub src: Endpoint,
    pub dst: Endpoint,
    /// Outer VLAN tags folded into one number (0 when untagged), so the same
    /// 4-tuple on different VLANs stays different connections.
    pub vlan: u32,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// The payload's length on the wire (from the IP length). Larger than
    /// `payload.len()` when the snaplen cut the packet.
    pub payload_len: u32,
}

impl TcpSegment<'_> {
    pub fn is_truncated(&self) -> bool {
        (self.payload.len() as u64) < self.payload_len as u64
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The link header is cut short or unknown.
    Link,
    /// The IP header is cut short or invalid.
    Ip,
    /// The TCP header is cut short or invalid.
    Tcp,
    /// A link type keepscope does not decode.
    UnsupportedLink,
}

#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// A well-formed packet that carries no TCP (ARP, UDP, ICMP, IP fragments…).
    NotTcp,
    Malformed(DecodeError),
}

/// Decodes one frame. Never panics, never allocates.
#[allow(unused_variables)]
pub fn decode(link: LinkKind, frame: &[u8]) -> Decoded<'_> {
    unimplemented!("decode helper")
}
