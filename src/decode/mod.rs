//! Stage 1: decode. A captured frame (link header, IP, TCP) becomes a borrowed
//! `TcpSegment` view, without allocating and without copying the payload.
//!
//! INTERFACE (fixed; other stages depend on it): `LinkKind`, `Endpoint`, `TcpFlags`,
//! `TcpSegment`, `Decoded`, `DecodeError`, `decode()`.

use std::fmt;
use std::net::IpAddr;

mod ip;
mod link;

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
    /// 9: PPP (and 50, PPP in HDLC-like framing): optional FF 03, then the PPP protocol.
    /// (Added to the interface: the corpus has a DLT_PPP capture with TCP.)
    Ppp,
    /// 239: Linux NFLOG (iptables log target): TLVs, one of which holds the IP packet.
    /// (Added to the interface: the corpus has HTTP captured over NFLOG.)
    Nflog,
    /// Anything else: counted and skipped.
    Unsupported(u32),
}

impl LinkKind {
    pub fn from_linktype(linktype: u32) -> LinkKind {
        match linktype {
            LINKTYPE_NULL => LinkKind::Null,
            LINKTYPE_ETHERNET => LinkKind::Ethernet,
            LINKTYPE_PPP | LINKTYPE_PPP_HDLC => LinkKind::Ppp,
            // 12 and 14 are DLT_RAW as live captures report it on some platforms;
            // files store 101 for both.
            LINKTYPE_RAW | DLT_RAW_12 | DLT_RAW_14 => LinkKind::RawIp,
            LINKTYPE_LOOP => LinkKind::Loop,
            LINKTYPE_LINUX_SLL => LinkKind::LinuxSll,
            LINKTYPE_IPV4 => LinkKind::Ipv4,
            LINKTYPE_NFLOG => LinkKind::Nflog,
            LINKTYPE_IPV6 => LinkKind::Ipv6,
            LINKTYPE_LINUX_SLL2 => LinkKind::LinuxSll2,
            other => LinkKind::Unsupported(other),
        }
    }

    /// The LINKTYPE number to write into a capture file for this link.
    pub fn linktype(self) -> u32 {
        match self {
            LinkKind::Ethernet => LINKTYPE_ETHERNET,
            LinkKind::LinuxSll => LINKTYPE_LINUX_SLL,
            LinkKind::LinuxSll2 => LINKTYPE_LINUX_SLL2,
            LinkKind::Null => LINKTYPE_NULL,
            LinkKind::Loop => LINKTYPE_LOOP,
            LinkKind::RawIp => LINKTYPE_RAW,
            LinkKind::Ipv4 => LINKTYPE_IPV4,
            LinkKind::Ipv6 => LINKTYPE_IPV6,
            LinkKind::Ppp => LINKTYPE_PPP,
            LinkKind::Nflog => LINKTYPE_NFLOG,
            LinkKind::Unsupported(n) => n,
        }
    }

    /// The libpcap name of the link type (`EN10MB`, `LINUX_SLL2`, …) for reports.
    pub fn name(self) -> String {
        let known = match self {
            LinkKind::Ethernet => "EN10MB",
            LinkKind::LinuxSll => "LINUX_SLL",
            LinkKind::LinuxSll2 => "LINUX_SLL2",
            LinkKind::Null => "NULL",
            LinkKind::Loop => "LOOP",
            LinkKind::RawIp => "RAW",
            LinkKind::Ipv4 => "IPV4",
            LinkKind::Ipv6 => "IPV6",
            LinkKind::Ppp => "PPP",
            LinkKind::Nflog => "NFLOG",
            LinkKind::Unsupported(n) => return format!("LINKTYPE_{n}"),
        };
        known.to_string()
    }

    /// Whether `decode` understands this link type.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkKind::Unsupported(_))
    }
}

// LINKTYPE_* values from the tcpdump.org registry.
const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_PPP: u32 = 9;
const DLT_RAW_12: u32 = 12;
const DLT_RAW_14: u32 = 14;
const LINKTYPE_PPP_HDLC: u32 = 50;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LOOP: u32 = 108;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_NFLOG: u32 = 239;
const LINKTYPE_LINUX_SLL2: u32 = 276;

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
            IpAddr::V4(a) => {
                let mut buf = [0u8; V4_TEXT_MAX];
                let len = v4_text(a, self.port, &mut buf);
                f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
            }
            IpAddr::V6(a) => write!(f, "[{}]:{}", a, self.port),
        }
    }
}

impl Endpoint {
    /// The `Display` form as a `String`, allocated once at its exact size: a
    /// report names two endpoints per connection, and `to_string` (the formatting
    /// machinery, then a string grown piece by piece) cost more than the rest of a
    /// short connection's record.
    pub fn to_text(&self) -> crate::http::Text {
        match self.ip {
            IpAddr::V4(a) => {
                let mut buf = [0u8; V4_TEXT_MAX];
                let len = v4_text(a, self.port, &mut buf);
                // Digits, dots and a colon: always UTF-8, and short enough to be
                // stored in place.
                match std::str::from_utf8(&buf[..len]) {
                    Ok(text) => text.into(),
                    Err(_) => self.to_string().into(),
                }
            }
            IpAddr::V6(_) => self.to_string().into(),
        }
    }
}

/// `255.255.255.255:65535`.
const V4_TEXT_MAX: usize = 21;

/// Writes `a:port` (digits and dots only) at the start of `buf`, by hand: `write!`
/// with `Ipv4Addr`'s own Display costs several times more. Returns the length.
fn v4_text(a: std::net::Ipv4Addr, port: u16, buf: &mut [u8; V4_TEXT_MAX]) -> usize {
    let mut len = 0;
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        len += decimal(octet.into(), &mut buf[len..]);
    }
    buf[len] = b':';
    len += 1;
    len + decimal(port, &mut buf[len..])
}

/// Writes `n` in decimal at the start of `out` (room for 5 digits); returns the
/// number of bytes written. Digits go straight to their places (no temporary and
/// copy: this runs five times per endpoint written).
fn decimal(n: u16, out: &mut [u8]) -> usize {
    let len = match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    };
    let mut n = n;
    for place in out[..len].iter_mut().rev() {
        *place = b'0' + (n % 10) as u8;
        n /= 10;
    }
    len
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
pub fn decode(link: LinkKind, frame: &[u8]) -> Decoded<'_> {
    match link::strip(link, frame) {
        Ok(link::Network::Ip {
            packet,
            version,
            vlan,
        }) => ip::decode_ip(packet, version, vlan, ip::Tunnels::Follow),
        Ok(link::Network::NotIp) => Decoded::NotTcp,
        Err(error) => Decoded::Malformed(error),
    }
}

#[cfg(test)]
mod tests;
