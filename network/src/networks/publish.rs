//! Published ports of bridge endpoints.

use super::*;

impl Networks {
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
                let in_use = |port: u16, done: &[PortMapping]| {
                    taken.iter().chain(done).any(|t| {
                        t.host_port == port
                            && t.proto == p.proto
                            && (t.host_ip.is_none()
                                || p.host_ip.is_none()
                                || t.host_ip == p.host_ip)
                    })
                };
                if p.host_port_end != 0 {
                    let (first, last) = (p.host_port, p.host_port_end);
                    p.host_port = (first..=last)
                        .find(|&n| !in_use(n, &done) && bindable(p.host_ip, n, p.proto))
                        .ok_or_else(|| {
                            Error::invalid(
                                "host port",
                                format!("no free port in {first}-{last}/{}", p.proto.as_str()),
                            )
                        })?;
                    p.host_port_end = 0;
                }
                if p.host_port == 0 {
                    p.host_port = free_port(p.host_ip, p.proto)?;
                }
                if in_use(p.host_port, &done) {
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
}

/// Binds `port` (0: one the kernel picks) and returns the bound port.
fn bind(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> std::io::Result<u16> {
    let addr = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    let bound = match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    };
    bound.map(|a| a.port())
}

/// Whether nothing on the host listens on `port` now.
fn bindable(ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> bool {
    bind(ip, port, proto).is_ok()
}

/// A port nothing on the host listens on now, from the kernel's ephemeral range.
fn free_port(ip: Option<Ipv4Addr>, proto: Proto) -> Result<u16> {
    bind(ip, 0, proto).map_err(|e| Error::io("pick a free port", "host", e))
}
