//! Sources of [`ClusterSnapshot`]s: dump files, live clusters (kube-rs watchers), the sandbox.
//!
//! Every source ends in the same immutable snapshot type, defined next to the engine that reads it.

pub use crate::engine::snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

pub mod client;
pub mod connector;
pub mod feed;
pub mod live;
mod source;

pub use kubehop_engine::{dump, synthetic};

pub use client::ClusterError;
pub use live::open_feed;
pub use source::{Source, SourceError};
