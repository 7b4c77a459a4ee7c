//! /dev contents: the default devices, linux.devices, and the standard symlinks.

use super::resolve::{fd_path, open_in_root, Create};
use crate::error::{Error, Result, SysContext};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// A device node to create.
pub struct Dev {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The devices every container gets (runtime-spec "Default Devices").
pub fn defaults() -> Vec<Dev> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, ma, mi)| Dev {
        path: PathBuf::from("/dev").join(n),
        kind: SFlag::S_IFCHR,
        major: ma,
        minor: mi,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Converts `linux.devices[i]`, checking its fields.
pub fn from_spec(i: usize, d: &LinuxDevice) -> Result<Dev> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::Config(format!(
                "linux.devices[{i}].type: 'a' is not a device type"
            )))
        }
    };
    if !d.path().starts_with("/dev") {
        return Err(Error::Config(format!(
            "linux.devices[{i}].path: {} is not under /dev",
            d.path().display()
        )));
    }
    Ok(Dev {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Creates `devs` in the rootfs: mknod where allowed, else (user namespace) a bind mount of
/// the host's node.
pub fn create(root: &OwnedFd, devs: &[Dev], bind_only: bool) -> Result<()> {
    for d in devs {
        let rel = d.path.strip_prefix("/").unwrap_or(&d.path);
        let parent = rel.parent().unwrap_or(Path::new(""));
        let pfd = open_in_root(root, parent, Create::Dir)?;
        let name = rel.file_name().unwrap_or_default();
        let full = fd_path(&pfd).join(name);
        let node = || {
            mknod(
                &full,
                d.kind,
                Mode::from_bits_truncate(d.mode),
                makedev(d.major, d.minor),
            )
        };
        let made = !bind_only
            && match node() {
                // A rootfs may ship its own /dev entries: replace them.
                Err(nix::errno::Errno::EEXIST) => {
                    let _ = std::fs::remove_file(&full);
                    node().is_ok()
                }
                r => r.is_ok(),
            };
        if made {
            // mknod applies the umask; set the exact mode and owner asked for.
            nix::sys::stat::fchmodat(
                None,
                &full,
                Mode::from_bits_truncate(d.mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .sys(|| format!("chmod {}", d.path.display()))?;
            nix::unistd::chown(&full, Some(d.uid.into()), Some(d.gid.into()))
                .sys(|| format!("chown {}", d.path.display()))?;
        } else {
            let target = open_in_root(root, &d.path, Create::File)?;
            mount(
                Some(&d.path),
                &fd_path(&target),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .sys(|| format!("bind device {}", d.path.display()))?;
        }
    }
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx → pts/ptmx.
pub fn symlinks(root: &OwnedFd) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), Create::Dir)?;
    let dir = fd_path(&dev);
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match std::os::unix::fs::symlink(target, dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Child(format!("symlink /dev/{name}: {e}")))
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_file(dir.join("ptmx"));
    std::os::unix::fs::symlink("pts/ptmx", dir.join("ptmx"))
        .map_err(|e| Error::Child(format!("symlink /dev/ptmx: {e}")))
}
