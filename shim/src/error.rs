//! Errors of the shim and their mapping onto ttrpc status codes.

use containerd_shim::protos::ttrpc;

/// What went wrong in a shim operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container or exec id the shim does not know.
    #[error("{0}: not found")]
    NotFound(String),
    /// An id that is already in use.
    #[error("{0}: already exists")]
    AlreadyExists(String),
    /// A request that does not fit the process's state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A malformed request field.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something this shim does not do.
    #[error("{0}")]
    Unimplemented(String),
    /// The runtime binary failed; the message is its last log line or stderr.
    #[error("{binary} {action}: {message}")]
    Runtime {
        /// The runtime binary.
        binary: String,
        /// The subcommand that failed.
        action: String,
        /// Why it failed.
        message: String,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the container's cgroup failed.
    #[error("cgroup stats: {0}")]
    Cgroup(#[from] dm_cgroups::Error),
    /// A helper of the containerd-shim crate failed.
    #[error("{0}")]
    Shim(#[from] containerd_shim::Error),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an io::Error with what was being done.
pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> ttrpc::Error {
        let code = match &e {
            Error::NotFound(_) => ttrpc::Code::NOT_FOUND,
            Error::AlreadyExists(_) => ttrpc::Code::ALREADY_EXISTS,
            Error::FailedPrecondition(_) => ttrpc::Code::FAILED_PRECONDITION,
            Error::InvalidArgument(_) => ttrpc::Code::INVALID_ARGUMENT,
            Error::Unimplemented(_) => ttrpc::Code::UNIMPLEMENTED,
            _ => ttrpc::Code::UNKNOWN,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}
