//! `keepscope analyze` and `keepscope tui`: read capture files through the pipeline
//! and hand the result to a view.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use crate::analysis::model::{Report, SourceInfo};
use crate::analysis::{CollectSink, ConnectionSink};
use crate::capture::{OfflineSource, PacketSource};
use crate::cli::{AnalyzeArgs, ColorWhen, TuiArgs};
use crate::pipeline::{Options, Pipeline};
use crate::report::json::{write_document, NdjsonSink};
use crate::report::text;
use crate::AppError;

/// Packets between two progress-bar updates.
const PROGRESS_EVERY: u64 = 8192;

fn display_paths(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// Reads every packet of `source` through `pipeline`; returns the source section.
fn drive<S: ConnectionSink>(
    source: &mut OfflineSource,
    pipeline: &mut Pipeline<S>,
    paths: &[PathBuf],
    progress: bool,
) -> Result<SourceInfo, AppError> {
    let bar = if progress && io::stderr().is_terminal() {
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
    };
    loop {
        match source.next_packet() {
            Ok(Some(pkt)) => pipeline.on_packet(&pkt),
            Ok(None) => break,
            Err(e) => {
                // Nothing read at all: the input is unusable. Otherwise analyse
                // what was read and say what went wrong.
                if pipeline.counters.packets == 0 {
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    return Err(AppError::capture(e));
                }
                eprintln!("keepscope: warning: {e}");
                break;
            }
        }
        if let Some(b) = &bar {
            if pipeline.counters.packets % PROGRESS_EVERY == 0 {
                b.set_position(source.progress().0);
                b.set_message(format!("{} packets", pipeline.counters.packets));
            }
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
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

/// Runs a whole offline analysis and returns the report (used by `tui` and tests).
pub fn analyze_files(
    paths: &[PathBuf],
    filter: Option<&str>,
    options: &Options,
    keep_connections: bool,
    progress: bool,
) -> Result<Report, AppError> {
    let mut source = OfflineSource::open(paths, filter).map_err(AppError::capture)?;
    let mut pipeline = Pipeline::new(options, CollectSink::new(keep_connections));
    let info = drive(&mut source, &mut pipeline, paths, progress)?;
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

pub fn run_analyze(args: &AnalyzeArgs) -> Result<(), AppError> {
    let options = args.limits.options();
    let progress = !args.no_progress;
    let stdout = io::stdout();
    if args.ndjson {
        let mut source = OfflineSource::open(&args.files, args.filter.as_deref()).map_err(AppError::capture)?;
        let out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        let mut pipeline = Pipeline::new(&options, NdjsonSink::new(out));
        let info = drive(&mut source, &mut pipeline, &args.files, progress)?;
        print_warnings(&info);
        return pipeline.analyzer.sink.finish(info).map_err(io_error);
    }
    // The text report keeps aggregates only; the JSON document needs every connection.
    let report = analyze_files(&args.files, args.filter.as_deref(), &options, args.json, progress)?;
    print_warnings(&report.source);
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        write_document(&mut out, &report).map_err(io_error)?;
    } else {
        let colour = match args.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        out.write_all(text::render(&report, colour).as_bytes()).map_err(io_error)?;
    }
    out.flush().map_err(io_error)
}

pub fn run_tui(args: &TuiArgs) -> Result<(), AppError> {
    let options = args.limits.options();
    let report = analyze_files(&args.files, args.filter.as_deref(), &options, true, true)?;
    crate::tui::run_offline(report).map_err(|e| AppError::new(1, format!("terminal UI failed: {e}")))
}
