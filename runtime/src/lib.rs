//! dm-runc: a runc-compatible OCI runtime.
//!
//! One process, one fork: `create` clones the init straight into its namespaces, the init
//! builds the container from the inside and blocks on the exec fifo until `start`. Commands
//! that make container processes first re-execute from a read-only binary ([`selfexe`]).

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod hooks;
pub mod jsonpath;
pub mod log;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod spec;
pub mod state;
pub mod sync;
pub mod sys;
pub mod timens;
pub mod tty;
