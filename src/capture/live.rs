//! Live capture from an interface, and writing packets to a pcap file (`-w`).
//!
//! libpcap's `next_packet()` can block forever on Linux when the interface is idle
//! (its timeout is a packet-buffer timeout, libpcap issues #1001 and #1489), which
//! would freeze the caller's ticks and Ctrl-C handling. So the handle is made
//! non-blocking and `poll_packets` waits on its descriptor with poll(2) for at most
//! the caller's timeout, then drains what arrived with `pcap_dispatch`, zero-copy.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Device, Linktype, Packet, PacketHeader, Precision, Savefile};

use super::{pcap_detail, CaptureError, RawPacket};
use crate::decode::LinkKind;

/// How to open a live capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// Interface name; `None` picks libpcap's default device.
    pub iface: Option<String>,
    /// BPF expression applied in the kernel; empty means every packet.
    pub filter: String,
    /// Bytes kept of each packet.
    pub snaplen: i32,
    pub promisc: bool,
    /// Deliver packets as they arrive rather than when the kernel buffer block fills.
    /// libpcap then uses a ring of fixed slots of about `snaplen` bytes (capped by
    /// the interface MTU): `buffer_size / slot` packets fit before the kernel drops,
    /// and on `lo` every packet takes two slots.
    pub immediate: bool,
    /// Kernel capture buffer, in bytes.
    pub buffer_size: i32,
}

impl Default for LiveConfig {
    /// Default device, all TCP, whole packets, not promiscuous, immediate, 32 MiB
    /// (over 20,000 slots on a 1500-byte-MTU link, 128 on `lo` with its 64 KiB MTU).
    fn default() -> Self {
        LiveConfig {
            iface: None,
            filter: "tcp".to_string(),
            snaplen: 262_144,
            promisc: false,
            immediate: true,
            buffer_size: 32 << 20,
        }
    }
}

/// Without immediate mode, the kernel hands over a buffer block at the latest after
/// this long, so an idle link still shows its last packets promptly.
const BUFFER_TIMEOUT_MS: i32 = 100;

/// An open live capture.
pub struct LiveSource {
    cap: Capture<Active>,
    iface: String,
    link: LinkKind,
    /// Packets handed to the caller. The kernel's own "received" count includes
    /// copies libpcap discards (on `lo` every packet is seen twice), so it is not used.
    delivered: u64,
    /// Last known kernel drop count.
    dropped: u64,
}

impl LiveSource {
    pub fn open(config: &LiveConfig) -> Result<LiveSource, CaptureError> {
        let iface = match &config.iface {
            Some(name) => name.clone(),
            None => default_device()?,
        };
        let inactive = Capture::from_device(iface.as_str())
            .map_err(|e| live_error(&iface, e))?
            .promisc(config.promisc)
            .snaplen(config.snaplen)
            .buffer_size(config.buffer_size)
            .immediate_mode(config.immediate)
            .timeout(BUFFER_TIMEOUT_MS)
            .precision(Precision::Nano);
        let cap = inactive.open().map_err(|e| live_error(&iface, e))?;
        let mut cap = cap.setnonblock().map_err(|e| live_error(&iface, e))?;
        let filter = config.filter.trim();
        if !filter.is_empty() {
            cap.filter(filter, true)
                .map_err(|e| CaptureError::BadFilter {
                    filter: filter.to_string(),
                    detail: pcap_detail(&e),
                })?;
        }
        let link = LinkKind::from_linktype(cap.get_datalink().0 as u32);
        Ok(LiveSource {
            cap,
            iface,
            link,
            delivered: 0,
            dropped: 0,
        })
    }

    /// The interface being captured.
    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// The link type of the captured frames.
    pub fn link(&self) -> LinkKind {
        self.link
    }

    /// Waits up to `timeout_ms` (≥ 0) for packets, then hands every packet that has
    /// arrived to `on_packet` (borrowed from libpcap's buffer for the duration of the
    /// call). Returns how many were delivered: 0 after an idle timeout, or when a
    /// signal interrupted the wait (so the caller can look at its stop flag).
    pub fn poll_packets(
        &mut self,
        timeout_ms: i32,
        on_packet: &mut dyn FnMut(RawPacket<'_>),
    ) -> Result<usize, CaptureError> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let mut pollfd = libc::pollfd {
                fd: self.cap.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Rounded up, so that a wait never ends before the deadline.
            let wait_ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, and the count says one.
            let ready = unsafe { libc::poll(&mut pollfd, 1, wait_ms) };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    return Ok(0);
                }
                return Err(CaptureError::Live {
                    iface: self.iface.clone(),
                    detail: format!("poll: {error}"),
                });
            }
            if ready == 0 {
                return Ok(0);
            }
            let link = self.link;
            // Non-blocking: dispatch returns what is buffered, possibly nothing, and
            // reports an interface that went away as an error.
            let delivered = self
                .cap
                .dispatch(None, |packet| on_packet(raw_packet(&packet, link)))
                .map_err(|e| live_error(&self.iface, e))?;
            self.delivered += delivered as u64;
            // Readable with nothing delivered (most likely packets that reached the
            // ring before the filter was set, which libpcap filters out itself, or
            // an empty block the kernel handed over). The wait goes on
            // until the deadline, as for an idle interface (returning at once made
            // three idle 100 ms polls take 200 ms while other traffic ran on `lo`).
            if delivered > 0 || Instant::now() >= deadline {
                return Ok(delivered);
            }
        }
    }

    /// `(packets delivered, packets the kernel dropped)` since the capture started.
    pub fn stats(&mut self) -> (u64, u64) {
        if let Ok(stat) = self.cap.stats() {
            self.dropped = u64::from(stat.dropped) + u64::from(stat.if_dropped);
        }
        (self.delivered, self.dropped)
    }

    /// A pcap file writer with this capture's link type, snaplen and (nanosecond)
    /// precision.
    pub fn writer(&self, path: &Path) -> Result<PacketWriter, CaptureError> {
        let name = path.display().to_string();
        let file = File::create(path).map_err(|e| write_error(&name, &e.to_string()))?;
        // SAFETY: the descriptor is ours and handed over; the dumper closes it.
        let savefile = unsafe { self.cap.savefile_raw_fd(file.into_raw_fd()) }
            .map_err(|e| write_error(&name, &pcap_detail(&e)))?;
        Ok(PacketWriter { savefile, name })
    }
}

fn raw_packet<'a>(packet: &Packet<'a>, link: LinkKind) -> RawPacket<'a> {
    let header = packet.header;
    RawPacket {
        // Nanosecond precision: tv_usec holds nanoseconds.
        ts: super::nano_timeval(&header.ts),
        wire_len: header.len,
        link,
        data: packet.data,
    }
}

fn default_device() -> Result<String, CaptureError> {
    let iface = "(default device)";
    match Device::lookup() {
        Ok(Some(device)) => Ok(device.name),
        Ok(None) => Err(CaptureError::NoSuchDevice {
            iface: iface.to_string(),
        }),
        Err(e) => Err(live_error(iface, e)),
    }
}

/// libpcap reports everything as text; these are the messages of its Linux backend.
fn live_error(iface: &str, error: pcap::Error) -> CaptureError {
    let detail = pcap_detail(&error);
    let permission = [
        "Operation not permitted",
        "Permission denied",
        "don't have permission",
    ];
    if permission.iter().any(|p| detail.contains(p)) {
        let binary = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "keepscope".to_string());
        return CaptureError::PermissionDenied {
            iface: iface.to_string(),
            binary,
        };
    }
    if detail.contains("No such device") {
        return CaptureError::NoSuchDevice {
            iface: iface.to_string(),
        };
    }
    CaptureError::Live {
        iface: iface.to_string(),
        detail,
    }
}

fn write_error(path: &str, detail: &str) -> CaptureError {
    CaptureError::Write {
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

/// Writes packets to a classic pcap file (`-w OUT.pcap`).
pub struct PacketWriter {
    savefile: Savefile,
    name: String,
}

impl PacketWriter {
    /// A writer for packets of link type `link`, not tied to a live capture (the
    /// file records nanoseconds).
    pub fn create(path: &Path, link: LinkKind) -> Result<PacketWriter, CaptureError> {
        let name = path.display().to_string();
        let linktype = i32::try_from(link.linktype())
            .map_err(|_| write_error(&name, "link type out of range"))?;
        let dead = Capture::dead_with_precision(Linktype(linktype), Precision::Nano)
            .map_err(|e| write_error(&name, &pcap_detail(&e)))?;
        let file = File::create(path).map_err(|e| write_error(&name, &e.to_string()))?;
        // SAFETY: the descriptor is ours and handed over; the dumper closes it.
        let savefile = unsafe { dead.savefile_raw_fd(file.into_raw_fd()) }
            .map_err(|e| write_error(&name, &pcap_detail(&e)))?;
        Ok(PacketWriter { savefile, name })
    }

    /// Appends one packet (buffered; see `flush`).
    pub fn write(&mut self, packet: &RawPacket<'_>) {
        let nanos = packet.ts.as_nanos();
        let header = PacketHeader {
            // The file is nanosecond-precision: the "microseconds" field holds ns.
            ts: libc::timeval {
                tv_sec: nanos.div_euclid(1_000_000_000) as libc::time_t,
                tv_usec: nanos.rem_euclid(1_000_000_000) as libc::suseconds_t,
            },
            caplen: u32::try_from(packet.data.len()).unwrap_or(u32::MAX),
            len: packet
                .wire_len
                .max(u32::try_from(packet.data.len()).unwrap_or(u32::MAX)),
        };
        self.savefile.write(&Packet::new(&header, packet.data));
    }

    /// Pushes buffered packets to the file.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.savefile
            .flush()
            .map_err(|e| write_error(&self.name, &pcap_detail(&e)))
    }
}

/// One capture interface, as `keepscope interfaces` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

/// The interfaces libpcap can capture on.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, CaptureError> {
    let devices = Device::list().map_err(|e| CaptureError::Live {
        iface: "(all)".to_string(),
        detail: pcap_detail(&e),
    })?;
    Ok(devices
        .into_iter()
        .map(|device| InterfaceInfo {
            up: device.flags.is_up(),
            running: device.flags.is_running(),
            loopback: device.flags.is_loopback(),
            addresses: device.addresses.iter().map(|a| a.addr).collect(),
            description: device.desc,
            name: device.name,
        })
        .collect())
}
