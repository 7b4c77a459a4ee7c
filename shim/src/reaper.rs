//! Reaps every child (the shim is a subreaper) and routes each exit to whoever waits for it.
//!
//! Runtime commands register their pid before anyone can reap it; all other exits (container
//! inits, execs, runtime helpers reparented to us) go to the exit handler.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

/// An exit seen by the reaper: pid and status (128+signal when killed).
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// The process that ended.
    pub pid: i32,
    /// Its exit status.
    pub status: i32,
}

struct Routes {
    commands: HashMap<i32, Sender<i32>>,
    others: Option<Sender<Exit>>,
}

fn routes() -> &'static Mutex<Routes> {
    static R: OnceLock<Mutex<Routes>> = OnceLock::new();
    R.get_or_init(|| {
        Mutex::new(Routes {
            commands: HashMap::new(),
            others: None,
        })
    })
}

/// Blocks SIGCHLD in the calling thread; call before any thread starts so all inherit it.
pub fn block_sigchld() {
    // SAFETY: plain sigset manipulation on a local set; pthread_sigmask affects this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Starts the reaper thread; exits not claimed by a runtime command go to the receiver.
pub fn start() -> Receiver<Exit> {
    let (tx, rx) = channel();
    routes().lock().unwrap().others = Some(tx);
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(64 * 1024)
        .spawn(reap_forever)
        .expect("spawn reaper thread");
    rx
}

fn reap_forever() {
    // SAFETY: sigset manipulation on a local; sigwaitinfo waits for the blocked SIGCHLD.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    };
    loop {
        reap_all();
        // SAFETY: set is a valid sigset; a null siginfo pointer is allowed.
        unsafe {
            libc::sigwaitinfo(&set, std::ptr::null_mut());
        }
    }
}

fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            continue;
        };
        let mut r = routes().lock().unwrap();
        if let Some(tx) = r.commands.remove(&pid) {
            let _ = tx.send(code);
        } else {
            if let Some(tx) = &r.others {
                let _ = tx.send(Exit { pid, status: code });
            }
            // containerd-shim's mount helper forks and waits through its own monitor.
            let _ = containerd_shim::synchronous::monitor::monitor_notify_by_pid(pid, code);
        }
    }
}

/// A spawned command whose exit the reaper reports to us (never `wait` on the Child).
pub struct Spawned {
    /// The child, for its pipes.
    pub child: Child,
    exit: Receiver<i32>,
}

impl Spawned {
    /// Waits for the exit status (directly when no reaper thread runs, as in `delete`).
    pub fn wait(mut self) -> i32 {
        if routes().lock().unwrap().others.is_none() {
            use std::os::unix::process::ExitStatusExt;
            return match self.child.wait() {
                Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                Err(_) => -1,
            };
        }
        self.exit.recv().unwrap_or(-1)
    }
}

/// Spawns `cmd` with its exit routed back to the caller.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Spawned> {
    let (tx, rx) = channel();
    // Holding the lock across spawn means the reaper cannot see the exit before the route.
    let mut r = routes().lock().unwrap();
    let child = cmd.spawn()?;
    r.commands.insert(child.id() as i32, tx);
    Ok(Spawned { child, exit: rx })
}
