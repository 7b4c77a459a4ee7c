//! Containers' networking through dm-network: which networks a container joins, wiring its
//! namespace between the runtime's create and start (veths, published ports, the embedded
//! DNS resolver), its /etc/hosts, /etc/resolv.conf and /etc/hostname, release at exit, and
//! recovery after a daemon restart.
//!
//! A container's namespace is named by `/proc/<init pid>/ns/net`: nothing to pin or unmount,
//! and it stops existing with the container, which is what `Networks::recover` checks.

use crate::config::Config;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::netports;
use crate::record::{ContainerConfig, HostConfig, Record};
use dm_network::{
    files, AttachOptions, EndpointRecord, Mode, NetworkRecord, NetworkSpec, Networks, Resolver,
    DEFAULT_NETWORK,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `EndpointSettings.IPAMConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct IpamConfig {
    /// A fixed address on the network.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

/// What a container asks of one network (`EndpointsConfig[name]`, `connect`'s EndpointConfig).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    /// A fixed address.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<IpamConfig>,
    /// More names for the container on this network.
    pub aliases: Option<Vec<String>>,
}

/// The create request's `NetworkingConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Per-network settings by network name.
    pub endpoints_config: Option<BTreeMap<String, EndpointConfig>>,
}

/// The daemon's networking state.
pub struct Net {
    /// Networks and endpoints (records under `<root>/network`).
    pub nets: Networks,
    resolvers: Mutex<HashMap<String, Resolver>>,
    upstream: Vec<SocketAddr>,
    /// The default bridge's link name, None with `--bridge none`.
    bridge: Option<String>,
}

impl Net {
    /// Opens the network records; `recover` makes the default network.
    pub fn open(cfg: &Config) -> anyhow::Result<Net> {
        let nets = Networks::open(dm_network::Config {
            state_dir: cfg.root.join("network"),
            ..Default::default()
        })?;
        let upstream = std::fs::read_to_string("/etc/resolv.conf")
            .map(|s| files::nameservers(&s))
            .unwrap_or_default()
            .into_iter()
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        Ok(Net {
            nets,
            resolvers: Mutex::new(HashMap::new()),
            upstream,
            bridge: (cfg.bridge != "none").then(|| cfg.bridge.clone()),
        })
    }

    /// Whether the default `bridge` network is served.
    pub fn has_bridge(&self) -> bool {
        self.bridge.is_some()
    }
}

/// dm-network's errors as docker answers them.
pub fn api_error(e: dm_network::Error) -> ApiError {
    use dm_network::Error as E;
    match &e {
        E::Invalid { .. } => ApiError::bad(e.to_string()),
        E::NoSuchNetwork(n) => ApiError::not_found(format!("network {n} not found")),
        E::NetworkExists(n) => ApiError::conflict(format!("network with name {n} already exists")),
        E::NetworkInUse(n, _) => ApiError::conflict(format!(
            "error while removing network: network {n} has active endpoints"
        )),
        E::AlreadyAttached { container, network } => ApiError::new(
            hyper::StatusCode::FORBIDDEN,
            format!("endpoint with name {container} already exists in network {network}"),
        ),
        E::NotAttached { container, network } => ApiError::new(
            hyper::StatusCode::FORBIDDEN,
            format!("container {container} is not connected to network {network}"),
        ),
        _ => ApiError::internal(e.to_string()),
    }
}

fn netns_of(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

fn hostname(rec: &Record) -> String {
    if rec.config.hostname.is_empty() {
        rec.id[..12].to_owned()
    } else {
        rec.config.hostname.clone()
    }
}

/// Rewrites a file in place: bind mounts of it in running containers see the new text.
fn write_in_place(p: &Path, text: &str) -> ApiResult<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| ApiError::internal(format!("write {}: {e}", p.display())))
}

fn bind(spec: &mut Value, src: &Path, dst: &str) {
    if let Some(m) = spec["mounts"].as_array_mut() {
        if m.iter().any(|x| x["destination"] == dst) {
            return;
        }
        m.push(json!({"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "rprivate"]}));
    }
}

impl Daemon {
    /// The container's networking as its NetworkMode says (`default` is `bridge`, or `none`
    /// when the daemon serves no default bridge).
    pub fn net_mode(&self, h: &HostConfig) -> ApiResult<Mode> {
        match h.network_mode.as_str() {
            "" | "default" if self.net.has_bridge() => Ok(Mode::Network(DEFAULT_NETWORK.into())),
            "" | "default" => Ok(Mode::None),
            m => m
                .parse()
                .map_err(|e| ApiError::bad(format!("HostConfig.NetworkMode: {e}"))),
        }
    }

    /// The recorded network `key` names: its name, id or a unique id prefix.
    pub fn net_find(&self, key: &str) -> ApiResult<NetworkRecord> {
        let all = self.net.nets.list().map_err(api_error)?;
        let all: Vec<NetworkRecord> = all.into_iter().filter(|n| n.complete).collect();
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let hits: Vec<&NetworkRecord> = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::not_found(format!("network {key} not found"))),
            _ => Err(ApiError::bad(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    /// Checks a create request's networking and returns the networks the container joins;
    /// fills ExposedPorts from the image and the bindings, as docker does.
    pub fn net_create_check(
        &self,
        host: &HostConfig,
        nc: Option<&NetworkingConfig>,
        config: &mut ContainerConfig,
        image_config: &Value,
    ) -> ApiResult<BTreeMap<String, EndpointConfig>> {
        let mut exposed = image_config
            .get("ExposedPorts")
            .and_then(|v| serde_json::from_value::<BTreeMap<String, Value>>(v.clone()).ok())
            .unwrap_or_default();
        exposed.extend(config.exposed_ports.take().unwrap_or_default());
        for k in host.port_bindings.iter().flat_map(|b| b.keys()) {
            let (p, proto) = netports::parse_key(k)?;
            exposed
                .entry(format!("{p}/{}", proto.as_str()))
                .or_insert_with(|| json!({}));
        }
        config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
        netports::wanted(host, config)?;
        for h in host.extra_hosts.iter().flatten() {
            parse_extra_host(h)?;
        }
        for d in host.dns.iter().flatten() {
            d.parse::<IpAddr>()
                .map_err(|_| ApiError::bad(format!("HostConfig.Dns: {d:?} is not an address")))?;
        }
        let asked = nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        match self.net_mode(host)? {
            Mode::Network(n) => {
                let net = self.net_find(&n)?;
                out.insert(net.name.clone(), asked.get(&n).cloned().unwrap_or_default());
                for (k, cfg) in &asked {
                    let other = self.net_find(k)?;
                    out.entry(other.name).or_insert_with(|| cfg.clone());
                }
            }
            Mode::Container(c) => {
                self.find(&c)?;
            }
            Mode::Host | Mode::None => {}
        }
        for (n, cfg) in &out {
            if let Some(ip) = cfg.ipam_config.as_ref().map(|i| &i.ipv4_address) {
                if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
                    return Err(ApiError::bad(format!(
                        "EndpointsConfig[{n:?}].IPAMConfig.IPv4Address: {ip:?} is not an IPv4 address"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Adds networking to a container's config.json before the runtime creates it: the files
    /// under its directory bind-mounted on /etc, and the namespace to join for
    /// `container:<id>`.
    pub fn net_spec(&self, rec: &Record, spec: &mut Value) -> ApiResult<()> {
        let dir = self.container_dir(&rec.id);
        let (hosts, resolv, hostname_file) = (
            dir.join("hosts"),
            dir.join("resolv.conf"),
            dir.join("hostname"),
        );
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        match self.net_mode(&rec.host_config)? {
            Mode::Host => {
                let etc_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                write_in_place(&hosts, &etc_hosts)?;
                write_in_place(&resolv, &host_resolv)?;
            }
            Mode::Container(c) => {
                let other = self.record(&self.find(&c)?)?;
                if !other.state.running || other.state.pid == 0 {
                    return Err(ApiError::conflict(format!(
                        "cannot join network of a non running container: {c}"
                    )));
                }
                let odir = self.container_dir(&other.id);
                std::fs::copy(odir.join("hosts"), &hosts)
                    .and_then(|_| std::fs::copy(odir.join("resolv.conf"), &resolv))
                    .map_err(|e| ApiError::internal(format!("copy {c}'s /etc files: {e}")))?;
                let path = netns_of(other.state.pid);
                if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
                    for n in ns.iter_mut().filter(|n| n["type"] == "network") {
                        n["path"] = json!(path);
                    }
                }
            }
            mode => {
                let user = matches!(&mode, Mode::Network(_))
                    && rec.networks.keys().any(|n| n != DEFAULT_NETWORK);
                let dns: Vec<IpAddr> = rec
                    .host_config
                    .dns
                    .iter()
                    .flatten()
                    .filter_map(|d| d.parse().ok())
                    .collect();
                write_in_place(&resolv, &files::resolv_conf(&host_resolv, user, &dns))?;
                self.write_hosts(rec, &[])?;
            }
        }
        if spec["hostname"].is_string() {
            write_in_place(&hostname_file, &files::hostname(&hostname(rec)))?;
            bind(spec, &hostname_file, "/etc/hostname");
        }
        bind(spec, &hosts, "/etc/hosts");
        bind(spec, &resolv, "/etc/resolv.conf");
        Ok(())
    }

    fn write_hosts(&self, rec: &Record, own: &[Ipv4Addr]) -> ApiResult<()> {
        let extra: Vec<(String, IpAddr)> = rec
            .host_config
            .extra_hosts
            .iter()
            .flatten()
            .filter_map(|h| parse_extra_host(h).ok())
            .collect();
        let text = files::hosts(&hostname(rec), own, &extra);
        write_in_place(&self.container_dir(&rec.id).join("hosts"), &text)
    }

    fn endpoints_of(&self, id: &str) -> Vec<EndpointRecord> {
        self.net
            .nets
            .endpoints()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.container == id && e.complete)
            .collect()
    }

    /// Wires the created (not yet started) container whose init is `pid`; on failure nothing
    /// of it is left.
    pub fn net_up(&self, rec: &Record, pid: u32) -> ApiResult<()> {
        let netns = netns_of(pid);
        let primary = match self.net_mode(&rec.host_config)? {
            Mode::None => return dm_network::setup_none(&netns).map_err(api_error),
            Mode::Host | Mode::Container(_) => return Ok(()),
            Mode::Network(n) => self.net_find(&n)?.name,
        };
        let r = (|| {
            let mut order = vec![primary.clone()];
            order.extend(rec.networks.keys().filter(|n| **n != primary).cloned());
            for n in &order {
                let cfg = rec.networks.get(n).cloned().unwrap_or_default();
                self.attach_one(rec, &netns, n, &cfg)?;
            }
            let ports = netports::wanted(&rec.host_config, &rec.config)?;
            if !ports.is_empty() {
                self.net
                    .nets
                    .publish(&rec.id, &primary, &ports)
                    .map_err(|e| match e {
                        dm_network::Error::Invalid { reason, .. } => ApiError::internal(format!(
                            "driver failed programming external connectivity on endpoint {}: {reason}",
                            rec.name
                        )),
                        e => api_error(e),
                    })?;
            }
            self.refresh(rec, &netns)
        })();
        match &r {
            Ok(()) => self.emit_endpoints(&rec.id, "connect"),
            // Nothing was announced connected: nothing is announced disconnected.
            Err(_) => self.net_release(&rec.id),
        }
        r
    }

    /// A network `connect`/`disconnect` event for each network the container is attached to.
    fn emit_endpoints(&self, id: &str, action: &str) {
        for e in self.endpoints_of(id) {
            self.emit_endpoint(id, &e.network, action);
        }
    }

    fn emit_endpoint(&self, id: &str, network: &str, action: &str) {
        if let Ok(n) = self.net_find(network) {
            self.emit_network(&n.id, &n.name, action, Some(id));
        }
    }

    fn attach_one(
        &self,
        rec: &Record,
        netns: &Path,
        network: &str,
        cfg: &EndpointConfig,
    ) -> ApiResult<()> {
        let ip = cfg
            .ipam_config
            .as_ref()
            .and_then(|i| i.ipv4_address.parse().ok());
        // The default bridge has no name resolution, as docker's.
        let opts = if network == DEFAULT_NETWORK {
            AttachOptions {
                ip,
                ..Default::default()
            }
        } else {
            let mut aliases = cfg.aliases.clone().unwrap_or_default();
            aliases.push(rec.id[..12].to_owned());
            AttachOptions {
                name: Some(rec.name.clone()),
                aliases,
                ip,
                ifname: None,
            }
        };
        self.net
            .nets
            .attach(&rec.id, netns, network, &opts)
            .map(|_| ())
            .map_err(api_error)
    }

    /// /etc/hosts with the container's current addresses, and the resolver once it is on a
    /// user network.
    fn refresh(&self, rec: &Record, netns: &Path) -> ApiResult<()> {
        let eps = self.endpoints_of(&rec.id);
        let own: Vec<Ipv4Addr> = eps.iter().map(|e| e.endpoint.ip).collect();
        self.write_hosts(rec, &own)?;
        if eps.iter().any(|e| e.network != DEFAULT_NETWORK) {
            let mut rs = self.net.resolvers.lock().unwrap();
            if !rs.contains_key(&rec.id) {
                let r = self
                    .net
                    .nets
                    .start_resolver(&rec.id, netns, &self.net.upstream)
                    .map_err(api_error)?;
                rs.insert(rec.id.clone(), r);
            }
        }
        Ok(())
    }

    /// Releases everything the container's networking holds (exit, removal); idempotent.
    pub fn net_down(&self, id: &str) {
        let attached = self.endpoints_of(id);
        self.net_release(id);
        for e in attached {
            self.emit_endpoint(id, &e.network, "disconnect");
        }
    }

    fn net_release(&self, id: &str) {
        // The resolver's socket keeps the namespace alive: it goes first.
        drop(self.net.resolvers.lock().unwrap().remove(id));
        if let Err(e) = self.net.nets.release(id) {
            eprintln!("dockermindd: container {id}: release networks: {e}");
        }
    }

    /// After the containers are recovered: endpoints of containers that no longer run go,
    /// the rest (bridges, rules) is re-made, the default network exists, resolvers serve
    /// running containers again.
    pub fn net_recover(&self) -> anyhow::Result<()> {
        let running: HashMap<String, Record> = self
            .ctrs()
            .values()
            .filter(|e| e.rec.state.running)
            .map(|e| (e.rec.id.clone(), e.rec.clone()))
            .collect();
        let gone = self.net.nets.recover(|c| running.contains_key(c))?;
        if !gone.endpoints.is_empty() || !gone.networks.is_empty() {
            eprintln!(
                "dockermindd: network recovery removed endpoints {:?}, networks {:?}",
                gone.endpoints, gone.networks
            );
        }
        if let Some(br) = &self.net.bridge {
            if !self
                .net
                .nets
                .list()?
                .iter()
                .any(|n| n.name == DEFAULT_NETWORK)
            {
                let mut spec = NetworkSpec::default_bridge();
                spec.bridge = Some(br.clone());
                // Not fatal: user networks, host and none still work; containers on the
                // default network fail to start naming it.
                if let Err(e) = self.net.nets.create(&spec) {
                    eprintln!("dockermindd: no default network {DEFAULT_NETWORK:?} ({br}): {e}");
                }
            }
        }
        for rec in running.values() {
            if let Some(e) = self.endpoints_of(&rec.id).first() {
                if let Err(err) = self.refresh(rec, &e.netns.clone()) {
                    eprintln!("dockermindd: container {}: networking: {err}", rec.id);
                }
            }
        }
        Ok(())
    }

    /// `network connect`: records the network; a running container is attached now.
    pub fn net_connect(&self, id: &str, network: &str, cfg: EndpointConfig) -> ApiResult<()> {
        let net = self.net_find(network)?;
        let rec = self.record(id)?;
        if !matches!(self.net_mode(&rec.host_config)?, Mode::Network(_)) {
            return Err(ApiError::bad(format!(
                "container {} uses network mode {:?}: it cannot join other networks",
                rec.name, rec.host_config.network_mode
            )));
        }
        if rec.networks.contains_key(&net.name) {
            return Err(ApiError::new(
                hyper::StatusCode::FORBIDDEN,
                format!(
                    "endpoint with name {} already exists in network {}",
                    rec.name, net.name
                ),
            ));
        }
        if rec.state.running {
            let netns = netns_of(rec.state.pid);
            self.attach_one(&rec, &netns, &net.name, &cfg)?;
            self.emit_network(&net.id, &net.name, "connect", Some(id));
            self.refresh(&rec, &netns)?;
        }
        self.update_networks(id, |m| {
            m.insert(net.name.clone(), cfg);
        });
        Ok(())
    }

    /// `network disconnect`.
    pub fn net_disconnect(&self, id: &str, network: &str) -> ApiResult<()> {
        let rec = self.record(id)?;
        let name = match self.net_find(network) {
            Ok(n) => n.name,
            Err(_) if rec.networks.contains_key(network) => network.to_owned(),
            Err(e) => return Err(e),
        };
        if !rec.networks.contains_key(&name) {
            return Err(ApiError::new(
                hyper::StatusCode::FORBIDDEN,
                format!("container {} is not connected to network {name}", rec.name),
            ));
        }
        if rec.state.running {
            match self.net.nets.detach(id, &name) {
                Ok(()) => self.emit_endpoint(id, &name, "disconnect"),
                Err(dm_network::Error::NotAttached { .. }) => {}
                Err(e) => return Err(api_error(e)),
            }
            self.refresh(&rec, &netns_of(rec.state.pid))?;
        }
        self.update_networks(id, |m| {
            m.remove(&name);
        });
        Ok(())
    }

    fn update_networks(&self, id: &str, f: impl FnOnce(&mut BTreeMap<String, EndpointConfig>)) {
        let mut ctrs = self.ctrs();
        if let Some(en) = ctrs.get_mut(id) {
            f(&mut en.rec.networks);
            self.save(&en.rec);
        }
    }

    /// Published ports of a running container.
    pub fn net_ports(&self, id: &str) -> Vec<dm_network::ports::PortMapping> {
        self.endpoints_of(id)
            .into_iter()
            .flat_map(|e| e.ports)
            .collect()
    }

    /// Inspect's `NetworkSettings`, filled from the live endpoints.
    pub fn net_settings(&self, rec: &Record) -> Value {
        let eps = if rec.state.running {
            self.endpoints_of(&rec.id)
        } else {
            Vec::new()
        };
        let ids: HashMap<String, String> = self
            .net
            .nets
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|n| (n.name, n.id))
            .collect();
        let mut networks = serde_json::Map::new();
        let mode = self.net_mode(&rec.host_config).unwrap_or(Mode::None);
        let pseudo = match &mode {
            Mode::Host => Some("host"),
            Mode::None => Some("none"),
            _ => None,
        };
        let names: Vec<String> = match pseudo {
            Some(p) => vec![p.to_owned()],
            None => rec.networks.keys().cloned().collect(),
        };
        for name in names {
            let cfg = rec.networks.get(&name).cloned().unwrap_or_default();
            let ep = eps.iter().find(|e| e.network == name);
            let net_id = match pseudo {
                Some(p) => crate::networks::pseudo_id(self, p),
                None => ids.get(&name).cloned().unwrap_or_default(),
            };
            networks.insert(name.clone(), endpoint_json(&cfg, &net_id, rec, ep));
        }
        let main = eps.iter().find(|e| e.network == DEFAULT_NETWORK);
        let s = |f: &dyn Fn(&EndpointRecord) -> String| main.map(f).unwrap_or_default();
        let ports: Vec<_> = eps.iter().flat_map(|e| e.ports.clone()).collect();
        let own_ns = matches!(mode, Mode::Network(_) | Mode::None);
        json!({
            "Bridge": "",
            "SandboxID": if rec.state.running { rec.id.clone() } else { String::new() },
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": if rec.state.running { netports::settings(&rec.config, &ports) } else { json!({}) },
            "SandboxKey": if rec.state.running && own_ns { netns_of(rec.state.pid).display().to_string() } else { String::new() },
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": s(&|e| endpoint_id(&e.container, &e.network)),
            "Gateway": s(&|e| e.endpoint.gateway.to_string()),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": s(&|e| e.endpoint.ip.to_string()),
            "IPPrefixLen": main.map_or(0, |e| e.endpoint.prefix),
            "IPv6Gateway": "",
            "MacAddress": s(&|e| e.endpoint.mac.clone()),
            "Networks": networks,
        })
    }

    /// `docker ps`'s `Ports` of a container.
    pub fn net_ps_ports(&self, rec: &Record) -> Value {
        let published = if rec.state.running {
            self.net_ports(&rec.id)
        } else {
            Vec::new()
        };
        netports::list(&rec.config, &published)
    }
}

/// A stable endpoint id for a container on a network (64 hex digits).
pub fn endpoint_id(container: &str, network: &str) -> String {
    crate::networks::hash64(&format!("{container}@{network}"))
}

fn endpoint_json(
    cfg: &EndpointConfig,
    net_id: &str,
    rec: &Record,
    ep: Option<&EndpointRecord>,
) -> Value {
    let mut aliases = cfg.aliases.clone().unwrap_or_default();
    if ep.is_some_and(|e| e.network != DEFAULT_NETWORK) {
        aliases.push(rec.id[..12].to_owned());
    }
    json!({
        "IPAMConfig": cfg.ipam_config,
        "Links": null,
        "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
        "NetworkID": net_id,
        "EndpointID": ep.map(|e| endpoint_id(&e.container, &e.network)).unwrap_or_default(),
        "Gateway": ep.map(|e| e.endpoint.gateway.to_string()).unwrap_or_default(),
        "IPAddress": ep.map(|e| e.endpoint.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": ep.map_or(0, |e| e.endpoint.prefix),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.map(|e| e.endpoint.mac.clone()).unwrap_or_default(),
        "DriverOpts": null,
    })
}

/// `--add-host name:ip`.
fn parse_extra_host(h: &str) -> ApiResult<(String, IpAddr)> {
    h.split_once(':')
        .and_then(|(n, ip)| Some((n.to_owned(), ip.parse().ok()?)))
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad(format!(
                "HostConfig.ExtraHosts: invalid entry {h:?} (want name:ip)"
            ))
        })
}
