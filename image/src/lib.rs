//! dockermind's images: docker-normalised references, a distribution-spec registry client
//! (pull), layers unpacked through dm-snapshotter, and an image store on dm-content.

pub mod config;
pub mod reference;

pub use config::{ConfigError, Endpoint, RegistryConfig, RegistrySettings};
pub use reference::{Reference, ReferenceError};
