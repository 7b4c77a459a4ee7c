//! Kubernetes' path to dockermind: containerd 1.6's CRI plugin with a runtime handler
//! `dockermind` (what a RuntimeClass names) whose runtime_type is our shim. Driven through the CRI
//! RuntimeService the way a kubelet drives it: pod sandbox, containers, exec, stop, remove.

use dm_integration::cri::{container, host_network_pod, pod, Cri};
use dm_integration::{poll, Containerd, ContainerdOptions, Ctr, DM_RUNTIME};
use dm_testkit::{require_cmd, require_root, unique_id, TempDir};
use k8s_cri::v1 as cri;
use std::path::{Path, PathBuf};
use std::time::Duration;

// The systemd double dm-runc's own tests use (one copy, shared by path).
#[path = "../../runtime/tests/fake_systemd/mod.rs"]
mod fake_systemd;
use fake_systemd::{scope_dir, FakeSystemd};

/// The handler name a RuntimeClass would carry.
const HANDLER: &str = "dockermind";
/// The pod sandbox ("pause") image: busybox sleeping, imported before CRI needs it.
const PAUSE: &str = "docker.io/library/dm-pause:latest";
const WAIT: Duration = Duration::from_secs(30);
/// Where Debian's containernetworking-plugins installs the CNI plugins.
const CNI_BIN: &str = "/usr/lib/cni";

/// containerd's CRI section: runc stays the default, our shim is handler `dockermind`, no CNI (host-network pods), a
/// stream server on a free loopback port, and the sandbox's oom_score_adj clamped to
/// containerd's own (root here cannot lower it).
fn cri_config(dir: &Path, cni_bin: &str) -> String {
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
    runtime_type = "{DM_RUNTIME}"
"#,
        d = dir.display()
    )
}

/// A containerd with CRI on, the pause and busybox images in CRI's namespace, and a client.
struct Node {
    dirs: TempDir,
    ctd: Containerd,
    k8s: Ctr,
    cri: Cri,
    busybox: String,
}

impl Node {
    fn start(test: &str) -> Option<Node> {
        Node::start_with_cni(test, None)
    }

    /// With `conflist`, pods get their own network namespace from Debian's CNI plugins.
    fn start_with_cni(test: &str, conflist: Option<&str>) -> Option<Node> {
        Node::start_with(test, conflist, "", vec![])
    }

    /// As [`Node::start_with_cni`], with `extra` TOML appended to the config and `env` given
    /// to containerd (and so to the shims and dm-runc).
    fn start_with(
        test: &str,
        conflist: Option<&str>,
        extra: &str,
        env: Vec<(String, String)>,
    ) -> Option<Node> {
        if !require_root(test) || !require_cmd("containerd") || !require_cmd("ctr") {
            return None;
        }
        let dirs = TempDir::new("dm-cri");
        for d in ["cni-bin", "cni-conf", "logs"] {
            std::fs::create_dir_all(dirs.path().join(d)).unwrap();
        }
        let mut cni_bin = dirs.path().join("cni-bin").display().to_string();
        if let Some(list) = conflist {
            std::fs::write(dirs.path().join("cni-conf/10-test.conflist"), list).unwrap();
            cni_bin = CNI_BIN.into();
        }
        let cfg = cri_config(dirs.path(), &cni_bin);
        let mut opts = ContainerdOptions::with_workspace_bins()
            .extra(&cfg)
            .extra(extra);
        opts.disabled_plugins.clear();
        opts.env = env;
        let ctd = Containerd::start(opts);
        // CRI keeps its images in the k8s.io namespace; ctr puts them there as a node image
        // preloader would.
        let k8s = ctd.ctr_in("k8s.io");
        let pause_tar = dirs.path().join("pause.tar");
        dm_integration::write_busybox_image_tar_with_cmd(
            &pause_tar,
            &dirs.path().join("pause-build"),
            &["sleep", "1000000"],
        );
        assert_eq!(k8s.import_image(&pause_tar, "dm-pause"), PAUSE);
        let busybox = k8s.import_image(ctd.busybox_tar(), "busybox");
        let mut cri = Cri::connect(&ctd.address());
        let v = cri
            .version()
            .unwrap_or_else(|e| panic!("CRI Version: {e}\n{}", ctd.log()));
        assert_eq!(v.runtime_name, "containerd", "{v:?}");
        Some(Node {
            dirs,
            ctd,
            k8s,
            cri,
            busybox,
        })
    }

    fn logs(&self) -> PathBuf {
        self.dirs.path().join("logs")
    }

    /// CreateContainer + StartContainer in `pod`; the container id (containerd's log on
    /// failure).
    fn run_container(
        &mut self,
        pod: &str,
        cfg: cri::ContainerConfig,
        pod_cfg: &cri::PodSandboxConfig,
    ) -> String {
        let id = self
            .cri
            .create_container(pod, cfg, pod_cfg)
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", self.ctd.log()));
        self.cri
            .start_container(&id)
            .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", self.ctd.log()));
        id
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The shim's runtime state root for CRI's namespace, shared by every containerd here:
        // removed once empty (a parallel test's containers keep it).
        let _ = std::fs::remove_dir("/run/containerd/dockermind/k8s.io");
    }
}

#[test]
fn kubelet_calls_run_a_pod_on_the_dockermind_handler() {
    let Some(mut node) = Node::start("CRI pod on the dockermind handler") else {
        return;
    };
    let name = unique_id("pod");
    let pod_cfg = host_network_pod(&name, &node.logs(), "");
    let pod = node
        .cri
        .run_pod(&pod_cfg, HANDLER)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", node.ctd.log()));
    // The sandbox runs under our shim: containerd recorded the handler's runtime type and the
    // task's parent is containerd-shim-dockermind-v2.
    let info = node.k8s.ok(&["container", "info", &pod]).stdout;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Runtime"]["Name"], DM_RUNTIME, "{info:#}");
    let pause_pid: i32 = node.k8s.task_pid(&pod);
    assert_eq!(parent_comm(pause_pid), "containerd-shim", "pid {pause_pid}");
    assert!(
        std::fs::read_link(format!("/proc/{}/exe", parent_pid(pause_pid)))
            .unwrap()
            .ends_with(dm_integration::DM_SHIM_BIN),
        "the sandbox's parent is not our shim"
    );

    // A container that prints and exits: its exit code and its log reach CRI.
    let once = node.run_container(
        &pod,
        container(
            "once",
            &node.busybox,
            &["sh", "-c", "echo hello; exit 3"],
            "once.log",
        ),
        &pod_cfg,
    );
    let st = node.cri.wait_exited(&once, WAIT);
    assert_eq!(st.exit_code, 3, "{st:?}");
    let log = std::fs::read_to_string(node.logs().join("once.log")).unwrap();
    assert!(log.contains(" stdout F hello"), "CRI log: {log:?}");

    // A long-running container: ExecSync through our shim, and the pod's shared PID namespace
    // (the sandbox's sleep is pid 1 for every container of the pod).
    let long = node.run_container(
        &pod,
        container("long", &node.busybox, &["sleep", "1000"], "long.log"),
        &pod_cfg,
    );
    // One shim serves the whole pod (containerd groups by the sandbox id).
    assert_eq!(
        parent_pid(node.k8s.task_pid(&long)),
        parent_pid(pause_pid),
        "the pod's containers run under different shims"
    );
    let r = node
        .cri
        .exec_sync(&long, &["sh", "-c", "echo $((6*7)); echo err >&2; exit 5"])
        .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", node.ctd.log()));
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str(), r.exit_code),
        ("42\n", "err\n", 5),
        "{r:?}"
    );
    let r = node
        .cri
        .exec_sync(&long, &["cat", "/proc/1/cmdline"])
        .unwrap();
    assert_eq!(r.stdout, "sleep\x001000000\x00", "{r:?}");

    node.cri.stop_container(&long, 0).unwrap();
    let st = node.cri.wait_exited(&long, WAIT);
    assert_eq!(
        st.exit_code,
        128 + 9,
        "SIGKILL after a zero grace period: {st:?}"
    );
    for c in [&once, &long] {
        node.cri.remove_container(c).unwrap();
    }
    node.cri
        .remove_pod(&pod)
        .unwrap_or_else(|e| panic!("Stop/RemovePodSandbox: {e}\n{}", node.ctd.log()));
    assert!(node.cri.pod_ids().unwrap().is_empty());
    poll("the pod's shim to exit", WAIT, || {
        node.ctd.shim_pids().is_empty().then_some(())
    });
}

fn parent_pid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The parent's comm (the kernel truncates it to 15 bytes).
fn parent_comm(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", parent_pid(pid))).unwrap();
    comm.trim().to_owned()
}

/// What a kubelet does with the cgroupfs driver: pod cgroups under a parent it made, container
/// limits from the pod spec, live resizes, and stats polled for every container.
#[test]
fn pod_cgroups_limits_updates_and_stats() {
    // The kubelet's pod cgroup (it is the kubelet's to create and remove, so is it here; the
    // guard drops after the node, once the containers are gone).
    let parent = format!("/{}/pod", unique_id("dm-cri"));
    let _parent = KubeletCgroup(parent.clone());
    let Some(mut node) = Node::start("CRI pod cgroups, limits and stats") else {
        return;
    };
    let name = unique_id("pod");
    let pod_cfg = host_network_pod(&name, &node.logs(), &parent);
    let pod = node
        .cri
        .run_pod(&pod_cfg, HANDLER)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", node.ctd.log()));
    let mut cfg = container(
        "limited",
        &node.busybox,
        // Some CPU time to account for, then idle.
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000",
        ],
        "limited.log",
    );
    cfg.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_shares: 512,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = node.run_container(&pod, cfg, &pod_cfg);

    // CRI puts each container at <pod cgroup>/<id>; the process is in it, the limits are on it.
    let pid = node.k8s.task_pid(&id);
    let procs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        procs.contains(&format!(":memory:{parent}/{id}\n")),
        "{procs}"
    );
    let file = |ctl: &str, f: &str| cgroup_v1(ctl, &format!("{parent}/{id}"), f);
    assert_eq!(file("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(file("cpu", "cpu.shares"), "512");
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(file("cpu", "cpu.cfs_period_us"), "100000");
    assert!(
        Path::new("/sys/fs/cgroup/memory")
            .join(parent.trim_start_matches('/'))
            .join(&pod)
            .is_dir(),
        "the sandbox's cgroup is not under the pod cgroup"
    );

    // A vertical resize reaches the running container.
    node.cri
        .update_resources(
            &id,
            cri::LinuxContainerResources {
                memory_limit_in_bytes: 128 << 20,
                cpu_shares: 256,
                cpu_period: 100_000,
                cpu_quota: 20_000,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}\n{}", node.ctd.log()));
    assert_eq!(file("memory", "memory.limit_in_bytes"), "134217728");
    assert_eq!(file("cpu", "cpu.shares"), "256");
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "20000");

    // Stats come from the container's cgroup through our shim.
    let st = node
        .cri
        .stats(&id)
        .unwrap_or_else(|e| panic!("ContainerStats: {e}\n{}", node.ctd.log()));
    let cpu = st
        .cpu
        .as_ref()
        .and_then(|c| c.usage_core_nano_seconds.as_ref());
    assert!(cpu.is_some_and(|v| v.value > 0), "{st:?}");
    let mem = st
        .memory
        .as_ref()
        .and_then(|m| m.working_set_bytes.as_ref());
    assert!(mem.is_some_and(|v| v.value > 0), "{st:?}");
    assert_eq!(
        st.attributes.as_ref().map(|a| a.id.as_str()),
        Some(id.as_str())
    );

    node.cri.stop_container(&id, 0).unwrap();
    node.cri.wait_exited(&id, WAIT);
    node.cri.remove_container(&id).unwrap();
    node.cri.remove_pod(&pod).unwrap();
    // The runtime removed the cgroups it made: the pod cgroup is empty again.
    for ctl in ["memory", "cpu", "pids", "freezer"] {
        let dir = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(parent.trim_start_matches('/'));
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
    }
}

/// kubeadm's node: kubelet and containerd with `SystemdCgroup = true`. The kubelet names the
/// pod's slice as its cgroup parent, containerd turns that into `slice:cri-containerd:<id>`,
/// our shim passes `--systemd-cgroup` and dm-runc asks systemd (here a double on a private
/// bus, reached through containerd's environment) for a scope per container.
#[test]
fn systemd_cgroup_pods_run_in_transient_scopes() {
    if !require_root("CRI with SystemdCgroup") || !require_cmd("dbus-daemon") {
        return;
    }
    // Declared first so it outlives the node: containerd's cleanup still reaches it.
    let fake = FakeSystemd::start();
    let dirs = TempDir::new("dm-cri-sd");
    let opts_file = dirs.path().join("dockermind.toml");
    std::fs::write(&opts_file, "SystemdCgroup = true\n").unwrap();
    let extra = format!(
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{HANDLER}.options]\n  \
         ConfigPath = \"{}\"\n",
        opts_file.display()
    );
    let env = vec![("DBUS_SYSTEM_BUS_ADDRESS".to_string(), fake.address.clone())];
    let Some(mut node) = Node::start_with("CRI with SystemdCgroup", None, &extra, env) else {
        return;
    };
    // The kubelet's pod slice (no dash: its own top-level slice, nothing shared).
    let slice = format!("{}.slice", unique_id("dmk").replace('-', "x"));
    let pod_cfg = host_network_pod(&unique_id("pod"), &node.logs(), &slice);
    let pod = node
        .cri
        .run_pod(&pod_cfg, HANDLER)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", node.ctd.log()));
    let mut cfg = container("long", &node.busybox, &["sleep", "1000"], "long.log");
    cfg.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = node.run_container(&pod, cfg, &pod_cfg);

    let scope = |c: &str| Path::new(&slice).join(format!("cri-containerd-{c}.scope"));
    let pid = node.k8s.task_pid(&id);
    let procs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for ctl in ["name=systemd", "memory", "pids", "freezer"] {
        let line = procs
            .lines()
            .find(|l| l.split(':').nth(1) == Some(ctl))
            .unwrap_or_else(|| panic!("{ctl}: {procs}"));
        assert!(
            line.ends_with(&*scope(&id).to_string_lossy()),
            "{ctl}: {line}"
        );
    }
    let started: Vec<String> = fake
        .calls_to("StartTransientUnit")
        .iter()
        .filter_map(|a| a[0].as_str().map(str::to_string))
        .collect();
    assert!(
        started.contains(&format!("cri-containerd-{pod}.scope")),
        "{started:?}"
    );
    assert!(
        started.contains(&format!("cri-containerd-{id}.scope")),
        "{started:?}"
    );
    let limit = scope_dir("memory", &scope(&id)).join("memory.limit_in_bytes");
    assert_eq!(std::fs::read_to_string(&limit).unwrap().trim(), "67108864");

    node.cri.stop_container(&id, 0).unwrap();
    node.cri.wait_exited(&id, WAIT);
    node.cri.remove_container(&id).unwrap();
    node.cri.remove_pod(&pod).unwrap();
    for ctl in ["name=systemd", "memory", "pids", "freezer", ""] {
        let d = scope_dir(ctl, Path::new(&slice));
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(fake.calls_to("StopUnit").len() >= 2);
}

/// A kubelet's pod cgroup path, removed (with its parent) from every v1 hierarchy on drop.
struct KubeletCgroup(String);

impl Drop for KubeletCgroup {
    fn drop(&mut self) {
        for ctl in [
            "memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices", "cpuset",
        ] {
            let dir = Path::new("/sys/fs/cgroup")
                .join(ctl)
                .join(self.0.trim_start_matches('/'));
            let _ = std::fs::remove_dir(&dir);
            let _ = std::fs::remove_dir(dir.parent().unwrap());
        }
    }
}

/// A cgroup v1 file's trimmed content (`path` from the hierarchy's root).
fn cgroup_v1(controller: &str, path: &str, file: &str) -> String {
    let p = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
        .join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_owned()
}

/// A veth pair the test made in the host's network namespace (the kernel here has no dummy
/// links), deleted on drop; CNI's host-device plugin moves the first end into the pod and back.
struct VethPair(String);

impl VethPair {
    fn new() -> VethPair {
        let name = format!("dmv{}a", std::process::id());
        let peer = format!("dmv{}b", std::process::id());
        let out = dm_testkit::output({
            let mut c = std::process::Command::new("ip");
            c.args(["link", "add", &name, "type", "veth", "peer", "name", &peer]);
            c
        });
        assert_eq!(out.code, 0, "ip link add: {out:?}");
        VethPair(name)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
    }
}

/// A pod on its own network: CRI makes the namespace, CNI puts an interface with the pod's IP
/// in it, the sandbox joins it by path and every container of the pod joins the sandbox's.
#[test]
fn pod_network_namespace_comes_from_cni_and_is_shared() {
    if !require_root("CRI pod network") || !require_cmd("ip") {
        return;
    }
    assert!(
        Path::new(CNI_BIN).join("host-device").exists(),
        "install containernetworking-plugins (scripts/deps.sh)"
    );
    let link = VethPair::new();
    let conflist = format!(
        r#"{{"cniVersion": "0.4.0", "name": "dm-test", "plugins": [{{"type": "host-device",
            "device": "{}", "ipam": {{"type": "static",
            "addresses": [{{"address": "10.231.7.2/24"}}]}}}}]}}"#,
        link.0
    );
    let Some(mut node) = Node::start_with_cni("CRI pod network", Some(&conflist)) else {
        return;
    };
    let name = unique_id("pod");
    let mut pod_cfg = pod(&name, &node.logs(), "", cri::NamespaceMode::Pod);
    // One of Kubernetes' "safe" sysctls: namespaced by the pod's network.
    const SYSCTL: &str = "net.ipv4.ip_unprivileged_port_start";
    if let Some(l) = pod_cfg.linux.as_mut() {
        l.sysctls.insert(SYSCTL.into(), "80".into());
    }
    let pod_id = node
        .cri
        .run_pod(&pod_cfg, HANDLER)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", node.ctd.log()));
    assert_eq!(node.cri.pod_ip(&pod_id).unwrap(), "10.231.7.2");
    let id = node.run_container(
        &pod_id,
        container("app", &node.busybox, &["sleep", "1000"], "app.log"),
        &pod_cfg,
    );
    let r = node
        .cri
        .exec_sync(&id, &["ip", "-o", "-4", "addr"])
        .unwrap();
    assert!(r.stdout.contains("10.231.7.2/24"), "{r:?}");
    assert!(r.stdout.contains(" lo "), "CRI brings lo up too: {r:?}");
    let path = format!("/proc/sys/{}", SYSCTL.replace('.', "/"));
    let r = node.cri.exec_sync(&id, &["cat", &path]).unwrap();
    assert_eq!(r.stdout, "80\n", "{r:?}");
    let host = std::fs::read_to_string(&path).unwrap();
    assert_ne!(host, "80\n", "the pod's sysctl changed the host's value");
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let (sandbox, app) = (node.k8s.task_pid(&pod_id), node.k8s.task_pid(&id));
    assert_eq!(
        ns(app),
        ns(sandbox),
        "the container is not in its pod's network"
    );
    assert_ne!(
        ns(app),
        ns(std::process::id() as i32),
        "the pod is on the host's network"
    );

    node.cri.stop_container(&id, 0).unwrap();
    node.cri.remove_container(&id).unwrap();
    node.cri.remove_pod(&pod_id).unwrap();
    // CNI DEL gave the link back to the host.
    assert!(Path::new("/sys/class/net").join(&link.0).exists());
}

/// A restricted pod spec as Kubernetes' "restricted" policy asks for it: non-root user, no
/// capabilities, read-only root, no_new_privs, the runtime's default seccomp profile; and an
/// exec probe that overruns its timeout is killed.
#[test]
fn restricted_security_context_and_probe_timeout() {
    let Some(mut node) = Node::start("CRI security context") else {
        return;
    };
    let name = unique_id("pod");
    let pod_cfg = host_network_pod(&name, &node.logs(), "");
    let pod_id = node.cri.run_pod(&pod_cfg, HANDLER).unwrap();
    let mut cfg = container("restricted", &node.busybox, &["sleep", "1000"], "r.log");
    cfg.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            capabilities: Some(cri::Capability {
                drop_capabilities: vec!["ALL".into()],
                ..Default::default()
            }),
            run_as_user: Some(cri::Int64Value { value: 1000 }),
            run_as_group: Some(cri::Int64Value { value: 1000 }),
            readonly_rootfs: true,
            no_new_privs: true,
            seccomp: Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = node.run_container(&pod_id, cfg, &pod_cfg);

    // The container's process and an exec in it carry the same restrictions.
    let init = node.k8s.task_pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let field = |text: &str, key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    for text in [
        status,
        node.cri
            .exec_sync(&id, &["cat", "/proc/self/status"])
            .unwrap()
            .stdout,
    ] {
        assert_eq!(field(&text, "Uid:"), "1000\t1000\t1000\t1000");
        assert_eq!(field(&text, "CapEff:"), "0000000000000000");
        assert_eq!(field(&text, "CapBnd:"), "0000000000000000");
        assert_eq!(field(&text, "NoNewPrivs:"), "1");
        assert_eq!(field(&text, "Seccomp:"), "2", "filter mode");
    }
    let r = node.cri.exec_sync(&id, &["touch", "/probe"]).unwrap();
    assert_ne!(r.exit_code, 0, "{r:?}");
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    // containerd's default profile keeps unshare from a process without CAP_SYS_ADMIN.
    let r = node.cri.exec_sync(&id, &["unshare", "-U", "true"]).unwrap();
    assert_ne!(r.exit_code, 0, "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");

    // An exec probe that overruns: CRI reports the timeout and the process does not linger.
    let err = node
        .cri
        .exec_sync_within(&id, &["sleep", "77"], 1)
        .expect_err("a 77 s command within a 1 s probe timeout");
    assert!(err.message().contains("timeout"), "{err:?}");
    poll("the timed-out probe to be killed", WAIT, || {
        let procs = std::fs::read_dir("/proc").unwrap();
        let left = procs.flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0077\x00")
        });
        (!left).then_some(())
    });

    node.cri.stop_container(&id, 0).unwrap();
    node.cri.remove_container(&id).unwrap();
    node.cri.remove_pod(&pod_id).unwrap();
}

/// containerd restarts under running pods (upgrades, crashes): CRI recovers them from our shim
/// and the kubelet's calls keep working on them afterwards.
#[test]
fn pods_survive_a_containerd_restart() {
    let Some(mut node) = Node::start("CRI pods across a containerd restart") else {
        return;
    };
    let name = unique_id("pod");
    let pod_cfg = host_network_pod(&name, &node.logs(), "");
    let pod_id = node.cri.run_pod(&pod_cfg, HANDLER).unwrap();
    let id = node.run_container(
        &pod_id,
        container("app", &node.busybox, &["sleep", "1000"], "app.log"),
        &pod_cfg,
    );
    let pid = node.k8s.task_pid(&id);

    node.ctd.restart();
    node.cri = Cri::connect(&node.ctd.address());
    // CRI answers "not initialized yet" until its recovery is done, as a kubelet sees it.
    let cri = &mut node.cri;
    let st = poll("CRI to recover", WAIT, || cri.container_status(&id).ok());
    assert_eq!(
        st.state,
        cri::ContainerState::ContainerRunning as i32,
        "{st:?}"
    );
    assert_eq!(node.k8s.task_pid(&id), pid, "the same process, recovered");
    let r = node.cri.exec_sync(&id, &["echo", "still here"]).unwrap();
    assert_eq!(r.stdout, "still here\n", "{r:?}");
    assert!(node.cri.stats(&id).is_ok_and(|s| s.cpu.is_some()));

    node.cri.stop_container(&id, 0).unwrap();
    let st = node.cri.wait_exited(&id, WAIT);
    assert_eq!(st.exit_code, 137, "{st:?}");
    node.cri.remove_container(&id).unwrap();
    node.cri.remove_pod(&pod_id).unwrap();
    poll("the pod's shim to exit", WAIT, || {
        node.ctd.shim_pids().is_empty().then_some(())
    });
}
