//! End-to-end test harness: a private containerd per test, a `ctr` bound to it, a busybox image
//! built without network, podman with private storage, and a CRI client.
//!
//! Everything a harness object starts or mounts is stopped, unmounted and removed on Drop, so
//! tests stay parallel-safe and leave nothing behind.

pub mod cleanup;
mod containerd;
pub mod cri;
mod ctr;
mod dm_registry;
mod dockerd;
mod dockermindd;
mod image;
mod memory;
mod podman;
mod proxy;
mod registry;
mod tls;
mod version;
mod wait;

pub use containerd::{Containerd, ContainerdOptions};
pub use ctr::Ctr;
pub use dm_registry::DmRegistry;
pub use dockerd::{Dockerd, DOCKER};
pub use dockermindd::Dockermindd;
pub use image::{
    write_busybox_image_tar, write_busybox_image_tar_with, write_busybox_image_tar_with_cmd,
    write_image_tar, ImageLayer,
};
pub use memory::rss_pss_kib;
pub use podman::Podman;
pub use proxy::ProxyPlugin;
pub use registry::Registry;
pub use tls::{make_certs, DockerCertsDir};
pub use version::{trixie_bin_dir, ContainerdVersion, VERSION_ENV};
pub use wait::poll;

/// Runtime type of our shim as containerd names it (`containerd-shim-dockermind-v2`).
pub const DM_RUNTIME: &str = "io.containerd.dockermind.v2";
/// Runtime type of containerd's own Go runc shim.
pub const RUNC_RUNTIME: &str = "io.containerd.runc.v2";
/// Our shim's binary name.
pub const DM_SHIM_BIN: &str = "containerd-shim-dockermind-v2";
