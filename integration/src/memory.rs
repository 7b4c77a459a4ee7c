//! Resident memory of a process as the kernel accounts it (for shim memory figures).

/// RSS and PSS of `pid` in KiB, from /proc/<pid>/smaps_rollup.
pub fn rss_pss_kib(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("Rss:")?, field("Pss:")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_has_resident_memory() {
        let (rss, pss) = super::rss_pss_kib(std::process::id() as i32).unwrap();
        assert!(rss > 0 && pss > 0 && pss <= rss, "rss {rss} pss {pss}");
    }
}
