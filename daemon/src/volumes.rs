//! Volume endpoints (create, list, inspect, remove, prune) and what containers do with
//! volumes: make them at create, mount them at start, let go at exit, drop anonymous ones.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filters;
use crate::http::{self, Body, Query};
use crate::mounts::{MountPoint, Needed};
use crate::volume_store::Volume;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// `POST /volumes/create` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

fn shape(v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created_at, "Driver": v.driver, "Labels": v.labels,
        "Mountpoint": v.mountpoint, "Name": v.name,
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
        "Scope": v.scope
    })
}

impl Daemon {
    /// Ids of the containers (any state) that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.ctrs()
            .values()
            .filter(|e| uses(&e.rec.mount_points, name))
            .map(|e| e.rec.id.clone())
            .collect()
    }

    /// Makes the volumes a create needs; returns the ones made now (undone on a later failure).
    pub fn ensure_volumes(&self, needed: &[Needed]) -> ApiResult<Vec<String>> {
        let mut made = vec![];
        for n in needed {
            match self.volumes.create(
                Some(&n.name),
                n.labels.clone(),
                n.options.clone(),
                n.anonymous,
            ) {
                Ok((v, true)) => {
                    self.events
                        .emit("volume", "create", &v.name, &[("driver", "local")]);
                    made.push(v.name);
                }
                Ok(_) => {}
                Err(e) => {
                    self.drop_volumes(&made);
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// Removes volumes (made by a create that failed, or anonymous ones of a removed container).
    pub fn drop_volumes(&self, names: &[String]) {
        for n in names {
            if self.volumes.remove(n).is_ok() {
                self.events
                    .emit("volume", "destroy", n, &[("driver", "local")]);
            }
        }
    }

    /// Removes the anonymous volumes of a removed container that no other container uses.
    pub fn drop_anonymous_volumes(&self, points: &[MountPoint]) {
        let names: Vec<String> = points
            .iter()
            .filter(|m| m.kind == "volume")
            .filter(|m| self.volumes.get(&m.name).is_ok_and(|v| v.anonymous))
            .filter(|m| self.volume_users(&m.name).is_empty())
            .map(|m| m.name.clone())
            .collect();
        self.drop_volumes(&names);
    }

    /// Before a start: host directories of `-v` binds, volume mounts, copy-up from the image
    /// mounted at `rootfs`. Volumes mounted here are let go again on failure.
    pub fn mount_volumes(&self, id: &str, points: &[MountPoint], rootfs: &Path) -> ApiResult<()> {
        for (i, m) in points.iter().enumerate() {
            let r = self.mount_one(id, m, rootfs);
            if let Err(e) = r {
                self.release_volumes(id, &points[..i], false);
                return Err(e);
            }
        }
        Ok(())
    }

    fn mount_one(&self, id: &str, m: &MountPoint, rootfs: &Path) -> ApiResult<()> {
        match m.kind.as_str() {
            "bind" if m.create_source => std::fs::create_dir_all(&m.source).map_err(|e| {
                ApiError::bad(format!(
                    "error while creating mount source path '{}': {e}",
                    m.source
                ))
            }),
            "volume" => {
                let data = self.volumes.mount(&m.name)?;
                if m.copy {
                    crate::copyup::copy_up(rootfs, &m.destination, &data).map_err(|e| {
                        ApiError::internal(format!(
                            "copy image content into volume {}: {e}",
                            m.name
                        ))
                    })?;
                }
                let rw = if m.rw { "true" } else { "false" };
                self.events.emit(
                    "volume",
                    "mount",
                    &m.name,
                    &[
                        ("container", id),
                        ("destination", &m.destination),
                        ("driver", "local"),
                        ("propagation", &m.propagation),
                        ("read/write", rw),
                    ],
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// After an exit: volumes no other running container uses are unmounted (DriverOpts ones).
    pub fn release_volumes(&self, id: &str, points: &[MountPoint], announce: bool) {
        for m in points.iter().filter(|m| m.kind == "volume") {
            // A starting container has mounted its volumes before it counts as running.
            let busy = self.ctrs().values().any(|e| {
                e.rec.id != id
                    && (e.rec.state.running || e.rec.state.status == "starting")
                    && uses(&e.rec.mount_points, &m.name)
            });
            if !busy {
                self.volumes.unmount(&m.name);
            }
            if announce {
                self.events.emit(
                    "volume",
                    "unmount",
                    &m.name,
                    &[("container", id), ("driver", "local")],
                );
            }
        }
    }
}

fn uses(points: &[MountPoint], name: &str) -> bool {
    points.iter().any(|m| m.kind == "volume" && m.name == name)
}

/// `POST /volumes/create`.
pub async fn create(d: &Arc<Daemon>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let body: CreateBody = http::read_json(req).await?;
    if !matches!(body.driver.as_str(), "" | "local") {
        return Err(ApiError::not_found(format!(
            "error looking up volume plugin {0}: plugin \"{0}\" not found",
            body.driver
        )));
    }
    let (v, made) = d.volumes.create(
        Some(&body.name),
        body.labels.unwrap_or_default(),
        body.driver_opts.unwrap_or_default(),
        body.name.is_empty(),
    )?;
    if made {
        d.events
            .emit("volume", "create", &v.name, &[("driver", "local")]);
    }
    Ok(http::json(StatusCode::CREATED, &shape(&v)))
}

/// `GET /volumes?filters=`.
pub fn list(d: &Arc<Daemon>, q: &Query) -> ApiResult<Response<Body>> {
    let f = Filters::parse(q, &["dangling", "name", "label", "label!", "driver"])?;
    let dangling = f.boolean("dangling")?;
    let out: Vec<Value> = d
        .volumes
        .list()
        .iter()
        .filter(|v| f.any("name", |n| v.name.contains(n)))
        .filter(|v| f.any("driver", |n| v.driver == n))
        .filter(|v| f.labels(&v.labels))
        .filter(|v| dangling.is_none_or(|want| d.volume_users(&v.name).is_empty() == want))
        .map(shape)
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({"Volumes": out, "Warnings": []}),
    ))
}

/// `GET /volumes/{name}`.
pub fn inspect(d: &Arc<Daemon>, name: &str) -> ApiResult<Response<Body>> {
    Ok(http::json(StatusCode::OK, &shape(&d.volumes.get(name)?)))
}

/// `DELETE /volumes/{name}?force=`: 409 while a container uses it.
pub fn remove(d: &Arc<Daemon>, name: &str, q: &Query) -> ApiResult<Response<Body>> {
    if let Err(e) = d.volumes.get(name) {
        return if q.flag("force") {
            Ok(http::empty(StatusCode::NO_CONTENT))
        } else {
            Err(e)
        };
    }
    let users = d.volume_users(name);
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    d.volumes.remove(name)?;
    d.events
        .emit("volume", "destroy", name, &[("driver", "local")]);
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune?filters=`: unused volumes (from API 1.42 only anonymous ones unless
/// `all=true`, as dockerd).
pub fn prune(d: &Arc<Daemon>, q: &Query, version: (u32, u32)) -> ApiResult<Response<Body>> {
    let f = Filters::parse(q, &["label", "label!", "all"])?;
    let all = f.boolean("all")?.unwrap_or(version < (1, 42));
    let mut deleted = vec![];
    let mut reclaimed: i64 = 0;
    for v in d.volumes.list() {
        if (!all && !v.anonymous) || !f.labels(&v.labels) || !d.volume_users(&v.name).is_empty() {
            continue;
        }
        let size = d.volumes.size(&v.name).max(0);
        if d.volumes.remove(&v.name).is_ok() {
            d.events
                .emit("volume", "destroy", &v.name, &[("driver", "local")]);
            reclaimed += size;
            deleted.push(v.name);
        }
    }
    d.events.emit(
        "volume",
        "prune",
        "",
        &[("reclaimed", &reclaimed.to_string())],
    );
    Ok(http::json(
        StatusCode::OK,
        &json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}

/// The `Volumes` part of `/system/df`.
pub fn usage(d: &Daemon) -> Vec<Value> {
    d.volumes
        .list()
        .iter()
        .map(|v| {
            let mut s = shape(v);
            s["UsageData"] =
                json!({"Size": d.volumes.size(&v.name), "RefCount": d.volume_users(&v.name).len()});
            s
        })
        .collect()
}
