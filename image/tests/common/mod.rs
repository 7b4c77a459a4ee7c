//! Shared by dm-image's tests: small OCI images made in memory, a scripted registry, and
//! clients set up for loopback registries.

#![allow(dead_code)]

pub mod fake;

use dm_content::Digest;
use dm_image::{Client, ClientOptions, RegistryConfig};
use serde_json::json;
use std::time::Duration;

/// A layer tar (uncompressed) holding `files` (path, contents), mode 0644, owned by root.
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zstd of `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// One blob with its descriptor.
#[derive(Clone)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            bytes,
            media_type: media_type.into(),
        }
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }

    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest().to_string(), "size": self.bytes.len()})
    }
}

/// An image: config and layers (compressed as given; `diff_ids` are of the plain tars).
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

/// Builds an OCI image whose layers are `layers` (media type, stored bytes, plain tar).
pub fn image(layers: Vec<(&str, Vec<u8>, Vec<u8>)>) -> Image {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, _, plain)| Digest::of(plain).to_string())
        .collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        serde_json::to_vec(&config).unwrap(),
    );
    let layers: Vec<Blob> = layers
        .into_iter()
        .map(|(mt, bytes, _)| Blob::new(mt, bytes))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest).unwrap(),
    );
    Image {
        manifest,
        config,
        layers,
    }
}

/// Serves `img` from `fake` as `<repo>:<tag>` (manifest by tag and digest, blobs by digest).
pub fn serve(fake: &fake::Fake, repo: &str, tag: &str, img: &Image) {
    let route = |b: &Blob| fake::Route {
        content_type: b.media_type.clone(),
        body: b.bytes.clone(),
        ..Default::default()
    };
    fake.route(&format!("{repo}/manifests/{tag}"), route(&img.manifest));
    fake.route(
        &format!("{repo}/manifests/{}", img.manifest.digest()),
        route(&img.manifest),
    );
    for b in std::iter::once(&img.config).chain(&img.layers) {
        fake.route(&format!("{repo}/blobs/{}", b.digest()), route(b));
    }
}

/// A client for plain-HTTP loopback registries with short timeouts.
pub fn client() -> Client {
    Client::new(ClientOptions {
        config: RegistryConfig::default(),
        read_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    })
}

/// A current-thread runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Names of the files under `dir` (ingests left behind show up here).
pub fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A tar whose single entry is named `raw` as given (`../x`, `/abs`): the tar crate's own
/// path setter refuses such names.
pub fn raw_name_tar(raw: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..raw.len()].copy_from_slice(raw.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

/// `mounts` mounted at `target` until dropped.
pub struct Mounted(std::path::PathBuf);

impl Mounted {
    pub fn new(mounts: &[dm_snapshotter::Mount], target: &std::path::Path) -> Mounted {
        std::fs::create_dir_all(target).unwrap();
        let m = &mounts[0];
        let mut cmd = std::process::Command::new("mount");
        if m.kind == "bind" {
            cmd.arg("--bind").arg(&m.source).arg(target);
        } else {
            cmd.args(["-t", &m.kind, "-o", &m.options.join(","), &m.source])
                .arg(target);
        }
        let st = cmd.status().unwrap();
        assert!(st.success(), "mount {m:?}");
        Mounted(target.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
