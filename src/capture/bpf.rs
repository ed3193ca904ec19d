//! BPF filtering of offline packets, done here rather than inside libpcap.
//!
//! Filtering packets ourselves (with libpcap's own `pcap_offline_filter`, the very
//! function libpcap applies to savefiles) costs the same and lets the reader count
//! every record it passed, filtered or not: the mixed-link-type fallback needs that
//! count to resume a pcapng file where libpcap gave up. It also works for the
//! pcap-parser path, which has no libpcap handle, one program per link type.

use std::ffi::{c_int, c_void};

use pcap::{BpfProgram, Capture, Linktype};

use super::pcap_detail;

/// A compiled filter for one link type.
pub(super) struct Filter {
    program: BpfProgram,
}

/// libpcap's packet header, as `pcap_offline_filter` reads it.
#[repr(C)]
struct PcapPkthdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

// The pcap crate links libpcap already; naming it here keeps this block honest on
// its own.
#[link(name = "pcap")]
extern "C" {
    fn pcap_offline_filter(
        program: *const c_void,
        header: *const PcapPkthdr,
        packet: *const u8,
    ) -> c_int;
}

// `BpfProgram` is a `repr(transparent)` wrapper of libpcap's `struct bpf_program`
// (a length and a pointer). Refuse to build if that ever stops being so.
const _: () = assert!(std::mem::size_of::<BpfProgram>() == 2 * std::mem::size_of::<usize>());

impl Filter {
    /// Compiles `expression` for packets of link type `linktype`.
    /// `linktype` is a LINKTYPE_ value as files store it, or a DLT_ value as libpcap
    /// reports for an open handle (they differ only where `dlt_of` says).
    pub(super) fn compile(linktype: u32, expression: &str) -> Result<Filter, String> {
        let dlt = i32::try_from(dlt_of(linktype))
            .map_err(|_| format!("link type {linktype} out of range"))?;
        let dead = Capture::dead(Linktype(dlt)).map_err(|e| pcap_detail(&e))?;
        let program = dead
            .compile(expression, true)
            .map_err(|e| pcap_detail(&e))?;
        Ok(Filter { program })
    }

    /// Whether the packet passes. `wire_len` matters for `greater`/`less`/`len`.
    pub(super) fn matches(&self, data: &[u8], wire_len: u32) -> bool {
        let header = PcapPkthdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: u32::try_from(data.len()).unwrap_or(u32::MAX),
            len: wire_len,
        };
        // SAFETY: `self.program` is a valid compiled program (see the layout check
        // above), `header` lives across the call, and `caplen` is exactly the number
        // of readable bytes at `data`: the BPF interpreter checks every load
        // against `caplen`.
        unsafe {
            pcap_offline_filter(
                &self.program as *const BpfProgram as *const c_void,
                &header,
                data.as_ptr(),
            ) > 0
        }
    }
}

/// libpcap's filter compiler wants the platform's DLT_ value. LINKTYPE_ values (in
/// files) equal the DLT_ ones except for the few that differ between platforms,
/// which files store as 100-103. The DLTs below are Linux's.
fn dlt_of(linktype: u32) -> u32 {
    match linktype {
        100 => 11, // ATM_RFC1483
        101 => 12, // RAW
        102 => 15, // SLIP_BSDOS
        103 => 16, // PPP_BSDOS
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_content_and_wire_length() {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 80, 1, 1000)
            .write(&mut frame, b"hello")
            .unwrap();
        let port80 = Filter::compile(1, "tcp port 80").unwrap();
        assert!(port80.matches(&frame, frame.len() as u32));
        let port81 = Filter::compile(1, "tcp port 81").unwrap();
        assert!(!port81.matches(&frame, frame.len() as u32));
        // `greater` looks at the wire length, not at what was captured.
        let big = Filter::compile(1, "greater 1000").unwrap();
        assert!(!big.matches(&frame, frame.len() as u32));
        assert!(big.matches(&frame, 1500));
        assert!(Filter::compile(1, "tcp port").is_err());
        // Raw IP as files name it (101) and as libpcap names it (12).
        let ip = &frame[14..];
        for linktype in [101, 12] {
            assert!(Filter::compile(linktype, "tcp port 80")
                .unwrap()
                .matches(ip, ip.len() as u32));
        }
    }
}
