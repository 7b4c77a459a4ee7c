//! dm-runc's error type: every failure carries a one-line reason naming what was wrong.

use std::path::PathBuf;

/// Errors from dm-runc operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (config.json or process.json) is invalid; names the field.
    #[error("{0}")]
    Config(String),
    /// A container id or other argument is invalid.
    #[error("{0}")]
    Arg(String),
    /// The container does not exist.
    #[error("container does not exist")]
    NotExist,
    /// The container already exists.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// The container is not in the state the operation needs.
    #[error("{0}")]
    State(String),
    /// A system call failed while doing something.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The OS error.
        source: nix::Error,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] dm_cgroups::Error),
    /// Seccomp compilation or installation failed.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The container's init or exec'd process reported a failure.
    #[error("{0}")]
    Child(String),
    /// A hook failed.
    #[error("{0}")]
    Hook(String),
}

/// Result alias for dm-runc.
pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a description to a nix error.
pub trait SysContext<T> {
    /// Wraps the error as [`Error::Sys`] with `what` describing the operation.
    fn sys(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what(),
            source,
        })
    }
}

/// Attaches a description and path to an io error.
pub trait IoContext<T> {
    /// Wraps the error as [`Error::Io`].
    fn io(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            what,
            path: path.into(),
            source,
        })
    }
}
