//! Our containerd shim, driven as containerd drives it: the `start` action launches a shim per
//! container and prints its ttrpc address; then Create/Start/Kill/Wait/Delete/Shutdown over
//! the task API. Exits come back as TaskExit events on the events socket we serve.

use containerd_shim_protos::api::{
    CloseIORequest, CreateTaskRequest, DeleteRequest, ExecProcessRequest, KillRequest,
    PauseRequest, ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest, StateRequest,
    StateResponse, UpdateTaskRequest,
};
use containerd_shim_protos::events::task::TaskExit;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::shim::oci::Options;
use containerd_shim_protos::ttrpc::{self, context};
use containerd_shim_protos::{create_events, Client, Events, TaskClient};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The containerd namespace our shims are started in.
pub const NAMESPACE: &str = "dockermind";

/// Errors talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The shim binary could not be run or its start action failed.
    #[error("start shim {binary}: {message}")]
    Launch {
        /// The binary.
        binary: String,
        /// What went wrong.
        message: String,
    },
    /// A ttrpc call failed.
    #[error("shim {call}: {source}")]
    Rpc {
        /// The method.
        call: &'static str,
        /// The ttrpc error (the shim's message for runtime failures).
        source: ttrpc::Error,
    },
}

impl ShimError {
    /// The shim's own message for a failed call (what the runtime said), else the whole error.
    pub fn message(&self) -> String {
        match self {
            ShimError::Rpc {
                source: ttrpc::Error::RpcStatus(s),
                ..
            } => s.message.clone(),
            e => e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, ShimError>;

/// Where shim sockets get their hash from: a per-daemon path (containerd passes its own
/// socket), so two daemons never share a shim.
pub fn grpc_address(exec_root: &Path) -> String {
    exec_root
        .join("shim.address")
        .to_string_lossy()
        .into_owned()
}

/// Runs `<shim> -namespace dockermind -id ID -address A start` in the bundle and returns the
/// address it prints (the serving shim keeps running in its own session).
pub fn launch(binary: &Path, bundle: &Path, id: &str, exec_root: &Path) -> Result<String> {
    let fail = |message: String| ShimError::Launch {
        binary: binary.display().to_string(),
        message,
    };
    let out = Command::new(binary)
        .args(["-namespace", NAMESPACE, "-id", id, "-address"])
        .arg(grpc_address(exec_root))
        .arg("start")
        .current_dir(bundle)
        .env("TTRPC_ADDRESS", events_socket(exec_root))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    let address = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if address.is_empty() {
        return Err(fail("printed no address".into()));
    }
    Ok(address)
}

/// Runs the shim's `delete` action: cleans up after a shim that died (force-deletes the
/// runtime's container, unmounts the bundle's rootfs).
pub fn delete_action(binary: &Path, bundle: &Path, id: &str, exec_root: &Path) {
    let _ = Command::new(binary)
        .args(["-namespace", NAMESPACE, "-id", id, "-address"])
        .arg(grpc_address(exec_root))
        .arg("-bundle")
        .arg(bundle)
        .arg("delete")
        .current_dir(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The events socket shims publish to.
pub fn events_socket(exec_root: &Path) -> String {
    exec_root.join("events.sock").to_string_lossy().into_owned()
}

/// A connection to one shim.
#[derive(Clone)]
pub struct Shim {
    task: TaskClient,
}

fn ctx() -> context::Context {
    context::with_duration(Duration::from_secs(60))
}

fn rpc(call: &'static str) -> impl FnOnce(ttrpc::Error) -> ShimError {
    move |source| ShimError::Rpc { call, source }
}

impl Shim {
    /// Connects to `address` (`unix:///...`).
    pub fn connect(address: &str) -> Result<Shim> {
        let client = Client::connect(address).map_err(rpc("connect"))?;
        Ok(Shim {
            task: TaskClient::new(client),
        })
    }

    /// Creates the task; the runtime's options put its state under `runtime_root`.
    pub fn create(&self, mut req: CreateTaskRequest, runtime_root: &Path) -> Result<u32> {
        let opts = Options {
            root: runtime_root.to_string_lossy().into_owned(),
            ..Default::default()
        };
        req.options = Some(Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: opts.write_to_bytes().unwrap_or_default(),
            ..Default::default()
        })
        .into();
        Ok(self.task.create(ctx(), &req).map_err(rpc("create"))?.pid)
    }

    /// Starts the init (`exec_id` empty) or an exec.
    pub fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        let req = StartRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        Ok(self.task.start(ctx(), &req).map_err(rpc("start"))?.pid)
    }

    /// Adds an exec process (`spec` is an OCI process JSON).
    pub fn exec(&self, req: ExecProcessRequest) -> Result<()> {
        self.task.exec(ctx(), &req).map_err(rpc("exec")).map(drop)
    }

    /// Signals the init (or all processes with `all`).
    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let req = KillRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            signal,
            all,
            ..Default::default()
        };
        self.task.kill(ctx(), &req).map_err(rpc("kill")).map(drop)
    }

    /// Closes the stdin of the init (`exec_id` empty) or an exec: once our writer is closed
    /// too, the process reads EOF (the shim otherwise keeps its stdin open for a new writer).
    pub fn close_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        let req = CloseIORequest {
            id: id.into(),
            exec_id: exec_id.into(),
            stdin: true,
            ..Default::default()
        };
        self.task
            .close_io(ctx(), &req)
            .map_err(rpc("close_io"))
            .map(drop)
    }

    /// Freezes (`pause`) or thaws the container's processes.
    pub fn set_paused(&self, id: &str, pause: bool) -> Result<()> {
        if pause {
            let req = PauseRequest {
                id: id.into(),
                ..Default::default()
            };
            self.task.pause(ctx(), &req).map_err(rpc("pause")).map(drop)
        } else {
            let req = ResumeRequest {
                id: id.into(),
                ..Default::default()
            };
            self.task
                .resume(ctx(), &req)
                .map_err(rpc("resume"))
                .map(drop)
        }
    }

    /// Sets the terminal size of the init (`exec_id` empty) or an exec.
    pub fn resize(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let req = ResizePtyRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            width,
            height,
            ..Default::default()
        };
        self.task
            .resize_pty(ctx(), &req)
            .map_err(rpc("resize"))
            .map(drop)
    }

    /// Applies new cgroup limits (`resources`: an OCI LinuxResources JSON) to the running task.
    pub fn update(&self, id: &str, resources: Vec<u8>) -> Result<()> {
        let req = UpdateTaskRequest {
            id: id.into(),
            resources: Some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
                value: resources,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        };
        self.task
            .update(ctx(), &req)
            .map_err(rpc("update"))
            .map(drop)
    }

    /// The task's state.
    pub fn state(&self, id: &str) -> Result<StateResponse> {
        let req = StateRequest {
            id: id.into(),
            ..Default::default()
        };
        self.task.state(ctx(), &req).map_err(rpc("state"))
    }

    /// Deletes the init's task (after exit) or an exited exec.
    pub fn delete(&self, id: &str, exec_id: &str) -> Result<()> {
        let req = DeleteRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        self.task
            .delete(ctx(), &req)
            .map_err(rpc("delete"))
            .map(drop)
    }

    /// Asks the shim to exit (it does once it has no tasks).
    pub fn shutdown(&self, id: &str) {
        let req = ShutdownRequest {
            id: id.into(),
            now: true,
            ..Default::default()
        };
        let _ = self.task.shutdown(ctx(), &req);
    }
}

/// A process exit a shim reported.
#[derive(Debug, Clone)]
pub struct Exit {
    /// The container.
    pub container_id: String,
    /// The process: the container id for the init, else the exec id.
    pub id: String,
    /// Exit status (128+signal when killed).
    pub status: u32,
}

struct Forwarder(tokio::sync::mpsc::UnboundedSender<Exit>);

impl Events for Forwarder {
    fn forward(&self, _ctx: &ttrpc::TtrpcContext, req: ForwardRequest) -> ttrpc::Result<Empty> {
        let Some(env) = req.envelope.as_ref() else {
            return Ok(Empty::new());
        };
        if let Some(any) = env.event.as_ref() {
            if any.type_url.ends_with("containerd.events.TaskExit") {
                if let Ok(e) = TaskExit::parse_from_bytes(&any.value) {
                    let _ = self.0.send(Exit {
                        container_id: e.container_id,
                        id: e.id,
                        status: e.exit_status,
                    });
                }
            }
        }
        Ok(Empty::new())
    }
}

/// Serves containerd's events API on `<exec_root>/events.sock`; exits go to `tx`.
pub fn serve_events(
    exec_root: &Path,
    tx: tokio::sync::mpsc::UnboundedSender<Exit>,
) -> std::result::Result<ttrpc::Server, ttrpc::Error> {
    let path = events_socket(exec_root);
    let _ = std::fs::remove_file(&path);
    let service = create_events(Arc::new(Forwarder(tx)));
    let mut server = ttrpc::Server::new()
        .bind(&format!("unix://{path}"))?
        .register_service(service)
        .set_thread_count_min(1)
        .set_thread_count_default(2)
        .set_thread_count_max(3);
    server.start()?;
    Ok(server)
}
