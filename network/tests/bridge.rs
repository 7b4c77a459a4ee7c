//! The bridge driver, observed from the namespaces the test made: interfaces, addresses,
//! routes, reachability, and nothing left after detach/remove.

mod common;

use std::net::Ipv4Addr;

use common::{default_route_via, fetch, nets, root, serve_once, spec, Ns};
use dm_network::{AttachOptions, Error};
use dm_testkit::TempDir;

#[test]
fn attached_containers_get_eth0_and_reach_each_other_and_the_gateway() {
    if !root("attached_containers_get_eth0_and_reach_each_other_and_the_gateway") {
        return;
    }
    let (host, c1, c2) = (Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let net = nets.create(&spec("n1", "10.77.0.0/24", "dmtb-a")).unwrap();
    assert_eq!(net.gateway, Ipv4Addr::new(10, 77, 0, 1));
    assert!(host.links().contains(&"dmtb-a".to_string()));

    let e1 = nets
        .attach("c1", c1.path(), "n1", &AttachOptions::default())
        .unwrap();
    let e2 = nets
        .attach("c2", c2.path(), "n1", &AttachOptions::default())
        .unwrap();
    assert_eq!(
        (e1.ifname.as_str(), e1.ip),
        ("eth0", Ipv4Addr::new(10, 77, 0, 2))
    );
    assert_eq!(
        e2.ip,
        Ipv4Addr::new(10, 77, 0, 3),
        "a live address is never handed out twice"
    );
    assert_eq!(e1.mac, "02:42:0a:4d:00:02");
    assert!(c1.links().contains(&"eth0".to_string()));
    assert_eq!(default_route_via(&c1), Some(("eth0".into(), net.gateway)));
    if dm_testkit::require_cmd("ip") {
        let link = c1.cmd(&["ip", "-o", "link", "show", "dev", "eth0"]);
        assert!(link.contains("02:42:0a:4d:00:02"), "{link}");
    }

    let (addr, t) = serve_once(&c2, e2.ip, b"from c2");
    assert_eq!(fetch(&c1, addr).unwrap(), b"from c2");
    t.join().unwrap();
    let (addr, t) = serve_once(&host, net.gateway, b"from host");
    assert_eq!(fetch(&c1, addr).unwrap(), b"from host");
    t.join().unwrap();
    let (addr, t) = serve_once(&c1, Ipv4Addr::LOCALHOST, b"lo");
    assert_eq!(
        fetch(&c1, addr).unwrap(),
        b"lo",
        "loopback is up in the container"
    );
    t.join().unwrap();

    nets.release("c1").unwrap();
    nets.release("c2").unwrap();
    nets.remove("n1").unwrap();
}

#[test]
fn detach_and_remove_leave_nothing() {
    if !root("detach_and_remove_leave_nothing") {
        return;
    }
    let (host, c1) = (Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("n1", "10.78.0.0/24", "dmtb-b")).unwrap();
    let links_before = host.links();
    nets.attach("c1", c1.path(), "n1", &AttachOptions::default())
        .unwrap();
    assert_eq!(
        host.links().len(),
        links_before.len() + 1,
        "one host veth end"
    );
    match nets.remove("n1") {
        Err(Error::NetworkInUse(n, users)) => {
            assert_eq!((n.as_str(), users), ("n1", vec!["c1".to_string()]))
        }
        other => panic!("removing a network in use: {other:?}"),
    }
    nets.detach("c1", "n1").unwrap();
    assert_eq!(host.links(), links_before);
    assert!(!c1.links().contains(&"eth0".to_string()));
    assert!(nets.endpoints().unwrap().is_empty());
    assert!(matches!(
        nets.detach("c1", "n1"),
        Err(Error::NotAttached { .. })
    ));

    nets.remove("n1").unwrap();
    assert!(!host.links().contains(&"dmtb-b".to_string()));
    assert!(nets.list().unwrap().is_empty());
    if dm_testkit::require_cmd("iptables") {
        for t in ["filter", "nat"] {
            let rules = host.cmd(&["iptables", "-t", t, "-S"]);
            assert!(!rules.contains("DM-"), "{t}: {rules}");
        }
    }
}

fn field<T: std::fmt::Debug>(r: dm_network::Result<T>) -> &'static str {
    match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn bad_input_names_the_field_and_makes_nothing() {
    if !root("bad_input_names_the_field_and_makes_nothing") {
        return;
    }
    let (host, c1) = (Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let links = host.links();
    assert_eq!(
        field(nets.create(&spec("n1", "10.79.0.0/24", "dmtb-0123456789x"))),
        "bridge"
    );
    let mut s = spec("n1", "10.79.0.0/24", "dmtb-c");
    s.gateway = Some(Ipv4Addr::new(10, 80, 0, 1));
    assert_eq!(field(nets.create(&s)), "gateway");
    assert_eq!(
        field(nets.create(&spec("bad name", "10.79.0.0/24", "dmtb-c"))),
        "network name"
    );
    assert_eq!(
        field(nets.create(&spec("n1", "10.79.0.0/31", "dmtb-c"))),
        "subnet"
    );
    if dm_testkit::require_cmd("ip") {
        // An address the host already has in the subnet (its LAN, say).
        host.cmd(&["ip", "addr", "add", "10.79.5.1/24", "dev", "lo"]);
        assert_eq!(
            field(nets.create(&spec("n1", "10.79.0.0/16", "dmtb-c"))),
            "subnet"
        );
    }
    assert!(nets.list().unwrap().is_empty());
    assert_eq!(host.links(), links);

    nets.create(&spec("n1", "10.79.0.0/24", "dmtb-c")).unwrap();
    assert_eq!(
        field(nets.create(&spec("n2", "10.79.0.128/25", "dmtb-d"))),
        "subnet"
    );
    assert!(matches!(
        nets.create(&spec("n1", "10.81.0.0/24", "dmtb-d")),
        Err(Error::NetworkExists(_))
    ));
    assert!(matches!(
        nets.attach("c1", c1.path(), "nope", &AttachOptions::default()),
        Err(Error::NoSuchNetwork(_))
    ));
    assert_eq!(
        field(nets.attach("c/1", c1.path(), "n1", &AttachOptions::default())),
        "container id"
    );
    let outside = AttachOptions {
        ip: Some(Ipv4Addr::new(10, 1, 1, 1)),
        ..Default::default()
    };
    assert_eq!(field(nets.attach("c1", c1.path(), "n1", &outside)), "ip");
    assert!(nets.endpoints().unwrap().is_empty());
    assert_eq!(c1.links(), vec!["lo".to_string()]);
    nets.remove("n1").unwrap();
}

#[test]
fn none_mode_has_loopback_up() {
    if !root("none_mode_has_loopback_up") {
        return;
    }
    let c = Ns::new();
    let (addr, t) = serve_once(&c, Ipv4Addr::LOCALHOST, b"lo");
    assert!(
        fetch(&c, addr).is_err(),
        "lo starts down in a new namespace"
    );
    dm_network::setup_none(c.path()).unwrap();
    assert_eq!(fetch(&c, addr).unwrap(), b"lo");
    t.join().unwrap();
}

#[test]
fn recover_removes_half_made_and_unwanted_endpoints_and_keeps_the_rest() {
    if !root("recover_removes_half_made_and_unwanted_endpoints_and_keeps_the_rest") {
        return;
    }
    let (host, c1, c2, c3) = (Ns::new(), Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let net = nets.create(&spec("n1", "10.82.0.0/24", "dmtb-e")).unwrap();
    let links = host.links();
    nets.attach("c1", c1.path(), "n1", &AttachOptions::default())
        .unwrap();
    nets.attach("c2", c2.path(), "n1", &AttachOptions::default())
        .unwrap();
    nets.attach("c3", c3.path(), "n1", &AttachOptions::default())
        .unwrap();
    // A crash between making c2's interface and recording it complete.
    let rec = state.path().join("endpoints/c2@n1.json");
    let body = std::fs::read_to_string(&rec)
        .unwrap()
        .replace("\"complete\": true", "\"complete\": false");
    std::fs::write(&rec, body).unwrap();

    // A daemon restarting with only c1 and c2 still running.
    let nets = self::nets(&host, &state);
    let got = nets.recover(|c| c != "c3").unwrap();
    let mut removed = got.endpoints.clone();
    removed.sort();
    assert_eq!(
        removed,
        vec![
            ("c2".to_string(), "n1".to_string()),
            ("c3".to_string(), "n1".to_string())
        ]
    );
    assert!(!c2.links().contains(&"eth0".to_string()));
    assert!(!c3.links().contains(&"eth0".to_string()));
    assert_eq!(
        host.links().len(),
        links.len() + 1,
        "only c1's veth is left"
    );
    let (addr, t) = serve_once(&host, net.gateway, b"still");
    assert_eq!(
        fetch(&c1, addr).unwrap(),
        b"still",
        "a kept container stays connected"
    );
    t.join().unwrap();
    nets.release("c1").unwrap();
    nets.remove("n1").unwrap();
}

#[test]
fn default_network_is_bridge_dm0() {
    if !root("default_network_is_bridge_dm0") {
        return;
    }
    let (host, c1) = (Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let net = nets
        .create(&dm_network::NetworkSpec::default_bridge())
        .unwrap();
    assert_eq!(
        (net.name.as_str(), net.bridge.as_str()),
        (dm_network::DEFAULT_NETWORK, "dm0")
    );
    assert!(host.links().contains(&"dm0".to_string()));
    let e = nets
        .attach("c1", c1.path(), "bridge", &AttachOptions::default())
        .unwrap();
    assert_eq!(e.ip, Ipv4Addr::new(172, 30, 0, 2));
    assert_eq!(
        default_route_via(&c1),
        Some(("eth0".into(), Ipv4Addr::new(172, 30, 0, 1)))
    );
    nets.release("c1").unwrap();
    nets.remove("bridge").unwrap();
}

/// /proc/sys/net follows the reading thread's network namespace.
fn ip_forward(ns: &Ns) -> String {
    ns.run(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap())
        .trim()
        .to_string()
}

fn set_ip_forward(ns: &Ns, v: &str) {
    ns.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", v).unwrap());
}

#[test]
fn ip_forward_changes_only_in_the_host_namespace_and_is_restored() {
    if !root("ip_forward_changes_only_in_the_host_namespace_and_is_restored") {
        return;
    }
    // `caller` stands for the daemon's own namespace, `host` for the one it manages.
    let (caller, host, c1) = (Ns::new(), Ns::new(), Ns::new());
    set_ip_forward(&caller, "0");
    set_ip_forward(&host, "0");
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    caller.run(|| nets.create(&spec("n1", "10.89.0.0/24", "dmtb-f")).unwrap());
    assert_eq!(
        ip_forward(&host),
        "1",
        "forwarding on while a network exists"
    );
    assert_eq!(
        ip_forward(&caller),
        "0",
        "the caller's namespace is untouched"
    );
    nets.attach("c1", c1.path(), "n1", &AttachOptions::default())
        .unwrap();
    nets.release("c1").unwrap();
    caller.run(|| nets.remove("n1").unwrap());
    assert_eq!(ip_forward(&host), "0", "restored with the last network");
    assert_eq!(ip_forward(&caller), "0");
}
