//! overlayfs snapshots as a library and a containerd proxy plugin.
//!
//! [`Snapshotter`] implements containerd's snapshot model (Prepare, View, Mounts, Commit,
//! Remove, Stat, Update, Usage, List/Walk with filters, Cleanup) on overlayfs with metadata in
//! one crash-safe redb file; [`service`] serves it as containerd's snapshots gRPC API;
//! [`layer::apply_layer`] unpacks an OCI layer tar into an overlay upper dir; [`differ`] and
//! [`diff_service`] apply layers from dm-content's files as containerd's diff API.

pub mod diff_service;
pub mod differ;
mod error;
mod info;
pub mod layer;
mod mounts;
mod rootcheck;
pub mod service;
mod snapshots;
mod store;
mod sys;
mod usage;

pub use dm_filters::Filter;
pub use error::{Error, Result};
pub use info::{Info, Kind, Usage, MAX_LABEL_BYTES};
pub use mounts::{upper_dir, Mount};
pub use snapshots::Snapshotter;
