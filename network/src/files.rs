//! Contents of a container's /etc/hosts, /etc/resolv.conf and /etc/hostname.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use crate::resolver::RESOLVER_ADDR;

/// Public resolvers used when the host has none a container can reach (docker does the same).
const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// /etc/hostname.
pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

/// /etc/hosts: loopback names, the container's own addresses under its hostname, then
/// `extra` (`--add-host`).
pub fn hosts(hostname: &str, own: &[Ipv4Addr], extra: &[(String, IpAddr)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for ip in own {
        let _ = writeln!(s, "{ip}\t{hostname}");
    }
    for (name, ip) in extra {
        let _ = writeln!(s, "{ip}\t{name}");
    }
    s
}

/// /etc/resolv.conf from the host's. On a user network the embedded resolver is the only
/// nameserver (it forwards to the host's); otherwise the host's nameservers minus loopback
/// ones, unreachable from another namespace. `dns` (`--dns`) replaces the host's servers.
pub fn resolv_conf(host: &str, embedded: bool, dns: &[IpAddr]) -> String {
    let mut servers = Vec::new();
    let mut rest = String::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                if let Some(ip) = f.next().and_then(|s| s.parse::<IpAddr>().ok()) {
                    servers.push(ip);
                }
            }
            Some("search") | Some("domain") | Some("options") => {
                rest.push_str(line.trim());
                rest.push('\n');
            }
            _ => {}
        }
    }
    let mut s = String::new();
    if embedded {
        let _ = writeln!(s, "nameserver {RESOLVER_ADDR}");
        s.push_str(&rest);
        s.push_str("options ndots:0\n");
        return s;
    }
    let mut list: Vec<String> = if dns.is_empty() {
        servers
            .iter()
            .filter(|ip| !ip.is_loopback())
            .map(ToString::to_string)
            .collect()
    } else {
        dns.iter().map(ToString::to_string).collect()
    };
    if list.is_empty() {
        list = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    for ip in list {
        let _ = writeln!(s, "nameserver {ip}");
    }
    s.push_str(&rest);
    s
}

/// Nameservers of a resolv.conf, for the embedded resolver's forwarding; loopback ones are
/// kept since the forwarder runs in the host namespace.
pub fn nameservers(resolv: &str) -> Vec<IpAddr> {
    resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

    #[test]
    fn resolv_conf_drops_loopback_servers_and_keeps_search() {
        assert_eq!(
            resolv_conf(HOST, false, &[]),
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", false, &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let dns = ["1.1.1.1".parse().unwrap()];
        assert!(resolv_conf(HOST, false, &dns).starts_with("nameserver 1.1.1.1\n"));
        assert_eq!(
            resolv_conf(HOST, true, &[]),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0\noptions ndots:0\n"
        );
        assert_eq!(nameservers(HOST).len(), 2);
    }

    #[test]
    fn hosts_lists_localhost_own_and_extra() {
        let h = hosts(
            "web",
            &[Ipv4Addr::new(10, 0, 0, 2)],
            &[("db".into(), "10.0.0.9".parse().unwrap())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("\n10.0.0.2\tweb\n"));
        assert!(h.ends_with("10.0.0.9\tdb\n"));
        assert_eq!(hostname("web"), "web\n");
    }
}
