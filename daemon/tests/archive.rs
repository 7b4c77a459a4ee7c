//! `docker cp` (both ways: a file, a directory, into a volume's mount point, running and
//! stopped containers) and `docker export` through the real docker CLI; the archive API's bad
//! input; hostile tars that try to write outside the container.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_testkit::TempDir;
use std::io::{Read, Write};
use std::path::Path;

/// One HTTP/1.0 request with a binary body: status, headers and body.
fn raw(d: &Dmd, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = vec![];
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head, out[split + 4..].to_vec())
}

/// A tar whose single entry has the raw name `name` (the tar crate refuses `..` itself).
fn tar_with_raw_name(name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    if !link.is_empty() {
        h.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link);
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn docker_cp_both_ways_and_export() {
    if !prerequisites("docker_cp_both_ways_and_export") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    let host = TempDir::new("dmd-cp");
    let h = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    std::fs::write(h("hello.txt"), "hi there\n").unwrap();
    std::fs::create_dir_all(h("d/sub")).unwrap();
    std::fs::write(h("d/sub/x"), "x\n").unwrap();

    d.ok(&[
        "run",
        "-d",
        "--name",
        "cp1",
        "-v",
        "cpvol:/data",
        image,
        "sleep",
        "600",
    ]);
    // Into a running container: a file, a directory, a volume's mount point.
    d.ok(&["cp", &h("hello.txt"), "cp1:/tmp/"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", "/tmp/hello.txt"]),
        "hi there\n"
    );
    d.ok(&["cp", &h("d"), "cp1:/tmp/d2"]);
    assert_eq!(d.ok(&["exec", "cp1", "cat", "/tmp/d2/sub/x"]), "x\n");
    d.ok(&["cp", &h("hello.txt"), "cp1:/data/"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", "/data/hello.txt"]),
        "hi there\n"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "cpvol:/v",
            image,
            "cat",
            "/v/hello.txt"
        ]),
        "hi there\n",
        "the copy landed in the volume"
    );

    // Out of a running container.
    d.ok(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "echo made-inside > /tmp/in.txt; mkdir -p /tmp/od/a; echo deep > /tmp/od/a/f; ln -s /tmp/in.txt /tmp/ln",
    ]);
    d.ok(&["cp", "cp1:/tmp/in.txt", &h("out.txt")]);
    assert_eq!(
        std::fs::read_to_string(h("out.txt")).unwrap(),
        "made-inside\n"
    );
    d.ok(&["cp", "cp1:/tmp/od", &h("od")]);
    assert_eq!(std::fs::read_to_string(h("od/a/f")).unwrap(), "deep\n");
    // -L follows the link inside the container; without it the link itself comes out.
    d.ok(&["cp", "-L", "cp1:/tmp/ln", &h("followed")]);
    assert_eq!(
        std::fs::read_to_string(h("followed")).unwrap(),
        "made-inside\n"
    );
    d.ok(&["cp", "cp1:/tmp/ln", &h("link")]);
    assert_eq!(
        std::fs::read_link(h("link")).unwrap(),
        Path::new("/tmp/in.txt")
    );

    // The stat header: docker's base64 JSON.
    let (code, head, _) = raw(&d, "HEAD", "/containers/cp1/archive?path=/tmp/in.txt", b"");
    assert_eq!(code, 200, "{head}");
    let b64 = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("X-Docker-Container-Path-Stat"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .expect("stat header");
    use base64::Engine;
    let stat: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stat["name"], "in.txt");
    assert_eq!(stat["size"], 12);
    assert_eq!(stat["mode"], 0o644);

    // Export of a running container: the rootfs with the copies, without the volume.
    let o = d.cmd(&["export", "cp1"]).output().unwrap();
    assert!(o.status.success());
    let names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["bin/", "tmp/hello.txt", "tmp/d2/sub/x", "tmp/in.txt"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "data/hello.txt"),
        "volume exported"
    );

    // Stopped: copies both ways, the volume included, and `export | tar t`.
    d.ok(&["stop", "-t", "0", "cp1"]);
    d.ok(&["cp", &h("hello.txt"), "cp1:/stopped.txt"]);
    d.ok(&["cp", "cp1:/stopped.txt", &h("back.txt")]);
    assert_eq!(
        std::fs::read_to_string(h("back.txt")).unwrap(),
        "hi there\n"
    );
    d.ok(&["cp", "cp1:/data/hello.txt", &h("from-volume.txt")]);
    assert_eq!(
        std::fs::read_to_string(h("from-volume.txt")).unwrap(),
        "hi there\n"
    );
    let export = h("export.tar");
    d.ok(&["export", "-o", &export, "cp1"]);
    let t = std::process::Command::new("tar")
        .args(["tf", &export])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&t.stdout);
    assert!(listing.lines().any(|l| l == "stopped.txt"), "{listing}");
    d.ok(&["start", "cp1"]);
    assert_eq!(d.ok(&["exec", "cp1", "cat", "/stopped.txt"]), "hi there\n");

    // -a gives the copy to the container's user.
    d.ok(&["create", "--name", "cp2", "-u", "1234:5678", image, "true"]);
    d.ok(&["cp", "-a", &h("hello.txt"), "cp2:/tmp/"]);
    let o = d.cmd(&["cp", "cp2:/tmp/hello.txt", "-"]).output().unwrap();
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let e = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1234, 5678)
    );

    // Bad input in docker's shape.
    let e = d.fails(&["cp", "cp1:/nope", &h("nope")]);
    // 20.10 words it itself; newer CLIs print the daemon's message.
    assert!(
        e.contains("No such container:path") || e.contains("Could not find the file /nope"),
        "{e}"
    );
    let (code, _, body) = raw(&d, "GET", "/containers/cp1/archive?path=/nope", b"");
    assert_eq!(code, 404);
    assert!(
        String::from_utf8_lossy(&body).contains("Could not find the file /nope"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (code, _, _) = raw(&d, "GET", "/containers/cp1/archive", b"");
    assert_eq!(code, 400);
    let (code, _, _) = raw(&d, "GET", "/containers/nosuch/archive?path=/", b"");
    assert_eq!(code, 404);
    let ok_tar = tar_with_raw_name(b"f", tar::EntryType::Regular, b"", b"x");
    let (code, _, body) = raw(
        &d,
        "PUT",
        "/containers/cp1/archive?path=/stopped.txt",
        &ok_tar,
    );
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("not a directory"));

    // noOverwriteDirNonDir: a file does not replace a directory (the CLI asks for that).
    let over = tar_with_raw_name(b"d2", tar::EntryType::Regular, b"", b"x");
    let (code, _, body) = raw(
        &d,
        "PUT",
        "/containers/cp1/archive?path=/tmp&noOverwriteDirNonDir=true",
        &over,
    );
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("cannot overwrite directory"));
    assert_eq!(d.ok(&["exec", "cp1", "cat", "/tmp/d2/sub/x"]), "x\n");

    // Hostile tars write nothing outside the container's root.
    let outside = TempDir::new("dmd-cp-outside");
    let out = outside.path().to_string_lossy().into_owned();
    let dots = format!("../../../../../../../..{out}/dotdot");
    let t1 = tar_with_raw_name(dots.as_bytes(), tar::EntryType::Regular, b"", b"pwned");
    let (code, _, body) = raw(&d, "PUT", "/containers/cp1/archive?path=/tmp", &t1);
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    // A symlink to the host directory, then a file through it, in one tar.
    let mut b = tar::Builder::new(Vec::new());
    let mut sh = tar::Header::new_gnu();
    sh.set_entry_type(tar::EntryType::Symlink);
    sh.set_size(0);
    sh.set_mode(0o777);
    sh.set_uid(0);
    sh.set_gid(0);
    sh.set_mtime(0);
    b.append_link(&mut sh, "esc", &out).unwrap();
    let mut fh = tar::Header::new_gnu();
    fh.set_size(5);
    fh.set_mode(0o644);
    fh.set_uid(0);
    fh.set_gid(0);
    fh.set_mtime(0);
    b.append_data(&mut fh, "esc/through-link", &b"pwned"[..])
        .unwrap();
    let t2 = b.into_inner().unwrap();
    let (code, _, body) = raw(&d, "PUT", "/containers/cp1/archive?path=/tmp", &t2);
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    // An extraction point that is an absolute symlink resolves inside the container.
    d.ok(&["exec", "cp1", "ln", "-s", &out, "/tmp/evil"]);
    let t3 = tar_with_raw_name(b"via-dest", tar::EntryType::Regular, b"", b"inside");
    let (code, _, body) = raw(&d, "PUT", "/containers/cp1/archive?path=/tmp/evil", &t3);
    // The container has no such directory: not found, and nothing written on the host.
    assert_eq!(code, 404, "{}", String::from_utf8_lossy(&body));
    d.ok(&["exec", "cp1", "mkdir", "-p", &out]);
    let (code, _, body) = raw(&d, "PUT", "/containers/cp1/archive?path=/tmp/evil", &t3);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", &format!("{out}/via-dest")]),
        "inside"
    );
    assert_eq!(files_in(outside.path()), Vec::<String>::new());

    d.ok(&["rm", "-f", "cp1", "cp2"]);
    d.ok(&["volume", "rm", "cpvol"]);
    assert_clean(&mut d);
}

/// Whether `path` is a mount point in the host's mount namespace.
fn host_mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

#[test]
fn docker_cp_into_a_stopped_container_reaches_its_driver_opts_volumes() {
    if !prerequisites("docker_cp_into_a_stopped_container_reaches_its_driver_opts_volumes") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    // A local volume over a host directory (type none, o=bind) and one on a tmpfs.
    let host = TempDir::new("dm-cp-vol");
    let device = format!("device={}", host.path().display());
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "hostdir",
    ]);
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "scratch",
    ]);
    let mp = |v: &str| {
        d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", v])
            .trim()
            .to_owned()
    };
    let (hostdir_mp, scratch_mp) = (mp("hostdir"), mp("scratch"));
    d.ok(&[
        "create",
        "--name",
        "cpv",
        "-v",
        "hostdir:/data",
        "-v",
        "scratch:/scratch",
        image,
        "sh",
        "-c",
        "cat /data/greeting; ls /scratch",
    ]);
    let src = TempDir::new("dm-cp-src");
    let file = src.path().join("greeting");
    std::fs::write(&file, "hello volume\n").unwrap();
    // Stopped: the copy goes through the volume's own filesystem, mounted for it.
    d.ok(&["cp", file.to_str().unwrap(), "cpv:/data/greeting"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("greeting")).unwrap(),
        "hello volume\n",
        "the file is on the volume's device, not under its mount point"
    );
    d.ok(&["cp", file.to_str().unwrap(), "cpv:/scratch/"]);
    let out = d.ok(&["cp", "cpv:/data/greeting", "-"]);
    assert!(out.contains("hello volume"), "{out}");
    for m in [&hostdir_mp, &scratch_mp] {
        assert!(!host_mounted(m), "{m} is left mounted after the copy");
    }
    // The container sees it; a tmpfs starts empty at each mount, as with dockerd.
    d.ok(&["start", "cpv"]);
    assert_eq!(d.ok(&["wait", "cpv"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "cpv"]), "hello volume\n");
    for m in [&hostdir_mp, &scratch_mp] {
        assert!(!host_mounted(m), "{m} is left mounted after the run");
    }
    d.ok(&["rm", "cpv"]);
    d.ok(&["volume", "rm", "hostdir", "scratch"]);
    assert_clean(&mut d);
}
