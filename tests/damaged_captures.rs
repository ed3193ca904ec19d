//! Damaged captures through the real binary: the corpus's malformed files and the
//! project's captures cut at a deterministic set of offsets. Whatever can be read is
//! analysed (exit 0, a warning saying what was wrong); when nothing can be (cut
//! inside the file header) the run ends with one error line and exit 1; never a
//! panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{corpus_dir, TempCaptures};

fn keepscope(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepscope"))
        .args(args)
        .arg(path)
        .output()
        .expect("run keepscope")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// No panic message, no backtrace; every stderr line is one of ours.
fn assert_clean_stderr(what: &str, out: &Output) {
    let stderr = stderr_of(out);
    assert_ne!(out.status.code(), Some(101), "{what}: panicked: {stderr}");
    assert!(out.status.code().is_some(), "{what}: killed by a signal: {stderr}");
    for line in stderr.lines() {
        assert!(line.starts_with("keepscope: "), "{what}: unexpected stderr line {line:?}");
        assert!(!line.contains("internal error"), "{what}: {line}");
    }
}

#[test]
fn malformed_corpus_files_are_analysed_with_warnings() {
    let dir = corpus_dir().join("malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus malformed/ has {} files", files.len());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = keepscope(&["analyze", "--no-progress"], file);
        assert_clean_stderr(&name, &text);
        assert_eq!(text.status.code(), Some(0), "{name}: {}", stderr_of(&text));
        assert!(String::from_utf8_lossy(&text.stdout).contains("Connections"), "{name}: no report");
        // Packets the decoder could not use are said, not hidden (the one file whose
        // only damage is a timestamp fraction >= 1 s is read as the fraction says).
        if name != "timestamp_invalid_micro.pcap" {
            assert!(stderr_of(&text).contains("warning:"), "{name}: no warning: {}", stderr_of(&text));
        }
        let json = keepscope(&["analyze", "--no-progress", "--json"], file);
        assert_clean_stderr(&name, &json);
        assert_eq!(json.status.code(), Some(0), "{name}");
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
        assert!(doc["source"]["packets"].as_u64().unwrap_or(0) > 0, "{name}: {}", doc["source"]);
    }
}

/// Offsets of the record boundaries of a classic little-endian pcap file.
fn record_boundaries(bytes: &[u8]) -> Vec<usize> {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian classic pcap expected");
    let mut at = 24;
    let mut boundaries = vec![at];
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
        boundaries.push(at);
    }
    assert_eq!(at, bytes.len(), "the original file is whole");
    boundaries
}

/// Cut points for a file of `len` bytes: inside the file header, at its end, and a
/// spread of pseudo-random offsets (a fixed LCG, so every run cuts the same places).
fn cut_offsets(len: usize, seed: u64) -> Vec<usize> {
    let mut offsets = vec![0, 1, 10, 23, 24, 25, 24 + 15, 24 + 16, 24 + 17];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for _ in 0..21 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        offsets.push(24 + (state >> 33) as usize % (len - 24));
    }
    offsets.retain(|&o| o < len);
    offsets
}

#[test]
fn captures_cut_anywhere_are_read_up_to_the_cut() {
    let captures = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/captures"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&captures)
        .expect("captures/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let tmp = TempCaptures::new();
    let mut cuts = 0;
    for (n, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).expect("read capture");
        let boundaries = record_boundaries(&bytes);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for cut in cut_offsets(bytes.len(), n as u64) {
            cuts += 1;
            let what = format!("{name} cut at {cut}");
            let path = tmp.file("cut.pcap", &bytes[..cut]);
            let out = keepscope(&["analyze", "--no-progress", "--json"], &path);
            assert_clean_stderr(&what, &out);
            let stderr = stderr_of(&out);
            if cut < 24 {
                // Nothing readable: one line naming the file, exit 1.
                assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
                assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
                assert!(stderr.contains("cut.pcap"), "{what}: the error names the file: {stderr}");
                assert!(out.stdout.is_empty(), "{what}: no report without input");
                continue;
            }
            assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"));
            let whole_records = boundaries.iter().filter(|&&b| b <= cut).count() as u64 - 1;
            assert_eq!(doc["source"]["packets"].as_u64(), Some(whole_records), "{what}: every whole record is read");
            if boundaries.contains(&cut) {
                assert!(!stderr.contains("middle of a record"), "{what}: a whole file: {stderr}");
            } else {
                assert!(stderr.contains("warning:") && stderr.contains("cut.pcap"), "{what}: {stderr}");
                assert_eq!(doc["source"]["truncated"], serde_json::Value::Bool(true), "{what}");
            }
        }
    }
    assert!(cuts >= 30 * files.len() / 2, "{cuts} cuts");
}

/// A capture point that reorders packets (a mirror port of a busy switch, a
/// capture merged from two interfaces) can record a FIN before the last data
/// segment it ends. The analysis must wait for that segment rather than report its
/// bytes as not captured and the close as coming straight after the last byte.
#[test]
fn a_fin_captured_before_its_last_data_is_analysed_as_sent() {
    let file = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/captures/http10-keepalive.pcap"));
    let bytes = std::fs::read(&file).expect("read capture");
    let boundaries = record_boundaries(&bytes);
    let records: Vec<&[u8]> = boundaries.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
    // (FIN flag, payload length) of a record of this Ethernet capture.
    let tcp = |record: &[u8]| {
        let packet = etherparse::SlicedPacket::from_ethernet(&record[16..]).expect("an Ethernet frame");
        match packet.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => (t.fin(), t.payload().len()),
            _ => panic!("a TCP segment"),
        }
    };
    // Frames 21-23: the server's last data (its HTTP/1.0 response body), the
    // client's ACK of it, the server's FIN. Recorded FIN first, then the other two.
    assert!(matches!(tcp(records[20]), (false, n) if n > 0), "frame 21 carries data");
    assert_eq!(tcp(records[21]), (false, 0), "frame 22 is an ACK");
    assert_eq!(tcp(records[22]), (true, 0), "frame 23 is the FIN");
    let mut reordered = bytes[..24].to_vec();
    for i in (0..20).chain([22, 20, 21]).chain(23..records.len()) {
        reordered.extend_from_slice(records[i]);
    }
    assert_eq!(reordered.len(), bytes.len());
    let tmp = TempCaptures::new();
    let path = tmp.file("fin-first.pcap", &reordered);

    let json = |path: &Path| -> serde_json::Value {
        let out = keepscope(&["analyze", "--no-progress", "--json"], path);
        assert_clean_stderr(&path.display().to_string(), &out);
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).expect("valid JSON")
    };
    let (sent, captured) = (json(&file), json(&path));
    let conn = &captured["connections"][1];
    assert_eq!(conn["missing_bytes"]["server"], 0, "{conn}");
    assert!(conn["close"]["idle_s"].as_f64().unwrap() > 0.0, "the FIN came after the body: {conn}");
    for part in ["summary", "servers", "connections", "findings"] {
        assert_eq!(captured[part], sent[part], "{part}");
    }
}
