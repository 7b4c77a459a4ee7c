//! dockermind's registry: the OCI distribution-spec v1.1 API over HTTP, with blobs stored once
//! in dm-content (verified, atomic ingests) and per-repository links, tags and referrers
//! recorded beside them.

pub mod acl;
pub mod auth;
mod blobs;
pub mod body;
pub mod error;
pub mod gc;
pub mod manifest;
mod manifests;
pub mod meta;
pub mod metrics;
pub mod names;
pub mod routes;
pub mod server;
pub mod uploads;

pub use error::{Error, Result};
pub use server::{serve, tls_acceptor, Config, Registry};
