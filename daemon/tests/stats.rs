//! `docker stats --no-stream` shows the container's real numbers (memory as the cgroup counts
//! it, its limit, CPU use); `docker top` lists the container's processes only.

mod common;

use common::{assert_clean, prerequisites, Dmd, TestRegistry};
use dm_integration::poll;
use std::time::Duration;

/// `41.2MiB` -> bytes.
fn bytes(s: &str) -> f64 {
    let units = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    let (n, mult) = units
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or_else(|| panic!("no unit in {s:?}"));
    n.parse::<f64>().unwrap() * mult as f64
}

/// The first `n` lines of a streamed GET (the connection is dropped after).
fn stream_lines(d: &Dmd, path: &str, n: usize) -> Vec<String> {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut r = std::io::BufReader::new(s);
    let mut lines = vec![];
    let mut in_body = false;
    while lines.len() < n {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).unwrap() > 0,
            "stream ended after {lines:?}"
        );
        if in_body {
            lines.push(l.trim_end().to_owned());
        } else if l == "\r\n" {
            in_body = true;
        }
    }
    lines
}

#[test]
fn docker_stats_shows_cgroup_memory_and_cpu_and_top_lists_the_container() {
    if !prerequisites("docker_stats_shows_cgroup_memory_and_cpu_and_top_lists_the_container") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    // 40 MiB in a tmpfs stays charged to the container while it spins.
    let id = d.ok(&[
        "run", "-d", "--name", "st", "-m", "256m", "--tmpfs", "/big", image, "sh", "-c",
        "dd if=/dev/zero of=/big/x bs=1M count=40 2>/dev/null && touch /big/done; while :; do :; done",
    ]);
    let id = id.trim().to_owned();
    poll(
        "the container to fill its tmpfs",
        Duration::from_secs(60),
        || {
            d.docker(&["exec", "st", "test", "-f", "/big/done"])
                .status
                .success()
                .then_some(())
        },
    );
    let out = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}} {{.MemUsage}}",
        "st",
    ]);
    let cg = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(d.cgroup_parent.trim_start_matches('/'))
        .join(&id);
    let usage: f64 = std::fs::read_to_string(cg.join("memory.usage_in_bytes"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(cg.join("memory.stat")).unwrap();
    let inactive: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("total_inactive_file "))
        .unwrap()
        .parse()
        .unwrap();
    // "97.31% 41.2MiB / 256MiB"
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{out}");
    let cpu: f64 = f[0].trim_end_matches('%').parse().unwrap();
    let shown = bytes(f[1]);
    let cgroup = usage - inactive;
    assert!(shown >= 40.0 * 1024.0 * 1024.0, "{out}");
    assert!(
        (shown - cgroup).abs() <= 2.0 * 1024.0 * 1024.0,
        "docker stats shows {shown} bytes, the cgroup {cgroup}: {out}"
    );
    assert_eq!(f[3], "256MiB", "{out}");
    assert!(cpu > 1.0, "a spinning container shows {cpu}% CPU: {out}");

    // top: the init and nothing from the host.
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "st"]);
    let top = d.ok(&["top", "st"]);
    let mut lines = top.lines();
    assert!(
        lines.next().unwrap().split_whitespace().any(|t| t == "PID"),
        "{top}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert_eq!(rows[0].split_whitespace().nth(1), Some(pid.trim()), "{top}");
    assert!(rows[0].contains("while :"), "{top}");
    // The API itself: one-shot has no previous sample; a stream keeps sending.
    let (code, one) = d.request(
        "GET",
        "/v1.41/containers/st/stats?stream=false&one-shot=true",
        "",
    );
    assert_eq!(code, 200, "{one}");
    let v: serde_json::Value = serde_json::from_str(one.lines().next().unwrap()).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["name"], "/st");
    assert!(
        v["memory_stats"]["usage"].as_u64().unwrap() >= 40 << 20,
        "{v}"
    );
    assert_eq!(v["memory_stats"]["limit"], 256u64 << 20);
    assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
    assert!(v["pids_stats"]["current"].as_u64().unwrap() >= 1, "{v}");
    let two = stream_lines(&d, "/v1.41/containers/st/stats", 2);
    let second: serde_json::Value = serde_json::from_str(&two[1]).unwrap();
    assert!(
        second["cpu_stats"]["cpu_usage"]["total_usage"].as_u64()
            > second["precpu_stats"]["cpu_usage"]["total_usage"].as_u64(),
        "{second}"
    );

    let e = d.fails(&["top", "nope"]);
    assert!(e.contains("No such container: nope"), "{e}");

    d.ok(&["rm", "-f", "st"]);
    assert_clean(&mut d);
}
