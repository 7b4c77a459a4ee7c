//! Applying an OCI image layer (tar; gzip, zstd or plain) onto a directory meant to be an
//! overlay upper dir.
//!
//! - Whiteouts become what overlayfs reads: `.wh.NAME` → a 0/0 character device NAME;
//!   `.wh..wh..opq` → `trusted.overlay.opaque=y` on its directory. Other `.wh..wh.` entries (aufs
//!   bookkeeping) are skipped.
//! - Ownership, modes (set-id bits included), mtimes, PAX xattrs and hard links are honoured;
//!   `trusted.overlay.*` xattrs from the tar are dropped, since only whiteouts may set them.
//! - Entries that would leave the target are refused with an error naming them: absolute paths,
//!   `..`, parents that are symlinks resolving outside, hard links to outside. Relative symlinks
//!   that stay inside are followed, as in the image's own view.
//! - Device nodes other than whiteouts follow [`DevicePolicy`] (refused by default); GNU sparse
//!   files keep their holes, and one declaring more than `max_sparse_holes` bytes of holes is
//!   refused rather than expanded.
//!
//! On error the target keeps what was applied so far: callers apply into a fresh snapshot and
//! remove it on failure.

mod decompress;
mod digest;
mod entry;
mod path;

pub use decompress::Compression;

use crate::{sys, Error, Result};
use digest::HashingReader;
use std::io::{BufReader, Read};
use std::path::Path;

/// What to do with character and block device entries that are not whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePolicy {
    /// Fail the layer naming the entry (default: a device node in a layer is a way to hand a
    /// container raw access to host hardware).
    Refuse,
    /// Leave them out.
    Skip,
    /// Create them with mknod, as containerd's differ does.
    Create,
}

/// Knobs for [`apply_layer`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Device node handling.
    pub devices: DevicePolicy,
    /// Most bytes of holes one sparse file may declare (default 16 GiB).
    pub max_sparse_holes: u64,
    /// Hash the uncompressed stream into [`ApplyStats::diff_id`] (default off).
    pub diff_id: bool,
    /// Refuse an entry that would replace a directory with a non-directory or the other way
    /// round (docker's `noOverwriteDirNonDir` for copies into containers; default off).
    pub no_overwrite_dir_non_dir: bool,
    /// Give every entry this uid and gid instead of the tar's (docker's `copyUIDGID`).
    pub owner: Option<(u32, u32)>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            devices: DevicePolicy::Refuse,
            max_sparse_holes: 16 << 30,
            diff_id: false,
            no_overwrite_dir_non_dir: false,
            owner: None,
        }
    }
}

/// What an application did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// The layer's compression.
    pub compression: Option<Compression>,
    /// Tar entries applied (whiteouts included).
    pub entries: u64,
    /// Bytes of file data written.
    pub file_bytes: u64,
    /// Whiteouts and opaque markers made.
    pub whiteouts: u64,
    /// Entries left out (aufs metadata, devices under [`DevicePolicy::Skip`], global headers).
    pub skipped: u64,
    /// `sha256:<hex>` of the uncompressed tar, when [`ApplyOptions::diff_id`] asked for it;
    /// callers compare it with the image config's diff ID.
    pub diff_id: Option<String>,
    /// Bytes of the uncompressed tar stream (all of it when [`ApplyOptions::diff_id`] is on).
    pub tar_bytes: u64,
}

/// Applies the layer read from `layer` onto directory `target`.
pub fn apply_layer<R: Read + Send>(
    layer: R,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats> {
    let root = sys::open_dir(target).map_err(|e| Error::Io {
        op: "open layer target",
        path: target.to_owned(),
        source: e.into(),
    })?;
    apply_layer_at(layer, root, opts)
}

/// [`apply_layer`] onto an already opened directory (a caller that resolved the target itself,
/// e.g. inside a container's root).
pub fn apply_layer_at<R: Read + Send>(
    layer: R,
    root: std::os::fd::OwnedFd,
    opts: &ApplyOptions,
) -> Result<ApplyStats> {
    let mut input = BufReader::with_capacity(256 * 1024, layer);
    let kind = decompress::detect(&mut input).map_err(|e| Error::LayerRead(e.to_string()))?;
    let mut stats = ApplyStats {
        compression: Some(kind),
        ..Default::default()
    };
    let read_err = |e: std::io::Error| Error::LayerRead(e.to_string());
    if kind == Compression::None {
        let mut tar = HashingReader::new(input, opts.diff_id);
        entry::apply_tar(&mut tar, root, opts, &mut stats)?;
        (stats.diff_id, stats.tar_bytes) = tar.finish().map_err(read_err)?;
        return Ok(stats);
    }
    (stats.diff_id, stats.tar_bytes) = std::thread::scope(|s| {
        let (tx, rx) = decompress::channel();
        s.spawn(move || decompress::pump(input, kind, tx));
        // Returning drops the reader, which stops the decompressing thread early on errors.
        let mut tar = HashingReader::new(rx, opts.diff_id);
        entry::apply_tar(&mut tar, root, opts, &mut stats)?;
        tar.finish().map_err(read_err)
    })?;
    Ok(stats)
}
