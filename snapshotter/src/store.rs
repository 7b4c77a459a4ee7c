//! Snapshot metadata in one redb file.
//!
//! redb is an embedded, pure-Rust, single-file key-value store with ACID transactions: commits
//! are copy-on-write with a checksummed two-phase commit and fsync, so a crash (kill -9, power
//! loss) leaves either the old or the new state, never a torn one. It takes an exclusive file lock,
//! so a second process on the same root is refused. Being pure Rust it links statically with no C
//! toolchain, unlike SQLite, and unlike sled it is stable and keeps everything in one file.

use crate::info::{Info, Kind, Usage};
use crate::{Error, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

/// name → JSON [`Record`].
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
/// (parent, child) → (): lets Remove refuse a parent in O(log n).
const CHILDREN: TableDefinition<(&str, &str), ()> = TableDefinition::new("children");
/// counters: "next_id".
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// One snapshot as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Names its directory `snapshots/<id>`; never reused.
    pub id: u64,
    /// Its kind.
    pub kind: Kind,
    /// Parent name or "".
    pub parent: String,
    /// User labels.
    pub labels: HashMap<String, String>,
    /// Creation time.
    pub created: SystemTime,
    /// Last change time.
    pub updated: SystemTime,
    /// Usage frozen at commit (committed snapshots only).
    pub usage: Usage,
}

impl Record {
    /// The public view of this record under `name`.
    pub fn info(&self, name: &str) -> Info {
        Info {
            kind: self.kind,
            name: name.to_owned(),
            parent: self.parent.clone(),
            labels: self.labels.clone(),
            created: self.created,
            updated: self.updated,
        }
    }
}

/// The metadata database.
pub struct Store {
    db: Database,
}

/// An open write transaction; nothing is visible to others until [`WriteTx::commit`].
pub struct WriteTx(redb::WriteTransaction);

impl Store {
    /// Opens (or creates) the database file; refused if another process holds it.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::BadRoot {
                path: path.to_owned(),
                reason: "metadata store is in use by another process".into(),
            },
            e => Error::Store(format!("open {}: {e}", path.display())),
        })?;
        // Only a new file needs its tables made: a write transaction costs two fdatasyncs,
        // paid by every short-lived `dm-image` or `dm-build` run otherwise.
        let ready = {
            let r = db.begin_read()?;
            r.open_table(SNAPSHOTS).is_ok()
                && r.open_table(CHILDREN).is_ok()
                && r.open_table(META).is_ok()
        };
        if !ready {
            let tx = db.begin_write()?;
            tx.open_table(SNAPSHOTS)?;
            tx.open_table(CHILDREN)?;
            tx.open_table(META)?;
            tx.commit()?;
        }
        Ok(Store { db })
    }

    /// Starts a write transaction (one at a time; others wait).
    pub fn write(&self) -> Result<WriteTx> {
        Ok(WriteTx(self.db.begin_write()?))
    }

    /// Reads one record.
    pub fn get(&self, name: &str) -> Result<Option<Record>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SNAPSHOTS)?;
        get(&t, name)
    }

    /// The record for `name` and those of all its ancestors, nearest first.
    pub fn chain(&self, name: &str) -> Result<Vec<Record>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SNAPSHOTS)?;
        chain(&t, name)
    }

    /// Every (name, record), in name order.
    pub fn all(&self) -> Result<Vec<(String, Record)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SNAPSHOTS)?;
        let mut out = Vec::with_capacity(t.len()? as usize);
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }
}

fn get(t: &impl ReadableTable<&'static str, &'static [u8]>, name: &str) -> Result<Option<Record>> {
    match t.get(name)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

fn chain(t: &impl ReadableTable<&'static str, &'static [u8]>, name: &str) -> Result<Vec<Record>> {
    let mut out: Vec<Record> = Vec::new();
    let mut next = name.to_owned();
    while !next.is_empty() {
        let r = get(t, &next)?.ok_or_else(|| Error::NotFound(next.clone()))?;
        next = r.parent.clone();
        out.push(r);
        if out.len() > 4096 {
            return Err(Error::Store(format!("parent chain of {name} loops")));
        }
    }
    Ok(out)
}

impl WriteTx {
    /// Reads one record inside this transaction.
    pub fn get(&self, name: &str) -> Result<Option<Record>> {
        let t = self.0.open_table(SNAPSHOTS)?;
        get(&t, name)
    }

    /// The record for `name` and its ancestors, nearest first.
    pub fn chain(&self, name: &str) -> Result<Vec<Record>> {
        let t = self.0.open_table(SNAPSHOTS)?;
        chain(&t, name)
    }

    /// Takes the next never-used id.
    pub fn next_id(&self) -> Result<u64> {
        let mut t = self.0.open_table(META)?;
        let id = t.get("next_id")?.map(|v| v.value()).unwrap_or(1);
        t.insert("next_id", id + 1)?;
        Ok(id)
    }

    /// Inserts or replaces `name`, keeping the parent's child index in step.
    pub fn put(&self, name: &str, r: &Record) -> Result<()> {
        let mut t = self.0.open_table(SNAPSHOTS)?;
        t.insert(name, serde_json::to_vec(r)?.as_slice())?;
        if !r.parent.is_empty() {
            let mut c = self.0.open_table(CHILDREN)?;
            c.insert((r.parent.as_str(), name), ())?;
        }
        Ok(())
    }

    /// Deletes `name` and its entry in the child index.
    pub fn delete(&self, name: &str, r: &Record) -> Result<()> {
        let mut t = self.0.open_table(SNAPSHOTS)?;
        t.remove(name)?;
        if !r.parent.is_empty() {
            let mut c = self.0.open_table(CHILDREN)?;
            c.remove((r.parent.as_str(), name))?;
        }
        Ok(())
    }

    /// The first child of `name`, if it has any.
    pub fn first_child(&self, name: &str) -> Result<Option<String>> {
        let c = self.0.open_table(CHILDREN)?;
        let mut range = c.range((name, "")..)?;
        let first = match range.next() {
            Some(row) => {
                let (k, _) = row?;
                let (p, child) = k.value();
                (p == name).then(|| child.to_owned())
            }
            None => None,
        };
        Ok(first)
    }

    /// Makes every change of this transaction durable at once.
    pub fn commit(self) -> Result<()> {
        self.0.commit()?;
        Ok(())
    }
}
