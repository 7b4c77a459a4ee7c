//! Handing the SCMP_ACT_NOTIFY fd to the seccomp agent at `linux.seccomp.listenerPath`.
//!
//! Same wire format as runc: one message on a stream unix socket whose bytes are the
//! container-process-state JSON of the runtime spec and whose SCM_RIGHTS carries the fd
//! (`fds` names it `seccompFd`).

use std::collections::BTreeMap;
use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::{Deserialize, Serialize};

use super::SeccompError;

/// The OCI state of the container (runtime-spec "State"), as sent to the agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// Runtime-spec version the state follows.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// `creating`, `created`, `running` or `stopped`.
    pub status: String,
    /// Pid of the container process on the host (0 when none; omitted then, as runc does).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pid: i32,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Annotations from config.json.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn is_zero(p: &i32) -> bool {
    *p == 0
}

/// The runtime-spec "container process state" the agent receives with the notify fd.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessState {
    /// Runtime-spec version.
    pub oci_version: String,
    /// Names of the fds passed with the message, in order.
    pub fds: Vec<String>,
    /// Pid of the process the filter belongs to (the init, or the exec'd process).
    pub pid: i32,
    /// `linux.seccomp.listenerMetadata`, empty when unset.
    pub metadata: String,
    /// The container's state.
    pub state: ContainerState,
}

impl ProcessState {
    /// The state sent with a seccomp notify fd for process `pid` of the container `state`.
    pub fn new(pid: i32, metadata: Option<&str>, state: ContainerState) -> Self {
        Self {
            oci_version: state.oci_version.clone(),
            fds: vec!["seccompFd".to_owned()],
            pid,
            metadata: metadata.unwrap_or_default().to_owned(),
            state,
        }
    }
}

/// Connects to the agent at `listener_path` and sends `state` with `notify_fd` attached.
pub fn send_to_listener(
    listener_path: &Path,
    notify_fd: BorrowedFd,
    state: &ProcessState,
) -> Result<(), SeccompError> {
    let err = |source: std::io::Error| SeccompError::Listener {
        path: listener_path.to_owned(),
        source,
    };
    let json = serde_json::to_vec(state).map_err(|e| err(e.into()))?;
    let mut conn = UnixStream::connect(listener_path).map_err(err)?;
    let fds = [notify_fd.as_raw_fd()];
    let sent = loop {
        match sendmsg::<()>(
            conn.as_raw_fd(),
            &[IoSlice::new(&json)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            r => break r.map_err(|e| err(e.into()))?,
        }
    };
    // A stream socket may take a long state in pieces; the fd went with the first.
    conn.write_all(&json[sent..]).map_err(err)
}
