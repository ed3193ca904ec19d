//! Transactions packed to be set aside: what the JSON writers keep of the
//! transactions of open connections until the connection's record is written.
//!
//! A keep-alive connection's transactions are retired long before its record can
//! be written (the document's summary comes first; an NDJSON line waits for the
//! connection's end). They used to be kept as their JSON, compressed: about 590
//! bytes a transaction, so on the keep-alive benchmark 670 MB were written,
//! compressed and decompressed again (the compression and decompression alone
//! were a fifth of the run's CPU). Packed, a keep-alive transaction is about 23
//! bytes, and its JSON is written once, when it is needed, by the same writer
//! (`json::fast::transaction`) from the same view.
//!
//! A run of packed transactions is read back from its start only (a run becomes
//! one spool block), so each one is packed against the one before it:
//! - a string equal to the same field's previous value is a 2-bit code, nothing
//!   more (on a keep-alive connection nearly every string repeats);
//! - timestamps are the difference of their bits from the previous timestamp's,
//!   as a zigzag varint (microseconds apart at epoch times: 2 or 3 bytes);
//! - a depth one more than the previous one is a flag.
//!
//! Every value comes back bit for bit (floats as their bits), so the JSON is the
//! same as if it had been written from the transaction itself; a test checks it.

use std::io;

use crate::analysis::model::{Interim, Interims, RequestView, ResponseView, TxView};
use crate::http::Text;

/// The string fields, in the order of their codes.
const METHOD: usize = 0;
const URI: usize = 1;
const REQUEST_VERSION: usize = 2;
const REQUEST_CONNECTION: usize = 3;
const REQUEST_KEEP_ALIVE: usize = 4;
const EXPECT: usize = 5;
const REASON: usize = 6;
const RESPONSE_VERSION: usize = 7;
const RESPONSE_CONNECTION: usize = 8;
const RESPONSE_KEEP_ALIVE: usize = 9;
const FRAMING: usize = 10;
const EXPECT_OUTCOME: usize = 11;
const STRINGS: usize = 12;

/// A string field's 2-bit code: absent (`null`, or its message is absent), the
/// same as the field's previous value in the run, or a new value that follows.
const ABSENT: u32 = 0;
const SAME: u32 = 1;
const NEW: u32 = 2;

/// Bytes of the string codes (2 bits per field).
const CODE_BYTES: usize = 3;

/// Flags, the first two bytes of a packed transaction.
const COMMA: u16 = 1 << 0;
const REUSED: u16 = 1 << 1;
const PIPELINED: u16 = 1 << 2;
const PERSISTENT_AFTER: u16 = 1 << 3;
const REQUEST: u16 = 1 << 4;
const RESPONSE: u16 = 1 << 5;
const IDLE_BEFORE: u16 = 1 << 6;
const CLIENT_WAIT: u16 = 1 << 7;
const SERVER_WAIT: u16 = 1 << 8;
/// The depth is written (otherwise it is the previous one plus one).
const DEPTH: u16 = 1 << 9;
const REQUEST_END: u16 = 1 << 10;
const RESPONSE_END: u16 = 1 << 11;
const STATUS: u16 = 1 << 12;
const REQUEST_COMPLETE: u16 = 1 << 13;
const RESPONSE_COMPLETE: u16 = 1 << 14;
const INTERIMS: u16 = 1 << 15;

/// Packs transactions onto the end of a run. It remembers the run's last values,
/// by where they are in the run, so it belongs to one run: when the run is empty
/// (a new one, or the last one was moved out and cleared) it starts afresh.
#[derive(Default)]
pub struct Packer {
    /// Where each string field's last value is in the run.
    strings: [(usize, usize); STRINGS],
    ts_bits: u64,
    depth: u64,
}

impl Packer {
    /// Appends `tx` to `run`; `comma`: its JSON is preceded by a comma.
    pub fn pack(&mut self, run: &mut Vec<u8>, tx: &TxView<'_>, comma: bool) {
        if run.is_empty() {
            *self = Packer::default();
        }
        let mut flags = 0u16;
        for (set, flag) in [
            (comma, COMMA),
            (tx.reused, REUSED),
            (tx.pipelined, PIPELINED),
            (tx.persistent_after, PERSISTENT_AFTER),
            (tx.request.is_some(), REQUEST),
            (tx.response.is_some(), RESPONSE),
            (tx.idle_before_s.is_some(), IDLE_BEFORE),
            (tx.expect_client_wait_s.is_some(), CLIENT_WAIT),
            (tx.expect_server_wait_s.is_some(), SERVER_WAIT),
            (tx.depth != self.depth.wrapping_add(1), DEPTH),
            (tx.request.as_ref().is_some_and(|r| r.end_ts.is_some()), REQUEST_END),
            (tx.response.as_ref().is_some_and(|r| r.end_ts.is_some()), RESPONSE_END),
            (tx.response.as_ref().is_some_and(|r| r.status.is_some()), STATUS),
            (tx.request.as_ref().is_some_and(|r| r.complete), REQUEST_COMPLETE),
            (tx.response.as_ref().is_some_and(|r| r.complete), RESPONSE_COMPLETE),
            (tx.interim.iter().next().is_some(), INTERIMS),
        ] {
            if set {
                flags |= flag;
            }
        }
        run.extend_from_slice(&flags.to_le_bytes());
        let codes_at = run.len();
        run.extend_from_slice(&[0; CODE_BYTES]);
        let mut codes = 0u32;
        if flags & DEPTH != 0 {
            varint(run, tx.depth);
        }
        self.depth = tx.depth;
        duration(run, tx.idle_before_s);
        if let Some(r) = &tx.request {
            self.timestamp(run, r.ts);
            if let Some(end) = r.end_ts {
                self.timestamp(run, end);
            }
            varint(run, r.body_bytes);
            for (field, value) in [
                (METHOD, Some(r.method)),
                (URI, r.uri),
                (REQUEST_VERSION, Some(&*r.version)),
                (REQUEST_CONNECTION, r.connection),
                (REQUEST_KEEP_ALIVE, r.keep_alive),
                (EXPECT, r.expect),
            ] {
                codes |= self.string(run, field, value) << (2 * field);
            }
        }
        if flags & INTERIMS != 0 {
            varint(run, tx.interim.iter().count() as u64);
            for interim in tx.interim.iter() {
                varint(run, u64::from(interim.status));
                self.timestamp(run, interim.ts);
            }
        }
        if let Some(r) = &tx.response {
            self.timestamp(run, r.ts);
            if let Some(end) = r.end_ts {
                self.timestamp(run, end);
            }
            if let Some(status) = r.status {
                varint(run, u64::from(status));
            }
            varint(run, r.body_bytes);
            for (field, value) in [
                (REASON, Some(r.reason)),
                (RESPONSE_VERSION, Some(&*r.version)),
                (RESPONSE_CONNECTION, r.connection),
                (RESPONSE_KEEP_ALIVE, r.keep_alive),
                (FRAMING, Some(r.framing)),
            ] {
                codes |= self.string(run, field, value) << (2 * field);
            }
        }
        codes |= self.string(run, EXPECT_OUTCOME, Some(tx.expect_outcome)) << (2 * EXPECT_OUTCOME);
        duration(run, tx.expect_client_wait_s);
        duration(run, tx.expect_server_wait_s);
        run[codes_at..codes_at + CODE_BYTES].copy_from_slice(&codes.to_le_bytes()[..CODE_BYTES]);
    }

    fn timestamp(&mut self, run: &mut Vec<u8>, ts: f64) {
        let bits = ts.to_bits();
        let delta = bits.wrapping_sub(self.ts_bits) as i64;
        varint(run, ((delta << 1) ^ (delta >> 63)) as u64);
        self.ts_bits = bits;
    }

    /// Appends `value` unless it is absent or the same as the field's last one;
    /// returns its code.
    fn string(&mut self, run: &mut Vec<u8>, field: usize, value: Option<&str>) -> u32 {
        let Some(value) = value else { return ABSENT };
        let (at, len) = self.strings[field];
        if len == value.len() && &run[at..at + len] == value.as_bytes() {
            // (An empty value the first time is "the same" as the empty slice the
            // field starts with, which is what the reader starts with too.)
            return SAME;
        }
        varint(run, value.len() as u64);
        self.strings[field] = (run.len(), value.len());
        run.extend_from_slice(value.as_bytes());
        NEW
    }
}

/// An optional duration, as its bits (durations are small and varied; their
/// presence is a flag).
fn duration(run: &mut Vec<u8>, v: Option<f64>) {
    if let Some(v) = v {
        run.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// LEB128.
fn varint(run: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        run.push(v as u8 | 0x80);
        v >>= 7;
    }
    run.push(v as u8);
}

/// A transaction as `for_each_view` hands it on.
pub struct Unpacked<'v> {
    pub tx: TxView<'v>,
    /// Its JSON is preceded by a comma.
    pub comma: bool,
    /// It differs from the transaction before it only in its numbers (depth,
    /// timestamps, durations, lengths, status; not in which of them are absent),
    /// and neither has interim responses: its JSON has the same bytes between
    /// the numbers (see `json::fast::TxTemplate`).
    pub repeats: bool,
}

/// Hands `f` each transaction of a run packed by a `Packer`, in order; stops at
/// `f`'s first error. A run that does not unpack (a damaged temporary file) is an
/// error, never a panic.
pub fn for_each_view(run: &[u8], mut f: impl FnMut(&Unpacked<'_>) -> io::Result<()>) -> io::Result<()> {
    let mut reader = Reader { run, at: 0, strings: [""; STRINGS], versions: Default::default(), ts_bits: 0, depth: 0, shape: None };
    let mut interims = Vec::new();
    while reader.at < run.len() {
        let unpacked = reader.next(&mut interims).ok_or_else(|| io::Error::other("transactions set aside are damaged"))?;
        f(&unpacked)?;
    }
    Ok(())
}

/// Flags that are not about numbers' values: all but the comma's and whether the
/// depth is written.
const SHAPE_FLAGS: u16 = !(COMMA | DEPTH);

/// Which strings are absent and which are present, from the codes (a present
/// field is `SAME` or `NEW`).
fn presence(codes: u32) -> u32 {
    // Each present field's low bit of two (`SAME` is 01, `NEW` 10).
    let present = codes | (codes >> 1);
    present & 0x55_5555
}

/// Whether any string is `NEW` (10).
fn any_new(codes: u32) -> bool {
    codes & 0xAA_AAAA != 0
}

struct Reader<'a> {
    run: &'a [u8],
    at: usize,
    strings: [&'a str; STRINGS],
    /// The request's and the response's last version, made once (a view holds
    /// its version as a `Text`; making it for every transaction was a tenth of
    /// what writing the JSON cost).
    versions: [Text; 2],
    ts_bits: u64,
    depth: u64,
    /// The last transaction's shape flags and which of its strings were present.
    shape: Option<(u16, u32)>,
}

impl<'a> Reader<'a> {
    fn next<'v>(&mut self, interims: &'v mut Vec<Interim>) -> Option<Unpacked<'v>>
    where
        'a: 'v,
    {
        let flags = u16::from_le_bytes(self.bytes(2)?.try_into().ok()?);
        let mut code_bytes = [0u8; 4];
        code_bytes[..CODE_BYTES].copy_from_slice(self.bytes(CODE_BYTES)?);
        let codes = u32::from_le_bytes(code_bytes);
        let has = |flag: u16| flags & flag != 0;
        let shape = (flags & SHAPE_FLAGS, presence(codes));
        let repeats = !any_new(codes) && !has(INTERIMS) && self.shape == Some(shape);
        self.shape = Some(shape);
        self.depth = if has(DEPTH) { self.varint()? } else { self.depth.wrapping_add(1) };
        let idle_before_s = self.duration(has(IDLE_BEFORE))?;
        let request = if has(REQUEST) {
            let ts = self.timestamp()?;
            let end_ts = if has(REQUEST_END) { Some(self.timestamp()?) } else { None };
            let body_bytes = self.varint()?;
            Some(RequestView {
                ts,
                end_ts,
                method: self.string(codes, METHOD)?.unwrap_or_default(),
                uri: self.string(codes, URI)?,
                version: self.version(codes, REQUEST_VERSION, 0)?,
                connection: self.string(codes, REQUEST_CONNECTION)?,
                keep_alive: self.string(codes, REQUEST_KEEP_ALIVE)?,
                expect: self.string(codes, EXPECT)?,
                body_bytes,
                complete: has(REQUEST_COMPLETE),
            })
        } else {
            None
        };
        interims.clear();
        if has(INTERIMS) {
            for _ in 0..self.varint()? {
                let status = u16::try_from(self.varint()?).ok()?;
                interims.push(Interim { status, ts: self.timestamp()? });
            }
        }
        let response = if has(RESPONSE) {
            let ts = self.timestamp()?;
            let end_ts = if has(RESPONSE_END) { Some(self.timestamp()?) } else { None };
            let status = if has(STATUS) { Some(u16::try_from(self.varint()?).ok()?) } else { None };
            let body_bytes = self.varint()?;
            Some(ResponseView {
                ts,
                end_ts,
                status,
                reason: self.string(codes, REASON)?.unwrap_or_default(),
                version: self.version(codes, RESPONSE_VERSION, 1)?,
                connection: self.string(codes, RESPONSE_CONNECTION)?,
                keep_alive: self.string(codes, RESPONSE_KEEP_ALIVE)?,
                framing: self.string(codes, FRAMING)?.unwrap_or_default(),
                body_bytes,
                complete: has(RESPONSE_COMPLETE),
            })
        } else {
            None
        };
        let expect_outcome = self.string(codes, EXPECT_OUTCOME)?.unwrap_or_default();
        let view = TxView {
            depth: self.depth,
            reused: has(REUSED),
            pipelined: has(PIPELINED),
            idle_before_s,
            request,
            interim: Interims::Records(interims),
            response,
            expect_outcome,
            persistent_after: has(PERSISTENT_AFTER),
            expect_client_wait_s: self.duration(has(CLIENT_WAIT))?,
            expect_server_wait_s: self.duration(has(SERVER_WAIT))?,
        };
        Some(Unpacked { tx: view, comma: has(COMMA), repeats })
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.run.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(bytes)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.run.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn timestamp(&mut self) -> Option<f64> {
        let zigzag = self.varint()?;
        let delta = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
        self.ts_bits = self.ts_bits.wrapping_add(delta as u64);
        Some(f64::from_bits(self.ts_bits))
    }

    fn duration(&mut self, present: bool) -> Option<Option<f64>> {
        if !present {
            return Some(None);
        }
        Some(Some(f64::from_bits(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))))
    }

    /// A version field (never absent), kept in `versions[slot]`.
    fn version(&mut self, codes: u32, field: usize, slot: usize) -> Option<Text> {
        match (codes >> (2 * field)) & 3 {
            SAME => {}
            NEW => {
                let value = self.string(codes, field)??;
                self.versions[slot] = Text::from(value);
            }
            _ => return None,
        }
        Some(self.versions[slot].clone())
    }

    /// The field's value: `None` when it is absent (`Some("")` for a non-optional
    /// field that is absent is never asked for: its message is absent).
    fn string(&mut self, codes: u32, field: usize) -> Option<Option<&'a str>> {
        match (codes >> (2 * field)) & 3 {
            ABSENT => Some(None),
            SAME => Some(Some(self.strings[field])),
            NEW => {
                let len = usize::try_from(self.varint()?).ok()?;
                let value = std::str::from_utf8(self.bytes(len)?).ok()?;
                self.strings[field] = value;
                Some(Some(value))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::model::{RequestRecord, ResponseRecord, Transaction};
    use proptest::prelude::*;

    /// Strings from a small set (so that values repeat, as they do on a
    /// connection), or anything.
    fn text() -> impl Strategy<Value = Text> {
        prop_oneof![
            Just(""),
            Just("GET"),
            Just("HTTP/1.1"),
            Just("keep-alive"),
            Just("/"),
        ]
        .prop_map(Text::from)
        .boxed()
        .prop_union(".{0,20}".prop_map(|s: String| Text::from(s)).boxed())
    }

    fn opt_text() -> impl Strategy<Value = Option<Text>> {
        proptest::option::of(text())
    }

    /// Epoch times microseconds apart, and any float at all (NaN, infinities,
    /// -0.0, subnormals), whose bits must come back too.
    pub(crate) fn float() -> impl Strategy<Value = f64> {
        prop_oneof![(1_700_000_000_000_000u64..1_700_000_000_100_000).prop_map(|us| us as f64 / 1e6), any::<f64>(), Just(-0.0)]
    }

    prop_compose! {
        fn request()(ts in float(), end_ts in proptest::option::of(float()), method in text(), uri in opt_text(),
                     version in text(), connection in opt_text(), keep_alive in opt_text(), expect in opt_text(),
                     body_bytes in any::<u64>(), complete in any::<bool>()) -> RequestRecord {
            RequestRecord { ts, end_ts, method, uri, version, connection, keep_alive, expect, body_bytes, complete }
        }
    }

    prop_compose! {
        fn response()(ts in float(), end_ts in proptest::option::of(float()), status in proptest::option::of(any::<u16>()),
                      reason in text(), version in text(), connection in opt_text(), keep_alive in opt_text(),
                      framing in text(), body_bytes in any::<u64>(), complete in any::<bool>()) -> ResponseRecord {
            ResponseRecord { ts, end_ts, status, reason, version, connection, keep_alive, framing, body_bytes, complete }
        }
    }

    prop_compose! {
        /// A transaction, whether it follows on from the previous one's depth, and
        /// whether a comma precedes it.
        pub(crate) fn transaction()(depth in any::<u64>(), follows in any::<bool>(), reused in any::<bool>(), pipelined in any::<bool>(),
                         idle_before_s in proptest::option::of(float()), request in proptest::option::of(request()),
                         interim in proptest::collection::vec((any::<u16>(), float()), 0..3),
                         response in proptest::option::of(response()), expect_outcome in text(),
                         persistent_after in any::<bool>(), client_wait in proptest::option::of(float()),
                         server_wait in proptest::option::of(float()), comma in any::<bool>()) -> (Transaction, bool, bool) {
            let interim = interim.into_iter().map(|(status, ts)| Interim { status, ts }).collect();
            let tx = Transaction {
                depth, reused, pipelined, idle_before_s, request, interim, response, expect_outcome, persistent_after,
                expect_client_wait_s: client_wait, expect_server_wait_s: server_wait,
            };
            (tx, follows, comma)
        }
    }

    proptest! {
        /// Transactions packed in two runs (the packer starting afresh on the
        /// second, as when a run has gone to the spool) come back field for field,
        /// floats bit for bit (compared through `Debug`, which tells -0.0 and NaN).
        #[test]
        fn packed_transactions_come_back_as_they_were(txs in proptest::collection::vec(transaction(), 0..12), split in 0usize..12) {
            let mut txs = txs;
            for i in 1..txs.len() {
                if txs[i].1 {
                    txs[i].0.depth = txs[i - 1].0.depth.wrapping_add(1);
                }
            }
            let split = split.min(txs.len());
            let mut packer = Packer::default();
            let mut got = Vec::new();
            let mut run = Vec::new();
            for part in [&txs[..split], &txs[split..]] {
                run.clear();
                for (tx, _, comma) in part {
                    packer.pack(&mut run, &tx.view(), *comma);
                }
                for_each_view(&run, |u| {
                    got.push((format!("{:?}", u.tx.to_record()), u.comma));
                    Ok(())
                })
                .unwrap();
            }
            let want: Vec<_> = txs.iter().map(|(tx, _, comma)| (format!("{tx:?}"), *comma)).collect();
            prop_assert_eq!(got, want);
        }

        /// A damaged run is an error, never a panic.
        #[test]
        fn damaged_runs_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = for_each_view(&bytes, |u| {
                let _ = u.tx.to_record();
                Ok(())
            });
        }
    }

    #[test]
    fn a_keep_alive_transaction_packs_small() {
        let tx = |n: u64| Transaction {
            depth: n,
            reused: n > 1,
            pipelined: false,
            idle_before_s: Some(0.000071),
            request: Some(RequestRecord {
                ts: 1796287013.321829 + n as f64 * 1e-4,
                end_ts: Some(1796287013.321829 + n as f64 * 1e-4),
                method: "GET".into(),
                uri: Some("/".into()),
                version: "HTTP/1.1".into(),
                connection: None,
                keep_alive: None,
                expect: None,
                body_bytes: 0,
                complete: true,
            }),
            interim: Vec::new(),
            response: Some(ResponseRecord {
                ts: 1796287013.321877 + n as f64 * 1e-4,
                end_ts: Some(1796287013.321877 + n as f64 * 1e-4),
                status: Some(200),
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                connection: Some("keep-alive".into()),
                keep_alive: None,
                framing: "content-length".into(),
                body_bytes: 612,
                complete: true,
            }),
            expect_outcome: "none".into(),
            persistent_after: true,
            expect_client_wait_s: None,
            expect_server_wait_s: None,
        };
        let (mut packer, mut run) = (Packer::default(), Vec::new());
        for n in 1..=100 {
            packer.pack(&mut run, &tx(n).view(), n > 1);
        }
        // Flags, codes, the idle time, four timestamps and two lengths.
        assert!(run.len() <= 100 * 28, "{} bytes", run.len());
    }
}
