//! The bridge driver's kernel objects: bridges, veth pairs and the container side of a veth.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{Endpoint, NetworkRecord};
use crate::nl::Nl;

/// Writes a sysctl under /proc/sys of the calling thread's network namespace; returns the old
/// value.
pub(crate) fn sysctl(key: &str, value: &str) -> Result<String> {
    let p = Path::new("/proc/sys").join(key.replace('.', "/"));
    let old = std::fs::read_to_string(&p).map_err(|e| Error::io("read sysctl", &p, e))?;
    if old.trim() != value {
        std::fs::write(&p, value).map_err(|e| Error::io("write sysctl", &p, e))?;
    }
    Ok(old.trim().to_string())
}

/// Makes (or finds) the network's bridge with its gateway address, in the host namespace.
pub(crate) fn make_bridge(nl: &Nl, n: &NetworkRecord) -> Result<()> {
    let idx = match nl.index(&n.bridge)? {
        // Recovery after a restart finds the bridge of a complete network still there.
        Some(idx) => idx,
        None => nl.add_bridge(&n.bridge)?,
    };
    nl.add_addr(idx, IpAddr::V4(n.gateway), n.subnet.prefix_len())?;
    nl.up(idx)?;
    // Localhost clients of published ports are DNATed to a container with their 127.0.0.1
    // source; the kernel drops such packets on the wire unless route_localnet allows them.
    // Per bridge, so it goes away with the bridge and the host's own setting is untouched.
    sysctl(&format!("net/ipv4/conf/{}/route_localnet", n.bridge), "1")?;
    Ok(())
}

/// The host side of attaching: a veth pair with one end on the bridge and the other made in
/// the container's namespace.
pub(crate) fn plug(nl: &Nl, bridge: &str, host_veth: &str, peer: &str, netns: &Path) -> Result<()> {
    let ns = File::open(netns).map_err(|e| Error::io("open netns", netns, e))?;
    let br = nl.must_index(bridge)?;
    nl.add_veth_into(host_veth, peer, ns.as_raw_fd())?;
    let hv = nl.must_index(host_veth)?;
    nl.enslave_up(hv, br)
}

/// The container side (inside its namespace): name, MAC, address, loopback and default route.
/// Returns the interface name chosen.
pub(crate) fn configure(
    nl: &Nl,
    peer: &str,
    wanted: Option<&str>,
    ep: &Endpoint,
) -> Result<String> {
    let idx = nl.must_index(peer)?;
    let names = nl.link_names()?;
    let ifname = match wanted {
        Some(w) if names.iter().any(|n| n == w) => {
            return Err(Error::invalid(
                "ifname",
                format!("{w} exists in the container"),
            ))
        }
        Some(w) => w.to_string(),
        None => (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !names.contains(n))
            .expect("some ethN is free"),
    };
    nl.rename(idx, &ifname, Some(mac_bytes(ep.ip.octets())))?;
    nl.add_addr(idx, IpAddr::V4(ep.ip), ep.prefix)?;
    nl.up(idx)?;
    loopback_up(nl)?;
    if ep.default_route {
        nl.add_default_route(ep.gateway)?;
    }
    Ok(ifname)
}

/// Brings `lo` up (all a `none` container gets).
pub(crate) fn loopback_up(nl: &Nl) -> Result<()> {
    let lo = nl.must_index("lo")?;
    nl.up(lo)
}

/// Docker's scheme: 02:42 then the IPv4 address, unique wherever addresses are.
pub(crate) fn mac_bytes(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x42, ip[0], ip[1], ip[2], ip[3]]
}

/// `mac_bytes` as text.
pub(crate) fn mac_string(ip: [u8; 4]) -> String {
    mac_bytes(ip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
