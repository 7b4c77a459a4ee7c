//! Leaves nothing behind: processes by pid, cgroups a test namespace made, mounts, state dirs.
//!
//! Everything here is best effort: it runs from Drop, often after a failed assertion.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Parents of per-namespace runtime state roots that shims make (`<parent>/<namespace>`).
const RUNTIME_ROOT_PARENTS: &[&str] = &["/run/containerd/runc", "/run/containerd/dockermind"];

/// SIGTERM, then SIGKILL after `grace`, then reap.
pub fn terminate(mut child: Child, grace: Duration) {
    signal(child.id() as i32, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid we identified; a stale pid only yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Pids whose command line has `-address <address>` (shims serving that containerd).
pub fn shims_of(address: &Path) -> Vec<i32> {
    let want = address.as_os_str().as_encoded_bytes();
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let hit = args
            .windows(2)
            .any(|w| (w[0] == b"-address" || w[0] == b"--address") && w[1] == want);
        if hit
            && args
                .first()
                .is_some_and(|a| a.windows(4).any(|x| x == b"shim"))
        {
            pids.push(pid);
        }
    }
    pids
}

/// SIGKILLs every shim serving `address` (a containerd's, or a dockermindd's shim address) and
/// removes the sockets they served in /run/containerd/s, which a killed shim cannot remove itself.
pub fn kill_shims_of(address: &Path) {
    for pid in shims_of(address) {
        let sockets = bound_sockets(pid);
        signal(pid, libc::SIGKILL);
        for s in sockets {
            let _ = std::fs::remove_file(s);
        }
    }
}

/// The paths of the unix sockets process `pid` holds, from its fds and /proc/net/unix.
pub fn bound_sockets(pid: i32) -> Vec<PathBuf> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    // The shim's own view: a shim started by a daemon in a test-made netns lists its sockets
    // only there. Lines: Num RefCount Protocol Flags Type St Inode [Path]
    std::fs::read_to_string(format!("/proc/{pid}/net/unix"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f.get(7).filter(|p| p.starts_with('/'))?;
            inodes
                .contains(&f[6].to_string())
                .then(|| PathBuf::from(path))
        })
        .collect()
}

/// Kills what still runs in the cgroups `/<ns>/...` (ctr's default cgroupsPath), removes those
/// cgroups and the runtimes' state roots for `ns`.
pub fn remove_namespace_leftovers(ns: &str) {
    remove_top_cgroups(ns);
    for parent in RUNTIME_ROOT_PARENTS {
        let _ = std::fs::remove_dir_all(Path::new(parent).join(ns));
    }
}

/// `/<name>` in every hierarchy where it exists.
fn top_cgroups(name: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path().join(name))
        .filter(|p| p.is_dir())
        .collect()
}

/// Removes the empty cgroups at and below `/<name>` in every hierarchy, deepest first; busy
/// ones stay. For a parent that tests share and none of them can own alone (CRI's `k8s.io`).
pub fn remove_empty_top_cgroups(name: &str) {
    for top in top_cgroups(name) {
        let mut dirs = subtree(&top);
        dirs.reverse();
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Kills what still runs in `/<name>` and below in every hierarchy and removes those cgroups,
/// deepest first. Only for a `name` the test made (unique per test).
pub fn remove_top_cgroups(name: &str) {
    let tops = top_cgroups(name);
    if !tops.is_empty() {
        for top in &tops {
            for dir in subtree(top) {
                let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
                let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids: Vec<i32> = tops
                .iter()
                .flat_map(|t| subtree(t))
                .flat_map(|d| read_pids(&d.join("cgroup.procs")))
                .collect();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            pids.iter().for_each(|p| signal(*p, libc::SIGKILL));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    remove_empty_top_cgroups(name);
}

/// `top` and every directory below it, parents before children.
fn subtree(top: &Path) -> Vec<PathBuf> {
    let mut out = vec![top.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

fn read_pids(p: &Path) -> Vec<i32> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Lazily unmounts every mount point at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    points.dedup();
    for m in points {
        let Ok(c) = std::ffi::CString::new(m) else {
            continue;
        };
        // SAFETY: c is a valid NUL-terminated path; umount2 does not keep the pointer.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Undoes mountinfo's octal escapes (`\040` for space and the like).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
