//! A structured `linux.seccomp` (every input is a well-formed profile, so the fuzzer spends its
//! time in the compiler, not in JSON syntax) → compile → structural checks.
#![no_main]

use dm_runtime_fuzz::Profile;
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;

fuzz_target!(|p: Profile| {
    // Values the generator makes but oci-spec refuses (e.g. an index above 5 still parses, an
    // errno above u32 cannot occur) end here; the rest reach the compiler.
    if let Ok(s) = serde_json::from_value::<LinuxSeccomp>(p.to_json()) {
        dm_runtime_fuzz::compile_and_check(&s);
    }
});
