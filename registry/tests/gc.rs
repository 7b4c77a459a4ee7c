//! Garbage collection: what nothing needs goes, what a manifest or an in-flight push needs
//! stays, also while clients push.

mod common;

use common::{digest, image_manifest, push_blob, Server};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Makes every file under `dir` two hours old, as if written long before.
fn age_everything(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            age_everything(&p);
        } else if p.is_file() {
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(old).unwrap();
        }
    }
}

fn push_image(s: &Server, repo: &str, tag: &str, seed: &str) -> (String, Vec<String>) {
    let config = format!("{{\"seed\":\"{seed}\"}}").into_bytes();
    let layer = format!("layer of {seed}").repeat(1000).into_bytes();
    let blobs = vec![push_blob(s, repo, &config), push_blob(s, repo, &layer)];
    let m = image_manifest(&config, &[&layer]);
    let r = s.req(
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", OCI_MANIFEST)],
        &m,
    );
    assert_eq!(r.status, 201, "{r:?}");
    (digest(&m), blobs)
}

fn gc(s: &Server) -> serde_json::Value {
    let r = s.req("POST", "/gc", &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

/// The image is complete: its manifest and every blob it names pull with their digests.
fn assert_complete(s: &Server, repo: &str, tag: &str) {
    let m = s.req("GET", &format!("/v2/{repo}/manifests/{tag}"), &[], b"");
    assert_eq!(m.status, 200, "{repo}:{tag}");
    let v = m.json();
    let mut ds = vec![v["config"]["digest"].as_str().unwrap().to_owned()];
    ds.extend(
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned()),
    );
    for d in ds {
        let b = s.req("GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"");
        assert_eq!(
            (b.status, digest(&b.body)),
            (200, d.clone()),
            "{repo}:{tag} {d}"
        );
    }
}

#[test]
fn gc_collects_only_what_nothing_needs() {
    let s = Server::start(&["--upload-ttl", "1h"]);
    push_image(&s, "keep", "v1", "a");
    let orphan = push_blob(&s, "keep", b"orphan");
    let (dropped, dropped_blobs) = push_image(&s, "drop", "v1", "b");
    assert_eq!(
        s.req("DELETE", &format!("/v2/drop/manifests/{dropped}"), &[], b"")
            .status,
        202
    );
    let idle = s
        .req("POST", "/v2/keep/blobs/uploads/", &[], b"")
        .h("location")
        .to_owned();
    assert_eq!(s.req("PATCH", &idle, &[], b"abandoned").status, 202);
    age_everything(&s.dir.path().join("root"));
    let fresh = push_blob(&s, "keep", b"fresh, its manifest is on its way");

    let report = gc(&s);
    assert_eq!(
        report,
        serde_json::json!({"links_removed": 3, "blobs_deleted": 4,
            "bytes_freed": report["bytes_freed"], "uploads_dropped": 1})
    );
    assert_complete(&s, "keep", "v1");
    assert_eq!(
        s.req("HEAD", &format!("/v2/keep/blobs/{orphan}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        s.req("HEAD", &format!("/v2/keep/blobs/{fresh}"), &[], b"")
            .status,
        200
    );
    for d in dropped_blobs {
        assert_eq!(
            s.req("HEAD", &format!("/v2/drop/blobs/{d}"), &[], b"")
                .status,
            404
        );
    }
    assert_eq!(s.req("GET", &idle, &[], b"").code(), "BLOB_UPLOAD_UNKNOWN");
    // The deleted bytes are gone from the store, not only unlinked.
    let hex = orphan.strip_prefix("sha256:").unwrap();
    assert!(!s
        .dir
        .path()
        .join("root/content/blobs/sha256")
        .join(hex)
        .exists());
    // Nothing left to do the second time.
    assert_eq!(gc(&s)["blobs_deleted"], 0);
}

#[test]
fn gc_running_during_concurrent_pushes_loses_nothing() {
    let s = Server::start(&[]);
    let orphan = push_blob(&s, "old", b"old orphan");
    age_everything(&s.dir.path().join("root"));
    let done = AtomicBool::new(false);
    let mut collected = 0;
    std::thread::scope(|sc| {
        let pushers: Vec<_> = (0..4)
            .map(|t| {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..5 {
                        push_image(s, &format!("p{t}"), &format!("v{i}"), &format!("{t}-{i}"));
                    }
                })
            })
            .collect();
        let gcs = sc.spawn(|| {
            let mut n = 0u64;
            let mut runs = 0;
            while !done.load(Ordering::SeqCst) || runs == 0 {
                n += gc(&s)["blobs_deleted"].as_u64().unwrap();
                runs += 1;
            }
            n
        });
        // Every pusher is joined before the collector is stopped, panicked or not, so a
        // failing push cannot leave the collector looping.
        let results: Vec<_> = pushers.into_iter().map(|p| p.join()).collect();
        done.store(true, Ordering::SeqCst);
        collected = gcs.join().unwrap();
        for r in results {
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
        }
    });
    assert_eq!(collected, 1, "only the old orphan goes");
    assert_eq!(
        s.req("HEAD", &format!("/v2/old/blobs/{orphan}"), &[], b"")
            .status,
        404
    );
    for t in 0..4 {
        for i in 0..5 {
            assert_complete(&s, &format!("p{t}"), &format!("v{i}"));
        }
    }
}

#[test]
fn periodic_gc_runs_by_itself() {
    let s = Server::start(&["--gc-interval", "100ms"]);
    let orphan = push_blob(&s, "p", b"periodic orphan");
    age_everything(&s.dir.path().join("root"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s
        .req("HEAD", &format!("/v2/p/blobs/{orphan}"), &[], b"")
        .status
        != 404
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no collection within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.log().contains("gc: Report"), "{}", s.log());
}
