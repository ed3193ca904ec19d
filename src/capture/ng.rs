//! The pcap-parser reader for pcapng files libpcap will not read: interfaces with
//! different link types. Each interface keeps its own link type, timestamp
//! resolution and offset. Streaming: one buffer, blocks consumed as they are used.
//!
//! Only the rare fallback path: pcap-parser builds a `Vec` for the options of blocks
//! that have some, so this path may allocate per packet where libpcap's does not.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};

use super::bpf::Filter;
use super::offline::{End, PacketMeta};
use super::CaptureError;
use crate::decode::LinkKind;
use crate::time::Timestamp;

/// Start with room for any packet libpcap's default snaplen (256 KiB) allows.
const INITIAL_BUFFER: usize = 1 << 20;
/// Blocks bigger than this are not packets anyone captured: the file is damaged.
const MAX_BUFFER: usize = 64 << 20;

struct Interface {
    link: LinkKind,
    /// Timestamp units per second (if_tsresol); 0 when the option is invalid.
    units_per_sec: u64,
    /// Seconds to add to every timestamp (if_tsoffset).
    offset_secs: i64,
    filter: Option<Filter>,
}

/// What one block meant, copied out of the reader's buffer so it can be consumed.
enum Action {
    Section {
        size: usize,
    },
    Interface {
        size: usize,
        linktype: u32,
        tsresol: u8,
        tsoffset: i64,
    },
    Packet {
        size: usize,
        meta: RawMeta,
    },
    Other {
        size: usize,
    },
    Refill,
    Grow,
    Eof,
    Truncated(String),
    Damaged(String),
}

struct RawMeta {
    interface: u32,
    /// Timestamp in interface units; None for simple packet blocks (no timestamp).
    ticks: Option<u64>,
    wire_len: u32,
    /// Address of the packet's first byte, to locate it in the buffer afterwards.
    data_addr: usize,
    data_len: usize,
}

pub(super) struct NgFile {
    reader: PcapNGReader<Box<dyn Read + Send>>,
    capacity: usize,
    /// Interfaces of the current section, by id.
    interfaces: Vec<Interface>,
    filter: Option<String>,
    /// Bytes of the last returned block, consumed on the next call (the caller holds
    /// a borrow of them until then).
    pending_consume: usize,
    /// Packet blocks still to skip because libpcap delivered them before giving up.
    skip: u64,
    /// Offset and length of the packet returned last, in `reader.data()`.
    packet_at: (usize, usize),
    warned_unknown_interface: bool,
    name: String,
}

impl NgFile {
    /// Opens a pcapng stream, skipping the first `skip` packet blocks, and reads the
    /// blocks up to the first interface so a filter that does not suit its link type
    /// fails now, before any output.
    pub(super) fn open(
        name: &str,
        bytes: Box<dyn Read + Send>,
        filter: Option<&str>,
        skip: u64,
        links: &mut Vec<LinkKind>,
    ) -> Result<NgFile, CaptureError> {
        let bytes: Box<dyn Read + Send> = Box::new(FillFirstRead {
            inner: bytes,
            first: true,
        });
        let reader =
            PcapNGReader::new(INITIAL_BUFFER, bytes).map_err(|e| CaptureError::NotACapture {
                path: name.to_string(),
                detail: format!("pcapng: {e}"),
            })?;
        let mut file = NgFile {
            reader,
            capacity: INITIAL_BUFFER,
            interfaces: Vec::new(),
            filter: filter.map(str::to_string),
            pending_consume: 0,
            skip,
            packet_at: (0, 0),
            warned_unknown_interface: false,
            name: name.to_string(),
        };
        loop {
            match file.advance() {
                Action::Section { size } | Action::Other { size } => file.consume(size),
                Action::Interface {
                    size,
                    linktype,
                    tsresol,
                    tsoffset,
                } => {
                    file.consume(size);
                    file.add_interface(linktype, tsresol, tsoffset, links)?;
                    return Ok(file);
                }
                Action::Refill => file
                    .refill_or_damage()
                    .map_err(|detail| file.not_a_capture(detail))?,
                Action::Grow => file.grow().map_err(|detail| file.not_a_capture(detail))?,
                // A packet before any interface, or the end: leave it for `next`.
                Action::Packet { .. } | Action::Eof => return Ok(file),
                Action::Truncated(detail) | Action::Damaged(detail) => {
                    return Err(file.not_a_capture(detail))
                }
            }
        }
    }

    fn not_a_capture(&self, detail: String) -> CaptureError {
        CaptureError::NotACapture {
            path: self.name.clone(),
            detail,
        }
    }

    /// Bytes consumed so far (exact: pcap-parser counts them).
    pub(super) fn consumed(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// The bytes of the packet `next` returned last.
    pub(super) fn packet_data(&self) -> &[u8] {
        let (start, len) = self.packet_at;
        self.reader.data().get(start..start + len).unwrap_or(&[])
    }

    /// Reads to the next packet that passes the filter.
    pub(super) fn next(
        &mut self,
        warnings: &mut Vec<String>,
        links: &mut Vec<LinkKind>,
    ) -> Result<Result<PacketMeta, End>, CaptureError> {
        if self.pending_consume > 0 {
            let size = std::mem::take(&mut self.pending_consume);
            self.consume(size);
        }
        loop {
            match self.advance() {
                Action::Section { size } => {
                    // A new section starts its own interface list.
                    self.consume(size);
                    self.interfaces.clear();
                }
                Action::Interface {
                    size,
                    linktype,
                    tsresol,
                    tsoffset,
                } => {
                    self.consume(size);
                    self.add_interface(linktype, tsresol, tsoffset, links)?;
                }
                Action::Other { size } => self.consume(size),
                Action::Packet { size, meta } => {
                    if self.skip > 0 {
                        self.skip -= 1;
                        self.consume(size);
                        continue;
                    }
                    let Some(interface) = self.interfaces.get(meta.interface as usize) else {
                        if !self.warned_unknown_interface {
                            self.warned_unknown_interface = true;
                            warnings.push(format!(
                                "{}: packets for undeclared interface {} skipped",
                                self.name, meta.interface
                            ));
                        }
                        self.consume(size);
                        continue;
                    };
                    let base = self.reader.data().as_ptr() as usize;
                    let start = meta.data_addr.wrapping_sub(base);
                    let in_buffer = start
                        .checked_add(meta.data_len)
                        .is_some_and(|end| end <= self.reader.data().len());
                    if !in_buffer {
                        return Ok(Err(End::Damaged(
                            "packet data outside its block".to_string(),
                        )));
                    }
                    let data = &self.reader.data()[start..start + meta.data_len];
                    if let Some(filter) = &interface.filter {
                        if !filter.matches(data, meta.wire_len) {
                            self.consume(size);
                            continue;
                        }
                    }
                    let ts = meta
                        .ticks
                        .map_or(Timestamp::ZERO, |t| timestamp(t, interface));
                    self.packet_at = (start, meta.data_len);
                    self.pending_consume = size;
                    return Ok(Ok(PacketMeta {
                        ts,
                        wire_len: meta.wire_len,
                        link: interface.link,
                    }));
                }
                Action::Refill => {
                    if let Err(detail) = self.refill_or_damage() {
                        return Ok(Err(End::Damaged(detail)));
                    }
                }
                Action::Grow => {
                    if let Err(detail) = self.grow() {
                        return Ok(Err(End::Damaged(detail)));
                    }
                }
                Action::Eof => return Ok(Err(End::Clean)),
                Action::Truncated(detail) => return Ok(Err(End::Truncated(detail))),
                Action::Damaged(detail) => return Ok(Err(End::Damaged(detail))),
            }
        }
    }

    fn add_interface(
        &mut self,
        linktype: u32,
        tsresol: u8,
        tsoffset: i64,
        links: &mut Vec<LinkKind>,
    ) -> Result<(), CaptureError> {
        let link = LinkKind::from_linktype(linktype);
        let filter = match &self.filter {
            Some(expression) => Some(Filter::compile(linktype, expression).map_err(|detail| {
                CaptureError::BadFilter {
                    filter: expression.clone(),
                    detail: format!("{detail} ({})", self.name),
                }
            })?),
            None => None,
        };
        if !links.contains(&link) {
            links.push(link);
        }
        self.interfaces.push(Interface {
            link,
            units_per_sec: units_per_sec(tsresol),
            offset_secs: tsoffset,
            filter,
        });
        Ok(())
    }

    fn consume(&mut self, size: usize) {
        self.reader.consume(size);
    }

    fn refill_or_damage(&mut self) -> Result<(), String> {
        self.reader.refill().map_err(|e| format!("read error: {e}"))
    }

    fn grow(&mut self) -> Result<(), String> {
        if self.capacity >= MAX_BUFFER {
            return Err(format!("block larger than {} MiB", MAX_BUFFER >> 20));
        }
        self.capacity *= 2;
        if self.reader.grow(self.capacity) {
            self.refill_or_damage()
        } else {
            Err("cannot grow the read buffer".to_string())
        }
    }

    /// Parses one block and copies out what the caller needs.
    fn advance(&mut self) -> Action {
        match self.reader.next() {
            Ok((size, PcapBlockOwned::NG(block))) => match block {
                Block::SectionHeader(_) => Action::Section { size },
                Block::InterfaceDescription(idb) => Action::Interface {
                    size,
                    linktype: idb.linktype.0 as u32,
                    tsresol: idb.if_tsresol,
                    tsoffset: idb.if_tsoffset,
                },
                Block::EnhancedPacket(epb) => {
                    let caplen = (epb.caplen as usize).min(epb.data.len());
                    Action::Packet {
                        size,
                        meta: RawMeta {
                            interface: epb.if_id,
                            ticks: Some((u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low)),
                            wire_len: epb.origlen,
                            data_addr: epb.data.as_ptr() as usize,
                            data_len: caplen,
                        },
                    }
                }
                Block::SimplePacket(spb) => {
                    // No caplen field: the data is the original length, cut by the
                    // interface's snaplen (and padded to 4 bytes).
                    let caplen = (spb.origlen as usize).min(spb.data.len());
                    Action::Packet {
                        size,
                        meta: RawMeta {
                            interface: 0,
                            ticks: None,
                            wire_len: spb.origlen,
                            data_addr: spb.data.as_ptr() as usize,
                            data_len: caplen,
                        },
                    }
                }
                _ => Action::Other { size },
            },
            Ok((size, _)) => Action::Other { size },
            Err(PcapError::Eof) => Action::Eof,
            Err(PcapError::Incomplete(_)) => Action::Refill,
            Err(PcapError::BufferTooSmall) => Action::Grow,
            Err(PcapError::UnexpectedEof) => {
                Action::Truncated("the last block is cut short".to_string())
            }
            Err(e) => Action::Damaged(format!("invalid block: {e}")),
        }
    }
}

/// pcap-parser checks the section header after a single `read`, which on a pipe (or
/// behind the sniffed bytes put back in front) may return just a few bytes. The
/// first read therefore waits until the whole section header is there, and no
/// longer (a live pipe may be quiet after it); later reads pass through, a short
/// read there only means another refill.
struct FillFirstRead {
    inner: Box<dyn Read + Send>,
    first: bool,
}

/// Block type, block length, byte-order magic: enough to know the SHB's length.
const SHB_PREFIX: usize = 12;

impl FillFirstRead {
    /// Reads into `buf[*filled..want]` until `want` bytes are there or the input ends.
    fn fill(&mut self, buf: &mut [u8], filled: &mut usize, want: usize) -> std::io::Result<()> {
        while *filled < want {
            match self.inner.read(&mut buf[*filled..want]) {
                Ok(0) => break,
                Ok(n) => *filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for FillFirstRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.first {
            return self.inner.read(buf);
        }
        self.first = false;
        let mut filled = 0;
        self.fill(buf, &mut filled, SHB_PREFIX.min(buf.len()))?;
        if filled == SHB_PREFIX {
            let length = match buf[8..12] {
                [0x4d, 0x3c, 0x2b, 0x1a] => u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]),
                [0x1a, 0x2b, 0x3c, 0x4d] => u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                _ => 0, // not a section header: let pcap-parser say so
            };
            let want = usize::try_from(length).unwrap_or(usize::MAX).min(buf.len());
            self.fill(buf, &mut filled, want)?;
        }
        Ok(filled)
    }
}

/// if_tsresol: high bit clear, 10^-n seconds; set, 2^-n. Default (no option) is 6.
fn units_per_sec(tsresol: u8) -> u64 {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent).unwrap_or(0)
    } else {
        1u64.checked_shl(exponent).unwrap_or(0)
    }
}

fn timestamp(ticks: u64, interface: &Interface) -> Timestamp {
    let units = interface.units_per_sec;
    if units == 0 {
        return Timestamp::ZERO;
    }
    let secs = ticks / units;
    let frac = ticks % units;
    // frac < units, so frac * 1e9 / units < 1e9 and fits; u128 avoids the overflow
    // of the intermediate product for fine resolutions.
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as i64;
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_add(interface.offset_secs);
    Timestamp::from_secs_nanos(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(tsresol: u8, offset_secs: i64) -> Interface {
        Interface {
            link: LinkKind::Ethernet,
            units_per_sec: units_per_sec(tsresol),
            offset_secs,
            filter: None,
        }
    }

    #[test]
    fn timestamp_resolutions() {
        // Microseconds (the default), nanoseconds, and 2^-10 s.
        assert_eq!(
            timestamp(1_500_000_123_456, &interface(6, 0)).as_nanos(),
            1_500_000_123_456_000
        );
        assert_eq!(
            timestamp(1_500_000_123_456_789_123, &interface(9, 0)).as_nanos(),
            1_500_000_123_456_789_123
        );
        assert_eq!(
            timestamp(3 * 1024 + 512, &interface(0x80 | 10, 0)).as_nanos(),
            3_500_000_000
        );
        // if_tsoffset moves whole seconds.
        assert_eq!(
            timestamp(1_000_000, &interface(6, 100)).as_nanos(),
            101_000_000_000
        );
        // Nonsense resolutions do not panic.
        assert_eq!(timestamp(5, &interface(0x7f, 0)), Timestamp::ZERO);
        assert_eq!(
            timestamp(u64::MAX, &interface(0, i64::MAX)).as_nanos(),
            i64::MAX
        );
        assert_eq!(timestamp(u64::MAX, &interface(0xff, 0)), Timestamp::ZERO);
    }
}
