//! Arbitrary bytes, split at arbitrary points, fed to both directions of an
//! `Http1Conn`, with gaps and FINs mixed in. The framer must never panic, never
//! buffer more than its limits allow, and never end more messages than it began.
#![no_main]

use keepscope::http::{HttpConfig, HttpEvent, Http1Conn};
use keepscope::tcp::Dir;
use keepscope::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the connection's setup; then each control byte says what
    // to do next: bit 0 the direction, bits 1-2 the operation, the rest a length.
    let Some((&setup, mut rest)) = data.split_first() else { return };
    let config = HttpConfig { max_head_bytes: 512 + usize::from(setup & 0x3f) * 64, max_headers: 32, max_pending_requests: 16, ..HttpConfig::default() };
    let mut conn = Http1Conn::new(config, setup & 0x80 == 0);
    let mut out = Vec::new();
    let mut heads = 0usize;
    let mut ends = 0usize;
    let mut ts = 0i64;
    while let Some((&control, tail)) = rest.split_first() {
        rest = tail;
        ts += 1;
        let dir = if control & 1 == 0 { Dir::ClientToServer } else { Dir::ServerToClient };
        let len = usize::from(control >> 3) * 7 + 1;
        match (control >> 1) & 3 {
            0 => conn.on_missing(dir, Timestamp(ts), len as u64, &mut out),
            1 if control >> 3 == 0x1f => conn.on_fin(dir, Timestamp(ts), &mut out),
            _ => {
                let take = len.min(rest.len());
                conn.on_data(dir, Timestamp(ts), &rest[..take], &mut out);
                rest = &rest[take..];
            }
        }
        for e in out.drain(..) {
            match e {
                HttpEvent::RequestHead { .. } | HttpEvent::ResponseHead { interim: false, .. } => heads += 1,
                HttpEvent::MessageEnd { .. } => ends += 1,
                _ => {}
            }
        }
        assert!(ends <= heads, "{ends} message ends for {heads} heads");
    }
    conn.finish(Timestamp(ts + 1), &mut out);
    let _ = conn.protocol();
});
