//! Memory of a running process from /proc/<pid>/smaps_rollup: RSS and PSS.

use crate::error::{BenchError, Result};
use serde::{Deserialize, Serialize};

/// Resident and proportional set size of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemUse {
    /// Rss in KiB: every resident page it maps.
    pub rss_kib: u64,
    /// Pss in KiB: shared pages divided among their sharers (what N copies really cost).
    pub pss_kib: u64,
}

/// Reads /proc/<pid>/smaps_rollup.
pub fn of_pid(pid: u32) -> Result<MemUse> {
    let p = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&p).map_err(BenchError::io(&p))?;
    parse(&text).ok_or_else(|| BenchError::Input {
        what: p,
        why: "no Rss/Pss lines".into(),
    })
}

/// Parses the `Rss:` and `Pss:` lines (in kB) of an smaps_rollup text.
pub fn parse(text: &str) -> Option<MemUse> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(MemUse {
        rss_kib: field("Rss:")?,
        pss_kib: field("Pss:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_and_pss_but_not_pss_anon() {
        let t = "55d0-7ffd ---p 00000000 00:00 0   [rollup]\nRss:               13120 kB\n\
                 Pss:                3528 kB\nPss_Anon:           2100 kB\n";
        assert_eq!(
            parse(t),
            Some(MemUse {
                rss_kib: 13120,
                pss_kib: 3528
            })
        );
        assert_eq!(parse("Rss: 1 kB\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let m = of_pid(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.pss_kib > 0 && m.pss_kib <= m.rss_kib);
    }
}
