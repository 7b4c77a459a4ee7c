//! `GET /containers/{id}/top?ps_args=`: the host's `ps` output limited to the container's
//! processes (found through its cgroup), split as docker splits it.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query};
use dm_cgroups::Cgroup;
use hyper::{Response, StatusCode};
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Splits `ps` output into titles and the rows whose PID is in `pids` (the last column keeps
/// its spaces).
pub fn parse_ps(out: &str, pids: &HashSet<i32>) -> ApiResult<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = out.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut rows = vec![];
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            return Err(ApiError::internal(format!(
                "Unexpected pid '{}': not a number",
                fields[pid_col]
            )));
        };
        if !pids.contains(&pid) {
            continue;
        }
        let n = titles.len();
        let mut row: Vec<String> = fields[..n - 1].iter().map(|s| (*s).to_owned()).collect();
        row.push(fields[n - 1..].join(" "));
        rows.push(row);
    }
    Ok((titles, rows))
}

/// `GET /containers/{id}/top`.
pub async fn top(d: &Arc<Daemon>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let id = d.find(id)?;
    if !d.record(&id)?.state.running {
        return Err(ApiError::conflict(format!("Container {id} is not running")));
    }
    let args: Vec<String> = q
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let path = PathBuf::from(format!(
        "{}/{}",
        d.cfg.cgroup_parent.trim_end_matches('/'),
        id
    ));
    let (titles, rows) = tokio::task::spawn_blocking(move || {
        let cg = Cgroup::new(Some(&path), &id)
            .map_err(|e| ApiError::internal(format!("container {id} cgroup: {e}")))?;
        let pids: HashSet<i32> = cg
            .pids()
            .map_err(|e| ApiError::internal(format!("container {id} processes: {e}")))?
            .into_iter()
            .collect();
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| ApiError::internal(format!("run ps: {e}")))?;
        if !out.status.success() {
            return Err(ApiError::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    })
    .await
    .map_err(|e| ApiError::internal(format!("top: {e}")))??;
    Ok(http::json(
        StatusCode::OK,
        &json!({"Titles": titles, "Processes": rows}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid_and_keep_the_command_whole() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sleep 100 --x\n";
        let (t, rows) = parse_ps(out, &[42].into_iter().collect()).unwrap();
        assert_eq!(t.len(), 8);
        assert_eq!(
            rows,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 100 --x"
            ]]
        );
        assert!(parse_ps("USER CMD\nx y\n", &HashSet::new()).is_err());
    }
}
