//! Start-up checks on the root directory: it must be writable and able to hold overlay upper
//! dirs. Both are proven by doing it (a probe file, then a real overlay mount) rather than by
//! guessing from the filesystem type, so every filesystem the kernel refuses is caught.

use crate::sys;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

fn bad(root: &Path, reason: impl Into<String>) -> Error {
    Error::BadRoot {
        path: root.to_owned(),
        reason: reason.into(),
    }
}

/// Creates `root` if needed and proves it usable; the error says what is wrong.
pub fn check_root(root: &Path) -> Result<()> {
    let s = root.to_string_lossy();
    if !root.is_absolute() {
        return Err(bad(root, "must be an absolute path"));
    }
    if s.contains([',', ':']) {
        return Err(bad(
            root,
            "must not contain ',' or ':' (they split overlay mount options)",
        ));
    }
    if root.exists() && !root.is_dir() {
        return Err(bad(root, "exists and is not a directory"));
    }
    std::fs::create_dir_all(root).map_err(|e| bad(root, format!("cannot create: {e}")))?;
    let marker = root.join(PROVEN);
    let proof = proof_for(root);
    if proof.is_some() && std::fs::read_to_string(&marker).ok() == proof {
        return Ok(());
    }
    let probe = root.join(format!(".probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&probe);
    std::fs::create_dir(&probe).map_err(|e| bad(root, format!("not writable: {e}")))?;
    let result = overlay_probe(&probe).map_err(|e| {
        bad(
            root,
            format!(
                "cannot hold overlay upper dirs ({} filesystem): {e}",
                sys::fs_type_name(root)
            ),
        )
    });
    let _ = std::fs::remove_dir_all(&probe);
    if let (Ok(()), Some(p)) = (&result, proof) {
        // Best effort: without the marker the next open just probes again.
        let _ = std::fs::write(&marker, p);
    }
    result
}

/// The marker a passed probe leaves in the root. The probe's overlay unmount syncs the
/// filesystem (tens of ms with dirty data), which every short-lived `dm-image` or `dm-build`
/// run would pay again; the marker is trusted only on the same boot and the same filesystem.
const PROVEN: &str = ".overlay-proven";

/// What the marker must hold for `root`: this boot's id and the root's device.
fn proof_for(root: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let dev = std::fs::metadata(root).ok()?.dev();
    Some(format!("boot {} dev {dev}\n", boot.trim()))
}

fn overlay_probe(probe: &Path) -> std::result::Result<(), String> {
    let d = |n: &str| -> PathBuf { probe.join(n) };
    for n in ["l1", "l2", "u", "w", "m"] {
        std::fs::create_dir(d(n)).map_err(|e| format!("mkdir {n}: {e}"))?;
    }
    std::fs::write(d("l2").join("f"), b"x").map_err(|e| format!("write probe file: {e}"))?;
    let opts = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        d("l1").display(),
        d("l2").display(),
        d("u").display(),
        d("w").display()
    );
    sys::mount_overlay(&opts, &d("m")).map_err(|e| format!("mount overlay: {e}"))?;
    // A write through the mount must copy up into the upper dir, or the layout is useless.
    let w = std::fs::write(d("m").join("f"), b"y");
    sys::unmount(&d("m")).map_err(|e| format!("unmount probe: {e}"))?;
    w.map_err(|e| format!("write through overlay: {e}"))?;
    match std::fs::read(d("u").join("f")) {
        Ok(b) if b == b"y" => Ok(()),
        _ => Err("a write through the overlay did not reach the upper dir".into()),
    }
}
