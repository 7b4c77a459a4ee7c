//! Bundles the runtime must refuse, and exit codes of `run`.

use super::{errored, shell_spec, write, Rec};
use crate::case::{Level::*, Outcome};
use crate::error::Result;
use crate::runtime::{Runtime, Sandbox};
use serde_json::{json, Value};

const CREATE: &str = "runtime.md#create";

/// Invalid bundles: each create must fail and leave no container behind.
pub fn errors(rt: &Runtime, r: &mut Rec) -> Result<()> {
    type Breaker = fn(&mut Value, &Sandbox) -> Result<()>;
    let cases: [(&str, &'static str, &str, Breaker); 9] = [
        (
            "missing-config",
            "bundle.md",
            "a bundle without config.json",
            |_, sb| {
                std::fs::remove_file(sb.bundle().join("config.json"))
                    .map_err(crate::error::io("remove", sb.bundle().join("config.json")))
            },
        ),
        (
            "missing-root",
            "config.md#root",
            "root.path that does not exist",
            |s, _| {
                s["root"]["path"] = json!("no-such-rootfs");
                Ok(())
            },
        ),
        (
            "duplicate-rlimit",
            "config.md#posix-process",
            "two rlimits of the same type",
            |s, _| {
                s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}, {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]);
                Ok(())
            },
        ),
        (
            "unknown-fstype",
            "config.md#mounts",
            "a mount of an unknown filesystem type",
            |s, _| {
                s["mounts"].as_array_mut().expect("mounts").push(
                    json!({"destination": "/mnt/x", "type": "dmc-nosuchfs", "source": "none"}),
                );
                Ok(())
            },
        ),
        (
            "invalid-json",
            "config.md",
            "config.json that is not JSON",
            |_, sb| {
                std::fs::write(sb.bundle().join("config.json"), "{ not json")
                    .map_err(crate::error::io("write", sb.bundle().join("config.json")))
            },
        ),
        (
            "missing-ociVersion",
            "config.md#specification-version",
            "config.json without ociVersion",
            |s, _| {
                s.as_object_mut().map(|o| o.remove("ociVersion"));
                Ok(())
            },
        ),
        (
            "duplicate-namespace",
            "config-linux.md#namespaces",
            "a namespace type listed twice",
            |s, _| {
                s["linux"]["namespaces"]
                    .as_array_mut()
                    .expect("namespaces")
                    .push(json!({"type": "pid"}));
                Ok(())
            },
        ),
        (
            "namespace-path-wrong-type",
            "config-linux.md#namespaces",
            "a network namespace path that is a uts namespace",
            |s, _| {
                let path = format!("/proc/{}/ns/uts", std::process::id());
                crate::spec::set_namespace(s, "network", Some(&path));
                Ok(())
            },
        ),
        (
            "unknown-capability",
            "config.md#linux-process",
            "a capability the kernel does not have",
            |s, _| {
                s["process"]["capabilities"]["bounding"]
                    .as_array_mut()
                    .expect("caps")
                    .push(json!("CAP_DMC_BOGUS"));
                Ok(())
            },
        ),
    ];
    for (id, section, what, breaker) in cases {
        let sb = Sandbox::new(rt)?;
        let mut spec = shell_spec(&sb, "true");
        let fix_after = matches!(id, "missing-config" | "invalid-json");
        if !fix_after {
            breaker(&mut spec, &sb)?;
        }
        write(&sb, &spec)?;
        if fix_after {
            breaker(&mut spec, &sb)?;
        }
        let c = sb.create(&[]);
        // A missing REQUIRED field does not stop a runtime from building the container, so
        // refusing it is good practice rather than a stated MUST.
        let level = if id == "missing-ociVersion" {
            Should
        } else {
            Must
        };
        r.add(
            &format!("create.{id}.error"),
            section,
            level,
            &format!("create refuses {what}"),
            errored(&c),
        );
        let st = sb.rt(&["state", &sb.id]);
        let left = st.code == 0 && !st.stdout.contains("\"stopped\"");
        r.add(
            &format!("create.{id}.nothing-left"),
            CREATE,
            level,
            &format!("no container is left after refusing {what}"),
            Outcome::check(!left, || format!("state still shows: {}", st.stdout.trim())),
        );
    }
    lsm_unavailable(rt, r)?;
    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "true");
    spec["dmcUnknownProperty"] = json!({"nested": [1, 2]});
    spec["process"]["dmcUnknownField"] = json!(true);
    spec["annotations"] = json!({"org.dmc.unknown-key": "value"});
    write(&sb, &spec)?;
    let o = sb.run();
    r.add(
        "unknown-properties.accepted",
        "config.md#extensibility",
        Must,
        "unknown properties and annotation keys do not make create fail",
        Outcome::check(o.code == 0, || {
            format!("run exit {}: {}", o.code, o.stderr.trim())
        }),
    );

    let sb = Sandbox::new(rt)?;
    let mut spec = shell_spec(&sb, "true");
    spec["process"]["args"] = json!(["/no/such/program"]);
    write(&sb, &spec)?;
    let c = sb.create(&[]);
    let s = if c.code == 0 {
        sb.rt(&["start", &sb.id])
    } else {
        c
    };
    r.add(
        "missing-program.error",
        "runtime.md#lifecycle",
        Must,
        "create or start of a program that does not exist fails",
        errored(&s),
    );
    Ok(())
}

/// `run` exits with the container process's status, as runc does (128+signal when killed).
pub fn exit_codes(rt: &Runtime, r: &mut Rec) -> Result<()> {
    for (id, script, want) in [
        ("zero", "exit 0", 0),
        ("three", "exit 3", 3),
        ("sigkill", "kill -9 $$", 137),
    ] {
        let sb = Sandbox::new(rt)?;
        let mut spec = shell_spec(&sb, script);
        // pid 1 of a pid namespace cannot be killed from inside it.
        crate::spec::drop_namespace(&mut spec, "pid");
        write(&sb, &spec)?;
        let o = sb.run();
        r.add(
            &format!("run.exit.{id}"),
            "runc-cli#run",
            Must,
            &format!("run of `{script}` exits {want}"),
            Outcome::check(o.code == want, || {
                format!("exit {}, want {want}: {}", o.code, o.stderr.trim())
            }),
        );
    }
    Ok(())
}

/// A security label or profile for an LSM the host does not have cannot be applied: create must
/// fail rather than run the process unconfined (skipped where the LSM is enabled).
fn lsm_unavailable(rt: &Runtime, r: &mut Rec) -> Result<()> {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    for (id, parent, value, on, lsm) in [
        (
            "apparmorProfile",
            "process",
            "dmc-profile",
            apparmor,
            "AppArmor",
        ),
        (
            "selinuxLabel",
            "process",
            "system_u:system_r:container_t:s0",
            selinux,
            "SELinux",
        ),
        (
            "mountLabel",
            "linux",
            "system_u:object_r:container_file_t:s0",
            selinux,
            "SELinux",
        ),
    ] {
        let what = format!("{id} on a host without {lsm}");
        if on {
            for case in ["error", "nothing-left"] {
                r.add(
                    &format!("create.{id}-unavailable.{case}"),
                    CREATE,
                    Must,
                    &what,
                    Outcome::Skip(format!("{lsm} is enabled on this host")),
                );
            }
            continue;
        }
        let sb = Sandbox::new(rt)?;
        let mut spec = shell_spec(&sb, "true");
        spec[parent][id] = json!(value);
        write(&sb, &spec)?;
        let c = sb.create(&[]);
        r.add(
            &format!("create.{id}-unavailable.error"),
            CREATE,
            Must,
            &format!("create refuses {what}"),
            errored(&c),
        );
        let st = sb.rt(&["state", &sb.id]);
        let left = st.code == 0;
        r.add(
            &format!("create.{id}-unavailable.nothing-left"),
            CREATE,
            Must,
            &format!("no container is left after refusing {what}"),
            Outcome::check(!left, || format!("state still shows: {}", st.stdout.trim())),
        );
    }
    Ok(())
}
