//! A snapshot's upper directory as a layer: a tar in the image-spec's changeset form (overlay
//! whiteout devices become `.wh.` files, opaque directories get `.wh..wh..opq`, extended
//! attributes travel as PAX `SCHILY.xattr.` records), gzip- or zstd-compressed and stored in
//! dm-content.

use crate::error::{BuildError, Result};
use dm_content::{Hasher, Store};
use flate2::write::GzEncoder;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The OCI media type of gzip layers (the default, what every client reads).
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The OCI media type of zstd layers.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// How new layers are compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// gzip (docker's and BuildKit's default).
    #[default]
    Gzip,
    /// zstd: faster to make and to unpack; needs containerd 1.5+, docker 23+ or podman.
    Zstd,
}

impl Compression {
    /// The layer media type it produces.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => LAYER_GZIP,
            Compression::Zstd => LAYER_ZSTD,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            o => Err(format!("unknown compression {o:?} (gzip or zstd)")),
        }
    }
}

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
    /// The blob's media type (cache entries from before zstd have none: gzip).
    #[serde(default = "gzip_type")]
    pub media_type: String,
}

fn gzip_type() -> String {
    LAYER_GZIP.into()
}

/// Tars `upper` (an overlay upper dir or a base snapshot's dir), compresses it and stores it,
/// streaming: a layer is never held in memory whole.
pub fn commit_dir(store: &Store, upper: &Path, compression: Compression) -> Result<Layer> {
    let reference = format!(
        "dm-build-layer-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let writer = store.writer(&reference, None, None)?;
    let made = (|| {
        let inner: Box<dyn Finish> = match compression {
            Compression::Gzip => {
                Box::new(GzEncoder::new(Ingest(writer), flate2::Compression::fast()))
            }
            Compression::Zstd => Box::new(zstd::Encoder::new(Ingest(writer), 3)?),
        };
        let mut tar = Hashing {
            inner,
            hasher: Hasher::new(),
        };
        tar_changes(upper, &mut tar)?;
        let diff_id = tar.hasher.digest();
        let Ingest(w) = tar.inner.finish_ingest()?;
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
        media_type: compression.media_type().into(),
    })
}

/// A compressor over an ingest that can be finished behind a `Box<dyn>`.
trait Finish: Write {
    fn finish_ingest(self: Box<Self>) -> std::io::Result<Ingest>;
}

impl Finish for GzEncoder<Ingest> {
    fn finish_ingest(self: Box<Self>) -> std::io::Result<Ingest> {
        self.finish()
    }
}

impl Finish for zstd::Encoder<'static, Ingest> {
    fn finish_ingest(self: Box<Self>) -> std::io::Result<Ingest> {
        self.finish()
    }
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
        let xattrs = xattrs(entry.path());
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))?;
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
    xattr::get(dir, "trusted.overlay.opaque").is_ok_and(|v| v.as_deref() == Some(b"y"))
}

/// The extended attributes a layer carries for `path`: all but overlay's own bookkeeping
/// (`trusted.overlay.*`) and SELinux labels, which belong to the host that runs the image.
fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names
        .filter_map(|n| n.into_string().ok())
        .filter(|n| !n.starts_with("trusted.overlay.") && n != "security.selinux")
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok().flatten()?;
            Some((n, v))
        })
        .collect();
    out.sort();
    out
}
