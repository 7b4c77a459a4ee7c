//! Tags pushed as `?tag=` parameters of a manifest push by digest (distribution-spec: the
//! registry names the tags it applied in `OCI-Tag`), as the conformance suite's "Tag Param"
//! data tests push them, with sha256 and sha512 manifests.

mod common;

use common::{image_manifest, push_blob, Server};
use dm_content::{Algorithm, Digest};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn a_push_by_digest_applies_tag_parameters_and_names_them_in_oci_tag() {
    let s = Server::start(&[]);
    let (config, layer) = (&b"{\"tp\":1}"[..], &b"tag params"[..]);
    push_blob(&s, "tp", config);
    push_blob(&s, "tp", layer);
    let m = image_manifest(config, &[layer]);
    let ct = [("Content-Type", OCI_MANIFEST)];

    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let d = Digest::of_with(alg, &m).to_string();
        let (a, b) = (format!("{alg:?}-a"), format!("{alg:?}-b.1"));
        let r = s.req(
            "PUT",
            &format!("/v2/tp/manifests/{d}?tag={a}&tag={b}&tag={a}"),
            &ct,
            &m,
        );
        assert_eq!(r.status, 201, "{r:?}");
        assert_eq!(
            r.h("docker-content-digest"),
            d,
            "the digest the client chose"
        );
        assert_eq!(r.h("oci-tag"), format!("{a}, {b}"));
        for t in [&a, &b] {
            let g = s.req("GET", &format!("/v2/tp/manifests/{t}"), &[], b"");
            assert_eq!(g.status, 200, "{g:?}");
            assert!(g.body == m, "tag {t} serves the pushed bytes");
            assert_eq!(g.h("docker-content-digest"), d, "tag {t} keeps the digest");
        }
    }
    let tags = s.req("GET", "/v2/tp/tags/list", &[], b"").json();
    assert_eq!(tags["tags"].as_array().unwrap().len(), 4, "{tags}");

    // A bad tag, tags on a push by tag: 400 naming the parameter, and nothing stored.
    let other = image_manifest(config, &[]);
    let d = Digest::of(&other).to_string();
    for path in [
        format!("/v2/tp/manifests/{d}?tag=ok&tag=-bad"),
        "/v2/tp/manifests/v9?tag=also".to_owned(),
    ] {
        let r = s.req("PUT", &path, &ct, &other);
        assert_eq!((r.status, r.code()), (400, "UNSUPPORTED".into()), "{r:?}");
        assert!(
            r.json()["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("parameter tag"),
            "{r:?}"
        );
    }
    for reference in [d.as_str(), "ok", "v9", "also"] {
        let g = s.req("GET", &format!("/v2/tp/manifests/{reference}"), &[], b"");
        assert_eq!(g.status, 404, "{reference}: {g:?}");
    }
}
