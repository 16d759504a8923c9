//! Sources of [`ClusterSnapshot`]s: dump files and live clusters (kube-rs watchers; the
//! `--demo` cluster is one the binary starts and hands in through [`DemoCluster`]).
//!
//! Every source ends in the same immutable snapshot type, defined next to the engine that reads it.

pub use crate::engine::snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

pub mod client;
pub mod connector;
pub mod credentials;
pub mod feed;
pub mod inspect;
pub mod live;
mod source;

pub use kubehop_engine::{dump, synthetic};

pub use client::ClusterError;
pub use live::{DemoCluster, DemoStarted, Sources, open_feed};
pub use source::{Source, SourceSettings};
