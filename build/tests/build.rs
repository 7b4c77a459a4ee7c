//! Builds FROM the busybox test image with dm-runc, runs the result, and checks the cache:
//! an unchanged rebuild starts no container, a changed COPY re-runs only what follows it.

use dm_build::{build, Built, Options};
use dm_image::{Images, Platform, Progress};
use dm_testkit::{require_root, unique_id, workspace_bin, TempDir};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const DOCKERFILE: &str = r#"FROM dm/busybox:latest
ARG WHO=nobody
ENV GREETING=hello
RUN mkdir /made && echo "$GREETING $WHO" > /made/by-run && ln /made/by-run /made/link && rm /bin/yes
WORKDIR /app
COPY --chown=user:extra data/ /data/
COPY hello.txt ./
RUN cat /proc/sys/kernel/random/uuid > /app/stamp && id -u > /app/uid
USER user
RUN id -u > /data/run-as && id -G >> /data/run-as
CMD ["sh", "-c", "echo $GREETING; pwd; cat /app/hello.txt; id -u"]
"#;

/// A store holding the busybox test image as dm/busybox:latest.
fn store(dir: &Path) -> Images {
    let tar = dir.join("busybox.tar");
    dm_integration::write_busybox_image_tar(&tar, &dir.join("busybox-work"));
    store_with(dir, &tar)
}

/// A store holding the busybox image archive `tar` as dm/busybox:latest.
fn store_with(dir: &Path, tar: &Path) -> Images {
    let images = Images::open(&dir.join("store"), Default::default()).unwrap();
    let name = "dm/busybox".parse().unwrap();
    let f = std::fs::File::open(tar).unwrap();
    images
        .load(f, Some(&name), &Platform::default(), &Progress::default())
        .unwrap();
    images
}

fn opts(context: &Path) -> Options {
    Options {
        context: context.to_owned(),
        tags: vec!["dm/built:v1".into()],
        build_args: [("WHO".to_owned(), "world".to_owned())].into(),
        runtime: workspace_bin("dm-runc"),
        ..Default::default()
    }
}

fn run_build(images: &Images, o: &Options) -> Built {
    build(images, o, &mut |l| eprintln!("{l}")).unwrap()
}

/// Runs the image's Cmd with its Env, WorkingDir and User in dm-runc; returns stdout.
fn run_image(images: &Images, name: &str, work: &Path) -> String {
    let details = images.inspect(name).unwrap();
    let cfg = &details.config["config"];
    let key = unique_id("dm-build-test");
    let mounts = images.prepare(name, &key).unwrap();
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    dm_image::rootfs::mount(&mounts, &rootfs).unwrap();
    let runtime = workspace_bin("dm-runc");
    let st = Command::new(&runtime)
        .arg("spec")
        .current_dir(work)
        .status()
        .unwrap();
    assert!(st.success());
    let spec_path = work.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
    spec["root"] = serde_json::json!({"path": rootfs, "readonly": false});
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = cfg["Cmd"].clone();
    spec["process"]["env"] = cfg["Env"].clone();
    spec["process"]["cwd"] = cfg["WorkingDir"].clone();
    assert_eq!(
        cfg["User"], "user",
        "the user in the busybox test image's /etc/passwd"
    );
    spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = Command::new(&runtime)
        .arg("--root")
        .arg(work.join("state"))
        .args(["run", "--bundle"])
        .arg(work)
        .arg(unique_id("ct"))
        .output()
        .unwrap();
    dm_image::rootfs::unmount(&rootfs).unwrap();
    images.snapshotter().remove(&key).unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn builds_runs_and_caches_a_busybox_image() {
    if !require_root("builds_runs_and_caches_a_busybox_image") {
        return;
    }
    let dir = TempDir::new("dm-build");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("data/sub")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.join("hello.txt"), "v1\n").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let f = std::fs::File::options()
        .append(true)
        .open(ctx.join("hello.txt"))
        .unwrap();
    f.set_modified(old).unwrap();
    std::fs::write(ctx.join("data/sub/file"), "data\n").unwrap();
    std::fs::write(ctx.join("data/secret.key"), "no\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "**/*.key\n").unwrap();

    let first = run_build(&images, &opts(&ctx));
    assert_eq!((first.ran, first.cached, first.containers), (6, 0, 3));

    // The result, from outside: its config, and its files through a fresh snapshot.
    let details = images.inspect("dm/built:v1").unwrap();
    assert_eq!(details.record.config, first.id);
    let cfg = &details.config["config"];
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["User"], "user");
    assert!(cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hello"));
    assert!(
        !cfg["Env"].to_string().contains("WHO"),
        "ARGs are not kept: {cfg}"
    );
    assert_eq!(
        details.config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let work = TempDir::new("dm-build-run");
    let out = run_image(&images, "dm/built:v1", work.path());
    assert_eq!(out, "hello\n/app\nv1\n1000\n");

    let key = unique_id("dm-build-look");
    let mounts = images.prepare("dm/built:v1", &key).unwrap();
    let root = dir.path().join("look");
    std::fs::create_dir_all(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let by_run = std::fs::read_to_string(root.join("made/by-run"));
    let uid = std::fs::read_to_string(root.join("app/uid"));
    let run_as = std::fs::read_to_string(root.join("data/run-as"));
    let mtime = root.join("app/hello.txt").metadata().unwrap().mtime();
    let linked = (
        root.join("made/by-run").metadata().unwrap().ino(),
        root.join("made/link").metadata().unwrap().ino(),
    );
    let yes_gone = root.join("bin/yes").symlink_metadata().is_err();
    let data = root
        .join("data/sub/file")
        .metadata()
        .map(|m| (m.uid(), m.gid()));
    let ignored = root.join("data/secret.key").exists();
    dm_image::rootfs::unmount(&root).unwrap();
    images.snapshotter().remove(&key).unwrap();
    assert_eq!(
        by_run.unwrap(),
        "hello world\n",
        "ENV and --build-arg reach RUN"
    );
    assert_eq!(uid.unwrap(), "0\n", "RUN before USER runs as root");
    assert_eq!(
        run_as.unwrap(),
        "1000\n1000 2000\n",
        "USER by name, with /etc/group's groups"
    );
    assert_eq!(linked.0, linked.1, "a hard link stays one");
    assert_eq!(mtime, 1_600_000_000, "COPY keeps the source's mtime");
    assert!(yes_gone, "a deleted file is a whiteout in the layer");
    assert_eq!(data.unwrap(), (1000, 2000), "--chown=user:extra by name");
    assert!(!ignored, ".dockerignore keeps files out of COPY");

    // Nothing changed: every step from the cache, no container, the same image, and the
    // image records are not even rewritten.
    let records = images.root().join("images/images.json");
    let written = std::fs::metadata(&records).unwrap().modified().unwrap();
    let again = run_build(&images, &opts(&ctx));
    assert_eq!((again.ran, again.cached, again.containers), (0, 6, 0));
    assert_eq!(again.id, first.id);
    assert_eq!(
        std::fs::metadata(&records).unwrap().modified().unwrap(),
        written
    );

    // A new mtime alone is no change.
    let f = std::fs::File::options()
        .append(true)
        .open(ctx.join("hello.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(run_build(&images, &opts(&ctx)).containers, 0);

    // hello.txt changed: its COPY and the RUN after it run again, nothing before them.
    std::fs::write(ctx.join("hello.txt"), "v2\n").unwrap();
    let changed = run_build(&images, &opts(&ctx));
    assert_eq!((changed.ran, changed.cached, changed.containers), (3, 3, 2));
    assert_ne!(changed.id, first.id);
    let work = TempDir::new("dm-build-run");
    assert_eq!(
        run_image(&images, "dm/built:v1", work.path()),
        "hello\n/app\nv2\n1000\n"
    );

    // --no-cache runs everything again.
    let o = Options {
        no_cache: true,
        ..opts(&ctx)
    };
    let fresh = run_build(&images, &o);
    assert_eq!((fresh.ran, fresh.containers), (6, 3));
}

#[test]
fn a_failing_run_names_the_command_and_leaves_no_image_or_snapshot() {
    if !require_root("a_failing_run_names_the_command_and_leaves_no_image_or_snapshot") {
        return;
    }
    let dir = TempDir::new("dm-build-fail");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\nRUN echo first-line; echo boom-output >&2; exit 3\n",
    )
    .unwrap();
    // What a killed build (a pid that is gone) left: a mounted snapshot and its scratch dir.
    let stale = format!("dm-build-{}-0", i32::MAX);
    let parent = images.resolve("dm/busybox:latest").unwrap().chain_ids[0].clone();
    let mounts = images
        .snapshotter()
        .prepare(&stale, &parent, Default::default())
        .unwrap();
    let stale_root = images.root().join("build-tmp").join(&stale).join("rootfs");
    std::fs::create_dir_all(&stale_root).unwrap();
    dm_image::rootfs::mount(&mounts, &stale_root).unwrap();
    let before = images.snapshotter().list::<&str>(&[]).unwrap().len() - 1;
    let err = build(&images, &opts(&ctx), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("exit code 3"),
        "{err}"
    );
    assert!(
        err.contains("boom-output") && err.contains("echo first-line"),
        "{err}"
    );
    assert!(images.resolve("dm/built:v1").is_err());
    assert_eq!(
        images.snapshotter().list::<&str>(&[]).unwrap().len(),
        before
    );
    let tmp = images.root().join("build-tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "scratch dirs left"
    );
    assert!(
        images.snapshotter().stat(&stale).is_err(),
        "the dead build's snapshot is gone"
    );
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    if !require_root("multi_stage_builds_only_what_the_target_needs") {
        return;
    }
    let dir = TempDir::new("dm-build-multi");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE=dm/busybox:latest\nFROM ${BASE} AS unused\nRUN exit 1\n\
         FROM ${BASE} AS builder\nARG TARGETARCH\nRUN <<EOF\necho built $TARGETARCH > /out\ncat >> /out <<INNER\nheredoc\nINNER\nEOF\n\
         FROM scratch\nARG BASE\nCOPY --from=builder /out /result\nCOPY --from=builder /bin/busybox /bin/\n\
         COPY --from=${BASE} /etc/passwd /etc/\n\
         HEALTHCHECK --interval=30s --retries=2 CMD [\"/bin/busybox\", \"true\"]\n\
         ENTRYPOINT [\"/bin/busybox\", \"cat\"]\nCMD [\"/result\"]\n",
    )
    .unwrap();
    let built = run_build(&images, &opts(&ctx));
    assert_eq!(
        built.containers, 1,
        "the unused stage's failing RUN never ran"
    );
    let details = images.inspect("dm/built:v1").unwrap();
    assert_eq!(details.config["config"]["Entrypoint"][1], "cat");
    assert_eq!(
        details.config["config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "/bin/busybox", "true"], "Interval": 30_000_000_000u64, "Retries": 2})
    );
    assert_eq!(
        details.config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let key = unique_id("dm-build-look");
    let mounts = images.prepare("dm/built:v1", &key).unwrap();
    let root = dir.path().join("look");
    std::fs::create_dir_all(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let result = std::fs::read_to_string(root.join("result"));
    let busybox = root
        .join("bin/busybox")
        .metadata()
        .map(|m| m.mode() & 0o111 != 0);
    let etc: Vec<_> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    dm_image::rootfs::unmount(&root).unwrap();
    images.snapshotter().remove(&key).unwrap();
    assert_eq!(result.unwrap(), "built amd64\nheredoc\n");
    assert!(busybox.unwrap());
    assert_eq!(
        etc,
        ["passwd"],
        "scratch holds only what was copied (--from an image)"
    );
}

#[test]
fn run_mounts_cache_bind_and_tmpfs() {
    if !require_root("run_mounts_cache_bind_and_tmpfs") {
        return;
    }
    let dir = TempDir::new("dm-build-mounts");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("data")).unwrap();
    std::fs::write(ctx.join("data/in.txt"), "one\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\n\
         RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /runs\n\
         RUN --mount=type=bind,source=data,target=/ctx cat /ctx/in.txt > /from-bind\n\
         RUN --mount=type=tmpfs,target=/scratch touch /scratch/junk && ls /scratch > /tmpfs-ls\n",
    )
    .unwrap();
    let look = |name: &str| {
        let key = unique_id("dm-build-look");
        let mounts = images.prepare(name, &key).unwrap();
        let root = dir.path().join(&key);
        std::fs::create_dir_all(&root).unwrap();
        dm_image::rootfs::mount(&mounts, &root).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
        let got = (
            read("runs"),
            read("from-bind"),
            read("tmpfs-ls"),
            ["cache", "ctx", "scratch"].map(|p| root.join(p).exists()),
        );
        dm_image::rootfs::unmount(&root).unwrap();
        images.snapshotter().remove(&key).unwrap();
        got
    };
    let first = run_build(&images, &opts(&ctx));
    assert_eq!(first.containers, 3);
    let none = [false; 3];
    assert_eq!(
        look("dm/built:v1"),
        ("1\n".into(), "one\n".into(), "junk\n".into(), none),
        "mount points and mounted contents stay out of the layers"
    );

    // The bound file changed: that RUN and the one after it run again.
    std::fs::write(ctx.join("data/in.txt"), "two\n").unwrap();
    assert_eq!(run_build(&images, &opts(&ctx)).containers, 2);
    assert_eq!(look("dm/built:v1").1, "two\n");

    // The cache mount keeps its contents across builds.
    let o = Options {
        no_cache: true,
        ..opts(&ctx)
    };
    run_build(&images, &o);
    assert_eq!(look("dm/built:v1").0, "2\n");
}

#[test]
fn onbuild_triggers_run_in_the_child_build_only() {
    if !require_root("onbuild_triggers_run_in_the_child_build_only") {
        return;
    }
    let dir = TempDir::new("dm-build-onbuild");
    let images = store(dir.path());
    let parent = dir.path().join("parent");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(
        parent.join("Dockerfile"),
        "FROM dm/busybox:latest\nONBUILD COPY marker.txt /marker\nONBUILD RUN cat /marker > /seen\n",
    )
    .unwrap();
    let o = Options {
        tags: vec!["dm/parent:v1".into()],
        ..opts(&parent)
    };
    assert_eq!(
        run_build(&images, &o).containers,
        0,
        "triggers do not run in the parent"
    );
    let cfg = images.inspect("dm/parent:v1").unwrap().config["config"].clone();
    assert_eq!(cfg["OnBuild"].as_array().unwrap().len(), 2, "{cfg}");

    let child = dir.path().join("child");
    std::fs::create_dir_all(&child).unwrap();
    std::fs::write(child.join("marker.txt"), "from the child context\n").unwrap();
    std::fs::write(
        child.join("Dockerfile"),
        "FROM dm/parent:v1\nCMD [\"cat\", \"/seen\"]\n",
    )
    .unwrap();
    assert_eq!(run_build(&images, &opts(&child)).containers, 1);
    let details = images.inspect("dm/built:v1").unwrap();
    assert!(
        details.config["config"]
            .get("OnBuild")
            .is_none_or(|v| v.is_null()),
        "{}",
        details.config
    );
    let key = unique_id("dm-build-look");
    let mounts = images.prepare("dm/built:v1", &key).unwrap();
    let root = dir.path().join("look");
    std::fs::create_dir_all(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let seen = std::fs::read_to_string(root.join("seen"));
    dm_image::rootfs::unmount(&root).unwrap();
    images.snapshotter().remove(&key).unwrap();
    assert_eq!(seen.unwrap(), "from the child context\n");
}

#[test]
fn independent_stages_run_concurrently() {
    if !require_root("independent_stages_run_concurrently") {
        return;
    }
    let dir = TempDir::new("dm-build-concurrent");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // Each stage marks a shared cache dir, then waits (bounded) for the other's mark: this
    // only succeeds when both RUNs are up at the same time.
    let stage = |me: &str, other: &str| {
        format!(
            "FROM dm/busybox:latest AS {me}\n\
             RUN --mount=type=cache,id=rendezvous,target=/r touch /r/{me} && i=0 && \
             while [ ! -e /r/{other} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done && \
             test -e /r/{other} && echo {me} > /{me}\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
        stage("a", "b"),
        stage("b", "a")
    );
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let built = run_build(&images, &opts(&ctx));
    assert_eq!((built.containers, built.ran), (2, 4));
}

#[test]
fn zstd_layers_carry_xattrs_set_by_run_through_save_and_load() {
    let test = "zstd_layers_carry_xattrs_set_by_run_through_save_and_load";
    if !require_root(test) {
        return;
    }
    let dir = TempDir::new("dm-build-zstd");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(workspace_bin("dm-probe"), ctx.join("dm-probe")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\n\
         RUN --mount=type=bind,source=dm-probe,target=/probe \
         echo tagged > /tagged && /probe setxattr /tagged user.origin dm-build-run\n",
    )
    .unwrap();
    let o = Options {
        context: ctx.clone(),
        tags: vec!["dm/zstd:v1".into()],
        runtime: workspace_bin("dm-runc"),
        compression: dm_build::Compression::Zstd,
        ..Default::default()
    };
    run_build(&images, &o);
    let details = images.inspect("dm/zstd:v1").unwrap();
    let media: Vec<String> = details
        .layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        media.last().map(String::as_str),
        Some("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{media:?}"
    );

    // Into another store through an archive: the zstd layer is unpacked by dm-image.
    let archive = dir.path().join("zstd.tar");
    let f = std::fs::File::create(&archive).unwrap();
    images.save(&["dm/zstd:v1".into()], f).unwrap();
    let other = Images::open(&dir.path().join("other"), Default::default()).unwrap();
    other
        .load(
            std::fs::File::open(&archive).unwrap(),
            None,
            &Platform::default(),
            &Progress::default(),
        )
        .unwrap();
    let key = unique_id("dm-build-zstd");
    let mounts = other.prepare("dm/zstd:v1", &key).unwrap();
    let root = dir.path().join("mnt");
    std::fs::create_dir_all(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let content = std::fs::read_to_string(root.join("tagged"));
    let origin = xattr::get(root.join("tagged"), "user.origin");
    dm_image::rootfs::unmount(&root).unwrap();
    other.snapshotter().remove(&key).unwrap();
    assert_eq!(content.unwrap(), "tagged\n");
    assert_eq!(origin.unwrap().as_deref(), Some(&b"dm-build-run"[..]));
}

/// The contents of `path` in image `name`.
fn read_in_image(images: &Images, name: &str, path: &str, at: &Path) -> String {
    let key = unique_id("dm-build-read");
    let mounts = images.prepare(name, &key).unwrap();
    std::fs::create_dir_all(at).unwrap();
    dm_image::rootfs::mount(&mounts, at).unwrap();
    let data = std::fs::read_to_string(at.join(path));
    dm_image::rootfs::unmount(at).unwrap();
    images.snapshotter().remove(&key).unwrap();
    data.unwrap()
}

#[test]
fn an_exported_cache_lets_a_fresh_store_build_without_running_anything() {
    let test = "an_exported_cache_lets_a_fresh_store_build_without_running_anything";
    if !require_root(test) {
        return;
    }
    let dir = TempDir::new("dm-build-cache-io");
    // One base image for every store, as machines pulling the same base have.
    let a = store(&dir.path().join("a"));
    let base = dir.path().join("a/busybox.tar");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\n\
         RUN cat /proc/sys/kernel/random/uuid > /uuid\n\
         COPY hello.txt /hello.txt\n\
         RUN cat /hello.txt /uuid > /both\n\
         CMD [\"cat\", \"/both\"]\n",
    )
    .unwrap();
    let exported = dir.path().join("exported");
    let o = |cache_to, cache_from| Options {
        context: ctx.clone(),
        tags: vec!["dm/cached:v1".into()],
        runtime: workspace_bin("dm-runc"),
        cache_to,
        cache_from,
        ..Default::default()
    };
    let first = run_build(
        &a,
        &o(Some(dm_build::CacheRef::Local(exported.clone())), vec![]),
    );
    assert_eq!(first.containers, 2);
    let made = read_in_image(&a, "dm/cached:v1", "both", &dir.path().join("mnt-a"));

    // Another machine: a fresh store with only the base image, and the exported dir.
    let b = store_with(&dir.path().join("b"), &base);
    let from = vec![dm_build::CacheRef::Local(exported.clone())];
    let second = run_build(&b, &o(None, from.clone()));
    assert_eq!((second.ran, second.containers), (0, 0), "{second:?}");
    assert_eq!(second.id, first.id, "the same image, layer for layer");
    let seen = read_in_image(&b, "dm/cached:v1", "both", &dir.path().join("mnt-b"));
    assert_eq!(
        seen, made,
        "the RUN's output came from the cache, not a new run"
    );

    // A changed file: the cache still serves what comes before the COPY.
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let c = store_with(&dir.path().join("c"), &base);
    let third = run_build(&c, &o(None, from.clone()));
    assert_eq!(
        third.containers, 1,
        "only the RUN after the COPY: {third:?}"
    );

    // A tampered blob is refused by name and nothing of it is stored.
    let blobs = exported.join("blobs/sha256");
    let layer = first_layer_blob(&exported);
    std::fs::write(blobs.join(&layer), b"not the layer").unwrap();
    let d = store_with(&dir.path().join("d"), &base);
    let e = build(&d, &o(None, from), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest") || e.contains("size"), "{e}");
    assert!(!dir
        .path()
        .join("d/store/content/blobs/sha256")
        .join(&layer)
        .exists());
}

/// The hex name of the first layer the exported cache's manifest lists.
fn first_layer_blob(exported: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exported.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(exported.join("blobs/sha256").join(&m[7..])).unwrap(),
    )
    .unwrap();
    manifest["layers"][0]["digest"].as_str().unwrap()[7..].to_owned()
}

#[test]
fn a_cache_pushed_to_a_registry_serves_a_fresh_store() {
    let test = "a_cache_pushed_to_a_registry_serves_a_fresh_store";
    if !require_root(test) || !dm_testkit::require_cmd("docker-registry") {
        return;
    }
    let dir = TempDir::new("dm-build-cache-reg");
    let registry = dm_integration::Registry::start(dir.path());
    let a = store(&dir.path().join("a"));
    let base = dir.path().join("a/busybox.tar");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\nRUN cat /proc/sys/kernel/random/uuid > /uuid\n",
    )
    .unwrap();
    let cache: dm_build::CacheRef = dm_build::CacheRef::parse(
        "--cache-to",
        &format!("type=registry,ref={}/cache/app:build", registry.addr),
    )
    .unwrap();
    let o = |cache_to, cache_from| Options {
        context: ctx.clone(),
        tags: vec!["dm/reg:v1".into()],
        runtime: workspace_bin("dm-runc"),
        cache_to,
        cache_from,
        ..Default::default()
    };
    let first = run_build(&a, &o(Some(cache.clone()), vec![]));
    assert_eq!(first.containers, 1);
    let made = read_in_image(&a, "dm/reg:v1", "uuid", &dir.path().join("mnt-a"));
    let b = store_with(&dir.path().join("b"), &base);
    let second = run_build(&b, &o(None, vec![cache]));
    assert_eq!(
        (second.containers, second.id.as_str()),
        (0, first.id.as_str())
    );
    let seen = read_in_image(&b, "dm/reg:v1", "uuid", &dir.path().join("mnt-b"));
    assert_eq!(seen, made);
}

#[test]
fn rw_bind_mounts_take_writes_that_reach_neither_context_nor_image() {
    let test = "rw_bind_mounts_take_writes_that_reach_neither_context_nor_image";
    if !require_root(test) {
        return;
    }
    let dir = TempDir::new("dm-build-rw");
    let images = store(dir.path());
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("data")).unwrap();
    std::fs::write(ctx.join("data/in.txt"), "in\n").unwrap();
    std::fs::write(ctx.join("one.txt"), "one\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM dm/busybox:latest\n\
         RUN --mount=type=bind,source=data,target=/data,rw \
             --mount=type=bind,source=one.txt,target=/one.txt,rw \
             echo new > /data/new && echo more >> /data/in.txt && echo two >> /one.txt \
             && cat /data/in.txt /data/new /one.txt > /seen\n",
    )
    .unwrap();
    let o = Options {
        context: ctx.clone(),
        tags: vec!["dm/rw:v1".into()],
        runtime: workspace_bin("dm-runc"),
        ..Default::default()
    };
    run_build(&images, &o);
    let seen = read_in_image(&images, "dm/rw:v1", "seen", &dir.path().join("mnt"));
    assert_eq!(seen, "in\nmore\nnew\none\ntwo\n", "the RUN could write");
    assert_eq!(
        std::fs::read_to_string(ctx.join("data/in.txt")).unwrap(),
        "in\n"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.join("one.txt")).unwrap(),
        "one\n"
    );
    assert!(!ctx.join("data/new").exists(), "the context is untouched");
    let key = unique_id("dm-build-rw-check");
    let mounts = images.prepare("dm/rw:v1", &key).unwrap();
    let root = dir.path().join("mnt2");
    std::fs::create_dir_all(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let leaked = root.join("data/new").exists();
    dm_image::rootfs::unmount(&root).unwrap();
    images.snapshotter().remove(&key).unwrap();
    assert!(!leaked, "the writes are not in the image");
    let tmp = dir.path().join("store/build-tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(left.is_empty(), "scratch left: {left:?}");
}
