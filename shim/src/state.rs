//! What the shim knows about its containers and their processes.

use crate::reaper::Exit;
use crate::runtime::Runtime;
use crate::stdio::IoSpec;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::types::task::Status;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

/// How many exits of unknown pids are kept for processes whose pid is not yet known.
const UNMATCHED_KEEP: usize = 256;

/// One process: a container's init or an exec.
#[derive(Default)]
pub struct Proc {
    /// Host pid, 0 until the runtime reported it.
    pub pid: i32,
    /// Lifecycle state as containerd sees it.
    pub status: Status,
    /// The stdio containerd asked for.
    pub io: IoSpec,
    /// Exit status once stopped.
    pub exit_status: u32,
    /// When it stopped.
    pub exited_at: Option<Timestamp>,
    /// TaskExit was published; Wait may return.
    pub exit_published: bool,
    /// A start is in flight: an exit seen now is held until TaskStart is out.
    pub starting: bool,
    /// An exit held while starting.
    pub pending_exit: Option<i32>,
    /// The pty master, for terminals.
    pub console: Option<File>,
    /// Fires when the terminal output is drained.
    pub drained: Option<Receiver<()>>,
    /// The shim's hold on the stdin fifo, until CloseIO.
    pub stdin: Option<crate::stdio::Stdin>,
    /// The OCI process JSON of an exec.
    pub spec: Option<PathBuf>,
}

impl Proc {
    /// Still has (or may get) a live process.
    pub fn alive(&self) -> bool {
        self.status != Status::STOPPED
    }
}

/// One container: its bundle, runtime, init and execs.
pub struct Container {
    /// The bundle dir containerd made.
    pub bundle: PathBuf,
    /// The runtime binary driving it.
    pub runtime: Runtime,
    /// The init process.
    pub init: Proc,
    /// Exec processes by exec id.
    pub execs: HashMap<String, Proc>,
    /// The rootfs was mounted by us and must be unmounted on delete.
    pub rootfs_mounted: bool,
    /// The init exited while execs still ran; its TaskExit waits for them.
    pub init_exit_deferred: bool,
}

impl Container {
    /// The process named by `exec_id` ("" for init).
    pub fn proc(&self, exec_id: &str) -> Option<&Proc> {
        if exec_id.is_empty() {
            Some(&self.init)
        } else {
            self.execs.get(exec_id)
        }
    }

    /// Mutable access to the process named by `exec_id`.
    pub fn proc_mut(&mut self, exec_id: &str) -> Option<&mut Proc> {
        if exec_id.is_empty() {
            Some(&mut self.init)
        } else {
            self.execs.get_mut(exec_id)
        }
    }
}

/// Everything the task service guards with one lock.
#[derive(Default)]
pub struct State {
    /// Containers by id.
    pub containers: HashMap<String, Container>,
    /// Exits of pids nobody claimed yet, with the sequence number they arrived at.
    unmatched: VecDeque<(u64, Exit)>,
    /// Counts exits seen.
    pub seq: u64,
}

impl State {
    /// Finds the live process with `pid`: (container id, exec id or "").
    pub fn find_pid(&self, pid: i32) -> Option<(String, String)> {
        for (cid, c) in &self.containers {
            if c.init.pid == pid && c.init.alive() {
                return Some((cid.clone(), String::new()));
            }
            for (eid, p) in &c.execs {
                if p.pid == pid && p.alive() {
                    return Some((cid.clone(), eid.clone()));
                }
            }
        }
        None
    }

    /// Keeps an exit nobody claimed, for a process whose pid is about to be registered.
    pub fn keep_unmatched(&mut self, e: Exit) {
        self.unmatched.push_back((self.seq, e));
        while self.unmatched.len() > UNMATCHED_KEEP {
            self.unmatched.pop_front();
        }
    }

    /// Takes the exit status of `pid` if it arrived after sequence number `since`.
    pub fn take_unmatched(&mut self, pid: i32, since: u64) -> Option<i32> {
        let i = self
            .unmatched
            .iter()
            .position(|(s, e)| *s >= since && e.pid == pid)?;
        self.unmatched.remove(i).map(|(_, e)| e.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_seen_before_its_pid_is_known_is_kept_for_it() {
        let mut st = State::default();
        let since = st.seq;
        st.seq += 1;
        st.keep_unmatched(Exit { pid: 42, status: 3 });
        assert_eq!(st.take_unmatched(42, since), Some(3));
        assert_eq!(
            st.take_unmatched(42, since),
            None,
            "an exit is handed out once"
        );
    }

    #[test]
    fn exits_older_than_the_registration_window_are_ignored() {
        let mut st = State::default();
        st.keep_unmatched(Exit { pid: 42, status: 1 });
        st.seq += 5;
        assert_eq!(
            st.take_unmatched(42, st.seq),
            None,
            "a reused pid must not match"
        );
    }

    #[test]
    fn unmatched_exits_are_bounded() {
        let mut st = State::default();
        for pid in 0..(UNMATCHED_KEEP as i32 + 10) {
            st.keep_unmatched(Exit { pid, status: 0 });
        }
        assert_eq!(st.take_unmatched(0, 0), None);
        assert_eq!(st.take_unmatched(UNMATCHED_KEEP as i32 + 9, 0), Some(0));
    }
}
