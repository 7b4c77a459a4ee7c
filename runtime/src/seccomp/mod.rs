//! linux.seccomp: compiled to BPF in Rust, installed right before execve (issue 7).
//!
//! PLACEHOLDER until the seccomp compiler lands: refuses any profile so nothing runs unfiltered
//! by mistake.

use oci_spec::runtime::LinuxSeccomp;

/// Seccomp errors.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Seccomp is not supported by this build.
    #[error("linux.seccomp: not supported yet")]
    Unsupported,
}

/// A compiled filter.
pub struct Filter;

/// Compiles a profile.
pub fn compile(_s: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    Err(SeccompError::Unsupported)
}

impl Filter {
    /// Installs the filter in this process.
    pub fn install(&self) -> Result<Option<std::os::fd::OwnedFd>, SeccompError> {
        Err(SeccompError::Unsupported)
    }
}
