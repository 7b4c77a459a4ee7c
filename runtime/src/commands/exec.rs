//! `exec`: a new process in a running container's namespaces and cgroup.

use crate::cli::ExecArgs;
use crate::config::namespace_flag;
use crate::error::{Error, Result, SysContext};
use crate::process::{forward, setup};
use crate::state::{State, Status};
use crate::sync::{self, Msg};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Builds the process: from --process, or from the container's process with overrides.
fn process_spec(a: &ExecArgs, st: &State) -> Result<Process> {
    if let Some(p) = &a.process {
        let data =
            std::fs::read(p).map_err(|e| Error::Arg(format!("--process {}: {e}", p.display())))?;
        let p: Process = crate::config::parse(&data, "process.json")?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Config(
                "process.json: args: must not be empty".into(),
            ));
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        return Err(Error::Arg(
            "exec: no command given (args after the container id, or --process)".into(),
        ));
    }
    let mut p = st.config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let bad = || Error::Arg(format!("--user {u:?}: expected UID[:GID] numbers"));
        p.user_mut().set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(g) = gid {
            p.user_mut().set_gid(g.parse().map_err(|_| bad())?);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let c: oci_spec::runtime::Capability = serde_json::from_value(serde_json::json!(name))
                .map_err(|_| Error::Arg(format!("--cap {name:?}: unknown capability")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(c);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            caps.set_inheritable(add(caps.inheritable()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// Runs the exec; returns the exit code (0 when detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    let st = State::load(root, &a.id)?;
    match st.status(root) {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(Error::State("cannot exec in a paused container".into())),
        Status::Stopped => return Err(Error::State("cannot exec in a stopped container".into())),
    }
    let process = process_spec(a, &st)?;
    crate::process::lsm::check(&process)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.detach && a.console_socket.is_none() {
        return Err(Error::Arg(
            "--tty with --detach needs --console-socket".into(),
        ));
    }
    let seccomp = match st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    // Namespaces of the init, user first; pid and time are joined here for the child.
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut types: Vec<LinuxNamespaceType> = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|n| n.typ())
        .collect();
    types.sort_by_key(|t| *t != LinuxNamespaceType::User);
    let userns = types.contains(&LinuxNamespaceType::User);
    // An unprivileged caller has no right to the container's pid namespace until it is in the
    // user namespace owning it, so rootless joins that one here too. Root stays outside: it
    // still needs its host privileges (cgroups) for the child.
    let rootless = !nix::unistd::geteuid().is_root();
    for t in types {
        let p = format!("/proc/{}/ns/{}", st.pid, ns_file(t));
        let f: OwnedFd = std::fs::File::open(&p)
            .map_err(|e| Error::State(format!("open {p}: {e}")))?
            .into();
        let here = matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time)
            || (rootless && t == LinuxNamespaceType::User);
        if here {
            nix::sched::setns(&f, namespace_flag(t)).sys(|| format!("join {t} namespace"))?;
        } else {
            join.push((t, f));
        }
    }
    // Without a mount namespace to join, the init's root is a chroot: enter the same one.
    let chroot = if crate::config::has_namespace(&st.config, LinuxNamespaceType::Mount) {
        None
    } else {
        let p = format!("/proc/{}/root", st.pid);
        let fd = nix::fcntl::open(
            p.as_str(),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .sys(|| format!("open {p}"))?;
        // SAFETY: fresh fd from open, owned here.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let (own_pty, console) = if terminal {
        match &a.console_socket {
            Some(p) => (None, Some(crate::tty::connect_console_socket(p)?)),
            None => {
                let (x, y) = crate::tty::console_pair()?;
                (Some(x), Some(y))
            }
        }
    } else {
        (None, None)
    };
    let mut sfd = if a.detach {
        None
    } else {
        Some(forward::block_signals()?)
    };
    let (parent, child) = sync::pair()?;
    let cg_dir = st
        .cgroup
        .clone_into_dir()
        .map(|d| std::fs::File::open(d).map(OwnedFd::from))
        .transpose()
        .map_err(|e| Error::State(format!("open cgroup: {e}")))?;
    let pid = crate::sys::clone_fork(0, cg_dir.as_ref().map(|f| f.as_fd()))
        .sys(|| "fork exec process".into())?;
    if pid == 0 {
        drop(parent);
        let c = Child {
            chan: &child,
            process: &process,
            join,
            userns,
            chroot,
            console,
            seccomp: seccomp.as_ref(),
            preserve_fds: a.preserve_fds,
            foreground: sfd.is_some(),
            keyring: (!st.no_new_keyring).then_some(st.id.as_str()),
        };
        let err = match child_main(c) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = child.send(&Msg::Error(err.to_string()));
        // SAFETY: _exit skips destructors that belong to the parent's copy of memory.
        unsafe { libc::_exit(255) }
    }
    drop(child);
    drop(console);
    let fail = |e: Error| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    if cg_dir.is_none() {
        st.cgroup.add_task(pid).map_err(|e| fail(e.into()))?;
    }
    parent.send(&Msg::Go).map_err(fail)?;
    // Ready, then EOF once execve closed the socket; an Error means it failed.
    let mut msg = parent.recv().map_err(fail)?;
    if let Some(Msg::SeccompFd(fd)) = &msg {
        crate::commands::create::notify_listener(
            &st.config, &st.id, pid, "running", &st.bundle, fd,
        )
        .map_err(fail)?;
        msg = parent.recv().map_err(fail)?;
    }
    match msg {
        Some(Msg::Ready) => {}
        Some(Msg::Error(e)) => return Err(fail(Error::Child(e))),
        _ => {
            return Err(fail(Error::Child(
                "exec process exited before it was ready".into(),
            )))
        }
    }
    if let Some(Msg::Error(e)) = parent.recv().map_err(fail)? {
        return Err(fail(Error::Child(e)));
    }
    if let Some(p) = &a.pid_file {
        crate::commands::create::write_pid_file(p, pid)?;
    }
    let Some(sfd) = sfd.as_mut() else {
        return Ok(0);
    };
    let pty = match &own_pty {
        Some(s) => Some(forward::recv_fd(s)?),
        None => None,
    };
    forward::wait(pid, sfd, pty)
}

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// What the forked exec child needs.
struct Child<'a> {
    chan: &'a sync::Channel,
    process: &'a Process,
    /// The init's namespaces still to join (all but pid and time), user first.
    join: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// The container has its own user namespace (joined by the child, or by a rootless parent).
    userns: bool,
    /// The init's root to chroot into, when there is no mount namespace to join.
    chroot: Option<OwnedFd>,
    console: Option<OwnedFd>,
    seccomp: Option<&'a crate::seccomp::Filter>,
    preserve_fds: u32,
    foreground: bool,
    /// The container id whose session keyring to join (None with `--no-new-keyring`).
    keyring: Option<&'a str>,
}

fn child_main(c: Child) -> Result<std::convert::Infallible> {
    let Child {
        chan,
        process: p,
        join,
        userns,
        chroot,
        console,
        seccomp,
        preserve_fds,
        foreground,
        keyring,
    } = c;
    // As for the init: the host binary must stay out of the container's reach until execve.
    nix::sys::prctl::set_dumpable(false).sys(|| "prctl(PR_SET_DUMPABLE)".into())?;
    if foreground {
        // The parent blocked these for its signalfd; the process must get them normally.
        let _ = nix::sys::signal::SigSet::all().thread_unblock();
    }
    chan.expect_go()?;
    for (t, fd) in &join {
        nix::sched::setns(fd, namespace_flag(*t)).sys(|| format!("join {t} namespace"))?;
    }
    drop(join);
    if let Some(root) = chroot {
        nix::unistd::fchdir(root.as_raw_fd()).sys(|| "fchdir to the container's root".into())?;
        nix::unistd::chroot(".").sys(|| "chroot to the container's root".into())?;
    }
    if let Some(sock) = &console {
        nix::unistd::setsid().sys(|| "setsid".into())?;
        let size = p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_console(sock, size)?;
    }
    drop(console);
    if let Some(id) = keyring {
        setup::session_keyring(id, false, userns)?;
    }
    setup::rlimits(p)?;
    let env = setup::environment(p);
    setup::enter_cwd(p)?;
    // As in the init: a notify filter while the parent listens, any other one last.
    let early = seccomp.filter(|f| f.needs_notify());
    if let Some(f) = early {
        crate::process::init::install_seccomp(chan, f)?;
    }
    let late = seccomp.filter(|_| early.is_none());
    let keep = late.is_some() && !p.no_new_privileges().unwrap_or(false);
    crate::process::lsm::apply(p)?;
    setup::user_and_caps(p, !userns, keep)?;
    setup::privs_and_umask(p)?;
    let args = p.args().clone().unwrap_or_default();
    let exe = setup::find_executable(&args[0], &env)?;
    chan.send(&Msg::Ready)?;
    crate::sys::cloexec_from(3 + preserve_fds).sys(|| "mark fds close-on-exec".into())?;
    if let Some(f) = late {
        f.install()?;
        if keep {
            setup::drop_kept_caps(p)?;
        }
    }
    Err(setup::exec(&exe, &args, &env))
}
