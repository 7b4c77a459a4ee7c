//! overlayfs snapshots as a library and a containerd proxy plugin
