//! dockermind's images: docker-normalised references, a distribution-spec registry client
//! (pull), layers unpacked through dm-snapshotter, and an image store on dm-content.

pub mod auth;
mod client;
pub mod config;
mod credhelper;
mod deepmount;
mod error;
mod fetch;
pub mod images;
mod login;
pub mod media;
pub mod platform;
pub mod progress;
mod pull;
mod push;
pub mod records;
pub mod reference;
mod repository;
pub mod rootfs;
pub mod unpack;

pub use auth::{AuthFile, Credentials};
pub use client::{Client, ClientOptions};
pub use config::{ConfigError, Endpoint, RegistryConfig, RegistrySettings};
pub use error::RegistryError;
pub use fetch::{fetch_blob, Outcome};
pub use images::{Details, ImageError, Images, Removed, Summary, DEFAULT_ROOT};
pub use login::login;
pub use platform::Platform;
pub use progress::{Event, Progress};
pub use pull::{pull, Blob, PullOptions, Pulled};
pub use push::{push, PushOptions, PushSource};
pub use records::ImageRecord;
pub use reference::{Reference, ReferenceError};
pub use repository::{Fetched, Repository, MAX_MANIFEST};
pub use unpack::{chain_ids, UnpackError};
