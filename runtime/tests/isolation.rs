//! What the container sees: namespaces, mounts, paths, sysctls, from inside.

mod common;
use common::*;
use serde_json::json;

#[test]
fn hostname_and_pid_1() {
    let Some(mut b) = bundle("hostname_and_pid_1") else {
        return;
    };
    set(&mut b, "/hostname", json!("boxy"));
    set(&mut b, "/domainname", json!("example.org"));
    let out = sh(&mut b, "hostname; echo $$; cat /proc/sys/kernel/domainname");
    assert_eq!(out.stdout, "boxy\n1\nexample.org\n", "{out:?}");
}

#[test]
fn new_network_namespace_has_only_lo() {
    let Some(mut b) = bundle("netns_only_lo") else {
        return;
    };
    let out = sh(&mut b, "ls /sys/class/net");
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["lo"],
        "{out:?}"
    );
}

#[test]
fn namespaces_differ_from_host_and_join_by_path() {
    let Some(mut b) = bundle("namespaces") else {
        return;
    };
    let out = sh(
        &mut b,
        "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done",
    );
    let inside: Vec<&str> = out.stdout.lines().collect();
    for (i, n) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .enumerate()
    {
        let host = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        assert_ne!(
            inside[i],
            host.to_str().unwrap(),
            "{n} namespace shared with host"
        );
    }
    // Join the host's network namespace by path.
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({"type": "network", "path": "/proc/self/ns/net"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    let out = sh(&mut b, "readlink /proc/self/ns/net");
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(out.stdout.trim(), host.to_str().unwrap());
}

#[test]
fn mounts_bind_ro_tmpfs_size_and_proc() {
    let Some(mut b) = bundle("mounts") else {
        return;
    };
    let src = b.path().join("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "from host").unwrap();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]}));
    set(&mut b, "/mounts", json!(mounts));
    let out = sh(&mut b, "cat /data/f; echo; touch /data/x 2>/dev/null && echo writable || echo readonly; \
        grep ' /scratch ' /proc/mounts; stat -c %a /scratch; test -r /proc/self/status && echo proc-ok");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "from host", "{out:?}");
    assert_eq!(lines[1], "readonly");
    assert!(
        lines[2].contains("tmpfs") && lines[2].contains("size=1024k"),
        "{out:?}"
    );
    assert_eq!(lines[3], "700");
    assert_eq!(lines[4], "proc-ok");
    assert!(!src.join("x").exists());
}

#[test]
fn readonly_rootfs() {
    let Some(mut b) = bundle("readonly_rootfs") else {
        return;
    };
    set(&mut b, "/root/readonly", json!(true));
    let out = sh(&mut b, "touch /newfile 2>&1; echo rc=$?");
    assert!(
        out.stdout.contains("Read-only file system") && out.stdout.contains("rc=1"),
        "{out:?}"
    );
    set(&mut b, "/root/readonly", json!(false));
    let out = sh(&mut b, "touch /newfile && echo ok");
    assert_eq!(out.stdout, "ok\n");
}

#[test]
fn masked_and_readonly_paths() {
    let Some(mut b) = bundle("masked_readonly_paths") else {
        return;
    };
    // Host: /proc/keys and /proc/timer_list have content, /sys/firmware has entries.
    assert!(!read(std::path::Path::new("/proc/timer_list")).is_empty());
    let out = sh(
        &mut b,
        "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
        echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo readonly; \
        touch /proc/bus/x 2>/dev/null && echo writable || echo readonly",
    );
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "0", "0", "readonly", "readonly"], "{out:?}");
}

#[test]
fn default_devices_and_symlinks() {
    let Some(mut b) = bundle("devices") else {
        return;
    };
    let out = sh(&mut b, "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
        for l in fd stdin ptmx; do readlink /dev/$l; done; echo x > /dev/null && head -c 3 /dev/zero | wc -c");
    let expect = [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "pts/ptmx",
    ];
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert!(lines.len() == 10, "{out:?}");
    assert_eq!(&lines[..9], &expect, "{out:?}");
    assert_eq!(lines[9], "3");
}

#[test]
fn extra_device_from_config() {
    let Some(mut b) = bundle("extra_device") else {
        return;
    };
    set(
        &mut b,
        "/linux/devices",
        json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1000}]),
    );
    let out = sh(&mut b, "stat -c '%t:%T %a %u:%g' /dev/mynull");
    assert_eq!(out.stdout.trim(), "1:3 640 1000:1000", "{out:?}");
}

#[test]
fn sysctl_in_container_namespaces() {
    let Some(mut b) = bundle("sysctl") else {
        return;
    };
    set(
        &mut b,
        "/linux/sysctl",
        json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}),
    );
    let out = sh(
        &mut b,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
    );
    assert_eq!(out.stdout, "1\n1234\n", "{out:?}");
    // The host is untouched.
    assert_ne!(
        read(std::path::Path::new("/proc/sys/kernel/shmmni")).trim(),
        "1234"
    );
}

#[test]
fn mount_destination_symlink_cannot_escape_rootfs() {
    let Some(mut b) = bundle("mount_symlink_escape") else {
        return;
    };
    let marker = dm_testkit::unique_id("escape");
    std::os::unix::fs::symlink("/tmp", b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../tmp", b.rootfs().join("evil2")).unwrap();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": format!("/evil/{marker}"), "type": "tmpfs", "source": "tmpfs"}),
    );
    mounts.push(
        json!({"destination": format!("/evil2/{marker}"), "type": "tmpfs", "source": "tmpfs"}),
    );
    set(&mut b, "/mounts", json!(mounts));
    // Both destinations resolve to the rootfs's own /tmp: two mounts stacked there.
    let out = sh(
        &mut b,
        &format!("grep {marker} /proc/mounts | cut -d' ' -f2"),
    );
    assert_eq!(
        out.stdout,
        format!("/tmp/{marker}\n/tmp/{marker}\n"),
        "{out:?}"
    );
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "mount escaped to the host /tmp"
    );
    assert!(b.rootfs().join("tmp").join(&marker).exists());
}

#[test]
fn proc_mount_over_proc_self_is_refused() {
    let Some(mut b) = bundle("proc_over_self") else {
        return;
    };
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/proc/self/attr", "type": "tmpfs", "source": "tmpfs"}));
    set(&mut b, "/mounts", json!(mounts));
    let out = b.create();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("mounts[7]"), "{out:?}");
    assert_nothing_left(&b);
}

#[test]
fn user_namespace_maps_ids() {
    let Some(mut b) = bundle("userns") else {
        return;
    };
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "user"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    set(
        &mut b,
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
    set(
        &mut b,
        "/linux/gidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
    b.args(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; sleep 1000",
    ]);
    b.create().ok();
    let pid = b.state()["pid"].as_i64().unwrap();
    // Seen from the host, the container's root is uid 200000.
    let status = read(std::path::Path::new(&format!("/proc/{pid}/status")));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("200000")),
        "{status}"
    );
    b.run(&["delete", "-f", &b.id]).ok();
    let out = sh(
        &mut b,
        "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox",
    );
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "{out:?}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    // Host root's files are unmapped inside: the overflow id.
    assert_eq!(lines[2], "65534");
}

#[test]
fn personality_linux32() {
    let Some(mut b) = bundle("personality") else {
        return;
    };
    set(&mut b, "/linux/personality", json!({"domain": "LINUX32"}));
    assert_eq!(sh(&mut b, "uname -m").stdout, "i686\n");
}

#[test]
fn no_pivot_still_isolates_the_rootfs() {
    let Some(mut b) = bundle("no_pivot") else {
        return;
    };
    b.args(&[
        "sh",
        "-c",
        "ls /bin/busybox && test ! -e /work && echo isolated",
    ]);
    let bp = b.path().to_str().unwrap().to_owned();
    let out = b.run(&["run", "--no-pivot", "--bundle", &bp, &b.id]);
    assert!(out.stdout.ends_with("isolated\n"), "{out:?}");
}

#[test]
fn rootfs_propagation_shared() {
    let Some(mut b) = bundle("rootfs_shared") else {
        return;
    };
    set(&mut b, "/linux/rootfsPropagation", json!("shared"));
    let out = sh(
        &mut b,
        "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c shared:",
    );
    assert_eq!(out.stdout.trim(), "1", "{out:?}");
}

#[test]
fn rootfs_propagation_unbindable() {
    // The rootfs is bound from `/` before pivot_root, which an unbindable `/` refuses (EINVAL):
    // the root gets the value once it is the new root.
    for (value, root_only) in [("unbindable", true), ("runbindable", false)] {
        let Some(mut b) = bundle("rootfs_unbindable") else {
            return;
        };
        set(&mut b, "/linux/rootfsPropagation", json!(value));
        // Field 7 is the first optional field, or the "-" separator when there is none.
        let out = sh(
            &mut b,
            "awk '$5 == \"/\" || $5 == \"/proc\" {print $5, $7}' /proc/self/mountinfo",
        );
        assert_eq!(out.code, 0, "{value}: {out:?}");
        let want = if root_only {
            "/ unbindable\n/proc -\n"
        } else {
            "/ unbindable\n/proc unbindable\n"
        };
        assert_eq!(out.stdout, want, "{value}: {out:?}");
    }
}

#[test]
fn new_time_namespace() {
    let Some(mut b) = bundle("timens") else {
        return;
    };
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "time"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    let out = sh(&mut b, "readlink /proc/self/ns/time");
    let host = std::fs::read_link("/proc/self/ns/time").unwrap();
    assert!(out.stdout.starts_with("time:["), "{out:?}");
    assert_ne!(out.stdout.trim(), host.to_str().unwrap());
}

#[test]
fn time_offsets_apply_inside_and_to_exec() {
    let Some(mut b) = bundle("timens_offsets") else {
        return;
    };
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(json!({"type": "time"}));
    set(&mut b, "/linux/namespaces", json!(ns));
    // Ten days of boot time: /proc/uptime inside must show at least that much more than ours.
    let ten_days = 864_000i64;
    set(
        &mut b,
        "/linux/timeOffsets",
        json!({"boottime": {"secs": ten_days, "nanosecs": 0}, "monotonic": {"secs": 7200, "nanosecs": 5}}),
    );
    let host_up = uptime(&read(std::path::Path::new("/proc/uptime")));
    let out = sh(&mut b, "cat /proc/self/timens_offsets; cat /proc/uptime");
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let offs: Vec<Vec<&str>> = lines[..2]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // The kernel lists monotonic (clock 1) before boottime (clock 7), by name or number.
    assert!(
        offs.contains(&vec!["monotonic", "7200", "5"]) || offs.contains(&vec!["1", "7200", "5"]),
        "{out:?}"
    );
    assert!(
        offs.contains(&vec!["boottime", "864000", "0"]) || offs.contains(&vec!["7", "864000", "0"]),
        "{out:?}"
    );
    assert!(uptime(lines[2]) >= host_up + ten_days as f64, "{out:?}");
    // A process exec'd later lands in the same offset namespace.
    start_sleeping(&mut b);
    let ex = b
        .run(&["exec", &b.id, "cat", "/proc/self/timens_offsets"])
        .ok();
    assert!(ex.stdout.contains("864000"), "{ex:?}");
    b.run(&["delete", "--force", &b.id]).ok();
}

#[test]
fn time_offsets_without_time_namespace_are_refused() {
    let Some(mut b) = bundle("timens_offsets_bad") else {
        return;
    };
    set(
        &mut b,
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 1}}),
    );
    b.args(&["true"]);
    let out = b.create();
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("linux.timeOffsets"), "{out:?}");
    assert_nothing_left(&b);
}

fn uptime(s: &str) -> f64 {
    s.split_whitespace().next().unwrap().parse().unwrap()
}
