//! The hot path does not allocate: `decode` on any frame, and `next_packet` on the
//! libpcap path (packets borrowed from libpcap's buffer, BPF applied in place).
//!
//! A counting global allocator (for this test binary only) counts the Rust heap
//! allocations made by the current thread while counting is switched on. libpcap's
//! own C buffers are not Rust allocations and are allocated at open anyway.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use keepscope::capture::{OfflineSource, PacketSource};
use keepscope::decode::{decode, Decoded, LinkKind};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many heap allocations this thread made meanwhile.
fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.with(Cell::get), result)
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations_during(|| vec![1u8; 10]);
    assert_eq!((n, v.len()), (1, 10));
}

#[test]
fn decode_never_allocates() {
    let mut frames: Vec<(LinkKind, Vec<u8>)> = Vec::new();
    for link in [
        Link::Ethernet,
        Link::EthernetVlan(5),
        Link::LinuxSll,
        Link::LinuxSll2,
        Link::Null,
        Link::RawIp,
    ] {
        for (src, dst) in [
            ("10.0.0.1:1", "10.0.0.2:80"),
            ("[2001:db8::1]:1", "[2001:db8::2]:80"),
        ] {
            let frame = tcp_frame(link, addr(src), addr(dst), 1, 2, flags("PA"), &[b'x'; 100]);
            for cut in [frame.len(), frame.len() - 50, 30, 10, 0] {
                frames.push((link.kind(), frame[..cut].to_vec()));
            }
        }
    }
    frames.push((LinkKind::Unsupported(129), vec![0; 60]));
    frames.push((LinkKind::Ethernet, vec![0xff; 60]));

    let (allocations, tcp) = allocations_during(|| {
        let mut tcp = 0;
        for _ in 0..10 {
            for (link, frame) in &frames {
                if let Decoded::Tcp(t) = decode(*link, frame) {
                    tcp += t.payload.len();
                }
            }
        }
        tcp
    });
    assert!(tcp > 0);
    assert_eq!(allocations, 0);
}

#[test]
fn reading_a_file_through_libpcap_does_not_allocate_per_packet() {
    let dir = TempCaptures::new();
    let records: Vec<Record> = (0..1000u32)
        .map(|i| {
            let frame = tcp_frame(
                Link::Ethernet,
                addr("10.0.0.1:1234"),
                addr("10.0.0.2:80"),
                i,
                1,
                flags("PA"),
                &[7; 64],
            );
            Record::new(ts(1, i64::from(i)), frame)
        })
        .collect();
    let path = dir.file(
        "a.pcap",
        &pcap_bytes(LINKTYPE_ETHERNET, TsPrecision::Nano, &records),
    );
    for filter in [None, Some("tcp port 80")] {
        let mut source = OfflineSource::open(std::slice::from_ref(&path), filter).unwrap();
        let (allocations, (count, bytes)) = allocations_during(|| {
            let (mut count, mut bytes) = (0usize, 0usize);
            while let Some(packet) = source.next_packet().unwrap() {
                if let Decoded::Tcp(t) = decode(packet.link, packet.data) {
                    bytes += t.payload.len();
                }
                count += 1;
            }
            (count, bytes)
        });
        assert_eq!((count, bytes), (1000, 64_000));
        assert_eq!(allocations, 0, "filter {filter:?}");
    }
}
