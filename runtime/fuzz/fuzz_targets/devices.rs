//! A `linux.devices[]` entry → `rootfs::devices::from_spec` and config validation: accepted
//! nodes lie strictly below /dev with kernel-sized device numbers; refusals name the field.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|c: dm_runtime_fuzz::devices::Case| c.check());
