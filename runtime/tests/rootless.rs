//! Rootless: dm-runc run by an unprivileged user, with a user namespace mapping that user to
//! root inside and no cgroups (the caller cannot write the tree), as runc does.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

fn as_nobody(b: &Bundle, args: &[&str]) -> Output {
    let mut cmd = Command::new(runc());
    let state = b.path().join("state");
    cmd.arg("--root")
        .arg(&state)
        .args(args)
        .stdin(Stdio::null());
    cmd.env_remove("XDG_RUNTIME_DIR");
    // std clears supplementary groups when root switches uid.
    cmd.uid(NOBODY).gid(NOBODY);
    let out = b.path().join("out");
    let err = b.path().join("err");
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let st = cmd.status().unwrap();
    Output {
        code: st.code().unwrap_or(-1),
        stdout: read(&out),
        stderr: read(&err),
    }
}

fn chown_tree(p: &std::path::Path) {
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn unprivileged_user_runs_a_container_as_root_inside() {
    let Some(mut b) = bundle("rootless") else {
        return;
    };
    let mut ns: Vec<serde_json::Value> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network" && n["type"] != "cgroup")
        .cloned()
        .collect();
    ns.push(json!({"type": "user"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    set(
        &mut b,
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]),
    );
    set(
        &mut b,
        "/linux/gidMappings",
        json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]),
    );
    b.spec["linux"].as_object_mut().unwrap().remove("resources");
    let mounts: Vec<serde_json::Value> = b.spec["mounts"].as_array().unwrap().iter().filter(|m| m["type"] != "cgroup").map(|m| {
        let mut m = m.clone();
        if m["type"] == "sysfs" {
            m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if m["type"] == "devpts" {
            m["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
        }
        m
    }).collect();
    set(&mut b, "/mounts", json!(mounts));
    set(&mut b, "/root/readonly", json!(false));
    b.args(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; echo hi > /tmp/x && cat /tmp/x; sleep 1000",
    ]);
    std::fs::create_dir_all(b.path().join("state")).unwrap();
    chown_tree(b.path());
    let bp = b.path().to_str().unwrap().to_owned();
    let out = as_nobody(&b, &["create", "--bundle", &bp, &b.id]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("without cgroups"),
        "the skip is logged: {out:?}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&as_nobody(&b, &["state", &b.id]).stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    // From the host the container's root is the unprivileged user.
    let status = read(std::path::Path::new(&format!("/proc/{pid}/status")));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("65534")),
        "{status}"
    );
    assert_eq!(as_nobody(&b, &["start", &b.id]).code, 0);
    assert!(eventually(10, || b.rootfs().join("tmp/x").exists()));
    // exec by the same unprivileged user joins every namespace, the pid one included.
    let out = as_nobody(
        &b,
        &[
            "exec",
            &b.id,
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/pid",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out:?}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"],
        "{out:?}"
    );
    let init_pidns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(lines[2], init_pidns.to_str().unwrap(), "{out:?}");
    let out = as_nobody(&b, &["delete", "-f", &b.id]);
    assert_eq!(out.code, 0, "{out:?}");
    // Control: the same unprivileged user cannot make the container without the user namespace.
    let mut ns2 = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns2.retain(|n| n["type"] != "user");
    set(&mut b, "/linux/namespaces", json!(ns2));
    b.spec["linux"]
        .as_object_mut()
        .unwrap()
        .remove("uidMappings");
    b.spec["linux"]
        .as_object_mut()
        .unwrap()
        .remove("gidMappings");
    b.write();
    chown_tree(b.path());
    let out = as_nobody(&b, &["run", "--bundle", &bp, "ctl-x"]);
    assert_ne!(out.code, 0, "{out:?}");
}
