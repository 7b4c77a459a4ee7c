//! Processes dm-runc starts: the container init and exec'd processes.

pub mod forward;
pub mod init;
pub mod lsm;
pub mod setup;
