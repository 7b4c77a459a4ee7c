//! containerd's Task service methods (served under task v2 and v3 names) mapped onto the
//! task operations in task.rs.

use crate::console;
use crate::error::{Error, Result};
use crate::metrics;
use crate::task::TaskService;
use containerd_shim::api::*;
use containerd_shim::protos::ttrpc::{self, TtrpcContext};
use containerd_shim::Task;

fn ok<T>(r: Result<T>) -> ttrpc::Result<T> {
    crate::trim::soon();
    r.map_err(Into::into)
}

impl Task for TaskService {
    fn state(&self, _: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        ok(self.do_state(&req))
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> ttrpc::Result<CreateTaskResponse> {
        ok(self.do_create(req))
    }

    fn start(&self, _: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        if req.exec_id.is_empty() {
            ok(self.start_init(&req.id))
        } else {
            ok(self.start_exec(&req.id, &req.exec_id))
        }
    }

    fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        ok(self.do_delete(&req))
    }

    fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        ok(self.do_pids(&req.id))
    }

    fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> ttrpc::Result<Empty> {
        ok(self.set_paused(&req.id, true).map(|_| Empty::new()))
    }

    fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> ttrpc::Result<Empty> {
        ok(self.set_paused(&req.id, false).map(|_| Empty::new()))
    }

    fn checkpoint(&self, _: &TtrpcContext, _: CheckpointTaskRequest) -> ttrpc::Result<Empty> {
        ok(Err(Error::Unimplemented(
            "checkpoint is not supported by containerd-shim-dockermind-v2".into(),
        )))
    }

    fn kill(&self, _: &TtrpcContext, req: KillRequest) -> ttrpc::Result<Empty> {
        ok(self.do_kill(&req).map(|_| Empty::new()))
    }

    fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        ok(self.do_exec(req).map(|_| Empty::new()))
    }

    fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        ok(self
            .with(&req.id, |c| {
                let p = c
                    .proc(&req.exec_id)
                    .ok_or_else(|| Error::NotFound(format!("exec {}", req.exec_id)))?;
                match &p.console {
                    Some(m) => console::resize(m, req.width, req.height),
                    None => Err(Error::FailedPrecondition("process has no terminal".into())),
                }
            })
            .map(|_| Empty::new()))
    }

    fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> ttrpc::Result<Empty> {
        // Our hold on the stdin fifo goes: the process sees EOF once the client closes too.
        ok(self
            .with_mut(&req.id, |c| {
                let p = c
                    .proc_mut(&req.exec_id)
                    .ok_or_else(|| Error::NotFound(format!("exec {}", req.exec_id)))?;
                if req.stdin {
                    p.stdin = None;
                }
                Ok(())
            })
            .map(|_| Empty::new()))
    }

    fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        ok(self.do_update(&req).map(|_| Empty::new()))
    }

    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        ok(self.do_wait(&req.id, &req.exec_id))
    }

    fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        let pid = self.with(&req.id, |c| Ok(c.init.pid));
        ok(pid
            .and_then(|pid| metrics::stats(pid as u32))
            .map(|stats| StatsResponse {
                stats: Some(stats).into(),
                ..Default::default()
            }))
    }

    fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> ttrpc::Result<ConnectResponse> {
        let task_pid = self.with(&req.id, |c| Ok(c.init.pid)).unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: task_pid.max(0) as u32,
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> ttrpc::Result<Empty> {
        if self.core.lock().containers.is_empty() {
            let (m, cv) = &self.core.shutdown;
            *m.lock().unwrap() = true;
            cv.notify_all();
        }
        Ok(Empty::new())
    }
}
