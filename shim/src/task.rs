//! The task operations behind containerd's Task service, over the runtime CLI; rpc.rs maps
//! the ttrpc methods onto them.

use crate::console::{self, ConsoleSocket};
use crate::error::{io, Error, Result};
use crate::events::pack;
use crate::options;
use crate::runtime::{read_pid, Runtime};
use crate::service::{now, record_exit, Core, Out};
use crate::state::{Container, Proc};
use crate::stdio::{self, IoSpec};
use crate::{mounts, oom};
use containerd_shim::api::*;
use containerd_shim::protos::events::task::*;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::topics::*;
use containerd_shim::protos::types::task::ProcessInfo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A process the runtime started.
struct Started {
    pid: i32,
    /// The pty master of a terminal.
    console: Option<std::fs::File>,
    /// Fires when the terminal's output is drained.
    drained: Option<std::sync::mpsc::Receiver<()>>,
    /// The shim's hold on the stdin fifo.
    stdin: Option<stdio::Stdin>,
}

/// The ttrpc-facing task service.
pub struct TaskService {
    pub(crate) core: Arc<Core>,
}

impl TaskService {
    /// A service over `core`.
    pub fn new(core: Arc<Core>) -> TaskService {
        TaskService { core }
    }

    pub(crate) fn with<T>(&self, id: &str, f: impl FnOnce(&Container) -> Result<T>) -> Result<T> {
        let st = self.core.lock();
        let c = st
            .containers
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
        f(c)
    }

    pub(crate) fn with_mut<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.core.lock();
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
        f(c)
    }

    fn runtime_of(&self, id: &str) -> Result<(Runtime, PathBuf)> {
        self.with(id, |c| Ok((c.runtime.clone(), c.bundle.clone())))
    }

    pub(crate) fn do_create(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse> {
        if req.id.is_empty() {
            return Err(Error::InvalidArgument("create: id is empty".into()));
        }
        if self.core.lock().containers.contains_key(&req.id) {
            return Err(Error::AlreadyExists(format!("container {}", req.id)));
        }
        if !req.checkpoint.is_empty() {
            return Err(Error::Unimplemented(
                "create from checkpoint is not supported by containerd-shim-dockermind-v2".into(),
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        let runtime = options::from_any(req.options.as_ref(), &self.core.namespace)?;
        options::save(&bundle, &runtime)?;
        let rootfs_mounted = !req.rootfs.is_empty();
        if rootfs_mounted {
            mounts::mount_rootfs(&req.rootfs, &bundle.join("rootfs"))?;
        }
        let io = IoSpec {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let since = self.core.lock().seq;
        let created = self.create_init(&req.id, &bundle, &runtime, &io);
        let Started {
            pid,
            console,
            drained,
            stdin,
        } = match created {
            Ok(v) => v,
            Err(e) => {
                let _ = runtime.delete(&bundle, &req.id, true);
                if rootfs_mounted {
                    mounts::unmount_rootfs(&bundle.join("rootfs"));
                }
                return Err(e);
            }
        };
        let mut out = vec![Out::Event(
            TASK_CREATE_EVENT_TOPIC,
            pack(&TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: Some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                })
                .into(),
                checkpoint: req.checkpoint.clone(),
                pid: pid as u32,
                ..Default::default()
            }),
        )];
        {
            let mut st = self.core.lock();
            let init = Proc {
                pid,
                status: containerd_shim::api::Status::CREATED,
                io,
                console,
                drained,
                stdin,
                ..Default::default()
            };
            st.containers.insert(
                req.id.clone(),
                Container {
                    bundle,
                    runtime,
                    init,
                    execs: HashMap::new(),
                    rootfs_mounted,
                    init_exit_deferred: false,
                },
            );
            if let Some(status) = st.take_unmatched(pid, since) {
                record_exit(&mut st, &req.id, "", status, &mut out);
            }
        }
        self.core.flush(out);
        if let Err(e) = oom::watch(&self.core, &req.id, pid) {
            eprintln!("container {}: no OOM events: {e}", req.id);
        }
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn create_init(
        &self,
        id: &str,
        bundle: &Path,
        runtime: &Runtime,
        io: &IoSpec,
    ) -> Result<Started> {
        let pid_file = bundle.join("init.pid");
        let b = bundle.to_string_lossy().into_owned();
        let pf = pid_file.to_string_lossy().into_owned();
        let args = ["create", "--bundle", &b, "--pid-file", &pf];
        self.launch(runtime, bundle, &args, id, io, &pid_file)
    }

    /// Runs `args` (create or exec) with `id` last, attached to a console socket or to the
    /// fds `io` names, and returns what it started.
    fn launch(
        &self,
        runtime: &Runtime,
        bundle: &Path,
        args: &[&str],
        id: &str,
        io: &IoSpec,
        pid_file: &Path,
    ) -> Result<Started> {
        let mut args = args.to_vec();
        if io.terminal {
            let sock = ConsoleSocket::new()?;
            let sp = sock.path().to_string_lossy().into_owned();
            args.extend(["--console-socket", &sp, id]);
            runtime.run(bundle, &args)?;
            let master = sock.receive()?;
            let (drained, stdin) = console::start_copy(&master, &io.stdin, &io.stdout)?;
            return Ok(Started {
                pid: read_pid(pid_file)?,
                console: Some(master),
                drained: Some(drained),
                stdin,
            });
        }
        let (fds, stdin) = stdio::open(io, &self.core.namespace, id)?;
        args.push(id);
        runtime.run_with(bundle, &args, fds)?;
        Ok(Started {
            pid: read_pid(pid_file)?,
            console: None,
            drained: None,
            stdin,
        })
    }

    pub(crate) fn start_init(&self, id: &str) -> Result<StartResponse> {
        let (runtime, bundle) = {
            let mut st = self.core.lock();
            let c = st
                .containers
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            if c.init.status != Status::CREATED {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is not in created state"
                )));
            }
            c.init.starting = true;
            (c.runtime.clone(), c.bundle.clone())
        };
        let r = runtime.run(&bundle, &["start", id]);
        // The lock was not held across the runtime call: a Delete may have removed the record.
        let gone = || Error::NotFound(format!("container {id} was deleted while starting"));
        let pid;
        {
            let mut st = self.core.lock();
            let c = st.containers.get_mut(id).ok_or_else(gone)?;
            pid = c.init.pid;
            if r.is_ok() {
                c.init.status = Status::RUNNING;
            }
        }
        if r.is_ok() {
            // Published while still `starting`: an exit reaped meanwhile is held back, so
            // containerd never sees TaskExit before TaskStart.
            let start = pack(&TaskStart {
                container_id: id.to_owned(),
                pid: pid as u32,
                ..Default::default()
            });
            self.core
                .flush(vec![Out::Event(TASK_START_EVENT_TOPIC, start)]);
        }
        let mut out = Vec::new();
        {
            let mut st = self.core.lock();
            let c = st.containers.get_mut(id).ok_or_else(gone)?;
            c.init.starting = false;
            if let Some(status) = c.init.pending_exit.take() {
                record_exit(&mut st, id, "", status, &mut out);
            }
        }
        self.core.flush(out);
        r?;
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    pub(crate) fn start_exec(&self, id: &str, eid: &str) -> Result<StartResponse> {
        let (runtime, bundle, io, spec, since) = {
            let mut st = self.core.lock();
            let since = st.seq;
            let c = st
                .containers
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            if !c.init.alive() {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is not running"
                )));
            }
            let (runtime, bundle) = (c.runtime.clone(), c.bundle.clone());
            let p = c
                .execs
                .get_mut(eid)
                .ok_or_else(|| Error::NotFound(format!("exec {eid} in {id}")))?;
            if p.status != Status::CREATED {
                return Err(Error::FailedPrecondition(format!(
                    "exec {eid} already started"
                )));
            }
            p.starting = true;
            (
                runtime,
                bundle,
                p.io.clone(),
                p.spec.clone().unwrap(),
                since,
            )
        };
        let r = self.run_exec(id, eid, &runtime, &bundle, &io, &spec);
        let pid = {
            let mut st = self.core.lock();
            let p = st.containers.get_mut(id).and_then(|c| c.execs.get_mut(eid));
            let Some(p) = p else {
                return Err(Error::NotFound(format!("exec {eid} in {id}")));
            };
            match r {
                Ok(started) => {
                    // Still `starting`: from here an exit of `pid` is held as pending.
                    p.pid = started.pid;
                    p.status = Status::RUNNING;
                    p.console = started.console;
                    p.drained = started.drained;
                    p.stdin = started.stdin;
                    started.pid
                }
                Err(e) => {
                    p.starting = false;
                    p.status = Status::STOPPED;
                    p.exit_published = true;
                    drop(st);
                    self.core.notify();
                    return Err(e);
                }
            }
        };
        // Published before any exit of the exec can be (see start_init).
        let started = pack(&TaskExecStarted {
            container_id: id.to_owned(),
            exec_id: eid.to_owned(),
            pid: pid as u32,
            ..Default::default()
        });
        self.core
            .flush(vec![Out::Event(TASK_EXEC_STARTED_EVENT_TOPIC, started)]);
        let mut out = Vec::new();
        {
            let mut st = self.core.lock();
            if let Some(p) = st.containers.get_mut(id).and_then(|c| c.execs.get_mut(eid)) {
                p.starting = false;
                let pending = p.pending_exit.take();
                if let Some(status) = pending.or_else(|| st.take_unmatched(pid, since)) {
                    record_exit(&mut st, id, eid, status, &mut out);
                }
            }
        }
        self.core.flush(out);
        self.core.notify();
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn run_exec(
        &self,
        id: &str,
        eid: &str,
        runtime: &Runtime,
        bundle: &Path,
        io: &IoSpec,
        spec: &Path,
    ) -> Result<Started> {
        let pid_file = bundle.join(format!("{eid}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let sp = spec.to_string_lossy().into_owned();
        let pf = pid_file.to_string_lossy().into_owned();
        let args = ["exec", "--process", &sp, "--detach", "--pid-file", &pf];
        self.launch(runtime, bundle, &args, id, io, &pid_file)
    }

    pub(crate) fn do_delete(&self, req: &DeleteRequest) -> Result<DeleteResponse> {
        let id = &req.id;
        if !req.exec_id.is_empty() {
            let mut st = self.core.lock();
            let c = st
                .containers
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| Error::NotFound(format!("exec {} in {id}", req.exec_id)))?;
            if p.alive() && p.status != Status::CREATED {
                return Err(Error::FailedPrecondition(format!(
                    "exec {} is still running",
                    req.exec_id
                )));
            }
            let p = c.execs.remove(&req.exec_id).unwrap();
            if let Some(spec) = &p.spec {
                let _ = std::fs::remove_file(spec);
            }
            drop(st);
            self.core.notify();
            return Ok(DeleteResponse {
                pid: p.pid as u32,
                exit_status: p.exit_status,
                exited_at: p.exited_at.into(),
                ..Default::default()
            });
        }
        let (runtime, bundle, status) = self.with(id, |c| {
            Ok((c.runtime.clone(), c.bundle.clone(), c.init.status))
        })?;
        match status {
            Status::STOPPED => runtime.delete(&bundle, id, false)?,
            Status::CREATED => runtime.delete(&bundle, id, true)?,
            _ => {
                return Err(Error::FailedPrecondition(format!(
                    "container {id} is running: kill it first"
                )))
            }
        }
        let c = self.core.lock().containers.remove(id);
        self.core.notify();
        oom::unwatch(id);
        let Some(c) = c else {
            return Err(Error::NotFound(format!("container {id}")));
        };
        if c.rootfs_mounted {
            mounts::unmount_rootfs(&c.bundle.join("rootfs"));
        }
        let exited_at = c.init.exited_at.clone().unwrap_or_else(now);
        self.core.publish(
            TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: id.clone(),
                pid: c.init.pid as u32,
                exit_status: c.init.exit_status,
                exited_at: Some(exited_at.clone()).into(),
                ..Default::default()
            },
        );
        Ok(DeleteResponse {
            pid: c.init.pid as u32,
            exit_status: c.init.exit_status,
            exited_at: Some(exited_at).into(),
            ..Default::default()
        })
    }

    pub(crate) fn do_exec(&self, req: ExecProcessRequest) -> Result<()> {
        let spec = req
            .spec
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("exec: spec is missing".into()))?;
        let mut st = self.core.lock();
        let c = st
            .containers
            .get_mut(&req.id)
            .ok_or_else(|| Error::NotFound(format!("container {}", req.id)))?;
        if req.exec_id.is_empty() || req.exec_id.contains('/') {
            return Err(Error::InvalidArgument(format!("exec id {:?}", req.exec_id)));
        }
        if c.execs.contains_key(&req.exec_id) {
            return Err(Error::AlreadyExists(format!("exec {}", req.exec_id)));
        }
        let path = c.bundle.join(format!("exec-{}.json", req.exec_id));
        std::fs::write(&path, &spec.value).map_err(io(format!("write {}", path.display())))?;
        c.execs.insert(
            req.exec_id.clone(),
            Proc {
                status: Status::CREATED,
                io: IoSpec {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
                spec: Some(path),
                ..Default::default()
            },
        );
        drop(st);
        self.core.publish(
            TASK_EXEC_ADDED_EVENT_TOPIC,
            TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
        );
        Ok(())
    }

    pub(crate) fn do_kill(&self, req: &KillRequest) -> Result<()> {
        let (runtime, bundle, pid, alive) = self.with(&req.id, |c| {
            let p = c
                .proc(&req.exec_id)
                .ok_or_else(|| Error::NotFound(format!("exec {} in {}", req.exec_id, req.id)))?;
            Ok((c.runtime.clone(), c.bundle.clone(), p.pid, p.alive()))
        })?;
        if !req.exec_id.is_empty() {
            if !alive || pid <= 0 {
                return Err(Error::NotFound(format!(
                    "exec {}: process already finished",
                    req.exec_id
                )));
            }
            // SAFETY: kill(2) on the exec's pid, a live child we track.
            if unsafe { libc::kill(pid, req.signal as i32) } != 0 {
                return Err(io(format!("kill exec {}", req.exec_id))(
                    std::io::Error::last_os_error(),
                ));
            }
            return Ok(());
        }
        if !alive && !req.all {
            return Err(Error::NotFound(format!(
                "container {}: process already finished",
                req.id
            )));
        }
        let sig = req.signal.to_string();
        let mut args = vec!["kill"];
        if req.all {
            args.push("--all");
        }
        args.extend([req.id.as_str(), sig.as_str()]);
        match runtime.run(&bundle, &args) {
            Ok(_) => Ok(()),
            Err(_) if !self.with(&req.id, |c| Ok(c.init.alive()))? => Err(Error::NotFound(
                format!("container {}: process already finished", req.id),
            )),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn set_paused(&self, id: &str, pause: bool) -> Result<()> {
        let (runtime, bundle) = self.runtime_of(id)?;
        runtime.run(&bundle, &[if pause { "pause" } else { "resume" }, id])?;
        {
            let mut st = self.core.lock();
            if let Some(c) = st.containers.get_mut(id) {
                if c.init.alive() {
                    c.init.status = if pause {
                        Status::PAUSED
                    } else {
                        Status::RUNNING
                    };
                }
            }
        }
        if pause {
            self.core.publish(
                TASK_PAUSED_EVENT_TOPIC,
                TaskPaused {
                    container_id: id.to_owned(),
                    ..Default::default()
                },
            );
        } else {
            self.core.publish(
                TASK_RESUMED_EVENT_TOPIC,
                TaskResumed {
                    container_id: id.to_owned(),
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    pub(crate) fn do_pids(&self, id: &str) -> Result<PidsResponse> {
        let (runtime, bundle) = self.runtime_of(id)?;
        let pids = runtime.ps(&bundle, id)?;
        let execs: HashMap<i32, String> = self.with(id, |c| {
            Ok(c.execs
                .iter()
                .filter(|(_, p)| p.pid > 0)
                .map(|(k, p)| (p.pid, k.clone()))
                .collect())
        })?;
        let processes = pids
            .into_iter()
            .map(|pid| {
                let info = execs.get(&(pid as i32)).map(|eid| {
                    let d = ProcessDetails {
                        exec_id: eid.clone(),
                        ..Default::default()
                    };
                    Any {
                        type_url: "containerd.runc.v1.ProcessDetails".into(),
                        value: d.write_to_bytes().unwrap_or_default(),
                        ..Default::default()
                    }
                });
                ProcessInfo {
                    pid,
                    info: info.into(),
                    ..Default::default()
                }
            })
            .collect();
        Ok(PidsResponse {
            processes,
            ..Default::default()
        })
    }

    pub(crate) fn do_wait(&self, id: &str, eid: &str) -> Result<WaitResponse> {
        let mut st = self.core.lock();
        loop {
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            let p = c
                .proc(eid)
                .ok_or_else(|| Error::NotFound(format!("exec {eid} in {id}")))?;
            if p.exit_published {
                return Ok(WaitResponse {
                    exit_status: p.exit_status,
                    exited_at: p.exited_at.clone().into(),
                    ..Default::default()
                });
            }
            st = self.core.wait_change(st);
        }
    }

    pub(crate) fn do_state(&self, req: &StateRequest) -> Result<StateResponse> {
        self.with(&req.id, |c| {
            let p = c
                .proc(&req.exec_id)
                .ok_or_else(|| Error::NotFound(format!("exec {} in {}", req.exec_id, req.id)))?;
            Ok(StateResponse {
                id: if req.exec_id.is_empty() {
                    req.id.clone()
                } else {
                    req.exec_id.clone()
                },
                bundle: c.bundle.to_string_lossy().into_owned(),
                pid: p.pid.max(0) as u32,
                status: p.status.into(),
                stdin: p.io.stdin.clone(),
                stdout: p.io.stdout.clone(),
                stderr: p.io.stderr.clone(),
                terminal: p.io.terminal,
                exit_status: p.exit_status,
                exited_at: p.exited_at.clone().into(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            })
        })
    }

    pub(crate) fn do_update(&self, req: &UpdateTaskRequest) -> Result<()> {
        let (runtime, bundle) = self.runtime_of(&req.id)?;
        let res = req
            .resources
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("update: resources missing".into()))?;
        let path = bundle.join("update-resources.json");
        std::fs::write(&path, &res.value).map_err(io(format!("write {}", path.display())))?;
        let p = path.to_string_lossy().into_owned();
        let r = runtime.run(&bundle, &["update", "--resources", &p, &req.id]);
        let _ = std::fs::remove_file(&path);
        r.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Container;
    use std::os::unix::fs::PermissionsExt;

    /// A runtime whose `start` blocks on a fifo the test opens once a Delete has gone through.
    const GATED_START: &str = r#"#!/bin/sh
for a; do
  case $a in
    start) cat "$(dirname "$0")/gate" >/dev/null ;;
  esac
done
exit 0
"#;

    /// A Delete that removes the container while its Start waits on the runtime: the Start
    /// fails with an error naming the container instead of panicking (which, with
    /// `panic = "abort"`, would take the shim and every container it serves down).
    #[test]
    fn delete_racing_start_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("dm-shim-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("runtime");
        std::fs::write(&script, GATED_START).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let gate = dir.join("gate");
        nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::S_IRWXU).unwrap();

        let core = Arc::new(Core::new(
            "ns".into(),
            dir.join("no-containerd").display().to_string(),
        ));
        let svc = TaskService::new(core.clone());
        core.lock().containers.insert(
            "c1".into(),
            Container {
                bundle: dir.clone(),
                runtime: Runtime {
                    binary: script.display().to_string(),
                    root: dir.join("root").display().to_string(),
                    systemd_cgroup: false,
                },
                init: crate::state::Proc {
                    status: Status::CREATED,
                    ..Default::default()
                },
                execs: HashMap::new(),
                rootfs_mounted: false,
                init_exit_deferred: false,
            },
        );
        let starter = {
            let svc = TaskService::new(core.clone());
            std::thread::spawn(move || svc.start_init("c1").map(|r| r.pid))
        };
        // Start marks the init `starting` before it calls the runtime, which then blocks.
        while !core.lock().containers["c1"].init.starting {
            std::thread::yield_now();
        }
        let req = DeleteRequest {
            id: "c1".into(),
            ..Default::default()
        };
        svc.do_delete(&req).unwrap();
        // Releases the runtime's `start`.
        std::fs::write(&gate, "go").unwrap();
        let e = starter.join().expect("start panicked").unwrap_err();
        assert!(e.to_string().contains("c1"), "{e}");
        assert!(core.lock().containers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
