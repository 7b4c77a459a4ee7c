//! sha384 and sha512 content: stored under `blobs/<alg>/`, verified with their own algorithm,
//! through the library and through containerd's content API.

mod common;

use common::{serve, WriteSession};
use dm_content::api::{DeleteContentRequest, InfoRequest, ListContentRequest, ReadContentRequest};
use dm_content::{Algorithm, Digest, Kind, Labels, Store};
use dm_testkit::TempDir;
use tonic::Code;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 251) as u8).collect()
}

#[test]
fn every_algorithm_commits_under_its_own_dir_and_reads_verify_with_it() {
    let dir = TempDir::new("dm-content-alg");
    let store = Store::open(dir.path().join("root")).unwrap();
    let bytes = data(300_000);
    for alg in Algorithm::ALL {
        let d = Digest::of_with(alg, &bytes);
        // The expected digest is given only at commit: the writer hashed with sha256 so far.
        let mut w = store.writer(&format!("ref-{alg}"), None, None).unwrap();
        w.write(&bytes).unwrap();
        let c = w.commit(None, Some(d.clone()), &Labels::new()).unwrap();
        assert_eq!(c.digest, d);
        let path = store.root().join("blobs").join(alg.name()).join(d.hex());
        assert_eq!(store.blob_path(&d), path);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        store.verify(&d).unwrap();
    }
    let listed: Vec<Algorithm> = store
        .list::<&str>(&[])
        .unwrap()
        .iter()
        .map(|i| i.digest.algorithm())
        .collect();
    assert_eq!(listed, Algorithm::ALL);

    // A sha512 writer given its digest up front, then corrupted on disk.
    let other = data(1000);
    let d = Digest::of_with(Algorithm::Sha512, &other);
    let mut w = store.writer("up-front", None, Some(d.clone())).unwrap();
    w.write(&other).unwrap();
    assert_eq!(w.digest(), d);
    w.commit(None, None, &Labels::new()).unwrap();
    let mut bytes = std::fs::read(store.blob_path(&d)).unwrap();
    bytes[10] ^= 1;
    std::fs::write(store.blob_path(&d), bytes).unwrap();
    let err = store.verify(&d).unwrap_err();
    assert_eq!(err.kind(), Kind::DataLoss, "{err}");
    let corrupt = std::fs::read(store.blob_path(&d)).unwrap();
    let actual = Digest::of_with(Algorithm::Sha512, &corrupt);
    assert!(
        err.to_string().contains(&format!(
            "content {d} is corrupt: its 1000 bytes on disk hash to {actual}"
        )),
        "{err}"
    );
}

#[test]
fn a_sha384_mismatch_is_refused_and_stores_nothing() {
    let dir = TempDir::new("dm-content-alg");
    let store = Store::open(dir.path().join("root")).unwrap();
    let wrong = Digest::of_with(Algorithm::Sha384, b"something else");
    let mut w = store.writer("bad", None, None).unwrap();
    w.write(b"payload").unwrap();
    let err = w
        .commit(None, Some(wrong.clone()), &Labels::new())
        .unwrap_err();
    assert_eq!(err.kind(), Kind::FailedPrecondition, "{err}");
    assert!(err.to_string().contains(&wrong.to_string()), "{err}");
    assert!(!store.blob_path(&wrong).exists());
    assert!(store.list::<&str>(&[]).unwrap().is_empty());
}

#[tokio::test]
async fn sha512_blob_round_trips_over_grpc() {
    let mut s = serve().await;
    let bytes = data(1_500_000);
    let d = Digest::of_with(Algorithm::Sha512, &bytes).to_string();
    let total = bytes.len() as i64;
    let (mut w, _) = WriteSession::open(&mut s.client, "sha512-1", total, &d)
        .await
        .unwrap();
    let mut off = 0;
    for chunk in bytes.chunks(1 << 20) {
        off = w.write(off, chunk).await.unwrap().offset;
    }
    let r = w.commit(off, total, &d, &[("kind", "big")]).await.unwrap();
    assert_eq!(r.digest, d);
    let hex = d.strip_prefix("sha512:").unwrap();
    assert!(s.dir.path().join("root/blobs/sha512").join(hex).is_file());

    let info = s
        .client
        .info(InfoRequest { digest: d.clone() })
        .await
        .unwrap()
        .into_inner()
        .info
        .unwrap();
    assert_eq!((info.digest.as_str(), info.size), (d.as_str(), total));
    let mut stream = s
        .client
        .read(ReadContentRequest {
            digest: d.clone(),
            offset: 0,
            size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        got.extend_from_slice(&m.data);
    }
    assert_eq!(got, bytes);
    let mut list = s
        .client
        .list(ListContentRequest {
            filters: vec!["digest~=^sha512:,labels.kind==big".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let listed = list.message().await.unwrap().unwrap().info;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, d);

    s.client
        .delete(DeleteContentRequest { digest: d.clone() })
        .await
        .unwrap();
    let err = s
        .client
        .info(InfoRequest { digest: d.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(!s.store.blob_path(&d.parse().unwrap()).exists());
}

#[tokio::test]
async fn unknown_algorithms_and_bad_hex_lengths_are_invalid_arguments_naming_the_digest() {
    let mut s = serve().await;
    for bad in [
        "md5:d41d8cd98f00b204e9800998ecf8427e".to_owned(),
        format!("sha512:{}", "a".repeat(64)),
    ] {
        let err = s
            .client
            .info(InfoRequest {
                digest: bad.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
        assert!(
            err.message().contains(&format!("digest {bad:?}")),
            "{err:?}"
        );
        let err = WriteSession::open(&mut s.client, "w", 3, &bad)
            .await
            .err()
            .expect("write with a bad expected digest is refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
    }
}
