//! Network namespaces owned by a test: each lives while a parked thread of this process sits
//! in it, so it (with every link, address and rule inside) disappears when the guard drops,
//! also on a failed assertion or a killed test process.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;

use dm_network::{Config, NetworkSpec, Networks};
use dm_testkit::TempDir;
use nix::sched::{setns, unshare, CloneFlags};

/// A network namespace made by the test.
pub struct Ns {
    path: PathBuf,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ns {
    /// A fresh, empty network namespace (only a down `lo`).
    pub fn new() -> Ns {
        let (tx_path, rx_path) = mpsc::channel();
        let (tx_stop, rx_stop) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            tx_path
                .send(PathBuf::from(format!(
                    "/proc/{}/task/{tid}/ns/net",
                    std::process::id()
                )))
                .unwrap();
            let _ = rx_stop.recv();
        });
        Ns {
            path: rx_path.recv().expect("netns thread"),
            stop: Some(tx_stop),
            thread: Some(thread),
        }
    }

    /// The namespace file, valid while self lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        dm_network::in_netns(Some(&self.path), || Ok(f())).unwrap()
    }

    /// Starts `f` on a thread inside the namespace (a server, say).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let ns = File::open(&self.path).unwrap();
        std::thread::spawn(move || {
            setns(&ns, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
    }

    /// Runs a command (iproute2, iptables) inside the namespace; panics on failure.
    pub fn cmd(&self, args: &[&str]) -> String {
        self.run(|| {
            let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
    }

    /// A file under /proc/thread-self/net (routes, devices) as this namespace sees it.
    pub fn proc_net(&self, file: &str) -> String {
        let p = format!("/proc/thread-self/net/{file}");
        self.run(|| std::fs::read_to_string(&p).unwrap())
    }

    /// Interface names in the namespace.
    pub fn links(&self) -> Vec<String> {
        self.proc_net("dev")
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The root check every test here starts with.
pub fn root(test: &str) -> bool {
    dm_testkit::require_root(test)
}

pub fn nets(host: &Ns, state: &TempDir) -> Networks {
    Networks::open(Config {
        state_dir: state.path().to_path_buf(),
        host_netns: Some(host.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

pub fn spec(name: &str, subnet: &str, bridge: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        subnet: subnet.parse().unwrap(),
        bridge: Some(bridge.into()),
        ..Default::default()
    }
}

/// Listens on `ip:0` inside `ns` and answers one connection with `reply`.
pub fn serve_once(
    ns: &Ns,
    ip: Ipv4Addr,
    reply: &'static [u8],
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = ns.run(|| TcpListener::bind((ip, 0)).unwrap());
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(reply).unwrap();
    });
    (addr, t)
}

/// Connects from inside `ns` and returns what the peer sent.
pub fn fetch(ns: &Ns, addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    ns.run(|| {
        // Bounded so a dropped SYN fails the test instead of hanging it.
        let mut s = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        let mut b = Vec::new();
        s.read_to_end(&mut b)?;
        Ok(b)
    })
}

/// The interface and gateway of the namespace's default route.
pub fn default_route_via(ns: &Ns) -> Option<(String, Ipv4Addr)> {
    ns.proc_net("route").lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[1] == "00000000").then(|| {
            let gw = u32::from_str_radix(f[2], 16).unwrap();
            (f[0].to_string(), Ipv4Addr::from(gw.to_le_bytes()))
        })
    })
}

/// A namespace playing the host: like a real host, its loopback is up.
pub fn host_ns() -> Ns {
    let ns = Ns::new();
    dm_network::setup_none(ns.path()).unwrap();
    ns
}
