//! dm-runc: a runc-compatible OCI runtime.

pub mod seccomp;
