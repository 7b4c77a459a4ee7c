//! `user[:group]` as USER and `--chown` take it: numbers, or names looked up in the image's
//! own /etc/passwd and /etc/group.

use std::path::Path;

/// A resolved user: uid, gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// The uid.
    pub uid: u32,
    /// The gid (the user's primary group unless one was named).
    pub gid: u32,
}

/// What a `user[:group]` named that the image's files do not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A user name not in /etc/passwd.
    User(String),
    /// A group name not in /etc/group.
    Group(String),
}

/// Resolves `spec` against the passwd and group files of `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<Ids, String> {
    let read = |f: &str| std::fs::read_to_string(rootfs.join(f)).unwrap_or_default();
    resolve_in(&read("etc/passwd"), &read("etc/group"), spec).map_err(|m| match m {
        Missing::User(u) => format!("user {u:?} is not in the image's /etc/passwd"),
        Missing::Group(g) => format!("group {g:?} is not in the image's /etc/group"),
    })
}

/// Resolves `spec` against the text of a passwd and a group file (however the caller read
/// them: the daemon reads a container's through its root's directory fd).
pub fn resolve_in(passwd: &str, groups: &str, spec: &str) -> Result<Ids, Missing> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && (f[0] == name || f[2] == name))
                .then(|| (f[2].parse::<u32>().ok(), f[3].parse::<u32>().ok()))
        })
    };
    let (uid, primary) = match (user.parse::<u32>(), entry(user)) {
        (Ok(n), found) => (n, found.and_then(|f| f.1).unwrap_or(0)),
        (Err(_), Some((Some(u), g))) => (u, g.unwrap_or(0)),
        _ => return Err(Missing::User(user.to_owned())),
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[0] == g)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
                .ok_or_else(|| Missing::Group(g.to_owned()))?,
        },
    };
    Ok(Ids { uid, gid })
}

/// The supplementary groups of the user `spec` names (its user part): the groups in the
/// image's /etc/group that list the user's name, as docker gives RUN and the container.
pub fn supplementary(rootfs: &Path, spec: &str) -> Vec<u32> {
    let user = spec.split(':').next().unwrap_or(spec);
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let name = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && (f[0] == user || f[2] == user))
        .map_or(user.to_owned(), |f| f[0].to_owned());
    let groups = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let member = f.len() > 3 && f[3].split(',').any(|m| m == name);
            member.then(|| f[2].parse().ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        let dir = dm_testkit::TempDir::new("dm-build-users");
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:\nx:x:7:a,app\n",
        )
        .unwrap();
        let r = |s| resolve(dir.path(), s);
        assert_eq!(
            r("app"),
            Ok(Ids {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(r("app:staff"), Ok(Ids { uid: 1000, gid: 50 }));
        assert_eq!(
            r("1000"),
            Ok(Ids {
                uid: 1000,
                gid: 1001
            })
        );
        assert_eq!(r("42:7"), Ok(Ids { uid: 42, gid: 7 }));
        assert!(r("nobody").unwrap_err().contains("\"nobody\""));
        assert_eq!(supplementary(dir.path(), "1000:50"), [7]);
        assert_eq!(supplementary(dir.path(), "root"), Vec::<u32>::new());
        assert!(r("app:nogroup").unwrap_err().contains("\"nogroup\""));
    }
}
