//! `POST /build`: the tar context unpacked into a private directory, dm-build run in the
//! daemon (on its own image store, so the result is at once runnable), its steps streamed as
//! the legacy builder prints them (`Step 1/3 : FROM ...`, ` ---> Using cache`,
//! `Successfully built ...`).

use crate::bridge::{maybe_gunzip, BodyReader};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use crate::images::{line, short_id};
use bytes::Bytes;
use dm_build::BuildError;
use dm_image::Reference;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// What the query asks for.
#[derive(Debug)]
struct Params {
    tags: Vec<String>,
    dockerfile: String,
    build_args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    quiet: bool,
}

/// A JSON map parameter (`buildargs`, `labels`); `null` values (unset build args) are dropped.
fn json_map(q: &Query, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(raw) = q.get(key).filter(|v| !v.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let m: BTreeMap<String, Option<String>> = serde_json::from_str(raw).map_err(|e| {
        ApiError::bad(format!(
            "invalid {key}: {e} (expected a JSON object of strings)"
        ))
    })?;
    Ok(m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

fn params(q: &Query) -> ApiResult<Params> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad(
            "remote: building from a URL or git repository is not supported; send the context as a tar",
        ));
    }
    let mut tags = Vec::new();
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        let r: Reference = t
            .parse()
            .map_err(|e| ApiError::bad(format!("invalid reference format: {t:?}: {e}")))?;
        if r.digest().is_some() {
            return Err(ApiError::bad(format!(
                "invalid tag {t:?}: a build result cannot be named by digest"
            )));
        }
        tags.push(r.to_string());
    }
    Ok(Params {
        tags,
        dockerfile: q
            .get("dockerfile")
            .filter(|f| !f.is_empty())
            .unwrap_or("Dockerfile")
            .to_owned(),
        build_args: json_map(q, "buildargs")?,
        labels: json_map(q, "labels")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(str::to_owned),
        no_cache: q.flag("nocache"),
        quiet: q.flag("q"),
    })
}

/// The context directory: removed (with everything in it) when dropped.
struct Context(PathBuf);

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unpacks the tar (or gzip'd tar) body into `dir`.
fn unpack(body: BodyReader, dir: &Path) -> ApiResult<()> {
    let bad = |e: std::io::Error| {
        ApiError::bad(format!(
            "the build context is not a tar archive (plain or gzip): {e}"
        ))
    };
    let input = maybe_gunzip(body).map_err(bad)?;
    let mut ar = tar::Archive::new(input);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    // `unpack` keeps every entry inside `dir` (no `..`, no absolute paths).
    ar.unpack(dir).map_err(bad)
}

/// The Dockerfile inside the context (a relative path that stays in it).
fn dockerfile_in(ctx: &Path, name: &str) -> ApiResult<PathBuf> {
    let rel = Path::new(name);
    let inside = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let path = ctx.join(rel);
    if !inside || !path.is_file() {
        return Err(ApiError::bad(format!(
            "Cannot locate specified Dockerfile: {name}"
        )));
    }
    Ok(path)
}

/// Rewrites dm-build's step lines into the legacy builder's numbering, over all instructions.
struct Steps {
    done: usize,
    total: usize,
}

impl Steps {
    fn line(&mut self, l: &str) -> String {
        let step = if let Some(rest) = l.strip_prefix("FROM ") {
            // `FROM base (line N)`
            let base = rest.rsplit_once(" (line ").map_or(rest, |(b, _)| b);
            Some(format!("FROM {base}"))
        } else {
            l.strip_prefix("STEP ")
                .and_then(|r| r.split_once(": "))
                .filter(|(n, _)| n.contains('/'))
                .map(|(_, text)| text.to_owned())
        };
        match step {
            Some(text) => {
                self.done += 1;
                format!("Step {}/{} : {text}\n", self.done, self.total)
            }
            None => format!("{l}\n"),
        }
    }
}

/// A failed build as docker's error line; a failed RUN carries its exit status as the code.
fn error_line(e: &BuildError) -> Value {
    match e {
        BuildError::Run { command, code, .. } => {
            let cmd = command.strip_prefix("RUN ").unwrap_or(command).trim();
            let shown = if cmd.starts_with('[') {
                cmd.to_owned()
            } else {
                format!("/bin/sh -c {cmd}")
            };
            let m = format!("The command '{shown}' returned a non-zero code: {code}");
            json!({"errorDetail": {"code": code, "message": m}, "error": m})
        }
        e => {
            let m = e.to_string();
            json!({"errorDetail": {"message": m}, "error": m})
        }
    }
}

/// `POST /build`.
pub async fn build(
    d: &Arc<Daemon>,
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let p = params(q)?;
    let dir = d.cfg.root.join("build-ctx").join(format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| ApiError::internal(format!("create {}: {e}", dir.display())))?;
    let ctx = Context(dir);
    let body = BodyReader::spawn(req.into_body());
    // Everything that can be wrong with the request is found before the 200 goes out.
    let (ctx, dockerfile, total) = tokio::task::spawn_blocking(move || {
        unpack(body, &ctx.0)?;
        let path = dockerfile_in(&ctx.0, &p.dockerfile)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ApiError::bad(format!("read the Dockerfile {}: {e}", p.dockerfile)))?;
        let df = dm_build::parse(&text)
            .map_err(|e| ApiError::bad(format!("dockerfile parse error: {e}")))?;
        let total: usize = df.stages.iter().map(|s| 1 + s.steps.len()).sum();
        Ok::<_, ApiError>(((ctx, p), path, total))
    })
    .await
    .map_err(|e| ApiError::internal(format!("build context task: {e}")))??;
    let (ctx, p) = ctx;
    let (resp, tx) = http::streamed(StatusCode::OK, "application/json");
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let last = run(&d, &ctx, p, dockerfile, total, &tx);
        // The context goes before the result is sent: a client that has the result finds
        // nothing of the build left.
        drop(ctx);
        crate::daemon::release_free_memory();
        for m in last {
            let _ = tx.blocking_send(line(m));
        }
    });
    Ok(resp)
}

/// Runs the build, streaming its step lines to `tx` (on a blocking thread); returns the
/// closing messages (the id and names, or the error).
fn run(
    d: &Daemon,
    ctx: &Context,
    p: Params,
    dockerfile: PathBuf,
    total: usize,
    tx: &mpsc::Sender<Bytes>,
) -> Vec<Value> {
    let opts = dm_build::Options {
        context: ctx.0.clone(),
        dockerfile: Some(dockerfile),
        tags: p.tags.clone(),
        build_args: p.build_args,
        labels: p.labels,
        target: p.target,
        no_cache: p.no_cache,
        runtime: crate::config::beside_exe("dm-runc"),
        ..Default::default()
    };
    let mut steps = Steps { done: 0, total };
    let quiet = p.quiet;
    let built = dm_build::build(&d.images, &opts, &mut |l| {
        if !quiet {
            let _ = tx.blocking_send(line(json!({"stream": steps.line(l)})));
        }
    });
    let mut out = Vec::new();
    match built {
        Ok(b) => {
            out.push(json!({"aux": {"ID": b.id}}));
            if quiet {
                out.push(json!({"stream": format!("{}\n", b.id)}));
                return out;
            }
            out.push(json!({"stream": format!("Successfully built {}\n", short_id(&b.id))}));
            for t in &b.tags {
                let familiar = t.parse::<Reference>().map_or(t.clone(), |r| r.familiar());
                d.events
                    .emit("image", "tag", &b.id, &[("name", familiar.as_str())]);
                out.push(json!({"stream": format!("Successfully tagged {familiar}\n")}));
            }
        }
        Err(e) => {
            if let BuildError::Run { output, .. } = &e {
                if !quiet {
                    for l in output.lines() {
                        out.push(json!({"stream": format!("{l}\n")}));
                    }
                }
            }
            out.push(error_line(&e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_over_the_whole_dockerfile() {
        let mut s = Steps { done: 0, total: 4 };
        assert_eq!(s.line("FROM busybox (line 1)"), "Step 1/4 : FROM busybox\n");
        assert_eq!(s.line("STEP 1/1: RUN true"), "Step 2/4 : RUN true\n");
        assert_eq!(s.line(" ---> Using cache"), " ---> Using cache\n");
        assert_eq!(s.line("FROM b AS c (line 3)"), "Step 3/4 : FROM b AS c\n");
    }

    #[test]
    fn a_failed_run_reports_its_exit_status() {
        let e = BuildError::Run {
            line: 2,
            command: "RUN exit 3".into(),
            code: 3,
            output: String::new(),
        };
        let v = error_line(&e);
        assert_eq!(v["errorDetail"]["code"], 3);
        assert_eq!(
            v["error"],
            "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
    }

    #[test]
    fn build_params_are_checked() {
        let q = Query::parse(Some(
            "t=a&t=b%3A2&buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&nocache=1",
        ));
        let p = params(&q).unwrap();
        assert_eq!(
            p.tags,
            ["docker.io/library/a:latest", "docker.io/library/b:2"]
        );
        assert_eq!(p.build_args.len(), 1);
        assert!(p.no_cache);
        let bad = params(&Query::parse(Some("labels=nope"))).unwrap_err();
        assert!(bad.message.contains("invalid labels"), "{}", bad.message);
        let bad = params(&Query::parse(Some("t=UPPER"))).unwrap_err();
        assert_eq!(bad.status, 400);
    }

    #[test]
    fn the_dockerfile_stays_in_the_context() {
        let dir = std::env::temp_dir().join(format!("dmd-ctx-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/Dockerfile"), "FROM scratch\n").unwrap();
        assert!(dockerfile_in(&dir, "sub/Dockerfile").is_ok());
        assert!(dockerfile_in(&dir, "../x").is_err());
        assert!(dockerfile_in(&dir, "/etc/passwd").is_err());
        assert!(dockerfile_in(&dir, "Dockerfile").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
