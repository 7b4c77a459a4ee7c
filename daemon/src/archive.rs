//! `docker export` and `docker cp`: `GET /containers/{id}/export`, `HEAD`/`GET`/`PUT
//! /containers/{id}/archive?path=`, on a running or stopped container's filesystem (ctrfs.rs).

use crate::ctrfs::{self, open_in, Ready, ViewPlan};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::tarwalk::{self, Walker};
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Feeds a streamed response from a blocking writer.
struct ChanWriter(mpsc::Sender<Bytes>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads a request body that an async task forwards chunk by chunk.
struct ChanReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

fn tar_response() -> (Response<Body>, mpsc::Sender<Bytes>) {
    http::streamed(StatusCode::OK, "application/x-tar")
}

/// `GET /containers/{id}/export`: the container's root filesystem (without volumes) as a tar.
pub async fn export(d: &Arc<Daemon>, id: &str) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let plan = ViewPlan::of(d, &id, false)?;
    let (resp, tx) = tar_response();
    ctrfs::with_view(d, plan, move |root: OwnedFd, mut ready: Ready<()>| {
        ready.send(Ok(()));
        let mut w = Walker::new(std::io::BufWriter::with_capacity(64 * 1024, ChanWriter(tx)));
        let names = match top_names(&root) {
            Ok(n) => n,
            Err(e) => return eprintln!("dockermindd: export {id}: {e}"),
        };
        for n in names {
            if let Err(e) = w.add(&root, &n, &n.to_string_lossy()) {
                // The client sees a truncated tar; the reason goes to the daemon's log.
                return eprintln!("dockermindd: export {id}: {e}");
            }
        }
        if let Ok(mut inner) = w.finish() {
            let _ = inner.flush();
        }
    })
    .await?;
    Ok(resp)
}

fn top_names(root: &OwnedFd) -> std::io::Result<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let fd = open_in(root, "/", OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let mut names: Vec<_> = nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(fd))?
        .iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    Ok(names)
}

/// The `path` query parameter, absolute.
fn path_param(q: &Query) -> ApiResult<String> {
    let p = q
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad("path is required: the query parameter path is missing"))?;
    Ok(if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    })
}

/// What `path` names: the directory holding it and its name there (None: the object itself,
/// symlinks followed, for `/`, `dir/` and `dir/.`), with its stat for the header.
struct Target {
    dir: OwnedFd,
    name: String,
    stat: serde_json::Value,
}

fn not_found(path: &str, cname: &str) -> ApiError {
    ApiError::not_found(format!(
        "Could not find the file {path} in container {cname}"
    ))
}

fn resolve(root: &OwnedFd, path: &str, cname: &str) -> ApiResult<Target> {
    let errno = |e: Errno| match e {
        Errno::ENOENT | Errno::ENOTDIR => not_found(path, cname),
        e => ApiError::internal(format!("stat {path} in container {cname}: {e}")),
    };
    let follow =
        path.ends_with('/') || path.ends_with("/.") || ctrfs::relative(path) == Path::new(".");
    let clean = ctrfs::relative(path);
    let base = clean
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let (dir, name) = if follow {
        let fd = open_in(root, path, OFlag::O_PATH | OFlag::O_DIRECTORY).map_err(errno)?;
        (fd, ".".to_owned())
    } else {
        let parent = clean.parent().unwrap_or(Path::new(""));
        let fd = open_in(
            root,
            &parent.to_string_lossy(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )
        .map_err(errno)?;
        (fd, base.clone())
    };
    let st = tarwalk::lstat_at(&dir, OsStr::new(&name)).map_err(errno)?;
    let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
    let link_target = if is_link {
        let t = tarwalk::readlink_at(&dir, OsStr::new(&name)).map_err(errno)?;
        let t = Path::new(&t);
        let parent = Path::new("/").join(clean.parent().unwrap_or(Path::new("")));
        parent.join(t).to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec as u32);
    let stat = serde_json::json!({
        "name": base,
        "size": st.st_size,
        "mode": tarwalk::go_mode(st.st_mode),
        "mtime": humantime::format_rfc3339_nanos(mtime).to_string(),
        "linkTarget": link_target,
    });
    Ok(Target {
        dir,
        name: if follow { ".".into() } else { base },
        stat,
    })
}

fn stat_header(stat: &serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(stat.to_string())
}

fn with_stat(mut resp: Response<Body>, stat: &serde_json::Value) -> Response<Body> {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&stat_header(stat)) {
        resp.headers_mut().insert("X-Docker-Container-Path-Stat", v);
    }
    resp
}

/// `HEAD` (stat only) and `GET` (stat and tar) `/containers/{id}/archive?path=`.
pub async fn get(d: &Arc<Daemon>, id: &str, q: &Query, head: bool) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let path = path_param(q)?;
    let cname = d.record(&id)?.name;
    let plan = ViewPlan::of(d, &id, true)?;
    let (resp, tx) = tar_response();
    let p = path.clone();
    let stat = ctrfs::with_view(d, plan, move |root, mut ready: Ready<serde_json::Value>| {
        let t = match resolve(&root, &p, &cname) {
            Ok(t) => t,
            Err(e) => return ready.send(Err(e)),
        };
        ready.send(Ok(t.stat.clone()));
        if head {
            return;
        }
        let top = t.stat["name"].as_str().unwrap_or(".").to_owned();
        let top = if top == "/" { ".".to_owned() } else { top };
        let mut w = Walker::new(std::io::BufWriter::with_capacity(64 * 1024, ChanWriter(tx)));
        if let Err(e) = w.add(&t.dir, OsStr::new(&t.name), &top) {
            return eprintln!("dockermindd: archive {p}: {e}");
        }
        if let Ok(mut inner) = w.finish() {
            let _ = inner.flush();
        }
    })
    .await?;
    if head {
        return Ok(with_stat(http::empty(StatusCode::OK), &stat));
    }
    Ok(with_stat(resp, &stat))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the tar
/// body into directory `path` of the container.
pub async fn put(
    d: &Arc<Daemon>,
    id: &str,
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    let path = path_param(q)?;
    let rec = d.record(&id)?;
    let plan = ViewPlan::of(d, &id, true)?;
    let no_overwrite = q.flag("noOverwriteDirNonDir");
    let copy_owner = q.flag("copyUIDGID");
    let (btx, brx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(b) => Ok(b),
                    Err(_) => continue,
                },
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let stop = item.is_err();
            if btx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let cname = rec.name.clone();
    let user = rec.config.user.clone();
    ctrfs::with_view(d, plan, move |root, mut ready: Ready<()>| {
        let r = extract(&root, &path, &cname, &user, no_overwrite, copy_owner, brx);
        ready.send(r);
    })
    .await?;
    Ok(http::empty(StatusCode::OK))
}

fn extract(
    root: &OwnedFd,
    path: &str,
    cname: &str,
    user: &str,
    no_overwrite: bool,
    copy_owner: bool,
    body: mpsc::Receiver<std::io::Result<Bytes>>,
) -> ApiResult<()> {
    let dir = open_in(root, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| match e {
        Errno::ENOENT => not_found(path, cname),
        Errno::ENOTDIR => ApiError::bad(format!(
            "extraction point is not a directory: {path} in container {cname}"
        )),
        e => ApiError::internal(format!("open {path} in container {cname}: {e}")),
    })?;
    let owner = if copy_owner {
        Some(crate::passwd::lookup(root, user)?)
    } else {
        None
    };
    let opts = dm_snapshotter::layer::ApplyOptions {
        no_overwrite_dir_non_dir: no_overwrite,
        owner,
        ..Default::default()
    };
    let reader = ChanReader {
        rx: body,
        cur: Bytes::new(),
    };
    dm_snapshotter::layer::apply_layer_at(reader, dir, &opts).map_err(|e| match e {
        dm_snapshotter::Error::LayerEntry { .. } | dm_snapshotter::Error::LayerRead(_) => {
            ApiError::bad(format!("extract into {path} of container {cname}: {e}"))
        }
        e => ApiError::internal(format!("extract into {path} of container {cname}: {e}")),
    })?;
    Ok(())
}
