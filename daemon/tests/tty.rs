//! Terminals through the real docker CLI on a real pty: `docker run -it` and `docker exec -it`
//! take typed commands and show their output, and the terminal's size (also after the client's
//! window changes) is what `stty size` reports inside the container.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_integration::poll;
use nix::pty::{openpty, Winsize};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The docker CLI with a pty slave as its controlling terminal and stdio; the test holds the
/// master, reads everything the CLI prints and types into it.
struct Terminal {
    master: std::fs::File,
    seen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

fn size(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Terminal {
    fn spawn(d: &Dmd, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let pty = openpty(Some(&size(rows, cols)), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = d.cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; fd 0 is the slave.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn docker");
        let master = std::fs::File::from(pty.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut r, s) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the CLI and everything holding the slave are gone.
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            seen,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    fn type_line(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
    }

    /// Waits until the screen shows `want` (anywhere after `from` bytes of output).
    fn expect(&self, from: usize, want: &str) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.text();
            if let Some(i) = t.get(from..).and_then(|rest| rest.find(want)) {
                return from + i + want.len();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "terminal did not show {want:?} within 20 s; screen:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Changes the window size as a terminal emulator does (the CLI gets SIGWINCH).
    fn resize(&self, rows: u16, cols: u16) {
        let ws = size(rows, cols);
        // SAFETY: TIOCSWINSZ reads a winsize we own; the master fd is open.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    fn wait(&mut self) -> Option<i32> {
        let child = &mut self.child;
        poll("docker CLI to exit", Duration::from_secs(30), || {
            child.try_wait().unwrap().map(|s| s.code())
        })
    }
}

/// Types `stty size` between two markers (arithmetic, so they appear only in the output,
/// never in the echoed command line) and returns its answer and where the output ended.
fn stty_size(t: &mut Terminal, from: usize) -> (String, usize) {
    t.type_line("echo S-$((20+3)); stty size; echo E-$((30+4))");
    let start = t.expect(from, "S-23");
    let end = t.expect(start, "E-34");
    let text = t.text();
    let size = text[start..end - "E-34".len()].trim().to_owned();
    (size, end)
}

/// Resizes the client's window and asks inside until the container sees `rows cols`.
fn resize_and_check(t: &mut Terminal, from: usize, rows: u16, cols: u16) -> usize {
    t.resize(rows, cols);
    let want = format!("{rows} {cols}");
    let mut at = from;
    // The CLI forwards the change when its SIGWINCH handler runs: ask until it arrived.
    poll(
        &format!("the container to see size {want}"),
        Duration::from_secs(20),
        || {
            let (size, end) = stty_size(t, at);
            at = end;
            (size == want).then_some(())
        },
    );
    at
}

#[test]
fn run_it_and_exec_it_on_a_real_terminal() {
    if !prerequisites("run_it_and_exec_it_on_a_real_terminal") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    let mut t = Terminal::spawn(&d, &["run", "-it", "--name", "tty1", image, "sh"], 33, 111);
    // Typed only once the shell prompts: earlier keys would meet the CLI's cooked terminal.
    t.expect(0, "/ # ");
    t.type_line("echo typed-$((6*7))");
    let at = t.expect(0, "typed-42");
    let (size, at) = stty_size(&mut t, at);
    assert_eq!(size, "33 111");
    resize_and_check(&mut t, at, 44, 122);
    t.type_line("exit 3");
    assert_eq!(t.wait(), Some(3), "screen:\n{}", t.text());
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.Config.Tty}}",
            "tty1"
        ]),
        "3 true\n"
    );

    // exec -it into a detached container: its own terminal, sized from the client.
    d.ok(&["run", "-d", "--name", "tty2", image, "sleep", "600"]);
    let mut t = Terminal::spawn(&d, &["exec", "-it", "tty2", "sh"], 25, 90);
    t.expect(0, "/ # ");
    t.type_line("echo exec-$((7*8)); tty");
    let at = t.expect(0, "exec-56");
    t.expect(at, "/dev/pts/");
    let (size, at) = stty_size(&mut t, at);
    assert_eq!(size, "25 90");
    resize_and_check(&mut t, at, 26, 91);
    t.type_line("exit 4");
    assert_eq!(t.wait(), Some(4), "screen:\n{}", t.text());

    // Resizing what has no terminal, has stopped or does not exist answers as dockerd does.
    let (code, body) = d.request("POST", "/containers/tty2/resize?h=10&w=10", "");
    assert_eq!(code, 200, "{body}");
    let (code, body) = d.request("POST", "/containers/tty1/resize?h=10&w=10", "");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("is not running"), "{body}");
    let (code, body) = d.request("POST", "/containers/tty2/resize?h=x&w=10", "");
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.request("POST", "/containers/nope/resize?h=10&w=10", "");
    assert_eq!(code, 404, "{body}");
    let (code, body) = d.request("POST", "/exec/nope/resize?h=10&w=10", "");
    assert_eq!(code, 404, "{body}");

    d.ok(&["rm", "-f", "tty1", "tty2"]);
    assert_clean(&mut d);
}
