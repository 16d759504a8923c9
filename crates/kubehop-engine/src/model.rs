//! The engine's output: every Service's chain of hops, its DNS records and its diagnostics.
//!
//! [`ProxyModel`] serialises (camelCase) to exactly the `kubehop chain -o json` shape of
//! docs/output.md. Data that only the TUI needs lives in `#[serde(skip)]` fields or accessors so the
//! JSON contract stays exact.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::objects::PodInfo;
use crate::objects::SliceInfo;
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::config::{EngineConfig, NodePortAddresses};
use super::diagnostics::Diagnostic;
use super::dns::DnsRecord;
use super::nodes::NodeTable;
use super::pods::Exclusion;
use super::ports::PortMapping;
use super::route::RouteIndex;

/// Transport protocol of a Service port (rule B1: TCP when omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// Parses the API spelling (`TCP`, `UDP`, `SCTP`); anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }

    /// Case-insensitive parse, for command lines (`tcp`, `udp`, `sctp`).
    pub fn parse_loose(value: &str) -> Option<Self> {
        Self::parse(&value.to_ascii_uppercase())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }

    /// The lowercase form used in SRV record names (`_http._tcp...`).
    pub fn srv_label(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `spec.type`; a missing type is ClusterIP (the API server's defaulting, rule G7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "ClusterIP" => Some(Self::ClusterIP),
            "NodePort" => Some(Self::NodePort),
            "LoadBalancer" => Some(Self::LoadBalancer),
            "ExternalName" => Some(Self::ExternalName),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
            Self::ExternalName => "ExternalName",
        }
    }
}

/// `externalTrafficPolicy` / `internalTrafficPolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TrafficPolicy {
    Cluster,
    Local,
}

impl TrafficPolicy {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "Cluster" => Some(Self::Cluster),
            "Local" => Some(Self::Local),
            _ => None,
        }
    }
}

/// `spec.sessionAffinity` (rule E1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub enum SessionAffinity {
    #[default]
    None,
    #[serde(rename = "ClientIP")]
    ClientIp,
}

/// The effective affinity of a Service: ClientIP carries its timeout (rule E1: 10800 s default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AffinityConfig {
    #[default]
    None,
    ClientIp {
        timeout: std::time::Duration,
    },
}

/// The default ClientIP affinity timeout (rule E1).
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u64 = 10_800;

/// `targetPort` as written (after rule B1's defaulting): a number or a container port name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(i32),
    Name(String),
}

impl fmt::Display for TargetPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// A reference to a Service port by name or number, as Ingress backends and `route` print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(i32),
    Name(String),
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// The identity of a Service (`namespace/name`), stable across snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The identity of one Service port (rule B8: port and protocol), used for ClientIP affinity
/// (rule E2: stickiness is kept per Service port).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortKey {
    pub service: ServiceKey,
    pub port: i32,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.service, self.port, self.protocol)
    }
}

/// A stable identity for one hop of a chain, for selections that survive snapshot updates.
/// Rendered as `namespace/name#<hop>` (for example `shop/web#80/TCP/nodePort/node-a/127.0.1.1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HopKey(pub String);

impl fmt::Display for HopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The whole engine output for one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyModel {
    /// Every Service, sorted by namespace then name. Each chain is shared, so that a model
    /// kept current by an incremental update copies pointers, not chains.
    pub services: Vec<Arc<ServiceChain>>,
    /// Diagnostics that belong to no Service of the snapshot (an Ingress whose backend Service
    /// does not exist). The Service list has no place for them; printers show them separately.
    #[serde(skip)]
    pub unattached_diagnostics: Vec<Diagnostic>,
    /// The namespace of the object each unattached diagnostic is about (same order).
    #[serde(skip)]
    pub(crate) unattached_namespaces: Vec<String>,
    #[serde(skip)]
    pub(crate) nodes: Arc<NodeTable>,
    /// Built on the first route query; an incremental update keeps it when no front door
    /// changed, else resets it.
    #[serde(skip)]
    pub(crate) routes: std::sync::OnceLock<Arc<RouteIndex>>,
    /// Built on the first route question about a pod address; reset by every update.
    #[serde(skip)]
    pub(crate) pod_ips: std::sync::OnceLock<crate::route::PodIpIndex>,
    #[serde(skip)]
    pub(crate) config: EngineConfig,
    /// The snapshot's NetworkPolicies (empty without any).
    #[serde(skip)]
    pub(crate) policies: Arc<super::netpol::PolicyIndex>,
}

impl ProxyModel {
    /// The Service with this namespace and name.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceChain> {
        self.services
            .binary_search_by(|chain| {
                (chain.namespace.as_str(), chain.name.as_str()).cmp(&(namespace, name))
            })
            .ok()
            .and_then(|index| self.services.get(index))
            .map(|chain| &**chain)
    }

    /// A copy that shares every chain and index with this one, without the route indexes
    /// (an incremental update decides whether the front doors' one still holds).
    pub(crate) fn sharing_copy(&self) -> Self {
        Self {
            services: self.services.clone(),
            unattached_diagnostics: self.unattached_diagnostics.clone(),
            unattached_namespaces: self.unattached_namespaces.clone(),
            nodes: self.nodes.clone(),
            routes: std::sync::OnceLock::new(),
            pod_ips: std::sync::OnceLock::new(),
            config: self.config.clone(),
            policies: self.policies.clone(),
        }
    }

    /// The snapshot's NetworkPolicies, indexed (rules N1-N10).
    pub fn policies(&self) -> &super::netpol::PolicyIndex {
        &self.policies
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Node names known to the model, sorted.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|node| node.name.as_ref())
    }

    /// The unattached diagnostics, each with the namespace of the object it is about (the
    /// Ingress), so printers can keep to a namespace scope.
    pub fn unattached_by_namespace(&self) -> impl Iterator<Item = (&str, &Diagnostic)> {
        self.unattached_namespaces
            .iter()
            .map(String::as_str)
            .zip(&self.unattached_diagnostics)
    }

    /// The node that owns an address (InternalIP or ExternalIP), if any.
    pub fn node_of_address(&self, address: IpAddr) -> Option<&str> {
        self.nodes
            .owner_of(address)
            .map(|(_, node)| node.name.as_ref())
    }

    /// Whether any Service (or an unattached finding) carries an error-level diagnostic.
    pub fn has_errors(&self) -> bool {
        self.services.iter().any(|chain| chain.has_errors())
            || self
                .unattached_diagnostics
                .iter()
                .any(|diagnostic| diagnostic.severity == super::diagnostics::Severity::Error)
    }
}

/// One Service and every hop a connection to it takes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceChain {
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub service_type: ServiceType,
    /// `clusterIP: None` (rule F1): no virtual IP, no proxying.
    pub headless: bool,
    /// The allocated cluster IPs (empty for headless and ExternalName Services).
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Vec<IpAddr>,
    pub external_name: Option<String>,
    /// `None` for a selectorless Service (an empty selector is stored as none by the API server).
    pub selector: Option<BTreeMap<String, String>>,
    /// Effective `externalTrafficPolicy` (defaulted to Cluster where it applies, rule G9).
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// Effective `internalTrafficPolicy` (defaulted to Cluster, rule G10).
    pub internal_traffic_policy: Option<TrafficPolicy>,
    pub session_affinity: SessionAffinity,
    /// True when the input had no EndpointSlices for this Service and the engine derived them
    /// from pods with the EndpointSlice controller's rules (rule groups (a) and (b)).
    pub endpoints_derived: bool,
    pub ingresses: Vec<IngressRef>,
    pub ports: Vec<PortChain>,
    pub dns: Vec<DnsRecord>,
    pub diagnostics: Vec<Diagnostic>,
    /// Present only when a NetworkPolicy isolates an endpoint pod for ingress (rules N1-N10),
    /// so chains of clusters without policies serialise as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<super::netpol::ChainPolicies>,
    /// Gateway API route rules that send to a port of the Service, one per Gateway listener
    /// they enter through (rules GW1-GW12). Present only when there is one, so chains of
    /// clusters without the Gateway API serialise as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateway_routes: Vec<super::gateway::GatewayRouteRef>,
    #[serde(skip)]
    pub details: ServiceDetails,
}

impl ServiceChain {
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|diagnostic| diagnostic.severity == super::diagnostics::Severity::Error)
    }

    /// The port map for every Service port (rules B3/B4): targetPort as written, and per
    /// selected pod the containerPort it resolves to, or why not (including pods that rule A3
    /// keeps out of the EndpointSlices).
    pub fn port_map(&self) -> Vec<PortMapping> {
        super::ports::port_map(self)
    }

    /// A stable key for a hop of this Service (see [`HopKey`]).
    pub fn hop_key(&self, hop: &Hop) -> HopKey {
        HopKey(format!("{}/{}#{hop}", self.namespace, self.name))
    }
}

/// One hop of a chain, for [`ServiceChain::hop_key`]. Ports are named by number and protocol
/// (rule B8), which survive renames of the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hop {
    Ingress {
        namespace: String,
        name: String,
        host: Option<String>,
        path: Option<String>,
    },
    /// A Gateway API route rule entered through a Gateway listener.
    GatewayRoute {
        /// `namespace/name` of the Gateway.
        gateway: String,
        listener: Option<String>,
        /// `Kind/namespace/name` of the route.
        route: String,
        rule: usize,
    },
    LoadBalancer {
        port: i32,
        protocol: Protocol,
        address: String,
    },
    NodePort {
        port: i32,
        protocol: Protocol,
        node: String,
        address: IpAddr,
    },
    ClusterIp {
        port: i32,
        protocol: Protocol,
    },
    EndpointSlice {
        name: String,
    },
    Endpoint {
        port: i32,
        protocol: Protocol,
        ip: IpAddr,
        target_port: i32,
    },
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ingress {
                namespace,
                name,
                host,
                path,
            } => write!(
                f,
                "ingress/{namespace}/{name}/{}{}",
                host.as_deref().unwrap_or("*"),
                path.as_deref().unwrap_or("(default)")
            ),
            Self::GatewayRoute {
                gateway,
                listener,
                route,
                rule,
            } => write!(
                f,
                "gateway/{gateway}/{}/{route}/{rule}",
                listener.as_deref().unwrap_or("*")
            ),
            Self::LoadBalancer {
                port,
                protocol,
                address,
            } => write!(f, "{port}/{protocol}/loadBalancer/{address}"),
            Self::NodePort {
                port,
                protocol,
                node,
                address,
            } => write!(f, "{port}/{protocol}/nodePort/{node}/{address}"),
            Self::ClusterIp { port, protocol } => write!(f, "{port}/{protocol}/clusterIP"),
            Self::EndpointSlice { name } => write!(f, "endpointslice/{name}"),
            Self::Endpoint {
                port,
                protocol,
                ip,
                target_port,
            } => write!(f, "{port}/{protocol}/endpoint/{ip}:{target_port}"),
        }
    }
}

/// What the TUI needs about a Service beyond the JSON contract.
#[derive(Debug, Clone, Default)]
pub struct ServiceDetails {
    /// The Service object as read.
    pub service: Option<Arc<Service>>,
    /// The EndpointSlices the endpoints were read from (derived ones when `endpointsDerived`).
    pub slices: Vec<Arc<SliceInfo>>,
    /// Pods in the Service's namespace that carry every selector label (rule A2), sorted by name.
    pub selected_pods: Vec<Arc<PodInfo>>,
    /// Selected pods the EndpointSlice controller leaves out, by pod name (rules A3/A7).
    pub excluded_pods: BTreeMap<String, Exclusion>,
    /// Every endpoint of every slice, deduplicated by address (headless Services without ports
    /// still have them, rule B6).
    pub endpoints: Vec<Arc<EndpointInfo>>,
    pub health_check_node_port: Option<i32>,
    pub external_ips: Vec<IpAddr>,
    /// `loadBalancerSourceRanges` as written (spaces trimmed).
    pub load_balancer_source_ranges: Vec<String>,
    pub affinity: AffinityConfig,
    pub traffic_distribution: Option<String>,
    pub publish_not_ready_addresses: bool,
    /// Not programmed by kube-proxy (rule A13: headless, ExternalName or another proxy's label).
    pub not_proxied: Option<NotProxied>,
}

/// Why kube-proxy programs nothing for a Service (rule A13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotProxied {
    Headless,
    ExternalName,
    /// The `service.kubernetes.io/service-proxy-name` label hands the Service to another proxy.
    OtherProxy,
}

/// An Ingress rule (or default backend) that sends traffic to the Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRef {
    pub namespace: String,
    pub name: String,
    /// `None` for a rule without host and for the default backend.
    pub host: Option<String>,
    /// `None` for the default backend.
    pub path: Option<String>,
    pub service_port: Option<PortRef>,
    /// True for `spec.defaultBackend`.
    #[serde(skip)]
    pub default_backend: bool,
}

/// One Service port (rule B8: identified by port and protocol) and its front doors.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortChain {
    pub name: Option<String>,
    pub protocol: Protocol,
    pub port: i32,
    /// As written, after defaulting (rule B1).
    pub target_port: TargetPort,
    pub node_port: Option<i32>,
    pub app_protocol: Option<String>,
    pub load_balancer: Vec<LoadBalancerEntry>,
    pub node_ports: NodePortRows,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<ClusterIpHop>,
    pub endpoints: Vec<PortEndpoint>,
}

impl PortChain {
    /// How a `route` answer and Ingress backends name this port.
    pub fn port_ref(&self) -> PortRef {
        match &self.name {
            Some(name) if !name.is_empty() => PortRef::Name(name.clone()),
            _ => PortRef::Number(self.port),
        }
    }

    /// The name kube-proxy joins slices on (rule B5): the port name, `""` when unnamed.
    pub fn join_name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// `ipMode` of a LoadBalancer ingress (rule C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IpMode {
    /// Node rules are installed for the IP (unset means VIP).
    VIP,
    /// The load balancer proxies; no node rule, traffic reaches nodePorts or pods.
    Proxy,
}

/// One `status.loadBalancer.ingress` entry for a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Effective mode for IP entries (unset means VIP); `None` for hostname-only entries.
    pub ip_mode: Option<IpMode>,
    pub port: i32,
}

impl LoadBalancerEntry {
    /// Whether nodes install rules for this entry (rule C5): a parseable IP in VIP mode.
    pub fn node_rules(&self) -> Option<IpAddr> {
        match self.ip_mode {
            Some(IpMode::VIP) => self.ip.as_deref().and_then(|ip| ip.parse().ok()),
            _ => None,
        }
    }
}

/// `clusterIP: {ip, port}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClusterIpHop {
    pub ip: IpAddr,
    pub port: i32,
}

/// Which local-endpoint rule decides whether a node forwards external traffic (C9/D9/D12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeAcceptance {
    /// eTP Cluster: every node forwards while any usable endpoint exists (D8).
    #[default]
    AnyUsableEndpoint,
    /// eTP Local: a node forwards only to its own usable endpoints (D9).
    LocalEndpointsOnly,
}

/// One NodePort row: a node address that accepts the nodePort (rule C3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePortRow {
    pub node: String,
    pub address: IpAddr,
    pub port: i32,
    /// Usable endpoints on this node (rule D3: ready, else serving-and-terminating).
    pub local_endpoints: u32,
    /// External traffic arriving here is forwarded rather than dropped or rejected.
    pub accepts: bool,
    /// For LoadBalancer + eTP Local: the healthCheckNodePort answers 200 (rule C8: at least one
    /// local endpoint that is ready; terminating ones do not count).
    #[serde(skip)]
    pub health_check_passes: Option<bool>,
    /// Why this node's answer is in doubt (rules K1, K2): NotReady, its proxy unhealthy or
    /// missing, cordoned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_issue: Option<crate::node_proxy::NodeIssue>,
}

/// The per-node NodePort rows of a port, produced on demand from the shared node table so that a
/// model with thousands of NodePort Services on hundreds of nodes stays small.
#[derive(Debug, Clone, Default)]
pub struct NodePortRows {
    pub(crate) nodes: Arc<NodeTable>,
    pub(crate) port: Option<i32>,
    pub(crate) addresses: NodePortAddresses,
    pub(crate) acceptance: NodeAcceptance,
    /// Whether any usable endpoint exists anywhere (rule D4).
    pub(crate) any_usable: bool,
    /// Sorted by node index: (node index, local usable count, local ready count).
    pub(crate) local: Vec<(u32, u32, u32)>,
    pub(crate) health_checked: bool,
}

impl NodePortRows {
    /// Which nodes accept external traffic: any node (eTP Cluster) or only nodes with a local
    /// endpoint (eTP Local).
    pub fn acceptance(&self) -> NodeAcceptance {
        self.acceptance
    }

    /// Whether any usable endpoint exists anywhere (rule D4).
    pub fn any_usable(&self) -> bool {
        self.any_usable
    }

    /// The node a row belongs to (its pod ranges, proxy, condition: rules K1-K3).
    pub fn node(&self, name: &str) -> Option<&super::nodes::NodeInfo> {
        self.nodes.by_name(name)
    }

    /// The rows, node by node (sorted by node name), one per accepting address.
    pub fn rows(&self) -> impl Iterator<Item = NodePortRow> + '_ {
        let port = self.port;
        port.into_iter().flat_map(move |port| {
            self.nodes
                .iter()
                .enumerate()
                .flat_map(move |(index, node)| {
                    let (usable, ready) = self.local_counts(index);
                    let accepts = match self.acceptance {
                        NodeAcceptance::AnyUsableEndpoint => self.any_usable,
                        NodeAcceptance::LocalEndpointsOnly => usable > 0,
                    };
                    let health = self.health_checked.then_some(ready > 0);
                    node.node_port_addresses(self.addresses)
                        .map(move |address| NodePortRow {
                            node: node.name.to_string(),
                            address,
                            port,
                            local_endpoints: usable,
                            accepts,
                            health_check_passes: health,
                            node_issue: node.issue.clone(),
                        })
                })
        })
    }

    /// (usable, ready) local endpoint counts for a node index.
    pub(crate) fn local_counts(&self, node_index: usize) -> (u32, u32) {
        let key = u32::try_from(node_index).unwrap_or(u32::MAX);
        match self.local.binary_search_by_key(&key, |entry| entry.0) {
            Ok(found) => self
                .local
                .get(found)
                .map_or((0, 0), |entry| (entry.1, entry.2)),
            Err(_) => (0, 0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows().next().is_none()
    }
}

impl Serialize for NodePortRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for row in self.rows() {
            seq.serialize_element(&row)?;
        }
        seq.end()
    }
}

/// One endpoint as kube-proxy reads it from an EndpointSlice (rule A12), shared by every
/// Service port it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// From `targetRef` when it names a Pod.
    pub pod: Option<Arc<str>>,
    pub namespace: Option<Arc<str>>,
    pub node: Option<Arc<str>>,
    pub zone: Option<Arc<str>>,
    pub hostname: Option<String>,
    /// The first address (rule A12: only the first is used).
    pub ip: IpAddr,
    /// Absent means true (rule A12).
    pub ready: bool,
    /// Absent means true (rule A12).
    pub serving: bool,
    /// Absent means false (rule A12).
    pub terminating: bool,
    /// `hints.forZones` (rules D5/D6).
    pub zone_hints: Option<Vec<String>>,
    /// `hints.forNodes` (rules D5/D6).
    pub node_hints: Option<Vec<String>>,
    /// The slice this endpoint was read from.
    pub slice: Arc<str>,
}

impl EndpointInfo {
    /// "Usable" in rule group (d): ready, or serving-and-terminating as a fallback.
    pub fn serving_terminating(&self) -> bool {
        !self.ready && self.serving && self.terminating
    }
}

/// An endpoint of one Service port: the shared endpoint plus the number it receives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEndpoint {
    pub info: Arc<EndpointInfo>,
    /// The number this endpoint receives on (the resolved targetPort, rule B7).
    pub port: i32,
}

impl PortEndpoint {
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        u16::try_from(self.port)
            .ok()
            .map(|port| std::net::SocketAddr::new(self.info.ip, port))
    }
}

impl Serialize for PortEndpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let info = &self.info;
        let mut out = serializer.serialize_struct("PortEndpoint", 10)?;
        out.serialize_field("pod", &info.pod)?;
        out.serialize_field("namespace", &info.namespace.as_deref())?;
        out.serialize_field("node", &info.node.as_deref())?;
        out.serialize_field("zone", &info.zone.as_deref())?;
        out.serialize_field("hostname", &info.hostname)?;
        out.serialize_field("ip", &info.ip)?;
        out.serialize_field("port", &self.port)?;
        out.serialize_field("ready", &info.ready)?;
        out.serialize_field("serving", &info.serving)?;
        out.serialize_field("terminating", &info.terminating)?;
        out.end()
    }
}
