//! `docker update` through the real docker CLI: live limits seen in the container's cgroup
//! files and in inspect, a stopped container's new limits applied at its next start, restart
//! policy and limits kept across a daemon restart, docker's warnings and errors.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use std::path::Path;

/// The container's cgroup v1 files as it sees them.
fn cgroup(d: &Dmd, name: &str, files: &[&str]) -> String {
    let script: Vec<String> = files
        .iter()
        .map(|f| format!("cat /sys/fs/cgroup/{f}"))
        .collect();
    d.ok(&["exec", name, "sh", "-c", &script.join("; ")])
}

#[test]
fn docker_update_changes_live_limits_and_restart_policy() {
    if !prerequisites("docker_update_changes_live_limits_and_restart_policy") {
        return;
    }
    if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        assert!(
            !dm_testkit::in_ci(),
            "CI=true but the host has no cgroup v1 memory controller"
        );
        eprintln!("\n!!! SKIPPED: docker_update needs cgroup v1 (this host is not) !!!\n");
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "up1",
        "-m",
        "64m",
        "--cpu-shares",
        "512",
        image,
        "sleep",
        "600",
    ]);
    assert_eq!(
        cgroup(
            &d,
            "up1",
            &["memory/memory.limit_in_bytes", "cpu/cpu.shares"]
        ),
        "67108864\n512\n"
    );
    // docker's default: memory+swap twice the memory.
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", "up1"]),
        "134217728\n"
    );

    let o = d.docker(&[
        "update",
        "-m",
        "128m",
        "--memory-swap",
        "256m",
        "--cpu-shares",
        "256",
        "--cpus",
        "0.5",
        "--pids-limit",
        "77",
        "--cpuset-cpus",
        "0",
        "up1",
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
    assert_eq!(
        cgroup(
            &d,
            "up1",
            &[
                "memory/memory.limit_in_bytes",
                "memory/memory.memsw.limit_in_bytes",
                "cpu/cpu.shares",
                "cpu/cpu.cfs_quota_us",
                "cpu/cpu.cfs_period_us",
                "pids/pids.max",
                "cpuset/cpuset.cpus",
            ]
        ),
        "134217728\n268435456\n256\n50000\n100000\n77\n0\n"
    );
    let fmt = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpusetCpus}}";
    let shown = "134217728 268435456 256 500000000 77 0\n";
    assert_eq!(d.ok(&["inspect", "-f", fmt, "up1"]), shown);

    // Restart policy: stored in the record (the policy code reads it from there at exit).
    d.ok(&["update", "--restart", "on-failure:3", "up1"]);
    let policy =
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}";
    assert_eq!(d.ok(&["inspect", "-f", policy, "up1"]), "on-failure:3\n");
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "up1"]);
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            d.root()
                .join("containers")
                .join(id.trim())
                .join("container.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        rec["host_config"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );

    // Block I/O weight: applied where the host has weights, else docker's warning.
    let o = d.docker(&["update", "--blkio-weight", "300", "up1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let has_weight = Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        || Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists();
    if has_weight {
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.BlkioWeight}}", "up1"]),
            "300\n"
        );
    } else {
        // The CLI prints the response's Warnings after the container's name.
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("does not support Block I/O weight"), "{out}");
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.HostConfig.BlkioWeight}}", "up1"]),
            "0\n"
        );
    }

    // Bad input, in docker's words; nothing changes.
    let e = d.fails(&["update", "-m", "2m", "up1"]);
    assert!(e.contains("Minimum memory limit allowed is 6MB"), "{e}");
    let e = d.fails(&["update", "--cpu-period", "50000", "up1"]);
    assert!(
        e.contains("CPU Period cannot be updated as NanoCPUs has already been set"),
        "{e}"
    );
    let e = d.fails(&["update", "--cpuset-cpus", "63", "up1"]);
    assert!(e.contains("Requested CPUs are not available"), "{e}");
    let e = d.fails(&["update", "--restart", "sometimes", "up1"]);
    assert!(e.contains("restart policy"), "{e}");
    let (code, body) = d.request("POST", "/containers/up1/update", r#"{"Memory":"lots"}"#);
    assert_eq!(code, 400, "{body}");
    let (code, _) = d.request("POST", "/containers/nosuch/update", "{}");
    assert_eq!(code, 404);
    assert_eq!(d.ok(&["inspect", "-f", fmt, "up1"]), shown);
    d.ok(&[
        "run", "-d", "--rm", "--name", "up-rm", image, "sleep", "600",
    ]);
    let e = d.fails(&["update", "--restart", "always", "up-rm"]);
    assert!(e.contains("AutoRemove is enabled"), "{e}");

    // A stopped container takes new limits at its next start; they survive a daemon restart.
    d.ok(&["stop", "-t", "0", "up1"]);
    d.ok(&[
        "update",
        "-m",
        "96m",
        "--memory-swap",
        "192m",
        "--pids-limit",
        "-1",
        "up1",
    ]);
    d.kill9();
    d.spawn();
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "up1"
        ]),
        "100663296 <nil>\n"
    );
    assert_eq!(d.ok(&["inspect", "-f", policy, "up1"]), "on-failure:3\n");
    d.ok(&["start", "up1"]);
    assert_eq!(
        cgroup(
            &d,
            "up1",
            &[
                "memory/memory.limit_in_bytes",
                "memory/memory.memsw.limit_in_bytes",
                "pids/pids.max",
                "cpu/cpu.shares",
            ]
        ),
        "100663296\n201326592\nmax\n256\n"
    );
    d.ok(&["rm", "-f", "up1", "up-rm"]);
    assert_clean(&mut d);
}
