//! Disk usage of a directory tree, counted like `du`: allocated blocks, each inode once.

use crate::info::Usage;
use crate::{Error, Result};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Usage of everything below `dir` (the directory itself included), not following symlinks.
pub fn disk_usage(dir: &Path) -> Result<Usage> {
    let mut seen = HashSet::new();
    let mut usage = Usage::default();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).map_err(Error::io("stat", &p))?;
        if seen.insert((md.dev(), md.ino())) {
            usage.inodes += 1;
            usage.size += md.blocks() as i64 * 512;
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p).map_err(Error::io("read dir", &p))? {
                stack.push(e.map_err(Error::io("read dir", &p))?.path());
            }
        }
    }
    Ok(usage)
}
