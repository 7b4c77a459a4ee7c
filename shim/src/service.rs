//! The task service's core: the state lock, exit handling with containerd's event ordering, and
//! event publication. The task operations live in task.rs, the ttrpc methods mapped onto them
//! in rpc.rs.

use crate::console;
use crate::events::Publisher;
use crate::reaper::Exit;
use crate::state::State;
use containerd_shim::protos::events::task::TaskExit;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::topics::TASK_EXIT_EVENT_TOPIC;
use containerd_shim::protos::types::task::Status;
use std::sync::mpsc::Receiver;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Something to do after the state lock is released, in order.
pub enum Out {
    /// Publish an event.
    Event(&'static str, Any),
    /// A process exited: wait for its terminal output, publish TaskExit, then let Wait return.
    Exit {
        /// Its TaskExit event.
        event: TaskExit,
        /// Terminal drain signal, if any.
        drained: Option<Receiver<()>>,
    },
}

/// Shared state of the task service.
pub struct Core {
    /// The namespace this shim serves.
    pub namespace: String,
    state: Mutex<State>,
    changed: Condvar,
    publisher: Publisher,
    /// Set by Shutdown; main waits for it.
    pub shutdown: (Mutex<bool>, Condvar),
}

/// Now as a protobuf timestamp.
pub fn now() -> Timestamp {
    containerd_shim::util::timestamp().unwrap_or_default()
}

impl Core {
    /// A core publishing to containerd's ttrpc address.
    pub fn new(namespace: String, ttrpc_address: String) -> Core {
        Core {
            publisher: Publisher::new(ttrpc_address, namespace.clone()),
            namespace,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            shutdown: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Waits on the state condition (exits published, containers deleted).
    pub fn wait_change<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(g).unwrap()
    }

    /// Wakes Wait calls.
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Handles one reaped exit.
    pub fn on_exit(&self, e: Exit) {
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            st.seq += 1;
            match st.find_pid(e.pid) {
                Some((cid, eid)) => {
                    let p = st.containers.get_mut(&cid).unwrap().proc_mut(&eid).unwrap();
                    if p.starting {
                        p.pending_exit = Some(e.status);
                    } else {
                        record_exit(&mut st, &cid, &eid, e.status, &mut out);
                    }
                }
                None => st.keep_unmatched(e),
            }
        }
        self.flush(out);
    }

    /// Carries out `out` in order, outside the lock.
    pub fn flush(&self, out: Vec<Out>) {
        for o in out {
            match o {
                Out::Event(topic, ev) => self.publisher.publish(topic, ev),
                Out::Exit { event, drained } => {
                    if let Some(d) = drained {
                        console::wait_drained(&d);
                    }
                    self.publisher
                        .publish(TASK_EXIT_EVENT_TOPIC, crate::events::pack(&event));
                    let mut st = self.lock();
                    if let Some(p) = st
                        .containers
                        .get_mut(&event.container_id)
                        .and_then(|c| c.proc_mut(exec_key(&event)))
                    {
                        p.exit_published = true;
                    }
                    drop(st);
                    self.notify();
                    crate::trim::soon();
                }
            }
        }
    }

    /// Publishes one event now (no lock held).
    pub fn publish<E: crate::events::Event>(&self, topic: &'static str, ev: E) {
        self.publisher.publish(topic, crate::events::pack(&ev));
    }
}

/// TaskExit carries the container id as `id` for the init.
fn exec_key(ev: &TaskExit) -> &str {
    if ev.id == ev.container_id {
        ""
    } else {
        &ev.id
    }
}

/// Marks process `eid` of `cid` stopped with `status` and queues its TaskExit; an init's exit
/// waits until its execs are gone (they are killed), so containerd sees execs end first.
pub fn record_exit(st: &mut State, cid: &str, eid: &str, status: i32, out: &mut Vec<Out>) {
    let c = st.containers.get_mut(cid).unwrap();
    let p = c.proc_mut(eid).unwrap();
    p.status = Status::STOPPED;
    p.exit_status = status as u32;
    p.exited_at = Some(now());
    p.pending_exit = None;
    let ev = exit_event(cid, eid, p);
    let drained = p.drained.take();
    if eid.is_empty() {
        let live: Vec<i32> = c
            .execs
            .values()
            .filter(|x| x.alive() && x.pid > 0)
            .map(|x| x.pid)
            .collect();
        if !live.is_empty() {
            for pid in live {
                // SAFETY: kill(2) on a pid we track as a live child of ours.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            c.init_exit_deferred = true;
            c.init.drained = drained;
            return;
        }
        out.push(Out::Exit { event: ev, drained });
        return;
    }
    out.push(Out::Exit { event: ev, drained });
    let execs_left = c.execs.values().any(|x| x.alive() && x.pid > 0);
    if c.init_exit_deferred && !execs_left {
        c.init_exit_deferred = false;
        let ev = exit_event(cid, "", &c.init);
        out.push(Out::Exit {
            event: ev,
            drained: c.init.drained.take(),
        });
    }
}

fn exit_event(cid: &str, eid: &str, p: &crate::state::Proc) -> TaskExit {
    TaskExit {
        container_id: cid.to_owned(),
        id: if eid.is_empty() { cid } else { eid }.to_owned(),
        pid: p.pid as u32,
        exit_status: p.exit_status,
        exited_at: p.exited_at.clone().into(),
        ..Default::default()
    }
}
