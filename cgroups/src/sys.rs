//! Every file operation and system call the crate makes, in one place.
//!
//! Resource writes go through [`CgroupFs`] so the drivers can be exercised against a fake tree
//! in a temp dir ([`FakeFs`]) as well as the host's cgroup mounts ([`HostFs`]).

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// File access used by the drivers for cgroup control files.
pub trait CgroupFs {
    /// Writes `value` to an existing control file in one write(2).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    /// Reads a whole control file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// True when the control file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Names of the entries of a directory.
    fn names(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if let Ok(n) = e.file_name().into_string() {
                v.push(n);
            }
        }
        Ok(v)
    }
}

/// The real cgroup filesystems.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFs;

impl CgroupFs for HostFs {
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        // No O_CREAT: a missing file means a missing controller, which must be an error, and
        // cgroupfs rejects creating files anyway.
        let mut f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        let n = f.write(value.as_bytes())?;
        if n != value.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        let mut s = String::new();
        std::fs::File::open(path)?.read_to_string(&mut s)?;
        Ok(s)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// A fake cgroup tree in an ordinary directory: every write is appended as one line, so a test
/// sees each value the driver wrote, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeFs;

impl CgroupFs for FakeFs {
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{value}")
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// True when `path` is a directory.
pub fn is_dir(path: &Path) -> bool {
    path.is_dir()
}

/// Reads a small file whole (procfs, cgroupfs).
pub fn read_to_string(path: &Path) -> io::Result<String> {
    HostFs.read(path)
}

/// Makes one directory (not its parents).
pub fn mkdir(path: &Path) -> io::Result<()> {
    std::fs::create_dir(path)
}

/// Removes an empty cgroup directory, retrying while the kernel still reports it busy (exiting
/// tasks leave a cgroup busy for a moment). A missing directory counts as removed.
pub fn rmdir_retry(path: &Path) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `sig` to `pid`; a process that is already gone is not an error.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid, sig) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

/// A short pause used by the bounded polls (freezer state); never used to wait for a result
/// without a deadline.
pub fn pause(d: Duration) {
    std::thread::sleep(d);
}

/// Opens a file read-only with O_CLOEXEC and returns the fd.
pub fn open_read(path: &Path) -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Ok(f.into())
}

/// Opens a directory (O_DIRECTORY) for use as a bpf attach target.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
        .open(path)?;
    Ok(f.into())
}

/// A non-blocking, close-on-exec eventfd.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd(2) takes plain integers; on success the fd is ours alone.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads an eventfd's counter without blocking; 0 when nothing was signalled.
pub fn eventfd_take(fd: RawFd) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: buf is a valid writable 8-byte buffer for the duration of the call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n == 8 {
        return Ok(u64::from_ne_bytes(buf));
    }
    let e = io::Error::last_os_error();
    if n < 0 && e.raw_os_error() == Some(libc::EAGAIN) {
        Ok(0)
    } else if n < 0 {
        Err(e)
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short eventfd read",
        ))
    }
}

/// A non-blocking inotify fd watching `path` for modification (cgroup v2 `*.events` files
/// raise IN_MODIFY when their counters change).
pub fn inotify_modify(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: inotify_init1 takes plain flags.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has NUL"))?;
    // SAFETY: c is a valid NUL-terminated string that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(owned.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Drains pending inotify events without blocking.
pub fn inotify_drain(fd: RawFd) {
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: buf is valid and writable for its whole length during the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
    }
}

/// bpf(2) commands, program and attach types used for the v2 device filter.
pub mod bpf {
    use super::*;

    const BPF_PROG_LOAD: i32 = 5;
    const BPF_PROG_ATTACH: i32 = 8;
    const BPF_PROG_DETACH: i32 = 9;
    const BPF_PROG_GET_FD_BY_ID: i32 = 13;
    const BPF_PROG_QUERY: i32 = 16;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;

    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Attach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Query {
        target_fd: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        prog_cnt: u32,
        _pad: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct GetFdById {
        prog_id: u32,
        next_id: u32,
        open_flags: u32,
    }

    fn call<T>(cmd: i32, attr: &mut T) -> io::Result<i64> {
        // SAFETY: attr points to a properly sized, initialised #[repr(C)] bpf_attr variant
        // that lives across the call; the size passed matches it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>() as u32,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program given as raw 8-byte instructions.
    pub fn load_device_prog(insns: &[u64]) -> io::Result<OwnedFd> {
        let license = c"Apache";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            ..Default::default()
        };
        attr.prog_name[..9].copy_from_slice(b"dm_device");
        match call(BPF_PROG_LOAD, &mut attr) {
            // SAFETY: a successful BPF_PROG_LOAD returns a new fd owned by us alone.
            Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let msg = String::from_utf8_lossy(&log[..end]);
                Err(io::Error::new(
                    e.kind(),
                    format!("loading device program: {e}: {}", msg.trim()),
                ))
            }
        }
    }

    /// Ids of the device programs attached to the cgroup `dir_fd`.
    pub fn query_device_progs(dir_fd: RawFd) -> io::Result<Vec<u32>> {
        let mut ids = vec![0u32; 64];
        let mut attr = Query {
            target_fd: dir_fd as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        call(BPF_PROG_QUERY, &mut attr)?;
        ids.truncate(attr.prog_cnt as usize);
        Ok(ids)
    }

    /// Attaches `prog_fd` to the cgroup `dir_fd` (multi mode, so old programs can be swapped
    /// out after the new one is in place without a window of no filtering).
    pub fn attach_device_prog(dir_fd: RawFd, prog_fd: RawFd) -> io::Result<()> {
        let mut attr = Attach {
            target_fd: dir_fd as u32,
            attach_bpf_fd: prog_fd as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: BPF_F_ALLOW_MULTI,
            ..Default::default()
        };
        call(BPF_PROG_ATTACH, &mut attr).map(|_| ())
    }

    /// Detaches the program with id `prog_id` from the cgroup `dir_fd`.
    pub fn detach_device_prog(dir_fd: RawFd, prog_id: u32) -> io::Result<()> {
        let mut get = GetFdById {
            prog_id,
            ..Default::default()
        };
        let fd = call(BPF_PROG_GET_FD_BY_ID, &mut get)?;
        // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new fd that we own.
        let prog = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let mut attr = Attach {
            target_fd: dir_fd as u32,
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        call(BPF_PROG_DETACH, &mut attr).map(|_| ())
    }
}
