//! A container's stdio: fifos handed to the shim, copied by the daemon into the json-file log
//! and to attached clients; docker's stream framing.
//!
//! The shim opens the output fifos before we do, so it opens them read-write: the container
//! then holds a reader too and never gets SIGPIPE while the daemon is down (a restarted
//! daemon reopens the same fifos).

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::broadcast;

/// stdout's stream id in docker's framing.
pub const STDOUT: u8 = 1;
/// stderr's stream id.
pub const STDERR: u8 = 2;

/// Output chunks of a container to its attached clients.
pub type Hub = broadcast::Sender<(u8, Bytes)>;

/// A new hub.
pub fn hub() -> Hub {
    broadcast::channel(256).0
}

/// The fifo paths of a process (`init` or an exec id) in the bundle.
pub struct Fifos {
    /// stdin (made only when the process keeps stdin open).
    pub stdin: Option<PathBuf>,
    /// stdout.
    pub stdout: PathBuf,
    /// stderr (unused with a terminal).
    pub stderr: Option<PathBuf>,
}

impl Fifos {
    /// The paths for `proc` in `bundle`.
    pub fn paths(bundle: &Path, proc: &str, stdin: bool, tty: bool) -> Fifos {
        Fifos {
            stdin: stdin.then(|| bundle.join(format!("{proc}-stdin"))),
            stdout: bundle.join(format!("{proc}-stdout")),
            stderr: (!tty).then(|| bundle.join(format!("{proc}-stderr"))),
        }
    }

    /// Makes the fifos.
    pub fn make(&self) -> std::io::Result<()> {
        for p in self.all() {
            let _ = std::fs::remove_file(p);
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        }
        Ok(())
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.stdin
            .iter()
            .chain(std::iter::once(&self.stdout))
            .chain(self.stderr.iter())
    }

    /// A path as the shim's request field wants it ("" for none).
    pub fn field(p: &Option<PathBuf>) -> String {
        p.as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Copies one output fifo to the log and the hub until every writer is gone.
pub async fn copy_output(
    mut rx: pipe::Receiver,
    stream: u8,
    log: Option<Arc<crate::jsonlog::JsonLog>>,
    hub: Hub,
) {
    let name = if stream == STDERR { "stderr" } else { "stdout" };
    let mut buf = vec![0u8; 16 * 1024];
    let mut partial: Vec<u8> = vec![];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let _ = hub.send((stream, Bytes::copy_from_slice(chunk)));
        partial.extend_from_slice(chunk);
        while let Some(i) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=i).collect();
            if let Some(l) = &log {
                l.write(name, &line);
            }
        }
        // Very long lines are cut, as docker's json-file does at 16 KiB.
        if partial.len() >= 16 * 1024 {
            if let Some(l) = &log {
                l.write(name, &partial);
            }
            partial.clear();
        }
    }
    if let Some(l) = log.filter(|_| !partial.is_empty()) {
        l.write(name, &partial);
    }
}

/// Opens an output fifo for reading (never blocks).
pub fn open_reader(path: &Path) -> std::io::Result<pipe::Receiver> {
    pipe::OpenOptions::new().open_receiver(path)
}

/// Opens the stdin fifo for writing (the shim holds its read end).
pub fn open_writer(path: &Path) -> std::io::Result<pipe::Sender> {
    pipe::OpenOptions::new().open_sender(path)
}

/// One frame of docker's multiplexed stream: stream id, three zero bytes, big-endian length.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(8 + data.len());
    b.push(stream);
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        let f = frame(STDERR, b"hi\n");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
    }
}
