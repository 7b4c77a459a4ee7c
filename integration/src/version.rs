//! Which containerd a test runs: Debian 12's 1.6 (the system one) or Debian 13's 1.7, which
//! `scripts/trixie.sh` unpacks into a private directory next to it.

use std::path::PathBuf;

/// Environment variable choosing the containerd of [`ContainerdVersion::from_env`]: `1.6`
/// (default) or `1.7`.
pub const VERSION_ENV: &str = "DM_CONTAINERD";

/// A containerd release the harness can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerdVersion {
    /// The system's containerd (Debian 12: 1.6.20), found on PATH.
    V1_6,
    /// Debian 13's containerd 1.7 from [`trixie_bin_dir`].
    V1_7,
}

/// Where `scripts/trixie.sh` puts containerd 1.7's binaries (`$DM_TRIXIE_DIR` overrides the
/// cache root, as in the script).
pub fn trixie_bin_dir() -> PathBuf {
    let root = std::env::var_os("DM_TRIXIE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/dockermind/trixie"));
    root.join("containerd/usr/bin")
}

impl ContainerdVersion {
    /// The version `DM_CONTAINERD` names; 1.6 when unset. Panics on any other value, naming
    /// the variable, so a typo cannot silently test the wrong containerd.
    pub fn from_env() -> ContainerdVersion {
        match std::env::var(VERSION_ENV).as_deref() {
            Err(_) | Ok("") | Ok("1.6") => ContainerdVersion::V1_6,
            Ok("1.7") => ContainerdVersion::V1_7,
            Ok(other) => panic!("{VERSION_ENV}={other:?}: expected 1.6 or 1.7"),
        }
    }

    /// Directory holding this version's containerd, ctr and containerd-shim-runc-v2; `None`
    /// for the system's (found on PATH).
    pub fn bin_dir(self) -> Option<PathBuf> {
        match self {
            ContainerdVersion::V1_6 => None,
            ContainerdVersion::V1_7 => Some(trixie_bin_dir()),
        }
    }

    /// Path (or PATH-relative name) of one of this version's binaries.
    pub fn bin(self, name: &str) -> PathBuf {
        match self.bin_dir() {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Whether this version's containerd and ctr are installed.
    pub fn installed(self) -> bool {
        match self.bin_dir() {
            Some(d) => d.join("containerd").is_file() && d.join("ctr").is_file(),
            None => dm_testkit::which("containerd").is_some() && dm_testkit::which("ctr").is_some(),
        }
    }

    /// True if a test may use this version: installed, or else skipped loudly outside CI
    /// (under `CI=true` a missing 1.7 fails the test: `scripts/deps.sh` installs it).
    pub fn require(self, test: &str) -> bool {
        if self.installed() {
            return true;
        }
        let why =
            format!("{test}: containerd {self} is not installed (scripts/deps.sh unpacks 1.7)");
        assert!(
            !dm_testkit::in_ci(),
            "CI=true but {why}: this test must run in CI"
        );
        eprintln!("\n!!! SKIPPED: {why} (outside CI only; CI=true never skips) !!!\n");
        false
    }
}

impl std::fmt::Display for ContainerdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContainerdVersion::V1_6 => "1.6",
            ContainerdVersion::V1_7 => "1.7",
        })
    }
}
