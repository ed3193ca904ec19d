//! Finding every line end (`\n`) of a head, quickly when lines are short.
//!
//! `memchr::memchr_iter` is built for matches that are far apart: each step starts
//! a new vector search, about 50 instructions on x86-64 however close the match.
//! In a head a `\n` comes every 20 to 40 bytes, so that start-up cost was most of
//! the work: on the keep-alive benchmark, about ten searches per transaction took
//! 7 % of the analysis thread. `Newlines` instead compares sixteen bytes at a time
//! (SSE2; elsewhere eight in a u64) and marks every `\n` among them at once, then
//! hands the positions out one by one. A long line (a big cookie) would make
//! that a byte-per-instruction crawl, so after a few chunks without a line end it
//! lets `memchr` jump to the next one.

/// Chunks read one by one before a search with `memchr` (64 bytes: most head lines
/// end within them).
const CHUNKS_BEFORE_SEARCH: u32 = 64 / CHUNK as u32;

/// The offsets of every `\n` in a byte slice, in order (as `memchr_iter(b'\n', ..)`).
pub(crate) struct Newlines<'a> {
    bytes: &'a [u8],
    /// Offset of the `CHUNK` bytes `bits` describes.
    chunk: usize,
    /// `line_end_bits` of those bytes, less the ends already handed out.
    bits: u32,
}

impl<'a> Newlines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Newlines { bytes, chunk: 0, bits: line_end_bits_at(bytes, 0) }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let mut empty_chunks = 0;
        while self.bits == 0 {
            self.chunk += CHUNK;
            if self.chunk >= self.bytes.len() {
                return None;
            }
            empty_chunks += 1;
            if empty_chunks > CHUNKS_BEFORE_SEARCH {
                // A long line: search for its end with memchr's wider vectors.
                match memchr::memchr(b'\n', &self.bytes[self.chunk..]) {
                    Some(p) => self.chunk += p,
                    None => {
                        self.chunk = self.bytes.len();
                        return None;
                    }
                }
            }
            self.bits = line_end_bits_at(self.bytes, self.chunk);
        }
        let at = self.chunk + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

#[cfg(target_arch = "x86_64")]
mod scan {
    //! SSE2, which every x86-64 processor has: sixteen bytes compared at once.
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};

    pub(super) const CHUNK: usize = 16;

    /// Bit `i` is set where byte `i` of `chunk` is `\n`.
    pub(super) fn line_end_bits(chunk: [u8; CHUNK]) -> u32 {
        // SAFETY: SSE2 is part of the x86-64 baseline, so these instructions exist on
        // every processor this code can run on; the load reads the 16 bytes of
        // `chunk` (unaligned loads accept any address).
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32
        }
    }
}

// Built for the tests everywhere, so that the fallback is checked on x86-64 too.
#[cfg(any(test, not(target_arch = "x86_64")))]
mod swar {
    //! Eight bytes at a time in a u64 (SWAR: SIMD within a register).
    pub(super) const CHUNK: usize = 8;

    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const LF: u64 = 0x0a0a_0a0a_0a0a_0a0a;

    /// Bit `i` is set where byte `i` of `chunk` is `\n`.
    pub(super) fn line_end_bits(chunk: [u8; CHUNK]) -> u32 {
        let x = u64::from_le_bytes(chunk) ^ LF; // zero where the byte is `\n`
        // `(x & 0x7f..) + 0x7f..` sets a byte's high bit when its low seven bits are
        // not all zero, and cannot carry into the next byte (0x7f + 0x7f < 0x100);
        // or-ing in `x` covers a set high bit. What is left clear is a zero byte. (The
        // shorter `(x - 0x01..) & !x` is not exact: a borrow may also mark a 0x01
        // byte above a zero one.)
        let high_bits = !(((x & LOW_SEVEN) + LOW_SEVEN) | x | LOW_SEVEN);
        // Gather the eight high bits into the low byte.
        let mut bits = 0u32;
        for i in 0..8 {
            bits |= (((high_bits >> (8 * i + 7)) & 1) as u32) << i;
        }
        bits
    }
}

#[cfg(not(target_arch = "x86_64"))]
use swar as scan;
use scan::{line_end_bits, CHUNK};

/// `line_end_bits` of the `CHUNK` bytes at `at`; past the end, zero bytes (not
/// `\n`) stand in.
fn line_end_bits_at(bytes: &[u8], at: usize) -> u32 {
    let rest = bytes.get(at..).unwrap_or_default();
    let chunk = match rest.first_chunk::<CHUNK>() {
        Some(whole) => *whole,
        None => {
            let mut padded = [0u8; CHUNK];
            padded[..rest.len()].copy_from_slice(rest);
            padded
        }
    };
    line_end_bits(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(bytes: &[u8]) {
        let found: Vec<usize> = Newlines::new(bytes).collect();
        let expected: Vec<usize> = memchr::memchr_iter(b'\n', bytes).collect();
        assert_eq!(found, expected, "{bytes:?}");
    }

    #[test]
    fn finds_what_memchr_finds() {
        both(b"");
        both(b"\n");
        both(b"\n\n\n\n\n\n\n\n\n");
        both(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        // Bytes next to `\n` in value (0x0b, 0x09, 0x8a, 0x01 above a match) must not
        // be taken for it.
        both(b"\x0b\x09\x8a\x0a\x01\x0b\x0a\x0b\x8a\x8a\x8a\x8a\x8a\x8a\x8a\x0a\x01");
        // Long lines, where the iterator switches to memchr, at every length near
        // the switch.
        for len in 0..80 {
            let mut line = vec![b'a'; len];
            line.push(b'\n');
            both(&line.repeat(3));
            both(&line[..len]);
        }
    }

    #[test]
    fn the_u64_fallback_marks_exactly_the_line_ends() {
        let near = [b'\n', 0x0b, 0x09, 0x8a, 0x01, 0x00, 0xff, b'a'];
        // Every arrangement of bytes around `\n` in value, at every position.
        for seed in 0..8u32.pow(6) {
            let mut chunk = [0u8; 8];
            let mut n = seed;
            for (i, byte) in chunk.iter_mut().enumerate() {
                *byte = near[(n % 8) as usize];
                n /= 8;
                if i >= 5 {
                    *byte = near[(seed as usize + i) % 8];
                }
            }
            let expected = chunk.iter().enumerate().filter(|(_, &b)| b == b'\n').fold(0u32, |bits, (i, _)| bits | 1 << i);
            assert_eq!(swar::line_end_bits(chunk), expected, "{chunk:?}");
        }
    }

    proptest! {
        #[test]
        fn finds_what_memchr_finds_in_any_bytes(
            bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(0x0bu8), Just(0x8a), Just(b'\r'), any::<u8>()], 0..300),
        ) {
            both(&bytes);
        }
    }
}
