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
//!
//! The hops come from the engine's hop tree ([`crate::hops`]); this module only turns each into
//! a target, an expectation and the request it gets.

mod build;
mod http;
mod target;
#[cfg(test)]
mod tests;

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

pub use self::http::{
    FallbackPort, HttpRequest, looks_like_http_name, looks_like_http_protocol, looks_like_tls_name,
    looks_like_tls_protocol,
};
pub use self::target::{IngressAddress, PlanContext, ProbeTarget, ingress_addresses, socket_text};
pub use crate::hops::{Expectation, ExpectedEndpoint};

use super::model::{
    Hop, HopKey, PortChain, Protocol, ProxyModel, ServiceKey, ServiceType, TargetPort,
};
use crate::hops::{PortHops, PortWords};

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
    /// A Gateway API route rule, through its Gateway's address (GW5, GW6).
    #[serde(rename = "gateway")]
    Gateway,
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
            HopKind::Gateway => "gateway",
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
            Via::Ingress => kind == HopKind::Ingress || kind == HopKind::Gateway,
        }
    }
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
    /// Gateway TLSRoute and TCPRoute hops: the stream check they get instead of HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamProbe>,
    /// Endpoint hops: ports to try when the targetPort refuses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<FallbackPort>,
    /// Changes whenever the target or the expectation changes (results for an older value are
    /// stale).
    #[serde(skip)]
    pub fingerprint: u64,
    /// What the hop is, in a few words (the hop tree's label): `ClusterIP 127.0.0.10:80`,
    /// `NodePort node-2 127.0.1.2:30080`, `endpoint web-1 127.0.2.5:8080`, `Ingress shop/web
    /// example.com/`.
    #[serde(skip)]
    pub label: String,
}

impl ProbeHop {
    /// The hop's label (see the field).
    pub fn label(&self) -> String {
        self.label.clone()
    }
}

/// The check of a Gateway hop that does not speak HTTP: a TLSRoute's or a TCPRoute's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "check", rename_all = "camelCase")]
pub enum StreamProbe {
    /// A TLS handshake with this server name, which picks the listener and the TLSRoute
    /// (GW5); it succeeds when the handshake completes, whoever presents the certificate.
    Tls { sni: String },
    /// A connection through the listener, one line sent and what comes back read (TCPRoute).
    Tcp,
}

/// Every hop of one Service to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbePlan {
    #[serde(skip)]
    pub service: ServiceKey,
    pub hops: Vec<ProbeHop>,
    /// What was left out and why (UDP ports, a headless Service's missing ClusterIP, ...).
    pub notes: Vec<String>,
    /// The service proxies of the nodes the NodePort hops enter, with a health endpoint to
    /// check through a port-forward (rule K2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_proxies: Vec<NodeProxyCheck>,
}

/// One node's proxy health check (rule K2): `GET path` on the proxy pod's `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeProxyCheck {
    pub node: String,
    #[serde(serialize_with = "serialize_display")]
    pub kind: crate::node_proxy::ProxyKind,
    pub namespace: String,
    pub pod: String,
    pub port: u16,
    pub path: String,
}

/// The proxy checks for the nodes `plan`'s NodePort hops enter.
fn node_proxy_checks(model: &ProxyModel, plan: &ProbePlan) -> Vec<NodeProxyCheck> {
    let mut nodes: Vec<&str> = plan
        .hops
        .iter()
        .filter(|hop| hop.kind == HopKind::NodePort)
        .filter_map(|hop| hop.node.as_deref())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .into_iter()
        .filter_map(|name| {
            let node = model.nodes.by_name(name)?;
            let crate::node_proxy::ProxyState::Pod(pod) = &node.proxy else {
                return None;
            };
            let (port, path) = pod.kind.health_endpoint();
            Some(NodeProxyCheck {
                node: name.to_owned(),
                kind: pod.kind,
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                port,
                path: path.to_owned(),
            })
        })
        .collect()
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
    let selected: Vec<usize> = (0..chain.ports.len())
        .filter(|index| {
            chain
                .ports
                .get(*index)
                .is_some_and(|port| ports.matches(port))
        })
        .collect();
    if selected.is_empty() && *ports != PortSelector::All {
        let available: Vec<String> = chain
            .ports
            .iter()
            .map(|port| PortWords(port).to_string())
            .collect();
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
        node_proxies: Vec::new(),
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
    let planner = build::Planner { model, context };
    for tree in selected
        .into_iter()
        .filter_map(|index| PortHops::new(chain, index, None))
    {
        let port = tree.port;
        if port.protocol != Protocol::Tcp {
            plan.notes.push(format!(
                "port {}: {} is not probed (only TCP connections can be checked)",
                PortWords(port),
                port.protocol
            ));
            plan.notes.extend(build::unprobed_route_notes(&tree, via));
            continue;
        }
        planner.port_hops(&tree, via, &mut plan);
        plan.notes.extend(build::unprobed_route_notes(&tree, via));
    }
    for hop in &mut plan.hops {
        hop.fingerprint = fingerprint(hop);
    }
    plan.node_proxies = node_proxy_checks(model, &plan);
    Ok(plan)
}

fn fingerprint(hop: &ProbeHop) -> u64 {
    let mut hasher = DefaultHasher::new();
    hop.key.hash(&mut hasher);
    hop.target.hash(&mut hasher);
    hop.expected.hash(&mut hasher);
    hop.http.hash(&mut hasher);
    hop.fallbacks.hash(&mut hasher);
    if let Some(stream) = &hop.stream {
        stream.hash(&mut hasher);
    }
    hasher.finish()
}

fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
