//! A blocking wrapper over rtnetlink for the few link, address and route calls we need.
//!
//! Each `Nl` owns a current-thread tokio runtime and a netlink socket bound to the network
//! namespace of the thread that made it, so callers create it inside `in_netns`.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use tokio::runtime::Runtime;

use crate::error::{Error, Result};

const ENODEV: i32 = libc::ENODEV;

/// A netlink connection in the current thread's network namespace.
pub(crate) struct Nl {
    rt: Runtime,
    handle: Handle,
}

fn nl_err(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let op = op.into();
    move |source| Error::Netlink { op, source }
}

fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -errno)
}

impl Nl {
    /// Opens a netlink socket in the calling thread's network namespace.
    pub(crate) fn new() -> Result<Nl> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| Error::io("tokio runtime", "netlink", e))?;
        let handle = rt.block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| Error::io("socket", "netlink", e))?;
            tokio::spawn(conn);
            Ok::<_, Error>(handle)
        })?;
        Ok(Nl { rt, handle })
    }

    /// The index of link `name`, or None when there is no such link.
    pub(crate) fn index(&self, name: &str) -> Result<Option<u32>> {
        let req = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match self.rt.block_on(async {
            futures::pin_mut!(req);
            req.try_next().await
        }) {
            Ok(m) => Ok(m.map(|m| m.header.index)),
            Err(e) if is_errno(&e, ENODEV) => Ok(None),
            Err(e) => Err(nl_err(format!("get link {name}"))(e)),
        }
    }

    /// The index of link `name`, which must exist.
    pub(crate) fn must_index(&self, name: &str) -> Result<u32> {
        self.index(name)?
            .ok_or_else(|| Error::invalid("link", format!("{name} does not exist")))
    }

    /// The names of every link in the namespace.
    pub(crate) fn link_names(&self) -> Result<Vec<String>> {
        let req = self.handle.link().get().execute();
        let msgs: Vec<LinkMessage> = self
            .rt
            .block_on(req.try_collect())
            .map_err(nl_err("list links"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
            })
            .collect())
    }

    fn add(&self, op: String, msg: LinkMessage) -> Result<()> {
        let req = self.handle.link().add(msg).execute();
        self.rt.block_on(req).map_err(nl_err(op))
    }

    fn set(&self, op: String, msg: LinkMessage) -> Result<()> {
        let req = self.handle.link().set(msg).execute();
        self.rt.block_on(req).map_err(nl_err(op))
    }

    /// Creates bridge `name` (up).
    pub(crate) fn add_bridge(&self, name: &str) -> Result<u32> {
        self.add(format!("add bridge {name}"), LinkBridge::new(name).build())?;
        self.must_index(name)
    }

    /// Creates the veth pair `name`/`peer` (both down), `peer` straight in the namespace open
    /// at `peer_ns`: moving a link between namespaces afterwards costs an RCU grace period,
    /// which was most of an attach's time.
    pub(crate) fn add_veth_into(&self, name: &str, peer: &str, peer_ns: RawFd) -> Result<()> {
        let peer_msg = LinkUnspec::new_with_name(peer).setns_by_fd(peer_ns).build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        self.add(format!("add veth {name}/{peer}"), msg)
    }

    /// Deletes link `name`; a missing link is not an error (deletion is idempotent).
    pub(crate) fn del_link(&self, name: &str) -> Result<()> {
        let Some(idx) = self.index(name)? else {
            return Ok(());
        };
        let req = self.handle.link().del(idx).execute();
        match self.rt.block_on(req) {
            Err(e) if !is_errno(&e, ENODEV) => Err(nl_err(format!("delete link {name}"))(e)),
            _ => Ok(()),
        }
    }

    /// Enslaves `idx` to bridge `bridge` and brings it up.
    pub(crate) fn enslave_up(&self, idx: u32, bridge: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(idx)
            .controller(bridge)
            .up()
            .build();
        self.set(format!("enslave link {idx}"), msg)
    }

    /// Renames the (down) link `idx` and sets its MAC address.
    pub(crate) fn rename(&self, idx: u32, name: &str, mac: Option<[u8; 6]>) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(idx).name(name);
        if let Some(mac) = mac {
            b = b.address(mac.to_vec());
        }
        self.set(format!("rename link {idx} to {name}"), b.build())
    }

    /// Brings link `idx` up.
    pub(crate) fn up(&self, idx: u32) -> Result<()> {
        self.set(
            format!("set link {idx} up"),
            LinkUnspec::new_with_index(idx).up().build(),
        )
    }

    /// Adds `addr/prefix` to link `idx`; an address already there is kept.
    pub(crate) fn add_addr(&self, idx: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let req = self.handle.address().add(idx, addr, prefix).execute();
        match self.rt.block_on(req) {
            Err(e) if !is_errno(&e, libc::EEXIST) => {
                Err(nl_err(format!("add address {addr}/{prefix}"))(e))
            }
            _ => Ok(()),
        }
    }

    /// Every IPv4 address in the namespace, as networks (`10.1.2.3/24` -> `10.1.2.0/24`), with
    /// the index of its link.
    pub(crate) fn ipv4_nets(&self) -> Result<Vec<(u32, Ipv4Net)>> {
        let req = self.handle.address().get().execute();
        let msgs: Vec<AddressMessage> = self
            .rt
            .block_on(req.try_collect())
            .map_err(nl_err("list addresses"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(ip)) => {
                        Ipv4Net::new(*ip, m.header.prefix_len)
                            .ok()
                            .map(|n| (m.header.index, n.trunc()))
                    }
                    _ => None,
                })
            })
            .collect())
    }

    /// Adds the default route via `gw`.
    pub(crate) fn add_default_route(&self, gw: Ipv4Addr) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build();
        let req = self.handle.route().add(msg).execute();
        self.rt
            .block_on(req)
            .map_err(nl_err(format!("add default route via {gw}")))
    }
}
