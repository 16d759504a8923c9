//! Routing: where does a connection to IP:port/protocol go, from this kind of client on this
//! node? Rules (c)-(e), with nftables semantics where the backends differ (rule V4).

use super::hash::FxHashMap as HashMap;
use std::net::IpAddr;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::cidr::Cidr;
use super::model::{
    AffinityConfig, NotProxied, PortChain, PortEndpoint, PortRef, Protocol, ProxyModel,
    ServiceChain, ServiceKey, ServicePortKey, TrafficPolicy,
};
use super::service::IpFamily;
use super::topology::{self, EndpointSet, TopologyOutcome};

/// Where a connection comes from. `node` is the node where the packet is first processed: the
/// client's node for pods and host processes, the receiving node for external clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrafficSource {
    /// A pod (in the pod network) running on `node`.
    Pod { node: String },
    /// A host-network process on `node`.
    Node { node: String },
    /// A client outside the cluster whose packet arrives at `node`.
    External { node: String },
}

impl TrafficSource {
    pub fn node(&self) -> &str {
        match self {
            Self::Pod { node } | Self::Node { node } | Self::External { node } => node,
        }
    }

    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Pod { .. } => SourceKind::Pod,
            Self::Node { .. } => SourceKind::Node,
            Self::External { .. } => SourceKind::External,
        }
    }
}

/// The kind of a traffic source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Pod,
    Node,
    External,
}

/// A routing question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteQuery {
    pub destination: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub source: TrafficSource,
    /// The client's address; matters for loadBalancerSourceRanges (C7) and affinity (E2).
    pub source_ip: Option<IpAddr>,
}

/// The front door a connection entered through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FrontDoor {
    #[serde(rename = "clusterIP")]
    ClusterIp,
    #[serde(rename = "nodePort")]
    NodePort,
    #[serde(rename = "loadBalancer")]
    LoadBalancer,
    #[serde(rename = "externalIP")]
    ExternalIp,
}

/// What happens to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Verdict {
    /// DNAT to one endpoint of [`RouteDecision::endpoints`].
    #[serde(rename = "forward")]
    Forward,
    /// Silently dropped: the client times out (C9, C7).
    #[serde(rename = "drop")]
    Drop,
    /// Rejected: the client sees "connection refused" at once (C9, C2).
    #[serde(rename = "reject")]
    Reject,
    /// No Service rule matches the destination.
    #[serde(rename = "no-service")]
    NoService,
}

/// `destination` in the JSON answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
}

/// `source` in the JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceView {
    pub kind: SourceKind,
    pub node: String,
}

/// `matched` in the JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedPort {
    pub namespace: String,
    pub service: String,
    /// The Service port's name, or its number when unnamed.
    pub port: PortRef,
    pub via: FrontDoor,
}

/// One eligible endpoint; serialises to the `route -o json` endpoint shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEndpoint(pub PortEndpoint);

impl RouteEndpoint {
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        self.0.socket_addr()
    }
}

impl Serialize for RouteEndpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let info = &self.0.info;
        let mut out = serializer.serialize_struct("RouteEndpoint", 8)?;
        out.serialize_field("pod", &info.pod)?;
        out.serialize_field("namespace", &info.namespace.as_deref())?;
        out.serialize_field("node", &info.node.as_deref())?;
        out.serialize_field("ip", &info.ip)?;
        out.serialize_field("port", &self.0.port)?;
        out.serialize_field("ready", &info.ready)?;
        out.serialize_field("serving", &info.serving)?;
        out.serialize_field("terminating", &info.terminating)?;
        out.end()
    }
}

/// Internal or external traffic policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyScope {
    /// `internalTrafficPolicy`, for ClusterIP traffic (D7).
    Internal,
    /// `externalTrafficPolicy`, for NodePort / LB / externalIP traffic (D8, D9).
    External,
}

/// The loadBalancerSourceRanges check (rule C7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceRangeCheck {
    /// No ranges are set: every source is allowed.
    NoRanges,
    /// The source address lies in this range.
    Allowed { range: String },
    /// The source is the LB IP itself and the node's own IP lies in a range.
    AllowedLoadBalancerSource,
    /// The source lies in no range: DROP (pods inside the cluster included).
    Denied { source: IpAddr },
    /// Ranges are set but the query has no source address; assumed allowed.
    NotEvaluated,
}

/// Structured reasons, in the order the decision was made, for the TUI to put into words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteReason {
    /// The destination matched this front door of the Service port.
    FrontDoor { via: FrontDoor },
    /// The nodePort was accepted on an address of this node (C3); `primary` per config.
    NodePortAddress { node: String, address: IpAddr },
    /// The rules of this node processed the packet (N in rule group (d)).
    ProcessedOn { node: String, known: bool },
    /// The traffic policy in effect.
    Policy {
        scope: PolicyScope,
        policy: TrafficPolicy,
    },
    /// D9: eTP Local, but a pod or the node itself is the source, so the cluster set is used.
    ExternalLocalShortCircuit { source: SourceKind },
    /// The set the endpoints came from (D2 / D3).
    EndpointSet(EndpointSet),
    /// No ready endpoint in the set: serving-and-terminating ones were used (D2 / D3).
    TerminatingFallback(EndpointSet),
    /// Topology hints (D5) for the cluster set.
    Topology(TopologyOutcome),
    /// C7 verdict, for VIP-mode LoadBalancer IPs only.
    SourceRanges(SourceRangeCheck),
    /// C10: whether the backend sees a node address instead of the client's.
    SourceNat { masquerade: bool },
    /// E1-E4: ClientIP affinity applies to the pick.
    SessionAffinity { timeout_seconds: u64 },
    /// REJECT: no usable endpoint anywhere (C9, D4 false).
    NoUsableEndpoints,
    /// DROP: usable endpoints exist, but none in the Local set of this node (C9, D4 true).
    NoLocalEndpoints { node: String },
    /// REJECT: a known ClusterIP on a port/protocol the Service does not declare (C2/V4, B8).
    UnknownPortOnClusterIp { other_protocols: Vec<Protocol> },
    /// The nodePort exists, but this node address does not accept NodePorts (C3, primary only).
    NodePortAddressNotSelected { node: String, address: IpAddr },
    /// The destination is an LB ingress IP in ipMode Proxy: no node rule (C5).
    LoadBalancerProxyMode,
    /// The destination belongs to a Service kube-proxy does not program (A13).
    NotProxied(NotProxied),
    /// The destination is a pod IP, reached directly without a Service.
    DestinationIsPod { namespace: String, pod: String },
    /// Nothing in the model owns the destination.
    NoRuleForDestination,
}

/// The answer to a [`RouteQuery`]; serialises to the `kubehop route -o json` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDecision {
    pub destination: Destination,
    pub source: SourceView,
    pub matched: Option<MatchedPort>,
    pub verdict: Verdict,
    pub endpoints: Vec<RouteEndpoint>,
    /// The Service's session affinity (E1); the picker applies it.
    #[serde(skip)]
    pub affinity: AffinityConfig,
    /// The matched Service port, the key for affinity (E2).
    #[serde(skip)]
    pub service_port: Option<ServicePortKey>,
    #[serde(skip)]
    pub reasons: Vec<RouteReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    service: u32,
    port: u32,
    via: FrontDoor,
}

/// Lookups from a Service's front doors to its ports, built once per model, and kept by an
/// incremental update that changes no front door ([`same_front_doors`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteIndex {
    /// ClusterIP, VIP-mode LB IPs and externalIPs (C2, C5, C6).
    vips: HashMap<(IpAddr, u16, Protocol), Target>,
    /// Every allocated ClusterIP, for V4's REJECT on undeclared ports.
    cluster_ips: HashMap<IpAddr, u32>,
    node_ports: HashMap<(u16, Protocol), Target>,
    proxy_mode: HashMap<(IpAddr, u16, Protocol), u32>,
    not_proxied: HashMap<IpAddr, (u32, NotProxied)>,
}

/// Endpoint addresses → (Service, endpoint) of the first Service listing each, for "no rule:
/// this is a pod" (built on the first such question: it changes with every endpoint).
pub(crate) type PodIpIndex = HashMap<IpAddr, (u32, u32)>;

/// Whether two chains of one Service claim the same front doors in the [`RouteIndex`]: what
/// a rebuilt chain must keep for the index to stay valid (endpoints do not matter to it).
pub(crate) fn same_front_doors(before: &ServiceChain, after: &ServiceChain) -> bool {
    before.details.not_proxied == after.details.not_proxied
        && before.cluster_ips == after.cluster_ips
        && before.details.external_ips == after.details.external_ips
        && before.ports.len() == after.ports.len()
        && before.ports.iter().zip(&after.ports).all(|(a, b)| {
            a.port == b.port
                && a.protocol == b.protocol
                && a.load_balancer == b.load_balancer
                && a.node_ports.port == b.node_ports.port
        })
}

fn index_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl RouteIndex {
    pub(crate) fn build(services: &[std::sync::Arc<ServiceChain>]) -> Self {
        let mut index = Self::default();
        // Sized up front: growing maps of this size rehashes every entry several times.
        let ports: usize = services.iter().map(|chain| chain.ports.len()).sum();
        index.vips.reserve(ports);
        index.cluster_ips.reserve(services.len());
        for (service_index, chain) in services.iter().enumerate() {
            let service = index_u32(service_index);
            if let Some(reason) = chain.details.not_proxied {
                index.add_not_proxied(chain, service, reason);
                continue;
            }
            for ip in &chain.cluster_ips {
                index.cluster_ips.entry(*ip).or_insert(service);
            }
            for (port_index, port) in chain.ports.iter().enumerate() {
                index.add_port(chain, service, index_u32(port_index), port);
            }
        }
        index
    }

    /// Every front-door address of a Service kube-proxy does not program, with the reason.
    fn add_not_proxied(&mut self, chain: &ServiceChain, service: u32, reason: NotProxied) {
        let doors = chain
            .cluster_ips
            .iter()
            .chain(chain.details.external_ips.iter())
            .copied()
            .chain(chain.ports.iter().flat_map(|port| {
                port.load_balancer
                    .iter()
                    .filter_map(|entry| entry.ip.as_deref()?.parse().ok())
            }));
        for ip in doors {
            self.not_proxied.entry(ip).or_insert((service, reason));
        }
    }

    /// The rules of one Service port: its ClusterIPs, VIP-mode LoadBalancer ingress IPs (a
    /// Proxy-mode one is only recorded), externalIPs and nodePort. The first Service to claim
    /// a destination keeps it.
    fn add_port(&mut self, chain: &ServiceChain, service: u32, port_index: u32, port: &PortChain) {
        let Ok(number) = u16::try_from(port.port) else {
            return;
        };
        let target = |via| Target {
            service,
            port: port_index,
            via,
        };
        for ip in &chain.cluster_ips {
            self.vips
                .entry((*ip, number, port.protocol))
                .or_insert(target(FrontDoor::ClusterIp));
        }
        for entry in &port.load_balancer {
            match entry.node_rules() {
                Some(ip) => {
                    self.vips
                        .entry((ip, number, port.protocol))
                        .or_insert(target(FrontDoor::LoadBalancer));
                }
                None => {
                    if let Some(ip) = entry.ip.as_deref().and_then(|ip| ip.parse().ok()) {
                        self.proxy_mode
                            .entry((ip, number, port.protocol))
                            .or_insert(service);
                    }
                }
            }
        }
        for ip in &chain.details.external_ips {
            self.vips
                .entry((*ip, number, port.protocol))
                .or_insert(target(FrontDoor::ExternalIp));
        }
        if let Some(node_port) = port.node_ports.port.and_then(|p| u16::try_from(p).ok()) {
            self.node_ports
                .entry((node_port, port.protocol))
                .or_insert(target(FrontDoor::NodePort));
        }
    }
}

impl ProxyModel {
    /// The route lookups, built from the chains on first use.
    fn route_index(&self) -> &RouteIndex {
        self.routes
            .get_or_init(|| std::sync::Arc::new(RouteIndex::build(&self.services)))
    }

    /// Endpoint addresses, built from the chains on first use.
    fn pod_ip_index(&self) -> &PodIpIndex {
        self.pod_ips.get_or_init(|| {
            let endpoints: usize = self
                .services
                .iter()
                .map(|chain| chain.details.endpoints.len())
                .sum();
            let mut index = PodIpIndex::default();
            index.reserve(endpoints);
            for (service_index, chain) in self.services.iter().enumerate() {
                for (endpoint_index, endpoint) in chain.details.endpoints.iter().enumerate() {
                    index
                        .entry(endpoint.ip)
                        .or_insert((index_u32(service_index), index_u32(endpoint_index)));
                }
            }
            index
        })
    }

    /// Answers a routing question the way kube-proxy (nftables backend) would.
    pub fn route(&self, query: &RouteQuery) -> RouteDecision {
        let mut decision = RouteDecision {
            destination: Destination {
                ip: query.destination,
                port: query.port,
                protocol: query.protocol,
            },
            source: SourceView {
                kind: query.source.kind(),
                node: query.source.node().to_owned(),
            },
            matched: None,
            verdict: Verdict::NoService,
            endpoints: Vec::new(),
            affinity: AffinityConfig::None,
            service_port: None,
            reasons: Vec::new(),
        };
        let key = (query.destination, query.port, query.protocol);
        if let Some(target) = self.route_index().vips.get(&key) {
            let node = query.source.node().to_owned();
            self.decide(query, *target, &node, &mut decision);
            return decision;
        }
        if let Some(target) = self
            .route_index()
            .node_ports
            .get(&(query.port, query.protocol))
            && let Some((_, owner)) = self.nodes.owner_of(query.destination)
        {
            self.route_node_port(query, *target, owner, &mut decision);
            return decision;
        }
        if let Some(service) = self.route_index().cluster_ips.get(&query.destination) {
            self.reject_unknown_port(query, *service, &mut decision);
            return decision;
        }
        decision.reasons.push(self.no_rule_reason(query, &key));
        decision
    }

    /// A nodePort on a node address: routed on that node when the address is one of its
    /// `--nodeport-addresses`, else not matched.
    fn route_node_port(
        &self,
        query: &RouteQuery,
        target: Target,
        owner: &super::nodes::NodeInfo,
        decision: &mut RouteDecision,
    ) {
        let accepted = owner
            .node_port_addresses(self.config.node_port_addresses)
            .any(|address| address == query.destination);
        if accepted {
            decision.reasons.push(RouteReason::NodePortAddress {
                node: owner.name.to_string(),
                address: query.destination,
            });
            let node = owner.name.to_string();
            self.decide(query, target, &node, decision);
        } else {
            decision
                .reasons
                .push(RouteReason::NodePortAddressNotSelected {
                    node: owner.name.to_string(),
                    address: query.destination,
                });
        }
    }

    /// C2 / V4 (nftables): a known ClusterIP on an undeclared port or protocol is rejected;
    /// B8: the same number with another protocol is a different port.
    fn reject_unknown_port(&self, query: &RouteQuery, service: u32, decision: &mut RouteDecision) {
        let other_protocols = self
            .services
            .get(service as usize)
            .map(|chain| {
                chain
                    .ports
                    .iter()
                    .filter(|port| {
                        port.port == i32::from(query.port) && port.protocol != query.protocol
                    })
                    .map(|port| port.protocol)
                    .collect()
            })
            .unwrap_or_default();
        decision.verdict = Verdict::Reject;
        decision
            .reasons
            .push(RouteReason::UnknownPortOnClusterIp { other_protocols });
    }

    /// Why no rule matched a destination: a Proxy-mode LoadBalancer, a Service kube-proxy
    /// skips, a pod IP, or nothing at all.
    fn no_rule_reason(&self, query: &RouteQuery, key: &(IpAddr, u16, Protocol)) -> RouteReason {
        if self.route_index().proxy_mode.contains_key(key) {
            RouteReason::LoadBalancerProxyMode
        } else if let Some((_, reason)) = self.route_index().not_proxied.get(&query.destination) {
            RouteReason::NotProxied(*reason)
        } else if let Some((service, endpoint)) = self.pod_ip_index().get(&query.destination)
            && let Some(info) = self
                .services
                .get(*service as usize)
                .and_then(|chain| chain.details.endpoints.get(*endpoint as usize))
            && let Some(pod) = &info.pod
        {
            RouteReason::DestinationIsPod {
                namespace: info.namespace.as_deref().unwrap_or_default().to_owned(),
                pod: pod.to_string(),
            }
        } else {
            RouteReason::NoRuleForDestination
        }
    }

    /// The decision for a matched front door, processed on `node`: source ranges (C7), the
    /// traffic policy and endpoint set, topology, then forward, drop or reject.
    fn decide(&self, query: &RouteQuery, target: Target, node: &str, decision: &mut RouteDecision) {
        let Some(chain) = self.services.get(target.service as usize) else {
            return;
        };
        let Some(port) = chain.ports.get(target.port as usize) else {
            return;
        };
        record_match(decision, chain, port, target.via);
        let node_info = self.nodes.by_name(node);
        decision.reasons.push(RouteReason::ProcessedOn {
            node: node.to_owned(),
            known: node_info.is_some(),
        });
        if target.via == FrontDoor::LoadBalancer {
            let check = source_range_check(chain, query, node_info);
            let denied = matches!(check, SourceRangeCheck::Denied { .. });
            decision.reasons.push(RouteReason::SourceRanges(check));
            if denied {
                decision.verdict = Verdict::Drop;
                return;
            }
        }
        let family = IpFamily::of(query.destination);
        let endpoints: Vec<&PortEndpoint> = port
            .endpoints
            .iter()
            .filter(|endpoint| IpFamily::of(endpoint.info.ip) == family)
            .collect();
        let (scope, policy) = traffic_policy(chain, target.via);
        decision.reasons.push(RouteReason::Policy { scope, policy });
        // Which source the node sees, relative to N (D9): a host process on another node is an
        // outside client for N.
        let source_kind = match &query.source {
            TrafficSource::Pod { .. } => SourceKind::Pod,
            TrafficSource::Node { node: source_node } if source_node == node => SourceKind::Node,
            _ => SourceKind::External,
        };
        let use_local = uses_local_endpoints(scope, policy, source_kind, decision);
        let masquerade = masquerades(scope, policy, use_local, source_kind);
        let selection = if use_local {
            decision
                .reasons
                .push(RouteReason::EndpointSet(EndpointSet::Local));
            topology::local_set(&endpoints, node)
        } else {
            decision
                .reasons
                .push(RouteReason::EndpointSet(EndpointSet::Cluster));
            let zone = node_info.and_then(|info| info.zone.as_deref());
            topology::cluster_set(&endpoints, node, zone, self.config.prefer_same_node)
        };
        if let Some(outcome) = &selection.topology {
            decision
                .reasons
                .push(RouteReason::Topology(outcome.clone()));
        }
        if selection.endpoints.is_empty() {
            no_endpoints(decision, &endpoints, use_local, node);
            return;
        }
        forward(decision, chain, selection, use_local, masquerade);
    }
}

/// Records which Service port matched, through which front door.
fn record_match(
    decision: &mut RouteDecision,
    chain: &ServiceChain,
    port: &PortChain,
    via: FrontDoor,
) {
    decision.matched = Some(MatchedPort {
        namespace: chain.namespace.clone(),
        service: chain.name.clone(),
        port: port.port_ref(),
        via,
    });
    decision.affinity = chain.details.affinity;
    decision.service_port = Some(ServicePortKey {
        service: ServiceKey {
            namespace: chain.namespace.clone(),
            name: chain.name.clone(),
        },
        port: port.port,
        protocol: port.protocol,
    });
    decision.reasons.push(RouteReason::FrontDoor { via });
}

/// The traffic policy that applies: internal for the ClusterIP, external for every other
/// front door (Cluster when unset).
fn traffic_policy(chain: &ServiceChain, via: FrontDoor) -> (PolicyScope, TrafficPolicy) {
    match via {
        FrontDoor::ClusterIp => (
            PolicyScope::Internal,
            chain
                .internal_traffic_policy
                .unwrap_or(TrafficPolicy::Cluster),
        ),
        _ => (
            PolicyScope::External,
            chain
                .external_traffic_policy
                .unwrap_or(TrafficPolicy::Cluster),
        ),
    }
}

/// Whether only the node's local endpoints serve: policy Local, except that external Local
/// short-circuits to the cluster set for pods and the node itself.
fn uses_local_endpoints(
    scope: PolicyScope,
    policy: TrafficPolicy,
    source_kind: SourceKind,
    decision: &mut RouteDecision,
) -> bool {
    match (scope, policy) {
        (_, TrafficPolicy::Cluster) => false,
        (PolicyScope::Internal, TrafficPolicy::Local) => true,
        (PolicyScope::External, TrafficPolicy::Local) => {
            if source_kind == SourceKind::External {
                true
            } else {
                decision
                    .reasons
                    .push(RouteReason::ExternalLocalShortCircuit {
                        source: source_kind,
                    });
                false
            }
        }
    }
}

/// C10: whether the node masquerades the client address.
fn masquerades(
    scope: PolicyScope,
    policy: TrafficPolicy,
    use_local: bool,
    source_kind: SourceKind,
) -> bool {
    match (scope, use_local, source_kind) {
        (PolicyScope::Internal, _, SourceKind::Pod) => false,
        (PolicyScope::Internal, _, _) => true,
        (PolicyScope::External, true, _) => false,
        (PolicyScope::External, false, SourceKind::Pod) => policy == TrafficPolicy::Cluster,
        (PolicyScope::External, false, _) => true,
    }
}

/// No endpoint in the chosen set: a drop when Local found none on this node but others
/// exist, else a reject.
fn no_endpoints(
    decision: &mut RouteDecision,
    endpoints: &[&PortEndpoint],
    use_local: bool,
    node: &str,
) {
    if use_local && topology::has_any_usable(endpoints) {
        decision.verdict = Verdict::Drop;
        decision.reasons.push(RouteReason::NoLocalEndpoints {
            node: node.to_owned(),
        });
    } else {
        decision.verdict = Verdict::Reject;
        decision.reasons.push(RouteReason::NoUsableEndpoints);
    }
}

/// Forwards to the selected endpoints, with the fallback, SNAT and affinity reasons.
fn forward(
    decision: &mut RouteDecision,
    chain: &ServiceChain,
    selection: topology::SetSelection<'_>,
    use_local: bool,
    masquerade: bool,
) {
    if selection.terminating_fallback {
        let set = if use_local {
            EndpointSet::Local
        } else {
            EndpointSet::Cluster
        };
        decision.reasons.push(RouteReason::TerminatingFallback(set));
    }
    decision.verdict = Verdict::Forward;
    decision.reasons.push(RouteReason::SourceNat { masquerade });
    if let AffinityConfig::ClientIp { timeout } = chain.details.affinity {
        decision.reasons.push(RouteReason::SessionAffinity {
            timeout_seconds: timeout.as_secs(),
        });
    }
    decision.endpoints = selection
        .endpoints
        .into_iter()
        .map(|endpoint| RouteEndpoint(endpoint.clone()))
        .collect();
}

/// Rule C7 for a VIP-mode LoadBalancer destination.
fn source_range_check(
    chain: &ServiceChain,
    query: &RouteQuery,
    node: Option<&super::nodes::NodeInfo>,
) -> SourceRangeCheck {
    let ranges: Vec<Cidr> = chain
        .details
        .load_balancer_source_ranges
        .iter()
        .filter_map(|range| Cidr::parse(range))
        .filter(|range| range.address.is_ipv4() == query.destination.is_ipv4())
        .collect();
    if ranges.is_empty() {
        return SourceRangeCheck::NoRanges;
    }
    let source = query.source_ip.or_else(|| match &query.source {
        TrafficSource::Node { .. } => node.and_then(|node| {
            node.primary
                .iter()
                .copied()
                .find(|ip| ip.is_ipv4() == query.destination.is_ipv4())
        }),
        _ => None,
    });
    let Some(source) = source else {
        return SourceRangeCheck::NotEvaluated;
    };
    if let Some(range) = ranges.iter().find(|range| range.contains(source)) {
        return SourceRangeCheck::Allowed {
            range: range.to_string(),
        };
    }
    let node_in_range = node.is_some_and(|node| {
        node.addresses
            .iter()
            .any(|address| ranges.iter().any(|range| range.contains(*address)))
    });
    if source == query.destination && node_in_range {
        return SourceRangeCheck::AllowedLoadBalancerSource;
    }
    SourceRangeCheck::Denied { source }
}

/// The port of a chain a Service-port key names (for callers holding a key).
pub fn find_port<'a>(model: &'a ProxyModel, key: &ServicePortKey) -> Option<&'a PortChain> {
    model
        .service(&key.service.namespace, &key.service.name)?
        .ports
        .iter()
        .find(|port| port.port == key.port && port.protocol == key.protocol)
}

/// Whether NodePort traffic is accepted on `address` under `config` (C3), for callers.
pub fn accepts_node_port(model: &ProxyModel, address: IpAddr) -> bool {
    model.nodes.owner_of(address).is_some_and(|(_, node)| {
        node.node_port_addresses(model.config.node_port_addresses)
            .any(|candidate| candidate == address)
    })
}
