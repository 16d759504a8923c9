//! What the engine predicts a connection at a hop does: forwarded to these endpoints, dropped,
//! rejected (rule C9), answered 503 by an ingress controller, or decided by no rule. Front doors
//! ask [`ProxyModel::route`]; endpoints and Ingress rules read the endpoint conditions (rules
//! A12, D3). Computed on demand: nothing here is stored in the model.

use std::net::IpAddr;

use serde::Serialize;

use super::label::PortWords;
use super::{HopKind, HopNode, PortHops};
use crate::model::{PortChain, PortEndpoint, ProxyModel};
use crate::route::{RouteDecision, RouteQuery, TrafficSource, Verdict};

/// One endpoint the engine says may receive the connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ExpectedEndpoint {
    pub pod: Option<String>,
    pub node: Option<String>,
    pub ip: IpAddr,
    pub port: i32,
}

impl ExpectedEndpoint {
    pub(crate) fn of(endpoint: &PortEndpoint) -> Self {
        ExpectedEndpoint {
            pod: endpoint.info.pod.as_deref().map(str::to_owned),
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

impl PortHops<'_> {
    /// What a connection at `node` should do; `None` for hops that are not probed (groups,
    /// states) and for ports out of range. `cluster_ip_client` is who connects to the
    /// ClusterIP (default: a host process on the first node by name, rule D7).
    pub fn expectation(
        &self,
        node: &HopNode<'_>,
        model: &ProxyModel,
        cluster_ip_client: Option<&TrafficSource>,
    ) -> Option<Expectation> {
        let port = self.port;
        match &node.kind {
            HopKind::Ingress { .. } => Some(ingress_expectation(port, "the ingress controller")),
            HopKind::GatewayRoute { route, .. } if route.passes() => {
                Some(ingress_expectation(port, "the Gateway"))
            }
            HopKind::GatewayRoute { .. } => None,
            HopKind::LoadBalancer { entry, .. } => {
                Some(load_balancer_expectation(model, port, entry.node_rules()))
            }
            HopKind::NodePort { row } => {
                let number = u16::try_from(row.port).ok()?;
                let decision = model.route(&RouteQuery {
                    destination: row.address,
                    port: number,
                    protocol: port.protocol,
                    source: TrafficSource::External {
                        node: row.node.clone(),
                    },
                    source_ip: None,
                });
                Some(expectation_from(&decision, &format!("on {}", row.node)))
            }
            HopKind::ClusterIp { hop } => {
                let number = u16::try_from(hop.port).ok()?;
                let source = cluster_ip_client
                    .cloned()
                    .unwrap_or_else(|| TrafficSource::Node {
                        node: model.node_names().next().unwrap_or("").to_owned(),
                    });
                let client = client_words(&source);
                let decision = model.route(&RouteQuery {
                    destination: hop.ip,
                    port: number,
                    protocol: port.protocol,
                    source,
                    source_ip: None,
                });
                Some(expectation_from(&decision, &client))
            }
            HopKind::Endpoint { endpoint, .. } => Some(endpoint_expectation(endpoint)),
            _ => None,
        }
    }
}

/// Who connects to the ClusterIP, in words.
fn client_words(source: &TrafficSource) -> String {
    match source {
        TrafficSource::Pod { node } => format!("from a pod on {node}"),
        TrafficSource::Node { node } if node.is_empty() => "from a host process".to_owned(),
        TrafficSource::Node { node } => format!("from a host process on {node}"),
        TrafficSource::External { node } => format!("from outside, arriving at {node}"),
    }
}

/// An endpoint hop: its own pod should accept while it is ready or serving (rule A12).
fn endpoint_expectation(endpoint: &PortEndpoint) -> Expectation {
    let info = &endpoint.info;
    let who = info
        .pod
        .as_deref()
        .map_or_else(|| format!("endpoint {}", info.ip), str::to_owned);
    if info.ready || info.serving {
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
    }
}

/// An Ingress rule or a Gateway route (`who` sends): to the port's usable endpoints (ready,
/// else serving-terminating, rule D3), or it answers 503.
fn ingress_expectation(port: &PortChain, who: &str) -> Expectation {
    let ready: Vec<&PortEndpoint> = port
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.info.ready)
        .collect();
    let usable = if ready.is_empty() {
        port.endpoints
            .iter()
            .filter(|endpoint| endpoint.info.serving_terminating())
            .collect()
    } else {
        ready
    };
    if usable.is_empty() {
        Expectation::NoBackend {
            reason: format!(
                "Service port {} has no usable endpoint: {who} has nowhere to send (503)",
                PortWords(port)
            ),
        }
    } else {
        Expectation::Connect {
            endpoints: usable.iter().map(|e| ExpectedEndpoint::of(e)).collect(),
            reason: format!(
                "{who} sends to Service port {}: {}",
                PortWords(port),
                endpoint_count(usable.len())
            ),
        }
    }
}

/// The nodes a load balancer sends to, each with its first NodePort address, and whether a
/// health check decides that (eTP Local: only nodes whose check passes, rules C8/D12). Without
/// any NodePort row, every known node (no address).
fn load_balancer_nodes(
    model: &ProxyModel,
    port: &PortChain,
) -> (Vec<(String, Option<IpAddr>)>, bool) {
    let rows: Vec<_> = port.node_ports.rows().collect();
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
        nodes = model
            .node_names()
            .map(|node| (node.to_owned(), None))
            .collect();
    }
    (nodes, health_checked)
}

/// A LoadBalancer entry: with node rules (VIP mode), the external client arrives at one of
/// the nodes the load balancer sends to; without (ipMode Proxy, hostname), the load
/// balancer forwards to nodePorts itself (rule C5). Either way the union over those nodes.
fn load_balancer_expectation(
    model: &ProxyModel,
    port: &PortChain,
    vip: Option<IpAddr>,
) -> Expectation {
    let (nodes, health_checked) = load_balancer_nodes(model, port);
    let ask = |destination: IpAddr, number: u16, node: &str| {
        model.route(&RouteQuery {
            destination,
            port: number,
            protocol: port.protocol,
            source: TrafficSource::External {
                node: node.to_owned(),
            },
            source_ip: None,
        })
    };
    let decisions: Vec<RouteDecision> = match vip {
        Some(ip) => {
            let Ok(number) = u16::try_from(port.port) else {
                return unrouted("the port number is out of range");
            };
            nodes
                .iter()
                .map(|(node, _)| ask(ip, number, node))
                .collect()
        }
        None => {
            let Some(node_port) = port.node_port.and_then(|p| u16::try_from(p).ok()) else {
                return unrouted(
                    "the load balancer proxies without nodePorts (allocateLoadBalancerNodePorts: false): kube-proxy has no rule for it",
                );
            };
            nodes
                .iter()
                .filter_map(|(node, address)| Some(ask((*address)?, node_port, node)))
                .collect()
        }
    };
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
    let checked_nodes = health_checked.then(|| {
        nodes
            .iter()
            .map(|(node, _)| node.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });
    combine(&decisions, via, checked_nodes.as_deref())
}

/// The union of the decisions on every node the load balancer sends to: forwarded when any
/// node forwards, else dropped when any drops, else rejected (rule C9).
fn combine(decisions: &[RouteDecision], via: &str, checked_nodes: Option<&str>) -> Expectation {
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
        let nodes_text = checked_nodes
            .map(|nodes| format!(" (only nodes whose health check passes: {nodes})"))
            .unwrap_or_default();
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

/// The expectation for a front door from the engine's routing decision.
fn expectation_from(decision: &RouteDecision, client: &str) -> Expectation {
    use crate::route::RouteReason;
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
                    RouteReason::EndpointSet(crate::topology::EndpointSet::Local)
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
                RouteReason::SourceRanges(crate::route::SourceRangeCheck::Denied { source }) => {
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
