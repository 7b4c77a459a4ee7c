//! config.json bytes that fail to parse as a Spec: the field path dm-runc names (recovered from
//! the error's line and column by `jsonpath`) must lie on the branch serde_path_to_error
//! tracks (the same field, one inside it, or one around it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    let Err(ours) = dm_runtime::config::parse::<Spec>(data, "config.json") else {
        return;
    };
    let de = &mut serde_json::Deserializer::from_slice(data);
    let Err(reference) = serde_path_to_error::deserialize::<_, Spec>(de) else {
        return; // trailing data: not a field error
    };
    let inner = reference.inner();
    if inner.is_syntax() || inner.is_eof() {
        return;
    }
    let want = reference.path().to_string();
    if want == "." {
        return; // top level: reported as invalid JSON
    }
    // Ours is recovered from where serde_json stopped, which can be inside the reference's
    // field (a duplicated key: ours names the key, serde_path_to_error its object) or around it
    // (errors raised after a whole array is read: ours names the array, not the element).
    // Either way it must lie on the same branch, never name a different field.
    let ours = ours.to_string();
    // Keys may contain ": " themselves: cut the known prefix and the error text, not at a colon.
    let path = ours
        .strip_prefix("config.json: ")
        .and_then(|r| r.strip_suffix(&format!(": {inner}")))
        .unwrap_or("");
    let within = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    assert!(
        within(path, &want) || within(&want, path),
        "{ours:?} names another field than {want:?} ({inner})"
    );
});
