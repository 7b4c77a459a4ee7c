//! Healthchecks through the real docker CLI: starting, healthy, unhealthy, timeouts, events,
//! `docker ps` filters, and docker 26's start interval (API 1.44+).

mod common;

use common::{assert_clean, inspect, lines_in as runs, now, prerequisites, Dmd, TestRegistry};
use dm_integration::poll;
use std::time::Duration;

#[test]
fn healthchecks_go_starting_healthy_unhealthy_and_time_out() {
    if !prerequisites("healthchecks_go_starting_healthy_unhealthy_and_time_out") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    let t0 = now();
    // The first probe comes an interval after the start: an hour here, so it stays starting.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        image,
        "sleep",
        "1000",
    ]);
    assert_eq!(inspect(&d, "slow", "{{.State.Health.Status}}"), "starting");
    let ps = d.ok(&["ps", "--filter", "name=slow", "--format", "{{.Status}}"]);
    assert!(ps.trim().ends_with("(health: starting)"), "{ps}");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "cat /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--health-timeout",
        "2s",
        image,
        "sh",
        "-c",
        "echo fine > /tmp/ok; exec sleep 1000",
    ]);
    poll("healthy", Duration::from_secs(20), || {
        (inspect(&d, "hc", "{{.State.Health.Status}}") == "healthy").then_some(())
    });
    let last = inspect(
        &d,
        "hc",
        "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}",
    );
    assert_eq!(last, "0 fine");
    let ps = d.ok(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        ps.starts_with("hc Up") && ps.trim().ends_with("(healthy)"),
        "{ps}"
    );

    d.ok(&["exec", "hc", "rm", "/tmp/ok"]);
    poll("unhealthy", Duration::from_secs(20), || {
        (inspect(&d, "hc", "{{.State.Health.Status}}") == "unhealthy").then_some(())
    });
    let streak: i64 = inspect(&d, "hc", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "FailingStreak {streak}");
    poll("five results kept", Duration::from_secs(20), || {
        (inspect(&d, "hc", "{{len .State.Health.Log}}") == "5").then_some(())
    });
    let codes = inspect(&d, "hc", "{{range .State.Health.Log}}{{.ExitCode}} {{end}}");
    assert!(codes.ends_with("1 1"), "{codes}");
    assert_eq!(
        d.ok(&[
            "ps",
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "hc"
    );
    assert_eq!(
        d.ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"])
            .trim(),
        ""
    );

    // A probe past its timeout is killed and counts as a failure.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        "sleep 100",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        image,
        "sleep",
        "1000",
    ]);
    poll("unhealthy by timeout", Duration::from_secs(20), || {
        (inspect(&d, "stuck", "{{.State.Health.Status}}") == "unhealthy").then_some(())
    });
    let first = inspect(
        &d,
        "stuck",
        "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}",
    );
    assert!(
        first.starts_with("-1 Health check exceeded timeout"),
        "{first}"
    );

    let t1 = now();
    let ev = d.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &t1,
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}}",
    ]);
    let health: Vec<&str> = ev
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert_eq!(
        health,
        ["health_status: healthy", "health_status: unhealthy"],
        "{ev}"
    );
    d.ok(&["rm", "-f", "slow", "hc", "stuck"]);
    assert_clean(&mut d);
}

/// Debian 13's docker CLI 26, as scripts/trixie.sh unpacks it.
const TRIXIE_DOCKER: &str = "/var/cache/dockermind/trixie/docker-cli/usr/bin/docker";

#[test]
fn health_start_interval_probes_during_the_start_period() {
    if !prerequisites("health_start_interval_probes_during_the_start_period") {
        return;
    }
    if !std::path::Path::new(TRIXIE_DOCKER).is_file() {
        if dm_testkit::in_ci() {
            panic!(
                "CI=true but {TRIXIE_DOCKER} is missing (scripts/deps.sh runs scripts/trixie.sh)"
            );
        }
        eprintln!("\n!!! SKIPPED: health_start_interval_probes_during_the_start_period needs {TRIXIE_DOCKER} !!!\n");
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);
    let data = d.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let bind = format!("{}:/data", data.display());
    // docker 26 sends StartInterval (API 1.44+); Debian 12's docker has no such flag.
    let out = std::process::Command::new(TRIXIE_DOCKER)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker26-config"))
        .args([
            "run",
            "-d",
            "--name",
            "warm",
            "-v",
            &bind,
            "--health-cmd",
            "echo x >> /data/probes; exit 1",
            "--health-interval",
            "1h",
            "--health-start-period",
            "1h",
            "--health-start-interval",
            "100ms",
            "--health-retries",
            "1",
            image,
            "sleep",
            "1000",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        inspect(&d, "warm", "{{.Config.Healthcheck.StartInterval}}"),
        "100000000"
    );
    // Probes come every start interval, not every (hour-long) interval; failures during the
    // start period do not count, so it stays starting.
    poll("three probes", Duration::from_secs(20), || {
        (runs(&data.join("probes")) >= 3).then_some(())
    });
    assert_eq!(inspect(&d, "warm", "{{.State.Health.Status}}"), "starting");

    // API < 1.44 has no StartInterval (dockerd drops it); below 1ms is refused.
    let create = |v: &str, start_interval: u64| {
        d.request(
            "POST",
            &format!("/{v}/containers/create"),
            &format!(
                r#"{{"Image":"{image}","Cmd":["true"],"Healthcheck":{{"Test":["CMD","true"],"StartPeriod":1000000000,"StartInterval":{start_interval}}}}}"#
            ),
        )
    };
    let (code, body) = create("v1.43", 100_000_000);
    assert_eq!(code, 201, "{body}");
    let id: String = body.split('"').nth(3).unwrap().to_owned();
    assert_eq!(
        inspect(&d, &id, "{{.Config.Healthcheck.StartInterval}}"),
        "0"
    );
    let (code, body) = create("v1.44", 10);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("StartInterval in Healthcheck cannot be less than 1ms"),
        "{body}"
    );
    d.ok(&["rm", "-f", "warm", &id]);
    assert_eq!(d.ok(&["ps", "-aq"]), "", "no half-created container");
    assert_clean(&mut d);
}
