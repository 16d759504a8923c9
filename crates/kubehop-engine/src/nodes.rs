//! The nodes as kube-proxy sees them: name, zone, and the addresses that accept NodePorts (C3).

use super::hash::FxHashMap as HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::cidr::Cidr;
use super::config::NodePortAddresses;
use super::node_proxy::{self, NodeIssue, ProxyState};

/// The well-known zone label (rules A5, D5).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: Arc<str>,
    /// `topology.kubernetes.io/zone`, when set and non-empty.
    pub zone: Option<Arc<str>>,
    /// The primary address per family (first InternalIP, else first ExternalIP; rule C3).
    pub primary: Vec<IpAddr>,
    /// Every InternalIP and ExternalIP, deduplicated, in status order.
    pub addresses: Vec<IpAddr>,
    /// Takes ordinary pods: not cordoned (`spec.unschedulable`) and without a NoSchedule or
    /// NoExecute taint (a control-plane node's). Only pods that tolerate the taint run there.
    pub takes_pods: bool,
    /// The Ready condition's reason when it is False or Unknown (rule K1); `None` when ready
    /// or when the node reports no Ready condition.
    pub not_ready: Option<String>,
    /// `spec.unschedulable` (rule K1).
    pub cordoned: bool,
    /// `spec.podCIDRs` (else `spec.podCIDR`), parsed (rule K3).
    pub pod_cidrs: Vec<Cidr>,
    /// The ExternalIP addresses (rule K4).
    pub external: Vec<IpAddr>,
    /// The node's service proxy (rule K2); `Unknown` until [`NodeTable::with_pods`].
    pub proxy: ProxyState,
    /// Whether a proxy DaemonSet is expected to run here (not Windows, not virtual; K2).
    pub proxy_expected: bool,
    /// What puts the node's NodePort answers in doubt, worst first (rules K1, K2).
    pub issue: Option<NodeIssue>,
}

impl NodeInfo {
    pub fn from_node(node: &Node) -> Option<Self> {
        let name = node
            .metadata
            .name
            .as_deref()
            .filter(|name| !name.is_empty())?;
        let zone = node
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(ZONE_LABEL))
            .filter(|zone| !zone.is_empty())
            .map(|zone| Arc::from(zone.as_str()));
        let status_addresses = node
            .status
            .as_ref()
            .and_then(|status| status.addresses.as_deref())
            .unwrap_or_default();
        fn parsed<'n>(
            addresses: &'n [k8s_openapi::api::core::v1::NodeAddress],
            kind: &'n str,
        ) -> impl Iterator<Item = IpAddr> + 'n {
            addresses
                .iter()
                .filter(move |address| address.type_ == kind)
                .filter_map(|address| address.address.trim().parse::<IpAddr>().ok())
        }
        let mut addresses: Vec<IpAddr> = Vec::new();
        for address in
            parsed(status_addresses, "InternalIP").chain(parsed(status_addresses, "ExternalIP"))
        {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        let mut primary = Vec::new();
        for family_is_v4 in [true, false] {
            if let Some(first) = addresses
                .iter()
                .find(|address| address.is_ipv4() == family_is_v4)
            {
                primary.push(*first);
            }
        }
        let spec = node.spec.as_ref();
        let cordoned = spec.and_then(|spec| spec.unschedulable).unwrap_or(false);
        let repels = spec
            .and_then(|spec| spec.taints.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"));
        let external = parsed(status_addresses, "ExternalIP").collect();
        let mut info = Self {
            name: Arc::from(name),
            zone,
            primary,
            addresses,
            takes_pods: !cordoned && !repels,
            not_ready: node_proxy::readiness(node).and_then(Result::err),
            cordoned,
            pod_cidrs: node_proxy::pod_cidrs(node),
            external,
            proxy: ProxyState::Unknown,
            proxy_expected: node_proxy::proxy_expected(node),
            issue: None,
        };
        info.issue = info.compute_issue();
        Some(info)
    }

    /// Rules K1, K2: the worst reason to doubt the node's NodePort answers.
    fn compute_issue(&self) -> Option<NodeIssue> {
        if let Some(reason) = &self.not_ready {
            return Some(NodeIssue::NotReady(reason.clone()));
        }
        match &self.proxy {
            ProxyState::Pod(pod) if !pod.ready => {
                return Some(NodeIssue::ProxyNotReady {
                    kind: pod.kind,
                    pod: pod.name.clone(),
                    reason: pod.reason.clone().unwrap_or_default(),
                });
            }
            ProxyState::Missing(kind) if self.proxy_expected => {
                return Some(NodeIssue::ProxyMissing(*kind));
            }
            _ => {}
        }
        self.cordoned.then_some(NodeIssue::Cordoned)
    }

    /// The pod range of this node that holds `ip`, if any.
    pub fn pod_range_of(&self, ip: IpAddr) -> Option<Cidr> {
        self.pod_cidrs
            .iter()
            .copied()
            .find(|cidr| cidr.contains(ip))
    }

    /// Whether the node has a pod range of `ip`'s family.
    pub fn has_pod_range_for(&self, ip: IpAddr) -> bool {
        self.pod_cidrs
            .iter()
            .any(|cidr| cidr.address.is_ipv4() == ip.is_ipv4())
    }

    /// The addresses that accept NodePort traffic under the configuration (rule C3).
    pub fn node_port_addresses(
        &self,
        config: NodePortAddresses,
    ) -> impl Iterator<Item = IpAddr> + '_ {
        match config {
            NodePortAddresses::Primary => self.primary.iter().copied(),
            NodePortAddresses::All => self.addresses.iter().copied(),
        }
    }
}

/// Rule K3's count of pod addresses inside and outside their node's pod range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RangeCounts {
    pub inside: usize,
    pub outside: usize,
}

impl RangeCounts {
    pub fn add(&mut self, other: RangeCounts) {
        self.inside += other.inside;
        self.outside += other.outside;
    }

    pub fn remove(&mut self, other: RangeCounts) {
        self.inside = self.inside.saturating_sub(other.inside);
        self.outside = self.outside.saturating_sub(other.outside);
    }

    /// Whether pods follow the ranges: at least three inside, and twice as many inside as
    /// outside.
    pub fn followed(self) -> bool {
        self.inside >= 3 && self.inside >= 2 * self.outside
    }
}

/// Every node, sorted by name, with lookups by name and by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTable {
    nodes: Vec<NodeInfo>,
    by_name: HashMap<Arc<str>, usize>,
    by_address: HashMap<IpAddr, usize>,
    /// Rule K3: the pods of the cluster live in their node's pod range (see
    /// [`NodeTable::with_pods`]); only then is an endpoint outside its node's range a finding.
    ranges_followed: bool,
}

impl NodeTable {
    pub fn new<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        let mut infos: Vec<NodeInfo> = nodes.into_iter().filter_map(NodeInfo::from_node).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos.dedup_by(|a, b| a.name == b.name);
        let by_name = infos
            .iter()
            .enumerate()
            .map(|(index, node)| (node.name.clone(), index))
            .collect();
        let mut by_address = HashMap::default();
        for (index, node) in infos.iter().enumerate() {
            for address in &node.addresses {
                by_address.entry(*address).or_insert(index);
            }
        }
        Self {
            nodes: infos,
            by_name,
            by_address,
            ranges_followed: false,
        }
    }

    /// The table with what the pods say about the nodes: each node's proxy (rule K2) and
    /// whether pod IPs follow the nodes' pod ranges (rule K3: at least three pod-network pods
    /// inside their node's range, and at least twice as many inside as outside; a CNI with its
    /// own address management, such as Calico IPAM or Cilium's cluster pool, ignores podCIDR).
    pub fn with_pods(mut self, pods: &[Arc<crate::objects::PodInfo>]) -> Self {
        let (kind, mut by_node) = node_proxy::proxies(pods);
        if let Some(kind) = kind {
            for node in &mut self.nodes {
                node.proxy = match by_node.remove(node.name.as_ref()) {
                    Some(pod) => ProxyState::Pod(pod),
                    None => ProxyState::Missing(kind),
                };
                node.issue = node.compute_issue();
            }
        }
        let mut counts = RangeCounts::default();
        for pod in pods {
            counts.add(self.range_counts(pod));
        }
        self.ranges_followed = counts.followed();
        self
    }

    /// Rule K3: how many of the pod's addresses lie inside and outside its node's pod range
    /// (host-network pods, pods on unknown nodes and families without a range do not count).
    pub(crate) fn range_counts(&self, pod: &crate::objects::PodInfo) -> RangeCounts {
        let mut counts = RangeCounts::default();
        if crate::netpol::host_network(pod) {
            return counts;
        }
        let Some(node) = crate::pods::node_name(pod).and_then(|name| self.by_name(name)) else {
            return counts;
        };
        for ip in crate::pods::ips(pod) {
            if !node.has_pod_range_for(ip) {
                continue;
            }
            if node.pod_range_of(ip).is_some() {
                counts.inside += 1;
            } else {
                counts.outside += 1;
            }
        }
        counts
    }

    /// Rule K3: whether pod IPs follow the nodes' pod ranges (see [`NodeTable::with_pods`]).
    pub fn ranges_followed(&self) -> bool {
        self.ranges_followed
    }

    /// The node whose pod range holds `ip`, with the range (rule K3).
    pub fn pod_range_owner(&self, ip: IpAddr) -> Option<(&NodeInfo, Cidr)> {
        self.nodes
            .iter()
            .find_map(|node| node.pod_range_of(ip).map(|cidr| (node, cidr)))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, NodeInfo> {
        self.nodes.iter()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, index: usize) -> Option<&NodeInfo> {
        self.nodes.get(index)
    }

    pub fn by_name(&self, name: &str) -> Option<&NodeInfo> {
        self.index_of(name).and_then(|index| self.nodes.get(index))
    }

    /// The node that owns an address, if any.
    pub fn owner_of(&self, address: IpAddr) -> Option<(usize, &NodeInfo)> {
        let index = *self.by_address.get(&address)?;
        self.nodes.get(index).map(|node| (index, node))
    }

    /// The shared name of a node, so endpoints do not each allocate it.
    pub fn shared_name(&self, name: &str) -> Option<Arc<str>> {
        self.by_name(name).map(|node| node.name.clone())
    }
}
