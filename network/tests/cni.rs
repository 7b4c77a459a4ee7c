//! CNI mode with Debian's containernetworking-plugins (bridge, host-local, portmap), run in a
//! namespace playing the host.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::{fetch, host_ns, nets, root, serve_once, Ns};
use dm_network::{ports, Error};
use dm_testkit::TempDir;
use serde_json::json;

fn plugins_installed() -> bool {
    if Path::new("/usr/lib/cni/bridge").exists() {
        return true;
    }
    assert!(
        !dm_testkit::in_ci(),
        "CI=true but containernetworking-plugins is not installed"
    );
    eprintln!("\n!!! SKIPPED: containernetworking-plugins not installed (outside CI only) !!!\n");
    false
}

fn conflist(data: &TempDir) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "cninet",
        "plugins": [
            {"type": "bridge", "bridge": "dmtcni0", "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "subnet": "10.97.0.0/24",
                      "dataDir": data.path().display().to_string()}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    })
}

fn ip_of(result: &serde_json::Value) -> Ipv4Addr {
    let a = result["ips"][0]["address"].as_str().unwrap();
    a.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn cni_plugins_attach_publish_and_detach() {
    if !root("cni_plugins_attach_publish_and_detach") || !plugins_installed() {
        return;
    }
    let (host, c1, c2) = (host_ns(), Ns::new(), Ns::new());
    let (state, data) = (TempDir::new("dmnet"), TempDir::new("dmnet-ipam"));
    let nets = nets(&host, &state);
    let list = conflist(&data);
    let p = ports::parse("18400:80").unwrap();
    let r1 = nets.cni_attach("c1", c1.path(), &list, "eth0", &p).unwrap();
    let r2 = nets
        .cni_attach("c2", c2.path(), &list, "eth0", &[])
        .unwrap();
    let (ip1, ip2) = (ip_of(&r1), ip_of(&r2));
    assert_ne!(ip1, ip2);
    assert!(c1.links().contains(&"eth0".to_string()));
    assert!(matches!(
        nets.cni_attach("c1", c1.path(), &list, "eth0", &[]),
        Err(Error::AlreadyAttached { .. })
    ));

    let (addr, t) = serve_once(&c1, ip1, b"cni");
    assert_eq!(fetch(&c2, addr).unwrap(), b"cni");
    t.join().unwrap();
    let nat = host.cmd(&["iptables", "-t", "nat", "-S"]);
    assert!(nat.contains("--dport 18400"), "portmap got the port: {nat}");

    nets.cni_detach("c1", "cninet").unwrap();
    assert!(!c1.links().contains(&"eth0".to_string()));
    let nat = host.cmd(&["iptables", "-t", "nat", "-S"]);
    assert!(
        !nat.contains("--dport 18400"),
        "portmap's DEL removed the port: {nat}"
    );
    let leased = |ip: Ipv4Addr| data.path().join("cninet").join(ip.to_string()).exists();
    assert!(
        !leased(ip1) && leased(ip2),
        "host-local released only c1's address"
    );

    // A crash between ADD and recording its result: recover runs DEL.
    let rec = state.path().join("cni/c2@cninet.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    v["result"] = serde_json::Value::Null;
    std::fs::write(&rec, v.to_string()).unwrap();
    let got = nets.recover(|_| true).unwrap();
    assert_eq!(
        got.endpoints,
        vec![("c2".to_string(), "cninet".to_string())]
    );
    assert!(!c2.links().contains(&"eth0".to_string()));
    assert!(!leased(ip2));
}

#[test]
fn bad_conflist_and_failing_plugin_leave_nothing() {
    if !root("bad_conflist_and_failing_plugin_leave_nothing") || !plugins_installed() {
        return;
    }
    let (host, c1) = (host_ns(), Ns::new());
    let (state, data) = (TempDir::new("dmnet"), TempDir::new("dmnet-ipam"));
    let nets = nets(&host, &state);
    let field = |r: dm_network::Result<serde_json::Value>| match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let no_name = json!({"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]});
    assert_eq!(
        field(nets.cni_attach("c1", c1.path(), &no_name, "eth0", &[])),
        "cni conflist"
    );
    let mut list = conflist(&data);
    list["plugins"][1]["type"] = json!("../bin/sh");
    assert_eq!(
        field(nets.cni_attach("c1", c1.path(), &list, "eth0", &[])),
        "cni plugin type"
    );
    // host-local refuses a subnet with no room: the bridge plugin's ADD fails.
    let mut list = conflist(&data);
    list["plugins"][0]["ipam"]["subnet"] = json!("10.97.0.0/32");
    assert!(matches!(
        nets.cni_attach("c1", c1.path(), &list, "eth0", &[]),
        Err(Error::Cni { .. })
    ));
    assert_eq!(c1.links(), vec!["lo".to_string()]);
    assert!(std::fs::read_dir(state.path().join("cni"))
        .unwrap()
        .next()
        .is_none());
}
