//! dockermind's image builder: Dockerfiles parsed with their line and column, `.dockerignore`,
//! RUN steps in dm-runc containers on dm-snapshotter overlays, each step a layer in dm-content
//! with a content-addressed cache, the result named in dm-image's store.

pub mod builder;
mod cache;
pub mod cache_io;
pub mod copy;
pub mod error;
pub mod expand;
pub mod ignore;
mod image;
pub mod layer;
pub mod parser;
mod run;
pub mod stale;
pub mod users;

pub use builder::{build, Built, Options};
pub use cache_io::CacheRef;
pub use error::BuildError;
pub use ignore::Ignore;
pub use layer::Compression;
pub use parser::{parse, Dockerfile, Instruction, Stage, Step, SyntaxError};
