//! Snapshot indexes built once per build: pods by namespace and label, slices by Service,
//! Ingress backends by Service. They keep a 10,000-Service build linear.

use std::collections::{BTreeMap, BTreeSet};

use super::hash::FxHashMap as HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::endpointslice::SERVICE_NAME_LABEL;
use super::model::{IngressRef, PortRef};
use super::pods;
use super::snapshot::ClusterSnapshot;

/// Pods of one namespace with a posting list per `key=value` label.
#[derive(Debug, Default)]
pub(crate) struct NamespacePods<'s> {
    pub pods: Vec<&'s Arc<Pod>>,
    by_label: HashMap<(&'s str, &'s str), Vec<u32>>,
}

impl<'s> NamespacePods<'s> {
    fn add(&mut self, pod: &'s Arc<Pod>) {
        let position = u32::try_from(self.pods.len()).unwrap_or(u32::MAX);
        self.pods.push(pod);
        for (key, value) in pods::labels(pod).into_iter().flatten() {
            self.by_label
                .entry((key.as_str(), value.as_str()))
                .or_default()
                .push(position);
        }
    }

    /// Rule A2: pods carrying every selector pair, sorted by name.
    pub fn select(&self, selector: &BTreeMap<String, String>) -> Vec<&'s Arc<Pod>> {
        let mut shortest: Option<&Vec<u32>> = None;
        for (key, value) in selector {
            match self.by_label.get(&(key.as_str(), value.as_str())) {
                None => return Vec::new(),
                Some(list) => {
                    if shortest.is_none_or(|current| list.len() < current.len()) {
                        shortest = Some(list);
                    }
                }
            }
        }
        let Some(shortest) = shortest else {
            return Vec::new();
        };
        let mut selected: Vec<&Arc<Pod>> = shortest
            .iter()
            .filter_map(|position| self.pods.get(*position as usize).copied())
            .filter(|pod| pods::matches_selector(pod, selector))
            .collect();
        selected.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));
        selected
    }

    /// Pods that carry at least one selector pair but not all (spec M2), sorted by name.
    pub fn partial(&self, selector: &BTreeMap<String, String>) -> Vec<&'s Arc<Pod>> {
        let mut positions: BTreeSet<u32> = BTreeSet::new();
        for (key, value) in selector {
            if let Some(list) = self.by_label.get(&(key.as_str(), value.as_str())) {
                positions.extend(list.iter().copied());
            }
        }
        let mut out: Vec<&Arc<Pod>> = positions
            .into_iter()
            .filter_map(|position| self.pods.get(position as usize).copied())
            .filter(|pod| !pods::matches_selector(pod, selector))
            .collect();
        out.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));
        out
    }

    /// For each selector key, the other values pods here carry under that key (spec M1).
    pub fn other_values(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, value) in self.by_label.keys() {
            if let Some(wanted) = selector.get(*key)
                && wanted != value
            {
                out.entry((*key).to_owned())
                    .or_default()
                    .insert((*value).to_owned());
            }
        }
        out
    }
}

/// An Ingress backend naming a Service.
#[derive(Debug, Clone)]
pub(crate) struct IngressBackendRef {
    pub service: String,
    pub reference: IngressRef,
}

/// Every index of one snapshot.
#[derive(Debug, Default)]
pub(crate) struct SnapshotIndex<'s> {
    pub pods: HashMap<&'s str, NamespacePods<'s>>,
    pub slices: HashMap<&'s str, HashMap<&'s str, Vec<Arc<EndpointSlice>>>>,
    /// Every Ingress backend that names a Service, in snapshot order.
    pub ingress_backends: Vec<IngressBackendRef>,
    /// Positions in `ingress_backends` by (namespace, Service name).
    pub ingress_by_service: HashMap<String, HashMap<String, Vec<usize>>>,
}

fn backend_ref(
    ingress: &Ingress,
    backend: &IngressBackend,
    host: Option<&str>,
    path: Option<&str>,
    default_backend: bool,
) -> Option<IngressBackendRef> {
    let service = backend.service.as_ref()?;
    let port = service
        .port
        .as_ref()
        .and_then(|port| match (&port.name, port.number) {
            (Some(name), _) if !name.is_empty() => Some(PortRef::Name(name.clone())),
            (_, Some(number)) => Some(PortRef::Number(number)),
            _ => None,
        });
    Some(IngressBackendRef {
        service: service.name.clone(),
        reference: IngressRef {
            namespace: ingress
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            name: ingress.metadata.name.clone().unwrap_or_default(),
            host: host.map(str::to_owned),
            path: path.map(str::to_owned),
            service_port: port,
            default_backend,
        },
    })
}

impl<'s> SnapshotIndex<'s> {
    pub fn new(snapshot: &'s ClusterSnapshot) -> Self {
        let mut index = Self::default();
        for pod in &snapshot.pods {
            index.pods.entry(pods::namespace(pod)).or_default().add(pod);
        }
        for slice in &snapshot.endpoint_slices {
            let Some(service) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
            index
                .slices
                .entry(namespace)
                .or_default()
                .entry(service.as_str())
                .or_default()
                .push(slice.clone());
        }
        for slices in index
            .slices
            .values_mut()
            .flat_map(|by_service| by_service.values_mut())
        {
            slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        for ingress in &snapshot.ingresses {
            let Some(spec) = ingress.spec.as_ref() else {
                continue;
            };
            let entries = &mut index.ingress_backends;
            if let Some(backend) = spec.default_backend.as_ref()
                && let Some(reference) = backend_ref(ingress, backend, None, None, true)
            {
                entries.push(reference);
            }
            for rule in spec.rules.iter().flatten() {
                let host = rule.host.as_deref().filter(|host| !host.is_empty());
                for path in rule.http.iter().flat_map(|http| http.paths.iter()) {
                    let path_text = path.path.as_deref().unwrap_or("/");
                    if let Some(reference) =
                        backend_ref(ingress, &path.backend, host, Some(path_text), false)
                    {
                        entries.push(reference);
                    }
                }
            }
        }
        for (position, backend) in index.ingress_backends.iter().enumerate() {
            index
                .ingress_by_service
                .entry(backend.reference.namespace.clone())
                .or_default()
                .entry(backend.service.clone())
                .or_default()
                .push(position);
        }
        index
    }

    /// Ingress rules that point at a Service.
    pub fn ingresses_for(&self, namespace: &str, service: &str) -> Vec<IngressRef> {
        self.ingress_by_service
            .get(namespace)
            .and_then(|services| services.get(service))
            .into_iter()
            .flatten()
            .filter_map(|position| self.ingress_backends.get(*position))
            .map(|backend| backend.reference.clone())
            .collect()
    }

    pub fn namespace_pods(&self, namespace: &str) -> Option<&NamespacePods<'s>> {
        self.pods.get(namespace)
    }

    pub fn slices_for(&self, namespace: &str, service: &str) -> Option<&Vec<Arc<EndpointSlice>>> {
        self.slices.get(namespace)?.get(service)
    }
}
