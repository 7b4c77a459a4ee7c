//! One module per group of runc subcommands.

pub mod create;
pub mod exec;
pub mod info;
pub mod lifecycle;
pub mod resources;
pub mod run;
