//! Where tests run: root and package checks, unique names, temp dirs, built binaries.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// True when running under CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

fn skip_or_fail(reason: &str) -> bool {
    if in_ci() {
        panic!("CI=true but {reason}: this test must run in CI");
    }
    eprintln!("\n!!! SKIPPED: {reason} (outside CI only; CI=true never skips) !!!\n");
    false
}

/// Returns true when the test may go on as root; outside CI a non-root run skips loudly.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip_or_fail(&format!("{test} needs root"))
}

/// Returns true when `cmd` is on PATH; outside CI a missing command skips loudly.
pub fn require_cmd(cmd: &str) -> bool {
    if which(cmd).is_some() {
        return true;
    }
    skip_or_fail(&format!("command `{cmd}` is not installed"))
}

/// Finds `cmd` on PATH.
pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// A name no other test in any process on this machine uses at the same time.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A binary of this workspace: `$DM_BIN_DIR/<name>` if set, else the profile dir the running
/// test executable was built into, else the target dir next to this crate. Build it first
/// (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("DM_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    // The running executable's own profile dir (`<profile>/deps/<test>` or `<profile>/<bin>`)
    // comes first: the compile-time manifest dir below is stale when a target dir was copied
    // from a clone at another path, and would run that clone's binaries.
    if let Some(p) = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .take(2)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let p = target
        .join("x86_64-unknown-linux-gnu")
        .join(profile)
        .join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace --bins` first or set DM_BIN_DIR",
        p.display()
    );
    p
}

/// A directory removed (with everything below it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under $TMPDIR (or /tmp) named after `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        let base = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let p = base.join(unique_id(prefix));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
