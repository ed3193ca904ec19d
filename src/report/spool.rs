//! Output set aside now and copied out later, without holding it in memory.
//!
//! The JSON document puts the summary before the connections, so nothing can be
//! written until the capture has been read; and a long keep-alive connection's
//! NDJSON line can only be written when it ends, though its transactions were
//! finished long before. Both keep those bytes here: connections' JSON, and
//! transactions packed (`report::packed`).
//!
//! Bytes are gathered in blocks that are compressed with LZ4 when full (or when
//! the caller seals one): JSON of HTTP connections repeats itself so much that it
//! shrinks about fifteenfold (packed transactions about twofold), and compressing
//! is cheaper than writing the uncompressed bytes even to the page cache. Compressed blocks stay in memory
//! up to `mem_limit`; beyond that they go to an anonymous temporary file (in
//! `$TMPDIR`, removed by the system when keepscope exits, however it exits).
//! Memory stays at about `mem_limit` plus two blocks whatever the size of the
//! output (and 40 bytes of bookkeeping per block).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// A run of bytes in the spool (offsets count uncompressed bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

/// Part of an extent that lies in one block: bytes `from..to` of block `block`
/// once decompressed (`Spool::spans`, `Spool::read_block`). Reading spans rather
/// than extents lets blocks be decompressed on another thread than the one that
/// writes them out, ahead of it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub block: usize,
    pub from: usize,
    pub to: usize,
}

/// Where a sealed block's compressed bytes are: in `Spool::mem` or in the file.
enum Stored {
    Memory { offset: usize, len: u32 },
    File { offset: u64, len: u32 },
}

struct Block {
    /// Offset of its first (uncompressed) byte.
    start: u64,
    /// Uncompressed length.
    len: u32,
    stored: Stored,
}

pub struct Spool {
    /// The block being filled (uncompressed), starting at offset `open_start`.
    open: Vec<u8>,
    open_start: u64,
    block_size: usize,
    /// Sealed blocks, in order of their offsets.
    blocks: Vec<Block>,
    /// Compressed bytes of the blocks held in memory, one after the other (one
    /// buffer, reused after each spill, rather than one allocation per block).
    mem: Vec<u8>,
    mem_limit: usize,
    file: Option<File>,
    file_len: u64,
    /// The block decompressed last (reads go mostly in order): its index, and its
    /// bytes at the start of the buffer.
    cache: Option<(usize, usize)>,
    /// Where blocks are decompressed to. Its length only grows (to the longest
    /// block), so that it is zeroed once, not before every block.
    plain: Vec<u8>,
    scratch: Vec<u8>,
    /// Where `seal` compresses to.
    compressed: Vec<u8>,
}

/// Block size for `Spool::new`: large enough to compress well, small enough that
/// reading one extent back costs little.
pub const BLOCK_SIZE: usize = 256 * 1024;

impl Spool {
    pub fn new(mem_limit: usize) -> Self {
        Spool::with_block_size(mem_limit, BLOCK_SIZE)
    }

    pub fn with_block_size(mem_limit: usize, block_size: usize) -> Self {
        Spool {
            open: Vec::new(),
            open_start: 0,
            block_size: block_size.max(1),
            blocks: Vec::new(),
            mem: Vec::new(),
            mem_limit,
            file: None,
            file_len: 0,
            cache: None,
            plain: Vec::new(),
            scratch: Vec::new(),
            compressed: Vec::new(),
        }
    }

    /// Total bytes set aside (uncompressed).
    pub fn len(&self) -> u64 {
        self.open_start + self.open.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compressed bytes held in memory now (not counting the open block).
    pub fn mem_bytes(&self) -> usize {
        self.mem.len()
    }

    /// Whether blocks went to the temporary file.
    pub fn spilled(&self) -> bool {
        self.file_len > 0
    }

    /// Sets `bytes` aside; returns where they are.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<Extent> {
        let extent = Extent { offset: self.len(), len: bytes.len() as u64 };
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.block_size - self.open.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.open.extend_from_slice(now);
            rest = later;
            if self.open.len() >= self.block_size {
                self.seal()?;
            }
        }
        Ok(extent)
    }

    /// Sets `bytes` aside as a block of their own (of whatever size), compressed
    /// straight from the caller's buffer: for runs that are read back on their
    /// own, without first copying them into the open block.
    pub fn append_block(&mut self, bytes: &[u8]) -> io::Result<Extent> {
        self.seal()?;
        let extent = Extent { offset: self.len(), len: bytes.len() as u64 };
        if !bytes.is_empty() {
            self.store(bytes)?;
        }
        Ok(extent)
    }

    /// Ends the open block here, so that what was appended since the last seal is
    /// compressed (and later read back) on its own: extents read one at a time in
    /// an order other than the order they were written in should each be sealed.
    pub fn seal(&mut self) -> io::Result<()> {
        if self.open.is_empty() {
            return Ok(());
        }
        let open = std::mem::take(&mut self.open);
        let stored = self.store(&open);
        self.open = open;
        self.open.clear();
        stored
    }

    /// Compresses `plain` as the block that starts at `open_start`.
    fn store(&mut self, plain: &[u8]) -> io::Result<()> {
        let len = u32::try_from(plain.len()).map_err(|_| io::Error::other("output block over 4 GiB"))?;
        // Compressed into a reused buffer (zeroed only when it grows), then copied
        // to the end of the memory buffer.
        let max = lz4_flex::block::get_maximum_output_size(plain.len());
        if self.compressed.len() < max {
            self.compressed.resize(max, 0);
        }
        let n = lz4_flex::block::compress_into(plain, &mut self.compressed)
            .map_err(|e| io::Error::other(format!("cannot compress output set aside: {e}")))?;
        let at = self.mem.len();
        self.mem.extend_from_slice(&self.compressed[..n]);
        self.blocks.push(Block { start: self.open_start, len, stored: Stored::Memory { offset: at, len: n as u32 } });
        self.open_start += plain.len() as u64;
        if self.mem.len() > self.mem_limit {
            self.spill()?;
        }
        Ok(())
    }

    fn file(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            let file = tempfile::tempfile().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot create a temporary file in {} for output waiting to be written ({e}); set TMPDIR to a writable directory",
                        std::env::temp_dir().display()
                    ),
                )
            })?;
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("created above"))
    }

    /// Moves the compressed blocks held in memory to the file, in one write.
    fn spill(&mut self) -> io::Result<()> {
        let at = self.file_len;
        let mem = std::mem::take(&mut self.mem);
        self.file()?.write_all_at(&mem, at)?;
        self.mem = mem;
        let first = self.blocks.iter().position(|b| matches!(b.stored, Stored::Memory { .. })).unwrap_or(self.blocks.len());
        for block in &mut self.blocks[first..] {
            if let Stored::Memory { offset, len } = block.stored {
                block.stored = Stored::File { offset: at + offset as u64, len };
            }
        }
        self.file_len = at + self.mem.len() as u64;
        self.mem.clear();
        Ok(())
    }

    /// The uncompressed bytes of block `index` (cached).
    fn block(&mut self, index: usize) -> io::Result<&[u8]> {
        if self.cache.is_none_or(|(i, _)| i != index) {
            self.cache = None;
            let (mut plain, mut scratch) = (std::mem::take(&mut self.plain), std::mem::take(&mut self.scratch));
            let read = self.read_block(index, &mut plain, &mut scratch);
            (self.plain, self.scratch) = (plain, scratch);
            self.cache = Some((index, read?));
        }
        let (_, n) = self.cache.expect("filled above");
        Ok(&self.plain[..n])
    }

    /// Decompresses sealed block `index` to the start of `plain` (whose length only
    /// grows: it is zeroed once, not before every block), reading it from the file
    /// through `scratch` if it is there; returns its length. Takes `&self`, so that
    /// two threads can read one spool at once (see `Span`).
    pub fn read_block(&self, index: usize, plain: &mut Vec<u8>, scratch: &mut Vec<u8>) -> io::Result<usize> {
        let block = self.blocks.get(index).ok_or_else(|| io::Error::other("no such spool block"))?;
        let compressed: &[u8] = match &block.stored {
            Stored::Memory { offset, len } => &self.mem[*offset..*offset + *len as usize],
            Stored::File { offset, len } => {
                scratch.resize(*len as usize, 0);
                let file = self.file.as_ref().ok_or_else(|| io::Error::other("spool block without its file"))?;
                file.read_exact_at(scratch, *offset)?;
                scratch
            }
        };
        let len = block.len as usize;
        if plain.len() < len {
            plain.resize(len, 0);
        }
        match lz4_flex::block::decompress_into(compressed, &mut plain[..len]) {
            Ok(n) if n == len => Ok(n),
            // `spans` counts on each block's whole length.
            Ok(n) => Err(io::Error::other(format!("spool block decompresses to {n} bytes, not {len}"))),
            Err(e) => Err(io::Error::other(format!("spool block does not decompress: {e}"))),
        }
    }

    /// The uncompressed length of sealed block `index`.
    pub fn block_len(&self, index: usize) -> Option<usize> {
        self.blocks.get(index).map(|b| b.len as usize)
    }

    /// Where the bytes of `extent` are, block by block. Only sealed blocks are
    /// looked at: `seal` first, or bytes of the open block are left out.
    pub fn spans(&self, extent: Extent) -> impl Iterator<Item = Span> + '_ {
        let end = extent.offset + extent.len;
        let mut at = extent.offset;
        std::iter::from_fn(move || {
            let span = self.span_at(at, end)?;
            at = self.blocks[span.block].start + span.to as u64;
            Some(span)
        })
    }

    /// The bytes from offset `at` up to `end` (or to the end of its block) if `at`
    /// is in a sealed block.
    fn span_at(&self, at: u64, end: u64) -> Option<Span> {
        if at >= end.min(self.open_start) {
            return None;
        }
        let block = self.blocks.partition_point(|b| b.start <= at) - 1;
        let start = self.blocks[block].start;
        Some(Span { block, from: (at - start) as usize, to: ((end - start) as usize).min(self.blocks[block].len as usize) })
    }

    /// Writes the bytes of `extent` to `out`.
    pub fn copy_to<W: Write + ?Sized>(&mut self, extent: Extent, out: &mut W) -> io::Result<()> {
        let end = extent.offset + extent.len;
        let mut at = extent.offset;
        while let Some(span) = self.span_at(at, end) {
            out.write_all(&self.block(span.block)?[span.from..span.to])?;
            at = self.blocks[span.block].start + span.to as u64;
        }
        if at < end {
            let from = (at - self.open_start) as usize;
            let to = (end - self.open_start) as usize;
            out.write_all(&self.open[from..to])?;
        }
        Ok(())
    }

    /// Forgets everything set aside (no extent handed out so far may be used
    /// again); the file, if any, is emptied and reused.
    pub fn clear(&mut self) -> io::Result<()> {
        self.open.clear();
        self.open_start = 0;
        self.blocks.clear();
        self.mem.clear();
        self.cache = None;
        if let Some(f) = &self.file {
            f.set_len(0)?;
        }
        self.file_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(spool: &mut Spool, e: Extent) -> Vec<u8> {
        let mut out = Vec::new();
        spool.copy_to(e, &mut out).unwrap();
        out
    }

    #[test]
    fn bytes_come_back_from_the_open_block_memory_or_the_file_in_any_order() {
        // Blocks of 8 bytes, at most 16 compressed bytes in memory.
        let mut spool = Spool::with_block_size(16, 8);
        let pieces: Vec<Vec<u8>> = (0..40u8).map(|i| (0..(i % 13)).map(|j| b'a' + (i + j) % 26).collect()).collect();
        let mut extents = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            // Some pieces become blocks of their own (larger than the block size,
            // some of them), between pieces that share blocks.
            extents.push(if i % 5 == 3 { spool.append_block(p).unwrap() } else { spool.append(p).unwrap() });
            if i % 7 == 0 {
                spool.seal().unwrap();
            }
        }
        assert!(spool.spilled());
        assert!(spool.mem_bytes() <= 16 + 8);
        // Backwards, then forwards: every piece intact, across block boundaries.
        for (e, p) in extents.iter().zip(&pieces).rev().chain(extents.iter().zip(&pieces)) {
            assert_eq!(&read(&mut spool, *e), p);
        }
        let all = Extent { offset: 0, len: spool.len() };
        assert_eq!(read(&mut spool, all), pieces.concat());
        // Sealed, every byte can also be read block by block, through `&self`.
        spool.seal().unwrap();
        let (mut plain, mut scratch) = (Vec::new(), Vec::new());
        for (e, p) in extents.iter().zip(&pieces) {
            let mut got = Vec::new();
            for span in spool.spans(*e) {
                spool.read_block(span.block, &mut plain, &mut scratch).unwrap();
                got.extend_from_slice(&plain[span.from..span.to]);
            }
            assert_eq!(&got, p);
        }

        spool.clear().unwrap();
        assert!(spool.is_empty() && !spool.spilled());
        let e = spool.append(b"again").unwrap();
        assert_eq!(e, Extent { offset: 0, len: 5 });
        assert_eq!(read(&mut spool, e), b"again");
    }

    #[test]
    fn repetitive_json_is_held_compressed() {
        let mut spool = Spool::new(64 << 20);
        let tx = br#"{"depth":12,"reused":true,"pipelined":false,"idle_before_s":0.000123,"request":{"method":"GET","uri":"/"}},"#;
        for _ in 0..20_000 {
            spool.append(tx).unwrap();
        }
        spool.seal().unwrap();
        let plain = spool.len() as usize;
        assert!(spool.mem_bytes() * 10 < plain, "{} compressed bytes for {plain}", spool.mem_bytes());
    }
}
