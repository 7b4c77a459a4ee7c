//! A snapshot's upper directory as a layer: a tar in the image-spec's changeset form (overlay
//! whiteout devices become `.wh.` files, opaque directories get `.wh..wh..opq`), gzipped and
//! stored in dm-content.

use crate::error::{BuildError, Result};
use dm_content::{Hasher, Store};
use flate2::write::GzEncoder;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The OCI media type of the layers written.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

static SEQ: AtomicU64 = AtomicU64::new(0);

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

/// Tars `upper` (an overlay upper dir or a base snapshot's dir), gzips it and stores it,
/// streaming: a layer is never held in memory whole.
pub fn commit_dir(store: &Store, upper: &Path) -> Result<Layer> {
    let reference = format!(
        "dm-build-layer-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let writer = store.writer(&reference, None, None)?;
    let gz = GzEncoder::new(Ingest(writer), flate2::Compression::fast());
    let made = (|| {
        let mut tar = Hashing {
            inner: gz,
            hasher: Hasher::new(),
        };
        tar_changes(upper, &mut tar)?;
        let diff_id = tar.hasher.digest();
        let Ingest(w) = tar.inner.finish()?;
        Ok::<_, std::io::Error>((diff_id, w))
    })();
    let (diff_id, w) = match made {
        Ok(v) => v,
        Err(e) => {
            let _ = store.abort(&reference);
            return Err(BuildError::io("tar", upper, e));
        }
    };
    let committed = w.commit(None, None, &Default::default()).inspect_err(|_| {
        let _ = store.abort(&reference);
    })?;
    Ok(Layer {
        digest: committed.digest.to_string(),
        diff_id: diff_id.to_string(),
        size: committed.size,
    })
}

/// A content-store ingest as a `Write`.
struct Ingest(dm_content::Writer);

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hashes what passes through (the uncompressed tar: the diff ID).
struct Hashing<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn tar_changes(upper: &Path, out: &mut impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let walk = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name()
        .follow_links(false);
    let mut links: std::collections::HashMap<(u64, u64), std::path::PathBuf> =
        std::collections::HashMap::new();
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
        if ft.is_file() && meta.nlink() > 1 {
            // A hard link to a file already in this layer stays a link.
            match links.entry((meta.dev(), meta.ino())) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                    h.set_size(0);
                    b.append_link(&mut h, rel, first.get())?;
                    continue;
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(rel.to_path_buf());
                }
            }
        }
        b.append_path_with_name(entry.path(), rel)?;
        if ft.is_dir() && opaque(entry.path()) {
            empty_file(&mut b, &rel.join(".wh..wh..opq"), &meta)?;
        }
    }
    b.finish()
}

fn empty_file<W: Write>(
    b: &mut tar::Builder<W>,
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
