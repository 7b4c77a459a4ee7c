//! A snapshot's upper directory as a layer: a tar in the image-spec's changeset form (overlay
//! whiteout devices become `.wh.` files, opaque directories get `.wh..wh..opq`), gzipped and
//! stored in dm-content.

use crate::error::{BuildError, Result};
use dm_content::{Digest, Store};
use flate2::write::GzEncoder;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The OCI media type of the layers written.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A stored layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// The compressed blob's digest.
    pub digest: String,
    /// The uncompressed tar's digest (the config's diff ID).
    pub diff_id: String,
    /// The blob's size.
    pub size: u64,
}

/// Tars `upper` (an overlay upper dir or a base snapshot's dir), gzips it and stores it.
pub fn commit_dir(store: &Store, upper: &Path) -> Result<Layer> {
    let tar = tar_changes(upper).map_err(|e| BuildError::io("tar", upper, e))?;
    let diff_id = Digest::of(&tar);
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar)
        .map_err(|e| BuildError::io("gzip", upper, e))?;
    let blob = gz.finish().map_err(|e| BuildError::io("gzip", upper, e))?;
    let digest = Digest::of(&blob);
    put(store, &digest, &blob)?;
    Ok(Layer {
        digest: digest.to_string(),
        diff_id: diff_id.to_string(),
        size: blob.len() as u64,
    })
}

/// Stores `bytes` under `digest` unless present.
pub fn put(store: &Store, digest: &Digest, bytes: &[u8]) -> Result<()> {
    if store.size(digest).is_ok() {
        return Ok(());
    }
    let reference = format!("dm-build-{digest}");
    let mut w = match store.writer(&reference, Some(bytes.len() as u64), Some(digest.clone())) {
        Ok(w) => w,
        Err(dm_content::Error::AlreadyExists(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let done = w
        .write(bytes)
        .and_then(|()| w.commit(None, None, &Default::default()));
    if let Err(e) = done {
        let _ = store.abort(&reference);
        return Err(e.into());
    }
    Ok(())
}

fn tar_changes(upper: &Path) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let walk = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name()
        .follow_links(false);
    for entry in walk {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(upper)
            .map_err(std::io::Error::other)?;
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            let name = rel.file_name().unwrap_or_default().as_bytes();
            let mut wh = b".wh.".to_vec();
            wh.extend_from_slice(name);
            let path = rel.with_file_name(std::ffi::OsStr::from_bytes(&wh));
            empty_file(&mut b, &path, &meta)?;
            continue;
        }
        b.append_path_with_name(entry.path(), rel)?;
        if ft.is_dir() && opaque(entry.path()) {
            empty_file(&mut b, &rel.join(".wh..wh..opq"), &meta)?;
        }
    }
    b.into_inner()
}

fn empty_file(
    b: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    meta: &std::fs::Metadata,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(meta.mtime().max(0) as u64);
    b.append_data(&mut h, path, std::io::empty())
}

/// Whether overlayfs marked the directory opaque (its lower contents hidden).
fn opaque(dir: &Path) -> bool {
    let (Ok(path), Ok(name)) = (
        CString::new(dir.as_os_str().as_bytes()),
        CString::new("trusted.overlay.opaque"),
    ) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer's length
    // is passed with it, so the kernel writes at most that many bytes.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}
