//! Ingests: blobs being written. Each lives in `ingest/<sha256(ref)>/` as `status.json` (ref,
//! start time, expected size and digest) and `data` (the bytes so far). The offset of an ingest
//! is the length of `data`, so an ingest interrupted by a crash resumes where its bytes end;
//! the digest state is rebuilt by hashing `data` again when a writer reopens it.

use crate::clock::{from_nanos, to_nanos};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, read_full_at};
use crate::labels::{self, Labels};
use crate::locks::RefGuard;
use crate::store::Store;
use dm_filters::Fields;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Progress of one ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestStatus {
    /// The client's name for the ingest.
    pub reference: String,
    /// Bytes written so far.
    pub offset: u64,
    /// Expected final size, if the writer gave one.
    pub total: Option<u64>,
    /// Expected final digest, if the writer gave one.
    pub expected: Option<Digest>,
    /// When the ingest began.
    pub started_at: SystemTime,
    /// When data was last written.
    pub updated_at: SystemTime,
}

impl Fields for IngestStatus {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str) {
            Some("ref") => Some(self.reference.clone()),
            _ => None,
        }
    }
}

/// `status.json`: what an ingest was opened with.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    #[serde(rename = "ref")]
    reference: String,
    started_ns: i64,
    total: Option<u64>,
    expected: Option<String>,
}

impl State {
    fn load(dir: &Path) -> Option<State> {
        let data = fs::read(dir.join("status.json")).ok()?;
        serde_json::from_slice(&data).ok()
    }

    /// Not fsync'd: an ingest whose state is lost in a power cut is restarted from zero,
    /// which is always safe because nothing is trusted before commit verifies it.
    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("status.json");
        let tmp = dir.join(".status.json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| Error::Io {
            op: "serialize ingest state",
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        fs::write(&tmp, data).ctx("write", &tmp)?;
        fs::rename(&tmp, &path).ctx("rename into place", &path)
    }
}

/// The status of the ingest in `dir`, or `None` if there is none (or only debris of one).
pub(crate) fn status(dir: &Path) -> Result<Option<IngestStatus>> {
    let Some(st) = State::load(dir) else {
        return Ok(None);
    };
    let data = dir.join("data");
    let m = match fs::metadata(&data) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx("stat", &data),
    };
    Ok(Some(IngestStatus {
        reference: st.reference,
        offset: m.size(),
        total: st.total,
        expected: st.expected.and_then(|e| e.parse().ok()),
        started_at: from_nanos(st.started_ns),
        updated_at: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }))
}

/// The outcome of a successful commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// Digest of the bytes written.
    pub digest: Digest,
    /// Their size.
    pub size: u64,
    /// False if another writer had already committed the same digest (this writer's data was
    /// discarded and its labels not applied).
    pub created: bool,
}

/// Bytes written between two writeback starts: large enough that the disk gets long
/// sequential writes, small enough that a 100 MB blob is mostly on disk by its commit.
const WRITEBACK_STEP: u64 = 8 << 20;

/// An open, locked ingest. Dropping it keeps the ingest on disk for a later writer to resume.
pub struct Writer {
    store: Store,
    reference: String,
    dir: PathBuf,
    file: File,
    offset: u64,
    /// Where the writeback started by [`fsutil::start_writeback`] has reached.
    written_back: u64,
    hasher: Hasher,
    total: Option<u64>,
    expected: Option<Digest>,
    started_at: SystemTime,
    updated_at: SystemTime,
    _lock: RefGuard,
}

impl Writer {
    pub(crate) fn open(
        store: Store,
        reference: &str,
        total: Option<u64>,
        expected: Option<Digest>,
    ) -> Result<Writer> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument(
                "ingest ref must not be empty".into(),
            ));
        }
        let lock = store.inner.locks.try_lock(reference)?;
        let dir = store.ingest_dir(reference);
        let data = dir.join("data");
        if let Some(mut st) = State::load(&dir).filter(|s| s.reference == reference) {
            let same_total = match (total, st.total) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if same_total && data.exists() {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&data)
                    .ctx("open", &data)?;
                st.total = st.total.or(total);
                if let Some(e) = &expected {
                    st.expected = Some(e.to_string());
                }
                let expected: Option<Digest> = st.expected.as_deref().and_then(|e| e.parse().ok());
                let (offset, hasher) = rehash(&file, &data, algorithm_for(&expected))?;
                st.save(&dir)?;
                log::debug!("ingest {reference:?} resumed at offset {offset}");
                return Ok(Writer {
                    expected,
                    total: st.total,
                    started_at: from_nanos(st.started_ns),
                    updated_at: fs::metadata(&data)
                        .and_then(|m| m.modified())
                        .unwrap_or_else(|_| SystemTime::now()),
                    store,
                    reference: reference.to_owned(),
                    dir,
                    file,
                    offset,
                    written_back: offset,
                    hasher,
                    _lock: lock,
                });
            }
            log::info!(
                "ingest {reference:?}: total changed from {:?} to {total:?}, restarting it",
                st.total
            );
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx("remove stale ingest", &dir),
        }
        fs::create_dir_all(&dir).ctx("create ingest", &dir)?;
        let now = SystemTime::now();
        State {
            reference: reference.to_owned(),
            started_ns: to_nanos(now),
            total,
            expected: expected.as_ref().map(Digest::to_string),
        }
        .save(&dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&data)
            .ctx("create", &data)?;
        Ok(Writer {
            store,
            reference: reference.to_owned(),
            dir,
            file,
            offset: 0,
            written_back: 0,
            hasher: Hasher::with_algorithm(algorithm_for(&expected)),
            total,
            expected,
            started_at: now,
            updated_at: now,
            _lock: lock,
        })
    }

    /// The current progress.
    pub fn status(&self) -> IngestStatus {
        IngestStatus {
            reference: self.reference.clone(),
            offset: self.offset,
            total: self.total,
            expected: self.expected.clone(),
            started_at: self.started_at,
            updated_at: self.updated_at,
        }
    }

    /// Digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Sets the expected total; `None` keeps the current one.
    pub fn set_total(&mut self, total: Option<u64>) {
        if total.is_some() {
            self.total = total;
        }
    }

    /// Appends `data` at the current offset.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let path = self.dir.join("data");
        self.file
            .write_all_at(data, self.offset)
            .ctx("write", &path)?;
        self.hasher.update(data);
        self.offset += data.len() as u64;
        if self.offset - self.written_back >= WRITEBACK_STEP {
            fsutil::start_writeback(
                &self.file,
                self.written_back,
                self.offset - self.written_back,
            );
            self.written_back = self.offset;
        }
        self.updated_at = SystemTime::now();
        Ok(())
    }

    /// Discards everything written (the only truncation containerd requires: to offset 0).
    pub fn truncate(&mut self, size: u64) -> Result<()> {
        if size != 0 {
            return Err(Error::InvalidArgument(format!(
                "ingest {:?}: truncate only supports size 0, not {size}",
                self.reference
            )));
        }
        let path = self.dir.join("data");
        self.file.set_len(0).ctx("truncate", &path)?;
        self.offset = 0;
        self.written_back = 0;
        self.hasher = Hasher::with_algorithm(self.hasher.algorithm());
        self.updated_at = SystemTime::now();
        Ok(())
    }

    /// Verifies size and digest (the arguments, else what the writer was opened with), makes
    /// the data durable and stores it as a blob with `labels`. On a mismatch nothing is stored
    /// and the ingest stays for the client to rewrite or abort.
    pub fn commit(
        self,
        total: Option<u64>,
        expected: Option<Digest>,
        labels: &Labels,
    ) -> Result<Committed> {
        labels::validate(labels)?;
        let data = self.dir.join("data");
        let size = self.offset;
        if let Some(t) = total.or(self.total) {
            if t != size {
                return Err(Error::SizeMismatch {
                    actual: size,
                    expected: t,
                });
            }
        }
        let expected = expected.or_else(|| self.expected.clone());
        let digest = match &expected {
            // The writer learnt the digest's algorithm only now: hash the data again with it.
            Some(e) if e.algorithm() != self.hasher.algorithm() => {
                rehash(&self.file, &data, e.algorithm())?.1.digest()
            }
            _ => self.hasher.digest(),
        };
        if let Some(e) = expected {
            if e != digest {
                return Err(Error::DigestMismatch {
                    actual: digest,
                    expected: e,
                });
            }
        }
        let on_disk = self.file.metadata().ctx("stat", &data)?.size();
        if on_disk != size {
            return Err(Error::Io {
                op: "check ingest data",
                path: data,
                source: io::Error::other(format!("{on_disk} bytes on disk, {size} written")),
            });
        }
        self.file.sync_all().ctx("fsync", &data)?;
        if !data.exists() {
            return Err(Error::IngestNotFound(self.reference.clone()));
        }
        let created = self.store.install(&data, &digest, labels)?;
        fs::remove_dir_all(&self.dir).ctx("remove ingest", &self.dir)?;
        Ok(Committed {
            digest,
            size,
            created,
        })
    }
}

/// The algorithm a writer hashes with: the expected digest's, else the canonical sha256.
fn algorithm_for(expected: &Option<Digest>) -> Algorithm {
    expected
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm)
}

/// Offset and `alg` digest state of an existing data file.
fn rehash(f: &File, path: &Path, alg: Algorithm) -> Result<(u64, Hasher)> {
    let mut h = Hasher::with_algorithm(alg);
    let mut buf = vec![0; 1 << 20];
    let mut pos = 0u64;
    loop {
        let n = read_full_at(f, &mut buf, pos, path)?;
        if n == 0 {
            return Ok((pos, h));
        }
        h.update(&buf[..n]);
        pos += n as u64;
    }
}
