//! Writes a synthetic capture of many short HTTP/1.1 connections, for the scale
//! benchmarks (`scripts/bench.sh`): each connection is a handshake, one request,
//! one response, and FINs from both sides — 8 packets. Connections are interleaved
//! in groups of 64 so the flow table holds many at once, as on a busy server.
//! Addresses are in 127.0.0.0/8; nothing is sent anywhere, the packets only go
//! into the file.
//!
//! usage: cargo run --release --example gen_synthetic -- CONNECTIONS OUT.pcap

use std::io::{BufWriter, Write};

use etherparse::PacketBuilder;

const GROUP: usize = 64;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(path)) = (args.next().and_then(|s| s.parse::<usize>().ok()), args.next()) else {
        eprintln!("usage: gen_synthetic CONNECTIONS OUT.pcap");
        std::process::exit(2);
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    // Classic pcap header: microseconds, Ethernet, snaplen 65535.
    let mut header = Vec::new();
    put_u32(&mut header, 0xa1b2_c3d4);
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    put_u32(&mut header, 0);
    put_u32(&mut header, 0);
    put_u32(&mut header, 65535);
    put_u32(&mut header, 1);
    out.write_all(&header)?;

    let server_ip = [127, 0, 0, 1];
    let server_port = 8080u16;
    let response = b"HTTP/1.1 200 OK\r\nServer: gen\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    let mut frame = Vec::with_capacity(512);
    let mut record = Vec::with_capacity(600);
    let mut usec: u64 = 1_700_000_000 * 1_000_000;
    let mut packets = 0u64;

    let mut start = 0;
    while start < n {
        let end = (start + GROUP).min(n);
        for step in 0..8 {
            for i in start..end {
                let client_ip = [127, 1 + (i >> 16) as u8 % 250, (i >> 8) as u8, i as u8];
                let client_port = 1024 + (i % 60_000) as u16;
                let request = format!("GET /item/{i} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: gen/1\r\nAccept: */*\r\n\r\n");
                let c_isn = (i as u32).wrapping_mul(2_654_435_761);
                let s_isn = c_isn ^ 0x5555_5555;
                let rq = request.len() as u32;
                let rs = response.len() as u32;
                frame.clear();
                let to_server = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(client_ip, server_ip, 64);
                let to_client = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]).ipv4(server_ip, client_ip, 64);
                let res = match step {
                    0 => to_server.tcp(client_port, server_port, c_isn, 65535).syn().write(&mut frame, &[]),
                    1 => to_client.tcp(server_port, client_port, s_isn, 65535).syn().ack(c_isn + 1).write(&mut frame, &[]),
                    2 => to_server.tcp(client_port, server_port, c_isn + 1, 65535).ack(s_isn + 1).write(&mut frame, &[]),
                    3 => to_server
                        .tcp(client_port, server_port, c_isn + 1, 65535)
                        .ack(s_isn + 1)
                        .psh()
                        .write(&mut frame, request.as_bytes()),
                    4 => to_client
                        .tcp(server_port, client_port, s_isn + 1, 65535)
                        .ack(c_isn + 1 + rq)
                        .psh()
                        .write(&mut frame, response),
                    5 => to_server.tcp(client_port, server_port, c_isn + 1 + rq, 65535).ack(s_isn + 1 + rs).fin().write(&mut frame, &[]),
                    6 => to_client
                        .tcp(server_port, client_port, s_isn + 1 + rs, 65535)
                        .ack(c_isn + 2 + rq)
                        .fin()
                        .write(&mut frame, &[]),
                    _ => to_server.tcp(client_port, server_port, c_isn + 2 + rq, 65535).ack(s_isn + 2 + rs).write(&mut frame, &[]),
                };
                if let Err(e) = res {
                    eprintln!("gen_synthetic: cannot build packet: {e}");
                    std::process::exit(1);
                }
                usec += 7;
                record.clear();
                put_u32(&mut record, (usec / 1_000_000) as u32);
                put_u32(&mut record, (usec % 1_000_000) as u32);
                put_u32(&mut record, frame.len() as u32);
                put_u32(&mut record, frame.len() as u32);
                record.extend_from_slice(&frame);
                out.write_all(&record)?;
                packets += 1;
            }
        }
        start = end;
    }
    out.flush()?;
    eprintln!("gen_synthetic: wrote {packets} packets in {n} connections to {path}");
    Ok(())
}
