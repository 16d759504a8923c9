//! Explain for one hop: the hop is found in the engine's hop tree by its key, then asked the
//! routing question it stands for (which destination, from which kind of client, on which
//! node), or described from the chain's own data.

use std::net::IpAddr;

use super::{Explanation, explain_route, reason_sentence};
use crate::hops::{HopKind, IngressRule, Located, locate};
use crate::model::{
    EndpointInfo, Hop, IngressRef, IpMode, LoadBalancerEntry, NodePortRow, PortChain, PortEndpoint,
    ProxyModel, ServiceChain, ServiceType,
};
use crate::pods::Exclusion;
use crate::ports::{PodPortOutcome, port_map};
use crate::route::{RouteQuery, RouteReason, TrafficSource, Verdict};

/// The node a hop's question is asked on: for LoadBalancer + eTP Local the first node whose
/// health check passes (a real load balancer only sends there, rule D12), else the first node.
fn representative_node(model: &ProxyModel, port: Option<&PortChain>) -> String {
    if let Some(port) = port
        && let Some(row) = port
            .node_ports
            .rows()
            .find(|row| row.health_check_passes == Some(true))
    {
        return row.node;
    }
    model.node_names().next().unwrap_or_default().to_owned()
}

/// The routing question for a ClusterIP hop: a pod on the first node connects.
fn cluster_ip_query(model: &ProxyModel, port: &PortChain) -> Option<RouteQuery> {
    let hop = port.cluster_ip?;
    Some(RouteQuery {
        destination: hop.ip,
        port: u16::try_from(hop.port).ok()?,
        protocol: port.protocol,
        source: TrafficSource::Pod {
            node: representative_node(model, None),
        },
        source_ip: None,
    })
}

fn ask(model: &ProxyModel, query: &RouteQuery) -> Explanation {
    explain_route(query, &model.route(query))
}

/// Explains one hop of `chain` (see [`Hop`]); `None` hop explains the Service as a whole.
pub fn explain_hop(model: &ProxyModel, chain: &ServiceChain, hop: Option<&Hop>) -> Explanation {
    let Some(hop) = hop else {
        return explain_service(model, chain);
    };
    if let Hop::EndpointSlice { name } = hop {
        // A slice belongs to the Service, not to one port (a Service without ports has some).
        return explain_slice(chain, name);
    }
    let Some(Located { tree, node }) = locate(chain, hop) else {
        return explain_service(model, chain);
    };
    let port = tree.as_ref().map(|tree| tree.port);
    let explained = match (&node.kind, port) {
        (HopKind::Ingress { rule, .. }, _) => Some(explain_ingress(model, chain, rule, port)),
        (HopKind::GatewayRoute { route, .. }, _) => {
            Some(super::gateway::explain_gateway_route(chain, route, port))
        }
        (HopKind::ClusterIp { .. }, Some(port)) => {
            cluster_ip_query(model, port).map(|query| ask(model, &query))
        }
        (HopKind::NodePort { row }, Some(port)) => explain_node_port(model, port, row),
        (HopKind::LoadBalancer { entry, .. }, Some(port)) => {
            Some(explain_load_balancer(model, port, entry))
        }
        (HopKind::Endpoint { endpoint, .. }, Some(port)) => {
            Some(explain_endpoint(model, chain, port, endpoint))
        }
        _ => None,
    };
    explained.unwrap_or_else(|| explain_service(model, chain))
}

/// An external client arriving at one node's address and nodePort.
fn explain_node_port(
    model: &ProxyModel,
    port: &PortChain,
    row: &NodePortRow,
) -> Option<Explanation> {
    let node_port = u16::try_from(port.node_port?).ok()?;
    let mut explained = ask(
        model,
        &RouteQuery {
            destination: row.address,
            port: node_port,
            protocol: port.protocol,
            source: TrafficSource::External {
                node: row.node.clone(),
            },
            source_ip: None,
        },
    );
    // K1, K2: what puts this node's answer in doubt.
    if let Some(issue) = &row.node_issue {
        explained.sentences.push(if issue.breaks_node_ports() {
            format!(
                "That is if {} forwards at all: {issue}, so its Service rules may be missing or stale.",
                row.node
            )
        } else {
            format!(
                "{} still forwards, but {issue}: its local endpoints go when it is drained.",
                row.node
            )
        });
    }
    Some(explained)
}

fn explain_load_balancer(
    model: &ProxyModel,
    found: &PortChain,
    entry: &LoadBalancerEntry,
) -> Explanation {
    let (port, protocol) = (found.port, found.protocol);
    let address = entry
        .ip
        .clone()
        .or_else(|| entry.hostname.clone())
        .unwrap_or_default();
    let ip: Option<IpAddr> = entry.ip.as_deref().and_then(|ip| ip.parse().ok());
    let vip = entry.ip_mode == Some(IpMode::VIP);
    let node_port_text = found
        .node_port
        .map(|number| format!("nodePort {number}"))
        .unwrap_or_else(|| "the pods directly".to_owned());
    match (ip, vip, u16::try_from(port).ok()) {
        (Some(ip), true, Some(number)) => {
            let node = representative_node(model, Some(found));
            let query = RouteQuery {
                destination: ip,
                port: number,
                protocol,
                source: TrafficSource::External { node: node.clone() },
                source_ip: None,
            };
            let mut explanation = ask(model, &query);
            let lead = if found.node_ports.health_checked {
                format!(
                    "The load balancer sends connections for {ip}:{port} to the nodes whose health check passes (here {node})."
                )
            } else {
                format!(
                    "The load balancer sends connections for {ip}:{port} to any node (here {node})."
                )
            };
            explanation.sentences.insert(0, lead);
            explanation
        }
        (Some(ip), false, _) => {
            let mut sentences = vec![format!(
                "The load balancer owns {ip}:{port} and proxies connections itself; it must send them to {node_port_text} on the nodes."
            )];
            sentences.push(reason_sentence(&RouteReason::LoadBalancerProxyMode));
            Explanation { sentences }
        }
        _ => Explanation {
            sentences: vec![format!(
                "The load balancer is reached by the name {address}; it sends connections for port {port} to {node_port_text} on the nodes, where kube-proxy takes over."
            )],
        },
    }
}

fn explain_ingress(
    model: &ProxyModel,
    chain: &ServiceChain,
    rule: &IngressRef,
    port: Option<&PortChain>,
) -> Explanation {
    let (namespace, name) = (&rule.namespace, &rule.name);
    let target = rule
        .service_port
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "?".to_owned());
    let what = match (&rule.host, &rule.path) {
        (_, None) => "every request no rule matches (its default backend)".to_owned(),
        (Some(_), Some(_)) => format!("HTTP requests for {}", IngressRule(rule)),
        (None, Some(path)) => format!("HTTP requests for any host with path {path}"),
    };
    let mut sentences = vec![format!(
        "Ingress {namespace}/{name} sends {what} to port {target} of Service {}.",
        chain.name
    )];
    match port {
        None => sentences.push(format!(
            "Service {} has no port {target}, so the ingress controller has nowhere to send them.",
            chain.name
        )),
        Some(port) => {
            let ready = port
                .endpoints
                .iter()
                .filter(|endpoint| endpoint.info.ready)
                .count();
            sentences.push(format!(
                "Most ingress controllers read the Service's EndpointSlices and connect to the pods directly, skipping the ClusterIP: {ready} of {} endpoints are ready.",
                port.endpoints.len()
            ));
            if let Some(query) = cluster_ip_query(model, port) {
                let decision = model.route(&query);
                if decision.verdict != Verdict::Forward {
                    sentences.extend(
                        explain_route(&query, &decision)
                            .sentences
                            .into_iter()
                            .take(1),
                    );
                }
            }
        }
    }
    Explanation { sentences }
}

fn explain_slice(chain: &ServiceChain, name: &str) -> Explanation {
    let endpoints: Vec<&EndpointInfo> = chain
        .details
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.slice.as_ref() == name)
        .map(AsRef::as_ref)
        .collect();
    let ready = endpoints.iter().filter(|endpoint| endpoint.ready).count();
    let writer = if chain.endpoints_derived {
        format!(
            "The input had no EndpointSlice for Service {}, so kubehop derived {name} from the pods with the EndpointSlice controller's rules",
            chain.name
        )
    } else if chain.selector.is_some() {
        format!(
            "EndpointSlice {name} is written by the EndpointSlice controller from the pods that Service {}'s selector matches",
            chain.name
        )
    } else {
        format!(
            "EndpointSlice {name} was written by hand (or by another controller), because Service {} has no selector",
            chain.name
        )
    };
    let mut sentences = vec![format!(
        "{writer}; it lists {} endpoint{}, {ready} ready.",
        endpoints.len(),
        if endpoints.len() == 1 { "" } else { "s" }
    )];
    sentences.push(
        "kube-proxy reads the slices, not the pods: only what is listed here can receive Service traffic.".to_owned(),
    );
    Explanation { sentences }
}

fn explain_endpoint(
    model: &ProxyModel,
    chain: &ServiceChain,
    found: &PortChain,
    endpoint: &PortEndpoint,
) -> Explanation {
    let (port, protocol) = (found.port, found.protocol);
    let (ip, target_port) = (endpoint.info.ip, endpoint.port);
    let info = &endpoint.info;
    let who = match &info.pod {
        Some(pod) => format!("Pod {pod}"),
        None => format!("Endpoint {ip}"),
    };
    let place = match (&info.node, &info.zone) {
        (Some(node), Some(zone)) => format!(" on {node} (zone {zone})"),
        (Some(node), None) => format!(" on {node}"),
        _ => String::new(),
    };
    let mut sentences = Vec::new();
    let mapping = port_map(chain)
        .into_iter()
        .find(|mapping| mapping.port == port && mapping.protocol == protocol)
        .and_then(|mapping| {
            let pod = info.pod.as_deref()?;
            mapping.pods.into_iter().find(|row| row.pod == pod)
        });
    let port_words = match mapping.map(|row| row.outcome) {
        Some(PodPortOutcome::Resolved {
            container_port,
            container: Some(container),
            sidecar,
        }) => format!(
            "targetPort {} is containerPort {container_port} of {} {container}",
            found.target_port,
            if sidecar { "sidecar" } else { "container" }
        ),
        _ => format!("targetPort {} is port {target_port}", found.target_port),
    };
    sentences.push(format!(
        "{who}{place} receives this Service port's traffic at {ip}:{target_port}: {port_words}."
    ));
    sentences.extend(pod_range_sentence(model, info));
    let state = match (info.ready, info.serving, info.terminating) {
        (true, _, _) => "It is ready, so kube-proxy may send it new connections.".to_owned(),
        (false, true, true) => {
            "It is terminating but still serving: kube-proxy uses it only while no pod is ready."
                .to_owned()
        }
        (false, false, true) => {
            "It is terminating and no longer serving: kube-proxy sends it nothing.".to_owned()
        }
        (false, _, false) => {
            "It is not ready (its readiness probe does not pass yet): kube-proxy sends it nothing."
                .to_owned()
        }
    };
    sentences.push(state);
    sentences.extend(landing_sentence(model, found, endpoint));
    Explanation { sentences }
}

/// Rule K3: which node's pod range holds the endpoint's IP, so where a packet for it goes.
fn pod_range_sentence(model: &ProxyModel, info: &EndpointInfo) -> Option<String> {
    let nodes = &model.nodes;
    let ip = info.ip;
    if nodes.owner_of(ip).is_some() {
        return Some(format!(
            "{ip} is a node address (host network): the packet goes to that node itself."
        ));
    }
    // A CNI with its own address management ignores the ranges: then they say nothing.
    if !nodes.ranges_followed() {
        return None;
    }
    match nodes.pod_range_owner(ip) {
        Some((owner, cidr)) => {
            let placed = info
                .node
                .as_deref()
                .filter(|node| *node != owner.name.as_ref());
            Some(match placed {
                Some(node) => format!(
                    "{ip} is in {}'s pod range {cidr}, so the packet crosses to {}, though the EndpointSlice places the endpoint on {node}: a stale endpoint or a CNI problem.",
                    owner.name, owner.name
                ),
                None => format!(
                    "{ip} is in {}'s pod range {cidr}, so the packet crosses to {}.",
                    owner.name, owner.name
                ),
            })
        }
        None => {
            let node = info.node.as_deref().and_then(|name| nodes.by_name(name))?;
            node.has_pod_range_for(ip).then(|| {
                let ranges: Vec<String> = node.pod_cidrs.iter().map(ToString::to_string).collect();
                format!(
                    "{ip} is in no node's pod range ({}'s is {}): the CNI assigns addresses its own way, or the endpoint is stale.",
                    node.name,
                    ranges.join(", ")
                )
            })
        }
    }
}

/// Whether a connection to the ClusterIP from a pod on the first node may land on `endpoint`.
fn landing_sentence(
    model: &ProxyModel,
    port: &PortChain,
    endpoint: &PortEndpoint,
) -> Option<String> {
    let (ip, target_port) = (endpoint.info.ip, endpoint.port);
    let query = cluster_ip_query(model, port)?;
    let decision = model.route(&query);
    if decision.verdict != Verdict::Forward {
        return None;
    }
    let chosen = decision
        .endpoints
        .iter()
        .any(|candidate| candidate.0.info.ip == ip && candidate.0.port == target_port);
    let count = decision.endpoints.len();
    let node = query.source.node();
    Some(if chosen {
        let share = if count == 1 {
            "the only candidate".to_owned()
        } else {
            format!("one of {count} candidates")
        };
        format!("A connection from a pod on {node} to the ClusterIP may land here ({share}).")
    } else {
        let others = if count == 1 {
            "the only candidate is another pod".to_owned()
        } else {
            format!("its {count} candidates are other pods")
        };
        format!("A connection from a pod on {node} to the ClusterIP never lands here: {others}.")
    })
}

/// The Service as a whole: what kind of front door it has, then its first port's main route.
fn explain_service(model: &ProxyModel, chain: &ServiceChain) -> Explanation {
    let mut sentences = Vec::new();
    if let Some(reason) = chain.details.not_proxied {
        sentences.push(reason_sentence(&RouteReason::NotProxied(reason)));
        match chain.service_type {
            ServiceType::ExternalName => {
                if let Some(target) = &chain.external_name {
                    sentences.push(format!(
                        "Looking up {}.{}.svc returns a CNAME to {target}; clients then connect to whatever that name resolves to, on the port they choose.",
                        chain.name, chain.namespace
                    ));
                }
            }
            _ => {
                let ready = chain
                    .details
                    .endpoints
                    .iter()
                    .filter(|endpoint| endpoint.ready)
                    .count();
                sentences.push(format!(
                    "DNS answers with {ready} address{} ({} A/AAAA record{} for the Service name).",
                    if ready == 1 { "" } else { "es" },
                    ready,
                    if ready == 1 { "" } else { "s" }
                ));
            }
        }
        return Explanation { sentences };
    }
    let first_port = chain.ports.first();
    match first_port.and_then(|port| cluster_ip_query(model, port)) {
        Some(query) => {
            let mut routed = ask(model, &query);
            sentences.append(&mut routed.sentences);
        }
        None => {
            if chain.ports.is_empty() {
                sentences.push(format!("Service {} declares no port.", chain.name));
            } else {
                sentences.push(format!(
                    "Service {} has no ClusterIP yet, so nothing routes to it.",
                    chain.name
                ));
            }
        }
    }
    let excluded: Vec<String> = chain
        .details
        .excluded_pods
        .iter()
        .map(|(pod, why)| format!("{pod} ({})", exclusion_words(why)))
        .collect();
    if !excluded.is_empty() {
        sentences.push(format!(
            "Selected but not endpoints: {}.",
            crate::diagnostics::name_list(&excluded)
        ));
    }
    Explanation { sentences }
}

fn exclusion_words(exclusion: &Exclusion) -> String {
    exclusion.to_string()
}
