//! Live capture on the loopback interface (the tests run as root; only 127.0.0.1
//! carries traffic), the error mapping of `LiveSource::open`, `-w` writing, and the
//! interface list.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use keepscope::capture::{
    list_interfaces, CaptureError, LiveConfig, LiveSource, OfflineSource, PacketWriter, RawPacket,
};
use keepscope::decode::{decode, Decoded, LinkKind};

fn lo_config(filter: String) -> LiveConfig {
    LiveConfig {
        iface: Some("lo".to_string()),
        filter,
        snaplen: 65_535,
        promisc: false,
        immediate: true,
        // Immediate mode gives libpcap fixed ring slots of `snaplen` bytes, and on lo
        // every packet takes two (the outgoing copy is dropped in user space):
        // 16 MiB / 64 KiB = 256 slots.
        buffer_size: 16 << 20,
    }
}

fn owned(p: RawPacket<'_>) -> OwnedPacket {
    OwnedPacket {
        ts: p.ts,
        wire_len: p.wire_len,
        link: p.link,
        data: p.data.to_vec(),
    }
}

#[test]
fn loopback_capture_sees_a_tcp_exchange_and_writes_it_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut live = LiveSource::open(&lo_config(format!("tcp port {port}"))).unwrap();
    assert_eq!(live.interface(), "lo");
    assert_eq!(live.link(), LinkKind::Ethernet);

    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 5];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(b"world").unwrap();
        // Wait for the client's FIN, then close our side.
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).unwrap();
        request
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"hello").unwrap();
    let mut reply = [0u8; 5];
    client.read_exact(&mut reply).unwrap();
    drop(client);
    assert_eq!(&server.join().unwrap(), b"hello");
    assert_eq!(&reply, b"world");

    // Handshake (3) + 2 data + their ACKs + FIN/ACK both ways: at least 8 segments.
    let mut packets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fins = 0;
    while Instant::now() < deadline && (packets.len() < 8 || fins < 2) {
        live.poll_packets(100, &mut |p| packets.push(owned(p)))
            .unwrap();
        fins = packets
            .iter()
            .filter(|p| matches!(decode(p.link, &p.data), Decoded::Tcp(t) if t.flags.fin))
            .count();
    }
    assert!(packets.len() >= 8, "{} packets", packets.len());
    let mut payloads = Vec::new();
    let mut syn = 0;
    for p in &packets {
        let Decoded::Tcp(t) = decode(p.link, &p.data) else {
            panic!("not TCP on lo: {:?}", p.data)
        };
        assert!(t.src.port == port || t.dst.port == port);
        assert!(t.src.ip.is_loopback() && t.dst.ip.is_loopback());
        if t.flags.syn {
            syn += 1;
        }
        if !t.payload.is_empty() {
            payloads.push(t.payload.to_vec());
        }
    }
    assert_eq!(syn, 2, "SYN and SYN+ACK");
    assert_eq!(payloads, [b"hello".to_vec(), b"world".to_vec()]);
    assert!(packets.windows(2).all(|w| w[0].ts <= w[1].ts));
    let (delivered, dropped) = live.stats();
    assert_eq!((delivered, dropped), (packets.len() as u64, 0));

    // `-w`: the same packets, read back with nanosecond timestamps intact.
    let dir = TempCaptures::new();
    let out = dir.dir.path().join("out.pcap");
    let mut writer = live.writer(&out).unwrap();
    for p in &packets {
        writer.write(&RawPacket {
            ts: p.ts,
            wire_len: p.wire_len,
            link: p.link,
            data: &p.data,
        });
    }
    writer.flush().unwrap();
    drop(writer);
    let read_back = read_all(&mut OfflineSource::open(&[out], None).unwrap()).unwrap();
    assert_eq!(read_back, packets);
}

#[test]
fn idle_interface_returns_after_the_timeout() {
    // Port 9 on lo carries nothing here: poll must come back on its own.
    let mut live = LiveSource::open(&lo_config("tcp port 9 and tcp port 7".to_string())).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            live.poll_packets(100, &mut |_| panic!("no packet expected"))
                .unwrap(),
            0
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[test]
fn open_errors_are_mapped() {
    match LiveSource::open(&LiveConfig {
        iface: Some("nosuchif0".to_string()),
        ..lo_config(String::new())
    }) {
        Err(e @ CaptureError::NoSuchDevice { .. }) => {
            assert!(e.to_string().starts_with("nosuchif0: "), "{e}");
            assert_eq!(e.exit_code(), 1);
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened a missing interface"),
    }
    match LiveSource::open(&lo_config("tcp port".to_string())) {
        Err(e @ CaptureError::BadFilter { .. }) => assert_eq!(e.exit_code(), 2),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("bad filter accepted"),
    }
}

#[test]
fn capture_without_privileges_is_permission_denied() {
    if std::env::var_os("KEEPSCOPE_TEST_UNPRIVILEGED_CHILD").is_some() {
        // Drop root for good (all threads: glibc applies set*id process-wide), then try.
        // SAFETY: plain libc calls with constant arguments.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
        match LiveSource::open(&lo_config(String::new())) {
            Err(e @ CaptureError::PermissionDenied { .. }) => {
                println!("CHILD exit={} {e}", e.exit_code())
            }
            Err(other) => println!("CHILD other error {other:?}"),
            Ok(_) => println!("CHILD opened"),
        }
        return;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("not root: the unprivileged case is the normal one here; skipping");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "capture_without_privileges_is_permission_denied",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEPSCOPE_TEST_UNPRIVILEGED_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("CHILD exit=3 lo: capture not permitted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("setcap cap_net_raw,cap_net_admin+eip /"),
        "{stdout}"
    );
}

#[test]
fn interfaces_include_loopback() {
    let interfaces = list_interfaces().unwrap();
    let lo = interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("lo listed");
    assert!(lo.loopback && lo.up, "{lo:?}");
    assert!(lo.addresses.iter().any(|a| a.is_loopback()), "{lo:?}");
}

#[test]
fn packet_writer_without_a_live_capture() {
    let dir = TempCaptures::new();
    let path: PathBuf = dir.dir.path().join("w.pcap");
    let data = tcp_frame(
        Link::LinuxSll2,
        addr("[::1]:1"),
        addr("[::1]:2"),
        1,
        2,
        flags("A"),
        b"x",
    );
    let mut writer = PacketWriter::create(&path, LinkKind::LinuxSll2).unwrap();
    let stamp = ts(1_700_000_000, 987_654_321);
    writer.write(&RawPacket {
        ts: stamp,
        wire_len: 9000,
        link: LinkKind::LinuxSll2,
        data: &data,
    });
    writer.flush().unwrap();
    drop(writer);
    let packets = read_all(&mut OfflineSource::open(&[path], None).unwrap()).unwrap();
    assert_eq!(
        packets,
        [OwnedPacket {
            ts: stamp,
            wire_len: 9000,
            link: LinkKind::LinuxSll2,
            data
        }]
    );

    assert!(matches!(
        PacketWriter::create(&dir.dir.path().join("no/such/dir.pcap"), LinkKind::Ethernet),
        Err(CaptureError::Write { .. })
    ));
}
