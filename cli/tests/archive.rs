//! save, load, history and build through the `dockermind` CLI.

mod common;

use common::Env;
use dm_testkit::TempDir;

#[test]
fn save_load_history_and_build() {
    if !common::prerequisites("save_load_history_and_build") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let id = env.ok(&["inspect", "--type", "image", &img]);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let id = id[0]["Id"].as_str().unwrap().to_owned();

    let hist = env.ok(&["history", &img]);
    let mut lines = hist.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("IMAGE") && header.contains("CREATED BY"),
        "{hist}"
    );
    let top = lines.next().unwrap();
    assert!(
        id.contains(top.split_whitespace().next().unwrap()),
        "{hist}"
    );

    let dir = TempDir::new("dm-cli-archive");
    let archive = dir.path().join("img.tar");
    let a = archive.to_str().unwrap();
    env.ok(&["save", "-o", a, &img]);
    env.ok(&["rmi", &img]);
    let loaded = env.ok(&["load", "-i", a]);
    assert_eq!(loaded, format!("Loaded image: {img}:latest\n"));
    let again: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--type", "image", &img])).unwrap();
    assert_eq!(again[0]["Id"], id.as_str());

    let missing = dir.path().join("missing.tar");
    let (_, err) = env.exits(1, &["save", "-o", missing.to_str().unwrap(), "nope:1"]);
    assert!(err.contains("No such image"), "{err}");
    assert!(!missing.exists() && !dir.path().join("missing.tar.partial").exists());

    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {img}\nRUN echo built > /built\n"),
    )
    .unwrap();
    let out = env.ok(&["build", "-t", "cli-built:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Successfully tagged cli-built:1"), "{out}");
    // One entry more than its base: the RUN.
    let base = env.ok(&["history", "-q", &img]).lines().count();
    let hist = env.ok(&["history", "-q", "cli-built:1"]);
    assert_eq!(hist.lines().count(), base + 1, "{hist}");
    assert_eq!(
        hist.lines().filter(|l| *l != "<missing>").count(),
        1,
        "{hist}"
    );
    env.ok(&["rmi", "cli-built:1", &img]);
    env.assert_no_containers();
}
