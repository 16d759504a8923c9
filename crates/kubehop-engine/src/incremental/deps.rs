//! Which Services an object change can affect: Services by selector pair, the pods carrying
//! each selected pair, EndpointSlices by Service, and the Services whose chain reads their
//! whole namespace's pods.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::objects::PodInfo;
use crate::objects::SliceInfo;

use crate::endpointslice::SERVICE_NAME_LABEL;
use crate::hash::FxHashMap as HashMap;
use crate::model::{ProxyModel, ServiceChain};
use crate::nodes::{NodeTable, RangeCounts};
use crate::pods;
use crate::snapshot::ClusterSnapshot;

/// A Service's position in the model (sorted by namespace, name).
pub(crate) type Position = u32;

/// One selector pair: the Services selecting on it and the pods carrying it, by
/// (namespace, name).
#[derive(Debug, Default)]
struct Pair {
    services: Vec<Position>,
    pods: BTreeSet<ByName>,
}

/// A pod ordered by (namespace, name), read from the pod itself: at 150,000 pods, a key of
/// two owned strings per selected pair was 20 MB of the index.
#[derive(Debug, Clone)]
struct ByName(Arc<PodInfo>);

impl ByName {
    fn key(&self) -> (&str, &str) {
        (pods::namespace(&self.0), pods::name(&self.0))
    }
}

impl PartialEq for ByName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByName {}

impl PartialOrd for ByName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The dependency indexes of one model.
#[derive(Debug, Default)]
pub(crate) struct Dependents {
    position: HashMap<(String, String), Position>,
    /// key → value → pair.
    pairs: HashMap<String, HashMap<String, Pair>>,
    /// EndpointSlices by (namespace, `kubernetes.io/service-name`), each list sorted by name.
    slices: HashMap<(String, String), BTreeMap<String, Arc<SliceInfo>>>,
    /// Services whose chain reads every pod of their namespace: a selector that selects nothing
    /// or no ready endpoint (near misses, rules M1-M3, and the selector fix).
    wide: BTreeSet<Position>,
    /// Rule K3's count over every pod, against the model's node table.
    ranges: RangeCounts,
}

fn position_u32(value: usize) -> Position {
    Position::try_from(value).unwrap_or(Position::MAX)
}

/// Whether a chain's diagnostics read pods beyond the ones it selects.
pub(crate) fn is_wide(chain: &ServiceChain) -> bool {
    chain.selector.is_some()
        && (chain.details.selected_pods.is_empty()
            || !chain
                .details
                .endpoints
                .iter()
                .any(|endpoint| endpoint.ready))
}

/// The (namespace, service) an EndpointSlice belongs to, by its label.
pub(crate) fn slice_owner(slice: &SliceInfo) -> Option<(String, String)> {
    let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
    Some((namespace.to_owned(), service.clone()))
}

impl Dependents {
    pub fn new(snapshot: &ClusterSnapshot, model: &ProxyModel) -> Self {
        let mut out = Self::default();
        for (index, chain) in model.services.iter().enumerate() {
            let position = position_u32(index);
            out.position
                .insert((chain.namespace.clone(), chain.name.clone()), position);
            for (key, value) in chain.selector.iter().flatten() {
                out.pairs
                    .entry(key.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default()
                    .services
                    .push(position);
            }
            if is_wide(chain) {
                out.wide.insert(position);
            }
        }
        for pod in snapshot.pods.iter() {
            out.add_pod(pod, &model.nodes);
        }
        for slice in &snapshot.endpoint_slices {
            out.add_slice(slice);
        }
        out
    }

    pub fn position(&self, namespace: &str, name: &str) -> Option<Position> {
        self.position
            .get(&(namespace.to_owned(), name.to_owned()))
            .copied()
    }

    fn pair_mut(&mut self, key: &str, value: &str) -> Option<&mut Pair> {
        self.pairs.get_mut(key)?.get_mut(value)
    }

    pub fn add_pod(&mut self, pod: &Arc<PodInfo>, nodes: &NodeTable) {
        self.ranges.add(nodes.range_counts(pod));
        for (key, value) in pods::labels(pod).into_iter().flatten() {
            if let Some(pair) = self.pair_mut(key, value) {
                pair.pods.replace(ByName(pod.clone()));
            }
        }
    }

    /// Removes the pod of `pod`'s (namespace, name), whichever version the index holds.
    pub fn remove_pod(&mut self, pod: &Arc<PodInfo>, nodes: &NodeTable) {
        self.ranges.remove(nodes.range_counts(pod));
        let by_name = ByName(pod.clone());
        for (key, value) in pods::labels(pod).into_iter().flatten() {
            if let Some(pair) = self.pair_mut(key, value) {
                pair.pods.remove(&by_name);
            }
        }
    }

    pub fn add_slice(&mut self, slice: &Arc<SliceInfo>) {
        if let Some(owner) = slice_owner(slice) {
            let name = slice.metadata.name.clone().unwrap_or_default();
            self.slices
                .entry(owner)
                .or_default()
                .insert(name, slice.clone());
        }
    }

    pub fn remove_slice(&mut self, slice: &SliceInfo) {
        if let Some(owner) = slice_owner(slice)
            && let Some(list) = self.slices.get_mut(&owner)
        {
            list.remove(slice.metadata.name.as_deref().unwrap_or_default());
            if list.is_empty() {
                self.slices.remove(&owner);
            }
        }
    }

    /// The Service's EndpointSlices, sorted by name.
    pub fn slices_of(&self, namespace: &str, name: &str) -> Vec<Arc<SliceInfo>> {
        self.slices
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|list| list.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The Services a change of this pod version can affect: those in its namespace selecting
    /// on one of its labels, the wide ones of its namespace, and the wide ones elsewhere that
    /// it matches (rule M3).
    pub fn affected_by_pod(&self, pod: &PodInfo, model: &ProxyModel, out: &mut BTreeSet<Position>) {
        let namespace = pods::namespace(pod);
        let chain_at = |position: Position| model.services.get(position as usize);
        for (key, value) in pods::labels(pod).into_iter().flatten() {
            let Some(pair) = self.pairs.get(key).and_then(|values| values.get(value)) else {
                continue;
            };
            for position in &pair.services {
                if chain_at(*position).is_some_and(|chain| chain.namespace == namespace) {
                    out.insert(*position);
                }
            }
        }
        for position in &self.wide {
            let Some(chain) = chain_at(*position) else {
                continue;
            };
            let matches = || {
                chain
                    .selector
                    .as_ref()
                    .is_some_and(|selector| pods::matches_selector(pod, selector))
            };
            if chain.namespace == namespace || matches() {
                out.insert(*position);
            }
        }
    }

    /// Pods carrying every pair of `selector` (in any namespace), by (namespace, name).
    pub fn matching(
        &self,
        selector: &BTreeMap<String, String>,
        out: &mut BTreeMap<(String, String), Arc<PodInfo>>,
    ) {
        let lists: Option<Vec<&Pair>> = selector
            .iter()
            .map(|(key, value)| self.pairs.get(key).and_then(|values| values.get(value)))
            .collect();
        let Some(mut lists) = lists else {
            return;
        };
        lists.sort_by_key(|pair| pair.pods.len());
        let Some((shortest, others)) = lists.split_first() else {
            return;
        };
        for pod in &shortest.pods {
            if others.iter().all(|pair| pair.pods.contains(pod)) {
                let (namespace, name) = pod.key();
                out.insert((namespace.to_owned(), name.to_owned()), pod.0.clone());
            }
        }
    }

    /// Rule K3 over the pods indexed now (see [`NodeTable::with_pods`]).
    pub fn ranges_followed(&self) -> bool {
        self.ranges.followed()
    }

    /// Records whether the chain at `position` is wide.
    pub fn set_wide(&mut self, position: Position, wide: bool) {
        if wide {
            self.wide.insert(position);
        } else {
            self.wide.remove(&position);
        }
    }
}
