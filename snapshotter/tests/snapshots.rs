//! The snapshot library: every operation, its error cases, persistence and crash leftovers.

use dm_snapshotter::{Error, Kind, Mount, Snapshotter};
use dm_testkit::{require_root, TempDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn open() -> (TempDir, Snapshotter) {
    let t = TempDir::new("snap");
    let s = Snapshotter::open(&t.path().join("root")).unwrap();
    (t, s)
}

fn labels(kv: &[(&str, &str)]) -> HashMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_labels() -> HashMap<String, String> {
    HashMap::new()
}

/// The directory a snapshot writes to: the bind source or the overlay upperdir.
fn upper(m: &[Mount]) -> PathBuf {
    match m[0].kind.as_str() {
        "bind" => PathBuf::from(&m[0].source),
        _ => PathBuf::from(
            m[0].options
                .iter()
                .find_map(|o| o.strip_prefix("upperdir="))
                .expect("upperdir"),
        ),
    }
}

/// Mounts `m` on `target` the way containerd would and lists what is visible.
fn mounted_names(m: &[Mount], target: &Path) -> Vec<String> {
    let mut cmd = std::process::Command::new("mount");
    match m[0].kind.as_str() {
        "bind" => cmd.args(["--bind", &m[0].source]),
        kind => cmd.args(["-t", kind, &m[0].source, "-o", &m[0].options.join(",")]),
    };
    assert!(cmd.arg(target).status().unwrap().success(), "mount {m:?}");
    let mut names: Vec<String> = std::fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    std::process::Command::new("umount")
        .arg(target)
        .status()
        .unwrap();
    names
}

#[test]
fn prepare_commit_view_build_a_parent_chain() {
    if !require_root("prepare_commit_view_build_a_parent_chain") {
        return;
    }
    let (t, s) = open();
    let m = s.prepare("a-key", "", no_labels()).unwrap();
    assert_eq!(
        (m[0].kind.as_str(), &m[0].options[..]),
        ("bind", &["rw".to_string(), "rbind".to_string()][..])
    );
    std::fs::write(upper(&m).join("one"), b"1").unwrap();
    assert_eq!(s.stat("a-key").unwrap().kind, Kind::Active);
    s.commit("A", "a-key", labels(&[("l", "1")])).unwrap();
    assert!(
        matches!(s.stat("a-key"), Err(Error::NotFound(_))),
        "commit consumes the key"
    );
    let a = s.stat("A").unwrap();
    assert_eq!(
        (
            a.kind,
            a.parent.as_str(),
            a.labels.get("l").map(String::as_str)
        ),
        (Kind::Committed, "", Some("1"))
    );

    let m = s.prepare("b-key", "A", no_labels()).unwrap();
    assert_eq!(m[0].kind, "overlay");
    assert!(m[0].options.iter().any(|o| o.starts_with("workdir=")));
    assert_eq!(
        s.mounts("b-key").unwrap(),
        m,
        "Mounts returns what Prepare did"
    );
    std::fs::write(upper(&m).join("two"), b"2").unwrap();
    s.commit("B", "b-key", no_labels()).unwrap();
    assert_eq!(s.stat("B").unwrap().parent, "A");

    let mnt = t.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let v1 = s.view("v1", "A", no_labels()).unwrap();
    assert_eq!(
        (v1[0].kind.as_str(), v1[0].options[0].as_str()),
        ("bind", "ro")
    );
    assert_eq!(mounted_names(&v1, &mnt), ["one"]);
    let v2 = s.view("v2", "B", no_labels()).unwrap();
    assert_eq!(v2[0].kind, "overlay");
    assert!(
        !v2[0].options.iter().any(|o| o.starts_with("upperdir=")),
        "views are read-only"
    );
    assert_eq!(mounted_names(&v2, &mnt), ["one", "two"]);
    assert_eq!(s.stat("v2").unwrap().kind, Kind::View);
    let c = s.prepare("c-key", "B", no_labels()).unwrap();
    std::fs::write(upper(&c).join("three"), b"3").unwrap();
    assert_eq!(mounted_names(&c, &mnt), ["one", "three", "two"]);
}

#[test]
fn operations_refuse_what_containerd_refuses() {
    if !require_root("operations_refuse_what_containerd_refuses") {
        return;
    }
    let (_t, s) = open();
    s.prepare("k", "", no_labels()).unwrap();
    assert!(matches!(
        s.prepare("k", "", no_labels()),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        s.view("k", "", no_labels()),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        s.prepare("x", "missing", no_labels()),
        Err(Error::NotFound(_))
    ));
    assert!(
        matches!(
            s.prepare("x", "k", no_labels()),
            Err(Error::FailedPrecondition { .. })
        ),
        "parent must be committed"
    );
    assert!(matches!(
        s.prepare("", "", no_labels()),
        Err(Error::InvalidArgument { .. })
    ));
    let long = "v".repeat(5000);
    assert!(matches!(
        s.prepare("x", "", labels(&[("k", &long)])),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        s.commit("C", "missing", no_labels()),
        Err(Error::NotFound(_))
    ));
    s.commit("C", "k", no_labels()).unwrap();
    assert!(
        matches!(s.mounts("C"), Err(Error::FailedPrecondition { .. })),
        "committed snapshots have no mounts"
    );
    assert!(matches!(
        s.commit("C2", "C", no_labels()),
        Err(Error::FailedPrecondition { .. })
    ));
    s.view("v", "C", no_labels()).unwrap();
    assert!(
        matches!(
            s.commit("V", "v", no_labels()),
            Err(Error::FailedPrecondition { .. })
        ),
        "views cannot be committed"
    );
    s.prepare("k2", "", no_labels()).unwrap();
    assert!(matches!(
        s.commit("C", "k2", no_labels()),
        Err(Error::AlreadyExists(_))
    ));
    assert!(
        s.stat("k2").is_ok(),
        "a failed commit keeps the active snapshot"
    );
    assert!(matches!(s.remove("missing"), Err(Error::NotFound(_))));
    assert!(matches!(s.stat("missing"), Err(Error::NotFound(_))));
    assert!(matches!(s.mounts("missing"), Err(Error::NotFound(_))));
    assert!(matches!(s.usage("missing"), Err(Error::NotFound(_))));
}

#[test]
fn remove_refuses_parents_and_deletes_directories() {
    if !require_root("remove_refuses_parents_and_deletes_directories") {
        return;
    }
    let (t, s) = open();
    let m = s.prepare("k", "", no_labels()).unwrap();
    let dir = upper(&m).parent().unwrap().to_owned();
    s.commit("P", "k", no_labels()).unwrap();
    s.prepare("child", "P", no_labels()).unwrap();
    let e = s.remove("P").unwrap_err();
    assert!(
        matches!(e, Error::FailedPrecondition { .. }) && e.to_string().contains("child"),
        "{e}"
    );
    assert!(dir.exists());
    s.remove("child").unwrap();
    s.remove("P").unwrap();
    assert!(!dir.exists(), "directory removed with the snapshot");
    let left: Vec<_> = std::fs::read_dir(t.path().join("root/snapshots"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "nothing left: {left:?}");
}

#[test]
fn update_changes_labels_only() {
    if !require_root("update_changes_labels_only") {
        return;
    }
    let (_t, s) = open();
    s.prepare("k", "", labels(&[("a", "1"), ("b", "2")]))
        .unwrap();
    let mut info = s.stat("k").unwrap();
    let before = info.updated;
    info.labels = labels(&[("a", "9"), ("c", "3")]);
    let got = s
        .update(&info, &["labels.a".into(), "labels.b".into()])
        .unwrap();
    assert_eq!(
        got.labels,
        labels(&[("a", "9")]),
        "labels.b absent from info deletes it; c not in mask"
    );
    assert!(got.updated >= before);
    let got = s.update(&info, &[]).unwrap();
    assert_eq!(got.labels, info.labels, "no mask replaces all labels");
    assert_eq!(s.stat("k").unwrap().labels, info.labels, "update is stored");
    let e = s.update(&info, &["parent".into()]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    info.name = "missing".into();
    assert!(matches!(s.update(&info, &[]), Err(Error::NotFound(_))));
}

#[test]
fn usage_measures_active_and_freezes_at_commit() {
    if !require_root("usage_measures_active_and_freezes_at_commit") {
        return;
    }
    let (_t, s) = open();
    let m = s.prepare("k", "", no_labels()).unwrap();
    let empty = s.usage("k").unwrap();
    std::fs::write(upper(&m).join("big"), vec![1u8; 1 << 20]).unwrap();
    let u = s.usage("k").unwrap();
    assert_eq!(u.inodes, empty.inodes + 1);
    assert!(u.size >= empty.size + (1 << 20), "{u:?}");
    s.commit("C", "k", no_labels()).unwrap();
    assert_eq!(s.usage("C").unwrap(), u);
}

#[test]
fn list_and_walk_apply_filters() {
    if !require_root("list_and_walk_apply_filters") {
        return;
    }
    let (_t, s) = open();
    s.prepare("ns/1/a", "", labels(&[("containerd.io/gc.root", "x")]))
        .unwrap();
    s.commit("ns/2/A", "ns/1/a", labels(&[("t", "1")])).unwrap();
    s.prepare("ns/3/b", "ns/2/A", no_labels()).unwrap();
    s.view("ns/4/v", "ns/2/A", no_labels()).unwrap();
    let names =
        |f: &[&str]| -> Vec<String> { s.list(f).unwrap().into_iter().map(|i| i.name).collect() };
    assert_eq!(names(&[]), ["ns/2/A", "ns/3/b", "ns/4/v"]);
    assert_eq!(names(&["kind==active"]), ["ns/3/b"]);
    assert_eq!(names(&["parent==ns/2/A,kind==view"]), ["ns/4/v"]);
    assert_eq!(names(&["labels.t==1", "kind==view"]), ["ns/2/A", "ns/4/v"]);
    assert_eq!(names(&["name~=b$"]), ["ns/3/b"]);
    let mut seen = 0;
    s.walk(&["kind!=committed"], |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 2);
    assert!(matches!(
        s.list(&["kind=="]),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn metadata_survives_reopen_and_the_root_is_exclusive() {
    if !require_root("metadata_survives_reopen_and_the_root_is_exclusive") {
        return;
    }
    let (t, s) = open();
    s.prepare("k", "", labels(&[("a", "1")])).unwrap();
    s.commit("C", "k", no_labels()).unwrap();
    s.prepare("k2", "C", no_labels()).unwrap();
    let e = Snapshotter::open(&t.path().join("root"))
        .err()
        .expect("second open refused");
    assert!(e.to_string().contains("in use"), "{e}");
    drop(s);
    let s = Snapshotter::open(&t.path().join("root")).unwrap();
    assert_eq!(s.stat("k2").unwrap().parent, "C");
    assert_eq!(s.mounts("k2").unwrap()[0].kind, "overlay");
    // Ids are never reused, even after removal and reopening.
    let old = upper(&s.mounts("k2").unwrap());
    s.remove("k2").unwrap();
    let new = upper(&s.prepare("k3", "C", no_labels()).unwrap());
    assert_ne!(old, new);
}

#[test]
fn cleanup_removes_crash_leftovers_only() {
    if !require_root("cleanup_removes_crash_leftovers_only") {
        return;
    }
    let (t, s) = open();
    let live = upper(&s.prepare("k", "", no_labels()).unwrap());
    let snaps = t.path().join("root/snapshots");
    // What a crash can leave: a half-made snapshot, an uncommitted id dir, a half-removed one.
    for d in ["new-1-0/fs", "2/fs/x", "rm-7/fs"] {
        std::fs::create_dir_all(snaps.join(d)).unwrap();
    }
    let mut removed = s.cleanup().unwrap();
    removed.sort();
    assert_eq!(
        removed,
        [snaps.join("2"), snaps.join("new-1-0"), snaps.join("rm-7")]
    );
    assert!(live.exists(), "live snapshot kept");
    // A stale dir under the next id (crash after rename, before commit) does not block Prepare.
    std::fs::create_dir_all(snaps.join("2/fs/stale")).unwrap();
    let m = s.prepare("k2", "", no_labels()).unwrap();
    assert_eq!(upper(&m), snaps.join("2/fs"));
    assert!(!snaps.join("2/fs/stale").exists());
}

#[test]
fn bad_roots_are_refused_with_the_reason() {
    if !require_root("bad_roots_are_refused_with_the_reason") {
        return;
    }
    let t = TempDir::new("snap-badroot");
    let err = |p: &Path| Snapshotter::open(p).err().expect("refused").to_string();
    assert!(err(Path::new("relative/root")).contains("absolute"));
    let file = t.path().join("file");
    std::fs::write(&file, b"").unwrap();
    assert!(err(&file).contains("not a directory"));
    assert!(err(&t.path().join("a:b")).contains("':'"));
    let ro = t.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mount = |args: &[&str], target: &Path| {
        assert!(std::process::Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .unwrap()
            .success());
    };
    mount(&["-t", "tmpfs", "-o", "ro", "tmpfs"], &ro);
    let e = err(&ro.join("root"));
    std::process::Command::new("umount")
        .arg(&ro)
        .status()
        .unwrap();
    assert!(e.contains("Read-only file system"), "{e}");
    // An overlay mount cannot hold overlay upper dirs.
    for d in ["l", "u", "w", "m"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        t.path().join("l").display(),
        t.path().join("u").display(),
        t.path().join("w").display()
    );
    mount(
        &["-t", "overlay", "overlay", "-o", &opts],
        &t.path().join("m"),
    );
    // A marker of a passed probe copied from another filesystem does not skip the probe.
    let good = t.path().join("good");
    Snapshotter::open(&good).unwrap();
    let proven = std::fs::read_to_string(good.join(".overlay-proven")).unwrap();
    assert!(proven.starts_with("boot "), "{proven}");
    std::fs::create_dir(t.path().join("m/root")).unwrap();
    std::fs::write(t.path().join("m/root/.overlay-proven"), &proven).unwrap();
    let e = err(&t.path().join("m/root"));
    std::process::Command::new("umount")
        .arg(t.path().join("m"))
        .status()
        .unwrap();
    assert!(
        e.contains("cannot hold overlay upper dirs (overlay filesystem)"),
        "{e}"
    );
}

#[test]
fn concurrent_prepares_and_commits_get_distinct_snapshots() {
    if !require_root("concurrent_prepares_and_commits_get_distinct_snapshots") {
        return;
    }
    let (_t, s) = open();
    s.prepare("base-k", "", no_labels()).unwrap();
    s.commit("base", "base-k", no_labels()).unwrap();
    let s = std::sync::Arc::new(s);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let m = s
                        .prepare(&format!("k{t}-{i}"), "base", no_labels())
                        .unwrap();
                    std::fs::write(upper(&m).join("who"), format!("{t}-{i}")).unwrap();
                    s.commit(&format!("c{t}-{i}"), &format!("k{t}-{i}"), no_labels())
                        .unwrap();
                    // A Cleanup racing with Prepare must never take a half-made snapshot.
                    s.cleanup().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.list(&["kind==committed"]).unwrap().len(), 41);
    for t in 0..4 {
        for i in 0..10 {
            let m = s
                .view(&format!("v{t}-{i}"), &format!("c{t}-{i}"), no_labels())
                .unwrap();
            let layer = PathBuf::from(
                &m[0]
                    .options
                    .iter()
                    .find_map(|o| o.strip_prefix("lowerdir="))
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap(),
            );
            assert_eq!(
                std::fs::read_to_string(layer.join("who")).unwrap(),
                format!("{t}-{i}")
            );
        }
    }
}
