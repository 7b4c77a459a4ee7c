//! Typed errors of the harness.

use std::path::PathBuf;

/// Everything that can go wrong while setting up or running a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A system call the harness itself makes failed.
    #[error("{call}: {source}")]
    Sys {
        /// What was called, with its argument.
        call: String,
        /// The errno.
        source: nix::Error,
    },
    /// Reading or writing a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A runtime binary could not be started.
    #[error("spawn {cmd}: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A runtime command exited non-zero.
    #[error("`{cmd}` exited with {code}: {stderr}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Exit code, or 128+signal.
        code: i32,
        /// The tail of what it wrote to stderr.
        stderr: String,
    },
    /// A command-line argument or input file is unusable.
    #[error("{what}: {why}")]
    Input {
        /// The argument or file.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// A JSON document could not be parsed or built.
    #[error("{what}: {source}")]
    Json {
        /// The document.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl BenchError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }

    /// Wraps an errno with the call that returned it.
    pub fn sys(call: impl Into<String>) -> impl FnOnce(nix::Error) -> BenchError {
        let call = call.into();
        move |source| BenchError::Sys { call, source }
    }
}

/// Result type of the harness.
pub type Result<T> = std::result::Result<T, BenchError>;
