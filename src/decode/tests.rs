//! Unit tests of `decode`, one group per link type, on frames built with etherparse's
//! `PacketBuilder` plus hand-made link headers where etherparse has no builder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpHeaders, IpNumber, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header, Ipv6RawExtHeader,
    LinuxSllPacketType, PacketBuilder, TcpOptionElement,
};
use proptest::prelude::*;

use super::*;

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [10, 0, 0, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// An IPv4 TCP packet (no link header): 10.0.0.1:40000 -> 10.0.0.2:80, PSH+ACK.
fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(SRC6, DST6, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn ethernet_tcp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn with_prefix(prefix: &[u8], packet: &[u8]) -> Vec<u8> {
    let mut f = prefix.to_vec();
    f.extend_from_slice(packet);
    f
}

fn tcp(decoded: Decoded<'_>) -> TcpSegment<'_> {
    match decoded {
        Decoded::Tcp(t) => t,
        other => panic!("expected TCP, got {other:?}"),
    }
}

fn assert_v4_segment(t: &TcpSegment<'_>, payload: &[u8]) {
    assert_eq!(
        t.src,
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(SRC4)),
            port: 40000
        }
    );
    assert_eq!(
        t.dst,
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(DST4)),
            port: 80
        }
    );
    assert_eq!((t.seq, t.ack, t.window), (1000, 2000, 65535));
    assert_eq!(
        t.flags,
        TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        }
    );
    assert_eq!(t.payload, payload);
    assert_eq!(t.payload_len as usize, payload.len());
    assert!(!t.is_truncated());
}

#[test]
fn ethernet_ipv4_tcp_fields() {
    let frame = ethernet_tcp(PAYLOAD);
    let t = tcp(decode(LinkKind::Ethernet, &frame));
    assert_v4_segment(&t, PAYLOAD);
    assert_eq!(t.vlan, 0);
}

#[test]
fn ethernet_minimum_frame_padding_is_not_payload() {
    // A bare ACK is 54 bytes; Ethernet pads it to 60. The padding is not TCP data.
    let mut frame = ethernet_tcp(b"");
    frame.resize(60, 0);
    let t = tcp(decode(LinkKind::Ethernet, &frame));
    assert_eq!(t.payload, b"");
    assert_eq!(t.payload_len, 0);
}

#[test]
fn single_and_double_vlan_tags_fold_into_vlan() {
    let mut single = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .single_vlan(etherparse::VlanId::try_new(42).unwrap())
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut single, PAYLOAD)
        .unwrap();
    let t = tcp(decode(LinkKind::Ethernet, &single));
    assert_v4_segment(&t, PAYLOAD);
    assert_eq!(t.vlan, 42);

    let mut double = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .double_vlan(
            etherparse::VlanId::try_new(7).unwrap(),
            etherparse::VlanId::try_new(42).unwrap(),
        )
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut double, PAYLOAD)
        .unwrap();
    let t = tcp(decode(LinkKind::Ethernet, &double));
    assert_v4_segment(&t, PAYLOAD);
    assert_eq!(t.vlan, (7 << 12) | 42);
    assert_ne!(
        t.vlan, 42,
        "QinQ 7/42 and plain VLAN 42 are different networks"
    );
}

#[test]
fn linux_sll_v1() {
    let mut frame = Vec::new();
    PacketBuilder::linux_sll(LinuxSllPacketType::OUTGOING, 6, [1, 2, 3, 4, 5, 6, 0, 0])
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .psh()
        .write(&mut frame, PAYLOAD)
        .unwrap();
    assert_eq!(frame.len(), 16 + 20 + 20 + PAYLOAD.len());
    assert_v4_segment(&tcp(decode(LinkKind::LinuxSll, &frame)), PAYLOAD);
}

#[test]
fn linux_sll2_ipv4_and_ipv6() {
    // protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address.
    let header = |protocol: u16| {
        let mut h = protocol.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(h.len(), 20);
        h
    };
    let frame = with_prefix(&header(0x0800), &ipv4_tcp(PAYLOAD));
    assert_v4_segment(&tcp(decode(LinkKind::LinuxSll2, &frame)), PAYLOAD);

    let frame = with_prefix(&header(0x86DD), &ipv6_tcp(PAYLOAD));
    let t = tcp(decode(LinkKind::LinuxSll2, &frame));
    assert_eq!(t.src.ip, IpAddr::V6(Ipv6Addr::from(SRC6)));
    assert_eq!(t.payload, PAYLOAD);

    // ARP over SLL2 is not TCP.
    let frame = with_prefix(&header(0x0806), &[0; 28]);
    assert!(matches!(
        decode(LinkKind::LinuxSll2, &frame),
        Decoded::NotTcp
    ));
}

#[test]
fn bsd_null_in_both_byte_orders_and_loop() {
    for af in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        let frame = with_prefix(&af, &ipv4_tcp(PAYLOAD));
        assert_v4_segment(&tcp(decode(LinkKind::Null, &frame)), PAYLOAD);
    }
    for af in [24u32, 28, 30] {
        let frame = with_prefix(&af.to_le_bytes(), &ipv6_tcp(PAYLOAD));
        let t = tcp(decode(LinkKind::Null, &frame));
        assert_eq!(t.dst.ip, IpAddr::V6(Ipv6Addr::from(DST6)));
    }
    let frame = with_prefix(&2u32.to_be_bytes(), &ipv4_tcp(PAYLOAD));
    assert_v4_segment(&tcp(decode(LinkKind::Loop, &frame)), PAYLOAD);
    let frame = with_prefix(&24u32.to_be_bytes(), &ipv6_tcp(PAYLOAD));
    assert_eq!(tcp(decode(LinkKind::Loop, &frame)).payload, PAYLOAD);
}

#[test]
fn raw_ip_links() {
    assert_v4_segment(&tcp(decode(LinkKind::RawIp, &ipv4_tcp(PAYLOAD))), PAYLOAD);
    assert_eq!(
        tcp(decode(LinkKind::RawIp, &ipv6_tcp(PAYLOAD))).payload,
        PAYLOAD
    );
    assert_v4_segment(&tcp(decode(LinkKind::Ipv4, &ipv4_tcp(PAYLOAD))), PAYLOAD);
    assert_eq!(
        tcp(decode(LinkKind::Ipv6, &ipv6_tcp(PAYLOAD))).payload,
        PAYLOAD
    );
    // The link type promises a version; a different one is malformed.
    assert!(matches!(
        decode(LinkKind::Ipv4, &ipv6_tcp(PAYLOAD)),
        Decoded::Malformed(DecodeError::Ip)
    ));
    assert!(matches!(
        decode(LinkKind::Ipv6, &ipv4_tcp(PAYLOAD)),
        Decoded::Malformed(DecodeError::Ip)
    ));
    // Version 3 is no IP at all.
    let mut bogus = ipv4_tcp(PAYLOAD);
    bogus[0] = 0x35;
    assert!(matches!(
        decode(LinkKind::RawIp, &bogus),
        Decoded::Malformed(DecodeError::Ip)
    ));
    assert!(matches!(
        decode(LinkKind::RawIp, &[]),
        Decoded::Malformed(DecodeError::Ip)
    ));
}

#[test]
fn ppp_link() {
    let frame = with_prefix(&[0xFF, 0x03, 0x00, 0x21], &ipv4_tcp(PAYLOAD));
    assert_v4_segment(&tcp(decode(LinkKind::Ppp, &frame)), PAYLOAD);
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let exts = Ipv6Extensions {
        hop_by_hop_options: Some(
            Ipv6RawExtHeader::new_raw(IpNumber::IPV6_DESTINATION_OPTIONS, &[1, 4, 0, 0, 0, 0])
                .unwrap(),
        ),
        destination_options: Some(
            Ipv6RawExtHeader::new_raw(IpNumber::TCP, &[1, 4, 0, 0, 0, 0]).unwrap(),
        ),
        ..Ipv6Extensions::default()
    };
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0,
        next_header: IpNumber::IPV6_HEADER_HOP_BY_HOP,
        hop_limit: 64,
        source: SRC6,
        destination: DST6,
    };
    let mut packet = Vec::new();
    PacketBuilder::ip(IpHeaders::Ipv6(header, exts))
        .tcp(443, 50000, 7, 1024)
        .syn()
        .write(&mut packet, b"")
        .unwrap();
    assert_eq!(packet[6], 0, "next header is hop-by-hop");
    let t = tcp(decode(LinkKind::RawIp, &packet));
    assert_eq!((t.src.port, t.dst.port, t.seq), (443, 50000, 7));
    assert!(t.flags.syn && !t.flags.ack);
    assert_eq!(t.payload_len, 0);
}

#[test]
fn snaplen_cut_payload_is_truncated_with_wire_length() {
    let full = ethernet_tcp(PAYLOAD);
    let cut = &full[..full.len() - 10];
    let t = tcp(decode(LinkKind::Ethernet, cut));
    assert_eq!(t.payload, &PAYLOAD[..PAYLOAD.len() - 10]);
    assert_eq!(t.payload_len as usize, PAYLOAD.len());
    assert!(t.is_truncated());

    let full = ipv6_tcp(PAYLOAD);
    let cut = &full[..40 + 20 + 3];
    let t = tcp(decode(LinkKind::RawIp, cut));
    assert_eq!(t.payload, &PAYLOAD[..3]);
    assert_eq!(t.payload_len as usize, PAYLOAD.len());
}

#[test]
fn tcp_header_cut_inside_options_keeps_the_segment() {
    let mut packet = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(2000)
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(1, 2),
        ])
        .unwrap()
        .write(&mut packet, PAYLOAD)
        .unwrap();
    // IPv4 header, the fixed TCP header and 4 of the 12 option bytes.
    let cut = &packet[..20 + 24];
    let t = tcp(decode(LinkKind::RawIp, cut));
    assert_eq!(
        (t.src.port, t.dst.port, t.seq, t.ack),
        (40000, 80, 1000, 2000)
    );
    assert!(t.flags.ack);
    assert_eq!(t.payload, b"");
    assert_eq!(t.payload_len as usize, PAYLOAD.len());
    assert!(t.is_truncated());

    // Cut inside the fixed 20 bytes: nothing trustworthy is left.
    assert!(matches!(
        decode(LinkKind::RawIp, &packet[..20 + 19]),
        Decoded::Malformed(DecodeError::Tcp)
    ));
}

#[test]
fn broken_headers_are_malformed() {
    // Data offset 2 (8 bytes): below the minimum TCP header.
    let mut packet = ipv4_tcp(PAYLOAD);
    packet[20 + 12] = 0x20;
    assert!(matches!(
        decode(LinkKind::RawIp, &packet),
        Decoded::Malformed(DecodeError::Tcp)
    ));

    // Data offset 15 (60 bytes) in a packet whose IP length leaves no room for it.
    let mut packet = ipv4_tcp(b"");
    packet[20 + 12] = 0xF0;
    assert!(matches!(
        decode(LinkKind::RawIp, &packet),
        Decoded::Malformed(DecodeError::Tcp)
    ));

    // IPv4 header cut short.
    assert!(matches!(
        decode(LinkKind::RawIp, &ipv4_tcp(PAYLOAD)[..12]),
        Decoded::Malformed(DecodeError::Ip)
    ));
    // IHL below 5.
    let mut packet = ipv4_tcp(PAYLOAD);
    packet[0] = 0x44;
    assert!(matches!(
        decode(LinkKind::RawIp, &packet),
        Decoded::Malformed(DecodeError::Ip)
    ));
    // Ethernet shorter than its header.
    assert!(matches!(
        decode(LinkKind::Ethernet, &[0; 10]),
        Decoded::Malformed(DecodeError::Link)
    ));
    // Hop-by-hop header that claims more bytes than there are.
    let mut packet = ipv6_tcp(b"");
    packet[6] = 0; // next header: hop-by-hop
    packet[40] = 6; // its next header: TCP
    packet[41] = 200; // (200 + 1) * 8 bytes long
    assert!(matches!(
        decode(LinkKind::RawIp, &packet),
        Decoded::Malformed(DecodeError::Ip)
    ));
}

#[test]
fn not_tcp() {
    let mut udp = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(SRC4, DST4, 64)
        .udp(53, 53)
        .write(&mut udp, b"dns")
        .unwrap();
    assert!(matches!(decode(LinkKind::Ethernet, &udp), Decoded::NotTcp));

    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    assert!(matches!(decode(LinkKind::Ethernet, &arp), Decoded::NotTcp));

    // IPv4 fragments (first with more-fragments, then a later offset) are skipped.
    let mut first = ipv4_tcp(PAYLOAD);
    first[6] = 0x20; // MF
    assert!(matches!(decode(LinkKind::RawIp, &first), Decoded::NotTcp));
    let mut later = ipv4_tcp(PAYLOAD);
    later[6] = 0x00;
    later[7] = 0x10; // offset 16 * 8 bytes
    assert!(matches!(decode(LinkKind::RawIp, &later), Decoded::NotTcp));
}

#[test]
fn ipv6_jumbogram_length_comes_from_the_hop_by_hop_option() {
    // BIG TCP: payload length 0, hop-by-hop with Jumbo Payload, TCP; then cut.
    let tcp_and_payload_len = 20 + 100_000usize;
    let mut packet = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
    packet.extend_from_slice(&SRC6);
    packet.extend_from_slice(&DST6);
    let jumbo = (8 + tcp_and_payload_len) as u32;
    packet.extend_from_slice(&[6, 0, 0xC2, 4]);
    packet.extend_from_slice(&jumbo.to_be_bytes());
    let mut tcp_header = vec![0u8; 20];
    tcp_header[0..2].copy_from_slice(&8080u16.to_be_bytes());
    tcp_header[2..4].copy_from_slice(&50000u16.to_be_bytes());
    tcp_header[12] = 0x50;
    tcp_header[13] = 0x10;
    packet.extend_from_slice(&tcp_header);
    packet.extend_from_slice(&[b'x'; 1000]);
    let t = tcp(decode(LinkKind::Ipv6, &packet));
    assert_eq!(t.src.port, 8080);
    assert_eq!(t.payload.len(), 1000);
    assert_eq!(t.payload_len, 100_000);
}

/// An Ethernet frame carrying UDP to `dst_port` whose payload is a VXLAN header with
/// `flags` and `vni`, then `inner` (a whole Ethernet frame).
fn vxlan_frame(dst_port: u16, flags: u8, vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut udp_payload = vec![flags, 0, 0, 0];
    udp_payload.extend_from_slice(&vni.to_be_bytes()[1..]);
    udp_payload.push(0);
    udp_payload.extend_from_slice(inner);
    let mut out = Vec::new();
    PacketBuilder::ethernet2([3; 6], [4; 6])
        .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
        .udp(50000, dst_port)
        .write(&mut out, &udp_payload)
        .unwrap();
    out
}

#[test]
fn vxlan_is_decapsulated_and_the_vni_keeps_flows_apart() {
    let inner = ethernet_tcp(PAYLOAD);
    let a = vxlan_frame(4789, 0x08, 42, &inner);
    let t = tcp(decode(LinkKind::Ethernet, &a));
    assert_v4_segment(&t, PAYLOAD);
    assert_ne!(t.vlan, 0, "a tunnelled flow must not share the untunnelled key");
    // Another VNI (VNI 0 included) is another flow key.
    let b = vxlan_frame(4789, 0x08, 43, &inner);
    let zero = vxlan_frame(4789, 0x08, 0, &inner);
    let keys = [t.vlan, tcp(decode(LinkKind::Ethernet, &b)).vlan, tcp(decode(LinkKind::Ethernet, &zero)).vlan];
    assert!(keys[0] != keys[1] && keys[0] != keys[2] && keys[1] != keys[2], "{keys:?}");
    // Without the I flag, or on another port, it is plain UDP.
    assert!(matches!(decode(LinkKind::Ethernet, &vxlan_frame(4789, 0, 42, &inner)), Decoded::NotTcp));
    assert!(matches!(decode(LinkKind::Ethernet, &vxlan_frame(4790, 0x08, 42, &inner)), Decoded::NotTcp));
    // A VXLAN header cut short, or a broken inner frame, is malformed.
    assert!(matches!(decode(LinkKind::Ethernet, &vxlan_frame(4789, 0x08, 42, &[])[..a.len() - inner.len() - 2]), Decoded::Malformed(_)));
    assert!(matches!(decode(LinkKind::Ethernet, &vxlan_frame(4789, 0x08, 42, &inner[..10])), Decoded::Malformed(DecodeError::Link)));
    // Tunnels inside tunnels are not followed (see vxlan_is_decapsulated_once).
    // Every prefix decodes without panicking.
    for end in 0..=a.len() {
        check_invariants(&decode(LinkKind::Ethernet, &a[..end]), &a[..end]);
    }
}

/// An NFLOG record: header, a prefix TLV (type 10, padded), then the payload TLV.
fn nflog_record(family: u8, packet: &[u8], little_endian: bool) -> Vec<u8> {
    let tlv = |len: u16, kind: u16| -> Vec<u8> {
        let (l, k) = if little_endian { (len.to_le_bytes(), kind.to_le_bytes()) } else { (len.to_be_bytes(), kind.to_be_bytes()) };
        [l, k].concat()
    };
    let mut f = vec![family, 0, 0, 1];
    f.extend(tlv(4 + 5, 10));
    f.extend_from_slice(b"pfx\0\0\0\0\0"); // 5 bytes of value + 3 of padding
    f.extend(tlv(4 + packet.len() as u16, 9));
    f.extend_from_slice(packet);
    f
}

#[test]
fn nflog_payload_tlv_in_either_byte_order() {
    let packet = ipv4_tcp(PAYLOAD);
    for little_endian in [true, false] {
        let record = nflog_record(2, &packet, little_endian);
        assert_v4_segment(&tcp(decode(LinkKind::Nflog, &record)), PAYLOAD);
        for end in 0..record.len() {
            let d = decode(LinkKind::Nflog, &record[..end]);
            check_invariants(&d, &record[..end]);
            assert!(!matches!(d, Decoded::Tcp(_)) || end >= record.len() - packet.len() + 40, "cut at {end}");
        }
    }
    // The family must agree with the packet; a record without a packet is not IP.
    assert!(matches!(decode(LinkKind::Nflog, &nflog_record(10, &packet, true)), Decoded::Malformed(DecodeError::Ip)));
    let metadata_only = &nflog_record(2, &packet, true)[..16];
    assert!(matches!(decode(LinkKind::Nflog, metadata_only), Decoded::NotTcp));
}

#[test]
fn vxlan_is_decapsulated_once() {
    let inner = ethernet_tcp(PAYLOAD);
    let vxlan_frame = |inner: &[u8], port: u16| {
        let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vxlan.extend_from_slice(inner);
        let mut out = Vec::new();
        PacketBuilder::ethernet2([3; 6], [4; 6])
            .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
            .udp(50000, port)
            .write(&mut out, &vxlan)
            .unwrap();
        out
    };
    let outer = vxlan_frame(&inner, 4789);
    assert_v4_segment(&tcp(decode(LinkKind::Ethernet, &outer)), PAYLOAD);
    // Another UDP port is just UDP.
    assert!(matches!(
        decode(LinkKind::Ethernet, &vxlan_frame(&inner, 4790)),
        Decoded::NotTcp
    ));
    // VXLAN inside VXLAN is not followed.
    let nested = vxlan_frame(&outer, 4789);
    assert!(matches!(
        decode(LinkKind::Ethernet, &nested),
        Decoded::NotTcp
    ));
    // A cut inner frame is a link error.
    assert!(matches!(
        decode(LinkKind::Ethernet, &outer[..14 + 20 + 8 + 8 + 6]),
        Decoded::Malformed(DecodeError::Link)
    ));
}

#[test]
fn broken_udp_is_not_malformed_ip() {
    let mut udp = Vec::new();
    PacketBuilder::ipv4(SRC4, DST4, 64)
        .udp(53, 53)
        .write(&mut udp, b"")
        .unwrap();
    // IP total length covers a UDP header that the capture cut.
    assert!(matches!(
        decode(LinkKind::RawIp, &udp[..24]),
        Decoded::NotTcp
    ));
}

#[test]
fn unsupported_link_types() {
    let frame = ethernet_tcp(PAYLOAD);
    assert!(matches!(
        decode(LinkKind::Unsupported(129), &frame),
        Decoded::Malformed(DecodeError::UnsupportedLink)
    ));
}

#[test]
fn link_kind_numbers_and_names() {
    let table = [
        (0, LinkKind::Null, "NULL"),
        (1, LinkKind::Ethernet, "EN10MB"),
        (9, LinkKind::Ppp, "PPP"),
        (101, LinkKind::RawIp, "RAW"),
        (108, LinkKind::Loop, "LOOP"),
        (113, LinkKind::LinuxSll, "LINUX_SLL"),
        (228, LinkKind::Ipv4, "IPV4"),
        (229, LinkKind::Ipv6, "IPV6"),
        (239, LinkKind::Nflog, "NFLOG"),
        (276, LinkKind::LinuxSll2, "LINUX_SLL2"),
        (239, LinkKind::Nflog, "NFLOG"),
    ];
    for (number, kind, name) in table {
        assert_eq!(LinkKind::from_linktype(number), kind);
        assert_eq!(kind.linktype(), number);
        assert_eq!(kind.name(), name);
        assert!(kind.is_supported());
    }
    assert_eq!(LinkKind::from_linktype(12), LinkKind::RawIp);
    assert_eq!(LinkKind::from_linktype(14), LinkKind::RawIp);
    assert_eq!(LinkKind::from_linktype(50), LinkKind::Ppp);
    assert_eq!(LinkKind::from_linktype(129), LinkKind::Unsupported(129));
    assert_eq!(LinkKind::Unsupported(129).name(), "LINKTYPE_129");
    assert_eq!(LinkKind::Unsupported(129).linktype(), 129);
    assert!(!LinkKind::Unsupported(129).is_supported());
}

const ALL_LINKS: [LinkKind; 12] = [
    LinkKind::Nflog,
    LinkKind::Ethernet,
    LinkKind::LinuxSll,
    LinkKind::LinuxSll2,
    LinkKind::Null,
    LinkKind::Loop,
    LinkKind::RawIp,
    LinkKind::Ipv4,
    LinkKind::Ipv6,
    LinkKind::Ppp,
    LinkKind::Unsupported(0xFFFF_FFFF),
    LinkKind::Unsupported(147),
];

/// Whatever decode returns must be self-consistent.
fn check_invariants(d: &Decoded<'_>, frame: &[u8]) {
    if let Decoded::Tcp(t) = d {
        assert!(t.payload.len() as u64 <= t.payload_len as u64);
        let frame_range = frame.as_ptr() as usize..=frame.as_ptr() as usize + frame.len();
        assert!(t.payload.is_empty() || frame_range.contains(&(t.payload.as_ptr() as usize)));
    }
}

#[test]
fn every_prefix_of_valid_frames_decodes_without_panic() {
    let frames = [
        (LinkKind::Ethernet, ethernet_tcp(PAYLOAD)),
        (LinkKind::RawIp, ipv4_tcp(PAYLOAD)),
        (LinkKind::RawIp, ipv6_tcp(PAYLOAD)),
        (
            LinkKind::Null,
            with_prefix(&2u32.to_le_bytes(), &ipv4_tcp(PAYLOAD)),
        ),
    ];
    for (link, frame) in frames {
        for end in 0..=frame.len() {
            let prefix = &frame[..end];
            let d = decode(link, prefix);
            check_invariants(&d, prefix);
            if end == frame.len() {
                assert!(matches!(d, Decoded::Tcp(_)));
            }
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for link in ALL_LINKS {
            let d = decode(link, &bytes);
            check_invariants(&d, &bytes);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        position in 0usize..80,
        value in any::<u8>(),
        cut in 0usize..90,
    ) {
        let mut frame = ethernet_tcp(PAYLOAD);
        let p = position % frame.len();
        frame[p] = value;
        let end = frame.len().saturating_sub(cut);
        let d = decode(LinkKind::Ethernet, &frame[..end]);
        check_invariants(&d, &frame[..end]);
    }
}

#[test]
fn endpoints_display_as_std_formats_them() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ips = [
        IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
        IpAddr::V4(Ipv4Addr::new(10, 9, 100, 99)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    for ip in ips {
        for port in [0u16, 9, 10, 80, 443, 8080, 38480, 65535] {
            let want = match ip {
                IpAddr::V4(a) => format!("{a}:{port}"),
                IpAddr::V6(a) => format!("[{a}]:{port}"),
            };
            let ep = crate::decode::Endpoint { ip, port };
            assert_eq!(ep.to_string(), want);
            assert_eq!(ep.to_text(), want);
        }
    }
}
