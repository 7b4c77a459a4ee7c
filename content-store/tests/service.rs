//! containerd's content API served by dm-content, exercised through a real gRPC client over a
//! unix socket.

mod common;

use common::{serve, WriteSession};
use dm_content::api::content_client::ContentClient;
use dm_content::api::{
    AbortRequest, DeleteContentRequest, Info, InfoRequest, ListContentRequest, ListStatusesRequest,
    ReadContentRequest, StatusRequest, UpdateRequest,
};
use dm_content::Digest;
use tonic::transport::Channel;
use tonic::Code;

async fn info(c: &mut ContentClient<Channel>, d: &str) -> Result<Info, tonic::Status> {
    let r = c.info(InfoRequest { digest: d.into() }).await?;
    Ok(r.into_inner().info.unwrap())
}

async fn read(
    c: &mut ContentClient<Channel>,
    d: &str,
    offset: i64,
    size: i64,
) -> Result<Vec<u8>, tonic::Status> {
    let mut s = c
        .read(ReadContentRequest {
            digest: d.into(),
            offset,
            size,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = s.message().await? {
        assert_eq!(m.offset, offset.max(0) + out.len() as i64);
        out.extend_from_slice(&m.data);
    }
    Ok(out)
}

fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 253) as u8).collect()
}

#[tokio::test]
async fn write_stream_commits_a_blob_that_info_read_list_and_delete_see() {
    let mut s = serve().await;
    let data = blob(2_500_000);
    let d = Digest::of(&data).to_string();
    let total = data.len() as i64;
    let (mut w, stat) = WriteSession::open(&mut s.client, "import-1", total, &d)
        .await
        .unwrap();
    assert_eq!((stat.offset, stat.total), (0, total));
    assert!(stat.started_at.is_some());
    let mut off = 0;
    for chunk in data.chunks(1 << 20) {
        let r = w.write(off, chunk).await.unwrap();
        off += chunk.len() as i64;
        assert_eq!(r.offset, off);
    }
    let r = w
        .commit(
            off,
            total,
            &d,
            &[("containerd.io/gc.root", "x"), ("kind", "layer")],
        )
        .await
        .unwrap();
    assert_eq!((r.digest.as_str(), r.offset), (d.as_str(), total));

    let i = info(&mut s.client, &d).await.unwrap();
    assert_eq!(i.size, total);
    assert_eq!(
        i.labels.get("containerd.io/gc.root").map(String::as_str),
        Some("x")
    );
    assert_eq!(read(&mut s.client, &d, 0, 0).await.unwrap(), data);
    assert_eq!(
        read(&mut s.client, &d, 1_000_000, 10).await.unwrap(),
        &data[1_000_000..1_000_010]
    );
    assert_eq!(
        read(&mut s.client, &d, 2_499_990, 100).await.unwrap(),
        &data[2_499_990..]
    );
    let err = read(&mut s.client, &d, total + 1, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);

    let list = |filters: Vec<&str>| {
        let mut c = s.client.clone();
        let filters = filters.into_iter().map(String::from).collect();
        async move {
            let mut st = c.list(ListContentRequest { filters }).await?.into_inner();
            let mut all = Vec::new();
            while let Some(m) = st.message().await? {
                all.extend(m.info.into_iter().map(|i| i.digest));
            }
            Ok::<_, tonic::Status>(all)
        }
    };
    assert_eq!(list(vec![]).await.unwrap(), vec![d.clone()]);
    assert_eq!(
        list(vec!["labels.kind==layer"]).await.unwrap(),
        vec![d.clone()]
    );
    assert!(list(vec!["labels.kind==config"]).await.unwrap().is_empty());
    assert_eq!(
        list(vec!["labels.kind=="]).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    s.client
        .delete(DeleteContentRequest { digest: d.clone() })
        .await
        .unwrap();
    let err = info(&mut s.client, &d).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), format!("content digest {d}: not found"));
    let err = s
        .client
        .delete(DeleteContentRequest { digest: d.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = info(&mut s.client, "sha256:nothex").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn second_stream_on_a_ref_is_unavailable_while_the_first_is_open() {
    let mut s = serve().await;
    let (first, _) = WriteSession::open(&mut s.client, "default/3/layer-x", 0, "")
        .await
        .unwrap();
    let err = WriteSession::open(&mut s.client, "default/3/layer-x", 0, "")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.message()
            .starts_with("ref default/3/layer-x locked for "),
        "{}",
        err.message()
    );
    assert!(
        err.message().ends_with("): unavailable"),
        "{}",
        err.message()
    );
    drop(first);
    // The server releases the ref when the first stream ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match WriteSession::open(&mut s.client, "default/3/layer-x", 0, "").await {
            Ok(_) => break,
            Err(e) if e.code() == Code::Unavailable && std::time::Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(e) => panic!("ref never released: {e}"),
        }
    }
}

#[tokio::test]
async fn wrong_digest_is_failed_precondition_and_the_ingest_can_be_listed_and_aborted() {
    let mut s = serve().await;
    let data = blob(1000);
    let wrong = Digest::of(b"other").to_string();
    let (mut w, _) = WriteSession::open(&mut s.client, "bad", 0, "")
        .await
        .unwrap();
    w.write(0, &data).await.unwrap();
    let err = w.commit(1000, 1000, &wrong, &[]).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("unexpected commit digest"),
        "{}",
        err.message()
    );
    assert_eq!(
        info(&mut s.client, &Digest::of(&data).to_string())
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let st = s
        .client
        .status(StatusRequest {
            r#ref: "bad".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.status.unwrap().offset, 1000);
    let sts = s
        .client
        .list_statuses(ListStatusesRequest {
            filters: vec!["ref==bad".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .statuses;
    assert_eq!(sts.len(), 1);
    let none = s
        .client
        .list_statuses(ListStatusesRequest {
            filters: vec!["ref==good".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.statuses.is_empty());
    s.client
        .abort(AbortRequest {
            r#ref: "bad".into(),
        })
        .await
        .unwrap();
    let err = s
        .client
        .status(StatusRequest {
            r#ref: "bad".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .client
        .abort(AbortRequest {
            r#ref: "bad".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn same_digest_from_two_streams_gives_one_blob_and_already_exists() {
    let mut s = serve().await;
    let data = blob(4096);
    let d = Digest::of(&data).to_string();
    let (mut a, _) = WriteSession::open(&mut s.client, "a", 4096, &d)
        .await
        .unwrap();
    let (mut b, _) = WriteSession::open(&mut s.client, "b", 4096, &d)
        .await
        .unwrap();
    a.write(0, &data).await.unwrap();
    b.write(0, &data).await.unwrap();
    a.commit(4096, 4096, &d, &[]).await.unwrap();
    // containerd answers the second commit of existing content with AlreadyExists, which
    // its clients treat as success.
    let err = b.commit(4096, 4096, &d, &[]).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(err.message(), format!("content {d}: already exists"));
    assert_eq!(s.store.list::<&str>(&[]).unwrap().len(), 1);
    assert!(s.store.list_statuses::<&str>(&[]).unwrap().is_empty());
    // A new writer naming existing content is told at once.
    let err = WriteSession::open(&mut s.client, "c", 4096, &d)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn interrupted_stream_resumes_at_its_offset_and_bad_offsets_are_out_of_range() {
    let mut s = serve().await;
    let data = blob(3000);
    let d = Digest::of(&data).to_string();
    let (mut w, _) = WriteSession::open(&mut s.client, "resume", 3000, &d)
        .await
        .unwrap();
    w.write(0, &data[..1200]).await.unwrap();
    drop(w);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut w, stat) = loop {
        match WriteSession::open(&mut s.client, "resume", 3000, &d).await {
            Ok(x) => break x,
            Err(e) if e.code() == Code::Unavailable && std::time::Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(stat.offset, 1200);
    assert_eq!(stat.digest, Digest::of(&data[..1200]).to_string());
    let err = w.write(1000, &data[1000..]).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);
    assert_eq!(
        err.message(),
        "write @1000 must occur at current offset 1200: out of range"
    );

    let (mut w, stat) = WriteSession::open(&mut s.client, "resume", 3000, &d)
        .await
        .unwrap();
    assert_eq!(stat.offset, 1200);
    w.write(1200, &data[1200..]).await.unwrap();
    let r = w.commit(3000, 3000, &d, &[]).await.unwrap();
    assert_eq!(r.digest, d);
    assert_eq!(read(&mut s.client, &d, 0, 0).await.unwrap(), data);
}

#[tokio::test]
async fn update_changes_labels_and_a_corrupt_blob_read_ends_in_data_loss() {
    let mut s = serve().await;
    let data = blob(3 << 20);
    let d = Digest::of(&data).to_string();
    let (mut w, _) = WriteSession::open(&mut s.client, "u", 0, "").await.unwrap();
    w.write(0, &data).await.unwrap();
    w.commit(data.len() as i64, 0, "", &[("a", "1"), ("b", "2")])
        .await
        .unwrap();

    let mut new = info(&mut s.client, &d).await.unwrap();
    new.labels = [("a".to_string(), "9".to_string())].into();
    let updated = s
        .client
        .update(UpdateRequest {
            info: Some(new),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["labels.a".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .info
        .unwrap();
    let mut got: Vec<_> = updated.labels.into_iter().collect();
    got.sort();
    assert_eq!(got, [("a".into(), "9".into()), ("b".into(), "2".into())]);

    let path = s.store.blob_path(&d.parse().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[42] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = read(&mut s.client, &d, 0, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::DataLoss);
    assert!(err.message().contains("is corrupt"), "{}", err.message());
}

#[tokio::test]
async fn list_streams_large_stores_in_batches_and_filters_statuses_by_expression() {
    let mut s = serve().await;
    let mut want = Vec::new();
    // Blobs placed straight into the layout (as an OCI tool would) are listed like committed
    // ones; this also keeps 250 commits' fsyncs out of the test.
    for i in 0..250u32 {
        let d = Digest::of(&i.to_le_bytes());
        std::fs::write(s.store.blob_path(&d), i.to_le_bytes()).unwrap();
        want.push(d.to_string());
    }
    want.sort();
    let mut st = s
        .client
        .list(ListContentRequest { filters: vec![] })
        .await
        .unwrap()
        .into_inner();
    let (mut got, mut messages) = (Vec::new(), 0);
    while let Some(m) = st.message().await.unwrap() {
        messages += 1;
        got.extend(m.info.into_iter().map(|i| i.digest));
    }
    assert_eq!(got, want);
    assert!(messages >= 3, "{messages} messages for 250 infos");

    for r in ["pull/layer-1", "pull/layer-2", "push/config"] {
        drop(s.store.writer(r, None, None).unwrap());
    }
    let refs = |filters: Vec<&str>| {
        let mut c = s.client.clone();
        let filters = filters.into_iter().map(String::from).collect();
        async move {
            let r = c
                .list_statuses(ListStatusesRequest { filters })
                .await
                .unwrap();
            r.into_inner()
                .statuses
                .into_iter()
                .map(|s| s.r#ref)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        refs(vec!["ref~=^pull/"]).await,
        ["pull/layer-1", "pull/layer-2"]
    );
    assert_eq!(
        refs(vec!["ref==push/config", "ref~=2$"]).await,
        ["pull/layer-2", "push/config"]
    );
    assert_eq!(refs(vec![]).await.len(), 3);
}
