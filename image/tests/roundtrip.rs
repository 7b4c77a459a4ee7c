//! Round trips with real parts: skopeo pushes a busybox image to Debian's docker-registry,
//! `dm-image` pulls and unpacks it, and dm-runc runs a container whose root is the mounted
//! snapshot. Then the image is removed and nothing of it stays.

use dm_integration::{write_busybox_image_tar, Registry};
use dm_testkit::{output, require_cmd, require_root, workspace_bin, Bundle, TempDir};
use std::path::Path;
use std::process::Command;

fn required(test: &str) -> bool {
    require_root(test) && ["docker-registry", "skopeo"].iter().all(|c| require_cmd(c))
}

fn dm_image(root: &Path, args: &[&str]) -> dm_testkit::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dm-image"));
    // No user's credentials or registry settings leak into the test.
    let auth = root.with_extension("auth.json");
    if !auth.exists() {
        std::fs::write(&auth, "{}").unwrap();
    }
    c.arg("--root")
        .arg(root)
        .arg("--auth-file")
        .arg(root.with_extension("auth.json"));
    c.args(args);
    output(c)
}

/// The manifest digest the registry serves for `image`, as skopeo sees it.
fn registry_digest(image: &str, creds: Option<&str>) -> String {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false", "--raw"]);
    if let Some(creds) = creds {
        c.arg(format!("--creds={creds}"));
    }
    c.arg(format!("docker://{image}"));
    let raw = output(c).ok().stdout;
    format!("sha256:{}", dm_content::Digest::of(raw.as_bytes()).hex())
}

#[test]
fn skopeo_pushes_dm_image_pulls_dm_runc_runs() {
    let test = "skopeo_pushes_dm_image_pulls_dm_runc_runs";
    if !required(test) {
        return;
    }
    let work = TempDir::new("dm-image-rt");
    let registry = Registry::start(work.path());
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = registry.push_oci_archive(&tar, "dm/busybox:latest");
    let root = work.path().join("root");
    std::fs::write(root.with_extension("auth.json"), "{}").unwrap();

    let out = dm_image(&root, &["pull", &image]).ok();
    let digest = registry_digest(&image, None);
    assert!(out.stdout.contains(&format!("Digest: {digest}")), "{out:?}");
    assert!(out.stdout.contains("unpacked"), "{out:?}");
    let again = dm_image(&root, &["--progress", "json", "pull", &image]).ok();
    let lines: Vec<serde_json::Value> = again
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let status = |s: &str| lines.iter().filter(|l| l["status"] == s).count();
    assert_eq!(
        (status("exists"), status("downloaded")),
        (2, 0),
        "{again:?}"
    );
    assert_eq!(lines.last().unwrap()["status"], "pulled", "{again:?}");
    assert_eq!(lines.last().unwrap()["id"], digest.as_str());
    let listed = dm_image(&root, &["images", "-q"]).ok();
    assert_eq!(listed.stdout.trim(), image);

    let mnt = work.path().join("rootfs");
    std::fs::create_dir(&mnt).unwrap();
    dm_image(
        &root,
        &["mount", &image, "ctr-rootfs", mnt.to_str().unwrap()],
    )
    .ok();
    let mut bundle = Bundle::new(&workspace_bin("dm-runc"));
    bundle.spec["root"]["path"] = serde_json::json!(mnt);
    bundle.args(&[
        "sh",
        "-c",
        "echo hello from a pulled image; grep ' / / ' /proc/self/mountinfo",
    ]);
    let run = bundle.run_container();
    dm_image(&root, &["unmount", mnt.to_str().unwrap(), "ctr-rootfs"]).ok();
    let run = run.ok();
    assert!(
        run.stdout.starts_with("hello from a pulled image\n"),
        "{run:?}"
    );
    let snapshots = root.join("snapshots/snapshots");
    assert!(
        run.stdout
            .contains(&format!("upperdir={}", snapshots.display())),
        "the container's / is the overlay of dm-image's snapshot: {run:?}"
    );

    let rm = dm_image(&root, &["rm", &image]).ok();
    assert!(
        rm.stdout.starts_with(&format!("Untagged: {image}\n")),
        "{rm:?}"
    );
    assert_eq!(dm_image(&root, &["images", "-q"]).ok().stdout, "");
    let blobs = std::fs::read_dir(root.join("content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "every blob removed");
    let snaps = std::fs::read_dir(&snapshots).unwrap().count();
    assert_eq!(snaps, 0, "every snapshot removed");
}

#[test]
fn basic_auth_from_the_auth_file_and_a_401_without_it() {
    let test = "basic_auth_from_the_auth_file_and_a_401_without_it";
    if !required(test) {
        return;
    }
    let work = TempDir::new("dm-image-auth");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let registry = Registry::start_htpasswd(work.path(), &format!("alice:{hash}"));
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = registry.push_oci_archive_as(&tar, "private/busybox:v1", Some("alice:s3cret"));
    let root = work.path().join("root");
    let auth_file = root.with_extension("auth.json");

    std::fs::write(&auth_file, "{}").unwrap();
    let out = dm_image(&root, &["pull", &image]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("{}: unauthorized", registry.addr))
            && out.stderr.contains("no credentials"),
        "{out:?}"
    );
    assert_eq!(dm_image(&root, &["images", "-q"]).ok().stdout, "");

    let wrong = base64_of("alice:wrong");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{wrong}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let out = dm_image(&root, &["pull", &image]);
    assert!(
        out.code == 1 && out.stderr.contains("refused the credentials"),
        "{out:?}"
    );

    let right = base64_of("alice:s3cret");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"{right}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let out = dm_image(&root, &["pull", &image]).ok();
    let digest = registry_digest(&image, Some("alice:s3cret"));
    assert!(out.stdout.contains(&format!("Digest: {digest}")), "{out:?}");

    let copy = format!("{}/private/copy:v1", registry.addr);
    let out = dm_image(&root, &["push", &image, &copy]).ok();
    assert_eq!(out.stdout.matches("mounted").count(), 2, "{out:?}");
    assert_eq!(registry_digest(&copy, Some("alice:s3cret")), digest);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The blobs skopeo fetches for `image` into an OCI layout at `dir`, by digest.
fn skopeo_pull_back(image: &str, dir: &Path) -> Vec<String> {
    let mut c = Command::new("skopeo");
    c.args(["--insecure-policy", "copy", "--src-tls-verify=false"])
        .arg(format!("docker://{image}"))
        .arg(format!("oci:{}:x", dir.display()));
    output(c).ok();
    let mut blobs: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    blobs.sort();
    blobs
}

#[test]
fn dm_image_pushes_with_mounts_uploads_and_skips_and_skopeo_pulls_it_back() {
    let test = "dm_image_pushes_with_mounts_uploads_and_skips_and_skopeo_pulls_it_back";
    if !required(test) {
        return;
    }
    let work = TempDir::new("dm-image-push");
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let (reg1, reg2) = (Registry::start(&one), Registry::start(&two));
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = reg1.push_oci_archive(&tar, "dm/busybox:latest");
    let root = work.path().join("root");
    std::fs::write(root.with_extension("auth.json"), "{}").unwrap();
    dm_image(&root, &["pull", &image]).ok();
    let digest = registry_digest(&image, None);
    let ours = {
        let mut b: Vec<String> = std::fs::read_dir(root.join("content/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        b.sort();
        b
    };

    // Same registry, other repository: config and layer are mounted, not uploaded.
    let copy = format!("{}/other/copy:v2", reg1.addr);
    let out = dm_image(&root, &["push", &image, &copy]).ok();
    assert_eq!(
        out.stdout
            .matches("mounted from the source repository")
            .count(),
        2,
        "{out:?}"
    );
    assert!(!out.stdout.contains("uploaded"), "{out:?}");
    assert!(
        out.stdout.ends_with(&format!("Digest: {digest}\n")),
        "{out:?}"
    );
    assert_eq!(
        registry_digest(&copy, None),
        digest,
        "the manifest is bit-identical"
    );

    // Another registry: uploads, in chunks for blobs over --chunk-size; then HEAD skips all.
    let far = format!("{}/far/busybox:v3", reg2.addr);
    let out = dm_image(&root, &["push", "--chunk-size", "300000", &image, &far]).ok();
    assert_eq!(out.stdout.matches("uploaded").count(), 2, "{out:?}");
    let back = skopeo_pull_back(&far, &work.path().join("back"));
    assert_eq!(
        back, ours,
        "skopeo fetches (and verifies) exactly our blobs"
    );
    let out = dm_image(&root, &["push", &image, &far]).ok();
    assert_eq!(out.stdout.matches("already exists").count(), 2, "{out:?}");
    assert!(!out.stdout.contains("upload"), "{out:?}");
}

fn skopeo_copy(src: &str, dst: &str) {
    let mut c = Command::new("skopeo");
    c.args(["--insecure-policy", "copy", src, dst]);
    output(c).ok();
}

fn blob_names(dir: &Path) -> Vec<String> {
    let mut b: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    b.sort();
    b
}

fn inspect(root: &Path, image: &str) -> serde_json::Value {
    let out = dm_image(root, &["inspect", image]).ok();
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn save_is_read_by_skopeo_as_oci_and_docker_archive_and_load_reads_both() {
    let test = "save_is_read_by_skopeo_as_oci_and_docker_archive_and_load_reads_both";
    if !required(test) {
        return;
    }
    let work = TempDir::new("dm-image-save");
    let p = |n: &str| work.path().join(n);
    let registry = Registry::start(work.path());
    let tar = p("busybox.tar");
    write_busybox_image_tar(&tar, &p("build"));
    let image = registry.push_oci_archive(&tar, "dm/busybox:latest");
    let root = p("root");
    std::fs::write(root.with_extension("auth.json"), "{}").unwrap();
    dm_image(&root, &["pull", &image]).ok();
    let ours = blob_names(&root.join("content/blobs/sha256"));
    let pulled = inspect(&root, &image);

    let saved = p("saved.tar");
    dm_image(&root, &["save", "-o", saved.to_str().unwrap(), &image]).ok();
    skopeo_copy(
        &format!("oci-archive:{}:latest", saved.display()),
        &format!("oci:{}:x", p("as-oci").display()),
    );
    assert_eq!(
        blob_names(&p("as-oci/blobs/sha256")),
        ours,
        "skopeo reads the OCI side bit-identical"
    );
    // `dir:` keeps blobs as the source gives them (`oci:` may recompress).
    skopeo_copy(
        &format!("docker-archive:{}", saved.display()),
        &format!("dir:{}", p("as-docker").display()),
    );
    let via_docker = blob_names(&p("as-docker"));
    // docker-archive readers see layers uncompressed, so by their diff IDs.
    let diff_ids = pulled["config"]["rootfs"]["diff_ids"].as_array().unwrap();
    for d in diff_ids.iter().chain([&pulled["record"]["config"]]) {
        let hex = d.as_str().unwrap().strip_prefix("sha256:").unwrap();
        assert!(
            via_docker.contains(&hex.to_owned()),
            "{hex} via docker-archive: {via_docker:?}"
        );
    }

    // Our archive into a fresh root: the same image, named the same.
    let root2 = p("root2");
    let out = dm_image(&root2, &["load", "-i", saved.to_str().unwrap()]).ok();
    assert!(
        out.stdout.ends_with(&format!("Loaded image: {image}\n")),
        "{out:?}"
    );
    let loaded = inspect(&root2, &image);
    assert_eq!(loaded["record"]["manifest"], pulled["record"]["manifest"]);
    assert_eq!(loaded["record"]["chain_ids"], pulled["record"]["chain_ids"]);

    // A legacy `docker save` archive (skopeo writes that form) and a tag-only OCI layout.
    let legacy = p("legacy.tar");
    skopeo_copy(
        &format!("oci-archive:{}", tar.display()),
        &format!("docker-archive:{}:dm/legacy:v1", legacy.display()),
    );
    let root3 = p("root3");
    let out = dm_image(&root3, &["load", "-i", legacy.to_str().unwrap()]).ok();
    assert!(
        out.stdout
            .ends_with("Loaded image: docker.io/dm/legacy:v1\n"),
        "{out:?}"
    );
    assert_eq!(
        inspect(&root3, "dm/legacy:v1")["record"]["chain_ids"],
        pulled["record"]["chain_ids"]
    );
    let out = dm_image(&root3, &["load", "-i", tar.to_str().unwrap()]).ok();
    assert!(
        !out.stdout.contains("Loaded image"),
        "a bare tag names nothing: {out:?}"
    );
    let out = dm_image(
        &root3,
        &[
            "load",
            "--base-name",
            "dm/named",
            "-i",
            tar.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(
        out.stdout
            .ends_with("Loaded image: docker.io/dm/named:latest\n"),
        "{out:?}"
    );
}

#[test]
fn load_refuses_a_blob_that_does_not_match_its_name() {
    let test = "load_refuses_a_blob_that_does_not_match_its_name";
    if !require_root(test) {
        return;
    }
    let work = TempDir::new("dm-image-load");
    let bad = work.path().join("bad.tar");
    let named = format!("blobs/sha256/{}", dm_content::Digest::of(b"good").hex());
    let mut b = tar::Builder::new(std::fs::File::create(&bad).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &named, &b"bad"[..]).unwrap();
    b.into_inner().unwrap();
    let root = work.path().join("root");
    std::fs::write(root.with_extension("auth.json"), "{}").unwrap();
    let out = dm_image(&root, &["load", "-i", bad.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("archive entry {named}: content has digest")),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_dir(root.join("content/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(root.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

/// Makes a CA and a server certificate for 127.0.0.1 signed by it in `dir` with openssl;
/// returns (ca.pem, server chain, server key).
fn make_certs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let f = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let mut c = Command::new("openssl");
        c.args(args).current_dir(dir);
        output(c).ok();
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=dm-test-ca",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        f("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    (f("ca.pem"), f("srv.pem"), f("srv.key"))
}

#[test]
fn https_registries_are_verified_against_the_configured_ca() {
    let test = "https_registries_are_verified_against_the_configured_ca";
    if !required(test) || !require_cmd("openssl") {
        return;
    }
    let work = TempDir::new("dm-image-tls");
    let (ca, cert, key) = make_certs(work.path());
    let registry = Registry::start_tls(work.path(), &cert, &key);
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = registry.push_oci_archive(&tar, "tls/busybox:latest");
    let root = work.path().join("root");
    let config = work.path().join("registries.json");
    let cfg = config.to_str().unwrap();

    // An explicit entry turns off the loopback default: TLS must verify, and cannot.
    std::fs::write(
        &config,
        format!(r#"{{"registries": {{"{}": {{}}}}}}"#, registry.addr),
    )
    .unwrap();
    let out = dm_image(&root, &["--registry-config", cfg, "pull", &image]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("https://") && out.stderr.to_lowercase().contains("certificate"),
        "{out:?}"
    );

    let entry = format!(
        r#"{{"registries": {{"{}": {{"ca": "{}"}}}}}}"#,
        registry.addr,
        ca.display()
    );
    std::fs::write(&config, entry).unwrap();
    let out = dm_image(&root, &["--registry-config", cfg, "pull", &image]).ok();
    assert!(out.stdout.contains("Digest: sha256:"), "{out:?}");
    let pushed = format!("{}/tls/copy:v1", registry.addr);
    let out = dm_image(&root, &["--registry-config", cfg, "push", &image, &pushed]).ok();
    assert!(out.stdout.contains("mounted"), "{out:?}");
}

#[test]
fn containerd_pulls_what_dm_image_pushed() {
    let test = "containerd_pulls_what_dm_image_pushed";
    if !required(test) || !require_cmd("containerd") || !require_cmd("ctr") {
        return;
    }
    let ctd = dm_integration::Containerd::start(dm_integration::ContainerdOptions::default());
    let work = TempDir::new("dm-image-ctr");
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let (src, dst) = (Registry::start(&one), Registry::start(&two));
    let image = src.push_oci_archive(ctd.busybox_tar(), "dm/busybox:latest");
    let root = work.path().join("root");
    dm_image(&root, &["pull", &image]).ok();
    let target = format!("{}/pushed/busybox:v1", dst.addr);
    let out = dm_image(&root, &["push", "--chunk-size", "262144", &image, &target]).ok();
    let digest = out
        .stdout
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("Digest: ")
        .to_owned();

    let ctr = ctd.ctr();
    ctr.ok(&["image", "pull", "--plain-http", &target]);
    let listed = ctr.ok(&["image", "ls"]).stdout;
    let line = listed
        .lines()
        .find(|l| l.starts_with(&target))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        line.contains(&digest),
        "containerd has our manifest digest {digest}: {line}"
    );
    let content = ctr.ok(&["content", "ls", "--quiet"]).stdout;
    let record = std::fs::read_to_string(root.join("images/images.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let ours = &record["images"][&image];
    for blob in ours["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&ours["config"]])
    {
        assert!(
            content.contains(blob.as_str().unwrap()),
            "{blob} fetched and verified by containerd"
        );
    }
}

#[test]
fn a_pull_on_a_terminal_draws_a_bar_per_blob() {
    let test = "a_pull_on_a_terminal_draws_a_bar_per_blob";
    if !required(test) || !require_cmd("script") {
        return;
    }
    let work = TempDir::new("dm-image-tty");
    let registry = Registry::start(work.path());
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = registry.push_oci_archive(&tar, "dm/busybox:latest");
    let root = work.path().join("root");
    let auth = root.with_extension("auth.json");
    std::fs::write(&auth, "{}").unwrap();
    let cmd = format!(
        "{} --root {} --auth-file {} pull {image}",
        env!("CARGO_BIN_EXE_dm-image"),
        root.display(),
        auth.display()
    );
    // script(1) gives the command a terminal as stdout and copies what it draws.
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = output(c).ok();
    assert!(
        out.stdout.contains("\u{1b}["),
        "terminal control sequences: {out:?}"
    );
    assert!(
        out.stdout.contains("unpacked") && out.stdout.contains("Digest: sha256:"),
        "{out:?}"
    );
    assert!(out.stdout.contains('='), "a bar: {out:?}");
}

/// Writes `docker-credential-<name>` into `bin`: it answers `get` for `host` with `answer`
/// and exit status `code`, and with docker-credential-helpers' "not found" for other hosts.
fn cred_helper(bin: &Path, name: &str, host: &str, answer: &str, code: i32) {
    use std::os::unix::fs::PermissionsExt;
    let p = bin.join(format!("docker-credential-{name}"));
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 9\nread url\nif [ \"$url\" = '{host}' ]; then\n  echo '{answer}'; exit {code}\nfi\necho 'credentials not found in native keychain'; exit 1\n"
    );
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn credentials_come_from_creds_store_and_cred_helpers() {
    let test = "credentials_come_from_creds_store_and_cred_helpers";
    if !required(test) {
        return;
    }
    let work = TempDir::new("dm-image-credhelper");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let registry = Registry::start_htpasswd(work.path(), &format!("alice:{hash}"));
    let tar = work.path().join("busybox.tar");
    write_busybox_image_tar(&tar, &work.path().join("build"));
    let image = registry.push_oci_archive_as(&tar, "private/busybox:v1", Some("alice:s3cret"));
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let ok = r#"{"ServerURL":"x","Username":"alice","Secret":"s3cret"}"#;
    cred_helper(&bin, "dmtest", &registry.addr, ok, 0);
    cred_helper(&bin, "locked", &registry.addr, "the keyring is locked", 3);
    let root = work.path().join("root");
    let auth_file = root.with_extension("auth.json");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pull = |auth: &str| {
        std::fs::write(&auth_file, auth).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_dm-image"));
        c.env("PATH", &path).arg("--root").arg(&root);
        c.arg("--auth-file").arg(&auth_file).args(["pull", &image]);
        output(c)
    };

    // A helper that fails stops the pull with its own words; nothing is stored.
    let out = pull(&format!(
        r#"{{"credsStore":"dmtest","credHelpers":{{"{}":"locked"}}}}"#,
        registry.addr
    ));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("docker-credential-locked") && out.stderr.contains("keyring is locked"),
        "{out:?}"
    );
    let out = pull(r#"{"credsStore":"absent"}"#);
    assert!(
        out.code == 1 && out.stderr.contains("cannot run docker-credential-absent"),
        "{out:?}"
    );
    assert_eq!(dm_image(&root, &["images", "-q"]).ok().stdout, "");

    // credsStore answers for every host; a per-host credHelpers entry wins over it.
    let out = pull(r#"{"credsStore":"dmtest"}"#);
    assert_eq!(out.code, 0, "{out:?}");
    let digest = registry_digest(&image, Some("alice:s3cret"));
    assert!(out.stdout.contains(&format!("Digest: {digest}")), "{out:?}");
    dm_image(&root, &["rm", &image]).ok();
    let out = pull(&format!(
        r#"{{"credsStore":"locked","credHelpers":{{"{}":"dmtest"}}}}"#,
        registry.addr
    ));
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn docker_save_archives_load_and_our_archives_load_into_docker() {
    let test = "docker_save_archives_load_and_our_archives_load_into_docker";
    if !required(test) || !require_cmd("dockerd") || !Path::new(dm_integration::DOCKER).is_file() {
        return;
    }
    let work = TempDir::new("dm-image-dockerd");
    let p = |n: &str| work.path().join(n);
    let rootfs = p("rootfs");
    dm_testkit::build_busybox_rootfs(&rootfs);
    let mut c = Command::new("tar");
    c.arg("-cf")
        .arg(p("rootfs.tar"))
        .arg("-C")
        .arg(&rootfs)
        .arg(".");
    output(c).ok();
    std::fs::create_dir(p("dockerd")).unwrap();
    let dockerd = dm_integration::Dockerd::start(&p("dockerd"));
    dockerd
        .docker(&["import", p("rootfs.tar").to_str().unwrap(), "dm/base:v1"])
        .ok();
    // A second layer and a Cmd, made by docker itself.
    dockerd
        .docker(&[
            "run",
            "--network",
            "none",
            "--name",
            "layer2",
            "dm/base:v1",
            "sh",
            "-c",
            "echo made by docker > /greeting",
        ])
        .ok();
    dockerd
        .docker(&[
            "commit",
            "-c",
            r#"CMD ["cat", "/greeting"]"#,
            "layer2",
            "dm/two:v1",
        ])
        .ok();
    let saved = p("docker-saved.tar");
    dockerd
        .docker(&["save", "-o", saved.to_str().unwrap(), "dm/two:v1"])
        .ok();

    let root = p("root");
    let out = dm_image(&root, &["load", "-i", saved.to_str().unwrap()]).ok();
    let name = "docker.io/dm/two:v1";
    assert!(
        out.stdout.contains(&format!("Loaded image: {name}")),
        "{out:?}"
    );
    let loaded = inspect(&root, name);
    assert_eq!(
        loaded["config"]["config"]["Cmd"],
        serde_json::json!(["cat", "/greeting"]),
        "{loaded:#}"
    );
    let docker_id = dockerd
        .docker(&["inspect", "-f", "{{.Id}}", "dm/two:v1"])
        .ok()
        .stdout;
    assert_eq!(
        loaded["record"]["config"],
        docker_id.trim(),
        "same config digest"
    );
    let mnt = p("mnt");
    std::fs::create_dir(&mnt).unwrap();
    dm_image(&root, &["mount", name, "ctr", mnt.to_str().unwrap()]).ok();
    let mut bundle = Bundle::new(&workspace_bin("dm-runc"));
    bundle.spec["root"]["path"] = serde_json::json!(mnt);
    bundle.args(&["cat", "/greeting"]);
    let run = bundle.run_container();
    dm_image(&root, &["unmount", mnt.to_str().unwrap(), "ctr"]).ok();
    assert_eq!(run.ok().stdout, "made by docker\n");

    // Back the other way: docker forgets the image, loads our archive and runs it.
    let ours = p("ours.tar");
    dm_image(&root, &["save", "-o", ours.to_str().unwrap(), name]).ok();
    dockerd.docker(&["rm", "layer2"]).ok();
    dockerd.docker(&["rmi", "dm/two:v1", "dm/base:v1"]).ok();
    let out = dockerd.docker(&["load", "-i", ours.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("Loaded image: dm/two:v1"), "{out:?}");
    let out = dockerd
        .docker(&["run", "--rm", "--network", "none", "dm/two:v1"])
        .ok();
    assert_eq!(out.stdout, "made by docker\n");
}
