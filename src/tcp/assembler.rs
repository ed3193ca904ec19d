//! The out-of-order store of one direction: which stream ranges are buffered
//! (a fixed-size list of contiguous runs, smoltcp's assembler idea) and the bytes
//! themselves (one ring buffer per direction, indexed by stream offset).
//!
//! Invariants (checked by the tests and relied upon by `stream.rs`):
//! - `contigs[..len]` are sorted, disjoint and never adjacent (touching runs merge);
//! - every buffered byte lies in `[front, front + ring.len())`, where `front` is the
//!   stream offset of the next byte to deliver (kept by the caller), so the byte at
//!   stream offset `x` lives at `ring[x % ring.len()]` and no head pointer is needed;
//! - `buffered` is the sum of the run lengths.
//!
//! The list never grows: with `MAX_CONTIGS` runs held, an insert that would need one
//! more is refused (`TooManyHoles`) and the caller gives up the oldest gap instead.
//! The ring grows (by powers of two, up to the caller's bound) only while gaps are
//! open, and is released as soon as nothing is buffered.

/// Most separate runs buffered per direction. Real loss patterns rarely leave more
/// than a handful of holes in one window; a hostile capture gets gaps given up.
pub const MAX_CONTIGS: usize = 16;

/// Smallest ring allocated, so a few small out-of-order segments do not each
/// trigger a reallocation.
const MIN_RING: usize = 4096;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Contig {
    start: u64,
    end: u64,
}

/// Why an insert was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The run list is full; give up a gap first.
    TooManyHoles,
}

/// What an insert did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes that were not buffered before (the buffered total grew by this much).
    pub new_bytes: u64,
    /// Some of the bytes were already buffered (a retransmission or overlap).
    pub overlapped: bool,
    /// Some already-buffered bytes differ from the new copy (the old copy is kept).
    pub differs: bool,
    /// How much the ring allocation grew, in bytes.
    pub grown_by: u64,
}

/// The runs and the bytes, allocated only while something is buffered: most
/// directions never see a gap, and a tracked connection must stay small.
#[derive(Debug)]
struct Store {
    contigs: [Contig; MAX_CONTIGS],
    len: usize,
    ring: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Assembler {
    /// `Some` exactly when at least one byte is buffered.
    store: Option<Box<Store>>,
    buffered: u64,
}

impl Assembler {
    #[cfg(test)]
    pub fn new() -> Assembler {
        Assembler::default()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_none()
    }

    /// Bytes held right now.
    #[cfg(test)]
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Bytes allocated for the ring.
    pub fn capacity(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.ring.len() as u64)
    }

    fn runs(&self) -> &[Contig] {
        self.store.as_ref().map_or(&[], |s| &s.contigs[..s.len])
    }

    /// The first buffered run, `(start, end)` in stream offsets.
    pub fn first(&self) -> Option<(u64, u64)> {
        self.runs().first().map(|c| (c.start, c.end))
    }

    /// End of the last buffered run.
    pub fn last_end(&self) -> Option<u64> {
        self.runs().last().map(|c| c.end)
    }

    /// Whether any byte of `[start, end)` is buffered.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.runs().iter().any(|c| c.start < end && start < c.end)
    }

    /// Ring size an insert ending at `end` would need (given the delivery front),
    /// or the current size if it already suffices.
    pub fn capacity_needed(&self, front: u64, end: u64, max_capacity: usize) -> u64 {
        let span = end.saturating_sub(front);
        let current = self.capacity();
        if span <= current {
            return current;
        }
        let grown = span.next_power_of_two().max(MIN_RING as u64);
        grown.min(max_capacity as u64).max(span)
    }

    /// Buffers `bytes` at stream offset `start`. Bytes already buffered are kept
    /// (first copy wins) and compared with the new ones.
    ///
    /// The caller guarantees `start >= front` and
    /// `start + bytes.len() - front <= max_capacity`.
    pub fn insert(
        &mut self,
        front: u64,
        start: u64,
        bytes: &[u8],
        max_capacity: usize,
    ) -> Result<Inserted, Refused> {
        let mut done = Inserted::default();
        if bytes.is_empty() {
            return Ok(done);
        }
        let end = start + bytes.len() as u64;
        debug_assert!(start >= front);
        debug_assert!(end - front <= max_capacity as u64);
        let needed = self.capacity_needed(front, end, max_capacity);
        let store = self.store.get_or_insert_with(|| {
            Box::new(Store { contigs: [Contig::default(); MAX_CONTIGS], len: 0, ring: Vec::new() })
        });
        // Runs i..j touch [start, end] (overlap or adjacency): they merge with it.
        let i = store.contigs[..store.len].iter().position(|c| c.end >= start).unwrap_or(store.len);
        let j = i + store.contigs[i..store.len].iter().take_while(|c| c.start <= end).count();
        let len_after = store.len - (j - i) + 1;
        if len_after > MAX_CONTIGS {
            // Only reachable with runs held, so the store is not left empty.
            return Err(Refused::TooManyHoles);
        }

        if needed > store.ring.len() as u64 {
            done.grown_by = needed - store.ring.len() as u64;
            store.grow(needed as usize);
        }

        // Copy the uncovered parts, compare the covered ones.
        let mut pos = start;
        for k in i..j {
            let c = store.contigs[k];
            if c.start > pos {
                let upto = c.start.min(end);
                store.write(pos, &bytes[(pos - start) as usize..(upto - start) as usize]);
                done.new_bytes += upto - pos;
            }
            let ov_start = c.start.max(pos);
            let ov_end = c.end.min(end);
            if ov_start < ov_end {
                done.overlapped = true;
                let new_copy = &bytes[(ov_start - start) as usize..(ov_end - start) as usize];
                if !store.equal(ov_start, new_copy) {
                    done.differs = true;
                }
            }
            pos = pos.max(c.end);
        }
        if pos < end {
            store.write(pos, &bytes[(pos - start) as usize..]);
            done.new_bytes += end - pos;
        }

        let merged = if i < j {
            Contig { start: start.min(store.contigs[i].start), end: end.max(store.contigs[j - 1].end) }
        } else {
            Contig { start, end }
        };
        // Replace contigs[i..j] by `merged`.
        let old_len = store.len;
        if j == i {
            store.contigs.copy_within(i..old_len, i + 1);
        } else {
            store.contigs.copy_within(j..old_len, i + 1);
        }
        store.contigs[i] = merged;
        store.len = len_after;
        self.buffered += done.new_bytes;
        Ok(done)
    }

    /// The buffered bytes of `[start, end)` (which must be buffered), as at most two
    /// slices because the ring may wrap in the middle.
    pub fn bytes(&self, start: u64, end: u64) -> (&[u8], &[u8]) {
        match &self.store {
            Some(store) => store.bytes(start, end),
            None => (&[], &[]),
        }
    }

    /// Drops the first run (after the caller delivered it). Returns the ring bytes
    /// released if that emptied the store.
    pub fn pop_front(&mut self) -> u64 {
        let Some(store) = self.store.as_mut() else { return 0 };
        let c = store.contigs[0];
        self.buffered -= c.end - c.start;
        store.contigs.copy_within(1..store.len, 0);
        store.len -= 1;
        if store.len == 0 {
            let released = store.ring.len() as u64;
            self.store = None;
            released
        } else {
            0
        }
    }

    #[cfg(test)]
    fn run_list(&self) -> Vec<(u64, u64)> {
        self.runs().iter().map(|c| (c.start, c.end)).collect()
    }
}

impl Store {
    fn grow(&mut self, new_cap: usize) {
        let mut ring = vec![0u8; new_cap];
        if !self.ring.is_empty() {
            let old_cap = self.ring.len() as u64;
            for c in &self.contigs[..self.len] {
                for x in c.start..c.end {
                    ring[(x % new_cap as u64) as usize] = self.ring[(x % old_cap) as usize];
                }
            }
        }
        self.ring = ring;
    }

    fn bytes(&self, start: u64, end: u64) -> (&[u8], &[u8]) {
        let cap = self.ring.len() as u64;
        let len = (end - start) as usize;
        let at = (start % cap) as usize;
        let first = len.min(self.ring.len() - at);
        (&self.ring[at..at + first], &self.ring[..len - first])
    }

    fn write(&mut self, start: u64, data: &[u8]) {
        let cap = self.ring.len();
        let at = (start % cap as u64) as usize;
        let first = data.len().min(cap - at);
        self.ring[at..at + first].copy_from_slice(&data[..first]);
        self.ring[..data.len() - first].copy_from_slice(&data[first..]);
    }

    fn equal(&self, start: u64, data: &[u8]) -> bool {
        let (a, b) = self.bytes(start, start + data.len() as u64);
        a == &data[..a.len()] && b == &data[a.len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_touching_and_overlapping_runs() {
        let mut a = Assembler::new();
        a.insert(0, 10, b"abc", 1 << 16).unwrap();
        a.insert(0, 20, b"xyz", 1 << 16).unwrap();
        assert_eq!(a.run_list(), vec![(10, 13), (20, 23)]);
        // Adjacent on both sides: one run.
        let ins = a.insert(0, 13, &[b'd'; 7], 1 << 16).unwrap();
        assert_eq!(ins.new_bytes, 7);
        assert!(!ins.overlapped);
        assert_eq!(a.run_list(), vec![(10, 23)]);
        assert_eq!(a.buffered(), 13);
        let (x, y) = a.bytes(10, 23);
        assert_eq!([x, y].concat(), b"abcdddddddxyz");
    }

    #[test]
    fn first_copy_wins_and_differences_are_seen() {
        let mut a = Assembler::new();
        a.insert(0, 5, b"hello", 1 << 16).unwrap();
        let same = a.insert(0, 5, b"hello", 1 << 16).unwrap();
        assert!(same.overlapped && !same.differs && same.new_bytes == 0);
        let other = a.insert(0, 3, b"__HELLO!", 1 << 16).unwrap();
        assert!(other.overlapped && other.differs);
        assert_eq!(other.new_bytes, 3);
        let (x, y) = a.bytes(3, 11);
        assert_eq!([x, y].concat(), b"__hello!");
    }

    #[test]
    fn refuses_rather_than_grows_the_run_list() {
        let mut a = Assembler::new();
        for k in 0..MAX_CONTIGS as u64 {
            a.insert(0, 10 * k + 1, b"x", 1 << 16).unwrap();
        }
        assert_eq!(a.insert(0, 500, b"y", 1 << 16), Err(Refused::TooManyHoles));
        // Filling an existing hole needs no new run, so it is still accepted.
        assert!(a.insert(0, 2, &[b'z'; 9], 1 << 16).is_ok());
        assert_eq!(a.run_list().len(), MAX_CONTIGS - 1);
    }

    #[test]
    fn ring_wraps_and_is_released_when_empty() {
        let mut a = Assembler::new();
        // Front far along the stream: offsets map onto the ring modulo its size.
        let front = 10_000_000u64 + 4000;
        a.insert(front, front + 90, &[7u8; 10], 4096).unwrap();
        assert_eq!(a.capacity(), 4096);
        let (x, y) = a.bytes(front + 90, front + 100);
        assert_eq!(x.len() + y.len(), 10);
        assert!(x.iter().chain(y).all(|&b| b == 7));
        assert_eq!(a.pop_front(), 4096);
        assert_eq!(a.capacity(), 0);
        assert!(a.is_empty());
    }

    /// Reference model: one Option<u8> per stream offset.
    fn check_against_model(ops: &[(u64, Vec<u8>)]) -> Result<(), TestCaseError> {
        let mut a = Assembler::new();
        let mut model: Vec<Option<u8>> = vec![None; 400];
        for (start, bytes) in ops {
            let refused = a.insert(0, *start, bytes, 512).is_err();
            if !refused {
                for (k, &b) in bytes.iter().enumerate() {
                    let slot = &mut model[*start as usize + k];
                    if slot.is_none() {
                        *slot = Some(b);
                    }
                }
            }
            let mut runs = Vec::new();
            let mut k = 0;
            while k < model.len() {
                if model[k].is_some() {
                    let s = k;
                    while k < model.len() && model[k].is_some() {
                        k += 1;
                    }
                    runs.push((s as u64, k as u64));
                } else {
                    k += 1;
                }
            }
            prop_assert_eq!(a.run_list(), runs.clone());
            prop_assert_eq!(a.buffered(), model.iter().filter(|b| b.is_some()).count() as u64);
            for (s, e) in runs {
                let (x, y) = a.bytes(s, e);
                let got = [x, y].concat();
                let want: Vec<u8> = model[s as usize..e as usize].iter().map(|b| b.unwrap()).collect();
                prop_assert_eq!(got, want);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn matches_a_bitmap_model(ops in proptest::collection::vec(
            (0u64..300, proptest::collection::vec(any::<u8>(), 1..40)), 1..40)) {
            check_against_model(&ops)?;
        }
    }
}
