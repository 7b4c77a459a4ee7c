//! Docker's default profile (tests/fixtures/seccomp-docker-default.json, written from docker's
//! documented rules for a container with the default capabilities) loads and blocks what it
//! should while ordinary programs keep working.

mod seccomp_util;

use std::ffi::CString;

use dm_runtime::seccomp::{compile, Filter};
use libc::c_long;
use seccomp_util::{errno_if_failed, filter, in_child, sys6, Outcome};
use serde_json::json;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seccomp-docker-default.json"
);

fn docker() -> Filter {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let p = serde_json::from_str(&text).expect("fixture parses as linux.seccomp");
    compile(&p).expect("docker's profile compiles")
}

fn allow_all() -> Filter {
    filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}))
}

fn sys(nr: c_long, a: &[u64]) -> i32 {
    let mut args = [0; 6];
    args[..a.len()].copy_from_slice(a);
    sys6(nr, args)
}

/// Each probe is a syscall with its errno (0 = success) under docker's profile.
type Probe = (&'static str, fn() -> i32, i32);

fn raw_fork_and_reap() -> i32 {
    // clone(SIGCHLD) is fork: no namespace flags, so the profile allows it.
    let pid = sys_ret(libc::SYS_clone, &[libc::SIGCHLD as u64]);
    if pid == 0 {
        // SAFETY: in the forked child: exit at once.
        unsafe { libc::_exit(7) }
    }
    if pid < 0 {
        return -pid as i32;
    }
    let mut status = 0;
    // SAFETY: waits for the child just made; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7 {
        0
    } else {
        200
    }
}

/// Raw return value, or -errno.
fn sys_ret(nr: c_long, a: &[u64]) -> c_long {
    let mut v = [0u64; 6];
    v[..a.len()].copy_from_slice(a);
    // SAFETY: integer-only arguments for the syscalls used here.
    let r = unsafe { libc::syscall(nr, v[0], v[1], v[2], v[3], v[4], v[5]) };
    if r < 0 {
        -(errno_if_failed(r) as c_long)
    } else {
        r
    }
}

fn new_userns_clone() -> i32 {
    let r = sys_ret(
        libc::SYS_clone,
        &[(libc::CLONE_NEWUSER | libc::SIGCHLD) as u64],
    );
    if r == 0 {
        // SAFETY: in an unexpected child: leave at once.
        unsafe { libc::_exit(0) }
    }
    if r > 0 {
        let mut s = 0;
        // SAFETY: reaps the child just made.
        unsafe { libc::waitpid(r as i32, &mut s, 0) };
        return 0;
    }
    -r as i32
}

fn pipe_roundtrip() -> i32 {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors; buffers are valid for 1 byte.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return 201;
        }
        if libc::write(fds[1], b"x".as_ptr().cast(), 1) != 1 {
            return 202;
        }
        let mut b = 0u8;
        if libc::read(fds[0], (&mut b as *mut u8).cast(), 1) != 1 || b != b'x' {
            return 203;
        }
    }
    0
}

fn unix_socket() -> i32 {
    let fd = sys_ret(
        libc::SYS_socket,
        &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64],
    );
    if fd < 0 {
        return -fd as i32;
    }
    // SAFETY: closes the socket just made.
    unsafe { libc::close(fd as i32) };
    0
}

fn mount_nowhere() -> i32 {
    let target = b"/nonexistent-dm-seccomp-test/mnt\0";
    let fstype = b"tmpfs\0";
    sys(
        libc::SYS_mount,
        &[0, target.as_ptr() as u64, fstype.as_ptr() as u64, 0, 0],
    )
}

const PROBES: &[Probe] = &[
    ("getpid", || sys(libc::SYS_getpid, &[]), 0),
    ("pipe write/read", pipe_roundtrip, 0),
    ("clone(SIGCHLD) = fork", raw_fork_and_reap, 0),
    ("socket(AF_UNIX)", unix_socket, 0),
    (
        "personality(query)",
        || sys(libc::SYS_personality, &[0xffff_ffff]),
        0,
    ),
    (
        "unshare(CLONE_NEWNS)",
        || sys(libc::SYS_unshare, &[libc::CLONE_NEWNS as u64]),
        libc::EPERM,
    ),
    (
        "unshare(CLONE_NEWUSER)",
        || sys(libc::SYS_unshare, &[libc::CLONE_NEWUSER as u64]),
        libc::EPERM,
    ),
    // A mount onto a missing directory: ENOENT when permitted, so nothing can get mounted on the
    // host even if the filter leaked.
    ("mount", mount_nowhere, libc::EPERM),
    (
        "keyctl(get session keyring)",
        || sys(libc::SYS_keyctl, &[0, (-3i64) as u64, 0]),
        libc::EPERM,
    ),
    ("clone(CLONE_NEWUSER)", new_userns_clone, libc::EPERM),
    ("clone3", || sys(libc::SYS_clone3, &[0, 0]), libc::ENOSYS),
    // Newer than every syscall the profile names: ENOSYS, so libcs fall back (runc does this too).
    ("listmount", || sys(458, &[0, 0, 0, 0]), libc::ENOSYS),
    // Older than the profile's newest syscall but not allowed: the default action.
    (
        "kexec_load",
        || sys(libc::SYS_kexec_load, &[0, 0, 0, 0]),
        libc::EPERM,
    ),
    (
        "personality(ADDR_NO_RANDOMIZE)",
        || sys(libc::SYS_personality, &[0x0040000]),
        libc::EPERM,
    ),
    (
        "socket(AF_VSOCK)",
        || {
            sys(
                libc::SYS_socket,
                &[libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64],
            )
        },
        libc::EPERM,
    ),
    (
        "ptrace(PTRACE_TRACEME) allowed on >=4.8",
        || sys(libc::SYS_ptrace, &[libc::PTRACE_TRACEME as u64]),
        0,
    ),
];

#[test]
fn docker_profile_blocks_namespace_mount_and_keyring_calls_and_allows_the_rest() {
    let f = docker();
    for (i, (what, probe, errno)) in PROBES.iter().enumerate() {
        assert_eq!(
            in_child(&f, probe),
            Outcome::Exited(*errno),
            "probe {i}: {what}"
        );
    }
}

/// Controls: the blocked calls do not fail with EPERM on their own here (needs root: as an
/// unprivileged user the kernel itself says EPERM).
#[test]
fn blocked_calls_succeed_or_fail_differently_without_the_profile() {
    if !dm_testkit::require_root("seccomp docker controls") {
        return;
    }
    let f = allow_all();
    for (what, probe, errno) in PROBES {
        if *errno == 0 {
            continue;
        }
        let got = in_child(&f, probe);
        assert_ne!(got, Outcome::Exited(*errno), "{what} without the profile");
    }
}

/// Execs busybox under the profile; returns its exit status.
fn busybox_under(f: &Filter, script: &str) -> Outcome {
    let path = CString::new("/bin/busybox").unwrap();
    let argv: Vec<CString> = ["busybox", "sh", "-c", script]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    in_child(f, || {
        // SAFETY: path and argv are NUL-terminated and outlive the call; the environment is ours.
        unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
        127
    })
}

#[test]
fn busybox_tools_work_under_docker_profile_and_unshare_does_not() {
    if !dm_testkit::require_cmd("busybox") {
        return;
    }
    let f = docker();
    let everyday = "set -e; \
        d=$(mktemp -d); echo hello > $d/f; grep -q hello $d/f; ls -la / >/dev/null; \
        cat /proc/self/status | grep -q '^Seccomp:[[:space:]]*2'; ps >/dev/null; \
        sleep 0; date >/dev/null; echo a b | awk '{print $2}' | grep -q b; \
        (true) & wait; rm -r $d";
    assert_eq!(busybox_under(&f, everyday), Outcome::Exited(0));
    assert_eq!(
        busybox_under(&f, "unshare -m true 2>/dev/null"),
        Outcome::Exited(1),
        "unshare must be refused"
    );
    if dm_testkit::require_root("busybox unshare control") {
        assert_eq!(
            busybox_under(&allow_all(), "unshare -m true"),
            Outcome::Exited(0)
        );
    }
}
