//! The content store library as its users (our daemon, the gRPC service) rely on it.

use dm_content::{Digest, Error, Kind, Labels, Store};
use dm_testkit::TempDir;
use std::path::Path;
use std::sync::{Arc, Barrier};

fn new_store() -> (TempDir, Store) {
    let dir = TempDir::new("dm-content");
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn put(store: &Store, reference: &str, data: &[u8]) -> Digest {
    let mut w = store
        .writer(reference, Some(data.len() as u64), None)
        .unwrap();
    w.write(data).unwrap();
    w.commit(None, Some(Digest::of(data)), &Labels::new())
        .unwrap()
        .digest
}

#[test]
fn committed_blob_lands_in_oci_layout_and_ingest_is_gone() {
    let (_t, store) = new_store();
    let data = b"hello blob";
    let mut w = store.writer("ref-1", None, None).unwrap();
    w.write(&data[..5]).unwrap();
    w.write(&data[5..]).unwrap();
    // Until commit, nothing is visible under blobs/.
    assert!(!store.blob_path(&Digest::of(data)).exists());
    assert!(matches!(
        store.info(&Digest::of(data)),
        Err(Error::BlobNotFound(_))
    ));
    let c = w
        .commit(Some(10), Some(Digest::of(data)), &Labels::new())
        .unwrap();
    assert!(c.created);
    assert_eq!(std::fs::read(store.blob_path(&c.digest)).unwrap(), data);
    assert_eq!(
        files(store.root()),
        vec![
            ".lock".to_string(),
            format!("blobs/sha256/{}", c.digest.hex()),
            "index.json".into(),
            "oci-layout".into(),
        ]
    );
    let layout = std::fs::read_to_string(store.root().join("oci-layout")).unwrap();
    assert!(
        layout.contains("\"imageLayoutVersion\":\"1.0.0\""),
        "{layout}"
    );
    assert_eq!(store.info(&c.digest).unwrap().size, 10);
    assert!(store.list_statuses::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn wrong_digest_or_size_is_refused_and_leaves_no_blob() {
    let (_t, store) = new_store();
    let data = b"0123456789";
    let wrong = Digest::of(b"something else");

    let mut w = store.writer("bad-digest", None, None).unwrap();
    w.write(data).unwrap();
    let err = w
        .commit(None, Some(wrong.clone()), &Labels::new())
        .unwrap_err();
    assert_eq!(err.kind(), Kind::FailedPrecondition);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("unexpected commit digest {}", Digest::of(data))),
        "{msg}"
    );
    assert!(msg.contains(&format!("expected {wrong}")), "{msg}");

    let mut w = store.writer("bad-size", Some(11), None).unwrap();
    w.write(data).unwrap();
    let err = w.commit(None, None, &Labels::new()).unwrap_err();
    assert_eq!(err.kind(), Kind::FailedPrecondition);
    assert!(
        err.to_string()
            .contains("unexpected commit size 10, expected 11"),
        "{err}"
    );

    assert!(store.list::<&str>(&[]).unwrap().is_empty());
    assert!(!store.blob_path(&Digest::of(data)).exists());
    // The ingests stay, for the client to rewrite or abort.
    let refs: Vec<_> = store
        .list_statuses::<&str>(&[])
        .unwrap()
        .into_iter()
        .map(|s| s.reference)
        .collect();
    assert_eq!(refs, ["bad-digest", "bad-size"]);
    store.abort("bad-digest").unwrap();
    store.abort("bad-size").unwrap();
    assert!(matches!(
        store.abort("bad-size"),
        Err(Error::IngestNotFound(_))
    ));
    assert!(files(&store.root().join("ingest")).is_empty());
}

#[test]
fn second_writer_on_a_ref_gets_containerds_locked_error() {
    let (_t, store) = new_store();
    let w = store
        .writer("default/1/layer-sha256:abc", None, None)
        .unwrap();
    let err = match store.writer("default/1/layer-sha256:abc", None, None) {
        Err(e) => e,
        Ok(_) => panic!("second writer on a held ref was allowed"),
    };
    assert_eq!(err.kind(), Kind::Unavailable);
    let msg = err.to_string();
    assert!(
        msg.starts_with("ref default/1/layer-sha256:abc locked for "),
        "{msg}"
    );
    assert!(
        msg.contains(" (since ") && msg.ends_with("): unavailable"),
        "{msg}"
    );
    // Other refs are independent, and dropping the writer releases the ref.
    drop(store.writer("other", None, None).unwrap());
    drop(w);
    drop(
        store
            .writer("default/1/layer-sha256:abc", None, None)
            .unwrap(),
    );
}

#[test]
fn two_writers_of_one_digest_both_succeed_with_one_blob() {
    let (_t, store) = new_store();
    let data: Arc<Vec<u8>> = Arc::new((0..300_000u32).map(|i| (i % 251) as u8).collect());
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (store, data, barrier) = (store.clone(), data.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut w = store.writer(&format!("racer-{i}"), None, None).unwrap();
                w.write(&data).unwrap();
                barrier.wait();
                w.commit(
                    Some(data.len() as u64),
                    Some(Digest::of(&data)),
                    &Labels::new(),
                )
                .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|c| c.created).count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().all(|c| c.digest == Digest::of(&data)));
    let blobs = store.list::<&str>(&[]).unwrap();
    assert_eq!(blobs.len(), 1);
    assert_eq!(
        std::fs::read(store.blob_path(&blobs[0].digest)).unwrap(),
        *data
    );
    assert!(store.list_statuses::<&str>(&[]).unwrap().is_empty());
    // Once it exists, a writer naming it as expected is told so up front.
    let err = store
        .writer("late", None, Some(Digest::of(&data)))
        .err()
        .unwrap();
    assert_eq!(err.kind(), Kind::AlreadyExists);
}

#[test]
fn labels_including_gc_labels_persist_update_and_filter() {
    let (t, store) = new_store();
    let gc = labels(&[
        ("containerd.io/gc.ref.content.l.0", "sha256:aaaa"),
        ("containerd.io/gc.root", "2026-01-01T00:00:00Z"),
    ]);
    let mut w = store.writer("labelled", None, None).unwrap();
    w.write(b"manifest").unwrap();
    let d = w.commit(None, None, &gc).unwrap().digest;
    let plain = put(&store, "plain", b"layer");
    assert_eq!(store.info(&d).unwrap().labels, gc);

    let by_label = store.list(&[r#"labels."containerd.io/gc.root""#]).unwrap();
    assert_eq!(by_label.iter().map(|i| &i.digest).collect::<Vec<_>>(), [&d]);
    let either = store
        .list(&[
            format!("digest=={plain}"),
            "labels.\"containerd.io/gc.root\"".into(),
        ])
        .unwrap();
    assert_eq!(either.len(), 2);

    // Per-key update: set one, remove one; the rest stays.
    let info = store
        .update(
            &d,
            &labels(&[("containerd.io/gc.expire", "soon")]),
            &[
                "labels.containerd.io/gc.expire".into(),
                "labels.containerd.io/gc.root".into(),
            ],
        )
        .unwrap();
    assert_eq!(
        info.labels,
        labels(&[
            ("containerd.io/gc.ref.content.l.0", "sha256:aaaa"),
            ("containerd.io/gc.expire", "soon")
        ])
    );
    assert!(info.updated_at >= info.created_at);
    let err = store
        .update(&d, &Labels::new(), &["size".into()])
        .unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument);
    assert!(store
        .list(&["labels.\"containerd.io/gc.root\""])
        .unwrap()
        .is_empty());

    // A restart sees the same labels.
    let root = store.root().to_owned();
    drop(store);
    let store = Store::open(&root).unwrap();
    assert_eq!(store.info(&d).unwrap().labels, info.labels);

    // Deleting removes blob and labels; a later commit of the same bytes starts clean.
    store.delete(&d).unwrap();
    assert!(matches!(store.delete(&d), Err(Error::BlobNotFound(_))));
    assert_eq!(put(&store, "again", b"manifest"), d);
    assert!(store.info(&d).unwrap().labels.is_empty());
    drop(t);
}

#[test]
fn stale_label_record_from_a_crash_is_swept_at_open() {
    let (_t, store) = new_store();
    let d = Digest::of(b"gone");
    let record = store
        .root()
        .join("meta/sha256")
        .join(format!("{}.json", d.hex()));
    std::fs::write(
        &record,
        br#"{"created_ns":1,"updated_ns":1,"labels":{"stale":"yes"}}"#,
    )
    .unwrap();
    let root = store.root().to_owned();
    drop(store);
    let store = Store::open(&root).unwrap();
    assert!(!record.exists());
    put(&store, "r", b"gone");
    assert!(store.info(&d).unwrap().labels.is_empty());
}

#[test]
fn interrupted_ingest_resumes_after_restart() {
    let (_t, store) = new_store();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let d = Digest::of(&data);
    let total = Some(data.len() as u64);
    let mut w = store.writer("big", total, Some(d.clone())).unwrap();
    w.write(&data[..1_234_567]).unwrap();
    drop(w);
    let root = store.root().to_owned();
    drop(store);

    let store = Store::open(&root).unwrap();
    let st = store.status("big").unwrap();
    assert_eq!(
        (st.offset, st.total, st.expected.as_ref()),
        (1_234_567, total, Some(&d))
    );
    let mut w = store.writer("big", total, Some(d.clone())).unwrap();
    assert_eq!(w.offset(), 1_234_567);
    assert_eq!(w.digest(), Digest::of(&data[..1_234_567]));
    w.write(&data[1_234_567..]).unwrap();
    assert_eq!(w.commit(None, None, &Labels::new()).unwrap().digest, d);
    assert_eq!(std::fs::read(store.blob_path(&d)).unwrap(), data);

    // A writer restarting at offset 0 truncates; a different total restarts the ingest.
    let mut w = store.writer("other", Some(4), None).unwrap();
    w.write(b"junk").unwrap();
    w.truncate(0).unwrap();
    w.write(b"good").unwrap();
    drop(w);
    let w = store.writer("other", Some(5), None).unwrap();
    assert_eq!(w.offset(), 0);
    assert!(matches!(
        store.status("nope"),
        Err(Error::IngestNotFound(_))
    ));
}

#[test]
fn corrupted_blob_is_detected_by_reads_that_reach_its_end() {
    let (_t, store) = new_store();
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let d = put(&store, "c", &data);
    let read = |offset, len| {
        let mut got = Vec::new();
        let res = store.read(&d, offset, len, 1024, |o, chunk| {
            assert_eq!(o, offset + got.len() as u64);
            got.extend_from_slice(&chunk);
            true
        });
        (res, got)
    };
    let (res, got) = read(0, None);
    res.unwrap();
    assert_eq!(got, data);

    // Flip one byte on disk, in place.
    let path = store.blob_path(&d);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5000] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    for (offset, len) in [(0, None), (9_000, None), (100, Some(9_900))] {
        let (res, got) = read(offset, len);
        let err = res.unwrap_err();
        assert_eq!(err.kind(), Kind::DataLoss, "{err}");
        assert!(
            err.to_string().contains(&format!("content {d} is corrupt")),
            "{err}"
        );
        // The last chunk was withheld: the client never holds the complete (bad) bytes.
        assert!(
            got.len() < data.len() - offset as usize,
            "read {offset}: got {}",
            got.len()
        );
    }
    assert_eq!(store.verify(&d).unwrap_err().kind(), Kind::DataLoss);
    // A range short of the end is served unverified (its reader verifies what it consumes).
    let (res, got) = read(0, Some(100));
    res.unwrap();
    assert_eq!(got, &data[..100]);
    assert_eq!(read(10_001, None).0.unwrap_err().kind(), Kind::OutOfRange);
}

#[test]
fn root_is_exclusive_and_must_be_a_writable_directory() {
    let (t, store) = new_store();
    let err = Store::open(store.root())
        .err()
        .expect("second open of a root in use");
    assert!(
        err.to_string()
            .contains("in use by another content store process"),
        "{err}"
    );

    let file = t.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = Store::open(&file).err().unwrap();
    assert!(err.to_string().contains("is not a directory"), "{err}");

    let err = Store::open("/proc/dm-content-root").err().unwrap();
    assert_eq!(err.kind(), Kind::InvalidArgument);
    assert!(
        err.to_string()
            .starts_with("content root /proc/dm-content-root: cannot create"),
        "{err}"
    );

    let err = store.writer("", None, None).err().unwrap();
    assert_eq!(err.kind(), Kind::InvalidArgument);
}

#[test]
fn exported_index_makes_the_root_an_oci_layout_that_oci_tools_read() {
    use dm_content::layout::{Descriptor, REF_NAME};
    let (_t, store) = new_store();
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
    let cfg = put(&store, "config", config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let man = put(&store, "manifest", manifest.as_bytes());
    let entry = Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: man.to_string(),
        size: manifest.len() as u64,
        annotations: [(REF_NAME.to_string(), "v1".to_string())].into(),
    };
    let wrong_size = Descriptor {
        size: 1,
        ..entry.clone()
    };
    assert_eq!(
        store.export_index(&[wrong_size]).unwrap_err().kind(),
        Kind::InvalidArgument
    );
    let missing = Descriptor {
        digest: Digest::of(b"none").to_string(),
        ..entry.clone()
    };
    assert_eq!(
        store.export_index(&[missing]).unwrap_err().kind(),
        Kind::NotFound
    );
    store.export_index(std::slice::from_ref(&entry)).unwrap();
    assert_eq!(store.index().unwrap(), [entry]);

    if dm_testkit::require_cmd("umoci") {
        let out = std::process::Command::new("umoci")
            .arg("ls")
            .arg("--layout")
            .arg(store.root())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), "v1");
    }
    if dm_testkit::require_cmd("skopeo") {
        let out = std::process::Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:v1", store.root().display()))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("\"Digest\": \"{man}\"")),
            "{stdout}"
        );
    }
}

#[test]
fn large_ingests_written_back_while_streaming_survive_truncate_and_resume() {
    // Writers start writeback every few MiB; a truncate or a resume in between must not
    // disturb the offsets or the bytes that the commit's fsync makes durable.
    let (_t, store) = new_store();
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut want = Vec::new();
    let mut w = store.writer("big", None, None).unwrap();
    for _ in 0..9 {
        w.write(&chunk).unwrap();
    }
    w.truncate(0).unwrap();
    for i in 0..10u8 {
        let c: Vec<u8> = chunk.iter().map(|b| b ^ i).collect();
        w.write(&c).unwrap();
        want.extend_from_slice(&c);
    }
    drop(w);
    let mut w = store.writer("big", None, None).unwrap();
    assert_eq!(w.offset(), want.len() as u64, "resumed where it stopped");
    for i in 10..20u8 {
        let c: Vec<u8> = chunk.iter().map(|b| b ^ i).collect();
        w.write(&c).unwrap();
        want.extend_from_slice(&c);
    }
    let c = w
        .commit(
            Some(want.len() as u64),
            Some(Digest::of(&want)),
            &Labels::new(),
        )
        .unwrap();
    assert!(std::fs::read(store.blob_path(&c.digest)).unwrap() == want);
}
