//! The image workflow through real docker CLIs (Debian 12's 20.10 and Debian 13's 26, legacy
//! builder): pull from a local registry, build FROM it (-f, --build-arg, --target,
//! .dockerignore, cache hits, a failing RUN), run the result, history, push, rmi, pull it back,
//! save | load; and archives exchanged with a private dockerd.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_testkit::TempDir;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Debian 13's docker CLI 26, as scripts/trixie.sh unpacks it.
const TRIXIE_DOCKER: &str = "/var/cache/dockermind/trixie/docker-cli/usr/bin/docker";

/// A docker CLI (`cli`) driving `d`, with the legacy builder.
struct Cli<'a> {
    cli: &'a str,
    d: &'a Dmd,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.cli)
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.d.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_API_VERSION")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            self.cli,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.d.log()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn id(&self, image: &str) -> String {
        self.ok(&["image", "inspect", "--format", "{{.Id}}", image])
            .trim()
            .to_owned()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The build context of the workflow, FROM `base`.
fn context(dir: &Path, base: &str) {
    write(
        dir,
        "Dockerfile",
        &format!(
            "FROM {base}\nARG MSG=none\nCOPY . /ctx/\nRUN test ! -e /ctx/secret.txt && echo \"$MSG\" > /msg\nCMD [\"cat\", \"/msg\"]\n"
        ),
    );
    write(dir, "hello.txt", "hello\n");
    write(dir, "secret.txt", "do not send\n");
    write(dir, ".dockerignore", "secret.txt\n");
    write(
        dir,
        "Dockerfile.multi",
        &format!("FROM {base} AS first\nRUN echo first > /stage\nFROM first AS second\nRUN echo second > /stage\n"),
    );
    write(
        dir,
        "Dockerfile.fail",
        &format!("FROM {base}\nRUN echo about to fail && exit 3\n"),
    );
}

fn workflow(cli: &str) {
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let c = Cli { cli, d: &d };
    let base = &reg.image;
    c.ok(&["pull", base]);

    let ctx = TempDir::new("dmd-build-ctx");
    context(ctx.path(), base);
    let ctx_s = ctx.path().to_str().unwrap();
    let built = format!("{}/built:v1", reg.image.rsplit_once('/').unwrap().0);

    // A build with a build arg; .dockerignore kept secret.txt out of the context.
    let out = c.ok(&[
        "build",
        "-t",
        &built,
        "--build-arg",
        "MSG=hi",
        "--label",
        "team=img",
        ctx_s,
    ]);
    assert!(out.contains(&format!("Step 1/5 : FROM {base}")), "{out}");
    assert!(out.contains("Step 4/5 : RUN"), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(
        out.contains(&format!("Successfully tagged {built}")),
        "{out}"
    );
    let id = c.id(&built);
    assert_eq!(c.ok(&["run", "--rm", &built]).trim(), "hi");
    let labels = c.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &built,
    ]);
    assert_eq!(labels.trim(), r#"{"team":"img"}"#);

    // The same build again comes from the cache, to the same image.
    let again = c.ok(&[
        "build",
        "-t",
        &built,
        "--build-arg",
        "MSG=hi",
        "--label",
        "team=img",
        ctx_s,
    ]);
    assert!(again.contains("Using cache"), "{again}");
    assert_eq!(c.id(&built), id);
    // A gzip'd context (--compress) and -q: only the id is printed.
    let quiet = c.ok(&[
        "build",
        "-q",
        "--compress",
        "-t",
        &built,
        "--build-arg",
        "MSG=hi",
        "--label",
        "team=img",
        ctx_s,
    ]);
    assert_eq!(quiet.trim(), id);

    // -f and --target: only the first stage.
    let multi = ctx.path().join("Dockerfile.multi");
    c.ok(&[
        "build",
        "-f",
        multi.to_str().unwrap(),
        "--target",
        "first",
        "-t",
        "staged",
        ctx_s,
    ]);
    assert_eq!(
        c.ok(&["run", "--rm", "staged", "cat", "/stage"]).trim(),
        "first"
    );

    // A failing RUN: its exit status, its output, and no image.
    let fail = ctx.path().join("Dockerfile.fail");
    let o = c.run(&["build", "-f", fail.to_str().unwrap(), "-t", "failed", ctx_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("about to fail"),
        "{o:?}"
    );
    assert!(c.run(&["image", "inspect", "failed"]).status.code() != Some(0));
    let contexts = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d.root().join("build-ctx"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    assert_eq!(
        contexts(),
        Vec::<std::path::PathBuf>::new(),
        "build context left"
    );

    // A body that is not a tar is a 400 naming the problem.
    let (code, body) = d.request(
        "POST",
        "/v1.41/build?t=x",
        "this is not a tar archive at all",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not a tar archive"), "{body}");
    assert_eq!(
        contexts(),
        Vec::<std::path::PathBuf>::new(),
        "build context left"
    );

    // History: FROM's busybox layer plus our steps, newest first.
    let hist = c.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &built,
    ]);
    let lines: Vec<&str> = hist.lines().collect();
    assert!(lines.len() >= 4, "{hist}");
    assert!(lines[0].contains("CMD"), "{hist}");

    // Push, remove, pull back, run.
    let pushed = c.ok(&["push", &built]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    let missing = c.run(&["push", &format!("{built}-missing")]);
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("An image does not exist locally with the tag"),
        "{missing:?}"
    );
    c.ok(&["rmi", &built]);
    c.ok(&["pull", &built]);
    assert_eq!(c.id(&built), id);
    assert_eq!(c.ok(&["run", "--rm", &built]).trim(), "hi");

    // save | load round trip.
    let archive = ctx.path().join("saved.tar");
    c.ok(&["save", "-o", archive.to_str().unwrap(), &built, "staged"]);
    let nothing = ctx.path().join("nothing.tar");
    let unknown = c.run(&["save", "-o", nothing.to_str().unwrap(), "no-such-image:1"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("No such image"),
        "{unknown:?}"
    );
    let (code, body) = d.request("GET", "/v1.41/images/no-such-image:1/get", "");
    assert_eq!(code, 404, "{body}");
    let (code, body) = d.request("POST", "/v1.41/images/no-such-image/push?tag=1", "");
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains(
            r#"{"message":"An image does not exist locally with the tag: no-such-image:1"}"#
        ),
        "{body}"
    );
    let staged_id = c.id("staged");
    c.ok(&["rmi", &built, "staged"]);
    let loaded = c.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {built}")),
        "{loaded}"
    );
    assert!(loaded.contains("Loaded image: staged:latest"), "{loaded}");
    assert_eq!(c.id(&built), id);
    assert_eq!(c.id("staged"), staged_id);
    assert_eq!(c.ok(&["run", "--rm", &built]).trim(), "hi");

    c.ok(&["rmi", &built, "staged", base]);
    assert_clean(&mut d);
}

#[test]
fn image_workflow_with_docker_20_10() {
    if !prerequisites("image_workflow_with_docker_20_10") {
        return;
    }
    workflow(common::DOCKER);
}

#[test]
fn image_workflow_with_docker_26() {
    if !prerequisites("image_workflow_with_docker_26") {
        return;
    }
    if !Path::new(TRIXIE_DOCKER).is_file() {
        if dm_testkit::in_ci() {
            panic!(
                "CI=true but {TRIXIE_DOCKER} is missing (scripts/deps.sh runs scripts/trixie.sh)"
            );
        }
        eprintln!("\n!!! SKIPPED: image_workflow_with_docker_26 needs {TRIXIE_DOCKER} (scripts/trixie.sh) !!!\n");
        return;
    }
    workflow(TRIXIE_DOCKER);
}

/// dockerd loads what dockermindd saves (same id, tags and history length), and dockermindd
/// loads what dockerd saves.
#[test]
fn archives_round_trip_with_dockerd() {
    if !prerequisites("archives_round_trip_with_dockerd") || !dm_testkit::require_cmd("dockerd") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let c = Cli {
        cli: common::DOCKER,
        d: &d,
    };
    let base = &reg.image;
    c.ok(&["pull", base]);
    c.ok(&["tag", base, "saved:1"]);
    let id = c.id("saved:1");
    let hist = c.ok(&["history", "-q", "saved:1"]).lines().count();

    let dir = TempDir::new("dmd-dockerd");
    let dockerd = dm_integration::Dockerd::start(dir.path());
    let ours = dir.path().join("ours.tar");
    c.ok(&["save", "-o", ours.to_str().unwrap(), "saved:1"]);
    dockerd.docker(&["load", "-i", ours.to_str().unwrap()]).ok();
    let theirs_id = dockerd.docker(&["image", "inspect", "--format", "{{.Id}}", "saved:1"]);
    assert_eq!(theirs_id.stdout.trim(), id, "{}", theirs_id.stderr);
    let theirs_hist = dockerd.docker(&["history", "-q", "saved:1"]);
    assert_eq!(theirs_hist.stdout.lines().count(), hist);

    // dockerd's own archive (its legacy layout) into dockermindd.
    dockerd.docker(&["tag", "saved:1", "fromdockerd:2"]).ok();
    let theirs = dir.path().join("theirs.tar");
    dockerd
        .docker(&["save", "-o", theirs.to_str().unwrap(), "fromdockerd:2"])
        .ok();
    let loaded = c.ok(&["load", "-i", theirs.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: fromdockerd:2"), "{loaded}");
    assert_eq!(c.id("fromdockerd:2"), id);
    assert_eq!(
        c.ok(&["run", "--rm", "fromdockerd:2", "echo", "ran"])
            .trim(),
        "ran"
    );
    drop(dockerd);
    c.ok(&["rmi", "saved:1", "fromdockerd:2", base]);
    assert_clean(&mut d);
}

/// Push and pull send the credentials the client holds (`X-Registry-Auth`) to the registry:
/// without them the registry's 401 comes back as the error line, with them they work.
#[test]
fn push_and_pull_use_the_clients_registry_credentials() {
    if !prerequisites("push_and_pull_use_the_clients_registry_credentials") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let c = Cli {
        cli: common::DOCKER,
        d: &d,
    };
    c.ok(&["pull", &reg.image]);
    let dir = TempDir::new("dmd-auth-reg");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let private = dm_integration::Registry::start_htpasswd(dir.path(), &format!("alice:{hash}"));
    let target = format!("{}/private/busybox:v1", private.addr);
    c.ok(&["tag", &reg.image, &target]);

    let denied = c.run(&["push", &target]);
    assert!(!denied.status.success(), "{denied:?}");
    let err = String::from_utf8_lossy(&denied.stderr).to_lowercase();
    assert!(err.contains("401") || err.contains("unauthorized"), "{err}");

    let config = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, private.addr),
    )
    .unwrap();
    let pushed = c.ok(&["push", &target]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");

    // A pull carries them too.
    c.ok(&["rmi", &target]);
    c.ok(&["pull", &target]);
    std::fs::write(config.join("config.json"), "{}").unwrap();
    c.ok(&["rmi", &target]);
    let denied = c.run(&["pull", &target]);
    assert!(!denied.status.success(), "{denied:?}");
    c.ok(&["rmi", &reg.image]);
    assert_clean(&mut d);
}
