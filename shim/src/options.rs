//! Runtime options from containerd: which binary, root and cgroup driver to use.
//!
//! Accepted as `containerd.runc.v1.Options` (CRI's runtime options, containerd 2.x, BinaryName /
//! Root / SystemdCgroup) or `runtimeoptions.v1.Options` (`ctr --runtime-config-path FILE`, a
//! TOML file with the same keys). The choice is saved in the bundle so `delete` uses it too.

use crate::error::{io, Error, Result};
use crate::runtime::{default_binary, Runtime};
use containerd_shim::api::Options as RuncOptions;
use containerd_shim::protos::protobuf::rt::WireType;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedInputStream, Message};
use std::path::Path;

/// The file in the bundle where the chosen runtime is kept.
const SAVED: &str = "dm-runtime.json";

/// Default `--root` parent; the namespace is appended, as containerd's runc shim does.
pub const DEFAULT_ROOT: &str = "/run/containerd/dockermind";

/// Decodes `options` (possibly absent) into the runtime to drive for `namespace`.
pub fn from_any(options: Option<&Any>, namespace: &str) -> Result<Runtime> {
    let mut rt = Runtime {
        binary: String::new(),
        root: String::new(),
        systemd_cgroup: false,
    };
    if let Some(any) = options.filter(|a| !a.type_url.is_empty()) {
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        match name {
            "containerd.runc.v1.Options" => {
                let o = RuncOptions::parse_from_bytes(&any.value)
                    .map_err(|e| Error::InvalidArgument(format!("options ({name}): {e}")))?;
                rt.binary = o.binary_name;
                rt.root = o.root;
                rt.systemd_cgroup = o.systemd_cgroup;
            }
            "runtimeoptions.v1.Options" => {
                let path = config_path(&any.value)?;
                if !path.is_empty() {
                    apply_toml(&mut rt, Path::new(&path))?;
                }
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "options: unsupported type {other:?} (want containerd.runc.v1.Options or \
                     runtimeoptions.v1.Options)"
                )))
            }
        }
    }
    if rt.binary.is_empty() {
        rt.binary = default_binary();
    }
    if rt.root.is_empty() {
        rt.root = format!("{DEFAULT_ROOT}/{namespace}");
    }
    Ok(rt)
}

/// Field 2 (`config_path`) of runtimeoptions.v1.Options; field 1 is a type URL we ignore.
fn config_path(bytes: &[u8]) -> Result<String> {
    let bad = |e: containerd_shim::protos::protobuf::Error| {
        Error::InvalidArgument(format!("options (runtimeoptions.v1.Options): {e}"))
    };
    let mut s = CodedInputStream::from_bytes(bytes);
    let mut path = String::new();
    while let Some(tag) = s.read_raw_tag_or_eof().map_err(bad)? {
        match tag {
            0x12 => path = s.read_string().map_err(bad)?,
            _ => {
                let wt = WireType::new(tag & 7).ok_or_else(|| {
                    Error::InvalidArgument(
                        "options (runtimeoptions.v1.Options): bad wire type".into(),
                    )
                })?;
                s.skip_field(wt).map_err(bad)?
            }
        }
    }
    Ok(path)
}

#[derive(serde::Deserialize)]
struct TomlOptions {
    #[serde(rename = "BinaryName", default)]
    binary_name: String,
    #[serde(rename = "Root", default)]
    root: String,
    #[serde(rename = "SystemdCgroup", default)]
    systemd_cgroup: bool,
}

fn apply_toml(rt: &mut Runtime, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(io(format!("read {}", path.display())))?;
    let o: TomlOptions = toml::from_str(&text)
        .map_err(|e| Error::InvalidArgument(format!("runtime config {}: {e}", path.display())))?;
    rt.binary = o.binary_name;
    rt.root = o.root;
    rt.systemd_cgroup = o.systemd_cgroup;
    Ok(())
}

/// Saves the runtime choice in the bundle.
pub fn save(bundle: &Path, rt: &Runtime) -> Result<()> {
    let p = bundle.join(SAVED);
    std::fs::write(&p, serde_json::to_vec(rt).unwrap_or_default())
        .map_err(io(format!("write {}", p.display())))
}

/// The runtime saved in the bundle, or the default one.
pub fn load(bundle: &Path, namespace: &str) -> Runtime {
    std::fs::read(bundle.join(SAVED))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| from_any(None, namespace).expect("defaults always decode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(type_url: &str, value: Vec<u8>) -> Any {
        Any {
            type_url: type_url.into(),
            value,
            ..Default::default()
        }
    }

    #[test]
    fn no_options_means_dm_runc_under_the_namespace_root() {
        let rt = from_any(None, "ns1").unwrap();
        assert!(rt.binary.ends_with("dm-runc"), "{rt:?}");
        assert_eq!(rt.root, "/run/containerd/dockermind/ns1");
        assert!(!rt.systemd_cgroup);
    }

    #[test]
    fn runc_options_select_binary_root_and_cgroup_driver() {
        let o = RuncOptions {
            binary_name: "/usr/sbin/runc".into(),
            root: "/tmp/r".into(),
            systemd_cgroup: true,
            ..Default::default()
        };
        let a = any("containerd.runc.v1.Options", o.write_to_bytes().unwrap());
        let rt = from_any(Some(&a), "ns").unwrap();
        assert_eq!(
            (rt.binary.as_str(), rt.root.as_str(), rt.systemd_cgroup),
            ("/usr/sbin/runc", "/tmp/r", true)
        );
    }

    #[test]
    fn runtime_config_path_points_at_a_toml_file() {
        let dir = std::env::temp_dir().join(format!("dm-shim-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rt.toml");
        std::fs::write(&file, "BinaryName = \"crun\"\nSystemdCgroup = false\n").unwrap();
        // runtimeoptions.v1.Options { type_url = 1, config_path = 2 }
        let path = file.to_str().unwrap().as_bytes();
        let mut v = vec![0x0a, 1, b'x', 0x12, path.len() as u8];
        v.extend_from_slice(path);
        let rt = from_any(Some(&any("runtimeoptions.v1.Options", v)), "ns").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rt.binary, "crun");
        assert_eq!(rt.root, "/run/containerd/dockermind/ns");
    }

    #[test]
    fn unknown_option_types_are_rejected_by_name() {
        let err = from_any(Some(&any("example.Other", vec![])), "ns").unwrap_err();
        assert!(err.to_string().contains("example.Other"), "{err}");
    }

    #[test]
    fn bad_toml_names_the_file() {
        let dir = std::env::temp_dir().join(format!("dm-shim-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "BinaryName = [").unwrap();
        let path = file.to_str().unwrap().as_bytes();
        let mut v = vec![0x12, path.len() as u8];
        v.extend_from_slice(path);
        let err = from_any(Some(&any("runtimeoptions.v1.Options", v)), "ns").unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.to_string().contains("bad.toml"), "{err}");
    }
}
