//! Docker's copy-up: an empty volume gets the files the image has at the mount's path, with
//! owners and modes, before the container first runs with it.

use std::path::{Path, PathBuf};

/// Why a copy-up failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyUpError {
    /// The rootfs could not be opened as a resolution root.
    #[error("open rootfs: {0}")]
    Rootfs(String),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// To what.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CopyUpError + 'a {
    move |source| CopyUpError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Copies the image's content at `dst` into the empty volume directory `data`, with owners
/// and modes (docker's copy-up). The image path is resolved inside `rootfs` only: an image
/// symlink cannot make the daemon copy host files into the volume.
pub fn copy_up(rootfs: &Path, dst: &str, data: &Path) -> Result<(), CopyUpError> {
    use dm_runtime::rootfs::resolve::{fd_path, open_in_root, open_root, Create};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = open_root(rootfs).map_err(|e| CopyUpError::Rootfs(e.to_string()))?;
    let Ok(fd) = open_in_root(&root, Path::new(dst), Create::No) else {
        return Ok(());
    };
    let src: PathBuf = fd_path(&fd);
    let meta = std::fs::metadata(&src).map_err(io("stat", Path::new(dst)))?;
    let empty = std::fs::read_dir(data)
        .map_err(io("read", data))?
        .next()
        .is_none();
    if !meta.is_dir() || !empty {
        return Ok(());
    }
    copy_tree(&src, data).map_err(io("copy into", data))?;
    std::os::unix::fs::chown(data, Some(meta.uid()), Some(meta.gid()))
        .map_err(io("chown", data))?;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io("chmod", data))
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let m = e.metadata()?;
        let to = dst.join(e.file_name());
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&e.path(), &to)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
            lchown(&to, Some(m.uid()), Some(m.gid()))?;
            continue;
        } else {
            // Devices, fifos and sockets in a VOLUME path are not worth the mknod.
            continue;
        }
        lchown(&to, Some(m.uid()), Some(m.gid()))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_up_keeps_owners_and_modes_and_stays_in_the_rootfs() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = std::env::temp_dir().join(format!("dmd-copyup-{}", std::process::id()));
        let rootfs = base.join("rootfs");
        std::fs::create_dir_all(rootfs.join("srv/sub")).unwrap();
        std::fs::write(rootfs.join("srv/sub/f"), b"hi").unwrap();
        std::fs::set_permissions(
            rootfs.join("srv/sub/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let can_chown =
            std::os::unix::fs::chown(rootfs.join("srv/sub/f"), Some(1234), Some(99)).is_ok();
        // An image symlink to a host path must resolve inside the rootfs (here: to nothing).
        std::os::unix::fs::symlink("/etc", rootfs.join("escape")).unwrap();
        let data = base.join("data");
        let esc = base.join("esc");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&esc).unwrap();
        copy_up(&rootfs, "/srv", &data).unwrap();
        copy_up(&rootfs, "/escape", &esc).unwrap();
        let m = std::fs::metadata(data.join("sub/f")).unwrap();
        let text = std::fs::read_to_string(data.join("sub/f")).unwrap();
        let escaped = std::fs::read_dir(&esc).unwrap().count();
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(text, "hi");
        assert_eq!(m.mode() & 0o777, 0o640);
        if can_chown {
            assert_eq!((m.uid(), m.gid()), (1234, 99));
        }
        assert_eq!(
            escaped, 0,
            "copy-up followed an image symlink out of the rootfs"
        );
    }
}
