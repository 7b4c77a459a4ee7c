//! What the runner knows about the host and passes into the container next to config.json.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the checker finds its inputs inside the container.
pub const DIR_IN_CONTAINER: &str = "/dm-conformance";
/// The checker binary inside the container.
pub const CHECKER_IN_CONTAINER: &str = "/dm-conformance/checker";
/// The bundle's config.json, copied in.
pub const CONFIG_IN_CONTAINER: &str = "/dm-conformance/config.json";
/// The serialized [`Context`].
pub const CONTEXT_IN_CONTAINER: &str = "/dm-conformance/context.json";
/// Marker file the runner puts in every bind-mount source to recognise it inside.
pub const BIND_MARK: &str = ".dmc-mark";
/// Prefix of every result line the checker prints.
pub const RESULT_PREFIX: &str = "DMC-RESULT";

/// Host facts and the areas a scenario checks; written to `/dm-conformance/context.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Context {
    /// Scenario name: the first part of every case id.
    pub scenario: String,
    /// Which areas of the config the checker verifies (see [`crate::plan`]).
    pub areas: Vec<String>,
    /// The runtime's own namespace inodes, by /proc/self/ns name (`net`, `mnt`, ...).
    pub host_ns: BTreeMap<String, u64>,
    /// Inodes of namespaces the config joins by path, by /proc/self/ns name.
    pub joined_ns: BTreeMap<String, u64>,
    /// `dev:ino` of [`BIND_MARK`] in each bind-mount source, by mount destination.
    pub bind_marks: BTreeMap<String, String>,
}
