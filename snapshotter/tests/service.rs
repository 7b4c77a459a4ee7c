//! The dm-snapshotter binary through containerd's snapshots gRPC API on a unix socket.

mod common;

use common::server::{client, rt, spawn, wait_for_socket, Server, BIN};
use containerd_snapshots::api::snapshots::v1 as api;
use containerd_snapshots::tonic::Code;
use dm_testkit::{require_root, TempDir};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn prep(key: &str, parent: &str) -> api::PrepareSnapshotRequest {
    api::PrepareSnapshotRequest {
        snapshotter: "dockermind".into(),
        key: key.into(),
        parent: parent.into(),
        labels: HashMap::new(),
    }
}

#[test]
fn every_call_works_over_grpc_with_containerd_error_codes() {
    if !require_root("every_call_works_over_grpc_with_containerd_error_codes") {
        return;
    }
    let srv = Server::start();
    rt().block_on(async {
        let mut c = client(&srv.sock()).await;
        let m = c.prepare(prep("k1", "")).await.unwrap().into_inner().mounts;
        assert_eq!(
            (m[0].r#type.as_str(), m[0].options.clone()),
            ("bind", vec!["rw".into(), "rbind".into()])
        );
        std::fs::write(Path::new(&m[0].source).join("f"), vec![0u8; 8192]).unwrap();
        let e = c.prepare(prep("k1", "")).await.unwrap_err();
        assert_eq!(e.code(), Code::AlreadyExists, "{e}");
        let e = c.prepare(prep("k9", "nope")).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");

        let usage = c
            .usage(api::UsageRequest {
                snapshotter: String::new(),
                key: "k1".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(usage.size >= 8192 && usage.inodes == 2, "{usage:?}");
        let commit = |name: &str, key: &str| api::CommitSnapshotRequest {
            snapshotter: String::new(),
            name: name.into(),
            key: key.into(),
            labels: [("containerd.io/gc.root".to_string(), "1".to_string())].into(),
        };
        c.commit(commit("base", "k1")).await.unwrap();
        let info = c
            .stat(api::StatSnapshotRequest {
                snapshotter: String::new(),
                key: "base".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .info
            .unwrap();
        assert_eq!(
            (info.kind, info.labels.len()),
            (api::Kind::Committed as i32, 1)
        );
        assert!(info.created_at.is_some());

        let m = c
            .prepare(prep("k2", "base"))
            .await
            .unwrap()
            .into_inner()
            .mounts;
        assert_eq!(m[0].r#type, "overlay");
        let again = c
            .mounts(api::MountsRequest {
                snapshotter: String::new(),
                key: "k2".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .mounts;
        assert_eq!(again, m);
        let v = c
            .view(api::ViewSnapshotRequest {
                snapshotter: String::new(),
                key: "v".into(),
                parent: "base".into(),
                labels: HashMap::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .mounts;
        assert_eq!(
            (v[0].r#type.as_str(), v[0].options[0].as_str()),
            ("bind", "ro")
        );
        let e = c.commit(commit("vv", "v")).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e}");

        let mut upd = info.clone();
        upd.labels = [("x".to_string(), "y".to_string())].into();
        let got = c
            .update(api::UpdateSnapshotRequest {
                snapshotter: String::new(),
                info: Some(upd),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["labels.x".into()],
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .info
            .unwrap();
        assert_eq!(got.labels.get("x").map(String::as_str), Some("y"));
        assert_eq!(got.labels.len(), 2, "labels outside the mask kept");

        let list = |filters: Vec<String>| {
            let mut c = c.clone();
            async move {
                let mut s = c
                    .list(api::ListSnapshotsRequest {
                        snapshotter: String::new(),
                        filters,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let mut names = Vec::new();
                while let Some(r) = s.message().await.unwrap() {
                    names.extend(r.info.into_iter().map(|i| i.name));
                }
                names
            }
        };
        assert_eq!(list(vec![]).await, ["base", "k2", "v"]);
        assert_eq!(list(vec!["kind==active".into()]).await, ["k2"]);
        assert_eq!(
            list(vec!["labels.x==y".into(), "kind==view".into()]).await,
            ["base", "v"]
        );

        let rm = |key: &str| api::RemoveSnapshotRequest {
            snapshotter: String::new(),
            key: key.into(),
        };
        let e = c.remove(rm("base")).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
        c.remove(rm("k2")).await.unwrap();
        c.remove(rm("v")).await.unwrap();
        c.remove(rm("base")).await.unwrap();
        let e = c.remove(rm("base")).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);

        std::fs::create_dir_all(srv.root().join("snapshots/77/fs")).unwrap();
        c.cleanup(api::CleanupRequest {
            snapshotter: String::new(),
        })
        .await
        .unwrap();
        assert!(
            !srv.root().join("snapshots/77").exists(),
            "Cleanup removed the orphan dir"
        );
    });
}

#[test]
fn sigterm_and_sigint_stop_cleanly_and_state_persists() {
    if !require_root("sigterm_and_sigint_stop_cleanly_and_state_persists") {
        return;
    }
    let mut srv = Server::start();
    rt().block_on(async {
        let mut c = client(&srv.sock()).await;
        c.prepare(prep("kept", "")).await.unwrap();
    });
    for sig in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGINT] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(srv.child.id() as i32), sig).unwrap();
        let st = srv.child.wait().unwrap();
        assert_eq!(st.code(), Some(0), "{sig} exits 0");
        assert!(!srv.sock().exists(), "socket removed on {sig}");
        srv.child = spawn(srv.dir.path());
        wait_for_socket(&srv.sock());
    }
    rt().block_on(async {
        let mut c = client(&srv.sock()).await;
        let e = c.prepare(prep("kept", "")).await.unwrap_err();
        assert_eq!(e.code(), Code::AlreadyExists, "snapshot survived restarts");
    });
}

#[test]
fn bad_root_and_busy_socket_are_refused() {
    if !require_root("bad_root_and_busy_socket_are_refused") {
        return;
    }
    let t = TempDir::new("snapsvc-bad");
    let file = t.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&file)
        .arg("--address")
        .arg(t.path().join("s.sock"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("--root") && err.contains("not a directory"),
        "{err}"
    );
    assert!(!t.path().join("s.sock").exists(), "nothing left behind");

    let srv = Server::start();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(t.path().join("other"))
        .arg("--address")
        .arg(srv.sock())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("--address") && err.contains("another process is serving"),
        "{err}"
    );
    assert!(
        !t.path().join("other").exists(),
        "a refused start makes no root"
    );
    let out = Command::new(BIN)
        .arg("--root")
        .arg(srv.root())
        .arg("--address")
        .arg(t.path().join("s2.sock"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("in use by another process"), "{err}");
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--root", "--address", "--log-level"] {
        assert!(help.contains(flag), "--help documents {flag}");
    }
}

#[test]
fn stale_socket_file_is_replaced() {
    if !require_root("stale_socket_file_is_replaced") {
        return;
    }
    let t = TempDir::new("snapsvc-stale");
    drop(std::os::unix::net::UnixListener::bind(t.path().join("s.sock")).unwrap());
    assert!(t.path().join("s.sock").exists());
    let mut child = spawn(t.path());
    wait_for_socket(&t.path().join("s.sock"));
    child.kill().unwrap();
    child.wait().unwrap();
}
