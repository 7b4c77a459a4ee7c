//! The command line, flag for flag as runc 1.1 has it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// dm-runc: a runc-compatible OCI runtime.
#[derive(Parser, Debug)]
#[command(name = "dm-runc", disable_version_flag = true)]
pub struct Cli {
    /// Root directory for container state (default /run/dm-runc; rootless:
    /// $XDG_RUNTIME_DIR/dm-runc, else /tmp/dm-runc-<uid>).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: crate::log::Format,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup driver: cgroupsPath is `slice:prefix:name`, the cgroup a transient
    /// scope made over D-Bus ($DBUS_SYSTEM_BUS_ADDRESS or /run/dbus/system_bus_socket).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The state root: `--root`, or runc's defaults for root and rootless callers.
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        let uid = nix::unistd::geteuid();
        if uid.is_root() {
            return PathBuf::from("/run/dm-runc");
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("dm-runc"),
            _ => PathBuf::from(format!("/tmp/dm-runc-{uid}")),
        }
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Create a container (it waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start(IdArg),
    /// Create, start and wait for a container.
    Run(RunArgs),
    /// Print a container's state as JSON.
    State(IdArg),
    /// List containers.
    List(ListArgs),
    /// Send a signal to a container's init (or all its processes).
    Kill(KillArgs),
    /// Delete a container.
    Delete(DeleteArgs),
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List a container's processes.
    Ps(PsArgs),
    /// Print the OCI features JSON.
    Features,
    /// Suspend all processes of a container.
    Pause(IdArg),
    /// Resume a paused container.
    Resume(IdArg),
    /// Change a running container's resource limits.
    Update(UpdateArgs),
    /// Print container events: stats and OOM kills.
    Events(EventsArgs),
}

/// `update` flags (runc's single-value flags, or a whole resources JSON).
#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    /// linux.resources JSON from a file, or `-` for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPUs allowed (e.g. 0-3,5).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container id.
    pub id: String,
}

/// `events` flags.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Container id.
    pub id: String,
}

/// A lone container id.
#[derive(Args, Debug)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

/// `spec` flags.
#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into.
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Generate a config for a rootless container.
    #[arg(long)]
    pub rootless: bool,
}

/// `create` flags.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Bundle directory (default: current directory).
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (from 3) into the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// `run` flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// create's flags.
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach: return after start.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container after it exits.
    #[arg(long)]
    pub keep: bool,
}

/// `list` flags.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Print only ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `kill` flags.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process in the container's cgroup.
    #[arg(short, long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name or number (default SIGTERM).
    pub signal: Option<String>,
}

/// `delete` flags.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it is running.
    #[arg(short, long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

/// `exec` flags.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variables (KEY=VALUE).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long, value_delimiter = ',')]
    pub additional_gids: Vec<u32>,
    /// process.json with the full process spec.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Add a capability.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privileges.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass N extra fds (from 3) into the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// SELinux label for the process (refused without SELinux).
    #[arg(long)]
    pub process_label: Option<String>,
    /// AppArmor profile for the process (refused without AppArmor).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Container id.
    pub id: String,
    /// Command and arguments (when no --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `ps` flags.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Arguments passed to ps(1).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}
