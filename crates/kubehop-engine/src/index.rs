//! Snapshot indexes built once per build: pods by namespace and selected label, Ingress
//! backends by Service. They keep a 10,000-Service build linear. (EndpointSlices are matched to
//! their Services in `build`, once the Services are sorted.)

use std::collections::{BTreeMap, BTreeSet};

use super::hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::objects::PodInfo;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::model::{IngressRef, PortRef};
use super::nodes::NodeTable;
use super::pods::{self, Exclusion};
use super::snapshot::ClusterSnapshot;

/// The `key=value` pairs that some Service selects on, each with a small id. Only these pairs
/// get posting lists: pod labels nobody selects on (`pod-template-hash`, ...) cost one lookup.
#[derive(Debug, Default)]
pub(crate) struct SelectorPairs<'s> {
    ids: HashMap<(&'s str, &'s str), u32>,
    /// The distinct selector keys (`app`, `app.kubernetes.io/name`, ...), when there are few:
    /// a pod label whose key is not among them is skipped without reading its value. Label
    /// strings are separate allocations, and reading them is most of the cost of indexing.
    keys: Option<Vec<&'s str>>,
}

/// Beyond this many distinct selector keys, labels go straight to the pair lookup.
const MAX_KEY_FILTER: usize = 32;

impl<'s> SelectorPairs<'s> {
    fn new(snapshot: &'s ClusterSnapshot) -> Self {
        let mut ids: HashMap<(&str, &str), u32> = HashMap::default();
        ids.reserve(snapshot.services.len());
        let mut keys: Vec<&str> = Vec::new();
        for service in &snapshot.services {
            let selector = service
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref());
            for (key, value) in selector.into_iter().flatten() {
                let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                ids.entry((key.as_str(), value.as_str())).or_insert(next);
                if keys.len() <= MAX_KEY_FILTER && !keys.contains(&key.as_str()) {
                    keys.push(key.as_str());
                }
            }
        }
        Self {
            ids,
            keys: (keys.len() <= MAX_KEY_FILTER).then_some(keys),
        }
    }

    fn id(&self, key: &str, value: &str) -> Option<u32> {
        self.ids.get(&(key, value)).copied()
    }

    /// Whether some selector uses this label key (a length check first avoids reading most
    /// keys' bytes).
    fn wants_key(&self, key: &str) -> bool {
        match &self.keys {
            Some(keys) => keys
                .iter()
                .any(|wanted| wanted.len() == key.len() && *wanted == key),
            None => true,
        }
    }
}

/// What the EndpointSlice controller checks on a pod besides its labels (rules A3, A7), read
/// once while indexing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodFacts<'s> {
    /// Rule A3: phase Succeeded/Failed, or no IP.
    pub phase: Option<Exclusion>,
    /// `spec.nodeName`, when set.
    pub node: Option<&'s str>,
    /// Whether that node is known (always true when the snapshot has no nodes at all).
    pub node_known: bool,
}

/// Pods of one namespace, sorted by name, with a posting list (ascending positions, so name
/// order) per selected `key=value` label, and each pod's [`PodFacts`].
#[derive(Debug, Default)]
pub(crate) struct NamespacePods<'s> {
    pub pods: Vec<&'s Arc<PodInfo>>,
    facts: Vec<PodFacts<'s>>,
    by_label: HashMap<u32, Vec<u32>>,
}

impl<'s> NamespacePods<'s> {
    fn add(&mut self, pod: &'s Arc<PodInfo>, pairs: &SelectorPairs<'s>, nodes: &NodeTable) {
        let position = u32::try_from(self.pods.len()).unwrap_or(u32::MAX);
        self.pods.push(pod);
        let node = pods::node_name(pod);
        self.facts.push(PodFacts {
            phase: pods::phase_exclusion(pod),
            node,
            node_known: nodes.is_empty() || node.is_none_or(|node| nodes.index_of(node).is_some()),
        });
        for (key, value) in pods::labels(pod).into_iter().flatten() {
            if !pairs.wants_key(key) {
                continue;
            }
            if let Some(id) = pairs.id(key, value) {
                self.by_label.entry(id).or_default().push(position);
            }
        }
    }

    /// The posting lists of every selector pair, or `None` when a pair matches no pod here.
    fn lists(
        &self,
        selector: &BTreeMap<String, String>,
        pairs: &SelectorPairs<'_>,
    ) -> Option<Vec<&Vec<u32>>> {
        selector
            .iter()
            .map(|(key, value)| pairs.id(key, value).and_then(|id| self.by_label.get(&id)))
            .collect()
    }

    /// Rule A2: pods carrying every selector pair, sorted by name (positions are in name
    /// order).
    pub fn select(
        &self,
        selector: &BTreeMap<String, String>,
        pairs: &SelectorPairs<'_>,
    ) -> Vec<&'s Arc<PodInfo>> {
        self.positions(selector, pairs)
            .iter()
            .filter_map(|position| self.pods.get(*position as usize).copied())
            .collect()
    }

    /// [`Self::select`] with each selected pod's [`PodFacts`].
    pub fn select_with_facts(
        &self,
        selector: &BTreeMap<String, String>,
        pairs: &SelectorPairs<'_>,
    ) -> (Vec<&'s Arc<PodInfo>>, Vec<PodFacts<'s>>) {
        let positions = self.positions(selector, pairs);
        let selected = positions
            .iter()
            .filter_map(|position| self.pods.get(*position as usize).copied())
            .collect();
        let facts = positions
            .iter()
            .filter_map(|position| self.facts.get(*position as usize).cloned())
            .collect();
        (selected, facts)
    }

    /// Positions of the pods carrying every selector pair, ascending.
    fn positions(
        &self,
        selector: &BTreeMap<String, String>,
        pairs: &SelectorPairs<'_>,
    ) -> Vec<u32> {
        // One pair (the usual `app=...`): its posting list is the answer.
        if selector.len() == 1
            && let Some((key, value)) = selector.iter().next()
        {
            return pairs
                .id(key, value)
                .and_then(|id| self.by_label.get(&id))
                .cloned()
                .unwrap_or_default();
        }
        let Some(mut lists) = self.lists(selector, pairs) else {
            return Vec::new();
        };
        lists.sort_by_key(|list| list.len());
        let Some((shortest, others)) = lists.split_first() else {
            return Vec::new();
        };
        shortest
            .iter()
            .copied()
            .filter(|position| {
                others
                    .iter()
                    .all(|list| list.binary_search(position).is_ok())
            })
            .collect()
    }

    /// Pods that carry at least one pair of the selector, in name order: the only candidates
    /// for a near miss of a selector with two or more pairs (rule M2).
    pub fn carrying_any(
        &self,
        selector: &BTreeMap<String, String>,
        pairs: &SelectorPairs<'_>,
    ) -> Vec<&'s Arc<PodInfo>> {
        let mut positions: BTreeSet<u32> = BTreeSet::new();
        for (key, value) in selector {
            if let Some(list) = pairs.id(key, value).and_then(|id| self.by_label.get(&id)) {
                positions.extend(list.iter().copied());
            }
        }
        positions
            .into_iter()
            .filter_map(|position| self.pods.get(position as usize).copied())
            .collect()
    }

    /// For each selector key, the other values pods here carry under that key (rule M1).
    /// Scans the namespace's pods: only asked when a selector matches nothing.
    pub fn other_values(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for pod in &self.pods {
            for (key, value) in pods::labels(pod).into_iter().flatten() {
                if let Some(wanted) = selector.get(key)
                    && wanted != value
                {
                    out.entry(key.to_owned())
                        .or_default()
                        .insert(value.to_owned());
                }
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
    /// The selector pairs the pod posting lists are kept for.
    pub pairs: SelectorPairs<'s>,
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

/// Pods by namespace for one chunk of the snapshot's pods, in snapshot order.
fn group_by_namespace(pods: &[Arc<PodInfo>]) -> HashMap<&str, Vec<&Arc<PodInfo>>> {
    let mut out: HashMap<&str, Vec<&Arc<PodInfo>>> = HashMap::default();
    for pod in pods {
        out.entry(pods::namespace(pod)).or_default().push(pod);
    }
    out
}

/// One namespace's pods, put in name order (stable: same-named copies keep snapshot order), so
/// that every posting list, and every selection, comes out sorted by name.
fn index_namespace<'s>(
    list: &[&'s Arc<PodInfo>],
    pairs: &SelectorPairs<'s>,
    nodes: &NodeTable,
) -> NamespacePods<'s> {
    // Names read once; the sort compares them without going through each pod again.
    let mut named: Vec<(&str, &Arc<PodInfo>)> =
        list.iter().map(|pod| (pods::name(pod), *pod)).collect();
    if !named.is_sorted_by(|a, b| a.0 <= b.0) {
        named.sort_by(|a, b| a.0.cmp(b.0));
    }
    let mut namespace = NamespacePods {
        pods: Vec::with_capacity(named.len()),
        facts: Vec::with_capacity(named.len()),
        by_label: HashMap::default(),
    };
    for (_, pod) in named {
        namespace.add(pod, pairs, nodes);
    }
    namespace
}

impl<'s> SnapshotIndex<'s> {
    /// Builds the indexes; the pods are grouped and indexed on up to `threads` threads (the
    /// result is the same for any number of threads).
    pub fn new(snapshot: &'s ClusterSnapshot, nodes: &NodeTable, threads: usize) -> Self {
        let pairs = SelectorPairs::new(snapshot);
        let groups =
            super::parallel::map_chunks(&snapshot.pods, threads, |chunk| group_by_namespace(chunk));
        let mut groups = groups.into_iter();
        let mut by_namespace = groups.next().unwrap_or_default();
        for group in groups {
            for (namespace, list) in group {
                by_namespace.entry(namespace).or_default().extend(list);
            }
        }
        let namespaces: Vec<(&str, Vec<&Arc<PodInfo>>)> = by_namespace.into_iter().collect();
        let indexed = super::parallel::map_chunks_of(&namespaces, threads, 1, |chunk| {
            chunk
                .iter()
                .map(|(namespace, list)| (*namespace, index_namespace(list, &pairs, nodes)))
                .collect::<Vec<_>>()
        });
        let by_namespace: HashMap<&str, NamespacePods<'_>> =
            indexed.into_iter().flatten().collect();
        let mut index = Self {
            pods: by_namespace,
            pairs,
            ..Self::default()
        };
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
}
