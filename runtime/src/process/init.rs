//! The container's init: runs in the cloned child, builds the container from the inside, waits
//! on the exec fifo for `start`, then becomes the user's process.

use crate::config::has_new_namespace;
use crate::error::{Error, Result, SysContext};
use crate::process::setup;
use crate::sync::{Channel, Msg};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Everything the init needs, prepared by the parent before clone.
pub struct InitArgs<'a> {
    /// Container id.
    pub id: String,
    /// The validated config.
    pub spec: &'a Spec,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// The container's cgroup.
    pub cgroup: &'a dm_cgroups::Cgroup,
    /// Namespaces to join, opened by the parent: (type, fd).
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// O_PATH fd of the exec fifo (`None` for `run` that starts right away in-process).
    pub fifo: Option<OwnedFd>,
    /// Connected console socket when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// The compiled seccomp filter.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `linux.timeOffsets` in timens_offsets format: the init makes the time namespace.
    pub time_offsets: Option<&'a str>,
    /// Idmapped mounts the parent made, to attach.
    pub idmapped: crate::rootfs::idmap::Trees,
}

/// Runs the init in the child; never returns. Failures go to the parent over `chan`.
pub fn run(chan: Channel, args: InitArgs) -> ! {
    let err = match init(&chan, args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = chan.send(&Msg::Error(err.to_string()));
    // SAFETY: _exit skips atexit handlers and destructors that belong to the parent's copy.
    unsafe { libc::_exit(1) }
}

fn init(chan: &Channel, a: InitArgs) -> Result<std::convert::Infallible> {
    let spec = a.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process: required".into()))?;
    // Until execve this process runs the host's dm-runc binary: keep other processes in the
    // container from reaching it through /proc/<pid>/exe (CVE-2019-5736 class). But the parent
    // writes a new user namespace's id maps through /proc/<pid>, whose files belong to host
    // root once we are non-dumpable, which a rootless parent is not: then only after the maps
    // (nothing else runs in a new user namespace before that; the binary is read-only anyway).
    let new_userns = has_new_namespace(spec, LinuxNamespaceType::User);
    let non_dumpable =
        || nix::sys::prctl::set_dumpable(false).sys(|| "prctl(PR_SET_DUMPABLE)".into());
    if !new_userns {
        non_dumpable()?;
    }
    // A foreground `run` blocked signals for its signalfd before cloning us.
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .sys(|| "reset signal mask".into())?;
    // The parent maps ids and places us in the cgroup first.
    chan.expect_go()?;
    if new_userns {
        non_dumpable()?;
    }
    let userns = crate::config::has_namespace(spec, LinuxNamespaceType::User);
    if new_userns {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .sys(|| "setgid 0 in user namespace".into())?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .sys(|| "setuid 0 in user namespace".into())?;
    }
    // User namespace first: joining others needs its privileges.
    let mut join = a.join;
    join.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
    for (t, fd) in &join {
        nix::sched::setns(fd, crate::config::namespace_flag(*t))
            .sys(|| format!("join {t} namespace"))?;
    }
    drop(join);
    if let Some(t) = a.time_offsets {
        crate::timens::enter(t)?;
    }
    if has_new_namespace(spec, LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .sys(|| "unshare cgroup namespace".into())?;
    }
    nix::unistd::setsid().sys(|| "setsid".into())?;
    if crate::config::has_namespace(spec, LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).sys(|| format!("hostname: set {h:?}"))?;
        }
        if let Some(d) = spec.domainname() {
            crate::sys::set_domainname(d).sys(|| format!("domainname: set {d:?}"))?;
        }
    }
    // The host's /proc, for reopening the fifo once the container's rootfs is `/`.
    let host_proc = open_path("/proc")?;
    // runc builds the rootfs in a joined mount namespace too; without one, in the caller's.
    let mountns = crate::config::has_namespace(spec, LinuxNamespaceType::Mount);
    crate::rootfs::prepare(
        spec,
        &a.rootfs,
        &a.bundle,
        a.cgroup,
        userns,
        &a.idmapped,
        mountns,
    )?;
    if crate::hooks::has_create_runtime_hooks(spec) {
        chan.send(&Msg::Hooks)?;
        chan.expect_go()?;
    }
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
    {
        run_container_hooks("createContainer", h, &a.id, &a.bundle, spec)?;
    }
    if mountns {
        crate::rootfs::pivot::enter(&a.rootfs, a.no_pivot)?;
    } else {
        crate::rootfs::shared::enter(&a.rootfs)?;
    }
    if let Some(sock) = &a.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_console(sock, size)?;
    }
    drop(a.console);
    crate::rootfs::finalize(spec)?;
    if !a.no_new_keyring {
        setup::session_keyring(&a.id, true, userns)?;
    }
    apply_personality(spec)?;
    setup::rlimits(process)?;
    let env = setup::environment(process);
    // A notify filter goes in while the parent still listens, to hand the fd to the agent.
    let early = a.seccomp.filter(|f| f.needs_notify());
    if let Some(f) = early {
        install_seccomp(chan, f)?;
    }
    // Any other filter goes in last, so a profile never breaks the runtime's own steps (chdir,
    // getcwd, the fifo). Without no_new_privs that needs CAP_SYS_ADMIN, kept until then.
    let late = a.seccomp.filter(|_| early.is_none());
    let keep = late.is_some() && !process.no_new_privileges().unwrap_or(false);
    crate::process::lsm::apply(process)?;
    setup::user_and_caps(process, !userns, keep)?;
    setup::privs_and_umask(process)?;
    setup::enter_cwd(process)?;
    let args = process.args().clone().unwrap_or_default();
    let exe = setup::find_executable(&args[0], &env)?;
    chan.send(&Msg::Ready)?;
    if let Some(fifo) = a.fifo {
        // Blocks until `start` opens the fifo for reading.
        let path = format!("self/fd/{}", fifo.as_raw_fd());
        let fd = nix::fcntl::openat(
            Some(host_proc.as_raw_fd()),
            path.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .sys(|| "open exec fifo".into())?;
        // SAFETY: fresh fd from openat, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        nix::unistd::write(&fd, b"0").sys(|| "write exec fifo".into())?;
    }
    drop(host_proc);
    if let Some(f) = late.filter(|_| keep) {
        // Before the hooks: they must not inherit the kept capabilities.
        f.install()?;
        setup::drop_kept_caps(process)?;
    }
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        run_container_hooks("startContainer", h, &a.id, &a.bundle, spec)?;
    }
    crate::sys::cloexec_from(3 + a.preserve_fds).sys(|| "mark fds close-on-exec".into())?;
    if let Some(f) = late.filter(|_| !keep) {
        f.install()?;
    }
    Err(setup::exec(&exe, &args, &env))
}

/// Runs hooks that belong in the container's namespaces, with the "created" state (see
/// [`crate::hooks::CREATED`]) and the pid as the container sees it (state.md).
fn run_container_hooks(
    kind: &str,
    h: &[oci_spec::runtime::Hook],
    id: &str,
    bundle: &std::path::Path,
    spec: &Spec,
) -> Result<()> {
    let pid = nix::unistd::getpid().as_raw();
    crate::hooks::run(
        kind,
        h,
        &crate::state::hook_state(id, pid, crate::hooks::CREATED, bundle, spec),
    )
}

/// Installs the filter; a notify fd goes to the parent and is never closed here (close may be
/// notified itself); it is close-on-exec.
pub fn install_seccomp(chan: &Channel, f: &crate::seccomp::Filter) -> Result<()> {
    if let Some(fd) = f.install()? {
        chan.send_fd(std::os::fd::AsFd::as_fd(&fd))?;
        std::mem::forget(fd);
    }
    Ok(())
}

fn apply_personality(spec: &Spec) -> Result<()> {
    use oci_spec::runtime::LinuxPersonalityDomain as D;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        let persona = match p.domain() {
            D::PerLinux => 0x0000,
            D::PerLinux32 => 0x0008,
        };
        crate::sys::set_personality(persona).sys(|| "linux.personality".into())?;
    }
    Ok(())
}

fn open_path(p: &str) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .sys(|| format!("open {p}"))?;
    // SAFETY: fresh fd from open, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
