//! The daemon's state: the image store, the containers (records plus live handles) and the
//! shim events listener.

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::record::Record;
use crate::shim::{Exit, Shim};
use crate::stdio::Hub;
use anyhow::{Context, Result};
use dm_image::{AuthFile, ClientOptions, Images, RegistryConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::unix::pipe;
use tokio::sync::watch;

/// What waiters watch: exits so far, the last exit code, and removal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phase {
    /// How many times the container exited since the daemon loaded it.
    pub exits: u64,
    /// The last exit code.
    pub code: i32,
    /// The container is gone.
    pub removed: bool,
}

/// The container's stdin writer, shared by attaches (taken away when closed).
pub type Stdin = Arc<tokio::sync::Mutex<Option<pipe::Sender>>>;

/// A container with its live handles.
pub struct Entry {
    /// The record (saved on every state change).
    pub rec: Record,
    /// Output to attached clients while the process runs (or an attach waits for a start).
    pub hub: Option<Hub>,
    /// stdin while the container runs with it open (attaches wait for it to appear).
    pub stdin: watch::Sender<Option<Stdin>>,
    /// Exit and removal notifications.
    pub phase: watch::Sender<Phase>,
    /// The shim while the container runs.
    pub shim: Option<Shim>,
    /// Restart-policy bookkeeping kept in memory.
    pub life: crate::restart::Life,
}

/// Everything the handlers share.
pub struct Daemon {
    /// The flags.
    pub cfg: Config,
    /// Images, content and snapshots.
    pub images: Arc<Images>,
    id: String,
    ctrs: Mutex<HashMap<String, Entry>>,
    shim_events: Mutex<Option<containerd_shim_protos::ttrpc::Server>>,
    /// The event bus (`GET /events`).
    pub events: crate::events::Events,
    /// Named and anonymous volumes.
    pub volumes: crate::volume_store::VolumeStore,
    /// Exec processes by exec id.
    pub execs: Mutex<HashMap<String, crate::exec::ExecEntry>>,
    /// Networks and containers' endpoints.
    pub net: crate::netattach::Net,
}

impl Daemon {
    /// Opens the stores under `--root`, serves shim events, and reconnects to running
    /// containers' shims.
    pub async fn open(cfg: Config) -> Result<Arc<Daemon>> {
        let mut config = RegistryConfig::load(&cfg.registry_config, true)?;
        config
            .insecure_registries
            .extend(cfg.insecure_registries.iter().cloned());
        let auth = match AuthFile::default_path() {
            Some(p) => AuthFile::load(&p, true)?,
            None => AuthFile::default(),
        };
        let opts = ClientOptions {
            config,
            auth,
            ..Default::default()
        };
        crate::jsonlog::parse_defaults(&cfg.log_opts)?;
        for dir in [&cfg.root, &cfg.exec_root] {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::create_dir_all(cfg.root.join("containers"))?;
        let images = Images::open(&cfg.root, opts)
            .with_context(|| format!("open image store at --root {}", cfg.root.display()))?;
        let id = daemon_id(&cfg.root)?;
        let volumes = crate::volume_store::VolumeStore::open(&cfg.root)
            .with_context(|| format!("open volumes under {}", cfg.root.display()))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Exit>();
        let server = crate::shim::serve_events(&cfg.exec_root, tx)
            .map_err(|e| anyhow::anyhow!("serve shim events: {e}"))?;
        let net = crate::netattach::Net::open(&cfg).context("open network records")?;
        let events = crate::events::Events::open(&cfg.root.join("events.jsonl"));
        let d = Arc::new(Daemon {
            net,
            cfg,
            images: Arc::new(images),
            id,
            ctrs: Mutex::new(HashMap::new()),
            shim_events: Mutex::new(Some(server)),
            events,
            volumes,
            execs: Mutex::new(HashMap::new()),
        });
        let dd = d.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let d = dd.clone();
                tokio::spawn(async move {
                    if e.id.is_empty() || e.id == e.container_id {
                        d.on_exit(&e.container_id, e.status as i32).await;
                    } else {
                        d.on_exec_exit(&e.id, e.status as i32).await;
                    }
                });
            }
        });
        d.recover().await;
        let dd = d.clone();
        tokio::task::spawn_blocking(move || dd.net_recover())
            .await?
            .context("recover networks")?;
        d.restart_on_boot().await;
        Ok(d)
    }

    /// Stops serving shim events (before exit).
    pub fn close(&self) {
        if let Some(s) = self.shim_events.lock().unwrap().take() {
            s.shutdown();
        }
    }

    /// A stable id for `/info`, kept under the root.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container table.
    pub fn ctrs(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.ctrs.lock().unwrap()
    }

    /// `<root>/containers/<id>`: record and log.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.root.join("containers").join(id)
    }

    /// `<exec-root>/containers/<id>`: the bundle while running.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("containers").join(id)
    }

    /// The runtime's `--root`.
    pub fn runtime_root(&self) -> PathBuf {
        self.cfg.exec_root.join("runc")
    }

    /// The json-file log.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// The rotation of `rec`'s json-file log (its LogConfig over the daemon's `--log-opt`).
    pub fn log_rotation(&self, rec: &Record) -> ApiResult<crate::jsonlog::Rotation> {
        let defaults = crate::jsonlog::parse_defaults(&self.cfg.log_opts)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        crate::jsonlog::rotation(rec.host_config.log_config.as_ref(), &defaults)
    }

    /// Saves `rec` (errors are logged: the in-memory state stays authoritative).
    pub fn save(&self, rec: &Record) {
        if let Err(e) = rec.save(&self.container_dir(&rec.id)) {
            eprintln!("dockermindd: save container {}: {e}", rec.id);
        }
    }

    /// The id of the container `name_or_id` names: full id, name (with or without `/`), or
    /// a unique id prefix.
    pub fn find(&self, name_or_id: &str) -> ApiResult<String> {
        let ctrs = self.ctrs();
        if ctrs.contains_key(name_or_id) {
            return Ok(name_or_id.to_owned());
        }
        let name = name_or_id.trim_start_matches('/');
        if let Some(e) = ctrs.values().find(|e| e.rec.name == name) {
            return Ok(e.rec.id.clone());
        }
        let hits: Vec<&String> = ctrs
            .keys()
            .filter(|k| !name_or_id.is_empty() && k.starts_with(name_or_id))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::not_found(format!(
                "No such container: {name_or_id}"
            ))),
            _ => Err(ApiError::bad(format!(
                "multiple containers found with provided prefix: {name_or_id}"
            ))),
        }
    }

    /// A copy of the record of `id`.
    pub fn record(&self, id: &str) -> ApiResult<Record> {
        self.ctrs()
            .get(id)
            .map(|e| e.rec.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such container: {id}")))
    }

    /// (running, stopped) containers.
    pub fn container_counts(&self) -> (usize, usize) {
        let ctrs = self.ctrs();
        let running = ctrs.values().filter(|e| e.rec.state.running).count();
        (running, ctrs.len() - running)
    }

    /// How many distinct images are stored.
    pub fn image_count(&self) -> usize {
        let list = self.images.list().unwrap_or_default();
        let ids: std::collections::HashSet<_> = list.iter().map(|s| &s.id).collect();
        ids.len()
    }

    /// A container whose image is `image_id`, if any.
    pub fn container_using_image(&self, image_id: &str) -> Option<String> {
        self.ctrs()
            .values()
            .find(|e| e.rec.image_id == image_id)
            .map(|e| e.rec.id.clone())
    }
}

/// Gives the allocator's free memory back to the kernel: after work that allocated a lot for
/// a while (a build, a batch of containers), so the idle daemon stays small.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only releases free memory at the allocator's top and in its bins.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A random 64-hex-digit id.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    // SAFETY: getrandom writes at most b.len() bytes into the buffer we own.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Practically unreachable; time and pid still make ids unique on one host.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b[..16].copy_from_slice(&t.to_le_bytes());
        b[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn daemon_id(root: &std::path::Path) -> Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        return Ok(s.trim().to_owned());
    }
    let id = random_id();
    std::fs::write(&p, &id).with_context(|| format!("write {}", p.display()))?;
    Ok(id)
}
