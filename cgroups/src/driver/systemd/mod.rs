//! The systemd driver: the container's cgroup is a transient scope unit that systemd makes
//! (StartTransientUnit with Delegate=yes and the init's pid), sets (SetUnitProperties) and
//! removes (StopUnit), all over D-Bus; the resources systemd cannot express are written to the
//! files afterwards, and v1 hierarchies systemd leaves alone (cpuset, freezer, ...) are made
//! and joined by the cgroupfs code, as runc does.
//!
//! Where systemd puts a unit: below its own cgroup in each hierarchy (minus `init.scope`), in
//! the slice's nested path. The manager's pid comes from the bus (the owner of
//! `org.freedesktop.systemd1`), which is pid 1 for the system instance and the `systemd --user`
//! process for a user's.

pub mod dbus;
pub mod props;
pub mod unit;

use super::{Driver, DriverKind};
use crate::error::{io, Error, Result};
use crate::host::{join_rel, Host};
use crate::sys::{CgroupFs, HostFs};
use crate::Cgroup;
use dbus::{prop, Conn, Kind, Message, Value};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// systemd's well-known bus name, object and manager interface.
pub const SERVICE: &str = "org.freedesktop.systemd1";
/// The manager object's path.
pub const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
/// The manager interface.
pub const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// How long a call or a job may take before it is an error.
const TIMEOUT: Duration = Duration::from_secs(30);

/// v1 controllers systemd makes a unit's cgroup in (with Delegate=yes); the rest are made by
/// the cgroupfs code.
const MANAGED_V1: [&str; 7] = [
    "name=systemd",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "pids",
];

/// A container's transient scope (stored in the state with its cgroup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The scope unit's name.
    pub unit: String,
    /// The slice it is started in.
    pub slice: String,
    /// The bus address systemd was reached on (later commands use the same one).
    pub bus: String,
}

/// The systemd driver for one unit.
pub(crate) struct Systemd<'a>(pub &'a Unit);

/// True for hierarchies systemd makes the unit's cgroup in (cgroup2 has no controller names).
fn managed(ctrls: &[String]) -> bool {
    ctrls.is_empty() || ctrls.iter().any(|c| MANAGED_V1.contains(&c.as_str()))
}

fn bus_err(bus: &str, what: &str) -> impl Fn(dbus::Error) -> Error {
    let ctx = format!("systemd (D-Bus {bus}): {what}");
    move |e| Error::Systemd(format!("{ctx}: {e}"))
}

impl Cgroup {
    /// Resolves `slice:prefix:name` for container `id` with the systemd driver: checks the
    /// path (errors name `linux.cgroupsPath`), asks the bus where systemd runs, and computes
    /// the scope's directories. Creates nothing.
    pub fn systemd(cgroups_path: Option<&Path>, id: &str, rootless: bool) -> Result<Cgroup> {
        let raw = cgroups_path.map(|p| p.to_string_lossy().into_owned());
        let raw = raw.as_deref().filter(|s| !s.is_empty());
        // As runc: no path means the default slice and `runc-<id>.scope`.
        let u = unit::parse(raw.unwrap_or(":runc:"), id, rootless)?;
        let bus = if rootless {
            dbus::session_bus_address()
        } else {
            dbus::system_bus_address()
        };
        let mut conn = Conn::connect(&bus, TIMEOUT).map_err(bus_err(&bus, "connect"))?;
        let pid = manager_pid(&mut conn).unwrap_or(1);
        let cg_file = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let cg = crate::sys::read_to_string(&cg_file).map_err(|e| io(&cg_file, e))?;
        let mi_file = Path::new("/proc/self/mountinfo");
        let mi = crate::sys::read_to_string(mi_file).map_err(|e| io(mi_file, e))?;
        Ok(scope_cgroup(&Host::parse(&mi, &cg)?, u, bus))
    }
}

/// The scope's cgroup on `host`, whose hierarchies' own cgroups are the manager's: below the
/// manager's cgroup in each (pid 1 sits in `init.scope`, which is not the root of its units).
fn scope_cgroup(host: &Host, u: unit::UnitPath, bus: String) -> Cgroup {
    let mut out = Cgroup::with_dirs(host, |h| {
        let root = h.own.strip_prefix(&h.mount_root).unwrap_or(&h.own);
        let root = if root.ends_with("init.scope") {
            root.parent().unwrap_or(Path::new(""))
        } else {
            root
        };
        join_rel(&h.mountpoint, &root.join(&u.slice_dir).join(&u.unit))
    });
    out.driver = DriverKind::Systemd(Unit {
        unit: u.unit,
        slice: u.slice,
        bus,
    });
    out
}

/// The pid of the process owning systemd's name on the bus.
fn manager_pid(conn: &mut Conn) -> Option<u32> {
    let m = Message::call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "GetConnectionUnixProcessID",
        vec![Value::Str(SERVICE.into())],
    );
    let r = conn.call(m, TIMEOUT).ok()?;
    r.first().and_then(Value::as_u64).map(|p| p as u32)
}

fn manager_call(member: &str, args: Vec<Value>) -> Message {
    Message::call(SERVICE, MANAGER_PATH, MANAGER, member, args)
}

impl Systemd<'_> {
    fn connect(&self) -> Result<Conn> {
        Conn::connect(&self.0.bus, TIMEOUT).map_err(bus_err(&self.0.bus, "connect"))
    }

    /// Subscribes to JobRemoved (before a job exists, so its end cannot be missed).
    fn subscribe(&self, conn: &mut Conn) -> Result<()> {
        let e = bus_err(&self.0.bus, "subscribe to JobRemoved");
        let rule = format!(
            "type='signal',sender='{SERVICE}',path='{MANAGER_PATH}',interface='{MANAGER}',member='JobRemoved'"
        );
        let add = Message::call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            vec![Value::Str(rule)],
        );
        conn.call(add, TIMEOUT).map_err(&e)?;
        conn.call(manager_call("Subscribe", vec![]), TIMEOUT)
            .map_err(&e)?;
        Ok(())
    }

    /// Waits for the JobRemoved signal of `job`; its result must be `done`.
    fn wait_job(&self, conn: &mut Conn, job: &str, what: &str) -> Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        let awaited = format!("JobRemoved of {what} {}", self.0.unit);
        loop {
            let m = conn
                .recv(deadline, &awaited)
                .map_err(bus_err(&self.0.bus, what))?;
            let is_ours = m.kind == Kind::Signal
                && m.member.as_deref() == Some("JobRemoved")
                && m.body.get(1).and_then(Value::as_str) == Some(job);
            if !is_ours {
                continue;
            }
            let result = m.body.get(3).and_then(Value::as_str).unwrap_or("");
            if result == "done" {
                return Ok(());
            }
            return Err(Error::Systemd(format!(
                "systemd: {what} {}: job {job} ended with result {result:?}",
                self.0.unit
            )));
        }
    }

    fn set_properties(&self, conn: &mut Conn, props: Vec<Value>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        let m = manager_call(
            "SetUnitProperties",
            vec![
                Value::Str(self.0.unit.clone()),
                Value::Bool(true),
                Value::Array("(sv)".into(), props),
            ],
        );
        conn.call(m, TIMEOUT).map_err(bus_err(
            &self.0.bus,
            &format!("SetUnitProperties {}", self.0.unit),
        ))?;
        Ok(())
    }
}

impl Driver for Systemd<'_> {
    fn create(&self, cg: &mut Cgroup) -> Result<()> {
        cg.make_dirs_where(|c| !managed(c))
    }

    fn clone_into_dir(&self, _cg: &Cgroup) -> Option<PathBuf> {
        // The scope is made with the init's pid in it, so the init exists first.
        None
    }

    fn place_init(&self, cg: &Cgroup, pid: i32, res: Option<&LinuxResources>) -> Result<()> {
        let mut conn = self.connect()?;
        self.subscribe(&mut conn)?;
        let unified = cg.mode == crate::Mode::Unified;
        let mut props = vec![
            prop(
                "Description",
                Value::Str(format!("dm-runc container {}", self.0.unit)),
            ),
            prop("Slice", Value::Str(self.0.slice.clone())),
            prop("Delegate", Value::Bool(true)),
            prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(pid as u32)]),
            ),
            // The container's processes are the runtime's to stop, not systemd's at shutdown.
            prop("DefaultDependencies", Value::Bool(false)),
        ];
        if let Some(r) = res {
            props.extend(props::resources(r, unified));
        }
        let m = manager_call(
            "StartTransientUnit",
            vec![
                Value::Str(self.0.unit.clone()),
                Value::Str("replace".into()),
                Value::Array("(sv)".into(), props),
                Value::Array("(sa(sv))".into(), vec![]),
            ],
        );
        let what = format!("StartTransientUnit {}", self.0.unit);
        let reply = conn.call(m, TIMEOUT).map_err(bus_err(&self.0.bus, &what))?;
        let job = reply
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.wait_job(&mut conn, &job, "start")?;
        for (_, d) in cg.dirs_where(managed) {
            let procs = d.join("cgroup.procs");
            let listed = crate::sys::read_to_string(&procs).map_err(|e| io(&procs, e))?;
            if !listed.lines().any(|l| l.trim() == pid.to_string()) {
                return Err(Error::Systemd(format!(
                    "systemd started {} but the init {pid} is not in {}",
                    self.0.unit,
                    d.display()
                )));
            }
        }
        for (_, d) in cg.dirs_where(|c| !managed(c)) {
            let f = d.join("cgroup.procs");
            HostFs.write(&f, &pid.to_string()).map_err(|e| io(&f, e))?;
        }
        Ok(())
    }

    fn apply(&self, cg: &Cgroup, res: &LinuxResources) -> Result<()> {
        cg.check(res)?;
        let props = props::resources(res, cg.mode == crate::Mode::Unified);
        if !props.is_empty() {
            let mut conn = self.connect()?;
            self.set_properties(&mut conn, props)?;
        }
        cg.write_resources(res)
    }

    fn destroy(&self, cg: &Cgroup) -> Result<()> {
        let mut conn = self.connect()?;
        self.subscribe(&mut conn)?;
        let what = format!("StopUnit {}", self.0.unit);
        let stop = manager_call(
            "StopUnit",
            vec![
                Value::Str(self.0.unit.clone()),
                Value::Str("replace".into()),
            ],
        );
        match conn.call(stop, TIMEOUT) {
            Ok(reply) => {
                let job = reply
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.wait_job(&mut conn, &job, "stop")?;
            }
            // An emptied scope is collected by systemd on its own; nothing left to stop.
            Err(dbus::Error::Remote { name, .. })
                if name == "org.freedesktop.systemd1.NoSuchUnit" => {}
            Err(e) => return Err(bus_err(&self.0.bus, &what)(e)),
        }
        // A scope whose processes were killed may stay "failed" and block the name's reuse.
        let _ = conn.call(
            manager_call("ResetFailedUnit", vec![Value::Str(self.0.unit.clone())]),
            TIMEOUT,
        );
        cg.remove_created()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_go_below_the_managers_cgroup_in_each_hierarchy() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
37 31 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        // systemd as pid 1: in init.scope where it tracks processes, at the root elsewhere;
        // a manager below the root (a nested one) keeps its own cgroup as the root.
        let pid1 = "9:name=systemd:/init.scope\n6:freezer:/\n4:memory:/nested\n0::/init.scope\n";
        let u = unit::parse("k-p1.slice:cri:c1", "c1", false).unwrap();
        let cg = scope_cgroup(&Host::parse(mi, pid1).unwrap(), u, "unix:path=/b".into());
        let dirs: Vec<PathBuf> = cg.hierarchies().into_iter().map(|(_, d)| d).collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/systemd/k.slice/k-p1.slice/cri-c1.scope",
                "/sys/fs/cgroup/freezer/k.slice/k-p1.slice/cri-c1.scope",
                "/sys/fs/cgroup/memory/nested/k.slice/k-p1.slice/cri-c1.scope",
                "/sys/fs/cgroup/unified/k.slice/k-p1.slice/cri-c1.scope",
            ]
            .map(PathBuf::from)
        );
        assert!(cg.created.is_empty());
        assert_eq!(
            cg.clone_into_dir(),
            None,
            "the scope is made with the init in it"
        );
        let DriverKind::Systemd(unit) = &cg.driver else {
            panic!("{:?}", cg.driver)
        };
        assert_eq!(
            (unit.unit.as_str(), unit.slice.as_str()),
            ("cri-c1.scope", "k-p1.slice")
        );
        assert!(managed(&["name=systemd".into()]) && managed(&[]) && !managed(&["freezer".into()]));
    }
}
