//! dm-probe: a static helper that tests copy into a container to observe what busybox cannot.
//!
//! `dm-probe keyring DESC`: prints `session=<description of the session keyring or none>` and
//! `secret=<found|absent>` for a "user" key named DESC searched from the session keyring.
//! `dm-probe setxattr PATH NAME VALUE`: sets an extended attribute (busybox has no setfattr).

mod exe_race;

const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEYCTL_SEARCH: libc::c_long = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["keyring", desc] => keyring(desc),
        ["exe-race", ref ignore @ ..] => exe_race::run(ignore),
        ["setxattr", path, name, value] => setxattr(path, name, value),
        _ => {
            eprintln!(
                "usage: dm-probe keyring DESC | exe-race [IGNORE...] | setxattr PATH NAME VALUE"
            );
            std::process::exit(2)
        }
    }
}

fn keyring(desc: &str) {
    // SAFETY: integer arguments only; create=0 so nothing is made when there is no keyring.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0,
        )
    };
    let session = if id < 0 {
        "none".to_string()
    } else {
        describe(id).unwrap_or_else(|| "undescribable".into())
    };
    println!("session={session}");
    let ty = c"user";
    let name = std::ffi::CString::new(desc).expect("no NUL in DESC");
    // SAFETY: both strings are NUL-terminated and outlive the call; dest keyring 0 = none.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SEARCH,
            KEY_SPEC_SESSION_KEYRING,
            ty.as_ptr(),
            name.as_ptr(),
            0,
        )
    };
    println!("secret={}", if r >= 0 { "found" } else { "absent" });
}

/// The description part of KEYCTL_DESCRIBE ("type;uid;gid;perm;description").
fn describe(id: libc::c_long) -> Option<String> {
    let mut buf = vec![0u8; 512];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    let s = String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]);
    Some(s.trim_end_matches('\0').rsplit(';').next()?.to_string())
}

fn setxattr(path: &str, name: &str, value: &str) {
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL in arguments");
    let (p, n) = (c(path), c(name));
    // SAFETY: NUL-terminated strings and a buffer with its length, all alive across the call.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        eprintln!(
            "setxattr {path} {name}: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(1);
    }
}
