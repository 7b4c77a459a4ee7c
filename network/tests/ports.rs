//! Published ports: DNAT from another namespace, from the host's own localhost and from a
//! container on the same bridge (hairpin); UDP and ranges; rules gone after detach.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{host_ns, nets, root, spec, Ns};
use dm_network::{ports, AttachOptions, Error};
use dm_testkit::TempDir;

/// Serves `n` TCP connections on `port` of every address in `ns`, each answered with `reply`.
fn tcp_server(ns: &Ns, port: u16, n: usize, reply: &'static str) -> JoinHandle<Vec<SocketAddr>> {
    let l = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap());
    std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let (mut s, peer) = l.accept().unwrap();
                s.write_all(reply.as_bytes()).unwrap();
                peer
            })
            .collect()
    })
}

fn get(ns: &Ns, addr: impl Into<SocketAddr>) -> std::io::Result<String> {
    let addr = addr.into();
    ns.run(|| {
        // Bounded so a dropped SYN fails the test instead of hanging it.
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        let mut b = String::new();
        s.read_to_string(&mut b)?;
        Ok(b)
    })
}

/// Links `client` to `host` by a veth pair with 192.168.250.1 (host) and .2 (client): traffic
/// from "outside", arriving on another interface of the host.
fn uplink(host: &Ns, client: &Ns, tag: &str) {
    let (h, c) = (format!("dmtx{tag}h"), format!("dmtx{tag}c"));
    host.cmd(&["ip", "link", "add", &h, "type", "veth", "peer", "name", &c]);
    let tid = client
        .path()
        .to_str()
        .unwrap()
        .split('/')
        .nth(4)
        .unwrap()
        .to_string();
    host.cmd(&["ip", "link", "set", &c, "netns", &tid]);
    host.cmd(&["ip", "addr", "add", "192.168.250.1/30", "dev", &h]);
    host.cmd(&["ip", "link", "set", &h, "up"]);
    client.cmd(&["ip", "addr", "add", "192.168.250.2/30", "dev", &c]);
    client.cmd(&["ip", "link", "set", &c, "up"]);
}

#[test]
fn published_tcp_port_answers_from_outside_localhost_and_hairpin() {
    if !root("published_tcp_port_answers_from_outside_localhost_and_hairpin")
        || !dm_testkit::require_cmd("iptables")
        || !dm_testkit::require_cmd("ip")
    {
        return;
    }
    let (host, client, c1, c2) = (host_ns(), Ns::new(), Ns::new(), Ns::new());
    uplink(&host, &client, "a");
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    let net = nets.create(&spec("n", "10.90.0.0/24", "dmtp-a")).unwrap();
    let none = AttachOptions::default();
    let e1 = nets.attach("c1", c1.path(), "n", &none).unwrap();
    nets.attach("c2", c2.path(), "n", &none).unwrap();
    let got = nets
        .publish("c1", "n", &ports::parse("18080:80").unwrap())
        .unwrap();
    assert_eq!((got[0].host_port, got[0].container_port), (18080, 80));

    let server = tcp_server(&c1, 80, 3, "web");
    assert_eq!(
        get(&client, (Ipv4Addr::new(192, 168, 250, 1), 18080)).unwrap(),
        "web"
    );
    assert_eq!(get(&host, (Ipv4Addr::LOCALHOST, 18080)).unwrap(), "web");
    assert_eq!(get(&c2, (net.gateway, 18080)).unwrap(), "web");
    let peers = server.join().unwrap();
    // Outside clients keep their address; localhost and hairpin ones are masqueraded to the
    // gateway so the answer comes back the way it went.
    assert_eq!(peers[0].ip(), Ipv4Addr::new(192, 168, 250, 2));
    assert_eq!(peers[1].ip(), net.gateway);
    assert_eq!(peers[2].ip(), net.gateway);

    match nets.publish("c2", "n", &ports::parse("18080:81").unwrap()) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "host port"),
        other => panic!("publishing a taken port: {other:?}"),
    }

    // One rule removed by hand: detach must still remove the others (one by one then).
    let to = format!("{}:80", e1.ip);
    host.cmd(&[
        "iptables",
        "-t",
        "nat",
        "-D",
        "DM-OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "18080",
        "-j",
        "DNAT",
        "--to-destination",
        &to,
    ]);
    nets.detach("c1", "n").unwrap();
    let filter = host.cmd(&["iptables", "-t", "filter", "-S"]);
    assert!(!filter.contains(&e1.ip.to_string()), "{filter}");
    let nat = host.cmd(&["iptables", "-t", "nat", "-S"]);
    assert!(!nat.contains("--to-destination"), "{nat}");
    let err = get(&client, (Ipv4Addr::new(192, 168, 250, 1), 18080)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    nets.release("c2").unwrap();
    nets.remove("n").unwrap();
}

#[test]
fn udp_on_localhost_with_a_picked_port_and_tcp_ranges() {
    if !root("udp_on_localhost_with_a_picked_port_and_tcp_ranges")
        || !dm_testkit::require_cmd("iptables")
    {
        return;
    }
    let (host, c1) = (host_ns(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("n", "10.91.0.0/24", "dmtp-b")).unwrap();
    nets.attach("c1", c1.path(), "n", &AttachOptions::default())
        .unwrap();
    let udp = nets
        .publish("c1", "n", &ports::parse("127.0.0.1::53/udp").unwrap())
        .unwrap();
    assert_ne!(udp[0].host_port, 0, "a free host port is picked");
    let range = nets
        .publish("c1", "n", &ports::parse("18090-18091:90-91").unwrap())
        .unwrap();
    assert_eq!(range.len(), 2);

    let sock = c1.run(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 53)).unwrap());
    let echo = std::thread::spawn(move || {
        let mut b = [0u8; 64];
        let (n, from) = sock.recv_from(&mut b).unwrap();
        sock.send_to(&b[..n], from).unwrap();
    });
    let port = udp[0].host_port;
    let answer = host.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        s.connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        s.send(b"ping").unwrap();
        let mut b = [0u8; 64];
        let n = s.recv(&mut b).unwrap();
        b[..n].to_vec()
    });
    assert_eq!(answer, b"ping");
    echo.join().unwrap();

    let s90 = tcp_server(&c1, 90, 1, "ninety");
    let s91 = tcp_server(&c1, 91, 1, "ninety-one");
    assert_eq!(get(&host, (Ipv4Addr::LOCALHOST, 18090)).unwrap(), "ninety");
    assert_eq!(
        get(&host, (Ipv4Addr::LOCALHOST, 18091)).unwrap(),
        "ninety-one"
    );
    s90.join().unwrap();
    s91.join().unwrap();

    // A host range for one container port (`-p 18090-18095:92`): the first port neither
    // published (18090-1 above) nor listened on by something else on the host (18092).
    let squatter = host.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 18092)).unwrap());
    let picked = nets
        .publish("c1", "n", &ports::parse("18090-18095:92").unwrap())
        .unwrap();
    assert_eq!((picked.len(), picked[0].host_port), (1, 18093));
    assert_eq!(picked[0].host_port_end, 0, "published with the port it got");
    let s92 = tcp_server(&c1, 92, 1, "ninety-two");
    assert_eq!(
        get(&host, (Ipv4Addr::LOCALHOST, 18093)).unwrap(),
        "ninety-two"
    );
    s92.join().unwrap();
    match nets.publish("c1", "n", &ports::parse("18090-18092:93").unwrap()) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "host port");
            assert!(reason.contains("18090-18092"), "{reason}");
        }
        other => panic!("a full range must be refused: {other:?}"),
    }
    drop(squatter);

    nets.release("c1").unwrap();
    nets.remove("n").unwrap();
}
