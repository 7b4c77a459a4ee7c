//! Address allocation within a network's subnet.

use std::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::model::NetworkRecord;

/// The lowest host address of the subnet that is neither the gateway nor in `used`, or the
/// `wanted` address after checking it is usable.
pub(crate) fn allocate(
    n: &NetworkRecord,
    used: &[Ipv4Addr],
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let taken = |ip: &Ipv4Addr| *ip == n.gateway || used.contains(ip);
    if let Some(ip) = wanted {
        if !n.subnet.contains(&ip) || ip == n.subnet.network() || ip == n.subnet.broadcast() {
            return Err(Error::invalid(
                "ip",
                format!("{ip} is not a host address of {}", n.subnet),
            ));
        }
        if taken(&ip) {
            return Err(Error::invalid(
                "ip",
                format!("{ip} is in use on {}", n.name),
            ));
        }
        return Ok(ip);
    }
    n.subnet
        .hosts()
        .find(|ip| !taken(ip))
        .ok_or_else(|| Error::SubnetFull(n.subnet.to_string(), n.name.clone()))
}
