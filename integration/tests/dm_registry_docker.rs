//! The real docker CLI (Debian's 20.10, with a private dockerd) against dm-registry over HTTPS
//! with htpasswd users: `docker login`, push, pull, in both auth modes (Basic on every request
//! and bearer tokens from the registry's `/token`).

use dm_integration::{make_certs, DmRegistry, DockerCertsDir, Dockerd};
use dm_testkit::{output, require_cmd, require_root, TempDir};
use std::path::Path;
use std::process::Command;

/// The `sha256:` word of the line of `out` that follows `marker`.
fn digest_after(out: &str, marker: &str) -> String {
    let at = out
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {out}"));
    out[at..]
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no digest in {out}"))
}

/// One round: a registry in `mode` over HTTPS, its CA in dockerd's certs.d, then login, push,
/// pull and logout with a private DOCKER_CONFIG.
fn login_push_pull(dockerd: &Dockerd, work: &Path, rootfs_tar: &Path, mode: &str) {
    let dir = work.join(mode);
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = make_certs(&dir);
    let htpasswd = dir.join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("alice:{}\n", bcrypt::hash("s3cret", 5).unwrap()),
    )
    .unwrap();
    let reg = DmRegistry::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--htpasswd",
        htpasswd.to_str().unwrap(),
        "--auth",
        mode,
    ]);
    let _ca = DockerCertsDir::install(&reg.addr, &ca.join("ca.crt"));
    let config = dir.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let docker = |args: &[&str]| dockerd.docker_with_config(&config, args);
    let image = format!("{}/{mode}/busybox:latest", reg.addr);
    docker(&["import", rootfs_tar.to_str().unwrap(), &image]).ok();

    // Not logged in, or logged in with a wrong password: refused.
    let out = docker(&["push", &image]);
    assert_ne!(out.code, 0, "anonymous push succeeded: {out:?}");
    // Basic: docker has no credentials to answer the challenge with. Token: it gets an
    // anonymous token that grants nothing, and the registry's `insufficient_scope` stops it
    // at once (as Docker Hub does) instead of retrying for a minute.
    let refusal = match mode {
        "basic" => "no basic auth credentials",
        _ => "denied: requested access to the resource is denied",
    };
    assert!(out.stderr.contains(refusal), "{out:?}\n{}", reg.log());
    let out = docker(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert_ne!(
        out.code, 0,
        "login with a wrong password succeeded: {out:?}"
    );
    assert!(
        out.stderr.to_lowercase().contains("unauthorized"),
        "{out:?}"
    );

    let out = docker(&["login", "-u", "alice", "-p", "s3cret", &reg.addr]).ok();
    assert!(out.stdout.contains("Login Succeeded"), "{out:?}");
    let saved = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(saved.contains(&reg.addr), "credentials not saved: {saved}");

    let push = docker(&["push", &image]);
    assert_eq!(push.code, 0, "push: {push:?}\n{}", reg.log());
    let pushed = digest_after(&push.stdout, "digest:");
    docker(&["rmi", &image]).ok();
    let pull = docker(&["pull", &image]);
    assert_eq!(pull.code, 0, "pull: {pull:?}\n{}", reg.log());
    assert_eq!(digest_after(&pull.stdout, "Digest:"), pushed, "{pull:?}");
    // What dockerd stored is the image it pushed: same rootfs layer as the import.
    let inspect = docker(&["image", "inspect", "--format", "{{.RepoDigests}}", &image]).ok();
    assert!(inspect.stdout.contains(&pushed), "{inspect:?}");

    // After logout the registry refuses to serve the image (no anonymous pull configured).
    docker(&["logout", &reg.addr]).ok();
    docker(&["rmi", &image]).ok();
    let out = docker(&["pull", &image]);
    assert_ne!(out.code, 0, "pull after logout succeeded: {out:?}");

    let log = reg.log();
    assert!(
        log.contains("user=\"alice\"") && log.contains("method=PUT"),
        "{log}"
    );
    if mode == "token" {
        assert!(log.contains("route=token"), "no token was issued:\n{log}");
    }
    assert!(
        !log.lines().any(|l| l.contains(" status=5")),
        "server errors:\n{log}"
    );
}

#[test]
fn docker_cli_logs_in_pushes_and_pulls_over_https_with_basic_and_token_auth() {
    let test = "docker_cli_logs_in_pushes_and_pulls_over_https_with_basic_and_token_auth";
    if !require_root(test)
        || !["dockerd", "docker", "openssl"]
            .iter()
            .all(|c| require_cmd(c))
    {
        return;
    }
    let work = TempDir::new("dm-reg-docker-tls");
    let rootfs = work.path().join("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    let tar = work.path().join("rootfs.tar");
    output({
        let mut c = Command::new("tar");
        c.arg("-cf").arg(&tar).arg("-C").arg(&rootfs).arg(".");
        c
    })
    .ok();
    let dd = work.path().join("dockerd");
    std::fs::create_dir_all(&dd).unwrap();
    let dockerd = Dockerd::start(&dd);
    for mode in ["basic", "token"] {
        login_push_pull(&dockerd, work.path(), &tar, mode);
    }
}
