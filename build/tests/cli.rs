//! The `dm-build` command: errors a user sees, with a non-zero exit and nothing named.

use dm_testkit::{require_root, workspace_bin, TempDir};
use std::process::Command;

fn dm_build(dir: &TempDir, dockerfile: &str) -> std::process::Output {
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    Command::new(workspace_bin("dm-build"))
        .arg("--root")
        .arg(dir.path().join("store"))
        .args(["-t", "dm/cli:v1"])
        .arg(&ctx)
        .output()
        .unwrap()
}

#[test]
fn syntax_errors_and_remote_sources_fail_clearly() {
    if !require_root("syntax_errors_and_remote_sources_fail_clearly") {
        return;
    }
    let dir = TempDir::new("dm-build-cli");
    let out = dm_build(&dir, "FROM scratch\n# note\n  COPPY a b\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 3, column 3: unknown instruction \"COPPY\""),
        "{err}"
    );

    let out = dm_build(&dir, "FROM scratch\nADD https://example.com/x.tar /x/\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 2") && err.contains("https://example.com/x.tar"),
        "{err}"
    );
    assert!(err.contains("offline"), "{err}");
    let images = std::fs::read_to_string(dir.path().join("store/images/images.json"));
    assert!(
        images.map_or(true, |t| !t.contains("dm/cli")),
        "nothing is named"
    );

    let out = dm_build(&dir, "ARG P=a/b/c/d\nFROM --platform=$P busybox\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("line 2: FROM --platform=a/b/c/d"), "{err}");

    for (flag, value, says) in [
        ("--cache-to", "type=s3,bucket=b", "not supported"),
        ("--cache-from", "type=registry", "needs ref="),
        ("--cache-from", "src=/x", "missing type="),
        ("--cache-to", "type=local", "needs dest="),
    ] {
        let out = Command::new(workspace_bin("dm-build"))
            .args([flag, value, "."])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(flag) && err.contains(says),
            "{err}"
        );
    }

    let out = Command::new(workspace_bin("dm-build"))
        .args(["--build-arg", "NOEQUALS", "."])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--build-arg \"NOEQUALS\""),
        "{err}"
    );
}

#[test]
fn output_writes_an_archive_skopeo_reads() {
    let test = "output_writes_an_archive_skopeo_reads";
    if !require_root(test) || !dm_testkit::require_cmd("skopeo") {
        return;
    }
    let dir = TempDir::new("dm-build-out");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hi.txt"), "hi\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY hi.txt /\nCMD [\"/hi\"]\n",
    )
    .unwrap();
    let tar = dir.path().join("out.tar");
    let out = Command::new(workspace_bin("dm-build"))
        .arg("--root")
        .arg(dir.path().join("store"))
        .args(["-q", "-t", "dm/out:v1", "-o"])
        .arg(&tar)
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    for transport in ["oci-archive", "docker-archive"] {
        let out = Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("{transport}:{}", tar.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{transport}: {out:?}");
        let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(cfg["config"]["Cmd"][0], "/hi", "{transport}");
    }
    assert!(id.starts_with("sha256:"), "{id}");
}
