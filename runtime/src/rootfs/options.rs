//! Mount option strings (as in fstab and config.json) to mount(2) flags and data.

use crate::error::{Error, Result};
use nix::mount::MsFlags;

/// MS_NOSYMFOLLOW (Linux 5.10); not in nix's MsFlags.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// runc 1.1's recursive mount attributes (mount_setattr with AT_RECURSIVE). dm-runc does not
/// apply them yet; they are refused rather than passed on as filesystem data, which a bind
/// mount ignores (`rro` would silently give a writable mount).
pub const RECURSIVE_ATTRS: &[&str] = &[
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// A parsed `options` list.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags set by the options.
    pub flags: MsFlags,
    /// Flags explicitly cleared (e.g. `rw`, `suid`), needed when remounting.
    pub clear: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Options the filesystem interprets (`size=`, `mode=`, ...), comma-joined.
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true)): an idmapped bind mount.
    pub idmap: Option<bool>,
    /// Indexes of recursive attributes ([`RECURSIVE_ATTRS`]), which [`for_mount`] refuses.
    pub recursive: Vec<usize>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            idmap: None,
            recursive: Vec::new(),
        }
    }
}

/// Parses mount options; unknown ones go to the filesystem as data.
pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data = Vec::new();
    for (j, opt) in options.iter().enumerate() {
        let (set, clear, prop) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), None),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, None),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), None),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, None),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), None),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, None),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), None),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, None),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), None),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, None),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), None),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), None),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), None),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, None),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, None),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), None),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, None),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), None),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), None),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, None),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), None),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, None),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty(), None),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME, None),
            "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty(), None),
            "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW, None),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty(), None),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT, None),
            "bind" => {
                o.bind = true;
                (MsFlags::MS_BIND, MsFlags::empty(), None)
            }
            "rbind" => {
                o.bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), None)
            }
            "private" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE),
            ),
            "rprivate" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            ),
            "shared" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SHARED)),
            "rshared" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            ),
            "slave" => (MsFlags::empty(), MsFlags::empty(), Some(MsFlags::MS_SLAVE)),
            "rslave" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            ),
            "unbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE),
            ),
            "runbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            ),
            "idmap" | "ridmap" => {
                o.idmap = Some(opt == "ridmap");
                continue;
            }
            // Handled by runtimes, not the kernel; accepted and ignored as runc does.
            "tmpcopyup" => continue,
            r if RECURSIVE_ATTRS.contains(&r) => {
                o.recursive.push(j);
                continue;
            }
            other => {
                data.push(other);
                continue;
            }
        };
        // The later option wins, so a flag is never both set and cleared.
        // (`remove`, not `&= !`: MsFlags' `!` drops bits nix does not name, MS_NOSYMFOLLOW.)
        o.flags |= set;
        o.flags.remove(clear);
        o.clear |= clear;
        o.clear.remove(set);
        if let Some(p) = prop {
            o.propagation.push(p);
        }
    }
    o.data = data.join(",");
    o
}

/// Parses `mounts[i].options`, refusing what dm-runc cannot apply (recursive attributes).
pub fn for_mount(i: usize, options: &[String]) -> Result<MountOptions> {
    let o = parse(options);
    match o.recursive.first() {
        Some(&j) => Err(Error::Config(format!(
            "mounts[{i}].options[{j}]: {:?} (a recursive mount attribute) is not supported",
            options[j]
        ))),
        None => Ok(o),
    }
}

/// The propagation flag for `linux.rootfsPropagation` (default: rslave, as runc).
pub fn rootfs_propagation(value: Option<&str>) -> MsFlags {
    let o = parse(&[value
        .filter(|v| !v.is_empty())
        .unwrap_or("rslave")
        .to_owned()]);
    o.propagation
        .first()
        .copied()
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC)
}

/// The propagation `/` gets before pivot_root: the rootfs is bound from it, and an unbindable
/// mount cannot be bound (EINVAL), so unbindable becomes private (which it implies) until
/// [`super::finalize`] applies the real value to the new root.
pub fn before_pivot(flag: MsFlags) -> MsFlags {
    if flag.contains(MsFlags::MS_UNBINDABLE) {
        (flag - MsFlags::MS_UNBINDABLE) | MsFlags::MS_PRIVATE
    } else {
        flag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(o: &[&str]) -> MountOptions {
        parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn bind_ro_and_propagation() {
        let o = p(&["rbind", "ro", "rprivate"]);
        assert!(o.bind);
        assert!(o
            .flags
            .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.clear.contains(MsFlags::MS_RDONLY));
    }

    /// Found writing the `mount_options` fuzz oracle: `["rw", "ro"]` left MS_RDONLY in both `flags` and
    /// `clear`, contradicting "the later option wins".
    #[test]
    fn a_flag_set_later_is_not_also_cleared() {
        let o = p(&["rw", "ro"]);
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert!(o.clear.is_empty());
        let o = p(&["nosuid", "suid", "nosuid", "exec"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID);
        assert_eq!(o.clear, MsFlags::MS_NOEXEC);
    }

    /// Recursive attributes used to reach the filesystem as data, which bind mounts ignore:
    /// `rro` on a bind gave a writable mount without an error.
    #[test]
    fn recursive_attributes_are_refused_by_index() {
        let o = p(&["rbind", "rro", "nosuid"]);
        assert_eq!(o.recursive, vec![1]);
        assert!(o.data.is_empty(), "{:?}", o.data);
        let opts: Vec<String> = ["rbind", "rnoexec"].map(String::from).into();
        let e = for_mount(3, &opts).unwrap_err().to_string();
        assert!(
            e.contains("mounts[3].options[1]") && e.contains("rnoexec"),
            "{e}"
        );
        assert!(for_mount(0, &["rbind".to_string()]).is_ok());
    }

    #[test]
    fn nosymfollow_is_a_flag_not_data() {
        let o = p(&["nosymfollow"]);
        assert_eq!(o.flags, MS_NOSYMFOLLOW);
        assert!(o.data.is_empty());
        assert!(p(&["nosymfollow", "symfollow"]).flags.is_empty());
    }

    #[test]
    fn rootfs_propagation_default_is_rslave() {
        assert_eq!(
            rootfs_propagation(None),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
        assert_eq!(rootfs_propagation(Some("shared")), MsFlags::MS_SHARED);
    }

    #[test]
    fn unbindable_root_is_private_until_pivot() {
        let f = |v| before_pivot(rootfs_propagation(Some(v)));
        assert_eq!(f("unbindable"), MsFlags::MS_PRIVATE);
        assert_eq!(f("runbindable"), MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(f("rslave"), MsFlags::MS_SLAVE | MsFlags::MS_REC);
    }
}
