//! Images through the real docker CLI: pull from a local registry (JSON progress), images,
//! inspect, tag, rmi; and the system endpoints clients negotiate with.

mod common;

use common::{prerequisites, Dmd, TestRegistry};
use std::io::{Read, Write};

#[test]
fn docker_cli_negotiates_and_reads_version_and_info() {
    if !prerequisites("docker_cli_negotiates_and_reads_version_and_info") {
        return;
    }
    let d = Dmd::start();
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Client.APIVersion}}",
    ]);
    assert_eq!(v.trim(), "1.45 1.41");
    let info = d.ok(&[
        "info",
        "--format",
        "{{.OSType}} {{.LoggingDriver}} {{.Containers}}",
    ]);
    assert_eq!(info.trim(), "linux json-file 0");

    // HEAD /_ping answers with the negotiation headers; a too-new version is docker's 400.
    let raw = |req: &str| {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let ping = raw("HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
    assert!(
        ping.to_ascii_lowercase().contains("api-version: 1.45"),
        "{ping}"
    );
    let too_new = raw("GET /v1.99/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(too_new.starts_with("HTTP/1.1 400"), "{too_new}");
    assert!(
        too_new.contains(r#"{"message":"client version 1.99 is too new"#),
        "{too_new}"
    );
    let missing = raw("GET /v1.41/nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[test]
fn pull_images_inspect_tag_rmi() {
    if !prerequisites("pull_images_inspect_tag_rmi") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let d = Dmd::start();
    let image = &reg.image;

    let out = d.ok(&["pull", image]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains(&format!(
            "Status: Downloaded newer image for {image}:latest"
        )),
        "{out}"
    );
    let again = d.ok(&["pull", image]);
    assert!(again.contains("Image is up to date"), "{again}");

    let list = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(list.trim(), format!("{image}:latest"));
    let id = d.ok(&["inspect", "--format", "{{.Id}}", image]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let env = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        image,
    ]);
    assert!(env.contains("PATH="), "{env}");

    d.ok(&["tag", image, "mine/copy:v1"]);
    let list = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(list.contains("mine/copy:v1"), "{list}");
    let short = &id.trim()["sha256:".len().."sha256:".len() + 12];
    assert_eq!(
        list.matches(short).count(),
        2,
        "both names are one image: {list}"
    );

    // Removing by id needs force while two names point at it.
    let err = d.fails(&["rmi", short]);
    assert!(err.contains("must be forced"), "{err}");
    let out = d.ok(&["rmi", "mine/copy:v1"]);
    assert!(out.contains("Untagged: mine/copy:v1"), "{out}");
    assert!(
        !out.contains("Deleted"),
        "the other name keeps the image: {out}"
    );
    let out = d.ok(&["rmi", image]);
    assert!(out.contains(&format!("Deleted: {}", id.trim())), "{out}");
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");

    // docker run of an image the daemon lacks: the CLI gets docker's 404 and pulls it.
    let o = d.docker(&["run", "--rm", image, "echo", "auto"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "auto\n");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Unable to find image"),
        "{o:?}"
    );

    let err = d.fails(&["rmi", "nosuch:tag"]);
    assert!(err.contains("No such image"), "{err}");
    let err = d.fails(&["pull", "127.0.0.1:1/nothing:here"]);
    assert!(!err.is_empty());
    let err = d.fails(&["tag", image, "Bad Name"]);
    assert!(err.contains("invalid reference format"), "{err}");
}
