//! Container networking for dockermind: bridge networks, veths into container namespaces,
//! address management, isolation, published ports and name resolution.
//!
//! A library the daemon embeds. Everything it makes is recorded under a state directory
//! (atomic writes, one lock) before it is made, so `Networks::recover` can remove what a crash
//! left half-done.

mod bridge;
pub mod cni;
mod crash;
pub mod dnsmsg;
mod error;
pub mod files;
pub mod firewall;
mod ipam;
mod mode;
mod model;
mod netns;
mod networks;
mod nl;
pub mod ports;
mod resolver;
mod rules;
mod store;

pub use error::{Error, Result};
pub use mode::Mode;
pub use model::{
    AttachOptions, Endpoint, EndpointRecord, NetworkRecord, NetworkSpec, DEFAULT_NETWORK,
};
pub use netns::in_netns;
pub use networks::{setup_none, Config, Networks, Recovered, DEFAULT_STATE_DIR};
pub use resolver::{Resolver, RESOLVER_ADDR};
