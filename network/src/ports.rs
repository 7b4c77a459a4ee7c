//! Published port specs: `[ip:][hostport[-end]:]port[-end][/proto]`, as `docker run -p`.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A transport protocol.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The name iptables uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port; `host_port` 0 means "pick a free one" until published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    /// Only traffic to this host address; any local address when None.
    pub host_ip: Option<Ipv4Addr>,
    /// The port on the host (the first one to try when `host_port_end` is set).
    pub host_port: u16,
    /// A host range for one container port (`-p 8000-8010:80`): the last port to try; 0 when
    /// the host port is fixed or already picked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_port_end: u16,
    /// The port in the container.
    pub container_port: u16,
    /// The protocol.
    pub proto: Proto,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// A host port or range as the Engine API's `HostPort` spells it (`8080`, `8000-8010`).
pub fn host_range(s: &str) -> Result<(u16, u16)> {
    range(s, "host port")
}

fn range(s: &str, field: &'static str) -> Result<(u16, u16)> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::invalid(field, format!("{p:?} is not a port (1-65535)")))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(Error::invalid(field, format!("range {s:?} is reversed")));
            }
            Ok((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

/// Parses one `-p` spec into its mappings (several for a range).
pub fn parse(spec: &str) -> Result<Vec<PortMapping>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => {
            return Err(Error::invalid(
                "port protocol",
                format!("{p:?} in {spec:?}"),
            ))
        }
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, cont) = match parts[..] {
        [c] => (None, "", c),
        [h, c] => (None, h, c),
        [ip, h, c] => (Some(ip), h, c),
        _ => return Err(Error::invalid("port", format!("{spec:?} has too many ':'"))),
    };
    let host_ip = ip
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| Error::invalid("port host ip", format!("{s:?} in {spec:?}")))
        })
        .transpose()?;
    let (c0, c1) = range(cont, "container port")?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        range(host, "host port")?
    };
    if h0 != 0 && c0 == c1 && h1 > h0 {
        // One container port, a host range: docker publishes it on the first free host port.
        return Ok(vec![PortMapping {
            host_ip,
            host_port: h0,
            host_port_end: h1,
            container_port: c0,
            proto,
        }]);
    }
    if h0 != 0 && h1 - h0 != c1 - c0 {
        return Err(Error::invalid(
            "port",
            format!("{spec:?}: host and container ranges differ in length"),
        ));
    }
    Ok((0..=c1 - c0)
        .map(|i| PortMapping {
            host_ip,
            host_port: if h0 == 0 { 0 } else { h0 + i },
            host_port_end: 0,
            container_port: c0 + i,
            proto,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let m = parse("8080:80").unwrap();
        assert_eq!(
            (m[0].host_port, m[0].container_port, m[0].proto),
            (8080, 80, Proto::Tcp)
        );
        let m = parse("127.0.0.1::80/udp").unwrap();
        assert_eq!(m[0].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((m[0].host_port, m[0].proto), (0, Proto::Udp));
        let m = parse("9000-9002:80-82").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!((m[2].host_port, m[2].container_port), (9002, 82));
        let m = parse("8000-8010:80").unwrap();
        assert_eq!(m.len(), 1, "one container port, a host range to pick from");
        assert_eq!((m[0].host_port, m[0].host_port_end), (8000, 8010));
    }

    #[test]
    fn bad_specs_name_the_field() {
        for (s, field) in [
            ("80/sctp", "port protocol"),
            ("0:80", "host port"),
            ("1:2:3:4", "port"),
            ("x::80", "port host ip"),
            ("90-80:80", "host port"),
            ("80-82:80-81", "port"),
        ] {
            match parse(s) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }
}
