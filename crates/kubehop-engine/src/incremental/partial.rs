//! Building a few Services' chains again: a partial snapshot holds those Services, their
//! EndpointSlices, the pods their chains read and their namespaces' Ingresses; the node table
//! is the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::objects::PodInfo;

use super::deps::{Dependents, Position};
use crate::chains::ServiceChains;
use crate::config::EngineConfig;
use crate::model::{ProxyModel, ServiceChain};
use crate::netpol::PolicyIndex;
use crate::snapshot::ClusterSnapshot;

/// What a partial build reads.
pub(crate) struct Inputs<'a> {
    pub next: &'a ClusterSnapshot,
    pub model: &'a ProxyModel,
    pub dependents: &'a Dependents,
    /// Services whose object changed, with the new object.
    pub replaced: &'a [(Position, Arc<Service>)],
    pub config: &'a EngineConfig,
}

/// The chains of the Services at `affected`, as a full build of `next` would give them.
///
/// A first pass gives each Service the pods it selects; a chain that turns out to read more
/// (a selector matching nothing, or no ready endpoint: near misses, rules M1-M3) is built
/// again with every pod of its namespace and the pods its selector matches elsewhere.
pub(crate) fn rebuild(
    inputs: &Inputs<'_>,
    affected: &BTreeSet<Position>,
) -> Vec<(Position, ServiceChain)> {
    let narrow = build_some(inputs, affected, false);
    let mut out = Vec::with_capacity(narrow.len());
    let mut wide = BTreeSet::new();
    for (position, chain) in narrow {
        if super::deps::is_wide(&chain) {
            wide.insert(position);
        } else {
            out.push((position, chain));
        }
    }
    if !wide.is_empty() {
        out.extend(build_some(inputs, &wide, true));
    }
    out
}

/// The current object of the Service at `position`.
fn service_object(inputs: &Inputs<'_>, position: Position) -> Option<Arc<Service>> {
    if let Some((_, service)) = inputs.replaced.iter().find(|(at, _)| *at == position) {
        return Some(service.clone());
    }
    inputs
        .model
        .services
        .get(position as usize)?
        .details
        .service
        .clone()
}

/// Every pod of a namespace (the snapshot's pods are sorted by namespace, then name).
fn namespace_pods<'a>(snapshot: &'a ClusterSnapshot, namespace: &str) -> &'a [Arc<PodInfo>] {
    fn of(pod: &Arc<PodInfo>) -> &str {
        crate::pods::namespace(pod)
    }
    let start = snapshot.pods.partition_point(|pod| of(pod) < namespace);
    let end = snapshot.pods.partition_point(|pod| of(pod) <= namespace);
    snapshot.pods.get(start..end).unwrap_or_default()
}

fn namespace_of(service: &Service) -> &str {
    service.metadata.namespace.as_deref().unwrap_or("default")
}

/// The pods the chains of `services` read: the ones they select, or with `whole` every pod of
/// their namespaces and the ones their selectors match anywhere.
fn pods_for(inputs: &Inputs<'_>, services: &[Arc<Service>], whole: bool) -> Vec<Arc<PodInfo>> {
    let mut pods: BTreeMap<(String, String), Arc<PodInfo>> = BTreeMap::new();
    for service in services {
        let namespace = namespace_of(service);
        let selector = service
            .spec
            .as_ref()
            .and_then(|spec| spec.selector.as_ref());
        if let Some(selector) = selector.filter(|selector| !selector.is_empty()) {
            let mut matching = BTreeMap::new();
            inputs.dependents.matching(selector, &mut matching);
            if !whole {
                matching.retain(|(at, _), _| at == namespace);
            }
            pods.extend(matching);
        }
        if whole {
            for pod in namespace_pods(inputs.next, namespace) {
                let key = (namespace.to_owned(), crate::pods::name(pod).to_owned());
                pods.insert(key, pod.clone());
            }
        }
    }
    pods.into_values().collect()
}

fn build_some(
    inputs: &Inputs<'_>,
    positions: &BTreeSet<Position>,
    whole: bool,
) -> Vec<(Position, ServiceChain)> {
    let services: Vec<Arc<Service>> = positions
        .iter()
        .filter_map(|position| service_object(inputs, *position))
        .collect();
    let namespaces: BTreeSet<&str> = services.iter().map(|s| namespace_of(s)).collect();
    let endpoint_slices = services
        .iter()
        .flat_map(|service| {
            let name = service.metadata.name.as_deref().unwrap_or_default();
            inputs.dependents.slices_of(namespace_of(service), name)
        })
        .collect();
    let ingresses = inputs
        .next
        .ingresses
        .iter()
        .filter(|ingress| {
            namespaces.contains(ingress.metadata.namespace.as_deref().unwrap_or("default"))
        })
        .cloned()
        .collect();
    let partial = ClusterSnapshot {
        generation: inputs.next.generation,
        pods: Arc::new(pods_for(inputs, &services, whole)),
        services,
        endpoint_slices,
        nodes: Vec::new(),
        ingresses,
        namespaces: Vec::new(),
        ingress_classes: inputs.next.ingress_classes.clone(),
        network_policies: Vec::new(),
        gateway_api: Default::default(),
        missing: inputs.next.missing.clone(),
    };
    let chains = ServiceChains::with_shared(
        &partial,
        inputs.config,
        1,
        inputs.model.nodes.clone(),
        Arc::new(PolicyIndex::default()),
    );
    let keys: Vec<(&str, &str)> = chains.keys().collect();
    keys.iter()
        .enumerate()
        .filter_map(|(at, (namespace, name))| {
            let position = inputs.dependents.position(namespace, name)?;
            Some((position, chains.chain(at)?))
        })
        .collect()
}
