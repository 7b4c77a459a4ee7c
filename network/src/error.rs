//! The crate's error type.

use std::path::PathBuf;

/// What went wrong in a network operation; each variant names the object or field involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or argument at fault.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// No network has this name.
    #[error("network {0:?} not found")]
    NoSuchNetwork(String),
    /// A network of this name already exists.
    #[error("network {0:?} already exists")]
    NetworkExists(String),
    /// The network still has attached containers.
    #[error("network {0:?} has active endpoints: {1:?}")]
    NetworkInUse(String, Vec<String>),
    /// The container is not attached to the network.
    #[error("container {container:?} is not attached to network {network:?}")]
    NotAttached {
        /// Container id.
        container: String,
        /// Network name.
        network: String,
    },
    /// The container is already attached to the network.
    #[error("container {container:?} is already attached to network {network:?}")]
    AlreadyAttached {
        /// Container id.
        container: String,
        /// Network name.
        network: String,
    },
    /// The subnet has no free address left.
    #[error("subnet {0} of network {1:?} has no free address")]
    SubnetFull(String, String),
    /// A netlink request failed.
    #[error("netlink: {op}: {source}")]
    Netlink {
        /// What was being done.
        op: String,
        /// The kernel's or the crate's error.
        source: rtnetlink::Error,
    },
    /// A firewall command failed.
    #[error("firewall: `{cmd}` failed: {stderr}")]
    Firewall {
        /// The command line.
        cmd: String,
        /// Its error output.
        stderr: String,
    },
    /// A CNI plugin failed.
    #[error("cni plugin {plugin} {command}: {msg}")]
    Cni {
        /// The plugin binary.
        plugin: String,
        /// ADD or DEL.
        command: String,
        /// The plugin's error message.
        msg: String,
    },
    /// A file or namespace operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A state record could not be parsed.
    #[error("state record {path}: {source}")]
    State {
        /// The record's file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
