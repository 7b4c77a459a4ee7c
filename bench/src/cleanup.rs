//! Verifies after every round that the runtimes left nothing behind: no state dir, no
//! container process, no cgroup.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a runtime's leftovers may take to vanish (pid 1 reaps asynchronously).
const SETTLE: Duration = Duration::from_secs(3);
/// Deep enough for `<own cgroup>/<id>` below the supervisor's nesting.
const CGROUP_DEPTH: usize = 6;

/// Looks for anything named with this run's container-id prefix.
pub struct Verifier {
    prefix: String,
    scratch: PathBuf,
    roots: Vec<PathBuf>,
    cgroup_mounts: Vec<PathBuf>,
    cover: Option<PathBuf>,
}

impl Verifier {
    /// A verifier for containers whose ids start with `prefix`, whose rootfs lies under
    /// `scratch`, and whose runtimes keep state in `roots`.
    /// `cover` is the harness's tmpfs over the cgroup2 tree, emptied by [`Verifier::reset`].
    pub fn new(
        prefix: &str,
        scratch: &Path,
        roots: Vec<PathBuf>,
        cover: Option<PathBuf>,
    ) -> Verifier {
        Verifier {
            prefix: prefix.to_owned(),
            scratch: scratch.to_owned(),
            roots,
            cgroup_mounts: cgroup_mounts(),
            cover,
        }
    }

    /// Removes every leftover (after it was reported) so the next round starts clean: kills
    /// container processes, removes state dirs and (deepest first) cgroups, and empties the
    /// tmpfs cover of the cgroup2 tree.
    pub fn reset(&self) {
        for (pid, _) in self.container_processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for root in &self.roots {
            for name in dir_names(root) {
                if name.contains(&self.prefix) {
                    let _ = std::fs::remove_dir_all(root.join(name));
                }
            }
        }
        let mut cgroups = Vec::new();
        for m in &self.cgroup_mounts {
            walk_cgroups(m, 0, &self.prefix, &mut cgroups);
        }
        // Children sort after their parents; rmdir them first. A cgroup whose tasks are
        // still dying may refuse once; the next round's check reports it again.
        cgroups.sort();
        for c in cgroups.iter().rev() {
            let _ = std::fs::remove_dir(c.trim_start_matches("cgroup "));
        }
        self.empty_cover();
    }

    /// Empties the tmpfs over the cgroup2 tree (crun writes into it; it is no cgroup).
    pub fn empty_cover(&self) {
        if let Some(cover) = &self.cover {
            for name in dir_names(cover) {
                let _ = std::fs::remove_dir_all(cover.join(name));
            }
        }
    }

    /// Every leftover found, polling up to a short deadline for dying processes and cgroups
    /// to go; empty means clean.
    pub fn leftovers(&self) -> Vec<String> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let found = self.scan();
            if found.is_empty() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn scan(&self) -> Vec<String> {
        let mut found = Vec::new();
        for root in &self.roots {
            for name in dir_names(root) {
                if name.contains(&self.prefix) {
                    found.push(format!("state dir {}", root.join(name).display()));
                }
            }
        }
        for (pid, comm) in self.container_processes() {
            found.push(format!(
                "process {pid} ({comm}) still runs in a bench rootfs"
            ));
        }
        for m in &self.cgroup_mounts {
            walk_cgroups(m, 0, &self.prefix, &mut found);
        }
        found
    }

    /// Live processes whose root directory is the bench rootfs (`<scratch>/rootfs`, the same
    /// inode seen through any bind mount or pivot_root) or lies below the scratch dir.
    fn container_processes(&self) -> Vec<(u32, String)> {
        use std::os::unix::fs::MetadataExt;
        let rootfs = std::fs::metadata(self.scratch.join("rootfs"))
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let mut out = Vec::new();
        for name in dir_names(Path::new("/proc")) {
            let Ok(pid) = name.parse::<u32>() else {
                continue;
            };
            // Zombies have no root, so only running leftovers count.
            let root = format!("/proc/{pid}/root");
            let same_inode = std::fs::metadata(&root)
                .ok()
                .is_some_and(|m| Some((m.dev(), m.ino())) == rootfs);
            let below = std::fs::read_link(&root).is_ok_and(|r| r.starts_with(&self.scratch));
            if same_inode || below {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                out.push((pid, comm));
            }
        }
        out
    }
}

fn dir_names(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn walk_cgroups(dir: &Path, depth: usize, prefix: &str, found: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().contains(prefix) {
            found.push(format!("cgroup {}", p.display()));
        } else if depth + 1 < CGROUP_DEPTH {
            walk_cgroups(&p, depth + 1, prefix, found);
        }
    }
}

/// The visible cgroup hierarchies (v1 and v2) in this mount namespace; a mount shadowed by a
/// later mount on the same point (the tmpfs over the unified tree) is left out.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut seen: Vec<(PathBuf, bool)> = Vec::new();
    for line in text.lines() {
        let mut halves = line.splitn(2, " - ");
        let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
            continue;
        };
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("");
        let point = PathBuf::from(point);
        seen.retain(|(p, _)| *p != point);
        seen.push((point, fstype == "cgroup" || fstype == "cgroup2"));
    }
    seen.into_iter()
        .filter(|(_, c)| *c)
        .map(|(p, _)| p)
        .collect()
}
