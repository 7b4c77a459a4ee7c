//! Specs callers pass in and records kept on disk.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::firewall::Rule;
use crate::ports::PortMapping;

/// What `Networks::create` makes.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    /// The network's name (`[A-Za-z0-9_.-]`, at most 64 characters).
    pub name: String,
    /// Its IPv4 subnet.
    pub subnet: Ipv4Net,
    /// The bridge's address; the subnet's first host when None.
    pub gateway: Option<Ipv4Addr>,
    /// No route out: containers reach only each other.
    pub internal: bool,
    /// The bridge's name (at most 15 characters); derived from the network's id when None.
    pub bridge: Option<String>,
}

/// The name of the default network, as docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";

impl NetworkSpec {
    /// The default network: bridge `dm0` on 172.30.0.0/16, clear of docker's 172.17.0.0/16
    /// so both can run on one host (a subnet the host uses is refused by `create`).
    pub fn default_bridge() -> NetworkSpec {
        NetworkSpec {
            name: DEFAULT_NETWORK.into(),
            subnet: "172.30.0.0/16".parse().expect("valid literal"),
            gateway: None,
            internal: false,
            bridge: Some("dm0".into()),
        }
    }
}

/// A network as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    /// The network's name.
    pub name: String,
    /// A random id, stable for the network's life.
    pub id: String,
    /// The Linux bridge serving it.
    pub bridge: String,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// The bridge's address.
    pub gateway: Ipv4Addr,
    /// Whether traffic may leave the network.
    pub internal: bool,
    /// False while the network is being made: a crash then leaves it for `recover` to remove.
    pub complete: bool,
    /// Firewall rules made for this network.
    pub rules: Vec<Rule>,
}

/// Per-container options of `Networks::attach`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// The container's name, resolvable by DNS on user networks.
    pub name: Option<String>,
    /// More names for it on this network.
    pub aliases: Vec<String>,
    /// A fixed address in the subnet instead of the next free one.
    pub ip: Option<Ipv4Addr>,
    /// The interface name in the container; the first free `ethN` when None.
    pub ifname: Option<String>,
}

/// A container's interface on one network, as the container sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    /// The network's name.
    pub network: String,
    /// The interface inside the container (`eth0`, ...).
    pub ifname: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// The interface's MAC address, `02:42:` and the IPv4 address.
    pub mac: String,
    /// Whether this interface carries the container's default route.
    pub default_route: bool,
}

/// An attached container as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointRecord {
    /// Container id.
    pub container: String,
    /// Network name.
    pub network: String,
    /// The container's network namespace file.
    pub netns: PathBuf,
    /// The veth end on the bridge, in the host namespace.
    pub host_veth: String,
    /// The container's name and aliases.
    pub names: Vec<String>,
    /// The interface as the container sees it.
    pub endpoint: Endpoint,
    /// Ports published through this endpoint.
    pub ports: Vec<PortMapping>,
    /// Firewall rules made for this endpoint.
    pub rules: Vec<Rule>,
    /// False while being made.
    pub complete: bool,
}

/// Host-wide settings changed by this crate and their values before, restored when the last
/// network goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostRecord {
    /// `net.ipv4.ip_forward` before the first network needed it, when we changed it.
    pub ip_forward_before: Option<String>,
    /// The jumps from built-in chains into ours.
    pub base_rules: Vec<Rule>,
}
