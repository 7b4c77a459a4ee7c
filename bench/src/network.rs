//! The `network` family (issue 18): container networking of dockermindd against dockerd 20.10,
//! each daemon inside a namespace of its own with its default bridge there, driven by Debian's
//! docker CLI, the sides alternating per round:
//! - `start-bridge`: `docker start` of a created container on the default bridge (ms);
//! - `tcp-throughput`: TCP from one container to another on one bridge (MB/s), against the same
//!   topology made by hand (a bridge and two veths, no daemon), which is the baseline;
//! - `published-port-first-connection`: an HTTP GET to 127.0.0.1:<published port> from the
//!   daemon's namespace, the first connection after the container started (ms).
//!
//! The TCP endpoints are threads of the bench that joined the containers' namespaces, so the
//! figure is the path's (veth, bridge, netfilter), not a tool's in the container.

use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::paired_rows;
use crate::netenv::{in_ns, Engine, Kind, Ns, DOCKER};
use crate::report::Row;
use dm_integration::Registry;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Container networking figures.
pub struct NetworkFamily;

const FAMILY: &str = "network";
const HTTPD: &str = "mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 80 -h /w";

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Sends `bytes` from a thread in namespace `from` to a sink at `to_ip` in namespace `to`;
/// MB/s (10^6 bytes).
fn throughput(from: &Path, to: &Path, to_ip: Ipv4Addr, bytes: usize) -> Result<f64> {
    let l = in_ns(to, || TcpListener::bind((to_ip, 0))).map_err(BenchError::io("sink"))?;
    let addr = l.local_addr().map_err(BenchError::io("sink"))?;
    let sink = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0;
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(n),
                k => n += k,
            }
        }
    });
    let secs = in_ns(from, move || -> std::io::Result<f64> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        let buf = vec![7u8; 1 << 20];
        let t = Instant::now();
        for _ in 0..bytes >> 20 {
            s.write_all(&buf)?;
        }
        s.shutdown(std::net::Shutdown::Write)?;
        let mut end = [0u8; 1];
        let _ = s.read(&mut end);
        Ok(t.elapsed().as_secs_f64())
    })
    .map_err(BenchError::io("sender"))?;
    let got = sink
        .join()
        .expect("sink thread")
        .map_err(BenchError::io("sink"))?;
    if got != bytes {
        return Err(BenchError::Input {
            what: "tcp-throughput".into(),
            why: format!("sink got {got} of {bytes} bytes"),
        });
    }
    Ok(bytes as f64 / secs / 1e6)
}

/// One GET through `addr` from inside `ns`; the time to the whole answer.
fn first_get(ns: &Path, addr: SocketAddr) -> Result<f64> {
    in_ns(ns, move || -> std::io::Result<f64> {
        let t = Instant::now();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
        let mut b = Vec::new();
        s.read_to_end(&mut b)?;
        if !b.ends_with(b"ok\n") {
            return Err(std::io::Error::other("unexpected answer"));
        }
        Ok(ms(t))
    })
    .map_err(BenchError::io(addr.to_string()))
}

/// Waits until httpd in the container answers at its own address (not through the port).
fn wait_httpd(ns: &Path, ip: Ipv4Addr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_get(ns, SocketAddr::from((ip, 80))).is_err() {
        if Instant::now() > deadline {
            return Err(BenchError::Input {
                what: "httpd".into(),
                why: format!("no answer at {ip}:80 within 30 s"),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn parse_ip(s: &str) -> Result<Ipv4Addr> {
    s.parse().map_err(|_| BenchError::Input {
        what: "container address".into(),
        why: format!("{s:?}"),
    })
}

/// `docker start` of a created container (create and removal untimed).
fn start_once(e: &Engine, image: &str) -> Result<f64> {
    let id = e.docker(&["create", image, "sleep", "600"])?;
    let id = id.trim();
    let t = Instant::now();
    let r = e.docker(&["start", id]);
    let v = ms(t);
    e.docker(&["rm", "-f", id])?;
    r.map(|_| v)
}

/// A container publishing port 80, its first connection through 127.0.0.1:<port>.
fn port_once(e: &Engine, image: &str) -> Result<f64> {
    let id = e.docker(&["run", "-d", "-p", "80", image, "sh", "-c", HTTPD])?;
    let id = id.trim().to_owned();
    let r = (|| {
        let port = e.docker(&["port", &id, "80/tcp"])?;
        let port: u16 = port
            .lines()
            .find_map(|l| l.strip_prefix("0.0.0.0:"))
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| BenchError::Input {
                what: "docker port".into(),
                why: port.clone(),
            })?;
        let (pid, ip) = e.pid_ip(&id)?;
        wait_httpd(
            &PathBuf::from(format!("/proc/{pid}/ns/net")),
            parse_ip(&ip)?,
        )?;
        first_get(e.ns.path(), SocketAddr::from(([127, 0, 0, 1], port)))
    })();
    e.docker(&["rm", "-f", &id])?;
    r
}

/// Two namespaces on a bridge made by hand in a third: the baseline topology.
struct HandMade {
    _host: Ns,
    a: Ns,
    b: Ns,
}

impl HandMade {
    fn new() -> Result<HandMade> {
        let (host, a, b) = (Ns::new()?, Ns::new()?, Ns::new()?);
        host.cmd(&["ip", "link", "add", "brh", "type", "bridge"])?;
        host.cmd(&["ip", "link", "set", "brh", "up"])?;
        for (i, ns) in [(1, &a), (2, &b)] {
            let (h, c) = (format!("vh{i}"), format!("vc{i}"));
            // The namespace's tid names it for `ip link set ... netns`.
            let tid = ns
                .path()
                .to_string_lossy()
                .split('/')
                .nth(4)
                .unwrap_or("")
                .to_owned();
            host.cmd(&["ip", "link", "add", &h, "type", "veth", "peer", "name", &c])?;
            host.cmd(&["ip", "link", "set", &h, "master", "brh", "up"])?;
            host.cmd(&["ip", "link", "set", &c, "netns", &tid])?;
            ns.cmd(&[
                "ip",
                "addr",
                "add",
                &format!("10.77.0.{}/24", i + 1),
                "dev",
                &c,
            ])?;
            ns.cmd(&["ip", "link", "set", &c, "up"])?;
        }
        Ok(HandMade { _host: host, a, b })
    }
}

fn collect(v: &mut Vec<f64>, err: &mut Option<String>, r: Result<f64>, count: bool) {
    match r {
        Ok(x) if count => v.push(x),
        Ok(_) => {}
        Err(e) => {
            err.get_or_insert(e.to_string());
        }
    }
}

impl Family for NetworkFamily {
    fn name(&self) -> &'static str {
        FAMILY
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        for cmd in ["docker-registry", "dockerd", "containerd", "iptables"] {
            if dm_testkit::which(cmd).is_none() {
                cx.notes
                    .push(format!("network: skipped, {cmd} not installed"));
                return Ok(Vec::new());
            }
        }
        if !Path::new(DOCKER).is_file() {
            cx.notes.push(format!("network: skipped, {DOCKER} missing"));
            return Ok(Vec::new());
        }
        let work = cx.dir.subdir("network")?;
        let tar = work.join("busybox.tar");
        let scratch = work.join("img");
        std::fs::create_dir_all(&scratch).map_err(BenchError::io(&scratch))?;
        dm_integration::write_busybox_image_tar(&tar, &scratch);
        let registry = Registry::start(&work);
        let image = registry.push_oci_archive(&tar, "bench/busybox:latest");
        let prefix = cx.ids.prefix().to_owned();
        let engines = [Kind::Dockerd, Kind::Dockermind]
            .into_iter()
            .map(|k| {
                let dir = work.join(format!("{k:?}").to_lowercase());
                let e = Engine::start(k, &dir, &registry.addr, &format!("/{prefix}{k:?}"))?;
                e.docker(&["pull", &image])?;
                Ok(e)
            })
            .collect::<Result<Vec<Engine>>>()?;
        let names: Vec<&str> = engines.iter().map(Engine::name).collect();
        let (warm, rounds) = (cx.opts.warmup, cx.opts.rounds);
        let mut rows = Vec::new();

        for (scenario, f) in [
            (
                "start-bridge",
                start_once as fn(&Engine, &str) -> Result<f64>,
            ),
            ("published-port-first-connection", port_once),
        ] {
            let mut vals = vec![Vec::new(); engines.len()];
            let mut errs = vec![None; engines.len()];
            for round in 0..warm + rounds {
                for k in 0..engines.len() {
                    // Alternating order: neither side always runs on a warmer machine.
                    let i = if round % 2 == 0 {
                        k
                    } else {
                        engines.len() - 1 - k
                    };
                    let r = f(&engines[i], &image);
                    collect(&mut vals[i], &mut errs[i], r, round >= warm);
                }
            }
            rows.extend(paired_rows(FAMILY, scenario, "ms", &names, vals, errs));
        }

        let bytes: usize = if rounds <= 1 { 64 << 20 } else { 1 << 30 };
        let hand = HandMade::new()?;
        let mut pairs: Vec<(PathBuf, PathBuf, Ipv4Addr)> = vec![(
            hand.a.path().to_path_buf(),
            hand.b.path().to_path_buf(),
            Ipv4Addr::new(10, 77, 0, 3),
        )];
        for e in &engines {
            let ends: Vec<(u32, String)> = (0..2)
                .map(|_| {
                    let id = e.docker(&["run", "-d", &image, "sleep", "600"])?;
                    e.pid_ip(id.trim())
                })
                .collect::<Result<_>>()?;
            pairs.push((
                PathBuf::from(format!("/proc/{}/ns/net", ends[0].0)),
                PathBuf::from(format!("/proc/{}/ns/net", ends[1].0)),
                parse_ip(&ends[1].1)?,
            ));
        }
        let tnames: Vec<&str> = std::iter::once("veth pair by hand")
            .chain(names.iter().copied())
            .collect();
        let mut vals = vec![Vec::new(); pairs.len()];
        let mut errs = vec![None; pairs.len()];
        for round in 0..warm + rounds {
            for k in 0..pairs.len() {
                let i = if round % 2 == 0 {
                    k
                } else {
                    pairs.len() - 1 - k
                };
                let (a, b, ip) = &pairs[i];
                let r = throughput(a, b, *ip, bytes);
                collect(&mut vals[i], &mut errs[i], r, round >= warm);
            }
        }
        rows.extend(paired_rows(
            FAMILY,
            "tcp-throughput",
            "MB/s",
            &tnames,
            vals,
            errs,
        ));
        drop(hand);
        drop(engines);
        drop(registry);
        cx.verify(FAMILY);
        cx.notes.push(format!(
            "network: each daemon in a namespace of its own; tcp-throughput sends {} MB per round; \
             vs column = ratio to the first row of the scenario",
            bytes >> 20
        ));
        let _ = std::fs::remove_dir_all(&work);
        Ok(rows)
    }
}
