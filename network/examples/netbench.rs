//! Measurements for the `network` bench family, all inside namespaces this program makes (one
//! plays the host): attach latency against the CNI bridge plugin doing the same job, TCP
//! throughput over our bridge against the same topology made by hand, and first-connection
//! time through a published port against a direct connection.
//!
//! `cargo run -p dm-network --release --example netbench` as root; prints a Markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{host_ns, nets, spec, Ns};
use dm_network::{ports, AttachOptions};
use dm_testkit::TempDir;

const ROUNDS: usize = 30;
const BYTES: usize = 2 << 30;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sends BYTES from `from` to a sink at `ip` in `to`; returns Gbit/s.
fn throughput(from: &Ns, to: &Ns, ip: Ipv4Addr) -> f64 {
    let l = to.run(|| TcpListener::bind((ip, 0)).unwrap());
    let addr = l.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0;
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k;
        }
        n
    });
    let secs = from.run(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let buf = vec![7u8; 1 << 20];
        let t = Instant::now();
        for _ in 0..BYTES >> 20 {
            s.write_all(&buf).unwrap();
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut end = [0u8; 1];
        let _ = s.read(&mut end);
        t.elapsed().as_secs_f64()
    });
    assert_eq!(sink.join().unwrap(), BYTES);
    BYTES as f64 * 8.0 / secs / 1e9
}

/// One new connection and a one-byte exchange; returns ms.
fn first_connection(from: &Ns, addr: SocketAddr) -> f64 {
    from.run(move || {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        ms(t.elapsed())
    })
}

fn echo_server(ns: &Ns, port: u16, n: usize) -> std::thread::JoinHandle<()> {
    let l = ns.run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap());
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        }
    })
}

fn cni_add_del(host: &Ns, ct: &Ns, data: &TempDir) -> (f64, f64) {
    let conf = format!(
        r#"{{"cniVersion":"1.0.0","name":"bench","type":"bridge","bridge":"dmbc0","isGateway":true,
        "ipMasq":false,"ipam":{{"type":"host-local","subnet":"10.96.0.0/24","dataDir":"{}"}}}}"#,
        data.path().display()
    );
    let run = |cmd: &str| {
        let conf = conf.clone();
        let netns = ct.path().to_path_buf();
        host.run(move || {
            let t = Instant::now();
            let mut c = Command::new("/usr/lib/cni/bridge")
                .env("CNI_COMMAND", cmd)
                .env("CNI_CONTAINERID", "bench")
                .env("CNI_NETNS", &netns)
                .env("CNI_IFNAME", "eth0")
                .env("CNI_PATH", "/usr/lib/cni")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(conf.as_bytes()).unwrap();
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "cni {cmd}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            ms(t.elapsed())
        })
    };
    (run("ADD"), run("DEL"))
}

fn main() {
    let host = host_ns();
    let state = TempDir::new("dmnetbench");
    let nets = nets(&host, &state);
    let t = Instant::now();
    let net = nets
        .create(&spec("bench", "10.95.0.0/24", "dmbb0"))
        .unwrap();
    let create_ms = ms(t.elapsed());

    let (mut attach, mut detach, mut publish) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let ct = Ns::new();
        let id = format!("c{i}");
        let t = Instant::now();
        nets.attach(&id, ct.path(), "bench", &AttachOptions::default())
            .unwrap();
        attach.push(ms(t.elapsed()));
        let p = ports::parse(&format!("{}:80", 18300 + i)).unwrap();
        let t = Instant::now();
        nets.publish(&id, "bench", &p).unwrap();
        publish.push(ms(t.elapsed()));
        let t = Instant::now();
        nets.detach(&id, "bench").unwrap();
        detach.push(ms(t.elapsed()));
    }
    let (mut cni_add, mut cni_del) = (Vec::new(), Vec::new());
    let cni = std::path::Path::new("/usr/lib/cni/bridge").exists();
    if cni {
        let data = TempDir::new("dmnetbench-cni");
        for _ in 0..ROUNDS {
            let ct = Ns::new();
            let (a, d) = cni_add_del(&host, &ct, &data);
            cni_add.push(a);
            cni_del.push(d);
        }
    }

    // Throughput: our bridge against the same bridge + veths made by hand (no rules of ours)
    // and against one veth pair joining the two namespaces directly.
    let (c1, c2) = (Ns::new(), Ns::new());
    nets.attach("t1", c1.path(), "bench", &AttachOptions::default())
        .unwrap();
    let e2 = nets
        .attach("t2", c2.path(), "bench", &AttachOptions::default())
        .unwrap();
    let (h1, h2) = (Ns::new(), Ns::new());
    let pid = |ns: &Ns| {
        ns.path()
            .to_str()
            .unwrap()
            .split('/')
            .nth(4)
            .unwrap()
            .to_string()
    };
    host.cmd(&["ip", "link", "add", "dmbh0", "type", "bridge"]);
    host.cmd(&["ip", "link", "set", "dmbh0", "up"]);
    for (i, ns) in [&h1, &h2].iter().enumerate() {
        let (a, b) = (format!("dmbhv{i}"), format!("dmbhp{i}"));
        host.cmd(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
        host.cmd(&["ip", "link", "set", &a, "master", "dmbh0", "up"]);
        host.cmd(&["ip", "link", "set", &b, "netns", &pid(ns)]);
        ns.cmd(&[
            "ip",
            "addr",
            "add",
            &format!("10.98.0.{}/24", i + 2),
            "dev",
            &b,
        ]);
        ns.cmd(&["ip", "link", "set", &b, "up"]);
    }
    let (d1, d2) = (Ns::new(), Ns::new());
    d1.cmd(&[
        "ip",
        "link",
        "add",
        "dmbd0",
        "type",
        "veth",
        "peer",
        "name",
        "dmbd1",
        "netns",
        &pid(&d2),
    ]);
    d1.cmd(&["ip", "addr", "add", "10.99.0.1/24", "dev", "dmbd0"]);
    d1.cmd(&["ip", "link", "set", "dmbd0", "up"]);
    d2.cmd(&["ip", "addr", "add", "10.99.0.2/24", "dev", "dmbd1"]);
    d2.cmd(&["ip", "link", "set", "dmbd1", "up"]);
    let (mut ours, mut hand, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        ours.push(throughput(&c1, &c2, e2.ip));
        hand.push(throughput(&h1, &h2, Ipv4Addr::new(10, 98, 0, 3)));
        direct.push(throughput(&d1, &d2, Ipv4Addr::new(10, 99, 0, 2)));
    }

    // First connection through a published port (DNAT from a client namespace linked to the
    // host) against a direct connection to the container's address from the host.
    let client = Ns::new();
    host.cmd(&[
        "ip", "link", "add", "dmbx0", "type", "veth", "peer", "name", "dmbx1",
    ]);
    host.cmd(&["ip", "link", "set", "dmbx1", "netns", &pid(&client)]);
    host.cmd(&["ip", "addr", "add", "192.168.251.1/30", "dev", "dmbx0"]);
    host.cmd(&["ip", "link", "set", "dmbx0", "up"]);
    client.cmd(&["ip", "addr", "add", "192.168.251.2/30", "dev", "dmbx1"]);
    client.cmd(&["ip", "link", "set", "dmbx1", "up"]);
    client.cmd(&["ip", "route", "add", "10.95.0.0/24", "via", "192.168.251.1"]);
    nets.publish("t2", "bench", &ports::parse("18200:80").unwrap())
        .unwrap();
    let srv = echo_server(&c2, 80, 2 * ROUNDS);
    let (mut published, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        published.push(first_connection(
            &client,
            (Ipv4Addr::new(192, 168, 251, 1), 18200).into(),
        ));
        plain.push(first_connection(&client, (e2.ip, 80).into()));
    }
    srv.join().unwrap();
    nets.release("t1").unwrap();
    nets.release("t2").unwrap();
    nets.remove("bench").unwrap();
    let _ = net;

    println!("| measurement (median) | dm-network | reference | ratio |");
    println!("|---|---|---|---|");
    println!("| network create (bridge + rules), ms | {create_ms:.2} | | |");
    if cni {
        let (a, c) = (median(attach.clone()), median(cni_add));
        println!(
            "| attach (veth, address, route), ms | {a:.2} | CNI bridge ADD {c:.2} | {:.2} |",
            a / c
        );
        println!(
            "| publish one port (3 rules), ms | {:.2} | | |",
            median(publish.clone())
        );
        let (a, c) = (median(detach.clone()), median(cni_del));
        println!(
            "| detach (with its port: 3 rules), ms | {a:.2} | CNI bridge DEL {c:.2} | {:.2} |",
            a / c
        );
    } else {
        println!(
            "| attach, ms | {:.2} | (no CNI plugins) | |",
            median(attach)
        );
    }
    let (o, h, d) = (median(ours), median(hand), median(direct));
    println!(
        "| TCP between two containers, Gbit/s | {o:.2} | bridge by hand {h:.2} | {:.3} |",
        o / h
    );
    println!(
        "| (one veth pair, no bridge), Gbit/s | | {d:.2} | {:.3} |",
        o / d
    );
    let (p, q) = (median(published), median(plain));
    println!(
        "| first connection via published port, ms | {p:.3} | direct to container {q:.3} | {:.2} |",
        p / q
    );
}
