//! The same Dockerfile built by dm-build and by Debian's `buildah bud`: the same files (type,
//! mode, owner, content), env, entrypoint, cmd, workdir and user.

use dm_build::{build, Options};
use dm_image::{Images, Platform, Progress};
use dm_testkit::{require_cmd, require_root, unique_id, workspace_bin, TempDir};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const DOCKERFILE: &str = r#"ARG WHO=nobody
FROM BASE
ARG WHO
ENV GREETING=hello PATH=/usr/local/bin:/bin
RUN mkdir -p /made && echo "$GREETING $WHO" > /made/by-run && rm /bin/yes && chmod 750 /made
WORKDIR /empty/dir
WORKDIR /bin
WORKDIR /app
COPY --chown=user:extra data/ /data/
COPY hello.txt ./
ADD archive.tar.gz /unpacked/
USER user
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING"]
"#;

fn load(images: &Images, tar: &Path, name: &str) {
    let base = name.parse().unwrap();
    let f = std::fs::File::open(tar).unwrap();
    images
        .load(f, Some(&base), &Platform::default(), &Progress::default())
        .unwrap();
}

/// Every entry of the image's root: path to (mode, uid, gid, content or link target).
fn tree(
    images: &Images,
    name: &str,
    at: &Path,
    start: i64,
) -> BTreeMap<String, (u32, u32, u32, String, i64)> {
    let key = unique_id("dm-build-cmp");
    let mounts = images.prepare(name, &key).unwrap();
    std::fs::create_dir_all(at).unwrap();
    dm_image::rootfs::mount(&mounts, at).unwrap();
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(at).min_depth(1) {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let what = if m.file_type().is_symlink() {
            std::fs::read_link(e.path()).unwrap().display().to_string()
        } else if m.is_file() {
            dm_content::Digest::of(&std::fs::read(e.path()).unwrap()).to_string()
        } else {
            String::new()
        };
        let rel = e.path().strip_prefix(at).unwrap().display().to_string();
        // Files from the context and the base keep their times; what RUN made, and directories
        // (which take the time of their last change), have build-time mtimes that differ.
        let mtime = if m.is_dir() || m.mtime() >= start {
            0
        } else {
            m.mtime()
        };
        out.insert(rel, (m.mode(), m.uid(), m.gid(), what, mtime));
    }
    dm_image::rootfs::unmount(at).unwrap();
    images.snapshotter().remove(&key).unwrap();
    out
}

#[test]
fn dm_build_matches_buildah_bud() {
    let test = "dm_build_matches_buildah_bud";
    if !require_root(test) || !require_cmd("buildah") {
        return;
    }
    let dir = TempDir::new("dm-build-buildah");
    let images = Images::open(&dir.path().join("store"), Default::default()).unwrap();
    let busybox = dir.path().join("busybox.tar");
    dm_integration::write_busybox_image_tar(&busybox, &dir.path().join("busybox-work"));
    load(&images, &busybox, "dm/busybox");

    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("data/sub")).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(ctx.join("data/sub/file"), "data\n").unwrap();
    for f in ["hello.txt", "data/sub/file"] {
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        let file = std::fs::File::options()
            .append(true)
            .open(ctx.join(f))
            .unwrap();
        file.set_modified(old).unwrap();
    }
    std::fs::set_permissions(
        ctx.join("data/sub/file"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o711);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(1_700_000_000);
    tar.append_data(&mut h, "in/tar.txt", &b"abc"[..]).unwrap();
    let gz = tar.into_inner().unwrap().finish().unwrap();
    std::fs::write(ctx.join("archive.tar.gz"), gz).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        DOCKERFILE.replace("BASE", "dm/busybox:latest"),
    )
    .unwrap();
    let bh_file = dir.path().join("Dockerfile.buildah");
    let bh_from = format!("oci-archive:{}", busybox.display());
    std::fs::write(&bh_file, DOCKERFILE.replace("BASE", &bh_from)).unwrap();

    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    let opts = Options {
        context: ctx.clone(),
        tags: vec!["dm/ours:v1".into()],
        build_args: [("WHO".to_owned(), "world".to_owned())].into(),
        runtime: workspace_bin("dm-runc"),
        ..Default::default()
    };
    build(&images, &opts, &mut |_| {}).unwrap();

    let (root, runroot) = (dir.path().join("bh-root"), dir.path().join("bh-run"));
    let buildah = |args: &[&str]| {
        let out = Command::new("buildah")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "buildah {args:?}: {out:?}");
    };
    let bh_tar = dir.path().join("buildah.tar");
    let file = bh_file.display().to_string();
    let ctx_s = ctx.display().to_string();
    buildah(&[
        "bud",
        "--isolation",
        "oci",
        "--runtime",
        "runc",
        "--network",
        "none",
        "--build-arg",
        "WHO=world",
        "-f",
        &file,
        "-t",
        "localhost/cmp:v1",
        &ctx_s,
    ]);
    buildah(&[
        "push",
        "localhost/cmp:v1",
        &format!("oci-archive:{}:v1", bh_tar.display()),
    ]);
    buildah(&["rmi", "--all", "--force"]);
    load(&images, &bh_tar, "dm/theirs");

    let ours = images.inspect("dm/ours:v1").unwrap().config["config"].clone();
    let theirs = images.inspect("dm/theirs:v1").unwrap().config["config"].clone();
    for k in ["Env", "Entrypoint", "Cmd", "WorkingDir", "User"] {
        assert_eq!(ours[k], theirs[k], "config {k}");
    }
    let a = tree(&images, "dm/ours:v1", &dir.path().join("mnt-ours"), start);
    let b = tree(
        &images,
        "dm/theirs:v1",
        &dir.path().join("mnt-theirs"),
        start,
    );
    // buildah leaves behind the mount points of what it binds into RUN containers (an empty
    // /etc/hostname, /run for .containerenv); docker's builder does not, nor do we.
    let buildah_mountpoints = ["etc/hostname", "run"];
    let diff: Vec<_> = a
        .keys()
        .chain(b.keys())
        .filter(|k| !buildah_mountpoints.contains(&k.as_str()))
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k, a.get(k), b.get(k)))
        .collect();
    assert!(diff.is_empty(), "dm-build vs buildah: {diff:#?}");
}
