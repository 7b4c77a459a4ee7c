//! `dockermind cp` and `dockermind export`: tars to and from the daemon's archive endpoints.

use anyhow::{bail, Context, Result};
use base64::Engine;
use dm_cli::client::{enc, query};
use dm_cli::Client;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// `CONTAINER:PATH` split, or None for a local path (`./a:b` and `/a:b` stay local).
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

/// The stat the daemon returns for `path` in `ctr` (None when it does not exist).
fn stat(c: &Client, ctr: &str, path: &str) -> Result<Option<Value>> {
    let p = format!(
        "/containers/{}/archive{}",
        enc(ctr),
        query(&[("path", path)])
    );
    match c.send("HEAD", &p, &[], None) {
        Ok(r) => {
            let h = r.head.header("x-docker-container-path-stat").unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h)
                .context("malformed X-Docker-Container-Path-Stat header")?;
            Ok(Some(serde_json::from_slice(&raw)?))
        }
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_dir(stat: &Value) -> bool {
    stat["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
}

/// `dockermind cp [-a] [-L] SRC DST`, one side being `CONTAINER:PATH`; `-` is a tar on
/// stdin or stdout.
pub fn cp(c: &Client, src: &str, dst: &str, archive: bool, follow: bool) -> Result<i32> {
    match (container_path(src), container_path(dst)) {
        (Some((ctr, path)), None) => copy_out(c, ctr, path, dst, follow),
        (None, Some((ctr, path))) => copy_in(c, src, ctr, path, archive),
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

fn copy_out(c: &Client, ctr: &str, path: &str, dst: &str, follow: bool) -> Result<i32> {
    let mut path = path.to_owned();
    if follow {
        if let Some(s) = stat(c, ctr, &path)? {
            if let Some(t) = s["linkTarget"].as_str().filter(|t| !t.is_empty()) {
                path = t.to_owned();
            }
        }
    }
    let p = format!(
        "/containers/{}/archive{}",
        enc(ctr),
        query(&[("path", &path)])
    );
    let r = c.send("GET", &p, &[], None).map_err(|e| match e.status() {
        Some(404) => anyhow::anyhow!("Error: No such container:path: {ctr}:{path}"),
        _ => e.into(),
    })?;
    let mut body = r.body;
    if dst == "-" {
        std::io::copy(&mut body, &mut std::io::stdout().lock())?;
        return Ok(0);
    }
    let dst = Path::new(dst);
    if dst.is_dir() {
        unpack(&mut body, dst)?;
        return Ok(0);
    }
    // A new name: unpack beside it, then give the one top entry that name.
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("destination directory {} does not exist", parent.display());
    }
    let tmp = parent.join(format!(".dockermind-cp-{}", std::process::id()));
    std::fs::create_dir(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let moved = unpack(&mut body, &tmp).and_then(|_| {
        let top = std::fs::read_dir(&tmp)?
            .next()
            .context("the container sent an empty archive")??;
        std::fs::rename(top.path(), dst).with_context(|| format!("write {}", dst.display()))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    moved?;
    Ok(0)
}

/// Unpacks a tar into `dir` (the tar crate refuses entries that would leave it).
fn unpack(r: &mut impl Read, dir: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    ar.unpack(dir)
        .with_context(|| format!("extract into {}", dir.display()))
}

fn copy_in(c: &Client, src: &str, ctr: &str, path: &str, archive: bool) -> Result<i32> {
    let (target_dir, name) = match stat(c, ctr, path).map_err(|e| {
        match e
            .downcast_ref::<dm_cli::ClientError>()
            .and_then(|e| e.status())
        {
            Some(404) => anyhow::anyhow!("Error: No such container: {ctr}"),
            _ => e,
        }
    })? {
        Some(s) if is_dir(&s) => (path.to_owned(), None),
        _ => {
            let p = Path::new(path);
            let parent = p
                .parent()
                .map_or("/".into(), |p| p.to_string_lossy().into_owned());
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (
                if parent.is_empty() {
                    "/".into()
                } else {
                    parent
                },
                name,
            )
        }
    };
    let tar = if src == "-" {
        let mut b = vec![];
        std::io::stdin().read_to_end(&mut b)?;
        b
    } else {
        let src_path = Path::new(src);
        let meta = std::fs::symlink_metadata(src_path).with_context(|| format!("lstat {src}"))?;
        let base = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let top = name.unwrap_or(base);
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        if meta.is_dir() {
            b.append_dir_all(&top, src_path)?;
        } else {
            b.append_path_with_name(src_path, &top)?;
        }
        b.into_inner()?
    };
    let q = query(&[
        ("path", &target_dir),
        ("noOverwriteDirNonDir", "true"),
        ("copyUIDGID", if archive { "true" } else { "false" }),
    ]);
    let p = format!("/containers/{}/archive{q}", enc(ctr));
    let r = c.send(
        "PUT",
        &p,
        &[("Content-Type", "application/x-tar")],
        Some(&tar),
    )?;
    r.body.into_bytes()?;
    Ok(0)
}

/// `dockermind export [-o FILE] CONTAINER`.
pub fn export(c: &Client, ctr: &str, output: Option<&str>) -> Result<i32> {
    let mut out: Box<dyn Write> = match output {
        Some(f) => Box::new(std::fs::File::create(f).with_context(|| format!("create {f}"))?),
        None if std::io::stdout().is_terminal() => {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let r = c.send(
        "GET",
        &format!("/containers/{}/export", enc(ctr)),
        &[],
        None,
    )?;
    let mut body = r.body;
    std::io::copy(&mut body, &mut out)?;
    out.flush()?;
    Ok(0)
}
