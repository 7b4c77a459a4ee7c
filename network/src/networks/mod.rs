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

mod cni;
mod dns;
mod endpoints;
mod publish;
mod recover;

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
            // A subnet the host already uses (its LAN, a VPN) would take its traffic away.
            if let Some((_, used)) = nl.ipv4_nets()?.into_iter().find(|(_, n)| {
                n.contains(&rec.subnet.network()) || rec.subnet.contains(&n.network())
            }) {
                return Err(Error::invalid(
                    "subnet",
                    format!("{} overlaps {used}, an address of the host", rec.subnet),
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
}

/// Sets up a `none` container: loopback only.
pub fn setup_none(netns: &Path) -> Result<()> {
    in_netns(Some(netns), || bridge::loopback_up(&Nl::new()?))
}
