//! config.json bytes → parse + validate (+ the seccomp compile create does next): typed errors
//! only, never a panic; and what loads is what the file says (strings unchanged).
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
    // serde_json (like runc's Go decoder, which substitutes U+FFFD) does not insist on UTF-8
    // in values it skips, e.g. under unknown keys; the fields we read are checked.
    let raw: Value = serde_json::from_str(&String::from_utf8_lossy(data))
        .expect("config::from_bytes accepted something that is not JSON");
    let process = spec.process().as_ref().expect("validated");
    assert_eq!(
        serde_json::to_value(process.args()).unwrap(),
        raw["process"]["args"],
        "process.args changed while loading"
    );
    assert_eq!(
        serde_json::to_value(process.env()).unwrap(),
        raw["process"].get("env").cloned().unwrap_or(Value::Null),
        "process.env changed while loading"
    );
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        dm_runtime_fuzz::compile_and_check(s);
    }
});
