//! dm-runc: a runc-compatible OCI runtime.
