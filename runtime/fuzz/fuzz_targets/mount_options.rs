//! `mounts[].options` (+ idmap mappings, rootfsPropagation) → the option parser, config
//! validation and idmap selection, against the documented option table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|c: dm_runtime_fuzz::mounts::Case| c.check());
