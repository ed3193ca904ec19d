//! Arbitrary capture files through the whole offline analysis: the input is written
//! to a temporary file and read as `keepscope analyze` would (pcap, pcapng, gzip
//! detection, decode, TCP, HTTP, analysis), then rendered as the text report and the
//! JSON document. Nothing may panic, and the JSON must parse. Seed the corpus with
//! real captures (`captures/*.pcap`) so the fuzzer starts from valid files.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use keepscope::pipeline::Options;
use libfuzzer_sys::fuzz_target;

fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("keepscope-fuzz-{}.pcap", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    std::fs::write(path, data).expect("write scratch capture");
    let mut options = Options::default();
    // Small bounds so the limits' code paths are reached by small inputs.
    options.tcp.max_buffered_per_conn = 2048;
    options.tcp.max_buffered_total = 8192;
    options.tcp.max_connections = 16;
    options.http.max_head_bytes = 1024;
    options.http.max_headers = 16;
    options.http.max_pending_requests = 4;
    let Ok(report) = keepscope::offline::analyze_files(std::slice::from_ref(path), None, &options, true, false) else {
        return;
    };
    let text = keepscope::report::text::render(&report, true);
    assert!(!text.is_empty());
    let mut json = Vec::new();
    keepscope::report::json::write_document(&mut json, &report).expect("JSON into a Vec");
    serde_json::from_slice::<serde_json::Value>(&json).expect("valid JSON");
});
