//! A container's config.json: `dm-runc spec`'s default, changed as docker changes it (docker's
//! capability set, writable root, no rlimits or no_new_privs) and filled from the record.

use crate::error::{ApiError, ApiResult};
use crate::record::Record;
use serde_json::{json, Value};
use std::path::Path;

/// The capabilities docker gives a container by default.
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `uid[:gid]` from the config's User, names looked up in the rootfs's passwd and group files.
pub fn resolve_user(user: &str, rootfs: &Path) -> ApiResult<(u32, u32)> {
    let read = |f: &str| std::fs::read_to_string(rootfs.join(f)).unwrap_or_default();
    crate::passwd::ids(&read("etc/passwd"), &read("etc/group"), user)
}

/// The config.json for `rec` with its rootfs mounted at `rootfs`.
pub fn build(rec: &Record, rootfs: &Path, cgroup_parent: &str) -> ApiResult<Value> {
    let c = &rec.config;
    let h = &rec.host_config;
    let mut v = dm_runtime::spec::default_spec(false);
    let hostname = if c.hostname.is_empty() {
        rec.id[..12].to_owned()
    } else {
        c.hostname.clone()
    };
    let mut env: Vec<String> = c.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    env.push(format!("HOSTNAME={hostname}"));
    if c.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let (uid, gid) = resolve_user(&c.user, rootfs)?;
    let args: Vec<&str> = std::iter::once(rec.path.as_str())
        .chain(rec.args.iter().map(String::as_str))
        .collect();
    let cwd = if c.working_dir.is_empty() {
        "/"
    } else {
        &c.working_dir
    };
    v["process"] = json!({
        "terminal": c.tty,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
        "noNewPrivileges": false
    });
    v["root"] = json!({"path": "rootfs", "readonly": false});
    v["hostname"] = json!(hostname);
    let mounts = v["mounts"].as_array_mut().expect("default spec has mounts");
    // Docker's: a user mount replaces a default one at the same place (a tmpfs on /dev/shm).
    let user = crate::mounts::oci(&rec.mount_points);
    mounts.retain(|m| !user.iter().any(|u| u["destination"] == m["destination"]));
    mounts.extend(user);
    let linux = &mut v["linux"];
    if h.network_mode == "host" {
        if let Some(ns) = linux["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network" && n["type"] != "uts");
        }
        v["hostname"] = Value::Null;
    }
    let linux = &mut v["linux"];
    let res = crate::resources::linux(h);
    if let (Some(to), Some(from)) = (linux["resources"].as_object_mut(), res.as_object()) {
        to.extend(from.clone());
    }
    linux["cgroupsPath"] = json!(format!(
        "{}/{}",
        cgroup_parent.trim_end_matches('/'),
        rec.id
    ));
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    // What dm-runc will read: a typed parse catches a malformed document here, not there.
    serde_json::from_value::<oci_spec::runtime::Spec>(v.clone())
        .map_err(|e| ApiError::internal(format!("generated config.json is invalid: {e}")))?;
    Ok(v)
}

/// An OCI process for an exec in `rec`.
pub fn exec_process(
    rec: &Record,
    cmd: &[String],
    env: &[String],
    user: &str,
    cwd: &str,
    tty: bool,
    rootfs: &Path,
) -> ApiResult<Value> {
    let mut all_env = rec.config.env.clone().unwrap_or_default();
    all_env.extend(env.iter().cloned());
    let (uid, gid) = resolve_user(
        if user.is_empty() {
            &rec.config.user
        } else {
            user
        },
        rootfs,
    )?;
    let cwd = match (cwd, rec.config.working_dir.as_str()) {
        ("", "") => "/",
        ("", w) => w,
        (c, _) => c,
    };
    Ok(json!({
        "terminal": tty,
        "user": {"uid": uid, "gid": gid},
        "args": cmd,
        "env": all_env,
        "cwd": cwd,
        "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
        "noNewPrivileges": false
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_from_the_rootfs() {
        let dir = std::env::temp_dir().join(format!("dmd-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let r = (
            resolve_user("nobody", &dir).unwrap(),
            resolve_user("1000:staff", &dir).unwrap(),
            resolve_user("65534", &dir).unwrap(),
            resolve_user("ghost", &dir).unwrap_err().message,
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(r.0, (65534, 65533));
        assert_eq!(r.1, (1000, 50));
        assert_eq!(r.2, (65534, 65533));
        assert!(r.3.contains("unable to find user ghost"), "{}", r.3);
    }
}
