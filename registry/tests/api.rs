//! The distribution-spec API as a client sees it on the wire: a dm-registry per test, raw
//! HTTP/1.1 requests, status codes, headers and error bodies checked.

mod common;

use common::{digest, image_manifest, push_blob, request, Server};
use std::io::Write;
use std::net::TcpStream;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn version_check_health_and_metrics() {
    let s = Server::start(&[]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.h("docker-distribution-api-version"), "registry/2.0");
    assert_eq!(s.req("GET", "/healthz", &[], b"").status, 200);
    let m = String::from_utf8(s.req("GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        m.contains(r#"dm_registry_requests_total{method="GET",route="base",status="200"} 1"#),
        "{m}"
    );
    assert!(s.log().contains("route=base status=200"), "{}", s.log());
    let r = s.req("GET", "/v2/nothing/here", &[], b"");
    assert_eq!(r.status, 404);
}

#[test]
fn monolithic_push_then_pull_with_head_and_ranges() {
    let s = Server::start(&[]);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let d = push_blob(&s, "a/b", &data);
    let head = s.req("HEAD", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.h("content-length"), data.len().to_string());
    assert_eq!(head.h("docker-content-digest"), d);
    assert!(head.body.is_empty());
    let get = s.req("GET", &format!("/v2/a/b/blobs/{d}"), &[], b"");
    assert_eq!(get.status, 200);
    assert!(get.body == data, "pulled bytes differ");

    let part = s.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=10-19")],
        b"",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[10..20]);
    assert_eq!(
        part.h("content-range"),
        format!("bytes 10-19/{}", data.len())
    );
    let tail = s.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=-5")],
        b"",
    );
    assert_eq!(tail.body, &data[data.len() - 5..]);

    let bad = s.req(
        "GET",
        &format!("/v2/a/b/blobs/{d}"),
        &[("Range", "bytes=999999-")],
        b"",
    );
    assert_eq!(bad.status, 416);
    assert_eq!(bad.code(), "RANGE_INVALID");
    assert_eq!(bad.h("content-range"), format!("bytes */{}", data.len()));

    // The bytes are stored once, but only the repository they were pushed to holds them.
    let other = s.req("GET", &format!("/v2/other/blobs/{d}"), &[], b"");
    assert_eq!(other.status, 404);
    assert_eq!(other.code(), "BLOB_UNKNOWN");
}

#[test]
fn chunked_upload_with_status_out_of_order_chunk_and_resume_after_a_dropped_connection() {
    let s = Server::start(&[]);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let start = s.req("POST", "/v2/repo/blobs/uploads/", &[], b"");
    assert_eq!(start.status, 202);
    let loc = start.h("location").to_owned();
    assert!(loc.starts_with("/v2/repo/blobs/uploads/"), "{loc}");
    assert_eq!(start.h("range"), "0-0");

    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "0-49999")],
        &data[..50_000],
    );
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.h("range"), "0-49999");
    let st = s.req("GET", &loc, &[], b"");
    assert_eq!(st.status, 204);
    assert_eq!(st.h("range"), "0-49999");

    // A chunk that does not start where the upload is gets 416 and the current range.
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "60000-60009")],
        &data[60_000..60_010],
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.code(), "RANGE_INVALID");
    assert_eq!(r.h("range"), "0-49999");

    // A chunk whose connection drops midway: 100 000 bytes announced, 30 000 sent.
    let mut c = TcpStream::connect(&s.addr).unwrap();
    write!(
        c,
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Range: 50000-149999\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    c.write_all(&data[50_000..80_000]).unwrap();
    drop(c);

    // Resume from wherever the server says the upload is (its writer is handed back once the
    // server has seen the connection end; until then the upload is busy).
    // The client resumes from wherever the server says the upload is. Until the server has
    // seen the connection end the upload is busy, or still growing (then 416 names the range).
    let end_of = |range: &str| range.split('-').nth(1).unwrap().parse::<usize>().unwrap() + 1;
    let mut offset = end_of(s.req("GET", &loc, &[], b"").h("range"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        assert!((50_000..=80_000).contains(&offset), "{offset}");
        let range = format!("{offset}-{}", data.len() - 1);
        let r = s.req("PATCH", &loc, &[("Content-Range", &range)], &data[offset..]);
        match r.status {
            202 => {
                assert_eq!(r.h("range"), format!("0-{}", data.len() - 1));
                break;
            }
            416 => offset = end_of(r.h("range")),
            _ => {
                assert_eq!(r.status, 400, "{r:?}");
                assert!(String::from_utf8_lossy(&r.body).contains("busy"), "{r:?}");
                offset = end_of(s.req("GET", &loc, &[], b"").h("range"));
            }
        }
        assert!(std::time::Instant::now() < deadline, "upload stayed busy");
    }
    let d = digest(&data);
    let r = s.req("PUT", &format!("{loc}?digest={d}"), &[], b"");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.h("location"), format!("/v2/repo/blobs/{d}"));
    assert_eq!(r.h("docker-content-digest"), d);
    let get = s.req("GET", &format!("/v2/repo/blobs/{d}"), &[], b"");
    assert!(get.body == data, "resumed upload differs");
    // The session is gone once committed.
    assert_eq!(s.req("GET", &loc, &[], b"").code(), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn a_wrong_digest_leaves_no_visible_blob_and_drops_the_upload() {
    let s = Server::start(&[]);
    let data = b"some layer bytes";
    let wrong = digest(b"other bytes");
    let r = s.req(
        "POST",
        &format!("/v2/r/blobs/uploads/?digest={wrong}"),
        &[],
        data,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "DIGEST_INVALID");
    for d in [wrong.clone(), digest(data)] {
        assert_eq!(
            s.req("HEAD", &format!("/v2/r/blobs/{d}"), &[], b"").status,
            404
        );
    }

    let loc = s
        .req("POST", "/v2/r/blobs/uploads/", &[], b"")
        .h("location")
        .to_owned();
    let r = s.req("PUT", &format!("{loc}?digest={wrong}"), &[], data);
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert_eq!(s.req("GET", &loc, &[], b"").code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(
        s.req("HEAD", &format!("/v2/r/blobs/{}", digest(data)), &[], b"")
            .status,
        404
    );

    let loc = s
        .req("POST", "/v2/r/blobs/uploads/", &[], b"")
        .h("location")
        .to_owned();
    for (q, code) in [
        ("", "DIGEST_INVALID"),
        ("?digest=sha256:abc", "DIGEST_INVALID"),
        (
            "?digest=md5:d41d8cd98f00b204e9800998ecf8427e",
            "DIGEST_INVALID",
        ),
    ] {
        let r = s.req("PUT", &format!("{loc}{q}"), &[], b"");
        assert_eq!((r.status, r.code()), (400, code.to_string()), "{q}");
    }
}

#[test]
fn manifests_by_tag_and_digest_with_validation() {
    let s = Server::start(&["--max-manifest-bytes", "4096"]);
    let (config, layer) = (&b"{}"[..], &b"layer"[..]);
    let m = image_manifest(config, &[layer]);
    let ct = [("Content-Type", OCI_MANIFEST)];

    // Blobs first: a manifest naming unknown blobs is refused and names the blob.
    let r = s.req("PUT", "/v2/img/manifests/v1", &ct, &m);
    assert_eq!((r.status, r.code()), (400, "MANIFEST_BLOB_UNKNOWN".into()));
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], digest(config));
    push_blob(&s, "img", config);
    push_blob(&s, "img", layer);

    let r = s.req("PUT", "/v2/img/manifests/v1", &ct, &m);
    assert_eq!(r.status, 201, "{r:?}");
    let d = digest(&m);
    assert_eq!(r.h("docker-content-digest"), d);
    assert_eq!(r.h("location"), format!("/v2/img/manifests/{d}"));
    for reference in ["v1", d.as_str()] {
        let g = s.req("GET", &format!("/v2/img/manifests/{reference}"), &[], b"");
        assert_eq!(g.status, 200);
        assert_eq!(g.h("content-type"), OCI_MANIFEST);
        assert_eq!(g.h("docker-content-digest"), d);
        assert!(g.body == m, "manifest bytes changed");
        let h = s.req("HEAD", &format!("/v2/img/manifests/{reference}"), &[], b"");
        assert_eq!(
            (h.status, h.h("content-length")),
            (200, m.len().to_string().as_str())
        );
    }

    // The Docker media type is kept and served back as pushed.
    let docker = String::from_utf8(m.clone()).unwrap().replace(
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    let dt = "application/vnd.docker.distribution.manifest.v2+json";
    let r = s.req(
        "PUT",
        "/v2/img/manifests/docker",
        &[("Content-Type", dt)],
        docker.as_bytes(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let g = s.req("GET", "/v2/img/manifests/docker", &[], b"");
    assert_eq!(g.h("content-type"), dt);

    // Garbage.
    let wrong = digest(b"x");
    let big = vec![b' '; 5000];
    for (path, ctype, body, status, code) in [
        (
            "/v2/img/manifests/v2",
            OCI_MANIFEST,
            &b"{not json"[..],
            400,
            "MANIFEST_INVALID",
        ),
        ("/v2/img/manifests/v2", dt, &m[..], 400, "MANIFEST_INVALID"),
        (
            &format!("/v2/img/manifests/{wrong}"),
            OCI_MANIFEST,
            &m[..],
            400,
            "DIGEST_INVALID",
        ),
        (
            "/v2/img/manifests/v2",
            OCI_MANIFEST,
            &big[..],
            413,
            "SIZE_INVALID",
        ),
        (
            "/v2/img/manifests/-bad",
            OCI_MANIFEST,
            &m[..],
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/Img/manifests/v2",
            OCI_MANIFEST,
            &m[..],
            400,
            "NAME_INVALID",
        ),
        (
            "/v2/a/%2e%2e/manifests/v2",
            OCI_MANIFEST,
            &m[..],
            400,
            "NAME_INVALID",
        ),
    ] {
        let r = s.req("PUT", path, &[("Content-Type", ctype)], body);
        assert_eq!(
            (r.status, r.code()),
            (status, code.to_string()),
            "{path}: {r:?}"
        );
    }
    let r = s.req("GET", "/v2/img/manifests/v2", &[], b"");
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
}

#[test]
fn tag_list_and_catalog_paginate_with_n_and_last() {
    let s = Server::start(&[]);
    let (config, layer) = (&b"{\"c\":1}"[..], &b"l"[..]);
    let m = image_manifest(config, &[layer]);
    for repo in ["z/last", "a", "m/n"] {
        push_blob(&s, repo, config);
        push_blob(&s, repo, layer);
    }
    for t in ["t3", "t1", "t5", "t2", "t4"] {
        let r = s.req(
            "PUT",
            &format!("/v2/a/manifests/{t}"),
            &[("Content-Type", OCI_MANIFEST)],
            &m,
        );
        assert_eq!(r.status, 201);
    }
    let all = s.req("GET", "/v2/a/tags/list", &[], b"").json();
    assert_eq!(
        all,
        serde_json::json!({"name": "a", "tags": ["t1", "t2", "t3", "t4", "t5"]})
    );
    let p1 = s.req("GET", "/v2/a/tags/list?n=2", &[], b"");
    assert_eq!(p1.json()["tags"], serde_json::json!(["t1", "t2"]));
    assert_eq!(p1.h("link"), "</v2/a/tags/list?n=2&last=t2>; rel=\"next\"");
    let p2 = s.req("GET", "/v2/a/tags/list?n=2&last=t2", &[], b"");
    assert_eq!(p2.json()["tags"], serde_json::json!(["t3", "t4"]));
    let p3 = s.req("GET", "/v2/a/tags/list?n=2&last=t4", &[], b"");
    assert_eq!(p3.json()["tags"], serde_json::json!(["t5"]));
    assert_eq!(p3.h("link"), "");
    let r = s.req("GET", "/v2/a/tags/list?n=x", &[], b"");
    assert_eq!(r.status, 400);
    let r = s.req("GET", "/v2/nope/tags/list", &[], b"");
    assert_eq!((r.status, r.code()), (404, "NAME_UNKNOWN".into()));

    let c = s.req("GET", "/v2/_catalog", &[], b"").json();
    assert_eq!(c["repositories"], serde_json::json!(["a", "m/n", "z/last"]));
    let c = s.req("GET", "/v2/_catalog?n=1&last=a", &[], b"").json();
    assert_eq!(c["repositories"], serde_json::json!(["m/n"]));
}

#[test]
fn deletes_and_cross_repository_mount() {
    let s = Server::start(&[]);
    let (config, layer) = (&b"{}"[..], &b"mounted layer"[..]);
    let cd = push_blob(&s, "src", config);
    let ld = push_blob(&s, "src", layer);

    let r = s.req(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={ld}&from=src"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.h("location"), format!("/v2/dst/blobs/{ld}"));
    assert_eq!(
        s.req("HEAD", &format!("/v2/dst/blobs/{ld}"), &[], b"")
            .status,
        200
    );
    // Mounting from a repository that lacks the blob starts an ordinary upload instead.
    let r = s.req(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={cd}&from=nothing"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(s.req("DELETE", r.h("location"), &[], b"").status, 204);

    let m = image_manifest(config, &[layer]);
    let md = digest(&m);
    let ct = [("Content-Type", OCI_MANIFEST)];
    assert_eq!(s.req("PUT", "/v2/src/manifests/keep", &ct, &m).status, 201);
    assert_eq!(s.req("PUT", "/v2/src/manifests/drop", &ct, &m).status, 201);
    assert_eq!(
        s.req("DELETE", "/v2/src/manifests/drop", &[], b"").status,
        202
    );
    assert_eq!(s.req("GET", "/v2/src/manifests/drop", &[], b"").status, 404);
    assert_eq!(s.req("GET", "/v2/src/manifests/keep", &[], b"").status, 200);
    assert_eq!(
        s.req("DELETE", &format!("/v2/src/manifests/{md}"), &[], b"")
            .status,
        202
    );
    let r = s.req("GET", "/v2/src/manifests/keep", &[], b"");
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
    assert_eq!(
        s.req("GET", "/v2/src/tags/list", &[], b"").json()["tags"],
        serde_json::json!([])
    );

    assert_eq!(
        s.req("DELETE", &format!("/v2/src/blobs/{ld}"), &[], b"")
            .status,
        202
    );
    assert_eq!(
        s.req("HEAD", &format!("/v2/src/blobs/{ld}"), &[], b"")
            .status,
        404
    );
    // The other repository's link is untouched.
    assert_eq!(
        s.req("HEAD", &format!("/v2/dst/blobs/{ld}"), &[], b"")
            .status,
        200
    );
    let r = s.req("DELETE", &format!("/v2/src/blobs/{ld}"), &[], b"");
    assert_eq!((r.status, r.code()), (404, "BLOB_UNKNOWN".into()));
}

#[test]
fn concurrent_pushes_of_the_same_blob_all_succeed() {
    let s = Server::start(&[]);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let d = digest(&data);
    std::thread::scope(|sc| {
        for i in 0..8 {
            let (s, data, d) = (&s, &data, &d);
            sc.spawn(move || {
                let repo = format!("c{}", i % 2);
                let start = s.req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
                let loc = start.h("location").to_owned();
                for (k, part) in data.chunks(300_000).enumerate() {
                    let a = k * 300_000;
                    let range = format!("{a}-{}", a + part.len() - 1);
                    let r = s.req("PATCH", &loc, &[("Content-Range", &range)], part);
                    assert_eq!(r.status, 202, "{r:?}");
                }
                let r = s.req("PUT", &format!("{loc}?digest={d}"), &[], b"");
                assert_eq!(r.status, 201, "{r:?}");
            });
        }
    });
    for repo in ["c0", "c1"] {
        let g = s.req("GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"");
        assert!(g.body == data, "{repo}: bytes differ");
    }
}

#[test]
fn referrers_list_manifests_whose_subject_is_the_digest() {
    let s = Server::start(&[]);
    let (config, layer) = (&b"{}"[..], &b"l"[..]);
    push_blob(&s, "r", config);
    push_blob(&s, "r", layer);
    let subject = image_manifest(config, &[layer]);
    let sd = digest(&subject);
    let ct = [("Content-Type", OCI_MANIFEST)];
    assert_eq!(
        s.req("PUT", "/v2/r/manifests/v1", &ct, &subject).status,
        201
    );
    let sig = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(config), "size": 2},
        "layers": [{"mediaType": "x", "digest": digest(layer), "size": 1}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": sd, "size": subject.len()},
        "annotations": {"k": "v"},
    })
    .to_string();
    let r = s.req(
        "PUT",
        &format!("/v2/r/manifests/{}", digest(sig.as_bytes())),
        &ct,
        sig.as_bytes(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.h("oci-subject"), sd);
    let idx = s.req("GET", &format!("/v2/r/referrers/{sd}"), &[], b"");
    assert_eq!(
        idx.h("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let v = idx.json();
    assert_eq!(v["manifests"][0]["digest"], digest(sig.as_bytes()));
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    // The tag-schema fallback of clients that do not use the referrers API: an index of the
    // referrers under the tag `<alg>-<hex>` of the subject.
    let fallback_tag = sd.replace(':', "-");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest(sig.as_bytes()),
            "size": sig.len(), "artifactType": "application/vnd.example.sig"}],
    })
    .to_string();
    let r = s.req(
        "PUT",
        &format!("/v2/r/manifests/{fallback_tag}"),
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        index.as_bytes(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let g = s.req("GET", &format!("/v2/r/manifests/{fallback_tag}"), &[], b"");
    assert_eq!(g.body, index.as_bytes());
    let f = s.req(
        "GET",
        &format!("/v2/r/referrers/{sd}?artifactType=other"),
        &[],
        b"",
    );
    assert_eq!(f.h("oci-filters-applied"), "artifactType");
    assert_eq!(f.json()["manifests"], serde_json::json!([]));
}

#[test]
fn unsupported_methods_get_spec_errors() {
    let s = Server::start(&[]);
    let r = request(&s.addr, "POST", "/v2/a/tags/list", &[], b"");
    assert_eq!((r.status, r.code()), (405, "UNSUPPORTED".into()));
}

#[test]
fn an_upload_survives_a_registry_crash_and_its_blob_appears_only_when_verified() {
    let mut s = Server::start(&[]);
    let data: Vec<u8> = (0..120_000u32).map(|i| (i % 241) as u8).collect();
    let d = digest(&data);
    let loc = s
        .req("POST", "/v2/crash/blobs/uploads/", &[], b"")
        .h("location")
        .to_owned();
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "0-59999")],
        &data[..60_000],
    );
    assert_eq!(r.status, 202);
    s.crash_and_restart(&[]);
    assert_eq!(
        s.req("HEAD", &format!("/v2/crash/blobs/{d}"), &[], b"")
            .status,
        404,
        "no blob before the upload is finished"
    );
    let st = s.req("GET", &loc, &[], b"");
    assert_eq!((st.status, st.h("range")), (204, "0-59999"));
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "60000-119999")],
        &data[60_000..],
    );
    assert_eq!(r.status, 202, "{r:?}");
    let r = s.req("PUT", &format!("{loc}?digest={d}"), &[], b"");
    assert_eq!(r.status, 201, "{r:?}");
    assert!(s.req("GET", &format!("/v2/crash/blobs/{d}"), &[], b"").body == data);
}

#[test]
fn blobs_over_the_size_limit_are_refused() {
    let s = Server::start(&["--max-blob-bytes", "1000"]);
    let big = vec![7u8; 1500];
    let r = s.req(
        "POST",
        &format!("/v2/l/blobs/uploads/?digest={}", digest(&big)),
        &[],
        &big,
    );
    assert_eq!((r.status, r.code()), (413, "SIZE_INVALID".into()), "{r:?}");
    assert_eq!(
        s.req("HEAD", &format!("/v2/l/blobs/{}", digest(&big)), &[], b"")
            .status,
        404
    );
    let loc = s
        .req("POST", "/v2/l/blobs/uploads/", &[], b"")
        .h("location")
        .to_owned();
    assert_eq!(s.req("PATCH", &loc, &[], &big[..800]).status, 202);
    let r = s.req("PATCH", &loc, &[], &big[800..]);
    assert_eq!((r.status, r.code()), (413, "SIZE_INVALID".into()), "{r:?}");
    let st = s.req("GET", &loc, &[], b"");
    let end: u64 = st.h("range").split('-').nth(1).unwrap().parse().unwrap();
    assert!(end < 1000, "{st:?}");
    let ok = push_blob(&s, "l", &big[..1000]);
    assert_eq!(
        s.req("HEAD", &format!("/v2/l/blobs/{ok}"), &[], b"").status,
        200
    );
}
