//! end-to-end tests with real clients (containerd, ctr, podman)
