//! `keepscope analyze` and `keepscope tui`: read capture files through the pipeline
//! and hand the result to a view.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;

use crate::analysis::model::{Report, SourceInfo};
use crate::analysis::{CollectSink, ConnectionSink};
use crate::capture::{OfflineSource, PacketSource};
use crate::decode::{decode, Decoded, TcpSegment};
use crate::time::Timestamp;
use crate::cli::{AnalyzeArgs, ColorWhen, TuiArgs};
use crate::pipeline::{Options, Pipeline};
use crate::report::json::{JsonDocumentSink, NdjsonSink};
use crate::report::text;
use crate::AppError;

/// Packets between two progress-bar updates.
const PROGRESS_EVERY: u64 = 8192;

fn display_paths(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// The progress bar over the input's bytes (with rate and ETA when the total size
/// is known), on stderr when it is a terminal.
fn progress_bar(source: &OfflineSource, progress: bool) -> Option<indicatif::ProgressBar> {
    if progress && io::stderr().is_terminal() {
        let (_, total) = source.progress();
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} ETA {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    }
}

/// Reads every packet of `source` through `pipeline`; returns the source section.
/// `threads` ≥ 2 reads the file on a second thread (see `read_ahead`); the
/// results are the same either way, since packets reach the pipeline in order.
fn drive<S: ConnectionSink>(
    source: &mut OfflineSource,
    pipeline: &mut Pipeline<S>,
    paths: &[PathBuf],
    progress: bool,
    threads: usize,
) -> Result<SourceInfo, AppError> {
    let bar = progress_bar(source, progress);
    if threads >= 2 {
        if let Err(e) = read_ahead(source, pipeline, bar.as_ref()) {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return Err(e);
        }
    } else {
        read_inline(source, pipeline, bar.as_ref())?;
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    finish_source(source, pipeline, paths)
}

/// A read error after `packets` packets: with nothing read the input is unusable;
/// otherwise what was read is analysed and the error becomes a warning.
fn read_error(e: crate::capture::CaptureError, packets: u64) -> Result<(), AppError> {
    if packets == 0 {
        return Err(AppError::capture(e));
    }
    eprintln!("keepscope: warning: {e}");
    Ok(())
}

/// Single-threaded: each packet goes through the pipeline straight from libpcap's
/// buffer, zero-copy.
fn read_inline<S: ConnectionSink>(
    source: &mut OfflineSource,
    pipeline: &mut Pipeline<S>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), AppError> {
    loop {
        match source.next_packet() {
            Ok(Some(pkt)) => pipeline.on_packet(&pkt),
            Ok(None) => break,
            Err(e) => {
                read_error(e, pipeline.counters.packets)?;
                break;
            }
        }
        if let Some(b) = bar {
            if pipeline.counters.packets.is_multiple_of(PROGRESS_EVERY) {
                b.set_position(source.progress().0);
                b.set_message(format!("{} packets", pipeline.counters.packets));
            }
        }
    }
    Ok(())
}

/// Packets decoded on the reader thread, their TCP payloads copied out of
/// libpcap's buffer into one arena (headers are not copied), so a batch crosses
/// threads with two allocations that are reused, not one per packet.
struct Batch {
    bytes: Vec<u8>,
    packets: Vec<BatchedPacket>,
    /// A read error that ended the input after the packets of this batch.
    error: Option<crate::capture::CaptureError>,
}

struct BatchedPacket {
    ts: Timestamp,
    wire_len: u32,
    /// Bytes the capture kept of the packet.
    captured: u32,
    /// A TCP segment's payload is `bytes[previous end..end]` and is put back in
    /// when the packet is replayed (here it is empty).
    decoded: Decoded<'static>,
    end: usize,
}

/// Bytes per batch: large enough that the channel costs nothing per packet, small
/// enough that the batches in flight stay a few MB.
const BATCH_BYTES: usize = 256 * 1024;
/// Packets per batch at most: headers are not copied, so a batch of small
/// packets would otherwise hold tens of thousands of them (and fall out of cache).
const BATCH_PACKETS: usize = 4096;
/// Batches in flight between the reader and the analysis thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// Two threads: one reads the file (libpcap, gzip) and decodes the packets into
/// batches, the calling thread analyses them in the same order. Batches go back to the
/// reader for reuse, so memory stays at `BATCHES_IN_FLIGHT` batches.
fn read_ahead<S: ConnectionSink>(
    source: &mut OfflineSource,
    pipeline: &mut Pipeline<S>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), AppError> {
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Batch>(BATCHES_IN_FLIGHT);
    let (empty_tx, empty_rx) = crossbeam_channel::bounded::<Batch>(BATCHES_IN_FLIGHT + 1);
    for _ in 0..BATCHES_IN_FLIGHT {
        let batch = Batch { bytes: Vec::with_capacity(BATCH_BYTES + 65536), packets: Vec::with_capacity(4096), error: None };
        let _ = empty_tx.send(batch);
    }
    let mut result = Ok(());
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut read = 0u64;
            'batches: while let Ok(mut batch) = empty_rx.recv() {
                batch.bytes.clear();
                batch.packets.clear();
                batch.error = None;
                let mut end = false;
                while batch.bytes.len() < BATCH_BYTES && batch.packets.len() < BATCH_PACKETS {
                    match source.next_packet() {
                        Ok(Some(pkt)) => {
                            let decoded = match decode(pkt.link, pkt.data) {
                                Decoded::Tcp(seg) => {
                                    batch.bytes.extend_from_slice(seg.payload);
                                    Decoded::Tcp(TcpSegment { payload: &[], ..seg })
                                }
                                Decoded::NotTcp => Decoded::NotTcp,
                                Decoded::Malformed(e) => Decoded::Malformed(e),
                            };
                            batch.packets.push(BatchedPacket {
                                ts: pkt.ts,
                                wire_len: pkt.wire_len,
                                captured: pkt.data.len() as u32,
                                decoded,
                                end: batch.bytes.len(),
                            });
                        }
                        Ok(None) => {
                            end = true;
                            break;
                        }
                        Err(e) => {
                            batch.error = Some(e);
                            end = true;
                            break;
                        }
                    }
                }
                read += batch.packets.len() as u64;
                if let Some(b) = bar {
                    b.set_position(source.progress().0);
                    b.set_message(format!("{read} packets"));
                }
                if full_tx.send(batch).is_err() || end {
                    break 'batches;
                }
            }
            // Dropping `full_tx` tells the analysis thread the input is over.
        });
        while let Ok(mut batch) = full_rx.recv() {
            let mut start = 0;
            for p in &batch.packets {
                let decoded = match p.decoded {
                    Decoded::Tcp(seg) => Decoded::Tcp(TcpSegment { payload: &batch.bytes[start..p.end], ..seg }),
                    Decoded::NotTcp => Decoded::NotTcp,
                    Decoded::Malformed(e) => Decoded::Malformed(e),
                };
                pipeline.on_decoded(p.ts, p.wire_len, p.captured as usize, decoded);
                start = p.end;
            }
            if let Some(e) = batch.error.take() {
                result = read_error(e, pipeline.counters.packets);
                break;
            }
            // The reader may have stopped already; then the batch is just dropped.
            let _ = empty_tx.send(batch);
        }
        // Ends the reader if the analysis stopped first (it waits on `empty_rx`).
        drop(empty_tx);
        drop(full_rx);
    });
    result
}

/// End of input: finishes the pipeline and builds the source section.
fn finish_source<S: ConnectionSink>(
    source: &OfflineSource,
    pipeline: &mut Pipeline<S>,
    paths: &[PathBuf],
) -> Result<SourceInfo, AppError> {
    pipeline.finish();
    let mut info = pipeline.source_info("file");
    info.paths = display_paths(paths);
    info.link_types = source.link_types();
    info.truncated = source.truncated();
    let mut warnings: Vec<String> = source.warnings().to_vec();
    warnings.append(&mut info.warnings);
    info.warnings = warnings;
    Ok(info)
}

fn print_warnings(info: &SourceInfo) {
    for w in &info.warnings {
        eprintln!("keepscope: warning: {}", crate::sanitize::display(w, 300));
    }
}

/// Reads `paths` through `pipeline` (whatever its sink) and finishes it; returns
/// the report's source section.
pub fn analyze_into<S: ConnectionSink>(
    paths: &[PathBuf],
    filter: Option<&str>,
    pipeline: &mut Pipeline<S>,
    progress: bool,
    threads: usize,
) -> Result<SourceInfo, AppError> {
    let mut source = OfflineSource::open(paths, filter).map_err(AppError::capture)?;
    drive(&mut source, pipeline, paths, progress, threads)
}

/// Runs a whole offline analysis and returns the report (used by `tui` and tests).
pub fn analyze_files(
    paths: &[PathBuf],
    filter: Option<&str>,
    options: &Options,
    keep_connections: bool,
    progress: bool,
) -> Result<Report, AppError> {
    analyze_files_threads(paths, filter, options, keep_connections, progress, 1)
}

/// `analyze_files` with a choice of threads (1: everything on the calling thread;
/// 2: the file is read on a second thread). The report is the same either way.
pub fn analyze_files_threads(
    paths: &[PathBuf],
    filter: Option<&str>,
    options: &Options,
    keep_connections: bool,
    progress: bool,
    threads: usize,
) -> Result<Report, AppError> {
    let mut pipeline = Pipeline::new(options, CollectSink::new(keep_connections));
    let info = analyze_into(paths, filter, &mut pipeline, progress, threads)?;
    let sink = &mut pipeline.analyzer.sink;
    let connections = sink.take_connections();
    Ok(sink.builder.report(info, connections))
}

fn io_error(e: io::Error) -> AppError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        // `keepscope analyze … | head -1`: the reader is gone; end quietly.
        AppError::quiet()
    } else {
        AppError::new(1, format!("cannot write output: {e}"))
    }
}

/// stdout as a plain file, for output written through a `BufWriter`: its large
/// writes go straight out, instead of through std's line-buffered stdout, which
/// scans each write for its last newline and copies the rest once more.
fn raw_stdout() -> Result<File, AppError> {
    let fd = io::stdout().as_fd().try_clone_to_owned().map_err(io_error)?;
    Ok(File::from(fd))
}

pub fn run_analyze(args: &AnalyzeArgs) -> Result<(), AppError> {
    let options = args.limits.options();
    let progress = !args.no_progress;
    let threads = args.threads.map_or_else(default_threads, |n| n as usize).max(1);
    if args.ndjson {
        let out = io::BufWriter::with_capacity(64 * 1024, raw_stdout()?);
        let sink = if threads >= 2 { NdjsonSink::threaded(out) } else { NdjsonSink::new(out) };
        let mut pipeline = Pipeline::new(&options, sink);
        let info = analyze_into(&args.files, args.filter.as_deref(), &mut pipeline, progress, threads)?;
        print_warnings(&info);
        return pipeline.analyzer.sink.finish(info).map_err(io_error);
    }
    if args.json {
        // Connections are serialised as they end and wait in a spool (memory
        // bounded, then a temporary file) until the summary is known.
        let sink = if threads >= 2 { JsonDocumentSink::threaded() } else { JsonDocumentSink::new() };
        let mut pipeline = Pipeline::new(&options, sink);
        let info = analyze_into(&args.files, args.filter.as_deref(), &mut pipeline, progress, threads)?;
        print_warnings(&info);
        // Small on purpose: the document is mostly runs of tens of KiB read back
        // from the spool, and a `BufWriter` passes a write at least as large as its
        // buffer straight through instead of copying it once more.
        let mut out = io::BufWriter::with_capacity(16 * 1024, raw_stdout()?);
        return pipeline.analyzer.sink.finish(info, &mut out).map_err(io_error);
    }
    // The text report keeps aggregates only.
    let report = analyze_files_threads(&args.files, args.filter.as_deref(), &options, false, progress, threads)?;
    print_warnings(&report.source);
    let mut out = io::BufWriter::with_capacity(256 * 1024, raw_stdout()?);
    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    out.write_all(text::render(&report, colour).as_bytes()).map_err(io_error)?;
    out.flush().map_err(io_error)
}

/// Two threads when the machine has two cores or more: reading the file then
/// overlaps with the analysis.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

pub fn run_tui(args: &TuiArgs) -> Result<(), AppError> {
    let options = args.limits.options();
    let report = analyze_files_threads(&args.files, args.filter.as_deref(), &options, true, true, default_threads())?;
    crate::tui::run_offline(report).map_err(|e| AppError::new(1, format!("terminal UI failed: {e}")))
}
