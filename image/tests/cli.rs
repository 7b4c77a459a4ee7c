//! `dm-image` refuses bad arguments with one line naming them, exits 1, and creates nothing.

use dm_testkit::{output, TempDir};
use std::process::Command;

fn dm_image(args: &[&str]) -> dm_testkit::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dm-image"));
    c.args(args);
    output(c)
}

#[test]
fn bad_arguments_are_named_and_leave_no_root_behind() {
    let dir = TempDir::new("dm-image-cli");
    let root = dir.path().join("root");
    let r = root.to_str().unwrap();
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{not json").unwrap();
    let b = bad_json.to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let m = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["pull", "Bad Name"],
            "invalid reference \"Bad Name\"".into(),
        ),
        (vec!["pull", "busybox:-x"], "tag \"-x\"".into()),
        (
            vec!["pull", "--platform", "linux", "busybox"],
            "--platform: invalid platform \"linux\"".into(),
        ),
        (
            vec!["pull", "--concurrency", "0", "busybox"],
            "--concurrency must be at least 1".into(),
        ),
        (
            vec!["--timeout", "0", "pull", "busybox"],
            "--timeout must be at least 1".into(),
        ),
        (
            vec!["--registry-config", m, "pull", "busybox"],
            format!("registry config {m}"),
        ),
        (
            vec!["--registry-config", b, "pull", "busybox"],
            format!("registry config {b}"),
        ),
        (
            vec!["--auth-file", b, "pull", "busybox"],
            format!("auth file {b}"),
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["--root", r];
        all.extend(&args);
        let out = dm_image(&all);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("dm-image: ") && out.stderr.contains(&want),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(!root.exists(), "{args:?} made the root");
    }
}
