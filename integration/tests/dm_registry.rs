//! dm-registry with real clients: skopeo pushes the busybox image and pulls it back
//! bit-identical, containerd (`ctr --plain-http`) and podman pull it and run it, podman pushes.

use dm_integration::{
    make_certs, write_busybox_image_tar, Containerd, ContainerdOptions, DmRegistry, Dockerd, Podman,
};
use dm_testkit::{output, require_cmd, require_root, unique_id, which, TempDir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every blob of an OCI layout dir, by file name.
fn blobs(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// No request made the registry fail on its side.
fn assert_no_server_errors(reg: &DmRegistry) {
    let log = reg.log();
    assert!(
        !log.lines().any(|l| l.contains(" status=5")),
        "server errors:\n{log}"
    );
}

/// Builds the busybox OCI archive and pushes it with skopeo as `<addr>/<name>`.
fn push_busybox(reg: &DmRegistry, work: &Path, name: &str) -> String {
    let tar = work.join("busybox.tar");
    write_busybox_image_tar(&tar, &work.join("build"));
    let image = format!("{}/{name}", reg.addr);
    reg.skopeo_copy(
        &["--dest-tls-verify=false"],
        &format!("oci-archive:{}", tar.display()),
        &format!("docker://{image}"),
    )
    .ok();
    image
}

#[test]
fn skopeo_pushes_busybox_and_pulls_it_back_bit_identical() {
    if !require_cmd("skopeo") {
        return;
    }
    let reg = DmRegistry::start(&[]);
    let work = TempDir::new("dm-reg-skopeo");
    let image = push_busybox(&reg, work.path(), "dm/busybox:latest");

    let orig = work.path().join("orig");
    std::fs::create_dir_all(&orig).unwrap();
    output({
        let mut c = Command::new("tar");
        c.arg("-xf")
            .arg(work.path().join("busybox.tar"))
            .arg("-C")
            .arg(&orig);
        c
    })
    .ok();
    let pulled = work.path().join("pulled");
    reg.skopeo_copy(
        &["--src-tls-verify=false"],
        &format!("docker://{image}"),
        &format!("oci:{}:latest", pulled.display()),
    )
    .ok();
    // skopeo gzips the uncompressed layer on its way to a registry, so the manifest and layer
    // change on push; the config is unchanged, the layer decompresses to the original tar and
    // the registry serves back exactly the manifest skopeo pushed.
    let (a, b) = (blobs(&orig), blobs(&pulled));
    let manifest_of = |layout: &Path, blobs: &BTreeMap<String, Vec<u8>>| {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let d = index["manifests"][0]["digest"].as_str().unwrap();
        let m = &blobs[d.strip_prefix("sha256:").unwrap()];
        serde_json::from_slice::<serde_json::Value>(m).unwrap()
    };
    let hex = |v: &serde_json::Value| v["digest"].as_str().unwrap()[7..].to_owned();
    let (ma, mb) = (manifest_of(&orig, &a), manifest_of(&pulled, &b));
    assert_eq!(
        a[&hex(&ma["config"])],
        b[&hex(&mb["config"])],
        "config bytes"
    );
    let gz = pulled.join("blobs/sha256").join(hex(&mb["layers"][0]));
    let layer = output({
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("gzip -dc {} | sha256sum", gz.display()));
        c
    })
    .ok();
    assert_eq!(
        layer.stdout.split_whitespace().next().unwrap(),
        hex(&ma["layers"][0]),
        "the pulled layer decompresses to the pushed tar"
    );
    let raw = output({
        let mut c = Command::new("skopeo");
        c.args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{image}"));
        c
    })
    .ok();
    let served: serde_json::Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(served, mb, "manifest served and pulled");
    for (name, data) in &b {
        assert_eq!(
            *name,
            format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(data)),
            "pulled blob matches its digest"
        );
    }

    // Already compressed, the pulled layout round-trips through the registry bit for bit.
    let again = format!("docker://{}/dm/again:latest", reg.addr);
    reg.skopeo_copy(
        &["--dest-tls-verify=false"],
        &format!("oci:{}:latest", pulled.display()),
        &again,
    )
    .ok();
    let pulled2 = work.path().join("pulled2");
    reg.skopeo_copy(
        &["--src-tls-verify=false"],
        &again,
        &format!("oci:{}:latest", pulled2.display()),
    )
    .ok();
    assert!(blobs(&pulled2) == b, "second round trip changed bytes");

    // A second push of the same image (blobs known: HEAD hits) and a copy to a second
    // repository and tag, then the tag lists of both.
    reg.skopeo_copy(
        &["--src-tls-verify=false", "--dest-tls-verify=false"],
        &format!("docker://{image}"),
        &format!("docker://{}/dm/copy:v1", reg.addr),
    )
    .ok();
    let tags = output({
        let mut c = Command::new("skopeo");
        c.args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{}/dm/copy", reg.addr));
        c
    })
    .ok();
    let tags: serde_json::Value = serde_json::from_str(&tags.stdout).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1"]));
    assert_no_server_errors(&reg);
}

#[test]
fn ctr_pulls_from_dm_registry_over_plain_http_and_runs_the_image() {
    let test = "ctr_pulls_from_dm_registry_over_plain_http_and_runs_the_image";
    if !require_root(test)
        || !["containerd", "ctr", "runc", "skopeo"]
            .iter()
            .all(|c| require_cmd(c))
    {
        return;
    }
    let reg = DmRegistry::start(&[]);
    let work = TempDir::new("dm-reg-ctr");
    let image = push_busybox(&reg, work.path(), "dm/busybox:latest");
    let ctd = Containerd::start(ContainerdOptions::default());
    let ctr = ctd.ctr();
    let out = ctr.run(&["image", "pull", "--plain-http", &image]);
    assert_eq!(out.code, 0, "pull: {out:?}\n{}", reg.log());
    let id = unique_id("dm-reg");
    let out = ctr.run(&[
        "run",
        "--rm",
        &image,
        &id,
        "sh",
        "-c",
        "echo hello from dm-registry",
    ]);
    assert_eq!(out.code, 0, "run: {out:?}");
    assert_eq!(out.stdout, "hello from dm-registry\n");
    assert_no_server_errors(&reg);
}

#[test]
fn podman_pushes_to_and_pulls_from_dm_registry_then_runs_the_image() {
    let test = "podman_pushes_to_and_pulls_from_dm_registry_then_runs_the_image";
    if !require_root(test) || !require_cmd("podman") || !require_cmd("runc") {
        return;
    }
    let reg = DmRegistry::start(&[]);
    let work = TempDir::new("dm-reg-podman");
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let pusher = Podman::new(&which("runc").unwrap());
    let local = pusher.load_image(&tar, "dmreg");
    let image = format!("{}/podman/busybox:latest", reg.addr);
    let out = pusher.run(&["push", "--tls-verify=false", &local, &image]);
    assert_eq!(out.code, 0, "push: {out:?}\n{}", reg.log());

    let puller = Podman::new(&which("runc").unwrap());
    let out = puller.run(&["pull", "--tls-verify=false", &image]);
    assert_eq!(out.code, 0, "pull: {out:?}\n{}", reg.log());
    let out = puller.run_rm(&image, &[], &["echo", "pulled by podman"]);
    assert_eq!(out.code, 0, "run: {out:?}");
    assert_eq!(out.stdout, "pulled by podman\n");
    assert_no_server_errors(&reg);
}

#[test]
fn https_with_token_auth_for_skopeo_ctr_and_podman_and_anonymous_pull() {
    let test = "https_with_token_auth_for_skopeo_ctr_and_podman_and_anonymous_pull";
    if !require_root(test)
        || !["skopeo", "openssl", "containerd", "ctr", "podman", "runc"]
            .iter()
            .all(|c| require_cmd(c))
    {
        return;
    }
    let work = TempDir::new("dm-reg-tls");
    let (ca, cert, key) = make_certs(work.path());
    let htpasswd = work.path().join("htpasswd");
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
        "--anonymous-pull",
    ]);
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let src = format!("oci-archive:{}", tar.display());
    let image = format!("{}/secure/busybox:latest", reg.addr);
    let dest = format!("docker://{image}");
    let cert_dir = format!("--dest-cert-dir={}", ca.display());

    // No credentials, wrong ones, and no trust in the CA: refused.
    let out = reg.skopeo_copy(&[&cert_dir], &src, &dest);
    assert_ne!(out.code, 0, "anonymous push succeeded: {out:?}");
    let out = reg.skopeo_copy(&[&cert_dir, "--dest-creds=alice:wrong"], &src, &dest);
    assert_ne!(out.code, 0, "push with a wrong password succeeded: {out:?}");
    let out = reg.skopeo_copy(&["--dest-creds=alice:s3cret"], &src, &dest);
    assert_ne!(out.code, 0, "push trusting no CA succeeded: {out:?}");
    assert!(out.stderr.contains("certificate"), "{out:?}");

    reg.skopeo_copy(&[&cert_dir, "--dest-creds=alice:s3cret"], &src, &dest)
        .ok();
    // Anonymous pull is on: skopeo without credentials reads it back.
    let pulled = work.path().join("pulled");
    reg.skopeo_copy(
        &[&format!("--src-cert-dir={}", ca.display())],
        &dest,
        &format!("oci:{}:latest", pulled.display()),
    )
    .ok();

    // containerd over HTTPS with the CA and credentials (token flow), then runs it.
    let ctd = Containerd::start(ContainerdOptions::default());
    let ctr = ctd.ctr();
    // containerd takes loopback hosts for plain-http ones unless a hosts.toml says otherwise.
    let ca_file = ca.join("ca.crt");
    let hosts = work.path().join("hosts");
    std::fs::create_dir_all(hosts.join(&reg.addr)).unwrap();
    std::fs::write(
        hosts.join(&reg.addr).join("hosts.toml"),
        format!(
            "server = \"https://{a}\"\n[host.\"https://{a}\"]\n  ca = \"{}\"\n  \
             capabilities = [\"pull\", \"resolve\"]\n",
            ca_file.display(),
            a = reg.addr
        ),
    )
    .unwrap();
    let out = ctr.run(&[
        "image",
        "pull",
        "--hosts-dir",
        hosts.to_str().unwrap(),
        "--user",
        "alice:s3cret",
        &image,
    ]);
    assert_eq!(out.code, 0, "ctr pull: {out:?}\n{}", reg.log());
    let id = unique_id("dm-reg-tls");
    let out = ctr.run(&["run", "--rm", &image, &id, "echo", "over https"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "over https\n"),
        "{out:?}"
    );

    // podman logs in and pulls with the CA.
    let podman = Podman::new(&which("runc").unwrap());
    let cd = format!("--cert-dir={}", ca.display());
    let out = podman.run(&["pull", &cd, "--creds", "alice:s3cret", &image]);
    assert_eq!(out.code, 0, "podman pull: {out:?}\n{}", reg.log());
    let out = podman.run_rm(&image, &[], &["echo", "podman over https"]);
    assert_eq!(out.stdout, "podman over https\n", "{out:?}");

    let log = reg.log();
    assert!(log.contains("user=\"alice\""), "{log}");
    assert_no_server_errors(&reg);
}

#[test]
fn docker_cli_pushes_to_and_pulls_from_dm_registry() {
    let test = "docker_cli_pushes_to_and_pulls_from_dm_registry";
    if !require_root(test)
        || !require_cmd("dockerd")
        || !require_cmd("docker")
        || !require_cmd("skopeo")
    {
        return;
    }
    let reg = DmRegistry::start(&[]);
    let work = TempDir::new("dm-reg-docker");
    let rootfs = work.path().join("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    let tar = work.path().join("rootfs.tar");
    output({
        let mut c = Command::new("tar");
        c.arg("-cf").arg(&tar).arg("-C").arg(&rootfs).arg(".");
        c
    })
    .ok();
    let dockerd = Dockerd::start(work.path());
    let image = format!("{}/docker/busybox:latest", reg.addr);
    dockerd
        .docker(&["import", tar.to_str().unwrap(), &image])
        .ok();
    let push = dockerd.docker(&["push", &image]).ok();
    let digest_of = |out: &str| {
        out.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no digest in {out}"))
    };
    let pushed = digest_of(&push.stdout[push.stdout.find("digest:").unwrap()..]);
    dockerd.docker(&["rmi", &image]).ok();
    let pull = dockerd.docker(&["pull", &image]).ok();
    assert!(
        pull.stdout.contains(&format!("Digest: {pushed}")),
        "{pull:?}"
    );
    let raw = output({
        let mut c = Command::new("skopeo");
        c.args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{image}"));
        c
    })
    .ok();
    let v: serde_json::Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    drop(dockerd);
    assert_no_server_errors(&reg);
}
