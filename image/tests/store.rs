//! The image store end to end against a scripted registry: layers unpacked into snapshots
//! (plain, gzip, zstd; whiteouts seen through the overlay mount), diff IDs enforced, hostile
//! layers refused, and list / inspect / tag / rm with reference counting.

mod common;

use common::fake::Fake;
use common::{gzip, image, layer_tar, raw_name_tar, rt, serve, zstd, Mounted};
use dm_image::{ClientOptions, Images, Progress, PullOptions, Reference};
use dm_testkit::{require_root, TempDir};
use std::time::Duration;

const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn open(dir: &TempDir) -> Images {
    let opts = ClientOptions {
        read_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    Images::open(&dir.path().join("root"), opts).unwrap()
}

fn pull(
    images: &Images,
    fake: &Fake,
    name: &str,
) -> Result<dm_image::ImageRecord, dm_image::ImageError> {
    let r: Reference = format!("{}/{name}", fake.addr).parse().unwrap();
    rt().block_on(images.pull(&r, &PullOptions::default(), &Progress::default()))
}

fn plain(mt: &'static str, tar: Vec<u8>) -> (&'static str, Vec<u8>, Vec<u8>) {
    (mt, tar.clone(), tar)
}

fn base() -> (&'static str, Vec<u8>, Vec<u8>) {
    plain(
        OCI_TAR,
        layer_tar(&[("a", b"A"), ("d/x", b"X"), ("d/y", b"Y"), ("keep", b"K")]),
    )
}

#[test]
fn layers_are_unpacked_with_whiteouts_in_every_compression() {
    if !require_root("layers_are_unpacked_with_whiteouts_in_every_compression") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    let second = layer_tar(&[(".wh.a", b""), ("d/.wh..wh..opq", b""), ("d/z", b"Z")]);
    let third = layer_tar(&[("c", b"C")]);
    let img = image(vec![
        base(),
        (OCI_GZ, gzip(&second), second),
        (OCI_ZST, zstd(&third), third),
    ]);
    serve(&fake, "t/app", "v1", &img);
    let rec = pull(&images, &fake, "t/app:v1").unwrap();
    assert_eq!(rec.chain_ids.len(), 3);
    assert_eq!(rec.config, img.config.digest().to_string());

    let mounts = images
        .prepare(
            "t/app:v1"
                .replace("t/", &format!("{}/t/", fake.addr))
                .as_str(),
            "ctr-1",
        )
        .unwrap();
    let root = dir.path().join("mnt");
    {
        let _m = Mounted::new(&mounts, &root);
        let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
        assert_eq!(read("a"), None, "whited out by layer 2");
        assert_eq!(read("d/x"), None, "d/ made opaque by layer 2");
        assert_eq!(read("d/z").as_deref(), Some("Z"));
        assert_eq!(read("keep").as_deref(), Some("K"));
        assert_eq!(read("c").as_deref(), Some("C"));
    }
    images.snapshotter().remove("ctr-1").unwrap();

    // Pulling again applies nothing (every chain is there) and rewrites no record.
    let records = dir.path().join("root/images/images.json");
    let written = std::fs::metadata(&records).unwrap().modified().unwrap();
    let again = pull(&images, &fake, "t/app:v1").unwrap();
    assert_eq!(again, rec);
    assert_eq!(
        std::fs::metadata(&records).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    if !require_root("a_layer_that_does_not_match_its_diff_id_is_refused") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    let (mt, bytes, _) = base();
    let img = image(vec![(mt, bytes, layer_tar(&[("other", b"content")]))]);
    serve(&fake, "t/app", "v1", &img);
    let e = pull(&images, &fake, "t/app:v1").unwrap_err().to_string();
    assert!(
        e.contains("uncompressed content has digest") && e.contains("the image config says"),
        "{e}"
    );
    assert!(
        images.snapshotter().list::<&str>(&[]).unwrap().is_empty(),
        "no snapshot left"
    );
    assert!(images.list().unwrap().is_empty(), "no image named");
}

#[test]
fn a_download_failing_while_earlier_layers_unpack_names_nothing() {
    if !require_root("a_download_failing_while_earlier_layers_unpack_names_nothing") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    let last = layer_tar(&[("last", &[1u8; 50_000])]);
    let img = image(vec![
        base(),
        plain(OCI_TAR, layer_tar(&[("mid", b"m")])),
        plain(OCI_TAR, last),
    ]);
    serve(&fake, "t/app", "v1", &img);
    let broken = &img.layers[2];
    fake.route(
        &format!("t/app/blobs/{}", broken.digest()),
        common::fake::Route {
            content_type: OCI_TAR.into(),
            body: broken.bytes[..1000].to_vec(),
            ..Default::default()
        },
    );
    let e = pull(&images, &fake, "t/app:v1").unwrap_err().to_string();
    assert!(
        e.contains("got 1000 bytes"),
        "the download's error, not the unpacker's: {e}"
    );
    assert!(images.list().unwrap().is_empty());
    let active = images.snapshotter().list(&["kind==active"]).unwrap();
    assert!(active.is_empty(), "{active:?}");
    assert!(images
        .content()
        .list_statuses::<&str>(&[])
        .unwrap()
        .is_empty());
}

#[test]
fn prune_deletes_what_a_failed_pull_left_and_keeps_named_images() {
    if !require_root("prune_deletes_what_a_failed_pull_left_and_keeps_named_images") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    let good = image(vec![base()]);
    serve(&fake, "t/good", "latest", &good);
    let kept = pull(&images, &fake, "t/good").unwrap();
    // Layer 1 applies and commits; layer 2 fails its diff ID: blobs and one snapshot stay.
    let (mt, bytes, _) = plain(OCI_TAR, layer_tar(&[("second", b"2")]));
    let first = plain(OCI_TAR, layer_tar(&[("first", b"1")]));
    let bad = image(vec![first, (mt, bytes, layer_tar(&[("other", b"x")]))]);
    serve(&fake, "t/bad", "latest", &bad);
    pull(&images, &fake, "t/bad").unwrap_err();
    let mut w = images
        .content()
        .writer("interrupted", Some(10), None)
        .unwrap();
    w.write(b"half").unwrap();
    drop(w);

    let r = images.prune().unwrap();
    assert_eq!(r.snapshots.len(), 1, "{r:?}");
    assert_eq!(
        r.blobs.len(),
        4,
        "manifest, config and both layers of t/bad: {r:?}"
    );
    assert!(images
        .content()
        .list_statuses::<&str>(&[])
        .unwrap()
        .is_empty());
    let left: Vec<String> = images
        .content()
        .list::<&str>(&[])
        .unwrap()
        .into_iter()
        .map(|i| i.digest.to_string())
        .collect();
    let mut want: Vec<String> = kept.blobs().cloned().collect();
    want.sort();
    want.dedup();
    assert_eq!(left, want, "the named image keeps all its blobs");
    let snaps: Vec<String> = images
        .snapshotter()
        .list::<&str>(&[])
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(snaps, kept.chain_ids);
}

#[test]
fn a_layer_escaping_its_root_is_refused() {
    if !require_root("a_layer_escaping_its_root_is_refused") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    for (i, bad) in ["../escape", "/abs"].into_iter().enumerate() {
        let img = image(vec![base(), plain(OCI_TAR, raw_name_tar(bad, b"x"))]);
        serve(&fake, "t/bad", &format!("v{i}"), &img);
        let e = pull(&images, &fake, &format!("t/bad:v{i}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(bad.trim_start_matches('/')), "{bad}: {e}");
        let active: Vec<_> = images.snapshotter().list(&["kind==active"]).unwrap();
        assert!(active.is_empty(), "{bad}: {active:?}");
    }
    assert!(!dir.path().join("escape").exists());
    assert!(!std::path::Path::new("/abs").exists());
}

#[test]
fn list_inspect_tag_and_rm_count_references() {
    if !require_root("list_inspect_tag_and_rm_count_references") {
        return;
    }
    let dir = TempDir::new("dm-image-store");
    let images = open(&dir);
    let fake = Fake::start();
    let one = image(vec![base(), plain(OCI_TAR, layer_tar(&[("one", b"1")]))]);
    let two = image(vec![base(), plain(OCI_TAR, layer_tar(&[("two", b"2")]))]);
    serve(&fake, "t/one", "latest", &one);
    serve(&fake, "t/two", "latest", &two);
    let a = pull(&images, &fake, "t/one").unwrap();
    let b = pull(&images, &fake, "t/two").unwrap();
    assert_eq!(
        a.chain_ids[0], b.chain_ids[0],
        "the shared base is one snapshot"
    );

    let names: Vec<String> = images.list().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, [a.name.clone(), b.name.clone()]);
    let d = images.inspect(&a.name).unwrap();
    assert_eq!(d.config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(d.layers.len(), 2);
    assert!(d.size > 0 && d.content_size > 0, "{d:?}");
    let by_id = images
        .inspect(&a.config["sha256:".len().."sha256:".len() + 12])
        .unwrap();
    assert_eq!(
        by_id.record.name, a.name,
        "a unique id prefix names the image"
    );

    let tagged = images.tag(&a.name, "local/copy:v1").unwrap();
    assert_eq!(tagged.name, "docker.io/local/copy:v1");
    let r = images.remove(&a.name).unwrap();
    assert!(
        r.blobs.is_empty() && r.snapshots.is_empty(),
        "still tagged: {r:?}"
    );
    let r = images.remove("local/copy:v1").unwrap();
    assert_eq!(
        r.snapshots,
        [a.chain_ids[1].clone()],
        "the base stays for t/two"
    );
    assert!(
        !r.blobs.contains(&a.layers[0]),
        "the shared layer stays: {r:?}"
    );
    assert!(
        r.blobs.contains(&a.layers[1]) && r.blobs.contains(&a.config),
        "{r:?}"
    );
    let e = images.remove("local/copy:v1").unwrap_err().to_string();
    assert!(e.contains("not found"), "{e}");

    images.remove(&b.name).unwrap();
    assert!(
        images.content().list::<&str>(&[]).unwrap().is_empty(),
        "every blob gone"
    );
    assert!(
        images.snapshotter().list::<&str>(&[]).unwrap().is_empty(),
        "every snapshot gone"
    );
}

#[test]
fn an_image_of_125_layers_mounts_past_the_page_limit_of_mount_options() {
    if !require_root("an_image_of_125_layers_mounts_past_the_page_limit_of_mount_options") {
        return;
    }
    let dir = TempDir::new("dm-image-deep");
    let images = open(&dir);
    let fake = Fake::start();
    // docker's maximum depth; every layer adds a file, the last replaces the first's.
    let mut layers: Vec<_> = (0..125)
        .map(|i| {
            let name = format!("l{i}");
            plain(OCI_TAR, layer_tar(&[(name.as_str(), name.as_bytes())]))
        })
        .collect();
    layers.push(plain(OCI_TAR, layer_tar(&[("l0", b"replaced")])));
    serve(&fake, "t/deep", "v1", &image(layers));
    pull(&images, &fake, "t/deep:v1").unwrap();
    let name = format!("{}/t/deep:v1", fake.addr);
    let mounts = images.prepare(&name, "ctr-deep").unwrap();
    assert!(
        mounts[0].options.join(",").len() > 4096,
        "the test must exceed a page: {}",
        mounts[0].options.join(",").len()
    );
    let root = dir.path().join("mnt");
    std::fs::create_dir(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
    let seen = (read("l0"), read("l1"), read("l124"));
    std::fs::write(root.join("new"), "upper").unwrap();
    dm_image::rootfs::unmount(&root).unwrap();
    assert_eq!(
        seen,
        (
            Some("replaced".into()),
            Some("l1".into()),
            Some("l124".into())
        )
    );
    images.snapshotter().remove("ctr-deep").unwrap();
}

#[test]
fn device_nodes_in_layers_are_made_as_docker_makes_them() {
    if !require_root("device_nodes_in_layers_are_made_as_docker_makes_them") {
        return;
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = TempDir::new("dm-image-dev");
    let images = open(&dir);
    let fake = Fake::start();
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, major, minor) in [
        ("dev/console", tar::EntryType::Char, 5, 1),
        ("dev/sda", tar::EntryType::Block, 8, 0),
        ("run/pipe", tar::EntryType::Fifo, 0, 0),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(0o620);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(5);
        h.set_mtime(1_600_000_000);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    }
    let layer = b.into_inner().unwrap();
    serve(
        &fake,
        "t/dev",
        "v1",
        &image(vec![base(), plain(OCI_TAR, layer)]),
    );
    pull(&images, &fake, "t/dev:v1").unwrap();
    let name = format!("{}/t/dev:v1", fake.addr);
    let mounts = images.prepare(&name, "ctr-dev").unwrap();
    let root = dir.path().join("mnt");
    std::fs::create_dir(&root).unwrap();
    dm_image::rootfs::mount(&mounts, &root).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    let (console, sda, pipe) = (meta("dev/console"), meta("dev/sda"), meta("run/pipe"));
    dm_image::rootfs::unmount(&root).unwrap();
    images.snapshotter().remove("ctr-dev").unwrap();
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), libc::makedev(5, 1));
    assert!(sda.file_type().is_block_device());
    assert_eq!(sda.rdev(), libc::makedev(8, 0));
    assert!(pipe.file_type().is_fifo());
    assert_eq!((console.mode() & 0o777, console.gid()), (0o620, 5));
}
