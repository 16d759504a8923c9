//! The proxy engine: a pure, synchronous model of how Kubernetes routes Service traffic.
//!
//! No tokio, no `kube::Client`, no ratatui, no HTTP stack, no clock, no network. A
//! [`ClusterSnapshot`] goes in; chains, port maps, DNS records, diagnostics and routing decisions
//! come out. The rules are written down in the repository's `docs/rules.md`; rule ids (A4, B3,
//! D7, ...) are cited where they apply. The crate's `Cargo.toml` is the proof of its purity.
//!
//! - [`build`]: snapshot → [`ProxyModel`] (serialises to `kubehop chain -o json`).
//! - [`ProxyModel::route`]: a [`RouteQuery`] → [`RouteDecision`] (`kubehop route -o json`).
//! - [`picker::Picker`]: one endpoint per new connection (D11, E1-E4).
//! - [`endpointslice::desired_endpoint_slices`]: the EndpointSlice controller's rules.
//! - [`validate`]: the API server's Service validation (G1-G17).
//! - [`dump`]: `kubectl get -o yaml|json` output (bytes, files) → objects → [`ClusterSnapshot`]
//!   (the one module that reads files, synchronously, for the callers that name them).
//! - [`synthetic`]: generated clusters of any size for benchmarks and scale tests.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod chain;
pub mod cidr;
pub mod config;
pub mod diagnostics;
pub mod dns;
pub mod dump;
pub mod endpointslice;
pub mod explain;
mod hash;
pub mod hops;
mod index;
pub mod model;
pub mod nodes;
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

use std::sync::Arc;

pub use config::{EngineConfig, NodePortAddresses};
pub use diagnostics::{Diagnostic, DiagnosticCode, Severity, Subject};
pub use model::{ProxyModel, ServiceChain};
pub use picker::Picker;
pub use route::{RouteDecision, RouteQuery, TrafficSource, Verdict};
pub use snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

use diagnostics::name_list;
use model::{PortRef, ServiceChain as Chain};

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
    let nodes = Arc::new(nodes::NodeTable::new(
        snapshot.nodes.iter().map(|node| node.as_ref()),
    ));
    let index = index::SnapshotIndex::new(snapshot, &nodes, threads);
    let context = chain::BuildContext {
        index: &index,
        nodes: &nodes,
        config,
        slices_missing: !snapshot.has(ResourceKind::EndpointSlice),
        nodes_unknown: nodes.is_empty(),
        pods_missing: !snapshot.has(ResourceKind::Pod),
    };

    let mut services: Vec<&Arc<k8s_openapi::api::core::v1::Service>> =
        snapshot.services.iter().collect();
    fn key(service: &k8s_openapi::api::core::v1::Service) -> (&str, &str) {
        (
            service.metadata.namespace.as_deref().unwrap_or("default"),
            service.metadata.name.as_deref().unwrap_or(""),
        )
    }
    // Stable, like the sort it replaces: of two copies of a Service the first one stays.
    if !services.is_sorted_by(|a, b| key(a) <= key(b)) {
        services.sort_by(|a, b| key(a).cmp(&key(b)));
    }
    services.dedup_by(|a, b| key(a) == key(b));
    let slices = slices_by_service(snapshot, &services);

    let inputs: Vec<(&Arc<k8s_openapi::api::core::v1::Service>, &Vec<_>)> =
        services.iter().copied().zip(&slices).collect();
    let parts = parallel::map_chunks(&inputs, threads, |chunk| {
        // Each thread interns node, zone and namespace names on its own.
        let mut interner = slices::Interner::new(&nodes);
        chunk
            .iter()
            .map(|(service, slices)| {
                let existing = (!slices.is_empty()).then_some(slices.as_slice());
                chain::build_service(service, existing, &context, &mut interner)
            })
            .collect::<Vec<Chain>>()
    });
    let mut chains: Vec<Chain> = Vec::with_capacity(services.len());
    for part in parts {
        chains.extend(part);
    }
    let mut unattached = ingress_backend_findings(&index, &mut chains);
    unattached.extend(ingress_class_findings(snapshot, &index, &mut chains));
    let (unattached_namespaces, unattached_diagnostics) = unattached.into_iter().unzip();
    let routes = route::RouteIndex::build(&chains);
    ProxyModel {
        services: chains,
        unattached_diagnostics,
        unattached_namespaces,
        nodes,
        routes,
        config: config.clone(),
    }
}

/// Each Service's EndpointSlices (by the `kubernetes.io/service-name` label, in the Service's
/// namespace), sorted by name; aligned with `services` (sorted, without duplicates).
fn slices_by_service(
    snapshot: &ClusterSnapshot,
    services: &[&Arc<k8s_openapi::api::core::v1::Service>],
) -> Vec<Vec<Arc<k8s_openapi::api::discovery::v1::EndpointSlice>>> {
    let mut position: hash::FxHashMap<(&str, &str), usize> = hash::FxHashMap::default();
    position.reserve(services.len());
    for (index, service) in services.iter().enumerate() {
        let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        let name = service.metadata.name.as_deref().unwrap_or("");
        position.entry((namespace, name)).or_insert(index);
    }
    let mut out = vec![Vec::new(); services.len()];
    for slice in &snapshot.endpoint_slices {
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(endpointslice::SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
        if let Some(list) = position
            .get(&(namespace, service.as_str()))
            .and_then(|index| out.get_mut(*index))
        {
            list.push(slice.clone());
        }
    }
    for list in &mut out {
        if list.len() > 1 {
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
    }
    out
}

/// `ingress-class-missing`, `ingress-class-unknown` (C11, M10): each finding goes to every
/// existing Service the Ingress sends to, or, when it sends to none that exists, unattached
/// with the Ingress's namespace.
fn ingress_class_findings(
    snapshot: &ClusterSnapshot,
    index: &index::SnapshotIndex<'_>,
    chains: &mut [Chain],
) -> Vec<(String, Diagnostic)> {
    let mut unattached = Vec::new();
    for ingress in &snapshot.ingresses {
        let Some(finding) = diagnostics::ingress_class_finding(ingress, &snapshot.ingress_classes)
        else {
            continue;
        };
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let name = ingress.metadata.name.as_deref().unwrap_or("");
        let mut services: Vec<&str> = index
            .ingress_backends
            .iter()
            .filter(|backend| {
                backend.reference.namespace == namespace && backend.reference.name == name
            })
            .map(|backend| backend.service.as_str())
            .collect();
        services.sort_unstable();
        services.dedup();
        let mut attached = false;
        for service in services {
            let found = chains.binary_search_by(|chain| {
                (chain.namespace.as_str(), chain.name.as_str()).cmp(&(namespace, service))
            });
            if let Ok(position) = found
                && let Some(chain) = chains.get_mut(position)
            {
                chain.diagnostics.push(finding.clone());
                attached = true;
            }
        }
        if !attached {
            unattached.push((namespace.to_owned(), finding));
        }
    }
    unattached
}

/// `ingress-backend-missing`: a backend Service that does not exist (unattached, returned with
/// the Ingress's namespace) or a backend port the Service does not have (attached to the
/// Service).
fn ingress_backend_findings(
    index: &index::SnapshotIndex<'_>,
    chains: &mut [Chain],
) -> Vec<(String, Diagnostic)> {
    let mut unattached = Vec::new();
    for backend in &index.ingress_backends {
        let reference = &backend.reference;
        let found = chains.binary_search_by(|chain| {
            (chain.namespace.as_str(), chain.name.as_str())
                .cmp(&(reference.namespace.as_str(), backend.service.as_str()))
        });
        let place = match (&reference.host, &reference.path) {
            (_, None) => "default backend".to_owned(),
            (Some(host), Some(path)) => format!("rule {host}{path}"),
            (None, Some(path)) => format!("rule {path}"),
        };
        let subject = Subject::Ingress(reference.name.clone());
        let Ok(position) = found else {
            let available: Vec<&str> = chains
                .iter()
                .filter(|chain| chain.namespace == reference.namespace)
                .map(|chain| chain.name.as_str())
                .collect();
            let hint = if available.is_empty() {
                format!("namespace {} has no Services", reference.namespace)
            } else {
                format!("Services there: {}", name_list(&available))
            };
            unattached.push((
                reference.namespace.clone(),
                Diagnostic::new(
                    DiagnosticCode::IngressBackendMissing,
                    subject,
                    format!(
                        "Ingress {}/{} ({place}) sends traffic to Service {:?}, which does not exist in namespace {} ({hint}); create the Service or fix the backend name.",
                        reference.namespace, reference.name, backend.service, reference.namespace
                    ),
                ),
            ));
            continue;
        };
        let Some(chain) = chains.get_mut(position) else {
            continue;
        };
        let port_exists = match &reference.service_port {
            None => true,
            Some(PortRef::Number(number)) => chain.ports.iter().any(|port| port.port == *number),
            Some(PortRef::Name(name)) => chain
                .ports
                .iter()
                .any(|port| port.name.as_deref() == Some(name.as_str())),
        };
        if !port_exists {
            let ports: Vec<String> = chain
                .ports
                .iter()
                .map(|port| port.port_ref().to_string())
                .collect();
            let wanted = reference
                .service_port
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            chain.diagnostics.push(Diagnostic::new(
                DiagnosticCode::IngressBackendMissing,
                subject,
                format!(
                    "Ingress {}/{} ({place}) targets port {wanted} of Service {}, which has no such port (it has {}); point the Ingress at one of those ports.",
                    reference.namespace,
                    reference.name,
                    chain.name,
                    if ports.is_empty() { "none".to_owned() } else { ports.join(", ") }
                ),
            ));
        }
    }
    unattached
}
