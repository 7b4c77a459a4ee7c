//! `docker exec`: extra processes in a running container through its shim (Exec, Start; the
//! exit comes back as a TaskExit event with the exec id).

use crate::daemon::{random_id, Daemon};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::stdio::{self, Fifos, STDERR, STDOUT};
use containerd_shim_protos::api::ExecProcessRequest;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageField;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// An OCI process spec as the shim's Exec request carries it.
pub fn process_any(spec: &impl serde::Serialize) -> MessageField<Any> {
    Some(Any {
        type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
        value: serde_json::to_vec(spec).unwrap_or_default(),
        ..Default::default()
    })
    .into()
}

/// The exec create request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Allocate a terminal.
    pub tty: bool,
    /// The command.
    pub cmd: Vec<String>,
    /// Extra `KEY=value` entries.
    pub env: Option<Vec<String>>,
    /// User (default: the container's).
    pub user: String,
    /// Working directory (default: the container's).
    pub working_dir: String,
    /// Not supported (refused when true).
    pub privileged: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartConfig {
    detach: bool,
}

/// One exec process.
pub struct ExecEntry {
    /// The container.
    pub container: String,
    /// What to run.
    pub config: ExecConfig,
    /// Started already.
    pub started: bool,
    /// The host pid once started.
    pub pid: u32,
    /// The exit code once exited.
    pub done: watch::Sender<Option<i32>>,
}

/// `POST /containers/{id}/exec`.
pub async fn create(
    d: &Arc<Daemon>,
    id: &str,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let cid = d.find(id)?;
    let config: ExecConfig = http::read_json(req).await?;
    if config.cmd.is_empty() {
        return Err(ApiError::bad("No exec command specified"));
    }
    if config.privileged {
        return Err(ApiError::bad("privileged exec is not supported"));
    }
    let state = d.record(&cid)?.state;
    if state.restarting {
        return Err(ApiError::conflict(format!(
            "Container {cid} is restarting, wait until the container is running"
        )));
    }
    if !state.running {
        return Err(ApiError::conflict(format!(
            "Container {cid} is not running"
        )));
    }
    if state.status == "paused" {
        return Err(ApiError::conflict(format!(
            "Container {cid} is paused, unpause the container before exec"
        )));
    }
    let eid = random_id();
    d.execs.lock().unwrap().insert(
        eid.clone(),
        ExecEntry {
            container: cid,
            config,
            started: false,
            pid: 0,
            done: watch::channel(None).0,
        },
    );
    Ok(http::json(StatusCode::CREATED, &json!({"Id": eid})))
}

/// `GET /exec/{id}/json`.
pub fn inspect(d: &Arc<Daemon>, eid: &str) -> ApiResult<Response<Body>> {
    let execs = d.execs.lock().unwrap();
    let e = execs
        .get(eid)
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {eid}")))?;
    let code = *e.done.borrow();
    let c = &e.config;
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "ID": eid, "Running": e.started && code.is_none(), "ExitCode": code,
            "ProcessConfig": {"tty": c.tty, "entrypoint": c.cmd[0], "arguments": &c.cmd[1..], "privileged": false, "user": c.user},
            "OpenStdin": c.attach_stdin, "OpenStdout": c.attach_stdout, "OpenStderr": c.attach_stderr,
            "CanRemove": false, "ContainerID": e.container, "DetachKeys": "", "Pid": e.pid
        }),
    ))
}

/// `POST /exec/{id}/start`: runs it; attached, the connection is hijacked for its stdio.
pub async fn start(
    d: &Arc<Daemon>,
    eid: &str,
    mut req: Request<Incoming>,
    version: (u32, u32),
) -> ApiResult<Response<Body>> {
    let upgrade = hyper::upgrade::on(&mut req);
    let start: StartConfig = http::read_json(req).await?;
    let (cid, cfg) = {
        let mut execs = d.execs.lock().unwrap();
        let e = execs
            .get_mut(eid)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {eid}")))?;
        if e.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {eid} is already running"
            )));
        }
        e.started = true;
        (e.container.clone(), e.config.clone())
    };
    let (rec, shim) = {
        let ctrs = d.ctrs();
        let en = ctrs
            .get(&cid)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {cid}")))?;
        match (&en.shim, en.rec.state.running) {
            (Some(s), true) => (en.rec.clone(), s.clone()),
            _ => {
                return Err(ApiError::conflict(format!(
                    "Container {cid} is not running"
                )))
            }
        }
    };
    let bundle = d.bundle(&cid);
    let fifos = Fifos::paths(
        &bundle,
        &format!("exec-{}", &eid[..12]),
        cfg.attach_stdin,
        cfg.tty,
    );
    let spec = crate::spec::exec_process(
        &rec,
        &cfg.cmd,
        cfg.env.as_deref().unwrap_or_default(),
        &cfg.user,
        &cfg.working_dir,
        cfg.tty,
        &bundle.join("rootfs"),
    )?;
    fifos
        .make()
        .map_err(|e| ApiError::internal(format!("exec fifos: {e}")))?;
    // A reader we hold lets us open the stdin writer before the process exists.
    let hold = fifos.stdin.as_ref().map(|p| stdio::open_reader(p));
    let mut stdin = match &fifos.stdin {
        Some(p) => Some(
            stdio::open_writer(p).map_err(|e| ApiError::internal(format!("exec stdin: {e}")))?,
        ),
        None => None,
    };
    let req = ExecProcessRequest {
        id: cid.clone(),
        exec_id: eid.to_owned(),
        terminal: cfg.tty,
        stdin: Fifos::field(&fifos.stdin),
        stdout: fifos.stdout.to_string_lossy().into_owned(),
        stderr: Fifos::field(&fifos.stderr),
        spec: process_any(&spec),
        ..Default::default()
    };
    let outcome = async {
        let s = shim.clone();
        tokio::task::spawn_blocking(move || s.exec(req))
            .await
            .expect("blocking task panicked")
            .map_err(|e| e.message())?;
        // Readers open before the process does: a FIFO reader only sees EOF after a writer came.
        let out = stdio::open_reader(&fifos.stdout).map_err(|e| e.to_string())?;
        let err = match &fifos.stderr {
            Some(p) => Some(stdio::open_reader(p).map_err(|e| e.to_string())?),
            None => None,
        };
        let (s, c, e) = (shim.clone(), cid.clone(), eid.to_owned());
        let pid = tokio::task::spawn_blocking(move || s.start(&c, &e))
            .await
            .expect("blocking task panicked")
            .map_err(|e| e.message())?;
        Ok::<_, String>((pid, out, err))
    }
    .await;
    drop(hold);
    let (pid, out, err) = match outcome {
        Ok(v) => v,
        Err(msg) => {
            // As dockerd: a process that cannot start exits 126, its error written to the stream.
            remove_fifos(&fifos);
            if let Some(en) = d.execs.lock().unwrap().get(eid) {
                en.done.send_replace(Some(126));
            }
            let (s, c, e) = (shim.clone(), cid.clone(), eid.to_owned());
            let _ = tokio::task::spawn_blocking(move || s.delete(&c, &e)).await;
            let msg = format!("OCI runtime exec failed: {msg}");
            if start.detach {
                return Err(ApiError::internal(msg));
            }
            let tty = cfg.tty;
            tokio::spawn(async move {
                let Ok(up) = upgrade.await else { return };
                let mut io = hyper_util::rt::TokioIo::new(up);
                let line = format!("{msg}\r\n");
                let b = if tty {
                    bytes::Bytes::from(line)
                } else {
                    stdio::frame(STDOUT, line.as_bytes())
                };
                let _ = io.write_all(&b).await;
                let _ = io.shutdown().await;
            });
            return Ok(hijacked(tty, version));
        }
    };
    let done = {
        let mut execs = d.execs.lock().unwrap();
        let Some(en) = execs.get_mut(eid) else {
            return Err(ApiError::not_found(eid.to_owned()));
        };
        en.pid = pid;
        en.done.subscribe()
    };
    // Output copiers hold the only hub senders: the stream ends when the process's output does.
    let hub = stdio::hub();
    let rx = hub.subscribe();
    tokio::spawn(stdio::copy_output(out, STDOUT, None, hub.clone()));
    if let Some(err) = err {
        tokio::spawn(stdio::copy_output(err, STDERR, None, hub));
    }
    if start.detach {
        if stdin.take().is_some() {
            d.close_stdin(&cid, eid).await;
        }
        return Ok(http::empty(StatusCode::OK));
    }
    let tty = cfg.tty;
    let (d, eid) = (d.clone(), eid.to_owned());
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else { return };
        let (mut r, mut w) = tokio::io::split(hyper_util::rt::TokioIo::new(up));
        if let Some(mut stdin) = stdin {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = r.read(&mut buf).await {
                    if n == 0 || stdin.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                drop(stdin);
                d.close_stdin(&cid, &eid).await;
            });
        }
        let mut rx = rx;
        loop {
            match rx.recv().await {
                Ok((s, data)) => {
                    let b = if tty { data } else { stdio::frame(s, &data) };
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        // The client asks for the exit code right after the stream ends: record it first.
        let mut done = done;
        let _ = tokio::time::timeout(Duration::from_secs(10), done.wait_for(Option::is_some)).await;
        let _ = w.shutdown().await;
        remove_fifos(&fifos);
    });
    Ok(hijacked(tty, version))
}

/// The 101 answer that hands the connection over to a stdio stream.
pub fn hijacked(tty: bool, version: (u32, u32)) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("Content-Type", crate::containers::stream_type(tty, version))
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(http::empty(StatusCode::OK).into_body())
        .expect("static response parts")
}

fn remove_fifos(f: &Fifos) {
    for p in f
        .stdin
        .iter()
        .chain(std::iter::once(&f.stdout))
        .chain(f.stderr.iter())
    {
        let _ = std::fs::remove_file(p);
    }
}

impl Daemon {
    /// An exec process exited: record the code and delete it from the shim.
    pub async fn on_exec_exit(self: &Arc<Self>, exec_id: &str, code: i32) {
        let cid = {
            let execs = self.execs.lock().unwrap();
            let Some(e) = execs.get(exec_id) else { return };
            e.done.send_replace(Some(code));
            e.container.clone()
        };
        let shim = self.ctrs().get(&cid).and_then(|e| e.shim.clone());
        if let Some(s) = shim {
            let e = exec_id.to_owned();
            let _ = tokio::task::spawn_blocking(move || s.delete(&cid, &e)).await;
        }
    }

    /// Closes a process's stdin in its shim (see [`crate::shim::Shim::close_stdin`]).
    pub async fn close_stdin(self: &Arc<Self>, cid: &str, exec_id: &str) {
        let Some(s) = self.ctrs().get(cid).and_then(|e| e.shim.clone()) else {
            return;
        };
        let (c, e) = (cid.to_owned(), exec_id.to_owned());
        // The process may be gone already: then there is nothing to close.
        let _ = tokio::task::spawn_blocking(move || s.close_stdin(&c, &e)).await;
    }

    /// Forgets the execs of a container that exited.
    pub fn drop_execs(&self, cid: &str) {
        self.execs.lock().unwrap().retain(|_, e| e.container != cid);
    }
}
