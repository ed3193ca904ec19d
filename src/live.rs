//! `keepscope live`: a capture thread feeds the analysis through a bounded channel;
//! the analysis runs on its own thread and either streams lines (`--no-tui`) or
//! sends snapshots to the terminal UI, which owns the main thread.
//!
//! Threads and what they own:
//! - capture: the libpcap handle and the `-w` writer. It copies each poll's packets
//!   into one batch (one arena, not a buffer per packet) and never blocks on a full
//!   channel: a batch that does not fit is dropped and counted (`queue_dropped`).
//! - analysis: the pipeline. Time comes from packet timestamps; when no packets
//!   arrive, the capture thread's ticks carry the wall clock so idle connections
//!   still expire.
//! - UI (main thread): the terminal, the view state.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::analysis::model::{ConnectionRecord, Finding, Report, Transaction};
use crate::analysis::{CollectSink, ConnectionSink, ReportBuilder, TransactionContext};
use crate::capture::{LiveConfig, LiveSource, RawPacket};
use crate::cli::{ColorWhen, LiveArgs};
use crate::decode::LinkKind;
use crate::pipeline::Pipeline;
use crate::report::json::{write_document, write_json, write_summary_line};
use crate::report::text;
use crate::sanitize::display;
use crate::time::Timestamp;
use crate::tui::{LiveStats, UiUpdate};
use crate::AppError;

/// Batches waiting between capture and analysis; beyond it batches are dropped.
const QUEUE_BATCHES: usize = 256;
/// How long one poll of the capture waits for packets.
const POLL_MS: i32 = 100;
/// How often the UI gets a snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

/// Packets of one poll, copied into one arena.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    /// (timestamp, wire length, offset, captured length)
    records: Vec<(Timestamp, u32, usize, usize)>,
    link: Option<LinkKind>,
}

impl Batch {
    fn push(&mut self, pkt: &RawPacket<'_>) {
        let offset = self.data.len();
        self.data.extend_from_slice(pkt.data);
        self.records.push((pkt.ts, pkt.wire_len, offset, pkt.data.len()));
        self.link = Some(pkt.link);
    }
    fn packets(&self) -> impl Iterator<Item = RawPacket<'_>> {
        let link = self.link.unwrap_or(LinkKind::Unsupported(0));
        self.records.iter().map(move |&(ts, wire_len, off, len)| RawPacket {
            ts,
            wire_len,
            link,
            data: &self.data[off..off + len],
        })
    }
}

enum CaptureMsg {
    Packets(Batch),
    /// No packets for a while; the wall clock, so idle connections can expire.
    Tick(Timestamp),
    /// The capture ended: `None` on a normal stop, or the error that ended it.
    Ended(Option<String>),
}

/// Counters shared by the capture thread with the others.
#[derive(Default)]
struct CaptureCounters {
    kernel_dropped: AtomicU64,
    queue_dropped: AtomicU64,
    captured: AtomicU64,
}

fn wall_clock() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// Drops root privileges for `user` (after the capture is open), as tcpdump -Z does.
fn drop_privileges(user: &str) -> Result<(), AppError> {
    let name = std::ffi::CString::new(user).map_err(|_| AppError::new(2, format!("bad user name '{user}'")))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we read it at
    // once, before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(AppError::new(2, format!("--user {user}: no such user")));
    }
    // SAFETY: pw is non-null and points to a valid passwd record (see above).
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain system calls with values from the passwd record; the order
    // (groups, gid, then uid) is required because after setuid we may not change them.
    let ok = unsafe {
        libc::setgroups(1, &gid) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0
    };
    if !ok || (uid != 0 && unsafe { libc::setuid(0) } == 0) {
        return Err(AppError::new(3, format!("--user {user}: could not drop privileges: {}", io::Error::last_os_error())));
    }
    Ok(())
}

fn capture_thread(
    mut source: LiveSource,
    mut writer: Option<crate::capture::PacketWriter>,
    tx: Sender<CaptureMsg>,
    stop: Arc<AtomicBool>,
    counters: Arc<CaptureCounters>,
    max_packets: Option<u64>,
    deadline: Option<Instant>,
) {
    let mut ended: Option<String> = None;
    let mut captured: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if deadline.is_some_and(|d| Instant::now() >= d) || max_packets.is_some_and(|m| captured >= m) {
            break;
        }
        let mut batch = Batch::default();
        let remaining = max_packets.map(|m| m - captured);
        let result = source.poll_packets(POLL_MS, &mut |pkt| {
            if remaining.is_some_and(|r| batch.records.len() as u64 >= r) {
                return;
            }
            if let Some(w) = writer.as_mut() {
                w.write(&pkt);
            }
            batch.push(&pkt);
        });
        let (_, dropped) = source.stats();
        counters.kernel_dropped.store(dropped, Ordering::Relaxed);
        match result {
            Err(e) => {
                ended = Some(e.to_string());
                break;
            }
            Ok(_) if batch.records.is_empty() => {
                let _ = tx.try_send(CaptureMsg::Tick(wall_clock()));
            }
            Ok(_) => {
                let n = batch.records.len() as u64;
                captured += n;
                counters.captured.fetch_add(n, Ordering::Relaxed);
                match tx.try_send(CaptureMsg::Packets(batch)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        counters.queue_dropped.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
        }
    }
    if let Some(w) = writer.as_mut() {
        if let Err(e) = w.flush() {
            ended.get_or_insert(format!("writing the -w file failed: {e}"));
        }
    }
    drop(writer);
    // The final message must arrive: block for it.
    let _ = tx.send(CaptureMsg::Ended(ended));
}

/// Streams finished transactions and connections as text or NDJSON lines, and
/// keeps the aggregates (and, for `--json`, the last `history` connections).
struct StreamSink {
    collect: CollectSink,
    /// None: no streaming (`--json`, or the UI).
    lines: Option<LineFormat>,
    colour: bool,
    out: io::BufWriter<io::Stdout>,
    write_failed: bool,
    requests_this_second: u64,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum LineFormat {
    Text,
    Ndjson,
}

impl StreamSink {
    fn emit(&mut self, line: &[u8]) {
        if self.write_failed {
            return;
        }
        if self.out.write_all(line).and_then(|_| self.out.write_all(b"\n")).is_err() {
            self.write_failed = true;
        }
    }
}

#[derive(serde::Serialize)]
struct TaggedTx<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    ctx: &'a TransactionContext,
    #[serde(flatten)]
    tx: &'a Transaction,
}

#[derive(serde::Serialize)]
struct TaggedConn<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    conn: &'a ConnectionRecord,
}

impl ConnectionSink for StreamSink {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>) {
        match self.lines {
            Some(LineFormat::Ndjson) => {
                let mut buf = Vec::new();
                if write_json(&mut buf, &TaggedConn { kind: "connection", conn: &record }).is_ok() {
                    self.emit(&buf);
                }
            }
            Some(LineFormat::Text) => {
                let mut line = format!(
                    "conn #{} {} → {} {} {} req, closed by {}{}",
                    record.id,
                    record.client,
                    record.server,
                    record.protocol,
                    record.transactions.len(),
                    record.close.by,
                    if record.close.how != "none" { format!(" ({})", record.close.how) } else { String::new() },
                );
                for f in &findings {
                    line.push_str(&format!("\n    ! {}: {}", f.kind, display(&f.message, 200)));
                }
                self.emit(line.as_bytes());
            }
            None => {}
        }
        let _ = self.out.flush();
        self.collect.on_connection(record, findings);
    }

    fn wants_transactions(&self) -> bool {
        true
    }

    fn on_transaction(&mut self, ctx: &TransactionContext, tx: &Transaction) {
        self.requests_this_second += 1;
        match self.lines {
            Some(LineFormat::Ndjson) => {
                let mut buf = Vec::new();
                if write_json(&mut buf, &TaggedTx { kind: "transaction", ctx, tx }).is_ok() {
                    self.emit(&buf);
                }
            }
            Some(LineFormat::Text) => {
                let (method, uri) = tx
                    .request
                    .as_ref()
                    .map(|r| (display(&r.method, 16).into_owned(), display(r.uri.as_deref().unwrap_or("-"), 80).into_owned()))
                    .unwrap_or_else(|| ("-".into(), "-".into()));
                let status = tx.response.as_ref().and_then(|r| r.status).map(|st| st.to_string()).unwrap_or_else(|| "-".into());
                let line = format!(
                    "tx   #{} {} → {} depth {}{}{} {} {} → {}{}",
                    ctx.connection,
                    ctx.client,
                    ctx.server,
                    tx.depth,
                    if tx.reused { " reused" } else { "" },
                    if tx.pipelined { " pipelined" } else { "" },
                    method,
                    uri,
                    status,
                    if tx.expect_outcome != "none" { format!(" expect:{}", tx.expect_outcome) } else { String::new() },
                );
                let line = if self.colour { format!("\x1b[2m{line}\x1b[0m") } else { line };
                self.emit(line.as_bytes());
            }
            None => {}
        }
        let _ = self.out.flush();
    }
}

/// `keepscope interfaces`
pub fn run_interfaces() -> Result<(), AppError> {
    let list = crate::capture::list_interfaces().map_err(AppError::capture)?;
    let mut out = io::stdout().lock();
    for i in list {
        let mut flags = Vec::new();
        if i.up {
            flags.push("up");
        }
        if i.running {
            flags.push("running");
        }
        if i.loopback {
            flags.push("loopback");
        }
        let line = format!(
            "{:<16} {:<24} {}{}",
            display(&i.name, 16),
            flags.join(","),
            i.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" "),
            i.description.as_deref().map(|d| format!("  ({})", display(d, 60))).unwrap_or_default()
        );
        if writeln!(out, "{}", line.trim_end()).is_err() {
            break;
        }
    }
    Ok(())
}

/// `keepscope live`
pub fn run_live(args: &LiveArgs) -> Result<(), AppError> {
    let use_tui = !args.no_tui && io::stdout().is_terminal() && !args.json && !args.ndjson;
    let config = LiveConfig {
        iface: args.interface.clone(),
        filter: args.filter.clone(),
        snaplen: args.snaplen,
        promisc: !args.no_promisc,
        immediate: args.immediate,
        buffer_size: args.buffer_size.clamp(1, 2047) << 20,
    };
    let source = LiveSource::open(&config).map_err(AppError::capture)?;
    let iface = source.interface().to_string();
    let link = source.link().name();
    let writer = match &args.write {
        Some(path) => Some(source.writer(path).map_err(AppError::capture)?),
        None => None,
    };
    if let Some(user) = &args.user {
        drop_privileges(user)?;
    }
    if !use_tui {
        // Scripts (and the tests) wait for this line before sending traffic.
        eprintln!("keepscope: capturing on {} ({}), filter '{}'", display(&iface, 32), link, display(&args.filter, 200));
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C and SIGTERM end the run cleanly (in the UI, Ctrl-C arrives as a key).
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| AppError::new(1, format!("cannot install signal handler: {e}")))?;
    }
    let counters = Arc::new(CaptureCounters::default());
    let (tx, rx) = bounded::<CaptureMsg>(QUEUE_BATCHES);
    let deadline = args.duration.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let capture = {
        let stop = Arc::clone(&stop);
        let counters = Arc::clone(&counters);
        let max = args.count;
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture_thread(source, writer, tx, stop, counters, max, deadline))
            .map_err(|e| AppError::new(1, format!("cannot start capture thread: {e}")))?
    };

    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let lines = if use_tui || args.json {
        None
    } else if args.ndjson {
        Some(LineFormat::Ndjson)
    } else {
        Some(LineFormat::Text)
    };
    let sink = StreamSink {
        collect: CollectSink::with_history(args.history),
        lines,
        colour,
        out: io::BufWriter::new(io::stdout()),
        write_failed: false,
        requests_this_second: 0,
    };
    let mut options = args.limits.options();
    options.tcp.idle_timeout_ns = (args.idle_timeout.max(0.001) * 1e9) as i64;
    let pipeline = Pipeline::new(&options, sink);

    let analysis_ctx = AnalysisCtx { iface: iface.clone(), link, counters: Arc::clone(&counters) };
    let result = if use_tui {
        let (ui_tx, ui_rx) = bounded::<UiUpdate>(4);
        let stop_ui = Arc::clone(&stop);
        let analysis = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || analysis_loop(pipeline, rx, Some(ui_tx), analysis_ctx))
            .map_err(|e| AppError::new(1, format!("cannot start analysis thread: {e}")))?;
        let ui_result = crate::tui::run_live(ui_rx, stop_ui);
        stop.store(true, Ordering::Relaxed);
        let _ = capture.join();
        let _ = analysis.join();
        ui_result.map_err(|e| AppError::new(1, format!("terminal UI failed: {e}")))
    } else {
        let (pipeline, ended) = analysis_loop(pipeline, rx, None, analysis_ctx);
        let _ = capture.join();
        finish_no_tui(pipeline, args, &iface, &counters, colour, ended)
    };
    result
}

struct AnalysisCtx {
    iface: String,
    link: String,
    counters: Arc<CaptureCounters>,
}

/// The analysis thread's loop: packets in, snapshots out (UI mode). Returns the
/// pipeline, and the capture's end message, when the capture has ended.
fn analysis_loop(
    mut pipeline: Pipeline<StreamSink>,
    rx: Receiver<CaptureMsg>,
    ui: Option<Sender<UiUpdate>>,
    ctx: AnalysisCtx,
) -> (Pipeline<StreamSink>, Option<String>) {
    let mut last_snapshot = Instant::now();
    let mut last_second = Instant::now();
    let mut last_expiry = Timestamp::ZERO;
    let mut rate: Vec<u64> = Vec::new();
    let ended = loop {
        let msg = match rx.recv_timeout(SNAPSHOT_EVERY) {
            Ok(m) => Some(m),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break None,
        };
        let mut now = None;
        match msg {
            Some(CaptureMsg::Packets(batch)) => {
                for pkt in batch.packets() {
                    pipeline.on_packet(&pkt);
                }
                now = pipeline.counters.last_ts;
            }
            Some(CaptureMsg::Tick(ts)) => now = Some(ts),
            Some(CaptureMsg::Ended(e)) => break e,
            None => {}
        }
        // Expire idle connections about once a second of capture time.
        if let Some(now) = now {
            if now.as_nanos() - last_expiry.as_nanos() >= 1_000_000_000 {
                pipeline.expire_idle(now);
                last_expiry = now;
            }
        }
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = Instant::now();
            rate.push(std::mem::take(&mut pipeline.analyzer.sink.requests_this_second));
            if rate.len() > 120 {
                rate.remove(0);
            }
        }
        if let Some(ui) = &ui {
            if last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                last_snapshot = Instant::now();
                let report = snapshot(&pipeline, &ctx);
                // The UI keeps only the newest snapshot; never block on it.
                let _ = ui.try_send(UiUpdate::Snapshot(Arc::new(report)));
                let _ = ui.try_send(UiUpdate::Stats(live_stats(&pipeline, &ctx, &rate)));
            }
        }
    };
    if let Some(ui) = &ui {
        let report = snapshot(&pipeline, &ctx);
        let _ = ui.send_timeout(UiUpdate::Snapshot(Arc::new(report)), Duration::from_millis(500));
        let _ = ui.send_timeout(UiUpdate::CaptureEnded(ended.clone()), Duration::from_millis(500));
    }
    (pipeline, ended)
}

fn live_stats(pipeline: &Pipeline<StreamSink>, ctx: &AnalysisCtx, rate: &[u64]) -> LiveStats {
    LiveStats {
        interface: ctx.iface.clone(),
        packets: pipeline.counters.packets,
        kernel_dropped: ctx.counters.kernel_dropped.load(Ordering::Relaxed),
        queue_dropped: ctx.counters.queue_dropped.load(Ordering::Relaxed),
        requests_per_sec: rate.to_vec(),
    }
}

fn source_info(pipeline: &Pipeline<StreamSink>, ctx: &AnalysisCtx) -> crate::analysis::model::SourceInfo {
    let mut info = pipeline.source_info("live");
    info.paths = vec![ctx.iface.clone()];
    info.link_types = vec![ctx.link.clone()];
    info.dropped = Some(
        ctx.counters.kernel_dropped.load(Ordering::Relaxed) + ctx.counters.queue_dropped.load(Ordering::Relaxed),
    );
    info
}

/// A report of everything so far: finished connections kept in the history, plus
/// the connections still open.
fn snapshot(pipeline: &Pipeline<StreamSink>, ctx: &AnalysisCtx) -> Report {
    let sink = &pipeline.analyzer.sink.collect;
    let mut connections: Vec<ConnectionRecord> = sink.connections.iter().cloned().collect();
    let open = pipeline.analyzer.open_records();
    let mut builder: ReportBuilder = sink.builder.clone();
    for rec in &open {
        builder.add(rec, Vec::new());
    }
    connections.extend(open);
    builder.report(source_info(pipeline, ctx), connections)
}

fn finish_no_tui(
    mut pipeline: Pipeline<StreamSink>,
    args: &LiveArgs,
    iface: &str,
    counters: &Arc<CaptureCounters>,
    colour: bool,
    ended: Option<String>,
) -> Result<(), AppError> {
    // Connections still open are reported as open (close: none).
    pipeline.finish();
    let ctx = AnalysisCtx { iface: iface.to_string(), link: String::new(), counters: Arc::clone(counters) };
    let mut info = source_info(&pipeline, &ctx);
    info.link_types = Vec::new();
    if let Some(e) = &ended {
        info.warnings.push(format!("capture ended: {e}"));
        eprintln!("keepscope: {iface}: capture ended: {}", display(e, 200));
    }
    let sink = &mut pipeline.analyzer.sink;
    let _ = sink.out.flush();
    let connections = sink.collect.take_connections();
    let report = sink.collect.builder.report(info, connections);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if args.json {
        write_document(&mut out, &report)
    } else if args.ndjson {
        write_summary_line(&mut out, &report)
    } else {
        out.write_all(b"\n").and_then(|_| out.write_all(text::render(&report, colour).as_bytes()))
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(AppError::new(1, format!("cannot write output: {e}")))
        }
        _ => {}
    }
    // An interface that went away is an error, after the summary was written.
    match ended {
        Some(e) => Err(AppError::new(1, format!("{iface}: capture failed: {e}")).silent()),
        None => Ok(()),
    }
}
