//! The per-round cleanup check finds what a runtime leaves behind, and nothing once it is gone.

use dm_bench::cleanup::Verifier;
use dm_testkit::Bundle;

#[test]
fn verifier_sees_a_live_container_then_nothing_after_delete() {
    if !dm_testkit::require_root("cleanup check") || !dm_testkit::require_cmd("runc") {
        return;
    }
    let mut b = Bundle::new(&dm_testkit::which("runc").unwrap());
    b.args(&["sleep", "60"]);
    let v = Verifier::new(&b.id, b.path(), vec![b.state_root().to_owned()], None);
    // Null stdio: the waiting init inherits it, and a pipe would never reach EOF.
    let bundle = b.path().to_str().unwrap().to_owned();
    let st = b
        .cmd(&["create", "--bundle", &bundle, &b.id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let found = v.leftovers();
    assert!(
        found.iter().any(|f| f.starts_with("state dir")),
        "{found:?}"
    );
    assert!(found.iter().any(|f| f.starts_with("process")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("cgroup")), "{found:?}");
    let st = b.cmd(&["delete", "--force", &b.id]).status().unwrap();
    assert!(st.success());
    assert_eq!(v.leftovers(), Vec::<String>::new());
}
