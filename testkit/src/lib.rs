//! Test fixtures shared by dockermind's crates: busybox rootfs, bundles, root and package checks.
//!
//! Every helper here is parallel-safe: ids, temp dirs and state roots are unique per call.

mod bundle;
mod env;
mod rootfs;

pub use bundle::{output, Bundle, Output};
pub use env::{in_ci, require_cmd, require_root, unique_id, which, workspace_bin, TempDir};
pub use rootfs::build_busybox_rootfs;
