//! `dm-bench --family network --smoke` end to end: dockermindd and dockerd get every figure,
//! the hand-made veth pair its throughput, and the run's cleanup check finds nothing left.

mod common;
use common::{clean_report, measured};

#[test]
fn network_smoke_reports_every_row() {
    if !dm_testkit::require_root("network smoke run")
        || !dm_testkit::require_cmd("docker-registry")
        || !dm_testkit::require_cmd("dockerd")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    // The family runs the workspace's daemon and shim; fail with the build hint if missing.
    dm_testkit::workspace_bin("dockermindd");
    dm_testkit::workspace_bin("containerd-shim-dockermind-v2");
    let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let report = clean_report(&["--smoke", "--json", "--only", "runc", "--family", "network"]);
    for scenario in ["start-bridge", "published-port-first-connection"] {
        for name in ["dockerd 20.10", "dockermindd"] {
            measured(&report, scenario, name);
        }
    }
    for name in ["veth pair by hand", "dockerd 20.10", "dockermindd"] {
        measured(&report, "tcp-throughput", name);
    }
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(after, forward, "the host's ip_forward changed");
}
