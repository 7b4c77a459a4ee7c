//! On-disk records of everything this crate makes, written atomically under one lock.
//!
//! A record is written *before* the object it names is made, so a crash between the two
//! leaves a record whose object may or may not exist; removal is idempotent, so recovery just
//! removes what a stale record names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::cni::CniRecord;
use crate::error::{Error, Result};
use crate::model::{EndpointRecord, HostRecord, NetworkRecord};

/// The state directory: `networks/<name>.json`, `endpoints/<container>@<network>.json`,
/// `cni/<container>@<network>.json`, `host.json` and the `lock` file.
#[derive(Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

/// An exclusive flock on the store, released on drop.
pub(crate) struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by self.0 and open; unlocking cannot violate memory safety.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Store {
    pub(crate) fn open(dir: &Path) -> Result<Store> {
        for sub in ["networks", "endpoints", "cni"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| Error::io("create state dir", &d, e))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// Serialises every mutation across threads and processes sharing this state dir.
    pub(crate) fn lock(&self) -> Result<Lock> {
        let p = self.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io("open lock", &p, e))?;
        // SAFETY: flock on an fd we own; blocking is intended.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("flock", &p, std::io::Error::last_os_error()));
        }
        Ok(Lock(f))
    }

    fn network_path(&self, name: &str) -> PathBuf {
        self.dir.join("networks").join(format!("{name}.json"))
    }

    fn endpoint_path(&self, container: &str, network: &str) -> PathBuf {
        self.dir
            .join("endpoints")
            .join(format!("{container}@{network}.json"))
    }

    pub(crate) fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        read(&self.network_path(name))
    }

    pub(crate) fn put_network(&self, r: &NetworkRecord) -> Result<()> {
        write_atomic(&self.network_path(&r.name), r)
    }

    pub(crate) fn del_network(&self, name: &str) -> Result<()> {
        remove(&self.network_path(name))
    }

    pub(crate) fn networks(&self) -> Result<Vec<NetworkRecord>> {
        read_all(&self.dir.join("networks"))
    }

    pub(crate) fn endpoint(
        &self,
        container: &str,
        network: &str,
    ) -> Result<Option<EndpointRecord>> {
        read(&self.endpoint_path(container, network))
    }

    pub(crate) fn put_endpoint(&self, r: &EndpointRecord) -> Result<()> {
        write_atomic(&self.endpoint_path(&r.container, &r.network), r)
    }

    pub(crate) fn del_endpoint(&self, container: &str, network: &str) -> Result<()> {
        remove(&self.endpoint_path(container, network))
    }

    pub(crate) fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        read_all(&self.dir.join("endpoints"))
    }

    fn cni_path(&self, container: &str, network: &str) -> PathBuf {
        self.dir
            .join("cni")
            .join(format!("{container}@{network}.json"))
    }

    pub(crate) fn cni(&self, container: &str, network: &str) -> Result<Option<CniRecord>> {
        read(&self.cni_path(container, network))
    }

    pub(crate) fn put_cni(&self, r: &CniRecord) -> Result<()> {
        write_atomic(&self.cni_path(&r.container, &r.network), r)
    }

    pub(crate) fn del_cni(&self, container: &str, network: &str) -> Result<()> {
        remove(&self.cni_path(container, network))
    }

    pub(crate) fn cnis(&self) -> Result<Vec<CniRecord>> {
        read_all(&self.dir.join("cni"))
    }

    pub(crate) fn host(&self) -> Result<HostRecord> {
        Ok(read(&self.dir.join("host.json"))?.unwrap_or_default())
    }

    pub(crate) fn put_host(&self, r: &HostRecord) -> Result<()> {
        write_atomic(&self.dir.join("host.json"), r)
    }
}

fn read<T: DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    match fs::read(p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| Error::State {
                path: p.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", p, e)),
    }
}

fn read_all<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        if let Some(r) = read(&p)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Writes via a temp file and rename, so a crash of the process leaves the old or the new
/// record. No fsync: the records describe kernel objects (links, rules) that a power loss or
/// reboot destroys as well, so they only need to outlive the process, not the page cache.
fn write_atomic<T: Serialize>(p: &Path, v: &T) -> Result<()> {
    let tmp = p.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(v).expect("records always serialise");
    let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(&body)
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, p).map_err(|e| Error::io("rename", p, e))
}

fn remove(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", p, e)),
        _ => Ok(()),
    }
}
