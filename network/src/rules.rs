//! Which firewall rules a network and a published port need.

use crate::firewall::{Rule, FORWARD, ISOLATION1, ISOLATION2, OUTPUT, POSTROUTING, PREROUTING};
use crate::model::NetworkRecord;
use crate::ports::PortMapping;
use std::net::Ipv4Addr;

/// Isolation from other networks, forwarding and masquerade for network `n`.
pub(crate) fn network(n: &NetworkRecord) -> Vec<Rule> {
    let br = n.bridge.as_str();
    let subnet = n.subnet.to_string();
    if n.internal {
        // Nothing enters or leaves an internal network's bridge except between its members.
        return vec![
            Rule::new(
                "filter",
                ISOLATION1,
                &["-i", br, "!", "-o", br, "-j", "DROP"],
            ),
            Rule::new(
                "filter",
                ISOLATION1,
                &["-o", br, "!", "-i", br, "-j", "DROP"],
            ),
        ];
    }
    vec![
        // Two stages so each network needs rules of its own only: leaving bridge A for any
        // other interface goes to stage 2, which drops it if that interface is bridge B.
        Rule::new(
            "filter",
            ISOLATION1,
            &["-i", br, "!", "-o", br, "-j", ISOLATION2],
        ),
        Rule::new("filter", ISOLATION2, &["-o", br, "-j", "DROP"]),
        Rule::new("filter", FORWARD, &["-i", br, "-j", "ACCEPT"]),
        Rule::new(
            "filter",
            FORWARD,
            &[
                "-o",
                br,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
        ),
        Rule::new(
            "nat",
            POSTROUTING,
            &["-s", &subnet, "!", "-o", br, "-j", "MASQUERADE"],
        ),
        // Hairpin: a member reaching a published port of another member (or itself) through
        // a host address. Masqueraded to the gateway so the answer comes back through the
        // host to be un-DNATed, whether or not br_netfilter sees bridged traffic.
        Rule::new(
            "nat",
            POSTROUTING,
            &[
                "-s",
                &subnet,
                "-o",
                br,
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "MASQUERADE",
            ],
        ),
        // Localhost clients of published ports: their 127.0.0.1 source must not reach a
        // container, which would answer to its own loopback.
        Rule::new(
            "nat",
            POSTROUTING,
            &["-s", "127.0.0.0/8", "-o", br, "-j", "MASQUERADE"],
        ),
    ]
}

/// DNAT (from other namespaces and from the host itself) and the forward accept for one published port of the container at `ip` on bridge `br`.
pub(crate) fn port(br: &str, ip: Ipv4Addr, p: &PortMapping) -> Vec<Rule> {
    let proto = p.proto.as_str();
    let hport = p.host_port.to_string();
    let cport = p.container_port.to_string();
    let to = format!("{ip}:{cport}");
    let ip_s = ip.to_string();
    let mut dnat: Vec<&str> = Vec::new();
    let host_ip = p.host_ip.map(|h| h.to_string());
    if let Some(h) = &host_ip {
        dnat.extend(["-d", h.as_str()]);
    }
    dnat.extend([
        "-p",
        proto,
        "--dport",
        &hport,
        "-j",
        "DNAT",
        "--to-destination",
        &to,
    ]);
    vec![
        Rule::new("nat", PREROUTING, &dnat),
        Rule::new("nat", OUTPUT, &dnat),
        Rule::new(
            "filter",
            FORWARD,
            &[
                "-d", &ip_s, "!", "-i", br, "-o", br, "-p", proto, "--dport", &cport, "-j",
                "ACCEPT",
            ],
        ),
    ]
}
