//! The `network` family's surroundings: network namespaces the bench makes (each daemon gets
//! one as its "host", so bridges, rules and ip_forward never change outside), a relay that
//! brings the local registry into them, and dockermindd or dockerd running inside one,
//! driven by Debian's docker CLI.

use crate::error::{BenchError, Result};
use std::fs::File;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Debian's docker CLI (20.10).
pub const DOCKER: &str = "/usr/bin/docker";

/// A network namespace alive while a parked thread of the bench sits in it; it and all it
/// holds go when dropped (after the processes inside are gone).
pub struct Ns {
    path: PathBuf,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ns {
    /// A fresh namespace with its loopback up.
    pub fn new() -> Result<Ns> {
        let (tx_path, rx_path) = mpsc::channel();
        let (tx_stop, rx_stop) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map(|_| {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                PathBuf::from(format!("/proc/{}/task/{tid}/ns/net", std::process::id()))
            });
            let ok = r.is_ok();
            let _ = tx_path.send(r);
            if ok {
                let _ = rx_stop.recv();
            }
        });
        let path = rx_path
            .recv()
            .expect("netns thread answers")
            .map_err(BenchError::sys("unshare(CLONE_NEWNET)"))?;
        let ns = Ns {
            path,
            stop: Some(tx_stop),
            thread: Some(thread),
        };
        dm_network::setup_none(&ns.path).map_err(|e| BenchError::Input {
            what: "loopback of the bench namespace".into(),
            why: e.to_string(),
        })?;
        Ok(ns)
    }

    /// The namespace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.path, f)
    }

    /// Runs a command inside the namespace, which must succeed.
    pub fn cmd(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        spawn_in(&mut c, &self.path)?;
        output(c)
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

/// Runs `f` on a thread that joined the network namespace at `path` (a container's, say).
pub fn in_ns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> T {
    dm_network::in_netns(Some(path), || Ok(f())).expect("join a bench namespace")
}

/// Makes `c` start inside the namespace at `ns`.
pub fn spawn_in(c: &mut Command, ns: &Path) -> Result<()> {
    let f = File::open(ns).map_err(BenchError::io(ns))?;
    // SAFETY: setns is async-signal-safe; `f` lives in the closure until spawn returns.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}

/// Runs `c`; its stdout, or the failure with stderr.
pub fn output(mut c: Command) -> Result<String> {
    let cmd = format!("{c:?}");
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(BenchError::Failed {
            cmd,
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Relays a 127.0.0.1 port of the bench's namespace into `ns` at the same address; stops on
/// drop.
pub struct Relay {
    addr: SocketAddr,
    ns: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying `addr` (`127.0.0.1:port`).
    pub fn new(ns: &Ns, addr: &str) -> Result<Relay> {
        let addr: SocketAddr = addr.parse().map_err(|_| BenchError::Input {
            what: "registry address".into(),
            why: addr.into(),
        })?;
        let l = ns
            .run(|| TcpListener::bind(addr))
            .map_err(BenchError::io(addr.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Spawned from the bench's namespace: upstream connects reach the registry.
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(down) = c else { return };
                std::thread::spawn(move || pipe(down, addr));
            }
        });
        Ok(Relay {
            addr,
            ns: ns.path().to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

fn pipe(down: TcpStream, addr: SocketAddr) {
    let Ok(up) = TcpStream::connect(addr) else {
        return;
    };
    let (Ok(mut d2), Ok(mut u2)) = (down.try_clone(), up.try_clone()) else {
        return;
    };
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut d2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let (mut u, mut d) = (up, down);
    let _ = std::io::copy(&mut u, &mut d);
    let _ = d.shutdown(Shutdown::Write);
    let _ = t.join();
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

/// Which daemon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Debian's dockerd 20.10 with its own containerd, default bridge, iptables and
    /// userland proxy.
    Dockerd,
    /// dockermindd with its default bridge.
    Dockermind,
}

/// A daemon running inside its own namespace; stopped, with its mounts gone, on drop.
pub struct Engine {
    /// Which one.
    pub kind: Kind,
    child: Option<Child>,
    dir: PathBuf,
    cgroup_parent: String,
    // Field order is drop order: the relay is woken through the namespace, so it goes first.
    _relay: Relay,
    /// Its namespace (dropped after the daemon and the relay).
    pub ns: Ns,
}

impl Engine {
    /// Starts `kind` under `dir` in a fresh namespace where `registry` is reachable.
    pub fn start(kind: Kind, dir: &Path, registry: &str, cgroup_parent: &str) -> Result<Engine> {
        let ns = Ns::new()?;
        let relay = Relay::new(&ns, registry)?;
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let log = File::create(dir.join("daemon.log")).map_err(BenchError::io(dir))?;
        let sock = dir.join("sock");
        let mut c = match kind {
            Kind::Dockermind => {
                let mut c = Command::new(dm_testkit::workspace_bin("dockermindd"));
                c.arg("--host").arg(format!("unix://{}", sock.display()));
                c.arg("--root").arg(dir.join("root"));
                c.arg("--exec-root").arg(dir.join("run"));
                c.args(["--cgroup-parent", cgroup_parent]);
                c.arg("--registry-config").arg(dir.join("none.json"));
                c.arg("--shim")
                    .arg(dm_testkit::workspace_bin("containerd-shim-dockermind-v2"));
                c
            }
            Kind::Dockerd => {
                let cfg = dir.join("daemon.json");
                let mut f = File::create(&cfg).map_err(BenchError::io(&cfg))?;
                f.write_all(b"{}").map_err(BenchError::io(&cfg))?;
                let mut c = Command::new("dockerd");
                c.arg("--config-file").arg(&cfg);
                c.arg("-H").arg(format!("unix://{}", sock.display()));
                c.arg("--data-root").arg(dir.join("root"));
                c.arg("--exec-root").arg(dir.join("run"));
                c.arg("--pidfile").arg(dir.join("dockerd.pid"));
                c.args(["--cgroup-parent", cgroup_parent, "--log-level", "error"]);
                c.args(["--storage-driver", "overlay2"]);
                c
            }
        };
        spawn_in(&mut c, ns.path())?;
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(BenchError::io(dir))?)
            .stderr(log)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                cmd: format!("{kind:?}"),
                source,
            })?;
        let mut e = Engine {
            kind,
            child: Some(child),
            dir: dir.to_path_buf(),
            cgroup_parent: cgroup_parent.to_owned(),
            _relay: relay,
            ns,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while e.docker(&["version"]).is_err() {
            if let Some(Ok(Some(st))) = e.child.as_mut().map(|c| c.try_wait()) {
                return Err(BenchError::Input {
                    what: format!("{kind:?}"),
                    why: format!("exited ({st}): {}", e.log()),
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Input {
                    what: format!("{kind:?}"),
                    why: format!("did not answer within 60 s: {}", e.log()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(e)
    }

    /// The daemon's log so far (the tail).
    pub fn log(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        s[s.len().saturating_sub(2000)..].to_owned()
    }

    /// Row label.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Dockerd => "dockerd 20.10",
            Kind::Dockermind => "dockermindd",
        }
    }

    /// The docker CLI against this daemon; stdout.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new(DOCKER);
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.join("sock").display()),
        )
        .env("DOCKER_CONFIG", self.dir.join("cli"))
        .env_remove("DOCKER_API_VERSION")
        .args(args);
        output(c)
    }

    /// A running container's init pid and address on its first network.
    pub fn pid_ip(&self, id: &str) -> Result<(u32, String)> {
        let o = self.docker(&[
            "inspect",
            "-f",
            "{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            id,
        ])?;
        let mut f = o.split_whitespace();
        let pid = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Ok((pid, f.next().unwrap_or_default().to_owned()))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.docker(&["ps", "-aq"]).map(|ids| {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = self.docker(&[&["rm", "-f"][..], &ids].concat());
            }
        });
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while !matches!(c.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        crate::containerd::unmount_below(&self.dir);
        // The daemons leave the (empty) parent cgroups they made for their containers.
        let rel = self.cgroup_parent.trim_start_matches('/');
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_cgroup_tree(&h.path().join(rel));
        }
    }
}

fn remove_cgroup_tree(p: &Path) {
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_cgroup_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(p);
}
