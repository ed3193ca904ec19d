//! Opening one input: a path or `-`, plain or gzip-compressed, a regular file or a
//! stream (stdin, a FIFO, `<(…)`).
//!
//! The first bytes decide what the input is. libpcap reads from a `FILE*`, so
//! whatever it cannot open by itself (decompressed data, a stream whose first bytes
//! we already consumed to sniff them) reaches it through a pipe fed by a small pump
//! thread. Nothing is ever loaded whole: the pipe and the decoder hold a few KiB.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

use super::CaptureError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Classic pcap magics in both byte orders: microsecond, nanosecond, and the
/// "modified" (Kuznetzov) microsecond format libpcap also reads.
const PCAP_MAGICS: [u32; 3] = [0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34];

/// The container inside the (possibly compressed) input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Pcap,
    PcapNg,
}

impl Format {
    fn sniff(magic: &[u8]) -> Option<Format> {
        if magic == PCAPNG_MAGIC {
            return Some(Format::PcapNg);
        }
        let bytes: [u8; 4] = magic.try_into().ok()?;
        let (be, le) = (u32::from_be_bytes(bytes), u32::from_le_bytes(bytes));
        (PCAP_MAGICS.contains(&be) || PCAP_MAGICS.contains(&le)).then_some(Format::Pcap)
    }
}

/// Where the bytes come from, and so whether they can be read a second time (the
/// mixed-link-type pcapng fallback starts a file over).
#[derive(Clone, Debug)]
pub(super) enum Origin {
    /// A regular file: can be reopened.
    File { path: PathBuf },
    /// stdin or a FIFO: read once.
    Stream,
}

/// The byte stream of an opened input, in the form its reader wants.
pub(super) enum Bytes {
    /// A descriptor positioned at the capture's first byte, for libpcap. `pump` is the
    /// thread feeding it when it is a pipe.
    Fd { fd: OwnedFd, pump: Option<Pump> },
    /// A plain reader, for the pcap-parser path.
    Reader(Box<dyn Read + Send>),
}

/// The thread that copies (and maybe decompresses) an input into a pipe.
pub(super) struct Pump {
    handle: JoinHandle<io::Result<()>>,
}

impl Pump {
    /// Waits for the thread and returns its error, if any, as a warning text. Call it
    /// only once the pipe reached its end (the thread has then finished or is about to).
    pub(super) fn finish(self) -> Option<String> {
        match self.handle.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("decompression thread failed".to_string()),
        }
    }
}

pub(super) struct OpenedInput {
    /// How messages name the input: the path as given, or `stdin`.
    pub name: String,
    pub origin: Origin,
    pub format: Format,
    /// Bytes in the input when known (the compressed size for gzip).
    pub size: Option<u64>,
    /// Compressed bytes read so far, for gzip inputs (the pump thread counts them).
    pub compressed_read: Option<Arc<AtomicU64>>,
    pub bytes: Bytes,
}

/// Whether `path` means stdin.
pub(super) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `path` (or stdin for `-`) and recognises its format. `want_reader` asks for a
/// plain reader instead of a descriptor (the pcap-parser path); a pcapng stream always
/// gets one, since only that path can survive link types that change midway without
/// starting over.
pub(super) fn open(path: &Path, want_reader: bool) -> Result<OpenedInput, CaptureError> {
    if is_stdin(path) {
        let name = "stdin".to_string();
        let fd = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| unreadable(&name, &e))?;
        return open_stream(name, File::from(fd));
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| open_error(&name, &e))?;
    let meta = file.metadata().map_err(|e| unreadable(&name, &e))?;
    if meta.is_dir() {
        return Err(CaptureError::Unreadable {
            path: name,
            detail: "is a directory".to_string(),
        });
    }
    if !meta.is_file() {
        // A FIFO or character device: cannot seek back after sniffing.
        return open_stream(name, file);
    }
    open_regular(name, path.to_path_buf(), file, meta.len(), want_reader)
}

fn open_regular(
    name: String,
    path: PathBuf,
    mut file: File,
    size: u64,
    want_reader: bool,
) -> Result<OpenedInput, CaptureError> {
    let magic = read_prefix(&mut file, 4).map_err(|e| unreadable(&name, &e))?;
    if magic.starts_with(&GZIP_MAGIC) {
        let counter = Arc::new(AtomicU64::new(0));
        file.seek(SeekFrom::Start(0))
            .map_err(|e| unreadable(&name, &e))?;
        let counted = CountingReader {
            inner: file,
            count: Arc::clone(&counter),
        };
        let (format, inner_prefix, decoder) = sniff_gzip(&name, counted)?;
        let bytes = if want_reader {
            Bytes::Reader(Box::new(Cursor::new(inner_prefix).chain(decoder)))
        } else {
            pumped(&name, inner_prefix, decoder)?
        };
        return Ok(OpenedInput {
            name,
            origin: Origin::File { path },
            format,
            size: Some(size),
            compressed_read: Some(counter),
            bytes,
        });
    }
    let format = recognise(&name, &magic)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(&name, &e))?;
    let bytes = if want_reader {
        Bytes::Reader(Box::new(io::BufReader::new(file)))
    } else {
        Bytes::Fd {
            fd: OwnedFd::from(file),
            pump: None,
        }
    };
    Ok(OpenedInput {
        name,
        origin: Origin::File { path },
        format,
        size: Some(size),
        compressed_read: None,
        bytes,
    })
}

/// A stream is read exactly once: its sniffed first bytes are put back in front of
/// the rest, through a pipe for libpcap or a chained reader for pcap-parser.
fn open_stream(name: String, mut stream: File) -> Result<OpenedInput, CaptureError> {
    let prefix = read_prefix(&mut stream, 4).map_err(|e| unreadable(&name, &e))?;
    let raw = Cursor::new(prefix.clone()).chain(stream);
    let (format, inner_prefix, rest): (Format, Vec<u8>, Box<dyn Read + Send>) =
        if prefix.starts_with(&GZIP_MAGIC) {
            let (format, inner_prefix, decoder) = sniff_gzip(&name, raw)?;
            (format, inner_prefix, Box::new(decoder))
        } else {
            (recognise(&name, &prefix)?, Vec::new(), Box::new(raw))
        };
    let bytes = match format {
        Format::PcapNg => Bytes::Reader(Box::new(Cursor::new(inner_prefix).chain(rest))),
        Format::Pcap => pumped(&name, inner_prefix, rest)?,
    };
    Ok(OpenedInput {
        name,
        origin: Origin::Stream,
        format,
        size: None,
        compressed_read: None,
        bytes,
    })
}

/// Starts decompressing and reads the inner magic.
fn sniff_gzip<R: Read>(
    name: &str,
    compressed: R,
) -> Result<(Format, Vec<u8>, MultiGzDecoder<R>), CaptureError> {
    // MultiGzDecoder: `cat a.gz b.gz` is a valid gzip file, as gunzip reads it.
    let mut decoder = MultiGzDecoder::new(compressed);
    let inner = read_prefix(&mut decoder, 4).map_err(|e| CaptureError::NotACapture {
        path: name.to_string(),
        detail: format!("gzip data unreadable: {e}"),
    })?;
    let format = recognise(name, &inner)?;
    Ok((format, inner, decoder))
}

fn recognise(name: &str, magic: &[u8]) -> Result<Format, CaptureError> {
    if magic.is_empty() {
        return Err(CaptureError::NotACapture {
            path: name.to_string(),
            detail: "empty input".to_string(),
        });
    }
    Format::sniff(magic).ok_or_else(|| CaptureError::NotACapture {
        path: name.to_string(),
        detail: "unknown file format".to_string(),
    })
}

/// Hands `prefix` then `rest` to libpcap through a pipe written by a thread.
fn pumped<R: Read + Send + 'static>(
    name: &str,
    prefix: Vec<u8>,
    mut rest: R,
) -> Result<Bytes, CaptureError> {
    let (reader, mut writer) = io::pipe().map_err(|e| unreadable(name, &e))?;
    let handle = std::thread::Builder::new()
        .name("keepscope-input".to_string())
        .spawn(move || -> io::Result<()> {
            let copied = writer
                .write_all(&prefix)
                .and_then(|()| io::copy(&mut rest, &mut writer).map(drop));
            match copied {
                // The reader stopped early (a damaged file, a switch of reader, the
                // end of the run): nobody wants the rest.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        })
        .map_err(|e| unreadable(name, &e))?;
    Ok(Bytes::Fd {
        fd: OwnedFd::from(reader),
        pump: Some(Pump { handle }),
    })
}

/// Reads up to `n` bytes (fewer only at the end of the input).
fn read_prefix<R: Read>(reader: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

fn open_error(name: &str, e: &io::Error) -> CaptureError {
    match e.kind() {
        io::ErrorKind::NotFound => CaptureError::NotFound {
            path: name.to_string(),
        },
        _ => unreadable(name, e),
    }
}

fn unreadable(name: &str, e: &io::Error) -> CaptureError {
    let detail = match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    CaptureError::Unreadable {
        path: name.to_string(),
        detail,
    }
}

/// Counts the compressed bytes consumed, so progress can be shown against the size
/// of a gzip file.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(Format::sniff(&[0xd4, 0xc3, 0xb2, 0xa1]), Some(Format::Pcap));
        assert_eq!(Format::sniff(&[0xa1, 0xb2, 0xc3, 0xd4]), Some(Format::Pcap));
        assert_eq!(Format::sniff(&[0x4d, 0x3c, 0xb2, 0xa1]), Some(Format::Pcap));
        assert_eq!(Format::sniff(&PCAPNG_MAGIC), Some(Format::PcapNg));
        assert_eq!(Format::sniff(b"GET "), None);
        assert_eq!(Format::sniff(&[0xd4, 0xc3]), None);
    }
}
