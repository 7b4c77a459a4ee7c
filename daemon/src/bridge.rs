//! Blocking I/O over hyper bodies, for the libraries that read and write archives with
//! `std::io` (dm-image's save/load, dm-build's context): a request body as a `Read` (gzip
//! undone), a streamed response as a `Write`.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::io::{BufRead, BufReader, Read, Write};
use tokio::sync::mpsc;

/// A request body read on a blocking thread: chunks arrive over a channel from a task that
/// pulls them off the connection.
pub struct BodyReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl BodyReader {
    /// Starts pulling `body` (call from the runtime); read the result off it.
    pub fn spawn(mut body: Incoming) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let item = match frame {
                    Ok(f) => match f.into_data() {
                        Ok(d) => Ok(d),
                        Err(_) => continue, // trailers
                    },
                    Err(e) => Err(std::io::Error::other(format!("request body: {e}"))),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.cur = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// `r` as it was before gzip, when it starts with gzip's magic; else as is.
pub fn maybe_gunzip<R: Read + Send + 'static>(r: R) -> std::io::Result<Box<dyn Read + Send>> {
    let mut b = BufReader::with_capacity(64 << 10, r);
    let gz = b.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(b))
    } else {
        Box::new(b)
    })
}

/// A streamed response body written from a blocking thread, in chunks.
pub struct BodyWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

/// Bytes gathered before a chunk goes out.
const CHUNK: usize = 256 << 10;

impl BodyWriter {
    /// Writes into the response `tx` feeds.
    pub fn new(tx: mpsc::Sender<Bytes>) -> BodyWriter {
        BodyWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}
