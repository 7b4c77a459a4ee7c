//! `POST /containers/{id}/rename?name=`.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use hyper::{Response, StatusCode};
use std::sync::Arc;

/// Renames a container (running or not); the new name must be free.
pub fn rename(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let new = q
        .get("name")
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("Neither old nor new names may be empty"))?
        .to_owned();
    if !crate::lifecycle::valid_name(&new) {
        return Err(ApiError::bad(format!(
            "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    let rec = {
        let mut ctrs = d.ctrs();
        if let Some(other) = ctrs.values().find(|e| e.rec.name == new) {
            return Err(if other.rec.id == id {
                ApiError::bad("Renaming a container with the same name as its current name")
            } else {
                ApiError::conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.rec.id
                ))
            });
        }
        let en = ctrs
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))?;
        let old = std::mem::replace(&mut en.rec.name, new.clone());
        d.save(&en.rec);
        (en.rec.clone(), old)
    };
    d.emit_container(&rec.0, "rename", &[("oldName", &format!("/{}", rec.1))]);
    Ok(http::empty(StatusCode::NO_CONTENT))
}
