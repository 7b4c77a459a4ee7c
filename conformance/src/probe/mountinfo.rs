//! /proc/self/mountinfo, parsed.

/// One line of /proc/self/mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount point, unescaped.
    pub point: String,
    /// Per-mount options (ro, nosuid, ...).
    pub opts: Vec<String>,
    /// Optional fields (shared:N, master:N, ...).
    pub tags: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Superblock options.
    pub super_opts: Vec<String>,
}

/// Reads /proc/self/mountinfo in mount order.
pub fn read() -> Result<Vec<MountEntry>, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read mountinfo: {e}"))?;
    Ok(text.lines().filter_map(parse_line).collect())
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if l.len() < 6 || r.len() < 3 {
        return None;
    }
    let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
    Some(MountEntry {
        point: unescape(l[4]),
        opts: split(l[5]),
        tags: l[6..].iter().map(|s| s.to_string()).collect(),
        fstype: r[0].to_owned(),
        source: unescape(r[1]),
        super_opts: split(r[2]),
    })
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_tags_and_escapes() {
        let e = parse_line("36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue").unwrap();
        assert_eq!(e.point, "/mnt x");
        assert_eq!(e.opts, ["rw", "noatime"]);
        assert_eq!(e.tags, ["master:1", "shared:2"]);
        assert_eq!(
            (e.fstype.as_str(), e.source.as_str()),
            ("ext3", "/dev/root")
        );
        assert_eq!(e.super_opts, ["rw", "errors=continue"]);
        assert!(parse_line("garbage").is_none());
    }
}
