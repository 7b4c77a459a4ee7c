//! The command line, as docker spells it.

use clap::{Args, Parser, Subcommand};

/// dockermind: a docker-like CLI for dockermindd.
#[derive(Debug, Parser)]
#[command(
    name = "dockermind",
    version,
    about = "A docker-like CLI for dockermindd"
)]
pub struct Cli {
    /// Daemon socket (unix:///path); default $DOCKERMIND_HOST, else unix:///run/dockermind/dockermind.sock.
    #[arg(short = 'H', long, global = true)]
    pub host: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create and run a container from an image.
    Run(RunArgs),
    /// List containers.
    Ps {
        /// Show all containers (default: running ones).
        #[arg(short, long)]
        all: bool,
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show a container's output.
    Logs {
        /// Keep following new output.
        #[arg(short, long)]
        follow: bool,
        /// Number of lines from the end ("all" for every line).
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// The container.
        container: String,
    },
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Stop running containers (SIGTERM, then SIGKILL after the timeout).
    Stop {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time")]
        time: Option<i64>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Start stopped containers.
    Start {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers.
    Kill {
        /// Signal (name or number).
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill and remove running containers.
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List images.
    Images {
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Pull an image from a registry.
    Pull {
        /// The image.
        image: String,
    },
    /// Push an image to a registry.
    Push {
        /// The image.
        image: String,
    },
    /// Build an image from a directory with a Dockerfile.
    Build {
        /// Name and tag of the result.
        #[arg(short, long)]
        tag: Vec<String>,
        /// The Dockerfile (default: PATH/Dockerfile).
        #[arg(short, long)]
        file: Option<String>,
        /// Only print the image id.
        #[arg(short, long)]
        quiet: bool,
        /// The build context directory.
        path: String,
    },
    /// Write images to a tar archive (docker-archive and OCI layout in one).
    Save {
        /// The archive to write (default: standard output, if not a terminal).
        #[arg(short, long)]
        output: Option<String>,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a tar archive (plain or gzip).
    Load {
        /// The archive to read (default: standard input).
        #[arg(short, long)]
        input: Option<String>,
        /// Print only the loaded names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show how an image was made, newest layer first.
    History {
        /// Print image ids only.
        #[arg(short, long)]
        quiet: bool,
        /// The image.
        image: String,
    },
    /// Give an image another name.
    Tag {
        /// Existing image.
        source: String,
        /// New name.
        target: String,
    },
    /// Remove images.
    Rmi {
        /// Remove even if in use.
        #[arg(short, long)]
        force: bool,
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show containers or images as JSON.
    Inspect {
        /// Only this kind of object (container or image).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Objects.
        #[arg(required = true)]
        objects: Vec<String>,
    },
    /// Stream the daemon's events.
    Events {
        /// Filters (key=value).
        #[arg(short, long)]
        filter: Vec<String>,
        /// Events since this time (unix seconds or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Events until this time; the stream ends then.
        #[arg(long)]
        until: Option<String>,
    },
    /// Copy files between a container (CONTAINER:PATH) and here (a path, or - for a tar on
    /// stdin/stdout).
    Cp {
        /// Give copied files the container user's uid and gid.
        #[arg(short, long)]
        archive: bool,
        /// Follow a symlink the source path names.
        #[arg(short = 'L', long)]
        follow_link: bool,
        /// Source.
        src: String,
        /// Destination.
        dst: String,
    },
    /// Write a container's filesystem as a tar archive.
    Export {
        /// File to write (default: stdout, which must not be a terminal).
        #[arg(short, long)]
        output: Option<String>,
        /// The container.
        container: String,
    },
    /// Change containers' resource limits and restart policy.
    Update(UpdateArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Disk usage and cleanup.
    #[command(subcommand)]
    System(SystemCmd),
    /// Client and daemon versions.
    Version,
    /// Daemon-wide information.
    Info,
    /// Print a shell completion script.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `dockermind run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open and attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Environment variable (KEY=value, or KEY to copy it from here).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Bind mount or volume (SRC:DST[:ro]).
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Published port ([IP:]HOSTPORT:CONTAINERPORT[/PROTO]).
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Container name.
    #[arg(long)]
    pub name: Option<String>,
    /// Network (none, host, bridge or a network's name).
    #[arg(long)]
    pub network: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User (name|uid[:group|gid]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Memory limit (bytes, or with b, k, m, g suffix).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs (fractions allowed).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Most processes in the container (-1: unlimited).
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// The image.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `dockermind update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (bytes, or with b, k, m, g suffix).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Number of CPUs (fractions allowed).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight.
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// CFS quota in microseconds.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPUs allowed (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Most processes (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10 to 1000).
    #[arg(long)]
    pub blkio_weight: Option<i64>,
    /// Restart policy: no, always, unless-stopped, on-failure[:N].
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `dockermind exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open and attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Run in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Environment variable.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// User.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `dockermind volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume.
    Create {
        /// Its name (default: generated).
        name: Option<String>,
    },
    /// List volumes.
    Ls {
        /// Only names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show volumes as JSON.
    Inspect {
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    Rm {
        /// Remove even if in use.
        #[arg(short, long)]
        force: bool,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused volumes.
    Prune,
}

/// `dockermind network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Driver.
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR form.
        #[arg(long)]
        subnet: Option<String>,
        /// Its name.
        name: String,
    },
    /// List networks.
    Ls {
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show networks as JSON.
    Inspect {
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks.
    Rm {
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Connect a container to a network.
    Connect {
        /// The network.
        network: String,
        /// The container.
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// The network.
        network: String,
        /// The container.
        container: String,
    },
    /// Remove unused networks.
    Prune,
}

/// `dockermind system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Disk usage of images, containers and volumes.
    Df,
    /// Remove stopped containers, unused networks and dangling images.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Remove all unused images, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Prune volumes too.
        #[arg(long)]
        volumes: bool,
    },
}
