//! `POST /containers/{id}/resize` and `POST /exec/{id}/resize`: the client's terminal size to
//! the pty the shim holds for the process.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use hyper::{Response, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `h` and `w` as dockerd reads them (both required integers).
fn dimensions(q: &Query) -> ApiResult<(u32, u32)> {
    let get = |k: &str, name: &str| -> ApiResult<u32> {
        let v = q.get(k).unwrap_or_default();
        v.parse::<u32>().map_err(|_| {
            ApiError::bad(format!(
                "invalid {name} {v:?}: query parameter {k} must be a non-negative integer"
            ))
        })
    };
    Ok((get("w", "width")?, get("h", "height")?))
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn container(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let (w, h) = dimensions(q)?;
    let (shim, tty) = {
        let ctrs = d.ctrs();
        let en = ctrs
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        match (&en.shim, en.rec.state.running) {
            (Some(s), true) => (s.clone(), en.rec.config.tty),
            _ => return Err(ApiError::conflict(format!("Container {id} is not running"))),
        }
    };
    // As containerd: a process without a terminal ignores the size.
    if tty {
        let i = id.clone();
        tokio::task::spawn_blocking(move || shim.resize(&i, "", w, h))
            .await
            .expect("blocking task panicked")
            .map_err(|e| ApiError::internal(format!("resize container {id}: {}", e.message())))?;
    }
    Ok(http::empty(StatusCode::OK))
}

/// `POST /exec/{id}/resize?h=&w=`: the CLI sends it as it starts the exec, so a process not
/// yet started is waited for (10 s, as dockerd).
pub async fn exec(d: &Arc<Daemon>, eid: &str, q: &Query) -> ApiResult<Response<Body>> {
    let (w, h) = dimensions(q)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (cid, tty) = loop {
        let state = {
            let execs = d.execs.lock().unwrap();
            let e = execs
                .get(eid)
                .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {eid}")))?;
            let exited = e.done.borrow().is_some();
            (
                e.container.clone(),
                e.config.tty,
                e.pid != 0 || exited,
                exited,
            )
        };
        match state {
            (_, _, _, true) => {
                return Err(ApiError::conflict(format!("exec {eid} is not running")))
            }
            (cid, tty, true, false) => break (cid, tty),
            _ if Instant::now() > deadline => {
                return Err(ApiError::conflict(format!(
                    "timeout waiting for exec session ready: {eid}"
                )))
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    if !tty {
        return Ok(http::empty(StatusCode::OK));
    }
    let shim = d
        .ctrs()
        .get(&cid)
        .and_then(|e| e.shim.clone())
        .ok_or_else(|| ApiError::conflict(format!("Container {cid} is not running")))?;
    let e = eid.to_owned();
    tokio::task::spawn_blocking(move || shim.resize(&cid, &e, w, h))
        .await
        .expect("blocking task panicked")
        .map_err(|err| ApiError::internal(format!("resize exec {eid}: {}", err.message())))?;
    Ok(http::empty(StatusCode::OK))
}
