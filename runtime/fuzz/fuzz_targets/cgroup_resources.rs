//! `linux.resources` → dm-cgroups' v1/v2 drivers over a recording fake tree: every write is
//! a plain file in the cgroup with a value the kernel documents; refusals name a given field.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|c: dm_runtime_fuzz::resources::Case| c.check());
