//! An OCI runtime-spec conformance suite that drives any runc-compatible runtime binary.
//!
//! The runner (`dm-conformance`) builds one bundle per scenario and runs it through the
//! runtime's CLI; in-container scenarios run `dm-conformance-checker`, which derives its checks
//! from the config.json it was given (see [`plan`]) and verifies each one from inside.

pub mod case;
pub mod context;
pub mod error;
pub mod outside;
pub mod plan;
pub mod probe;
pub mod report;
pub mod runtime;
pub mod scenarios;
pub mod spec;
pub mod suite;
pub mod sys;
pub mod tap;
pub mod v1view;
