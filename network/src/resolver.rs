//! The embedded DNS resolver: answers, inside a container's namespace at 127.0.0.11:53, the
//! names and aliases of containers sharing a network with it, and forwards other questions to
//! upstream servers from the host namespace. UDP and TCP (RFC 7766: clients retry over TCP
//! when an answer is truncated), on the same address.
//!
//! The socket is opened inside the container's namespace but served by a thread of the
//! calling process, as docker's daemon does, so no process runs in the container.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
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
/// How long a TCP client may take to send a question: one thread serves both transports, so
/// a silent client must not hold the UDP side for long.
const TCP_CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

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
    let (sock, tcp) = in_netns(Some(netns), || {
        let udp =
            UdpSocket::bind(addr).map_err(|e| Error::io("bind resolver", "127.0.0.11:53", e))?;
        let tcp = TcpListener::bind(addr)
            .map_err(|e| Error::io("bind resolver", "127.0.0.11:53/tcp", e))?;
        Ok((udp, tcp))
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
        tcp,
        up,
        host_netns: host_netns.map(Path::to_path_buf),
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
    tcp: TcpListener,
    up: UdpSocket,
    host_netns: Option<PathBuf>,
    upstream: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
}

/// How a question came, and so how it is forwarded.
#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

impl Server {
    fn run(self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            let mut fds = [
                PollFd::new(self.sock.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.tcp.as_fd(), PollFlags::POLLIN),
            ];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let (udp, tcp) = (ready(&fds[0]), ready(&fds[1]));
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if udp {
                self.serve_udp();
            }
            if tcp {
                if let Ok((conn, _)) = self.tcp.accept() {
                    self.serve_tcp(conn);
                }
            }
        }
    }

    fn serve_udp(&self) {
        let mut buf = [0u8; 4096];
        let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
            return;
        };
        if n >= 12 {
            let reply = self.handle(&buf[..n], Transport::Udp);
            let _ = self.sock.send_to(&reply, from);
        }
    }

    /// Answers the length-prefixed questions of one connection until the client closes it,
    /// goes quiet, or sends garbage.
    fn serve_tcp(&self, mut conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(TCP_CLIENT_TIMEOUT));
        let _ = conn.set_write_timeout(Some(TCP_CLIENT_TIMEOUT));
        while let Some(query) = read_framed(&mut conn) {
            if query.len() < 12
                || write_framed(&mut conn, &self.handle(&query, Transport::Tcp)).is_err()
            {
                return;
            }
        }
    }

    fn handle(&self, query: &[u8], via: Transport) -> Vec<u8> {
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
        let forwarded = match via {
            Transport::Udp => self.forward(query, &q),
            Transport::Tcp => self.forward_tcp(query),
        };
        forwarded.unwrap_or_else(|| dnsmsg::error(query, Some(&q), dnsmsg::SERVFAIL))
    }

    /// Relays a TCP question over TCP to each upstream in turn (a truncated UDP answer is why
    /// clients ask over TCP, so UDP upstream would not do).
    fn forward_tcp(&self, query: &[u8]) -> Option<Vec<u8>> {
        self.upstream.iter().find_map(|server| {
            let conn = in_netns(self.host_netns.as_deref(), || {
                TcpStream::connect_timeout(server, UPSTREAM_TIMEOUT)
                    .map_err(|e| Error::io("connect upstream", server.to_string(), e))
            });
            let mut conn = conn.ok()?;
            conn.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
            write_framed(&mut conn, query).ok()?;
            read_framed(&mut conn).filter(|r| r.len() >= 12 && r[..2] == query[..2])
        })
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

/// One DNS message over TCP: a two-byte big-endian length, then the message.
fn read_framed(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_framed(conn: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    conn.write_all(&out)
}
