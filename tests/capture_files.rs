//! `OfflineSource` on files written by the test helpers: several files per run,
//! gzip, streams (FIFO and a real stdin), timestamp precision, the mixed-link-type
//! pcapng fallback, damaged tails, open errors, BPF filters and progress.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use keepscope::capture::{CaptureError, OfflineSource, PacketSource};
use keepscope::decode::{decode, Decoded, LinkKind};

fn frame(link: Link, sport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    tcp_frame(
        link,
        addr(&format!("10.0.0.1:{sport}")),
        addr("10.0.0.2:80"),
        seq,
        1,
        flags("PA"),
        payload,
    )
}

fn ports_of(packets: &[OwnedPacket]) -> Vec<u16> {
    packets
        .iter()
        .map(|p| match decode(p.link, &p.data) {
            Decoded::Tcp(t) => t.src.port,
            other => panic!("not TCP: {other:?}"),
        })
        .collect()
}

fn open(paths: &[PathBuf]) -> OfflineSource {
    OfflineSource::open(paths, None).expect("open")
}

#[test]
fn every_helper_link_type_round_trips_through_a_file() {
    let dir = TempCaptures::new();
    let links = [
        Link::Ethernet,
        Link::EthernetVlan(7),
        Link::LinuxSll,
        Link::LinuxSll2,
        Link::Null,
        Link::RawIp,
    ];
    for link in links {
        for (src, dst) in [
            ("10.0.0.1:1234", "10.0.0.2:80"),
            ("[2001:db8::1]:1234", "[2001:db8::2]:80"),
        ] {
            let data = tcp_frame(link, addr(src), addr(dst), 100, 200, flags("SA"), b"hi");
            let path = dir.file(
                "one.pcap",
                &pcap_bytes(
                    link.linktype(),
                    TsPrecision::Micro,
                    &[Record::new(ts(1, 0), data)],
                ),
            );
            let packets = read_all(&mut open(&[path])).unwrap();
            assert_eq!(packets.len(), 1);
            assert_eq!(packets[0].link, link.kind());
            let Decoded::Tcp(t) = decode(packets[0].link, &packets[0].data) else {
                panic!("{link:?} {src}")
            };
            assert_eq!(
                (t.src, t.dst),
                (addr(src).into_keepscope(), addr(dst).into_keepscope())
            );
            assert_eq!((t.seq, t.ack, t.payload), (100, 200, &b"hi"[..]));
            assert!(t.flags.syn && t.flags.ack && !t.flags.fin);
            let expected_vlan = if let Link::EthernetVlan(id) = link {
                u32::from(id)
            } else {
                0
            };
            assert_eq!(t.vlan, expected_vlan);
        }
    }
}

trait IntoKeepscope {
    fn into_keepscope(self) -> keepscope::decode::Endpoint;
}
impl IntoKeepscope for std::net::SocketAddr {
    fn into_keepscope(self) -> keepscope::decode::Endpoint {
        keepscope::decode::Endpoint {
            ip: self.ip(),
            port: self.port(),
        }
    }
}

#[test]
fn several_files_are_read_in_the_order_given() {
    let dir = TempCaptures::new();
    let a = dir.file(
        "a.pcap",
        &pcap_bytes(
            LINKTYPE_ETHERNET,
            TsPrecision::Micro,
            &[
                Record::new(ts(10, 0), frame(Link::Ethernet, 1, 1, b"a1")),
                Record::new(ts(11, 0), frame(Link::Ethernet, 2, 1, b"a2")),
            ],
        ),
    );
    let b = dir.file(
        "b.pcap",
        &pcap_bytes(
            LINKTYPE_RAW,
            TsPrecision::Micro,
            &[Record::new(ts(5, 0), frame(Link::RawIp, 3, 1, b"b1"))],
        ),
    );
    let c = dir.file(
        "c.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &[]),
    );
    let d = dir.file(
        "d.pcap",
        &pcap_bytes(
            LINKTYPE_LINUX_SLL2,
            TsPrecision::Nano,
            &[Record::new(ts(1, 5), frame(Link::LinuxSll2, 4, 1, b"d1"))],
        ),
    );

    let mut source = open(&[b.clone(), a.clone(), c, d]);
    assert_eq!(source.current_input(), Some(b.display().to_string().as_str()));
    let packets = read_all(&mut source).unwrap();
    assert_eq!(source.current_input(), None);
    // File order, not timestamp order.
    assert_eq!(ports_of(&packets), [3, 1, 2, 4]);
    let links: Vec<LinkKind> = packets.iter().map(|p| p.link).collect();
    assert_eq!(
        links,
        [
            LinkKind::RawIp,
            LinkKind::Ethernet,
            LinkKind::Ethernet,
            LinkKind::LinuxSll2
        ]
    );
    assert_eq!(source.link_types(), ["RAW", "EN10MB", "LINUX_SLL2"]);
    assert!(source.warnings().is_empty());
    assert!(!source.truncated());
    // The end is sticky.
    assert!(source.next_packet().unwrap().is_none());
    assert!(source.next_packet().unwrap().is_none());
}

#[test]
fn a_missing_later_file_fails_at_open() {
    let dir = TempCaptures::new();
    let good = dir.file(
        "good.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &[]),
    );
    let missing = dir.dir.path().join("nope.pcap");
    match OfflineSource::open(&[good, missing.clone()], None) {
        Err(CaptureError::NotFound { path }) => assert_eq!(path, missing.display().to_string()),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened a missing file"),
    }
}

#[test]
fn open_errors() {
    let dir = TempCaptures::new();
    let garbage = dir.file("garbage.pcap", b"this is not a capture file at all");
    let empty = dir.file("empty.pcap", b"");
    let short_header = dir.file(
        "short.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &[])[..10],
    );
    let gz_garbage = dir.file("garbage.pcap.gz", &gzip(b"not a capture inside either"));
    let bad_gz = dir.file("bad.gz", &[0x1f, 0x8b, 8, 0, 0xff, 0xff]);

    for (path, what) in [
        (&garbage, "unknown file format"),
        (&empty, "empty"),
        (&gz_garbage, "unknown file format"),
        (&bad_gz, "gzip"),
    ] {
        match OfflineSource::open(std::slice::from_ref(path), None) {
            Err(e @ CaptureError::NotACapture { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&path.display().to_string()) && text.contains(what),
                    "{text}"
                );
                assert_eq!(e.exit_code(), 1);
            }
            Err(other) => panic!("{}: {other}", path.display()),
            Ok(_) => panic!("{} opened", path.display()),
        }
    }
    // A pcap magic with a cut header: libpcap's own message.
    assert!(matches!(
        OfflineSource::open(&[short_header], None),
        Err(CaptureError::NotACapture { .. })
    ));
    // A directory cannot be read. (Tests run as root here, so a chmod 000 file would
    // still be readable: the permission case is covered by the error mapping alone.)
    assert!(matches!(
        OfflineSource::open(&[dir.dir.path().to_path_buf()], None),
        Err(CaptureError::Unreadable { .. })
    ));
}

#[test]
fn microsecond_and_nanosecond_timestamps() {
    let dir = TempCaptures::new();
    let records = [Record::new(
        ts(1_700_000_000, 123_456_789),
        frame(Link::Ethernet, 1, 1, b"x"),
    )];
    let nano = dir.file(
        "nano.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Nano, &records),
    );
    let micro = dir.file(
        "micro.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records),
    );
    let packets = read_all(&mut open(&[nano, micro])).unwrap();
    assert_eq!(
        packets[0].ts,
        ts(1_700_000_000, 123_456_789),
        "ns file keeps every digit"
    );
    assert_eq!(
        packets[1].ts,
        ts(1_700_000_000, 123_456_000),
        "µs file gives whole µs"
    );
}

#[test]
fn gzip_files_stream_through_libpcap() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..2000u32)
        .map(|i| {
            Record::new(
                ts(100 + i64::from(i), i64::from(i)),
                frame(Link::Ethernet, 1000 + (i % 50) as u16, i, &vec![b'z'; 300]),
            )
        })
        .collect();
    let plain = pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Nano, &records);
    let compressed = gzip(&plain);
    assert!(compressed.len() * 4 < plain.len());
    let path = dir.file("big.pcap.gz", &compressed);

    let mut source = open(&[path]);
    assert_eq!(
        source.progress().1,
        Some(compressed.len() as u64),
        "total is the compressed size"
    );
    let mut count = 0u32;
    while let Some(p) = source.next_packet().unwrap() {
        assert_eq!(p.ts, records[count as usize].ts);
        assert_eq!(p.data, &records[count as usize].data[..]);
        count += 1;
    }
    assert_eq!(count, 2000);
    assert_eq!(
        source.progress(),
        (compressed.len() as u64, Some(compressed.len() as u64))
    );
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
}

#[test]
fn gzip_pcapng_and_concatenated_gzip_members() {
    let dir = TempCaptures::new();
    let ng = pcapng_with_interfaces(
        &[(LINKTYPE_ETHERNET, Some(9))],
        &[(0, ts(7, 1), frame(Link::Ethernet, 9, 1, b"ng"))],
    );
    let path = dir.file("x.pcapng.gz", &gzip(&ng));
    let packets = read_all(&mut open(&[path])).unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].ts, ts(7, 1));

    // `cat a.gz b.gz` decompresses to the concatenation, as with gunzip.
    let whole = pcap_bytes(
        LINKTYPE_ETHERNET,
        TsPrecision::Micro,
        &[Record::new(ts(1, 0), frame(Link::Ethernet, 5, 1, b"m"))],
    );
    let (first, second) = whole.split_at(30);
    let mut members = gzip(first);
    members.extend_from_slice(&gzip(second));
    let path = dir.file("members.pcap.gz", &members);
    assert_eq!(ports_of(&read_all(&mut open(&[path])).unwrap()), [5]);
}

#[test]
fn damaged_gzip_data_ends_the_file_with_a_warning() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..500u32)
        .map(|i| Record::new(ts(1, 0), frame(Link::Ethernet, 1, i, &[i as u8; 200])))
        .collect();
    let compressed = gzip(&pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records));
    // Keep the first half of the compressed stream only.
    let cut = dir.file("cut.pcap.gz", &compressed[..compressed.len() / 2]);
    let after = dir.file(
        "after.pcap",
        &pcap_bytes(
            LINKTYPE_ETHERNET,
            TsPrecision::Micro,
            &[Record::new(
                ts(2, 0),
                frame(Link::Ethernet, 2222, 1, b"next"),
            )],
        ),
    );
    let mut source = open(&[cut.clone(), after]);
    let packets = read_all(&mut source).unwrap();
    assert!(
        packets.len() > 10 && packets.len() < 500,
        "{}",
        packets.len()
    );
    assert_eq!(
        ports_of(&packets).last(),
        Some(&2222),
        "the next file is still read"
    );
    assert!(source.truncated());
    assert_eq!(source.warnings().len(), 1, "{:?}", source.warnings());
    assert!(
        source.warnings()[0].starts_with(&cut.display().to_string()),
        "{:?}",
        source.warnings()
    );
}

#[test]
fn truncated_last_record_gives_a_warning_and_keeps_what_came_before() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..3)
        .map(|i| {
            Record::new(
                ts(1, i),
                frame(Link::Ethernet, 100 + i as u16, 1, b"payload"),
            )
        })
        .collect();
    let whole = pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records);
    let cut = dir.file("cut.pcap", &whole[..whole.len() - 20]);
    let next = dir.file(
        "next.pcap",
        &pcap_bytes(
            LINKTYPE_RAW,
            TsPrecision::Micro,
            &[Record::new(ts(9, 0), frame(Link::RawIp, 999, 1, b""))],
        ),
    );

    let mut source = open(&[cut.clone(), next]);
    let packets = read_all(&mut source).unwrap();
    assert_eq!(ports_of(&packets), [100, 101, 999]);
    assert!(source.truncated());
    assert_eq!(source.warnings().len(), 1);
    let warning = &source.warnings()[0];
    assert!(
        warning.starts_with(&format!("{}: ", cut.display())),
        "{warning}"
    );
    assert!(
        warning.contains("middle of a record") && !warning.contains('\n'),
        "{warning}"
    );

    // The same with a record header cut short, and with a pcapng block cut short.
    let header_cut = dir.file("hcut.pcap", &whole[..24 + 16 + records[0].data.len() + 7]);
    let mut source = open(&[header_cut]);
    assert_eq!(ports_of(&read_all(&mut source).unwrap()), [100]);
    assert!(source.truncated());

    let ng = pcapng_with_interfaces(
        &[(LINKTYPE_ETHERNET, None)],
        &[
            (0, ts(1, 0), frame(Link::Ethernet, 1, 1, b"a")),
            (0, ts(2, 0), frame(Link::Ethernet, 2, 1, b"b")),
        ],
    );
    let ng_cut = dir.file("cut.pcapng", &ng[..ng.len() - 9]);
    let mut source = open(&[ng_cut]);
    assert_eq!(ports_of(&read_all(&mut source).unwrap()), [1]);
    assert!(source.truncated());
    assert_eq!(source.warnings().len(), 1);
}

#[test]
fn damage_in_the_middle_skips_the_rest_of_that_file_only() {
    let dir = TempCaptures::new();
    let mut bytes = pcap_bytes(
        LINKTYPE_ETHERNET,
        TsPrecision::Micro,
        &[Record::new(ts(1, 0), frame(Link::Ethernet, 1, 1, b"ok"))],
    );
    // A record claiming 4 GB of captured bytes.
    bytes.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff,
    ]);
    bytes.extend_from_slice(&[0; 100]);
    let bad = dir.file("bad.pcap", &bytes);
    let good = dir.file(
        "good.pcap",
        &pcap_bytes(
            LINKTYPE_ETHERNET,
            TsPrecision::Micro,
            &[Record::new(ts(2, 0), frame(Link::Ethernet, 2, 1, b"ok"))],
        ),
    );
    let mut source = open(&[bad.clone(), good]);
    assert_eq!(ports_of(&read_all(&mut source).unwrap()), [1, 2]);
    assert!(source.truncated());
    assert_eq!(source.warnings().len(), 1);
    assert!(source.warnings()[0].starts_with(&bad.display().to_string()));
}

/// Interfaces 0 (Ethernet, µs) and 1 (raw IP, ns), packets interleaved.
fn mixed_blocks(
    second_interface_late: bool,
) -> (
    Vec<NgBlock>,
    Vec<(LinkKind, u16, keepscope::time::Timestamp)>,
) {
    let eth = |port: u16, t| NgBlock::Packet {
        interface: 0,
        ts: t,
        data: frame(Link::Ethernet, port, 1, b"e"),
    };
    let raw = |port: u16, t| NgBlock::Packet {
        interface: 1,
        ts: t,
        data: frame(Link::RawIp, port, 1, b"r"),
    };
    let mut blocks = vec![NgBlock::Interface {
        linktype: LINKTYPE_ETHERNET,
        tsresol: None,
    }];
    if !second_interface_late {
        blocks.push(NgBlock::Interface {
            linktype: LINKTYPE_RAW,
            tsresol: Some(9),
        });
    }
    blocks.push(eth(1, ts(100, 1_000)));
    blocks.push(eth(2, ts(101, 2_000)));
    if second_interface_late {
        blocks.push(NgBlock::Interface {
            linktype: LINKTYPE_RAW,
            tsresol: Some(9),
        });
    }
    blocks.push(raw(3, ts(102, 123_456_789)));
    blocks.push(eth(4, ts(103, 4_000)));
    blocks.push(raw(5, ts(104, 5)));
    let expected = vec![
        (LinkKind::Ethernet, 1, ts(100, 1_000)),
        (LinkKind::Ethernet, 2, ts(101, 2_000)),
        (LinkKind::RawIp, 3, ts(102, 123_456_789)),
        (LinkKind::Ethernet, 4, ts(103, 4_000)),
        (LinkKind::RawIp, 5, ts(104, 5)),
    ];
    (blocks, expected)
}

fn summary(packets: &[OwnedPacket]) -> Vec<(LinkKind, u16, keepscope::time::Timestamp)> {
    packets
        .iter()
        .zip(ports_of(packets))
        .map(|(p, port)| (p.link, port, p.ts))
        .collect()
}

#[test]
fn mixed_link_type_pcapng_is_read_through_the_fallback() {
    let dir = TempCaptures::new();
    for late in [false, true] {
        let (blocks, expected) = mixed_blocks(late);
        let bytes = pcapng_bytes(&blocks);
        for (name, content) in [
            ("mixed.pcapng", bytes.clone()),
            ("mixed.pcapng.gz", gzip(&bytes)),
        ] {
            let path = dir.file(name, &content);
            let mut source = open(&[path]);
            let packets = read_all(&mut source).unwrap();
            assert_eq!(
                summary(&packets),
                expected,
                "{name}, second interface late: {late}"
            );
            assert_eq!(source.link_types(), ["EN10MB", "RAW"]);
            assert!(source.warnings().is_empty(), "{:?}", source.warnings());
            assert!(!source.truncated());
        }
    }
}

#[test]
fn mixed_pcapng_fallback_resumes_after_filtered_packets() {
    // libpcap reads (and filters out) packets 1 and 2 before giving up on the late
    // interface; the fallback must skip exactly those records, not re-deliver them.
    let dir = TempCaptures::new();
    let (blocks, expected) = mixed_blocks(true);
    let path = dir.file("mixed.pcapng", &pcapng_bytes(&blocks));
    for (filter, ports) in [
        ("tcp src port 2 or tcp src port 3", vec![2, 3]),
        ("tcp src port 1 or tcp src port 5", vec![1, 5]),
        ("tcp", vec![1, 2, 3, 4, 5]),
    ] {
        let mut source = OfflineSource::open(std::slice::from_ref(&path), Some(filter)).unwrap();
        let packets = read_all(&mut source).unwrap();
        assert_eq!(ports_of(&packets), ports, "{filter}");
    }
    let _ = expected;
}

#[test]
fn mixed_pcapng_cut_short_in_the_fallback() {
    let dir = TempCaptures::new();
    let (blocks, _) = mixed_blocks(false);
    let bytes = pcapng_bytes(&blocks);
    let path = dir.file("mixed-cut.pcapng", &bytes[..bytes.len() - 5]);
    let mut source = open(std::slice::from_ref(&path));
    assert_eq!(ports_of(&read_all(&mut source).unwrap()), [1, 2, 3, 4]);
    assert!(source.truncated());
    assert!(source.warnings()[0].starts_with(&path.display().to_string()));
}

#[test]
fn bpf_filters_apply_offline() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..10u16)
        .map(|i| Record::new(ts(1, 0), frame(Link::Ethernet, 1000 + i, 1, b"x")))
        .collect();
    let path = dir.file(
        "f.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records),
    );
    let mut source = OfflineSource::open(
        std::slice::from_ref(&path),
        Some("tcp src portrange 1003-1005"),
    )
    .unwrap();
    assert_eq!(
        ports_of(&read_all(&mut source).unwrap()),
        [1003, 1004, 1005]
    );
    // Blank means no filter.
    let mut source = OfflineSource::open(std::slice::from_ref(&path), Some("  ")).unwrap();
    assert_eq!(read_all(&mut source).unwrap().len(), 10);
    // `greater` sees the wire length of a packet cut by the snaplen.
    let mut cut = Record::new(ts(1, 0), frame(Link::Ethernet, 7, 1, b"y")[..54].to_vec());
    cut.wire_len = Some(1500);
    let path = dir.file(
        "snap.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &[cut]),
    );
    let mut source =
        OfflineSource::open(std::slice::from_ref(&path), Some("greater 1000")).unwrap();
    let packets = read_all(&mut source).unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].wire_len, 1500);

    match OfflineSource::open(&[path], Some("tcp port")) {
        Err(e @ CaptureError::BadFilter { .. }) => {
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("tcp port"), "{e}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("bad filter accepted"),
    }
}

#[test]
fn progress_reaches_the_file_size() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..50u32)
        .map(|i| Record::new(ts(1, 0), frame(Link::Ethernet, 1, i, &[0; 100])))
        .collect();
    let bytes = pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &records);
    let path = dir.file("p.pcap", &bytes);
    let mut source = open(&[path.clone(), path]);
    let total = 2 * bytes.len() as u64;
    assert_eq!(source.progress().1, Some(total));
    let mut last = 0;
    let mut count = 0;
    while source.next_packet().unwrap().is_some() {
        let (consumed, _) = source.progress();
        assert!(consumed >= last && consumed <= total);
        last = consumed;
        count += 1;
        if count == 25 {
            // Half of the first file: the estimate is exact for pcap records.
            assert_eq!(consumed, 24 + 25 * (16 + records[0].data.len() as u64));
        }
    }
    assert_eq!(source.progress(), (total, Some(total)));
}

#[test]
fn unsupported_link_types_are_named_by_number() {
    let dir = TempCaptures::new();
    let path = dir.file(
        "arcnet.pcap",
        &pcap_bytes(
            129,
            TsPrecision::Micro,
            &[Record::new(ts(1, 0), vec![1, 2, 3])],
        ),
    );
    let mut source = open(&[path]);
    assert_eq!(source.link_types(), ["LINKTYPE_129"]);
    let packets = read_all(&mut source).unwrap();
    assert_eq!(packets[0].link, LinkKind::Unsupported(129));
}

// ---------------------------------------------------------------------------
// Streams: a FIFO takes the same path as stdin (read once, sniffed bytes put back).

fn through_fifo(
    dir: &TempCaptures,
    name: &str,
    bytes: Vec<u8>,
) -> (PathBuf, std::thread::JoinHandle<()>) {
    let path = dir.dir.path().join(name);
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        // The reader may stop early; a broken pipe is fine.
        let _ = fifo.write_all(&bytes);
    });
    (path, writer)
}

#[test]
fn streams_pcap_pcapng_and_gzip() {
    let dir = TempCaptures::new();
    let pcap = pcap_bytes(
        LINKTYPE_ETHERNET,
        TsPrecision::Nano,
        &[Record::new(ts(3, 3), frame(Link::Ethernet, 31, 1, b"s"))],
    );
    let (blocks, expected) = mixed_blocks(true);
    let ng = pcapng_bytes(&blocks);
    let cases: Vec<(&str, Vec<u8>, Vec<u16>)> = vec![
        ("pcap.fifo", pcap.clone(), vec![31]),
        ("pcap-gz.fifo", gzip(&pcap), vec![31]),
        (
            "ng.fifo",
            ng.clone(),
            expected.iter().map(|e| e.1).collect(),
        ),
        (
            "ng-gz.fifo",
            gzip(&ng),
            expected.iter().map(|e| e.1).collect(),
        ),
    ];
    for (name, bytes, ports) in cases {
        let (path, writer) = through_fifo(&dir, name, bytes);
        let mut source = open(&[path]);
        assert_eq!(source.progress().1, None, "a stream has no known size");
        let packets = read_all(&mut source).unwrap();
        assert_eq!(ports_of(&packets), ports, "{name}");
        writer.join().unwrap();
    }
    let (path, writer) = through_fifo(&dir, "ts.fifo", pcap);
    assert_eq!(read_all(&mut open(&[path])).unwrap()[0].ts, ts(3, 3));
    writer.join().unwrap();
}

#[test]
fn stdin_dash_in_a_child_process() {
    // The child: read `-` and print what came through.
    if std::env::var_os("KEEPSCOPE_TEST_STDIN_CHILD").is_some() {
        let mut source = OfflineSource::open(&[PathBuf::from("-")], None).unwrap();
        let packets = read_all(&mut source).unwrap();
        println!(
            "CHILD ports={:?} links={:?} progress_total={:?}",
            ports_of(&packets),
            source.link_types(),
            source.progress().1
        );
        return;
    }
    let pcap = pcap_bytes(
        LINKTYPE_LINUX_SLL,
        TsPrecision::Micro,
        &[
            Record::new(ts(1, 0), frame(Link::LinuxSll, 41, 1, b"a")),
            Record::new(ts(2, 0), frame(Link::LinuxSll, 42, 1, b"b")),
        ],
    );
    for input in [pcap.clone(), gzip(&pcap)] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "stdin_dash_in_a_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KEEPSCOPE_TEST_STDIN_CHILD", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let output = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(
            stdout.contains("CHILD ports=[41, 42] links=[\"LINUX_SLL\"] progress_total=None"),
            "{stdout}"
        );
    }
}

#[test]
fn sources_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<OfflineSource>();
    assert_send::<keepscope::capture::LiveSource>();
    assert_send::<keepscope::capture::PacketWriter>();
}

#[test]
fn unreadable_file_without_privileges() {
    if let Some(path) = std::env::var_os("KEEPSCOPE_TEST_UNREADABLE_CHILD") {
        // SAFETY: plain libc calls with constant arguments; glibc applies them to
        // every thread of the process.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
        match OfflineSource::open(&[PathBuf::from(path)], None) {
            Err(e @ CaptureError::Unreadable { .. }) => {
                println!("CHILD exit={} {e}", e.exit_code())
            }
            Err(other) => println!("CHILD other error {other:?}"),
            Ok(_) => println!("CHILD opened"),
        }
        return;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("not root: cannot drop privileges in a child; skipping");
        return;
    }
    let dir = TempCaptures::new();
    let path = dir.file(
        "private.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Micro, &[]),
    );
    // Readable by root only.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unreadable_file_without_privileges",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEPSCOPE_TEST_UNREADABLE_CHILD", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!(
        "CHILD exit=1 {}: cannot read: permission denied",
        path.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
}

#[test]
fn a_quiet_stream_delivers_what_has_arrived() {
    // A live producer (`dumpcap -w - | keepscope …`) writes the headers and a packet,
    // then goes quiet: opening and the first packet must not wait for more.
    let dir = TempCaptures::new();
    let first = frame(Link::Ethernet, 1, 1, b"first");
    let second = frame(Link::Ethernet, 2, 1, b"second");
    let pcap = pcap_bytes(
        LINKTYPE_ETHERNET,
        TsPrecision::Micro,
        &[
            Record::new(ts(1, 0), first.clone()),
            Record::new(ts(2, 0), second.clone()),
        ],
    );
    let pcap_split = pcap.len() - (16 + second.len());
    let second_len = second.len();
    let ng = pcapng_with_interfaces(
        &[(LINKTYPE_ETHERNET, None)],
        &[(0, ts(1, 0), first), (0, ts(2, 0), second)],
    );
    // The last enhanced packet block: 32 bytes of framing plus the padded frame.
    let ng_split = ng.len() - (32 + second_len.next_multiple_of(4));
    for (name, bytes, split) in [
        ("quiet-pcap.fifo", pcap, pcap_split),
        ("quiet-ng.fifo", ng, ng_split),
    ] {
        let path = dir.dir.path().join(name);
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let (go_on, wait) = std::sync::mpsc::channel::<()>();
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            let mut fifo = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            fifo.write_all(&bytes[..split]).unwrap();
            fifo.flush().unwrap();
            // Quiet until the reader got the first packet (or a generous timeout).
            let _ = wait.recv_timeout(std::time::Duration::from_secs(10));
            fifo.write_all(&bytes[split..]).unwrap();
        });
        let started = std::time::Instant::now();
        let mut source = open(&[path]);
        let first = source
            .next_packet()
            .unwrap()
            .expect("first packet")
            .data
            .to_vec();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{name}: waited for more input"
        );
        go_on.send(()).unwrap();
        let mut packets = vec![OwnedPacket {
            ts: ts(1, 0),
            wire_len: first.len() as u32,
            link: LinkKind::Ethernet,
            data: first,
        }];
        packets.extend(read_all(&mut source).unwrap());
        assert_eq!(ports_of(&packets), [1, 2], "{name}");
        writer.join().unwrap();
    }
}
