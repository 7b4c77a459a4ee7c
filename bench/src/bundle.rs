//! The bundles every runtime runs: one busybox rootfs, one config per scenario variant.

use crate::error::{BenchError, Result};
use crate::runtime::Runtime;
use dm_testkit::TempDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Which config.json a scenario uses; all share one read-only rootfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// process `true`.
    True,
    /// process `true` under the ~300-rule seccomp allow-list profile.
    Seccomp,
    /// process `sleep 3600`: a running container to exec into.
    Sleeper,
}

impl Variant {
    fn dir_name(self) -> &'static str {
        match self {
            Variant::True => "true",
            Variant::Seccomp => "seccomp",
            Variant::Sleeper => "sleeper",
        }
    }
}

/// The harness's scratch directory: rootfs, bundles, per-runtime state roots and logs.
pub struct BenchDir {
    dir: TempDir,
    /// Which runtime's `spec` produced the base config.
    pub spec_from: String,
}

impl BenchDir {
    /// Builds the rootfs and writes one bundle per variant. The base config is what
    /// `<spec_runtime> spec` prints (the same file for every runtime), with terminal off.
    pub fn new(spec_runtime: &Runtime, seccomp: &Value) -> Result<BenchDir> {
        let dir = TempDir::new("dm-bench");
        let rootfs = dir.path().join("rootfs");
        dm_testkit::build_busybox_rootfs(&rootfs);
        let base = spec_of(spec_runtime, dir.path())?;
        let b = BenchDir {
            dir,
            spec_from: spec_runtime.name.clone(),
        };
        for v in [Variant::True, Variant::Seccomp, Variant::Sleeper] {
            let mut spec = base.clone();
            spec["root"] = json!({"path": rootfs, "readonly": true});
            spec["process"]["terminal"] = json!(false);
            spec["process"]["args"] = match v {
                Variant::Sleeper => json!(["sleep", "3600"]),
                _ => json!(["true"]),
            };
            if let Some(linux) = spec["linux"].as_object_mut() {
                // Each runtime then places the cgroup by its own default, named after the id.
                linux.remove("cgroupsPath");
                if v == Variant::Seccomp {
                    linux.insert("seccomp".into(), seccomp.clone());
                }
            }
            let bdir = b.bundle(v);
            std::fs::create_dir_all(&bdir).map_err(BenchError::io(&bdir))?;
            let text = serde_json::to_vec_pretty(&spec).map_err(|source| BenchError::Json {
                what: "config.json".into(),
                source,
            })?;
            let cfg = bdir.join("config.json");
            std::fs::write(&cfg, text).map_err(BenchError::io(&cfg))?;
        }
        Ok(b)
    }

    /// The scratch directory; every container's root lies below it.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle directory of a variant.
    pub fn bundle(&self, v: Variant) -> PathBuf {
        self.dir.path().join("bundles").join(v.dir_name())
    }

    /// A fresh directory under the scratch dir (private `--root`s, logs).
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).map_err(BenchError::io(&p))?;
        Ok(p)
    }
}

fn spec_of(rt: &Runtime, scratch: &Path) -> Result<Value> {
    let tmp = scratch.join("spec");
    std::fs::create_dir_all(&tmp).map_err(BenchError::io(&tmp))?;
    let out = std::process::Command::new(&rt.path)
        .arg("spec")
        .current_dir(&tmp)
        .output()
        .map_err(|source| BenchError::Spawn {
            cmd: format!("{} spec", rt.path.display()),
            source,
        })?;
    if !out.status.success() {
        return Err(BenchError::Failed {
            cmd: format!("{} spec", rt.path.display()),
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let cfg = tmp.join("config.json");
    let text = std::fs::read_to_string(&cfg).map_err(BenchError::io(&cfg))?;
    serde_json::from_str(&text).map_err(|source| BenchError::Json {
        what: cfg.display().to_string(),
        source,
    })
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        // The state tmpfs (see lib::run) must go before the directory can.
        crate::sys::unmount(&self.dir.path().join("roots"));
    }
}
