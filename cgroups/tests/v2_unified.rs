//! The v2 driver on real cgroup2 core files: this hybrid host's /sys/fs/cgroup/unified mount,
//! presented to the crate as a unified host rooted there.

mod common;

use common::*;
use dm_cgroups::{Cgroup, Host, Mode};
use dm_testkit::require_root;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A parent cgroup this test owns (so enabling controllers never touches anything shared),
/// presented as "our own cgroup" of a unified host.
struct Parent(PathBuf);

impl Parent {
    fn new() -> Option<Parent> {
        if !Path::new(UNIFIED).join("cgroup.procs").exists() {
            return None;
        }
        let p = Path::new(UNIFIED).join(dm_testkit::unique_id("dmcg-v2parent"));
        std::fs::create_dir(&p).unwrap();
        Some(Parent(p))
    }

    fn host(&self) -> Host {
        let mi = format!("41 31 0:38 / {UNIFIED} rw,relatime - cgroup2 cgroup2 rw\n");
        let own = format!("0::/{}\n", self.0.file_name().unwrap().to_str().unwrap());
        let h = Host::parse(&mi, &own).unwrap();
        assert_eq!(h.mode, Mode::Unified);
        h
    }

    fn ctr(&self, prefix: &str) -> Ctr {
        let id = dm_testkit::unique_id(prefix);
        let cg = Cgroup::with_host(&self.host(), None, &id).unwrap();
        assert_eq!(cg.v2.as_deref(), Some(self.0.join(&id).as_path()));
        Ctr::from_cgroup(cg, id)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = dm_cgroups::sys::rmdir_retry(&self.0);
    }
}

fn setup(test: &str) -> Option<Parent> {
    if !require_root(test) {
        return None;
    }
    let p = Parent::new();
    assert!(p.is_some(), "{test}: no cgroup2 mount at {UNIFIED}");
    p
}

#[test]
fn unified_create_join_freeze_kill_remove() {
    let Some(parent) = setup("unified_create_join_freeze_kill_remove") else {
        return;
    };
    let mut ctr = parent.ctr("dmcg-v2");
    let dir = ctr.cg.v2.clone().unwrap();
    assert_eq!(ctr.cg.clone_into_dir().as_deref(), Some(dir.as_path()));
    assert_eq!(ctr.cg.created, vec![dir.clone()]);
    freeze_and_thaw_busy_loop(&mut ctr);
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.freeze"))
            .unwrap()
            .trim(),
        "0"
    );
    let j = ctr.spawn("sleep 100 & sleep 100 & wait");
    ctr.go(j);
    assert!(
        poll_until(20, || ctr.cg.pids().unwrap().len() == 4),
        "{:?}",
        ctr.cg.pids()
    );
    // cgroup.kill takes everything, the busy loop and the sleeps alike.
    ctr.cg.kill_all(libc::SIGKILL).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(ctr.wait(0, 20).0.signal(), Some(libc::SIGKILL));
    assert_eq!(ctr.wait(j, 20).0.signal(), Some(libc::SIGKILL));
    assert!(poll_until(20, || ctr.cg.pids().unwrap().is_empty()));
    ctr.cg.destroy().unwrap();
    assert!(!dir.exists());
    assert!(parent.0.is_dir(), "the parent we did not create stays");
}

#[test]
fn unified_device_program_denies_open_with_eperm() {
    let Some(parent) = setup("unified_device_program_denies_open_with_eperm") else {
        return;
    };
    let mut ctr = parent.ctr("dmcg-v2dev");
    // No memory controller on this cgroup2 mount: refused by name, before the device rules.
    let mut both = only_dev_null_rules();
    both.set_memory(serde_json::from_str(r#"{"limit":1048576}"#).ok());
    let e = ctr.cg.apply(&both).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.memory: the memory controller is not enabled"),
        "{e}"
    );
    let dfd = dm_cgroups::sys::open_dir(ctr.cg.v2.as_deref().unwrap()).unwrap();
    assert!(dm_cgroups::sys::bpf::query_device_progs(dfd.as_raw_fd())
        .unwrap()
        .is_empty());
    ctr.cg.apply(&only_dev_null_rules()).unwrap();
    assert_dev_zero_denied(&mut ctr);
    // Replacing the rules swaps the program: exactly one stays attached, and it allows all.
    let allow_all = serde_json::from_str(r#"{"devices":[{"allow":true,"access":"rwm"}]}"#).unwrap();
    ctr.cg.apply(&allow_all).unwrap();
    assert_eq!(
        dm_cgroups::sys::bpf::query_device_progs(dfd.as_raw_fd())
            .unwrap()
            .len(),
        1
    );
    let i = ctr.spawn("head -c 1 /dev/zero | wc -c");
    ctr.go(i);
    let (_, out, err) = ctr.wait(i, 20);
    assert_eq!(out.trim(), "1", "/dev/zero still denied: {err}");
}
