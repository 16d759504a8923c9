//! The outline of the Chain pane for one Service: which nodes exist, their identities and what
//! each stands for. The view turns it into tree rows; update navigates it. Identities are the
//! engine's hop keys (`80/TCP/nodePort/node-2/127.0.1.2`), so a selection survives snapshots.

use std::collections::HashSet;

use crate::engine::Severity;
use crate::engine::model::{Hop, NodePortRow, PortChain, PortRef, ServiceChain, ServiceType};
use crate::engine::ports::PodPortOutcome;

/// A path of node ids from the root, as the tree widget identifies a node.
pub type NodePath = Vec<String>;

/// What one tree node stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A Service port (index into `chain.ports`).
    Port {
        port: usize,
    },
    /// An Ingress rule (index into `chain.ingresses`); `port` is `None` when the rule names a
    /// port the Service does not have.
    Ingress {
        ingress: usize,
        port: Option<usize>,
    },
    LoadBalancer {
        port: usize,
        entry: usize,
    },
    /// type LoadBalancer with no ingress in status.
    LoadBalancerPending {
        port: usize,
    },
    /// The group of per-node NodePort rows.
    NodePorts {
        port: usize,
    },
    NodePort {
        port: usize,
        row: NodePortRow,
    },
    ClusterIp {
        port: usize,
    },
    /// clusterIP None.
    Headless {
        port: Option<usize>,
    },
    ExternalName,
    /// An EndpointSlice's endpoints for one port.
    Slice {
        port: Option<usize>,
        name: String,
    },
    /// An endpoint: index into `chain.ports[port].endpoints`, or into `details.endpoints` for
    /// a Service without ports.
    Endpoint {
        port: Option<usize>,
        endpoint: usize,
    },
    /// A hop that breaks here, with the reason.
    Broken {
        severity: Severity,
        text: String,
    },
}

/// One node of the outline.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlineNode {
    /// Unique among siblings.
    pub id: String,
    pub kind: NodeKind,
    /// The engine hop this node is (for Explain, the probe, YAML).
    pub hop: Option<Hop>,
    pub children: Vec<OutlineNode>,
}

impl OutlineNode {
    fn leaf(id: impl Into<String>, kind: NodeKind, hop: Option<Hop>) -> Self {
        Self {
            id: id.into(),
            kind,
            hop,
            children: Vec::new(),
        }
    }
}

/// The whole outline of one Service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outline {
    pub roots: Vec<OutlineNode>,
}

/// One visible row after flattening with the collapsed set.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatRow<'a> {
    pub path: NodePath,
    pub node: &'a OutlineNode,
    pub depth: usize,
}

fn hop_id(hop: &Hop) -> String {
    hop.to_string()
}

fn node_with_hop(kind: NodeKind, hop: Hop, children: Vec<OutlineNode>) -> OutlineNode {
    OutlineNode {
        id: hop_id(&hop),
        kind,
        hop: Some(hop),
        children,
    }
}

fn selector_text(chain: &ServiceChain) -> String {
    chain
        .selector
        .as_ref()
        .map(|selector| {
            selector
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Why a port has no endpoints, in a few words.
fn no_endpoints_reason(chain: &ServiceChain, port_index: usize) -> String {
    let details = &chain.details;
    if chain.selector.is_none() {
        return if details.slices.is_empty() {
            "no endpoints: no selector and no EndpointSlice".to_owned()
        } else {
            "no endpoints for this port in the EndpointSlices".to_owned()
        };
    }
    if details.selected_pods.is_empty() {
        return format!(
            "no endpoints: selector {} matches no pod",
            selector_text(chain)
        );
    }
    if details.excluded_pods.len() == details.selected_pods.len() {
        let reasons: Vec<String> = details
            .excluded_pods
            .iter()
            .map(|(pod, why)| format!("{pod}: {why}"))
            .collect();
        return format!(
            "no endpoints: the matching pods are not endpoints ({})",
            reasons.join("; ")
        );
    }
    let map = chain.port_map();
    if let Some(mapping) = map.get(port_index) {
        let unresolved = mapping
            .pods
            .iter()
            .filter(|row| {
                matches!(
                    row.outcome,
                    PodPortOutcome::NameNotDeclared { .. }
                        | PodPortOutcome::ProtocolMismatch { .. }
                )
            })
            .count();
        if unresolved > 0 {
            return format!(
                "no endpoints: no pod declares targetPort {}",
                mapping.target_port
            );
        }
    }
    "no endpoints".to_owned()
}

fn ingress_port(chain: &ServiceChain, reference: Option<&PortRef>) -> Option<usize> {
    chain.ports.iter().position(|port| match reference {
        Some(PortRef::Number(number)) => port.port == *number,
        Some(PortRef::Name(name)) => port.name.as_deref() == Some(name.as_str()),
        None => false,
    })
}

fn ingress_hop(chain: &ServiceChain, index: usize) -> Option<Hop> {
    let reference = chain.ingresses.get(index)?;
    Some(Hop::Ingress {
        namespace: reference.namespace.clone(),
        name: reference.name.clone(),
        host: reference.host.clone(),
        path: reference.path.clone(),
    })
}

/// The hops of one Service port, in the order a connection meets them: Ingress rules, the
/// load balancer, the NodePorts, the ClusterIP (or headless), then the endpoints per
/// EndpointSlice, and where it breaks.
fn port_children(chain: &ServiceChain, index: usize) -> Vec<OutlineNode> {
    let Some(port) = chain.ports.get(index) else {
        return Vec::new();
    };
    let mut children = ingress_nodes(chain, Some(index));
    if chain.service_type == ServiceType::LoadBalancer {
        children.extend(load_balancer_nodes(port, index));
    }
    if port.node_port.is_some() {
        children.push(node_ports_node(port, index));
    }
    if chain.headless {
        children.push(OutlineNode::leaf(
            "headless",
            NodeKind::Headless { port: Some(index) },
            None,
        ));
    } else if port.cluster_ip.is_some() {
        children.push(node_with_hop(
            NodeKind::ClusterIp { port: index },
            Hop::ClusterIp {
                port: port.port,
                protocol: port.protocol,
            },
            Vec::new(),
        ));
    }
    children.extend(slice_nodes(port, index));
    children.extend(unresolved_pod_nodes(chain, index));
    if port.endpoints.is_empty() {
        children.push(OutlineNode::leaf(
            "no-endpoints",
            NodeKind::Broken {
                severity: Severity::Error,
                text: no_endpoints_reason(chain, index),
            },
            None,
        ));
    }
    children
}

/// The Ingress rules that route to port `port`; with `None`, those that name a port the
/// Service does not have.
fn ingress_nodes(chain: &ServiceChain, port: Option<usize>) -> Vec<OutlineNode> {
    let mut nodes = Vec::new();
    for (ingress, reference) in chain.ingresses.iter().enumerate() {
        if ingress_port(chain, reference.service_port.as_ref()) == port
            && let Some(hop) = ingress_hop(chain, ingress)
        {
            nodes.push(node_with_hop(
                NodeKind::Ingress { ingress, port },
                hop,
                Vec::new(),
            ));
        }
    }
    nodes
}

/// The load balancer's addresses, or one "pending" node while it has none.
fn load_balancer_nodes(port: &PortChain, index: usize) -> Vec<OutlineNode> {
    let mut nodes = Vec::new();
    if port.load_balancer.is_empty() {
        nodes.push(OutlineNode::leaf(
            "lb-pending",
            NodeKind::LoadBalancerPending { port: index },
            None,
        ));
    }
    for (entry_index, entry) in port.load_balancer.iter().enumerate() {
        let address = entry
            .ip
            .clone()
            .or_else(|| entry.hostname.clone())
            .unwrap_or_default();
        nodes.push(node_with_hop(
            NodeKind::LoadBalancer {
                port: index,
                entry: entry_index,
            },
            Hop::LoadBalancer {
                port: port.port,
                protocol: port.protocol,
                address,
            },
            Vec::new(),
        ));
    }
    nodes
}

/// The NodePort group, one child per node address.
fn node_ports_node(port: &PortChain, index: usize) -> OutlineNode {
    let rows: Vec<OutlineNode> = port
        .node_ports
        .rows()
        .map(|row| {
            let hop = Hop::NodePort {
                port: port.port,
                protocol: port.protocol,
                node: row.node.clone(),
                address: row.address,
            };
            node_with_hop(NodeKind::NodePort { port: index, row }, hop, Vec::new())
        })
        .collect();
    OutlineNode {
        id: "nodePorts".to_owned(),
        kind: NodeKind::NodePorts { port: index },
        hop: None,
        children: rows,
    }
}

/// Endpoints, grouped by the slice they were read from (slice order of first appearance).
fn slice_nodes(port: &PortChain, index: usize) -> Vec<OutlineNode> {
    let mut slice_names: Vec<&str> = Vec::new();
    for endpoint in &port.endpoints {
        if !slice_names.contains(&endpoint.info.slice.as_ref()) {
            slice_names.push(endpoint.info.slice.as_ref());
        }
    }
    let mut nodes = Vec::new();
    for name in slice_names {
        let endpoints = port
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, endpoint)| endpoint.info.slice.as_ref() == name)
            .map(|(endpoint_index, endpoint)| {
                node_with_hop(
                    NodeKind::Endpoint {
                        port: Some(index),
                        endpoint: endpoint_index,
                    },
                    Hop::Endpoint {
                        port: port.port,
                        protocol: port.protocol,
                        ip: endpoint.info.ip,
                        target_port: endpoint.port,
                    },
                    Vec::new(),
                )
            })
            .collect();
        nodes.push(node_with_hop(
            NodeKind::Slice {
                port: Some(index),
                name: name.to_owned(),
            },
            Hop::EndpointSlice {
                name: name.to_owned(),
            },
            endpoints,
        ));
    }
    nodes
}

/// Pods the selector matches that cannot take this port (rule B4), each where it breaks.
fn unresolved_pod_nodes(chain: &ServiceChain, index: usize) -> Vec<OutlineNode> {
    let mut nodes = Vec::new();
    let Some(mapping) = chain.port_map().into_iter().nth(index) else {
        return nodes;
    };
    for row in &mapping.pods {
        let text = match &row.outcome {
            PodPortOutcome::NameNotDeclared { declared } => format!(
                "{}: declares no port named {} ({})",
                row.pod,
                mapping.target_port,
                crate::engine::ports::describe_declared(declared)
            ),
            PodPortOutcome::ProtocolMismatch {
                container,
                declared,
                port,
            } => format!(
                "{}: {} is {port}/{declared} in container {container}, the Service port is {}",
                row.pod, mapping.target_port, mapping.protocol
            ),
            _ => continue,
        };
        nodes.push(OutlineNode::leaf(
            format!("unresolved/{}", row.pod),
            NodeKind::Broken {
                severity: Severity::Error,
                text,
            },
            None,
        ));
    }
    nodes
}

/// Builds the outline of a Service: per port, its front doors in the order a connection meets
/// them, then its endpoints per EndpointSlice, with broken hops marked where they break.
pub fn outline(chain: &ServiceChain) -> Outline {
    if chain.service_type == ServiceType::ExternalName {
        let roots = vec![OutlineNode::leaf(
            "externalName",
            NodeKind::ExternalName,
            None,
        )];
        return Outline { roots };
    }
    // Ingress rules that name a port the Service does not have break before any port.
    let mut roots = ingress_nodes(chain, None);
    let single = chain.ports.len() == 1;
    for (index, port) in chain.ports.iter().enumerate() {
        let children = port_children(chain, index);
        let id = format!("{}/{}", port.port, port.protocol);
        if single {
            // One port (the common case): its hops sit at the top level, one indent saved.
            roots.push(OutlineNode::leaf(id, NodeKind::Port { port: index }, None));
            roots.extend(children);
        } else {
            roots.push(OutlineNode {
                id,
                kind: NodeKind::Port { port: index },
                hop: None,
                children,
            });
        }
    }
    if chain.ports.is_empty() {
        roots.extend(portless_nodes(chain));
    }
    Outline { roots }
}

/// A Service without ports: headless ones still have endpoints, for DNS only (rule B6).
fn portless_nodes(chain: &ServiceChain) -> Vec<OutlineNode> {
    let mut nodes = Vec::new();
    if chain.headless {
        nodes.push(OutlineNode::leaf(
            "headless",
            NodeKind::Headless { port: None },
            None,
        ));
    }
    let mut slice_names: Vec<&str> = Vec::new();
    for endpoint in &chain.details.endpoints {
        if !slice_names.contains(&endpoint.slice.as_ref()) {
            slice_names.push(endpoint.slice.as_ref());
        }
    }
    for name in slice_names {
        let endpoints = chain
            .details
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, endpoint)| endpoint.slice.as_ref() == name)
            .map(|(endpoint_index, endpoint)| {
                OutlineNode::leaf(
                    format!("endpoint/{}", endpoint.ip),
                    NodeKind::Endpoint {
                        port: None,
                        endpoint: endpoint_index,
                    },
                    None,
                )
            })
            .collect();
        nodes.push(node_with_hop(
            NodeKind::Slice {
                port: None,
                name: name.to_owned(),
            },
            Hop::EndpointSlice {
                name: name.to_owned(),
            },
            endpoints,
        ));
    }
    if chain.details.endpoints.is_empty() {
        nodes.push(OutlineNode::leaf(
            "no-ports",
            NodeKind::Broken {
                severity: Severity::Warning,
                text: "no ports and no endpoints".to_owned(),
            },
            None,
        ));
    }
    nodes
}

impl Outline {
    /// The visible rows: every node whose ancestors are all open (not in `closed`).
    pub fn flatten(&self, closed: &HashSet<NodePath>) -> Vec<FlatRow<'_>> {
        let mut out = Vec::new();
        fn walk<'a>(
            nodes: &'a [OutlineNode],
            parent: &[String],
            depth: usize,
            closed: &HashSet<NodePath>,
            out: &mut Vec<FlatRow<'a>>,
        ) {
            for node in nodes {
                let mut path = parent.to_vec();
                path.push(node.id.clone());
                let open = !node.children.is_empty() && !closed.contains(&path);
                out.push(FlatRow {
                    path: path.clone(),
                    node,
                    depth,
                });
                if open {
                    walk(&node.children, &path, depth + 1, closed, out);
                }
            }
        }
        walk(&self.roots, &[], 0, closed, &mut out);
        out
    }

    /// The node at a path.
    pub fn get(&self, path: &[String]) -> Option<&OutlineNode> {
        let (first, rest) = path.split_first()?;
        let mut node = self.roots.iter().find(|node| &node.id == first)?;
        for id in rest {
            node = node.children.iter().find(|child| &child.id == id)?;
        }
        Some(node)
    }

    /// Every path that has children (what the tree widget calls "opened" unless closed).
    pub fn branch_paths(&self) -> Vec<NodePath> {
        let mut out = Vec::new();
        fn walk(nodes: &[OutlineNode], parent: &[String], out: &mut Vec<NodePath>) {
            for node in nodes {
                if node.children.is_empty() {
                    continue;
                }
                let mut path = parent.to_vec();
                path.push(node.id.clone());
                out.push(path.clone());
                walk(&node.children, &path, out);
            }
        }
        walk(&self.roots, &[], &mut out);
        out
    }

    /// The longest prefix of `path` that still exists (a selection whose node vanished lands
    /// on its nearest surviving ancestor).
    pub fn nearest(&self, path: &[String]) -> NodePath {
        let mut best = Vec::new();
        for length in 1..=path.len() {
            let prefix = &path[..length];
            if self.get(prefix).is_some() {
                best = prefix.to_vec();
            } else {
                break;
            }
        }
        best
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}
