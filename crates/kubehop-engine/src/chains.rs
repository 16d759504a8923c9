//! A snapshot prepared for building its Services' chains one at a time: what [`crate::build`]
//! does all at once, for printers that write each chain and drop it (`kubehop chain` on a
//! cluster whose whole model would not fit in memory).

use std::sync::Arc;

use crate::objects::SliceInfo;
use k8s_openapi::api::core::v1::Service;

use super::chain::{self, BuildContext};
use super::config::EngineConfig;
use super::diagnostics::{Diagnostic, DiagnosticCode, Subject, name_list};
use super::index::{IngressBackendRef, SnapshotIndex};
use super::model::{PortRef, ServiceChain};
use super::netpol::{PolicyIndex, PolicyScratch};
use super::nodes::NodeTable;
use super::snapshot::{ClusterSnapshot, ResourceKind};
use super::{diagnostics, endpointslice, hash, slices};

/// How many chains a build makes before it gives them their policy blocks (see
/// [`ServiceChains::chains_grouped`]).
const GROUP: usize = 32;

/// The Services of a snapshot, sorted by namespace then name (duplicates dropped), with what
/// building any one of their chains needs. [`ServiceChains::chain`] gives the same chain as
/// the model [`crate::build`] returns at the same position.
pub struct ServiceChains<'s> {
    nodes: Arc<NodeTable>,
    index: SnapshotIndex<'s>,
    services: Vec<&'s Arc<Service>>,
    /// Each Service's EndpointSlices, aligned with `services`.
    slices: Vec<Vec<Arc<SliceInfo>>>,
    config: EngineConfig,
    slices_missing: bool,
    pods_missing: bool,
    /// `ingress-class-missing` / `ingress-class-unknown` (C11, M10) of each Ingress that has
    /// one: (namespace, name, finding), in the snapshot's order.
    class_findings: Vec<(&'s str, &'s str, Diagnostic)>,
    /// NetworkPolicies (rules N1-N10); empty on a cluster without any.
    policies: Arc<PolicyIndex>,
    /// `policy-selects-nothing`, with the policy's namespace.
    policy_findings: Vec<(String, Diagnostic)>,
    /// Gateway API route hops per Service (rules GW1-GW12); empty without the Gateway API.
    gateway_links: crate::gateway::RouteLinks,
    /// Gateway API findings (GW1-GW13), with the Services each shows on.
    gateway_findings: Vec<crate::gateway::RouteFinding>,
}

/// What preparing a snapshot's chains needs besides its indexes: the Services in order with
/// their slices, and the Ingress class and Gateway API findings.
struct Parts<'s> {
    services: Vec<&'s Arc<Service>>,
    slices: Vec<Vec<Arc<SliceInfo>>>,
    class_findings: Vec<(&'s str, &'s str, Diagnostic)>,
    gateway_links: crate::gateway::RouteLinks,
    gateway_findings: Vec<crate::gateway::RouteFinding>,
}

impl<'s> Parts<'s> {
    fn of(snapshot: &'s ClusterSnapshot) -> Self {
        let mut services: Vec<&Arc<Service>> = snapshot.services.iter().collect();
        // Stable, like the sort it replaces: of two copies of a Service the first one stays.
        if !services.is_sorted_by(|a, b| key(a) <= key(b)) {
            services.sort_by(|a, b| key(a).cmp(&key(b)));
        }
        services.dedup_by(|a, b| key(a) == key(b));
        let slices = slices_by_service(snapshot, &services);
        let class_findings = snapshot
            .ingresses
            .iter()
            .filter_map(|ingress| {
                let finding =
                    diagnostics::ingress_class_finding(ingress, &snapshot.ingress_classes)?;
                Some((
                    ingress.metadata.namespace.as_deref().unwrap_or("default"),
                    ingress.metadata.name.as_deref().unwrap_or(""),
                    finding,
                ))
            })
            .collect();
        Self {
            services,
            slices,
            class_findings,
            gateway_links: crate::gateway::route_links(snapshot),
            gateway_findings: crate::gateway::route_findings(snapshot),
        }
    }
}

/// A Service's (namespace, name) as the engine reads them.
fn key(service: &Service) -> (&str, &str) {
    (
        service.metadata.namespace.as_deref().unwrap_or("default"),
        service.metadata.name.as_deref().unwrap_or(""),
    )
}

impl<'s> ServiceChains<'s> {
    /// Indexes the snapshot (on [`crate::parallel::BUILD_THREADS`] threads); no chain is built
    /// yet.
    pub fn new(snapshot: &'s ClusterSnapshot, config: &EngineConfig) -> Self {
        Self::on_threads(snapshot, config, crate::parallel::BUILD_THREADS)
    }

    pub(crate) fn on_threads(
        snapshot: &'s ClusterSnapshot,
        config: &EngineConfig,
        threads: usize,
    ) -> Self {
        let nodes = Arc::new(
            NodeTable::new(snapshot.nodes.iter().map(|node| node.as_ref()))
                .with_pods(&snapshot.pods),
        );
        let index = SnapshotIndex::new(snapshot, &nodes, threads);
        // The policies are indexed (and checked for selecting nothing) beside the rest of the
        // preparation; the pod index knows every pod's namespace, so the pods are not read
        // again.
        let (policies, parts) = crate::parallel::join(
            threads,
            || {
                let policies = PolicyIndex::build_knowing(snapshot, index.pods.keys().copied());
                let findings = crate::netpol::findings::selects_nothing(&policies, snapshot);
                (Arc::new(policies), findings)
            },
            || Parts::of(snapshot),
        );
        Self::assemble(snapshot, config, (index, nodes), policies, parts)
    }

    /// [`ServiceChains::on_threads`] with the node table and policy index given (an
    /// incremental update builds a few chains of a partial snapshot with the whole cluster's
    /// nodes and policies).
    pub(crate) fn with_shared(
        snapshot: &'s ClusterSnapshot,
        config: &EngineConfig,
        threads: usize,
        nodes: Arc<NodeTable>,
        policies: Arc<PolicyIndex>,
    ) -> Self {
        let index = SnapshotIndex::new(snapshot, &nodes, threads);
        let findings = crate::netpol::findings::selects_nothing(&policies, snapshot);
        let parts = Parts::of(snapshot);
        Self::assemble(
            snapshot,
            config,
            (index, nodes),
            (policies, findings),
            parts,
        )
    }

    fn assemble(
        snapshot: &'s ClusterSnapshot,
        config: &EngineConfig,
        (index, nodes): (SnapshotIndex<'s>, Arc<NodeTable>),
        (policies, policy_findings): (Arc<PolicyIndex>, Vec<(String, Diagnostic)>),
        parts: Parts<'s>,
    ) -> Self {
        let Parts {
            services,
            slices,
            class_findings,
            gateway_links,
            gateway_findings,
        } = parts;
        Self {
            gateway_links,
            gateway_findings,
            policies,
            policy_findings,
            nodes,
            index,
            services,
            slices,
            config: config.clone(),
            slices_missing: !snapshot.has(ResourceKind::EndpointSlice),
            pods_missing: !snapshot.has(ResourceKind::Pod),
            class_findings,
        }
    }

    /// How many Services there are.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// (namespace, name) of every Service, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone + '_ {
        self.services.iter().map(|service| key(service))
    }

    /// The configuration the chains are built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn nodes(&self) -> &Arc<NodeTable> {
        &self.nodes
    }

    pub(crate) fn policies(&self) -> &Arc<PolicyIndex> {
        &self.policies
    }

    /// Builds the chain of the Service at `position` (as [`ServiceChains::keys`] orders them).
    pub fn chain(&self, position: usize) -> Option<ServiceChain> {
        let mut interner = slices::Interner::new(&self.nodes);
        let mut chain = self.proxy_chain(position, &mut interner)?;
        self.finish(&mut chain, &mut PolicyScratch::default());
        Some(chain)
    }

    /// The chains of `positions`, built in groups of [`GROUP`]: each group's proxy chains
    /// first, then their policy blocks and Gateway API hops. Each step is a loop over one
    /// kind of work, whose code stays in the instruction cache, while the group's objects
    /// stay in the data cache. The result is the same as [`ServiceChains::chain`] for each
    /// position. A build shares one interner and one set of policy tables per thread.
    pub(crate) fn chains_grouped(
        &self,
        positions: &[usize],
        interner: &mut slices::Interner<'_>,
        scratch: &mut PolicyScratch,
    ) -> Vec<ServiceChain> {
        let mut out: Vec<ServiceChain> = Vec::with_capacity(positions.len());
        for group in positions.chunks(GROUP) {
            let start = out.len();
            out.extend(
                group
                    .iter()
                    .filter_map(|position| self.proxy_chain(*position, interner)),
            );
            for chain in out.get_mut(start..).into_iter().flatten() {
                self.finish(chain, scratch);
            }
        }
        out
    }

    /// The chain of the Service at `position` as kube-proxy and the Ingresses see it: its
    /// hops and their findings, without the policy block and Gateway API hops.
    fn proxy_chain(
        &self,
        position: usize,
        interner: &mut slices::Interner<'_>,
    ) -> Option<ServiceChain> {
        let service = self.services.get(position)?;
        let slices = self.slices.get(position)?;
        let context = BuildContext {
            index: &self.index,
            nodes: &self.nodes,
            config: &self.config,
            slices_missing: self.slices_missing,
            nodes_unknown: self.nodes.is_empty(),
            pods_missing: self.pods_missing,
        };
        let existing = (!slices.is_empty()).then_some(slices.as_slice());
        let mut chain = chain::build_service(service, existing, &context, interner);
        self.backend_port_findings(&mut chain);
        self.class_findings_of(&mut chain);
        Some(chain)
    }

    /// What a proxy chain gets last: its policy block and findings, and its Gateway API
    /// route hops.
    fn finish(&self, chain: &mut ServiceChain, scratch: &mut PolicyScratch) {
        self.policy_view(chain, scratch);
        if let Some(finding) = diagnostics::lb_in_cluster_only(&self.policies, chain) {
            chain.diagnostics.push(finding);
        }
        self.gateway_view(chain);
    }

    /// The chain's Gateway API route hops and findings (rules GW1-GW13).
    fn gateway_view(&self, chain: &mut ServiceChain) {
        if self.gateway_links.is_empty() && self.gateway_findings.is_empty() {
            return;
        }
        let key = (chain.namespace.clone(), chain.name.clone());
        if let Some(links) = self.gateway_links.get(&key) {
            chain.gateway_routes = links.clone();
        }
        for finding in &self.gateway_findings {
            if finding.services.contains(&key) {
                chain.diagnostics.push(finding.diagnostic.clone());
            }
        }
    }

    /// The chain's `networkPolicy` block and the policy findings (rules N1-N10).
    fn policy_view(&self, chain: &mut ServiceChain, scratch: &mut PolicyScratch) {
        // The findings go straight into the chain's list (taken out while the chain is read).
        let mut diagnostics = std::mem::take(&mut chain.diagnostics);
        let view = self
            .policies
            .chain_policies(chain, &self.nodes, scratch, &mut diagnostics);
        chain.diagnostics = diagnostics;
        chain.network_policy = view;
    }

    /// The Services an Ingress sends to (its backends' Service names, in its namespace).
    fn ingress_services<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.index
            .ingress_backends
            .iter()
            .filter(move |backend| {
                backend.reference.namespace == namespace && backend.reference.name == name
            })
            .map(|backend| backend.service.as_str())
    }

    /// The Ingress class findings of every Ingress that sends to `chain`'s Service (once per
    /// Ingress).
    fn class_findings_of(&self, chain: &mut ServiceChain) {
        for (namespace, name, finding) in &self.class_findings {
            if *namespace == chain.namespace
                && self
                    .ingress_services(namespace, name)
                    .any(|service| service == chain.name)
            {
                chain.diagnostics.push(finding.clone());
            }
        }
    }

    /// `ingress-backend-missing` for a backend port the Service does not have (attached to the
    /// Service), in the order of the Ingress backends.
    fn backend_port_findings(&self, chain: &mut ServiceChain) {
        let Some(positions) = self
            .index
            .ingress_by_service
            .get(chain.namespace.as_str())
            .and_then(|services| services.get(chain.name.as_str()))
        else {
            return;
        };
        for backend in positions
            .iter()
            .filter_map(|position| self.index.ingress_backends.get(*position))
        {
            if let Some(diagnostic) = missing_port(chain, backend) {
                chain.diagnostics.push(diagnostic);
            }
        }
    }

    /// `ingress-backend-missing` for a backend Service that does not exist, each with the
    /// Ingress's namespace (diagnostics that belong to no Service).
    pub fn unattached(&self) -> Vec<(String, Diagnostic)> {
        let mut out = Vec::new();
        for backend in &self.index.ingress_backends {
            let reference = &backend.reference;
            let wanted = (reference.namespace.as_str(), backend.service.as_str());
            if self.keys_sorted_search(wanted) {
                continue;
            }
            let available: Vec<&str> = self
                .keys()
                .filter(|(namespace, _)| *namespace == reference.namespace)
                .map(|(_, name)| name)
                .collect();
            let hint = if available.is_empty() {
                format!("namespace {} has no Services", reference.namespace)
            } else {
                format!("Services there: {}", name_list(&available))
            };
            out.push((
                reference.namespace.clone(),
                Diagnostic::new(
                    DiagnosticCode::IngressBackendMissing,
                    Subject::Ingress(reference.name.clone()),
                    format!(
                        "Ingress {}/{} ({}) sends traffic to Service {:?}, which does not exist in namespace {} ({hint}); create the Service or fix the backend name.",
                        reference.namespace,
                        reference.name,
                        place(backend),
                        backend.service,
                        reference.namespace
                    ),
                ),
            ));
        }
        // Class findings of an Ingress none of whose backend Services exists.
        for (namespace, name, finding) in &self.class_findings {
            let attached = self
                .ingress_services(namespace, name)
                .any(|service| self.keys_sorted_search((namespace, service)));
            if !attached {
                out.push(((*namespace).to_owned(), finding.clone()));
            }
        }
        out.extend(self.policy_findings.iter().cloned());
        // Gateway API findings of routes that reach no existing Service.
        out.extend(
            self.gateway_findings
                .iter()
                .filter(|finding| finding.services.is_empty())
                .map(|finding| (finding.namespace.clone(), finding.diagnostic.clone())),
        );
        out
    }

    fn keys_sorted_search(&self, wanted: (&str, &str)) -> bool {
        self.services
            .binary_search_by(|service| key(service).cmp(&wanted))
            .is_ok()
    }
}

/// Where in its Ingress a backend is: `default backend`, `rule HOST/PATH`.
fn place(backend: &IngressBackendRef) -> String {
    let reference = &backend.reference;
    match (&reference.host, &reference.path) {
        (_, None) => "default backend".to_owned(),
        (Some(host), Some(path)) => format!("rule {host}{path}"),
        (None, Some(path)) => format!("rule {path}"),
    }
}

/// The finding for a backend that names a port `chain` does not have, if it does.
fn missing_port(chain: &ServiceChain, backend: &IngressBackendRef) -> Option<Diagnostic> {
    let reference = &backend.reference;
    let port_exists = match &reference.service_port {
        None => true,
        Some(PortRef::Number(number)) => chain.ports.iter().any(|port| port.port == *number),
        Some(PortRef::Name(name)) => chain
            .ports
            .iter()
            .any(|port| port.name.as_deref() == Some(name.as_str())),
    };
    if port_exists {
        return None;
    }
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
    Some(Diagnostic::new(
        DiagnosticCode::IngressBackendMissing,
        Subject::Ingress(reference.name.clone()),
        format!(
            "Ingress {}/{} ({}) targets port {wanted} of Service {}, which has no such port (it has {}); point the Ingress at one of those ports.",
            reference.namespace,
            reference.name,
            place(backend),
            chain.name,
            if ports.is_empty() {
                "none".to_owned()
            } else {
                ports.join(", ")
            }
        ),
    ))
}

/// Each Service's EndpointSlices (by the `kubernetes.io/service-name` label, in the Service's
/// namespace), sorted by name; aligned with `services` (sorted, without duplicates).
fn slices_by_service(
    snapshot: &ClusterSnapshot,
    services: &[&Arc<Service>],
) -> Vec<Vec<Arc<SliceInfo>>> {
    let mut position: hash::FxHashMap<(&str, &str), usize> = hash::FxHashMap::default();
    position.reserve(services.len());
    for (index, service) in services.iter().enumerate() {
        position.entry(key(service)).or_insert(index);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticSpec, generate_with_policies};

    // A build makes its chains in groups (the proxy chains of a group first, then their policy
    // blocks and Gateway API hops): every chain is the one built alone, across the groups'
    // boundaries, on one thread and on two.
    #[test]
    fn grouped_chains_are_the_chains_built_alone() {
        let services = 3 * GROUP + 5;
        let spec = SyntheticSpec {
            services,
            pods: 3 * services,
            nodes: 4,
            namespaces: 3,
        };
        let snapshot = generate_with_policies(&spec, 60);
        let config = EngineConfig::default();
        let chains = ServiceChains::new(&snapshot, &config);
        let alone: Vec<serde_json::Value> = (0..chains.len())
            .map(|position| {
                let chain = chains.chain(position).expect("a chain");
                serde_json::to_value(&chain).expect("JSON")
            })
            .collect();
        assert_eq!(alone.len(), services);
        for threads in [1, 2] {
            let model = crate::build_on_threads(&snapshot, &config, threads);
            let blocks = model
                .services
                .iter()
                .filter(|chain| chain.network_policy.is_some())
                .count();
            assert!(blocks > 2 * GROUP, "{blocks} policy blocks");
            assert_eq!(model.services.len(), alone.len());
            for (position, (built, alone)) in model.services.iter().zip(&alone).enumerate() {
                let built = serde_json::to_value(&**built).expect("JSON");
                assert_eq!(&built, alone, "chain {position} on {threads} threads");
            }
        }
    }
}
