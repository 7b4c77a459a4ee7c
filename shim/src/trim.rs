//! Keeps the idle shim small: shortly after activity stops, returns free heap to the kernel and
//! drops the page-table entries of the shim's own code and read-only data. The kernel maps file
//! pages in 64 KiB fault-around chunks, so most of the binary ends up mapped after a Create or
//! Start although an idle shim runs none of it. The pages stay in the page cache, shared by every
//! shim, and fault back in when code runs again.
//!
//! Only mappings of our own binary with no private (written) pages are touched: text, and
//! read-only data that relocation never wrote (RELRO pages are private copies and are skipped).
//! Dropping such pages loses nothing.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the shim must be quiet before it trims.
const QUIET: Duration = Duration::from_millis(200);

fn clean_file_ranges() -> &'static [(usize, usize)] {
    static R: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    R.get_or_init(|| {
        let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
        let exe = exe.to_string_lossy().into_owned();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let mut out = Vec::new();
        let mut cur: Option<(usize, usize)> = None;
        for l in smaps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 6 && f[0].contains('-') && !f[0].ends_with(':') {
                cur = None;
                if (f[1] == "r-xp" || f[1] == "r--p") && f[5] == exe {
                    if let Some((a, b)) = f[0].split_once('-') {
                        cur = usize::from_str_radix(a, 16)
                            .ok()
                            .zip(usize::from_str_radix(b, 16).ok());
                    }
                }
            } else if f.first() == Some(&"Anonymous:") {
                if let Some(r) = cur.take() {
                    if f.get(1) == Some(&"0") {
                        out.push(r);
                    }
                }
            }
        }
        out
    })
}

/// Releases free heap and unmaps resident clean pages of this binary (see module docs).
pub fn trim() {
    // SAFETY: malloc_trim only returns free memory; madvise(MADV_DONTNEED) on file mappings
    // without private pages just drops page-table entries (they refault from the file).
    unsafe {
        libc::malloc_trim(0);
        for &(start, end) in clean_file_ranges() {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

struct Activity {
    last: Mutex<Option<Instant>>,
    wake: Condvar,
}

fn activity() -> &'static Activity {
    static A: OnceLock<Activity> = OnceLock::new();
    A.get_or_init(|| Activity {
        last: Mutex::new(None),
        wake: Condvar::new(),
    })
}

/// Notes activity; a trim follows once the shim has been quiet for a moment.
pub fn soon() {
    let a = activity();
    *a.last.lock().unwrap() = Some(Instant::now());
    a.wake.notify_one();
}

/// Starts the thread that trims after activity settles, and trims once now.
pub fn start() {
    clean_file_ranges();
    trim();
    let _ = std::thread::Builder::new()
        .name("trim".into())
        .stack_size(64 * 1024)
        .spawn(|| {
            let a = activity();
            let mut last = a.last.lock().unwrap();
            loop {
                match *last {
                    None => last = a.wake.wait(last).unwrap(),
                    Some(t) if t.elapsed() < QUIET => {
                        let wait = QUIET - t.elapsed();
                        last = a.wake.wait_timeout(last, wait).unwrap().0;
                    }
                    Some(_) => {
                        *last = None;
                        drop(last);
                        trim();
                        last = a.last.lock().unwrap();
                    }
                }
            }
        });
}
