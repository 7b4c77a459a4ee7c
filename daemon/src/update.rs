//! `POST /containers/{id}/update`: new resource limits (live through the shim's Update when
//! the container runs) and restart policy, kept in the record so they outlive the process and
//! the daemon.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::record::HostConfig;
use crate::resources;
use crate::restart::RestartPolicy;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use std::sync::Arc;

/// Docker's `UpdateConfig`: zero (or absent) means "leave as it is".
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateConfig {
    memory: i64,
    memory_swap: i64,
    memory_reservation: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    cpu_period: i64,
    cpu_quota: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
    blkio_weight: u16,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartPolicy>,
}

fn conflict(id: &str, msg: &str) -> ApiError {
    ApiError::conflict(format!("Cannot update container {id}: {msg}"))
}

/// Applies `u` onto `h` with dockerd's rules about what may change together.
fn merge(id: &str, h: &mut HostConfig, u: &UpdateConfig) -> ApiResult<()> {
    if u.nano_cpus > 0 && h.cpu_period > 0 {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if u.nano_cpus > 0 && h.cpu_quota > 0 {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if u.cpu_period > 0 && h.nano_cpus > 0 {
        return Err(conflict(
            id,
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if u.cpu_quota > 0 && h.nano_cpus > 0 {
        return Err(conflict(
            id,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if u.memory != 0 {
        // dockerd's rule: a new memory limit above the current memory+swap needs a new swap.
        if u.memory > h.memory_swap && u.memory_swap == 0 {
            return Err(conflict(id, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"));
        }
        h.memory = u.memory;
    }
    let set = |dst: &mut i64, v: i64| {
        if v != 0 {
            *dst = v;
        }
    };
    set(&mut h.memory_swap, u.memory_swap);
    set(&mut h.memory_reservation, u.memory_reservation);
    set(&mut h.nano_cpus, u.nano_cpus);
    set(&mut h.cpu_shares, u.cpu_shares);
    set(&mut h.cpu_period, u.cpu_period);
    set(&mut h.cpu_quota, u.cpu_quota);
    if !u.cpuset_cpus.is_empty() {
        h.cpuset_cpus = u.cpuset_cpus.clone();
    }
    if !u.cpuset_mems.is_empty() {
        h.cpuset_mems = u.cpuset_mems.clone();
    }
    if u.blkio_weight != 0 {
        h.blkio_weight = u.blkio_weight;
    }
    if let Some(p) = u.pids_limit {
        h.pids_limit = Some(p);
    }
    if let Some(p) = u.restart_policy.as_ref().filter(|p| !p.name.is_empty()) {
        p.validate()?;
        if h.auto_remove && !matches!(p.name.as_str(), "" | "no") {
            return Err(ApiError::bad(format!(
                "Cannot update container {id}: Restart policy cannot be updated because AutoRemove is enabled for the container"
            )));
        }
        h.restart_policy = Some(p.clone());
    }
    Ok(())
}

/// `POST /containers/{id}/update`.
pub async fn update(
    d: &Arc<Daemon>,
    id: &str,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let u: UpdateConfig = http::read_json(req).await?;
    let (mut host, shim) = {
        let ctrs = d.ctrs();
        let en = ctrs
            .get(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        let shim = en.shim.clone().filter(|_| en.rec.state.running);
        (en.rec.host_config.clone(), shim)
    };
    merge(&id, &mut host, &u)?;
    let warnings = resources::verify(&mut host)?;
    if let Some(shim) = shim {
        let mut res = resources::linux(&host);
        // Back to unlimited: the runtime writes "max" for a negative pids limit.
        if u.pids_limit.is_some_and(|p| p <= 0) {
            res["pids"] = serde_json::json!({"limit": -1});
        }
        let body = serde_json::to_vec(&res).unwrap_or_default();
        let i = id.clone();
        tokio::task::spawn_blocking(move || shim.update(&i, body))
            .await
            .expect("blocking task panicked")
            .map_err(|e| {
                ApiError::internal(format!("Cannot update container {id}: {}", e.message()))
            })?;
    }
    let rec = {
        let mut ctrs = d.ctrs();
        let en = ctrs
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        en.rec.host_config = host;
        d.save(&en.rec);
        en.rec.clone()
    };
    d.emit_container(&rec, "update", &[]);
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "Warnings": warnings }),
    ))
}
