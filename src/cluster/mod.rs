//! Sources of [`ClusterSnapshot`]s: dump files, live clusters (kube-rs watchers), the sandbox.
//!
//! Every source ends in the same immutable snapshot type, defined next to the engine that reads it.

pub use crate::engine::snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

pub mod dump;
pub mod feed;
mod source;
pub mod synthetic;

pub use source::{Source, SourceError};
