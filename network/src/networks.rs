//! `Networks`: the API the daemon calls to make networks and attach containers.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use crate::bridge;
use crate::error::{Error, Result};
use crate::firewall;
use crate::ipam;
use crate::model::{
    AttachOptions, Endpoint, EndpointRecord, HostRecord, NetworkRecord, NetworkSpec,
};
use crate::netns::in_netns;
use crate::nl::Nl;
use crate::ports::{PortMapping, Proto};
use crate::rules;
use crate::store::Store;

/// Where records live unless configured otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/dockermind/network";

/// How a `Networks` is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The namespace that plays the host (bridges, host veth ends, firewall rules); the
    /// caller's own when None. Tests point this at a namespace they made.
    pub host_netns: Option<PathBuf>,
    /// Where CNI plugins are looked up (CNI mode).
    pub cni_plugin_dirs: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            host_netns: None,
            cni_plugin_dirs: crate::cni::DEFAULT_PLUGIN_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// What `recover` removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovered {
    /// `(container, network)` endpoints removed.
    pub endpoints: Vec<(String, String)>,
    /// Half-made networks removed.
    pub networks: Vec<String>,
}

/// The networks of one state directory.
pub struct Networks {
    store: Store,
    host_netns: Option<PathBuf>,
    cni_dirs: Vec<PathBuf>,
}

fn check_name(field: &'static str, s: &str, max: usize) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{s:?}: want 1-{max} of [A-Za-z0-9_.-], starting alphanumeric"),
        ))
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most b.len() bytes into b, which we own.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    assert_eq!(n, b.len() as isize, "getrandom failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// FNV-1a: stable short names for veths from ids of any length.
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

impl Networks {
    /// Opens (creating if needed) the state directory.
    pub fn open(cfg: Config) -> Result<Networks> {
        Ok(Networks {
            store: Store::open(&cfg.state_dir)?,
            host_netns: cfg.host_netns,
            cni_dirs: cfg.cni_plugin_dirs,
        })
    }

    fn in_host<T: Send>(&self, f: impl FnOnce(&Nl) -> Result<T> + Send) -> Result<T> {
        in_netns(self.host_netns.as_deref(), || f(&Nl::new()?))
    }

    /// Every recorded network.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        self.store.networks()
    }

    /// Every recorded endpoint.
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        self.store.endpoints()
    }

    /// Makes a bridge network.
    pub fn create(&self, spec: &NetworkSpec) -> Result<NetworkRecord> {
        check_name("network name", &spec.name, 64)?;
        let s = spec.subnet.trunc();
        if s.prefix_len() > 30 {
            return Err(Error::invalid(
                "subnet",
                format!("{} has no room for hosts", spec.subnet),
            ));
        }
        let gateway = spec
            .gateway
            .unwrap_or_else(|| s.hosts().next().expect("prefix <= 30"));
        if !s.contains(&gateway) || gateway == s.network() || gateway == s.broadcast() {
            return Err(Error::invalid(
                "gateway",
                format!("{gateway} is not a host address of {s}"),
            ));
        }
        let id = random_hex();
        let bridge = spec
            .bridge
            .clone()
            .unwrap_or_else(|| format!("dm-{}", &id[..10]));
        check_name("bridge", &bridge, 15)?;
        let _lock = self.store.lock()?;
        let existing = self.store.networks()?;
        if existing.iter().any(|n| n.name == spec.name) {
            return Err(Error::NetworkExists(spec.name.clone()));
        }
        if let Some(o) = existing
            .iter()
            .find(|n| n.subnet.contains(&s.network()) || s.contains(&n.subnet.network()))
        {
            return Err(Error::invalid(
                "subnet",
                format!("{s} overlaps network {:?} ({})", o.name, o.subnet),
            ));
        }
        if let Some(o) = existing.iter().find(|n| n.bridge == bridge) {
            return Err(Error::invalid(
                "bridge",
                format!("{bridge} serves network {:?}", o.name),
            ));
        }
        let mut rec = NetworkRecord {
            name: spec.name.clone(),
            id,
            bridge,
            subnet: s,
            gateway,
            internal: spec.internal,
            complete: false,
            rules: Vec::new(),
        };
        rec.rules = rules::network(&rec);
        self.store.put_network(&rec)?;
        let made = self.in_host(|nl| {
            if nl.index(&rec.bridge)?.is_some() {
                return Err(Error::invalid(
                    "bridge",
                    format!("a link named {} exists", rec.bridge),
                ));
            }
            let r = self.ensure_network(nl, &rec, true);
            crate::crash::point("create:made");
            if r.is_err() {
                let _ = firewall::del_all(&rec.rules);
                let _ = nl.del_link(&rec.bridge);
            }
            r
        });
        if let Err(e) = made {
            self.store.del_network(&rec.name)?;
            self.drop_base_if_unused()?;
            return Err(e);
        }
        rec.complete = true;
        self.store.put_network(&rec)?;
        Ok(rec)
    }

    /// Bridge, base chains, host sysctls and the network's rules; idempotent unless `fresh`
    /// (the network's rules cannot exist yet: they name a bridge just recorded). Host namespace.
    fn ensure_network(&self, nl: &Nl, rec: &NetworkRecord, fresh: bool) -> Result<()> {
        let mut host = self.store.host()?;
        if host.base_rules.is_empty() {
            // Record before changing, so a crash right after still restores the old value.
            host.ip_forward_before = Some(bridge::sysctl("net/ipv4/ip_forward", "1")?);
            self.store.put_host(&host)?;
            host.base_rules = firewall::install_base()?;
            self.store.put_host(&host)?;
        }
        bridge::make_bridge(nl, rec)?;
        if fresh {
            firewall::add_fresh(&rec.rules)
        } else {
            firewall::add_all(&rec.rules)
        }
    }

    /// Undoes the host-wide changes once no network is left.
    fn drop_base_if_unused(&self) -> Result<()> {
        if !self.store.networks()?.is_empty() {
            return Ok(());
        }
        let host = self.store.host()?;
        if host == HostRecord::default() {
            return Ok(());
        }
        self.in_host(|_| {
            if let Some(e) = firewall::remove_base(&host.base_rules) {
                return Err(e);
            }
            if let Some(v) = &host.ip_forward_before {
                bridge::sysctl("net/ipv4/ip_forward", v)?;
            }
            Ok(())
        })?;
        self.store.put_host(&HostRecord::default())
    }

    /// Removes a network with no endpoints: its rules and bridge.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let rec = self
            .store
            .network(name)?
            .ok_or_else(|| Error::NoSuchNetwork(name.into()))?;
        let users: Vec<String> = self
            .store
            .endpoints()?
            .into_iter()
            .filter(|e| e.network == name)
            .map(|e| e.container)
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse(name.into(), users));
        }
        self.teardown_network(&rec)
    }

    fn teardown_network(&self, rec: &NetworkRecord) -> Result<()> {
        self.in_host(|nl| {
            if let Some(e) = firewall::del_all(&rec.rules) {
                return Err(e);
            }
            nl.del_link(&rec.bridge)
        })?;
        self.store.del_network(&rec.name)?;
        self.drop_base_if_unused()
    }

    /// Connects the container whose network namespace is `netns` to `network`.
    pub fn attach(
        &self,
        container: &str,
        netns: &Path,
        network: &str,
        opts: &AttachOptions,
    ) -> Result<Endpoint> {
        check_name("container id", container, 128)?;
        if let Some(n) = &opts.ifname {
            check_name("ifname", n, 15)?;
        }
        let _lock = self.store.lock()?;
        let net = self
            .store
            .network(network)?
            .filter(|n| n.complete)
            .ok_or_else(|| Error::NoSuchNetwork(network.into()))?;
        let all = self.store.endpoints()?;
        if all
            .iter()
            .any(|e| e.container == container && e.network == network)
        {
            return Err(Error::AlreadyAttached {
                container: container.into(),
                network: network.into(),
            });
        }
        let used: Vec<Ipv4Addr> = all
            .iter()
            .filter(|e| e.network == network)
            .map(|e| e.endpoint.ip)
            .collect();
        let ip = ipam::allocate(&net, &used, opts.ip)?;
        let has_default = all
            .iter()
            .any(|e| e.container == container && e.endpoint.default_route);
        let h = short_hash(&format!("{container}@{}", net.id));
        let mut rec = EndpointRecord {
            container: container.into(),
            network: network.into(),
            netns: netns.to_path_buf(),
            host_veth: format!("dmv{h}"),
            names: opts.name.iter().chain(&opts.aliases).cloned().collect(),
            endpoint: Endpoint {
                network: network.into(),
                ifname: String::new(),
                ip,
                prefix: net.subnet.prefix_len(),
                gateway: net.gateway,
                mac: bridge::mac_string(ip.octets()),
                default_route: !net.internal && !has_default,
            },
            ports: Vec::new(),
            rules: Vec::new(),
            complete: false,
        };
        self.store.put_endpoint(&rec)?;
        let peer = format!("dmp{h}");
        let made = self
            .in_host(|nl| bridge::plug(nl, &net.bridge, &rec.host_veth, &peer, netns))
            .and_then(|_| {
                crate::crash::point("attach:plugged");
                in_netns(Some(netns), || {
                    bridge::configure(&Nl::new()?, &peer, opts.ifname.as_deref(), &rec.endpoint)
                })
            });
        match made {
            Ok(ifname) => rec.endpoint.ifname = ifname,
            Err(e) => {
                // Deleting the host end removes its peer too, wherever it went.
                self.in_host(|nl| nl.del_link(&rec.host_veth))?;
                self.store.del_endpoint(container, network)?;
                return Err(e);
            }
        }
        rec.complete = true;
        self.store.put_endpoint(&rec)?;
        Ok(rec.endpoint)
    }

    /// Disconnects the container from `network`: its interface, ports and rules go.
    pub fn detach(&self, container: &str, network: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let rec = self
            .store
            .endpoint(container, network)?
            .ok_or_else(|| Error::NotAttached {
                container: container.into(),
                network: network.into(),
            })?;
        self.teardown_endpoint(&rec)
    }

    fn teardown_endpoint(&self, rec: &EndpointRecord) -> Result<()> {
        self.in_host(|nl| {
            if let Some(e) = firewall::del_all(&rec.rules) {
                return Err(e);
            }
            nl.del_link(&rec.host_veth)
        })?;
        self.store.del_endpoint(&rec.container, &rec.network)
    }

    /// Disconnects the container from every network (container stop or removal).
    pub fn release(&self, container: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        for rec in self
            .store
            .endpoints()?
            .into_iter()
            .filter(|e| e.container == container)
        {
            self.teardown_endpoint(&rec)?;
        }
        for c in self
            .store
            .cnis()?
            .into_iter()
            .filter(|c| c.container == container)
        {
            self.in_host(|_| crate::cni::del(&c, &self.cni_dirs))?;
            self.store.del_cni(&c.container, &c.network)?;
        }
        Ok(())
    }

    /// Publishes ports of the container's endpoint on `network`; host port 0 picks a free one.
    /// Returns the mappings as published.
    pub fn publish(
        &self,
        container: &str,
        network: &str,
        ports: &[PortMapping],
    ) -> Result<Vec<PortMapping>> {
        let _lock = self.store.lock()?;
        let mut rec =
            self.store
                .endpoint(container, network)?
                .ok_or_else(|| Error::NotAttached {
                    container: container.into(),
                    network: network.into(),
                })?;
        let net = self
            .store
            .network(network)?
            .ok_or_else(|| Error::NoSuchNetwork(network.into()))?;
        if net.internal {
            return Err(Error::invalid(
                "ports",
                format!("network {network:?} is internal"),
            ));
        }
        let taken: Vec<PortMapping> = self
            .store
            .endpoints()?
            .into_iter()
            .flat_map(|e| e.ports)
            .collect();
        let mut done = Vec::new();
        let mut new_rules = Vec::new();
        self.in_host(|_| {
            for p in ports {
                let mut p = p.clone();
                if p.host_port == 0 {
                    p.host_port = free_port(p.host_ip, p.proto)?;
                }
                if taken.iter().chain(&done).any(|t: &PortMapping| {
                    t.host_port == p.host_port
                        && t.proto == p.proto
                        && (t.host_ip.is_none() || p.host_ip.is_none() || t.host_ip == p.host_ip)
                }) {
                    return Err(Error::invalid(
                        "host port",
                        format!("{}/{} is already published", p.host_port, p.proto.as_str()),
                    ));
                }
                new_rules.extend(rules::port(&net.bridge, rec.endpoint.ip, &p));
                done.push(p);
            }
            Ok(())
        })?;
        let before = rec.rules.len();
        rec.rules.extend(new_rules);
        rec.ports.extend(done.iter().cloned());
        self.store.put_endpoint(&rec)?;
        let added = self.in_host(|_| {
            firewall::add_fresh(&rec.rules[before..])?;
            crate::crash::point("publish:added");
            Ok(())
        });
        if let Err(e) = added {
            rec.rules.truncate(before);
            rec.ports.truncate(rec.ports.len() - done.len());
            self.store.put_endpoint(&rec)?;
            return Err(e);
        }
        Ok(done)
    }

    /// After a crash or restart: removes half-made networks and endpoints, endpoints of
    /// containers `keep` rejects or whose namespace is gone, and re-makes what complete
    /// networks need (bridge, rules) so kept containers stay connected.
    pub fn recover(&self, keep: impl Fn(&str) -> bool) -> Result<Recovered> {
        let _lock = self.store.lock()?;
        let mut out = Recovered::default();
        for c in self.store.cnis()? {
            if c.result.is_none() || !keep(&c.container) || !c.netns.exists() {
                self.in_host(|_| crate::cni::del(&c, &self.cni_dirs))?;
                self.store.del_cni(&c.container, &c.network)?;
                out.endpoints.push((c.container, c.network));
            }
        }
        for e in self.store.endpoints()? {
            if !e.complete || !keep(&e.container) || !e.netns.exists() {
                self.teardown_endpoint(&e)?;
                out.endpoints.push((e.container, e.network));
            }
        }
        for n in self.store.networks()? {
            if n.complete {
                self.in_host(|nl| self.ensure_network(nl, &n, false))?;
            } else {
                self.teardown_network(&n)?;
                out.networks.push(n.name);
            }
        }
        if self.store.networks()?.is_empty() {
            self.drop_base_if_unused()?;
        }
        Ok(out)
    }
}

impl Networks {
    /// The addresses `name` (a container name, alias or id) has for `container`: those of
    /// containers on the networks `container` is attached to.
    pub fn resolve(&self, container: &str, name: &str) -> Result<Vec<Ipv4Addr>> {
        crate::resolver::lookup(&self.store, container, name.trim_end_matches('.'))
    }

    /// Starts the embedded DNS resolver for `container` at 127.0.0.11:53 in its namespace,
    /// forwarding unknown names to `upstream` (from the host namespace). Stop it (drop) before
    /// the container's namespace goes, as its socket keeps the namespace alive.
    pub fn start_resolver(
        &self,
        container: &str,
        netns: &Path,
        upstream: &[std::net::SocketAddr],
    ) -> Result<crate::Resolver> {
        crate::resolver::start(
            self.store.clone(),
            container,
            netns,
            self.host_netns.as_deref(),
            upstream,
        )
    }
}

impl Networks {
    /// CNI mode: attaches the container to the network `conflist` describes by running its
    /// plugins (ADD), passing `ports` to plugins with the `portMappings` capability. Returns
    /// the CNI result (interfaces, ips, routes, dns).
    pub fn cni_attach(
        &self,
        container: &str,
        netns: &Path,
        conflist: &serde_json::Value,
        ifname: &str,
        ports: &[PortMapping],
    ) -> Result<serde_json::Value> {
        check_name("container id", container, 128)?;
        check_name("ifname", ifname, 15)?;
        let network = crate::cni::conflist_name(conflist)?;
        check_name("cni conflist name", &network, 64)?;
        let _lock = self.store.lock()?;
        if self.store.cni(container, &network)?.is_some() {
            return Err(Error::AlreadyAttached {
                container: container.into(),
                network,
            });
        }
        let mut rec = crate::cni::CniRecord {
            container: container.into(),
            network,
            netns: netns.to_path_buf(),
            ifname: ifname.into(),
            conflist: conflist.clone(),
            ports: ports.to_vec(),
            result: None,
        };
        self.store.put_cni(&rec)?;
        match self.in_host(|_| crate::cni::add(&rec, &self.cni_dirs)) {
            Ok(result) => {
                crate::crash::point("cni:added");
                rec.result = Some(result.clone());
                self.store.put_cni(&rec)?;
                Ok(result)
            }
            Err(e) => {
                self.store.del_cni(container, &rec.network)?;
                Err(e)
            }
        }
    }

    /// CNI mode: detaches the container from CNI network `network` (DEL through its plugins).
    pub fn cni_detach(&self, container: &str, network: &str) -> Result<()> {
        let _lock = self.store.lock()?;
        let rec = self
            .store
            .cni(container, network)?
            .ok_or_else(|| Error::NotAttached {
                container: container.into(),
                network: network.into(),
            })?;
        self.in_host(|_| crate::cni::del(&rec, &self.cni_dirs))?;
        self.store.del_cni(container, network)
    }
}

/// A port nothing on the host listens on now, from the kernel's ephemeral range.
fn free_port(ip: Option<Ipv4Addr>, proto: Proto) -> Result<u16> {
    let addr = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0);
    let port = match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    };
    port.map(|a| a.port())
        .map_err(|e| Error::io("pick a free port", "host", e))
}

/// Sets up a `none` container: loopback only.
pub fn setup_none(netns: &Path) -> Result<()> {
    in_netns(Some(netns), || bridge::loopback_up(&Nl::new()?))
}
