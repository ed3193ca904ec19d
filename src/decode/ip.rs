//! IP and TCP through etherparse's lax slicer: a packet cut by the snaplen is decoded
//! as far as it goes, and the IP length fields say how much TCP payload was on the
//! wire, so a cut segment becomes a hole of known size instead of a lost packet.

use std::net::IpAddr;

use etherparse::{IpNumber, LaxIpSlice, TcpSlice};

use super::link::IpVersion;
use super::{DecodeError, Decoded, Endpoint, TcpFlags, TcpSegment};

const IPV6_HEADER_LEN: usize = 40;
const TCP_MIN_HEADER_LEN: usize = 20;
/// IPv6 next-header value of the hop-by-hop options header.
const IPV6_HOP_BY_HOP: u8 = 0;
/// Hop-by-hop option type of the Jumbo Payload option (RFC 2675).
const OPTION_JUMBO: u8 = 0xC2;

/// Whether to look inside tunnels. Only the outermost packet does, so a crafted
/// tunnel inside a tunnel costs one level, not a recursion as deep as the frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Tunnels {
    Follow,
    Ignore,
}

/// Decodes an IP packet (starting at its header) that should carry TCP.
pub(super) fn decode_ip(
    packet: &[u8],
    version: IpVersion,
    vlan: u32,
    tunnels: Tunnels,
) -> Decoded<'_> {
    let Some(first) = packet.first() else {
        return Decoded::Malformed(DecodeError::Ip);
    };
    let nibble = first >> 4;
    let version_ok = match version {
        IpVersion::Any => true,
        IpVersion::V4 => nibble == 4,
        IpVersion::V6 => nibble == 6,
    };
    if !version_ok {
        return Decoded::Malformed(DecodeError::Ip);
    }
    // etherparse's lax IP slicer (the IP step of `LaxSlicedPacket::from_ip`, without
    // building the whole sliced packet): a length beyond the captured bytes is an
    // incomplete payload, not an error.
    let Ok((ip, extension_error)) = LaxIpSlice::from_slice(packet) else {
        return Decoded::Malformed(DecodeError::Ip);
    };

    // Addresses and where the packet ends on the wire (offset from `packet`), when
    // the header says: a TSO super-segment has a zero IPv4 total length and a
    // jumbogram a zero IPv6 payload length plus a hop-by-hop option.
    let (src_ip, dst_ip, wire_end) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let total = usize::from(header.total_len());
            let header_len = header.slice().len();
            let wire_end = (total >= header_len).then_some(total);
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                wire_end,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let payload_length = usize::from(header.payload_length());
            let wire_end = if payload_length > 0 {
                Some(IPV6_HEADER_LEN + payload_length)
            } else {
                jumbo_payload_length(packet).map(|len| IPV6_HEADER_LEN + len)
            };
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                wire_end,
            )
        }
    };
    let ip_payload = ip.payload();

    // Fragments are counted and skipped: reassembling them needs buffering that a
    // hostile capture could blow up, and TCP over fragmented IP is rare.
    if ip_payload.fragmented {
        return Decoded::NotTcp;
    }
    if extension_error.is_some() {
        // An extension header (IPv6 options, IPsec AH) is cut or invalid.
        return Decoded::Malformed(DecodeError::Ip);
    }
    if ip_payload.ip_number == IpNumber::UDP && tunnels == Tunnels::Follow {
        return vxlan(ip_payload.payload, vlan);
    }
    if ip_payload.ip_number != IpNumber::TCP {
        return Decoded::NotTcp;
    }
    let tcp_start = offset_in(packet, ip_payload.payload);

    match TcpSlice::from_slice(ip_payload.payload) {
        Ok(tcp) => {
            let payload = tcp.payload();
            let payload_start = tcp_start + tcp.header_slice().len();
            let on_wire = wire_end.map_or(0, |end| end.saturating_sub(payload_start));
            Decoded::Tcp(TcpSegment {
                src: Endpoint {
                    ip: src_ip,
                    port: tcp.source_port(),
                },
                dst: Endpoint {
                    ip: dst_ip,
                    port: tcp.destination_port(),
                },
                vlan,
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: TcpFlags {
                    syn: tcp.syn(),
                    ack: tcp.ack(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                    psh: tcp.psh(),
                },
                window: tcp.window_size(),
                payload,
                payload_len: clamp_u32(on_wire.max(payload.len())),
            })
        }
        Err(_) => tcp_header_cut_by_snaplen(
            ip_payload.payload,
            tcp_start,
            wire_end,
            src_ip,
            dst_ip,
            vlan,
        ),
    }
}

/// The IANA port of VXLAN (RFC 7348).
const VXLAN_PORT: u16 = 4789;
const VXLAN_HEADER_LEN: usize = 8;
/// The "VNI present" flag, the one flag RFC 7348 defines.
const VXLAN_FLAG_VNI: u8 = 0x08;

/// VXLAN (UDP to port 4789, 8-byte header, then an Ethernet frame): data-centre
/// overlays carry whole HTTP conversations this way, and the inner connection is
/// the one to analyse. Any other UDP is not TCP. The VNI is not folded into the
/// flow: inner addresses are assumed unique across the capture.
fn vxlan(udp: &[u8], outer_vlan: u32) -> Decoded<'_> {
    let is_vxlan = udp.get(2..4) == Some(&VXLAN_PORT.to_be_bytes()[..])
        && udp.get(8).is_some_and(|flags| flags & VXLAN_FLAG_VNI != 0);
    if !is_vxlan {
        return Decoded::NotTcp;
    }
    let Some(inner) = udp.get(8 + VXLAN_HEADER_LEN..) else {
        return Decoded::Malformed(DecodeError::Link);
    };
    let vni = udp.get(12..15).map_or(0, |v| u32::from_be_bytes([0, v[0], v[1], v[2]]));
    match super::link::strip(super::LinkKind::Ethernet, inner) {
        Ok(super::link::Network::Ip {
            packet,
            version,
            vlan,
        }) => decode_ip(packet, version, fold_tunnel(outer_vlan, vni, vlan), Tunnels::Ignore),
        Ok(super::link::Network::NotIp) => Decoded::NotTcp,
        Err(error) => Decoded::Malformed(error),
    }
}

/// One 32-bit flow key from the outer VLAN key, the VNI and the inner VLAN key, so
/// the same inner 4-tuple in two virtual networks stays two connections. The marker
/// bit keeps VNI 0 apart from untunnelled traffic; the multiply-rotate mix makes
/// different tunnels collide only by chance.
fn fold_tunnel(outer_vlan: u32, vni: u32, inner_vlan: u32) -> u32 {
    let mix = |a: u32, b: u32| a.wrapping_mul(0x9E37_79B1).rotate_left(15) ^ b;
    mix(mix(outer_vlan, vni | 0x0100_0000), inner_vlan)
}

/// etherparse refuses a TCP header whose options run past the captured bytes. When
/// the fixed 20 bytes are there and the IP length shows the whole header was on the
/// wire, the snaplen cut it, not an attacker: keep ports, sequence numbers and flags
/// and report all of the payload as missing.
fn tcp_header_cut_by_snaplen(
    tcp: &[u8],
    tcp_start: usize,
    wire_end: Option<usize>,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    vlan: u32,
) -> Decoded<'static> {
    let Some(fixed) = tcp.get(..TCP_MIN_HEADER_LEN) else {
        return Decoded::Malformed(DecodeError::Tcp);
    };
    let header_len = usize::from(fixed[12] >> 4) * 4;
    let Some(wire_end) = wire_end else {
        return Decoded::Malformed(DecodeError::Tcp);
    };
    let payload_start = tcp_start + header_len;
    if header_len < TCP_MIN_HEADER_LEN || header_len <= tcp.len() || payload_start > wire_end {
        // A data offset below 5, or a header longer than the IP packet: broken.
        return Decoded::Malformed(DecodeError::Tcp);
    }
    let be16 = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
    let be32 =
        |at: usize| u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let flags = fixed[13];
    Decoded::Tcp(TcpSegment {
        src: Endpoint {
            ip: src_ip,
            port: be16(0),
        },
        dst: Endpoint {
            ip: dst_ip,
            port: be16(2),
        },
        vlan,
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            psh: flags & 0x08 != 0,
            ack: flags & 0x10 != 0,
        },
        window: be16(14),
        payload: &[],
        payload_len: clamp_u32(wire_end - payload_start),
    })
}

/// Offset of `inner` from the start of `outer`; `inner` is a sub-slice of `outer`
/// (possibly empty at its very end), so this is plain address arithmetic.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The Jumbo Payload length of an IPv6 jumbogram (payload length 0 and a hop-by-hop
/// header carrying option 0xC2), as Linux BIG TCP sends. Counts everything after the
/// fixed IPv6 header.
fn jumbo_payload_length(packet: &[u8]) -> Option<usize> {
    if *packet.get(6)? != IPV6_HOP_BY_HOP {
        return None;
    }
    let hbh_len = (usize::from(*packet.get(IPV6_HEADER_LEN + 1)?) + 1) * 8;
    let end = (IPV6_HEADER_LEN + hbh_len).min(packet.len());
    let mut at = IPV6_HEADER_LEN + 2;
    while at < end {
        let option = packet[at];
        if option == 0 {
            // Pad1 has no length byte.
            at += 1;
            continue;
        }
        let len = usize::from(*packet.get(at + 1)?);
        if option == OPTION_JUMBO && len == 4 {
            let v = packet.get(at + 2..at + 6)?;
            return usize::try_from(u32::from_be_bytes([v[0], v[1], v[2], v[3]])).ok();
        }
        at += 2 + len;
    }
    None
}
