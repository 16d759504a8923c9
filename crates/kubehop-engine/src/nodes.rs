//! The nodes as kube-proxy sees them: name, zone, and the addresses that accept NodePorts (C3).

use super::hash::FxHashMap as HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::config::NodePortAddresses;

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
        Some(Self {
            name: Arc::from(name),
            zone,
            primary,
            addresses,
            takes_pods: !cordoned && !repels,
        })
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

/// Every node, sorted by name, with lookups by name and by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTable {
    nodes: Vec<NodeInfo>,
    by_name: HashMap<Arc<str>, usize>,
    by_address: HashMap<IpAddr, usize>,
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
        }
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
