//! `keepscope analyze` and `keepscope tui`: read capture files through the pipeline
//! and hand the result to a view.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;

use crate::analysis::model::{Report, SourceInfo};
use crate::analysis::{CollectSink, ConnectionSink};
use crate::capture::{OfflineSource, PacketSource};
use crate::decode::decode;
use crate::cli::{AnalyzeArgs, ColorWhen, TuiArgs};
use crate::pipeline::{track_packet, Options, Pipeline};
use crate::tcp::{ConnId, StreamEvent, StreamSink, TcpConfig, TcpTracker};
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
/// `threads` ≥ 2 reads the file and runs the TCP stage on a second thread (see
/// `read_ahead`); the results are the same either way, since the TCP stage's
/// events reach the analysis in order.
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

/// What the TCP stage said about a stretch of the input, recorded on the reader
/// thread: its events in order, the bytes of their byte runs copied into one arena
/// (everything else in an event is a few words), so a batch crosses threads with
/// two allocations that are reused, not one per packet.
struct Batch {
    bytes: Vec<u8>,
    events: Vec<RecordedEvent>,
}

struct RecordedEvent {
    conn: ConnId,
    /// A byte run's bytes are `bytes[previous end..end]` and are put back in when
    /// the event is replayed (here they are empty).
    event: StreamEvent<'static>,
    end: usize,
}

impl StreamSink for Batch {
    fn on_stream_event(&mut self, conn: ConnId, event: StreamEvent<'_>) {
        use StreamEvent::*;
        // Every variant but `Data` holds no borrowed bytes; each is rebuilt to
        // say so to the compiler.
        let event = match event {
            Data { dir, ts, bytes } => {
                self.bytes.extend_from_slice(bytes);
                Data { dir, ts, bytes: &[] }
            }
            Open { client, server, syn_seen, roles_known, ts } => Open { client, server, syn_seen, roles_known, ts },
            Established { ts } => Established { ts },
            Missing { dir, ts, offset, len } => Missing { dir, ts, offset, len },
            KeepAliveProbe { dir, ts } => KeepAliveProbe { dir, ts },
            KeepAliveAck { dir, ts } => KeepAliveAck { dir, ts },
            Fin { dir, ts } => Fin { dir, ts },
            Rst { dir, ts } => Rst { dir, ts },
            End { ts, reason } => End { ts, reason },
        };
        self.events.push(RecordedEvent { conn, event, end: self.bytes.len() });
    }
}

/// Bytes per batch: large enough that the channel costs nothing per packet, small
/// enough that the batches in flight stay a few MB.
const BATCH_BYTES: usize = 256 * 1024;
/// Events per batch at most (a batch is full at whichever limit comes first).
const BATCH_EVENTS: usize = 4096;
/// Batches in flight between the reader and the analysis thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// Two threads: one reads the file (libpcap, gzip), decodes the packets and runs
/// the TCP stage (counting packets, reassembling the streams), recording its
/// events in batches; the calling thread replays them, in the same order, to the
/// analysis (HTTP framing and everything after). The split puts about a third of
/// the work on the reader. Batches go back to the reader for reuse, so memory
/// stays at `BATCHES_IN_FLIGHT` batches. Connections still open at the end are
/// finished by the caller (`Pipeline::finish`), on its own thread.
fn read_ahead<S: ConnectionSink>(
    source: &mut OfflineSource,
    pipeline: &mut Pipeline<S>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), AppError> {
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Batch>(BATCHES_IN_FLIGHT);
    let (empty_tx, empty_rx) = crossbeam_channel::bounded::<Batch>(BATCHES_IN_FLIGHT + 1);
    for _ in 0..BATCHES_IN_FLIGHT {
        let batch = Batch { bytes: Vec::with_capacity(BATCH_BYTES + 65536), events: Vec::with_capacity(BATCH_EVENTS) };
        let _ = empty_tx.send(batch);
    }
    // The reader thread works on the TCP stage and the counters as values of its
    // own, moved out of `pipeline` for the run: left in place, they shared cache
    // lines with the analysis, which both threads write on every packet, and the
    // run was slower than with the TCP stage on the analysis thread.
    let mut tracker = std::mem::replace(&mut pipeline.tracker, TcpTracker::new(TcpConfig::default()));
    let mut counters = std::mem::take(&mut pipeline.counters);
    let analyzer = &mut pipeline.analyzer;
    let mut read_failed = None;
    std::thread::scope(|scope| {
        let (tracker, counters, read_failed) = (&mut tracker, &mut counters, &mut read_failed);
        scope.spawn(move || {
            'batches: while let Ok(mut batch) = empty_rx.recv() {
                batch.bytes.clear();
                batch.events.clear();
                // One packet may make the TCP stage give up the gaps of many
                // connections at once (the global out-of-order bound), all of it
                // into one batch; a batch that grew for that does not stay grown.
                batch.bytes.shrink_to(BATCH_BYTES + 65536);
                batch.events.shrink_to(BATCH_EVENTS);
                let mut end = false;
                while batch.bytes.len() < BATCH_BYTES && batch.events.len() < BATCH_EVENTS {
                    match source.next_packet() {
                        Ok(Some(pkt)) => {
                            let decoded = decode(pkt.link, pkt.data);
                            let captured = pkt.data.len();
                            track_packet(counters, tracker, pkt.ts, pkt.wire_len, captured, decoded, &mut batch);
                            if let Some(b) = bar.filter(|_| counters.packets.is_multiple_of(PROGRESS_EVERY)) {
                                b.set_position(source.progress().0);
                                b.set_message(format!("{} packets", counters.packets));
                            }
                        }
                        Ok(None) => {
                            end = true;
                            break;
                        }
                        Err(e) => {
                            // The events before it are analysed; then the error is
                            // reported (`read_error`).
                            *read_failed = Some(e);
                            end = true;
                            break;
                        }
                    }
                }
                if full_tx.send(batch).is_err() || end {
                    break 'batches;
                }
            }
            // Dropping `full_tx` tells the analysis thread the input is over.
        });
        while let Ok(batch) = full_rx.recv() {
            let mut start = 0;
            for r in &batch.events {
                let event = match r.event {
                    StreamEvent::Data { dir, ts, .. } => StreamEvent::Data { dir, ts, bytes: &batch.bytes[start..r.end] },
                    other => other,
                };
                analyzer.on_stream_event(r.conn, event);
                start = r.end;
            }
            // The reader may have stopped already; then the batch is just dropped.
            let _ = empty_tx.send(batch);
        }
        // Ends the reader if the analysis stopped first (it waits on `empty_rx`).
        drop(empty_tx);
        drop(full_rx);
    });
    pipeline.tracker = tracker;
    pipeline.counters = counters;
    match read_failed {
        Some(e) => read_error(e, pipeline.counters.packets),
        None => Ok(()),
    }
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
/// 2: the file is read, and the TCP streams reassembled, on a second thread). The
/// report is the same either way.
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
