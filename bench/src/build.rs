//! The `build` family (issue 16): one multi-stage Dockerfile (several RUN and COPY steps, a
//! COPY --from between stages) built by `dm-build` and by Debian's `buildah bud` (overlay
//! storage, runc), side by side and interleaved. Cold: empty cache, the base image already in
//! the store; unchanged: the same build again; one file: after changing a file that only the
//! last stage copies, so only the steps after that COPY may run.

use crate::error::{BenchError, Result};
use crate::family::{Context, Family};
use crate::import::paired_rows;
use crate::report::Row;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Build figures.
pub struct BuildFamily;

const DOCKERFILE: &str = r#"FROM BASE AS gen
RUN mkdir /out && for i in $(seq 1 200); do echo "line $i" > /out/f$i; done
COPY src/ /src/
RUN cat /src/* | wc -c > /out/size && tar -cf /out/src.tar /src

FROM BASE
ENV MODE=bench
WORKDIR /app
COPY --from=gen /out /app/gen
RUN ls /app/gen | wc -l > /app/count && echo 'svc:x:1234:1234::/app:/bin/sh' >> /etc/passwd
COPY config.txt /app/
RUN wc -c /app/config.txt > /app/config.size
USER svc
CMD ["cat", "/app/count"]
"#;

/// One builder compared.
enum Tool {
    Buildah,
    DmBuild { build: PathBuf, image: PathBuf },
}

impl Tool {
    fn name(&self) -> &'static str {
        match self {
            Tool::Buildah => "buildah bud (overlay, runc)",
            Tool::DmBuild { .. } => "dm-build",
        }
    }

    /// Makes an empty store under `dir` holding only the base image; returns the FROM name.
    fn prepare(&self, dir: &Path, base_tar: &Path) -> Result<String> {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        match self {
            Tool::Buildah => {
                let from = format!("oci-archive:{}", base_tar.display());
                let mut c = buildah(dir);
                c.args(["pull", "-q", &from]);
                let out = c.output().map_err(|source| BenchError::Spawn {
                    cmd: format!("buildah pull {from}"),
                    source,
                })?;
                let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if !out.status.success() || id.is_empty() {
                    return Err(BenchError::Failed {
                        cmd: format!("buildah pull {from}"),
                        code: out.status.code().unwrap_or(-1),
                        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    });
                }
                Ok(id)
            }
            Tool::DmBuild { image, .. } => {
                let mut c = Command::new(image);
                c.arg("--root").arg(dir.join("store")).args(["load", "-i"]);
                c.arg(base_tar).args(["--base-name", "bench/base"]);
                run(&mut c)?;
                Ok("bench/base:latest".into())
            }
        }
    }

    /// One timed build of `ctx` with `dockerfile` into the store under `dir`, in ms.
    fn build(&self, dir: &Path, ctx: &Path, dockerfile: &Path) -> Result<f64> {
        let mut c = match self {
            Tool::Buildah => {
                let mut c = buildah(dir);
                c.args(["bud", "-q", "--isolation", "oci", "--runtime", "runc"]);
                c.args(["--network", "none", "--layers", "-t", "localhost/bench/out"]);
                c
            }
            Tool::DmBuild { build, .. } => {
                let mut c = Command::new(build);
                c.arg("--root").arg(dir.join("store"));
                c.args(["-q", "-t", "bench/out"]);
                c
            }
        };
        c.arg("-f").arg(dockerfile).arg(ctx);
        let t = Instant::now();
        run(&mut c)?;
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    }

    /// Removes the store under `dir` (buildah's containers and layers first).
    fn clean(&self, dir: &Path) {
        if let Tool::Buildah = self {
            let _ = run(buildah(dir).args(["rm", "--all"]));
            let _ = run(buildah(dir).args(["rmi", "--all", "--force"]));
            crate::containerd::unmount_below(&runroot(dir));
            let _ = std::fs::remove_dir_all(runroot(dir));
        }
        crate::containerd::unmount_below(dir);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// buildah's run root for the store under `dir`, kept short: podman's libraries refuse long
/// ones.
fn runroot(dir: &Path) -> PathBuf {
    std::env::temp_dir().join(format!(
        "dmb-bh-{}-{}",
        std::process::id(),
        dir.file_name().unwrap_or_default().to_string_lossy()
    ))
}

/// buildah with storage under `dir`.
fn buildah(dir: &Path) -> Command {
    let mut c = Command::new("buildah");
    c.arg("--root").arg(dir.join("bh-root"));
    c.arg("--runroot").arg(runroot(dir));
    c.args(["--storage-driver", "overlay"]);
    c
}

fn run(c: &mut Command) -> Result<()> {
    crate::oci_image::run(c.stdout(Stdio::null()))
}

/// The build context: 50 source files of 16 KiB and the config file the last stage copies.
fn write_context(ctx: &Path) -> Result<()> {
    let src = ctx.join("src");
    std::fs::create_dir_all(&src).map_err(BenchError::io(&src))?;
    for i in 0..50 {
        let p = src.join(format!("file{i}.txt"));
        let line = format!("source file {i} ");
        std::fs::write(&p, line.repeat(16384 / line.len())).map_err(BenchError::io(&p))?;
    }
    let p = ctx.join("config.txt");
    std::fs::write(&p, "round 0\n").map_err(BenchError::io(&p))
}

impl Family for BuildFamily {
    fn name(&self) -> &'static str {
        "build"
    }

    fn run(&self, cx: &mut Context) -> Result<Vec<Row>> {
        let mut tools = Vec::new();
        if dm_testkit::which("buildah").is_some() && dm_testkit::which("runc").is_some() {
            tools.push(Tool::Buildah);
        } else {
            cx.notes
                .push("build: buildah rows skipped, buildah or runc not installed".into());
        }
        tools.push(Tool::DmBuild {
            build: dm_testkit::workspace_bin("dm-build"),
            image: dm_testkit::workspace_bin("dm-image"),
        });
        let work = cx.dir.subdir("build")?;
        let base_tar = work.join("busybox.tar");
        dm_integration::write_busybox_image_tar(&base_tar, &work.join("busybox-work"));
        let ctx = work.join("ctx");
        write_context(&ctx)?;
        let rounds = cx.opts.rounds.clamp(1, 5);
        let warmup = cx.opts.warmup.min(1);
        let n = tools.len();
        let mut figures = vec![vec![Vec::new(); n]; 3];
        let mut errors: Vec<Option<String>> = vec![None; n];
        for round in 0..warmup + rounds {
            for k in 0..n {
                let i = (round + k) % n;
                if errors[i].is_some() {
                    continue;
                }
                let dir = work.join(format!("r{round}-{i}"));
                let tool = &tools[i];
                let measured = (|| -> Result<[f64; 3]> {
                    let from = tool.prepare(&dir, &base_tar)?;
                    let dockerfile = dir.join("Dockerfile");
                    std::fs::write(&dockerfile, DOCKERFILE.replace("BASE", &from))
                        .map_err(BenchError::io(&dockerfile))?;
                    let config = ctx.join("config.txt");
                    std::fs::write(&config, format!("round {round} tool {i}\n"))
                        .map_err(BenchError::io(&config))?;
                    let cold = tool.build(&dir, &ctx, &dockerfile)?;
                    let unchanged = tool.build(&dir, &ctx, &dockerfile)?;
                    std::fs::write(&config, format!("round {round} tool {i} changed\n"))
                        .map_err(BenchError::io(&config))?;
                    let one_file = tool.build(&dir, &ctx, &dockerfile)?;
                    Ok([cold, unchanged, one_file])
                })();
                tool.clean(&dir);
                match measured {
                    Ok(v) if round >= warmup => {
                        for (s, ms) in v.into_iter().enumerate() {
                            figures[s][i].push(ms);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => errors[i] = Some(e.to_string()),
                }
            }
        }
        let names: Vec<&str> = tools.iter().map(Tool::name).collect();
        let mut rows = Vec::new();
        let scenarios = [
            "build-cold-multistage",
            "rebuild-unchanged",
            "rebuild-one-file",
        ];
        for (s, vals) in scenarios.iter().zip(figures) {
            rows.extend(paired_rows("build", s, "ms", &names, vals, errors.clone()));
        }
        cx.notes.push(
            "build: a two-stage Dockerfile (3 RUN in the first stage's and the final stage's \
             chains, COPY of 50 files, COPY --from, COPY of one file), the base image already in \
             each tool's fresh store; vs_runc column = ratio to buildah in the same round; \
             rebuild-one-file changes only the file the last COPY reads"
                .into(),
        );
        let _ = std::fs::remove_dir_all(&work);
        cx.verify("build");
        Ok(rows)
    }
}
