//! Image commands: images, pull, push, build, save, load, history, tag, rmi.

use super::format::{self, s};
use crate::term;
use anyhow::{Context, Result};
use base64::Engine;
use dm_cli::client::query;
use dm_cli::progress::Progress;
use dm_cli::Client;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// Splits `repo[:tag]` or `repo@digest` into the repository and tag (or digest).
pub fn split_ref(r: &str) -> (&str, &str) {
    if let Some((repo, digest)) = r.split_once('@') {
        return (repo, digest);
    }
    let slash = r.rfind('/').map_or(0, |i| i + 1);
    match r[slash..].rfind(':') {
        Some(i) => (&r[..slash + i], &r[slash + i + 1..]),
        None => (r, "latest"),
    }
}

/// The reference with `:latest` added when it names no tag or digest.
pub fn with_tag(r: &str) -> String {
    let (repo, tag) = split_ref(r);
    if tag.contains(':') {
        format!("{repo}@{tag}")
    } else {
        format!("{repo}:{tag}")
    }
}

/// `dockermind pull`: progress to `out`.
pub fn pull(c: &Client, image: &str, out: &mut dyn Write) -> Result<()> {
    let (repo, tag) = split_ref(image);
    let r = c.send(
        "POST",
        &format!(
            "/images/create{}",
            query(&[("fromImage", repo), ("tag", tag)])
        ),
        &[],
        None,
    )?;
    let tty = term::is_tty(&std::io::stdout());
    let mut p = Progress::new(out, tty);
    Client::messages(r.body, |m| {
        let _ = p.show(m);
    })?;
    Ok(())
}

/// An empty registry credential, as docker sends when not logged in.
fn auth_header() -> String {
    base64::engine::general_purpose::URL_SAFE.encode(b"{}")
}

/// `dockermind push`.
pub fn push(c: &Client, image: &str) -> Result<i32> {
    let (repo, tag) = split_ref(image);
    let auth = auth_header();
    let r = c.send(
        "POST",
        &format!("/images/{repo}/push{}", query(&[("tag", tag)])),
        &[("X-Registry-Auth", &auth)],
        None,
    )?;
    let mut p = Progress::new(std::io::stdout(), term::is_tty(&std::io::stdout()));
    Client::messages(r.body, |m| {
        let _ = p.show(m);
    })?;
    Ok(0)
}

/// `dockermind build`: the context directory as a tar, output streamed.
pub fn build(
    c: &Client,
    dir: &str,
    file: Option<&str>,
    tags: &[String],
    quiet: bool,
) -> Result<i32> {
    let root = Path::new(dir);
    if !root.is_dir() {
        anyhow::bail!("unable to prepare context: path {dir:?} not found");
    }
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.append_dir_all(".", root)
        .with_context(|| format!("archiving the build context {dir}"))?;
    let dockerfile = match file {
        None => "Dockerfile".to_owned(),
        Some(f) => match Path::new(f)
            .canonicalize()
            .ok()
            .zip(root.canonicalize().ok())
            .and_then(|(f, r)| f.strip_prefix(&r).ok().map(|p| p.to_path_buf()))
        {
            Some(rel) => rel.to_string_lossy().into_owned(),
            None => {
                // A Dockerfile outside the context travels in the archive under a private name.
                let name = ".dockermind-Dockerfile";
                tar.append_path_with_name(f, name)
                    .with_context(|| format!("reading the Dockerfile {f}"))?;
                name.to_owned()
            }
        },
    };
    let body = tar.into_inner().context("archiving the build context")?;
    let mut q: Vec<(&str, &str)> = tags.iter().map(|t| ("t", t.as_str())).collect();
    q.push(("dockerfile", &dockerfile));
    if quiet {
        q.push(("q", "1"));
    }
    let r = c.send(
        "POST",
        &format!("/build{}", query(&q)),
        &[("Content-Type", "application/x-tar")],
        Some(&body),
    )?;
    let mut id = String::new();
    let mut p = Progress::new(std::io::stdout(), term::is_tty(&std::io::stdout()));
    Client::messages(r.body, |m| {
        if let Some(i) = m.pointer("/aux/ID").and_then(Value::as_str) {
            id = i.to_owned();
        }
        if !quiet {
            let _ = p.show(m);
        }
    })?;
    if quiet {
        println!("{id}");
    }
    Ok(0)
}

/// `dockermind save`: the archive streamed to `output` (written beside it, then renamed, so a
/// failed save leaves no partial file) or to stdout.
pub fn save(c: &Client, output: Option<&str>, images: &[String]) -> Result<i32> {
    let q: Vec<(&str, &str)> = images.iter().map(|i| ("names", i.as_str())).collect();
    let Some(path) = output else {
        if term::is_tty(&std::io::stdout()) {
            anyhow::bail!(
                "refusing to write an archive to a terminal: use -o FILE or redirect the output"
            );
        }
        let mut r = c.send("GET", &format!("/images/get{}", query(&q)), &[], None)?;
        std::io::copy(&mut r.body, &mut std::io::stdout().lock()).context("writing the archive")?;
        return Ok(0);
    };
    let mut r = c.send("GET", &format!("/images/get{}", query(&q)), &[], None)?;
    let tmp = format!("{path}.partial");
    let copied = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {tmp}"))?;
        std::io::copy(&mut r.body, &mut f).context("writing the archive")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("rename {tmp} to {path}"))?;
        Ok(())
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    copied.map(|()| 0)
}

/// `dockermind load`: prints `Loaded image: NAME` per name.
pub fn load(c: &Client, input: Option<&str>, quiet: bool) -> Result<i32> {
    let body = match input {
        Some(p) => std::fs::read(p).with_context(|| format!("read {p}"))?,
        None => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b)
                .context("read the archive from standard input")?;
            b
        }
    };
    let q = if quiet { "?quiet=1" } else { "" };
    let r = c.send(
        "POST",
        &format!("/images/load{q}"),
        &[("Content-Type", "application/x-tar")],
        Some(&body),
    )?;
    Client::messages(r.body, |m| {
        if let Some(s) = m.get("stream").and_then(Value::as_str) {
            print!("{s}");
        }
    })?;
    Ok(0)
}

/// `dockermind history`.
pub fn history(c: &Client, image: &str, quiet: bool) -> Result<i32> {
    let entries: Vec<Value> = c.json("GET", &format!("/images/{image}/history"), None)?;
    let mut rows = vec![];
    for e in &entries {
        let id = match s(e, "Id") {
            "<missing>" => "<missing>".to_owned(),
            id => format::short_id(id),
        };
        if quiet {
            println!("{id}");
            continue;
        }
        let created = format::ago(e.get("Created").and_then(Value::as_i64).unwrap_or(0));
        let by: String = s(e, "CreatedBy").chars().take(45).collect();
        let size = format::size(e.get("Size").and_then(Value::as_i64).unwrap_or(0));
        rows.push(vec![id, created, by, size, s(e, "Comment").to_owned()]);
    }
    if !quiet {
        print!(
            "{}",
            format::table(
                &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                &rows
            )
        );
    }
    Ok(0)
}

/// `dockermind images`.
pub fn images(c: &Client, quiet: bool) -> Result<i32> {
    let list = c.images()?;
    if quiet {
        for i in &list {
            println!("{}", format::short_id(s(i, "Id")));
        }
        return Ok(0);
    }
    let mut rows = vec![];
    for i in &list {
        let id = format::short_id(s(i, "Id"));
        let created = format::ago(i.get("Created").and_then(Value::as_i64).unwrap_or(0));
        let size = format::size(i.get("Size").and_then(Value::as_i64).unwrap_or(0));
        let tags: Vec<&str> = i
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if tags.is_empty() {
            rows.push(vec!["<none>".into(), "<none>".into(), id, created, size]);
            continue;
        }
        for t in tags {
            let (repo, tag) = split_ref(t);
            rows.push(vec![
                repo.to_owned(),
                tag.to_owned(),
                id.clone(),
                created.clone(),
                size.clone(),
            ]);
        }
    }
    print!(
        "{}",
        format::table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows)
    );
    Ok(0)
}

/// `dockermind tag`.
pub fn tag(c: &Client, source: &str, target: &str) -> Result<i32> {
    let (repo, tag) = split_ref(target);
    c.call(
        "POST",
        &format!(
            "/images/{}/tag{}",
            source,
            query(&[("repo", repo), ("tag", tag)])
        ),
        None,
    )?;
    Ok(0)
}

/// `dockermind rmi`: every image is tried; 1 if any failed.
pub fn rmi(c: &Client, images: &[String], force: bool) -> Result<i32> {
    let mut code = 0;
    for i in images {
        let r: dm_cli::Result<Vec<Value>> = c.json(
            "DELETE",
            &format!("/images/{}?force={}", i, force as u8),
            None,
        );
        match r {
            Ok(items) => {
                for it in items {
                    if let Some(u) = it.get("Untagged").and_then(Value::as_str) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = it.get("Deleted").and_then(Value::as_str) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(split_ref("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_ref("127.0.0.1:5000/busybox"),
            ("127.0.0.1:5000/busybox", "latest")
        );
        assert_eq!(
            split_ref("127.0.0.1:5000/b:1.36"),
            ("127.0.0.1:5000/b", "1.36")
        );
        assert_eq!(split_ref("b@sha256:ab"), ("b", "sha256:ab"));
        assert_eq!(with_tag("b@sha256:ab"), "b@sha256:ab");
        assert_eq!(with_tag("localhost:5000/b"), "localhost:5000/b:latest");
    }
}
