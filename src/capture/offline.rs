//! `OfflineSource`: capture files read one after the other.
//!
//! Each file is read by libpcap (pcap and pcapng, zero-copy: a packet borrows
//! libpcap's buffer; libpcap reads through a FILE* made here, see `open_buffered`)
//! unless libpcap cannot: a pcapng whose interfaces have different
//! link types goes to the pcap-parser reader (`ng`), resuming after the packets
//! libpcap already delivered. A damaged tail ends that file with a warning, and the
//! next file follows.

use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pcap::{Capture, Offline, Precision};

use super::bpf::Filter;
use super::input::{self, Bytes, Format, Origin, Pump};
use super::ng::NgFile;
use super::{CaptureError, OfflineSource, PacketSource, RawPacket};
use crate::decode::LinkKind;
use crate::time::Timestamp;

/// What libpcap says when a pcapng interface has another link type than the first.
const MIXED_LINK_TYPES: &str = "different from the type of the first interface";

/// One packet's header fields; its bytes stay in the reader until the next call.
pub(super) struct PacketMeta {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub link: LinkKind,
}

/// How a file ended.
pub(super) enum End {
    Clean,
    /// The last record or block is cut short.
    Truncated(String),
    /// Something unreadable in the middle; the rest of the file is skipped.
    Damaged(String),
}

/// Bytes of container overhead per packet record, to estimate progress on the
/// libpcap path (which does not say how far into the file it is).
const PCAP_RECORD_HEADER: u64 = 16;
const PCAPNG_EPB_OVERHEAD: u64 = 32;
/// File header bytes: the pcap header, or the smallest SHB plus IDB.
const PCAP_FILE_HEADER: u64 = 24;
const PCAPNG_MIN_PREAMBLE: u64 = 28 + 20;

/// The last packet libpcap returned: a view into the buffer of the `pcap_t` that the
/// same `LibpcapFile` owns.
struct LastPacket {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer refers to memory owned by the `pcap_t` in the same struct
// (which is itself `Send`); it moves with it and is only read through `&self`.
unsafe impl Send for LastPacket {}

struct LibpcapFile {
    file: BufferedCapture,
    link: LinkKind,
    filter: Option<Filter>,
    pump: Option<Pump>,
    /// Packet records read, whether or not they passed the filter: where the
    /// pcap-parser fallback has to resume.
    records: u64,
    record_overhead: u64,
    /// pcapng pads packet data to 4 bytes; pcap does not.
    pad_records: bool,
    /// Estimated bytes consumed (headers plus captured bytes).
    estimated: u64,
    last: LastPacket,
}

/// A capture file opened by `open_buffered`: libpcap's handle, and the buffer of
/// the FILE* it reads through. Declared after `cap`, the buffer is freed after
/// `pcap_close` has closed that FILE*.
pub struct BufferedCapture {
    pub cap: Capture<Offline>,
    _read_buffer: Box<[u8]>,
}

/// Bytes libpcap's FILE* reads at a time. glibc's default is the file's block size,
/// 4 KiB: one `read` system call per 4 KiB, 109,000 of them for a 450 MB capture
/// (7,000 with this). Every file is opened up front, so this is per file given;
/// libpcap's own buffer (the snaplen, up to 256 KiB) is larger.
const READ_BUFFER: usize = 64 << 10;

// The function behind `Capture::from_raw_fd_with_precision`, called here directly so
// that the FILE* it reads can be given a larger buffer first. Its `pcap_t` is opaque
// here; the `pcap` crate's own declaration names it.
#[allow(clashing_extern_declarations)]
extern "C" {
    fn pcap_fopen_offline_with_tstamp_precision(
        file: *mut libc::FILE,
        precision: libc::c_uint,
        errbuf: *mut libc::c_char,
    ) -> *mut std::ffi::c_void;
    /// glibc and musl (`<stdio_ext.h>`): with FSETLOCKING_BYCALLER the stream's
    /// functions stop taking its lock on every call.
    fn __fsetlocking(file: *mut libc::FILE, kind: libc::c_int) -> libc::c_int;
}

const FSETLOCKING_BYCALLER: libc::c_int = 2;

/// libpcap's PCAP_ERRBUF_SIZE.
const PCAP_ERRBUF_SIZE: usize = 256;

/// Opens `fd` with libpcap at nanosecond precision, reading through a buffer of
/// `READ_BUFFER` bytes that goes with the capture. On failure, the descriptor is closed
/// (so a pump thread writing into it stops instead of blocking forever) and
/// libpcap's message is returned.
fn open_buffered(fd: std::os::fd::OwnedFd) -> Result<BufferedCapture, String> {
    let mut buffer = vec![0u8; READ_BUFFER].into_boxed_slice();
    let raw_fd = fd.into_raw_fd();
    // SAFETY: `raw_fd` is an open descriptor we own; the FILE* takes it over.
    let file = unsafe { libc::fdopen(raw_fd, c"r".as_ptr()) };
    if file.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: fdopen failed, so the descriptor is still ours alone.
        unsafe { libc::close(raw_fd) };
        return Err(format!("cannot read the file: {e}"));
    }
    let mut errbuf = [0 as libc::c_char; PCAP_ERRBUF_SIZE];
    // SAFETY: `file` is a FILE* nothing has read from yet, as setvbuf requires;
    // `buffer` stays allocated, unmoved on the heap, until after the FILE* is
    // closed (it goes with the capture, see above). libpcap takes the FILE*
    // over on success (pcap_close closes it) and leaves it to us on failure.
    unsafe {
        libc::setvbuf(file, buffer.as_mut_ptr().cast(), libc::_IOFBF, buffer.len());
        // libpcap reads a packet with two freads (record header, then data), and
        // each would lock the FILE*; only the one thread that owns this capture
        // ever uses it.
        __fsetlocking(file, FSETLOCKING_BYCALLER);
        let handle = pcap_fopen_offline_with_tstamp_precision(file, Precision::Nano as libc::c_uint, errbuf.as_mut_ptr());
        match std::ptr::NonNull::new(handle) {
            // The `pcap` crate's `From<NonNull<pcap_t>>`, whose pointee type (its
            // own, private) `cast` takes from that impl.
            Some(handle) => Ok(BufferedCapture { cap: Capture::from(handle.cast()), _read_buffer: buffer }),
            None => {
                libc::fclose(file);
                Err(std::ffi::CStr::from_ptr(errbuf.as_ptr()).to_string_lossy().into_owned())
            }
        }
    }
}

/// A capture file opened as `OfflineSource` opens one (`open_buffered`), for the
/// benchmark's read-and-slice floor, so that it can also be measured reading the
/// way keepscope reads.
pub fn open_libpcap_file(path: &Path) -> Result<BufferedCapture, String> {
    open_buffered(std::fs::File::open(path).map_err(|e| e.to_string())?.into())
}

enum LibpcapStep {
    Packet(PacketMeta),
    End(End),
    /// A pcapng interface with another link type: continue with pcap-parser.
    MixedLinkTypes,
}

impl LibpcapFile {
    fn open(
        name: &str,
        fd: std::os::fd::OwnedFd,
        pump: Option<Pump>,
        format: Format,
        filter: Option<&str>,
    ) -> Result<Result<LibpcapFile, String>, CaptureError> {
        let file = match open_buffered(fd) {
            Ok(opened) => opened,
            Err(detail) => {
                if detail.contains(MIXED_LINK_TYPES) {
                    return Ok(Err(detail));
                }
                return Err(CaptureError::NotACapture {
                    path: name.to_string(),
                    detail,
                });
            }
        };
        let linktype = file.cap.get_datalink().0 as u32;
        let filter = compile_filter(name, linktype, filter)?;
        let (record_overhead, estimated) = match format {
            Format::Pcap => (PCAP_RECORD_HEADER, PCAP_FILE_HEADER),
            Format::PcapNg => (PCAPNG_EPB_OVERHEAD, PCAPNG_MIN_PREAMBLE),
        };
        Ok(Ok(LibpcapFile {
            file,
            link: LinkKind::from_linktype(linktype),
            filter,
            pump,
            records: 0,
            record_overhead,
            pad_records: format == Format::PcapNg,
            estimated,
            last: LastPacket {
                ptr: std::ptr::null(),
                len: 0,
            },
        }))
    }

    fn next(&mut self) -> LibpcapStep {
        loop {
            match self.file.cap.next_packet() {
                Ok(packet) => {
                    let header = *packet.header;
                    self.records += 1;
                    let caplen = u64::from(header.caplen);
                    let stored = if self.pad_records {
                        caplen.next_multiple_of(4)
                    } else {
                        caplen
                    };
                    self.estimated += self.record_overhead + stored;
                    if let Some(filter) = &self.filter {
                        if !filter.matches(packet.data, header.len) {
                            continue;
                        }
                    }
                    self.last = LastPacket {
                        ptr: packet.data.as_ptr(),
                        len: packet.data.len(),
                    };
                    // With nanosecond precision requested, libpcap puts nanoseconds in
                    // tv_usec (and scales microsecond files up).
                    let ts = super::nano_timeval(&header.ts);
                    return LibpcapStep::Packet(PacketMeta {
                        ts,
                        wire_len: header.len,
                        link: self.link,
                    });
                }
                Err(pcap::Error::NoMorePackets) => return LibpcapStep::End(End::Clean),
                Err(pcap::Error::PcapError(detail)) if detail.contains(MIXED_LINK_TYPES) => {
                    return LibpcapStep::MixedLinkTypes
                }
                Err(pcap::Error::PcapError(detail)) if detail.contains("truncated") => {
                    return LibpcapStep::End(End::Truncated(detail))
                }
                Err(e) => return LibpcapStep::End(End::Damaged(super::pcap_detail(&e))),
            }
        }
    }

    fn packet_data(&self) -> &[u8] {
        if self.last.ptr.is_null() {
            return &[];
        }
        // SAFETY: `last` was set from the packet `pcap_next_ex` returned on
        // `self.file.cap`; libpcap keeps that buffer until the next read on the handle,
        // which needs `&mut self`, so it cannot happen while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.last.ptr, self.last.len) }
    }
}

fn compile_filter(
    name: &str,
    linktype: u32,
    filter: Option<&str>,
) -> Result<Option<Filter>, CaptureError> {
    match filter {
        None => Ok(None),
        Some(expression) => Filter::compile(linktype, expression)
            .map(Some)
            .map_err(|detail| {
                let detail = if detail.contains("syntax error") {
                    detail
                } else {
                    format!("{detail} ({name})")
                };
                CaptureError::BadFilter {
                    filter: expression.to_string(),
                    detail,
                }
            }),
    }
}

enum Reader {
    Libpcap(LibpcapFile),
    Ng(NgFile),
    Done,
}

pub(super) struct Input {
    name: String,
    origin: Origin,
    size: Option<u64>,
    compressed_read: Option<Arc<AtomicU64>>,
    reader: Reader,
    /// Bytes consumed when the input ended.
    final_consumed: u64,
}

impl Input {
    fn open(
        path: &Path,
        filter: Option<&str>,
        links: &mut Vec<LinkKind>,
    ) -> Result<Input, CaptureError> {
        let opened = input::open(path, false)?;
        let mut input = Input {
            name: opened.name,
            origin: opened.origin,
            size: opened.size,
            compressed_read: opened.compressed_read,
            reader: Reader::Done,
            final_consumed: 0,
        };
        input.reader = match opened.bytes {
            Bytes::Fd { fd, pump } => {
                match LibpcapFile::open(&input.name, fd, pump, opened.format, filter)? {
                    Ok(file) => {
                        push_link(links, file.link);
                        Reader::Libpcap(file)
                    }
                    Err(_mixed) => input.reopen_with_parser(0, filter, links)?,
                }
            }
            Bytes::Reader(bytes) => Reader::Ng(NgFile::open(&input.name, bytes, filter, 0, links)?),
        };
        Ok(input)
    }

    /// Starts the file over with pcap-parser, skipping `skip` packet records.
    fn reopen_with_parser(
        &mut self,
        skip: u64,
        filter: Option<&str>,
        links: &mut Vec<LinkKind>,
    ) -> Result<Reader, CaptureError> {
        let Origin::File { path, .. } = &self.origin else {
            // Streams are never given to libpcap as pcapng (see `input::open`).
            return Err(CaptureError::Unreadable {
                path: self.name.clone(),
                detail: "pcapng with several link types cannot be re-read from a stream"
                    .to_string(),
            });
        };
        let opened = input::open(path, true)?;
        self.compressed_read = opened.compressed_read;
        let Bytes::Reader(bytes) = opened.bytes else {
            return Err(CaptureError::Unreadable {
                path: self.name.clone(),
                detail: "cannot reopen".to_string(),
            });
        };
        Ok(Reader::Ng(NgFile::open(
            &self.name, bytes, filter, skip, links,
        )?))
    }

    fn next(
        &mut self,
        filter: Option<&str>,
        warnings: &mut Vec<String>,
        links: &mut Vec<LinkKind>,
    ) -> Result<Result<PacketMeta, End>, CaptureError> {
        loop {
            match &mut self.reader {
                Reader::Libpcap(file) => match file.next() {
                    LibpcapStep::Packet(meta) => return Ok(Ok(meta)),
                    LibpcapStep::End(end) => return Ok(Err(end)),
                    LibpcapStep::MixedLinkTypes => {
                        let skip = file.records;
                        self.reader = Reader::Done;
                        self.reader = self.reopen_with_parser(skip, filter, links)?;
                    }
                },
                Reader::Ng(file) => return file.next(warnings, links),
                Reader::Done => return Ok(Err(End::Clean)),
            }
        }
    }

    fn packet_data(&self) -> &[u8] {
        match &self.reader {
            Reader::Libpcap(file) => file.packet_data(),
            Reader::Ng(file) => file.packet_data(),
            Reader::Done => &[],
        }
    }

    fn consumed(&self) -> u64 {
        let consumed = match (&self.reader, &self.compressed_read) {
            (Reader::Done, _) => self.final_consumed,
            (_, Some(counter)) => counter.load(Ordering::Relaxed),
            (Reader::Libpcap(file), None) => file.estimated,
            (Reader::Ng(file), None) => file.consumed(),
        };
        self.size.map_or(consumed, |size| consumed.min(size))
    }

    /// Closes the reader and returns the pump thread's complaint, if any. `joinable`
    /// says the pipe was read to its end, so the thread is finishing: after damage in
    /// the middle it may still be waiting on its source (a live stdin) and is left
    /// to end on its own.
    fn close(&mut self, joinable: bool) -> Option<String> {
        let consumed = self.consumed();
        let reader = std::mem::replace(&mut self.reader, Reader::Done);
        self.final_consumed = self.size.unwrap_or(consumed);
        let pump = match reader {
            Reader::Libpcap(file) => {
                let LibpcapFile { file, pump, .. } = file;
                drop(file);
                pump
            }
            _ => None,
        };
        match pump {
            Some(pump) if joinable => pump.finish(),
            _ => None,
        }
    }
}

fn push_link(links: &mut Vec<LinkKind>, link: LinkKind) {
    if !links.contains(&link) {
        links.push(link);
    }
}

impl OfflineSource {
    /// Opens every file up front (so a missing second file fails before any output)
    /// and applies the BPF `filter` when given.
    pub fn open(paths: &[PathBuf], filter: Option<&str>) -> Result<OfflineSource, CaptureError> {
        let filter = filter
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        let mut links = Vec::new();
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            inputs.push(Input::open(path, filter.as_deref(), &mut links)?);
        }
        Ok(OfflineSource {
            inputs,
            current: 0,
            filter,
            links,
            warnings: Vec::new(),
            truncated: false,
        })
    }

    /// Link types seen so far, as libpcap names (`EN10MB`, `LINUX_SLL2`…), deduplicated.
    pub fn link_types(&self) -> Vec<String> {
        self.links.iter().map(|link| link.name()).collect()
    }

    /// The input being read (its path as given, or `stdin`); `None` once all are done.
    pub fn current_input(&self) -> Option<&str> {
        self.inputs.get(self.current).map(|input| input.name.as_str())
    }

    /// Warnings about damaged input (a truncated last record, a bad block…), each one
    /// line naming the file.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// True when some file ended in the middle of a record or block.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Bytes of input consumed so far and the total (when known), for the progress bar.
    /// The total is the sum of the file sizes (compressed sizes for gzip files); it is
    /// unknown when stdin or a pipe is among the inputs.
    pub fn progress(&self) -> (u64, Option<u64>) {
        // Inputs not started yet count nothing, even though they are open.
        let consumed = self
            .inputs
            .iter()
            .take(self.current + 1)
            .map(Input::consumed)
            .sum();
        let total = self.inputs.iter().map(|input| input.size).sum();
        (consumed, total)
    }

    fn finish_current(&mut self, end: End) {
        let Some(input) = self.inputs.get_mut(self.current) else {
            return;
        };
        let joinable = !matches!(end, End::Damaged(_));
        let pump_error = input.close(joinable);
        let name = &input.name;
        let message = match (end, pump_error) {
            (End::Clean, None) => None,
            (End::Clean, Some(e)) | (End::Truncated(_), Some(e)) => Some(format!(
                "{name}: compressed data damaged ({e}); read up to the damage"
            )),
            (End::Truncated(detail), None) => Some(format!(
                "{name}: capture ends in the middle of a record ({detail}); read up to the damage"
            )),
            (End::Damaged(detail), _) => Some(format!(
                "{name}: damaged capture data ({detail}); the rest of the file was skipped"
            )),
        };
        if let Some(message) = message {
            self.truncated = true;
            self.warnings.push(message);
        }
        self.current += 1;
    }
}

impl PacketSource for OfflineSource {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        let meta = loop {
            let Some(input) = self.inputs.get_mut(self.current) else {
                return Ok(None);
            };
            match input.next(self.filter.as_deref(), &mut self.warnings, &mut self.links)? {
                Ok(meta) => break meta,
                Err(end) => self.finish_current(end),
            }
        };
        let data = self.inputs[self.current].packet_data();
        Ok(Some(RawPacket {
            ts: meta.ts,
            wire_len: meta.wire_len,
            link: meta.link,
            data,
        }))
    }
}
