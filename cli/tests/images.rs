//! images, tag, rmi and inspect of images; ps and images table formats.

mod common;

use common::Env;

#[test]
fn images_tag_rmi_and_table_formats() {
    if !common::prerequisites("images_tag_rmi_and_table_formats") {
        return;
    }
    let env = Env::start();
    let img = env.pulled().to_owned();
    let images = env.ok(&["images"]);
    let mut lines = images.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cols, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], [img.as_str(), "latest"]);
    assert!(
        row[2].len() == 12 && row[2].chars().all(|c| c.is_ascii_hexdigit()),
        "{row:?}"
    );
    // Every column starts where its header does.
    let row_line = images.lines().nth(1).unwrap();
    assert_eq!(row_line.find(row[2]), header.find("IMAGE ID"));

    env.ok(&["tag", &img, "mine/box:v1"]);
    let images = env.ok(&["images"]);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("mine/box ") && l.contains(" v1 ") && l.contains(row[2])),
        "{images}"
    );
    let q = env.ok(&["images", "-q"]);
    assert!(q.lines().all(|l| l == row[2]), "{q}");
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--type", "image", "mine/box:v1"])).unwrap();
    assert!(inspect[0]["Id"].as_str().unwrap().contains(row[2]));

    assert_eq!(env.ok(&["rmi", "mine/box:v1"]), "Untagged: mine/box:v1\n");
    assert!(!env.ok(&["images"]).contains("mine/box"));
    let (_, err) = env.exits(1, &["rmi", "mine/box:v1"]);
    assert!(err.contains("mine/box:v1"), "{err}");

    let ps = env.ok(&["ps", "-a"]);
    let cols: Vec<&str> = ps
        .lines()
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cols,
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    env.ok(&[
        "run",
        "--name",
        "fmt",
        &img,
        "echo",
        "a long command line for truncation",
    ]);
    let ps = env.ok(&["ps", "-a"]);
    let row = ps.lines().nth(1).unwrap();
    assert!(row.contains("\"echo a long command…\""), "{ps}");
    assert!(row.ends_with("fmt"), "{ps}");
    env.ok(&["rm", "fmt"]);
    let out = env.ok(&["rmi", &img]);
    assert!(
        out.contains("Untagged:") && out.contains("Deleted:"),
        "{out}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
}
