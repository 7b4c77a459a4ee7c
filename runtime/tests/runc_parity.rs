//! `dm-runc run` of a busybox bundle prints what `runc run` prints, with the same exit code.

mod common;
use common::*;

#[test]
fn run_output_and_exit_code_match_runc() {
    if !dm_testkit::require_root("runc parity") || !dm_testkit::require_cmd("runc") {
        return;
    }
    let real = dm_testkit::which("runc").unwrap();
    let script = "echo out; echo err >&2; hostname; id; ls /; cat /proc/self/status | grep -E '^(Cap|NoNewPrivs|Seccomp:)'; exit 42";
    let run = |rt: &std::path::Path| {
        let mut b = Bundle::new(rt);
        // Both runtimes get the same config: runc's default spec.
        let text = std::fs::read_to_string(Bundle::new(&real).path().join("config.json")).unwrap();
        b.spec = serde_json::from_str(&text).unwrap();
        b.spec["process"]["terminal"] = serde_json::json!(false);
        b.args(&["sh", "-c", script]);
        let out = b.run_container();
        assert_nothing_left(&b);
        out
    };
    let ours = run(&runc());
    let theirs = run(&real);
    assert_eq!(ours.code, 42);
    assert_eq!(ours.code, theirs.code);
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(ours.stderr, theirs.stderr);
}
