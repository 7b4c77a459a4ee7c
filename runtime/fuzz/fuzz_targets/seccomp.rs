//! `linux.seccomp` JSON bytes → compile: never a panic, and a compiled program passes the
//! kernel's structural checks (see `check_program`). Seeded with real profiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = dm_runtime::config::parse::<LinuxSeccomp>(data, "linux.seccomp") {
        dm_runtime_fuzz::compile_and_check(&s);
    }
});
