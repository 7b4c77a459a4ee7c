//! `HostConfig.VolumesFrom` (`--volumes-from C[:ro|:rw]`): the volume and bind mounts of
//! another container, reused at the same paths (read-only if either side says so).

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::mounts::MountPoint;

/// One `container[:mode]` entry: the container and whether it forces read-only.
fn parse(spec: &str) -> ApiResult<(&str, bool)> {
    let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if name.is_empty() {
        return Err(ApiError::bad(format!(
            "VolumesFrom {spec:?}: no container named (want container[:ro|:rw])"
        )));
    }
    let mut ro = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => ro = true,
            // SELinux relabelling: nothing to do without SELinux.
            "rw" | "z" | "Z" => {}
            _ => return Err(ApiError::bad(format!("invalid mode: {mode}"))),
        }
    }
    Ok((name, ro))
}

impl Daemon {
    /// The mount points `specs` take from other containers (a later entry's mount wins at the
    /// same path); an unknown container is docker's 400 "No such container".
    pub fn volumes_from(&self, specs: &[String]) -> ApiResult<Vec<MountPoint>> {
        let mut out: Vec<MountPoint> = Vec::new();
        for spec in specs {
            let (name, ro) = parse(spec)?;
            // A 400 as in dockerd (a 404 would make the CLI pull the image and retry).
            let id = self.find(name).map_err(|e| ApiError::bad(e.message))?;
            let source = self.record(&id)?;
            for m in source
                .mount_points
                .iter()
                .filter(|m| matches!(m.kind.as_str(), "volume" | "bind"))
            {
                out.retain(|o| o.destination != m.destination);
                out.push(MountPoint {
                    rw: m.rw && !ro,
                    mode: if ro { "ro".into() } else { m.mode.clone() },
                    // The data is the source container's: no copy-up, no host directory made.
                    copy: false,
                    create_source: false,
                    ..m.clone()
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_like_dockers() {
        assert_eq!(parse("data").unwrap(), ("data", false));
        assert_eq!(parse("data:ro").unwrap(), ("data", true));
        assert_eq!(parse("data:rw").unwrap(), ("data", false));
        assert_eq!(parse("data:ro,z").unwrap(), ("data", true));
        assert!(parse("data:rx")
            .unwrap_err()
            .message
            .contains("invalid mode: rx"));
        assert!(parse(":ro").unwrap_err().message.contains("VolumesFrom"));
    }
}
