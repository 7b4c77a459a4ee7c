//! `dockermind cp` both ways (file, directory, a new name, a volume, a stopped container),
//! `dockermind export`, and `dockermind update` read back in the container's cgroup.

mod common;

use common::Env;
use dm_testkit::TempDir;

#[test]
fn cp_export_and_update() {
    if !common::prerequisites("cp_export_and_update") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let host = TempDir::new("dm-cli-cp");
    let h = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    std::fs::write(h("a.txt"), "alpha\n").unwrap();
    std::fs::create_dir_all(h("dir/sub")).unwrap();
    std::fs::write(h("dir/sub/b"), "beta\n").unwrap();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "-v",
        "clivol:/vol",
        &img,
        "sleep",
        "600",
    ]);

    env.ok(&["cp", &h("a.txt"), "c1:/tmp/"]);
    env.ok(&["cp", &h("a.txt"), "c1:/tmp/renamed.txt"]);
    env.ok(&["cp", &h("dir"), "c1:/tmp/d"]);
    env.ok(&["cp", &h("a.txt"), "c1:/vol/"]);
    let inside = env.ok(&[
        "exec",
        "c1",
        "cat",
        "/tmp/a.txt",
        "/tmp/renamed.txt",
        "/tmp/d/sub/b",
        "/vol/a.txt",
    ]);
    assert_eq!(inside, "alpha\nalpha\nbeta\nalpha\n");

    env.ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "mkdir -p /tmp/o/x && echo out > /tmp/o/x/f",
    ]);
    env.ok(&["cp", "c1:/tmp/o", &h("o-copy")]);
    assert_eq!(std::fs::read_to_string(h("o-copy/x/f")).unwrap(), "out\n");
    std::fs::create_dir(h("into")).unwrap();
    env.ok(&["cp", "c1:/tmp/o/x/f", &h("into")]);
    assert_eq!(std::fs::read_to_string(h("into/f")).unwrap(), "out\n");

    let (_, err) = env.exits(1, &["cp", "c1:/no/such", &h("x")]);
    assert!(err.contains("No such container:path: c1:/no/such"), "{err}");

    // update: the new limits reach the cgroup and inspect.
    let out = env.ok(&[
        "update",
        "-m",
        "80m",
        "--memory-swap",
        "160m",
        "--pids-limit",
        "33",
        "--restart",
        "on-failure:2",
        "c1",
    ]);
    assert_eq!(out, "c1\n");
    let cg = env.ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(cg, "83886080\n33\n");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "c1"])).unwrap();
    let hc = &v[0]["HostConfig"];
    assert_eq!(hc["Memory"], 83886080);
    assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(hc["RestartPolicy"]["MaximumRetryCount"], 2);
    let (_, err) = env.exits(1, &["update", "-m", "1m", "--memory-swap", "2m", "c1"]);
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    let (_, err) = env.exits(1, &["update", "c1"]);
    assert!(err.contains("one or more flags"), "{err}");

    // Stopped: copy in and out, and export.
    env.ok(&["stop", "-t", "0", "c1"]);
    env.ok(&["cp", &h("a.txt"), "c1:/stopped.txt"]);
    env.ok(&["cp", "c1:/stopped.txt", &h("back.txt")]);
    assert_eq!(std::fs::read_to_string(h("back.txt")).unwrap(), "alpha\n");
    env.ok(&["export", "-o", &h("c1.tar"), "c1"]);
    let mut ar = tar::Archive::new(std::fs::File::open(h("c1.tar")).unwrap());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["stopped.txt", "tmp/renamed.txt", "tmp/d/sub/b"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "vol/a.txt"), "volume exported");

    env.ok(&["rm", "c1"]);
    env.ok(&["volume", "rm", "clivol"]);
    env.assert_no_containers();
}
