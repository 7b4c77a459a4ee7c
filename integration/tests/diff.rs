//! containerd 1.7 with all three dockermind proxies: dm-content as its content store,
//! dm-snapshotter as snapshotter `dockermind` and, on the same socket, as diff plugin
//! `dockermind-diff`, which applies layers from dm-content's blob files (no reads through
//! containerd). Each test runs its own containerd and services with private roots.

use dm_integration::{
    poll, write_image_tar, Containerd, ContainerdOptions, ContainerdVersion, Ctr, ImageLayer,
    ProxyPlugin, RUNC_RUNTIME,
};
use dm_testkit::{require_cmd, require_root, Output, TempDir};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const DIFFER: &str = "dockermind-diff";

fn ready(test: &str) -> bool {
    require_root(test) && require_cmd("runc") && ContainerdVersion::V1_7.require(test)
}

/// containerd 1.7 on our content store, snapshotter and differ. Fields drop in order:
/// containerd goes before the services it is connected to.
struct Stack {
    ctd: Containerd,
    snap: ProxyPlugin,
    content: ProxyPlugin,
    work: TempDir,
}

impl Stack {
    fn start() -> Stack {
        let content = ProxyPlugin::start("dm-content");
        let snap = ProxyPlugin::start_with(
            "dm-snapshotter",
            vec!["--content-root".into(), content.root().into()],
        );
        let mut opts = ContainerdOptions::default().on(ContainerdVersion::V1_7);
        opts.disabled_plugins
            .push("io.containerd.content.v1.content".into());
        let opts = opts
            .extra(&content.containerd_toml("dockermind-content", "content"))
            .extra(&snap.containerd_toml("dockermind", "snapshot"))
            .extra(&snap.containerd_diff_toml(DIFFER, "dockermind"));
        let ctd = Containerd::start(opts);
        Stack {
            ctd,
            snap,
            content,
            work: TempDir::new("dm-diff"),
        }
    }

    /// `ctr image import` of `tar` as `docker.io/library/<name>` in `ctr`'s namespace.
    fn import(&self, ctr: &Ctr, tar: &Path, name: &str, extra: &[&str]) -> Output {
        let base = format!("docker.io/library/{name}");
        let mut args = vec!["image", "import", "--base-name", &base];
        args.extend_from_slice(extra);
        args.push(tar.to_str().unwrap());
        ctr.run(&args)
    }

    /// How many layers dm-snapshotter says it applied so far, and their log lines.
    fn applied(&self) -> Vec<String> {
        self.snap
            .log()
            .lines()
            .filter(|l| l.contains(": applied into "))
            .map(str::to_owned)
            .collect()
    }

    /// Snapshot directories in dm-snapshotter's root.
    fn snapshot_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.snap.root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn logs(&self) -> String {
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(25)..].join("\n")
        };
        format!(
            "--- containerd ---\n{}\n--- dm-snapshotter ---\n{}\n--- dm-content ---\n{}",
            tail(self.ctd.log()),
            tail(self.snap.log()),
            tail(self.content.log())
        )
    }

    fn ok(&self, out: Output, what: &str) -> String {
        assert_eq!(out.code, 0, "{what}: {out:?}\n{}", self.logs());
        out.stdout
    }
}

/// A tar layer from (name, contents) entries; names ending in `/` are directories.
fn layer_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        // Raw name bytes: the tar crate's own checks would refuse `..`, which the hostile
        // layer needs.
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip_layer(tar: Vec<u8>) -> ImageLayer {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).unwrap();
    let mut l = ImageLayer::plain(tar);
    l.blob = e.finish().unwrap();
    l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    l
}

fn zstd_layer(tar: Vec<u8>) -> ImageLayer {
    let blob = zstd::encode_all(&tar[..], 3).unwrap();
    let mut l = ImageLayer::plain(tar);
    l.blob = blob;
    l.media_type = "application/vnd.oci.image.layer.v1.tar+zstd".into();
    l
}

/// busybox (plain tar), then a gzip layer adding /etc/motd and whiting out /home/user, then a
/// zstd layer adding /etc/zstd and making /root opaque with one new file.
fn three_layer_image(work: &Path) -> (std::path::PathBuf, Vec<ImageLayer>) {
    let rootfs = work.join("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    std::fs::write(rootfs.join("root/hidden"), "from the bottom layer\n").unwrap();
    let base = work.join("base.tar");
    let st = std::process::Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&base)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let layers = vec![
        ImageLayer::plain(std::fs::read(&base).unwrap()),
        gzip_layer(layer_tar(&[
            ("etc/motd", b"from the gzip layer\n"),
            ("home/.wh.user", b""),
        ])),
        zstd_layer(layer_tar(&[
            ("etc/zstd", b"from the zstd layer\n"),
            ("root/", b""),
            ("root/.wh..wh..opq", b""),
            ("root/new", b"new\n"),
        ])),
    ];
    let tar = work.join("three.tar");
    write_image_tar(&tar, &work.join("three"), &layers, &["sh"], &[]);
    (tar, layers)
}

/// `ctr run --rm` of `image` on `snapshotter` with runc, running `script` in `sh -c`.
fn run_sh(ctr: &Ctr, snapshotter: &str, image: &str, id: &str, script: &str) -> Output {
    ctr.run(&[
        "run",
        "--rm",
        "--snapshotter",
        snapshotter,
        "--runtime",
        RUNC_RUNTIME,
        image,
        id,
        "sh",
        "-c",
        script,
    ])
}

#[test]
fn diff_proxy_applies_plain_gzip_and_zstd_layers_that_ctr_run_sees() {
    if !ready("diff_proxy_applies_plain_gzip_and_zstd_layers_that_ctr_run_sees") {
        return;
    }
    let s = Stack::start();
    let (tar, layers) = three_layer_image(s.work.path());
    // ctr 1.7's default import goes through containerd's transfer service; --local unpacks
    // in the client through the diff service's differ order. Both must reach us.
    let ctr = s.ctd.ctr();
    for (i, extra) in [&[][..], &["--local"][..]].into_iter().enumerate() {
        let c = if i == 0 { ctr.clone() } else { s.ctd.ctr() };
        let out = s.import(
            &c,
            &tar,
            "three",
            &[&["--snapshotter", "dockermind"], extra].concat(),
        );
        s.ok(out, &format!("import {extra:?}"));
        let applied = s.applied();
        assert_eq!(applied.len(), 3 * (i + 1), "{applied:#?}\n{}", s.logs());
        for l in &layers {
            let line = applied[3 * i..]
                .iter()
                .find(|a| a.contains(&format!("apply {} ", l.digest())))
                .unwrap_or_else(|| panic!("{} not applied by us: {applied:#?}", l.digest()));
            assert!(line.contains(&format!("diff id {}", l.diff_id)), "{line}");
            assert!(line.contains(&l.media_type), "{line}");
        }
    }
    let out = run_sh(
        &ctr,
        "dockermind",
        "docker.io/library/three:latest",
        "reader",
        "cat /etc/motd /etc/zstd; ls -A /root; test -e /home/user && echo user || echo no-user; \
         /bin/busybox true && echo busybox",
    );
    assert_eq!(
        s.ok(out, "ctr run"),
        "from the gzip layer\nfrom the zstd layer\nnew\nno-user\nbusybox\n"
    );
}

#[test]
fn diff_proxy_refuses_a_hostile_layer_and_leaves_no_snapshot() {
    if !ready("diff_proxy_refuses_a_hostile_layer_and_leaves_no_snapshot") {
        return;
    }
    let s = Stack::start();
    let layers = [gzip_layer(layer_tar(&[
        ("ok", b"fine\n"),
        ("../escaped", b"outside\n"),
        ("../../escaped", b"outside\n"),
    ]))];
    let tar = s.work.path().join("hostile.tar");
    write_image_tar(&tar, &s.work.path().join("hostile"), &layers, &["sh"], &[]);
    let ctr = s.ctd.ctr();
    for extra in [&[][..], &["--local"][..]] {
        let out = s.import(
            &ctr,
            &tar,
            "hostile",
            &[&["--snapshotter", "dockermind"], extra].concat(),
        );
        assert_ne!(out.code, 0, "hostile layer imported: {out:?}\n{}", s.logs());
        assert!(
            out.stderr.contains("layer entry \"../escaped\""),
            "the error names the entry: {out:?}"
        );
    }
    assert!(s.applied().is_empty(), "{:#?}", s.applied());
    let root = s.snap.root();
    for p in [root.join("escaped"), root.join("snapshots/escaped")] {
        assert!(!p.exists(), "{} written", p.display());
    }
    // containerd drops the half-applied snapshot at once and has its backend remove it in
    // the garbage collection that follows.
    let ls = s.ok(
        ctr.run(&["snapshots", "--snapshotter", "dockermind", "ls"]),
        "ls",
    );
    assert_eq!(ls.lines().count(), 1, "no snapshot left: {ls}");
    poll("no snapshot dir left", Duration::from_secs(20), || {
        s.snapshot_dirs().is_empty().then_some(())
    });
}

#[test]
fn diff_proxy_leaves_other_snapshotters_and_diff_to_containerd() {
    if !ready("diff_proxy_leaves_other_snapshotters_and_diff_to_containerd") {
        return;
    }
    let s = Stack::start();
    let tar = s.ctd.busybox_tar().to_owned();
    let ctr = s.ctd.ctr();
    // The built-in overlayfs snapshotter's mounts are not ours: Apply answers UNIMPLEMENTED
    // and containerd's walking differ takes over (it reads the blob through dm-content).
    s.ok(
        s.import(&ctr, &tar, "bb", &["--local", "--snapshotter", "overlayfs"]),
        "import into overlayfs",
    );
    assert!(s.applied().is_empty(), "{:#?}", s.applied());
    assert!(
        s.snap.log().contains("are not an active snapshot under"),
        "our Apply was asked first and declined:\n{}",
        s.logs()
    );
    let out = run_sh(
        &ctr,
        "overlayfs",
        "docker.io/library/bb:latest",
        "walking",
        "echo walked",
    );
    assert_eq!(s.ok(out, "ctr run on overlayfs"), "walked\n");

    // Diff (a layer from two mounts) is containerd's walking differ's job after our
    // UNIMPLEMENTED: `ctr snapshots diff` works.
    s.ok(
        s.import(&ctr, &tar, "bb", &["--snapshotter", "dockermind"]),
        "import into dockermind",
    );
    assert_eq!(s.applied().len(), 1, "{}", s.logs());
    let ls = s.ok(
        ctr.run(&["snapshots", "--snapshotter", "dockermind", "ls"]),
        "ls",
    );
    let layer = ls
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let snap = |args: &[&str]| {
        let mut full = vec!["snapshots", "--snapshotter", "dockermind"];
        full.extend_from_slice(args);
        s.ok(ctr.run(&full), &format!("snapshots {args:?}"))
    };
    snap(&["prepare", "work", layer]);
    let mounts = snap(&["mounts", "/mnt", "work"]);
    let upper = mounts
        .split([',', ' '])
        .find_map(|o| o.strip_prefix("upperdir="))
        .unwrap_or_else(|| panic!("overlay mount: {mounts}"))
        .trim()
        .to_owned();
    std::fs::write(Path::new(&upper).join("changed"), "x").unwrap();
    let out = ctr
        .cmd(&[
            "snapshots",
            "--snapshotter",
            "dockermind",
            "diff",
            "--media-type",
            "application/vnd.oci.image.layer.v1.tar",
            "work",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", s.logs());
    assert!(
        out.stdout.windows(7).any(|w| w == b"changed"),
        "the diff holds the new file"
    );
    assert!(
        s.snap.log().contains("not done here"),
        "our Diff was asked first and declined"
    );
}

#[test]
fn diff_proxy_applies_layers_from_containerds_own_content_store() {
    if !ready("diff_proxy_applies_layers_from_containerds_own_content_store") {
        return;
    }
    // containerd keeps its built-in content store (no content RPCs per written MiB) and
    // dm-snapshotter reads the blobs where that store keeps them: the same layout as
    // dm-content's. Locals drop in reverse: containerd, then the snapshotter, then the dirs.
    let work = TempDir::new("dm-diff-own");
    let root = work.path().join("containerd-root");
    let content = root.join("io.containerd.content.v1.content");
    std::fs::create_dir_all(&content).unwrap();
    let snap = ProxyPlugin::start_with(
        "dm-snapshotter",
        vec!["--content-root".into(), content.into()],
    );
    let mut opts = ContainerdOptions::default().on(ContainerdVersion::V1_7);
    opts.root = Some(root);
    let opts = opts
        .extra(&snap.containerd_toml("dockermind", "snapshot"))
        .extra(&snap.containerd_diff_toml(DIFFER, "dockermind"));
    let ctd = Containerd::start(opts);
    let (tar, layers) = three_layer_image(work.path());
    let ctr = ctd.ctr();
    let base = "docker.io/library/own";
    let out = ctr.run(&[
        "image",
        "import",
        "--snapshotter",
        "dockermind",
        "--base-name",
        base,
        tar.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "import: {out:?}\n{}", snap.log());
    let log = snap.log();
    for l in &layers {
        assert!(
            log.lines()
                .any(|line| line.contains(&format!("apply {} ", l.digest()))
                    && line.contains(": applied into ")
                    && line.contains(&format!("diff id {}", l.diff_id))),
            "{} not applied by dm-snapshotter:\n{log}",
            l.digest()
        );
    }
    let out = run_sh(
        &ctr,
        "dockermind",
        &format!("{base}:latest"),
        "own-reader",
        "cat /etc/motd /etc/zstd",
    );
    assert_eq!(out.code, 0, "ctr run: {out:?}\n{log}");
    assert_eq!(out.stdout, "from the gzip layer\nfrom the zstd layer\n");
}
