//! A container's record: the create request as docker sends it (merged with the image's
//! defaults), its state, and where it lives; written atomically as
//! `<root>/containers/<id>/container.json`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `Config` part of a create request (unknown fields are ignored, as dockerd does).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// Hostname inside the container (default: the short id).
    pub hostname: String,
    /// `user`, `uid`, `user:group` or `uid:gid`.
    pub user: String,
    /// `KEY=value` entries.
    pub env: Option<Vec<String>>,
    /// The command (after the entrypoint).
    pub cmd: Option<Vec<String>>,
    /// The entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The image name as given.
    pub image: String,
    /// The working directory (absolute).
    pub working_dir: String,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep stdin open for attaches.
    pub open_stdin: bool,
    /// Close stdin after the first attach ends.
    pub stdin_once: bool,
    /// Attach flags the client intends to use.
    pub attach_stdin: bool,
    /// Attach flags the client intends to use.
    pub attach_stdout: bool,
    /// Attach flags the client intends to use.
    pub attach_stderr: bool,
    /// Signal for stop (default SIGTERM).
    pub stop_signal: Option<String>,
    /// Seconds stop waits before SIGKILL (default 10).
    pub stop_timeout: Option<i64>,
    /// Anonymous volume paths (`-v /path`).
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// Ports the image or request declares (`{"80/tcp": {}}`).
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// The probe (`--health-*`, merged over the image's HEALTHCHECK).
    pub healthcheck: Option<crate::health::HealthConfig>,
}

/// The `HostConfig` part of a create request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `host-path:container-path[:ro|rw]`.
    pub binds: Option<Vec<String>>,
    /// bridge/default, none, host, `container:<id>` or a user network's name.
    pub network_mode: String,
    /// Published ports: `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
    pub port_bindings: Option<BTreeMap<String, Option<Vec<crate::netports::PortBinding>>>>,
    /// Publish every exposed port on a free host port (`-P`).
    pub publish_all_ports: bool,
    /// Nameservers instead of the host's (`--dns`).
    pub dns: Option<Vec<String>>,
    /// More /etc/hosts entries, `name:ip` (`--add-host`).
    pub extra_hosts: Option<Vec<String>>,
    /// Remove the container when it exits.
    pub auto_remove: bool,
    /// Memory limit in bytes (0: none).
    pub memory: i64,
    /// CPU quota in units of 1e-9 CPUs (0: none).
    pub nano_cpus: i64,
    /// Most processes (0 or negative: none).
    pub pids_limit: Option<i64>,
    /// Memory plus swap in bytes (0: unset, -1: unlimited swap).
    pub memory_swap: i64,
    /// Memory soft limit in bytes (0: none).
    pub memory_reservation: i64,
    /// Relative CPU weight (0: the default, 1024).
    pub cpu_shares: i64,
    /// CFS period in microseconds (0: the kernel's).
    pub cpu_period: i64,
    /// CFS quota in microseconds per period (0: none).
    pub cpu_quota: i64,
    /// CPUs the container may use (`0-1`, `0,2`; empty: all).
    pub cpuset_cpus: String,
    /// Memory nodes the container may use (empty: all).
    pub cpuset_mems: String,
    /// Block I/O weight, 10 to 1000 (0: none).
    pub blkio_weight: u16,
    /// `--mount` entries.
    pub mounts: Option<Vec<crate::mounts::MountSpec>>,
    /// `--tmpfs` entries: path to options.
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--volumes-from` entries, `container[:ro|:rw]`.
    pub volumes_from: Option<Vec<String>>,
    /// What to do when the container exits (`--restart`); read at each exit.
    pub restart_policy: Option<crate::restart::RestartPolicy>,
    /// The log driver and its options (`--log-driver`, `--log-opt`).
    pub log_config: Option<crate::jsonlog::LogConfig>,
}

/// The create request body: Config fields plus HostConfig.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    /// Everything but HostConfig.
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host-side settings.
    pub host_config: Option<HostConfig>,
    /// Per-network settings (aliases, a fixed address).
    pub networking_config: Option<crate::netattach::NetworkingConfig>,
}

/// Docker's `State` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// created, running, exited, removing.
    pub status: String,
    /// Whether the init process runs.
    pub running: bool,
    /// Its host pid (0 when not running).
    pub pid: u32,
    /// The last exit code.
    pub exit_code: i32,
    /// Why the last start failed, if it did.
    pub error: String,
    /// RFC 3339 time of the last start.
    pub started_at: String,
    /// RFC 3339 time of the last exit.
    pub finished_at: String,
    /// Exited and waiting for its restart policy's back-off (Running stays true, as docker's).
    #[serde(default)]
    pub restarting: bool,
    /// The healthcheck's state (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

/// Go's zero time, which docker shows for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            restarting: false,
            health: None,
        }
    }
}

/// One container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// The name without the leading slash.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The image id (config digest).
    pub image_id: String,
    /// The effective config (image defaults filled in).
    pub config: ContainerConfig,
    /// Host settings.
    pub host_config: HostConfig,
    /// The executable.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Lifecycle state.
    pub state: State,
    /// The serving shim's ttrpc address while running.
    #[serde(default)]
    pub shim_address: String,
    /// Binds, mounts, tmpfs and volumes, resolved at create.
    #[serde(default)]
    pub mount_points: Vec<crate::mounts::MountPoint>,
    /// The networks the container joins when it starts, with their settings.
    #[serde(default)]
    pub networks: BTreeMap<String, crate::netattach::EndpointConfig>,
    /// Restarts by the restart policy since the last start by a user.
    #[serde(default)]
    pub restart_count: u64,
    /// A user stopped or killed it (unless-stopped then stays down at daemon start).
    #[serde(default)]
    pub manually_stopped: bool,
}

/// Errors of the record files.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct RecordError {
    op: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RecordError + 'a {
    move |source| RecordError {
        op,
        path: path.to_owned(),
        source,
    }
}

impl Record {
    /// Writes the record into `dir` atomically (temp file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<(), RecordError> {
        std::fs::create_dir_all(dir).map_err(err("create", dir))?;
        let tmp = dir.join("container.json.tmp");
        let dst = dir.join("container.json");
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(err("create", &tmp))?;
        f.write_all(&bytes).map_err(err("write", &tmp))?;
        f.sync_all().map_err(err("fsync", &tmp))?;
        std::fs::rename(&tmp, &dst).map_err(err("rename", &dst))
    }

    /// Every record under `dir` (`<id>/container.json`); unreadable ones are reported and skipped.
    pub fn load_all(dir: &Path) -> Vec<Record> {
        let mut out = vec![];
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path().join("container.json");
            match std::fs::read(&p).map(|b| serde_json::from_slice::<Record>(&b)) {
                Ok(Ok(r)) => out.push(r),
                Ok(Err(e)) => eprintln!("dockermindd: skipping {}: {e}", p.display()),
                Err(_) => {}
            }
        }
        out
    }

    /// The command line as `docker ps` shows it.
    pub fn command(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The current time in RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_read_docker_cli_json_and_reject_wrong_types() {
        let body = r#"{"Image":"busybox","Cmd":["echo","hi"],"Tty":false,"Env":null,
            "Unknown":{"x":1},"HostConfig":{"AutoRemove":true,"NetworkMode":"none","Memory":0}}"#;
        let r: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.config.cmd.unwrap(), ["echo", "hi"]);
        assert!(r.host_config.unwrap().auto_remove);
        let bad = r#"{"Image":"busybox","Cmd":"echo hi","Tty":"yes"}"#;
        assert!(serde_json::from_str::<CreateRequest>(bad).is_err());
    }
}
