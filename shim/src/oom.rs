//! TaskOOM events: one thread waits on a cgroup v1 OOM eventfd per container
//! (`cgroup.event_control` + `memory.oom_control`).

use crate::error::{io, Result};
use crate::service::Core;
use containerd_shim::protos::events::task::TaskOOM;
use containerd_shim::protos::topics::TASK_OOM_EVENT_TOPIC;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

struct Watch {
    container: String,
    dir: PathBuf,
    efd: EventFd,
}

struct Watcher {
    epoll: Epoll,
    watches: Mutex<HashMap<u64, Watch>>,
    next: Mutex<u64>,
}

static W: OnceLock<Watcher> = OnceLock::new();

fn watcher(core: &Arc<Core>) -> Result<&'static Watcher> {
    if let Some(w) = W.get() {
        return Ok(w);
    }
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| io("epoll_create")(e.into()))?;
    let w = W.get_or_init(|| Watcher {
        epoll,
        watches: Mutex::new(HashMap::new()),
        next: Mutex::new(0),
    });
    let weak = Arc::downgrade(core);
    std::thread::Builder::new()
        .name("oom".into())
        .stack_size(64 * 1024)
        .spawn(move || run(w, weak))
        .map_err(io("spawn oom thread"))?;
    Ok(w)
}

/// The v1 memory cgroup dir of `pid`, if the memory controller is a v1 hierarchy.
fn memory_dir(pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let rel = text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        ctrls
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.to_owned())
    })?;
    let dir = Path::new("/sys/fs/cgroup/memory").join(rel.trim_start_matches('/'));
    dir.join("memory.oom_control").exists().then_some(dir)
}

/// Starts reporting OOM kills in the cgroup of `pid` as TaskOOM for `container`. Hosts without
/// a v1 memory controller for the task are skipped.
pub fn watch(core: &Arc<Core>, container: &str, pid: i32) -> Result<()> {
    let Some(dir) = memory_dir(pid) else {
        return Ok(());
    };
    let w = watcher(core)?;
    let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(|e| io("eventfd")(e.into()))?;
    let ctl = std::fs::File::open(dir.join("memory.oom_control"))
        .map_err(io(format!("open {}/memory.oom_control", dir.display())))?;
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_fd().as_raw_fd(), ctl.as_raw_fd()),
    )
    .map_err(io(format!("write {}/cgroup.event_control", dir.display())))?;
    let token = {
        let mut n = w.next.lock().unwrap();
        *n += 1;
        *n
    };
    w.epoll
        .add(&efd, EpollEvent::new(EpollFlags::EPOLLIN, token))
        .map_err(|e| io("epoll_ctl")(e.into()))?;
    w.watches.lock().unwrap().insert(
        token,
        Watch {
            container: container.to_owned(),
            dir,
            efd,
        },
    );
    Ok(())
}

/// Stops watching `container`.
pub fn unwatch(container: &str) {
    let Some(w) = W.get() else {
        return;
    };
    let mut ws = w.watches.lock().unwrap();
    let tokens: Vec<u64> = ws
        .iter()
        .filter(|(_, x)| x.container == container)
        .map(|(t, _)| *t)
        .collect();
    for t in tokens {
        if let Some(x) = ws.remove(&t) {
            let _ = w.epoll.delete(&x.efd);
        }
    }
}

fn run(w: &'static Watcher, core: Weak<Core>) {
    let mut events = [EpollEvent::empty(); 8];
    loop {
        let n = match w.epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        for ev in &events[..n] {
            let token = ev.data();
            let container = {
                let mut ws = w.watches.lock().unwrap();
                let Some(x) = ws.get(&token) else { continue };
                let _ = x.efd.read();
                // The eventfd also fires when the cgroup goes away.
                if !x.dir.join("memory.oom_control").exists() {
                    if let Some(x) = ws.remove(&token) {
                        let _ = w.epoll.delete(&x.efd);
                    }
                    continue;
                }
                x.container.clone()
            };
            let Some(core) = core.upgrade() else { return };
            core.publish(
                TASK_OOM_EVENT_TOPIC,
                TaskOOM {
                    container_id: container,
                    ..Default::default()
                },
            );
        }
    }
}
