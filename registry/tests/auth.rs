//! Authentication on the wire: challenges, the token endpoint's scoped tokens enforced per
//! repository and action, Basic mode, anonymous pull.

mod common;

use base64::Engine as _;
use common::{digest, Server};

fn htpasswd(s: &std::path::Path) -> String {
    let p = s.join("htpasswd");
    std::fs::write(&p, format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    p.to_str().unwrap().to_owned()
}

fn basic(user: &str, pass: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b}")
}

fn start(extra: &[&str]) -> (dm_testkit::TempDir, Server) {
    let dir = dm_testkit::TempDir::new("dm-registry-auth");
    let h = htpasswd(dir.path());
    let mut args = vec!["--htpasswd", h.as_str()];
    args.extend_from_slice(extra);
    let s = Server::start(&args);
    (dir, s)
}

fn token(s: &Server, auth: Option<&str>, scope: &str) -> String {
    let hdr: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
    let r = s.req(
        "GET",
        &format!("/token?service=dm-registry&scope={scope}"),
        &hdr,
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    format!("Bearer {}", r.json()["token"].as_str().unwrap())
}

#[test]
fn token_mode_challenges_and_enforces_scopes_per_repository() {
    let (_d, s) = start(&[]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED".into()));
    assert_eq!(
        r.h("www-authenticate"),
        format!(
            "Bearer realm=\"http://{}/token\",service=\"dm-registry\"",
            s.addr
        )
    );
    let r = s.req("POST", "/v2/a/blobs/uploads/", &[], b"");
    assert!(
        r.h("www-authenticate")
            .contains("scope=\"repository:a:push\""),
        "{r:?}"
    );

    // A wrong password: the token endpoint refuses.
    let r = s.req(
        "GET",
        "/token?scope=repository:a:pull",
        &[("Authorization", &basic("alice", "no"))],
        b"",
    );
    assert_eq!(r.status, 401);
    // No credentials and no anonymous access: a token that grants nothing, so the registry
    // (not the token endpoint) refuses with insufficient_scope, which docker does not retry.
    let anon = token(&s, None, "repository:a:pull");
    let r = s.req("GET", "/v2/a/tags/list", &[("Authorization", &anon)], b"");
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED".into()));
    assert!(
        r.h("www-authenticate")
            .contains("error=\"insufficient_scope\""),
        "{r:?}"
    );
    let r = s.req("GET", "/v2/", &[("Authorization", &anon)], b"");
    assert_eq!(r.status, 401, "an anonymous token is no login: {r:?}");

    let alice = basic("alice", "pw");
    let t = token(&s, Some(&alice), "repository:a:pull,push");
    let data = b"blob";
    let d = digest(data);
    let push = |repo: &str, t: &str| {
        s.req(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[("Authorization", t)],
            data,
        )
    };
    assert_eq!(push("a", &t).status, 201);
    let r = push("b", &t);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED".into()));
    assert!(
        r.h("www-authenticate").contains("insufficient_scope"),
        "{r:?}"
    );
    assert_eq!(
        s.req(
            "HEAD",
            &format!("/v2/b/blobs/{d}"),
            &[("Authorization", &t)],
            b""
        )
        .status,
        401
    );

    // A pull-only token cannot push or delete; a tampered token is refused.
    let ro = token(&s, Some(&alice), "repository:a:pull");
    assert_eq!(
        s.req(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("Authorization", &ro)],
            b""
        )
        .status,
        200
    );
    assert_eq!(push("a", &ro).status, 401);
    assert_eq!(
        s.req(
            "DELETE",
            &format!("/v2/a/blobs/{d}"),
            &[("Authorization", &ro)],
            b""
        )
        .status,
        401
    );
    let forged = ro.replace("Bearer ", "Bearer x");
    assert_eq!(
        s.req(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("Authorization", &forged)],
            b""
        )
        .status,
        401
    );

    // Mounting needs pull on the source repository too.
    let t2 = token(&s, Some(&alice), "repository:c:push");
    let r = s.req(
        "POST",
        &format!("/v2/c/blobs/uploads/?mount={d}&from=a"),
        &[("Authorization", &t2)],
        b"",
    );
    assert!(
        r.h("www-authenticate").contains("repository:a:pull"),
        "{r:?}"
    );

    // The catalog needs its own scope; the OAuth2 password grant works too.
    let r = s.req(
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=password&username=alice&password=pw&scope=registry%3Acatalog%3A*&service=dm-registry",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let ct = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let c = s.req("GET", "/v2/_catalog", &[("Authorization", &ct)], b"");
    assert_eq!(c.json()["repositories"], serde_json::json!(["a"]));
    assert_eq!(
        s.req("GET", "/v2/_catalog", &[("Authorization", &t)], b"")
            .status,
        401
    );
    assert!(s.log().contains("user=\"alice\""));
}

#[test]
fn anonymous_pull_gives_pull_only() {
    let (_d, s) = start(&["--anonymous-pull"]);
    let alice = basic("alice", "pw");
    let t = token(&s, Some(&alice), "repository:a:push");
    let d = digest(b"x");
    let r = s.req(
        "POST",
        &format!("/v2/a/blobs/uploads/?digest={d}"),
        &[("Authorization", &t)],
        b"x",
    );
    assert_eq!(r.status, 201);
    let anon = token(&s, None, "repository:a:pull,push");
    assert_eq!(
        s.req(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("Authorization", &anon)],
            b""
        )
        .status,
        200
    );
    let r = s.req(
        "POST",
        "/v2/a/blobs/uploads/",
        &[("Authorization", &anon)],
        b"",
    );
    assert_eq!(r.status, 401);
    // Without any token a pull goes through, but the version check still challenges.
    assert_eq!(
        s.req("GET", &format!("/v2/a/blobs/{d}"), &[], b"").status,
        200
    );
    assert_eq!(s.req("GET", "/v2/", &[], b"").status, 401);
}

#[test]
fn basic_mode() {
    let (_d, s) = start(&["--auth", "basic"]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!(
        (r.status, r.h("www-authenticate")),
        (401, "Basic realm=\"dm-registry\"")
    );
    let ok = basic("alice", "pw");
    assert_eq!(
        s.req("GET", "/v2/", &[("Authorization", &ok)], b"").status,
        200
    );
    let bad = basic("alice", "pw2");
    assert_eq!(
        s.req("GET", "/v2/", &[("Authorization", &bad)], b"").status,
        401
    );
    assert_eq!(
        s.req("GET", "/token", &[("Authorization", &ok)], b"")
            .status,
        404
    );
    // Health and metrics stay open for probes.
    assert_eq!(s.req("GET", "/healthz", &[], b"").status, 200);
}

#[test]
fn bad_auth_configuration_is_refused_at_start() {
    let dir = dm_testkit::TempDir::new("dm-registry-badauth");
    let h = dir.path().join("htpasswd");
    std::fs::write(&h, "bob:{SHA}x\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dm-registry"))
        .arg("--root")
        .arg(dir.path().join("root"))
        .args(["--listen", "127.0.0.1:0", "--htpasswd"])
        .arg(&h)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--htpasswd") && err.contains("bcrypt") && err.contains(":1:"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dm-registry"))
        .arg("--root")
        .arg(dir.path().join("root"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&h)
        .arg("--tls-key")
        .arg(&h)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-cert"), "{err}");
    assert!(
        !dir.path().join("root").exists(),
        "a refused start left its root"
    );
}

#[test]
fn an_acl_limits_each_user_to_their_repositories() {
    let dir = dm_testkit::TempDir::new("dm-registry-acl");
    let h = dir.path().join("htpasswd");
    std::fs::write(
        &h,
        format!(
            "alice:{}\nbob:{}\n",
            bcrypt::hash("pw", 4).unwrap(),
            bcrypt::hash("pw", 4).unwrap()
        ),
    )
    .unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "alice alice/* *\n* shared pull\nbob shared pull,push\n",
    )
    .unwrap();
    let (h, acl) = (h.to_str().unwrap(), acl.to_str().unwrap());
    let data = b"acl blob";
    let d = digest(data);
    let push = |s: &Server, repo: &str, auth: &str| {
        s.req(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[("Authorization", auth)],
            data,
        )
        .status
    };

    let s = Server::start(&["--htpasswd", h, "--acl", acl]);
    let (alice, bob) = (basic("alice", "pw"), basic("bob", "pw"));
    let t = token(&s, Some(&alice), "repository:alice/app:pull,push");
    assert_eq!(push(&s, "alice/app", &t), 201);
    // Asked for, not granted: the token does not carry it.
    let t = token(&s, Some(&alice), "repository:shared:pull,push");
    assert_eq!(push(&s, "shared", &t), 401);
    let t = token(&s, Some(&bob), "repository:shared:pull,push");
    assert_eq!(push(&s, "shared", &t), 201);
    let t = token(&s, Some(&alice), "repository:shared:pull");
    let r = s.req(
        "GET",
        &format!("/v2/shared/blobs/{d}"),
        &[("Authorization", &t)],
        b"",
    );
    assert_eq!(r.status, 200);
    let t = token(&s, Some(&bob), "repository:alice/app:pull");
    let r = s.req(
        "GET",
        &format!("/v2/alice/app/blobs/{d}"),
        &[("Authorization", &t)],
        b"",
    );
    assert_eq!(r.status, 401);
    drop(s);

    let s = Server::start(&["--htpasswd", h, "--acl", acl, "--auth", "basic"]);
    assert_eq!(push(&s, "alice/x", &alice), 201);
    let r = s.req(
        "POST",
        &format!("/v2/shared/blobs/uploads/?digest={d}"),
        &[("Authorization", &alice)],
        data,
    );
    assert_eq!((r.status, r.code()), (403, "DENIED".into()));
    assert_eq!(push(&s, "shared", &bob), 201);
    // Only a user with a rule on every repository may trigger a collection.
    assert_eq!(
        s.req("POST", "/gc", &[("Authorization", &alice)], b"")
            .status,
        403
    );
}
