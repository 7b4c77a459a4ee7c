//! A container's persisted state (`<root>/<id>/state.json`) and its live status.

use crate::error::{Error, IoContext, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The runtime-spec version this runtime reports in state output.
pub const OCI_VERSION: &str = "1.2.0";
const STATE_FILE: &str = "state.json";
const FIFO: &str = "exec.fifo";

/// Container status as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Init is blocked waiting for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// Init has exited.
    Stopped,
}

impl Status {
    /// The lowercase name used in state JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What dm-runc remembers about a container between invocations.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    /// Container id.
    pub id: String,
    /// Host pid of the init.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/<pid>/stat): guards against pid reuse.
    pub start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The container's cgroup placement.
    pub cgroup: dm_cgroups::Cgroup,
    /// The config the container was created from (hooks, process defaults for exec).
    pub config: Spec,
    /// Created with `--no-new-keyring`: exec'd processes keep the caller's session keyring too.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// Without a mount namespace: the id of the rootfs bind in the caller's mount namespace,
    /// detached on delete (see `rootfs::shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_mount: Option<u64>,
}

/// Refuses ids that could escape the state root or confuse tools.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Arg(format!("invalid container id format: {id:?}")))
    }
}

/// `<root>/<id>`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The exec fifo in a container's state dir.
pub fn fifo_path(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join(FIFO)
}

impl State {
    /// Loads a container's state; [`Error::NotExist`] when there is none.
    pub fn load(root: &Path, id: &str) -> Result<State> {
        validate_id(id)?;
        let path = dir(root, id).join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotExist),
            Err(e) => return Err(e).io("read", path),
        };
        // The same (path-naming) deserializer as config.json: one copy of the Spec parser in
        // the binary instead of two keeps the code, and so the peak RSS, smaller.
        crate::config::parse(&data, "state.json")
            .map_err(|e| Error::State(format!("corrupt state {}: {e}", path.display())))
    }

    /// Writes state.json atomically (temp file, fsync, rename).
    pub fn save(&self, root: &Path) -> Result<()> {
        let d = dir(root, &self.id);
        let tmp = d.join(".state.json.tmp");
        let data = serde_json::to_vec(self).expect("state serializes");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .io("create", &tmp)?;
        f.write_all(&data).io("write", &tmp)?;
        f.sync_all().io("fsync", &tmp)?;
        std::fs::rename(&tmp, d.join(STATE_FILE)).io("rename", &tmp)
    }

    /// Is the init still the process we started (not exited, not a zombie, pid not reused)?
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && proc_start_time(self.pid).is_some_and(|(t, zombie)| t == self.start_time && !zombie)
    }

    /// The live status, from the init process, the exec fifo and the freezer.
    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if fifo_path(root, &self.id).exists() {
            return Status::Created;
        }
        if self.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The runtime-spec state object with runc's extra fields (rootfs, created, owner).
    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: self.config.annotations().as_ref().filter(|a| !a.is_empty()),
            owner: "",
        }
    }
}

/// The state JSON `state` and `list --format json` print, in runc's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    oci_version: &'static str,
    id: &'a str,
    pid: i32,
    status: &'static str,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a std::collections::HashMap<String, String>>,
    owner: &'static str,
}

/// The state a hook receives on stdin.
pub fn hook_state(id: &str, pid: i32, status: &str, bundle: &Path, spec: &Spec) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": id,
        "pid": pid,
        "status": status,
        "bundle": bundle,
    });
    if let Some(a) = spec.annotations().as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::json!(a);
    }
    serde_json::to_vec(&v).expect("state serializes")
}

/// `(start time, is zombie)` of a pid from /proc/<pid>/stat.
pub fn proc_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1_2.3+x", "A9"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn start_time_of_self() {
        let (t, z) = proc_start_time(std::process::id() as i32).unwrap();
        assert!(t > 0);
        assert!(!z);
        assert!(proc_start_time(i32::MAX).is_none());
    }
}
