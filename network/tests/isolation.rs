//! User-defined networks: several per container, connect/disconnect while running, isolation
//! between networks and internal networks, seen from the namespaces the test made.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{default_route_via, fetch, nets, root, serve_once, spec, Ns};
use dm_network::AttachOptions;
use dm_testkit::TempDir;

/// Packets the second isolation stage dropped in `host`.
fn isolation_drops(host: &Ns) -> u64 {
    let out = host.cmd(&[
        "iptables",
        "-t",
        "filter",
        "-L",
        "DM-ISOLATION-2",
        "-v",
        "-x",
        "-n",
    ]);
    out.lines()
        .skip(2)
        .filter(|l| l.contains("DROP"))
        .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A TCP connect that the firewall drops gets no answer at all, so the attempt needs a bound;
/// the drop counter then tells a firewall drop from a slow machine.
fn connect_dropped(ns: &Ns, addr: SocketAddr) -> bool {
    ns.run(|| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err())
}

#[test]
fn networks_are_isolated_and_a_container_on_both_reaches_each() {
    if !root("networks_are_isolated_and_a_container_on_both_reaches_each")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    let (host, c1, c2, c3) = (Ns::new(), Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("a", "10.83.0.0/24", "dmti-a")).unwrap();
    nets.create(&spec("b", "10.84.0.0/24", "dmti-b")).unwrap();
    let none = AttachOptions::default();
    nets.attach("c1", c1.path(), "a", &none).unwrap();
    let e2 = nets.attach("c2", c2.path(), "b", &none).unwrap();
    let e3a = nets.attach("c3", c3.path(), "a", &none).unwrap();
    let e3b = nets.attach("c3", c3.path(), "b", &none).unwrap();
    assert_eq!((e3a.ifname.as_str(), e3b.ifname.as_str()), ("eth0", "eth1"));
    assert!(e3a.default_route && !e3b.default_route);
    assert_eq!(default_route_via(&c3), Some(("eth0".into(), e3a.gateway)));

    let (addr, t) = serve_once(&c3, e3a.ip, b"c3 on a");
    assert_eq!(fetch(&c1, addr).unwrap(), b"c3 on a");
    t.join().unwrap();
    let (addr, t) = serve_once(&c3, e3b.ip, b"c3 on b");
    assert_eq!(fetch(&c2, addr).unwrap(), b"c3 on b");
    t.join().unwrap();

    // c1 routes to b's subnet through the host; the isolation rules must stop it there.
    let l = c2.run(|| TcpListener::bind((e2.ip, 0)).unwrap());
    let target = l.local_addr().unwrap();
    let drops = isolation_drops(&host);
    assert!(connect_dropped(&c1, target), "c1 on a reached c2 on b");
    assert!(
        isolation_drops(&host) > drops,
        "the drop was not our isolation rule"
    );

    for (c, n) in [("c1", "a"), ("c2", "b"), ("c3", "a"), ("c3", "b")] {
        nets.detach(c, n).unwrap();
    }
    nets.remove("a").unwrap();
    nets.remove("b").unwrap();
}

#[test]
fn connect_and_disconnect_while_running_keep_existing_connections() {
    if !root("connect_and_disconnect_while_running_keep_existing_connections") {
        return;
    }
    let (host, c1, c2) = (Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("a", "10.86.0.0/24", "dmtc-a")).unwrap();
    nets.create(&spec("b", "10.87.0.0/24", "dmtc-b")).unwrap();
    let none = AttachOptions::default();
    let e1 = nets.attach("c1", c1.path(), "a", &none).unwrap();
    nets.attach("c2", c2.path(), "a", &none).unwrap();
    let e2b = nets.attach("c2", c2.path(), "b", &none).unwrap();

    // A connection from c2 to c1 over network a, open across c1's connect and disconnect.
    let l = c1.run(|| TcpListener::bind((e1.ip, 0)).unwrap());
    let addr = l.local_addr().unwrap();
    let mut client = c2.run(|| TcpStream::connect(addr).unwrap());
    let (mut server, _) = l.accept().unwrap();
    // Bounded so a connection cut by a regression fails the test instead of hanging it.
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let e1b = nets.attach("c1", c1.path(), "b", &none).unwrap();
    assert_eq!(e1b.ifname, "eth1");
    let (a, t) = serve_once(&c2, e2b.ip, b"over b");
    assert_eq!(fetch(&c1, a).unwrap(), b"over b");
    t.join().unwrap();

    nets.detach("c1", "b").unwrap();
    assert!(!c1.links().contains(&"eth1".to_string()));
    assert!(c1.links().contains(&"eth0".to_string()));
    assert_eq!(default_route_via(&c1), Some(("eth0".into(), e1.gateway)));

    client.write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");

    // c2 loses the network carrying its default route: the other one takes it over.
    nets.detach("c2", "a").unwrap();
    assert_eq!(default_route_via(&c2), Some(("eth1".into(), e2b.gateway)));
    let rec = nets
        .endpoints()
        .unwrap()
        .into_iter()
        .find(|e| e.container == "c2")
        .unwrap();
    assert!(rec.endpoint.default_route);

    nets.release("c1").unwrap();
    nets.release("c2").unwrap();
    nets.remove("a").unwrap();
    nets.remove("b").unwrap();
}

#[test]
fn internal_network_has_no_way_out_but_members_talk() {
    if !root("internal_network_has_no_way_out_but_members_talk") {
        return;
    }
    let (host, c1, c2) = (Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let mut s = spec("i", "10.88.0.0/24", "dmtn-i");
    s.internal = true;
    let net = nets.create(&s).unwrap();
    let none = AttachOptions::default();
    let e1 = nets.attach("c1", c1.path(), "i", &none).unwrap();
    nets.attach("c2", c2.path(), "i", &none).unwrap();
    assert!(!e1.default_route);
    assert_eq!(default_route_via(&c1), None);
    let (a, t) = serve_once(&c1, e1.ip, b"inside");
    assert_eq!(fetch(&c2, a).unwrap(), b"inside");
    t.join().unwrap();
    // Off-subnet addresses have no route at all: refused at once, no timeout involved.
    let err = c2
        .run(|| TcpStream::connect((Ipv4Addr::new(10, 99, 0, 1), 80)))
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
    let _ = net;
    nets.release("c1").unwrap();
    nets.release("c2").unwrap();
    nets.remove("i").unwrap();
}
