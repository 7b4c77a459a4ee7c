//! A test double for systemd's manager API on a private D-Bus: a real `dbus-daemon` (so
//! dm-runc's client meets a real bus: authentication, Hello, match rules, routing) and a
//! thread owning `org.freedesktop.systemd1` that serves StartTransientUnit, SetUnitProperties,
//! StopUnit, ResetFailedUnit and Subscribe the way systemd documents them: a scope's cgroup is
//! made below the manager's own cgroup (here, the test process's) in the slice's nested path
//! in every hierarchy systemd manages on a v1/hybrid host, the PIDs are moved in, the resource
//! properties are written to the matching files, and every job ends with a JobRemoved signal.
//! `Reload` re-realises every scope from its properties as systemd's daemon-reload does (a
//! devices controller without DevicePolicy/DeviceAllow gets "allow all"). Everything it made
//! is removed when it stops.

use dm_cgroups::driver::systemd::dbus::{Conn, Kind, Message, Value};
use dm_cgroups::driver::systemd::{unit, MANAGER, MANAGER_PATH, SERVICE};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// v1 hierarchies systemd makes a unit's cgroup in (plus cgroup2).
const MANAGED: [&str; 7] = [
    "name=systemd",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "pids",
];

/// One call the double served: method name and arguments.
pub type Call = (String, Vec<Value>);

/// A running double; stops (and removes every cgroup it made) when dropped.
pub struct FakeSystemd {
    daemon: Child,
    dir: PathBuf,
    /// The bus address to give dm-runc as DBUS_SYSTEM_BUS_ADDRESS.
    pub address: String,
    /// Every manager call served, in order.
    pub calls: Arc<Mutex<Vec<Call>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Scope {
    /// Leaf directories, one per managed hierarchy, with its controllers ([] = cgroup2).
    leaves: Vec<(Vec<String>, PathBuf)>,
    /// Every directory made for it (slices included), parents first.
    made: Vec<PathBuf>,
    /// Its properties as last set.
    props: HashMap<String, Value>,
}

impl FakeSystemd {
    /// Starts dbus-daemon on a private socket and the manager on it.
    pub fn start() -> FakeSystemd {
        let dir = std::env::temp_dir().join(dm_testkit::unique_id("dm-fake-systemd"));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("bus.sock");
        let conf = dir.join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                sock.display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbus-daemon");
        // The address is printed once the socket listens.
        let mut line = String::new();
        std::io::BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon printed {line:?}");
        let mut conn = Conn::connect(&address, Duration::from_secs(10)).unwrap();
        let owned = conn
            .call(
                Message::call(
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "RequestName",
                    vec![Value::Str(SERVICE.into()), Value::U32(4)],
                ),
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(
            owned,
            vec![Value::U32(1)],
            "RequestName: not the primary owner"
        );
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let thread = std::thread::spawn(move || serve(conn, log));
        FakeSystemd {
            daemon,
            dir,
            address,
            calls,
            thread: Some(thread),
        }
    }

    /// The calls to `member` served so far.
    pub fn calls_to(&self, member: &str) -> Vec<Vec<Value>> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == member)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `(sv)` array as name → value.
pub fn props(v: &Value) -> HashMap<String, Value> {
    let Value::Array(_, items) = v else {
        return HashMap::new();
    };
    items
        .iter()
        .filter_map(|p| match p {
            Value::Struct(f) if f.len() == 2 => {
                Some((f[0].as_str()?.to_string(), f[1].inner().clone()))
            }
            _ => None,
        })
        .collect()
}

/// The double's own directory in each hierarchy systemd manages, with its controllers.
fn roots() -> Vec<(Vec<String>, PathBuf)> {
    let host = dm_cgroups::Host::detect().unwrap();
    let mut out: Vec<(Vec<String>, PathBuf)> = host
        .v1
        .iter()
        .filter(|h| h.controllers.iter().any(|c| MANAGED.contains(&c.as_str())))
        .map(|h| (h.controllers.clone(), h.own_dir()))
        .collect();
    if let Some(h) = &host.v2 {
        out.push((vec![], h.own_dir()));
    }
    out
}

fn serve(mut conn: Conn, log: Arc<Mutex<Vec<Call>>>) {
    let mut units: HashMap<String, Scope> = HashMap::new();
    let mut job = 0u32;
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        let Ok(m) = conn.recv(far, "a call") else {
            break;
        };
        if m.kind != Kind::Call || m.interface.as_deref() != Some(MANAGER) {
            continue;
        }
        let member = m.member.clone().unwrap_or_default();
        log.lock().unwrap().push((member.clone(), m.body.clone()));
        let name = m
            .body
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let no_unit = || {
            Message::reply(
                &m,
                Some("org.freedesktop.systemd1.NoSuchUnit"),
                vec![Value::Str(format!("Unit {name} not loaded."))],
            )
        };
        let mut job_done = |conn: &mut Conn, reply_to: &Message, work: &mut dyn FnMut()| {
            job += 1;
            let path = format!("{MANAGER_PATH}/job/{job}");
            conn.send(Message::reply(
                reply_to,
                None,
                vec![Value::Path(path.clone())],
            ))
            .unwrap();
            work();
            let sig = Message::signal(
                MANAGER_PATH,
                MANAGER,
                "JobRemoved",
                vec![
                    Value::U32(job),
                    Value::Path(path),
                    Value::Str(name.clone()),
                    Value::Str("done".into()),
                ],
            );
            conn.send(sig).unwrap();
        };
        match member.as_str() {
            "Subscribe" => {
                conn.send(Message::reply(&m, None, vec![])).unwrap();
            }
            "StartTransientUnit" => {
                let p = m.body.get(2).map(props).unwrap_or_default();
                let pids: Vec<u64> = match p.get("PIDs") {
                    Some(Value::Array(_, v)) => v.iter().filter_map(Value::as_u64).collect(),
                    _ => vec![],
                };
                let err = if units.contains_key(&name) {
                    Some((
                        "org.freedesktop.systemd1.UnitExists",
                        format!("Unit {name} already exists."),
                    ))
                } else if !name.ends_with(".scope") || pids.is_empty() {
                    Some((
                        "org.freedesktop.DBus.Error.InvalidArgs",
                        "A scope needs PIDs.".into(),
                    ))
                } else {
                    None
                };
                if let Some((e, msg)) = err {
                    conn.send(Message::reply(&m, Some(e), vec![Value::Str(msg)]))
                        .unwrap();
                    continue;
                }
                let slice = p
                    .get("Slice")
                    .and_then(Value::as_str)
                    .unwrap_or("system.slice");
                let rel = unit::expand_slice(slice, slice).unwrap().join(&name);
                let mut scope = Scope {
                    leaves: vec![],
                    made: vec![],
                    props: HashMap::new(),
                };
                job_done(&mut conn, &m, &mut || {
                    for (ctrls, root) in roots() {
                        let mut cur = root.clone();
                        for c in rel.components() {
                            cur.push(c);
                            if std::fs::create_dir(&cur).is_ok() {
                                scope.made.push(cur.clone());
                            }
                        }
                        for pid in &pids {
                            std::fs::write(cur.join("cgroup.procs"), pid.to_string()).unwrap();
                        }
                        scope.leaves.push((ctrls, cur));
                    }
                    write_props(&scope, &p, false);
                });
                scope.props = p;
                units.insert(name.clone(), scope);
            }
            "SetUnitProperties" => {
                let Some(scope) = units.get_mut(&name) else {
                    conn.send(no_unit()).unwrap();
                    continue;
                };
                let p = m.body.get(2).map(props).unwrap_or_default();
                write_props(scope, &p, false);
                scope.props.extend(p);
                conn.send(Message::reply(&m, None, vec![])).unwrap();
            }
            "StopUnit" => {
                let Some(scope) = units.remove(&name) else {
                    conn.send(no_unit()).unwrap();
                    continue;
                };
                job_done(&mut conn, &m, &mut || remove(&scope));
            }
            "Reload" => {
                for scope in units.values() {
                    write_props(scope, &scope.props, true);
                }
                conn.send(Message::reply(&m, None, vec![])).unwrap();
            }
            "ResetFailedUnit" => {
                // Stopped scopes are gone at once here, as when systemd collects them.
                conn.send(no_unit()).unwrap();
            }
            _ => {
                let e = "org.freedesktop.DBus.Error.UnknownMethod";
                conn.send(Message::reply(&m, Some(e), vec![Value::Str(member)]))
                    .unwrap();
            }
        }
    }
    for scope in units.values() {
        remove(scope);
    }
}

/// Writes the resource properties systemd manages to the scope's files (v1 names first: this
/// is a v1/hybrid host's systemd). `reload`: realise everything, devices included, as a
/// daemon-reload does.
fn write_props(scope: &Scope, p: &HashMap<String, Value>, reload: bool) {
    let leaf = |ctrl: &str| {
        scope
            .leaves
            .iter()
            .find(|(c, _)| c.iter().any(|x| x == ctrl))
            .map(|(_, d)| d)
    };
    let num = |v: &Value, inf: &str| match v.as_u64() {
        Some(u64::MAX) => inf.to_string(),
        Some(n) => n.to_string(),
        None => inf.to_string(),
    };
    let put = |ctrl: &str, file: &str, value: String| {
        if let Some(d) = leaf(ctrl) {
            let _ = std::fs::write(d.join(file), value);
        }
    };
    for (k, v) in p {
        match k.as_str() {
            "MemoryLimit" => put("memory", "memory.limit_in_bytes", num(v, "-1")),
            "CPUShares" => put("cpu", "cpu.shares", num(v, "1024")),
            "CPUQuotaPerSecUSec" => {
                put("cpu", "cpu.cfs_period_us", "100000".into());
                let q = match v.as_u64() {
                    Some(u64::MAX) | None => "-1".to_string(),
                    Some(n) => (n / 10).to_string(),
                };
                put("cpu", "cpu.cfs_quota_us", q);
            }
            "TasksMax" => put("pids", "pids.max", num(v, "max")),
            "BlockIOWeight" => put("blkio", "blkio.weight", num(v, "500")),
            _ => {}
        }
    }
    let strict = p.get("DevicePolicy").and_then(Value::as_str) == Some("strict");
    let allows = match p.get("DeviceAllow") {
        Some(Value::Array(_, a)) => a.clone(),
        _ => vec![],
    };
    if strict || !allows.is_empty() {
        put("devices", "devices.deny", "a".into());
        for a in allows {
            let Value::Struct(f) = a else { continue };
            let (Some(path), Some(acc)) = (f[0].as_str(), f[1].as_str()) else {
                continue;
            };
            if let Some(rule) = device_rule(path, acc) {
                put("devices", "devices.allow", rule);
            }
        }
    } else if reload {
        put("devices", "devices.allow", "a".into());
    }
}

/// A DeviceAllow entry as a v1 devices.allow line (`/dev/char/1:3`, `char-pts`, `block-*`).
fn device_rule(path: &str, acc: &str) -> Option<String> {
    for (word, t, section) in [("char", 'c', "Character"), ("block", 'b', "Block")] {
        if let Some(mm) = path.strip_prefix(&format!("/dev/{word}/")) {
            return Some(format!("{t} {mm} {acc}"));
        }
        if let Some(group) = path.strip_prefix(&format!("{word}-")) {
            if group == "*" {
                return Some(format!("{t} *:* {acc}"));
            }
            let text = std::fs::read_to_string("/proc/devices").ok()?;
            let major = text
                .lines()
                .skip_while(|l| !l.starts_with(section))
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .find_map(|l| {
                    let (n, name) = l.trim().split_once(' ')?;
                    (name == group).then(|| n.to_string())
                })?;
            return Some(format!("{t} {major}:* {acc}"));
        }
    }
    None
}

/// Stops a scope as systemd does: kills what is left, then removes its cgroups and the slices
/// nothing else uses.
fn remove(scope: &Scope) {
    for (_, d) in &scope.leaves {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let end = Instant::now() + Duration::from_secs(10);
    for d in scope.made.iter().rev() {
        while std::fs::remove_dir(d).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
            && scope.leaves.iter().any(|(_, l)| l == d)
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The scope's directory for `rel` (slice path + unit) in the test's own cgroup of hierarchy
/// `ctrl` ("" = cgroup2), as the double makes it.
pub fn scope_dir(ctrl: &str, rel: &Path) -> PathBuf {
    let host = dm_cgroups::Host::detect().unwrap();
    let h = if ctrl.is_empty() {
        host.v2.clone().unwrap()
    } else {
        host.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == ctrl))
            .unwrap()
            .clone()
    };
    h.own_dir().join(rel)
}
