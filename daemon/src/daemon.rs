//! The daemon's state: the image store and (later) containers.

use crate::config::Config;
use anyhow::{Context, Result};
use dm_image::{AuthFile, ClientOptions, Images, RegistryConfig};
use std::sync::Arc;

/// Everything the handlers share.
pub struct Daemon {
    /// The flags.
    pub cfg: Config,
    /// Images, content and snapshots.
    pub images: Arc<Images>,
    id: String,
}

impl Daemon {
    /// Opens the stores under `--root` and makes the run-state dirs.
    pub async fn open(cfg: Config) -> Result<Daemon> {
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
        std::fs::create_dir_all(&cfg.root)
            .with_context(|| format!("create --root {}", cfg.root.display()))?;
        std::fs::create_dir_all(&cfg.exec_root)
            .with_context(|| format!("create --exec-root {}", cfg.exec_root.display()))?;
        let images = Images::open(&cfg.root, opts)
            .with_context(|| format!("open image store at --root {}", cfg.root.display()))?;
        let id = daemon_id(&cfg.root)?;
        Ok(Daemon {
            cfg,
            images: Arc::new(images),
            id,
        })
    }

    /// A stable id for `/info`, kept under the root.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// (running, stopped) containers.
    pub fn container_counts(&self) -> (usize, usize) {
        (0, 0)
    }

    /// How many distinct images are stored.
    pub fn image_count(&self) -> usize {
        let list = self.images.list().unwrap_or_default();
        let ids: std::collections::HashSet<_> = list.iter().map(|s| &s.id).collect();
        ids.len()
    }

    /// A container whose image is `image_id`, if any.
    pub fn container_using_image(&self, image_id: &str) -> Option<String> {
        let _ = image_id;
        None
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
