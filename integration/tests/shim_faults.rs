//! Fault cases for containerd-shim-dockermind-v2: a shim killed under a running container, and
//! containerd restarting while containers run. Both backends, as in shim_ctr.rs.

mod common;

use common::{Backend, Env, STATE_WAIT};
use dm_testkit::unique_id;
use std::time::Duration;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn dm_runc() {
                super::$name(Backend::DmRunc)
            }
            #[test]
            fn runc() {
                super::$name(Backend::Runc)
            }
        }
    )*};
}

both_backends!(killed_shim_is_cleaned_up, containerd_restart_keeps_tasks);

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Waits (bounded) until `f` holds.
fn poll(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    dm_integration::poll(what, limit, || f().then_some(()));
}

fn killed_shim_is_cleaned_up(b: Backend) {
    let Some(env) = Env::new("killed_shim_is_cleaned_up", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let pid = env.task_pid(&id);
    let shims = env.ctd.shim_pids();
    assert_eq!(shims.len(), 1, "one shim per container: {shims:?}");
    let bundle = env.ctd.bundle_dir(env.ctr.namespace(), &id);
    let address = std::fs::read_to_string(bundle.join("address")).unwrap();
    let socket = std::path::PathBuf::from(address.trim().trim_start_matches("unix://"));
    assert!(socket.exists(), "{socket:?}");
    // SAFETY: kill(2) on the shim's pid, found by its -address flag for our private containerd.
    unsafe {
        libc::kill(shims[0], libc::SIGKILL);
    }
    // containerd notices the dead shim, runs `containerd-shim-dockermind-v2 delete`, which
    // force-deletes the container, and drops the task.
    poll(STATE_WAIT, "task gone after shim death", || {
        env.ctr.task_status(&id).is_none_or(|s| s == "STOPPED")
    });
    poll(STATE_WAIT, "container init killed", || !alive(pid));
    poll(STATE_WAIT, "bundle removed", || !bundle.exists());
    // The killed shim could not remove its socket; its `delete` did.
    assert!(
        !socket.exists(),
        "dead shim's socket {socket:?} left behind"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(bundle.to_str().unwrap()),
        "rootfs still mounted at {}",
        bundle.display()
    );
    let _ = env.ctr.run(&["task", "delete", &id]);
    env.ctr.ok(&["container", "delete", &id]);
}

fn containerd_restart_keeps_tasks(b: Backend) {
    let Some(mut env) = Env::new("containerd_restart_keeps_tasks", b) else {
        return;
    };
    let id = unique_id("c");
    env.run_detached(&id);
    let pid = env.task_pid(&id);
    env.ctd.restart();
    env.ctr.wait_status(&id, "RUNNING", STATE_WAIT);
    assert_eq!(env.task_pid(&id), pid);
    let out = env.ctr.run(&[
        "task",
        "exec",
        "--exec-id",
        "after",
        &id,
        "sh",
        "-c",
        "echo still here; exit 6",
    ]);
    assert_eq!(out.stdout, "still here\n", "{out:?}");
    assert_eq!(out.code, 6, "{out:?}");
    env.ctr.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    env.ctr.wait_status(&id, "STOPPED", STATE_WAIT);
    env.ctr.ok(&["task", "delete", &id]);
    env.ctr.ok(&["container", "delete", &id]);
}
