//! HTTP/1.1 on a byte stream: request heads out, response heads and bodies (sized, chunked
//! or until EOF) in.

use crate::error::{ClientError, Result};
use std::io::{self, Read};

/// Longest response head accepted.
const MAX_HEAD: usize = 64 << 10;

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// How the body is delimited.
    fn framing(&self) -> Framing {
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else if let Some(n) = self.header("content-length").and_then(|v| v.parse().ok()) {
            Framing::Sized(n)
        } else if matches!(self.status, 101 | 204 | 304) {
            Framing::Sized(0)
        } else {
            Framing::UntilEof
        }
    }
}

/// Writes a request head for `path` with an optional body length.
pub fn request_head(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body_len: Option<usize>,
) -> Vec<u8> {
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockermind-cli/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = body_len {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Reads a response head; returns it and the bytes read past it (the start of the body).
pub fn read_head(r: &mut impl Read) -> Result<(Head, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(ClientError::Protocol("response head too long".into()));
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Err(ClientError::Protocol(
                "connection closed before a response".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf.split_off(end + 4);
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((Head { status, headers }, rest))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

enum Framing {
    Sized(u64),
    Chunked,
    UntilEof,
}

/// A response body as a reader; ends where the HTTP framing says.
pub struct Body<R> {
    inner: Prefixed<R>,
    state: State,
}

enum State {
    Sized(u64),
    /// Bytes left in the current chunk; `None` before a chunk-size line.
    Chunked(Option<u64>),
    UntilEof,
    Done,
}

impl<R: Read> Body<R> {
    /// The body of a response with head `head`, `rest` being bytes already read past the head.
    pub fn new(head: &Head, rest: Vec<u8>, r: R) -> Body<R> {
        let state = match head.framing() {
            Framing::Sized(0) => State::Done,
            Framing::Sized(n) => State::Sized(n),
            Framing::Chunked => State::Chunked(None),
            Framing::UntilEof => State::UntilEof,
        };
        Body {
            inner: Prefixed::new(rest, r),
            state,
        }
    }

    /// The underlying reader (for an upgraded connection, whose body framing no longer applies).
    pub fn into_prefixed(self) -> Prefixed<R> {
        self.inner
    }

    /// Reads the whole body.
    pub fn into_bytes(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_to_end(&mut v)?;
        Ok(v)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut l = Vec::new();
        let mut b = [0u8; 1];
        loop {
            if self.inner.read(&mut b)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "chunked body cut short",
                ));
            }
            if b[0] == b'\n' {
                break;
            }
            l.push(b[0]);
        }
        Ok(String::from_utf8_lossy(&l).trim().to_owned())
    }
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::UntilEof => return self.inner.read(buf),
                State::Sized(left) => {
                    let want = buf.len().min(left as usize);
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "body shorter than its Content-Length",
                        ));
                    }
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Sized(left)
                    };
                    return Ok(n);
                }
                State::Chunked(None) => {
                    let l = self.line()?;
                    let size = l.split(';').next().unwrap_or_default().trim();
                    let n = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {l:?}"))
                    })?;
                    if n == 0 {
                        // Trailers end with an empty line.
                        while !self.line()?.is_empty() {}
                        self.state = State::Done;
                    } else {
                        self.state = State::Chunked(Some(n));
                    }
                }
                State::Chunked(Some(left)) => {
                    let want = buf.len().min(left as usize);
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "chunked body cut short",
                        ));
                    }
                    let left = left - n as u64;
                    if left == 0 {
                        self.line()?;
                        self.state = State::Chunked(None);
                    } else {
                        self.state = State::Chunked(Some(left));
                    }
                    return Ok(n);
                }
            }
        }
    }
}

/// A reader that first yields bytes already read, then the stream.
pub struct Prefixed<R> {
    pre: Vec<u8>,
    pos: usize,
    r: R,
}

impl<R> Prefixed<R> {
    /// `pre`, then `r`.
    pub fn new(pre: Vec<u8>, r: R) -> Prefixed<R> {
        Prefixed { pre, pos: 0, r }
    }

    /// Takes the bytes not yet yielded from the prefix, and the stream.
    pub fn into_parts(self) -> (Vec<u8>, R) {
        (self.pre[self.pos..].to_vec(), self.r)
    }
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.pre.len() {
            let n = buf.len().min(self.pre.len() - self.pos);
            buf[..n].copy_from_slice(&self.pre[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.r.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(raw: &[u8]) -> Vec<u8> {
        let mut r = raw;
        let (h, rest) = read_head(&mut r).unwrap();
        Body::new(&h, rest, r).into_bytes().unwrap()
    }

    #[test]
    fn chunked_bodies_are_decoded_across_chunks() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        assert_eq!(body(raw), b"hello, world");
    }

    #[test]
    fn sized_bodies_stop_at_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef";
        assert_eq!(body(raw), b"abc");
    }

    #[test]
    fn a_cut_chunked_body_is_an_error() {
        let raw: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhe";
        let mut r = raw;
        let (h, rest) = read_head(&mut r).unwrap();
        assert!(Body::new(&h, rest, r).into_bytes().is_err());
    }

    #[test]
    fn heads_keep_the_bytes_after_them() {
        let mut r: &[u8] = b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00";
        let (h, rest) = read_head(&mut r).unwrap();
        assert_eq!(h.status, 101);
        assert_eq!(h.header("upgrade"), Some("tcp"));
        assert_eq!(rest, b"\x01\x00\x00\x00");
    }
}
