//! Keeps the idle shim small: returns free heap to the kernel and drops the page-table entries
//! of the shim's own executable code, which the kernel maps in 64 KiB fault-around chunks (most
//! of the text ends up mapped after Create/Start although an idle shim runs none of it). The
//! pages stay in the page cache, shared by every shim, and fault back in when code runs again.
//!
//! Only read-execute mappings of our own binary are touched: they are never written (the binary
//! is position-independent, so text carries no relocations), so dropping them loses nothing.

use std::sync::OnceLock;

fn text_ranges() -> &'static [(usize, usize)] {
    static R: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    R.get_or_init(|| {
        let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
        let exe = exe.to_string_lossy();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        maps.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() < 6 || f[1] != "r-xp" || f[5] != exe {
                    return None;
                }
                let (a, b) = f[0].split_once('-')?;
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
            .collect()
    })
}

/// Releases free heap and unmaps resident code pages of this process (see module docs).
pub fn trim() {
    // SAFETY: malloc_trim only returns free memory; madvise(MADV_DONTNEED) on read-only,
    // never-written file mappings just drops page-table entries (they refault from the file).
    unsafe {
        libc::malloc_trim(0);
        for &(start, end) in text_ranges() {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}
