//! The builder's errors.

use std::path::{Path, PathBuf};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Syntax(#[from] crate::parser::SyntaxError),
    /// A step is wrong (bad argument, missing file, unknown stage).
    #[error("line {line}: {instruction}: {message}")]
    Step {
        /// The Dockerfile line.
        line: usize,
        /// The instruction as written.
        instruction: String,
        /// What is wrong.
        message: String,
    },
    /// A RUN command failed.
    #[error("line {line}: {command}: exit code {code}\n{output}")]
    Run {
        /// The Dockerfile line.
        line: usize,
        /// The command.
        command: String,
        /// Its exit status.
        code: i32,
        /// Its last output lines.
        output: String,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] dm_image::ImageError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] dm_content::Error),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] dm_snapshotter::Error),
    /// Mounting a snapshot failed.
    #[error(transparent)]
    Mount(#[from] dm_image::rootfs::MountError),
    /// The image records failed.
    #[error(transparent)]
    Records(#[from] dm_image::records::RecordsError),
    /// An exported build cache cannot be used.
    #[error("build cache: {0}")]
    Cache(String),
    /// Unpacking an imported layer failed.
    #[error(transparent)]
    Unpack(#[from] dm_image::UnpackError),
}

impl BuildError {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// Shorthand.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;
