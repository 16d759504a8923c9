//! The hop tree: one Service port's chain as the hops a connection meets, in order, each with
//! its kind, its one textual label, its state and (on demand) what the engine predicts a
//! connection there does.
//!
//! Every view of a chain reads this tree instead of walking [`PortChain`] itself: the TUI
//! outline, the text output of `kubehop chain`, the probe plan and Explain. A new kind of hop is
//! a variant of [`HopKind`] here plus one match arm per renderer.
//!
//! The tree borrows from the [`ServiceChain`] and is built on demand, per port, when something
//! is about to show or probe it: nothing is stored in the model.
//!
//! Order (rules C1-C9, A12, B5, B7): Ingress rules, the load balancer's addresses (or its
//! pending state), externalIPs, the nodePort with one row per node address, the ClusterIP (or
//! headless, or none allocated), the endpoints per EndpointSlice, the selected pods that do not
//! receive the port (rule B4), and a closing "no endpoints" hop when there is none.

mod expect;
mod label;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use expect::{Expectation, ExpectedEndpoint};
pub use label::{GatewayRouteText, IngressRule, PortWords, SocketText, address_text};

use super::gateway::GatewayRouteRef;
use super::model::{
    ClusterIpHop, Hop, IngressRef, LoadBalancerEntry, NodePortRow, PortChain, PortEndpoint,
    PortRef, ServiceChain, ServiceType,
};
use super::ports::{PodPortMapping, PodPortOutcome, PortMapping};

/// What a hop is. Variants borrow from the Service's chain; indexes point into it so views can
/// find the object again (`chain.ingresses`, `port.load_balancer`, `port.endpoints`).
#[derive(Debug, Clone, PartialEq)]
pub enum HopKind<'c> {
    /// An Ingress rule (or default backend) naming this Service port (index into
    /// `chain.ingresses`).
    Ingress { index: usize, rule: &'c IngressRef },
    /// A Gateway API route rule that sends to this port, entered through one Gateway listener
    /// (index into `chain.gateway_routes`; rules GW1-GW12).
    GatewayRoute {
        index: usize,
        route: &'c GatewayRouteRef,
    },
    /// type LoadBalancer with no ingress in status yet.
    LoadBalancerPending,
    /// One `status.loadBalancer.ingress` entry (index into `port.load_balancer`); rule C5.
    LoadBalancer {
        index: usize,
        entry: &'c LoadBalancerEntry,
    },
    /// One of `spec.externalIPs` (rule C6).
    ExternalIp { ip: IpAddr },
    /// The port's nodePort; its children are the per-node rows (none when no node is known).
    NodePorts { node_port: i32 },
    /// A node address that accepts the nodePort (rule C3).
    NodePort { row: NodePortRow },
    /// The ClusterIP (rule C1).
    ClusterIp { hop: ClusterIpHop },
    /// Not headless, but no ClusterIP in the input (the API server allocates one on create).
    ClusterIpMissing,
    /// `clusterIP: None` (rule F1): no virtual IP, clients connect to the endpoints.
    Headless,
    /// type ExternalName: a DNS alias, nothing is proxied (rule A13).
    ExternalName { target: Option<&'c str> },
    /// The endpoints read from one EndpointSlice; its children are those endpoints.
    EndpointSlice { name: &'c str },
    /// One endpoint: pod IP and the resolved targetPort (index into `port.endpoints`; rules
    /// A12, B7).
    Endpoint {
        index: usize,
        endpoint: &'c PortEndpoint,
    },
    /// A selected pod that does not receive this port (rule B4 unresolved name or protocol,
    /// A3/A7 excluded, or resolved but missing from the slices).
    PodNotReceiving { mapping: &'c PodPortMapping },
    /// The port has no endpoint at all: every front door rejects (rule C9).
    NoEndpoints,
}

/// What the renderers show for a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HopState {
    /// Traffic passes.
    Ok,
    /// Passes with a caveat (a pending load balancer, a node that drops, serving-terminating
    /// endpoints only).
    Caveat,
    /// Broken here (no endpoint, a pod not ready, a pod that cannot take the port).
    Broken,
    /// External traffic arriving here is dropped (rule C9: eTP Local without a local endpoint).
    Drop,
    /// Connections are rejected (rule C9: no usable endpoint anywhere).
    Reject,
    /// Informational: nothing to pass or fail (headless, ExternalName, no ClusterIP yet).
    Info,
}

/// One hop and the hops beneath it.
#[derive(Debug, Clone, PartialEq)]
pub struct HopNode<'c> {
    pub kind: HopKind<'c>,
    pub state: HopState,
    pub children: Vec<HopNode<'c>>,
}

impl<'c> HopNode<'c> {
    fn leaf(kind: HopKind<'c>, state: HopState) -> Self {
        HopNode {
            kind,
            state,
            children: Vec::new(),
        }
    }

    /// This node and every node beneath it, depth first.
    pub fn walk(&self) -> Box<dyn Iterator<Item = &HopNode<'c>> + '_> {
        Box::new(std::iter::once(self).chain(self.children.iter().flat_map(HopNode::walk)))
    }
}

/// The hop tree of one Service port.
#[derive(Debug, Clone)]
pub struct PortHops<'c> {
    pub chain: &'c ServiceChain,
    /// Index into `chain.ports`.
    pub index: usize,
    pub port: &'c PortChain,
    pub hops: Vec<HopNode<'c>>,
}

impl<'c> PortHops<'c> {
    /// The tree of `chain.ports[index]`. `mapping` is that port's entry of
    /// [`ServiceChain::port_map`] when the caller wants the pods that do not receive it.
    pub fn new(
        chain: &'c ServiceChain,
        index: usize,
        mapping: Option<&'c PortMapping>,
    ) -> Option<Self> {
        let port = chain.ports.get(index)?;
        let mut hops = Vec::new();
        if chain.service_type == ServiceType::ExternalName {
            hops.push(HopNode::leaf(
                HopKind::ExternalName {
                    target: chain.external_name.as_deref(),
                },
                HopState::Info,
            ));
        } else {
            hops.extend(ingress_hops(chain, Some(index)));
            hops.extend(gateway_hops(chain, port));
            hops.extend(load_balancer_hops(chain, port));
            hops.extend(
                chain
                    .details
                    .external_ips
                    .iter()
                    .map(|ip| HopNode::leaf(HopKind::ExternalIp { ip: *ip }, HopState::Ok)),
            );
            hops.extend(node_port_hop(port));
            hops.push(cluster_ip_hop(chain, port));
            hops.extend(slice_hops(port));
            hops.extend(pods_not_receiving(port, mapping));
            if port.endpoints.is_empty() {
                hops.push(HopNode::leaf(HopKind::NoEndpoints, HopState::Broken));
            }
        }
        Some(PortHops {
            chain,
            index,
            port,
            hops,
        })
    }

    /// The tree of every port of a Service, in port order.
    pub fn all(chain: &'c ServiceChain, map: Option<&'c [PortMapping]>) -> Vec<Self> {
        (0..chain.ports.len())
            .filter_map(|index| Self::new(chain, index, map.and_then(|map| map.get(index))))
            .collect()
    }

    /// Every hop of the port, depth first.
    pub fn walk(&self) -> impl Iterator<Item = &HopNode<'c>> + '_ {
        self.hops.iter().flat_map(HopNode::walk)
    }

    /// Whether any endpoint of the port can take traffic (ready, or serving while terminating;
    /// rule D4).
    pub fn usable(&self) -> bool {
        port_usable(self.port)
    }

    /// The stable key of a hop, when it has one (see [`Hop`]).
    pub fn hop(&self, kind: &HopKind<'_>) -> Option<Hop> {
        hop_of(self.port, kind)
    }

    /// The hop that has this key.
    pub fn find(&self, hop: &Hop) -> Option<&HopNode<'c>> {
        self.walk()
            .find(|node| self.hop(&node.kind).as_ref() == Some(hop))
    }
}

/// The Ingress rules of a Service that name a port it does not have (they break before any
/// port): `port_index` `None`. With `Some`, the rules that route to that port.
pub fn ingress_hops(chain: &ServiceChain, port_index: Option<usize>) -> Vec<HopNode<'_>> {
    chain
        .ingresses
        .iter()
        .enumerate()
        .filter(|(_, rule)| ingress_port(chain, rule.service_port.as_ref()) == port_index)
        .map(|(index, rule)| {
            let state = if port_index.is_some() {
                HopState::Ok
            } else {
                HopState::Broken
            };
            HopNode::leaf(HopKind::Ingress { index, rule }, state)
        })
        .collect()
}

/// The Gateway API route hops of a port: the route rules whose backendRef names its number
/// (UDPRoutes for UDP ports, the other kinds for TCP ports).
pub fn gateway_hops<'c>(chain: &'c ServiceChain, port: &PortChain) -> Vec<HopNode<'c>> {
    chain
        .gateway_routes
        .iter()
        .enumerate()
        .filter(|(_, route)| {
            let udp = route.kind == super::gateway::RouteKind::Udp;
            route.service_port == port.port && udp == (port.protocol == super::model::Protocol::Udp)
        })
        .map(|(index, route)| {
            let state = if route.gateway.problem.is_some() || route.backend_problem.is_some() {
                HopState::Broken
            } else if route.weight == 0 {
                HopState::Caveat
            } else {
                HopState::Ok
            };
            HopNode::leaf(HopKind::GatewayRoute { index, route }, state)
        })
        .collect()
}

/// The Service port an Ingress backend names: the first port with that number or name.
pub fn ingress_port(chain: &ServiceChain, reference: Option<&PortRef>) -> Option<usize> {
    chain.ports.iter().position(|port| match reference {
        Some(PortRef::Number(number)) => port.port == *number,
        Some(PortRef::Name(name)) => port.name.as_deref() == Some(name.as_str()),
        None => false,
    })
}

/// Whether any endpoint of the port can take traffic (ready, or serving while terminating).
pub fn port_usable(port: &PortChain) -> bool {
    port.endpoints
        .iter()
        .any(|endpoint| endpoint.info.ready || endpoint.info.serving_terminating())
}

fn load_balancer_hops<'c>(chain: &ServiceChain, port: &'c PortChain) -> Vec<HopNode<'c>> {
    if chain.service_type != ServiceType::LoadBalancer {
        return Vec::new();
    }
    if port.load_balancer.is_empty() {
        return vec![HopNode::leaf(
            HopKind::LoadBalancerPending,
            HopState::Caveat,
        )];
    }
    port.load_balancer
        .iter()
        .enumerate()
        .map(|(index, entry)| HopNode::leaf(HopKind::LoadBalancer { index, entry }, HopState::Ok))
        .collect()
}

/// What one node's nodePort does with external traffic: forwards, drops (eTP Local,
/// endpoints elsewhere) or rejects (no usable endpoint anywhere), rule C9.
pub fn node_port_state(port: &PortChain, row: &NodePortRow) -> HopState {
    if row.accepts {
        HopState::Ok
    } else if port.node_ports.any_usable() {
        HopState::Drop
    } else {
        HopState::Reject
    }
}

/// The nodePort group and its rows: a row forwards, drops (eTP Local, endpoints elsewhere) or
/// rejects (no usable endpoint anywhere), rule C9.
fn node_port_hop(port: &PortChain) -> Option<HopNode<'_>> {
    let node_port = port.node_port?;
    let children: Vec<HopNode<'_>> = port
        .node_ports
        .rows()
        .map(|row| {
            let state = node_port_state(port, &row);
            HopNode::leaf(HopKind::NodePort { row }, state)
        })
        .collect();
    let state = if children.iter().all(|row| row.state == HopState::Ok) {
        HopState::Ok
    } else {
        HopState::Caveat
    };
    Some(HopNode {
        kind: HopKind::NodePorts { node_port },
        state,
        children,
    })
}

fn cluster_ip_hop<'c>(chain: &ServiceChain, port: &'c PortChain) -> HopNode<'c> {
    if chain.headless {
        return HopNode::leaf(HopKind::Headless, HopState::Info);
    }
    match port.cluster_ip {
        Some(hop) => {
            let state = if port_usable(port) {
                HopState::Ok
            } else {
                HopState::Reject
            };
            HopNode::leaf(HopKind::ClusterIp { hop }, state)
        }
        None => HopNode::leaf(HopKind::ClusterIpMissing, HopState::Info),
    }
}

/// The state of a set of endpoints: some ready, only serving-terminating ones, or none usable.
fn endpoints_state<'a>(mut conditions: impl Iterator<Item = (bool, bool)> + 'a) -> HopState {
    let mut fallback = false;
    for (ready, serving_terminating) in conditions.by_ref() {
        if ready {
            return HopState::Ok;
        }
        fallback |= serving_terminating;
    }
    if fallback {
        HopState::Caveat
    } else {
        HopState::Broken
    }
}

fn endpoint_state(endpoint: &PortEndpoint) -> HopState {
    endpoints_state(std::iter::once((
        endpoint.info.ready,
        endpoint.info.serving_terminating(),
    )))
}

/// Endpoints grouped by the slice they were read from (slices in order of first appearance).
fn slice_hops(port: &PortChain) -> Vec<HopNode<'_>> {
    let mut names: Vec<&str> = Vec::new();
    for endpoint in &port.endpoints {
        if !names.contains(&endpoint.info.slice.as_ref()) {
            names.push(endpoint.info.slice.as_ref());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let children: Vec<HopNode<'_>> = port
                .endpoints
                .iter()
                .enumerate()
                .filter(|(_, endpoint)| endpoint.info.slice.as_ref() == name)
                .map(|(index, endpoint)| {
                    HopNode::leaf(
                        HopKind::Endpoint { index, endpoint },
                        endpoint_state(endpoint),
                    )
                })
                .collect();
            let state = endpoints_state(children.iter().filter_map(|child| match child.kind {
                HopKind::Endpoint { endpoint, .. } => {
                    Some((endpoint.info.ready, endpoint.info.serving_terminating()))
                }
                _ => None,
            }));
            HopNode {
                kind: HopKind::EndpointSlice { name },
                state,
                children,
            }
        })
        .collect()
}

/// Selected pods that do not receive the port: every pod whose targetPort does not resolve
/// (rule B4), and pods that resolve but are not endpoints of it (A3, A7, stale slices).
fn pods_not_receiving<'c>(port: &PortChain, mapping: Option<&'c PortMapping>) -> Vec<HopNode<'c>> {
    let Some(mapping) = mapping else {
        return Vec::new();
    };
    mapping
        .pods
        .iter()
        .filter(|row| {
            let unresolved = matches!(
                row.outcome,
                PodPortOutcome::NameNotDeclared { .. } | PodPortOutcome::ProtocolMismatch { .. }
            );
            unresolved || !receives(port, &row.pod)
        })
        .map(|mapping| HopNode::leaf(HopKind::PodNotReceiving { mapping }, HopState::Broken))
        .collect()
}

/// Whether a pod is among the port's endpoints.
pub fn receives(port: &PortChain, pod: &str) -> bool {
    port.endpoints
        .iter()
        .any(|endpoint| endpoint.info.pod.as_deref() == Some(pod))
}

/// The [`Hop`] key of a hop kind; `None` for kinds without a stable identity (groups, states).
fn hop_of(port: &PortChain, kind: &HopKind<'_>) -> Option<Hop> {
    let (number, protocol) = (port.port, port.protocol);
    Some(match kind {
        HopKind::Ingress { rule, .. } => ingress_key(rule),
        HopKind::GatewayRoute { route, .. } => gateway_key(route),
        HopKind::LoadBalancer { entry, .. } => Hop::LoadBalancer {
            port: number,
            protocol,
            address: entry
                .ip
                .clone()
                .or_else(|| entry.hostname.clone())
                .unwrap_or_default(),
        },
        HopKind::NodePort { row } => Hop::NodePort {
            port: number,
            protocol,
            node: row.node.clone(),
            address: row.address,
        },
        HopKind::ClusterIp { .. } => Hop::ClusterIp {
            port: number,
            protocol,
        },
        HopKind::EndpointSlice { name } => Hop::EndpointSlice {
            name: (*name).to_owned(),
        },
        HopKind::Endpoint { endpoint, .. } => Hop::Endpoint {
            port: number,
            protocol,
            ip: endpoint.info.ip,
            target_port: endpoint.port,
        },
        HopKind::LoadBalancerPending
        | HopKind::ExternalIp { .. }
        | HopKind::NodePorts { .. }
        | HopKind::ClusterIpMissing
        | HopKind::Headless
        | HopKind::ExternalName { .. }
        | HopKind::PodNotReceiving { .. }
        | HopKind::NoEndpoints => return None,
    })
}

/// A hop found by its key: the port tree it belongs to (`None` for an Ingress rule naming a
/// port the Service does not have) and the hop itself.
#[derive(Debug, Clone)]
pub struct Located<'c> {
    pub tree: Option<PortHops<'c>>,
    pub node: HopNode<'c>,
}

/// Finds the hop with this key among every port's tree and the Ingress rules that name no port.
pub fn locate<'c>(chain: &'c ServiceChain, hop: &Hop) -> Option<Located<'c>> {
    for tree in PortHops::all(chain, None) {
        if let Some(node) = tree.find(hop).cloned() {
            return Some(Located {
                tree: Some(tree),
                node,
            });
        }
    }
    ingress_hops(chain, None)
        .into_iter()
        .find(|node| match node.kind {
            HopKind::Ingress { rule, .. } => ingress_key(rule) == *hop,
            _ => false,
        })
        .map(|node| Located { tree: None, node })
}

/// The key of a Gateway route hop.
pub fn gateway_key(route: &GatewayRouteRef) -> Hop {
    Hop::GatewayRoute {
        gateway: format!("{}/{}", route.gateway.namespace, route.gateway.name),
        listener: route.gateway.listener.clone(),
        route: format!("{}/{}/{}", route.kind, route.namespace, route.name),
        rule: route.rule,
    }
}

/// The key of an Ingress rule's hop (it does not depend on the port).
pub fn ingress_key(rule: &IngressRef) -> Hop {
    Hop::Ingress {
        namespace: rule.namespace.clone(),
        name: rule.name.clone(),
        host: rule.host.clone(),
        path: rule.path.clone(),
    }
}
