//! One Service port of the text tree, read from the engine's hop tree: a line per front door in
//! the order a connection meets them, then the endpoints with the pods that do not receive the
//! port. One arm per kind of hop in [`port_tree`].

use std::collections::BTreeSet;

use super::super::style::Style;
use super::super::tree::{TreeNode, align};
use crate::engine::hops::{
    HopKind, HopNode, HopState, IngressRule, PortHops, SocketText, address_text, receives,
};
use crate::engine::model::{
    EndpointInfo, IngressRef, IpMode, LoadBalancerEntry, NodeAcceptance, NodePortRow, PortChain,
    PortEndpoint, TargetPort, TrafficPolicy,
};
use crate::engine::ports::{PodPortMapping, PodPortOutcome, describe_declared};
use crate::engine::{DiagnosticCode, ServiceChain};

/// `http 80/TCP` or `80/TCP`.
fn port_label(port: &PortChain) -> String {
    match port.name.as_deref().filter(|name| !name.is_empty()) {
        Some(name) => format!("{name} {}/{}", port.port, port.protocol),
        None => format!("{}/{}", port.port, port.protocol),
    }
}

/// `Ingress shop/web  example.com/ → port 80`; the default backend in parentheses.
pub(super) fn ingress_text(ingress: &IngressRef) -> String {
    let route = if ingress.default_backend || ingress.path.is_none() {
        format!("({})", IngressRule(ingress))
    } else {
        IngressRule(ingress).to_string()
    };
    let port = ingress
        .service_port
        .as_ref()
        .map(|port| format!(" → port {port}"))
        .unwrap_or_default();
    format!(
        "Ingress {}/{}  {route}{port}",
        ingress.namespace, ingress.name
    )
}

fn socket(ip: std::net::IpAddr, port: i32) -> String {
    SocketText(ip, port).to_string()
}

/// `targetPort http` / `targetPort 8080`.
fn target_text(port: &PortChain) -> String {
    format!("targetPort {}", port.target_port)
}

/// The subtree of one port: title, front doors, endpoints.
pub(super) fn port_tree(chain: &ServiceChain, tree: &PortHops<'_>, style: Style) -> TreeNode {
    let port = tree.port;
    let mut title = format!("port {} → {}", port_label(port), target_text(port));
    if let Some(node_port) = port.node_port {
        title.push_str(&format!(", nodePort {node_port}"));
    }
    if let Some(app_protocol) = &port.app_protocol {
        title.push_str(&format!(", appProtocol {app_protocol}"));
    }
    let mut node = TreeNode::new(style.bold(&title));
    let mut endpoints = false;
    for hop in &tree.hops {
        match &hop.kind {
            HopKind::ExternalName { target } => {
                node.child(style.dim(&format!(
                    "informational only: clients connect to {}:{} themselves",
                    target.unwrap_or("the external name"),
                    port.port
                )));
            }
            HopKind::Ingress { rule, .. } => {
                node.child(ingress_text(rule));
            }
            HopKind::GatewayRoute { route, .. } => {
                let text = kubehop_engine::hops::GatewayRouteText(route).to_string();
                if route.passes() {
                    node.child(text);
                } else if route.gateway.problem.is_none() && route.backend_problem.is_none() {
                    node.child(format!(
                        "{text}  {} {}",
                        style.caveat(),
                        style.yellow("weight 0: sends nothing")
                    ));
                } else {
                    node.child(style.red(&text));
                }
            }
            HopKind::LoadBalancerPending => {
                node.child(format!(
                    "LoadBalancer <pending>  {} {}",
                    style.caveat(),
                    style.yellow("no address yet: status.loadBalancer.ingress is empty")
                ));
            }
            HopKind::LoadBalancer { entry, .. } => {
                node.child(load_balancer_line(chain, port, entry, style));
            }
            HopKind::ExternalIp { ip } => {
                node.child(format!(
                    "externalIP {} → {}  {}",
                    socket(*ip, port.port),
                    target_text(port),
                    style.dim(node_rules_text(chain))
                ));
            }
            HopKind::NodePorts { node_port } => {
                node.push(node_ports_tree(chain, port, *node_port, hop, style));
            }
            HopKind::ClusterIp { hop } => {
                let mut addresses = vec![socket(hop.ip, hop.port)];
                addresses.extend(
                    chain
                        .cluster_ips
                        .iter()
                        .filter(|ip| **ip != hop.ip)
                        .map(|ip| socket(*ip, port.port)),
                );
                node.child(format!(
                    "ClusterIP {} → {}",
                    addresses.join(", "),
                    target_text(port)
                ));
            }
            HopKind::ClusterIpMissing => {
                node.child(format!(
                    "ClusterIP {}",
                    style.dim("none in the input (the API server allocates one on create)")
                ));
            }
            // The summary says headless; the endpoints and pods are one table, below.
            HopKind::Headless
            | HopKind::NodePort { .. }
            | HopKind::EndpointSlice { .. }
            | HopKind::Endpoint { .. }
            | HopKind::PodNotReceiving { .. }
            | HopKind::NoEndpoints => endpoints = true,
        }
    }
    if endpoints {
        node.push(endpoints_tree(chain, tree, style));
    }
    node
}

/// One load balancer address: with node rules (ipMode VIP) or proxied (rule C5).
fn load_balancer_line(
    chain: &ServiceChain,
    port: &PortChain,
    entry: &LoadBalancerEntry,
    style: Style,
) -> String {
    let forwards_to_node_port = match port.node_port {
        Some(node_port) => format!("the load balancer forwards to NodePort {node_port}"),
        None => "the load balancer forwards to the pods itself".to_owned(),
    };
    let ip_port_text = |ip: &str| address_text(ip, port.port);
    match (&entry.ip, &entry.hostname, entry.ip_mode) {
        (Some(ip), _, Some(IpMode::VIP)) => format!(
            "LoadBalancer {} (ipMode VIP) → {}  {}",
            ip_port_text(ip),
            target_text(port),
            style.dim(node_rules_text(chain))
        ),
        (Some(ip), _, _) => format!(
            "LoadBalancer {} (ipMode Proxy)  {}",
            ip_port_text(ip),
            style.dim(&format!("no node rule; {forwards_to_node_port}"))
        ),
        (None, Some(hostname), _) => format!(
            "LoadBalancer {hostname}:{} (hostname)  {}",
            port.port,
            style.dim(&format!("no node rule; {forwards_to_node_port}"))
        ),
        (None, None, _) => "LoadBalancer (empty ingress entry)".to_owned(),
    }
}

/// What the nodes do with traffic to an LB VIP or externalIP (rules C5, C6, D8, D9).
fn node_rules_text(chain: &ServiceChain) -> &'static str {
    if chain.external_traffic_policy == Some(TrafficPolicy::Local) {
        "only nodes with a local endpoint forward it"
    } else {
        "any node forwards it to the endpoints below"
    }
}

/// The nodePort group: one row per node address, with what it does to external traffic
/// (rules C3, C8, C9).
fn node_ports_tree(
    chain: &ServiceChain,
    port: &PortChain,
    node_port: i32,
    group: &HopNode<'_>,
    style: Style,
) -> TreeNode {
    let local_only = port.node_ports.acceptance() == NodeAcceptance::LocalEndpointsOnly;
    if group.children.is_empty() {
        return TreeNode::new(format!(
            "NodePort {node_port} → {}  {}",
            target_text(port),
            style.dim("the input has no Nodes with addresses, so the node addresses are unknown")
        ));
    }
    let rows: Vec<_> = group
        .children
        .iter()
        .filter_map(|child| match &child.kind {
            HopKind::NodePort { row } => Some((row, child.state)),
            _ => None,
        })
        .collect();
    let nodes: BTreeSet<&str> = rows.iter().map(|(row, _)| row.node.as_str()).collect();
    let policy = if local_only {
        "each node forwards to its own endpoints only, client IP kept"
    } else {
        "any node forwards to any endpoint, with source NAT"
    };
    let mut hop = TreeNode::new(format!(
        "NodePort {node_port} on {} node{} → {}  {}",
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" },
        target_text(port),
        style.dim(policy)
    ));
    let health_port = chain.details.health_check_node_port;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(row, state)| {
            let local = format!(
                "{} local endpoint{}",
                row.local_endpoints,
                if row.local_endpoints == 1 { "" } else { "s" }
            );
            let (mark, verdict) = row_verdict(row, *state, local_only, health_port, style);
            vec![
                mark,
                row.node.clone(),
                socket(row.address, row.port),
                local,
                verdict,
            ]
        })
        .collect();
    for line in align(&table) {
        hop.child(line);
    }
    hop
}

/// What one node does with external traffic: the mark and the words (rules C8, C9).
fn row_verdict(
    row: &NodePortRow,
    state: HopState,
    local_only: bool,
    health_port: Option<i32>,
    style: Style,
) -> (String, String) {
    let (mark, mut verdict) = match state {
        HopState::Ok if local_only || row.local_endpoints > 0 => (style.ok(), "accepts".to_owned()),
        HopState::Ok => (style.ok(), "accepts, forwards to other nodes".to_owned()),
        HopState::Drop => (style.broken(), style.red("drops: no local endpoint")),
        _ => (
            style.broken(),
            style.red("rejects: no usable endpoint anywhere"),
        ),
    };
    if let Some(passes) = row.health_check_passes {
        let answer = if passes {
            "200"
        } else {
            "503, the load balancer skips this node"
        };
        let port = health_port
            .map(|port| format!(" {port}"))
            .unwrap_or_default();
        verdict.push_str(&format!("; health check{port} → {answer}"));
    }
    (mark, verdict)
}

/// `ready`, `not ready`, `serving, terminating`, ...
fn conditions_text(info: &EndpointInfo) -> String {
    match (info.ready, info.serving, info.terminating) {
        (true, true, false) => "ready".to_owned(),
        (true, false, false) => "ready (not serving: publishNotReadyAddresses)".to_owned(),
        (true, _, true) => "ready, terminating (publishNotReadyAddresses)".to_owned(),
        (false, true, true) => "serving, terminating".to_owned(),
        (false, false, true) => "not serving, terminating".to_owned(),
        (false, _, false) => "not ready".to_owned(),
    }
}

/// `80 → targetPort http → 8080` (named) or `80 → targetPort 8080`.
fn mapping_text(port: &PortChain, endpoint: &PortEndpoint) -> String {
    match &port.target_port {
        TargetPort::Name(name) => format!("{} → targetPort {name} → {}", port.port, endpoint.port),
        TargetPort::Number(_) => format!("{} → targetPort {}", port.port, endpoint.port),
    }
}

/// `[mark, pod, address, conditions, node, zone, mapping]`.
pub(super) fn endpoint_row(
    info: &EndpointInfo,
    address: String,
    mapping: String,
    style: Style,
) -> Vec<String> {
    let conditions = conditions_text(info);
    let (mark, conditions) = if info.ready {
        (style.ok(), conditions)
    } else if info.serving_terminating() {
        (style.caveat(), style.yellow(&conditions))
    } else {
        (style.broken(), style.red(&conditions))
    };
    vec![
        mark,
        info.pod.as_deref().unwrap_or("(no pod)").to_owned(),
        address,
        conditions,
        info.node.as_deref().unwrap_or("(no node)").to_owned(),
        info.zone.as_deref().unwrap_or("-").to_owned(),
        style.dim(&mapping),
    ]
}

fn endpoints_tree(chain: &ServiceChain, tree: &PortHops<'_>, style: Style) -> TreeNode {
    let port = tree.port;
    let mut endpoints: Vec<(usize, &PortEndpoint)> = tree
        .walk()
        .filter_map(|node| match node.kind {
            HopKind::Endpoint { index, endpoint } => Some((index, endpoint)),
            _ => None,
        })
        .collect();
    endpoints.sort_by_key(|(index, _)| *index);
    let mut node = TreeNode::new(endpoints_heading(chain, port, style));
    let mut rows: Vec<Vec<String>> = endpoints
        .iter()
        .map(|(_, endpoint)| {
            endpoint_row(
                &endpoint.info,
                socket(endpoint.info.ip, endpoint.port),
                mapping_text(port, endpoint),
                style,
            )
        })
        .collect();
    // Selected pods that do not receive this port, and why (rules B4, A3, A7).
    for hop in tree.walk() {
        if let HopKind::PodNotReceiving { mapping } = hop.kind
            && !receives(port, &mapping.pod)
        {
            rows.push(vec![
                style.broken(),
                mapping.pod.clone(),
                "-".to_owned(),
                style.red(&not_receiving_text(port, mapping)),
            ]);
        }
    }
    for line in align(&rows) {
        node.child(line);
    }
    node
}

/// `endpoints: 2 ready of 3`, and where the chain breaks when none can take traffic.
fn endpoints_heading(chain: &ServiceChain, port: &PortChain, style: Style) -> String {
    let endpoints = &port.endpoints;
    let total = endpoints.len();
    let ready = endpoints.iter().filter(|e| e.info.ready).count();
    let fallback = endpoints
        .iter()
        .filter(|e| e.info.serving_terminating())
        .count();
    let counts = if fallback > 0 {
        format!("{ready} ready, {fallback} serving-terminating, of {total}")
    } else {
        format!("{ready} ready of {total}")
    };
    if chain.headless {
        format!(
            "endpoints: {counts}  {}",
            style.dim("headless: clients get these addresses from DNS")
        )
    } else if total == 0 {
        format!(
            "endpoints: none  {} {}",
            style.broken(),
            style.red(&format!(
                "chain breaks here: every front door of this port rejects connections{}",
                break_cause(chain, port)
            ))
        )
    } else if ready == 0 && fallback == 0 {
        format!(
            "endpoints: {counts}  {} {}",
            style.broken(),
            style.red("chain breaks here: no endpoint is ready, connections are rejected")
        )
    } else if ready == 0 {
        format!(
            "endpoints: {counts}  {} {}",
            style.caveat(),
            style.yellow("no endpoint is ready: traffic falls back to terminating pods")
        )
    } else {
        format!("endpoints: {counts}")
    }
}

/// Why a selected pod does not receive the port.
fn not_receiving_text(port: &PortChain, pod: &PodPortMapping) -> String {
    match &pod.outcome {
        PodPortOutcome::NameNotDeclared { declared } => format!(
            "no endpoint for this port: targetPort {} is not declared ({})",
            port.target_port,
            describe_declared(declared)
        ),
        PodPortOutcome::ProtocolMismatch {
            declared,
            port: number,
            ..
        } => format!(
            "no endpoint for this port: {} is declared as {number}/{declared}, the port is {}",
            port.target_port, port.protocol
        ),
        PodPortOutcome::Excluded(exclusion) => format!("not an endpoint: {exclusion}"),
        // Resolves but is not in the EndpointSlices (stale slices in the input).
        PodPortOutcome::Resolved { container_port, .. } => {
            format!("not in the EndpointSlices (would receive on {container_port})")
        }
    }
}

/// The likely cause when a port has no endpoint at all, from the Service's diagnostics.
fn break_cause(chain: &ServiceChain, port: &PortChain) -> String {
    let port_subject = port
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{}/{}", port.port, port.protocol));
    let named_port_missing = chain.diagnostics.iter().any(|diagnostic| {
        diagnostic.code == DiagnosticCode::NamedPortNotFound
            && diagnostic.subject.to_string() == format!("port/{port_subject}")
    });
    if has_code(chain, DiagnosticCode::SelectorNoMatch) {
        " (the selector matches no pod)".to_owned()
    } else if has_code(chain, DiagnosticCode::SelectorlessNoEndpoints) {
        " (no selector and no EndpointSlice)".to_owned()
    } else if named_port_missing {
        format!(" (targetPort {} resolves on no pod)", port.target_port)
    } else if has_code(chain, DiagnosticCode::PodsNotEndpoints) {
        " (the selected pods are not endpoints)".to_owned()
    } else {
        String::new()
    }
}

fn has_code(chain: &ServiceChain, code: DiagnosticCode) -> bool {
    chain
        .diagnostics
        .iter()
        .any(|diagnostic| diagnostic.code == code)
}
