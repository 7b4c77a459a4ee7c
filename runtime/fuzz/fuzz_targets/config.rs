//! config.json bytes → parse + validate (+ the seccomp compile create does next): typed errors
//! only, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match dm_runtime::config::from_bytes(data.to_vec()) {
        Ok(spec) => {
            if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
                dm_runtime_fuzz::compile_and_check(s);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
