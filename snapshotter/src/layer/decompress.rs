//! Recognises a layer's compression by its magic bytes and decompresses on a second thread, so
//! inflating and writing files overlap the way `tar -xz` overlaps gzip and tar.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`).
    Gzip,
    /// zstd (`application/vnd.oci.image.layer.v1.tar+zstd`).
    Zstd,
}

impl Compression {
    /// The compression whose magic bytes `head` (a stream's first bytes) starts with.
    pub fn from_magic(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Looks at the first bytes of `r` without consuming them.
pub fn detect<R: Read>(r: &mut BufReader<R>) -> io::Result<Compression> {
    Ok(Compression::from_magic(r.fill_buf()?))
}

const CHUNK: usize = 256 * 1024;

/// Decompresses `input` into `tx` chunk by chunk until the end, an error, or the receiver
/// hanging up (the consumer stopped early).
pub fn pump<R: Read>(input: BufReader<R>, kind: Compression, tx: SyncSender<io::Result<Vec<u8>>>) {
    let result = match kind {
        Compression::Gzip => send_all(flate2::bufread::MultiGzDecoder::new(input), &tx),
        Compression::None => send_all(input, &tx),
        // libzstd's streaming decoder carries on across concatenated frames by itself.
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(input) {
            Ok(d) => send_all(d, &tx),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zstd: {e}"),
            )),
        },
    };
    if let Err(e) = result {
        let _ = tx.send(Err(e));
    }
}

/// Sends everything `reader` yields; Ok(false) when the receiver is gone.
fn send_all(mut reader: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>) -> io::Result<bool> {
    loop {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        // Fill whole chunks: fewer, larger hand-offs between the threads.
        while filled < CHUNK {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(true);
        }
        buf.truncate(filled);
        if tx.send(Ok(buf)).is_err() {
            return Ok(false);
        }
    }
}

/// The consuming end of [`pump`], read as a stream.
pub struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

/// A bounded channel for [`pump`] and the [`ChunkReader`] reading from it.
pub fn channel() -> (SyncSender<io::Result<Vec<u8>>>, ChunkReader) {
    let (tx, rx) = sync_channel(8);
    (
        tx,
        ChunkReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
    )
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    self.cur = next;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
