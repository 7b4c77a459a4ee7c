//! `Cgroup`: one container's cgroup on this host, whatever the mode, and the operations
//! dm-runc calls on it.

use crate::driver::{self, DriverKind};
use crate::error::{io, Error, Result};
use crate::host::{Hierarchy, Host, Mode};
use crate::oom::OomWatcher;
use crate::placement::{dir_in, inner_path};
use crate::stats::Stats;
use crate::sys::{self, CgroupFs, HostFs};
use crate::v1::{self, V1Dir};
use crate::validate::{self, Driver};
use crate::{v2, write};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A container's cgroup(s) on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    /// The host's mode when the cgroup was resolved.
    pub mode: Mode,
    /// The container's directory in each mounted v1 hierarchy (empty on unified hosts).
    pub v1: Vec<V1Dir>,
    /// The container's directory in the cgroup2 hierarchy (the only one on unified hosts; on
    /// hybrid hosts the one in e.g. /sys/fs/cgroup/unified).
    pub v2: Option<PathBuf>,
    /// Where the cgroup2 hierarchy is mounted.
    pub v2_mountpoint: Option<PathBuf>,
    /// Directories `create` made, parents before children.
    pub created: Vec<PathBuf>,
    /// The driver that makes and removes it (cgroupfs in state files written before drivers).
    #[serde(default)]
    pub driver: DriverKind,
}

/// The name [`Cgroup::hierarchies`] gives the cgroup2 hierarchy.
pub const V2_MARKER: &str = "";

impl Cgroup {
    /// Resolves `linux.cgroupsPath` (absolute, relative or empty) for container `id` against
    /// this host (reads /proc/self/mountinfo and /proc/self/cgroup; creates nothing).
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let inner = inner_path(cgroups_path, id)?;
        Ok(Cgroup::resolve(&Host::detect()?, &inner))
    }

    /// As [`Cgroup::new`] for a given host picture (tests, or a caller that detected once).
    pub fn with_host(host: &Host, cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        Ok(Cgroup::resolve(host, &inner_path(cgroups_path, id)?))
    }

    /// The cgroup process `pid` is in now, whoever placed it there (a shim reading the stats of
    /// a container any runtime made). Nothing in it counts as created.
    pub fn of_pid(pid: i32) -> Result<Cgroup> {
        let mi_path = Path::new("/proc/self/mountinfo");
        let mi = sys::read_to_string(mi_path).map_err(|e| io(mi_path, e))?;
        let cg_path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let cg = sys::read_to_string(&cg_path).map_err(|e| io(&cg_path, e))?;
        Ok(Cgroup::of_host_picture(&Host::parse(&mi, &cg)?))
    }

    /// The directories a host picture's hierarchies name as their own.
    fn of_host_picture(host: &Host) -> Cgroup {
        Cgroup::with_dirs(host, Hierarchy::own_dir)
    }

    fn resolve(host: &Host, inner: &crate::placement::Inner) -> Cgroup {
        Cgroup::with_dirs(host, |h| dir_in(h, inner))
    }

    /// A cgroup whose directory in each of `host`'s hierarchies is `dir(hierarchy)`.
    pub(crate) fn with_dirs(host: &Host, dir: impl Fn(&Hierarchy) -> PathBuf) -> Cgroup {
        Cgroup {
            mode: host.mode,
            v1: host
                .v1
                .iter()
                .map(|h| V1Dir {
                    controllers: h.controllers.clone(),
                    mountpoint: h.mountpoint.clone(),
                    dir: dir(h),
                })
                .collect(),
            v2: host.v2.as_ref().map(&dir),
            v2_mountpoint: host.v2.as_ref().map(|h| h.mountpoint.clone()),
            created: Vec::new(),
            driver: DriverKind::Cgroupfs,
        }
    }

    /// Every container directory with its hierarchy's mountpoint.
    fn all_dirs(&self) -> Vec<(&Path, &Path)> {
        self.dirs_where(|_| true)
    }

    /// The container directories (with mountpoints) of the hierarchies whose controllers
    /// (empty for cgroup2) satisfy `pick`.
    pub(crate) fn dirs_where(&self, pick: impl Fn(&[String]) -> bool) -> Vec<(&Path, &Path)> {
        let mut v: Vec<(&Path, &Path)> = self
            .v1
            .iter()
            .filter(|d| pick(&d.controllers))
            .map(|d| (d.mountpoint.as_path(), d.dir.as_path()))
            .collect();
        if let (Some(d), Some(mp)) = (&self.v2, &self.v2_mountpoint) {
            if pick(&[]) {
                v.push((mp.as_path(), d.as_path()));
            }
        }
        v
    }

    /// Makes what the driver needs before the init exists (cgroupfs: every directory;
    /// systemd: those of the hierarchies systemd leaves alone), remembering what it made.
    pub fn create(&mut self) -> Result<()> {
        let kind = self.driver.clone();
        let res = driver::of(&kind).create(self);
        res
    }

    /// Makes the directories of the hierarchies whose controllers satisfy `pick`, remembering
    /// which ones it made. v1 cpuset directories get their parent's cpus and mems (an empty
    /// cpuset cannot take tasks); on unified hosts the available controllers are enabled down
    /// to the new directory.
    pub(crate) fn make_dirs_where(&mut self, pick: impl Fn(&[String]) -> bool) -> Result<()> {
        let mut made = Vec::new();
        let res = self.make_dirs(&mut made, pick);
        self.created.extend(made.iter().cloned());
        if let Err(e) = res {
            let _ = self.remove(&made);
            self.created.retain(|p| !made.contains(p));
            return Err(e);
        }
        Ok(())
    }

    fn make_dirs(&self, made: &mut Vec<PathBuf>, pick: impl Fn(&[String]) -> bool) -> Result<()> {
        let targets: Vec<(PathBuf, PathBuf)> = self
            .dirs_where(&pick)
            .into_iter()
            .map(|(m, d)| (m.to_path_buf(), d.to_path_buf()))
            .collect();
        for (mount, dir) in targets {
            let rel = dir.strip_prefix(&mount).unwrap_or(Path::new(""));
            let mut cur = mount.clone();
            for c in rel.components() {
                let parent = cur.clone();
                cur.push(c);
                if sys::is_dir(&cur) {
                    continue;
                }
                if self.mode == Mode::Unified {
                    enable_controllers(&parent);
                }
                match sys::mkdir(&cur) {
                    Ok(()) => made.push(cur.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(&cur, e)),
                }
            }
        }
        let cpuset = self
            .v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == "cpuset"));
        if let Some(c) = cpuset.filter(|c| pick(&c.controllers)) {
            // Every still-empty directory from the mount down, parents first: a parent another
            // runtime process made a moment ago for a sibling may not have its cpus yet (only
            // empty cpusets are written, and an empty one cannot hold a task).
            let rel = c.dir.strip_prefix(&c.mountpoint).unwrap_or(Path::new(""));
            let mut cur = c.mountpoint.clone();
            for part in rel.components() {
                cur.push(part);
                init_cpuset(&cur)?;
            }
        }
        Ok(())
    }

    /// Puts the just-cloned init `pid` into the cgroup (cgroupfs: writes it everywhere unless
    /// it was cloned in; systemd: starts the scope unit with it, telling systemd `res`).
    pub fn place_init(&self, pid: i32, res: Option<&LinuxResources>) -> Result<()> {
        driver::of(&self.driver).place_init(self, pid, res)
    }

    /// Moves `pid` into the container's cgroup in every hierarchy (`exec` joining it).
    pub fn add_task(&self, pid: i32) -> Result<()> {
        for (_, d) in self.all_dirs() {
            let f = d.join("cgroup.procs");
            HostFs.write(&f, &pid.to_string()).map_err(|e| io(f, e))?;
        }
        Ok(())
    }

    /// The same placement with no directories: every operation becomes a no-op. For rootless
    /// containers whose caller may not write the cgroup tree (runc skips cgroups there too).
    pub fn without_dirs(&self) -> Cgroup {
        Cgroup {
            v1: Vec::new(),
            v2: None,
            created: Vec::new(),
            driver: DriverKind::Cgroupfs,
            ..self.clone()
        }
    }

    /// The cgroup2 directory to clone the init into (CLONE_INTO_CGROUP), on unified hosts.
    pub fn clone_into_dir(&self) -> Option<PathBuf> {
        driver::of(&self.driver).clone_into_dir(self)
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        if self.mode == Mode::Unified {
            return self.v2.as_deref();
        }
        ["pids", "freezer", "devices", "memory"]
            .iter()
            .find_map(|c| v1::dir(&self.v1, c))
            .or_else(|| self.v1.first().map(|d| d.dir.as_path()))
            .or(self.v2.as_deref())
    }

    /// Every pid in the container's cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(d) = self.procs_dir() {
            collect_pids(d, &mut out)?;
        }
        Ok(out)
    }

    /// Removes what `create` made (and, with systemd, stops the scope), deepest first,
    /// retrying while the kernel reports a directory busy. Directories it did not make are
    /// never touched.
    pub fn destroy(&self) -> Result<()> {
        driver::of(&self.driver).destroy(self)
    }

    /// Removes the directories `create` made.
    pub(crate) fn remove_created(&self) -> Result<()> {
        self.remove(&self.created)
    }

    /// Removes `dirs` deepest first. The container's own directories must go (retrying while
    /// the kernel still reports them busy); parents `create` made along the way are removed
    /// only if nothing else uses them by now: a sibling container (a pod, or containerd's
    /// `/<namespace>`) may have moved in since.
    fn remove(&self, dirs: &[PathBuf]) -> Result<()> {
        let mut sorted: Vec<&PathBuf> = dirs.iter().collect();
        sorted.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        let leaves: Vec<&Path> = self
            .v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.v2.as_deref())
            .collect();
        let mut first_err = None;
        for d in sorted {
            if leaves.contains(&d.as_path()) {
                if let Err(e) = sys::rmdir_retry(d) {
                    first_err.get_or_insert(io(d, e));
                }
            } else {
                match std::fs::remove_dir(d) {
                    Err(e)
                        if !matches!(
                            e.raw_os_error(),
                            Some(libc::EBUSY) | Some(libc::ENOTEMPTY) | Some(libc::ENOENT)
                        ) =>
                    {
                        first_err.get_or_insert(io(d, e));
                    }
                    _ => {}
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn layout(&self) -> Driver {
        if self.mode == Mode::Unified {
            Driver::V2
        } else {
            Driver::V1
        }
    }

    /// Checks the values in `res` without a cgroup or host: ranges, formats and names, the
    /// rules both drivers share. Errors name the field. Nothing is read or written.
    pub fn validate(res: &LinuxResources) -> Result<()> {
        validate::validate(res, None, None)
    }

    /// Checks `res` fully for this cgroup without writing anything: [`Cgroup::validate`] plus
    /// what the driver supports (v1: mounted controllers, no `unified`; v2: the directory's
    /// enabled controllers, no realtime/net_cls/leaf weights).
    pub fn check(&self, res: &LinuxResources) -> Result<()> {
        let ctrls: Vec<String> = self.v1.iter().flat_map(|d| d.controllers.clone()).collect();
        match self.layout() {
            Driver::V1 => validate::validate(res, Some(Driver::V1), Some(&ctrls)),
            Driver::V2 => {
                let avail = self
                    .v2
                    .as_deref()
                    .and_then(|d| write::get(&HostFs, d, "cgroup.controllers").ok());
                let avail: Option<Vec<String>> =
                    avail.map(|s| s.split_whitespace().map(str::to_string).collect());
                validate::validate(res, Some(Driver::V2), avail.as_deref())
            }
        }
    }

    /// Checks `res` ([`Cgroup::check`]), then sets it through the driver (systemd: unit
    /// properties, then the files): at create time and for `update`.
    pub fn apply(&self, res: &LinuxResources) -> Result<()> {
        driver::of(&self.driver).apply(self, res)
    }

    /// Writes `res` (already checked) to the cgroup files.
    pub(crate) fn write_resources(&self, res: &LinuxResources) -> Result<()> {
        match self.layout() {
            Driver::V2 => {
                let d = self.v2_dir()?;
                v2::precheck(&HostFs, d, res)?;
                v2::apply(&HostFs, d, res, true)
            }
            Driver::V1 => {
                v1::precheck(&HostFs, &self.v1, res)?;
                v1::apply(&HostFs, &self.v1, res)
            }
        }
    }

    fn v2_dir(&self) -> Result<&Path> {
        self.v2
            .as_deref()
            .ok_or_else(|| Error::Unsupported("no cgroup2 hierarchy is mounted".into()))
    }

    fn freezer(&self) -> Result<Freezer<'_>> {
        if self.mode != Mode::Unified {
            if let Some(d) = v1::dir(&self.v1, "freezer") {
                return Ok(Freezer::V1(d));
            }
        }
        match &self.v2 {
            Some(d) => Ok(Freezer::V2(d)),
            None => Err(Error::Unsupported(
                "the freezer cgroup controller is not mounted".into(),
            )),
        }
    }

    /// Freezes every process and returns once the kernel reports them frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(d) => v1::freeze(&HostFs, d),
            Freezer::V2(d) => v2::freeze(&HostFs, d),
        }
    }

    /// Thaws every process.
    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Freezer::V1(d) => v1::thaw(&HostFs, d),
            Freezer::V2(d) => v2::thaw(&HostFs, d),
        }
    }

    /// True when the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        match self.freezer()? {
            Freezer::V1(d) => Ok(v1::freezer_state(&HostFs, d)? == "FROZEN"),
            Freezer::V2(d) => v2::is_frozen(&HostFs, d),
        }
    }

    /// Sends `signal` to every process in the cgroup. SIGKILL goes through cgroup.kill where
    /// the kernel has it; otherwise the cgroup is frozen, every pid signalled, then thawed (a
    /// cgroup that was already frozen stays frozen unless the signal is SIGKILL).
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL {
            if let Some(d) = &self.v2 {
                if v2::kill(&HostFs, d)? {
                    // Tasks frozen by the v1 freezer only die once thawed.
                    if self.freezer().is_ok() && self.is_frozen()? {
                        self.thaw()?;
                    }
                    return Ok(());
                }
            }
        }
        let freezer = self.freezer().ok();
        let was_frozen = freezer.is_some() && self.is_frozen()?;
        if freezer.is_some() && !was_frozen {
            self.freeze()?;
        }
        let mut res = Ok(());
        for pid in self.pids()? {
            if let Err(e) = sys::kill(pid, signal) {
                res = Err(io(format!("/proc/{pid}"), e));
            }
        }
        if freezer.is_some() && (!was_frozen || signal == libc::SIGKILL) {
            self.thaw()?;
        }
        res
    }

    /// Statistics in runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats> {
        Ok(match self.layout() {
            Driver::V2 => v2::stats(&HostFs, self.v2_dir()?),
            Driver::V1 => v1::stats(&HostFs, &self.v1),
        })
    }

    /// A watcher for OOM kills in the container (see [`OomWatcher`]).
    pub fn oom_watcher(&self) -> Result<OomWatcher> {
        match self.layout() {
            Driver::V2 => OomWatcher::v2(self.v2_dir()?),
            Driver::V1 => match v1::dir(&self.v1, "memory") {
                Some(d) => OomWatcher::v1(d),
                None => Err(Error::Unsupported(
                    "the memory cgroup controller is not mounted".into(),
                )),
            },
        }
    }

    /// The cgroup filesystems to mount in the container's /sys/fs/cgroup: each hierarchy's
    /// mount name (the host mountpoint's last component: `cpu`, `memory`, `systemd`,
    /// `cpu,cpuacct`; [`V2_MARKER`] for the cgroup2 hierarchy) with the host directory of the
    /// container's cgroup in it. A unified host yields one entry, the marker.
    pub fn hierarchies(&self) -> Vec<(String, PathBuf)> {
        let mut v: Vec<(String, PathBuf)> = self
            .v1
            .iter()
            .map(|d| (base(&d.mountpoint), d.dir.clone()))
            .collect();
        if let Some(d) = &self.v2 {
            v.push((V2_MARKER.to_string(), d.clone()));
        }
        v
    }
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn base(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Turns on, in `dir`'s cgroup.subtree_control, every controller `dir` has. Failures are left
/// for `apply` to report with the field that needed the controller: a cgroup holding
/// processes cannot delegate (no internal processes), which is the caller's layout to fix.
fn enable_controllers(dir: &Path) {
    let Ok(ctrls) = write::get(&HostFs, dir, "cgroup.controllers") else {
        return;
    };
    let want: Vec<String> = ctrls.split_whitespace().map(|c| format!("+{c}")).collect();
    if !want.is_empty() {
        let _ = HostFs.write(&dir.join("cgroup.subtree_control"), &want.join(" "));
    }
}

/// Gives an empty v1 cpuset directory its parent's cpus and mems.
fn init_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let cur = write::get(&HostFs, dir, file)?;
        if cur.is_empty() {
            let v = write::get(&HostFs, parent, file)?;
            write::put(&HostFs, dir, file, &v, file)?;
        }
    }
    Ok(())
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match HostFs.read(&procs) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(procs, e)),
    }
    for name in HostFs.names(dir).map_err(|e| io(dir, e))? {
        let p = dir.join(&name);
        if sys::is_dir(&p) {
            collect_pids(&p, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_cgroup_is_its_own_directory_in_every_hierarchy() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let pid_cg = "4:memory:/k8s.io/pod/c1\n1:cpu:/k8s.io/pod/c1\n0::/k8s.io/pod/c1\n";
        let cg = Cgroup::of_host_picture(&Host::parse(mi, pid_cg).unwrap());
        assert_eq!(cg.mode, Mode::Hybrid);
        let dirs: Vec<&Path> = cg.v1.iter().map(|d| d.dir.as_path()).collect();
        assert_eq!(
            dirs,
            [
                Path::new("/sys/fs/cgroup/memory/k8s.io/pod/c1"),
                Path::new("/sys/fs/cgroup/cpu/k8s.io/pod/c1")
            ]
        );
        assert_eq!(
            cg.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/k8s.io/pod/c1"))
        );
        assert!(cg.created.is_empty(), "nothing of it is ours to remove");
    }
}
