//! `POST /containers/{id}/pause` and `/unpause`: the shim freezes or thaws the container's
//! cgroup; the record's status is `paused` meanwhile (still running, as docker shows it).

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body};
use hyper::{Response, StatusCode};
use std::sync::Arc;

impl Daemon {
    /// Freezes (`pause`) or thaws the container.
    pub async fn set_paused(self: &Arc<Self>, id: &str, pause: bool) -> ApiResult<()> {
        let shim = {
            let ctrs = self.ctrs();
            let en = ctrs
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
            let paused = en.rec.state.status == "paused";
            match (&en.shim, en.rec.state.running) {
                (Some(_), true) if pause && paused => {
                    return Err(ApiError::conflict(format!(
                        "Container {id} is already paused"
                    )))
                }
                (Some(_), true) if !pause && !paused => {
                    return Err(ApiError::conflict(format!("Container {id} is not paused")))
                }
                (Some(s), true) => s.clone(),
                _ => return Err(ApiError::conflict(format!("Container {id} is not running"))),
            }
        };
        let i = id.to_owned();
        tokio::task::spawn_blocking(move || shim.set_paused(&i, pause))
            .await
            .map_err(|e| ApiError::internal(format!("pause: {e}")))?
            .map_err(|e| {
                let what = if pause { "pause" } else { "unpause" };
                ApiError::internal(format!("cannot {what} container {id}: {}", e.message()))
            })?;
        let rec = {
            let mut ctrs = self.ctrs();
            let Some(en) = ctrs.get_mut(id).filter(|en| en.rec.state.running) else {
                return Ok(());
            };
            en.rec.state.status = if pause { "paused" } else { "running" }.into();
            self.save(&en.rec);
            en.rec.clone()
        };
        self.emit_container(&rec, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// Thaws a paused container before it is signalled (stop, kill, rm -f).
    pub async fn thaw_for_signal(self: &Arc<Self>, id: &str) {
        let paused = self
            .ctrs()
            .get(id)
            .is_some_and(|en| en.rec.state.status == "paused");
        if paused {
            if let Err(e) = self.set_paused(id, false).await {
                eprintln!("dockermindd: thaw {id} before a signal: {}", e.message);
            }
        }
    }
}

/// `POST /containers/{id}/pause|unpause`.
pub async fn handle(d: &Arc<Daemon>, id: &str, pause: bool) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    d.set_paused(&id, pause).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}
