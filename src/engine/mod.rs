//! The proxy engine: a pure, synchronous model of how Kubernetes routes Service traffic.
//!
//! No tokio, no `kube::Client`, no ratatui, no clock, no I/O. A [`ClusterSnapshot`] goes in;
//! chains, port maps, DNS records, diagnostics and routing decisions come out. The rules follow
//! the project's proxy-semantics spec; rule ids (A4, B3, D7, ...) are cited where they apply.

pub mod snapshot;

pub use snapshot::{ClusterSnapshot, MissingKind, ResourceKind};
