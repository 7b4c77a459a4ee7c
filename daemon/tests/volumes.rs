//! Volumes through the real docker CLI: named volumes that outlive containers, binds (ro),
//! tmpfs, DriverOpts, copy-up from the image with owners, anonymous volumes from the image's
//! VOLUME, bad mount specs that leave nothing behind, in-use removal, ls filters, prune.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_testkit::TempDir;
use std::os::unix::fs::MetadataExt;

/// Names of the daemon's volumes.
fn volumes(d: &Dmd, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["volume", "ls", "-q"];
    args.extend_from_slice(filter);
    let mut v: Vec<String> = d.ok(&args).lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn named_volumes_binds_and_tmpfs_behave_like_docker() {
    if !prerequisites("named_volumes_binds_and_tmpfs_behave_like_docker") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    // A named volume outlives the container that wrote into it; the data sits under the root.
    assert_eq!(
        d.ok(&["volume", "create", "--label", "team=a", "data"])
            .trim(),
        "data"
    );
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        image,
        "sh",
        "-c",
        "echo hello > /data/f",
    ]);
    let mp = d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    assert_eq!(
        mp.trim(),
        d.root().join("volumes/data/_data").to_str().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(d.root().join("volumes/data/_data/f")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data:ro",
            image,
            "cat",
            "/data/f"
        ]),
        "hello\n"
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        image,
        "touch",
        "/data/g",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Read-only file system"),
        "{o:?}"
    );

    // `-v name:/path` makes the volume on the fly.
    d.ok(&["run", "--rm", "-v", "fly:/x", image, "true"]);
    assert_eq!(volumes(&d, &[]), ["data", "fly"]);
    assert_eq!(volumes(&d, &["--filter", "label=team=a"]), ["data"]);

    // A read-only bind is read-only inside; `-v` makes a missing host directory.
    let host = TempDir::new("dmd-bind");
    std::fs::write(host.path().join("f"), "from host").unwrap();
    let bind = format!("{}:/h:ro,z", host.path().display());
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        &bind,
        image,
        "sh",
        "-c",
        "cat /h/f; touch /h/g",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from host");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Read-only file system"),
        "{o:?}"
    );
    assert!(!host.path().join("g").exists());
    let made = host.path().join("made/here");
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", made.display()),
        image,
        "touch",
        "/m/x",
    ]);
    assert!(made.join("x").is_file());

    // Tmpfs (--tmpfs and --mount) are tmpfs mounts inside, with their options.
    let mounts = d.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "--mount",
        "type=tmpfs,target=/t2,tmpfs-size=2097152",
        image,
        "cat",
        "/proc/mounts",
    ]);
    let line = |dst: &str| {
        mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(dst))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("/t").starts_with("tmpfs /t tmpfs") && line("/t").contains("size=1024k"),
        "{mounts}"
    );
    assert!(
        line("/t2").starts_with("tmpfs /t2 tmpfs") && line("/t2").contains("size=2048k"),
        "{mounts}"
    );
    assert!(
        line("/t").contains("noexec") && line("/t").contains("nosuid"),
        "{mounts}"
    );

    // A local volume with DriverOpts is that filesystem while used, unmounted after.
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=3m",
        "tv",
    ]);
    let inside = d.ok(&[
        "run",
        "--rm",
        "-v",
        "tv:/tv",
        image,
        "sh",
        "-c",
        "grep ' /tv ' /proc/mounts",
    ]);
    assert!(
        inside.starts_with("tmpfs /tv tmpfs") && inside.contains("size=3072k"),
        "{inside}"
    );
    assert_eq!(
        d.mounts_left(),
        Vec::<String>::new(),
        "the tmpfs volume stayed mounted"
    );

    // `type=none,o=bind` makes a volume of a host directory; removing the volume keeps it.
    let hostvol = TempDir::new("dmd-hostvol");
    std::fs::write(hostvol.path().join("kept"), "host data").unwrap();
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={}", hostvol.path().display()),
        "hv",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "hv:/hv",
            image,
            "sh",
            "-c",
            "cat /hv/kept; echo new > /hv/new"
        ]),
        "host data"
    );
    assert_eq!(
        std::fs::read_to_string(hostvol.path().join("new")).unwrap(),
        "new\n"
    );
    d.ok(&["volume", "rm", "hv"]);
    assert!(
        hostvol.path().join("kept").is_file(),
        "volume rm deleted the host directory"
    );

    // In use: inspect lists the mount, removal is docker's 409.
    d.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "data:/data",
        image,
        "true",
    ]);
    let m = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
        "user",
    ]);
    assert_eq!(m.trim(), "volume data /data true");
    let e = d.fails(&["volume", "rm", "data"]);
    assert!(e.contains("volume is in use"), "{e}");
    d.ok(&["rm", "user"]);
    assert_eq!(
        volumes(&d, &["--filter", "dangling=true"]),
        ["data", "fly", "tv"]
    );

    // Bad specs: docker's messages, status 400 (the CLI prints it), nothing created.
    let e = d.fails(&["run", "--rm", "-v", "fresh:rel", image, "true"]);
    assert!(
        e.contains("invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        "{e}"
    );
    let e = d.fails(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/no/such/dir,target=/x",
        image,
        "true",
    ]);
    assert!(
        e.contains("bind source path does not exist: /no/such/dir"),
        "{e}"
    );
    let e = d.fails(&[
        "run", "--rm", "-v", "fresh:/a", "-v", "/tmp:/a", image, "true",
    ]);
    assert!(e.contains("Duplicate mount point: /a"), "{e}");
    // The API's status codes for bad mounts and volumes: 400, and 404 for an unknown driver.
    let bad = [
        (
            "/v1.41/containers/create",
            r#"{"Image":"IMG","HostConfig":{"Binds":["fresh:rel"]}}"#,
            400,
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"IMG","HostConfig":{"Mounts":[{"Type":"bind","Source":"/no/such","Target":"/x"}]}}"#,
            400,
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"IMG","HostConfig":{"Mounts":[{"Type":"tmpfs","Source":"x","Target":"/x"}]}}"#,
            400,
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"IMG","HostConfig":{"Mounts":[{"Type":"nfs","Target":"/x"}]}}"#,
            400,
        ),
        ("/v1.41/volumes/create", r#"{"Name":"a/b"}"#, 400),
        (
            "/v1.41/volumes/create",
            r#"{"Name":"fresh","DriverOpts":{"size":"1"}}"#,
            400,
        ),
        (
            "/v1.41/volumes/create",
            r#"{"Name":"fresh","Driver":"nfs"}"#,
            404,
        ),
        (
            "/v1.41/volumes/create",
            r#"{"Name":"fresh","Labels":"x"}"#,
            400,
        ),
    ];
    for (path, body, want) in bad {
        let (code, msg) = d.request("POST", path, &body.replace("IMG", image));
        assert_eq!(code, want, "{body}: {msg}");
        assert!(msg.starts_with(r#"{"message":"#), "{msg}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(volumes(&d, &[]), ["data", "fly", "tv"]);

    // Volumes are on disk: a daemon killed and started again has them with their data.
    d.kill9();
    d.spawn();
    assert_eq!(volumes(&d, &[]), ["data", "fly", "tv"]);
    assert_eq!(
        d.ok(&["volume", "inspect", "--format", "{{.Labels.team}}", "data"]),
        "a\n"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "data:/data", image, "cat", "/data/f"]),
        "hello\n"
    );

    // Removal and prune (every unused volume; from API 1.42 only with -a).
    d.ok(&["volume", "rm", "fly"]);
    assert!(d
        .fails(&["volume", "inspect", "fly"])
        .to_lowercase()
        .contains("no such volume"));
    let out = d.prune_all_volumes();
    assert!(out.contains("data") && out.contains("tv"), "{out}");
    assert_eq!(volumes(&d, &[]), Vec::<String>::new());
    assert!(!d.root().join("volumes/data").exists());
    assert_clean(&mut d);
}

#[test]
fn image_volumes_are_copied_up_with_owners_and_anonymous_ones_go_with_rm_v() {
    if !prerequisites("image_volumes_are_copied_up_with_owners_and_anonymous_ones_go_with_rm_v") {
        return;
    }
    let reg = TestRegistry::with_image(|tar, work| {
        let extra = work.join("extra");
        std::fs::create_dir_all(extra.join("srv/sub")).unwrap();
        std::fs::write(extra.join("srv/sub/hello"), "from the image\n").unwrap();
        for (p, uid) in [("srv", 1000), ("srv/sub", 1000), ("srv/sub/hello", 1001)] {
            std::os::unix::fs::chown(extra.join(p), Some(uid), Some(50)).unwrap();
        }
        let st = std::process::Command::new("chmod")
            .arg("0640")
            .arg(extra.join("srv/sub/hello"))
            .status()
            .unwrap();
        assert!(st.success());
        dm_integration::write_busybox_image_tar_with(tar, work, &["sh"], &["/srv"], Some(&extra));
    });
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    // The image's VOLUME gets an anonymous volume holding a copy of the image's files.
    d.ok(&["run", "--name", "anon", image, "true"]);
    let m = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
        "anon",
    ]);
    let parts: Vec<&str> = m.split_whitespace().collect();
    assert_eq!(
        (parts[0], parts[1].len(), parts[2]),
        ("volume", 64, "/srv"),
        "{m}"
    );
    let data = d.root().join("volumes").join(parts[1]).join("_data");
    let f = data.join("sub/hello");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "from the image\n");
    let meta = std::fs::metadata(&f).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (1001, 50, 0o640)
    );
    assert_eq!(
        std::fs::metadata(&data).unwrap().uid(),
        1000,
        "the volume root takes the image dir's owner"
    );

    // A named volume on the VOLUME path is copied up on first use, with owners.
    let seen = d.ok(&[
        "run",
        "--rm",
        "-v",
        "named:/srv",
        image,
        "sh",
        "-c",
        "stat -c '%u:%g %a' /srv/sub/hello; cat /srv/sub/hello",
    ]);
    assert_eq!(seen, "1001:50 640\nfrom the image\n");
    // Not again once it holds data: the container's change stays.
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "named:/srv",
        image,
        "rm",
        "/srv/sub/hello",
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "named:/srv", image, "ls", "/srv/sub"]),
        ""
    );
    // nocopy skips it.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "empty:/srv:nocopy",
            image,
            "ls",
            "/srv"
        ]),
        ""
    );

    // rm -v takes the anonymous volume, not the named ones; --rm does the same.
    let before = volumes(&d, &[]);
    assert_eq!(before.len(), 3, "{before:?}");
    d.ok(&["rm", "-v", "anon"]);
    assert_eq!(volumes(&d, &[]), ["empty", "named"]);
    // `-v /path` is one more anonymous volume; --rm takes both.
    let seen = d.ok(&[
        "run",
        "--rm",
        "-v",
        "/extra",
        image,
        "sh",
        "-c",
        "grep -c ' /extra ' /proc/mounts; ls /srv/sub",
    ]);
    assert_eq!(seen, "1\nhello\n");
    assert_eq!(volumes(&d, &[]), ["empty", "named"]);
    d.ok(&["volume", "rm", "empty", "named"]);
    assert_clean(&mut d);
}

/// `--volumes-from C[:ro|:rw]`: another container's named, anonymous and bind mounts at the
/// same paths; what one container writes the other reads; `:ro` makes them read-only; an
/// unknown container or mode is docker's error and leaves no container or volume behind;
/// `rm -v` of the borrower keeps the owner's anonymous volume.
#[test]
fn volumes_from_shares_another_containers_mounts() {
    if !prerequisites("volumes_from_shares_another_containers_mounts") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    let host = TempDir::new("dmd-vfrom");
    let bind = format!("{}:/hostdir", host.path().display());
    d.ok(&[
        "create",
        "--name",
        "owner",
        "-v",
        "vfdata:/data",
        "-v",
        "/anon",
        "-v",
        &bind,
        image,
        "cat",
        "/data/f",
        "/anon/g",
        "/hostdir/h",
    ]);
    let anon: Vec<String> = volumes(&d, &[])
        .into_iter()
        .filter(|v| v != "vfdata")
        .collect();
    assert_eq!(anon.len(), 1, "{anon:?}");

    d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "owner",
        image,
        "sh",
        "-c",
        "echo one > /data/f && echo two > /anon/g && echo three > /hostdir/h",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("h")).unwrap(),
        "three\n"
    );
    assert_eq!(d.ok(&["start", "-a", "owner"]), "one\ntwo\nthree\n");

    // :ro: readable, every write refused; inspect shows the mounts read-only.
    d.ok(&[
        "create", "--name", "reader", "--volumes-from", "owner:ro", image, "sh", "-c",
        "cat /data/f /anon/g /hostdir/h; for p in /data /anon /hostdir; do touch $p/x 2>&1 || true; done",
    ]);
    let out = d.ok(&["start", "-a", "reader"]);
    assert!(out.starts_with("one\ntwo\nthree\n"), "{out}");
    assert_eq!(out.matches("Read-only file system").count(), 3, "{out}");
    let rw = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}",
        "reader",
    ]);
    let mut rw: Vec<&str> = rw.split_whitespace().collect();
    rw.sort();
    assert_eq!(rw, ["/anon=false", "/data=false", "/hostdir=false"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.VolumesFrom}}",
            "reader"
        ])
        .trim(),
        "[owner:ro]"
    );
    // A volume another container borrows is in use.
    let e = d.fails(&["volume", "rm", "vfdata"]);
    assert!(e.contains("in use"), "{e}");

    // Unknown container, bad mode: docker's errors, nothing made.
    let before = d.ok(&["ps", "-aq"]);
    let e = d.fails(&["run", "--rm", "--volumes-from", "nosuch", image, "true"]);
    assert!(e.contains("No such container: nosuch"), "{e}");
    assert!(
        !e.contains("Unable to find image"),
        "a 404 sent the CLI pulling: {e}"
    );
    let e = d.fails(&[
        "create",
        "--volumes-from",
        "owner:rx",
        "-v",
        "/fresh",
        image,
        "true",
    ]);
    assert!(e.contains("invalid mode: rx"), "{e}");
    assert_eq!(d.ok(&["ps", "-aq"]), before);
    let mut want = anon.clone();
    want.push("vfdata".into());
    want.sort();
    assert_eq!(volumes(&d, &[]), want);

    // The borrower's rm -v keeps the owner's anonymous volume; the owner's takes it.
    d.ok(&["rm", "-v", "reader"]);
    assert_eq!(volumes(&d, &[]), want);
    d.ok(&["rm", "-v", "owner"]);
    assert_eq!(volumes(&d, &[]), ["vfdata"]);
    d.ok(&["volume", "rm", "vfdata"]);
    d.ok(&["rmi", image]);
    assert_clean(&mut d);
}
