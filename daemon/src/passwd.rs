//! A container's `User` as uid and gid, read from its own /etc/passwd and /etc/group (for
//! `docker cp -a`, which gives copied files to that user), through the container root's
//! directory fd; the lookup itself is dm-build's, which USER and --chown use.

use crate::ctrfs::open_in;
use crate::error::{ApiError, ApiResult};
use dm_build::users::{resolve_in, Missing};
use nix::fcntl::OFlag;
use std::io::Read;
use std::os::fd::OwnedFd;

/// The file's text (empty when the file is missing), at most 4 MiB.
fn read(root: &OwnedFd, path: &str) -> String {
    let mut text = String::new();
    if let Ok(fd) = open_in(root, path, OFlag::O_RDONLY) {
        let _ = std::fs::File::from(fd)
            .take(4 << 20)
            .read_to_string(&mut text);
    }
    text
}

/// `user`, `uid`, `user:group` or `uid:gid` (empty: root) as numbers, from the container
/// root's files.
pub fn lookup(root: &OwnedFd, user: &str) -> ApiResult<(u32, u32)> {
    ids(&read(root, "/etc/passwd"), &read(root, "/etc/group"), user)
}

/// `user[:group]` (empty: root) against a passwd and a group file's text, with docker's
/// messages for names the files do not have.
pub fn ids(passwd: &str, groups: &str, user: &str) -> ApiResult<(u32, u32)> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let ids = resolve_in(passwd, groups, user).map_err(|m| {
        ApiError::bad(match m {
            Missing::User(u) => {
                format!("unable to find user {u}: no matching entries in passwd file")
            }
            Missing::Group(g) => {
                format!("unable to find group {g}: no matching entries in group file")
            }
        })
    })?;
    Ok((ids.uid, ids.gid))
}
