//! What the host offers: its cgroup mounts (from mountinfo), the caller's own cgroup in each
//! hierarchy (from /proc/self/cgroup), and the resulting mode.

use crate::error::{io, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// cgroup2 only (mounted at /sys/fs/cgroup on usual hosts).
    Unified,
    /// v1 controllers plus a cgroup2 mount without them (e.g. /sys/fs/cgroup/unified).
    Hybrid,
    /// v1 controllers only.
    Legacy,
}

/// One cgroup hierarchy as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 controllers as /proc/self/cgroup lists them (`cpu`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted.
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy (mountinfo field 4), usually `/`.
    pub mount_root: PathBuf,
    /// The caller's own cgroup in this hierarchy, relative to the hierarchy's root.
    pub own: PathBuf,
}

impl Hierarchy {
    /// True for the cgroup2 hierarchy.
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The directory of the caller's own cgroup under the mountpoint.
    pub fn own_dir(&self) -> PathBuf {
        let rel = self.own.strip_prefix(&self.mount_root).unwrap_or(&self.own);
        join_rel(&self.mountpoint, rel)
    }
}

/// The host's cgroup hierarchies and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The detected mode.
    pub mode: Mode,
    /// Mounted v1 hierarchies, in /proc/self/cgroup order.
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 hierarchy, when mounted.
    pub v2: Option<Hierarchy>,
}

impl Host {
    /// Reads /proc/self/mountinfo and /proc/self/cgroup.
    pub fn detect() -> Result<Host> {
        let mi = crate::sys::read_to_string(Path::new("/proc/self/mountinfo"))
            .map_err(|e| io("/proc/self/mountinfo", e))?;
        let cg = crate::sys::read_to_string(Path::new("/proc/self/cgroup"))
            .map_err(|e| io("/proc/self/cgroup", e))?;
        Host::parse(&mi, &cg)
    }

    /// Builds the picture from the text of a mountinfo and a /proc/<pid>/cgroup file.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Result<Host> {
        let mounts = visible_cgroup_mounts(mountinfo);
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let own = PathBuf::from(path);
            if ctrls.is_empty() {
                if let Some(m) = mounts.iter().find(|m| m.v2) {
                    v2 = Some(Hierarchy {
                        controllers: vec![],
                        mountpoint: m.mountpoint.clone(),
                        mount_root: m.root.clone(),
                        own,
                    });
                }
                continue;
            }
            let controllers: Vec<String> = ctrls.split(',').map(str::to_string).collect();
            let found = mounts
                .iter()
                .find(|m| !m.v2 && controllers.iter().all(|c| m.options.iter().any(|o| o == c)));
            if let Some(m) = found {
                v1.push(Hierarchy {
                    controllers,
                    mountpoint: m.mountpoint.clone(),
                    mount_root: m.root.clone(),
                    own,
                });
            }
        }
        let real_v1 = v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        let mode = match (real_v1, v2.is_some()) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::Legacy,
            (false, true) => Mode::Unified,
            (false, false) => {
                return Err(Error::Unsupported(
                    "no cgroup filesystem is mounted (checked /proc/self/mountinfo)".into(),
                ))
            }
        };
        if mode == Mode::Unified {
            v1.clear();
        }
        Ok(Host { mode, v1, v2 })
    }
}

/// `base` joined with `rel` taken as relative even when it starts with `/`.
pub(crate) fn join_rel(base: &Path, rel: &Path) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in rel.components() {
        if let std::path::Component::Normal(n) = c {
            p.push(n);
        }
    }
    p
}

struct MountLine {
    root: PathBuf,
    mountpoint: PathBuf,
    v2: bool,
    options: Vec<String>,
}

/// cgroup mounts not hidden by a later mount on the same point or above it (e.g. a tmpfs over
/// /sys/fs/cgroup/unified gives a pure v1 view, as benchmarks of crun need).
fn visible_cgroup_mounts(mountinfo: &str) -> Vec<MountLine> {
    let points: Vec<PathBuf> = mountinfo
        .lines()
        .map(|l| PathBuf::from(unescape(l.split(' ').nth(4).unwrap_or(""))))
        .collect();
    let mut out = Vec::new();
    for (i, line) in mountinfo.lines().enumerate() {
        let Some(m) = MountLine::parse(line) else {
            continue;
        };
        let hidden = points[i + 1..].iter().any(|p| m.mountpoint.starts_with(p));
        if !hidden {
            out.push(m);
        }
    }
    out
}

impl MountLine {
    fn parse(line: &str) -> Option<MountLine> {
        let (pre, post) = line.split_once(" - ")?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let fstype = *post.first()?;
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => return None,
        };
        Some(MountLine {
            root: PathBuf::from(unescape(pre.get(3)?)),
            mountpoint: PathBuf::from(unescape(pre.get(4)?)),
            v2,
            options: post
                .get(2)
                .map(|o| o.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MI: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CG: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn a_mount_over_the_cgroup2_point_hides_it() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
32 30 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
90 32 0:99 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n";
        let h = Host::parse(mi, "1:memory:/\n0::/\n").unwrap();
        assert_eq!(h.mode, Mode::Legacy);
        let without_cover: String = mi.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            Host::parse(&without_cover, "1:memory:/\n0::/\n")
                .unwrap()
                .mode,
            Mode::Hybrid
        );
    }

    #[test]
    fn hybrid_host_is_detected_with_own_paths() {
        let h = Host::parse(HYBRID_MI, HYBRID_CG).unwrap();
        assert_eq!(h.mode, Mode::Hybrid);
        assert_eq!(h.v1.len(), 3);
        let mem = h.v1.iter().find(|x| x.controllers == ["memory"]).unwrap();
        assert_eq!(
            mem.own_dir(),
            Path::new("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            h.v2.unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn unified_and_legacy_hosts_are_detected() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Host::parse(mi, "0::/user.slice/x.scope\n").unwrap();
        assert_eq!(h.mode, Mode::Unified);
        assert_eq!(
            h.v2.unwrap().own_dir(),
            Path::new("/sys/fs/cgroup/user.slice/x.scope")
        );
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let h = Host::parse(mi, "2:cpu,cpuacct:/a\n").unwrap();
        assert_eq!(h.mode, Mode::Legacy);
        assert_eq!(h.v1[0].own_dir(), Path::new("/sys/fs/cgroup/cpu,cpuacct/a"));
        assert!(Host::parse("", "").is_err());
    }

    #[test]
    fn escaped_mountpoints_and_nonroot_mounts() {
        let mi = "41 31 0:38 /ctr /mnt/c\\040g rw - cgroup2 cgroup2 rw\n";
        let h = Host::parse(mi, "0::/ctr/sub\n").unwrap();
        assert_eq!(h.v2.unwrap().own_dir(), Path::new("/mnt/c g/sub"));
    }
}
