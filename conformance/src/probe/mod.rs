//! In-container verification: runs one [`Probe`] and says how it came out.

mod kernel;
pub use kernel::inode_of_link;
mod mountinfo;
mod mounts;
mod nodes;
mod process;

use crate::case::Outcome;
use crate::plan::Probe;

/// Verifies `probe` from inside the container.
pub fn verify(probe: &Probe) -> Outcome {
    use Probe::*;
    match probe {
        Args(_) | Env(..) | Cwd(_) | Uid(_) | Gid(_) | Group(_) | Umask(_) | Rlimit(..)
        | Caps(..) | NoNewPrivs(_) | OomScoreAdj(_) => process::verify(probe),
        RootReadonly(_) | MountPresent(_) | MountType(..) | MountSource(..) | MountOption(..)
        | MountOrder(_) | Masked(_) | ReadonlyPath(_) => mounts::verify(probe),
        DevType(..) | DevNum(..) | DevMode(..) | DevOwner(..) | DevAccess(..) | Symlink(..)
        | Ptmx | IsTty(_) | Console | ControllingTty => nodes::verify(probe),
        Skip(why) => Outcome::Skip(why.clone()),
        _ => kernel::verify(probe),
    }
}

/// The value of `key:` in /proc/self/status.
fn status_field(key: &str) -> Result<String, String> {
    let text = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| format!("no {key} in /proc/self/status"))
}

/// Turns a Result into an Outcome: Err is a failure with its message.
fn outcome(r: Result<Outcome, String>) -> Outcome {
    r.unwrap_or_else(Outcome::Fail)
}
