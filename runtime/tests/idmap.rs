//! Idmapped bind mounts: host files show up with the mount's mapping inside the container,
//! next to the same bind without it.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

const MAP: u32 = 230000;

/// A host directory owned by root (mode 755) holding one root-owned file.
fn host_dir() -> dm_testkit::TempDir {
    let d = dm_testkit::TempDir::new("idmap-src");
    std::fs::write(d.path().join("f"), "x").unwrap();
    d
}

fn userns_bundle(test: &str) -> Option<Bundle> {
    let mut b = bundle(test)?;
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    let map = json!([{"containerID": 0, "hostID": MAP, "size": 65536}]);
    set(&mut b, "/linux/uidMappings", map.clone());
    set(&mut b, "/linux/gidMappings", map);
    Some(b)
}

fn mount(b: &mut Bundle, m: serde_json::Value) {
    // Container root of a user namespace may not create it in the host-owned rootfs.
    std::fs::create_dir_all(b.rootfs().join("data")).unwrap();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(m);
    set(b, "/mounts", json!(mounts));
}

// No redirection to /dev/null: in a user namespace it is a bind of the host's node, which some
// machines of this kind have as mode 644, so container root could not open it for writing.
const PROBE: &str = "stat -c %u:%g /data/f; touch /data/new && echo made || echo refused";

#[test]
fn idmap_gives_container_root_the_host_roots_files() {
    let Some(mut b) = userns_bundle("idmap_userns") else {
        return;
    };
    let src = host_dir();
    mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src.path(),
               "options": ["bind", "idmap"]}),
    );
    let out = sh(&mut b, PROBE);
    assert_eq!(out.stdout, "0:0\nmade\n", "{out:?}");
    // Written through the mapping, the new file is root's on the host, not uid 230000's.
    let meta = std::fs::metadata(src.path().join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
}

#[test]
fn without_idmap_the_same_files_are_unmapped() {
    let Some(mut b) = userns_bundle("idmap_control") else {
        return;
    };
    let src = host_dir();
    mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src.path(),
               "options": ["bind"]}),
    );
    let out = sh(&mut b, PROBE);
    assert_eq!(out.stdout, "65534:65534\nrefused\n", "{out:?}");
}

#[test]
fn mount_mappings_apply_without_a_user_namespace() {
    let Some(mut b) = bundle("idmap_plain") else {
        return;
    };
    let src = host_dir();
    mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src.path(),
               "options": ["rbind", "ro"],
               "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
               "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]}),
    );
    let out = sh(
        &mut b,
        "stat -c %u:%g /data/f; grep ' /data ' /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"1000:2000"), "{out:?}");
    // Other options still apply to the idmapped mount.
    assert!(
        lines[1].split(' ').nth(5).unwrap().contains("ro"),
        "{out:?}"
    );
}

#[test]
fn idmap_on_a_non_bind_mount_is_refused() {
    let Some(mut b) = bundle("idmap_tmpfs") else {
        return;
    };
    mount(
        &mut b,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
    );
    let out = b.run_container();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("mounts[") && out.stderr.contains("bind"),
        "{out:?}"
    );
    assert_nothing_left(&b);
}

#[test]
fn features_announce_idmapped_mounts() {
    let mut cmd = std::process::Command::new(runc());
    cmd.arg("features");
    let out = dm_testkit::output(cmd).ok();
    let f: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let opts = f["mountOptions"].as_array().unwrap();
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")));
}
