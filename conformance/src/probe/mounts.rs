//! Mounts, the root filesystem, masked and read-only paths.

use super::mountinfo::{read, MountEntry};
use super::outcome;
use crate::case::Outcome;
use crate::plan::Probe;
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

pub(super) fn verify(probe: &Probe) -> Outcome {
    outcome(match probe {
        Probe::RootReadonly(ro) => root_readonly(*ro),
        Probe::MountPresent(dest) => read().map(|m| {
            Outcome::check(top(&m, dest).is_some(), || {
                format!("nothing mounted at {dest}")
            })
        }),
        Probe::MountType(dest, ty) => read().and_then(|m| mount_type(&m, dest, ty)),
        Probe::MountSource(dest, src, mark) => mount_source(dest, src, mark.as_deref()),
        Probe::MountOption(dest, o) => read().and_then(|m| {
            let e = top(&m, dest).ok_or_else(|| format!("nothing mounted at {dest}"))?;
            option(e, dest, o)
        }),
        Probe::MountOrder(dests) => read().map(|m| order(&m, dests)),
        Probe::Masked(p) => masked(Path::new(p)),
        Probe::ReadonlyPath(p) => {
            if !Path::new(p).exists() {
                return Outcome::Skip(format!("{p} does not exist on this kernel"));
            }
            statvfs(p.as_str())
                .map(|s| {
                    Outcome::check(s.flags().contains(FsFlags::ST_RDONLY), || {
                        format!("{p} is on a writable mount")
                    })
                })
                .map_err(|e| format!("statvfs {p}: {e}"))
        }
        other => Err(format!("internal: {other:?} is not a mount probe")),
    })
}

/// The mount that is visible at `dest`: the last one mounted there.
fn top<'a>(m: &'a [MountEntry], dest: &str) -> Option<&'a MountEntry> {
    m.iter().rev().find(|e| e.point == dest)
}

fn root_readonly(ro: bool) -> Result<Outcome, String> {
    let flag = statvfs("/")
        .map_err(|e| format!("statvfs /: {e}"))?
        .flags()
        .contains(FsFlags::ST_RDONLY);
    let probe = "/.dmc-write-probe";
    let write = std::fs::write(probe, b"x");
    let _ = std::fs::remove_file(probe);
    Ok(match (ro, flag, write) {
        (true, true, Err(e)) if e.raw_os_error() == Some(libc::EROFS) => Outcome::Pass,
        (true, _, w) => Outcome::Fail(format!(
            "ST_RDONLY on / is {flag}, creating a file gave {w:?} (want EROFS)"
        )),
        (false, false, Ok(())) => Outcome::Pass,
        (false, _, w) => Outcome::Fail(format!(
            "ST_RDONLY on / is {flag}, creating a file gave {w:?}"
        )),
    })
}

fn mount_type(m: &[MountEntry], dest: &str, ty: &str) -> Result<Outcome, String> {
    let e = top(m, dest).ok_or_else(|| format!("nothing mounted at {dest}"))?;
    if ty == "cgroup" || ty == "cgroup2" {
        // cgroup v1 is a tmpfs holding one mount per hierarchy; cgroup v2 is a single mount.
        let below = format!("{}/", dest.trim_end_matches('/'));
        let cg = |t: &str| t == "cgroup" || t == "cgroup2";
        let ok = cg(&e.fstype)
            || m.iter()
                .any(|s| s.point.starts_with(&below) && cg(&s.fstype));
        return Ok(Outcome::check(ok, || {
            format!("{dest} is {} with no cgroup hierarchy below", e.fstype)
        }));
    }
    Ok(Outcome::eq(e.fstype.as_str(), ty))
}

fn mount_source(dest: &str, src: &str, mark: Option<&str>) -> Result<Outcome, String> {
    if let Some(mark) = mark {
        let p = Path::new(dest).join(crate::context::BIND_MARK);
        let md =
            std::fs::metadata(&p).map_err(|e| format!("{} (marker of {src}): {e}", p.display()))?;
        return Ok(Outcome::eq(
            format!("{}:{}", md.dev(), md.ino()),
            mark.to_owned(),
        ));
    }
    let m = read()?;
    let e = top(&m, dest).ok_or_else(|| format!("nothing mounted at {dest}"))?;
    Ok(Outcome::eq(e.source.as_str(), src))
}

fn option(e: &MountEntry, dest: &str, o: &str) -> Result<Outcome, String> {
    let has = |x: &str| e.opts.iter().any(|p| p == x);
    let tagged = |t: &str| e.tags.iter().any(|p| p.starts_with(t));
    let show = || {
        format!(
            "{dest}: options {:?}, tags {:?}, super {:?}",
            e.opts, e.tags, e.super_opts
        )
    };
    let r = match o {
        "ro" | "nosuid" | "nodev" | "noexec" => has(o),
        "rw" => has("rw"),
        "suid" | "dev" | "exec" => !has(&format!("no{o}")),
        "shared" | "rshared" => tagged("shared:"),
        "slave" | "rslave" => tagged("master:"),
        "private" | "rprivate" => !tagged("shared:") && !tagged("master:"),
        "unbindable" | "runbindable" => tagged("unbindable"),
        _ => {
            let (k, v) = o.split_once('=').unwrap_or((o, ""));
            match k {
                "mode" | "ptmxmode" => {
                    let want = u32::from_str_radix(v, 8).map_err(|_| format!("bad option {o}"))?;
                    let shown = e.super_opts.iter().find_map(|s| {
                        s.split_once('=')
                            .filter(|(sk, _)| *sk == k)
                            .map(|(_, sv)| sv.to_owned())
                    });
                    match shown {
                        Some(sv) => u32::from_str_radix(&sv, 8) == Ok(want),
                        // tmpfs hides its default mode (1777): the directory shows it.
                        None if k == "mode" && e.fstype == "tmpfs" => {
                            let m = std::fs::metadata(dest)
                                .map_err(|err| format!("stat {dest}: {err}"))?;
                            return Ok(Outcome::eq(
                                format!("{:o}", m.mode() & 0o7777),
                                format!("{want:o}"),
                            ));
                        }
                        None => false,
                    }
                }
                "gid" => e.super_opts.iter().any(|s| s == o),
                "size" => return size(dest, v),
                _ => return Ok(Outcome::Skip(format!("option {o} is not checked"))),
            }
        }
    };
    Ok(Outcome::check(r, show))
}

fn size(dest: &str, v: &str) -> Result<Outcome, String> {
    let (num, mult) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 1024),
        Some('m' | 'M') => (&v[..v.len() - 1], 1024 * 1024),
        Some('g' | 'G') => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    let want: u64 = num.parse::<u64>().map_err(|_| format!("bad size {v}"))? * mult;
    let s = statvfs(dest).map_err(|e| format!("statvfs {dest}: {e}"))?;
    let got = s.blocks() * s.fragment_size();
    Ok(Outcome::eq(got, want))
}

fn order(m: &[MountEntry], dests: &[String]) -> Outcome {
    let idx: Vec<(usize, &String)> = dests
        .iter()
        .filter_map(|d| m.iter().position(|e| &e.point == d).map(|i| (i, d)))
        .collect();
    match idx.windows(2).find(|w| w[0].0 > w[1].0) {
        None => Outcome::Pass,
        Some(w) => Outcome::Fail(format!("{} was mounted after {}", w[0].1, w[1].1)),
    }
}

fn masked(p: &Path) -> Result<Outcome, String> {
    let Ok(md) = std::fs::metadata(p) else {
        return Ok(Outcome::Skip(format!(
            "{} does not exist on this kernel",
            p.display()
        )));
    };
    if md.is_dir() {
        let n = std::fs::read_dir(p)
            .map_err(|e| format!("readdir {}: {e}", p.display()))?
            .count();
        return Ok(Outcome::check(n == 0, || {
            format!("{} lists {n} entries", p.display())
        }));
    }
    if md.file_type().is_char_device()
        && nix::sys::stat::major(md.rdev()) == 1
        && nix::sys::stat::minor(md.rdev()) == 3
    {
        return Ok(Outcome::Pass);
    }
    use std::io::Read;
    let mut buf = [0u8; 64];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut buf))
        .map_err(|e| {
            format!(
                "{} is neither /dev/null nor empty: open/read gave {e}",
                p.display()
            )
        })?;
    Ok(Outcome::check(n == 0, || {
        format!("read {n} bytes from {}", p.display())
    }))
}
