//! The embedded DNS resolver: answers, inside a container's namespace at 127.0.0.11:53, the
//! names and aliases of containers sharing a network with it, and forwards other questions to
//! upstream servers from the host namespace.
//!
//! The socket is opened inside the container's namespace but served by a thread of the
//! calling process, as docker's daemon does, so no process runs in the container.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::dnsmsg::{self, Question};
use crate::error::{Error, Result};
use crate::netns::in_netns;
use crate::store::Store;

/// Where containers find the resolver (their /etc/resolv.conf names it).
pub const RESOLVER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// How long answers about containers may be cached: short, since containers come and go.
const TTL: u32 = 10;
/// How long one upstream server gets to answer a forwarded question.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// A running resolver; dropping it stops it and closes its socket.
pub struct Resolver {
    wake: UdpSocket,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Resolver {
    /// The address it answers on, inside the container's namespace.
    pub fn addr(&self) -> SocketAddr {
        self.wake.local_addr().expect("bound socket")
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // An empty datagram to itself ends the blocking receive; the clone shares the socket's
        // namespace, so this reaches it whatever namespace the caller is in.
        let _ = self.wake.send_to(&[], self.addr());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The addresses `name` has for `container`: containers (by name, alias or id) on a network
/// `container` is attached to, as the records say now.
pub(crate) fn lookup(store: &Store, container: &str, name: &str) -> Result<Vec<Ipv4Addr>> {
    let eps = store.endpoints()?;
    let mine: Vec<&str> = eps
        .iter()
        .filter(|e| e.container == container && e.complete)
        .map(|e| e.network.as_str())
        .collect();
    Ok(eps
        .iter()
        .filter(|e| e.complete && mine.contains(&e.network.as_str()))
        .filter(|e| e.container == name || e.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|e| e.endpoint.ip)
        .collect())
}

/// Starts a resolver for `container` in the namespace `netns`; forwarding sockets live in
/// `host_netns`.
pub(crate) fn start(
    store: Store,
    container: &str,
    netns: &Path,
    host_netns: Option<&Path>,
    upstream: &[SocketAddr],
) -> Result<Resolver> {
    let addr = SocketAddr::from((RESOLVER_ADDR, 53));
    let sock = in_netns(Some(netns), || {
        UdpSocket::bind(addr).map_err(|e| Error::io("bind resolver", "127.0.0.11:53", e))
    })?;
    let up = in_netns(host_netns, || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(|e| Error::io("bind forwarder", "0.0.0.0:0", e))?;
        s.set_read_timeout(Some(UPSTREAM_TIMEOUT))
            .map_err(|e| Error::io("set timeout", "forwarder", e))?;
        Ok(s)
    })?;
    let wake = sock
        .try_clone()
        .map_err(|e| Error::io("clone socket", "resolver", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = Server {
        store,
        container: container.to_string(),
        sock,
        up,
        upstream: upstream.to_vec(),
        stop: stop.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("dns-{container}"))
        .spawn(move || server.run())
        .map_err(|e| Error::io("spawn", "resolver thread", e))?;
    Ok(Resolver {
        wake,
        stop,
        thread: Some(thread),
    })
}

struct Server {
    store: Store,
    container: String,
    sock: UdpSocket,
    up: UdpSocket,
    upstream: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn run(self) {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if n < 12 {
                continue;
            }
            let reply = self.handle(&buf[..n]);
            let _ = self.sock.send_to(&reply, from);
        }
    }

    fn handle(&self, query: &[u8]) -> Vec<u8> {
        let Some(q) = dnsmsg::parse_query(query) else {
            return dnsmsg::error(query, None, dnsmsg::FORMERR);
        };
        if matches!(q.qtype, dnsmsg::TYPE_A | dnsmsg::TYPE_AAAA) {
            match lookup(&self.store, &self.container, &q.name) {
                // A container name with no IPv6 address: "no data", not "no such name".
                Ok(ips) if !ips.is_empty() => {
                    let a = if q.qtype == dnsmsg::TYPE_A {
                        &ips[..]
                    } else {
                        &[]
                    };
                    return dnsmsg::answer(query, &q, a, TTL);
                }
                Ok(_) => {}
                Err(_) => return dnsmsg::error(query, Some(&q), dnsmsg::SERVFAIL),
            }
        }
        self.forward(query, &q)
            .unwrap_or_else(|| dnsmsg::error(query, Some(&q), dnsmsg::SERVFAIL))
    }

    /// Relays the query to each upstream in turn until one answers it.
    fn forward(&self, query: &[u8], _q: &Question) -> Option<Vec<u8>> {
        let mut buf = [0u8; 4096];
        for server in &self.upstream {
            if self.up.send_to(query, server).is_err() {
                continue;
            }
            while let Ok((n, from)) = self.up.recv_from(&mut buf) {
                // Late answers to earlier questions carry other ids; skip them.
                if from == *server && n >= 12 && buf[..2] == query[..2] {
                    return Some(buf[..n].to_vec());
                }
            }
        }
        None
    }
}
