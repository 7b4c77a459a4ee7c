//! The embedded resolver: names and aliases of containers on a shared network resolve inside
//! the container at 127.0.0.11, other names go to the upstream server.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{fetch, host_ns, nets, root, serve_once, spec, Ns};
use dm_network::{dnsmsg, AttachOptions, RESOLVER_ADDR};
use dm_testkit::TempDir;

/// Asks the resolver inside `ns`; returns the response code and A records.
fn ask(ns: &Ns, name: &str, qtype: u16) -> (u8, Vec<Ipv4Addr>) {
    let name = name.to_string();
    ns.run(move || {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        // Bounded so a lost answer fails the test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.send_to(&dnsmsg::query(7, &name, qtype), (RESOLVER_ADDR, 53))
            .unwrap();
        let mut b = [0u8; 1500];
        let n = s.recv(&mut b).expect("resolver answers");
        dnsmsg::parse_answer(&b[..n]).expect("a well-formed response")
    })
}

/// Asks the resolver inside `ns` over TCP (a length-prefixed message, RFC 7766).
fn ask_tcp(ns: &Ns, name: &str, qtype: u16) -> (u8, Vec<Ipv4Addr>) {
    let name = name.to_string();
    ns.run(move || {
        let mut s = TcpStream::connect((RESOLVER_ADDR, 53)).expect("resolver listens on TCP");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let q = dnsmsg::query(9, &name, qtype);
        s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        s.write_all(&q).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).expect("resolver answers over TCP");
        let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut b).unwrap();
        dnsmsg::parse_answer(&b).expect("a well-formed response")
    })
}

/// A TCP upstream on `addr` in `host` answering one question with NXDOMAIN; returns its name.
fn upstream_tcp(host: &Ns, addr: SocketAddr) -> std::thread::JoinHandle<String> {
    let l = host.run(move || TcpListener::bind(addr).unwrap());
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut len = [0u8; 2];
        c.read_exact(&mut len).unwrap();
        let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
        c.read_exact(&mut b).unwrap();
        let q = dnsmsg::parse_query(&b).unwrap();
        let r = dnsmsg::error(&b, Some(&q), 3);
        c.write_all(&(r.len() as u16).to_be_bytes()).unwrap();
        c.write_all(&r).unwrap();
        q.name
    })
}

/// An upstream server on the host's loopback answering `n` questions with NXDOMAIN; returns
/// the names it was asked.
fn upstream(host: &Ns, n: usize) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    let s = host.run(|| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
    let addr = s.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let mut b = [0u8; 1500];
                let (len, from) = s.recv_from(&mut b).unwrap();
                let q = dnsmsg::parse_query(&b[..len]).unwrap();
                s.send_to(&dnsmsg::error(&b[..len], Some(&q), 3), from)
                    .unwrap();
                q.name
            })
            .collect()
    });
    (addr, t)
}

#[test]
fn containers_resolve_names_and_aliases_on_shared_networks_only() {
    if !root("containers_resolve_names_and_aliases_on_shared_networks_only") {
        return;
    }
    let (host, c1, c2, c3) = (host_ns(), Ns::new(), Ns::new(), Ns::new());
    let state = TempDir::new("dmnet");
    let nets = nets(&host, &state);
    nets.create(&spec("a", "10.92.0.0/24", "dmtd-a")).unwrap();
    nets.create(&spec("b", "10.93.0.0/24", "dmtd-b")).unwrap();
    let named = |n: &str, aliases: &[&str]| AttachOptions {
        name: Some(n.into()),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let e1 = nets
        .attach("c1", c1.path(), "a", &named("web", &["www"]))
        .unwrap();
    nets.attach("c2", c2.path(), "a", &named("client", &[]))
        .unwrap();
    nets.attach("c3", c3.path(), "b", &named("db", &[]))
        .unwrap();
    let (up, asked) = upstream(&host, 2);
    let resolver = nets.start_resolver("c2", c2.path(), &[up]).unwrap();

    assert_eq!(ask(&c2, "web", dnsmsg::TYPE_A), (0, vec![e1.ip]));
    assert_eq!(ask(&c2, "WWW.", dnsmsg::TYPE_A), (0, vec![e1.ip]));
    assert_eq!(
        ask(&c2, "c1", dnsmsg::TYPE_A),
        (0, vec![e1.ip]),
        "by container id"
    );
    assert_eq!(ask(&c2, "web", dnsmsg::TYPE_AAAA), (0, vec![]));
    // Over TCP too: a name it knows, and a question forwarded to upstream over TCP.
    assert_eq!(ask_tcp(&c2, "web", dnsmsg::TYPE_A), (0, vec![e1.ip]));
    let asked_tcp = upstream_tcp(&host, up);
    assert_eq!(
        ask_tcp(&c2, "elsewhere.example", dnsmsg::TYPE_A),
        (3, vec![])
    );
    assert_eq!(asked_tcp.join().unwrap(), "elsewhere.example");
    // db is on another network: not ours to answer, so upstream says no such name.
    assert_eq!(ask(&c2, "db", dnsmsg::TYPE_A), (3, vec![]));

    // Reach it by name.
    let (_, ips) = ask(&c2, "web", dnsmsg::TYPE_A);
    let (addr, t) = serve_once(&c1, e1.ip, b"by name");
    assert_eq!(
        fetch(&c2, SocketAddr::from((ips[0], addr.port()))).unwrap(),
        b"by name"
    );
    t.join().unwrap();

    nets.detach("c1", "a").unwrap();
    assert_eq!(
        ask(&c2, "web", dnsmsg::TYPE_A),
        (3, vec![]),
        "gone with its endpoint"
    );
    assert_eq!(
        asked.join().unwrap(),
        vec!["db".to_string(), "web".to_string()]
    );

    drop(resolver);
    let port_free = c2.run(|| {
        UdpSocket::bind((RESOLVER_ADDR, 53)).is_ok()
            && TcpListener::bind((RESOLVER_ADDR, 53)).is_ok()
    });
    assert!(port_free, "a stopped resolver releases its sockets");
    nets.release("c2").unwrap();
    nets.release("c3").unwrap();
    nets.remove("a").unwrap();
    nets.remove("b").unwrap();
}
