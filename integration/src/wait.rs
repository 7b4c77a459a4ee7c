//! Bounded polling: what tests use instead of sleeping and hoping.

use std::time::{Duration, Instant};

/// Polls `f` every 20 ms until it returns `Some`, panicking once `within` has passed.
pub fn poll<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
