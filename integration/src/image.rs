//! Test images as OCI image layout tars, written without network: busybox, or any layers.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Writes to `out` a tar of an OCI image layout holding one image tagged `latest`: one
/// uncompressed layer made of dm_testkit's busybox rootfs, cmd `sh`. `work` is a scratch dir.
pub fn write_busybox_image_tar(out: &Path, work: &Path) {
    write_busybox_image_tar_with_cmd(out, work, &["sh"]);
}

/// [`write_busybox_image_tar`] with the image config's Cmd set to `cmd`.
pub fn write_busybox_image_tar_with_cmd(out: &Path, work: &Path, cmd: &[&str]) {
    write_busybox_image_tar_with(out, work, cmd, &[], None);
}

/// [`write_busybox_image_tar_with_cmd`] with VOLUMEs in the config and, when `extra` is given,
/// a second layer made of that directory's contents with their owners kept (the first layer
/// is all root's).
pub fn write_busybox_image_tar_with(
    out: &Path,
    work: &Path,
    cmd: &[&str],
    volumes: &[&str],
    extra: Option<&Path>,
) {
    let rootfs = work.join("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    let layer_tmp = work.join("layer.tar");
    tar(&rootfs, &layer_tmp);
    let mut layers = vec![ImageLayer::plain(std::fs::read(&layer_tmp).unwrap())];
    std::fs::remove_file(&layer_tmp).unwrap();
    if let Some(dir) = extra {
        let st = Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(&layer_tmp)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(st.success(), "tar of {} failed", dir.display());
        layers.push(ImageLayer::plain(std::fs::read(&layer_tmp).unwrap()));
        std::fs::remove_file(&layer_tmp).unwrap();
    }
    write_image_tar(out, work, &layers, cmd, volumes);
}

/// One layer of [`write_image_tar`].
#[derive(Clone, Debug)]
pub struct ImageLayer {
    /// The blob as stored (plain, gzip or zstd tar).
    pub blob: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// `sha256:<hex>` of the uncompressed tar (the config's diff ID).
    pub diff_id: String,
}

impl ImageLayer {
    /// An uncompressed tar layer.
    pub fn plain(tar: Vec<u8>) -> ImageLayer {
        ImageLayer {
            diff_id: format!("sha256:{:x}", Sha256::digest(&tar)),
            blob: tar,
            media_type: LAYER.into(),
        }
    }

    /// The blob's own digest (`sha256:<hex>`).
    pub fn digest(&self) -> String {
        format!("sha256:{:x}", Sha256::digest(&self.blob))
    }
}

/// Writes to `out` a tar of an OCI image layout holding one amd64 image tagged `latest` with
/// `layers` (bottom first), Cmd `cmd` and VOLUMEs `volumes`. `work` is a scratch dir.
pub fn write_image_tar(
    out: &Path,
    work: &Path,
    layers: &[ImageLayer],
    cmd: &[&str],
    volumes: &[&str],
) {
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| put_blob(&blobs, &l.blob, &l.media_type))
        .collect();
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    let vols: serde_json::Map<String, serde_json::Value> = volumes
        .iter()
        .map(|v| ((*v).to_owned(), serde_json::json!({})))
        .collect();

    let mut config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "dm-integration busybox rootfs"}]
    });
    if !vols.is_empty() {
        config["config"]["Volumes"] = serde_json::Value::Object(vols);
    }
    let config_desc = put_blob(&blobs, &serde_json::to_vec(&config).unwrap(), CONFIG);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_desc,
        "layers": descs,
    });
    let mut manifest_desc = put_blob(&blobs, &serde_json::to_vec(&manifest).unwrap(), MANIFEST);
    manifest_desc["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    manifest_desc["annotations"] =
        serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest_desc]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    tar(&layout, out);
}

/// Stores `data` as a blob and returns its descriptor.
fn put_blob(blobs: &Path, data: &[u8], media_type: &str) -> serde_json::Value {
    let hex = format!("{:x}", Sha256::digest(data));
    std::fs::write(blobs.join(&hex), data).unwrap();
    serde_json::json!({
        "mediaType": media_type,
        "digest": format!("sha256:{hex}"),
        "size": data.len(),
    })
}

/// Tars the contents of `dir` (not the dir itself) into `out`, owned by root.
fn tar(dir: &Path, out: &Path) {
    let st = Command::new("tar")
        .arg("--numeric-owner")
        .arg("--owner=0")
        .arg("--group=0")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar of {} failed", dir.display());
}
