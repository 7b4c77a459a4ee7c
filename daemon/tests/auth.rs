//! `docker login` through the daemon (`POST /auth`) against registries with Basic auth
//! (docker-registry, htpasswd) and bearer tokens (dm-registry's token server), then push and
//! pull with the credentials the CLI stored.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_integration::DmRegistry;
use dm_testkit::TempDir;
use std::io::Write;
use std::process::{Output, Stdio};

/// `docker login <addr> -u <user> --password-stdin` with `password` on stdin.
fn login(d: &Dmd, addr: &str, user: &str, password: &str) -> Output {
    let mut c = d.cmd(&["login", addr, "-u", user, "--password-stdin"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run docker login");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The CLI's stored credentials file.
fn stored(d: &Dmd) -> String {
    std::fs::read_to_string(d.dir.path().join("docker-config/config.json")).unwrap_or_default()
}

/// Logs in with a wrong and then the right password, pushes and pulls `<addr>/<repo>` with the
/// stored credentials, and after `docker logout` is refused again.
fn login_push_pull(d: &Dmd, base: &str, addr: &str) {
    let bad = login(d, addr, "alice", "wrong");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{bad:?}");
    assert!(
        err.contains("Error response from daemon: login attempt to http")
            && err.contains(&format!("{addr}/v2/ failed with status: 401 Unauthorized")),
        "{err}"
    );
    assert!(
        !stored(d).contains(addr),
        "refused login stored: {}",
        stored(d)
    );

    let good = login(d, addr, "alice", "s3cret");
    assert!(good.status.success(), "{good:?}\ndaemon log:\n{}", d.log());
    assert!(String::from_utf8_lossy(&good.stdout).contains("Login Succeeded"));
    assert!(stored(d).contains(addr), "{}", stored(d));

    let target = format!("{addr}/private/busybox:v1");
    d.ok(&["tag", base, &target]);
    let pushed = d.ok(&["push", &target]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    d.ok(&["rmi", &target]);
    d.ok(&["pull", &target]);
    d.ok(&["rmi", &target]);

    d.ok(&["logout", addr]);
    let denied = d.docker(&["pull", &target]);
    assert!(!denied.status.success(), "pull after logout: {denied:?}");
}

#[test]
fn docker_login_checks_basic_auth_credentials_and_push_pull_use_them() {
    if !prerequisites("docker_login_checks_basic_auth_credentials_and_push_pull_use_them") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    d.ok(&["pull", &reg.image]);
    let dir = TempDir::new("dmd-login-basic");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let private = dm_integration::Registry::start_htpasswd(dir.path(), &format!("alice:{hash}"));
    login_push_pull(&d, &reg.image, &private.addr);

    // The API answers docker's shape; a body without a user name is a 400 naming it.
    let body = format!(
        r#"{{"username":"alice","password":"s3cret","serveraddress":"{}"}}"#,
        private.addr
    );
    let (code, answer) = d.request("POST", "/v1.41/auth", &body);
    assert_eq!(code, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["Status"], "Login Succeeded");
    assert_eq!(v["IdentityToken"], "");
    let (code, answer) = d.request("POST", "/v1.41/auth", r#"{"password":"x"}"#);
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("username"), "{answer}");
    d.ok(&["rmi", &reg.image]);
    assert_clean(&mut d);
}

#[test]
fn docker_login_gets_a_bearer_token_and_push_pull_use_it() {
    if !prerequisites("docker_login_gets_a_bearer_token_and_push_pull_use_it") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    d.ok(&["pull", &reg.image]);
    let dir = TempDir::new("dmd-login-token");
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let private = DmRegistry::start(&["--htpasswd", htpasswd.to_str().unwrap()]);
    login_push_pull(&d, &reg.image, &private.addr);
    d.ok(&["rmi", &reg.image]);
    assert_clean(&mut d);
}
