//! A container's `User` as uid and gid, read from its own /etc/passwd and /etc/group (for
//! `docker cp -a`, which gives copied files to that user).

use crate::ctrfs::open_in;
use crate::error::{ApiError, ApiResult};
use nix::fcntl::OFlag;
use std::io::Read;
use std::os::fd::OwnedFd;

/// The file's lines split at `:` (empty when the file is missing).
fn entries(root: &OwnedFd, path: &str) -> Vec<Vec<String>> {
    let mut text = String::new();
    if let Ok(fd) = open_in(root, path, OFlag::O_RDONLY) {
        let _ = std::fs::File::from(fd)
            .take(4 << 20)
            .read_to_string(&mut text);
    }
    text.lines()
        .map(|l| l.split(':').map(str::to_owned).collect())
        .collect()
}

/// `user`, `uid`, `user:group` or `uid:gid` (empty: root) as numbers.
pub fn lookup(root: &OwnedFd, user: &str) -> ApiResult<(u32, u32)> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = entries(root, "/etc/passwd");
    let found = passwd
        .iter()
        .find(|e| e.len() > 3 && (e[0] == u || e[2] == u));
    let uid = match (u.parse::<u32>(), found) {
        (Ok(n), _) => n,
        (Err(_), Some(e)) => e[2].parse().unwrap_or(0),
        (Err(_), None) => {
            return Err(ApiError::bad(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    let gid = match g {
        None => found.and_then(|e| e[3].parse().ok()).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => entries(root, "/etc/group")
                .iter()
                .find(|e| e.len() > 2 && e[0] == g)
                .and_then(|e| e[2].parse().ok())
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}
