//! `docker events`: the lifecycle of containers, volumes and images in order, with since/until
//! windows and filters, and a live stream.

mod common;

use common::{assert_clean, now, prerequisites, Dmd, TestRegistry};
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

/// `docker events` over [since, until] with `args`, one line per event.
fn events(d: &Dmd, since: &str, until: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["events", "--since", since, "--until", until];
    all.extend_from_slice(args);
    d.ok(&all).lines().map(str::to_owned).collect()
}

#[test]
fn docker_events_sees_the_lifecycle_in_order_and_filters() {
    if !prerequisites("docker_events_sees_the_lifecycle_in_order_and_filters") {
        return;
    }
    let reg = TestRegistry::with_busybox();
    let mut d = Dmd::start();
    let image = reg.image.as_str();
    d.ok(&["pull", image]);

    let t0 = now();
    let id = d.ok(&[
        "create",
        "--name",
        "ev",
        "--label",
        "role=test",
        image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 1000 & wait",
    ]);
    let id = id.trim();
    d.ok(&["start", "ev"]);
    d.ok(&["rename", "ev", "ev2"]);
    // Paused: frozen in the cgroup, shown as docker shows it, no exec; unpause thaws.
    d.ok(&["pause", "ev2"]);
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer")
        .join(d.cgroup_parent.trim_start_matches('/'))
        .join(id)
        .join("freezer.state");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
            "ev2"
        ]),
        "paused true true\n"
    );
    assert!(d
        .ok(&["ps", "--format", "{{.Status}}"])
        .trim()
        .ends_with("(Paused)"));
    let e = d.fails(&["exec", "ev2", "true"]);
    assert!(
        e.contains("is paused, unpause the container before exec"),
        "{e}"
    );
    assert!(d.fails(&["pause", "ev2"]).contains("is already paused"));
    d.ok(&["unpause", "ev2"]);
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    assert!(d.fails(&["unpause", "ev2"]).contains("is not paused"));
    // A paused container still stops: it is thawed for the signal.
    d.ok(&["pause", "ev2"]);
    d.ok(&["stop", "ev2"]);
    d.ok(&["rm", "ev2"]);
    d.ok(&["volume", "create", "evv"]);
    d.ok(&["run", "--rm", "-v", "evv:/v", image, "true"]);
    d.ok(&["volume", "rm", "evv"]);
    d.ok(&["tag", image, "example.test/tagged:v1"]);
    let t1 = now();
    // Outside the window: not reported.
    d.ok(&["volume", "create", "late"]);

    let actions = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            &format!("container={id}"),
            "--format",
            "{{.Action}}",
        ],
    );
    assert_eq!(
        actions,
        [
            "create", "start", "rename", "pause", "unpause", "pause", "unpause", "kill", "die",
            "stop", "destroy"
        ]
    );
    let die = events(&d, &t0, &t1, &[
        "--filter", "event=die", "--filter", "container=ev2",
        "--format", "{{.Type}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.name}} {{.Actor.Attributes.role}}",
    ]);
    assert_eq!(die, ["container 0 ev2 test"]);
    let renamed = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            "event=rename",
            "--format",
            "{{.Actor.Attributes.oldName}}",
        ],
    );
    assert_eq!(renamed, ["/ev"]);
    let labelled = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            "label=role=test",
            "--filter",
            "event=create",
            "--format",
            "{{.Actor.ID}}",
        ],
    );
    assert_eq!(labelled, [id]);
    let vols = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ],
    );
    assert_eq!(
        vols,
        ["create evv", "mount evv", "unmount evv", "destroy evv"]
    );
    let tagged = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(tagged, ["tag example.test/tagged:v1"]);
    // The run's container: create, start, die and destroy (--rm), by image.
    let run = events(
        &d,
        &t0,
        &t1,
        &[
            "--filter",
            &format!("image={image}"),
            "--filter",
            "type=container",
            "--format",
            "{{.Action}}",
        ],
    );
    assert_eq!(
        run[run.len() - 4..],
        ["create", "start", "die", "destroy"],
        "{run:?}"
    );

    let e = d.fails(&[
        "events", "--since", &t0, "--until", &t1, "--filter", "bogus=1",
    ]);
    assert!(e.contains("invalid filter 'bogus'"), "{e}");

    // Live: with --since and no --until the stream replays, then keeps going.
    let t2 = now();
    let mut child = d
        .cmd(&[
            "events",
            "--since",
            &t2,
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    d.ok(&["volume", "create", "live1"]);
    let first = rx.recv_timeout(Duration::from_secs(60));
    // Printed only after the client holds the stream: this one can only come live.
    d.ok(&["volume", "create", "live2"]);
    let second = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(first.as_deref(), Ok("create live1"));
    assert_eq!(second.as_deref(), Ok("create live2"));
    d.ok(&["volume", "rm", "late", "live1", "live2"]);
    assert_clean(&mut d);
}
