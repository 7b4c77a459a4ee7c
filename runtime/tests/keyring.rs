//! Session keyrings: container processes (init and exec) get the container's own keyring and
//! cannot reach a key in the caller's session keyring, unless `--no-new-keyring`.

mod common;
use common::*;

/// Gives the calling thread a fresh session keyring holding a "user" key named `desc`.
/// Threads have their own credentials, so this stays with this test and the processes it spawns.
fn caller_secret(desc: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: a NULL name asks for a new anonymous session keyring.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    assert!(r >= 0, "join keyring: {}", std::io::Error::last_os_error());
    let name = std::ffi::CString::new(desc).unwrap();
    let payload = b"s3cret";
    // SAFETY: strings are NUL-terminated, payload pointer and length match; all outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            name.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert!(r >= 0, "add_key: {}", std::io::Error::last_os_error());
}

fn probe_bundle(test: &str) -> Option<(Bundle, String)> {
    let b = bundle(test)?;
    b.install_probe();
    let desc = format!("dm-secret-{}", b.id);
    caller_secret(&desc);
    Some((b, desc))
}

#[test]
fn container_and_exec_get_their_own_keyring() {
    let Some((mut b, desc)) = probe_bundle("keyring_new") else {
        return;
    };
    let want = format!("session=_ses.{}\nsecret=absent\n", b.id);
    b.args(&["dm-probe", "keyring", &desc]);
    assert_eq!(b.run_container().ok().stdout, want);
    start_sleeping(&mut b);
    let ex = b.run(&["exec", &b.id, "dm-probe", "keyring", &desc]).ok();
    assert_eq!(ex.stdout, want, "exec'd process");
    b.run(&["delete", "--force", &b.id]).ok();
}

#[test]
fn no_new_keyring_keeps_the_callers_keyring() {
    let Some((mut b, desc)) = probe_bundle("keyring_kept") else {
        return;
    };
    // The control: with --no-new-keyring the caller's key is reachable, so `absent` above is
    // the runtime's doing.
    b.args(&["sleep", "1000"]);
    let bp = b.path().to_str().unwrap().to_owned();
    b.run_detached(&["create", "--no-new-keyring", "--bundle", &bp, &b.id])
        .ok();
    b.run(&["start", &b.id]).ok();
    let ex = b.run(&["exec", &b.id, "dm-probe", "keyring", &desc]).ok();
    assert!(ex.stdout.ends_with("secret=found\n"), "{ex:?}");
    assert!(!ex.stdout.contains("_ses."), "{ex:?}");
    b.run(&["delete", "--force", &b.id]).ok();
}

#[test]
fn exec_joins_the_keyring_in_a_user_namespace() {
    // Container root (host uid 210000) owns the keyring; exec joins it as host root first.
    let Some((mut b, desc)) = probe_bundle("keyring_userns") else {
        return;
    };
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    ns.push(serde_json::json!({"type": "user"}));
    set(&mut b, "/linux/namespaces", serde_json::json!(ns));
    let map = serde_json::json!([{"containerID": 0, "hostID": 210000, "size": 65536}]);
    set(&mut b, "/linux/uidMappings", map.clone());
    set(&mut b, "/linux/gidMappings", map);
    start_sleeping(&mut b);
    let ex = b.run(&["exec", &b.id, "dm-probe", "keyring", &desc]).ok();
    assert_eq!(
        ex.stdout,
        format!("session=_ses.{}\nsecret=absent\n", b.id),
        "{ex:?}"
    );
    b.run(&["delete", "--force", &b.id]).ok();
}
