//! dm-cli: the `dockermind` command's Engine API client library (blocking, over the daemon's
//! unix socket), shared by the CLI and its tests.

pub mod client;
pub mod error;
pub mod mux;
pub mod progress;
pub mod wire;

pub use client::{Client, Hijacked, Response};
pub use error::{ClientError, Result};
