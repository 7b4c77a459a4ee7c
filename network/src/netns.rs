//! Running work inside another network namespace without moving the calling thread.

use std::fs::File;
use std::path::Path;

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// Runs `f` on a fresh thread that has joined the network namespace at `netns` (the caller's
/// own namespace when `None`). Netlink and firewall work must happen in the namespace that owns
/// the objects; a scoped thread keeps the caller's namespace untouched whatever `f` does, since
/// setns(CLONE_NEWNET) changes only the calling thread.
pub fn in_netns<T: Send>(netns: Option<&Path>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let Some(path) = netns else {
        return std::thread::scope(|s| s.spawn(f).join().expect("netns worker panicked"));
    };
    let file = File::open(path).map_err(|e| Error::io("open netns", path, e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::io("setns", path, e.into()))?;
            f()
        })
        .join()
        .expect("netns worker panicked")
    })
}
