//! Output set aside now and copied out later, without holding it in memory.
//!
//! The JSON document puts the summary before the connections, so nothing can be
//! written until the capture has been read; and a long keep-alive connection's
//! NDJSON line can only be written when it ends, though its transactions were
//! finished (and serialised) long before. Both keep those bytes here: in memory up
//! to `mem_limit`, beyond that in an anonymous temporary file (in `$TMPDIR`,
//! removed by the system when keepscope exits, however it exits). Memory stays at
//! `mem_limit` whatever the size of the output; disk use is at most the output's.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// A run of bytes in the spool.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

pub struct Spool {
    /// The newest bytes, from offset `mem_start` on; older ones are in `file`.
    mem: Vec<u8>,
    mem_start: u64,
    mem_limit: usize,
    file: Option<File>,
}

/// Bytes read back from the file at once.
const READ_BACK: usize = 1 << 20;

impl Spool {
    pub fn new(mem_limit: usize) -> Self {
        Spool { mem: Vec::new(), mem_start: 0, mem_limit, file: None }
    }

    /// Total bytes set aside.
    pub fn len(&self) -> u64 {
        self.mem_start + self.mem.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory now.
    pub fn mem_bytes(&self) -> usize {
        self.mem.len()
    }

    /// Whether bytes went to the temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Sets `bytes` aside; returns where they are.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<Extent> {
        let extent = Extent { offset: self.len(), len: bytes.len() as u64 };
        if self.mem.len() + bytes.len() > self.mem_limit {
            self.spill()?;
            if bytes.len() > self.mem_limit {
                let at = self.mem_start;
                self.file()?.write_all_at(bytes, at)?;
                self.mem_start += bytes.len() as u64;
                return Ok(extent);
            }
        }
        self.mem.extend_from_slice(bytes);
        Ok(extent)
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

    /// Moves the bytes in memory to the file.
    fn spill(&mut self) -> io::Result<()> {
        if self.mem.is_empty() {
            return Ok(());
        }
        let start = self.mem_start;
        let mem = std::mem::take(&mut self.mem);
        let written = self.file().and_then(|f| f.write_all_at(&mem, start));
        self.mem = mem;
        written?;
        self.mem_start += self.mem.len() as u64;
        self.mem.clear();
        Ok(())
    }

    /// Writes the bytes of `extent` to `out`.
    pub fn copy_to<W: Write + ?Sized>(&self, extent: Extent, out: &mut W, scratch: &mut Vec<u8>) -> io::Result<()> {
        let end = extent.offset + extent.len;
        let mut at = extent.offset;
        if at < self.mem_start {
            let file = self.file.as_ref().ok_or_else(|| io::Error::other("spool extent before its start"))?;
            let file_end = end.min(self.mem_start);
            while at < file_end {
                let n = ((file_end - at) as usize).min(READ_BACK);
                scratch.resize(n, 0);
                file.read_exact_at(scratch, at)?;
                out.write_all(scratch)?;
                at += n as u64;
            }
        }
        if at < end {
            let from = (at - self.mem_start) as usize;
            let to = (end - self.mem_start) as usize;
            out.write_all(&self.mem[from..to])?;
        }
        Ok(())
    }

    /// Forgets everything set aside (no extent handed out so far may be used
    /// again); the file, if any, is emptied and reused.
    pub fn clear(&mut self) -> io::Result<()> {
        self.mem.clear();
        self.mem_start = 0;
        if let Some(f) = &self.file {
            f.set_len(0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_whether_in_memory_in_the_file_or_across_both() {
        let mut spool = Spool::new(10);
        let a = spool.append(b"abcdef").unwrap();
        assert!(!spool.spilled());
        let b = spool.append(b"ghijkl").unwrap(); // pushes "abcdef" to the file
        let c = spool.append(b"0123456789ABCDEF").unwrap(); // longer than the limit
        let d = spool.append(b"xyz").unwrap();
        assert!(spool.spilled());
        assert!(spool.mem_bytes() <= 10);
        let mut scratch = Vec::new();
        for (extent, want) in [(a, &b"abcdef"[..]), (b, b"ghijkl"), (c, b"0123456789ABCDEF"), (d, b"xyz")] {
            let mut out = Vec::new();
            spool.copy_to(extent, &mut out, &mut scratch).unwrap();
            assert_eq!(out, want);
        }
        let all = Extent { offset: 0, len: spool.len() };
        let mut out = Vec::new();
        spool.copy_to(all, &mut out, &mut scratch).unwrap();
        assert_eq!(out, b"abcdefghijkl0123456789ABCDEFxyz");

        spool.clear().unwrap();
        assert!(spool.is_empty());
        let e = spool.append(b"again").unwrap();
        assert_eq!(e, Extent { offset: 0, len: 5 });
        let mut out = Vec::new();
        spool.copy_to(e, &mut out, &mut scratch).unwrap();
        assert_eq!(out, b"again");
    }
}
