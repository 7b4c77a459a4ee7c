//! Container networking through the real docker CLI, with the daemon inside a network
//! namespace the test makes (bridges, rules and ip_forward change only there): user networks
//! with name resolution and isolation, published ports, connect/disconnect of running
//! containers, `docker network` commands and their errors, a SIGKILLed daemon's restart, and
//! nothing left behind.

mod common;
#[path = "../../network/tests/common/mod.rs"]
mod netcommon;

use common::{prerequisites, Dmd, TestRegistry};
use netcommon::{host_ns, Ns};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Relays the registry's 127.0.0.1 port into the daemon's namespace, where the same address
/// is otherwise unreachable; stops on drop.
struct Relay {
    addr: SocketAddr,
    ns: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn new(ns: &Ns, registry: &str) -> Relay {
        let addr: SocketAddr = registry.parse().unwrap();
        let l = ns.run(|| TcpListener::bind(addr).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Spawned from this thread, in the test's namespace: upstream connects reach the
        // registry; the listener stays in the daemon's namespace.
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(down) = c else { return };
                std::thread::spawn(move || {
                    let Ok(up) = TcpStream::connect(addr) else {
                        return;
                    };
                    let (mut d2, mut u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
                    let t = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut d2, &mut u2);
                        let _ = u2.shutdown(Shutdown::Write);
                    });
                    let (mut u, mut d) = (up, down);
                    let _ = std::io::copy(&mut u, &mut d);
                    let _ = d.shutdown(Shutdown::Write);
                    let _ = t.join();
                });
            }
        });
        Relay {
            addr,
            ns: ns.path().to_path_buf(),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let addr = self.addr;
        let _ = dm_network::in_netns(Some(&self.ns), || Ok(TcpStream::connect(addr)));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP GET from inside `ns`; the body, or the error.
fn http_get(ns: &Ns, addr: SocketAddr) -> std::io::Result<String> {
    ns.run(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
        let mut b = String::new();
        s.read_to_string(&mut b)?;
        Ok(b)
    })
}

/// Firewall rules in `ns`.
fn rules(ns: &Ns) -> Vec<String> {
    let all = ns.cmd(&["iptables-save"]);
    all.lines()
        .filter(|l| l.starts_with("-A"))
        .map(str::to_owned)
        .collect()
}

/// Interfaces the daemon's networking left in `ns`, and rules that were not there when the
/// daemon had started (the default network's).
fn leftovers(w: &World) -> (Vec<String>, Vec<String>) {
    let links: Vec<String> =
        w.ns.links()
            .into_iter()
            .filter(|l| l.starts_with("dmv") || l.starts_with("dm-"))
            .collect();
    let extra = rules(&w.ns)
        .into_iter()
        .filter(|r| !w.baseline.contains(r))
        .collect();
    (links, extra)
}

fn ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap()
}

/// One test's world: a namespace with a daemon in it and busybox pulled.
struct World {
    // Field order is drop order: the daemon goes before the relay and the namespace.
    d: Dmd,
    _relay: Relay,
    _reg: TestRegistry,
    ns: Ns,
    image: String,
    baseline: Vec<String>,
}

fn world() -> World {
    let ns = host_ns();
    let reg = TestRegistry::with_busybox();
    let relay = Relay::new(&ns, &reg.registry.addr);
    let d = Dmd::start_in(Some(ns.path()));
    let image = reg.image.clone();
    d.ok(&["pull", &image]);
    let baseline = rules(&ns);
    assert!(
        baseline.iter().any(|r| r.contains("dm0")),
        "no rules for the default network: {baseline:?}"
    );
    World {
        baseline,
        d,
        _relay: relay,
        _reg: reg,
        ns,
        image,
    }
}

fn ip_on(d: &Dmd, c: &str, net: &str) -> String {
    let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    d.ok(&["inspect", "-f", &f, c]).trim().to_owned()
}

#[test]
fn user_networks_resolve_names_isolate_and_connect() {
    if !prerequisites("user_networks_resolve_names_isolate_and_connect") {
        return;
    }
    let forward_before = ip_forward();
    let w = world();
    let (d, img) = (&w.d, w.image.as_str());
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in ["bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == want), "{want:?} missing in:\n{ls}");
    }
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.91.0.0/24",
        "--gateway",
        "10.91.0.254",
        "--label",
        "team=a",
        "neta",
    ]);
    d.ok(&["network", "create", "netb"]);
    let sub = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}} {{.Driver}}",
        "neta",
    ]);
    assert_eq!(sub.trim(), "10.91.0.0/24 10.91.0.254 a bridge");
    // docker's errors for bad input and conflicts.
    let e = d.fails(&["network", "create", "neta"]);
    assert!(e.contains("already exists"), "{e}");
    let e = d.fails(&["network", "create", "--subnet", "10.1.2.300/24", "bad"]);
    assert!(e.contains("invalid subnet"), "{e}");
    let e = d.fails(&["network", "create", "--subnet", "10.91.0.0/16", "overlap"]);
    assert!(e.contains("overlaps"), "{e}");
    let e = d.fails(&["network", "inspect", "nosuchnet"]);
    assert!(e.contains("No such network: nosuchnet"), "{e}");
    let e = d.fails(&["run", "--rm", "--network", "nosuchnet", img, "true"]);
    assert!(e.contains("network nosuchnet not found"), "{e}");
    let e = d.fails(&["network", "rm", "bridge"]);
    assert!(e.contains("pre-defined"), "{e}");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "neta",
        "--network-alias",
        "web",
        img,
        "sleep",
        "600",
    ]);
    let srv_ip = ip_on(d, "srv", "neta");
    assert!(srv_ip.starts_with("10.91.0."), "{srv_ip}");
    // By name and by alias through the embedded resolver, by address; /etc files as docker's.
    let o = d.ok(&[
        "run", "--rm", "--network", "neta", img, "sh", "-c",
        "ping -c1 -W5 srv >/dev/null && ping -c1 -W5 web >/dev/null && cat /etc/resolv.conf && hostname",
    ]);
    assert!(o.starts_with("nameserver 127.0.0.11\n"), "{o}");
    let hosts = d.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{srv_ip}\t")), "{hosts}");
    // container:<id> shares srv's interface; none has loopback only; host is the daemon's.
    let mac = d.ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"neta\").MacAddress}}",
        "srv",
    ]);
    let o = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:srv",
        img,
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(o.trim(), mac.trim());
    let o = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        img,
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let o = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        img,
        "ls",
        "/sys/class/net",
    ]);
    assert!(o.split_whitespace().any(|l| l == "dm0"), "{o}");
    // Another network reaches neither the name nor the address.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "netb",
        img,
        "sleep",
        "600",
    ]);
    let ping = |c: &str, target: &str| {
        d.docker(&["exec", c, "ping", "-c1", "-W2", target])
            .status
            .success()
    };
    assert!(!ping("other", &srv_ip), "netb reached neta");
    assert!(!ping("other", "srv"), "netb resolved neta's name");
    // Connected while running: reachable by name and address; disconnected: not any more.
    d.ok(&["network", "connect", "neta", "other"]);
    assert!(ping("other", "srv"), "connected but cannot reach srv");
    let nets = d.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "other",
    ]);
    assert_eq!(nets.trim(), "neta netb");
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "neta",
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, ["other", "srv"]);
    let e = d.fails(&["network", "connect", "neta", "other"]);
    assert!(e.contains("already exists"), "{e}");
    d.ok(&["network", "disconnect", "neta", "other"]);
    assert!(
        !ping("other", &srv_ip),
        "disconnected but still reaches srv"
    );
    let e = d.fails(&["network", "disconnect", "neta", "other"]);
    assert!(e.contains("not connected"), "{e}");
    // In use: refused; unused: pruned.
    let e = d.fails(&["network", "rm", "neta"]);
    assert!(e.contains("active endpoints"), "{e}");
    d.ok(&["network", "create", "unused"]);
    d.ok(&["rm", "-f", "srv"]);
    // `until`: only networks made before the time go (1h ago: none; an hour ahead: all).
    let pruned = d.ok(&["network", "prune", "-f", "--filter", "until=1h"]);
    assert!(!pruned.contains("unused"), "made just now: {pruned}");
    let e = d.fails(&["network", "prune", "-f", "--filter", "until=soon"]);
    assert!(e.contains("until=soon"), "{e}");
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let pruned = d.ok(&[
        "network",
        "prune",
        "-f",
        "--filter",
        &format!("until={later}"),
    ]);
    assert!(
        pruned.contains("neta") && pruned.contains("unused"),
        "{pruned}"
    );
    assert!(!pruned.contains("netb"), "netb has a container: {pruned}");
    d.ok(&["rm", "-f", "other"]);
    d.ok(&["network", "rm", "netb"]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls.lines().count(), 3, "{ls}");
    let (links, rules) = leftovers(&w);
    assert!(links.is_empty(), "links left: {links:?}");
    assert!(rules.is_empty(), "rules left: {rules:?}");
    drop(w);
    assert_eq!(
        ip_forward(),
        forward_before,
        "the host's ip_forward changed"
    );
}

#[test]
fn published_ports_answer_and_survive_a_daemon_kill() {
    if !prerequisites("published_ports_answer_and_survive_a_daemon_kill") {
        return;
    }
    let mut w = world();
    let img = w.image.clone();
    let httpd = "mkdir /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";
    w.d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "-p",
        "18080:80",
        "-p",
        "80",
        "-p",
        "127.0.0.1::81/udp",
        &img,
        "sh",
        "-c",
        httpd,
    ]);
    let port = w.d.ok(&["port", "web", "80"]);
    let ports: Vec<&str> = port.lines().collect();
    assert!(ports.contains(&"0.0.0.0:18080"), "{port}");
    let any: u16 = ports
        .iter()
        .find(|p| **p != "0.0.0.0:18080")
        .and_then(|p| p.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no allocated port in {port:?}"));
    let udp = w.d.ok(&["port", "web", "81/udp"]);
    assert!(udp.starts_with("127.0.0.1:"), "{udp}");
    let gw: std::net::Ipv4Addr =
        w.d.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "web"])
            .trim()
            .parse()
            .unwrap();
    let get = |port: u16| {
        // httpd may not listen yet right after start: retried until it answers.
        dm_integration::poll("httpd to answer", Duration::from_secs(20), || {
            http_get(&w.ns, SocketAddr::from((gw, port))).ok()
        })
    };
    assert!(get(18080).contains("hello-from-webhost"));
    assert!(get(any).contains("hello-from-webhost"));
    let local = http_get(&w.ns, SocketAddr::from(([127, 0, 0, 1], 18080))).unwrap();
    assert!(local.contains("hello-from-webhost"), "{local}");
    let ps = w.d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains("0.0.0.0:18080->80/tcp"), "{ps}");
    let e = w.d.fails(&["run", "--rm", "-p", "18080:80", &img, "true"]);
    assert!(e.contains("18080"), "{e}");
    // A host range for one port (the CLI sends HostPort "18080-18082"): the first free one.
    w.d.ok(&[
        "run",
        "-d",
        "--name",
        "ranged",
        "--hostname",
        "rangedhost",
        "-p",
        "18080-18082:80",
        &img,
        "sh",
        "-c",
        httpd,
    ]);
    assert_eq!(w.d.ok(&["port", "ranged", "80"]).trim(), "0.0.0.0:18081");
    assert!(get(18081).contains("hello-from-rangedhost"));
    w.d.ok(&["rm", "-f", "ranged"]);

    // A crash: the container keeps its address and ports, the next start re-makes nothing
    // twice and the container stays manageable.
    w.d.ok(&["network", "create", "dnsnet"]);
    w.d.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "dnsnet",
        &img,
        "sleep",
        "600",
    ]);
    w.d.ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "--network",
        "dnsnet",
        &img,
        "sleep",
        "600",
    ]);
    let pid: i32 =
        w.d.ok(&["inspect", "-f", "{{.State.Pid}}", "gone"])
            .trim()
            .parse()
            .unwrap();
    w.d.kill9();
    // A container that ends while the daemon is down: its endpoint goes at the next start.
    // SAFETY: kill(2) on the pid of the test's own container.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    dm_integration::poll("the container to end", Duration::from_secs(20), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    w.d.spawn();
    let members = w.d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "dnsnet",
    ]);
    assert_eq!(members.trim(), "peer");
    assert!(http_get(&w.ns, SocketAddr::from((gw, 18080)))
        .unwrap()
        .contains("hello-from-webhost"));
    let o = w.d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        &img,
        "ping",
        "-c1",
        "-W5",
        "peer",
    ]);
    assert!(o.contains("1 packets received"), "{o}");
    let o = w.d.ok(&["exec", "peer", "nslookup", "peer", "127.0.0.11"]);
    assert!(o.contains("Address"), "{o}");
    let rules = w.ns.cmd(&["iptables-save", "-t", "nat"]);
    let dnat = rules
        .lines()
        .filter(|l| l.contains("--dport 18080"))
        .count();
    assert_eq!(dnat, 2, "one PREROUTING and one OUTPUT rule:\n{rules}");

    // Stop releases the ports; removal and network rm leave nothing.
    w.d.ok(&["stop", "-t", "1", "web"]);
    assert!(http_get(&w.ns, SocketAddr::from((gw, 18080))).is_err());
    let ports =
        w.d.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]);
    assert_eq!(ports.trim(), "{}");
    let rules = w.ns.cmd(&["iptables-save", "-t", "nat"]);
    assert!(!rules.contains("--dport 18080"), "{rules}");
    // The port is free for another container again.
    w.d.ok(&["run", "--rm", "-p", "18080:80", &img, "true"]);
    w.d.ok(&["rm", "-f", "web", "peer", "gone"]);
    w.d.ok(&["network", "rm", "dnsnet"]);
    let (links, rules) = leftovers(&w);
    assert!(links.is_empty(), "links left: {links:?}");
    assert!(rules.is_empty(), "rules left: {rules:?}");
    let recs = std::fs::read_dir(w.d.root().join("network/endpoints"))
        .unwrap()
        .count();
    assert_eq!(recs, 0, "endpoint records left");
}

/// `network` events (create, connect, disconnect, destroy with docker's attributes name, type
/// and container) in order, and the event log surviving a SIGKILLed daemon: `docker events
/// --since` after the restart returns the same events.
#[test]
fn network_events_in_order_and_persisted_across_a_daemon_kill() {
    if !prerequisites("network_events_in_order_and_persisted_across_a_daemon_kill") {
        return;
    }
    let mut w = world();
    let img = w.image.clone();
    let now = common::now;
    let t0 = now();
    w.d.ok(&["network", "create", "evnet"]);
    w.d.ok(&["network", "create", "evnet2"]);
    let id = w.d.ok(&[
        "run",
        "-d",
        "--name",
        "evc",
        "--network",
        "evnet",
        &img,
        "sleep",
        "600",
    ]);
    let id = id.trim().to_owned();
    w.d.ok(&["network", "connect", "evnet2", "evc"]);
    w.d.ok(&["network", "disconnect", "evnet2", "evc"]);
    w.d.ok(&["rm", "-f", "evc"]);
    w.d.ok(&["network", "rm", "evnet", "evnet2"]);
    let t1 = now();
    let net_id = |n: &str| {
        hash_of(&w.d.ok(&[
            "events",
            "--since",
            &t0,
            "--until",
            &t1,
            "--filter",
            "type=network",
            "--filter",
            &format!("network={n}"),
            "--format",
            "{{.Actor.ID}}",
        ]))
    };
    let (id1, id2) = (net_id("evnet"), net_id("evnet2"));
    assert!(!id1.is_empty() && id1 != id2, "{id1} {id2}");
    let want = vec![
        format!("create {id1} evnet bridge -"),
        format!("create {id2} evnet2 bridge -"),
        format!("connect {id1} evnet bridge {id}"),
        format!("connect {id2} evnet2 bridge {id}"),
        format!("disconnect {id2} evnet2 bridge {id}"),
        format!("disconnect {id1} evnet bridge {id}"),
        format!("destroy {id1} evnet bridge -"),
        format!("destroy {id2} evnet2 bridge -"),
    ];
    let seen = |d: &Dmd| -> Vec<String> {
        d.ok(&[
            "events",
            "--since",
            &t0,
            "--until",
            &t1,
            "--filter",
            "type=network",
            "--format",
            "{{json .}}",
        ])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let a = &v["Actor"]["Attributes"];
            assert_eq!(v["Type"], "network", "{v}");
            format!(
                "{} {} {} {} {}",
                v["Action"].as_str().unwrap(),
                v["Actor"]["ID"].as_str().unwrap(),
                a["name"].as_str().unwrap(),
                a["type"].as_str().unwrap(),
                a["container"].as_str().unwrap_or("-")
            )
        })
        .collect()
    };
    assert_eq!(seen(&w.d), want);
    let all_before = w.d.ok(&["events", "--since", &t0, "--until", &t1]);
    assert!(all_before.contains("container create"), "{all_before}");

    w.d.kill9();
    w.d.spawn();
    assert_eq!(seen(&w.d), want, "after a SIGKILL and restart");
    assert_eq!(
        w.d.ok(&["events", "--since", &t0, "--until", &t1]),
        all_before
    );
    let (links, rules) = leftovers(&w);
    assert!(links.is_empty(), "links left: {links:?}");
    assert!(rules.is_empty(), "rules left: {rules:?}");
}

/// The one line `out` holds, trimmed (a network id from `docker events --format`).
fn hash_of(out: &str) -> String {
    let ids: std::collections::BTreeSet<&str> = out.lines().map(str::trim).collect();
    assert_eq!(ids.len(), 1, "{out}");
    ids.into_iter().next().unwrap().to_owned()
}
