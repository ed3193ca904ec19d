//! In-order reassembly must not allocate per packet: a counting global allocator
//! watches the hot path. It counts per thread: the test harness's own thread may
//! allocate while the test runs (seen once in CI: 4 allocations, none of them the
//! tracker's).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::cell::Cell;

use keepscope::decode::{Endpoint, TcpFlags, TcpSegment};
use keepscope::tcp::{ConnId, StreamEvent, StreamSink, TcpConfig, TcpTracker};
use keepscope::time::Timestamp;

struct Counting;

thread_local! {
    /// Allocations made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Default)]
struct Totals {
    bytes: u64,
    events: u64,
}

impl StreamSink for Totals {
    fn on_stream_event(&mut self, _conn: ConnId, event: StreamEvent<'_>) {
        self.events += 1;
        if let StreamEvent::Data { bytes, .. } = event {
            self.bytes += bytes.len() as u64;
        }
    }
}

fn seg<'a>(src: Endpoint, dst: Endpoint, seq: u32, ack: u32, syn: bool, payload: &'a [u8]) -> TcpSegment<'a> {
    TcpSegment {
        src,
        dst,
        vlan: 0,
        seq,
        ack,
        flags: TcpFlags { syn, ack: ack != 0, fin: false, rst: false, psh: !payload.is_empty() },
        window: 65535,
        payload,
        payload_len: payload.len() as u32,
    }
}

#[test]
fn in_order_segments_do_not_allocate() {
    const CONNS: u32 = 64;
    const ROUNDS: u32 = 200;
    let payload = vec![b'x'; 1400];
    let mut tracker = TcpTracker::new(TcpConfig::default());
    let mut sink = Totals::default();
    let server = Endpoint { ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), port: 80 };
    let clients: Vec<Endpoint> = (0..CONNS)
        .map(|k| Endpoint { ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port: 20000 + k as u16 })
        .collect();
    let mut ts = 0i64;
    let mut tick = || {
        ts += 1000;
        Timestamp(ts)
    };
    // Opening connections may allocate (table entry, connection state).
    let isn = u32::MAX - 100_000; // wraps during the run
    for c in &clients {
        tracker.on_segment(tick(), &seg(*c, server, isn, 0, true, b""), &mut sink);
        tracker.on_segment(tick(), &seg(server, *c, 7, isn + 1, true, b""), &mut sink);
        tracker.on_segment(tick(), &seg(*c, server, isn + 1, 8, false, b""), &mut sink);
    }
    let before = allocations();
    assert!(before > 0, "the counting allocator is in use");
    for round in 0..ROUNDS {
        let seq = isn.wrapping_add(1).wrapping_add(round * payload.len() as u32);
        let acked = seq.wrapping_add(payload.len() as u32);
        for c in &clients {
            tracker.on_segment(tick(), &seg(*c, server, seq, 8, false, &payload), &mut sink);
            tracker.on_segment(tick(), &seg(server, *c, 8, acked, false, b""), &mut sink);
        }
    }
    let allocations = allocations() - before;
    assert_eq!(sink.bytes, CONNS as u64 * ROUNDS as u64 * payload.len() as u64);
    assert_eq!(allocations, 0, "in-order delivery allocated");
    assert_eq!(tracker.stats().buffered_bytes_peak, 0);
}
