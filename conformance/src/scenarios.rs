//! In-container scenarios: each changes the base config, names the areas the checker verifies,
//! and may prepare host-side things (bind sources, namespaces to join).

use crate::context::{Context, CHECKER_IN_CONTAINER};
use crate::error::{io, Error, Result};
use crate::runtime::Sandbox;
use crate::spec::{drop_namespace, set_namespace};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a scenario's setup works on.
pub struct Setup<'a> {
    /// The config being built.
    pub spec: Value,
    /// The context the checker will get.
    pub ctx: Context,
    /// The bundle.
    pub sandbox: &'a Sandbox,
    /// Processes holding namespaces to join; killed when the scenario ends.
    pub holders: Vec<std::process::Child>,
}

/// A named in-container scenario.
pub struct Scenario {
    /// The first part of its case ids.
    pub name: &'static str,
    /// Areas of the config the checker verifies (see [`crate::plan::plan`]).
    pub areas: &'static [&'static str],
    /// Changes the base config.
    pub setup: fn(&mut Setup) -> Result<()>,
}

/// Every in-container scenario, in run order.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "process-user",
            areas: &["process"],
            setup: process_user,
        },
        Scenario {
            name: "process-root",
            areas: &["process", "lsm"],
            setup: process_root,
        },
        Scenario {
            name: "rootfs-readonly",
            areas: &["root"],
            setup: |_| Ok(()),
        },
        Scenario {
            name: "rootfs-writable",
            areas: &["root"],
            setup: |s| {
                s.spec["root"]["readonly"] = json!(false);
                Ok(())
            },
        },
        Scenario {
            name: "uts",
            areas: &["uts"],
            setup: |s| {
                s.spec["hostname"] = json!("dmc-host");
                s.spec["domainname"] = json!("dmc.example.org");
                Ok(())
            },
        },
        Scenario {
            name: "mounts-default",
            areas: &["mounts"],
            setup: |_| Ok(()),
        },
        Scenario {
            name: "mounts-custom",
            areas: &["mounts"],
            setup: mounts_custom,
        },
        Scenario {
            name: "namespaces-new",
            areas: &["namespaces"],
            setup: |s| {
                set_namespace(&mut s.spec, "cgroup", None);
                Ok(())
            },
        },
        Scenario {
            name: "namespaces-inherited",
            areas: &["namespaces"],
            setup: |s| {
                for ns in ["pid", "network", "ipc", "uts", "cgroup"] {
                    drop_namespace(&mut s.spec, ns);
                }
                s.spec.as_object_mut().map(|o| o.remove("hostname"));
                Ok(())
            },
        },
        Scenario {
            // No namespaces at all: the mount namespace is the runtime's too (runtime-tools'
            // linux_ns_itype). Masked and read-only paths would need a mount namespace.
            name: "namespaces-none",
            areas: &["namespaces", "root"],
            setup: |s| {
                for ns in ["pid", "network", "ipc", "uts", "mount"] {
                    drop_namespace(&mut s.spec, ns);
                }
                s.spec.as_object_mut().map(|o| o.remove("hostname"));
                if let Some(l) = s.spec["linux"].as_object_mut() {
                    l.remove("maskedPaths");
                    l.remove("readonlyPaths");
                }
                Ok(())
            },
        },
        Scenario {
            name: "namespaces-joined",
            areas: &["namespaces"],
            setup: namespaces_joined,
        },
        Scenario {
            name: "namespaces-joined-mount",
            areas: &["namespaces"],
            // The container still gets its own rootfs inside the joined mount namespace.
            setup: |s| {
                join_holder(
                    s,
                    &["--mount", "--propagation", "private"],
                    &[("mount", "mnt")],
                )
            },
        },
        Scenario {
            name: "userns",
            areas: &["namespaces", "idmaps"],
            setup: userns,
        },
        Scenario {
            name: "devices",
            areas: &["devices", "default-devices"],
            setup: devices,
        },
        Scenario {
            // Apart from the other nodes, so that a runtime refusing fifos fails only these cases.
            name: "devices-fifo",
            areas: &["devices"],
            setup: |s| {
                s.spec["linux"]["devices"] = json!([{"path": "/dev/dmc-fifo", "type": "p", "fileMode": 0o640, "uid": 2, "gid": 3}]);
                Ok(())
            },
        },
        Scenario {
            name: "masked-readonly",
            areas: &["masked", "readonly"],
            setup: masked_readonly,
        },
        Scenario {
            name: "sysctl",
            areas: &["sysctl"],
            setup: |s| {
                s.spec["linux"]["sysctl"] = json!({
                    "kernel.shmmax": "12345678", "kernel.msgmax": "16384",
                    "net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 1000"
                });
                Ok(())
            },
        },
        Scenario {
            name: "seccomp",
            areas: &["seccomp"],
            setup: seccomp,
        },
        Scenario {
            name: "cgroups",
            areas: &["cgroups"],
            setup: |s| {
                s.spec["linux"]["resources"] = resources();
                s.spec["linux"]["cgroupsPath"] = json!(format!("dmc-{}", s.sandbox.id));
                Ok(())
            },
        },
        Scenario {
            name: "cgroups-ns",
            areas: &["cgroups"],
            setup: |s| {
                s.spec["linux"]["resources"] = resources();
                set_namespace(&mut s.spec, "cgroup", None);
                Ok(())
            },
        },
        Scenario {
            name: "rootfs-shared",
            areas: &["rootfs-propagation"],
            setup: |s| {
                s.spec["linux"]["rootfsPropagation"] = json!("shared");
                Ok(())
            },
        },
        Scenario {
            name: "rootfs-private",
            areas: &["rootfs-propagation"],
            setup: |s| {
                s.spec["linux"]["rootfsPropagation"] = json!("private");
                Ok(())
            },
        },
        Scenario {
            // The rootfs is usually bound from `/` before pivot_root, which an unbindable `/`
            // refuses.
            name: "rootfs-unbindable",
            areas: &["rootfs-propagation"],
            setup: |s| {
                s.spec["linux"]["rootfsPropagation"] = json!("unbindable");
                Ok(())
            },
        },
        Scenario {
            // A filter making getcwd fail (runtime-tools' linux_seccomp), without no_new_privs:
            // the runtime's own work on process.cwd must not run under it.
            name: "seccomp-cwd",
            areas: &["seccomp", "cwd"],
            setup: |s| {
                s.spec["process"]["noNewPrivileges"] = json!(false);
                s.spec["process"]["cwd"] = json!(crate::context::DIR_IN_CONTAINER);
                s.spec["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["getcwd", "getpgid"], "action": "SCMP_ACT_ERRNO"}]
                });
                Ok(())
            },
        },
        Scenario {
            name: "personality",
            areas: &["personality"],
            setup: |s| {
                s.spec["linux"]["personality"] = json!({"domain": "LINUX32"});
                Ok(())
            },
        },
    ]
}

fn caps(names: &[&str]) -> Value {
    json!(names.iter().map(|n| format!("CAP_{n}")).collect::<Vec<_>>())
}

fn process_user(s: &mut Setup) -> Result<()> {
    let p = &mut s.spec["process"];
    p["args"] = json!([CHECKER_IN_CONTAINER, "probe", "two  words", "ünï=x", ""]);
    p["env"] = json!([
        "PATH=/bin",
        "DMC_A=alpha",
        "DMC_SPACES=a b  c",
        "DMC_EMPTY=",
        "DMC_EQ=x=y",
        "HOME=/home/user"
    ]);
    p["cwd"] = json!("/home/user");
    p["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 0o027});
    p["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
        {"type": "RLIMIT_MSGQUEUE", "soft": 100000, "hard": 200000},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000}
    ]);
    // Across execve a non-root process keeps only its ambient set; config sets that agree
    // with that let every set be compared exactly.
    let kept = caps(&["KILL", "NET_BIND_SERVICE"]);
    p["capabilities"] = json!({"bounding": caps(&["CHOWN", "KILL", "NET_BIND_SERVICE"]), "effective": kept,
        "permitted": kept, "inheritable": kept, "ambient": kept});
    p["noNewPrivileges"] = json!(true);
    p["oomScoreAdj"] = json!(500);
    Ok(())
}

fn process_root(s: &mut Setup) -> Result<()> {
    let p = &mut s.spec["process"];
    p["cwd"] = json!("/root");
    p["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [10, 20], "umask": 0o077});
    // For root, execve makes permitted = effective = bounding; inheritable and ambient stay.
    let full = caps(&[
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "KILL",
        "NET_BIND_SERVICE",
        "SETPCAP",
        "SYS_CHROOT",
    ]);
    p["capabilities"] = json!({"bounding": full, "effective": full, "permitted": full,
        "inheritable": caps(&["KILL"]), "ambient": caps(&["KILL"])});
    p["noNewPrivileges"] = json!(false);
    Ok(())
}

fn mounts_custom(s: &mut Setup) -> Result<()> {
    let mut extra = vec![
        json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "dmc-tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=750", "size=1m"]}),
    ];
    for (name, dest, opts) in [
        (
            "bind-rw",
            "/mnt/bind-rw",
            json!(["rbind", "rw", "rprivate"]),
        ),
        (
            "bind-ro",
            "/mnt/bind-ro",
            json!(["bind", "ro", "nosuid", "nodev"]),
        ),
        (
            "bind-shared",
            "/mnt/deep/bind-shared",
            json!(["rbind", "rshared"]),
        ),
    ] {
        let (src, mark) = s.sandbox.shared_dir(name)?;
        s.ctx.bind_marks.insert(dest.into(), mark);
        extra.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
    }
    // A destination whose parents do not exist in the rootfs: the runtime must create them.
    extra.push(json!({"destination": "/mnt/deep/er/tmp", "type": "tmpfs", "source": "dmc-deep", "options": ["ro", "nosuid"]}));
    s.spec["mounts"]
        .as_array_mut()
        .expect("base has mounts")
        .extend(extra);
    s.spec["root"]["readonly"] = json!(false);
    Ok(())
}

fn ns_inode(path: &str) -> Option<u64> {
    std::fs::read_link(path)
        .ok()
        .and_then(|t| crate::probe::inode_of_link(&t.to_string_lossy()))
}

fn namespaces_joined(s: &mut Setup) -> Result<()> {
    join_holder(
        s,
        &["--net", "--uts", "--ipc"],
        &[("network", "net"), ("uts", "uts"), ("ipc", "ipc")],
    )?;
    s.spec.as_object_mut().map(|o| o.remove("hostname"));
    Ok(())
}

/// Starts `unshare FLAGS sleep` and points the config's namespaces of `types` at its ones.
fn join_holder(s: &mut Setup, flags: &[&str], types: &[(&str, &str)]) -> Result<()> {
    let child = std::process::Command::new("unshare")
        .args(flags)
        .args(["sleep", "600"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(io("spawn", "unshare"))?;
    let pid = child.id();
    s.holders.push(child);
    let probe = types[0].1;
    let ours = ns_inode(&format!("/proc/self/ns/{probe}"));
    let end = Instant::now() + Duration::from_secs(10);
    while ns_inode(&format!("/proc/{pid}/ns/{probe}")) == ours {
        if Instant::now() > end {
            return Err(Error::Missing(format!(
                "unshare did not make a {probe} namespace within 10s"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (ty, name) in types {
        let path = format!("/proc/{pid}/ns/{name}");
        s.ctx
            .joined_ns
            .insert(name.to_string(), ns_inode(&path).unwrap_or(0));
        set_namespace(&mut s.spec, ty, Some(&path));
    }
    Ok(())
}

fn userns(s: &mut Setup) -> Result<()> {
    set_namespace(&mut s.spec, "user", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    s.spec["linux"]["uidMappings"] = map.clone();
    s.spec["linux"]["gidMappings"] = map;
    Ok(())
}

fn devices(s: &mut Setup) -> Result<()> {
    s.spec["linux"]["devices"] = json!([
        {"path": "/dev/dmc-char", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 1000, "gid": 2000},
        {"path": "/dev/dmc-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 0},
        {"path": "/dev/dmc-block-ok", "type": "b", "major": 7, "minor": 201, "fileMode": 0o600}
    ]);
    // Deny everything, allow the default devices and one of the two block devices.
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    for (t, ma, mi) in [
        ("c", 1, 3),
        ("c", 1, 5),
        ("c", 1, 7),
        ("c", 1, 8),
        ("c", 1, 9),
        ("c", 5, 0),
        ("c", 5, 2),
        ("c", 136, -1),
    ] {
        let mut r = json!({"allow": true, "type": t, "major": ma, "access": "rwm"});
        if mi >= 0 {
            r["minor"] = json!(mi);
        }
        rules.push(r);
    }
    rules.push(json!({"allow": true, "type": "b", "major": 7, "minor": 201, "access": "rw"}));
    s.spec["linux"]["resources"]["devices"] = json!(rules);
    Ok(())
}

fn masked_readonly(s: &mut Setup) -> Result<()> {
    let root = s.sandbox.rootfs();
    let w = |p: &str, c: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().expect("has parent"))
            .and_then(|_| std::fs::write(&p, c))
            .map_err(io("write", &p))
    };
    w("dmc-secret-file", "secret\n")?;
    w("dmc-secret-dir/file", "secret\n")?;
    w("dmc-ro-dir/file", "data\n")?;
    let l = &mut s.spec["linux"];
    l["maskedPaths"]
        .as_array_mut()
        .expect("base has maskedPaths")
        .extend([json!("/dmc-secret-file"), json!("/dmc-secret-dir")]);
    l["readonlyPaths"]
        .as_array_mut()
        .expect("base has readonlyPaths")
        .push(json!("/dmc-ro-dir"));
    // With a writable root, only readonlyPaths make /dmc-ro-dir read-only.
    s.spec["root"]["readonly"] = json!(false);
    Ok(())
}

fn seccomp(s: &mut Setup) -> Result<()> {
    s.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EDOM},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENODATA,
             "args": [{"index": 0, "value": 4242, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    Ok(())
}

fn resources() -> Value {
    json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64}
    })
}
