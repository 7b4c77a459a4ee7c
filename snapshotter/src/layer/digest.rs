//! The sha256 of a layer's uncompressed tar stream (its OCI diff ID) and its length, taken
//! while it is read.

use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// Passes reads through, counting them and hashing them when enabled.
pub struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`; hashes only if `enabled`.
    pub fn new(inner: R, enabled: bool) -> Self {
        HashingReader {
            inner,
            hasher: enabled.then(Sha256::new),
            len: 0,
        }
    }

    /// Reads what the tar reader left (end-of-archive padding counts in the digest) and
    /// returns `sha256:<hex>` (`None` if hashing was off) and the bytes read. Without hashing
    /// the rest is not read, so the length is what the tar reader consumed.
    pub fn finish(mut self) -> io::Result<(Option<String>, u64)> {
        if self.hasher.is_none() {
            return Ok((None, self.len));
        }
        io::copy(&mut self, &mut io::sink())?;
        let digest = self.hasher.map(|h| {
            let sum = h.finalize();
            let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
        Ok((digest, self.len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}
