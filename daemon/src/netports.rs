//! Published ports as the Engine API spells them: `HostConfig.PortBindings`, `ExposedPorts`,
//! and `NetworkSettings.Ports` / `docker ps`'s `Ports` for what was published.

use crate::error::{ApiError, ApiResult};
use crate::record::{ContainerConfig, HostConfig};
use dm_network::ports::{self, PortMapping, Proto};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::net::Ipv4Addr;

/// One entry of `HostConfig.PortBindings["80/tcp"]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// The host address (empty: every address).
    pub host_ip: String,
    /// The host port (empty: a free one).
    pub host_port: String,
}

/// `80/tcp` (protocol optional) as port and protocol.
pub fn parse_key(key: &str) -> ApiResult<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        p => {
            return Err(ApiError::bad(format!(
                "invalid port protocol {p:?} in {key:?} (tcp or udp)"
            )))
        }
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad(format!("invalid container port {key:?}")))?;
    Ok((port, proto))
}

fn key(port: u16, proto: Proto) -> String {
    format!("{port}/{}", proto.as_str())
}

/// The mappings a container asks for: its bindings, plus every exposed port with `-P`.
pub fn wanted(h: &HostConfig, c: &ContainerConfig) -> ApiResult<Vec<PortMapping>> {
    let mut out = Vec::new();
    for (k, binds) in h.port_bindings.iter().flatten() {
        let (container_port, proto) = parse_key(k)?;
        let default = [PortBinding::default()];
        let binds = binds
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or(&default);
        for b in binds {
            let host_ip = match b.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    ApiError::bad(format!(
                        "invalid HostIp {ip:?} in PortBindings[{k:?}] (an IPv4 address)"
                    ))
                })?),
            };
            let (host_port, end) = match b.host_port.as_str() {
                "" => (0, 0),
                p => ports::host_range(p).map_err(|_| {
                    ApiError::bad(format!(
                        "invalid HostPort {p:?} in PortBindings[{k:?}] (a port or range, 1-65535)"
                    ))
                })?,
            };
            out.push(PortMapping {
                host_ip,
                host_port,
                host_port_end: if end > host_port { end } else { 0 },
                container_port,
                proto,
            });
        }
    }
    if h.publish_all_ports {
        for k in c.exposed_ports.iter().flat_map(|m| m.keys()) {
            let (container_port, proto) = parse_key(k)?;
            if !out
                .iter()
                .any(|m| m.container_port == container_port && m.proto == proto)
            {
                out.push(PortMapping {
                    host_ip: None,
                    host_port: 0,
                    host_port_end: 0,
                    container_port,
                    proto,
                });
            }
        }
    }
    Ok(out)
}

/// `NetworkSettings.Ports`: every exposed or bound port, with what is published for it.
pub fn settings(c: &ContainerConfig, published: &[PortMapping]) -> Value {
    let mut m = Map::new();
    for k in c.exposed_ports.iter().flat_map(|m| m.keys()) {
        if let Ok((p, proto)) = parse_key(k) {
            m.insert(key(p, proto), Value::Null);
        }
    }
    for p in published {
        let e = m
            .entry(key(p.container_port, p.proto))
            .or_insert_with(|| json!([]));
        if e.is_null() {
            *e = json!([]);
        }
        if let Some(a) = e.as_array_mut() {
            a.push(json!({
                "HostIp": p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    Value::Object(m)
}

/// `docker ps`'s `Ports` list.
pub fn list(c: &ContainerConfig, published: &[PortMapping]) -> Value {
    let mut out: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({
                "IP": p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.proto.as_str(),
            })
        })
        .collect();
    for k in c.exposed_ports.iter().flat_map(|m| m.keys()) {
        if let Ok((port, proto)) = parse_key(k) {
            if !published
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(json!({"PrivatePort": port, "Type": proto.as_str()}));
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_bad_bindings_name_the_field() {
        assert_eq!(parse_key("80/udp").unwrap(), (80, Proto::Udp));
        assert_eq!(parse_key("80").unwrap(), (80, Proto::Tcp));
        assert!(parse_key("80/sctp").unwrap_err().message.contains("sctp"));
        assert!(parse_key("0/tcp").unwrap_err().message.contains("port"));
    }
}
