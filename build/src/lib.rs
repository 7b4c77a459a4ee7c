//! dockermind's image builder: Dockerfiles parsed with their line and column, `.dockerignore`,
//! RUN steps in dm-runc containers on dm-snapshotter overlays, each step a layer in dm-content
//! with a content-addressed cache, the result named in dm-image's store.

pub mod expand;
pub mod ignore;
pub mod parser;

pub use ignore::Ignore;
pub use parser::{parse, Dockerfile, Instruction, Stage, Step, SyntaxError};
