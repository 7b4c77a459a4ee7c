//! A structured `linux.seccomp` (every input is a well-formed profile, so the fuzzer spends its
//! time in the compiler, not in JSON syntax) → compile → structural checks, and the program's
//! verdict on a few syscalls against the profile's documented meaning.
#![no_main]

use dm_runtime_fuzz::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|p: Profile| p.check());
