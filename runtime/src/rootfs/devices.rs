//! /dev contents: the default devices, linux.devices, and the standard symlinks.

use super::resolve::{fd_path, open_in_root, Create};
use crate::error::{Error, Result, SysContext};
use nix::errno::Errno;
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

/// Largest major number the kernel's dev_t holds (12 bits; MINORBITS is 20).
pub const MAX_MAJOR: i64 = (1 << 12) - 1;
/// Largest minor number the kernel's dev_t holds.
pub const MAX_MINOR: i64 = (1 << 20) - 1;

impl Dev {
    /// Where the node goes in the container: normalised, strictly below /dev.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub fn kind(&self) -> SFlag {
        self.kind
    }
    /// The device number as mknod(2) gets it (0 for a fifo).
    pub fn rdev(&self) -> u64 {
        makedev(self.major, self.minor)
    }
    /// Permission bits (at most 0o7777).
    pub fn mode(&self) -> u32 {
        self.mode
    }
    /// Owner (uid, gid).
    pub fn owner(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

/// Converts `linux.devices[i]`, checking its fields.
pub fn from_spec(i: usize, d: &LinuxDevice) -> Result<Dev> {
    let bad =
        |field: &str, msg: String| Err(Error::Config(format!("linux.devices[{i}].{field}: {msg}")));
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return bad("type", "'a' is not a device type".into()),
    };
    let Some(path) = below_dev(d.path()) else {
        return bad(
            "path",
            format!(
                "{:?} is not an absolute path below /dev without \"..\"",
                d.path()
            ),
        );
    };
    let (mut major, mut minor) = (0, 0);
    if kind != SFlag::S_IFIFO {
        for (field, v, max) in [
            ("major", d.major(), MAX_MAJOR),
            ("minor", d.minor(), MAX_MINOR),
        ] {
            if !(0..=max).contains(&v) {
                return bad(field, format!("{v} is outside 0-{max}"));
            }
        }
        (major, minor) = (d.major() as u64, d.minor() as u64);
    }
    Ok(Dev {
        path,
        kind,
        major,
        minor,
        // The type comes from `type`; like runc, type bits in fileMode are ignored.
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// `p` normalised (no `.`, no repeated `/`) when it names something strictly below /dev
/// without `..` and without NUL; `None` otherwise.
fn below_dev(p: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;
    if p.as_os_str().as_bytes().contains(&0) {
        return None;
    }
    let mut c = p.components();
    if c.next() != Some(Component::RootDir) || c.next() != Some(Component::Normal("dev".as_ref())) {
        return None;
    }
    let mut out = PathBuf::from("/dev");
    for part in c {
        match part {
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    (out != Path::new("/dev")).then_some(out)
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
        let mut made = if bind_only { Err(Errno::EPERM) } else { node() };
        if made == Err(Errno::EEXIST) {
            // A rootfs may ship its own /dev entries: replace them (not directories).
            let _ = std::fs::remove_file(&full);
            made = node();
        }
        // Without the right to mknod (user namespace), bind the host's node, as runc does;
        // any other failure is an error, not a reason to expose a host path instead.
        let made = match made {
            Ok(()) => true,
            Err(Errno::EPERM | Errno::EACCES) => false,
            Err(e) => return Err(e).sys(|| format!("mknod {}", d.path.display())),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(i: usize, json: serde_json::Value) -> Result<Dev> {
        from_spec(i, &serde_json::from_value(json).unwrap())
    }

    fn err(json: serde_json::Value) -> String {
        match dev(2, json) {
            Ok(d) => panic!("accepted as {}", d.path.display()),
            Err(e) => e.to_string(),
        }
    }

    /// `/dev/..` passed the old `starts_with("/dev")` check: a node was made outside /dev, and
    /// when mknod failed on the directory there (`/dev/../etc`, or `/dev` itself) the
    /// host's path of that name was bind-mounted into the container instead.
    #[test]
    fn paths_outside_dev_are_refused() {
        for p in [
            "/dev/../etc",
            "/dev/../etc/passwd",
            "/dev",
            "/dev/",
            "/dev/.",
            "/dev/x/../../etc",
            "dev/null",
            "/devnull",
            "/etc/dev/null",
            "/dev/nu\u{0}ll",
        ] {
            let e = err(serde_json::json!({"path": p, "type": "c", "major": 1, "minor": 3}));
            assert!(e.starts_with("linux.devices[2].path: "), "{p}: {e}");
        }
    }

    #[test]
    fn paths_are_normalised() {
        let d = dev(
            0,
            serde_json::json!({"path": "/dev//./net/tun/", "type": "c", "major": 10, "minor": 200}),
        )
        .unwrap();
        assert_eq!(d.path(), Path::new("/dev/net/tun"));
        assert_eq!(d.rdev(), makedev(10, 200));
    }

    /// Numbers the kernel's 32-bit dev_t cannot hold made mknod fail, and the failure fell
    /// back to bind-mounting the host's node at that path, whatever device it is.
    #[test]
    fn device_numbers_must_fit_the_kernel_dev_t() {
        for (ma, mi, field) in [
            (4096, 0, "major"),
            (-1, 0, "major"),
            (1, 1 << 20, "minor"),
            (1, -3, "minor"),
        ] {
            let e =
                err(serde_json::json!({"path": "/dev/x", "type": "b", "major": ma, "minor": mi}));
            assert!(e.starts_with(&format!("linux.devices[2].{field}: ")), "{e}");
        }
        let d = dev(
            0,
            serde_json::json!({"path": "/dev/x", "type": "c", "major": 4095, "minor": 1048575}),
        )
        .unwrap();
        assert_eq!(
            (libc::major(d.rdev()), libc::minor(d.rdev())),
            (4095, 1048575)
        );
        // A fifo has no device number; whatever the spec says is ignored.
        let d = dev(
            0,
            serde_json::json!({"path": "/dev/f", "type": "p", "major": -7, "minor": 0}),
        )
        .unwrap();
        assert_eq!((d.kind(), d.rdev()), (SFlag::S_IFIFO, 0));
    }

    #[test]
    fn type_a_and_mode_bits() {
        let e = err(serde_json::json!({"path": "/dev/x", "type": "a", "major": 1, "minor": 3}));
        assert!(e.starts_with("linux.devices[2].type: "), "{e}");
        let d = dev(
            0,
            serde_json::json!({"path": "/dev/x", "type": "c", "major": 1, "minor": 3,
            "fileMode": 0o20666, "uid": 5, "gid": 6}),
        )
        .unwrap();
        assert_eq!((d.mode(), d.owner()), (0o666, (5, 6)));
    }
}
