//! Pulls from a scripted registry: every blob verified and committed, present blobs skipped,
//! broken downloads resumed with Range, and bad input refused with nothing left half-written.

mod common;

use common::fake::{Fake, Route};
use common::{client, entries, gzip, image, layer_tar, rt, serve, zstd, Blob};
use dm_content::Store;
use dm_image::{pull, Event, Platform, Progress, PullOptions, Reference, RegistryError};
use dm_testkit::TempDir;
use serde_json::json;
use std::sync::{Arc, Mutex};

const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_ZST: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

fn three_layers() -> common::Image {
    let (a, b, c) = (
        layer_tar(&[("a", b"plain")]),
        layer_tar(&[("b", &[7u8; 100_000])]),
        layer_tar(&[("c", b"zstd")]),
    );
    image(vec![
        (OCI_TAR, a.clone(), a),
        (OCI_GZ, gzip(&b), b),
        (DOCKER_ZST, zstd(&c), c),
    ])
}

/// Pulls `name` from `fake`, collecting the events.
fn pull_from(
    fake: &Fake,
    store: &Store,
    name: &str,
    opts: &PullOptions,
) -> (Result<dm_image::Pulled, RegistryError>, Vec<Event>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let progress = Progress::new(move |e| ev.lock().unwrap().push(e.clone()));
    let r: Reference = format!("{}/{name}", fake.addr).parse().unwrap();
    let out = rt().block_on(pull(&client(), store, &r, opts, &progress));
    let events = events.lock().unwrap().clone();
    (out, events)
}

fn blob_gets(fake: &Fake) -> usize {
    fake.log().iter().filter(|l| l.contains("/blobs/")).count()
}

#[test]
fn pull_commits_every_blob_verified_and_skips_present_ones() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let img = three_layers();
    serve(&fake, "t/app", "v1", &img);

    let (pulled, events) = pull_from(&fake, &store, "t/app:v1", &PullOptions::default());
    let pulled = pulled.unwrap();
    assert_eq!(pulled.manifest.digest, img.manifest.digest());
    assert_eq!(pulled.config.digest, img.config.digest());
    assert_eq!(pulled.layers.len(), 3);
    for b in [&img.manifest, &img.config].into_iter().chain(&img.layers) {
        let mut got = Vec::new();
        store
            .read(&b.digest(), 0, None, 1 << 16, |_, d| {
                got.extend(d);
                true
            })
            .unwrap();
        assert_eq!(got, b.bytes, "{} stored byte for byte", b.digest());
    }
    let done = events
        .iter()
        .filter(|e| matches!(e, Event::Done { .. }))
        .count();
    assert_eq!(done, 4, "config and three layers downloaded: {events:?}");
    assert_eq!(blob_gets(&fake), 4);

    let (again, events) = pull_from(&fake, &store, "t/app:v1", &PullOptions::default());
    assert_eq!(again.unwrap().manifest.digest, img.manifest.digest());
    assert_eq!(blob_gets(&fake), 4, "no blob fetched twice");
    let exists = events
        .iter()
        .filter(|e| matches!(e, Event::Exists { .. }))
        .count();
    assert_eq!(exists, 4, "{events:?}");
    assert!(entries(&dir.path().join("content/ingest")).is_empty());
}

#[test]
fn a_connection_cut_mid_blob_is_resumed_with_range() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let img = three_layers();
    serve(&fake, "t/app", "v1", &img);
    let big = &img.layers[1];
    fake.route(
        &format!("t/app/blobs/{}", big.digest()),
        Route {
            content_type: big.media_type.clone(),
            body: big.bytes.clone(),
            cut_first_after: Some(50),
            ..Default::default()
        },
    );
    let (pulled, _) = pull_from(&fake, &store, "t/app:v1", &PullOptions::default());
    pulled.unwrap();
    assert_eq!(store.size(&big.digest()).unwrap(), big.bytes.len() as u64);
    let gets: Vec<String> = fake
        .log()
        .into_iter()
        .filter(|l| l.contains(&big.digest().to_string()))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets[1].contains(" Some(50) "),
        "the second request resumes at byte 50: {gets:?}"
    );
}

/// Serves `img` with `bad` in place of layer 0's bytes and expects the pull to fail with
/// `want` in its message and no blob or ingest of that layer left.
fn refused_layer(bad: Vec<u8>, want: &str) {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let img = three_layers();
    serve(&fake, "t/app", "v1", &img);
    let layer = &img.layers[0];
    fake.route(
        &format!("t/app/blobs/{}", layer.digest()),
        Route {
            content_type: layer.media_type.clone(),
            body: bad,
            ..Default::default()
        },
    );
    let (pulled, _) = pull_from(&fake, &store, "t/app:v1", &PullOptions::default());
    let e = pulled.unwrap_err().to_string();
    assert!(e.contains(want), "{e}");
    assert!(
        e.contains(&layer.digest().to_string()),
        "names the blob: {e}"
    );
    assert!(
        store.size(&layer.digest()).is_err(),
        "the bad layer is not stored"
    );
    assert!(
        store.size(&img.manifest.digest()).is_err(),
        "nor the manifest naming it"
    );
    assert!(
        entries(&dir.path().join("content/ingest")).is_empty(),
        "no ingest left"
    );
}

#[test]
fn a_blob_with_the_wrong_bytes_is_refused() {
    let mut bytes = three_layers().layers[0].bytes.clone();
    bytes[600] ^= 1;
    refused_layer(bytes, "content has digest");
}

#[test]
fn a_truncated_blob_fails_after_the_resumes() {
    let mut bytes = three_layers().layers[0].bytes.clone();
    bytes.truncate(300);
    refused_layer(bytes, "got 300 bytes, descriptor says");
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused() {
    let mut bytes = three_layers().layers[0].bytes.clone();
    bytes.extend_from_slice(b"trailing");
    refused_layer(bytes, "descriptor says");
}

fn manifest_route(body: Vec<u8>, content_type: &str) -> Route {
    Route {
        content_type: content_type.into(),
        body,
        ..Default::default()
    }
}

#[test]
fn bad_manifests_are_refused_naming_why() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let huge = vec![b' '; (dm_image::MAX_MANIFEST + 1) as usize];
    fake.route(
        "t/huge/manifests/latest",
        manifest_route(huge, "application/vnd.oci.image.manifest.v1+json"),
    );
    let v1 = br#"{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}"#.to_vec();
    fake.route(
        "t/v1/manifests/latest",
        manifest_route(
            v1,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    );
    let mut odd = three_layers();
    odd.layers[1].media_type = "application/x-foo".into();
    let odd = image(vec![
        (
            OCI_TAR,
            odd.layers[0].bytes.clone(),
            odd.layers[0].bytes.clone(),
        ),
        ("application/x-foo", b"foo".to_vec(), b"foo".to_vec()),
    ]);
    serve(&fake, "t/odd", "latest", &odd);
    let cases = [
        ("t/huge", "larger than the 4194304-byte limit".to_owned()),
        (
            "t/v1",
            "unsupported media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\""
                .to_owned(),
        ),
        (
            "t/odd",
            format!("layer 1 ({})", Blob::new("", b"foo".to_vec()).digest()),
        ),
        ("t/none", "latest: not found in".to_owned()),
    ];
    for (name, want) in cases {
        let (pulled, _) = pull_from(&fake, &store, name, &PullOptions::default());
        let e = pulled.unwrap_err().to_string();
        assert!(e.contains(&want), "{name}: {e}");
    }
    assert!(
        store.list::<&str>(&[]).unwrap().is_empty(),
        "nothing stored"
    );
}

#[test]
fn an_index_is_resolved_to_the_wanted_platform() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let amd = three_layers();
    let arm = image(vec![(
        OCI_TAR,
        layer_tar(&[("arm", b"64")]),
        layer_tar(&[("arm", b"64")]),
    )]);
    serve(&fake, "t/multi", "amd", &amd);
    serve(&fake, "t/multi", "arm", &arm);
    let entry = |img: &common::Image, arch: &str| {
        let mut d = img.manifest.descriptor();
        d["platform"] = json!({"os": "linux", "architecture": arch});
        d
    };
    let index =
        json!({"schemaVersion": 2, "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")]});
    let list = "application/vnd.docker.distribution.manifest.list.v2+json";
    fake.route(
        "t/multi/manifests/latest",
        manifest_route(serde_json::to_vec(&index).unwrap(), list),
    );

    let (pulled, _) = pull_from(&fake, &store, "t/multi", &PullOptions::default());
    let pulled = pulled.unwrap();
    assert_eq!(
        pulled.manifest.digest,
        amd.manifest.digest(),
        "linux/amd64 by default"
    );
    let index_digest = pulled.index.unwrap().digest;
    assert!(store.size(&index_digest).is_ok(), "the index is stored too");

    let opts = PullOptions {
        platform: "linux/arm64".parse::<Platform>().unwrap(),
        ..Default::default()
    };
    let (pulled, _) = pull_from(&fake, &store, "t/multi", &opts);
    assert_eq!(pulled.unwrap().manifest.digest, arm.manifest.digest());

    let opts = PullOptions {
        platform: "linux/s390x".parse::<Platform>().unwrap(),
        ..Default::default()
    };
    let e = pull_from(&fake, &store, "t/multi", &opts)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no manifest for platform linux/s390x")
            && e.contains("linux/arm64, linux/amd64"),
        "{e}"
    );
}

#[test]
fn a_401_without_credentials_says_so() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let challenge = (
        "401 Unauthorized",
        "WWW-Authenticate: Basic realm=\"x\"".to_owned(),
    );
    fake.route(
        "t/secret/manifests/latest",
        Route {
            status: Some(challenge),
            ..Default::default()
        },
    );
    let e = pull_from(&fake, &store, "t/secret", &PullOptions::default())
        .0
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&format!("no credentials for {}", fake.addr)),
        "{e}"
    );
}

#[test]
fn a_registry_that_stops_answering_times_out() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    // Connections are accepted by the kernel and then never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let r: Reference = format!("{addr}/t/app").parse().unwrap();
    let e = rt()
        .block_on(pull(
            &client(),
            &store,
            &r,
            &PullOptions::default(),
            &Progress::default(),
        ))
        .unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(store.list::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn bearer_tokens_are_fetched_with_the_scope_and_credentials() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let img = three_layers();
    serve(&fake, "t/app", "v1", &img);
    let challenge = format!(
        r#"Bearer realm="http://{}/token",service="fake",scope="repository:t/app:pull""#,
        fake.addr
    );
    let guard = |path: &str, b: &common::Blob| {
        fake.route(
            path,
            Route {
                content_type: b.media_type.clone(),
                body: b.bytes.clone(),
                auth: Some(("Bearer tok-1".into(), challenge.clone())),
                ..Default::default()
            },
        )
    };
    guard("t/app/manifests/v1", &img.manifest);
    for b in std::iter::once(&img.config).chain(&img.layers) {
        guard(&format!("t/app/blobs/{}", b.digest()), b);
    }
    let creds = dm_image::Credentials {
        identity_token: None,
        username: "u".into(),
        password: "p".into(),
    };
    fake.route_abs(
        "/token",
        Route {
            content_type: "application/json".into(),
            body: br#"{"token":"tok-1","expires_in":300}"#.to_vec(),
            auth: Some((creds.basic_header(), "Basic realm=\"t\"".into())),
            ..Default::default()
        },
    );
    let opts = dm_image::ClientOptions {
        auth: dm_image::AuthFile::single(&fake.addr, creds),
        ..Default::default()
    };
    let r: Reference = format!("{}/t/app:v1", fake.addr).parse().unwrap();
    let client = dm_image::Client::new(opts);
    rt().block_on(pull(
        &client,
        &store,
        &r,
        &PullOptions::default(),
        &Progress::default(),
    ))
    .unwrap();
    let log = fake.log();
    let tokens: Vec<&String> = log.iter().filter(|l| l.contains("/token")).collect();
    assert_eq!(tokens.len(), 1, "one token for the whole pull: {log:#?}");
    assert!(
        tokens[0].contains("service=fake&scope=repository%3At%2Fapp%3Apull"),
        "{tokens:?}"
    );
    let blob_gets: Vec<&String> = log.iter().filter(|l| l.contains("/blobs/")).collect();
    assert!(
        blob_gets.iter().all(|l| l.contains("Bearer tok-1")),
        "{blob_gets:#?}"
    );
}

#[test]
fn an_identity_token_from_the_auth_file_is_exchanged_by_oauth2_post() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let fake = Fake::start();
    let img = three_layers();
    let challenge = format!(
        r#"Bearer realm="http://{}/token",service="fake",scope="repository:t/app:pull""#,
        fake.addr
    );
    let guard = |path: &str, b: &common::Blob| {
        fake.route(
            path,
            Route {
                content_type: b.media_type.clone(),
                body: b.bytes.clone(),
                auth: Some(("Bearer access-1".into(), challenge.clone())),
                ..Default::default()
            },
        )
    };
    guard("t/app/manifests/v1", &img.manifest);
    for b in std::iter::once(&img.config).chain(&img.layers) {
        guard(&format!("t/app/blobs/{}", b.digest()), b);
    }
    fake.route_abs(
        "/token",
        Route {
            content_type: "application/json".into(),
            body: br#"{"access_token":"access-1","expires_in":300}"#.to_vec(),
            form: Some("grant_type=refresh_token&client_id=dockermind&refresh_token=rt-1".into()),
            ..Default::default()
        },
    );
    let auth_file = dir.path().join("config.json");
    std::fs::write(
        &auth_file,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"rt-1"}}}}}}"#,
            fake.addr
        ),
    )
    .unwrap();
    let opts = dm_image::ClientOptions {
        auth: dm_image::AuthFile::load(&auth_file, false).unwrap(),
        ..Default::default()
    };
    let r: Reference = format!("{}/t/app:v1", fake.addr).parse().unwrap();
    rt().block_on(pull(
        &dm_image::Client::new(opts),
        &store,
        &r,
        &PullOptions::default(),
        &Progress::default(),
    ))
    .unwrap();
    let log = fake.log();
    let tokens: Vec<&String> = log.iter().filter(|l| l.contains("/token")).collect();
    assert_eq!(tokens.len(), 1, "{log:#?}");
    assert!(
        tokens[0].starts_with("POST /token ")
            && tokens[0].contains("service=fake")
            && tokens[0].contains("scope=repository%3At%2Fapp%3Apull")
            && tokens[0].ends_with("None body=grant_type=refresh_token&client_id=dockermind&refresh_token=rt-1&service=fake&scope=repository%3At%2Fapp%3Apull"),
        "the refresh token goes in the form, never in a header: {tokens:?}"
    );
    assert_eq!(store.list::<&str>(&[]).unwrap().len(), 5);
}

#[test]
fn blob_redirects_are_followed_without_the_registry_credentials() {
    let dir = TempDir::new("dm-image-pull");
    let store = Store::open(dir.path().join("content")).unwrap();
    let (registry, storage) = (Fake::start(), Fake::start());
    let img = three_layers();
    let creds = dm_image::Credentials {
        identity_token: None,
        username: "u".into(),
        password: "p".into(),
    };
    let guarded = |b: &common::Blob, redirect: Option<String>| Route {
        content_type: b.media_type.clone(),
        body: b.bytes.clone(),
        auth: Some((creds.basic_header(), "Basic realm=\"r\"".into())),
        redirect,
        ..Default::default()
    };
    registry.route("t/app/manifests/v1", guarded(&img.manifest, None));
    for b in std::iter::once(&img.config).chain(&img.layers) {
        let at = format!("/objects/{}", b.digest().hex());
        let to = format!("http://{}{at}", storage.addr);
        registry.route(&format!("t/app/blobs/{}", b.digest()), guarded(b, Some(to)));
        storage.route_abs(
            &at,
            Route {
                content_type: "application/octet-stream".into(),
                body: b.bytes.clone(),
                ..Default::default()
            },
        );
    }
    let opts = dm_image::ClientOptions {
        auth: dm_image::AuthFile::single(&registry.addr, creds),
        ..Default::default()
    };
    let r: Reference = format!("{}/t/app:v1", registry.addr).parse().unwrap();
    rt().block_on(pull(
        &dm_image::Client::new(opts),
        &store,
        &r,
        &PullOptions::default(),
        &Progress::default(),
    ))
    .unwrap();
    let fetched = storage.log();
    assert_eq!(
        fetched.iter().filter(|l| l.contains("/objects/")).count(),
        4,
        "{fetched:#?}"
    );
    assert!(
        fetched.iter().all(|l| l.ends_with(" None")),
        "no Authorization to another host: {fetched:#?}"
    );
}
