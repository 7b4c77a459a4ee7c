//! A config without namespaces: the container inherits every namespace of the caller
//! (config-linux.md), the mount namespace included, and still sees only its rootfs.

mod common;
use common::*;
use serde_json::json;

const NS: [&str; 6] = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];

/// The bundle with no namespaces and nothing that needs one (hostname, masked and read-only
/// paths), as runtime-tools' linux_ns_itype writes it.
fn no_namespaces(test: &str) -> Option<Bundle> {
    let mut b = bundle(test)?;
    let linux = b.spec["linux"].as_object_mut().unwrap();
    linux.insert("namespaces".into(), json!([]));
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    b.spec.as_object_mut().unwrap().remove("hostname");
    b.write();
    Some(b)
}

/// Mount points at or below the bundle in our (the caller's) mount namespace.
fn mounts_under(b: &Bundle) -> Vec<String> {
    let dir = std::fs::canonicalize(b.path()).unwrap();
    read(std::path::Path::new("/proc/self/mountinfo"))
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|mp| std::path::Path::new(mp).starts_with(&dir))
        .collect()
}

fn host_namespaces() -> Vec<String> {
    NS.iter()
        .map(|n| {
            std::fs::read_link(format!("/proc/self/ns/{n}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn no_namespaces_inherits_the_callers_and_stays_in_its_rootfs() {
    let Some(mut b) = no_namespaces("no_namespaces") else {
        return;
    };
    let out = sh(
        &mut b,
        "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; \
         test -x /bin/busybox && test ! -e /work && test -e /proc/1 && echo rootfs",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let mut want = host_namespaces();
    want.push("rootfs".into());
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out:?}");
    assert_eq!(mounts_under(&b), Vec::<String>::new(), "mounts left behind");
    assert_nothing_left(&b);
}

#[test]
fn exec_without_a_mount_namespace_enters_the_containers_root() {
    let Some(mut b) = no_namespaces("no_namespaces_exec") else {
        return;
    };
    start_sleeping(&mut b);
    assert!(!mounts_under(&b).is_empty(), "the container's mounts");
    let out = b.run(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "test -x /bin/busybox && test ! -e /work && readlink /proc/self/ns/mnt",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), host_namespaces()[4], "{out:?}");
    b.run(&["delete", "--force", &b.id]).ok();
    assert_eq!(mounts_under(&b), Vec::<String>::new(), "mounts left behind");
    assert_nothing_left(&b);
}

#[test]
fn failed_create_without_a_mount_namespace_leaves_no_mounts() {
    let Some(mut b) = no_namespaces("no_namespaces_fail") else {
        return;
    };
    b.args(&["/no/such/binary"]);
    let out = b.create();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("/no/such/binary"), "{out:?}");
    assert_eq!(mounts_under(&b), Vec::<String>::new(), "mounts left behind");
    assert_nothing_left(&b);
}

#[test]
fn what_would_change_the_callers_mounts_is_refused() {
    for (field, value) in [
        ("maskedPaths", json!(["/proc/kcore"])),
        ("readonlyPaths", json!(["/proc/sys"])),
        ("rootfsPropagation", json!("shared")),
    ] {
        let Some(mut b) = no_namespaces("no_namespaces_refused") else {
            return;
        };
        set(&mut b, &format!("/linux/{field}"), value);
        let out = b.create();
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("linux.{field}: needs a mount namespace")),
            "{out:?}"
        );
        assert_eq!(mounts_under(&b), Vec::<String>::new());
        assert_nothing_left(&b);
    }
    let Some(mut b) = no_namespaces("no_namespaces_userns") else {
        return;
    };
    set(&mut b, "/linux/namespaces", json!([{"type": "user"}]));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    set(&mut b, "/linux/uidMappings", map.clone());
    set(&mut b, "/linux/gidMappings", map);
    let out = b.create();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("linux.namespaces: a new user namespace needs a mount namespace"),
        "{out:?}"
    );
    assert_nothing_left(&b);
}
