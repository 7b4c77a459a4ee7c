//! containerd's diff API as the dm-snapshotter binary serves it next to the snapshots API:
//! Apply from a dm-content root's blob files, its refusals, and UNIMPLEMENTED where containerd
//! must ask its next differ.

mod common;

use common::server::{channel, client, rt, Server, BIN};
use common::{gzip, zstd, Layer};
use containerd_snapshots::api::snapshots::v1 as snap;
use containerd_snapshots::tonic::{Code, Status};
use dm_snapshotter::diff_service::api;
use dm_snapshotter::diff_service::api::diff_client::DiffClient;
use dm_testkit::{require_root, TempDir};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

fn digest(data: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// A dm-content-shaped root holding `blobs`, and a dm-snapshotter reading it.
struct Setup {
    _content: TempDir,
    content: PathBuf,
    srv: Server,
}

impl Setup {
    fn start() -> Setup {
        let t = TempDir::new("diffsvc-content");
        let content = t.path().join("content");
        std::fs::create_dir_all(content.join("blobs/sha256")).unwrap();
        let srv = Server::start_with(vec!["--content-root".into(), content.clone().into()]);
        Setup {
            _content: t,
            content,
            srv,
        }
    }

    /// Stores `data` as a blob and returns its descriptor.
    fn blob(&self, data: &[u8], media_type: &str) -> api::Descriptor {
        let d = digest(data);
        let path = self.blob_path(&d);
        std::fs::write(path, data).unwrap();
        api::Descriptor {
            media_type: media_type.into(),
            digest: d,
            size: data.len() as i64,
            annotations: Default::default(),
        }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.content
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }
}

fn mounts(m: Vec<containerd_snapshots::api::types::Mount>) -> Vec<api::Mount> {
    m.into_iter()
        .map(|m| api::Mount {
            r#type: m.r#type,
            source: m.source,
            target: m.target,
            options: m.options,
        })
        .collect()
}

fn prep(key: &str, parent: &str) -> snap::PrepareSnapshotRequest {
    snap::PrepareSnapshotRequest {
        snapshotter: String::new(),
        key: key.into(),
        parent: parent.into(),
        labels: Default::default(),
    }
}

fn upper(m: &[api::Mount]) -> PathBuf {
    let m = &m[0];
    m.options
        .iter()
        .find_map(|o| o.strip_prefix("upperdir="))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(&m.source))
}

async fn apply(
    c: &mut DiffClient<containerd_snapshots::tonic::transport::Channel>,
    desc: &api::Descriptor,
    m: &[api::Mount],
) -> Result<api::Descriptor, Status> {
    let r = c
        .apply(api::ApplyRequest {
            diff: Some(desc.clone()),
            mounts: m.to_vec(),
        })
        .await?;
    Ok(r.into_inner().applied.unwrap())
}

#[test]
fn apply_reads_blob_files_in_every_compression_and_returns_the_diff_id() {
    if !require_root("apply_reads_blob_files_in_every_compression_and_returns_the_diff_id") {
        return;
    }
    let s = Setup::start();
    let bottom = Layer::new().dir("etc/", 0o755).file("etc/a", b"a\n").tar();
    let middle = Layer::new()
        .file("etc/b", b"b\n")
        .file("etc/.wh.a", b"")
        .tar();
    let top = Layer::new().file("etc/c", b"c\n").tar();
    let layers = [
        (bottom, "application/vnd.oci.image.layer.v1.tar", None),
        (
            middle,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Some(gzip as fn(&[u8]) -> Vec<u8>),
        ),
        (
            top,
            "application/vnd.oci.image.layer.v1.tar+zstd",
            Some(zstd as fn(&[u8]) -> Vec<u8>),
        ),
    ];
    rt().block_on(async {
        let mut snaps = client(&s.srv.sock()).await;
        let mut diff = DiffClient::new(channel(&s.srv.sock()).await);
        let mut parent = String::new();
        for (i, (tar, media_type, compress)) in layers.iter().enumerate() {
            let blob = compress.map_or_else(|| tar.clone(), |f| f(tar));
            let desc = s.blob(&blob, media_type);
            let key = format!("extract-{i}");
            let m = mounts(
                snaps
                    .prepare(prep(&key, &parent))
                    .await
                    .unwrap()
                    .into_inner()
                    .mounts,
            );
            let applied = apply(&mut diff, &desc, &m).await.unwrap();
            assert_eq!(applied.digest, digest(tar), "layer {i}: diff id");
            assert_eq!(
                applied.size,
                tar.len() as i64,
                "layer {i}: uncompressed size"
            );
            assert_eq!(applied.media_type, "application/vnd.oci.image.layer.v1.tar");
            let up = upper(&m);
            assert!(
                up.join("etc").join(["a", "b", "c"][i]).is_file(),
                "layer {i}"
            );
            if i == 1 {
                let wh = std::fs::symlink_metadata(up.join("etc/a")).unwrap();
                use std::os::unix::fs::FileTypeExt;
                assert!(
                    wh.file_type().is_char_device(),
                    "whiteout as overlay reads it"
                );
            }
            parent = format!("layer-{i}");
            snaps
                .commit(snap::CommitSnapshotRequest {
                    snapshotter: String::new(),
                    name: parent.clone(),
                    key,
                    labels: Default::default(),
                })
                .await
                .unwrap();
        }
    });
    assert_eq!(s.srv.log().matches(": applied into ").count(), 3);
}

#[test]
fn apply_refuses_bad_blobs_and_declines_what_is_not_ours() {
    if !require_root("apply_refuses_bad_blobs_and_declines_what_is_not_ours") {
        return;
    }
    let s = Setup::start();
    let tar = Layer::new().file("f", b"data\n").tar();
    rt().block_on(async {
        let mut snaps = client(&s.srv.sock()).await;
        let mut diff = DiffClient::new(channel(&s.srv.sock()).await);
        let m = mounts(
            snaps
                .prepare(prep("k", ""))
                .await
                .unwrap()
                .into_inner()
                .mounts,
        );
        let good = s.blob(&tar, "application/vnd.oci.image.layer.v1.tar");
        let code = |r: Result<api::Descriptor, Status>| {
            let e = r.unwrap_err();
            (e.code(), e.message().to_owned())
        };

        // The bytes on disk no longer match the digest: refused, after reading them.
        let mut changed = tar.clone();
        changed[600] ^= 1;
        std::fs::write(s.blob_path(&good.digest), &changed).unwrap();
        let (c, msg) = code(apply(&mut diff, &good, &m).await);
        assert_eq!(c, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("changed on disk"), "{msg}");
        std::fs::write(s.blob_path(&good.digest), &tar).unwrap();
        // The same for a compressed blob: a zstd skippable frame appended leaves the layer
        // as it was, only the blob's own digest tells.
        let z = zstd(&tar);
        let zdesc = s.blob(&z, "application/vnd.oci.image.layer.v1.tar+zstd");
        let mut padded = z.clone();
        padded.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
        std::fs::write(s.blob_path(&zdesc.digest), &padded).unwrap();
        let mut zdesc = zdesc;
        zdesc.size = padded.len() as i64;
        let (c, msg) = code(apply(&mut diff, &zdesc, &m).await);
        assert_eq!(c, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("changed on disk"), "{msg}");

        let mut wrong_size = good.clone();
        wrong_size.size += 1;
        let (c, msg) = code(apply(&mut diff, &wrong_size, &m).await);
        assert_eq!(c, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("diff.size"), "{msg}");
        let mut bad_digest = good.clone();
        bad_digest.digest = "sha256:xyz".into();
        let (c, msg) = code(apply(&mut diff, &bad_digest, &m).await);
        assert_eq!(c, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("diff.digest"), "{msg}");

        // Not ours to do: containerd's next differ takes these.
        let mut encrypted = good.clone();
        encrypted.media_type = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted".into();
        let mut missing = good.clone();
        missing.digest = digest(b"not stored");
        let foreign = vec![api::Mount {
            r#type: "bind".into(),
            source: s.srv.dir.path().to_str().unwrap().into(),
            target: String::new(),
            options: vec!["rw".into(), "rbind".into()],
        }];
        for (desc, mounts, why) in [
            (&encrypted, &m, "media type"),
            (&missing, &m, "is not in"),
            (&good, &foreign, "not an active snapshot"),
        ] {
            let (c, msg) = code(apply(&mut diff, desc, mounts).await);
            assert_eq!(c, Code::Unimplemented, "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let e = diff
            .diff(api::DiffRequest {
                left: m.clone(),
                right: m.clone(),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                r#ref: String::new(),
                labels: Default::default(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e}");

        // After all that, the good blob still applies.
        apply(&mut diff, &good, &m).await.unwrap();
        assert_eq!(std::fs::read(upper(&m).join("f")).unwrap(), b"data\n");
    });
}

#[test]
fn without_content_root_apply_is_left_to_containerd_and_a_bad_one_is_refused() {
    if !require_root("without_content_root_apply_is_left_to_containerd_and_a_bad_one_is_refused") {
        return;
    }
    let srv = Server::start();
    rt().block_on(async {
        let mut snaps = client(&srv.sock()).await;
        let mut diff = DiffClient::new(channel(&srv.sock()).await);
        let m = mounts(
            snaps
                .prepare(prep("k", ""))
                .await
                .unwrap()
                .into_inner()
                .mounts,
        );
        let desc = api::Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: digest(b"x"),
            size: 1,
            annotations: Default::default(),
        };
        let e = apply(&mut diff, &desc, &m).await.unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e}");
        assert!(e.message().contains("--content-root"), "{e}");
    });

    let t = TempDir::new("diffsvc-bad");
    let out = Command::new(BIN)
        .arg("--root")
        .arg(t.path().join("root"))
        .arg("--address")
        .arg(t.path().join("s.sock"))
        .arg("--content-root")
        .arg(t.path().join("missing"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--content-root") && err.contains("not a directory"),
        "{err}"
    );
    assert!(!Path::new(&t.path().join("s.sock")).exists());
    assert!(!t.path().join("root").exists(), "no root made");
}
