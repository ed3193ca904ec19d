//! Link layers, stripped by hand down to the IP header.
//!
//! etherparse covers Ethernet and SLL but not SLL2, NULL/LOOP, PPP, PPPoE, MPLS or
//! LLC/SNAP, and its Ethernet path stops at three VLAN tags. Walking the link
//! headers here gives one small loop for every link type (and every number of tags)
//! and hands etherparse only the part it is good at: IP and TCP.
//!
//! Everything reads through `get`, so a short frame is an error value, never a panic.

use super::{DecodeError, LinkKind};

/// Which IP version the link header announced. A frame whose first nibble disagrees
/// is malformed (an EtherType of IPv4 in front of an IPv6 header, say).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum IpVersion {
    /// The link header does not say (raw IP, MPLS): trust the first nibble.
    Any,
    V4,
    V6,
}

/// Where the link layer led.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Network<'a> {
    /// An IP packet (starting at its header) and the folded VLAN tags in front of it.
    Ip {
        packet: &'a [u8],
        version: IpVersion,
        vlan: u32,
    },
    /// A well-formed frame that carries something other than IP (ARP, LLDP, IPX…).
    NotIp,
}

type LinkResult<'a> = Result<Network<'a>, DecodeError>;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100; // 802.1Q
const ETHERTYPE_QINQ: u16 = 0x88A8; // 802.1ad service tag
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100; // pre-standard QinQ, still seen on the wire
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
/// Below this value the Ethernet type field is an 802.3 length and an LLC header follows.
const ETHERTYPE_MIN: u16 = 0x0600;
/// The SLL protocol value Linux uses for frames that start with an 802.2 LLC header.
const SLL_PROTO_802_2: u16 = 0x0004;
/// SLL's ARPHRD type for netlink captures (`nlmon`): the protocol field is a netlink
/// family there, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// More tags than this is not a real network: stop rather than walk a crafted frame.
const MAX_LINK_HEADERS: usize = 8;

const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

// Address families of the BSD loopback header. IPv6 differs per BSD.
const AF_INET: u32 = 2;
const AF_INET6_BSD: u32 = 24; // NetBSD, OpenBSD
const AF_INET6_FREEBSD: u32 = 28;
const AF_INET6_DARWIN: u32 = 30;

/// Strips the link header(s) of `frame` as captured on a link of type `link`.
pub(super) fn strip(link: LinkKind, frame: &[u8]) -> LinkResult<'_> {
    match link {
        LinkKind::Ethernet => ethernet(frame),
        LinkKind::LinuxSll => sll(frame),
        LinkKind::LinuxSll2 => sll2(frame),
        LinkKind::Null => bsd_loopback(frame, false),
        LinkKind::Loop => bsd_loopback(frame, true),
        LinkKind::RawIp => Ok(ip(frame, IpVersion::Any, 0)),
        LinkKind::Ipv4 => Ok(ip(frame, IpVersion::V4, 0)),
        LinkKind::Ipv6 => Ok(ip(frame, IpVersion::V6, 0)),
        LinkKind::Ppp => ppp(frame, 0),
        LinkKind::Nflog => nflog(frame),
        LinkKind::Unsupported(_) => Err(DecodeError::UnsupportedLink),
    }
}

fn ip(packet: &[u8], version: IpVersion, vlan: u32) -> Network<'_> {
    Network::Ip {
        packet,
        version,
        vlan,
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn ethernet(frame: &[u8]) -> LinkResult<'_> {
    // dst MAC (6), src MAC (6), EtherType or 802.3 length (2).
    let ether_type = be16(frame, 12).ok_or(DecodeError::Link)?;
    let rest = frame.get(14..).ok_or(DecodeError::Link)?;
    by_ether_type(ether_type, rest, true)
}

fn sll(frame: &[u8]) -> LinkResult<'_> {
    // packet type (2), ARPHRD (2), address length (2), address (8), protocol (2).
    let arphrd = be16(frame, 2).ok_or(DecodeError::Link)?;
    let protocol = be16(frame, 14).ok_or(DecodeError::Link)?;
    let rest = frame.get(16..).ok_or(DecodeError::Link)?;
    cooked(arphrd, protocol, rest)
}

fn sll2(frame: &[u8]) -> LinkResult<'_> {
    // protocol (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1),
    // address length (1), address (8).
    let protocol = be16(frame, 0).ok_or(DecodeError::Link)?;
    let arphrd = be16(frame, 8).ok_or(DecodeError::Link)?;
    let rest = frame.get(20..).ok_or(DecodeError::Link)?;
    cooked(arphrd, protocol, rest)
}

/// The payload of a Linux cooked header, v1 or v2 (they carry the same fields).
fn cooked(arphrd: u16, protocol: u16, rest: &[u8]) -> LinkResult<'_> {
    if arphrd == ARPHRD_NETLINK {
        return Ok(Network::NotIp);
    }
    if protocol == SLL_PROTO_802_2 {
        return llc(rest, 0, 0);
    }
    if protocol < ETHERTYPE_MIN {
        // Other Linux pseudo-protocols (802.3 raw, CAN, …): not IP.
        return Ok(Network::NotIp);
    }
    by_ether_type(protocol, rest, false)
}

/// NULL (host byte order, so either order when reading someone else's file) and
/// LOOP (always network byte order): a 4-byte address family, then IP.
fn bsd_loopback(frame: &[u8], big_endian_only: bool) -> LinkResult<'_> {
    let af = frame.get(..4).ok_or(DecodeError::Link)?;
    let af = [af[0], af[1], af[2], af[3]];
    let rest = &frame[4..];
    let be = u32::from_be_bytes(af);
    let version = match af_version(be) {
        Some(v) => Some(v),
        None if !big_endian_only => af_version(u32::from_le_bytes(af)),
        None => None,
    };
    Ok(match version {
        Some(version) => ip(rest, version, 0),
        None => Network::NotIp,
    })
}

fn af_version(af: u32) -> Option<IpVersion> {
    match af {
        AF_INET => Some(IpVersion::V4),
        AF_INET6_BSD | AF_INET6_FREEBSD | AF_INET6_DARWIN => Some(IpVersion::V6),
        _ => None,
    }
}

/// NFLOG TLV type of the packet itself (`NFULA_PAYLOAD`).
const NFULA_PAYLOAD: u16 = 9;
const NFLOG_AF_INET: u8 = 2;
const NFLOG_AF_INET6: u8 = 10;
/// More TLVs than this before the payload is not a real record.
const MAX_NFLOG_TLVS: usize = 64;

/// NFLOG: family (1), version (1), resource id (2), then TLVs of `length (2), type
/// (2), value`, each padded to 4 bytes. Length and type are in the byte order of the
/// host that captured, which the file does not record: little-endian is tried first
/// (almost every Linux host), big-endian when that cannot be a TLV.
fn nflog(frame: &[u8]) -> LinkResult<'_> {
    let family = *frame.first().ok_or(DecodeError::Link)?;
    let version = match family {
        NFLOG_AF_INET => IpVersion::V4,
        NFLOG_AF_INET6 => IpVersion::V6,
        _ => IpVersion::Any,
    };
    let mut at = 4usize;
    for _ in 0..MAX_NFLOG_TLVS {
        if at >= frame.len() {
            // A record without the packet (only metadata was logged).
            return Ok(Network::NotIp);
        }
        let raw = frame.get(at..).and_then(|rest| rest.get(..4)).ok_or(DecodeError::Link)?;
        let room = frame.len() - at;
        let little = (u16::from_le_bytes([raw[0], raw[1]]), u16::from_le_bytes([raw[2], raw[3]]));
        let big = (u16::from_be_bytes([raw[0], raw[1]]), u16::from_be_bytes([raw[2], raw[3]]));
        let fits = |len: u16| usize::from(len) >= 4 && usize::from(len) <= room;
        let (length, kind) = if fits(little.0) {
            little
        } else if fits(big.0) {
            big
        } else {
            return Err(DecodeError::Link);
        };
        let length = usize::from(length);
        // The top bits of the type are netlink flags (nested, byte order).
        if kind & 0x3fff == NFULA_PAYLOAD {
            return Ok(ip(&frame[at + 4..at + length], version, 0));
        }
        at += length.next_multiple_of(4);
    }
    Err(DecodeError::Link)
}

/// Adds one 12-bit VLAN id to the folded value: two tags fit side by side, a third
/// pushes the outermost one's high bits out (collisions need three stacked tags).
fn fold_vlan(folded: u32, tci: u16) -> u32 {
    (folded << 12) | u32::from(tci & 0x0fff)
}

/// Follows an EtherType through VLAN tags, PPPoE, MPLS and LLC/SNAP to IP.
/// `length_field_is_llc`: on Ethernet a type value below 0x0600 is an 802.3 length
/// and an LLC header follows.
fn by_ether_type(ether_type: u16, rest: &[u8], length_field_is_llc: bool) -> LinkResult<'_> {
    let mut ether_type = ether_type;
    let mut rest = rest;
    let mut vlan = 0u32;
    for _ in 0..MAX_LINK_HEADERS {
        match ether_type {
            ETHERTYPE_IPV4 => return Ok(ip(rest, IpVersion::V4, vlan)),
            ETHERTYPE_IPV6 => return Ok(ip(rest, IpVersion::V6, vlan)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
                // TCI (PCP, DEI, 12-bit id), then the next EtherType.
                let tci = be16(rest, 0).ok_or(DecodeError::Link)?;
                ether_type = be16(rest, 2).ok_or(DecodeError::Link)?;
                rest = &rest[4..];
                vlan = fold_vlan(vlan, tci);
            }
            ETHERTYPE_PPPOE_SESSION => return pppoe_session(rest, vlan),
            ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST => return mpls(rest, vlan),
            t if t < ETHERTYPE_MIN && length_field_is_llc => return llc(rest, vlan, t),
            _ => return Ok(Network::NotIp),
        }
    }
    Ok(Network::NotIp)
}

/// 802.2 LLC; only SNAP (AA AA 03, OUI, EtherType) can carry IP for us.
/// `length` is the 802.3 length field (0 when unknown): it trims Ethernet padding.
fn llc(rest: &[u8], vlan: u32, length: u16) -> LinkResult<'_> {
    let rest = match usize::from(length) {
        0 => rest,
        n => rest.get(..n).unwrap_or(rest),
    };
    let header = rest.get(..3).ok_or(DecodeError::Link)?;
    if header != [0xAA, 0xAA, 0x03] {
        return Ok(Network::NotIp);
    }
    let ether_type = be16(rest, 6).ok_or(DecodeError::Link)?;
    match ether_type {
        ETHERTYPE_IPV4 => Ok(ip(&rest[8..], IpVersion::V4, vlan)),
        ETHERTYPE_IPV6 => Ok(ip(&rest[8..], IpVersion::V6, vlan)),
        _ => Ok(Network::NotIp),
    }
}

/// PPPoE session stage: version/type 0x11, code 0, session id, length, then PPP.
fn pppoe_session(rest: &[u8], vlan: u32) -> LinkResult<'_> {
    let header = rest.get(..6).ok_or(DecodeError::Link)?;
    if header[0] != 0x11 || header[1] != 0x00 {
        return Err(DecodeError::Link);
    }
    // The PPPoE length covers the PPP protocol field and payload; it trims padding.
    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let payload = &rest[6..];
    let payload = payload.get(..length).unwrap_or(payload);
    ppp_protocol(payload, vlan)
}

/// DLT_PPP / PPP_HDLC: optional address+control (FF 03), then the protocol.
fn ppp(frame: &[u8], vlan: u32) -> LinkResult<'_> {
    let rest = match frame {
        [0xFF, 0x03, rest @ ..] => rest,
        _ => frame,
    };
    ppp_protocol(rest, vlan)
}

/// A PPP protocol field (2 bytes, or 1 when compressed: odd first byte) and payload.
fn ppp_protocol(rest: &[u8], vlan: u32) -> LinkResult<'_> {
    let first = *rest.first().ok_or(DecodeError::Link)?;
    let (protocol, payload) = if first & 1 == 1 {
        (u16::from(first), &rest[1..])
    } else {
        (be16(rest, 0).ok_or(DecodeError::Link)?, &rest[2..])
    };
    Ok(match protocol {
        PPP_IPV4 => ip(payload, IpVersion::V4, vlan),
        PPP_IPV6 => ip(payload, IpVersion::V6, vlan),
        _ => Network::NotIp,
    })
}

/// MPLS label stack entries (4 bytes each) up to the bottom-of-stack bit. The payload
/// type is not announced: IP is recognised by its version nibble; anything else
/// (pseudowires, control words) is not followed.
fn mpls(rest: &[u8], vlan: u32) -> LinkResult<'_> {
    let mut rest = rest;
    for _ in 0..MAX_LINK_HEADERS {
        let entry = rest.get(..4).ok_or(DecodeError::Link)?;
        let bottom_of_stack = entry[2] & 0x01 == 1;
        rest = &rest[4..];
        if bottom_of_stack {
            return Ok(match rest.first().map(|b| b >> 4) {
                Some(4) => ip(rest, IpVersion::V4, vlan),
                Some(6) => ip(rest, IpVersion::V6, vlan),
                _ => Network::NotIp,
            });
        }
    }
    Ok(Network::NotIp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &[u8] = &[0x45, 0, 0, 20];

    fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn vlan_tags_fold_and_any_depth_is_walked() {
        let mut inner = vec![];
        for id in [10u16, 20, 30, 40] {
            inner.extend_from_slice(&id.to_be_bytes());
            inner.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        }
        // The last tag must announce IPv4, not another VLAN.
        let n = inner.len();
        inner[n - 2..].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        inner.extend_from_slice(IP);
        let frame = eth(ETHERTYPE_QINQ, &inner);
        match strip(LinkKind::Ethernet, &frame).unwrap() {
            Network::Ip {
                packet,
                version,
                vlan,
            } => {
                assert_eq!(packet, IP);
                assert_eq!(version, IpVersion::V4);
                let expected = fold_vlan(fold_vlan(fold_vlan(fold_vlan(0, 10), 20), 30), 40);
                assert_eq!(vlan, expected);
            }
            other => panic!("{other:?}"),
        }
        // Two tags keep both ids whole.
        assert_eq!(fold_vlan(fold_vlan(0, 100), 200), (100 << 12) | 200);
        // PCP/DEI bits are not part of the id.
        assert_eq!(fold_vlan(0, 0xE00A), 10);
    }

    #[test]
    fn endless_vlan_tags_stop() {
        let mut inner = vec![];
        for _ in 0..100 {
            inner.extend_from_slice(&[0, 1, 0x81, 0x00]);
        }
        let frame = eth(ETHERTYPE_VLAN, &inner);
        assert_eq!(strip(LinkKind::Ethernet, &frame), Ok(Network::NotIp));
    }

    #[test]
    fn truncated_link_headers_are_link_errors() {
        assert_eq!(strip(LinkKind::Ethernet, &[0; 13]), Err(DecodeError::Link));
        assert_eq!(
            strip(LinkKind::Ethernet, &eth(ETHERTYPE_VLAN, &[0, 1])),
            Err(DecodeError::Link)
        );
        assert_eq!(strip(LinkKind::LinuxSll, &[0; 15]), Err(DecodeError::Link));
        assert_eq!(strip(LinkKind::LinuxSll2, &[0; 19]), Err(DecodeError::Link));
        assert_eq!(strip(LinkKind::Null, &[2, 0, 0]), Err(DecodeError::Link));
        assert_eq!(strip(LinkKind::Ppp, &[0xFF, 0x03]), Err(DecodeError::Link));
        assert_eq!(
            strip(LinkKind::Ethernet, &eth(ETHERTYPE_MPLS_UNICAST, &[0, 0, 0])),
            Err(DecodeError::Link)
        );
        assert_eq!(
            strip(LinkKind::Unsupported(129), IP),
            Err(DecodeError::UnsupportedLink)
        );
    }

    #[test]
    fn null_accepts_both_byte_orders_and_loop_only_network_order() {
        for af in [2u32, 24, 28, 30] {
            for bytes in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut f = bytes.to_vec();
                f.extend_from_slice(IP);
                assert!(
                    matches!(strip(LinkKind::Null, &f), Ok(Network::Ip { .. })),
                    "{af}"
                );
            }
        }
        let mut f = 2u32.to_le_bytes().to_vec();
        f.extend_from_slice(IP);
        assert_eq!(strip(LinkKind::Loop, &f), Ok(Network::NotIp));
        f[..4].copy_from_slice(&2u32.to_be_bytes());
        assert!(matches!(
            strip(LinkKind::Loop, &f),
            Ok(Network::Ip {
                version: IpVersion::V4,
                ..
            })
        ));
        // AF 7 (OSI) is not IP.
        f[..4].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(strip(LinkKind::Null, &f), Ok(Network::NotIp));
    }

    #[test]
    fn pppoe_mpls_and_snap_reach_ip() {
        // PPPoE session, PPP IPv4; the PPPoE length trims trailing padding.
        let mut p = vec![
            0x11,
            0x00,
            0x12,
            0x34,
            0x00,
            (2 + IP.len()) as u8,
            0x00,
            0x21,
        ];
        p.extend_from_slice(IP);
        p.extend_from_slice(&[0; 6]);
        let f = eth(ETHERTYPE_PPPOE_SESSION, &p);
        assert_eq!(
            strip(LinkKind::Ethernet, &f),
            Ok(Network::Ip {
                packet: IP,
                version: IpVersion::V4,
                vlan: 0
            })
        );
        // PPPoE carrying LCP is not IP.
        let f = eth(ETHERTYPE_PPPOE_SESSION, &[0x11, 0, 0, 1, 0, 2, 0xC0, 0x21]);
        assert_eq!(strip(LinkKind::Ethernet, &f), Ok(Network::NotIp));

        // Two MPLS labels, the second with bottom-of-stack.
        let mut m = vec![0, 0x01, 0x00, 0x40, 0, 0x02, 0x01, 0x40];
        m.extend_from_slice(IP);
        let f = eth(ETHERTYPE_MPLS_UNICAST, &m);
        assert_eq!(
            strip(LinkKind::Ethernet, &f),
            Ok(Network::Ip {
                packet: IP,
                version: IpVersion::V4,
                vlan: 0
            })
        );

        // 802.3 length + LLC/SNAP + IPv4.
        let mut s = vec![0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];
        s.extend_from_slice(IP);
        let f = eth(s.len() as u16, &s);
        assert_eq!(
            strip(LinkKind::Ethernet, &f),
            Ok(Network::Ip {
                packet: IP,
                version: IpVersion::V4,
                vlan: 0
            })
        );
        // Plain LLC (spanning tree) is not IP.
        let f = eth(3, &[0x42, 0x42, 0x03]);
        assert_eq!(strip(LinkKind::Ethernet, &f), Ok(Network::NotIp));
    }

    #[test]
    fn ppp_with_and_without_address_control_and_compressed_protocol() {
        for prefix in [&[0xFF, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let mut f = prefix.to_vec();
            f.extend_from_slice(IP);
            assert_eq!(
                strip(LinkKind::Ppp, &f),
                Ok(Network::Ip {
                    packet: IP,
                    version: IpVersion::V4,
                    vlan: 0
                }),
                "{prefix:?}"
            );
        }
    }

    #[test]
    fn netlink_sll_is_not_ip() {
        let mut f = vec![0u8; 16];
        f[2..4].copy_from_slice(&ARPHRD_NETLINK.to_be_bytes());
        f[14..16].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(IP);
        assert_eq!(strip(LinkKind::LinuxSll, &f), Ok(Network::NotIp));
    }
}
