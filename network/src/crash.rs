//! Fault injection for crash-recovery tests: `DM_NETWORK_CRASH_AT=<point>` makes the process
//! kill itself with SIGKILL (a daemon killed mid-operation, no core dump) at that point.

/// Kills the process if the environment asks for a crash at `point`.
pub(crate) fn point(point: &str) {
    if std::env::var_os("DM_NETWORK_CRASH_AT").is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
