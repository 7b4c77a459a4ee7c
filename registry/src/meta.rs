//! Per-repository records: which blobs and manifests a repository holds and what its tags
//! name. The bytes live once in dm-content; a repository only holds links.
//!
//! ```text
//! <root>/repos/<name>/_blobs/<alg>/<hex>          empty: the repository holds blob <alg>:<hex>
//! <root>/repos/<name>/_manifests/<alg>/<hex>      the manifest's media type
//! <root>/repos/<name>/_tags/<tag>                 the tagged manifest's digest
//! <root>/repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
//!                                                 a manifest whose subject is <alg>:<hex>
//! ```
//!
//! Names and tags are validated (see `names`) before they reach a path, and no component of a
//! repository name can start with `_`, so the records never collide with nested repositories.
//!
//! Every write replaces a file atomically (temp file, rename), so a crashed or killed registry
//! leaves each record old or new, never torn. Records are not fsynced: the bytes they point at
//! are (dm-content makes a blob durable before it becomes visible), and a journalling file
//! system commits renames in order, so after a power cut the records of the last seconds may
//! be missing (the client pushes again) but never name a blob that is not there. A record
//! whose bytes did not reach the disk reads as empty: an empty tag is no tag, and an empty
//! manifest record takes the manifest's media type from the manifest itself. Per push this
//! saves an fsync pair a record (3-15 ms each on the bench machine).

use crate::error::{IoContext, Result};
use dm_content::Digest;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// The repository records under a root.
#[derive(Debug, Clone)]
pub struct Meta {
    root: PathBuf,
}

/// Replaces `path` with `data` atomically (not durably: see the module doc), creating its
/// directory.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).ctx("create directory", dir)?;
    // Unique per call: requests on several threads may replace the same record at once.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let r = fs::write(&tmp, data)
        .ctx("write", &tmp)
        .and_then(|()| fs::rename(&tmp, path).ctx("rename into place", path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read", path),
    }
}

fn remove_opt(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).ctx("remove", path),
    }
}

/// Names of the regular, non-temporary files in `dir` (none if it does not exist).
fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx("list", dir),
    };
    let mut out = Vec::new();
    for e in entries {
        let name = e
            .ctx("list", dir)?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    Ok(out)
}

fn digest_path(dir: PathBuf, d: &Digest) -> PathBuf {
    dir.join(d.algorithm().name()).join(d.hex())
}

impl Meta {
    /// Records under `<root>/repos`.
    pub fn new(root: &Path) -> Meta {
        Meta {
            root: root.join("repos"),
        }
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether the repository has ever received a blob or manifest.
    pub fn repo_exists(&self, name: &str) -> bool {
        let r = self.repo(name);
        r.join("_blobs").is_dir() || r.join("_manifests").is_dir()
    }

    /// Whether the repository holds blob `d`.
    pub fn has_blob(&self, name: &str, d: &Digest) -> bool {
        digest_path(self.repo(name).join("_blobs"), d).exists()
    }

    /// Records that the repository holds blob `d`.
    pub fn link_blob(&self, name: &str, d: &Digest) -> Result<()> {
        write_atomic(&digest_path(self.repo(name).join("_blobs"), d), b"")
    }

    /// Removes the repository's link to blob `d`; false if it had none.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> Result<bool> {
        remove_opt(&digest_path(self.repo(name).join("_blobs"), d))
    }

    /// The media type of manifest `d` in the repository, if it holds it (empty: its record
    /// lost its bytes in a power cut).
    pub fn manifest(&self, name: &str, d: &Digest) -> Result<Option<String>> {
        read_opt(&digest_path(self.repo(name).join("_manifests"), d))
    }

    /// Records manifest `d` of `media_type` in the repository.
    pub fn link_manifest(&self, name: &str, d: &Digest, media_type: &str) -> Result<()> {
        write_atomic(
            &digest_path(self.repo(name).join("_manifests"), d),
            media_type.as_bytes(),
        )
    }

    /// Removes manifest `d` and every tag naming it; false if the repository lacked it.
    pub fn unlink_manifest(&self, name: &str, d: &Digest) -> Result<bool> {
        for tag in self.tags(name)? {
            if self.tag(name, &tag)?.as_ref() == Some(d) {
                self.untag(name, &tag)?;
            }
        }
        remove_opt(&digest_path(self.repo(name).join("_manifests"), d))
    }

    /// Every manifest digest of the repository.
    pub fn manifests(&self, name: &str) -> Result<Vec<Digest>> {
        let dir = self.repo(name).join("_manifests");
        let mut out = Vec::new();
        for alg in list_names(&dir)? {
            for hex in list_names(&dir.join(&alg))? {
                if let Ok(d) = format!("{alg}:{hex}").parse() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// The digest a tag names.
    pub fn tag(&self, name: &str, tag: &str) -> Result<Option<Digest>> {
        Ok(read_opt(&self.repo(name).join("_tags").join(tag))?.and_then(|s| s.parse().ok()))
    }

    /// Points `tag` at manifest `d`.
    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> Result<()> {
        write_atomic(
            &self.repo(name).join("_tags").join(tag),
            d.to_string().as_bytes(),
        )
    }

    /// Removes a tag; false if there was none.
    pub fn untag(&self, name: &str, tag: &str) -> Result<bool> {
        remove_opt(&self.repo(name).join("_tags").join(tag))
    }

    /// The repository's tags, sorted (not those whose record lost its bytes).
    pub fn tags(&self, name: &str) -> Result<Vec<String>> {
        let dir = self.repo(name).join("_tags");
        let mut t: Vec<String> = list_names(&dir)?
            .into_iter()
            .filter(|t| fs::metadata(dir.join(t)).is_ok_and(|m| m.len() > 0))
            .collect();
        t.sort();
        Ok(t)
    }

    /// Records that manifest `referrer` has `subject` as its subject.
    pub fn link_referrer(&self, name: &str, subject: &Digest, referrer: &Digest) -> Result<()> {
        let dir = digest_path(self.repo(name).join("_referrers"), subject);
        let file = format!("{}-{}", referrer.algorithm().name(), referrer.hex());
        write_atomic(&dir.join(file), b"")
    }

    /// Manifests recorded as referring to `subject`.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Result<Vec<Digest>> {
        let dir = digest_path(self.repo(name).join("_referrers"), subject);
        let mut out: Vec<Digest> = list_names(&dir)?
            .into_iter()
            .filter_map(|f| f.replacen('-', ":", 1).parse().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk(&self.root, "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        for n in list_names(dir)? {
            if n.starts_with('_') {
                continue;
            }
            let name = if prefix.is_empty() {
                n.clone()
            } else {
                format!("{prefix}/{n}")
            };
            let path = dir.join(&n);
            if !path.is_dir() {
                continue;
            }
            if self.repo_exists(&name) {
                out.push(name.clone());
            }
            self.walk(&path, &name, out)?;
        }
        Ok(())
    }

    /// The repository's blob links with the time each was last written.
    pub fn blob_links(&self, name: &str) -> Result<Vec<(Digest, SystemTime)>> {
        let dir = self.repo(name).join("_blobs");
        let mut out = Vec::new();
        for alg in list_names(&dir)? {
            for hex in list_names(&dir.join(&alg))? {
                let Ok(d) = format!("{alg}:{hex}").parse() else {
                    continue;
                };
                let path = dir.join(&alg).join(&hex);
                match fs::metadata(&path).and_then(|m| m.modified()) {
                    Ok(t) => out.push((d, t)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e).ctx("stat", &path),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_tags_and_catalog() {
        let dir = dm_testkit::TempDir::new("dm-registry-meta");
        let m = Meta::new(dir.path());
        let d = Digest::of(b"m");
        assert!(!m.repo_exists("a/b"));
        m.link_manifest("a/b", &d, "application/x").unwrap();
        m.set_tag("a/b", "v1", &d).unwrap();
        m.set_tag("a/b", "v0", &d).unwrap();
        m.link_blob("a", &d).unwrap();
        assert_eq!(m.repositories().unwrap(), ["a", "a/b"]);
        assert_eq!(m.tags("a/b").unwrap(), ["v0", "v1"]);
        assert_eq!(
            m.manifest("a/b", &d).unwrap().as_deref(),
            Some("application/x")
        );
        assert!(m.has_blob("a", &d) && !m.has_blob("a/b", &d));
        assert!(m.unlink_manifest("a/b", &d).unwrap());
        assert!(m.tags("a/b").unwrap().is_empty());
        let r = Digest::of(b"r");
        m.link_referrer("a", &d, &r).unwrap();
        assert_eq!(m.referrers("a", &d).unwrap(), [r]);
    }
}
