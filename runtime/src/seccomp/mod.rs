//! linux.seccomp: compiled to BPF in Rust, installed right before execve (issue 7).
