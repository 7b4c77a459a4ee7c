//! A container's mounts: Binds, Mounts, Tmpfs and the image's VOLUMEs checked and resolved at
//! create into mount points (kept in the record), turned into config.json mounts at start.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

/// `HostConfig.Mounts[]` as the API sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// bind, volume or tmpfs.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path (bind) or volume name (volume; empty: anonymous).
    pub source: String,
    /// The path in the container.
    pub target: String,
    /// Mount read-only.
    pub read_only: bool,
    /// Bind settings.
    pub bind_options: Option<BindOptions>,
    /// Volume settings.
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs settings.
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// private, rprivate, shared, rshared, slave, rslave.
    pub propagation: String,
}

/// `VolumeOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Skip the copy of the image's content into an empty volume.
    pub no_copy: bool,
    /// Labels for a volume made by this mount.
    pub labels: Option<BTreeMap<String, String>>,
    /// The driver and its options.
    pub driver_config: Option<DriverConfig>,
}

/// `DriverConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    /// Only `local` (or empty).
    pub name: String,
    /// DriverOpts.
    pub options: Option<BTreeMap<String, String>>,
}

/// `TmpfsOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size limit in bytes (0: the kernel's default).
    pub size_bytes: i64,
    /// Permission bits of the root.
    pub mode: u32,
}

/// A resolved mount of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// volume, bind or tmpfs.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name.
    pub name: String,
    /// Host path (bind, volume data).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// The mode string as given (`ro`, `z`...).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation.
    pub propagation: String,
    /// Tmpfs mount options.
    pub options: Vec<String>,
    /// Copy the image's content at the destination into the volume if it is empty.
    pub copy: bool,
    /// A `-v /host:/path` bind: the host directory is made when missing, as docker does.
    pub create_source: bool,
    /// A `HostConfig.Tmpfs` entry, which docker leaves out of inspect's Mounts.
    pub hidden: bool,
}

/// A volume a create needs (made if missing, before the container exists).
#[derive(Debug, Clone, Default)]
pub struct Needed {
    /// The name.
    pub name: String,
    /// Labels for a new volume.
    pub labels: BTreeMap<String, String>,
    /// DriverOpts for a new volume.
    pub options: BTreeMap<String, String>,
    /// Made up for an image VOLUME, `-v /path` or a nameless mount.
    pub anonymous: bool,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// `/a/b/` and `/a//b` -> `/a/b`; relative paths are refused by the callers first.
fn clean(p: &str) -> String {
    let parts: Vec<String> = Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    format!("/{}", parts.join("/"))
}

fn config_err(kind: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!("invalid mount config for type \"{kind}\": {msg}"))
}

fn check_target(kind: &str, dst: &str) -> ApiResult<String> {
    if dst.is_empty() {
        return Err(config_err(kind, "field Target must not be empty"));
    }
    if !dst.starts_with('/') {
        return Err(config_err(
            kind,
            format!("invalid mount path: '{dst}' mount path must be absolute"),
        ));
    }
    let c = clean(dst);
    if c == "/" {
        return Err(config_err(
            kind,
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(c)
}

/// One `HostConfig.Binds` entry: `name:/path[:mode]`, `/host:/path[:mode]` or `/path`.
pub fn parse_bind(raw: &str) -> ApiResult<(MountPoint, Option<Needed>)> {
    let spec_err = |e: ApiError| {
        ApiError::bad(format!(
            "invalid volume specification: '{raw}': {}",
            e.message
        ))
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] if !s.is_empty() => (*s, *d, ""),
        [s, d, m] if !s.is_empty() => (*s, *d, *m),
        _ => {
            return Err(ApiError::bad(format!(
                "invalid volume specification: '{raw}'"
            )))
        }
    };
    let kind = if src.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let dst = check_target(kind, dst).map_err(spec_err)?;
    let mut rw = true;
    let mut propagation = if kind == "bind" { "rprivate" } else { "" }.to_owned();
    let mut copy = true;
    let mut seen_rw = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" | "rw" if !seen_rw => {
                seen_rw = true;
                rw = m == "rw";
            }
            "z" | "Z" => {}
            "nocopy" if kind == "volume" => copy = false,
            p if kind == "bind" && PROPAGATIONS.contains(&p) => propagation = p.to_owned(),
            other => {
                return Err(spec_err(ApiError::bad(format!("invalid mode: {other}"))));
            }
        }
    }
    let mut mp = MountPoint {
        kind: kind.into(),
        destination: dst,
        mode: mode.to_owned(),
        rw,
        propagation,
        ..Default::default()
    };
    if kind == "bind" {
        mp.source = clean(src);
        mp.create_source = true;
        return Ok((mp, None));
    }
    if mp.mode.is_empty() {
        mp.mode = "z".into();
    }
    mp.copy = copy;
    let name = if src.is_empty() {
        crate::daemon::random_id()
    } else {
        crate::volume_store::check_name(src)?;
        src.to_owned()
    };
    mp.name = name.clone();
    Ok((
        mp,
        Some(Needed {
            name,
            anonymous: src.is_empty(),
            ..Default::default()
        }),
    ))
}

/// One `HostConfig.Mounts` entry.
pub fn parse_mount(m: &MountSpec) -> ApiResult<(MountPoint, Option<Needed>)> {
    let kind = m.kind.as_str();
    let dst = match kind {
        "bind" | "volume" | "tmpfs" => check_target(kind, &m.target)?,
        _ => return Err(config_err(kind, "mount type unknown")),
    };
    let mut mp = MountPoint {
        kind: kind.into(),
        destination: dst,
        rw: !m.read_only,
        mode: if m.read_only { "ro" } else { "" }.into(),
        ..Default::default()
    };
    if kind != "bind" && m.bind_options.is_some() {
        return Err(config_err(kind, "field BindOptions must not be specified"));
    }
    if kind != "volume" && m.volume_options.is_some() {
        return Err(config_err(
            kind,
            "field VolumeOptions must not be specified",
        ));
    }
    if kind != "tmpfs" && m.tmpfs_options.is_some() {
        return Err(config_err(kind, "field TmpfsOptions must not be specified"));
    }
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(config_err(kind, "field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(config_err(
                    kind,
                    format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    ),
                ));
            }
            if !Path::new(&m.source).exists() {
                return Err(config_err(
                    kind,
                    format!("bind source path does not exist: {}", m.source),
                ));
            }
            mp.source = clean(&m.source);
            let p = m
                .bind_options
                .as_ref()
                .map_or("", |b| b.propagation.as_str());
            if !p.is_empty() && !PROPAGATIONS.contains(&p) {
                return Err(config_err(kind, format!("invalid propagation mode: {p}")));
            }
            mp.propagation = if p.is_empty() { "rprivate" } else { p }.into();
            Ok((mp, None))
        }
        "volume" => {
            let vo = m.volume_options.clone().unwrap_or_default();
            let dc = vo.driver_config.unwrap_or_default();
            if !matches!(dc.name.as_str(), "" | "local") {
                return Err(ApiError::not_found(format!(
                    "error looking up volume plugin {}: plugin \"{}\" not found",
                    dc.name, dc.name
                )));
            }
            let options = dc.options.unwrap_or_default();
            crate::volume_store::check_options(&options)?;
            let name = if m.source.is_empty() {
                crate::daemon::random_id()
            } else {
                crate::volume_store::check_name(&m.source)?;
                m.source.clone()
            };
            mp.name = name.clone();
            mp.copy = !vo.no_copy;
            mp.mode = if m.read_only { "ro" } else { "z" }.into();
            Ok((
                mp,
                Some(Needed {
                    name,
                    labels: vo.labels.unwrap_or_default(),
                    options,
                    anonymous: m.source.is_empty(),
                }),
            ))
        }
        _ => {
            if !m.source.is_empty() {
                return Err(config_err(kind, "field Source must not be specified"));
            }
            let t = m.tmpfs_options.clone().unwrap_or_default();
            if t.size_bytes < 0 {
                return Err(config_err(kind, "invalid tmpfs size: must not be negative"));
            }
            if t.size_bytes > 0 {
                mp.options.push(format!("size={}", t.size_bytes));
            }
            if t.mode != 0 {
                mp.options.push(format!("mode={:o}", t.mode));
            }
            Ok((mp, None))
        }
    }
}

/// One `HostConfig.Tmpfs` entry (`/run` -> `rw,size=64m`).
pub fn parse_tmpfs(dst: &str, opts: &str) -> ApiResult<MountPoint> {
    let dst = check_target("tmpfs", dst)?;
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = options.iter().find(|o| o.contains(' ')) {
        return Err(ApiError::bad(format!("invalid tmpfs option {bad:?}")));
    }
    Ok(MountPoint {
        kind: "tmpfs".into(),
        destination: dst,
        rw: !options.iter().any(|o| o == "ro"),
        options,
        hidden: true,
        ..Default::default()
    })
}

/// Everything a create asks to mount, checked; nothing is made here.
#[derive(Debug)]
pub struct Plan {
    /// The mount points in the order given.
    pub points: Vec<MountPoint>,
    /// Volumes to make (named ones that may exist already, anonymous ones).
    pub needed: Vec<Needed>,
}

/// Checks Binds, Mounts, Tmpfs, then adds the mounts `inherited` from VolumesFrom at paths
/// those leave free (they win, as in docker), then anonymous volumes for the VOLUMEs
/// (`Config.Volumes` and the image's) that nothing else mounts.
pub fn plan(
    binds: &[String],
    mounts: &[MountSpec],
    tmpfs: &BTreeMap<String, String>,
    inherited: &[MountPoint],
    volumes: &[String],
) -> ApiResult<Plan> {
    let mut p = Plan {
        points: vec![],
        needed: vec![],
    };
    let mut dests = BTreeSet::new();
    let mut add = |p: &mut Plan, mp: MountPoint, need: Option<Needed>| -> ApiResult<()> {
        if !dests.insert(mp.destination.clone()) {
            return Err(ApiError::bad(format!(
                "Duplicate mount point: {}",
                mp.destination
            )));
        }
        p.points.push(mp);
        p.needed.extend(need);
        Ok(())
    };
    for b in binds {
        let (mp, need) = parse_bind(b)?;
        add(&mut p, mp, need)?;
    }
    for m in mounts {
        let (mp, need) = parse_mount(m)?;
        add(&mut p, mp, need)?;
    }
    for (dst, opts) in tmpfs {
        add(&mut p, parse_tmpfs(dst, opts)?, None)?;
    }
    for m in inherited {
        if !p.points.iter().any(|o| o.destination == m.destination) {
            p.points.push(m.clone());
        }
    }
    let mut anon = BTreeSet::new();
    for v in volumes {
        let dst = check_target("volume", v)?;
        if p.points.iter().any(|m| m.destination == dst) || !anon.insert(dst.clone()) {
            continue;
        }
        let name = crate::daemon::random_id();
        p.points.push(MountPoint {
            kind: "volume".into(),
            name: name.clone(),
            destination: dst,
            mode: String::new(),
            rw: true,
            copy: true,
            ..Default::default()
        });
        p.needed.push(Needed {
            name,
            anonymous: true,
            ..Default::default()
        });
    }
    Ok(p)
}

/// The config.json mounts for `points` (parents before children).
pub fn oci(points: &[MountPoint]) -> Vec<Value> {
    let mut sorted: Vec<&MountPoint> = points.iter().collect();
    sorted.sort_by_key(|m| Path::new(&m.destination).components().count());
    sorted
        .into_iter()
        .map(|m| {
            if m.kind == "tmpfs" {
                let mut opts: Vec<String> = ["nosuid", "nodev", "noexec"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                opts.extend(m.options.iter().cloned());
                return json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts});
            }
            let prop = if m.propagation.is_empty() {
                "rprivate"
            } else {
                &m.propagation
            };
            let mut opts = vec!["rbind", prop];
            if !m.rw {
                opts.push("ro");
            }
            json!({"destination": m.destination, "type": "bind", "source": m.source, "options": opts})
        })
        .collect()
}

/// The `Mounts` array of container inspect.
pub fn inspect(points: &[MountPoint]) -> Vec<Value> {
    points
        .iter()
        .filter(|m| !m.hidden)
        .map(|m| {
            let mut v = json!({
                "Type": m.kind, "Source": m.source, "Destination": m.destination,
                "Mode": m.mode, "RW": m.rw, "Propagation": m.propagation
            });
            if m.kind == "volume" {
                v["Name"] = json!(m.name);
                v["Driver"] = json!("local");
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker() {
        let (mp, need) = parse_bind("data:/srv/:ro").unwrap();
        assert_eq!(
            (mp.kind.as_str(), mp.destination.as_str(), mp.rw),
            ("volume", "/srv", false)
        );
        assert_eq!(need.unwrap().name, "data");
        let (mp, need) = parse_bind("/host:/c:ro,z").unwrap();
        assert_eq!(
            (mp.kind.as_str(), mp.source.as_str(), mp.rw),
            ("bind", "/host", false)
        );
        assert!(need.is_none() && mp.create_source);
        let e = parse_bind("data:rel").unwrap_err().message;
        assert_eq!(
            e,
            "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert!(parse_bind("/a:/b:weird")
            .unwrap_err()
            .message
            .contains("invalid mode: weird"));
        assert!(parse_bind("/a:/")
            .unwrap_err()
            .message
            .contains("can't be '/'"));
        assert!(parse_bind("a:b:c:d").is_err());
    }

    #[test]
    fn mounts_check_sources_and_plans_add_anonymous_volumes() {
        let bind = MountSpec {
            kind: "bind".into(),
            source: "/definitely/not/here".into(),
            target: "/x".into(),
            ..Default::default()
        };
        let e = parse_mount(&bind).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "invalid mount config for type \"bind\": bind source path does not exist: /definitely/not/here"
        );
        let tmpfs = MountSpec {
            kind: "tmpfs".into(),
            target: "/t".into(),
            tmpfs_options: Some(TmpfsOptions {
                size_bytes: 1 << 20,
                mode: 0o1777,
            }),
            ..Default::default()
        };
        let mut t = BTreeMap::new();
        t.insert("/run".to_owned(), "rw,size=64m".to_owned());
        let p = plan(
            &["v1:/data".into()],
            &[tmpfs],
            &t,
            &[],
            &["/data".into(), "/cache".into()],
        )
        .unwrap();
        let dests: Vec<&str> = p.points.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests, ["/data", "/t", "/run", "/cache"]);
        assert_eq!(p.points[1].options, ["size=1048576", "mode=1777"]);
        assert_eq!(p.needed.len(), 2);
        assert_eq!(p.points[3].name.len(), 64);
        let dup = plan(
            &["/a:/d".into(), "vv:/d/".into()],
            &[],
            &BTreeMap::new(),
            &[],
            &[],
        );
        assert!(dup
            .unwrap_err()
            .message
            .contains("Duplicate mount point: /d"));
        // --tmpfs entries stay out of inspect's Mounts, as docker leaves them out.
        let shown: Vec<Value> = inspect(&p.points);
        assert_eq!(shown.len(), 3);
        assert!(shown.iter().all(|m| m["Destination"] != "/run"));
        let o = oci(&p.points);
        assert_eq!(o[0]["type"], "bind");
        assert!(o.iter().any(|m| m["type"] == "tmpfs"
            && m["options"]
                .as_array()
                .unwrap()
                .contains(&json!("size=64m"))));
    }
}
