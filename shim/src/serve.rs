//! The serving shim: listens on its socket, serves the Task API until Shutdown.

use crate::reaper;
use crate::service::Core;
use crate::start::serving;
use crate::task::TaskService;
use anyhow::{Context, Result};
use containerd_shim::protos::create_task;
use containerd_shim::protos::ttrpc::Server;
use containerd_shim::Flags;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::sync::Arc;

const V3: &str = "/containerd.task.v3.Task/";
const V2: &str = "/containerd.task.v2.Task/";

/// Serves until containerd calls Shutdown with no containers left.
pub fn serve(flags: &Flags) -> Result<()> {
    // Before any thread exists, so every thread inherits the mask and only the reaper sees it.
    reaper::block_sigchld();
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
        return Err(std::io::Error::last_os_error()).context("become subreaper");
    }
    let path = flags
        .socket
        .strip_prefix("unix://")
        .unwrap_or(&flags.socket);
    let Some(listener) = bind(path)? else {
        // Another shim of this group won the race and serves the address.
        return Ok(());
    };
    redirect_stdio();

    let ttrpc = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
    let core = Arc::new(Core::new(flags.namespace.clone(), ttrpc));
    let exits = reaper::start();
    let c = core.clone();
    std::thread::Builder::new()
        .name("exits".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            for e in exits {
                c.on_exit(e);
            }
        })
        .context("spawn exit thread")?;

    let svc: Arc<dyn containerd_shim::Task + Send + Sync> =
        Arc::new(TaskService::new(core.clone()));
    let mut methods = create_task(svc.clone());
    // containerd 1.6 calls task v2, 2.x calls v3; the messages are the same on the wire.
    methods.extend(
        create_task(svc)
            .into_iter()
            .map(|(k, v)| (k.replace(V3, V2), v)),
    );
    let mut server = Server::new()
        .add_listener(listener.into_raw_fd())?
        .register_service(methods)
        .set_thread_count_min(1)
        .set_thread_count_default(2)
        .set_thread_count_max(3);
    server.start().context("start ttrpc server")?;
    // Learn the binary's mappings now, while /proc/self/exe still names this binary.
    crate::trim::start();

    let (m, cv) = &core.shutdown;
    let mut done = m.lock().unwrap();
    while !*done {
        done = cv.wait(done).unwrap();
    }
    drop(done);
    let _ = std::fs::remove_file(path);
    // Exit without tearing down the server threads: nothing is left to flush.
    std::process::exit(0);
}

/// Binds the socket; None when a live shim already serves it.
fn bind(path: &str) -> Result<Option<UnixListener>> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    match UnixListener::bind(path) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if serving(path) {
                return Ok(None);
            }
            std::fs::remove_file(path).with_context(|| format!("remove stale {path}"))?;
            Ok(Some(
                UnixListener::bind(path).with_context(|| format!("bind {path}"))?,
            ))
        }
        Err(e) => Err(e).with_context(|| format!("bind {path}")),
    }
}

/// stdout closes (the start action waits for that); stderr goes to containerd's shim log fifo.
fn redirect_stdio() {
    let log = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("log")
        .or_else(|_| std::fs::OpenOptions::new().write(true).open("/dev/null"));
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null");
    // SAFETY: dup2 onto the standard fds with fds we opened just above.
    unsafe {
        if let Ok(n) = &null {
            libc::dup2(n.as_raw_fd(), 0);
            libc::dup2(n.as_raw_fd(), 1);
        }
        if let Ok(l) = &log {
            libc::dup2(l.as_raw_fd(), 2);
        }
    }
}
