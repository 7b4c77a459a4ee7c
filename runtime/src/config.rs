//! config.json: loading with field-naming errors, and validation before anything is touched.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::Path;

/// Reads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path)
        .map_err(|e| Error::Config(format!("cannot read bundle config {}: {e}", path.display())))?;
    from_bytes(&data)
}

/// Parses and validates the bytes of a config.json (what [`load`] does after reading the file).
pub fn from_bytes(data: &[u8]) -> Result<Spec> {
    let spec: Spec = parse(data, "config.json")?;
    validate(&spec)?;
    Ok(spec)
}

/// Parses JSON into `T`, naming the offending field path on error.
pub fn parse<T: serde::de::DeserializeOwned>(data: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| {
        let path =
            crate::jsonpath::path_at(data, e.line(), e.column(), crate::jsonpath::after_value(&e));
        if e.is_syntax() || e.is_eof() || path == "." {
            Error::Config(format!("{what}: invalid JSON: {e}"))
        } else {
            Error::Config(format!("{what}: {path}: {e}"))
        }
    })
}

/// Namespace types the spec declares, with their clone flags.
pub fn namespace_flag(t: LinuxNamespaceType) -> nix::sched::CloneFlags {
    use nix::sched::CloneFlags as F;
    match t {
        LinuxNamespaceType::Mount => F::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => F::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => F::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => F::CLONE_NEWIPC,
        LinuxNamespaceType::User => F::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => F::CLONE_NEWPID,
        LinuxNamespaceType::Network => F::CLONE_NEWNET,
        LinuxNamespaceType::Time => F::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// True when the spec asks for a new (not joined) namespace of type `t`.
pub fn has_new_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|n| n.typ() == t && n.path().is_none())
}

/// True when the spec has a namespace of type `t`, new or joined.
pub fn has_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|n| n.typ() == t)
}

fn namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// Checks everything that can be checked without touching the system.
pub fn validate(spec: &Spec) -> Result<()> {
    let bad = |m: String| Err(Error::Config(m));
    let v = spec.version();
    if !semver::Version::parse(v).is_ok_and(|v| v.major == 1) {
        return bad(format!(
            "ociVersion: unsupported version {v:?} (this runtime implements 1.x)"
        ));
    }
    match spec.root() {
        Some(r) if !r.path().as_os_str().is_empty() => {}
        _ => return bad("root.path: required".into()),
    }
    let Some(process) = spec.process() else {
        return bad("process: required".into());
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return bad("process.args: must not be empty".into());
    }
    if !process.cwd().is_absolute() {
        return bad(format!(
            "process.cwd: {:?} is not an absolute path",
            process.cwd()
        ));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            return bad(format!("mounts[{i}].destination: required"));
        }
        crate::rootfs::options::for_mount(i, m.options().as_deref().unwrap_or(&[]))?;
    }
    // As runc: without a UTS namespace of its own the container would rename the host (or
    // the setting would be dropped silently, which hides a broken config).
    if !has_namespace(spec, LinuxNamespaceType::Uts) {
        for (field, set) in [
            (
                "hostname",
                spec.hostname().as_ref().is_some_and(|h| !h.is_empty()),
            ),
            (
                "domainname",
                spec.domainname().as_ref().is_some_and(|d| !d.is_empty()),
            ),
        ] {
            if set {
                return bad(format!(
                    "{field}: needs a UTS namespace (linux.namespaces has no \"uts\" entry)"
                ));
            }
        }
    }
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ() as u64) {
                return bad(format!(
                    "linux.namespaces[{i}].type: duplicate namespace {}",
                    ns.typ()
                ));
            }
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    return bad(format!(
                        "linux.namespaces[{i}].path: {p:?} is not an absolute path"
                    ));
                }
            }
        }
        let userns = has_namespace(spec, LinuxNamespaceType::User);
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !userns {
            return bad("linux.uidMappings: set without a user namespace".into());
        }
        if has_new_namespace(spec, LinuxNamespaceType::User) && !maps {
            return bad(
                "linux.uidMappings: a new user namespace needs uid and gid mappings".into(),
            );
        }
        // The init checks them again; refusing here leaves nothing behind.
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            crate::rootfs::devices::from_spec(i, d)?;
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !matches!(
                p.as_str(),
                "" | "private"
                    | "rprivate"
                    | "slave"
                    | "rslave"
                    | "shared"
                    | "rshared"
                    | "unbindable"
                    | "runbindable"
            ) {
                return bad(format!("linux.rootfsPropagation: unknown value {p:?}"));
            }
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            check_sysctl(spec, key)?;
        }
        crate::timens::offsets(spec)?;
        if !has_namespace(spec, LinuxNamespaceType::Mount) {
            // The container shares the caller's mounts (rootfs::shared): what would change
            // them, rather than the container's own view, is refused (runc refuses the first
            // two as well, and applies the third to the caller's `/`).
            let set = [
                (
                    "linux.maskedPaths",
                    linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty()),
                ),
                (
                    "linux.readonlyPaths",
                    linux
                        .readonly_paths()
                        .as_ref()
                        .is_some_and(|p| !p.is_empty()),
                ),
                (
                    "linux.rootfsPropagation",
                    linux
                        .rootfs_propagation()
                        .as_ref()
                        .is_some_and(|p| !p.is_empty()),
                ),
            ];
            if let Some((field, _)) = set.iter().find(|(_, s)| *s) {
                return bad(format!(
                    "{field}: needs a mount namespace (linux.namespaces has no \"mount\" entry)"
                ));
            }
            // Root of a new user namespace may not mount in a mount namespace it does not own.
            if has_new_namespace(spec, LinuxNamespaceType::User) {
                return bad("linux.namespaces: a new user namespace needs a mount namespace too (the caller's cannot be mounted on from it)".into());
            }
        }
    } else {
        return bad("linux: required on Linux".into());
    }
    if let Some(hooks) = spec.hooks() {
        let all = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (name, list) in all {
            for (i, h) in list.iter().flatten().enumerate() {
                if !h.path().is_absolute() {
                    return bad(format!(
                        "hooks.{name}[{i}].path: {:?} is not an absolute path",
                        h.path()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Sysctls are namespaced: refuse those the container's namespaces would not isolate.
fn check_sysctl(spec: &Spec, key: &str) -> Result<()> {
    let ipc = key.starts_with("fs.mqueue.")
        || matches!(
            key,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        );
    let needs = if ipc {
        Some((LinuxNamespaceType::Ipc, "ipc"))
    } else if key.starts_with("net.") {
        Some((LinuxNamespaceType::Network, "network"))
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some((LinuxNamespaceType::Uts, "uts"))
    } else {
        None
    };
    match needs {
        Some((t, _)) if has_namespace(spec, t) => Ok(()),
        Some((_, name)) => Err(Error::Config(format!(
            "linux.sysctl.{key}: needs a {name} namespace"
        ))),
        None => Err(Error::Config(format!(
            "linux.sysctl.{key}: not namespaced, refusing to change it for the host"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> std::result::Result<Spec, Error> {
        let mut base = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        });
        merge(&mut base, extra);
        let s: Spec = parse(&serde_json::to_vec(&base).unwrap(), "config.json")?;
        validate(&s)?;
        Ok(s)
    }

    #[test]
    fn hostname_and_domainname_need_a_uts_namespace() {
        for field in ["hostname", "domainname"] {
            let e = err(serde_json::json!({ field: "box" }));
            assert!(e.contains(field) && e.contains("uts"), "{e}");
            let with_uts = serde_json::json!({ field: "box",
                "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}]}});
            spec(with_uts).unwrap();
            // Empty is "not set", as runc reads it.
            spec(serde_json::json!({ field: "" })).unwrap();
        }
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn err(extra: serde_json::Value) -> String {
        match spec(extra) {
            Ok(_) => panic!("must be rejected"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_every_1x_version() {
        for v in [
            "1.0.0",
            "1.0.2-dev",
            "1.1.0",
            "1.2.0",
            "1.3.0",
            "1.0.0+build.7",
        ] {
            spec(serde_json::json!({"ociVersion": v})).unwrap();
        }
    }

    #[test]
    fn rejects_other_versions() {
        // Not SemVer 2.0.0 (the spec's format for ociVersion), or not major version 1.
        for v in [
            "2.0.0", "0.9", "", "x", "1.", "1.0", "1.0.x", "01.0.0", "1.0.2 ",
        ] {
            assert!(err(serde_json::json!({"ociVersion": v})).contains("ociVersion"));
        }
    }

    #[test]
    fn names_the_bad_field() {
        let e = err(serde_json::json!({"linux": {"namespaces": [{"type": "bogus"}]}}));
        assert!(e.contains("linux.namespaces[0].type"), "{e}");
        let e = err(serde_json::json!({"process": {"args": []}}));
        assert!(e.contains("process.args"), "{e}");
        let e = err(serde_json::json!({"process": {"cwd": "rel"}}));
        assert!(e.contains("process.cwd"), "{e}");
        let e = err(serde_json::json!({"process": {"user": {"uid": "x"}}}));
        assert!(e.contains("process.user.uid"), "{e}");
    }

    #[test]
    fn invalid_json_is_reported() {
        let e = parse::<Spec>(b"{not json", "config.json").unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
    }

    /// Found by fuzzing (target `config`): bytes after the top-level object were ignored
    /// (serde_path_to_error stopped after the value; Go's decoder, hence runc, refuses them).
    #[test]
    fn trailing_data_is_refused() {
        let good = spec(serde_json::json!({})).unwrap();
        let mut data = serde_json::to_vec(&good).unwrap();
        from_bytes(&data).unwrap();
        for tail in [&b"\0\0\0"[..], b"}", b"{}", b"x", b" \n\t"] {
            data.truncate(data.iter().rposition(|&b| b == b'}').unwrap() + 1);
            data.extend_from_slice(tail);
            match from_bytes(&data) {
                Ok(_) => assert!(
                    tail.iter().all(u8::is_ascii_whitespace),
                    "{tail:?} accepted"
                ),
                Err(e) => assert!(e.to_string().contains("invalid JSON: trailing"), "{e}"),
            }
        }
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let e = err(
            serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "mount"}]}}),
        );
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let e = err(
            serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}}),
        );
        assert!(e.contains("uidMappings"), "{e}");
        let e = err(
            serde_json::json!({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}),
        );
        assert!(e.contains("uidMappings"), "{e}");
    }

    #[test]
    fn sysctls_need_their_namespace() {
        let e = err(serde_json::json!({"linux": {"sysctl": {"net.ipv4.ip_forward": "1"}}}));
        assert!(e.contains("network namespace"), "{e}");
        let e = err(serde_json::json!({"linux": {"sysctl": {"vm.swappiness": "1"}}}));
        assert!(e.contains("not namespaced"), "{e}");
        spec(
            serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "ipc"}],
            "sysctl": {"kernel.shmmax": "1000"}}}),
        )
        .unwrap();
    }

    #[test]
    fn bad_devices_and_mount_options_are_refused_before_create() {
        let e = err(serde_json::json!({"linux": {"devices": [
            {"path": "/dev/../etc", "type": "c", "major": 1, "minor": 3}]}}));
        assert!(e.contains("linux.devices[0].path"), "{e}");
        let e = err(serde_json::json!({"mounts": [
            {"destination": "/a", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/b", "source": "/x", "options": ["rbind", "rro"]}]}));
        assert!(e.contains("mounts[1].options[1]"), "{e}");
    }

    #[test]
    fn hook_paths_must_be_absolute() {
        let e = err(serde_json::json!({"hooks": {"poststop": [{"path": "rel"}]}}));
        assert!(e.contains("hooks.poststop[0].path"), "{e}");
    }

    #[test]
    fn spec_spelling_of_iops_devices_is_kept() {
        let data = br#"{"linux":{"resources":{"blockIO":{"throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}]}}}}"#;
        let s: Spec = parse(data, "config.json").unwrap();
        let bio = s
            .linux()
            .as_ref()
            .unwrap()
            .resources()
            .as_ref()
            .unwrap()
            .block_io()
            .clone()
            .unwrap();
        assert_eq!(
            bio.throttle_read_iops_device().as_ref().unwrap()[0].rate(),
            100
        );
    }

    /// The IOPS key rename oci-spec 0.7 needed decoded the text lossily, so invalid UTF-8 in a
    /// field loaded once the file mentioned an IOPS device; keep it refused.
    #[test]
    fn invalid_utf8_in_a_field_is_refused() {
        let mut data =
            br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["s"#.to_vec();
        data.push(0xd3);
        data.extend_from_slice(
            br#"h"],"cwd":"/","user":{"uid":0,"gid":0}},"linux":{"namespaces":[{"type":"mount"}],"resources":{"blockIO":{"throttleReadIOPSDevice":[]}}}}"#,
        );
        let e = from_bytes(&data).unwrap_err().to_string();
        assert!(e.contains("invalid JSON"), "{e}");
    }

    /// That rename also rewrote string values equal to an IOPS key.
    #[test]
    fn values_spelled_like_iops_keys_are_kept() {
        let data = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"args":["echo","throttleReadIOPSDevice"],"cwd":"/","env":["throttleWriteIOPSDevice"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}],
                     "resources":{"blockIO":{"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":7}]}}}}"#;
        let s = from_bytes(data).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap()[1], "throttleReadIOPSDevice");
        assert_eq!(p.env().as_ref().unwrap()[0], "throttleWriteIOPSDevice");
        let bio = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let bio = bio.block_io().as_ref().unwrap();
        assert_eq!(
            bio.throttle_write_iops_device().as_ref().unwrap()[0].rate(),
            7
        );
        assert!(bio.throttle_read_iops_device().is_none());
    }

    #[test]
    fn iops_keys_with_the_wrong_type_name_their_path() {
        let data = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}],"resources":{"blockIO":{"throttleReadIOPSDevice":"x"}}}}"#;
        let e = from_bytes(data).unwrap_err().to_string();
        assert!(
            e.contains("linux.resources.blockIO.throttleReadIOPSDevice"),
            "{e}"
        );
    }

    #[test]
    fn missing_config_names_the_file() {
        let e = load(Path::new("/nonexistent-bundle"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent-bundle/config.json"), "{e}");
    }
}
