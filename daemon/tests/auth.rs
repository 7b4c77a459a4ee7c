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

/// Makes, in `dir`, a CA (`ca.pem`), the daemon's certificate for 127.0.0.1
/// (`server.pem`/`server-key.pem`), a client certificate it signed (`client.pem`/`client-key.pem`)
/// and one another CA signed (`rogue.pem`/`rogue-key.pem`).
fn make_certs(dir: &std::path::Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let script = "
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out $1 2>/dev/null; }
        ca() { key $1-key.pem; openssl req -x509 -new -key $1-key.pem -out $1.pem -days 1 -subj /CN=$1 2>/dev/null; }
        leaf() { key $1-key.pem; openssl req -new -key $1-key.pem -out $1.csr -subj /CN=$3 2>/dev/null
                 openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2-key.pem -CAcreateserial \\
                   -out $1.pem -days 1 -extfile $4 2>/dev/null; }
        ca ca; ca otherca
        leaf server ca 127.0.0.1 server.ext
        leaf client ca client client.ext
        leaf rogue otherca rogue client.ext";
    let o = std::process::Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl: {o:?}");
}

/// `-H tcp://... --tlsverify` with client certificates: the docker CLI with a certificate the
/// CA signed works (including a hijacked `run`), without one or with another CA's the
/// handshake is refused, and the unix socket serves at the same time. Plain TCP is refused
/// at start.
#[test]
fn tcp_listener_requires_tls_client_certificates() {
    let test = "tcp_listener_requires_tls_client_certificates";
    if !prerequisites(test) || !dm_testkit::require_cmd("openssl") {
        return;
    }
    let certs = TempDir::new("dmd-tls");
    make_certs(certs.path());
    let file = |n: &str| certs.path().join(n).to_str().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");

    let plain = std::process::Command::new(dm_testkit::workspace_bin("dockermindd"))
        .args(["--host", &tcp, "--root"])
        .arg(certs.path().join("never-root"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success(), "{plain:?}");
    assert!(
        err.contains("plain TCP is refused") && err.contains("--tlsverify"),
        "{err}"
    );
    assert!(
        !certs.path().join("never-root").exists(),
        "a refused start made its root"
    );

    let reg = TestRegistry::with_busybox();
    let (ca, cert, key) = (file("ca.pem"), file("server.pem"), file("server-key.pem"));
    let mut d = Dmd(dm_integration::Dockermindd::start_with(
        None,
        &[
            "--host",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    ));
    let over_tls = |client: Option<(&str, &str)>, args: &[&str]| {
        let mut c = d.cmd(&[]);
        c.args(["-H", &tcp, "--tlscacert", &ca]);
        match client {
            Some((cert, key)) => c.args(["--tlsverify", "--tlscert", cert, "--tlskey", key]),
            None => c.arg("--tls"),
        };
        c.args(args).output().unwrap()
    };
    let (ccert, ckey) = (file("client.pem"), file("client-key.pem"));
    let v = over_tls(
        Some((&ccert, &ckey)),
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert!(v.status.success(), "{v:?}\ndaemon log:\n{}", d.log());
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "1.45");
    let pulled = over_tls(Some((&ccert, &ckey)), &["pull", &reg.image]);
    assert!(pulled.status.success(), "{pulled:?}");
    let ran = over_tls(
        Some((&ccert, &ckey)),
        &["run", "--rm", &reg.image, "echo", "over tls"],
    );
    assert!(ran.status.success(), "{ran:?}\ndaemon log:\n{}", d.log());
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "over tls");

    for (who, client) in [
        ("no client certificate", None),
        (
            "another CA's certificate",
            Some((file("rogue.pem"), file("rogue-key.pem"))),
        ),
    ] {
        let client = client.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
        let refused = over_tls(client, &["version", "--format", "{{.Server.APIVersion}}"]);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{who}: {refused:?}");
        assert!(
            err.contains("tls") || err.contains("certificate"),
            "{who}: {err}"
        );
        assert!(
            refused.stdout.is_empty() || !String::from_utf8_lossy(&refused.stdout).contains("1.45")
        );
    }
    assert!(
        d.log().contains("TLS handshake with 127.0.0.1"),
        "{}",
        d.log()
    );

    // The unix socket answers alongside.
    assert!(d.ok(&["images", "-q"]).trim().len() >= 12);
    d.ok(&["rmi", &reg.image]);
    assert_clean(&mut d);
}
