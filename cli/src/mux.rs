//! Docker's stdio multiplexing on attach, exec and logs streams without a terminal: each
//! frame is `[stream, 0, 0, 0, len as u32 big-endian]` then `len` bytes (0 stdin, 1 stdout,
//! 2 stderr).

/// stdout's stream id.
pub const STDOUT: u8 = 1;
/// stderr's stream id.
pub const STDERR: u8 = 2;

/// Splits a byte stream into frames, fed in pieces of any size.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    /// A demultiplexer with nothing buffered.
    pub fn new() -> Demux {
        Demux::default()
    }

    /// Adds `data` and hands every complete frame's stream id and payload to `out`.
    pub fn feed(&mut self, data: &[u8], mut out: impl FnMut(u8, &[u8])) {
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while self.buf.len() - at >= 8 {
            let h = &self.buf[at..at + 8];
            let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.buf.len() - at - 8 < len {
                break;
            }
            out(h[0], &self.buf[at + 8..at + 8 + len]);
            at += 8 + len;
        }
        self.buf.drain(..at);
    }

    /// Bytes of an unfinished frame still held (non-zero at the end means a cut stream).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole_and_in_order() {
        let mut wire = vec![1, 0, 0, 0, 0, 0, 0, 5];
        wire.extend_from_slice(b"hello");
        wire.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        wire.extend_from_slice(b"err");
        for cut in 0..wire.len() {
            let mut d = Demux::new();
            let mut got = vec![];
            d.feed(&wire[..cut], |s, b| got.push((s, b.to_vec())));
            d.feed(&wire[cut..], |s, b| got.push((s, b.to_vec())));
            assert_eq!(
                got,
                vec![(STDOUT, b"hello".to_vec()), (STDERR, b"err".to_vec())],
                "cut at {cut}"
            );
            assert_eq!(d.pending(), 0);
        }
    }
}
