//! dockermind's content store: blobs by digest in an OCI image layout, written through
//! verified, atomic, resumable ingests, with labels; and containerd's content API over gRPC
//! so containerd can use it as a proxy plugin.

pub mod api;
mod clock;
mod digest;
mod error;
mod fsutil;
mod ingest;
mod labels;
pub mod layout;
mod locks;
pub mod server;
mod service;
mod store;
mod verified;

pub use digest::{Algorithm, Digest, Hasher};
pub use dm_filters::{Fields, Filter};
pub use error::{Error, Kind, Result};
pub use fsutil::write_atomic;
pub use ingest::{Committed, IngestStatus, Writer};
pub use labels::Labels;
pub use service::ContentService;
pub use store::{Blob, Info, Store};
