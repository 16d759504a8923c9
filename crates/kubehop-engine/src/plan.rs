//! Probe plans: for one Service, every hop worth a real connection and what the engine predicts
//! for it (kdash's `prepare_*` idea: a pure value, carried out elsewhere by the probe).
//!
//! One [`ProbeHop`] per thing to try, in the order a connection meets them, per Service port:
//! Ingress rules (an HTTP request with the rule's Host and path to the Ingress's
//! `status.loadBalancer` address), LoadBalancer ingress IPs/hostnames, every node
//! address:nodePort (an external client arriving at that node), the ClusterIP, and every
//! endpoint (pod IP:resolved targetPort). Each hop carries the [`HopKey`] the TUI's chain tree
//! uses, the [`Expectation`] taken from [`ProxyModel::route`] (forward to these endpoints /
//! drop / reject), and for endpoints the pod's other declared containerPorts to try when the
//! targetPort refuses (rule M5).
//!
//! Only TCP ports are planned (a UDP or SCTP port cannot be checked with a TCP connection; a
//! note says so). Addresses come only from the cluster's own objects.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;

use super::model::{
    Hop, HopKey, IngressRef, PortChain, PortEndpoint, PortRef, Protocol, ProxyModel, ServiceChain,
    ServiceKey, ServiceType, TargetPort,
};
use super::route::{RouteDecision, RouteQuery, TrafficSource, Verdict};
use super::snapshot::ClusterSnapshot;

/// Which Service ports to probe: the `:PORT` of `SERVICE[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PortSelector {
    #[default]
    All,
    /// A Service port number (`port`, not targetPort or nodePort).
    Number(i32),
    /// A Service port name.
    Name(String),
}

impl PortSelector {
    /// `80` is a number, anything else a port name; empty means every port.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return PortSelector::All;
        }
        match text.parse::<i32>() {
            Ok(number) => PortSelector::Number(number),
            Err(_) => PortSelector::Name(text.to_owned()),
        }
    }

    fn matches(&self, port: &PortChain) -> bool {
        match self {
            PortSelector::All => true,
            PortSelector::Number(number) => port.port == *number,
            PortSelector::Name(name) => port.name.as_deref() == Some(name.as_str()),
        }
    }
}

impl fmt::Display for PortSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSelector::All => f.write_str("every port"),
            PortSelector::Number(number) => write!(f, "port {number}"),
            PortSelector::Name(name) => write!(f, "port {name:?}"),
        }
    }
}

/// Which kind of hop (`--via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum HopKind {
    #[serde(rename = "ingress")]
    Ingress,
    #[serde(rename = "loadBalancer")]
    LoadBalancer,
    #[serde(rename = "nodePort")]
    NodePort,
    #[serde(rename = "clusterIP")]
    ClusterIp,
    #[serde(rename = "endpoint")]
    Endpoint,
}

impl HopKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HopKind::Ingress => "ingress",
            HopKind::LoadBalancer => "loadBalancer",
            HopKind::NodePort => "nodePort",
            HopKind::ClusterIp => "clusterIP",
            HopKind::Endpoint => "endpoint",
        }
    }
}

/// Which hops to plan (`--via endpoints|clusterip|nodeport|lb|ingress|all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Via {
    Endpoints,
    ClusterIp,
    NodePort,
    LoadBalancer,
    Ingress,
    #[default]
    All,
}

impl Via {
    pub fn includes(self, kind: HopKind) -> bool {
        match self {
            Via::All => true,
            Via::Endpoints => kind == HopKind::Endpoint,
            Via::ClusterIp => kind == HopKind::ClusterIp,
            Via::NodePort => kind == HopKind::NodePort,
            Via::LoadBalancer => kind == HopKind::LoadBalancer,
            Via::Ingress => kind == HopKind::Ingress,
        }
    }
}

/// An address an Ingress controller published in the Ingress's `status.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum IngressAddress {
    Ip(IpAddr),
    Hostname(String),
}

/// What the plan needs beyond the model: Ingress addresses (the model keeps Ingress rules, not
/// their status) and where ClusterIP connections are assumed to come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanContext {
    /// `status.loadBalancer.ingress` of each Ingress, by (namespace, name).
    pub ingress_addresses: BTreeMap<(String, String), Vec<IngressAddress>>,
    /// The client of ClusterIP hops; default: a host process on the first node by name (what
    /// matters only for internalTrafficPolicy Local, rule D7).
    pub cluster_ip_client: Option<TrafficSource>,
}

impl PlanContext {
    /// Ingress addresses from the snapshot's Ingress objects.
    pub fn from_snapshot(snapshot: &ClusterSnapshot) -> Self {
        PlanContext {
            ingress_addresses: ingress_addresses(snapshot.ingresses.iter().map(AsRef::as_ref)),
            cluster_ip_client: None,
        }
    }
}

/// `status.loadBalancer.ingress` of each Ingress, by (namespace, name).
pub fn ingress_addresses<'a>(
    ingresses: impl IntoIterator<Item = &'a Ingress>,
) -> BTreeMap<(String, String), Vec<IngressAddress>> {
    let mut out = BTreeMap::new();
    for ingress in ingresses {
        let namespace = ingress
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = ingress.metadata.name.clone().unwrap_or_default();
        let entries = ingress
            .status
            .as_ref()
            .and_then(|status| status.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_deref())
            .unwrap_or_default();
        let mut addresses = Vec::new();
        for entry in entries {
            if let Some(ip) = entry.ip.as_deref().and_then(|ip| ip.trim().parse().ok()) {
                addresses.push(IngressAddress::Ip(ip));
            } else if let Some(host) = entry.hostname.as_deref().filter(|h| !h.is_empty()) {
                addresses.push(IngressAddress::Hostname(host.to_owned()));
            }
        }
        out.insert((namespace, name), addresses);
    }
    out
}

/// Where a hop's connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProbeTarget {
    /// A pod's port: reached through a port-forward via the API server, or directly.
    Pod {
        namespace: String,
        pod: String,
        ip: IpAddr,
        port: u16,
    },
    /// An IP address and port (ClusterIP, node address, LoadBalancer IP, an endpoint without a
    /// pod).
    Address { ip: IpAddr, port: u16 },
    /// A DNS name and port (a LoadBalancer or Ingress hostname).
    Hostname { host: String, port: u16 },
    /// Nothing to connect to; the reason says why (an Ingress without an address).
    Unaddressed { reason: String },
}

impl ProbeTarget {
    /// `127.0.0.5:8080`, `lb.example.com:80`, `shop/web-1 (127.0.0.5:8080)`.
    pub fn describe(&self) -> String {
        match self {
            ProbeTarget::Pod {
                namespace,
                pod,
                ip,
                port,
            } => format!("{namespace}/{pod} ({})", socket_text(*ip, *port)),
            ProbeTarget::Address { ip, port } => socket_text(*ip, *port),
            ProbeTarget::Hostname { host, port } => format!("{host}:{port}"),
            ProbeTarget::Unaddressed { reason } => format!("no address: {reason}"),
        }
    }

    /// The port connected to, when there is one.
    pub fn port(&self) -> Option<u16> {
        match self {
            ProbeTarget::Pod { port, .. }
            | ProbeTarget::Address { port, .. }
            | ProbeTarget::Hostname { port, .. } => Some(*port),
            ProbeTarget::Unaddressed { .. } => None,
        }
    }
}

/// `ip:port`, with brackets for IPv6.
pub fn socket_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// One endpoint the engine says may receive the connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ExpectedEndpoint {
    pub pod: Option<String>,
    pub node: Option<String>,
    pub ip: IpAddr,
    pub port: i32,
}

impl ExpectedEndpoint {
    fn of(endpoint: &PortEndpoint) -> Self {
        ExpectedEndpoint {
            pod: endpoint.info.pod.clone(),
            node: endpoint.info.node.as_deref().map(str::to_owned),
            ip: endpoint.info.ip,
            port: endpoint.port,
        }
    }
}

/// What the engine predicts for a hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Expectation {
    /// The connection reaches one of these endpoints (kube-proxy forwards; for an endpoint hop,
    /// the pod itself should accept).
    Connect {
        endpoints: Vec<ExpectedEndpoint>,
        reason: String,
    },
    /// DROP: the client sees silence and times out (rule C9).
    Drop { reason: String },
    /// REJECT: the client is refused at once (rule C9).
    Reject { reason: String },
    /// An Ingress whose backend has no usable endpoint: the controller answers 503 (or refuses).
    NoBackend { reason: String },
    /// No rule decides this hop (an endpoint that is not ready: kube-proxy sends nothing there,
    /// but a direct connection may still be answered). Any outcome is informational.
    Unrouted { reason: String },
}

impl Expectation {
    pub fn reason(&self) -> &str {
        match self {
            Expectation::Connect { reason, .. }
            | Expectation::Drop { reason }
            | Expectation::Reject { reason }
            | Expectation::NoBackend { reason }
            | Expectation::Unrouted { reason } => reason,
        }
    }

    /// One word, as in JSON: `connect`, `drop`, `reject`, `noBackend`, `unrouted`.
    pub fn verdict(&self) -> &'static str {
        match self {
            Expectation::Connect { .. } => "connect",
            Expectation::Drop { .. } => "drop",
            Expectation::Reject { .. } => "reject",
            Expectation::NoBackend { .. } => "noBackend",
            Expectation::Unrouted { .. } => "unrouted",
        }
    }
}

/// The one HTTP/1.1 request a hop gets when its port looks like HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpRequest {
    /// The Host header (`None`: the target address).
    pub host: Option<String>,
    pub path: String,
    /// HTTPS: a TLS handshake first (appProtocol `https`/`wss`, a port name `https...`).
    pub tls: bool,
    /// Why this hop speaks HTTP (`appProtocol http`, `port name "http"`, `Ingress rule`).
    pub because: String,
}

/// Another port of an endpoint's pod to try when its targetPort refuses (the fix suggestion).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FallbackPort {
    pub port: u16,
    pub name: Option<String>,
    pub container: Option<String>,
    /// False for the Service's own `port` number, tried although no container declares it.
    pub declared: bool,
}

/// The Service port a hop belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanPort {
    pub name: Option<String>,
    pub port: i32,
    pub protocol: Protocol,
    pub target_port: TargetPort,
}

impl PlanPort {
    /// `80/TCP "http"`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => format!("{}/{} {name:?}", self.port, self.protocol),
            _ => format!("{}/{}", self.port, self.protocol),
        }
    }
}

/// One thing to try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeHop {
    /// The chain tree's key for this hop.
    #[serde(serialize_with = "serialize_display")]
    pub key: HopKey,
    #[serde(skip)]
    pub hop: Hop,
    pub kind: HopKind,
    /// Which node the hop is about (NodePort rows).
    pub node: Option<String>,
    pub port: PlanPort,
    pub target: ProbeTarget,
    pub expected: Expectation,
    /// Set when the port looks like HTTP (a runtime `--http PATH` can add or override it).
    pub http: Option<HttpRequest>,
    /// Endpoint hops: ports to try when the targetPort refuses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<FallbackPort>,
    /// Changes whenever the target or the expectation changes (results for an older value are
    /// stale).
    #[serde(skip)]
    pub fingerprint: u64,
}

impl ProbeHop {
    /// What the hop is, in a few words: `ClusterIP 127.0.0.10:80`, `NodePort node-2
    /// 127.0.1.2:30080`, `endpoint web-1 127.0.2.5:8080`, `Ingress shop/web example.com/`.
    pub fn label(&self) -> String {
        match &self.hop {
            Hop::Ingress {
                namespace,
                name,
                host,
                path,
            } => {
                let rule = match (host, path) {
                    (_, None) => "default backend".to_owned(),
                    (Some(host), Some(path)) => format!("{host}{path}"),
                    (None, Some(path)) => format!("*{path}"),
                };
                format!("Ingress {namespace}/{name} {rule}")
            }
            Hop::LoadBalancer { address, port, .. } => match address.parse::<IpAddr>() {
                Ok(ip) => format!(
                    "LoadBalancer {}",
                    socket_text(ip, u16::try_from(*port).unwrap_or_default())
                ),
                Err(_) => format!("LoadBalancer {address}:{port}"),
            },
            Hop::NodePort { node, address, .. } => format!(
                "NodePort {node} {}",
                socket_text(*address, self.target.port().unwrap_or_default())
            ),
            Hop::ClusterIp { .. } => match &self.target {
                ProbeTarget::Address { ip, port } => {
                    format!("ClusterIP {}", socket_text(*ip, *port))
                }
                other => format!("ClusterIP {}", other.describe()),
            },
            Hop::EndpointSlice { name } => format!("EndpointSlice {name}"),
            Hop::Endpoint {
                ip, target_port, ..
            } => {
                let address = socket_text(*ip, u16::try_from(*target_port).unwrap_or_default());
                match &self.target {
                    ProbeTarget::Pod { pod, .. } => format!("endpoint {pod} {address}"),
                    _ => format!("endpoint {address}"),
                }
            }
        }
    }
}

/// Every hop of one Service to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbePlan {
    #[serde(skip)]
    pub service: ServiceKey,
    pub hops: Vec<ProbeHop>,
    /// What was left out and why (UDP ports, a headless Service's missing ClusterIP, ...).
    pub notes: Vec<String>,
}

impl ProbePlan {
    pub fn hop(&self, key: &HopKey) -> Option<&ProbeHop> {
        self.hops.iter().find(|hop| &hop.key == key)
    }

    /// The plan narrowed to one hop (the TUI's `p`). Empty when the key is not in the plan.
    pub fn only(mut self, key: &HopKey) -> Self {
        self.hops.retain(|hop| &hop.key == key);
        self
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no Service {service}")]
    ServiceNotFound { service: ServiceKey },
    #[error("Service {service} has no {selector} (it has {available})")]
    PortNotFound {
        service: ServiceKey,
        selector: PortSelector,
        available: String,
    },
}

/// The plan for `service` with the default [`PlanContext`] (no Ingress addresses).
pub fn probe_plan(
    model: &ProxyModel,
    service: &ServiceKey,
    ports: &PortSelector,
    via: Via,
) -> Result<ProbePlan, PlanError> {
    probe_plan_with(model, service, ports, via, &PlanContext::default())
}

/// The plan for `service`: see the module documentation.
pub fn probe_plan_with(
    model: &ProxyModel,
    service: &ServiceKey,
    ports: &PortSelector,
    via: Via,
    context: &PlanContext,
) -> Result<ProbePlan, PlanError> {
    let chain = model
        .service(&service.namespace, &service.name)
        .ok_or_else(|| PlanError::ServiceNotFound {
            service: service.clone(),
        })?;
    let selected: Vec<&PortChain> = chain
        .ports
        .iter()
        .filter(|port| ports.matches(port))
        .collect();
    if selected.is_empty() && *ports != PortSelector::All {
        let available: Vec<String> = chain.ports.iter().map(port_words).collect();
        return Err(PlanError::PortNotFound {
            service: service.clone(),
            selector: ports.clone(),
            available: if available.is_empty() {
                "no ports".to_owned()
            } else {
                available.join(", ")
            },
        });
    }
    let mut plan = ProbePlan {
        service: service.clone(),
        hops: Vec::new(),
        notes: Vec::new(),
    };
    if chain.service_type == ServiceType::ExternalName {
        plan.notes.push(format!(
            "ExternalName: {} is a DNS alias (CNAME); nothing is proxied, so there is nothing to probe",
            chain.external_name.as_deref().unwrap_or("?")
        ));
        return Ok(plan);
    }
    if chain.ports.is_empty() {
        plan.notes
            .push("the Service declares no ports: nothing to connect to".to_owned());
    }
    let planner = Planner {
        model,
        chain,
        context,
    };
    for port in selected {
        if port.protocol != Protocol::Tcp {
            plan.notes.push(format!(
                "port {}: {} is not probed (only TCP connections can be checked)",
                port_words(port),
                port.protocol
            ));
            continue;
        }
        planner.port_hops(port, via, &mut plan);
    }
    for hop in &mut plan.hops {
        hop.fingerprint = fingerprint(hop);
    }
    Ok(plan)
}

fn port_words(port: &PortChain) -> String {
    match &port.name {
        Some(name) if !name.is_empty() => format!("{}/{} ({name})", port.port, port.protocol),
        _ => format!("{}/{}", port.port, port.protocol),
    }
}

fn fingerprint(hop: &ProbeHop) -> u64 {
    let mut hasher = DefaultHasher::new();
    hop.key.hash(&mut hasher);
    hop.target.hash(&mut hasher);
    hop.expected.hash(&mut hasher);
    hop.http.hash(&mut hasher);
    hop.fallbacks.hash(&mut hasher);
    hasher.finish()
}

struct Planner<'a> {
    model: &'a ProxyModel,
    chain: &'a ServiceChain,
    context: &'a PlanContext,
}

impl Planner<'_> {
    fn plan_port(port: &PortChain) -> PlanPort {
        PlanPort {
            name: port.name.clone(),
            port: port.port,
            protocol: port.protocol,
            target_port: port.target_port.clone(),
        }
    }

    fn hop(
        &self,
        hop: Hop,
        kind: HopKind,
        port: &PortChain,
        target: ProbeTarget,
        expected: Expectation,
    ) -> ProbeHop {
        ProbeHop {
            key: self.chain.hop_key(&hop),
            hop,
            kind,
            node: None,
            port: Self::plan_port(port),
            target,
            expected,
            http: http_for_port(port),
            fallbacks: Vec::new(),
            fingerprint: 0,
        }
    }

    fn port_hops(&self, port: &PortChain, via: Via, plan: &mut ProbePlan) {
        let chain = self.chain;
        let not_proxied = chain.details.not_proxied.is_some();
        if via.includes(HopKind::Ingress) {
            self.ingress_hops(port, plan);
        }
        if via.includes(HopKind::LoadBalancer) && chain.service_type == ServiceType::LoadBalancer {
            if port.load_balancer.is_empty() {
                plan.notes.push(format!(
                    "port {}: the LoadBalancer is pending (no ingress in status): no address to probe",
                    port_words(port)
                ));
            }
            for entry in &port.load_balancer {
                let (address, target) = match (&entry.ip, &entry.hostname) {
                    (Some(ip), _) => match ip.trim().parse::<IpAddr>() {
                        Ok(parsed) => (
                            ip.clone(),
                            ProbeTarget::Address {
                                ip: parsed,
                                port: u16::try_from(entry.port).unwrap_or_default(),
                            },
                        ),
                        Err(_) => (
                            ip.clone(),
                            ProbeTarget::Unaddressed {
                                reason: format!("{ip:?} is not an IP address"),
                            },
                        ),
                    },
                    (None, Some(host)) => (
                        host.clone(),
                        ProbeTarget::Hostname {
                            host: host.clone(),
                            port: u16::try_from(entry.port).unwrap_or_default(),
                        },
                    ),
                    (None, None) => continue,
                };
                let expected = self.load_balancer_expectation(port, entry.node_rules());
                plan.hops.push(self.hop(
                    Hop::LoadBalancer {
                        port: port.port,
                        protocol: port.protocol,
                        address,
                    },
                    HopKind::LoadBalancer,
                    port,
                    target,
                    expected,
                ));
            }
        }
        if via.includes(HopKind::NodePort) && port.node_port.is_some() {
            let rows: Vec<_> = port.node_ports.rows().collect();
            if rows.is_empty() {
                plan.notes.push(format!(
                    "port {}: nodePort {} has no node address to probe (no node known)",
                    port_words(port),
                    port.node_port.unwrap_or_default()
                ));
            }
            for row in rows {
                let Ok(number) = u16::try_from(row.port) else {
                    continue;
                };
                let decision = self.model.route(&RouteQuery {
                    destination: row.address,
                    port: number,
                    protocol: port.protocol,
                    source: TrafficSource::External {
                        node: row.node.clone(),
                    },
                    source_ip: None,
                });
                let expected = expectation_from(&decision, &format!("on {}", row.node));
                let mut hop = self.hop(
                    Hop::NodePort {
                        port: port.port,
                        protocol: port.protocol,
                        node: row.node.clone(),
                        address: row.address,
                    },
                    HopKind::NodePort,
                    port,
                    ProbeTarget::Address {
                        ip: row.address,
                        port: number,
                    },
                    expected,
                );
                hop.node = Some(row.node.clone());
                plan.hops.push(hop);
            }
        }
        if via.includes(HopKind::ClusterIp) {
            match (port.cluster_ip, not_proxied) {
                (Some(cluster_ip), false) => {
                    if let Ok(number) = u16::try_from(cluster_ip.port) {
                        let source = self.context.cluster_ip_client.clone().unwrap_or_else(|| {
                            TrafficSource::Node {
                                node: self.model.node_names().next().unwrap_or("").to_owned(),
                            }
                        });
                        let client = match &source {
                            TrafficSource::Pod { node } => format!("from a pod on {node}"),
                            TrafficSource::Node { node } if node.is_empty() => {
                                "from a host process".to_owned()
                            }
                            TrafficSource::Node { node } => {
                                format!("from a host process on {node}")
                            }
                            TrafficSource::External { node } => {
                                format!("from outside, arriving at {node}")
                            }
                        };
                        let decision = self.model.route(&RouteQuery {
                            destination: cluster_ip.ip,
                            port: number,
                            protocol: port.protocol,
                            source,
                            source_ip: None,
                        });
                        let expected = expectation_from(&decision, &client);
                        plan.hops.push(self.hop(
                            Hop::ClusterIp {
                                port: port.port,
                                protocol: port.protocol,
                            },
                            HopKind::ClusterIp,
                            port,
                            ProbeTarget::Address {
                                ip: cluster_ip.ip,
                                port: number,
                            },
                            expected,
                        ));
                    }
                }
                _ if chain.headless => plan.notes.push(format!(
                    "port {}: headless (clusterIP None): no virtual IP to probe; clients connect to the endpoints directly",
                    port_words(port)
                )),
                (Some(_), true) => plan.notes.push(format!(
                    "port {}: kube-proxy does not program this Service (another proxy owns it): the ClusterIP is not probed",
                    port_words(port)
                )),
                (None, _) => {}
            }
        }
        if via.includes(HopKind::Endpoint) {
            if port.endpoints.is_empty() {
                plan.notes
                    .push(format!("port {}: no endpoints to probe", port_words(port)));
            }
            for endpoint in &port.endpoints {
                plan.hops.push(self.endpoint_hop(port, endpoint));
            }
        }
    }

    fn endpoint_hop(&self, port: &PortChain, endpoint: &PortEndpoint) -> ProbeHop {
        let info = &endpoint.info;
        let number = u16::try_from(endpoint.port).unwrap_or_default();
        let target = match (&info.pod, &info.namespace) {
            (Some(pod), Some(namespace)) => ProbeTarget::Pod {
                namespace: namespace.to_string(),
                pod: pod.clone(),
                ip: info.ip,
                port: number,
            },
            _ => ProbeTarget::Address {
                ip: info.ip,
                port: number,
            },
        };
        let who = info
            .pod
            .clone()
            .unwrap_or_else(|| format!("endpoint {}", info.ip));
        let expected = if info.ready || info.serving {
            let state = match (info.ready, info.terminating) {
                (true, false) => "ready",
                (true, true) => "ready and terminating",
                _ => "serving and terminating",
            };
            Expectation::Connect {
                endpoints: vec![ExpectedEndpoint::of(endpoint)],
                reason: format!(
                    "{who} is {state}: its app should accept on {}",
                    endpoint.port
                ),
            }
        } else {
            Expectation::Unrouted {
                reason: format!(
                    "{who} is not ready: kube-proxy sends it no traffic; a direct connection may still be answered"
                ),
            }
        };
        let mut hop = self.hop(
            Hop::Endpoint {
                port: port.port,
                protocol: port.protocol,
                ip: info.ip,
                target_port: endpoint.port,
            },
            HopKind::Endpoint,
            port,
            target,
            expected,
        );
        hop.node = info.node.as_deref().map(str::to_owned);
        let declared = self.declared_ports(info.pod.as_deref(), port.protocol);
        if hop.http.is_none()
            && let Some((_, name, _)) = declared
                .iter()
                .find(|(number, _, _)| *number == endpoint.port)
            && let Some(name) = name
            && looks_like_http_name(name)
        {
            hop.http = Some(HttpRequest {
                host: None,
                path: "/".to_owned(),
                tls: looks_like_tls_name(name),
                because: format!("containerPort name {name:?}"),
            });
        }
        let mut fallbacks: Vec<FallbackPort> = Vec::new();
        for (number, name, container) in declared {
            if number == endpoint.port {
                continue;
            }
            let Ok(number) = u16::try_from(number) else {
                continue;
            };
            if fallbacks.iter().any(|fallback| fallback.port == number) {
                continue;
            }
            fallbacks.push(FallbackPort {
                port: number,
                name,
                container: Some(container),
                declared: true,
            });
        }
        if port.port != endpoint.port
            && let Ok(number) = u16::try_from(port.port)
            && !fallbacks.iter().any(|fallback| fallback.port == number)
            && info.pod.is_some()
        {
            fallbacks.push(FallbackPort {
                port: number,
                name: None,
                container: None,
                declared: false,
            });
        }
        hop.fallbacks = fallbacks;
        hop
    }

    /// The TCP-compatible ports a pod declares: (containerPort, name, container).
    fn declared_ports(
        &self,
        pod: Option<&str>,
        protocol: Protocol,
    ) -> Vec<(i32, Option<String>, String)> {
        let Some(pod) = pod else {
            return Vec::new();
        };
        let Some(object) = self
            .chain
            .details
            .selected_pods
            .iter()
            .find(|candidate| candidate.metadata.name.as_deref() == Some(pod))
        else {
            return Vec::new();
        };
        let Some(spec) = object.spec.as_ref() else {
            return Vec::new();
        };
        let sidecars = spec
            .init_containers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|container| container.restart_policy.as_deref() == Some("Always"));
        spec.containers
            .iter()
            .chain(sidecars)
            .flat_map(|container| {
                container
                    .ports
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .filter(move |declared| {
                        let declared_protocol = declared
                            .protocol
                            .as_deref()
                            .filter(|value| !value.is_empty())
                            .and_then(Protocol::parse)
                            .unwrap_or(Protocol::Tcp);
                        declared_protocol == protocol
                    })
                    .map(move |declared| {
                        (
                            declared.container_port,
                            declared.name.clone(),
                            container.name.clone(),
                        )
                    })
            })
            .collect()
    }

    /// A LoadBalancer entry: with node rules (VIP mode), the external client arrives at one of
    /// the nodes the load balancer sends to; without (ipMode Proxy, hostname), the load
    /// balancer forwards to nodePorts itself (rule C5). Either way the union over those nodes.
    fn load_balancer_expectation(&self, port: &PortChain, vip: Option<IpAddr>) -> Expectation {
        let rows: Vec<_> = port.node_ports.rows().collect();
        // Nodes a load balancer sends to: health check passing (eTP Local, rules C8/D12).
        let mut nodes: Vec<(String, Option<IpAddr>)> = Vec::new();
        for row in &rows {
            if row.health_check_passes == Some(false) {
                continue;
            }
            if !nodes.iter().any(|(node, _)| node == &row.node) {
                nodes.push((row.node.clone(), Some(row.address)));
            }
        }
        let health_checked = rows.iter().any(|row| row.health_check_passes.is_some());
        if nodes.is_empty() && !health_checked {
            nodes = self
                .model
                .node_names()
                .map(|node| (node.to_owned(), None))
                .collect();
        }
        let mut decisions = Vec::new();
        match vip {
            Some(ip) => {
                let Ok(number) = u16::try_from(port.port) else {
                    return unrouted("the port number is out of range");
                };
                for (node, _) in &nodes {
                    decisions.push(self.model.route(&RouteQuery {
                        destination: ip,
                        port: number,
                        protocol: port.protocol,
                        source: TrafficSource::External { node: node.clone() },
                        source_ip: None,
                    }));
                }
            }
            None => {
                let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()) else {
                    return unrouted(
                        "the load balancer proxies without nodePorts (allocateLoadBalancerNodePorts: false): kube-proxy has no rule for it",
                    );
                };
                for (node, address) in &nodes {
                    let Some(address) = address else {
                        continue;
                    };
                    decisions.push(self.model.route(&RouteQuery {
                        destination: *address,
                        port: node_port,
                        protocol: port.protocol,
                        source: TrafficSource::External { node: node.clone() },
                        source_ip: None,
                    }));
                }
            }
        }
        if decisions.is_empty() {
            if health_checked {
                return Expectation::Drop {
                    reason: "no node passes the health check (externalTrafficPolicy Local, no local ready endpoint): the load balancer has nowhere to send".to_owned(),
                };
            }
            return unrouted("no node is known: where the load balancer sends cannot be told");
        }
        let via = if vip.is_some() {
            "through the nodes"
        } else {
            "through the nodePorts (the load balancer proxies)"
        };
        let forwarding: Vec<&RouteDecision> = decisions
            .iter()
            .filter(|decision| decision.verdict == Verdict::Forward)
            .collect();
        if !forwarding.is_empty() {
            let mut endpoints: Vec<ExpectedEndpoint> = forwarding
                .iter()
                .flat_map(|decision| decision.endpoints.iter())
                .map(|endpoint| ExpectedEndpoint::of(&endpoint.0))
                .collect();
            endpoints.sort();
            endpoints.dedup();
            let nodes_text = if health_checked {
                format!(
                    " (only nodes whose health check passes: {})",
                    nodes
                        .iter()
                        .map(|(node, _)| node.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            return Expectation::Connect {
                reason: format!(
                    "forwarded {via} to {}{nodes_text}",
                    endpoint_count(endpoints.len())
                ),
                endpoints,
            };
        }
        if decisions
            .iter()
            .any(|decision| decision.verdict == Verdict::Drop)
        {
            return Expectation::Drop {
                reason: format!("dropped {via}: no node has a local usable endpoint"),
            };
        }
        Expectation::Reject {
            reason: "rejected: no usable endpoint anywhere".to_owned(),
        }
    }

    fn ingress_hops(&self, port: &PortChain, plan: &mut ProbePlan) {
        for reference in &self.chain.ingresses {
            if !ingress_targets(reference, port) {
                continue;
            }
            let hop = Hop::Ingress {
                namespace: reference.namespace.clone(),
                name: reference.name.clone(),
                host: reference.host.clone(),
                path: reference.path.clone(),
            };
            let addresses = self
                .context
                .ingress_addresses
                .get(&(reference.namespace.clone(), reference.name.clone()));
            let target = match addresses.and_then(|addresses| addresses.first()) {
                Some(IngressAddress::Ip(ip)) => ProbeTarget::Address { ip: *ip, port: 80 },
                Some(IngressAddress::Hostname(host)) => ProbeTarget::Hostname {
                    host: host.clone(),
                    port: 80,
                },
                None => ProbeTarget::Unaddressed {
                    reason: format!(
                        "Ingress {}/{} has no address in status.loadBalancer (no ingress controller has admitted it)",
                        reference.namespace, reference.name
                    ),
                },
            };
            let usable: Vec<&PortEndpoint> = {
                let ready: Vec<&PortEndpoint> = port
                    .endpoints
                    .iter()
                    .filter(|endpoint| endpoint.info.ready)
                    .collect();
                if ready.is_empty() {
                    port.endpoints
                        .iter()
                        .filter(|endpoint| endpoint.info.serving_terminating())
                        .collect()
                } else {
                    ready
                }
            };
            let expected = if usable.is_empty() {
                Expectation::NoBackend {
                    reason: format!(
                        "Service port {} has no usable endpoint: the ingress controller has nowhere to send (503)",
                        port_words(port)
                    ),
                }
            } else {
                Expectation::Connect {
                    endpoints: usable.iter().map(|e| ExpectedEndpoint::of(e)).collect(),
                    reason: format!(
                        "the ingress controller sends to Service port {}: {}",
                        port_words(port),
                        endpoint_count(usable.len())
                    ),
                }
            };
            let mut probe_hop = self.hop(hop, HopKind::Ingress, port, target, expected);
            probe_hop.http = Some(HttpRequest {
                host: reference.host.clone(),
                path: reference.path.clone().unwrap_or_else(|| "/".to_owned()),
                tls: false,
                because: "Ingress rule".to_owned(),
            });
            plan.hops.push(probe_hop);
        }
    }
}

fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn unrouted(reason: &str) -> Expectation {
    Expectation::Unrouted {
        reason: reason.to_owned(),
    }
}

fn endpoint_count(count: usize) -> String {
    if count == 1 {
        "1 endpoint".to_owned()
    } else {
        format!("{count} endpoints")
    }
}

/// Whether an Ingress rule sends to this Service port (by number or by name).
fn ingress_targets(reference: &IngressRef, port: &PortChain) -> bool {
    match &reference.service_port {
        Some(PortRef::Number(number)) => port.port == *number,
        Some(PortRef::Name(name)) => port.name.as_deref() == Some(name.as_str()),
        None => false,
    }
}

/// The expectation for a front door from the engine's routing decision.
fn expectation_from(decision: &RouteDecision, client: &str) -> Expectation {
    use super::route::RouteReason;
    match decision.verdict {
        Verdict::Forward => {
            let endpoints: Vec<ExpectedEndpoint> = decision
                .endpoints
                .iter()
                .map(|endpoint| ExpectedEndpoint::of(&endpoint.0))
                .collect();
            let fallback = decision
                .reasons
                .iter()
                .any(|reason| matches!(reason, RouteReason::TerminatingFallback(_)));
            let local = decision.reasons.iter().any(|reason| {
                matches!(
                    reason,
                    RouteReason::EndpointSet(super::topology::EndpointSet::Local)
                )
            });
            let mut reason = format!("{client}: forwarded to {}", endpoint_count(endpoints.len()));
            if local {
                reason.push_str(" on this node (traffic policy Local)");
            }
            if fallback {
                reason.push_str(" (serving-terminating: no ready endpoint)");
            }
            Expectation::Connect { endpoints, reason }
        }
        Verdict::Drop => {
            let why = decision.reasons.iter().find_map(|reason| match reason {
                RouteReason::NoLocalEndpoints { node } => Some(format!(
                    "{node} has no local usable endpoint and the traffic policy is Local"
                )),
                RouteReason::SourceRanges(super::route::SourceRangeCheck::Denied { source }) => {
                    Some(format!("{source} is outside loadBalancerSourceRanges"))
                }
                _ => None,
            });
            Expectation::Drop {
                reason: format!(
                    "{client}: dropped ({})",
                    why.unwrap_or_else(|| "kube-proxy drops it".to_owned())
                ),
            }
        }
        Verdict::Reject => {
            let why = decision.reasons.iter().find_map(|reason| match reason {
                RouteReason::NoUsableEndpoints => Some("no usable endpoint anywhere".to_owned()),
                RouteReason::UnknownPortOnClusterIp { .. } => {
                    Some("the ClusterIP does not serve this port".to_owned())
                }
                _ => None,
            });
            Expectation::Reject {
                reason: format!(
                    "{client}: rejected ({})",
                    why.unwrap_or_else(|| "kube-proxy rejects it".to_owned())
                ),
            }
        }
        Verdict::NoService => {
            let why = decision.reasons.iter().find_map(|reason| match reason {
                RouteReason::NodePortAddressNotSelected { node, address } => Some(format!(
                    "{address} of {node} does not accept NodePorts (nodePortAddresses)"
                )),
                _ => None,
            });
            Expectation::Unrouted {
                reason: format!(
                    "{client}: no kube-proxy rule matches ({})",
                    why.unwrap_or_else(|| "nothing owns the address".to_owned())
                ),
            }
        }
    }
}

/// Whether a port name says HTTP (`http`, `http-metrics`, `web`, `webhook`...).
pub fn looks_like_http_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("http") || name.starts_with("web")
}

/// Whether an appProtocol says HTTP (`http`, `https`, `h2c`, `kubernetes.io/h2c`,
/// `kubernetes.io/ws`...).
pub fn looks_like_http_protocol(app_protocol: &str) -> bool {
    let value = app_protocol.to_ascii_lowercase();
    let bare = value.strip_prefix("kubernetes.io/").unwrap_or(&value);
    matches!(
        bare,
        "http" | "https" | "h2c" | "ws" | "wss" | "http2" | "grpc-web"
    )
}

/// Whether an appProtocol says TLS (`https`, `wss`, `kubernetes.io/wss`).
pub fn looks_like_tls_protocol(app_protocol: &str) -> bool {
    let value = app_protocol.to_ascii_lowercase();
    let bare = value.strip_prefix("kubernetes.io/").unwrap_or(&value);
    matches!(bare, "https" | "wss")
}

/// Whether a port name says HTTPS (`https`, `https-web`).
pub fn looks_like_tls_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("https")
}

/// The HTTP request a Service port gets, from its appProtocol or name.
fn http_for_port(port: &PortChain) -> Option<HttpRequest> {
    if let Some(app) = &port.app_protocol
        && looks_like_http_protocol(app)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_protocol(app),
            because: format!("appProtocol {app}"),
        });
    }
    if let Some(name) = &port.name
        && looks_like_http_name(name)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_name(name),
            because: format!("port name {name:?}"),
        });
    }
    if let TargetPort::Name(name) = &port.target_port
        && looks_like_http_name(name)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_name(name),
            because: format!("targetPort name {name:?}"),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineConfig, build};
    use rstest::rstest;

    fn demo() -> ProxyModel {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/scenarios/demo-all.yaml"
        );
        let load = crate::dump::load_paths(&[path.into()]).expect("the demo loads");
        build(&load.snapshot, &EngineConfig::default())
    }

    fn demo_context() -> PlanContext {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/scenarios/demo-all.yaml"
        );
        let load = crate::dump::load_paths(&[path.into()]).expect("the demo loads");
        PlanContext::from_snapshot(&load.snapshot)
    }

    fn key(namespace: &str, name: &str) -> ServiceKey {
        ServiceKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn summary(plan: &ProbePlan) -> Vec<String> {
        plan.hops
            .iter()
            .map(|hop| {
                format!(
                    "{} {} -> {}",
                    hop.kind.as_str(),
                    hop.target.describe(),
                    hop.expected.verdict()
                )
            })
            .collect()
    }

    #[rstest]
    #[case("80", PortSelector::Number(80))]
    #[case("http", PortSelector::Name("http".into()))]
    #[case("", PortSelector::All)]
    fn port_selectors_parse(#[case] text: &str, #[case] expected: PortSelector) {
        assert_eq!(PortSelector::parse(text), expected);
    }

    #[test]
    fn healthy_service_plans_every_hop_with_forward_expectations() {
        let model = demo();
        let plan = probe_plan_with(
            &model,
            &key("shop", "web"),
            &PortSelector::All,
            Via::All,
            &demo_context(),
        )
        .expect("plan");
        let kinds: Vec<HopKind> = plan.hops.iter().map(|hop| hop.kind).collect();
        assert_eq!(
            kinds,
            [
                HopKind::Ingress,
                HopKind::Ingress,
                HopKind::ClusterIp,
                HopKind::Endpoint,
                HopKind::Endpoint,
                HopKind::Endpoint
            ]
        );
        for hop in &plan.hops {
            assert!(
                matches!(hop.expected, Expectation::Connect { .. }),
                "{hop:?}"
            );
            assert!(hop.http.is_some(), "port name http makes every hop HTTP");
        }
        let cluster_ip = &plan.hops[2];
        let Expectation::Connect { endpoints, .. } = &cluster_ip.expected else {
            unreachable!("checked above");
        };
        assert_eq!(endpoints.len(), 3);
        // Keys are the chain tree's.
        let chain = model.service("shop", "web").expect("web");
        assert_eq!(
            cluster_ip.key,
            chain.hop_key(&Hop::ClusterIp {
                port: 80,
                protocol: Protocol::Tcp
            })
        );
    }

    #[test]
    fn local_policy_drops_on_nodes_without_local_endpoints() {
        let model = demo();
        let plan = probe_plan(
            &model,
            &key("edge", "gateway"),
            &PortSelector::All,
            Via::NodePort,
        )
        .expect("plan");
        let verdicts: Vec<(Option<&str>, &str)> = plan
            .hops
            .iter()
            .map(|hop| (hop.node.as_deref(), hop.expected.verdict()))
            .collect();
        assert!(verdicts.contains(&(Some("node-2"), "drop")), "{verdicts:?}");
        assert!(
            verdicts.contains(&(Some("node-1"), "connect")),
            "{verdicts:?}"
        );
        let drop = plan
            .hops
            .iter()
            .find(|hop| hop.expected.verdict() == "drop")
            .expect("a drop");
        assert!(drop.expected.reason().contains("Local"), "{drop:?}");
    }

    #[test]
    fn no_endpoints_means_reject_on_the_cluster_ip() {
        let model = demo();
        let plan = probe_plan(
            &model,
            &key("billing", "invoices"),
            &PortSelector::All,
            Via::All,
        )
        .expect("plan");
        assert_eq!(
            summary(&plan),
            ["clusterIP 127.10.0.14:80 -> reject"],
            "{plan:#?}"
        );
        assert!(plan.notes.iter().any(|note| note.contains("no endpoints")));
    }

    #[test]
    fn m5_endpoints_get_the_service_port_as_fallback() {
        let model = demo();
        let plan = probe_plan(
            &model,
            &key("catalog", "catalog"),
            &PortSelector::All,
            Via::Endpoints,
        )
        .expect("plan");
        assert!(!plan.hops.is_empty());
        for hop in &plan.hops {
            assert!(
                matches!(hop.target, ProbeTarget::Pod { port: 8080, .. }),
                "{hop:?}"
            );
            assert_eq!(
                hop.fallbacks,
                [FallbackPort {
                    port: 80,
                    name: None,
                    container: None,
                    declared: false
                }]
            );
        }
    }

    #[test]
    fn external_name_and_missing_ports() {
        let model = demo();
        let plan = probe_plan(
            &model,
            &key("legacy", "payments"),
            &PortSelector::All,
            Via::All,
        )
        .expect("plan");
        assert!(plan.hops.is_empty());
        assert!(plan.notes[0].contains("ExternalName"), "{:?}", plan.notes);
        let error = probe_plan(
            &model,
            &key("shop", "web"),
            &PortSelector::Number(9),
            Via::All,
        )
        .expect_err("no port 9");
        assert_eq!(
            error.to_string(),
            "Service shop/web has no port 9 (it has 80/TCP (http))"
        );
        let error = probe_plan(&model, &key("shop", "nope"), &PortSelector::All, Via::All)
            .expect_err("no Service");
        assert_eq!(error.to_string(), "no Service shop/nope");
    }

    #[test]
    fn fingerprints_follow_expectations() {
        let model = demo();
        let a =
            probe_plan(&model, &key("shop", "web"), &PortSelector::All, Via::All).expect("plan");
        let b =
            probe_plan(&model, &key("shop", "web"), &PortSelector::All, Via::All).expect("plan");
        assert_eq!(a, b);
        let fingerprints: std::collections::BTreeSet<u64> =
            a.hops.iter().map(|hop| hop.fingerprint).collect();
        assert_eq!(
            fingerprints.len(),
            a.hops.len(),
            "distinct hops, distinct fingerprints"
        );
    }

    #[rstest]
    #[case("http", true)]
    #[case("http-metrics", true)]
    #[case("web", true)]
    #[case("grpc", false)]
    #[case("mongodb", false)]
    fn http_names(#[case] name: &str, #[case] http: bool) {
        assert_eq!(looks_like_http_name(name), http);
    }

    #[rstest]
    #[case("http", true)]
    #[case("kubernetes.io/h2c", true)]
    #[case("HTTPS", true)]
    #[case("kubernetes.io/ws", true)]
    #[case("grpc", false)]
    #[case("mysql", false)]
    fn http_app_protocols(#[case] value: &str, #[case] http: bool) {
        assert_eq!(looks_like_http_protocol(value), http);
    }
}
