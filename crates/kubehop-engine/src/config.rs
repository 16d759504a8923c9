//! Inputs that are not cluster objects: the cluster's DNS domain, the NodePort range, how
//! kube-proxy picks NodePort addresses, and feature gates.

use std::ops::RangeInclusive;

/// Which node addresses accept NodePort traffic (rule C3, rule V4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodePortAddresses {
    /// Only the node's primary address per IP family (`--nodeport-addresses=primary`, the nftables
    /// backend's default). The primary address is the first `InternalIP` of the family, else the
    /// first `ExternalIP`.
    #[default]
    Primary,
    /// Every `InternalIP` and `ExternalIP` of the node (the iptables backend with the flag unset).
    All,
}

/// How the engine reads a snapshot. `Default` matches a stock cluster with the nftables backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The cluster DNS domain (rules F3-F8), `cluster.local` by default.
    pub cluster_domain: String,
    /// The API server's `--service-node-port-range` (rule C4), 30000-32767 by default.
    pub node_port_range: RangeInclusive<u16>,
    /// Which node addresses accept NodePort traffic (rule C3).
    pub node_port_addresses: NodePortAddresses,
    /// The `PreferSameTrafficDistribution` feature gate: whether kube-proxy honours node hints
    /// (rule D5, rule V2). Off by default.
    pub prefer_same_node: bool,
}

/// The API server's default NodePort range (rule C4).
pub const DEFAULT_NODE_PORT_RANGE: RangeInclusive<u16> = 30000..=32767;

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".to_owned(),
            node_port_range: DEFAULT_NODE_PORT_RANGE,
            node_port_addresses: NodePortAddresses::default(),
            prefer_same_node: false,
        }
    }
}

impl EngineConfig {
    /// The cluster domain without a trailing dot, as used inside record names.
    pub fn domain(&self) -> &str {
        let domain = self.cluster_domain.trim_end_matches('.');
        if domain.is_empty() {
            "cluster.local"
        } else {
            domain
        }
    }
}
