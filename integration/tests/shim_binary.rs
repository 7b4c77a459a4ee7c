//! The shim binary's command-line protocol, outside containerd: -v, -info, delete, bad input.

use dm_testkit::{output, workspace_bin, TempDir};
use std::process::Command;

fn shim() -> Command {
    Command::new(workspace_bin(dm_integration::DM_SHIM_BIN))
}

#[test]
fn version_flag_prints_name_and_version() {
    let out = output({
        let mut c = shim();
        c.arg("-v");
        c
    });
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("containerd-shim-dockermind-v2:\n  Version:"),
        "{out:?}"
    );
}

#[test]
fn info_prints_runtime_info_protobuf() {
    let out = Command::new(workspace_bin(dm_integration::DM_SHIM_BIN))
        .arg("-info")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    // RuntimeInfo.name is field 1 (length-delimited): 0x0a, length, bytes.
    let name = b"io.containerd.dockermind.v2";
    assert_eq!(out.stdout[0], 0x0a);
    assert_eq!(out.stdout[1] as usize, name.len());
    assert_eq!(&out.stdout[2..2 + name.len()], name);
}

#[test]
fn delete_of_an_unknown_task_reports_it_killed() {
    let bundle = TempDir::new("dm-shim-del");
    let out = Command::new(workspace_bin(dm_integration::DM_SHIM_BIN))
        .args([
            "-namespace",
            "dmtest-none",
            "-id",
            "nothing-here",
            "-bundle",
        ])
        .arg(bundle.path())
        .arg("delete")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // DeleteResponse.exit_status is field 2 (varint): 0x10, 137 as varint (0x89 0x01).
    assert!(
        out.stdout.windows(3).any(|w| w == [0x10, 0x89, 0x01]),
        "no exit_status 137 in {:?}",
        out.stdout
    );
}

#[test]
fn missing_namespace_is_a_clear_error() {
    let out = output({
        let mut c = shim();
        c.args(["-id", "x", "start"]);
        c
    });
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("-namespace"), "{out:?}");
}

#[test]
fn start_without_containerd_address_fails_clearly() {
    let dir = TempDir::new("dm-shim-start");
    let mut c = shim();
    c.args([
        "-namespace",
        "n",
        "-id",
        "x",
        "-address",
        "/nonexistent.sock",
        "start",
    ])
    .current_dir(dir.path())
    .env_remove("TTRPC_ADDRESS");
    let out = output(c);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("TTRPC_ADDRESS"), "{out:?}");
}

#[test]
fn unknown_action_is_rejected() {
    let out = output({
        let mut c = shim();
        c.args(["-namespace", "n", "-id", "x", "explode"]);
        c
    });
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("explode"), "{out:?}");
}
