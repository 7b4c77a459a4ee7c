//! Bad input: a one-line reason naming the field or argument, exit 1, nothing left behind.

mod common;
use common::*;
use serde_json::json;

/// No cgroup directory named after the container anywhere under our own cgroups.
fn assert_no_cgroup(id: &str) {
    for d in all_cgroup_dirs("self") {
        let d = d.join(id);
        assert!(!d.exists(), "cgroup {d:?} left behind");
    }
}

fn fails_cleanly(b: &Bundle, out: Output, needle: &str) {
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in {out:?}"
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out:?}");
    // The cause is said once (the alternate error format used to repeat it).
    for cause in ["(os error", "EPERM", "ENOENT", "EACCES", "EINVAL", "EBUSY"] {
        assert!(
            out.stderr.matches(cause).count() <= 1,
            "{cause} repeated: {out:?}"
        );
    }
    assert_nothing_left(b);
    assert_no_cgroup(&b.id);
}

#[test]
fn missing_bundle() {
    let Some(b) = bundle("missing_bundle") else {
        return;
    };
    let out = b.run_detached(&["create", "--bundle", "/nonexistent-dm-bundle", &b.id]);
    fails_cleanly(&b, out, "/nonexistent-dm-bundle");
}

#[test]
fn invalid_json() {
    let Some(b) = bundle("invalid_json") else {
        return;
    };
    std::fs::write(b.path().join("config.json"), "{ not json").unwrap();
    fails_cleanly(&b, b.create(), "invalid JSON");
}

#[test]
fn unknown_namespace_type() {
    let Some(mut b) = bundle("unknown_ns") else {
        return;
    };
    set(
        &mut b,
        "/linux/namespaces",
        json!([{"type": "mount"}, {"type": "bogus"}]),
    );
    fails_cleanly(&b, b.create(), "linux.namespaces[1].type");
}

#[test]
fn bad_field_values_name_the_field() {
    let Some(mut b) = bundle("bad_fields") else {
        return;
    };
    set(&mut b, "/ociVersion", json!("2.0.0"));
    fails_cleanly(&b, b.create(), "ociVersion");
    set(&mut b, "/ociVersion", json!("1.0.2"));
    set(&mut b, "/linux/resources/memory", json!({"limit": "a lot"}));
    fails_cleanly(&b, b.create(), "linux.resources.memory.limit");
    set(
        &mut b,
        "/linux/resources/memory",
        json!({"swappiness": 500}),
    );
    fails_cleanly(&b, b.create(), "swappiness");
}

#[test]
fn executable_not_found_after_cgroup_and_mounts() {
    let Some(mut b) = bundle("exe_not_found") else {
        return;
    };
    b.args(&["no-such-binary"]);
    fails_cleanly(&b, b.create(), "executable file not found in $PATH");
}

#[test]
fn id_already_exists() {
    let Some(mut b) = bundle("id_exists") else {
        return;
    };
    b.args(&["sleep", "1000"]);
    b.create().ok();
    let out = b.create();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("exists"), "{out:?}");
    // The first container is untouched.
    assert_eq!(b.state()["status"], "created");
    b.run(&["delete", "-f", &b.id]).ok();
    assert_nothing_left(&b);
}

#[test]
fn ids_that_escape_the_state_root() {
    let Some(b) = bundle("bad_ids") else { return };
    let bp = b.path().to_str().unwrap().to_owned();
    for id in ["a/b", "..", "../evil", "x y"] {
        let out = b.run_detached(&["create", "--bundle", &bp, id]);
        assert_eq!(out.code, 1, "{id}: {out:?}");
        assert!(out.stderr.contains("invalid container id"), "{out:?}");
    }
    assert_eq!(
        std::fs::read_dir(b.state_root())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    assert!(!b.state_root().parent().unwrap().join("evil").exists());
}

#[test]
fn no_such_container() {
    let Some(b) = bundle("no_such") else { return };
    for cmd in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope"],
        &["delete", "nope"],
        &["exec", "nope", "true"],
        &["pause", "nope"],
    ] {
        let out = b.run(cmd);
        assert_eq!(out.code, 1, "{cmd:?}: {out:?}");
        assert!(
            out.stderr.contains("container does not exist"),
            "{cmd:?}: {out:?}"
        );
    }
}

#[test]
fn start_of_a_running_container_fails() {
    let Some(mut b) = bundle("start_twice") else {
        return;
    };
    start_sleeping(&mut b);
    let out = b.run(&["start", &b.id]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already running"), "{out:?}");
}

#[test]
fn systemd_cgroup_path_not_slice_prefix_name_is_a_clear_error() {
    let Some(mut b) = bundle("systemd_bad_path") else {
        return;
    };
    let path = format!("/dm-test/{}", b.id);
    set(&mut b, "/linux/cgroupsPath", json!(path));
    let bp = b.path().to_str().unwrap().to_owned();
    let out = b.run_detached(&["--systemd-cgroup", "create", "--bundle", &bp, &b.id]);
    assert!(out.stderr.contains("slice:prefix:name"), "{out:?}");
    fails_cleanly(&b, out, "linux.cgroupsPath");
}

#[test]
fn systemd_cgroup_without_a_bus_is_a_clear_error() {
    let Some(mut b) = bundle("systemd_no_bus") else {
        return;
    };
    let sock = b.path().join("no-bus.sock");
    b.env.push((
        "DBUS_SYSTEM_BUS_ADDRESS".into(),
        format!("unix:path={}", sock.display()),
    ));
    let path = format!("system.slice:dmtest:{}", b.id);
    set(&mut b, "/linux/cgroupsPath", json!(path));
    let bp = b.path().to_str().unwrap().to_owned();
    let out = b.run_detached(&["--systemd-cgroup", "create", "--bundle", &bp, &b.id]);
    fails_cleanly(&b, out, &sock.display().to_string());
}

#[test]
fn negative_oom_score_adj_eperm_is_explained() {
    let Some(mut b) = bundle("oom_negative") else {
        return;
    };
    set(&mut b, "/process/oomScoreAdj", json!(-500));
    let out = b.create();
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which root lacks on some machines.
    let can_lower = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
    if can_lower {
        eprintln!("SKIP the oomScoreAdj refusal: this host grants CAP_SYS_RESOURCE");
        assert_eq!(out.code, 0, "{out:?}");
        b.run(&["delete", "-f", &b.id]).ok();
        return;
    }
    fails_cleanly(&b, out, "process.oomScoreAdj");
}

/// Whether this host has the LSM (then a label or profile is applied, not refused).
fn lsm_enabled(name: &str) -> bool {
    let on = match name {
        "AppArmor" => read(std::path::Path::new(
            "/sys/module/apparmor/parameters/enabled",
        ))
        .starts_with('Y'),
        _ => std::path::Path::new("/sys/fs/selinux/enforce").exists(),
    };
    if on {
        eprintln!("SKIP: {name} is enabled on this host; the refusal needs a host without it");
    }
    on
}

#[test]
fn security_labels_the_host_cannot_apply_are_refused() {
    // A profile or label that cannot be applied must not start the container unconfined.
    for (lsm, pointer, value, field) in [
        (
            "AppArmor",
            "/process/apparmorProfile",
            "docker-default",
            "process.apparmorProfile",
        ),
        (
            "SELinux",
            "/process/selinuxLabel",
            "system_u:system_r:container_t:s0",
            "process.selinuxLabel",
        ),
        (
            "SELinux",
            "/linux/mountLabel",
            "system_u:object_r:container_file_t:s0",
            "linux.mountLabel",
        ),
    ] {
        if lsm_enabled(lsm) {
            continue;
        }
        let Some(mut b) = bundle("lsm_refused") else {
            return;
        };
        set(&mut b, pointer, json!(value));
        let out = b.create();
        assert!(out.stderr.contains(field), "{out:?}");
        fails_cleanly(&b, out, &format!("{lsm} is not enabled on this host"));
    }
}

#[test]
fn exec_with_a_label_the_host_cannot_apply_is_refused() {
    if lsm_enabled("AppArmor") || lsm_enabled("SELinux") {
        return;
    }
    let Some(mut b) = bundle("lsm_exec_refused") else {
        return;
    };
    start_sleeping(&mut b);
    let before = read(std::path::Path::new("/proc/self/mountinfo"));
    for flag in ["--apparmor", "--process-label"] {
        let out = b.run(&["exec", flag, "docker-default", &b.id, "true"]);
        assert_eq!(out.code, 1, "{flag}: {out:?}");
        let field = if flag == "--apparmor" {
            "process.apparmorProfile"
        } else {
            "process.selinuxLabel"
        };
        assert!(out.stderr.contains(field), "{flag}: {out:?}");
    }
    // Nothing ran: the container still has its init only.
    let ps = b.run(&["ps", "--format", "json", &b.id]).ok();
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids, vec![b.state()["pid"].as_i64().unwrap()], "{ps:?}");
    assert_eq!(read(std::path::Path::new("/proc/self/mountinfo")), before);
}

#[test]
fn a_masked_path_that_cannot_be_looked_up_is_an_error() {
    // Only a missing path may be skipped; one that cannot be resolved (here a symlink loop in
    // the rootfs) would otherwise stay unmasked.
    let Some(mut b) = bundle("masked_eloop") else {
        return;
    };
    std::os::unix::fs::symlink("loop", b.rootfs().join("loop")).unwrap();
    let mut masked = b.spec["linux"]["maskedPaths"].as_array().unwrap().clone();
    masked.push(json!("/loop/x"));
    let i = masked.len() - 1;
    set(&mut b, "/linux/maskedPaths", json!(masked));
    fails_cleanly(&b, b.create(), &format!("linux.maskedPaths[{i}] /loop/x"));
}
