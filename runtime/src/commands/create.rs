//! `create`: validate, make state dir, fifo and cgroup, clone the init once, run the hooks it
//! asks for, record state. Every failure unwinds what was made.

use crate::cli::CreateArgs;
use crate::config::{self, has_new_namespace, namespace_flag};
use crate::error::{Error, IoContext, Result, SysContext};
use crate::process::init::{self, InitArgs};
use crate::state::{self, State};
use crate::sync::{self, Msg};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A created container whose init is blocked on the exec fifo.
pub struct Created {
    /// Its state (already saved).
    pub state: State,
    /// Our end of the console socket when dm-runc itself is the terminal (`own_pty`).
    pub console: Option<OwnedFd>,
}

/// Undoes a half-made container unless disarmed.
struct Unwind<'a> {
    root: &'a Path,
    id: &'a str,
    cgroup: Option<dm_cgroups::Cgroup>,
    pid: Option<i32>,
    /// Once hooks may have run, a failed create goes on to poststop (runtime-spec lifecycle).
    poststop: Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>)>,
    /// The rootfs bind made in the caller's mount namespace (no mount namespace): path, id.
    rootfs_bind: Option<(PathBuf, u64)>,
    armed: bool,
}

impl Drop for Unwind<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        if let Some((rootfs, id)) = &self.rootfs_bind {
            if let Err(e) = crate::rootfs::shared::release(rootfs, *id) {
                crate::log::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.destroy() {
                crate::log::warn(&format!("cleanup: remove cgroup: {e}"));
            }
        }
        let _ = std::fs::remove_dir_all(state::dir(self.root, self.id));
        if let Some((hooks, st)) = &self.poststop {
            crate::hooks::run_logged("poststop", hooks, st);
        }
    }
}

/// Bundle path made absolute (default: the current directory).
pub fn bundle_path(b: &Option<PathBuf>) -> Result<PathBuf> {
    let b = b.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::canonicalize(&b).map_err(|e| Error::Arg(format!("--bundle {}: {e}", b.display())))
}

/// Creates the container. With `own_pty` (foreground `run`), a terminal without
/// `--console-socket` is proxied by dm-runc itself: our end comes back in [`Created`].
pub fn create(root: &Path, a: &CreateArgs, own_pty: bool, systemd: bool) -> Result<Created> {
    state::validate_id(&a.id)?;
    let bundle = bundle_path(&a.bundle)?;
    let spec = config::load(&bundle)?;
    let process = spec.process().as_ref().expect("validated");
    crate::process::lsm::check_spec(&spec)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.console_socket.is_none() && !own_pty {
        return Err(Error::Arg(
            "process.terminal is set: --console-socket is required (or use run without -d)".into(),
        ));
    }
    let rootfs = {
        let r = spec.root().as_ref().expect("validated").path();
        let r = if r.is_absolute() {
            r.clone()
        } else {
            bundle.join(r)
        };
        std::fs::canonicalize(&r)
            .map_err(|e| Error::Config(format!("root.path {}: {e}", r.display())))?
    };
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    let linux = spec.linux().as_ref().expect("validated");
    let rootless = !nix::unistd::geteuid().is_root();
    let mut cgroup = if systemd {
        dm_cgroups::Cgroup::systemd(linux.cgroups_path().as_deref(), &a.id, rootless)?
    } else {
        dm_cgroups::Cgroup::new(linux.cgroups_path().as_deref(), &a.id)?
    };
    let resources = cgroup_resources(&spec)?;
    if let Some(r) = &resources {
        cgroup.check(r)?;
    }
    let join = open_joined_namespaces(&spec)?;
    let idmapped = crate::rootfs::idmap::prepare(&spec, &bundle)?;
    let (ours, console) = match (&a.console_socket, terminal) {
        (Some(p), true) => (None, Some(crate::tty::connect_console_socket(p)?)),
        (None, true) => {
            let (x, y) = crate::tty::console_pair()?;
            (Some(x), Some(y))
        }
        _ => (None, None),
    };

    // From here on, everything made is undone on failure.
    std::fs::create_dir_all(root).io("create state root", root)?;
    let dir = state::dir(root, &a.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(a.id.clone()))
        }
        Err(e) => return Err(e).io("create state dir", dir),
    }
    let mut unwind = Unwind {
        root,
        id: &a.id,
        cgroup: None,
        pid: None,
        poststop: None,
        rootfs_bind: None,
        armed: true,
    };
    let fifo_path = state::fifo_path(root, &a.id);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .sys(|| "create exec fifo".into())?;
    // mkfifo applies the umask; the init may run as any user, so set the mode exactly.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .io("chmod", &fifo_path)?;
    let root_uid = mapped_root(&spec);
    if let Some((u, g)) = root_uid {
        nix::unistd::chown(&fifo_path, Some(u.into()), Some(g.into()))
            .sys(|| "chown exec fifo".into())?;
    }
    let fifo = open_opath(&fifo_path)?;
    match cgroup.create() {
        Ok(()) => {}
        // As runc: an unprivileged caller that may not write the cgroup tree runs without one.
        Err(e) if rootless => {
            crate::log::warn(&format!("rootless: running without cgroups: {e}"));
            cgroup = cgroup.without_dirs();
        }
        Err(e) => return Err(e.into()),
    }
    unwind.cgroup = Some(cgroup.clone());
    let rootfs_mount = if config::has_namespace(&spec, LinuxNamespaceType::Mount) {
        None
    } else {
        let id = crate::rootfs::shared::bind_rootfs(&rootfs)?;
        unwind.rootfs_bind = Some((rootfs.clone(), id));
        Some(id)
    };
    let (parent, child) = sync::pair()?;
    let time_offsets = crate::timens::offsets(&spec)?;
    let mut flags = clone_flags(&spec);
    if time_offsets.is_some() {
        // The init makes the time namespace itself (see timens).
        flags &= !(libc::CLONE_NEWTIME as u64);
    }
    let cg_dir = cgroup
        .clone_into_dir()
        .map(|d| open_opath(&d))
        .transpose()?;
    let pid = crate::sys::clone_fork(flags, cg_dir.as_ref().map(|f| f.as_fd()))
        .sys(|| "clone init".into())?;
    if pid == 0 {
        unwind.armed = false;
        drop(parent);
        let args = InitArgs {
            id: a.id.clone(),
            spec: &spec,
            rootfs: rootfs.clone(),
            bundle: bundle.clone(),
            cgroup: &cgroup,
            join,
            fifo: Some(fifo),
            console,
            seccomp: seccomp.as_ref(),
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds: a.preserve_fds,
            time_offsets: time_offsets.as_deref(),
            idmapped,
        };
        init::run(child, args);
    }
    drop(child);
    drop(console);
    drop(idmapped);
    unwind.pid = Some(pid);
    if cg_dir.is_none() {
        cgroup.place_init(pid, resources.as_ref())?;
    }
    if has_new_namespace(&spec, LinuxNamespaceType::User) {
        write_id_maps(pid, &spec)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        let p = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&p, adj.to_string()).map_err(|e| {
            let hint = if adj < 0 {
                " (a negative value needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            Error::Config(format!("process.oomScoreAdj {adj}: write {p}: {e}{hint}"))
        })?;
    }
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().as_deref()) {
        unwind.poststop = Some((
            h.to_vec(),
            state::hook_state(&a.id, 0, "stopped", &bundle, &spec),
        ));
    }
    parent.send(&Msg::Go)?;
    loop {
        match parent.recv()? {
            Some(Msg::Hooks) => {
                if let Some(h) = spec.hooks() {
                    let st = state::hook_state(&a.id, pid, crate::hooks::CREATED, &bundle, &spec);
                    crate::hooks::run("prestart", h.prestart().as_deref().unwrap_or(&[]), &st)?;
                    crate::hooks::run(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or(&[]),
                        &st,
                    )?;
                }
                parent.send(&Msg::Go)?;
            }
            Some(Msg::Ready) => {
                // Limits go on once the rootfs is built (as runc): device nodes need mknod,
                // which the device rules would refuse.
                if let Some(r) = &resources {
                    match cgroup.apply(r) {
                        Err(e) if rootless => {
                            crate::log::warn(&format!("rootless: resources not applied: {e}"))
                        }
                        r => r?,
                    }
                }
                break;
            }
            Some(Msg::SeccompFd(fd)) => {
                notify_listener(&spec, &a.id, pid, "creating", &bundle, &fd)?
            }
            Some(Msg::Error(e)) => return Err(Error::Child(e)),
            Some(Msg::Go) | None => {
                return Err(Error::Child(
                    "container init exited before it was ready".into(),
                ))
            }
        }
    }
    let start_time = state::proc_start_time(pid)
        .map(|(t, _)| t)
        .ok_or_else(|| Error::Child("container init died during create".into()))?;
    let st = State {
        id: a.id.clone(),
        pid,
        start_time,
        bundle,
        rootfs,
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        cgroup,
        config: spec,
        no_new_keyring: a.no_new_keyring,
        rootfs_mount,
    };
    st.save(root)?;
    if let Some(p) = &a.pid_file {
        write_pid_file(p, pid)?;
    }
    unwind.armed = false;
    Ok(Created {
        state: st,
        console: ours,
    })
}

/// The resources to apply: the spec's, with rules allowing the default devices appended (later
/// rules win), so a deny-all list still leaves the container its /dev/null. `linux.devices`
/// entries get no rule of their own (see below).
fn cgroup_resources(spec: &Spec) -> Result<Option<oci_spec::runtime::LinuxResources>> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};
    let linux = spec.linux().as_ref().expect("validated");
    let Some(mut r) = linux.resources().clone() else {
        return Ok(None);
    };
    if r.devices().is_none() {
        return Ok(Some(r));
    }
    let rule =
        |t: LinuxDeviceType, major: Option<i64>, minor: Option<i64>| -> Result<LinuxDeviceCgroup> {
            let mut b = LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(t)
                .access("rwm");
            if let Some(m) = major {
                b = b.major(m);
            }
            if let Some(m) = minor {
                b = b.minor(m);
            }
            b.build()
                .map_err(|e| Error::Config(format!("linux.resources.devices: {e}")))
        };
    let mut rules = r.devices().clone().unwrap_or_default();
    // null, zero, full, random, urandom, tty, console, ptmx, and the pty slaves.
    for (ma, mi) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(rule(LinuxDeviceType::C, Some(ma), Some(mi))?);
    }
    rules.push(rule(LinuxDeviceType::C, Some(136), None)?);
    // linux.devices entries are created as nodes but, as with runc, only usable if the
    // spec's own device rules allow them.
    r.set_devices(Some(rules));
    Ok(Some(r))
}

/// Hands a seccomp notify fd to `linux.seccomp.listenerPath` with the container state.
pub fn notify_listener(
    spec: &Spec,
    id: &str,
    pid: i32,
    status: &str,
    bundle: &Path,
    fd: &OwnedFd,
) -> Result<()> {
    use crate::seccomp::{send_to_listener, ContainerState, ProcessState};
    let sc = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let Some(path) = sc.and_then(|s| s.listener_path().as_ref()) else {
        return Err(Error::Config(
            "linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY".into(),
        ));
    };
    let state = ContainerState {
        oci_version: state::OCI_VERSION.into(),
        id: id.into(),
        status: status.into(),
        pid,
        bundle: bundle.to_owned(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    let meta = sc.and_then(|s| s.listener_metadata().as_deref());
    Ok(send_to_listener(
        path,
        fd.as_fd(),
        &ProcessState::new(pid, meta, state),
    )?)
}

/// Clone flags: every new namespace except cgroup (unshared by the init once it sits in its
/// cgroup, so that cgroup becomes its root).
fn clone_flags(spec: &Spec) -> u64 {
    let mut f = 0u64;
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        if ns.path().is_none() && ns.typ() != LinuxNamespaceType::Cgroup {
            f |= namespace_flag(ns.typ()).bits() as u32 as u64;
        }
    }
    f
}

/// Opens every `linux.namespaces[].path`. pid and time namespaces only apply to children, so
/// the parent joins those itself before clone.
fn open_joined_namespaces(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    let mut out = Vec::new();
    for (i, ns) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(p) = ns.path() else { continue };
        let fd = std::fs::File::open(p).map_err(|e| {
            Error::Config(format!("linux.namespaces[{i}].path {}: {e}", p.display()))
        })?;
        let fd: OwnedFd = fd.into();
        if matches!(ns.typ(), LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            nix::sched::setns(&fd, namespace_flag(ns.typ())).map_err(|e| {
                Error::Config(format!(
                    "linux.namespaces[{i}].path {}: join: {e}",
                    p.display()
                ))
            })?;
        } else {
            out.push((ns.typ(), fd));
        }
    }
    Ok(out)
}

/// Host uid/gid that container root maps to, when there is a user namespace.
fn mapped_root(spec: &Spec) -> Option<(u32, u32)> {
    let l = spec.linux().as_ref()?;
    let find = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map(|m| m.host_id())
    };
    Some((find(l.uid_mappings())?, find(l.gid_mappings())?))
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let l = spec.linux().as_ref().expect("validated");
    let fmt = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if !nix::unistd::geteuid().is_root() {
        // Unprivileged gid_map writes need setgroups disabled first.
        let p = format!("/proc/{pid}/setgroups");
        std::fs::write(&p, "deny")
            .map_err(|e| Error::Config(format!("linux.gidMappings: write {p}: {e}")))?;
    }
    for (file, field, data) in [
        ("uid_map", "linux.uidMappings", fmt(l.uid_mappings())),
        ("gid_map", "linux.gidMappings", fmt(l.gid_mappings())),
    ] {
        let p = format!("/proc/{pid}/{file}");
        std::fs::write(&p, data).map_err(|e| Error::Config(format!("{field}: write {p}: {e}")))?;
    }
    Ok(())
}

fn open_opath(p: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open {}", p.display()))?;
    // SAFETY: fresh fd from open, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Writes a pid file atomically (temp file + rename), as runc does.
pub fn write_pid_file(p: &Path, pid: i32) -> Result<()> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        p.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    // A planted symlink at the temp name must not redirect the write: create it exclusively.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .io("create pid file", &tmp)?;
    std::io::Write::write_all(&mut f, pid.to_string().as_bytes()).io("write pid file", &tmp)?;
    // rename replaces a symlink at the final name instead of following it.
    std::fs::rename(&tmp, p).io("rename pid file", p)
}
