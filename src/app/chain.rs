//! The outline of the Chain pane for one Service: which nodes exist, their identities and what
//! each stands for. The view turns it into tree rows; update navigates it. Identities are the
//! engine's hop keys (`80/TCP/nodePort/node-2/127.0.1.2`), so a selection survives snapshots.

use std::collections::HashSet;

use crate::engine::Severity;
use crate::engine::hops::{self, HopKind, HopNode, PortHops};
use crate::engine::model::{Hop, NodePortRow, ServiceChain, ServiceType};
use crate::engine::ports::{PodPortMapping, PodPortOutcome, PortMapping};

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
    /// A Gateway API route rule entered through a Gateway listener (index into
    /// `chain.gateway_routes`).
    GatewayRoute {
        port: usize,
        route: usize,
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
fn no_endpoints_reason(chain: &ServiceChain, mapping: Option<&PortMapping>) -> String {
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
    if let Some(mapping) = mapping {
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

/// The outline nodes of one Service port: its hop tree, minus what the pane does not show
/// (externalIPs, a missing ClusterIP) and with the pods whose targetPort does not resolve.
fn port_children(
    chain: &ServiceChain,
    index: usize,
    mapping: Option<&PortMapping>,
) -> Vec<OutlineNode> {
    let Some(tree) = PortHops::new(chain, index, mapping) else {
        return Vec::new();
    };
    tree.hops
        .iter()
        .filter_map(|node| outline_node(&tree, node, mapping))
        .collect()
}

/// One hop of the tree as an outline node: one arm per kind of hop.
fn outline_node(
    tree: &PortHops<'_>,
    node: &HopNode<'_>,
    mapping: Option<&PortMapping>,
) -> Option<OutlineNode> {
    let port = tree.index;
    let kind = match &node.kind {
        HopKind::Ingress { index, .. } => NodeKind::Ingress {
            ingress: *index,
            port: Some(port),
        },
        HopKind::GatewayRoute { index, .. } => NodeKind::GatewayRoute {
            port,
            route: *index,
        },
        HopKind::LoadBalancerPending => {
            let kind = NodeKind::LoadBalancerPending { port };
            return Some(OutlineNode::leaf("lb-pending", kind, None));
        }
        HopKind::LoadBalancer { index, .. } => NodeKind::LoadBalancer {
            port,
            entry: *index,
        },
        HopKind::NodePorts { .. } => {
            return Some(OutlineNode {
                id: "nodePorts".to_owned(),
                kind: NodeKind::NodePorts { port },
                hop: None,
                children: children(tree, node, mapping),
            });
        }
        HopKind::NodePort { row } => NodeKind::NodePort {
            port,
            row: row.clone(),
        },
        HopKind::ClusterIp { .. } => NodeKind::ClusterIp { port },
        HopKind::Headless => {
            let kind = NodeKind::Headless { port: Some(port) };
            return Some(OutlineNode::leaf("headless", kind, None));
        }
        HopKind::EndpointSlice { name } => NodeKind::Slice {
            port: Some(port),
            name: (*name).to_owned(),
        },
        HopKind::Endpoint { index, .. } => NodeKind::Endpoint {
            port: Some(port),
            endpoint: *index,
        },
        HopKind::PodNotReceiving { mapping: row } => {
            let text = unresolved_text(row, mapping?)?;
            let kind = NodeKind::Broken {
                severity: Severity::Error,
                text,
            };
            return Some(OutlineNode::leaf(
                format!("unresolved/{}", row.pod),
                kind,
                None,
            ));
        }
        HopKind::NoEndpoints => {
            let kind = NodeKind::Broken {
                severity: Severity::Error,
                text: no_endpoints_reason(tree.chain, mapping),
            };
            return Some(OutlineNode::leaf("no-endpoints", kind, None));
        }
        HopKind::ExternalIp { .. } | HopKind::ClusterIpMissing | HopKind::ExternalName { .. } => {
            return None;
        }
    };
    let hop = tree.hop(&node.kind)?;
    Some(node_with_hop(kind, hop, children(tree, node, mapping)))
}

fn children(
    tree: &PortHops<'_>,
    node: &HopNode<'_>,
    mapping: Option<&PortMapping>,
) -> Vec<OutlineNode> {
    node.children
        .iter()
        .filter_map(|child| outline_node(tree, child, mapping))
        .collect()
}

/// Why a selected pod cannot take the port (rule B4); `None` for pods that resolve.
fn unresolved_text(row: &PodPortMapping, mapping: &PortMapping) -> Option<String> {
    match &row.outcome {
        PodPortOutcome::NameNotDeclared { declared } => Some(format!(
            "{}: declares no port named {} ({})",
            row.pod,
            mapping.target_port,
            crate::engine::ports::describe_declared(declared)
        )),
        PodPortOutcome::ProtocolMismatch {
            container,
            declared,
            port,
        } => Some(format!(
            "{}: {} is {port}/{declared} in container {container}, the Service port is {}",
            row.pod, mapping.target_port, mapping.protocol
        )),
        _ => None,
    }
}

/// The Ingress rules that name a port the Service does not have (they break before any port).
fn unmatched_ingress_nodes(chain: &ServiceChain) -> Vec<OutlineNode> {
    hops::ingress_hops(chain, None)
        .iter()
        .filter_map(|node| match node.kind {
            HopKind::Ingress { index, rule } => Some(node_with_hop(
                NodeKind::Ingress {
                    ingress: index,
                    port: None,
                },
                hops::ingress_key(rule),
                Vec::new(),
            )),
            _ => None,
        })
        .collect()
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
    let mut roots = unmatched_ingress_nodes(chain);
    let single = chain.ports.len() == 1;
    let map = chain.port_map();
    for (index, port) in chain.ports.iter().enumerate() {
        let children = port_children(chain, index, map.get(index));
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
