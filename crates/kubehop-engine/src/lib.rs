//! The proxy engine: a pure, synchronous model of how Kubernetes routes Service traffic.
//!
//! No tokio, no `kube::Client`, no ratatui, no HTTP stack, no clock, no network. A
//! [`ClusterSnapshot`] goes in; chains, port maps, DNS records, diagnostics and routing decisions
//! come out. The rules are written down in the repository's `docs/rules.md`; rule ids (A4, B3,
//! D7, ...) are cited where they apply. The crate's `Cargo.toml` is the proof of its purity.
//!
//! - [`build`]: snapshot → [`ProxyModel`] (serialises to `kubehop chain -o json`);
//!   [`ServiceChains`] builds the same chains one at a time, for streamed output.
//! - [`ProxyModel::route`]: a [`RouteQuery`] → [`RouteDecision`] (`kubehop route -o json`).
//! - [`picker::Picker`]: one endpoint per new connection (D11, E1-E4).
//! - [`endpointslice::desired_endpoint_slices`]: the EndpointSlice controller's rules.
//! - [`validate`]: the API server's Service validation (G1-G17).
//! - [`dump`]: `kubectl get -o yaml|json` output (bytes, files) → objects → [`ClusterSnapshot`]
//!   (the one module that reads files, synchronously, for the callers that name them).
//! - [`netpol`]: NetworkPolicy verdicts per hop and source (N1-N10).
//! - [`synthetic`]: generated clusters of any size for benchmarks and scale tests.
//! - [`objects`]: pods in compact form ([`objects::PodInfo`]), as snapshots hold them.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod chain;
mod chains;
pub mod cidr;
pub mod config;
pub mod diagnostics;
pub mod dns;
pub mod dnscheck;
pub mod dump;
pub mod endpointslice;
pub mod explain;
pub mod gateway;
mod hash;
pub mod hops;
pub mod incremental;
mod index;
pub mod model;
pub mod netpol;
pub mod node_proxy;
pub mod nodes;
pub mod objects;
pub mod parallel;
pub mod picker;
pub mod plan;
pub mod pods;
pub mod ports;
pub mod route;
pub mod service;
mod slices;
pub mod snapshot;
pub mod synthetic;
pub mod topology;
pub mod unbound;
pub mod validate;
pub mod verdict;

pub use chains::ServiceChains;
pub use config::{EngineConfig, NodePortAddresses};
pub use diagnostics::{Diagnostic, DiagnosticCode, Severity, Subject};
pub use model::{ProxyModel, ServiceChain};
pub use picker::Picker;
pub use route::{RouteDecision, RouteQuery, TrafficSource, Verdict};
pub use snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

use std::sync::Arc;

/// Builds the model of every Service in the snapshot (sorted by namespace, then name).
///
/// Large snapshots are built on [`parallel::BUILD_THREADS`] threads; the result does not depend
/// on it.
pub fn build(snapshot: &ClusterSnapshot, config: &EngineConfig) -> ProxyModel {
    build_on_threads(snapshot, config, parallel::BUILD_THREADS)
}

/// [`build`] on a chosen number of threads (1 = on the calling thread only), for benchmarks
/// and tests.
#[doc(hidden)]
pub fn build_on_threads(
    snapshot: &ClusterSnapshot,
    config: &EngineConfig,
    threads: usize,
) -> ProxyModel {
    let prepared = ServiceChains::on_threads(snapshot, config, threads);
    let positions: Vec<usize> = (0..prepared.len()).collect();
    let parts = parallel::map_chunks(&positions, threads, |chunk| {
        // Each thread interns node, zone and namespace names on its own, and reuses its own
        // tables for the chains' policy blocks.
        let mut interner = slices::Interner::new(prepared.nodes());
        let mut scratch = netpol::PolicyScratch::default();
        prepared
            .chains_grouped(chunk, &mut interner, &mut scratch)
            .into_iter()
            .map(Arc::new)
            .collect::<Vec<Arc<ServiceChain>>>()
    });
    let mut chains: Vec<Arc<ServiceChain>> = Vec::with_capacity(prepared.len());
    for part in parts {
        chains.extend(part);
    }
    let (unattached_namespaces, unattached_diagnostics) = prepared.unattached().into_iter().unzip();
    ProxyModel {
        services: chains,
        unattached_diagnostics,
        unattached_namespaces,
        nodes: prepared.nodes().clone(),
        routes: std::sync::OnceLock::new(),
        pod_ips: std::sync::OnceLock::new(),
        config: config.clone(),
        policies: prepared.policies().clone(),
    }
}
