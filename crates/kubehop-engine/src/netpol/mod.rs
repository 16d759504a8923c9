//! NetworkPolicy: which policies select a pod, and whether a source may reach it through a
//! given front door (rules N1-N10 in docs/rules.md).
//!
//! [`PolicyIndex`] is built once per snapshot: policies by namespace, namespace labels, and the
//! pods a source can be named by. It is empty (and costs nothing) on a cluster without
//! policies. [`PolicyIndex::verdict`] judges one connection at both ends (N8);
//! [`PolicyIndex::seen`] says who the destination's policies see as the source for a front door
//! (N10); `view` builds a chain's `networkPolicy` block and `findings` the policy diagnostics.

mod compile;
mod eval;
pub(crate) mod findings;
mod hop;
mod route;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::objects::{Labels, PodInfo};
use serde::Serialize;

pub use compile::{Peer, Policy, PortEntry, PortSpec, Rule, Selector};
pub use eval::{Decision, Direction, Miss, NearMiss, Reasons, Remote};
pub use hop::{HopPolicies, PolicyHop, SourceChoice};
pub(crate) use view::PolicyScratch;
pub use view::{
    ChainHop, ChainPolicies, EndpointPolicies, EndpointVerdict, HopLabel, HopVerdict, PodName,
    SourceVerdict,
};

use crate::hash::FxHashMap as HashMap;
use crate::model::{Protocol, TrafficPolicy};
use crate::nodes::NodeTable;
use crate::pods;
use crate::route::FrontDoor;
use crate::snapshot::{ClusterSnapshot, PodList};
use eval::Question;
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// The label the API server puts on every namespace (rule N5).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The snapshot's policies, indexed for evaluation.
#[derive(Debug, Clone, Default)]
pub struct PolicyIndex {
    /// Sorted by namespace, then name.
    policies: Vec<Policy>,
    by_namespace: HashMap<String, NamespacePolicies>,
    /// Labels per namespace, with the name label added (N5).
    namespaces: HashMap<String, BTreeMap<String, String>>,
    /// Namespaces the input had an object for.
    known_namespaces: HashMap<String, ()>,
    pods: PodList,
    /// Ingress (namespace, name) → the pods of the load-balancer Service whose address the
    /// Ingress's status carries: its controller, when that can be told.
    controllers: HashMap<(String, String), Vec<Arc<PodInfo>>>,
    /// Per namespace: its pod without labels (the "any pod of the namespace" source of the
    /// cluster IP hops, N8), made once per snapshot.
    anonymous: HashMap<String, AnonymousSource>,
}

/// A pod of a namespace without labels, with what every chain of the namespace asks of it.
#[derive(Debug, Clone)]
pub(super) struct AnonymousSource {
    pub(super) pod: PodInfo,
    /// The policies selecting it (its egress, N8).
    pub(super) policies: Arc<view::SourcePolicies>,
    /// `NS/*`, as verdicts name it ([`SeenView::Pod`]).
    label: Arc<str>,
    /// `namespace/NS`, as hops name this source.
    pub(super) source: Arc<str>,
}

impl PolicyIndex {
    /// Indexes a snapshot; empty when it has no NetworkPolicy.
    pub fn build(snapshot: &ClusterSnapshot) -> Self {
        let namespaces = snapshot.pods.iter().map(|pod| pods::namespace(pod));
        Self::build_knowing(snapshot, namespaces)
    }

    /// [`PolicyIndex::build`], given the namespaces of the snapshot's pods (each at least
    /// once; the chain build's pod index has them, so the pods need not be read again).
    pub(crate) fn build_knowing<'s>(
        snapshot: &'s ClusterSnapshot,
        pod_namespaces: impl Iterator<Item = &'s str>,
    ) -> Self {
        if snapshot.network_policies.is_empty() {
            // Pods only, so sources can still be named (`route --from pod/NS/NAME`).
            return Self {
                pods: PodList::Owned(snapshot.pods.clone()),
                ..Self::default()
            };
        }
        // Sorted as references (a compiled policy is large to move), then compiled in order.
        let mut sources: Vec<&NetworkPolicy> = snapshot
            .network_policies
            .iter()
            .map(|policy| &**policy)
            .collect();
        sources.sort_by(|a, b| policy_order(a).cmp(&policy_order(b)));
        let mut compiler = compile::Compiler::default();
        let policies: Vec<Policy> = sources
            .into_iter()
            .map(|policy| Policy::compile(policy, &mut compiler))
            .collect();
        let mut by_namespace: HashMap<String, NamespacePolicies> = HashMap::default();
        for (index, policy) in policies.iter().enumerate() {
            // Policies come grouped by namespace: its name is copied once.
            let namespace = match by_namespace.get_mut(policy.namespace.as_str()) {
                Some(namespace) => namespace,
                None => by_namespace.entry(policy.namespace.clone()).or_default(),
            };
            namespace.add(index, &policy.selector);
        }
        let mut namespaces: HashMap<String, BTreeMap<String, String>> = HashMap::default();
        let mut known_namespaces = HashMap::default();
        for namespace in &snapshot.namespaces {
            let Some(name) = namespace.metadata.name.clone() else {
                continue;
            };
            let mut labels = namespace.metadata.labels.clone().unwrap_or_default();
            labels
                .entry(NAMESPACE_NAME_LABEL.to_owned())
                .or_insert_with(|| name.clone());
            known_namespaces.insert(name.clone(), ());
            namespaces.insert(name, labels);
        }
        let mut extra: Vec<String> = Vec::new();
        let mut note = |name: &str| {
            if !namespaces.contains_key(name) && !extra.iter().any(|known| known == name) {
                extra.push(name.to_owned());
            }
        };
        // Pods come grouped by namespace, and policies sorted by it.
        runs(pod_namespaces).for_each(&mut note);
        runs(policies.iter().map(|policy| policy.namespace.as_str())).for_each(&mut note);
        for name in extra {
            let labels = BTreeMap::from([(NAMESPACE_NAME_LABEL.to_owned(), name.clone())]);
            namespaces.insert(name, labels);
        }
        let mut index = Self {
            policies,
            by_namespace,
            namespaces,
            known_namespaces,
            pods: PodList::Owned(snapshot.pods.clone()),
            controllers: view::ingress_controllers(snapshot),
            anonymous: HashMap::default(),
        };
        let anonymous = index
            .namespaces
            .keys()
            .map(|namespace| {
                let pod = view::anonymous_pod(namespace);
                let source = AnonymousSource {
                    policies: Arc::new(view::SourcePolicies::of(&index, &pod)),
                    label: format!("{namespace}/*").into(),
                    source: format!("namespace/{namespace}").into(),
                    pod,
                };
                (namespace.clone(), source)
            })
            .collect();
        index.anonymous = anonymous;
        index
    }

    /// [`PolicyIndex::build`] of a shared snapshot: without NetworkPolicies, its pods are
    /// shared rather than copied.
    pub(crate) fn of_shared(snapshot: &Arc<ClusterSnapshot>) -> Self {
        if !snapshot.network_policies.is_empty() {
            return Self::build(snapshot);
        }
        Self {
            pods: PodList::Of(snapshot.clone()),
            ..Self::default()
        }
    }

    /// Whether the snapshot had no policy at all (every pod is open, N1).
    pub fn is_empty(&self) -> bool {
        // Pods alone do not count.
        self.policies.is_empty()
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// N1: the policies of the pod's namespace whose `podSelector` matches it (any direction),
    /// in policy order. Only the candidates its labels index are checked.
    pub fn selecting<'a>(&'a self, pod: &'a PodInfo) -> impl Iterator<Item = &'a Policy> + 'a {
        self.selecting_indices(pod)
            .into_iter()
            .filter_map(|index| self.policies.get(index))
    }

    /// [`PolicyIndex::selecting`] as positions, for callers that ask about one pod often.
    pub(crate) fn selecting_indices(&self, pod: &PodInfo) -> Vec<usize> {
        let mut out = Vec::new();
        self.selecting_into(pod, &mut out);
        out
    }

    /// [`PolicyIndex::selecting_indices`], appended to `out`.
    pub(crate) fn selecting_into(&self, pod: &PodInfo, out: &mut Vec<usize>) {
        let Some(namespace) = self.by_namespace.get(pods::namespace(pod)) else {
            return;
        };
        let start = out.len();
        namespace.candidates_into(pods::labels(pod), out);
        // The candidates whose selector matches; what `out` held before stays.
        let mut position = 0;
        out.retain(|index| {
            position += 1;
            position <= start
                || self
                    .policies
                    .get(*index)
                    .is_some_and(|policy| policy.selector.matches(pods::labels(pod)))
        });
    }

    /// Whether any egress rule of these policies has an ipBlock peer (N6: the destination's
    /// address then decides).
    pub(crate) fn egress_ip_blocks(&self, indices: &[usize]) -> bool {
        indices
            .iter()
            .filter_map(|index| self.policies.get(*index))
            .flat_map(|policy| policy.egress.iter().flatten())
            .flat_map(|rule| rule.peers.iter().flatten())
            .any(|peer| matches!(peer, compile::Peer::IpBlock { .. }))
    }

    fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(namespace)
    }

    fn namespace_known(&self, namespace: &str) -> bool {
        self.known_namespaces.contains_key(namespace)
    }

    /// The snapshot's pods (every source a policy can name).
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Arc<PodInfo>> {
        self.pods
            .iter()
            .find(|pod| pods::namespace(pod) == namespace && pods::name(pod) == name)
    }

    /// The pod that owns an address (host-network pods excluded).
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<&Arc<PodInfo>> {
        self.pods
            .iter()
            .find(|pod| !host_network(pod) && pods::ips(pod).contains(&ip))
    }

    /// A pod of `namespace` without labels and the policies selecting it (N8), when the
    /// namespace is known.
    pub(super) fn anonymous(&self, namespace: &str) -> Option<&AnonymousSource> {
        self.anonymous.get(namespace)
    }

    /// [`SeenView::of`], sharing the name of a namespace's pod without labels.
    fn seen_view(&self, seen: &Seen<'_>) -> SeenView {
        if let Seen::Pod(pod) = seen
            && pods::name(pod).is_empty()
            && let Some(source) = self.anonymous(pods::namespace(pod))
        {
            return SeenView::Pod {
                pod: source.label.clone(),
            };
        }
        SeenView::of(seen)
    }

    /// The controller pods of an Ingress, when known.
    pub fn controller_pods(&self, namespace: &str, name: &str) -> &[Arc<PodInfo>] {
        if self.controllers.is_empty() {
            return &[];
        }
        self.controllers
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// N8/N9: both ends of a connection from `seen` to `destination` on `port`.
    pub fn verdict(
        &self,
        seen: &Seen<'_>,
        destination: &PodInfo,
        port: i32,
        protocol: Protocol,
    ) -> PolicyVerdict {
        let unknown = KnownPolicies::default();
        self.verdict_with(seen, destination, (unknown, unknown), port, protocol)
    }

    /// [`PolicyIndex::verdict`] with the policies selecting the destination and the source pod
    /// known already (a chain judges one source against every endpoint).
    pub(crate) fn verdict_with(
        &self,
        seen: &Seen<'_>,
        destination: &PodInfo,
        (destination_policies, source_policies): (KnownPolicies<'_>, KnownPolicies<'_>),
        port: i32,
        protocol: Protocol,
    ) -> PolicyVerdict {
        let remote = match seen {
            Seen::Pod(pod) => Remote::Pod(pod),
            Seen::Address(ip) => Remote::Address(*ip),
            Seen::Node { address, .. } => address.map_or(Remote::AnyExternal, Remote::Address),
            Seen::AnyExternal => Remote::AnyExternal,
        };
        let local =
            matches!(seen, Seen::Node { name, .. } if Some(*name) == pods::node_name(destination));
        let ingress = self.decide(&Question {
            direction: Direction::Ingress,
            pod: destination,
            selecting: destination_policies.selecting,
            isolated_by: destination_policies.ingress,
            remote,
            destination: Some(destination),
            port,
            protocol,
        });
        // N9: the pod's own node is always let in.
        let ingress = if local && ingress.allowed() != Some(true) {
            Decision::LocalNode
        } else {
            ingress
        };
        let egress = match seen {
            Seen::Pod(source) => Some(self.decide(&Question {
                direction: Direction::Egress,
                pod: source,
                selecting: source_policies.selecting,
                isolated_by: source_policies.egress,
                remote: Remote::Pod(destination),
                destination: Some(destination),
                port,
                protocol,
            })),
            _ => None,
        };
        let allowed = match (egress.as_ref().map(Decision::allowed), ingress.allowed()) {
            (Some(Some(false)), _) | (_, Some(false)) => Some(false),
            (Some(None), _) | (_, None) => None,
            _ => Some(true),
        };
        PolicyVerdict {
            seen_as: self.seen_view(seen),
            egress,
            ingress,
            allowed,
        }
    }

    /// N10: who the destination's policies see as the source, for `client` entering through
    /// `door`. `forwarding` is the node whose rules handle the packet (the nodePort's node, the
    /// node an external packet arrives at); `family_of` picks the node address family.
    pub fn seen<'a>(
        client: &Client<'a>,
        door: &DoorFacts<'a>,
        nodes: &'a NodeTable,
        family_of: IpAddr,
    ) -> Seen<'a> {
        let node_seen = |name: &'a str| Seen::Node {
            name,
            address: node_address(nodes, name, family_of),
        };
        let client = match client {
            Client::Pod(pod) if host_network(pod) => match pods::node_name(pod) {
                Some(node) => Client::Node(node),
                None => Client::External(pods::first_ip(pod)),
            },
            // N10: a load balancer in ipMode Proxy opens its own connection.
            Client::External(_) if door.proxy_address.is_some() => {
                Client::External(door.proxy_address)
            }
            other => other.clone(),
        };
        let forwarding = |fallback: Seen<'a>| door.forwarding.map_or(fallback, node_seen);
        match (door.via, door.external_policy, client) {
            (FrontDoor::ClusterIp, _, Client::Pod(pod)) => Seen::Pod(pod),
            // A host process through another node's door under eTP Cluster: that node
            // masquerades it, as any client.
            (FrontDoor::ClusterIp, _, Client::Node(name))
            | (_, TrafficPolicy::Local, Client::Node(name)) => node_seen(name),
            (_, TrafficPolicy::Cluster, Client::Node(name)) => {
                node_seen(door.forwarding.unwrap_or(name))
            }
            (FrontDoor::ClusterIp, _, Client::External(_)) => forwarding(Seen::AnyExternal),
            // The node that handles the packet masquerades it: the one whose nodePort the pod
            // called (its own node only when it called its own node's address).
            (_, TrafficPolicy::Cluster, Client::Pod(pod)) => {
                match door.forwarding.or_else(|| pods::node_name(pod)) {
                    Some(node) => node_seen(node),
                    None => Seen::AnyExternal,
                }
            }
            (_, TrafficPolicy::Cluster, Client::External(_)) => forwarding(Seen::AnyExternal),
            (_, TrafficPolicy::Local, Client::Pod(pod)) => Seen::Pod(pod),
            (_, TrafficPolicy::Local, Client::External(address)) => {
                address.map_or(Seen::AnyExternal, Seen::Address)
            }
        }
    }
}

/// A policy's place in the index: by namespace (`default` when unset, as compiled), then
/// name.
fn policy_order(policy: &NetworkPolicy) -> (&str, &str) {
    (
        policy.metadata.namespace.as_deref().unwrap_or("default"),
        policy.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// `names` without the repeats of the name just before (a name like the last one is known).
fn runs<'a>(names: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    let mut last = None;
    names.filter(move |name| {
        let new = last != Some(*name);
        last = Some(*name);
        new
    })
}

/// What a caller already knows of the policies selecting one end of a connection: their
/// positions, and the keys of those isolating it for ingress and for egress.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KnownPolicies<'a> {
    pub selecting: Option<&'a [usize]>,
    pub ingress: Option<&'a Arc<[Arc<str>]>>,
    pub egress: Option<&'a Arc<[Arc<str>]>>,
}

/// One namespace's policies, indexed by the first `matchLabels` pair of their pod selector so
/// that a pod is checked only against the policies one of its labels names.
#[derive(Debug, Clone, Default)]
struct NamespacePolicies {
    /// Empty selectors and selectors with expressions only: checked for every pod.
    always: Vec<usize>,
    /// key → value → policies.
    by_pair: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl NamespacePolicies {
    fn add(&mut self, index: usize, selector: &Selector) {
        let Some((key, value)) = selector.first_pair() else {
            self.always.push(index);
            return;
        };
        // The key and value are copied only when new to the namespace.
        let values = match self.by_pair.get_mut(key) {
            Some(values) => values,
            None => self.by_pair.entry(key.to_owned()).or_default(),
        };
        match values.get_mut(value) {
            Some(policies) => policies.push(index),
            None => {
                values.insert(value.to_owned(), vec![index]);
            }
        }
    }

    /// The policies that may select a pod with these labels, sorted, appended to `out`.
    fn candidates_into(&self, labels: Option<&Labels>, out: &mut Vec<usize>) {
        let start = out.len();
        out.extend_from_slice(&self.always);
        let labels = labels.filter(|labels| !labels.is_empty());
        if let Some(labels) = labels
            && !self.by_pair.is_empty()
        {
            // From the smaller side: a namespace's policies are usually keyed by one or two
            // label keys (`app`), and a pod carries a few more.
            if self.by_pair.len() <= labels.len() {
                for (key, values) in &self.by_pair {
                    if let Some(found) = labels.get(key).and_then(|value| values.get(value)) {
                        out.extend_from_slice(found);
                    }
                }
            } else {
                for (key, value) in labels {
                    if let Some(found) = self.by_pair.get(key).and_then(|values| values.get(value))
                    {
                        out.extend_from_slice(found);
                    }
                }
            }
        }
        if let Some(added) = out.get_mut(start..) {
            added.sort_unstable();
        }
    }
}

/// A pod of the Service's selected pods (sorted by name), by name.
pub(super) fn chain_pod<'c>(
    chain: &'c crate::model::ServiceChain,
    name: &str,
) -> Option<&'c PodInfo> {
    pod_position(&chain.details.selected_pods, name)
        .and_then(|index| chain.details.selected_pods.get(index))
        .map(|pod| &**pod)
}

/// The position of the pod named `name` among `selected` (sorted by name).
pub(super) fn pod_position(selected: &[Arc<PodInfo>], name: &str) -> Option<usize> {
    selected
        .binary_search_by(|pod| pods::name(pod).cmp(name))
        .ok()
}

/// Whether a pod uses its node's network namespace (N9: policies do not apply to it).
pub fn host_network(pod: &PodInfo) -> bool {
    pod.host_network.unwrap_or(false)
}

/// The node's address a masqueraded packet carries (N10): its primary address of the family,
/// else any primary address.
pub fn node_address(nodes: &NodeTable, name: &str, family_of: IpAddr) -> Option<IpAddr> {
    let node = nodes.by_name(name)?;
    node.primary
        .iter()
        .copied()
        .find(|ip| ip.is_ipv4() == family_of.is_ipv4())
        .or_else(|| node.primary.first().copied())
}

/// Who opens a connection.
#[derive(Debug, Clone)]
pub enum Client<'a> {
    Pod(&'a PodInfo),
    /// A host process on this node.
    Node(&'a str),
    /// An outside client, with its address when known.
    External(Option<IpAddr>),
}

/// What N10 needs about the front door.
#[derive(Debug, Clone, Copy)]
pub struct DoorFacts<'a> {
    pub via: FrontDoor,
    /// Effective eTP (Cluster when unset); ignored for the cluster IP.
    pub external_policy: TrafficPolicy,
    /// The node whose rules handle the packet, when known.
    pub forwarding: Option<&'a str>,
    /// A load balancer in ipMode Proxy: its address.
    pub proxy_address: Option<IpAddr>,
}

/// The source as the destination's policies see it (N10).
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    Pod(&'a PodInfo),
    /// A node's own address: a host process, or a packet masqueraded by that node.
    Node {
        name: &'a str,
        address: Option<IpAddr>,
    },
    /// An address outside the cluster (a client whose address is kept, a load balancer).
    Address(IpAddr),
    /// An outside client whose address is not known.
    AnyExternal,
}

/// [`Seen`] for output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum SeenView {
    Pod {
        pod: Arc<str>,
    },
    Node {
        node: String,
        address: Option<IpAddr>,
    },
    Address {
        address: IpAddr,
    },
    External,
}

impl SeenView {
    pub fn of(seen: &Seen<'_>) -> Self {
        match seen {
            // `NS/*`: the unnamed "any pod of the namespace" source.
            Seen::Pod(pod) => Self::Pod {
                pod: match pods::name(pod) {
                    "" => format!("{}/*", pods::namespace(pod)),
                    name => format!("{}/{name}", pods::namespace(pod)),
                }
                .into(),
            },
            Seen::Node { name, address } => Self::Node {
                node: (*name).to_owned(),
                address: *address,
            },
            Seen::Address(address) => Self::Address { address: *address },
            Seen::AnyExternal => Self::External,
        }
    }
}

impl std::fmt::Display for SeenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pod { pod } => match pod.strip_suffix("/*") {
                Some(namespace) => write!(f, "a pod of namespace {namespace} without labels"),
                None => write!(f, "pod {pod}"),
            },
            Self::Node {
                node,
                address: Some(address),
            } => write!(f, "node {node} ({address})"),
            Self::Node {
                node,
                address: None,
            } => write!(f, "node {node}"),
            Self::Address { address } => write!(f, "address {address}"),
            Self::External => f.write_str("an outside client"),
        }
    }
}

/// Both ends of one connection (N8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    /// Who the destination's policies see as the source (N10).
    pub seen_as: SeenView,
    /// The source pod's egress policies (pods only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<Decision>,
    /// The destination pod's ingress policies.
    pub ingress: Decision,
    /// `true` allowed, `false` denied, `null` undecided.
    pub allowed: Option<bool>,
}
