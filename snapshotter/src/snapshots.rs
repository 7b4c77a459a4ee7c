//! The overlay snapshotter: containerd's snapshot operations over a [`Store`] and a directory
//! per snapshot (`<root>/snapshots/<id>/fs` and `work`).
//!
//! Crash safety: directories are made under a temporary name, moved to `snapshots/<id>` inside
//! the metadata transaction and the transaction committed last; removal commits first and
//! deletes after. Whatever a crash leaves is a directory no record names, which [`Snapshotter::cleanup`]
//! removes.

use crate::info::{validate_labels, Info, Kind, Usage};
use crate::mounts::{self, Mount};
use crate::store::{Record, Store};
use crate::usage::disk_usage;
use crate::{rootcheck, sys, Error, Result};
use dm_filters::Filter;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// An overlayfs snapshotter rooted at one directory.
pub struct Snapshotter {
    root: PathBuf,
    snapshots: PathBuf,
    store: Store,
    /// Serialises directory changes so Cleanup never sees a half-made snapshot.
    dirs: Mutex<()>,
    index_off: bool,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Snapshotter {
    /// Opens the snapshotter at `root`, creating it; refuses a root that is not writable or
    /// cannot hold overlay upper dirs, or that another process has open.
    pub fn open(root: &Path) -> Result<Snapshotter> {
        rootcheck::check_root(root)?;
        let snapshots = root.join("snapshots");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&snapshots)
            .map_err(Error::io("create", &snapshots))?;
        let store = Store::open(&root.join("metadata.redb"))?;
        Ok(Snapshotter {
            root: root.to_owned(),
            snapshots,
            store,
            dirs: Mutex::new(()),
            index_off: sys::overlay_has_index_option(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates an active (writable) snapshot `key` on top of committed `parent` ("" for none).
    pub fn prepare(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.create(Kind::Active, key, parent, labels)
    }

    /// Creates a read-only view `key` of committed `parent`.
    pub fn view(
        &self,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.create(Kind::View, key, parent, labels)
    }

    fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
    ) -> Result<Vec<Mount>> {
        if key.is_empty() {
            return Err(Error::invalid("key", "must not be empty"));
        }
        validate_labels(&labels)?;
        let _g = self.lock();
        let temp = self.snapshots.join(format!(
            "new-{}-{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let made = self.make_dirs(&temp, kind);
        let result = made.and_then(|()| self.create_in_tx(kind, key, parent, labels, &temp));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        result
    }

    fn make_dirs(&self, temp: &Path, kind: Kind) -> Result<()> {
        let mut b = std::fs::DirBuilder::new();
        b.mode(0o700);
        b.create(temp).map_err(Error::io("create", temp))?;
        b.mode(0o755);
        b.create(temp.join("fs"))
            .map_err(Error::io("create", temp))?;
        if kind == Kind::Active {
            b.mode(0o711);
            b.create(temp.join("work"))
                .map_err(Error::io("create", temp))?;
        }
        Ok(())
    }

    fn create_in_tx(
        &self,
        kind: Kind,
        key: &str,
        parent: &str,
        labels: HashMap<String, String>,
        temp: &Path,
    ) -> Result<Vec<Mount>> {
        let tx = self.store.write()?;
        if tx.get(key)?.is_some() {
            return Err(Error::AlreadyExists(key.to_owned()));
        }
        let parents = if parent.is_empty() {
            Vec::new()
        } else {
            let chain = tx.chain(parent).map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!("{parent} (parent of {key})")),
                e => e,
            })?;
            if chain[0].kind != Kind::Committed {
                return Err(Error::precondition(
                    parent,
                    format!(
                        "parent of {key} is {}, not committed",
                        chain[0].kind.as_str()
                    ),
                ));
            }
            chain.iter().map(|r| r.id).collect()
        };
        if let Some(p) = parents.first() {
            // New layers start owned like their parent's root, as containerd's overlay does, so
            // remapped (user namespace) images keep a consistent root owner.
            let pfs = mounts::fs_dir(&self.snapshots, *p);
            let md = std::fs::metadata(&pfs).map_err(Error::io("stat", &pfs))?;
            std::os::unix::fs::chown(temp.join("fs"), Some(md.uid()), Some(md.gid()))
                .map_err(Error::io("chown", temp.join("fs")))?;
        }
        let id = tx.next_id()?;
        let now = SystemTime::now();
        let rec = Record {
            id,
            kind,
            parent: parent.to_owned(),
            labels,
            created: now,
            updated: now,
            usage: Usage::default(),
        };
        tx.put(key, &rec)?;
        let dir = self.snapshots.join(id.to_string());
        // An id is only taken in a committed transaction, so a directory already there is the
        // leftover of one that crashed before committing.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(Error::io("remove stale", &dir))?;
        }
        std::fs::rename(temp, &dir).map_err(Error::io("rename", temp))?;
        if let Err(e) = tx.commit() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(mounts::mounts(
            &self.snapshots,
            kind,
            id,
            &parents,
            self.index_off,
        ))
    }

    /// Mounts of an active snapshot or view.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let chain = self.store.chain(key)?;
        let me = &chain[0];
        if me.kind == Kind::Committed {
            return Err(Error::precondition(
                key,
                "is committed; only active snapshots and views have mounts",
            ));
        }
        let parents: Vec<u64> = chain[1..].iter().map(|r| r.id).collect();
        Ok(mounts::mounts(
            &self.snapshots,
            me.kind,
            me.id,
            &parents,
            self.index_off,
        ))
    }

    /// Turns active snapshot `key` into committed snapshot `name` with `labels`.
    pub fn commit(&self, name: &str, key: &str, labels: HashMap<String, String>) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        validate_labels(&labels)?;
        let _g = self.lock();
        let tx = self.store.write()?;
        let active = tx
            .get(key)?
            .ok_or_else(|| Error::NotFound(key.to_owned()))?;
        if active.kind != Kind::Active {
            return Err(Error::precondition(
                key,
                format!(
                    "is {}; only active snapshots can be committed",
                    active.kind.as_str()
                ),
            ));
        }
        if tx.get(name)?.is_some() {
            return Err(Error::AlreadyExists(name.to_owned()));
        }
        let usage = disk_usage(&mounts::fs_dir(&self.snapshots, active.id))?;
        // The upper dir is the layer from now on; overlay's scratch dir is not needed any more.
        let work = mounts::work_dir(&self.snapshots, active.id);
        tx.delete(key, &active)?;
        let now = SystemTime::now();
        let committed = Record {
            kind: Kind::Committed,
            labels,
            created: now,
            updated: now,
            usage,
            ..active
        };
        tx.put(name, &committed)?;
        tx.commit()?;
        let _ = std::fs::remove_dir_all(work);
        Ok(())
    }

    /// Removes `key` and its directory; refused while another snapshot descends from it.
    pub fn remove(&self, key: &str) -> Result<()> {
        let _g = self.lock();
        let tx = self.store.write()?;
        let rec = tx
            .get(key)?
            .ok_or_else(|| Error::NotFound(key.to_owned()))?;
        if let Some(child) = tx.first_child(key)? {
            return Err(Error::precondition(
                key,
                format!("cannot remove: snapshot {child} has it as parent"),
            ));
        }
        tx.delete(key, &rec)?;
        tx.commit()?;
        let dir = self.snapshots.join(rec.id.to_string());
        // Renaming first makes the removal look atomic: a crash halfway leaves an `rm-` dir
        // for Cleanup, never a half-deleted dir under a live-looking id.
        let gone = self.snapshots.join(format!("rm-{}", rec.id));
        // The snapshot is gone once the record is: a directory that cannot be deleted now (still
        // mounted somewhere, say) is logged and left for Cleanup rather than failing the call.
        let removed = match std::fs::rename(&dir, &gone) {
            Ok(()) => std::fs::remove_dir_all(&gone),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            log::warn!(
                "remove {key}: directory {} left for cleanup: {e}",
                dir.display()
            );
        }
        Ok(())
    }

    /// Facts about `key`.
    pub fn stat(&self, key: &str) -> Result<Info> {
        let rec = self
            .store
            .get(key)?
            .ok_or_else(|| Error::NotFound(key.to_owned()))?;
        Ok(rec.info(key))
    }

    /// Updates the mutable part (labels) of `info.name`.
    ///
    /// `fieldpaths` as containerd gives them: none or empty replaces all labels; `labels`
    /// replaces all; `labels.K` sets or (when absent from `info`) deletes one label.
    pub fn update(&self, info: &Info, fieldpaths: &[String]) -> Result<Info> {
        let _g = self.lock();
        let tx = self.store.write()?;
        let mut rec = tx
            .get(&info.name)?
            .ok_or_else(|| Error::NotFound(info.name.clone()))?;
        if fieldpaths.is_empty() {
            rec.labels = info.labels.clone();
        }
        for path in fieldpaths {
            if path == "labels" {
                rec.labels = info.labels.clone();
            } else if let Some(k) = path.strip_prefix("labels.") {
                match info.labels.get(k) {
                    Some(v) => rec.labels.insert(k.to_owned(), v.clone()),
                    None => rec.labels.remove(k),
                };
            } else {
                return Err(Error::invalid(
                    "fieldpaths",
                    format!(
                        "cannot update {path:?} of snapshot {}: only labels are mutable",
                        info.name
                    ),
                ));
            }
        }
        validate_labels(&rec.labels)?;
        rec.updated = SystemTime::now();
        tx.put(&info.name, &rec)?;
        tx.commit()?;
        Ok(rec.info(&info.name))
    }

    /// Disk usage of `key` alone (its parents excluded): measured now for active snapshots,
    /// as recorded at commit for committed ones.
    pub fn usage(&self, key: &str) -> Result<Usage> {
        let rec = self
            .store
            .get(key)?
            .ok_or_else(|| Error::NotFound(key.to_owned()))?;
        match rec.kind {
            Kind::Active => disk_usage(&mounts::fs_dir(&self.snapshots, rec.id)),
            _ => Ok(rec.usage),
        }
    }

    /// Calls `f` for every snapshot matching `filters` (containerd filter syntax), in name order.
    pub fn walk<S: AsRef<str>>(
        &self,
        filters: &[S],
        mut f: impl FnMut(Info) -> Result<()>,
    ) -> Result<()> {
        let filter =
            Filter::parse_all(filters).map_err(|e| Error::invalid("filters", e.to_string()))?;
        for (name, rec) in self.store.all()? {
            let info = rec.info(&name);
            if filter.matches(&info) {
                f(info)?;
            }
        }
        Ok(())
    }

    /// Every snapshot matching `filters`.
    pub fn list<S: AsRef<str>>(&self, filters: &[S]) -> Result<Vec<Info>> {
        let mut out = Vec::new();
        self.walk(filters, |i| {
            out.push(i);
            Ok(())
        })?;
        Ok(out)
    }

    /// Removes every directory under `snapshots/` that no snapshot record names (leftovers of
    /// crashes or interrupted removals); returns what it removed.
    pub fn cleanup(&self) -> Result<Vec<PathBuf>> {
        let _g = self.lock();
        let live: HashSet<String> = self
            .store
            .all()?
            .into_iter()
            .map(|(_, r)| r.id.to_string())
            .collect();
        let mut removed = Vec::new();
        let entries =
            std::fs::read_dir(&self.snapshots).map_err(Error::io("read dir", &self.snapshots))?;
        for e in entries {
            let e = e.map_err(Error::io("read dir", &self.snapshots))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if live.contains(&name) {
                continue;
            }
            let p = e.path();
            std::fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
            removed.push(p);
        }
        Ok(removed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic elsewhere while holding the lock leaves nothing half-done on disk that the
        // next caller must not touch, so a poisoned lock is still usable.
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }
}
