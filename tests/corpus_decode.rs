//! Every capture under `../shared/corpus/linktypes/` and `../shared/corpus/malformed/`
//! through `OfflineSource` + `decode`: nothing panics, every file opens, and TCP is
//! found where the corpus MANIFEST says the capture has TCP streams.
//!
//! The corpus is part of CI: a missing directory fails these tests.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::corpus_dir;
use keepscope::capture::{OfflineSource, PacketSource};
use keepscope::decode::{decode, DecodeError, Decoded, LinkKind};

/// What one capture decoded to.
#[derive(Debug, Default)]
struct Tally {
    packets: usize,
    tcp: usize,
    not_tcp: usize,
    malformed: BTreeMap<String, usize>,
    unsupported: usize,
    truncated_segments: usize,
    link_types: Vec<String>,
    warnings: Vec<String>,
}

fn tally(path: &Path) -> Tally {
    let mut source = OfflineSource::open(&[path.to_path_buf()], None)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut t = Tally::default();
    while let Some(packet) = source
        .next_packet()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        t.packets += 1;
        match decode(packet.link, packet.data) {
            Decoded::Tcp(segment) => {
                t.tcp += 1;
                assert!(segment.payload.len() <= segment.payload_len as usize);
                if segment.is_truncated() {
                    t.truncated_segments += 1;
                }
            }
            Decoded::NotTcp => t.not_tcp += 1,
            Decoded::Malformed(DecodeError::UnsupportedLink) => t.unsupported += 1,
            Decoded::Malformed(e) => *t.malformed.entry(format!("{e:?}")).or_default() += 1,
        }
    }
    t.link_types = source.link_types();
    t.warnings = source.warnings().to_vec();
    t
}

/// The captures of one corpus folder, sorted; fails if the folder is missing.
fn captures(folder: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(folder);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "corpus folder {} is missing ({e}): CI always has it",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".pcap") || name.ends_with(".pcapng")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    files
}

/// From the MANIFEST tables ("tshark: N TCP stream(s)" per file, 2026-11 corpus):
/// the captures with at least one TCP stream, and what keepscope must find there.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// At least this many TCP segments decode.
    Tcp(usize),
    /// The manifest counts a TCP stream, but the link type is one keepscope does not
    /// decode (ARCNET, IP over InfiniBand): every packet is unsupported, none panics.
    UnsupportedLink,
    /// The manifest says 0 TCP streams and one malformed packet: no TCP, and the
    /// broken header is reported at this layer.
    NoTcp(DecodeError),
}

fn expectation(folder: &str, file: &str) -> Expect {
    use Expect::*;
    match (folder, file) {
        // linktypes/: every capture has TCP.
        ("linktypes", "ipv4_tcp_http_xml.pcap") => Tcp(1),
        ("linktypes", "ipv4_tcp_http_xml_tso.pcap") => Tcp(1),
        ("linktypes", "print-flags.pcap") => Tcp(10),
        ("linktypes", "accecn_handshake.pcap") => Tcp(6),
        ("linktypes", "arcnet-rfc1201-arp-icmp-http.pcap") => UnsupportedLink,
        ("linktypes", "tcp-handshake-nano.pcap") => Tcp(3),
        ("linktypes", "resp_1_benchmark.pcap") => Tcp(150),
        ("linktypes", "mptcp-v1.pcap") => Tcp(20),
        ("linktypes", "bgp-role.pcapng") => Tcp(1),
        ("linktypes", "tcp_rst_diag_payload.pcap") => Tcp(1),
        ("linktypes", "bgp-addpath.pcap") => Tcp(1),
        // DLT_PPP: decoded (LinkKind::Ppp).
        ("linktypes", "bgp_vpn_attrset.pcap") => Tcp(1),
        ("linktypes", "gso-ipv6.pcap") => Tcp(1),
        ("linktypes", "bigtcp-ipv6-hbh.pcap") => Tcp(1),
        ("linktypes", "ipoib.pcap") => UnsupportedLink,
        ("linktypes", "suricata-sll2-01.pcap") => Tcp(5),
        ("linktypes", "suricata-sll2-02.pcap") => Tcp(159),
        // Ethernet + PPPoE session + PPP.
        ("linktypes", "suricata-pppoe-session-http.pcap") => Tcp(1),

        // malformed/: "N TCP stream(s)" from the manifest's tshark column.
        // TCP header cut after 12 bytes: nothing trustworthy.
        ("malformed", "tcp_header_heapoverflow.pcap") => NoTcp(DecodeError::Tcp),
        ("malformed", "heapoverflow-tcp_print.pcap") => Tcp(1),
        ("malformed", "tcp-auth-heapoverflow.pcap") => Tcp(1),
        ("malformed", "mptcp-dss-oobr.pcap") => Tcp(1),
        ("malformed", "ipv4_invalid_length.pcap") => NoTcp(DecodeError::Ip),
        ("malformed", "ipv6_invalid_length.pcap") => NoTcp(DecodeError::Ip),
        ("malformed", "ipv6hdr-heapoverflow.pcap") => NoTcp(DecodeError::Ip),
        ("malformed", "beep-oobr.pcap") => Tcp(1),
        ("malformed", "tcp_rst_diag_payload-trunc.pcap") => Tcp(1),
        ("malformed", "timestamp_invalid_micro.pcap") => Tcp(1),
        _ => panic!("{folder}/{file} is not in the expectation table: add it from the MANIFEST"),
    }
}

fn check_folder(folder: &str) {
    let mut failures = Vec::new();
    for path in captures(folder) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = tally(&path);
        println!("{folder}/{name}: {t:?}");
        let ok = match expectation(folder, &name) {
            Expect::Tcp(min) => t.tcp >= min,
            Expect::UnsupportedLink => t.tcp == 0 && t.unsupported == t.packets && t.packets > 0,
            Expect::NoTcp(layer) => {
                t.tcp == 0
                    && t.malformed
                        .get(&format!("{layer:?}"))
                        .is_some_and(|&n| n > 0)
            }
        };
        if !ok {
            failures.push(format!(
                "{name}: expected {:?}, got {t:?}",
                expectation(folder, &name)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn linktypes_corpus() {
    check_folder("linktypes");
}

#[test]
fn malformed_corpus() {
    check_folder("malformed");
}

#[test]
fn snaplen_cut_corpus_segments_keep_their_wire_length() {
    // caplen 64 of a 262144-byte frame: the TCP header is there, the payload is not.
    let t = tally(&corpus_dir().join("malformed/heapoverflow-tcp_print.pcap"));
    assert_eq!((t.tcp, t.truncated_segments), (1, 1));
    // DLT_NULL RST whose last 2 payload bytes were cut by the snaplen.
    let t = tally(&corpus_dir().join("malformed/tcp_rst_diag_payload-trunc.pcap"));
    assert_eq!((t.tcp, t.truncated_segments), (1, 1));
    // Bogus IP version 3, then a TCP packet cut by the snaplen.
    let t = tally(&corpus_dir().join("malformed/beep-oobr.pcap"));
    assert_eq!(
        (t.tcp, t.truncated_segments, t.malformed.get("Ip").copied()),
        (1, 1, Some(1))
    );
}

#[test]
fn corpus_link_types_are_recognised() {
    let dir = corpus_dir().join("linktypes");
    let link = |file: &str| tally(&dir.join(file)).link_types;
    assert_eq!(link("suricata-sll2-01.pcap"), ["LINUX_SLL2"]);
    assert_eq!(link("tcp-handshake-nano.pcap"), ["LINUX_SLL"]);
    assert_eq!(link("tcp_rst_diag_payload.pcap"), ["NULL"]);
    assert_eq!(link("bgp-addpath.pcap"), ["RAW"]);
    assert_eq!(link("bgp_vpn_attrset.pcap"), ["PPP"]);
    assert_eq!(link("print-flags.pcap"), ["EN10MB"]);
    assert_eq!(LinkKind::from_linktype(129).name(), "LINKTYPE_129");
}

/// All captures in a folder tree.
fn captures_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            captures_under(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_capture_opens_and_decodes() {
    // The whole corpus (zeek/, suricata/ too): every file opens (the MANIFEST says
    // all 159 open in tshark), nothing panics, and HTTP captures mostly decode.
    let mut files = Vec::new();
    captures_under(&corpus_dir(), &mut files);
    files.sort();
    assert!(files.len() >= 150, "{} captures", files.len());
    let mut without_tcp = Vec::new();
    for path in &files {
        if tally(path).tcp == 0 {
            let relative = path
                .strip_prefix(corpus_dir())
                .unwrap()
                .to_string_lossy()
                .to_string();
            without_tcp.push(relative);
        }
    }
    // The captures where no TCP decodes, and why. The manifest says 0 TCP streams
    // for every one of them except the unsupported link types and the two tunnels.
    let expected = [
        "linktypes/arcnet-rfc1201-arp-icmp-http.pcap", // ARCNET: not decoded
        "linktypes/ipoib.pcap",                        // IP over InfiniBand: not decoded
        "malformed/ipv4_invalid_length.pcap",
        "malformed/ipv6_invalid_length.pcap",
        "malformed/ipv6hdr-heapoverflow.pcap",
        "malformed/tcp_header_heapoverflow.pcap",
        "zeek/core.truncation/icmp-header-trunc.pcap",
        "zeek/core.truncation/icmp-payload-trunc.pcap",
        "zeek/core.truncation/ip-discarder-truncated-tcp-oob.pcapng",
        "zeek/core.truncation/ip4-trunc.pcap",
        "zeek/core.truncation/ip6-ext-trunc.pcap",
        "zeek/core.truncation/ip6-trunc.pcap",
        "zeek/core.truncation/ipv4-internally-truncated-header.pcap",
        "zeek/core.truncation/ipv4-truncated-broken-header.pcap",
        "zeek/core.truncation/mpls-6in6-6in6-4in6-trunc.pcap", // IP-in-IP tunnel, cut
        "zeek/core.truncation/trunc-hdr.pcap",
    ];
    assert_eq!(without_tcp, expected);
}
