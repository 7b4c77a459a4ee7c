//! What a killed build left behind: its snapshots (`dm-build-<pid>-<n>`, `dm-build-view-…`),
//! their mounts under `<root>/build-tmp/<key>/rootfs`, and its scratch dirs. Removed when the
//! process that made them is gone.

use dm_image::Images;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// The pid in a build snapshot key, if it is one.
fn owner(key: &str) -> Option<i32> {
    let rest = key.strip_prefix("dm-build-")?;
    let rest = rest.strip_prefix("view-").unwrap_or(rest);
    rest.split('-').next()?.parse().ok()
}

fn dead(pid: i32) -> bool {
    pid != std::process::id() as i32
        && kill(Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

/// Removes the leftovers of dead builds; returns the snapshot keys removed.
pub fn clean(images: &Images) -> Vec<String> {
    let tmp = images.root().join("build-tmp");
    let mut keys: Vec<String> = std::fs::read_dir(&tmp)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(snaps) = images.snapshotter().list::<&str>(&[]) {
        keys.extend(snaps.into_iter().map(|i| i.name));
    }
    keys.sort();
    keys.dedup();
    let mut removed = Vec::new();
    for key in keys {
        if !owner(&key).is_some_and(dead) {
            continue;
        }
        let dir = tmp.join(&key);
        let _ = dm_image::rootfs::unmount(&dir.join("rootfs"));
        let _ = std::fs::remove_dir_all(&dir);
        if images.snapshotter().remove(&key).is_ok() {
            removed.push(key);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::owner;

    #[test]
    fn keys() {
        assert_eq!(owner("dm-build-42-7"), Some(42));
        assert_eq!(owner("dm-build-view-42-0"), Some(42));
        assert_eq!(owner("sha256:abc"), None);
        assert_eq!(owner("dm-build-test-1"), None);
    }
}
