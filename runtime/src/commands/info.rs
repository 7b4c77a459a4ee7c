//! `state`, `list`, `ps`, `spec`, `features`: reading containers and describing the runtime.

use crate::error::{Error, IoContext, Result};
use crate::state::{State, Status};
use std::path::Path;

/// Prints one container's state JSON (runc's shape, indented).
pub fn state(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    let v = st.oci_state(st.status(root));
    println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    Ok(())
}

/// Prints every container under the root as a table, ids, or JSON.
pub fn list(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let mut all = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(st) = State::load(root, &id) {
                let status = st.status(root);
                all.push((st, status));
            }
        }
    }
    all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    if quiet {
        for (st, _) in &all {
            println!("{}", st.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = all.iter().map(|(st, s)| st.oci_state(*s)).collect();
            // runc prints a Go nil slice as null.
            if v.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&v).expect("json"));
            }
        }
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for (st, s) in &all {
                let pid = if *s == Status::Stopped { 0 } else { st.pid };
                rows.push(vec![
                    st.id.clone(),
                    pid.to_string(),
                    s.as_str().into(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    "root".into(),
                ]);
            }
            print!("{}", table(&rows));
        }
        f => {
            return Err(Error::Arg(format!(
                "--format: invalid value {f:?} (table or json)"
            )))
        }
    }
    Ok(())
}

/// Columns padded like Go's tabwriter(minwidth 12, padding 3) as runc uses it.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows[0].len();
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = width[c]));
            }
        }
        out.push('\n');
    }
    out
}

/// Lists the container's processes: pids as JSON, or ps(1) output filtered to them.
pub fn ps(root: &Path, id: &str, format: &str, args: &[String]) -> Result<()> {
    let st = State::load(root, id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::State("container not running".into()));
    }
    let pids = st.cgroup.pids()?;
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids).expect("json"));
            Ok(())
        }
        "table" => {
            let args: Vec<String> = if args.is_empty() {
                vec!["-ef".into()]
            } else {
                args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .io("run", "ps")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Arg("ps output has no PID column".into()))?;
            println!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(())
        }
        f => Err(Error::Arg(format!(
            "--format: invalid value {f:?} (table or json)"
        ))),
    }
}

/// Writes a default config.json into the bundle (refusing to overwrite one).
pub fn spec(bundle: Option<&Path>, rootless: bool) -> Result<()> {
    let dir = bundle.unwrap_or(Path::new("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Arg(
            "File config.json exists. Remove it first".into(),
        ));
    }
    let v = crate::spec::default_spec(rootless);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&v).expect("json") + "\n",
    )
    .io("write", path)
}

/// Prints the runtime-spec features document.
pub fn features() -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::spec::features()).expect("json")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_pads_like_tabwriter() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into()],
            vec!["a-very-long-container".into(), "1".into()],
        ];
        let t = super::table(&rows);
        assert_eq!(
            t,
            "ID                      PID\na-very-long-container   1\n"
        );
    }
}
