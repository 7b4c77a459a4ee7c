//! Repository records (tags, manifest links) are renamed into place without fsync; one that
//! lost its bytes in a power cut is read as no tag, or takes its media type from the manifest.

mod common;

use common::{digest, image_manifest, push_blob, Server};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[test]
fn records_that_lost_their_bytes_read_as_absent_or_from_the_manifest() {
    let s = Server::start(&[]);
    let (config, layer) = (&b"{\"rec\":1}"[..], &b"records"[..]);
    push_blob(&s, "rec", config);
    push_blob(&s, "rec", layer);
    let m = String::from_utf8(image_manifest(config, &[layer]))
        .unwrap()
        .replace(
            "application/vnd.oci.image.manifest.v1+json",
            DOCKER_MANIFEST,
        )
        .into_bytes();
    for tag in ["v1", "v2"] {
        let r = s.req(
            "PUT",
            &format!("/v2/rec/manifests/{tag}"),
            &[("Content-Type", DOCKER_MANIFEST)],
            &m,
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    let d = digest(&m);
    let repo = s.dir.path().join("root/repos/rec");
    let hex = d.strip_prefix("sha256:").unwrap();
    std::fs::write(repo.join("_manifests/sha256").join(hex), b"").unwrap();
    std::fs::write(repo.join("_tags/v2"), b"").unwrap();

    let g = s.req("GET", "/v2/rec/manifests/v1", &[], b"");
    assert_eq!(g.status, 200, "{g:?}");
    assert_eq!(
        g.h("content-type"),
        DOCKER_MANIFEST,
        "from the manifest body"
    );
    assert!(g.body == m);
    let g = s.req("GET", "/v2/rec/manifests/v2", &[], b"");
    assert_eq!(
        (g.status, g.code()),
        (404, "MANIFEST_UNKNOWN".into()),
        "{g:?}"
    );
    let tags = s.req("GET", "/v2/rec/tags/list", &[], b"").json();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    // Pushing the tag again repairs it.
    let r = s.req(
        "PUT",
        "/v2/rec/manifests/v2",
        &[("Content-Type", DOCKER_MANIFEST)],
        &m,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(s.req("GET", "/v2/rec/manifests/v2", &[], b"").status, 200);
}
