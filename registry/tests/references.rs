//! Manifest references that are no valid tag or digest: nothing can be stored under them, so
//! reading or deleting one answers 404 MANIFEST_UNKNOWN (what distribution answers and the
//! distribution-spec conformance suite v1.1 expects), while a push to one is refused with 400.

mod common;

use common::{image_manifest, push_blob, Server};

#[test]
fn reading_an_invalid_manifest_reference_is_404_and_pushing_to_it_is_400() {
    let s = Server::start(&[]);
    let config = &b"{\"refs\":1}"[..];
    push_blob(&s, "refs", config);
    for method in ["GET", "HEAD", "DELETE"] {
        for reference in [".INVALID_MANIFEST_NAME", "sha256:totallywrong"] {
            let r = s.req(method, &format!("/v2/refs/manifests/{reference}"), &[], b"");
            assert_eq!(r.status, 404, "{method} {reference}: {r:?}");
            if method != "HEAD" {
                assert_eq!(r.code(), "MANIFEST_UNKNOWN", "{r:?}");
                let msg = r.json()["errors"][0]["message"].to_string();
                assert!(msg.contains(reference), "names the reference: {msg}");
            }
        }
    }
    let m = image_manifest(config, &[]);
    let ct = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    let r = s.req("PUT", "/v2/refs/manifests/.INVALID_MANIFEST_NAME", &ct, &m);
    assert_eq!((r.status, r.code()), (400, "NAME_INVALID".into()), "{r:?}");
    let r = s.req("PUT", "/v2/refs/manifests/sha256:totallywrong", &ct, &m);
    assert_eq!(
        (r.status, r.code()),
        (400, "DIGEST_INVALID".into()),
        "{r:?}"
    );
    // An invalid repository name stays a 400 on reads too.
    let r = s.req("GET", "/v2/Bad_Name/manifests/latest", &[], b"");
    assert_eq!((r.status, r.code()), (400, "NAME_INVALID".into()), "{r:?}");
}
