//! Layers applied straight from dm-content's blob files onto this snapshotter's active
//! snapshots: the work behind containerd's diff API `Apply` when dm-snapshotter is containerd's
//! diff proxy (containerd >= 1.7).
//!
//! Anything this differ cannot do from local files (mounts of another snapshotter, a blob not
//! in dm-content's root, encrypted or unknown media types) is [`Error::Unsupported`], which the
//! service answers as UNIMPLEMENTED: containerd's diff service then asks its next differ
//! (`walking`), which reads the blob through containerd's content API as before.

use crate::layer::{apply_layer, ApplyOptions, ApplyStats, Compression, DevicePolicy};
use crate::{Error, Mount, Result};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Layer media types applied here: OCI's and Docker's tar layers, plain, gzip or zstd
/// (`apply_layer` tells the compression from the bytes, as containerd's differ does).
const MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Media type of what [`Differ::apply`] reports as applied: the uncompressed layer.
pub const APPLIED_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// The blob to apply, as containerd's descriptor names it.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Layer media type.
    pub media_type: String,
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// Blob size in bytes.
    pub size: i64,
}

/// What an application produced.
#[derive(Debug, Clone)]
pub struct Applied {
    /// `sha256:<hex>` of the uncompressed tar (the layer's diff ID).
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// The snapshot directory the layer went into.
    pub target: PathBuf,
    /// Entry counts.
    pub stats: ApplyStats,
}

/// Applies dm-content's blobs onto the snapshots under one snapshotter root.
#[derive(Debug, Clone)]
pub struct Differ {
    snapshots: PathBuf,
    content: Option<PathBuf>,
}

impl Differ {
    /// A differ for snapshotter root `root` reading blobs from dm-content root `content`
    /// (`None`: every Apply is [`Error::Unsupported`]).
    pub fn new(root: &Path, content: Option<PathBuf>) -> Differ {
        Differ {
            snapshots: root.join("snapshots"),
            content,
        }
    }

    /// Applies `blob` onto the active snapshot `mounts` show (what containerd's Prepare of
    /// this snapshotter returned), verifying the blob's digest and size while reading it.
    ///
    /// On error the snapshot keeps what was applied so far; containerd removes it.
    pub fn apply(&self, blob: &LayerBlob, mounts: &[Mount]) -> Result<Applied> {
        if !MEDIA_TYPES.contains(&blob.media_type.as_str()) {
            return Err(Error::Unsupported(format!(
                "media type {:?} is not a plain, gzip or zstd tar layer",
                blob.media_type
            )));
        }
        let Some(content) = &self.content else {
            return Err(Error::Unsupported(
                "no --content-root: blobs are only readable through containerd".into(),
            ));
        };
        let target = self.target(mounts)?;
        let (file, path) = open_blob(content, blob)?;
        let opts = ApplyOptions {
            // As containerd's own differ does; the container's device cgroup decides access.
            devices: DevicePolicy::Create,
            diff_id: true,
            ..ApplyOptions::default()
        };
        // A plain tar's digest is its diff ID, which the applier hashes anyway; only a
        // compressed blob needs a second hash of its own bytes.
        let mut head = [0u8; 4];
        let n = file
            .read_at(&mut head, 0)
            .map_err(Error::io("read blob", &path))?;
        let (stats, actual) = if Compression::from_magic(&head[..n]) == Compression::None {
            let stats = apply_layer(file, &target, &opts)?;
            let actual = stats.diff_id.clone().unwrap_or_default();
            (stats, actual)
        } else {
            let mut reader = Sha256Reader::new(file);
            let stats = apply_layer(&mut reader, &target, &opts)?;
            let actual = reader
                .finish()
                .map_err(|e| Error::LayerRead(e.to_string()))?;
            (stats, actual)
        };
        if actual != blob.digest {
            return Err(Error::LayerRead(format!(
                "blob {} in {} hashes to {actual}: the file changed on disk",
                blob.digest,
                content.display()
            )));
        }
        let diff_id = stats.diff_id.clone().unwrap_or_default();
        Ok(Applied {
            diff_id,
            size: stats.tar_bytes,
            target,
            stats,
        })
    }

    /// The directory of the active snapshot behind `mounts`: an overlay's upper dir or a
    /// writable bind's source, which must be `<root>/snapshots/<id>/fs` of this snapshotter.
    fn target(&self, mounts: &[Mount]) -> Result<PathBuf> {
        let unsupported = || {
            Error::Unsupported(format!(
                "mounts {mounts:?} are not an active snapshot under {}",
                self.snapshots.display()
            ))
        };
        let [m] = mounts else {
            return Err(unsupported());
        };
        let dir = match m.kind.as_str() {
            "overlay" => m.options.iter().find_map(|o| o.strip_prefix("upperdir=")),
            "bind" if !m.options.iter().any(|o| o == "ro") => Some(m.source.as_str()),
            _ => None,
        }
        .map(PathBuf::from)
        .ok_or_else(unsupported)?;
        let ours = dir.file_name().is_some_and(|n| n == "fs")
            && dir.parent().is_some_and(|id| {
                id.parent() == Some(self.snapshots.as_path())
                    && id
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
        if !ours || !dir.is_dir() {
            return Err(unsupported());
        }
        Ok(dir)
    }
}

/// Opens `blob` in dm-content root `content` and checks its size; a blob not there is
/// [`Error::Unsupported`] (containerd's differ can still read it through the content API).
fn open_blob(content: &Path, blob: &LayerBlob) -> Result<(std::fs::File, PathBuf)> {
    let hex = sha256_hex(&blob.digest)?;
    let path = content.join("blobs/sha256").join(hex);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Unsupported(format!(
                "blob {} is not in {}",
                blob.digest,
                content.display()
            )))
        }
        Err(e) => return Err(Error::io("open blob", path)(e)),
    };
    let len = file
        .metadata()
        .map_err(Error::io("stat blob", &path))?
        .len();
    if i64::try_from(len).ok() != Some(blob.size) {
        return Err(Error::invalid(
            "diff.size",
            format!("{} but blob {} holds {len} bytes", blob.size, blob.digest),
        ));
    }
    Ok((file, path))
}

/// The hex of a `sha256:<64 lowercase hex>` digest; other algorithms are unsupported here.
fn sha256_hex(digest: &str) -> Result<&str> {
    let Some((alg, hex)) = digest.split_once(':') else {
        return Err(Error::invalid(
            "diff.digest",
            format!("{digest:?} is not <algorithm>:<hex>"),
        ));
    };
    if alg != "sha256" {
        return Err(Error::Unsupported(format!("digest algorithm {alg:?}")));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::invalid(
            "diff.digest",
            format!("{digest:?} is not sha256:<64 lowercase hex digits>"),
        ));
    }
    Ok(hex)
}

/// Hashes every byte read through it: the blob's own digest, checked after the application.
struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Sha256Reader<R> {
    fn new(inner: R) -> Self {
        Sha256Reader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Hashes what the applier left unread and returns `sha256:<hex>` of the whole blob.
    fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        let hex: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("sha256:{hex}"))
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            kind: kind.into(),
            source: source.into(),
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_this_snapshotters_active_snapshots_are_targets() {
        let t = dm_testkit::TempDir::new("dm-differ");
        let root = t.path();
        std::fs::create_dir_all(root.join("snapshots/7/fs")).unwrap();
        let d = Differ::new(root, Some(root.join("content")));
        let fs = root.join("snapshots/7/fs");
        let fs = fs.to_str().unwrap();
        let upper = format!("upperdir={fs}");
        assert_eq!(
            d.target(&[mount(
                "overlay",
                "overlay",
                &["workdir=/w", &upper, "lowerdir=/l"]
            )])
            .unwrap(),
            Path::new(fs)
        );
        assert_eq!(
            d.target(&[mount("bind", fs, &["rw", "rbind"])]).unwrap(),
            Path::new(fs)
        );
        for refused in [
            vec![mount("bind", fs, &["ro", "rbind"])],
            vec![mount("overlay", "overlay", &["lowerdir=/a:/b"])],
            vec![mount("bind", "/var/lib/containerd/x/fs", &["rw"])],
            vec![mount("bind", &format!("{fs}/../../7/fs/x"), &["rw"])],
            vec![mount(
                "bind",
                root.join("snapshots/new-1/fs").to_str().unwrap(),
                &["rw"],
            )],
            vec![mount(
                "bind",
                root.join("snapshots/8/fs").to_str().unwrap(),
                &["rw"],
            )],
            vec![],
            vec![mount("bind", fs, &["rw"]), mount("bind", fs, &["rw"])],
        ] {
            assert!(
                matches!(d.target(&refused), Err(Error::Unsupported(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn digests_are_checked_by_shape() {
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{hex}")).unwrap(), hex);
        assert!(matches!(
            sha256_hex(&format!("sha512:{hex}")),
            Err(Error::Unsupported(_))
        ));
        for bad in [
            "sha256",
            "sha256:abc",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(
                matches!(sha256_hex(bad), Err(Error::InvalidArgument { .. })),
                "{bad}"
            );
        }
    }
}
