//! `docker system df` (and `-v`), `container prune`, `image prune` (dangling and `-a`).

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};

/// The `docker system df` row starting with `kind`, split into words.
fn row(df: &str, kind: &str) -> Vec<String> {
    df.lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} row in:\n{df}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn system_df_and_prunes_count_and_remove_what_is_unused() {
    if !prerequisites("system_df_and_prunes_count_and_remove_what_is_unused") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    d.ok(&[
        "run", "-d", "--name", "keep", "-v", "vv:/v", image, "sleep", "1000",
    ]);
    d.ok(&["create", "--name", "old", image, "true"]);
    d.ok(&[
        "run",
        "--name",
        "done",
        image,
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /big",
    ]);
    d.ok(&["volume", "create", "spare"]);

    let df = d.ok(&["system", "df"]);
    assert_eq!(row(&df, "Images")[1..3], ["1", "1"], "{df}");
    assert_eq!(row(&df, "Containers")[1..3], ["3", "1"], "{df}");
    assert_eq!(row(&df, "Local Volumes")[2..4], ["2", "1"], "{df}");
    assert_ne!(row(&df, "Images")[3], "0B", "{df}");
    let v = d.ok(&["system", "df", "-v"]);
    for name in ["vv", "spare", "keep", "old", "done"] {
        assert!(v.contains(name), "{name} missing from:\n{v}");
    }

    let old = d.ok(&["inspect", "--format", "{{.Id}}", "old"]);
    let done = d.ok(&["inspect", "--format", "{{.Id}}", "done"]);
    let out = d.ok(&["container", "prune", "-f"]);
    assert!(
        out.contains(old.trim()) && out.contains(done.trim()),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(
        !out.contains("Total reclaimed space: 0B"),
        "the 100 kB file counts: {out}"
    );
    assert_eq!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep\n");

    // Dangling only: every image here has a name, so nothing goes.
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
    // -a spares images in use, then takes them once unused.
    d.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
    d.ok(&["rm", "-f", "keep"]);
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&format!("untagged: {image}:latest")), "{out}");
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert_eq!(d.ok(&["images", "-q"]), "");

    let out = d.prune_all_volumes();
    assert!(out.contains("vv") && out.contains("spare"), "{out}");
    assert_clean(&mut d);
}
