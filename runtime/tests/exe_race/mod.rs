//! CVE-2019-5736 through an interpreter line: a container process whose script starts
//! `#!/proc/self/exe` runs the runtime's own binary, and an attacker in the container
//! (`dm-probe exe-race`) holds that binary and reopens it for writing once it has exited.
//!
//! Every step waits on the previous one, never on time: the runtime binary the script runs
//! blocks opening its `--log` FIFO until the test, having read the attacker's `held`, opens the
//! other end; the attacker's write waits for a line from the test, sent once no host process
//! runs the binary any more (else ETXTBSY would hide the hole).
#![allow(dead_code)]

use dm_testkit::{Bundle, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

/// Where the script's runtime blocks, inside the container.
pub const FIFO: &str = "/tmp/hold.fifo";

/// The container process args that run the runtime through `/x`: `--root` swallows the
/// script path the kernel inserts, and `--log` on a FIFO keeps the process alive.
pub const ARGS: [&str; 5] = ["/x", "--log", FIFO, "state", "none"];

/// A private copy of the runtime: a working exploit overwrites it, not the build.
pub struct RuntimeCopy {
    _dir: TempDir,
    /// The copy's path.
    pub path: PathBuf,
}

impl RuntimeCopy {
    /// Copies `runtime` into a fresh temp dir.
    pub fn of(runtime: &Path) -> RuntimeCopy {
        let dir = TempDir::new("runtime-copy");
        let path = dir.path().join("dm-runc");
        std::fs::copy(runtime, &path).unwrap();
        RuntimeCopy { _dir: dir, path }
    }

    /// The copy's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

/// Puts the `#!/proc/self/exe` script at /x and the FIFO at [`FIFO`] into the rootfs.
pub fn plant(rootfs: &Path) -> PathBuf {
    let x = rootfs.join("x");
    std::fs::write(&x, "#!/proc/self/exe --root\n").unwrap();
    std::fs::set_permissions(&x, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fifo = rootfs.join(FIFO.trim_start_matches('/'));
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is NUL-terminated and outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    fifo
}

/// The attacker, exec'd detached into a running container.
pub struct Attacker {
    go: ChildStdin,
    lines: BufReader<ChildStdout>,
}

impl Attacker {
    /// Starts `dm-probe exe-race /bin/busybox` in `b`'s container and waits for `ready`.
    pub fn start(b: &Bundle) -> Attacker {
        b.install_probe();
        Attacker::spawn(b.cmd(&Attacker::exec_args(&b.id)))
    }

    /// The runtime arguments that exec the attacker, detached, into container `id`.
    pub fn exec_args(id: &str) -> [&str; 6] {
        [
            "exec",
            "-d",
            id,
            "/bin/dm-probe",
            "exe-race",
            "/bin/busybox",
        ]
    }

    /// Runs `exec` (a runtime command with [`Attacker::exec_args`]) and waits for `ready`.
    pub fn spawn(mut exec: Command) -> Attacker {
        let mut child = exec
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let go = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        // Detached: the runtime returns once the attacker runs; its pipes stay with it.
        assert!(child.wait().unwrap().success(), "exec -d dm-probe failed");
        let mut a = Attacker { go, lines };
        assert_eq!(a.line(), "ready");
        a
    }

    /// The next line the attacker printed.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.lines.read_line(&mut l).unwrap();
        l.trim_end().to_owned()
    }

    /// Lets the attacker try its write; returns what it reports.
    pub fn strike(&mut self) -> String {
        self.go.write_all(b"go\n").unwrap();
        self.line()
    }
}

/// Opens the FIFO's reading end, releasing the process blocked on it, and reads until that
/// process has exited (closed its end).
pub fn release(fifo: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(fifo)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// `delete --force` with the build's runtime: the copy may be the thing an exploit broke.
pub fn force_delete(runtime: &Path, b: &Bundle) {
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(b.state_root())
        .args(["delete", "--force", &b.id])
        .stderr(Stdio::null())
        .status();
}
