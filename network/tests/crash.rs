//! A daemon killed in the middle of creating a network, attaching or publishing leaves
//! objects behind; `recover` at the next start removes every one of them.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};

use common::{host_ns, nets, root, spec, Ns};
use dm_network::{ports, AttachOptions, Config, Networks};
use dm_testkit::TempDir;

/// The body of the child process `crash_in_child` starts; a no-op in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(op) = std::env::var("DM_NET_TEST_CHILD") else {
        return;
    };
    let env = |k: &str| std::env::var(k).unwrap();
    let nets = Networks::open(Config {
        state_dir: env("DM_NET_STATE").into(),
        host_netns: Some(env("DM_NET_HOST").into()),
        ..Default::default()
    })
    .unwrap();
    let ct = env("DM_NET_CT");
    match op.as_str() {
        "create" => drop(nets.create(&spec("n1", "10.94.0.0/24", "dmtk-a")).unwrap()),
        "attach" => drop(
            nets.attach("c1", Path::new(&ct), "n1", &AttachOptions::default())
                .unwrap(),
        ),
        "publish" => drop(
            nets.publish("c1", "n1", &ports::parse("18100:80").unwrap())
                .unwrap(),
        ),
        _ => unreachable!(),
    }
    panic!("{op} did not crash");
}

/// Runs `op` in a child process told to abort at `point`.
fn crash_in_child(op: &str, point: &str, state: &TempDir, host: &Ns, ct: &Ns) -> ExitStatus {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DM_NET_TEST_CHILD", op)
        .env("DM_NETWORK_CRASH_AT", point)
        .env("DM_NET_STATE", state.path())
        .env("DM_NET_HOST", host.path())
        .env("DM_NET_CT", ct.path())
        .output()
        .unwrap()
        .status
}

fn rules(host: &Ns) -> String {
    host.cmd(&["iptables", "-t", "filter", "-S"]) + &host.cmd(&["iptables", "-t", "nat", "-S"])
}

#[test]
fn killed_mid_create_leaves_nothing_after_recover() {
    if !root("killed_mid_create_leaves_nothing_after_recover")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    let (host, ct) = (host_ns(), Ns::new());
    let state = TempDir::new("dmnet");
    let (links, fw) = (host.links(), rules(&host));
    let st = crash_in_child("create", "create:made", &state, &host, &ct);
    assert!(!st.success(), "the child crashed");
    assert!(
        host.links().contains(&"dmtk-a".to_string()),
        "the crash left the bridge"
    );
    assert!(rules(&host).contains("DM-"), "and rules");

    let nets = nets(&host, &state);
    let got = nets.recover(|_| true).unwrap();
    assert_eq!(got.networks, vec!["n1".to_string()]);
    assert_eq!(host.links(), links);
    assert_eq!(rules(&host), fw);
    assert!(nets.list().unwrap().is_empty());
}

#[test]
fn killed_mid_attach_leaves_nothing_after_recover() {
    if !root("killed_mid_attach_leaves_nothing_after_recover") {
        return;
    }
    let (host, ct) = (host_ns(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("n1", "10.94.0.0/24", "dmtk-a")).unwrap();
    let links = host.links();
    let st = crash_in_child("attach", "attach:plugged", &state, &host, &ct);
    assert!(!st.success(), "the child crashed");
    assert_eq!(host.links().len(), links.len() + 1, "the crash left a veth");
    assert_eq!(ct.links().len(), 2, "and its peer in the container");

    let got = nets.recover(|_| true).unwrap();
    assert_eq!(got.endpoints, vec![("c1".to_string(), "n1".to_string())]);
    assert_eq!(host.links(), links);
    assert_eq!(ct.links(), vec!["lo".to_string()]);
    let e = nets
        .attach("c1", ct.path(), "n1", &AttachOptions::default())
        .unwrap();
    assert_eq!(
        e.ip.octets()[3],
        2,
        "the address of the half-made endpoint is free again"
    );
    nets.release("c1").unwrap();
    nets.remove("n1").unwrap();
}

#[test]
fn killed_mid_publish_then_container_gone_leaves_no_rule() {
    if !root("killed_mid_publish_then_container_gone_leaves_no_rule")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    let (host, ct) = (host_ns(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("n1", "10.94.0.0/24", "dmtk-a")).unwrap();
    let fw = rules(&host);
    nets.attach("c1", ct.path(), "n1", &AttachOptions::default())
        .unwrap();
    let st = crash_in_child("publish", "publish:added", &state, &host, &ct);
    assert!(!st.success(), "the child crashed");
    assert!(
        rules(&host).contains("--dport 18100"),
        "the crash left the DNAT"
    );

    let got = nets.recover(|c| c != "c1").unwrap();
    assert_eq!(got.endpoints, vec![("c1".to_string(), "n1".to_string())]);
    assert_eq!(rules(&host), fw);
    nets.remove("n1").unwrap();
}

#[test]
fn restart_after_a_firewall_flush_restores_published_ports() {
    if !root("restart_after_a_firewall_flush_restores_published_ports")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    let (host, ct) = (host_ns(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("n1", "10.94.0.0/24", "dmtk-a")).unwrap();
    let e = nets
        .attach("c1", ct.path(), "n1", &AttachOptions::default())
        .unwrap();
    nets.publish("c1", "n1", &ports::parse("18110:80").unwrap())
        .unwrap();
    let l = ct.run(|| std::net::TcpListener::bind((e.ip, 80)).unwrap());
    let server = std::thread::spawn(move || {
        let _ = l.accept().unwrap();
    });
    // A firewall reload while the daemon was down: every chain of ours emptied.
    for (t, c) in [
        ("nat", "DM-PREROUTING"),
        ("nat", "DM-OUTPUT"),
        ("nat", "DM-POSTROUTING"),
        ("filter", "DM-FORWARD"),
        ("filter", "DM-ISOLATION-1"),
        ("filter", "DM-ISOLATION-2"),
    ] {
        host.cmd(&["iptables", "-t", t, "-F", c]);
    }
    let connect =
        || host.run(|| std::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, 18110)));
    assert!(connect().is_err(), "the flush removed the DNAT");

    let nets = self::nets(&host, &state);
    assert_eq!(nets.recover(|_| true).unwrap(), Default::default());
    connect().expect("the published port answers again after recover");
    server.join().unwrap();
    nets.release("c1").unwrap();
    nets.remove("n1").unwrap();
}
