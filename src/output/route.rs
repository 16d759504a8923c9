//! `kubehop route`: reading the destination and `--from`, and the text form of a
//! [`RouteDecision`].
//!
//! The reasons are put into words here. When the TUI's `engine::explain` lands, this renderer
//! and that one should become one.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use super::style::Style;
use super::tree::{TreeNode, align};
use crate::engine::diagnostics::name_list;
use crate::engine::model::{NotProxied, Protocol, TrafficPolicy};
use crate::engine::route::{FrontDoor, PolicyScope, RouteReason, SourceKind, SourceRangeCheck};
use crate::engine::topology::{EndpointSet, TopologyOutcome, TopologySkip};
use crate::engine::{ProxyModel, RouteDecision, RouteQuery, TrafficSource, Verdict};

/// Bad `route` input; the message is one line (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteInputError {
    #[error(
        "invalid destination {0:?}: expected IP:PORT[/tcp|udp|sctp], e.g. 127.10.0.1:80/tcp or [fd00::1]:53/udp, or a Service: SERVICE[:PORT], NAMESPACE/SERVICE[:PORT] or SERVICE.NAMESPACE.svc.cluster.local[:PORT]"
    )]
    Destination(String),
    #[error(
        "invalid destination {text:?}: {domain:?} is not this cluster's domain (a Service's name is SERVICE.NAMESPACE.svc.{cluster_domain})"
    )]
    Domain {
        text: String,
        domain: String,
        cluster_domain: String,
    },
    #[error("no Service {service}{hint}")]
    ServiceNotFound { service: String, hint: String },
    #[error(
        "Service {service} has no ClusterIP (it is headless or ExternalName): route one of its endpoints' IP:PORT instead"
    )]
    NoClusterIp { service: String },
    #[error("Service {service} has no port {port} (its ports: {available})")]
    UnknownPort {
        service: String,
        port: String,
        available: String,
    },
    #[error("Service {service} has several ports ({available}): name one, e.g. {service}:{first}")]
    PortNeeded {
        service: String,
        available: String,
        first: String,
    },
    #[error("invalid destination {text:?}: unknown protocol {protocol:?} (use tcp, udp or sctp)")]
    Protocol { text: String, protocol: String },
    #[error(
        "invalid --from {0:?}: expected pod@NODE, pod/NAMESPACE/NAME, node@NODE or external@NODE"
    )]
    From(String),
    #[error("unknown pod {pod:?} in --from: the input has no such pod")]
    UnknownPod { pod: String },
    #[error("unknown node {node:?} in --from {from:?}: the input's nodes are {known}")]
    UnknownNode {
        node: String,
        from: String,
        known: String,
    },
}

/// A destination `IP:PORT[/PROTO]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
}

/// Reads `IP:PORT[/tcp|udp|sctp]` (IPv6 in brackets); the protocol defaults to TCP.
pub fn parse_destination(text: &str) -> Result<Destination, RouteInputError> {
    let (address, protocol) = match text.rsplit_once('/') {
        Some((address, protocol)) => {
            let parsed =
                Protocol::parse_loose(protocol).ok_or_else(|| RouteInputError::Protocol {
                    text: text.to_owned(),
                    protocol: protocol.to_owned(),
                })?;
            (address, parsed)
        }
        None => (text, Protocol::Tcp),
    };
    let socket: SocketAddr = address
        .trim()
        .parse()
        .map_err(|_| RouteInputError::Destination(text.to_owned()))?;
    Ok(Destination {
        ip: socket.ip(),
        port: socket.port(),
        protocol,
    })
}

/// A `route` destination as typed: an address, or a Service to take the ClusterIP of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Address(Destination),
    Service(ServiceTarget),
}

/// `SERVICE[:PORT]`, `NAMESPACE/SERVICE[:PORT]` or `SERVICE.NAMESPACE.svc.DOMAIN[:PORT]`,
/// each with an optional `/tcp|udp|sctp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    /// `None`: the namespace of `-n` or the context.
    pub namespace: Option<String>,
    pub name: String,
    /// A port number or name; `None`: the Service's only port.
    pub port: Option<String>,
    pub protocol: Option<Protocol>,
}

/// Reads a destination: `IP:PORT[/PROTO]` as [`parse_destination`] does, else a Service in
/// one of the forms of [`ServiceTarget`] (`cluster_domain`: the cluster's DNS domain).
pub fn parse_target(text: &str, cluster_domain: &str) -> Result<RouteTarget, RouteInputError> {
    let bad = || RouteInputError::Destination(text.to_owned());
    let (body, protocol) = match text.rsplit_once('/') {
        Some((body, protocol)) => match Protocol::parse_loose(protocol) {
            Some(parsed) => (body, Some(parsed)),
            // `IP:PORT/what`: the protocol is what is wrong.
            None if body.trim().parse::<SocketAddr>().is_ok() => {
                return parse_destination(text).map(RouteTarget::Address);
            }
            None => (text, None),
        },
        None => (text, None),
    };
    if body.trim().parse::<SocketAddr>().is_ok() {
        return parse_destination(text).map(RouteTarget::Address);
    }
    let (service, port) = match body.rsplit_once(':') {
        Some((service, port)) => (service, Some(port)),
        None => (body, None),
    };
    if port.is_some_and(|port| !valid_port(port)) || service.parse::<IpAddr>().is_ok() {
        return Err(bad());
    }
    let (namespace, name) = match service.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => match service.split_once('.') {
            Some((name, rest)) => {
                let (namespace, domain) = rest.split_once('.').unwrap_or((rest, ""));
                check_domain(text, domain, cluster_domain)?;
                (Some(namespace), name)
            }
            None => (None, service),
        },
    };
    if !dns_label(name) || namespace.is_some_and(|namespace| !dns_label(namespace)) {
        return Err(bad());
    }
    Ok(RouteTarget::Service(ServiceTarget {
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
        port: port.map(str::to_owned),
        protocol,
    }))
}

/// After `NAME.NAMESPACE.`: nothing, `svc`, or `svc.` and the cluster's domain.
fn check_domain(text: &str, domain: &str, cluster_domain: &str) -> Result<(), RouteInputError> {
    let cluster_domain = cluster_domain.trim_end_matches('.');
    let domain = domain.trim_end_matches('.');
    let ours = domain.is_empty()
        || domain == "svc"
        || domain
            .strip_prefix("svc.")
            .is_some_and(|rest| rest == cluster_domain);
    if ours {
        return Ok(());
    }
    Err(RouteInputError::Domain {
        text: text.to_owned(),
        domain: domain.to_owned(),
        cluster_domain: cluster_domain.to_owned(),
    })
}

/// A DNS label as Kubernetes names Services and namespaces.
fn dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && !text.starts_with('-')
        && !text.ends_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A port number (1-65535) or a port name.
fn valid_port(text: &str) -> bool {
    match text.parse::<u32>() {
        Ok(number) => (1..=65535).contains(&number),
        Err(_) => dns_label(text),
    }
}

/// The address and port a [`ServiceTarget`] stands for: the Service's ClusterIP and the port
/// named (or its only port); `namespace` when the target names none.
pub fn resolve_service(
    model: &ProxyModel,
    target: &ServiceTarget,
    namespace: &str,
) -> Result<Destination, RouteInputError> {
    let namespace = target.namespace.as_deref().unwrap_or(namespace);
    let service = format!("{namespace}/{}", target.name);
    let Some(chain) = model.service(namespace, &target.name) else {
        let scope = super::chain::Scope::Namespace(namespace.to_owned());
        return Err(RouteInputError::ServiceNotFound {
            hint: super::chain::not_found_hint(
                model
                    .services
                    .iter()
                    .map(|chain| (chain.namespace.as_str(), chain.name.as_str())),
                &target.name,
                &scope,
            ),
            service,
        });
    };
    let Some(&ip) = chain.cluster_ips.first() else {
        return Err(RouteInputError::NoClusterIp { service });
    };
    let ports: Vec<_> = chain
        .ports
        .iter()
        .filter(|port| {
            target
                .protocol
                .is_none_or(|protocol| port.protocol == protocol)
        })
        .collect();
    let label = |port: &crate::engine::model::PortChain| {
        let protocol = match port.protocol {
            Protocol::Tcp => String::new(),
            other => format!("/{other}"),
        };
        match &port.name {
            Some(name) if !name.is_empty() => format!("{}{protocol} ({name})", port.port),
            _ => format!("{}{protocol}", port.port),
        }
    };
    let available = || name_list(&chain.ports.iter().map(label).collect::<Vec<_>>());
    let port = match &target.port {
        Some(wanted) => ports.iter().find(|port| {
            port.port.to_string() == *wanted || port.name.as_deref() == Some(wanted.as_str())
        }),
        None if ports.len() == 1 => ports.first(),
        None if ports.is_empty() => None,
        None => {
            return Err(RouteInputError::PortNeeded {
                available: available(),
                first: ports[0].port.to_string(),
                service,
            });
        }
    };
    let Some(port) = port else {
        let protocol = target.protocol.map(|p| p.to_string()).unwrap_or_default();
        let port = match target.port.as_deref() {
            Some(port) if protocol.is_empty() => port.to_owned(),
            Some(port) => format!("{port}/{protocol}"),
            None => format!("for {protocol}"),
        };
        return Err(RouteInputError::UnknownPort {
            port,
            available: available(),
            service,
        });
    };
    Ok(Destination {
        ip,
        port: u16::try_from(port.port).unwrap_or_default(),
        protocol: port.protocol,
    })
}

/// `--from`: the kind of client and, optionally, its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromArg {
    pub kind: SourceKind,
    pub node: Option<String>,
}

/// Reads `pod@NODE`, `node@NODE`, `external@NODE`, or the kind alone (the node is then chosen
/// as for the default).
pub fn parse_from(text: &str) -> Result<FromArg, RouteInputError> {
    let (kind, node) = match text.split_once('@') {
        Some((kind, node)) => (kind, Some(node)),
        None => (text, None),
    };
    let kind = match kind {
        "pod" => SourceKind::Pod,
        "node" => SourceKind::Node,
        "external" => SourceKind::External,
        _ => return Err(RouteInputError::From(text.to_owned())),
    };
    if node.is_some_and(str::is_empty) {
        return Err(RouteInputError::From(text.to_owned()));
    }
    Ok(FromArg {
        kind,
        node: node.map(str::to_owned),
    })
}

/// `--from pod/NAMESPACE/NAME`: the pod (from the input), `None` for the other forms.
pub fn named_pod<'m>(
    model: &'m ProxyModel,
    text: &str,
) -> Result<Option<&'m std::sync::Arc<crate::engine::objects::PodInfo>>, RouteInputError> {
    let Some(rest) = text.strip_prefix("pod/") else {
        return Ok(None);
    };
    let Some((namespace, name)) = rest.split_once('/') else {
        return Err(RouteInputError::From(text.to_owned()));
    };
    if namespace.is_empty() || name.is_empty() || name.contains('/') {
        return Err(RouteInputError::From(text.to_owned()));
    }
    model
        .policies()
        .pod(namespace, name)
        .map(Some)
        .ok_or_else(|| RouteInputError::UnknownPod {
            pod: rest.to_owned(),
        })
}

/// Whether the destination is a LoadBalancer ingress IP or an externalIP of some Service port.
fn is_external_address(model: &ProxyModel, destination: &Destination) -> bool {
    model.services.iter().any(|chain| {
        chain.details.external_ips.contains(&destination.ip)
            || chain.ports.iter().any(|port| {
                port.load_balancer.iter().any(|entry| {
                    entry.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
                        == Some(destination.ip)
                })
            })
    })
}

/// The routing question for `destination` and `--from`.
///
/// Defaults: a node address is reached by an external client arriving at that node
/// (`external@<owner>`); a LoadBalancer ingress IP or externalIP by an external client arriving
/// at the first node (by name); anything else by a pod on the first node. A kind without
/// `@NODE` takes the same node. With Nodes in the input, an unknown node is an error.
pub fn query(
    model: &ProxyModel,
    destination: Destination,
    from: Option<&str>,
    source_ip: Option<IpAddr>,
) -> Result<RouteQuery, RouteInputError> {
    let owner = model.node_of_address(destination.ip);
    let first = model.node_names().next();
    let external = owner.is_some() || is_external_address(model, &destination);
    let default_node = owner.or(first).unwrap_or_default().to_owned();
    let (kind, node) = match from {
        None => {
            let kind = if external {
                SourceKind::External
            } else {
                SourceKind::Pod
            };
            (kind, default_node)
        }
        Some(text) if text.starts_with("pod/") => {
            // N10: a named pod connects from its own node.
            let node = named_pod(model, text)?
                .and_then(|pod| pod.node_name.as_deref().map(str::to_owned))
                .unwrap_or(default_node);
            (SourceKind::Pod, node)
        }
        Some(text) => {
            let parsed = parse_from(text)?;
            let node = parsed.node.unwrap_or(default_node);
            let known = model.node_names().any(|name| name == node);
            if !known && first.is_some() {
                let names: Vec<&str> = model.node_names().collect();
                return Err(RouteInputError::UnknownNode {
                    node,
                    from: text.to_owned(),
                    known: name_list(&names),
                });
            }
            (parsed.kind, node)
        }
    };
    let source = match kind {
        SourceKind::Pod => TrafficSource::Pod { node },
        SourceKind::Node => TrafficSource::Node { node },
        SourceKind::External => TrafficSource::External { node },
    };
    Ok(RouteQuery {
        destination: destination.ip,
        port: destination.port,
        protocol: destination.protocol,
        source,
        source_ip,
    })
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

fn via_text(via: FrontDoor) -> &'static str {
    match via {
        FrontDoor::ClusterIp => "ClusterIP",
        FrontDoor::NodePort => "NodePort",
        FrontDoor::LoadBalancer => "LoadBalancer IP",
        FrontDoor::ExternalIp => "externalIP",
    }
}

fn source_text(query: &RouteQuery) -> String {
    let node = match query.source.node() {
        "" => "(no node)",
        node => node,
    };
    let mut text = match query.source.kind() {
        SourceKind::Pod => format!("a pod on {node}"),
        SourceKind::Node => format!("a process on node {node} (host network)"),
        SourceKind::External => format!("an external client, arriving at {node}"),
    };
    if let Some(ip) = query.source_ip {
        text.push_str(&format!(" (source address {ip})"));
    }
    text
}

/// Writes the decision as a short tree: what matched, the verdict with the endpoints, and why.
pub fn write_text(
    out: &mut dyn Write,
    query: &RouteQuery,
    decision: &RouteDecision,
    policy: Option<&super::route_policy::RoutePolicy>,
    style: Style,
) -> io::Result<()> {
    let destination = format!(
        "{}/{}",
        socket_text(query.destination, query.port),
        query.protocol
    );
    let mut root = TreeNode::new(format!(
        "{} from {}",
        style.bold(&destination),
        source_text(query)
    ));
    match &decision.matched {
        Some(matched) => root.child(format!(
            "matched: Service {}/{} port {} via {}",
            matched.namespace,
            matched.service,
            matched.port,
            via_text(matched.via)
        )),
        None => root.child("matched: no Service port"),
    };
    let verdict = verdict_text(decision, style);
    let verdict_node = root.child(format!("verdict: {verdict}"));
    let rows = endpoint_rows(decision);
    for line in align(&rows) {
        verdict_node.child(line);
    }
    if let Some(policy) = policy {
        super::route_policy::add_text(&mut root, policy);
    }
    let why = root.child("why");
    for reason in &decision.reasons {
        why.child(reason_text(reason, query, decision));
    }
    root.write(out)
}

/// One reason as a short sentence.
///
/// One arm per [`RouteReason`] variant, each a sentence; kept whole (over ~80 lines) so the
/// vocabulary `route` speaks stays in one place. The longer sentences have helpers below.
pub fn reason_text(reason: &RouteReason, query: &RouteQuery, decision: &RouteDecision) -> String {
    let destination = socket_text(query.destination, query.port);
    match reason {
        RouteReason::FrontDoor { via } => match &decision.matched {
            Some(matched) => format!(
                "{destination}/{} is the {} of Service {}/{} port {}",
                query.protocol,
                via_text(*via),
                matched.namespace,
                matched.service,
                matched.port
            ),
            None => format!("{destination} is a {}", via_text(*via)),
        },
        RouteReason::NodePortAddress { node, address } => format!(
            "{address} is an address of node {node} that accepts NodePorts, and {} is a nodePort",
            query.port
        ),
        RouteReason::ProcessedOn { node, known } => {
            let mut text = format!("the packet is handled by the rules on node {node}");
            if !known {
                text.push_str(" (not a Node of the input: no zone, no local endpoints)");
            }
            text
        }
        RouteReason::Policy { scope, policy } => policy_text(*scope, *policy),
        RouteReason::ExternalLocalShortCircuit { source } => {
            let who = match source {
                SourceKind::Pod => "a pod",
                SourceKind::Node => "the node itself",
                SourceKind::External => "an external client",
            };
            format!(
                "but the client is {who}, for which externalTrafficPolicy Local is bypassed: endpoints on any node"
            )
        }
        RouteReason::EndpointSet(EndpointSet::Cluster) => {
            "candidates: the ready endpoints of the whole cluster".to_owned()
        }
        RouteReason::EndpointSet(EndpointSet::Local) => format!(
            "candidates: the ready endpoints on node {} only",
            decision.source.node
        ),
        RouteReason::TerminatingFallback(set) => {
            let set = match set {
                EndpointSet::Cluster => "in the cluster",
                EndpointSet::Local => "on this node",
            };
            format!(
                "no endpoint {set} is ready: serving-and-terminating endpoints are used instead"
            )
        }
        RouteReason::Topology(outcome) => topology_text(outcome),
        RouteReason::SourceRanges(check) => source_ranges_text(check),
        RouteReason::SourceNat { masquerade: true } => {
            "source NAT: the endpoint sees a node address, not the client's".to_owned()
        }
        RouteReason::SourceNat { masquerade: false } => {
            "no source NAT: the endpoint sees the client's own address".to_owned()
        }
        RouteReason::SessionAffinity { timeout_seconds } => format!(
            "sessionAffinity ClientIP: a client address stays on its endpoint while it opens a new connection at least every {timeout_seconds} s"
        ),
        RouteReason::NoUsableEndpoints => {
            "no endpoint is ready or serving-and-terminating anywhere: rejected".to_owned()
        }
        RouteReason::NoLocalEndpoints { node } => format!(
            "usable endpoints exist, but none on node {node}, and the Local policy allows only those: dropped"
        ),
        RouteReason::UnknownPortOnClusterIp { other_protocols } => {
            unknown_port_text(query, other_protocols)
        }
        RouteReason::NodePortAddressNotSelected { node, address } => format!(
            "{address} belongs to node {node} but is not one of the addresses that accept NodePorts (only the primary address per family does)"
        ),
        RouteReason::LoadBalancerProxyMode => format!(
            "{} is a LoadBalancer IP in ipMode Proxy: nodes install no rule for it; the load balancer forwards to the NodePorts itself",
            query.destination
        ),
        RouteReason::NotProxied(why) => format!(
            "{} belongs to {}",
            query.destination,
            not_proxied_text(*why)
        ),
        RouteReason::DestinationIsPod { namespace, pod } => format!(
            "{} is the address of pod {namespace}/{pod}: the connection goes straight to the pod, no Service is involved",
            query.destination
        ),
        RouteReason::NoRuleForDestination => format!(
            "no ClusterIP, node address, LoadBalancer IP or externalIP in the input is {destination}/{}",
            query.protocol
        ),
    }
}

/// The verdict line: forward (to how many), drop, reject, or no Service.
fn verdict_text(decision: &RouteDecision, style: Style) -> String {
    let count = decision.endpoints.len();
    match decision.verdict {
        Verdict::Forward => format!(
            "{} forward to {}",
            style.ok(),
            if count == 1 {
                "the only eligible endpoint".to_owned()
            } else {
                format!("one of {count} endpoints, chosen at random for each new connection")
            }
        ),
        Verdict::Drop => format!(
            "{} {}",
            style.broken(),
            style.red("drop: the packet is discarded and the client times out")
        ),
        Verdict::Reject => format!(
            "{} {}",
            style.broken(),
            style.red("reject: the client gets \"connection refused\" at once")
        ),
        Verdict::NoService => {
            "no-service: no Service rule matches, kube-proxy leaves the packet alone".to_owned()
        }
    }
}

/// One row per eligible endpoint: pod, address, conditions, node.
fn endpoint_rows(decision: &RouteDecision) -> Vec<Vec<String>> {
    decision
        .endpoints
        .iter()
        .map(|endpoint| {
            let info = &endpoint.0.info;
            let conditions = match (info.ready, info.serving, info.terminating) {
                (true, _, false) => "ready",
                (true, _, true) => "ready, terminating",
                (false, true, true) => "serving, terminating",
                (false, false, true) => "not serving, terminating",
                (false, _, false) => "not ready",
            };
            let address = endpoint
                .socket_addr()
                .map_or_else(|| info.ip.to_string(), |address| address.to_string());
            vec![
                info.pod.as_deref().unwrap_or("(no pod)").to_owned(),
                address,
                conditions.to_owned(),
                info.node.as_deref().unwrap_or("(no node)").to_owned(),
            ]
        })
        .collect()
}

/// Which traffic policy applies and what it means.
fn policy_text(scope: PolicyScope, policy: TrafficPolicy) -> String {
    let field = match scope {
        PolicyScope::Internal => "internalTrafficPolicy",
        PolicyScope::External => "externalTrafficPolicy",
    };
    let (name, meaning) = match policy {
        TrafficPolicy::Cluster => ("Cluster", "endpoints on any node"),
        TrafficPolicy::Local => ("Local", "only endpoints on the handling node"),
    };
    format!("{field} {name} applies: {meaning}")
}

/// What loadBalancerSourceRanges decided for the client address.
fn source_ranges_text(check: &SourceRangeCheck) -> String {
    match check {
            SourceRangeCheck::NoRanges => {
                "no loadBalancerSourceRanges: every client address is allowed".to_owned()
            }
            SourceRangeCheck::Allowed { range } => {
                format!("the client address is inside loadBalancerSourceRanges entry {range}")
            }
            SourceRangeCheck::AllowedLoadBalancerSource => {
                "the source is the LoadBalancer IP itself and the node lies in a loadBalancerSourceRanges entry: allowed"
                    .to_owned()
            }
            SourceRangeCheck::Denied { source } => format!(
                "client address {source} is outside every loadBalancerSourceRanges entry: dropped (pods inside the cluster too)"
            ),
            SourceRangeCheck::NotEvaluated => {
                "loadBalancerSourceRanges are set but no --source-ip was given: assumed allowed"
                    .to_owned()
            }
        }
}

/// A ClusterIP whose Service has no such port (each protocol is its own port).
fn unknown_port_text(query: &RouteQuery, other_protocols: &[Protocol]) -> String {
    let mut text = format!(
        "{} is a ClusterIP, but its Service has no port {}/{}",
        query.destination, query.port, query.protocol
    );
    if !other_protocols.is_empty() {
        let protocols: Vec<&str> = other_protocols
            .iter()
            .map(|protocol| protocol.as_str())
            .collect();
        text.push_str(&format!(
            " (only {}/{}: each protocol is its own port)",
            query.port,
            protocols.join(", ")
        ));
    }
    text.push_str(": rejected");
    text
}

/// What kind of Service kube-proxy leaves alone.
fn not_proxied_text(why: NotProxied) -> &'static str {
    match why {
        NotProxied::Headless => {
            "a headless Service: no virtual IP and no kube-proxy rules; clients connect to the pod addresses from DNS"
        }
        NotProxied::ExternalName => "an ExternalName Service: a DNS CNAME, nothing is proxied",
        NotProxied::OtherProxy => {
            "a Service handed to another proxy (service.kubernetes.io/service-proxy-name): kube-proxy installs no rule"
        }
    }
}

fn topology_text(outcome: &TopologyOutcome) -> String {
    match outcome {
        TopologyOutcome::SameNode { node } => {
            format!("topology hints: kept the endpoints hinted for node {node}")
        }
        TopologyOutcome::SameZone { zone } => {
            format!("topology hints: kept the endpoints hinted for zone {zone}")
        }
        TopologyOutcome::NotApplied(skip) => match skip {
            TopologySkip::NoReadyEndpoints => {
                "topology hints: not applied (no ready endpoint)".to_owned()
            }
            TopologySkip::NoHints => {
                "topology hints: none on the endpoints, every ready endpoint is a candidate"
                    .to_owned()
            }
            TopologySkip::HintMissing => {
                "topology hints: ignored, some ready endpoints carry none".to_owned()
            }
            TopologySkip::NodeZoneUnknown => {
                "topology hints: ignored, the node has no topology.kubernetes.io/zone label"
                    .to_owned()
            }
            TopologySkip::NoEndpointForZone { zone } => {
                format!("topology hints: ignored, no endpoint is hinted for zone {zone}")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("127.10.0.1:80", "127.10.0.1", 80, Protocol::Tcp)]
    #[case("127.10.0.1:53/udp", "127.10.0.1", 53, Protocol::Udp)]
    #[case("127.10.0.1:53/UDP", "127.10.0.1", 53, Protocol::Udp)]
    #[case("127.10.0.1:9/sctp", "127.10.0.1", 9, Protocol::Sctp)]
    #[case("[::1]:443/tcp", "::1", 443, Protocol::Tcp)]
    fn parses_destinations(
        #[case] text: &str,
        #[case] ip: &str,
        #[case] port: u16,
        #[case] protocol: Protocol,
    ) {
        let parsed = parse_destination(text).expect("valid");
        assert_eq!(
            parsed,
            Destination {
                ip: ip.parse().expect("ip"),
                port,
                protocol
            }
        );
    }

    #[rstest]
    #[case("127.10.0.1")]
    #[case("127.10.0.1:")]
    #[case("127.10.0.1:70000")]
    #[case("web:80")]
    #[case("::1:80")]
    #[case("127.10.0.1:80/icmp")]
    fn rejects_bad_destinations(#[case] text: &str) {
        let error = parse_destination(text).expect_err("invalid");
        assert!(error.to_string().contains(text), "{error}");
    }

    fn service(namespace: Option<&str>, name: &str, port: Option<&str>) -> RouteTarget {
        RouteTarget::Service(ServiceTarget {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            port: port.map(str::to_owned),
            protocol: None,
        })
    }

    #[rstest]
    #[case("web", service(None, "web", None))]
    #[case("web:80", service(None, "web", Some("80")))]
    #[case("web:http", service(None, "web", Some("http")))]
    #[case("shop/web:80", service(Some("shop"), "web", Some("80")))]
    #[case("web.shop:80", service(Some("shop"), "web", Some("80")))]
    #[case("web.shop.svc:80", service(Some("shop"), "web", Some("80")))]
    #[case(
        "web.shop.svc.cluster.local:80",
        service(Some("shop"), "web", Some("80"))
    )]
    #[case(
        "web.shop.svc.cluster.local.:80",
        service(Some("shop"), "web", Some("80"))
    )]
    fn parses_services(#[case] text: &str, #[case] expected: RouteTarget) {
        assert_eq!(
            parse_target(text, "cluster.local").expect("valid"),
            expected
        );
    }

    #[test]
    fn services_take_a_protocol_and_addresses_stay_addresses() {
        let RouteTarget::Service(dns) =
            parse_target("dns.kube-system:53/udp", "cluster.local").expect("valid")
        else {
            panic!("a Service");
        };
        assert_eq!(dns.protocol, Some(Protocol::Udp));
        assert_eq!(
            parse_target("127.10.0.1:53/udp", "cluster.local").expect("valid"),
            RouteTarget::Address(parse_destination("127.10.0.1:53/udp").expect("valid"))
        );
    }

    #[rstest]
    #[case("127.10.0.1", "expected IP:PORT")]
    #[case("127.10.0.1:80/icmp", "unknown protocol \"icmp\"")]
    #[case("web:", "expected IP:PORT")]
    #[case("web:0", "expected IP:PORT")]
    #[case("Web:80", "expected IP:PORT")]
    #[case("a/b/c:80", "expected IP:PORT")]
    #[case("::1:80", "expected IP:PORT")]
    #[case(
        "web.shop.svc.example.com:80",
        "\"svc.example.com\" is not this cluster's domain"
    )]
    fn rejects_bad_targets(#[case] text: &str, #[case] expected: &str) {
        let error = parse_target(text, "cluster.local").expect_err("invalid");
        assert!(error.to_string().contains(expected), "{error}");
    }

    #[rstest]
    #[case("pod@node-1", SourceKind::Pod, Some("node-1"))]
    #[case("node@node-2", SourceKind::Node, Some("node-2"))]
    #[case("external@node-3", SourceKind::External, Some("node-3"))]
    #[case("external", SourceKind::External, None)]
    fn parses_from(#[case] text: &str, #[case] kind: SourceKind, #[case] node: Option<&str>) {
        assert_eq!(
            parse_from(text),
            Ok(FromArg {
                kind,
                node: node.map(str::to_owned)
            })
        );
    }

    #[rstest]
    #[case("pod@")]
    #[case("client@node-1")]
    #[case("")]
    fn rejects_bad_from(#[case] text: &str) {
        assert_eq!(
            parse_from(text),
            Err(RouteInputError::From(text.to_owned()))
        );
    }
}
