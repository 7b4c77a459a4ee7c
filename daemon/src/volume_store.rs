//! Named volumes of the local driver: `<root>/volumes/<name>/_data` plus `volume.json`; with
//! DriverOpts (`type`, `device`, `o`) the data directory is a mount made while containers use it.

use crate::error::{ApiError, ApiResult};
use dm_runtime::rootfs::options;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The options the local driver takes.
const OPTION_KEYS: &[&str] = &["type", "device", "o"];

/// One volume as `docker volume inspect` shows it (plus whether it is anonymous).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// The name (64 hex digits for anonymous volumes).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// `<root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// RFC 3339.
    pub created_at: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// DriverOpts.
    pub options: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
    /// Made for an image VOLUME or `-v /path`: `rm -v` and `--rm` remove it.
    #[serde(default)]
    pub anonymous: bool,
}

/// The volumes on disk.
pub struct VolumeStore {
    dir: PathBuf,
    map: Mutex<BTreeMap<String, Volume>>,
    /// Held across "is it mounted? then mount/unmount": two starts must not stack two mounts.
    mounting: Mutex<()>,
}

/// Docker's rule for local volume names.
fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Checks a volume name as docker does (messages as dockerd's).
pub fn check_name(n: &str) -> ApiResult<()> {
    if n.len() < 2 {
        return Err(ApiError::bad(format!(
            "create {n}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    if !valid_name(n) {
        return Err(ApiError::bad(format!(
            "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// Checks DriverOpts of the local driver.
pub fn check_options(opts: &BTreeMap<String, String>) -> ApiResult<()> {
    if let Some(k) = opts.keys().find(|k| !OPTION_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("invalid option: {k:?}")));
    }
    match (opts.get("type"), opts.get("device")) {
        (Some(_), None) => Err(ApiError::bad("missing required option: \"device\"")),
        (None, Some(_)) => Err(ApiError::bad("missing required option: \"type\"")),
        _ if opts.contains_key("o") && !opts.contains_key("type") => {
            Err(ApiError::bad("missing required option: \"type\""))
        }
        _ => Ok(()),
    }
}

fn io(what: &str, p: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what} {}: {e}", p.display()))
}

/// Whether `p` is a mount point now.
fn mounted(p: &Path) -> bool {
    let target = p.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&target))
}

impl VolumeStore {
    /// Loads the volumes under `<root>/volumes` (creating the directory).
    pub fn open(root: &Path) -> std::io::Result<VolumeStore> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir)?;
        let mut map = BTreeMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let p = e.path().join("volume.json");
            match std::fs::read(&p).map(|b| serde_json::from_slice::<Volume>(&b)) {
                Ok(Ok(v)) => {
                    map.insert(v.name.clone(), v);
                }
                Ok(Err(e)) => eprintln!("dockermindd: skipping {}: {e}", p.display()),
                Err(_) => {}
            }
        }
        Ok(VolumeStore {
            dir,
            map: Mutex::new(map),
            mounting: Mutex::new(()),
        })
    }

    /// Where the data of volume `name` is (or will be).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// The volume `name`.
    pub fn get(&self, name: &str) -> ApiResult<Volume> {
        self.map
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("get {name}: no such volume")))
    }

    /// Every volume.
    pub fn list(&self) -> Vec<Volume> {
        self.map.lock().unwrap().values().cloned().collect()
    }

    /// Creates `name` (a random one when None); an existing volume is returned as it is.
    /// The flag tells whether it was made now.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        opts: BTreeMap<String, String>,
        anonymous: bool,
    ) -> ApiResult<(Volume, bool)> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                check_name(n)?;
                n.to_owned()
            }
            None => crate::daemon::random_id(),
        };
        check_options(&opts)?;
        let mut map = self.map.lock().unwrap();
        if let Some(v) = map.get(&name) {
            return Ok((v.clone(), false));
        }
        let base = self.dir.join(&name);
        let data = self.data_dir(&name);
        std::fs::create_dir_all(&data).map_err(|e| io("create", &data, e))?;
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data,
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            labels,
            options: opts,
            scope: "local".into(),
            anonymous,
        };
        let tmp = base.join("volume.json.tmp");
        let written = std::fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap_or_default())
            .and_then(|()| std::fs::rename(&tmp, base.join("volume.json")));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&base);
            return Err(io("write", &tmp, e));
        }
        map.insert(name, v.clone());
        Ok((v, true))
    }

    /// Deletes `name` and its data (the caller checked no container uses it).
    pub fn remove(&self, name: &str) -> ApiResult<()> {
        let mut map = self.map.lock().unwrap();
        let v = map
            .get(name)
            .ok_or_else(|| ApiError::not_found(format!("get {name}: no such volume")))?;
        if mounted(&v.mountpoint) {
            let _ = nix::mount::umount2(&v.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
        // Never delete through a mount: a `o=bind` volume's data is the user's host directory.
        if mounted(&v.mountpoint) {
            return Err(ApiError::internal(format!(
                "remove {name}: {} is still mounted",
                v.mountpoint.display()
            )));
        }
        let base = self.dir.join(name);
        std::fs::remove_dir_all(&base)
            .map_err(|e| ApiError::internal(format!("remove {name}: {}: {e}", base.display())))?;
        map.remove(name);
        Ok(())
    }

    /// Makes the data directory ready for a container: mounts DriverOpts' filesystem unless it
    /// already is (another container, or a daemon before a restart, mounted it).
    pub fn mount(&self, name: &str) -> ApiResult<PathBuf> {
        let v = self.get(name)?;
        let Some(fstype) = v.options.get("type") else {
            return Ok(v.mountpoint);
        };
        let _guard = self.mounting.lock().unwrap();
        if mounted(&v.mountpoint) {
            return Ok(v.mountpoint);
        }
        let o: Vec<String> = v
            .options
            .get("o")
            .map(|o| o.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let parsed = options::parse(&o);
        let device = v.options.get("device").map_or("none", String::as_str);
        let mut flags = parsed.flags;
        if parsed.bind {
            flags |= nix::mount::MsFlags::MS_BIND;
        }
        let data = (!parsed.data.is_empty()).then_some(parsed.data.as_str());
        nix::mount::mount(
            Some(device),
            &v.mountpoint,
            Some(fstype.as_str()),
            flags,
            data,
        )
        .map_err(|e| {
            ApiError::internal(format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{} , flags: {:#x}, data: {}: {e}",
                v.mountpoint.display(),
                v.mountpoint.display(),
                flags.bits(),
                parsed.data
            ))
        })?;
        Ok(v.mountpoint)
    }

    /// [`VolumeStore::mount`] for a volume nobody has mounted: the mount point when this call
    /// mounted it (in the caller's mount namespace), None when there was nothing to do.
    pub fn mount_if_unmounted(&self, name: &str) -> ApiResult<Option<PathBuf>> {
        let v = self.get(name)?;
        if !v.options.contains_key("type") || mounted(&v.mountpoint) {
            return Ok(None);
        }
        self.mount(name).map(Some)
    }

    /// Undoes [`VolumeStore::mount`] once the last container using it stopped.
    pub fn unmount(&self, name: &str) {
        if let Ok(v) = self.get(name) {
            let _guard = self.mounting.lock().unwrap();
            if v.options.contains_key("type") && mounted(&v.mountpoint) {
                if let Err(e) = nix::mount::umount2(&v.mountpoint, nix::mount::MntFlags::MNT_DETACH)
                {
                    eprintln!("dockermindd: unmount volume {name}: {e}");
                }
            }
        }
    }

    /// Bytes stored in the volume (-1 when unknown, as docker shows it).
    pub fn size(&self, name: &str) -> i64 {
        self.get(name)
            .map(|v| dir_size(&v.mountpoint).map_or(-1, |n| n as i64))
            .unwrap_or(-1)
    }
}

/// Bytes of regular files below `p` (symlinks not followed).
pub fn dir_size(p: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        if m.is_dir() {
            total += dir_size(&e.path()).unwrap_or(0);
        } else if m.is_file() {
            total += m.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_options_are_checked_like_the_local_driver() {
        assert!(check_name("data_1.x-y").is_ok());
        assert!(check_name("a").unwrap_err().message.contains("too short"));
        let e = check_name("a/b").unwrap_err().message;
        assert!(e.contains("includes invalid characters"), "{e}");
        let opts = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
        };
        assert!(check_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert!(check_options(&opts(&[("size", "1")]))
            .unwrap_err()
            .message
            .contains("\"size\""));
        assert!(check_options(&opts(&[("type", "tmpfs")]))
            .unwrap_err()
            .message
            .contains("device"));
    }

    #[test]
    fn volumes_persist_and_existing_names_are_returned() {
        let dir = std::env::temp_dir().join(format!("dmd-vol-{}", std::process::id()));
        let s = VolumeStore::open(&dir).unwrap();
        let (v, made) = s
            .create(Some("keep"), BTreeMap::new(), BTreeMap::new(), false)
            .unwrap();
        assert!(made && v.mountpoint.is_dir());
        let (anon, _) = s
            .create(None, BTreeMap::new(), BTreeMap::new(), true)
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        std::fs::write(v.mountpoint.join("f"), b"12345").unwrap();
        let (again, made) = s
            .create(Some("keep"), BTreeMap::new(), BTreeMap::new(), false)
            .unwrap();
        assert!(!made && again.created_at == v.created_at);
        let reopened = VolumeStore::open(&dir).unwrap();
        let names: Vec<String> = reopened.list().into_iter().map(|v| v.name).collect();
        let size = reopened.size("keep");
        reopened.remove("keep").unwrap();
        let gone = reopened.get("keep").unwrap_err().status;
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(names.contains(&"keep".to_owned()) && names.contains(&anon.name));
        assert!(reopened.get(&anon.name).unwrap().anonymous);
        assert_eq!(size, 5);
        assert_eq!(gone, 404);
    }
}
