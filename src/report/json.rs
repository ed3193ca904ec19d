//! JSON and NDJSON output. Strings stay lossless, but beyond what serde_json
//! escapes (C0 controls) the formatter also escapes DEL, C1 controls and bidi /
//! zero-width characters as `\uXXXX`, so `keepscope analyze --json | less -R` or a
//! `cat` of the file cannot be turned against the terminal by captured bytes.

use std::collections::HashMap;
use std::io::{self, Write};

use crossbeam_channel::{Receiver, Sender};
use foldhash::fast::RandomState;
use serde::Serialize;

use super::packed::{self, Packer};
use super::spool::{Extent, Span, Spool};
use crate::analysis::model::{ConnectionRecord, Finding, Report, ServerFigures, SourceInfo, Summary, Transaction};
use crate::analysis::{ConnectionSink, ReportBuilder, RetiredTransactions};

/// Output kept in memory before it goes to a temporary file (see `Spool`).
pub const SPOOL_MEMORY: usize = 8 << 20;

/// serde_json's compact formatter with extra escaping of terminal-dangerous text.
pub struct SafeFormatter;

fn must_escape(c: char) -> bool {
    let u = c as u32;
    u == 0x7f
        || (0x80..=0x9f).contains(&u)
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
}

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        // Every character to escape is DEL or outside ASCII: plain ASCII text (nearly
        // all of it) is written as is, without decoding characters.
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if must_escape(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one line of safe JSON.
pub fn write_json<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, SafeFormatter);
    value.serialize(&mut ser).map_err(io::Error::from)?;
    Ok(())
}

/// Transactions are most of the output (a keep-alive capture of 500,000
/// requests makes a 300 MB document), so they have a writer of their own: the
/// same bytes `write_json` gives (tests compare the two over every capture and
/// over hostile strings), about three times as fast — constant keys are written
/// as one run of bytes, plain ASCII strings are copied without escaping checks
/// per character. Connection records (one per connection, most of the output on
/// short connections) are written here too.
pub mod fast {
    use std::mem::MaybeUninit;

    use serde_json::ser::{CompactFormatter, Formatter};

    use super::write_json;
    use crate::analysis::model::{ConnectionRecord, RequestView, ResponseView, TxView};

    /// "00" to "99".
    const DIGIT_PAIRS: [[u8; 2]; 100] = {
        let mut pairs = [[0; 2]; 100];
        let mut n = 0;
        while n < 100 {
            pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
            n += 1;
        }
        pairs
    };

    /// Up to 2^32 s (the year 2106) a double's neighbours are less than 10^-6
    /// apart; see `float`.
    const MICROS_EXACT_BELOW: f64 = 4_294_967_296.0;
    /// Below this serde_json writes an exponent (`9e-6`), so `float` leaves such
    /// values to it; durations (idle gaps, waits) are mostly above it.
    const SHORT_WAY_FROM: f64 = 1e-5;

    /// A float as serde_json writes it: the shortest decimal that reads back as the
    /// same double. Most floats here are timestamps rounded to microseconds
    /// (`time::round_us`), each the double nearest to n/10^6 for some integer n;
    /// so are durations.
    /// Below 2^32, neighbouring doubles are less than 10^-6 apart, so no other
    /// decimal of six places or fewer reads back as that double: n/10^6 in decimal,
    /// trailing zeros dropped, is the shortest form, and is written here with
    /// integer arithmetic instead of the general algorithm (checked against
    /// serde_json by `timestamps_are_written_as_serde_writes_them`).
    fn float(out: &mut Vec<u8>, v: f64) {
        if (SHORT_WAY_FROM..MICROS_EXACT_BELOW).contains(&v) {
            // v is positive: adding a half and truncating rounds it. (Through
            // i64, below 2^63 here, the conversion is one instruction; to u64 it
            // takes a dozen.)
            let micros = (v * 1e6 + 0.5) as i64 as u64;
            if micros as f64 / 1e6 == v {
                // Below 2^32 s the whole seconds fit in a u32.
                let whole = (micros / 1_000_000) as u32;
                let frac = (micros % 1_000_000) as u32;
                let text = room(out);
                let mut len = if whole < 10 {
                    text[0].write(b'0' + whole as u8);
                    1
                } else {
                    whole_seconds(text, whole)
                };
                text[len].write(b'.');
                if frac == 0 {
                    text[len + 1].write(b'0');
                    len += 2;
                } else {
                    let pairs = [frac / 10_000, frac / 100 % 100, frac % 100];
                    for (i, pair) in pairs.into_iter().enumerate() {
                        let [a, b] = DIGIT_PAIRS[pair as usize];
                        text[len + 1 + 2 * i].write(a);
                        text[len + 2 + 2 * i].write(b);
                    }
                    // Trailing zeros are dropped.
                    let (mut digits, mut rest) = (6, frac);
                    while rest % 10 == 0 {
                        rest /= 10;
                        digits -= 1;
                    }
                    len += 1 + digits;
                }
                // SAFETY: bytes 0..len of the room were written above.
                unsafe { keep(out, len) };
                return;
            }
        }
        if v.is_finite() {
            let _ = CompactFormatter.write_f64(out, v);
        } else {
            out.extend_from_slice(b"null");
        }
    }

    thread_local! {
        /// The whole seconds `float` wrote last (at least 10) and their digits; a
        /// length of 0 means none yet.
        static LAST_WHOLE_SECONDS: std::cell::Cell<(u32, usize, [u8; 10])> =
            const { std::cell::Cell::new((0, 0, [0; 10])) };
    }

    /// Writes `whole` (≥ 10) at the start of `text`; returns how many digits. The
    /// timestamps of a transaction, and of the next ones, mostly fall in the same
    /// second: its digits are kept and copied rather than worked out again (they
    /// were most of what writing a timestamp cost).
    fn whole_seconds(text: &mut Room, whole: u32) -> usize {
        LAST_WHOLE_SECONDS.with(|last| {
            let (seconds, mut len, mut digits) = last.get();
            if len == 0 || seconds != whole {
                len = write_digits(whole as u64, |i, d| digits[i] = d);
                last.set((whole, len, digits));
            }
            for (slot, &d) in text.iter_mut().zip(&digits) {
                slot.write(d);
            }
            len
        })
    }

    /// Room for any number `int` or `float`'s short way writes: 20 digits of a
    /// u64, or ten digits, a point and six more.
    const NUMBER_ROOM: usize = 24;

    /// Spare capacity at the end of the output, where a number is written in place.
    /// (Numbers were written to a buffer on the stack and appended with one 24-byte
    /// move: a wide load of bytes stored a moment before in narrow pieces cannot be
    /// forwarded from the store buffer, and waiting for them was most of what
    /// writing an integer cost, which an instruction count does not show.)
    type Room = [MaybeUninit<u8>; NUMBER_ROOM];

    fn room(out: &mut Vec<u8>) -> &mut Room {
        out.reserve(NUMBER_ROOM);
        (&mut out.spare_capacity_mut()[..NUMBER_ROOM]).try_into().expect("NUMBER_ROOM bytes reserved")
    }

    /// Makes the first `len` bytes of `room(out)` part of the output.
    ///
    /// # Safety
    /// They must all have been written.
    unsafe fn keep(out: &mut Vec<u8>, len: usize) {
        debug_assert!(len <= NUMBER_ROOM && out.len() + len <= out.capacity());
        // SAFETY: the caller wrote these bytes of the spare capacity.
        unsafe { out.set_len(out.len() + len) }
    }

    /// Gives the decimal digits of `v` to `put` (position, digit); returns how many.
    #[inline(always)]
    fn write_digits(mut v: u64, mut put: impl FnMut(usize, u8)) -> usize {
        let len = v.checked_ilog10().map_or(1, |d| d as usize + 1);
        let mut end = len;
        while v >= 100 {
            end -= 2;
            let [a, b] = DIGIT_PAIRS[(v % 100) as usize];
            put(end, a);
            put(end + 1, b);
            v /= 100;
        }
        if v >= 10 {
            let [a, b] = DIGIT_PAIRS[v as usize];
            put(0, a);
            put(1, b);
        } else {
            put(0, b'0' + v as u8);
        }
        len
    }

    fn opt_float(out: &mut Vec<u8>, v: Option<f64>) {
        match v {
            Some(v) => float(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }

    fn int(out: &mut Vec<u8>, v: u64) {
        let text = room(out);
        let len = write_digits(v, |i, d| {
            text[i].write(d);
        });
        // SAFETY: write_digits wrote bytes 0..len.
        unsafe { keep(out, len) };
    }

    fn boolean(out: &mut Vec<u8>, v: bool) {
        out.extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// Bytes a JSON string holds as they are: printable ASCII other than `"` and `\`.
    const PLAIN: [bool; 256] = {
        let mut plain = [false; 256];
        let mut b = 0x20;
        while b < 0x7f {
            plain[b] = b != b'"' as usize && b != b'\\' as usize;
            b += 1;
        }
        plain
    };

    /// A JSON string: printable ASCII without `"` or `\` is copied as is (nearly
    /// all captured text); anything else goes through the escaping formatter.
    fn string(out: &mut Vec<u8>, v: &str) {
        if v.bytes().all(|b| PLAIN[b as usize]) {
            out.reserve(v.len() + 2);
            out.push(b'"');
            out.extend_from_slice(v.as_bytes());
            out.push(b'"');
        } else {
            let _ = write_json(out, &v);
        }
    }

    /// Where a transaction's JSON goes (`transaction_to`): the JSON itself
    /// (`Vec<u8>`), a `TxTemplate` being made, or a template being filled in.
    trait TxOut {
        /// Bytes that are the same for every transaction of the same shape: keys,
        /// punctuation, `null`s, booleans.
        fn raw(&mut self, bytes: &[u8]);
        /// Strings are the same too in transactions that `TxTemplate` is used for.
        fn string(&mut self, v: &str);
        fn int(&mut self, v: u64);
        fn float(&mut self, v: f64);

        fn opt_float(&mut self, v: Option<f64>) {
            match v {
                Some(v) => self.float(v),
                None => self.raw(b"null"),
            }
        }

        fn opt_string(&mut self, v: Option<&str>) {
            match v {
                Some(v) => self.string(v),
                None => self.raw(b"null"),
            }
        }

        fn boolean(&mut self, v: bool) {
            self.raw(if v { b"true" } else { b"false" });
        }
    }

    impl TxOut for Vec<u8> {
        fn raw(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }

        fn string(&mut self, v: &str) {
            string(self, v);
        }

        fn int(&mut self, v: u64) {
            int(self, v);
        }

        fn float(&mut self, v: f64) {
            float(self, v);
        }
    }

    /// A transaction's JSON without its numbers: the bytes between them. A
    /// transaction that differs from the one a template was made from only in its
    /// numbers (the packed form tells: `packed::for_each_view`'s `repeats`; the
    /// numbers are the depth, timestamps, durations, lengths and status, and
    /// which of them are `null` must be the same too) is written by copying the
    /// template's runs of bytes between its own numbers (`transaction_like`). On
    /// a keep-alive connection nearly every transaction is such a one, and the
    /// 400-odd bytes of keys, strings and booleans are then a few copies rather
    /// than some forty small writes and eight string checks.
    #[derive(Default)]
    pub struct TxTemplate {
        bytes: Vec<u8>,
        /// Where each number was cut out, in order.
        cuts: Vec<usize>,
    }

    impl TxTemplate {
        /// Makes this the template of `t`.
        pub fn make(&mut self, t: &TxView) {
            self.bytes.clear();
            self.cuts.clear();
            transaction_to(self, t);
        }
    }

    impl TxOut for TxTemplate {
        fn raw(&mut self, bytes: &[u8]) {
            self.bytes.extend_from_slice(bytes);
        }

        fn string(&mut self, v: &str) {
            string(&mut self.bytes, v);
        }

        fn int(&mut self, _: u64) {
            self.cuts.push(self.bytes.len());
        }

        fn float(&mut self, _: f64) {
            self.cuts.push(self.bytes.len());
        }
    }

    /// A template being filled in with a transaction's numbers.
    struct Filling<'a> {
        out: &'a mut Vec<u8>,
        template: &'a TxTemplate,
        /// The template's bytes up to here are written.
        at: usize,
        /// The next number's cut.
        cut: usize,
    }

    impl Filling<'_> {
        /// Writes the template's bytes up to the next number's place.
        fn up_to_number(&mut self) {
            let t = self.template;
            // Only a transaction of another shape than the template's can have
            // more numbers (`repeats` rules that out); its JSON would be wrong,
            // but nothing here panics over it.
            let to = t.cuts.get(self.cut).copied().unwrap_or(t.bytes.len()).max(self.at);
            self.out.extend_from_slice(&t.bytes[self.at..to]);
            self.at = to;
            self.cut += 1;
        }
    }

    impl TxOut for Filling<'_> {
        fn raw(&mut self, _: &[u8]) {}

        fn string(&mut self, _: &str) {}

        fn int(&mut self, v: u64) {
            self.up_to_number();
            int(self.out, v);
        }

        fn float(&mut self, v: f64) {
            self.up_to_number();
            float(self.out, v);
        }
    }

    /// `t` as `transaction` writes it, through `template`, which must have been
    /// made from a transaction that differs from `t` only in its numbers.
    pub fn transaction_like(out: &mut Vec<u8>, template: &TxTemplate, t: &TxView) {
        let mut filling = Filling { out, template, at: 0, cut: 0 };
        transaction_to(&mut filling, t);
        let at = filling.at;
        out.extend_from_slice(&template.bytes[at..]);
    }

    fn request(o: &mut impl TxOut, r: &RequestView) {
        o.raw(b"{\"ts\":");
        o.float(r.ts);
        o.raw(b",\"end_ts\":");
        o.opt_float(r.end_ts);
        o.raw(b",\"method\":");
        o.string(r.method);
        o.raw(b",\"uri\":");
        o.opt_string(r.uri);
        o.raw(b",\"version\":");
        o.string(&r.version);
        o.raw(b",\"connection\":");
        o.opt_string(r.connection);
        o.raw(b",\"keep_alive\":");
        o.opt_string(r.keep_alive);
        o.raw(b",\"expect\":");
        o.opt_string(r.expect);
        o.raw(b",\"body_bytes\":");
        o.int(r.body_bytes);
        o.raw(b",\"complete\":");
        o.boolean(r.complete);
        o.raw(b"}");
    }

    fn response(o: &mut impl TxOut, r: &ResponseView) {
        o.raw(b"{\"ts\":");
        o.float(r.ts);
        o.raw(b",\"end_ts\":");
        o.opt_float(r.end_ts);
        o.raw(b",\"status\":");
        match r.status {
            Some(s) => o.int(s as u64),
            None => o.raw(b"null"),
        }
        o.raw(b",\"reason\":");
        o.string(r.reason);
        o.raw(b",\"version\":");
        o.string(&r.version);
        o.raw(b",\"connection\":");
        o.opt_string(r.connection);
        o.raw(b",\"keep_alive\":");
        o.opt_string(r.keep_alive);
        o.raw(b",\"framing\":");
        o.string(r.framing);
        o.raw(b",\"body_bytes\":");
        o.int(r.body_bytes);
        o.raw(b",\"complete\":");
        o.boolean(r.complete);
        o.raw(b"}");
    }

    /// One transaction, as `write_json` would write its record.
    pub fn transaction(out: &mut Vec<u8>, t: &TxView) {
        transaction_to(out, t);
    }

    /// A transaction's JSON, to `o` (the JSON itself, a template, or a template's
    /// filling: see `TxTemplate`).
    fn transaction_to(o: &mut impl TxOut, t: &TxView) {
        o.raw(b"{\"depth\":");
        o.int(t.depth);
        o.raw(b",\"reused\":");
        o.boolean(t.reused);
        o.raw(b",\"pipelined\":");
        o.boolean(t.pipelined);
        o.raw(b",\"idle_before_s\":");
        o.opt_float(t.idle_before_s);
        o.raw(b",\"request\":");
        match &t.request {
            Some(r) => request(o, r),
            None => o.raw(b"null"),
        }
        o.raw(b",\"interim\":[");
        for (i, interim) in t.interim.iter().enumerate() {
            if i > 0 {
                o.raw(b",");
            }
            o.raw(b"{\"status\":");
            o.int(interim.status as u64);
            o.raw(b",\"ts\":");
            o.float(interim.ts);
            o.raw(b"}");
        }
        o.raw(b"],\"response\":");
        match &t.response {
            Some(r) => response(o, r),
            None => o.raw(b"null"),
        }
        o.raw(b",\"expect_outcome\":");
        o.string(t.expect_outcome);
        o.raw(b",\"persistent_after\":");
        o.boolean(t.persistent_after);
        o.raw(b",\"expect_client_wait_s\":");
        o.opt_float(t.expect_client_wait_s);
        o.raw(b",\"expect_server_wait_s\":");
        o.opt_float(t.expect_server_wait_s);
        o.raw(b"}");
    }

    /// A connection record as `write_json` would write it, with an empty
    /// `transactions` list, or (`tagged`) as an NDJSON connection line writes it,
    /// `"type":"connection"` first. Returns the offset just inside the
    /// `transactions` list, where the connection's transactions go. (Records were
    /// written by serde, whose escaping formatter looks at every character: on short
    /// connections that was a third of the writer thread's work.)
    pub fn connection(out: &mut Vec<u8>, c: &ConnectionRecord, tagged: bool) -> usize {
        out.extend_from_slice(if tagged { b"{\"type\":\"connection\",\"id\":" } else { b"{\"id\":" });
        int(out, c.id);
        out.extend_from_slice(b",\"client\":");
        string(out, &c.client);
        out.extend_from_slice(b",\"server\":");
        string(out, &c.server);
        out.extend_from_slice(b",\"first_ts\":");
        float(out, c.first_ts);
        out.extend_from_slice(b",\"last_ts\":");
        float(out, c.last_ts);
        out.extend_from_slice(b",\"syn_seen\":");
        boolean(out, c.syn_seen);
        out.extend_from_slice(b",\"protocol\":");
        string(out, &c.protocol);
        out.extend_from_slice(b",\"transactions\":[");
        let inside = out.len();
        out.extend_from_slice(b"],\"close\":{\"by\":");
        string(out, &c.close.by);
        out.extend_from_slice(b",\"how\":");
        string(out, &c.close.how);
        out.extend_from_slice(b",\"ts\":");
        opt_float(out, c.close.ts);
        out.extend_from_slice(b",\"idle_s\":");
        opt_float(out, c.close.idle_s);
        out.extend_from_slice(b",\"announced\":");
        boolean(out, c.close.announced);
        for (key, side) in [(&b"},\"tcp_keepalive\":{\"client\":"[..], &c.tcp_keepalive.client), (b"},\"server\":", &c.tcp_keepalive.server)] {
            out.extend_from_slice(key);
            out.extend_from_slice(b"{\"probes\":");
            int(out, side.probes);
            out.extend_from_slice(b",\"acked\":");
            int(out, side.acked);
        }
        out.extend_from_slice(b"}},\"missing_bytes\":{\"client\":");
        int(out, c.missing_bytes.client);
        out.extend_from_slice(b",\"server\":");
        int(out, c.missing_bytes.server);
        out.extend_from_slice(b"},\"findings\":[");
        for (i, kind) in c.findings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, kind);
        }
        out.extend_from_slice(b"],\"keepalive_probe_ts\":[");
        for (i, probe) in c.keepalive_probe_ts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"by\":");
            string(out, &probe.by);
            out.extend_from_slice(b",\"ts\":");
            float(out, probe.ts);
            out.extend_from_slice(b",\"acked\":");
            boolean(out, probe.acked);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        inside
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::analysis::model::{Interim, RequestRecord, ResponseRecord, Transaction};

        fn sample(text: &str, f: f64) -> Transaction {
            let t = |s: &str| -> crate::analysis::model::Text { s.to_string().into() };
            Transaction {
                depth: 7,
                reused: true,
                pipelined: false,
                idle_before_s: Some(f),
                request: Some(RequestRecord {
                    ts: 1_700_000_000.123456,
                    end_ts: None,
                    method: t(text),
                    uri: Some(format!("/{text}").into()),
                    version: "HTTP/1.1".into(),
                    connection: Some(t(text)),
                    keep_alive: None,
                    expect: Some("100-continue".into()),
                    body_bytes: u64::MAX,
                    complete: false,
                }),
                interim: vec![Interim { status: 100, ts: f }, Interim { status: 103, ts: -0.0 }],
                response: Some(ResponseRecord {
                    ts: f,
                    end_ts: Some(f * 3.0),
                    status: None,
                    reason: t(text),
                    version: t(text),
                    connection: None,
                    keep_alive: Some(t(text)),
                    framing: "chunked".into(),
                    body_bytes: 0,
                    complete: true,
                }),
                expect_outcome: "continued".into(),
                persistent_after: true,
                expect_client_wait_s: None,
                expect_server_wait_s: Some(f64::NAN),
            }
        }

        fn serde_float(v: f64) -> String {
            String::from_utf8(serde_json::to_vec(&v).unwrap()).unwrap()
        }

        fn our_float(v: f64) -> String {
            let mut out = Vec::new();
            float(&mut out, v);
            String::from_utf8(out).unwrap()
        }

        #[test]
        fn timestamps_are_written_as_serde_writes_them() {
            // Microsecond timestamps across the whole range of the short way, with
            // every count of trailing zeros; then values it must leave to serde.
            let span = (1u64 << 32) * 1_000_000 - 1_000_000;
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..50_000 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let m = 1_000_000 + (seed >> 11) % span;
                for zeros in [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 1] {
                    let m = m - m % zeros;
                    let v = crate::time::round_us(m as f64 / 1e6);
                    assert_eq!(our_float(v), serde_float(v), "{m} µs");
                }
            }
            // Durations below a second, every microsecond of them (the first few
            // are written with an exponent, by serde).
            for m in 1..1_000_000u64 {
                let v = crate::time::round_us(m as f64 / 1e6);
                assert_eq!(our_float(v), serde_float(v), "{m} µs");
            }
            for v in [
                1.0,
                1.5,
                4_294_967_295.999_999,
                4_294_967_296.0,
                1_795_321_091.267_736,
                1_795_321_091.267_736_4,
                1.000_000_1,
                0.999_999,
                0.000_018,
                -1_795_321_091.25,
                5e300,
                f64::NAN,
            ] {
                let want = if v.is_finite() { serde_float(v) } else { "null".into() };
                assert_eq!(our_float(v), want, "{v}");
            }
        }

        #[test]
        fn integers_are_written_as_serde_writes_them() {
            let mut values = vec![0, u64::MAX, u64::MAX - 1];
            let mut p = 1u64;
            while let Some(next) = p.checked_mul(10) {
                values.extend([p - 1, p, p + 1, p * 5]);
                p = next;
            }
            values.extend([p - 1, p, p + 1]);
            values.extend(0..1000);
            for v in values {
                let mut got = b"[".to_vec();
                int(&mut got, v);
                assert_eq!(String::from_utf8(got).unwrap(), format!("[{}", serde_json::to_string(&v).unwrap()));
            }
        }

        #[test]
        fn strings_of_every_length_are_written_as_serde_writes_them() {
            for len in 0..40 {
                let plain: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                let mut texts = vec![plain.clone()];
                for at in 0..len {
                    for odd in ['"', '\\', '\u{1b}', '\u{7f}', 'é', '\u{202e}'] {
                        let mut t: Vec<char> = plain.chars().collect();
                        t[at] = odd;
                        texts.push(t.into_iter().collect());
                    }
                }
                for text in texts {
                    let mut want = b"[".to_vec();
                    write_json(&mut want, &text).unwrap();
                    let mut got = b"[".to_vec();
                    string(&mut got, &text);
                    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{text:?}");
                }
            }
        }

        /// An NDJSON connection line as serde writes it.
        #[derive(serde::Serialize)]
        struct Tagged<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            inner: &'a ConnectionRecord,
        }

        fn record(text: &str, f: f64) -> ConnectionRecord {
            use crate::analysis::model::{BySide, Close, KeepaliveBySide, ProbeCount, ProbeMark};
            let t = |s: &str| -> crate::analysis::model::Text { s.into() };
            ConnectionRecord {
                id: u64::MAX,
                client: t(text),
                server: t("[::1]:8080"),
                first_ts: 1_700_000_000.123456,
                last_ts: f,
                syn_seen: false,
                protocol: t(text),
                transactions: Vec::new(),
                close: Close { by: t(text), how: t("rst"), ts: Some(f), idle_s: None, announced: true },
                tcp_keepalive: KeepaliveBySide {
                    client: ProbeCount { probes: 3, acked: 2 },
                    server: ProbeCount { probes: 0, acked: u64::MAX },
                },
                missing_bytes: BySide { client: 1448, server: 0 },
                findings: vec![t(text), t("incomplete")],
                keepalive_probe_ts: vec![
                    ProbeMark { by: t("client"), ts: f, acked: true },
                    ProbeMark { by: t(text), ts: 1.5, acked: false },
                ],
                retired_transactions: 7,
            }
        }

        #[test]
        fn connection_records_are_written_as_serde_writes_them() {
            let texts = ["127.0.0.1:80", "", "a\"b\\c", "\u{1b}[31m", "é\u{202e}x", "\u{7f}\u{9b}"];
            let floats = [0.0, 1e-7, 0.001234, 1_795_321_091.267736, 5e300, f64::NAN];
            let mut records: Vec<ConnectionRecord> =
                texts.iter().flat_map(|text| floats.iter().map(move |&f| record(text, f))).collect();
            let mut plain = record("x", 2.0);
            plain.findings.clear();
            plain.keepalive_probe_ts.clear();
            records.push(plain);
            for c in &records {
                for tagged in [false, true] {
                    let mut want = Vec::new();
                    if tagged {
                        write_json(&mut want, &Tagged { kind: "connection", inner: c }).unwrap();
                    } else {
                        write_json(&mut want, c).unwrap();
                    }
                    let mut got = Vec::new();
                    let inside = connection(&mut got, c, tagged);
                    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{tagged}");
                    assert!(got[..inside].ends_with(b",\"transactions\":["), "{}", String::from_utf8_lossy(&got));
                }
            }
        }

        #[test]
        fn writes_what_serde_writes() {
            let texts = ["GET", "", "a\"b\\c", "tab\there", "\u{1b}[31m", "é\u{202e}x", "\u{7f}\u{9b}", "keep-alive"];
            let floats = [0.0, 1e-7, 0.001234, 1_795_321_091.267736, 5e300, f64::INFINITY];
            for text in texts {
                for f in floats {
                    let tx = sample(text, f);
                    let mut want = Vec::new();
                    write_json(&mut want, &tx).unwrap();
                    let mut got = Vec::new();
                    transaction(&mut got, &tx.view());
                    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{text:?} {f}");
                }
            }
            let mut bare = sample("x", 1.0);
            bare.request = None;
            bare.response = None;
            bare.interim.clear();
            let mut want = Vec::new();
            write_json(&mut want, &bare).unwrap();
            let mut got = Vec::new();
            transaction(&mut got, &bare.view());
            assert_eq!(got, want);
        }
    }
}

/// The whole document, followed by a newline.
pub fn write_document<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    write_json(out, report)?;
    out.write_all(b"\n")
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
    source: &'a SourceInfo,
    summary: &'a Summary,
    servers: &'a [ServerFigures],
    findings: &'a [Finding],
}

/// The `"type":"summary"` line of NDJSON output: the document without connections.
pub fn write_summary_line<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    let line = SummaryLine {
        kind: "summary",
        version: report.version,
        source: &report.source,
        summary: &report.summary,
        servers: &report.servers,
        findings: &report.findings,
    };
    write_json(out, &line)?;
    out.write_all(b"\n")
}

/// A piece of a connection's JSON: bytes just written, or a run of transactions
/// set aside earlier, packed (see `packed`; `render_packed` writes their JSON).
enum Piece<'a> {
    Bytes(&'a [u8]),
    Packed(Extent),
}

/// The JSON of a run of packed transactions, after `out`.
fn render_packed(run: &[u8], out: &mut Vec<u8>, template: &mut Template) -> io::Result<()> {
    packed::for_each_view(run, |u| {
        template.render(u, out);
        Ok(())
    })
}

/// A `TxTemplate` while it fits the transactions being rendered.
#[derive(Default)]
struct Template {
    template: fast::TxTemplate,
    fits: bool,
}

impl Template {
    /// Renders `u` (with its comma) after `out`: through the template when it
    /// repeats the transaction before it, made from it if need be.
    fn render(&mut self, u: &packed::Unpacked<'_>, out: &mut Vec<u8>) {
        if u.comma {
            out.push(b',');
        }
        if !u.repeats {
            self.fits = false;
            fast::transaction(out, &u.tx);
            return;
        }
        if !self.fits {
            self.template.make(&u.tx);
            self.fits = true;
        }
        fast::transaction_like(out, &self.template, &u.tx);
    }
}

/// Transactions of open connections, packed as they finish (the analysis retires
/// them in batches, see `ConnectionSink::on_transactions`) and set aside until
/// their connection's record is written, where their JSON is spliced in.
///
/// Each open connection first gathers its packed transactions in a buffer of its
/// own; a full buffer goes to the spool as one block (a run, packed from its
/// start). So the spool compresses blocks that are each read back once, in one
/// piece, and a connection that ends before its buffer fills never reaches the
/// spool at all. A buffer is full at `staging_limit` shared among the connections
/// that have one (between 4 and 8 KiB); should they still hold more than
/// `staging_limit` together (counting capacity), all of them go to the spool and
/// are freed.
struct SetAside {
    spool: Spool,
    /// Per open connection, its transactions so far, as packed runs.
    open: HashMap<u64, OpenRuns, RandomState>,
    /// A connection record being written, and its own transactions.
    buf: Vec<u8>,
    own: Vec<u8>,
    /// Empty the spool whenever no open connection refers to it (NDJSON, which
    /// copies runs out as their connection ends); the document keeps them.
    reclaim: bool,
    staging_limit: usize,
    /// Capacity of all `OpenRuns::staged` buffers.
    staged_bytes: usize,
    /// For the staged transactions rendered when their connection is written.
    template: Template,
}

#[derive(Default)]
struct OpenRuns {
    /// Runs in the spool, in order, each a block of its own.
    runs: Vec<Extent>,
    /// The transactions after them, packed, not yet in the spool.
    staged: Vec<u8>,
    packer: Packer,
}

impl OpenRuns {
    fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.staged.is_empty()
    }
}

/// Bounds of the block a connection's staged transactions go to the spool in. A
/// block is rendered whole when it is read back, to about 25 times its size; on
/// the keep-alive benchmark, blocks of at most 8 KiB (200 KB of JSON) ran faster
/// than 16 or 64 KiB, and kept peak memory lower (15.6 MB against 18.8 and 25.5).
const STAGE_MIN: usize = 4 << 10;
const STAGE_MAX: usize = 8 << 10;

impl SetAside {
    /// `limit`: bytes of spool held in memory; the staging buffers take as much
    /// again (tests make both small, to go through the temporary file).
    fn new(reclaim: bool, limit: usize) -> Self {
        SetAside {
            spool: Spool::new(limit),
            open: HashMap::default(),
            buf: Vec::new(),
            own: Vec::new(),
            reclaim,
            staging_limit: limit,
            staged_bytes: 0,
            template: Template::default(),
        }
    }

    fn add(&mut self, connection: u64, txs: &RetiredTransactions) -> io::Result<()> {
        // Each buffer reserves half a chunk more than a chunk (below): two chunks
        // per connection fit in the limit.
        let chunk = (self.staging_limit / (2 * (self.open.len() + 1))).clamp(STAGE_MIN, STAGE_MAX).min(self.staging_limit / 4).max(1);
        let open = self.open.entry(connection).or_default();
        let before = open.staged.capacity();
        if before == 0 {
            // Room for a chunk and the batch that overflows it, so that the buffer
            // is not grown (and copied) step by step.
            open.staged.reserve(chunk + chunk / 2);
        }
        let mut first = open.is_empty();
        txs.for_each_view(|tx| {
            open.packer.pack(&mut open.staged, tx, !first);
            first = false;
        });
        if open.staged.len() >= chunk {
            Self::to_spool(&mut self.spool, open)?;
        }
        self.staged_bytes = self.staged_bytes + open.staged.capacity() - before;
        if self.staged_bytes > self.staging_limit {
            for open in self.open.values_mut() {
                Self::to_spool(&mut self.spool, open)?;
                open.staged = Vec::new();
            }
            self.staged_bytes = 0;
        }
        Ok(())
    }

    /// Moves a connection's staged transactions to the spool as one block of its
    /// own (it is read back on its own, when its connection is written).
    fn to_spool(spool: &mut Spool, open: &mut OpenRuns) -> io::Result<()> {
        if !open.staged.is_empty() {
            open.runs.push(spool.append_block(&open.staged)?);
            open.staged.clear();
        }
        Ok(())
    }

    /// `record` as JSON (`tagged`: as an NDJSON connection line), with the
    /// connection's set-aside transactions spliced in before the record's own,
    /// handed to `emit` piece by piece (runs in the spool as `Piece::Packed`, for
    /// `emit` to render or to note).
    ///
    /// `record` is written with an empty `transactions` list (it was taken out);
    /// `own` are the record's transactions (those not retired), written by the fast
    /// writer after the set-aside ones.
    fn pieces(
        &mut self,
        record: &ConnectionRecord,
        tagged: bool,
        own: &[Transaction],
        emit: &mut dyn FnMut(&mut Spool, Piece<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let connection = record.id;
        self.buf.clear();
        let at = fast::connection(&mut self.buf, record, tagged);
        let open = self.open.remove(&connection);
        if open.is_none() && own.is_empty() {
            return emit(&mut self.spool, Piece::Bytes(&self.buf));
        }
        emit(&mut self.spool, Piece::Bytes(&self.buf[..at]))?;
        let mut any = false;
        self.own.clear();
        if let Some(open) = open {
            self.staged_bytes -= open.staged.capacity();
            any = !open.is_empty();
            for run in open.runs {
                emit(&mut self.spool, Piece::Packed(run))?;
            }
            render_packed(&open.staged, &mut self.own, &mut self.template)?;
        }
        for tx in own {
            if any {
                self.own.push(b',');
            }
            any = true;
            fast::transaction(&mut self.own, &tx.view());
        }
        if !self.own.is_empty() {
            emit(&mut self.spool, Piece::Bytes(&self.own))?;
        }
        emit(&mut self.spool, Piece::Bytes(&self.buf[at..]))?;
        if self.reclaim && self.open.is_empty() && !self.spool.is_empty() {
            // Nothing refers to what is set aside any more.
            self.spool.clear()?;
        }
        Ok(())
    }
}

/// NDJSON output: connection lines, with the transactions set aside for them.
struct NdjsonParts<W> {
    out: W,
    set_aside: SetAside,
    /// The set-aside runs of the connection being written, gathered to be
    /// written together (see `write_runs`), tagged as `ConnectionsParts` tags
    /// runs of the set-aside spool.
    runs: Vec<(bool, Extent)>,
    /// Whether a thread may be started to help write a long connection.
    helper: bool,
}

impl<W: Write> NdjsonParts<W> {
    fn new(out: W, limit: usize, helper: bool) -> Self {
        NdjsonParts { out, set_aside: SetAside::new(true, limit), runs: Vec::new(), helper }
    }

    fn write_connection(&mut self, record: &mut ConnectionRecord) -> io::Result<()> {
        let own = std::mem::take(&mut record.transactions);
        let (out, runs, helper) = (&mut self.out, &mut self.runs, self.helper);
        runs.clear();
        // Runs come first, then bytes (and the last piece is bytes).
        let written = self.set_aside.pieces(record, true, &own, &mut |spool, piece| match piece {
            Piece::Packed(e) => {
                runs.push((true, e));
                Ok(())
            }
            Piece::Bytes(b) => {
                if !runs.is_empty() {
                    write_runs(spool, runs, out, helper)?;
                    runs.clear();
                }
                out.write_all(b)
            }
        });
        // Put back, to be freed with the record (see `Writer::threaded`).
        record.transactions = own;
        written?;
        self.out.write_all(b"\n")
    }
}

/// Runs of set-aside transactions from `HELP_FROM_RUNS` on (a thousand
/// transactions or more, half a megabyte of JSON) are written with a thread's
/// help.
const HELP_FROM_RUNS: usize = 4;

/// Writes the JSON of one connection's set-aside `runs` (of `spool`) to `out`, in
/// order, as the document writes its connections (`ConnectionsParts`). With
/// `helper`, many runs are shared with a thread of its own, which renders every
/// second one ahead: the JSON is about 25 times what was set aside, and on a
/// capture of long keep-alive connections that all end with it, nearly all of it
/// is written here at the end, when the analysis is done and a core is free.
fn write_runs<W: Write>(spool: &Spool, runs: &[(bool, Extent)], out: &mut W, helper: bool) -> io::Result<()> {
    let count = u32::try_from(runs.len()).map_err(|_| io::Error::other("too many runs of transactions"))?;
    let index = [(0, 0, count)];
    // Only the set-aside spool is read (every run is tagged so).
    let parts = ConnectionsParts { spools: [spool, spool], index: &index, extents: runs };
    if helper && runs.len() >= HELP_FROM_RUNS {
        parts.write_with_helper(out)
    } else {
        parts.write(out, None)
    }
}

impl<W: Write + Send + 'static> PartWriter for NdjsonParts<W> {
    fn add(&mut self, part: &mut Part) -> io::Result<()> {
        match part {
            Part::Transactions(connection, txs) => self.set_aside.add(*connection, txs),
            Part::Connection(record) => self.write_connection(record),
        }
    }
}

/// `--ndjson`: every finished connection is written as it ends
/// (`"type":"connection"`) and only the aggregates are kept; `finish` writes the
/// `"type":"summary"` line. Transactions of connections still open wait in a
/// `Spool` (memory bounded, the rest in a temporary file). Serialising happens on
/// the analysis thread or, `threaded`, on a thread of its own.
pub struct NdjsonSink<W: Write + Send + 'static> {
    pub builder: ReportBuilder,
    writer: Writer<NdjsonParts<W>>,
    /// The first write error (a closed pipe ends the run quietly).
    pub error: Option<io::Error>,
}

impl<W: Write + Send + 'static> NdjsonSink<W> {
    pub fn new(out: W) -> Self {
        Self::with_spool_memory(out, SPOOL_MEMORY)
    }

    /// Serialises and writes on a thread of its own.
    pub fn threaded(out: W) -> Self {
        let parts = NdjsonParts::new(out, SPOOL_MEMORY, true);
        NdjsonSink { builder: ReportBuilder::new(), writer: Writer::threaded(parts), error: None }
    }

    /// Keeps at most `limit` bytes of set-aside transactions in memory (tests
    /// make it small, to go through the temporary file).
    pub fn with_spool_memory(out: W, limit: usize) -> Self {
        let parts = NdjsonParts::new(out, limit, false);
        NdjsonSink { builder: ReportBuilder::new(), writer: Writer::Inline(parts), error: None }
    }

    fn hand_on(&mut self, part: Part) {
        if let Err(e) = self.writer.add(part) {
            self.error = Some(e);
        }
    }

    /// Writes the summary line and flushes.
    pub fn finish(&mut self, source: SourceInfo) -> io::Result<()> {
        let mut parts = self.writer.finish()?;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let report = self.builder.report(source, Vec::new());
        let written = write_summary_line(&mut parts.out, &report).and_then(|()| parts.out.flush());
        self.writer = Writer::Inline(parts);
        written
    }

    /// The output, when it is not with the writer thread (tests read what was
    /// written after `finish`).
    pub fn out_mut(&mut self) -> Option<&mut W> {
        match &mut self.writer {
            Writer::Inline(parts) => Some(&mut parts.out),
            _ => None,
        }
    }
}

impl<W: Write + Send + 'static> ConnectionSink for NdjsonSink<W> {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>) {
        self.builder.add(&record, findings);
        self.hand_on(Part::Connection(Box::new(record)));
    }

    fn takes_transactions(&self) -> bool {
        true
    }

    fn on_transactions(&mut self, connection: u64, server: &str, txs: RetiredTransactions) {
        self.builder.add_retired(server, &txs);
        self.hand_on(Part::Transactions(connection, txs));
    }
}

/// Heap bytes the JSON document keeps per connection until it is written: its id
/// and where its bytes are (`JsonDocumentSink::index` and one extent). Checked by
/// `tests/scale.rs`.
pub const DOCUMENT_BYTES_PER_CONNECTION: usize = 16 + 24;

/// The document's connections, serialised as they come and set aside in two
/// `Spool`s (memory bounded, the rest in a temporary file), with where each is.
struct DocumentParts {
    set_aside: SetAside,
    /// The serialised connections (`set_aside`'s spool holds their transactions).
    records: Spool,
    /// Per connection: id, first index in `extents`, number of extents.
    index: Vec<(u64, u32, u32)>,
    /// Where each connection's JSON is: pieces in `records` (tagged `false`) and
    /// runs of packed transactions in `set_aside` (tagged `true`), in order.
    extents: Vec<(bool, Extent)>,
}

impl DocumentParts {
    fn new(limit: usize) -> Self {
        DocumentParts { set_aside: SetAside::new(false, limit), records: Spool::new(limit), index: Vec::new(), extents: Vec::new() }
    }

    fn add(&mut self, part: &mut Part) -> io::Result<()> {
        match part {
            Part::Transactions(connection, txs) => self.set_aside.add(*connection, txs),
            Part::Connection(record) => self.add_connection(record),
        }
    }

    fn add_connection(&mut self, record: &mut ConnectionRecord) -> io::Result<()> {
        let own = std::mem::take(&mut record.transactions);
        let first = self.extents.len() as u32;
        let records = &mut self.records;
        let extents = &mut self.extents;
        // Transactions set aside stay where they are (this `SetAside` never
        // reclaims them); only the record's own bytes are copied.
        let written = self.set_aside.pieces(record, false, &own, &mut |_, piece| {
            match piece {
                Piece::Bytes(b) => {
                    // Adjacent byte pieces of one record land next to each other;
                    // merge them so a short connection costs one extent.
                    let e = records.append(b)?;
                    let own = extents.len() as u32 > first;
                    match extents.last_mut() {
                        Some((false, last)) if own && last.offset + last.len == e.offset => last.len += e.len,
                        _ => extents.push((false, e)),
                    }
                }
                Piece::Packed(e) => extents.push((true, e)),
            }
            Ok(())
        });
        // Put back, to be freed with the record (see `Writer::threaded`).
        record.transactions = own;
        written?;
        self.index.push((record.id, first, self.extents.len() as u32 - first));
        Ok(())
    }

    /// Writes `report` (whose `connections` is empty) with the connections set
    /// aside spliced in, in id order. `helper`: read back every other block
    /// (`ConnectionsParts::load`) on a thread of its own (on a long keep-alive
    /// capture nearly the whole document is rendered from packed transactions
    /// here, after the analysis, with one core idle).
    fn write<W: Write>(&mut self, report: &Report, out: &mut W, helper: bool) -> io::Result<()> {
        let mut doc = Vec::new();
        write_json(&mut doc, report)?;
        const KEY: &[u8] = b",\"connections\":[]";
        let at = memchr::memmem::find(&doc, KEY).ok_or_else(|| io::Error::other("document without connections"))?
            + KEY.len()
            - 1;
        out.write_all(&doc[..at])?;
        if !self.index.is_sorted_by_key(|e| e.0) {
            self.index.sort_unstable_by_key(|e| e.0);
        }
        // Every byte set aside is then in a sealed block, which is what `spans` reads.
        self.records.seal()?;
        self.set_aside.spool.seal()?;
        let parts = ConnectionsParts { spools: [&self.records, &self.set_aside.spool], index: &self.index, extents: &self.extents };
        if helper {
            parts.write_with_helper(out)?;
        } else {
            parts.write(out, None)?;
        }
        out.write_all(&doc[at..])?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// The connections of the document (or one NDJSON connection's runs of
/// transactions, `write_runs`), as pieces of two spools, in order.
struct ConnectionsParts<'a> {
    /// `DocumentParts::records`, then the set-aside transactions' spool.
    spools: [&'a Spool; 2],
    index: &'a [(u64, u32, u32)],
    extents: &'a [(bool, Extent)],
}

/// A step in writing the connections out.
enum Step {
    /// The comma between two connections.
    Comma,
    /// Bytes of a block of one of the spools (a set-aside block is one run of
    /// packed transactions, always read whole).
    Bytes { spool: usize, span: Span },
}

/// The set-aside transactions' spool in `ConnectionsParts::spools`.
const SET_ASIDE: usize = 1;

/// What reading a block back needs besides the buffer it goes to.
#[derive(Default)]
struct ReadBuffers {
    /// Compressed bytes read from the temporary file.
    scratch: Vec<u8>,
    /// A run of packed transactions, before it is rendered.
    run: Vec<u8>,
    template: Template,
}

/// The helping thread as `ConnectionsParts::write` sees it: blocks coming (read
/// back by `load`), and buffers going back to be reused.
type BlockHelper<'a> = (&'a Receiver<io::Result<Vec<u8>>>, &'a Sender<Vec<u8>>);

impl ConnectionsParts<'_> {
    /// Block `block` of spool `spool` as it is written out, at the start of
    /// `plain`: a records block as it is, a set-aside block (a run of packed
    /// transactions) as their JSON, and then `plain` is exactly that long.
    fn load(&self, spool: usize, block: usize, plain: &mut Vec<u8>, buffers: &mut ReadBuffers) -> io::Result<()> {
        if spool != SET_ASIDE {
            return self.spools[spool].read_block(block, plain, &mut buffers.scratch).map(drop);
        }
        let n = self.spools[spool].read_block(block, &mut buffers.run, &mut buffers.scratch)?;
        plain.clear();
        render_packed(&buffers.run[..n], plain, &mut buffers.template)
    }

    /// The bytes of `span` of a block `load`ed to `plain`.
    fn bytes<'p>(&self, spool: usize, span: Span, plain: &'p [u8]) -> io::Result<&'p [u8]> {
        if spool != SET_ASIDE {
            return Ok(&plain[span.from..span.to]);
        }
        // A run is a block of its own (`Spool::append_block`), and is read whole.
        if span.from != 0 || Some(span.to) != self.spools[spool].block_len(span.block) {
            return Err(io::Error::other("set-aside transactions read in part"));
        }
        Ok(plain)
    }

    fn steps(&self) -> impl Iterator<Item = Step> + '_ {
        self.index.iter().enumerate().flat_map(move |(n, &(_, first, count))| {
            let comma = (n > 0).then_some(Step::Comma);
            let pieces = self.extents[first as usize..(first + count) as usize].iter().flat_map(move |&(in_set_aside, e)| {
                let spool = usize::from(in_set_aside);
                self.spools[spool].spans(e).map(move |span| Step::Bytes { spool, span })
            });
            comma.into_iter().chain(pieces)
        })
    }

    /// The blocks `steps` has to `load`, in order: each block it reads that is
    /// not among the last few it read of the same spool (see `Recent`). The same
    /// sequence for the thread that writes and the one that helps it, which loads
    /// every second one.
    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut recent = Recent::<()>::per_spool();
        self.steps().filter_map(move |step| match step {
            Step::Bytes { spool, span } if !recent[spool].touch(span.block) => {
                recent[spool].make_room();
                recent[spool].put(span.block, ());
                Some((spool, span.block))
            }
            _ => None,
        })
    }

    /// Writes the connections out. `helper`: where every second block comes from,
    /// loaded (see `write_with_helper`), and where its buffer goes back.
    fn write<W: Write>(&self, out: &mut W, helper: Option<BlockHelper<'_>>) -> io::Result<()> {
        let mut recent = Recent::<Vec<u8>>::per_spool();
        let mut buffers = ReadBuffers::default();
        let mut misses = 0usize;
        for step in self.steps() {
            match step {
                Step::Comma => out.write_all(b",")?,
                Step::Bytes { spool, span } => {
                    let recent = &mut recent[spool];
                    if !recent.touch(span.block) {
                        misses += 1;
                        let evicted = recent.make_room();
                        let plain = match helper {
                            Some((ready, spent)) if misses.is_multiple_of(2) => {
                                let plain = ready.recv().map_err(|_| io::Error::other("the thread reading the spool back stopped"))??;
                                if let Some(evicted) = evicted {
                                    let _ = spent.try_send(evicted);
                                }
                                plain
                            }
                            _ => {
                                let mut plain = evicted.unwrap_or_default();
                                self.load(spool, span.block, &mut plain, &mut buffers)?;
                                plain
                            }
                        };
                        recent.put(span.block, plain);
                    }
                    out.write_all(self.bytes(spool, span, recent.latest())?)?;
                }
            }
        }
        Ok(())
    }

    /// `write`, with every second block (of `blocks`) loaded ahead on a thread of
    /// its own and handed over through a short queue (memory: a few blocks).
    fn write_with_helper<W: Write>(&self, out: &mut W) -> io::Result<()> {
        std::thread::scope(|scope| {
            let (ready_tx, ready) = crossbeam_channel::bounded::<io::Result<Vec<u8>>>(2);
            let (spent, spent_rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
            let helper = std::thread::Builder::new().name("json-render".into()).spawn_scoped(scope, move || {
                let mut buffers = ReadBuffers::default();
                for (spool, block) in self.blocks().skip(1).step_by(2) {
                    let mut plain = spent_rx.try_recv().unwrap_or_default();
                    let read = self.load(spool, block, &mut plain, &mut buffers).map(|_| plain);
                    // The writer stops taking them only when it has failed.
                    if ready_tx.send(read).is_err() {
                        break;
                    }
                }
            });
            match helper {
                Ok(_) => self.write(out, Some((&ready, &spent))),
                // No thread to be had: one does it all.
                Err(_) => self.write(out, None),
            }
        })
    }
}

/// The last few blocks read of a spool (the latest first), with what is kept of
/// each. Connections are set aside as they end but written in id order, which
/// differs by the connections open at once: on short connections, reading in id
/// order goes back and forth between neighbouring blocks, and with only the last
/// block at hand each block was decompressed eight times over.
struct Recent<T> {
    blocks: Vec<(usize, T)>,
    keep: usize,
}

/// Blocks `Recent` keeps of the records spool (a block is 256 KiB).
const RECENT_BLOCKS: usize = 4;

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent::keeping(RECENT_BLOCKS)
    }
}

impl<T> Recent<T> {
    fn keeping(keep: usize) -> Self {
        Recent { blocks: Vec::with_capacity(keep), keep }
    }

    /// One per spool of `ConnectionsParts::spools`. A set-aside block is one run
    /// of transactions, read once, and kept as its JSON (about 25 times its
    /// packed size, which is up to `STAGE_MAX` and a batch): only the latest is
    /// kept.
    fn per_spool() -> [Recent<T>; 2] {
        [Recent::keeping(RECENT_BLOCKS), Recent::keeping(1)]
    }

    /// Whether `block` is kept; if so it becomes the latest.
    fn touch(&mut self, block: usize) -> bool {
        match self.blocks.iter().position(|(b, _)| *b == block) {
            Some(at) => {
                self.blocks[..=at].rotate_right(1);
                true
            }
            None => false,
        }
    }

    /// Forgets the oldest block if there is no room for another, and gives back
    /// what was kept of it.
    fn make_room(&mut self) -> Option<T> {
        if self.blocks.len() < self.keep {
            return None;
        }
        self.blocks.pop().map(|(_, kept)| kept)
    }

    /// Keeps `block` as the latest (after `make_room`).
    fn put(&mut self, block: usize, kept: T) {
        self.blocks.insert(0, (block, kept));
    }

    fn latest(&self) -> &T {
        &self.blocks[0].1
    }
}

/// What the analysis hands to the document's writer.
enum Part {
    /// Read through views where they are serialised (the writer thread, if any).
    Transactions(u64, RetiredTransactions),
    Connection(Box<ConnectionRecord>),
}

/// Parts cross to a writer thread in batches: one channel operation (and, when
/// the writer waits, one wake-up) per batch rather than per connection, which
/// with millions of short connections cost more than the work it moved.
const PARTS_PER_BATCH: usize = 16;
/// Batches in flight to a writer thread (each part is at most a few dozen
/// transactions, so this bounds the queue to a few MB). Many small batches rather
/// than a few large ones: with the reader thread running the TCP stage, three busy
/// threads share two cores, and a short queue left the writer waiting for a whole
/// batch while a core idled (on the keep-alive capture, 64 × 4 was ~4 % slower).
const BATCHES_IN_FLIGHT: usize = 16;

/// Serialises what the analysis hands on.
trait PartWriter: Send + 'static {
    /// Serialises `part`, leaving it whole (it is freed by whoever made it).
    fn add(&mut self, part: &mut Part) -> io::Result<()>;
}

impl PartWriter for DocumentParts {
    fn add(&mut self, part: &mut Part) -> io::Result<()> {
        DocumentParts::add(self, part)
    }
}

/// Where parts are serialised: on the analysis thread, or on a thread of their
/// own (serialising is about as much work as the analysis itself, so a second
/// core nearly halves the time).
enum Writer<P: PartWriter> {
    Inline(P),
    Thread {
        batches: crossbeam_channel::Sender<Vec<Part>>,
        /// Batches the writer is done with, coming back to be freed here.
        spent: crossbeam_channel::Receiver<Vec<Part>>,
        /// The batch being gathered.
        pending: Vec<Part>,
        handle: std::thread::JoinHandle<io::Result<P>>,
    },
    /// After an error, or while finishing.
    Done,
}

impl<P: PartWriter> Writer<P> {
    fn threaded(mut writer: P) -> Self {
        let (batches, incoming) = crossbeam_channel::bounded::<Vec<Part>>(BATCHES_IN_FLIGHT);
        // Serialised parts go back to the analysis thread to be freed there, where
        // they were allocated. glibc's malloc frees memory into the arena it came
        // from, under that arena's lock: freed on the writer thread, every record
        // took the lock the analysis thread was allocating under, and on millions
        // of short connections the two threads spent about a fifth of their time
        // handing it back and forth (the threaded run was slower than one thread).
        // The batch's own allocation is reused for the next one.
        let (spent_tx, spent) = crossbeam_channel::bounded::<Vec<Part>>(BATCHES_IN_FLIGHT + 4);
        let spawned = std::thread::Builder::new().name("json-writer".into()).spawn(move || {
            for mut batch in incoming {
                for part in batch.iter_mut() {
                    writer.add(part)?;
                }
                // Only when the analysis thread has stopped taking them back (it
                // takes one per batch it sends) is a batch freed here.
                let _ = spent_tx.try_send(batch);
            }
            Ok(writer)
        });
        let pending = Vec::with_capacity(PARTS_PER_BATCH);
        match spawned {
            Ok(handle) => Writer::Thread { batches, spent, pending, handle },
            // No thread to be had: the spawn error is reported at the end.
            Err(e) => {
                let (batches, _) = crossbeam_channel::bounded::<Vec<Part>>(0);
                Writer::Thread { batches, spent, pending, handle: std::thread::spawn(move || Err(e)) }
            }
        }
    }

    /// Hands `part` on. An error on the writer thread stops it; `finish` reports it.
    fn add(&mut self, mut part: Part) -> io::Result<()> {
        match self {
            Writer::Inline(w) => {
                let result = w.add(&mut part);
                if result.is_err() {
                    *self = Writer::Done;
                }
                result
            }
            Writer::Thread { batches, spent, pending, .. } => {
                pending.push(part);
                if pending.len() >= PARTS_PER_BATCH {
                    let next = match spent.try_recv() {
                        Ok(mut done) => {
                            done.clear();
                            done
                        }
                        Err(_) => Vec::with_capacity(PARTS_PER_BATCH),
                    };
                    let full = std::mem::replace(pending, next);
                    let _ = batches.send(full);
                }
                Ok(())
            }
            Writer::Done => Ok(()),
        }
    }

    /// Waits for everything handed on to be serialised.
    fn finish(&mut self) -> io::Result<P> {
        match std::mem::replace(self, Writer::Done) {
            Writer::Inline(w) => Ok(w),
            Writer::Thread { batches, spent, pending, handle } => {
                if !pending.is_empty() {
                    let _ = batches.send(pending);
                }
                drop(batches);
                let writer = handle.join().map_err(|_| io::Error::other("the output writer thread panicked"))?;
                // The last batches the writer handed back are freed here.
                drop(spent);
                writer
            }
            Writer::Done => Err(io::Error::other("output already failed or finished")),
        }
    }
}

/// `--json`: the whole document, written at the end (its summary comes before the
/// connections). Each connection is serialised as it ends, transactions of long
/// connections as they finish, and set aside in a `Spool` — memory bounded, the
/// rest in a temporary file — with its place noted (`DOCUMENT_BYTES_PER_CONNECTION`,
/// plus 24 bytes per run of transactions retired while it was open); `finish`
/// writes the summary, then the connections in id order copied from the spool,
/// then the findings.
pub struct JsonDocumentSink {
    pub builder: ReportBuilder,
    writer: Writer<DocumentParts>,
    pub error: Option<io::Error>,
}

impl Default for JsonDocumentSink {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonDocumentSink {
    /// Serialises on the calling thread.
    pub fn new() -> Self {
        Self::with_spool_memory(SPOOL_MEMORY / 2)
    }

    /// Serialises on a thread of its own.
    pub fn threaded() -> Self {
        Self::threaded_with_spool_memory(SPOOL_MEMORY / 2)
    }

    /// Keeps at most `limit` bytes of serialised connections and as many of
    /// set-aside transactions in memory (tests make it small).
    pub fn with_spool_memory(limit: usize) -> Self {
        JsonDocumentSink { builder: ReportBuilder::new(), writer: Writer::Inline(DocumentParts::new(limit)), error: None }
    }

    pub fn threaded_with_spool_memory(limit: usize) -> Self {
        JsonDocumentSink { builder: ReportBuilder::new(), writer: Writer::threaded(DocumentParts::new(limit)), error: None }
    }

    fn hand_on(&mut self, part: Part) {
        if let Err(e) = self.writer.add(part) {
            self.error = Some(e);
        }
    }

    /// Writes the document (with `source`) to `out`.
    pub fn finish<W: Write>(&mut self, source: SourceInfo, out: &mut W) -> io::Result<()> {
        // Threaded, the serialising thread is done by now and its core can help.
        let helper = matches!(self.writer, Writer::Thread { .. });
        let mut doc = self.writer.finish()?;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let report = self.builder.report(source, Vec::new());
        doc.write(&report, out, helper)
    }
}

impl ConnectionSink for JsonDocumentSink {
    fn on_connection(&mut self, record: ConnectionRecord, findings: Vec<Finding>) {
        self.builder.add(&record, findings);
        self.hand_on(Part::Connection(Box::new(record)));
    }

    fn takes_transactions(&self) -> bool {
        true
    }

    fn on_transactions(&mut self, connection: u64, server: &str, txs: RetiredTransactions) {
        self.builder.add_retired(server, &txs);
        self.hand_on(Part::Transactions(connection, txs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tx` with its numbers changed (the same ones absent): what `repeats`
    /// allows between two transactions.
    fn with_numbers(tx: &Transaction, f: f64, n: u64) -> Transaction {
        let mut tx = tx.clone();
        tx.depth = n;
        let vary = |v: &mut Option<f64>, k: f64| {
            if let Some(v) = v {
                *v = f * k;
            }
        };
        vary(&mut tx.idle_before_s, 0.5);
        vary(&mut tx.expect_client_wait_s, 0.25);
        vary(&mut tx.expect_server_wait_s, 2.0);
        if let Some(r) = &mut tx.request {
            r.ts = f;
            vary(&mut r.end_ts, 1.5);
            r.body_bytes = n / 3;
        }
        if let Some(r) = &mut tx.response {
            r.ts = -f;
            vary(&mut r.end_ts, 3.0);
            r.status = r.status.map(|_| n as u16);
            r.body_bytes = n.rotate_left(7);
        }
        tx
    }

    proptest::proptest! {
        /// Runs of transactions that repeat one of a few others with other
        /// numbers are rendered through templates as the writer writes each.
        #[test]
        fn templates_write_what_the_writer_writes(
            bases in proptest::collection::vec(super::packed::tests::transaction(), 1..4),
            picks in proptest::collection::vec((0usize..4, super::packed::tests::float(), proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>()), 0..24),
        ) {
            let txs: Vec<(Transaction, bool)> = picks
                .iter()
                .map(|&(i, f, n, comma)| (with_numbers(&bases[i % bases.len()].0, f, n), comma))
                .collect();
            let (mut packer, mut run) = (Packer::default(), Vec::new());
            let mut want = Vec::new();
            for (tx, comma) in &txs {
                packer.pack(&mut run, &tx.view(), *comma);
                if *comma {
                    want.push(b',');
                }
                fast::transaction(&mut want, &tx.view());
            }
            let mut got = Vec::new();
            render_packed(&run, &mut got, &mut Template::default()).unwrap();
            proptest::prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
        }
    }

    #[test]
    fn recent_blocks_keep_the_last_few_read() {
        let mut recent = Recent::<u32>::default();
        for block in 0..RECENT_BLOCKS {
            assert!(!recent.touch(block));
            assert_eq!(recent.make_room(), None);
            recent.put(block, block as u32 * 10);
        }
        // Going back to an older block finds it, and makes it the latest.
        assert!(recent.touch(0));
        assert_eq!(*recent.latest(), 0);
        // The next block read pushes out the one read longest ago (1, not 0).
        assert!(!recent.touch(RECENT_BLOCKS));
        assert_eq!(recent.make_room(), Some(10));
        recent.put(RECENT_BLOCKS, 99);
        assert_eq!(*recent.latest(), 99);
        assert!(!recent.touch(1));
        assert!(recent.touch(0) && recent.touch(2));
    }

    #[test]
    fn escapes_terminal_dangerous_characters_losslessly() {
        let mut out = Vec::new();
        write_json(&mut out, &"a\u{1b}[31m\u{7f}\u{9b}\u{202e}é").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\"a\\u001b[31m\\u007f\\u009b\\u202eé\"");
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, "a\u{1b}[31m\u{7f}\u{9b}\u{202e}é");
    }
}
