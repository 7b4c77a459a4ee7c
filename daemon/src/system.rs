//! `_ping`, `/version` and `/info`.

use crate::api::{version_text, MAX_API, MIN_API};
use crate::daemon::Daemon;
use crate::http::{self, Body};
use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// `GET|HEAD /_ping`: "OK" (empty for HEAD) with the headers clients negotiate from.
pub fn ping(method: &Method) -> Response<Body> {
    let mut r = if method == Method::HEAD {
        http::empty(StatusCode::OK)
    } else {
        http::text(StatusCode::OK, "OK")
    };
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    // No BuildKit session endpoint: clients use the classic builder.
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `GET /version`.
pub fn version() -> Response<Body> {
    let v = env!("CARGO_PKG_VERSION");
    let api = version_text(MAX_API);
    let min = version_text(MIN_API);
    http::json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "dockermind"},
            "Components": [{
                "Name": "Engine",
                "Version": v,
                "Details": {"ApiVersion": api, "MinAPIVersion": min, "Os": "linux", "Arch": "amd64", "KernelVersion": kernel()}
            }],
            "Version": v,
            "ApiVersion": api,
            "MinAPIVersion": min,
            "GitCommit": "dockermind",
            "GoVersion": "none (Rust)",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": kernel(),
            "BuildTime": ""
        }),
    )
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// `GET /info`.
pub fn info(d: &Arc<Daemon>) -> Response<Body> {
    let counts = d.container_counts();
    let images = d.image_count();
    let name = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    http::json(
        StatusCode::OK,
        &json!({
            "ID": d.id(),
            "Containers": counts.0 + counts.1,
            "ContainersRunning": counts.0,
            "ContainersPaused": 0,
            "ContainersStopped": counts.1,
            "Images": images,
            "Driver": "overlayfs",
            "DriverStatus": [["Snapshotter", "dm-snapshotter"]],
            "DockerRootDir": d.cfg.root,
            "Plugins": {"Volume": [], "Network": ["host", "none"], "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "PidsLimit": true,
            "IPv4Forwarding": false,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "KernelVersion": kernel(),
            "OperatingSystem": "dockermind",
            "OSType": "linux",
            "Architecture": "x86_64",
            "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "MemTotal": mem_total(),
            "Name": name,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"dockermind": {"path": "containerd-shim-dockermind-v2"}},
            "DefaultRuntime": "dockermind",
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": [],
            "RegistryConfig": {
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
                "Mirrors": []
            },
            "Warnings": ["dockermind: bridge networking is not implemented yet; containers on the default network get a network namespace with loopback only"]
        }),
    )
}
