//! config.json bytes → parse + validate (+ the seccomp compile create does next): typed errors
//! only, never a panic; and what loads is the JSON as written (valid JSON, strings unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let spec = match dm_runtime::config::from_bytes(data) {
        Ok(spec) => spec,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let raw: Value =
        serde_json::from_slice(data).expect("config::from_bytes accepted invalid JSON");
    let process = spec.process().as_ref().expect("validated");
    let args = process.args().clone().unwrap_or_default();
    assert_eq!(
        serde_json::to_value(&args).unwrap(),
        raw["process"]["args"],
        "process.args changed while loading"
    );
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        dm_runtime_fuzz::compile_and_check(s);
    }
});
