//! The command line, as `spec/interface.md` fixes it (plus a few extra flags).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "keepscope",
    version,
    about = "Shows how HTTP/1.x connections are really kept alive: reuse, pipelining, idle closes, 100-continue, TCP keep-alive probes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse pcap/pcapng files (gzip too; `-` reads standard input) and print a report
    Analyze(AnalyzeArgs),
    /// Explore the analysis of capture files in the terminal UI
    Tui(TuiArgs),
    /// Capture from an interface and analyse as packets arrive
    Live(LiveArgs),
    /// List capture interfaces
    Interfaces,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Limits of the analysis (memory bounds on hostile or endless input).
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Out-of-order bytes buffered per connection direction before a gap is given up
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub max_buffered_per_conn: usize,
    /// Out-of-order bytes buffered over all connections
    #[arg(long, value_name = "BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_buffered_total: usize,
    /// Longest HTTP message head (start line and headers) parsed
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_head_bytes: usize,
    /// Unfinished HTTP message heads buffered over all connections together
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_head_buffers: usize,
    /// Most connections tracked at once (the least recently active is ended beyond it)
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_connections: usize,
}

impl LimitArgs {
    pub fn options(&self) -> crate::pipeline::Options {
        let mut o = crate::pipeline::Options::default();
        o.tcp.max_buffered_per_conn = self.max_buffered_per_conn;
        o.tcp.max_buffered_total = self.max_buffered_total;
        o.tcp.max_connections = self.max_connections;
        o.http.max_head_bytes = self.max_head_bytes;
        o.http.max_buffered_total = self.max_head_buffers;
        o
    }
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); `-` for standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print one JSON document
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,
    /// Print one JSON object per finished connection, then a summary line
    #[arg(long)]
    pub ndjson: bool,
    /// BPF filter applied while reading (default: every packet; non-TCP is skipped)
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,
    /// Colour in the text report
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// No progress bar on stderr
    #[arg(long)]
    pub no_progress: bool,
    /// Threads: 1 does everything on one thread; 2 reads the file and reassembles
    /// the TCP streams on a second thread while the first analyses them (same
    /// results). Default: 2 on a machine with two cores or more
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=2))]
    pub threads: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct TuiArgs {
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// BPF filter applied while reading
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (default: the system's default capture device)
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// BPF capture filter
    #[arg(short = 'f', long = "filter", value_name = "BPF", default_value = "tcp")]
    pub filter: String,
    /// Bytes captured per packet
    #[arg(short = 's', long, default_value_t = 262_144)]
    pub snaplen: i32,
    /// Do not put the interface into promiscuous mode
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer, in MiB
    #[arg(short = 'B', long, value_name = "MiB", default_value_t = 64)]
    pub buffer_size: i32,
    /// Have the kernel deliver every packet at once (libpcap immediate mode) instead of
    /// in blocks at most 100 ms old. Immediate mode uses fixed ring slots of about the
    /// snaplen (or MTU) each, so under heavy load on lo (64 KiB MTU) it drops packets:
    /// measured with scripts/bench-live.sh, ~50% dropped with it, none without.
    #[arg(long)]
    pub immediate: bool,
    /// No terminal UI: stream a line per finished transaction and connection
    #[arg(long)]
    pub no_tui: bool,
    /// With --no-tui: print one JSON document at the end
    #[arg(long, conflicts_with = "ndjson")]
    pub json: bool,
    /// With --no-tui: one JSON object per finished connection, then a summary line
    #[arg(long)]
    pub ndjson: bool,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many packets
    #[arg(short = 'c', long, value_name = "PACKETS")]
    pub count: Option<u64>,
    /// Also write the raw packets to this pcap file
    #[arg(short = 'w', long = "write", value_name = "OUT.pcap")]
    pub write: Option<PathBuf>,
    /// End connections silent for this long (reported as open at expiry)
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub idle_timeout: f64,
    /// Finished connections kept in full for the JSON document and the UI; older
    /// ones are folded into the summaries
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub history: usize,
    /// Drop root privileges to this user after opening the capture (like tcpdump -Z)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Colour in the text output
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    #[command(flatten)]
    pub limits: LimitArgs,
}
