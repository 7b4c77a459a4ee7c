//! Prints a cgroup's stats as `runc events --stats` would (its `data` object).
//! Usage: `stats <cgroupsPath> [id]` — the path as in config.json (relative = under our own).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map(std::path::PathBuf::from);
    let id = args.get(2).map(String::as_str).unwrap_or("stats");
    let cg = match dm_cgroups::Cgroup::new(path.as_deref(), id) {
        Ok(cg) => cg,
        Err(e) => {
            eprintln!("stats: {e}");
            std::process::exit(1);
        }
    };
    match cg.stats() {
        Ok(s) => println!("{}", serde_json::to_string(&s).unwrap()),
        Err(e) => {
            eprintln!("stats: {e}");
            std::process::exit(1);
        }
    }
}
