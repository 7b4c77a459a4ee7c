//! Unpacking an image's layers into committed snapshots named by chain ID (as containerd
//! names them), each layer applied by dm-snapshotter into a fresh active snapshot and checked
//! against the config's diff ID before it is committed.

use crate::progress::{Event, Progress};
use crate::pull::Blob;
use dm_content::{Digest, Store};
use dm_snapshotter::layer::{apply_layer, ApplyOptions, DevicePolicy};
use dm_snapshotter::Snapshotter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors of unpacking.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The snapshotter refused or failed (layer entries it refuses included).
    #[error("layer {layer}: {source}")]
    Snapshot {
        /// The layer blob.
        layer: String,
        /// Its error.
        source: dm_snapshotter::Error,
    },
    /// A layer's uncompressed content is not what the config says.
    #[error(
        "layer {layer}: uncompressed content has digest {actual}, the image config says {expected}"
    )]
    DiffId {
        /// The layer blob.
        layer: Digest,
        /// The config's diff ID.
        expected: String,
        /// What the layer held.
        actual: String,
    },
    /// The config does not match the manifest.
    #[error("image config {config}: {detail}")]
    Config {
        /// The config blob.
        config: Digest,
        /// What is wrong.
        detail: String,
    },
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] dm_content::Error),
    /// The pull feeding the unpack stopped before this blob arrived.
    #[error("blob {0} never arrived: the pull stopped")]
    Interrupted(Digest),
}

/// containerd's chain IDs: the first is the first diff ID, then
/// `sha256(previous + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The diff IDs an image config lists, checked against the manifest's layer count.
pub fn diff_ids(store: &Store, config: &Digest, layers: usize) -> Result<Vec<Digest>, UnpackError> {
    let bytes = read_blob(store, config)?;
    let bad = |detail: String| UnpackError::Config {
        config: config.clone(),
        detail,
    };
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let ids = doc
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .ok_or_else(|| bad("no rootfs.diff_ids".into()))?;
    let ids: Vec<Digest> = ids
        .iter()
        .map(|v| v.as_str().unwrap_or("").parse::<Digest>())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("rootfs.diff_ids: {e}")))?;
    if ids.len() != layers {
        return Err(bad(format!(
            "rootfs.diff_ids lists {} layers, the manifest {layers}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// A whole blob from the store (configs and manifests: small).
pub fn read_blob(store: &Store, d: &Digest) -> Result<Vec<u8>, dm_content::Error> {
    let mut out = Vec::new();
    store.read(d, 0, None, 1 << 20, |_, chunk| {
        out.extend_from_slice(&chunk);
        true
    })?;
    Ok(out)
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Applies every layer not yet unpacked; returns the chain IDs, base first.
pub fn unpack(
    store: &Store,
    snaps: &Snapshotter,
    config: &Digest,
    layers: &[Blob],
    progress: &Progress,
) -> Result<Vec<Digest>, UnpackError> {
    unpack_when(store, snaps, config, layers, progress, |_| true)
}

/// [`unpack`] while the blobs are still arriving: `ready(d)` blocks until blob `d` is in the
/// store and returns false if it never will be. Layers already unpacked are not waited for.
pub fn unpack_when(
    store: &Store,
    snaps: &Snapshotter,
    config: &Digest,
    layers: &[Blob],
    progress: &Progress,
    mut ready: impl FnMut(&Digest) -> bool,
) -> Result<Vec<Digest>, UnpackError> {
    if !ready(config) {
        return Err(UnpackError::Interrupted(config.clone()));
    }
    let ids = diff_ids(store, config, layers.len())?;
    let chain = chain_ids(&ids);
    for (i, layer) in layers.iter().enumerate() {
        let name = chain[i].to_string();
        if snaps.stat(&name).is_ok() {
            progress.emit(Event::Unpacked {
                digest: layer.digest.clone(),
                applied: false,
            });
            continue;
        }
        if !ready(&layer.digest) {
            return Err(UnpackError::Interrupted(layer.digest.clone()));
        }
        let parent = if i == 0 {
            String::new()
        } else {
            chain[i - 1].to_string()
        };
        apply_one(store, snaps, layer, &ids[i], &name, &parent)?;
        progress.emit(Event::Unpacked {
            digest: layer.digest.clone(),
            applied: true,
        });
    }
    Ok(chain)
}

/// Applies one layer blob as snapshot `name` on `parent`, checking its diff ID (for callers
/// that know a layer without its image: a build cache).
pub fn apply_blob(
    store: &Store,
    snaps: &Snapshotter,
    layer: &Blob,
    diff_id: &Digest,
    name: &str,
    parent: &str,
) -> Result<(), UnpackError> {
    apply_one(store, snaps, layer, diff_id, name, parent)
}

fn apply_one(
    store: &Store,
    snaps: &Snapshotter,
    layer: &Blob,
    diff_id: &Digest,
    name: &str,
    parent: &str,
) -> Result<(), UnpackError> {
    let snap_err = |source| UnpackError::Snapshot {
        layer: layer.digest.to_string(),
        source,
    };
    let key = format!(
        "extract-{}-{}-{name}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let mounts = snaps
        .prepare(&key, parent, HashMap::new())
        .map_err(snap_err)?;
    let result = (|| {
        let upper = dm_snapshotter::upper_dir(&mounts).ok_or_else(|| {
            snap_err(dm_snapshotter::Error::invalid(
                "mounts",
                format!("no upper dir in {mounts:?}"),
            ))
        })?;
        let path = store.blob_path(&layer.digest);
        let file = std::fs::File::open(&path).map_err(|e| {
            UnpackError::Content(dm_content::Error::Io {
                op: "open",
                path: path.clone(),
                source: e,
            })
        })?;
        // Device nodes are made as docker and containerd make them: a container reaches one
        // only if its device cgroup allows it. Without root mknod would fail, so they are left
        // out there, as rootless podman does.
        let devices = if nix::unistd::geteuid().is_root() {
            DevicePolicy::Create
        } else {
            DevicePolicy::Skip
        };
        let opts = ApplyOptions {
            diff_id: true,
            devices,
            ..Default::default()
        };
        let stats = apply_layer(file, &upper, &opts).map_err(snap_err)?;
        let actual = stats.diff_id.unwrap_or_default();
        if actual != diff_id.to_string() {
            return Err(UnpackError::DiffId {
                layer: layer.digest.clone(),
                expected: diff_id.to_string(),
                actual,
            });
        }
        match snaps.commit(name, &key, HashMap::new()) {
            // Another unpack committed the same chain first: ours is redundant.
            Ok(()) | Err(dm_snapshotter::Error::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(snap_err(e)),
        }
    })();
    if result.is_err() || snaps.stat(&key).is_ok() {
        let _ = snaps.remove(&key);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = Digest::of(b"c");
        let chain = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], Digest::of(format!("{a} {b}").as_bytes()));
        assert_eq!(chain[2], Digest::of(format!("{} {c}", chain[1]).as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }
}
