//! Layer application: formats, metadata, whiteouts seen through a real overlay mount, and
//! hostile tars refused or contained.

mod common;

use common::{gzip, zstd, Layer};
use dm_snapshotter::layer::{apply_layer, ApplyOptions, Compression, DevicePolicy};
use dm_testkit::{require_root, TempDir};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use tar::EntryType;

fn apply(tar: &[u8], target: &Path) -> dm_snapshotter::Result<dm_snapshotter::layer::ApplyStats> {
    apply_layer(tar, target, &ApplyOptions::default())
}

fn target(t: &TempDir) -> std::path::PathBuf {
    let p = t.path().join("target");
    std::fs::create_dir(&p).unwrap();
    p
}

fn rich_layer() -> Vec<u8> {
    Layer::new()
        .dir("etc/", 0o755)
        .file("etc/hostname", b"box\n")
        .file_owned("bin/suid", b"#!/bin/sh\n", 0o4755, 0, 0)
        .file_owned("home/user/notes", b"hello", 0o600, 1000, 1001)
        .symlink("etc/alias", "hostname")
        .hardlink("etc/hostname2", "etc/hostname")
        .pax(&[
            ("SCHILY.xattr.user.colour", b"blue"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/x"),
        ])
        .file("tagged", b"t")
        .fifo("run/pipe")
        .dir("locked/", 0o555)
        .tar()
}

fn check_rich(root: &Path) {
    assert_eq!(std::fs::read(root.join("etc/hostname")).unwrap(), b"box\n");
    let suid = std::fs::metadata(root.join("bin/suid")).unwrap();
    assert_eq!(
        suid.permissions().mode() & 0o7777,
        0o4755,
        "set-uid bit kept"
    );
    let notes = std::fs::metadata(root.join("home/user/notes")).unwrap();
    assert_eq!(
        (notes.uid(), notes.gid(), notes.mode() & 0o777),
        (1000, 1001, 0o600)
    );
    assert_eq!(notes.mtime(), 1_600_000_000);
    assert_eq!(
        std::fs::read_link(root.join("etc/alias")).unwrap(),
        Path::new("hostname")
    );
    let (a, b) = (
        std::fs::metadata(root.join("etc/hostname")).unwrap(),
        std::fs::metadata(root.join("etc/hostname2")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "hard link shares the inode");
    assert_eq!(
        xattr(&root.join("tagged"), "user.colour").as_deref(),
        Some(&b"blue"[..])
    );
    assert_eq!(
        xattr(&root.join("tagged"), "trusted.overlay.redirect"),
        None,
        "overlay xattrs from tars are dropped"
    );
    assert!(std::fs::metadata(root.join("run/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    let locked = std::fs::metadata(root.join("locked")).unwrap();
    assert_eq!(locked.mode() & 0o777, 0o555);
    assert_eq!(
        locked.mtime(),
        1_600_000_000,
        "directory mtimes survive later entries"
    );
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated; buf's pointer and length describe live memory.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn plain_gzip_and_zstd_layers_apply_with_metadata() {
    if !require_root("plain_gzip_and_zstd_layers_apply_with_metadata") {
        return;
    }
    let tar = rich_layer();
    for (data, kind) in [
        (tar.clone(), Compression::None),
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
    ] {
        let t = TempDir::new("layer");
        let root = target(&t);
        let stats = apply(&data, &root).unwrap();
        assert_eq!(stats.compression, Some(kind));
        check_rich(&root);
    }
}

#[test]
fn whiteouts_give_the_overlay_view_a_user_expects() {
    if !require_root("whiteouts_give_the_overlay_view_a_user_expects") {
        return;
    }
    let t = TempDir::new("layer-wh");
    let (lower, upper, work, merged) = (
        t.path().join("l"),
        t.path().join("u"),
        t.path().join("w"),
        t.path().join("m"),
    );
    for d in [&lower, &upper, &work, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    let base = Layer::new()
        .file("keep", b"k")
        .file("gone", b"g")
        .dir("gonedir/", 0o755)
        .file("gonedir/inner", b"i")
        .dir("opaque/", 0o755)
        .file("opaque/old1", b"1")
        .file("opaque/old2", b"2")
        .dir("merged/", 0o755)
        .file("merged/old", b"o")
        .tar();
    apply(&base, &lower).unwrap();
    let top = Layer::new()
        .file(".wh.gone", b"")
        .file(".wh.gonedir", b"")
        .dir("opaque/", 0o755)
        .file("opaque/new", b"n")
        .file("opaque/.wh..wh..opq", b"")
        .file("merged/new", b"n")
        .file(".wh..wh.plnk", b"")
        .tar();
    let stats = apply(&gzip(&top), &upper).unwrap();
    assert_eq!(stats.whiteouts, 3);
    let wh = std::fs::metadata(upper.join("gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(st.success(), "mount overlay");
    let names = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(merged.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let root_view = names(".");
    let opaque_view = names("opaque");
    let merged_view = names("merged");
    std::process::Command::new("umount")
        .arg(&merged)
        .status()
        .unwrap();
    assert_eq!(root_view, ["keep", "merged", "opaque"]);
    assert_eq!(opaque_view, ["new"], "opaque dir hides the lower files");
    assert_eq!(
        merged_view,
        ["new", "old"],
        "a plain dir merges with the lower one"
    );
}

fn refused(tar: &[u8], root: &Path, want: &str) {
    let e = apply(tar, root)
        .expect_err("hostile layer must be refused")
        .to_string();
    assert!(e.contains(want), "error {e:?} should mention {want:?}");
}

#[test]
fn escaping_paths_are_refused() {
    if !require_root("escaping_paths_are_refused") {
        return;
    }
    let t = TempDir::new("layer-escape");
    let root = target(&t);
    refused(
        &Layer::new().file("../escaped", b"x").tar(),
        &root,
        "contains `..`",
    );
    refused(
        &Layer::new().file("a/../../escaped", b"x").tar(),
        &root,
        "contains `..`",
    );
    refused(
        &Layer::new().file("/abs-escaped", b"x").tar(),
        &root,
        "is absolute",
    );
    assert!(!t.path().join("escaped").exists());
    assert!(!Path::new("/abs-escaped").exists());
}

#[test]
fn symlinked_parents_cannot_lead_outside() {
    if !require_root("symlinked_parents_cannot_lead_outside") {
        return;
    }
    let t = TempDir::new("layer-symlink");
    let root = target(&t);
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let abs = Layer::new()
        .symlink("evil", outside.to_str().unwrap())
        .file("evil/pwned", b"x")
        .tar();
    refused(&abs, &root, "outside the target");
    let rel = Layer::new()
        .symlink("up", "../outside")
        .file("up/pwned", b"x")
        .tar();
    refused(&rel, &root, "outside the target");
    let deep = Layer::new()
        .dir("d/", 0o755)
        .symlink("d/l", "../../outside")
        .file("d/l/pwned", b"x")
        .tar();
    refused(&deep, &root, "outside the target");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    // A symlink that stays inside is followed, as the image itself would see it.
    let inside = Layer::new()
        .dir("real/", 0o755)
        .symlink("alias", "real")
        .file("alias/f", b"in")
        .tar();
    apply(&inside, &root).unwrap();
    assert_eq!(std::fs::read(root.join("real/f")).unwrap(), b"in");
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    if !require_root("a_file_replaces_a_symlink_instead_of_writing_through_it") {
        return;
    }
    let t = TempDir::new("layer-replace");
    let root = target(&t);
    let victim = t.path().join("victim");
    std::fs::write(&victim, b"original").unwrap();
    let tar = Layer::new()
        .symlink("link", victim.to_str().unwrap())
        .file("link", b"replaced")
        .tar();
    apply(&tar, &root).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert!(std::fs::symlink_metadata(root.join("link"))
        .unwrap()
        .is_file());
}

#[test]
fn hard_links_to_outside_are_refused() {
    if !require_root("hard_links_to_outside_are_refused") {
        return;
    }
    let t = TempDir::new("layer-hardlink");
    let root = target(&t);
    let secret = t.path().join("secret");
    std::fs::write(&secret, b"s").unwrap();
    let before = std::fs::metadata(&secret).unwrap().nlink();
    refused(
        &Layer::new().hardlink("h", "../secret").tar(),
        &root,
        "contains `..`",
    );
    refused(
        &Layer::new().hardlink("h", secret.to_str().unwrap()).tar(),
        &root,
        "is absolute",
    );
    let via = Layer::new()
        .symlink("s", t.path().to_str().unwrap())
        .hardlink("h", "s/secret")
        .tar();
    refused(&via, &root, "outside the target");
    refused(
        &Layer::new().hardlink("h", "missing").tar(),
        &root,
        "does not exist",
    );
    assert_eq!(
        std::fs::metadata(&secret).unwrap().nlink(),
        before,
        "no link to the outside file"
    );
}

#[test]
fn device_nodes_follow_the_policy() {
    if !require_root("device_nodes_follow_the_policy") {
        return;
    }
    let tar = Layer::new().device("dev/sda", EntryType::Block, 8, 0).tar();
    let t = TempDir::new("layer-dev");
    let root = target(&t);
    refused(&tar, &root, "block device 8:0 refused");
    assert!(!root.join("dev/sda").exists());
    let skip = ApplyOptions {
        devices: DevicePolicy::Skip,
        ..Default::default()
    };
    let stats = apply_layer(&tar[..], &root, &skip).unwrap();
    assert_eq!(stats.skipped, 1);
    assert!(!root.join("dev/sda").exists());
    let create = ApplyOptions {
        devices: DevicePolicy::Create,
        ..Default::default()
    };
    apply_layer(&tar[..], &root, &create).unwrap();
    let md = std::fs::metadata(root.join("dev/sda")).unwrap();
    assert!(md.file_type().is_block_device());
    assert_eq!(md.rdev(), nix::sys::stat::makedev(8, 0));
    // 0/0 character devices are overlay whiteouts and always allowed.
    apply(
        &Layer::new().device("wh", EntryType::Char, 0, 0).tar(),
        &root,
    )
    .unwrap();
    assert!(std::fs::metadata(root.join("wh"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn sparse_files_keep_holes_and_huge_ones_are_refused() {
    if !require_root("sparse_files_keep_holes_and_huge_ones_are_refused") {
        return;
    }
    let t = TempDir::new("layer-sparse");
    let root = target(&t);
    let data = vec![0xabu8; 4096];
    let tar = Layer::new().sparse("small", 64 << 20, 1 << 20, &data).tar();
    apply(&tar, &root).unwrap();
    let md = std::fs::metadata(root.join("small")).unwrap();
    assert_eq!(md.len(), 64 << 20);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "holes stay holes: {} blocks",
        md.blocks()
    );
    let content = std::fs::read(root.join("small")).unwrap();
    assert_eq!(&content[1 << 20..(1 << 20) + 4096], &data[..]);
    assert!(content[..1 << 20].iter().all(|b| *b == 0));
    let huge = Layer::new().sparse("huge", 1 << 50, 0, &data).tar();
    refused(&huge, &root, "bytes of holes");
    assert!(!root.join("huge").exists());
}

#[test]
fn corrupt_streams_are_reported() {
    if !require_root("corrupt_streams_are_reported") {
        return;
    }
    let t = TempDir::new("layer-corrupt");
    let root = target(&t);
    let mut gz = gzip(&Layer::new().file("f", &[7u8; 100_000]).tar());
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz.truncate(gz.len() - 8);
    let e = apply(&gz, &root).unwrap_err().to_string();
    assert!(e.starts_with("layer"), "{e}");
    let e = apply(b"not a tar at all, just text", &root)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("layer"), "{e}");
}

#[test]
fn multi_frame_zstd_and_multi_member_gzip_apply() {
    if !require_root("multi_frame_zstd_and_multi_member_gzip_apply") {
        return;
    }
    let tar = Layer::new()
        .file("a", &[1u8; 70_000])
        .file("b", b"bee")
        .tar();
    let (head, tail) = tar.split_at(1024);
    for data in [
        [zstd(head), zstd(tail)].concat(),
        [gzip(head), gzip(tail)].concat(),
    ] {
        let t = TempDir::new("layer-frames");
        let root = target(&t);
        apply(&data, &root).unwrap();
        assert_eq!(std::fs::read(root.join("a")).unwrap(), vec![1u8; 70_000]);
        assert_eq!(std::fs::read(root.join("b")).unwrap(), b"bee");
    }
}

#[test]
fn later_entries_replace_earlier_ones_of_another_type() {
    if !require_root("later_entries_replace_earlier_ones_of_another_type") {
        return;
    }
    let t = TempDir::new("layer-replace-type");
    let root = target(&t);
    let tar = Layer::new()
        .dir("x/", 0o755)
        .dir("x/y/", 0o755)
        .file("x/y/f", b"f")
        .file("x", b"now a file")
        .file("s", b"file first")
        .symlink("s", "x")
        .pax(&[("SCHILY.xattr.user.note", b"n")])
        .symlink("l", "x")
        .tar();
    apply(&tar, &root).unwrap();
    assert_eq!(std::fs::read(root.join("x")).unwrap(), b"now a file");
    assert_eq!(std::fs::read_link(root.join("s")).unwrap(), Path::new("x"));
    assert!(std::fs::symlink_metadata(root.join("l"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn diff_id_and_size_are_those_of_the_uncompressed_tar_in_every_compression() {
    use sha2::Digest;
    let t = TempDir::new("dm-layer-diffid");
    let tar = Layer::new().file("a", b"x").dir("d/", 0o755).tar();
    let want = format!("sha256:{:x}", sha2::Sha256::digest(&tar));
    for (i, data) in [tar.clone(), gzip(&tar), zstd(&tar)]
        .into_iter()
        .enumerate()
    {
        let dir = t.path().join(format!("t{i}"));
        std::fs::create_dir(&dir).unwrap();
        let opts = ApplyOptions {
            diff_id: true,
            ..Default::default()
        };
        let stats = apply_layer(&data[..], &dir, &opts).unwrap();
        assert_eq!(stats.diff_id.as_deref(), Some(want.as_str()), "layer {i}");
        assert_eq!(stats.tar_bytes, tar.len() as u64, "layer {i}");
        let dir = t.path().join(format!("u{i}"));
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(apply(&data, &dir).unwrap().diff_id, None, "off by default");
    }
}
