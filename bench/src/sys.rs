//! The harness's own system calls: the private mount namespace and wait4 with rusage.

use crate::error::{BenchError, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::Path;

/// Where the hybrid host mounts its (controller-less) cgroup2 tree.
pub const UNIFIED: &str = "/sys/fs/cgroup/unified";

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// What the runtimes see of the cgroup hierarchy inside the harness's mount namespace.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CgroupView {
    /// The host's mode: "v1 (hybrid)", "v1" or "v2 (unified)".
    pub host: String,
    /// What the runtimes see, in words.
    pub runtimes_see: String,
    /// The tmpfs the harness mounted over the cgroup2 tree, if any.
    pub cover: Option<std::path::PathBuf>,
}

fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Moves the (still single-threaded) harness into a private mount namespace (so its own
/// mounts stay private) and, on a hybrid host, covers the cgroup2 mount with an empty tmpfs so
/// every runtime sees pure cgroup v1. The host's mounts are unchanged: / becomes a slave, so
/// nothing propagates back.
pub fn enter_v1_view() -> Result<CgroupView> {
    // unshare(CLONE_NEWNS) implies CLONE_FS, which the kernel refuses in a threaded process;
    // main calls this before any thread exists.
    unshare(CloneFlags::CLONE_NEWNS).map_err(BenchError::sys("unshare(CLONE_NEWNS)"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(BenchError::sys("mount --make-rslave /"))?;
    let root = Path::new("/sys/fs/cgroup");
    if is_cgroup2(root) {
        return Ok(CgroupView {
            host: "v2 (unified)".into(),
            runtimes_see: "the host's cgroup v2 tree".into(),
            cover: None,
        });
    }
    if !is_cgroup2(Path::new(UNIFIED)) {
        return Ok(CgroupView {
            host: "v1".into(),
            runtimes_see: "the host's cgroup v1 hierarchies".into(),
            cover: None,
        });
    }
    mount(
        Some("tmpfs"),
        UNIFIED,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        // Writable: crun 1.8 still mkdirs `<unified>/<id>` and writes a cgroup.procs file there
        // (and fails on a read-only cover); the harness empties it after every round.
        Some("mode=0755,size=16m"),
    )
    .map_err(BenchError::sys(format!("mount tmpfs on {UNIFIED}")))?;
    Ok(CgroupView {
        host: "v1 (hybrid: v1 controllers + cgroup2 at /sys/fs/cgroup/unified)".into(),
        runtimes_see: "pure v1: every runtime runs in one private mount namespace where an \
                       empty tmpfs covers /sys/fs/cgroup/unified (host mounts unchanged; \
                       what crun writes into that tmpfs is wiped after every round)"
            .into(),
        cover: Some(UNIFIED.into()),
    })
}

/// Mounts a fresh tmpfs on `dir` (in the harness's private mount namespace): runtime state
/// lives on tmpfs in production (/run), where fsync and rename cost what they cost there.
pub fn mount_tmpfs(dir: &Path) -> Result<()> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0711,size=64m"),
    )
    .map_err(BenchError::sys(format!("mount tmpfs on {}", dir.display())))
}

/// Detaches whatever is mounted on `dir`; a directory with no mount on it is left as is.
pub fn unmount(dir: &Path) {
    let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
}

/// How a reaped child ended and its peak resident set.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// Exit code, or 128+signal.
    pub code: i32,
    /// ru_maxrss in KiB: the child's peak RSS (or of a descendant it reaped, if larger).
    pub maxrss_kib: u64,
}

/// Waits for `pid` with wait4 and returns its status and rusage peak RSS.
pub fn wait4(pid: u32) -> Result<Reaped> {
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are valid for writes; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r >= 0 {
            break;
        }
        let e = nix::errno::Errno::last();
        if e != nix::errno::Errno::EINTR {
            return Err(BenchError::Sys {
                call: format!("wait4({pid})"),
                source: e,
            });
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok(Reaped {
        code,
        maxrss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

/// CPU time (user + system) `pid` has used so far, in milliseconds.
pub fn cpu_ms(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(BenchError::io(&path))?;
    // Fields after the parenthesised command name (which may hold spaces): state is the
    // first, utime and stime the 12th and 13th.
    let ticks: Option<u64> = text.rsplit_once(')').and_then(|(_, rest)| {
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
    });
    let ticks = ticks.ok_or_else(|| BenchError::Input {
        what: path.clone(),
        why: "no utime/stime fields".into(),
    })?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    Ok(ticks as f64 * 1000.0 / hz as f64)
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}
