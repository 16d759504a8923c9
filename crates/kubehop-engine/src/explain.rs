//! Plain-words explanations of a hop, generated from the engine's routing decisions.
//!
//! Every sentence is assembled from a [`RouteDecision`] (its verdict, its endpoints and its
//! structured [`RouteReason`]s) or from the chain's own data, with the live values filled in:
//! "A connection to 127.0.1.2:31852 (node-2) is accepted because NodePort Services open the
//! port on every node; it is forwarded to one of 3 ready pods, on any node, because
//! externalTrafficPolicy is Cluster." There is no canned paragraph per Service type: change the
//! cluster and the words change with it.
//!
//! Pure: no I/O, no clock. [`explain_hop`] picks the routing question a hop stands for (which
//! destination, from which kind of client, on which node), asks [`ProxyModel::route`], and puts
//! the answer into two to four sentences.

use std::net::IpAddr;

use super::model::{
    EndpointInfo, Hop, IpMode, NotProxied, PortChain, ProxyModel, ServiceChain, ServiceType,
    TrafficPolicy,
};
use super::pods::Exclusion;
use super::ports::{PodPortOutcome, port_map};
use super::route::{
    FrontDoor, PolicyScope, RouteDecision, RouteQuery, RouteReason, SourceKind, SourceRangeCheck,
    TrafficSource, Verdict,
};
use super::topology::{EndpointSet, TopologyOutcome, TopologySkip};

/// The explanation of one hop: sentences, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    pub sentences: Vec<String>,
}

impl Explanation {
    /// The sentences joined with single spaces.
    pub fn text(&self) -> String {
        self.sentences.join(" ")
    }
}

/// "one of 3 ready pods", "the only ready pod, web-1,", "no pod".
fn endpoint_phrase(decision: &RouteDecision, fallback: bool) -> String {
    let count = decision.endpoints.len();
    let all_pods = decision
        .endpoints
        .iter()
        .all(|endpoint| endpoint.0.info.pod.is_some());
    let noun = if all_pods { "pod" } else { "endpoint" };
    let state = if fallback {
        "terminating but still serving"
    } else {
        "ready"
    };
    match decision.endpoints.first() {
        None => format!("no {noun}"),
        Some(only) if count == 1 => {
            let name = only
                .0
                .info
                .pod
                .clone()
                .unwrap_or_else(|| only.0.info.ip.to_string());
            let address = only
                .socket_addr()
                .map_or_else(|| only.0.info.ip.to_string(), |addr| addr.to_string());
            format!("the only {state} {noun}, {name} at {address},")
        }
        Some(_) => format!("one of {count} {state} {noun}s"),
    }
}

fn policy_field(scope: PolicyScope) -> &'static str {
    match scope {
        PolicyScope::Internal => "internalTrafficPolicy",
        PolicyScope::External => "externalTrafficPolicy",
    }
}

fn policy_name(policy: TrafficPolicy) -> &'static str {
    match policy {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

fn source_kind_words(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Pod => "a pod",
        SourceKind::Node => "a process on the node itself",
        SourceKind::External => "a client outside the cluster",
    }
}

/// One sentence (or clause) for any routing reason, on its own. Every variant has words.
pub fn reason_sentence(reason: &RouteReason) -> String {
    match reason {
        RouteReason::FrontDoor { via } => match via {
            FrontDoor::ClusterIp => {
                "The destination is the Service's ClusterIP, which kube-proxy intercepts on every node.".to_owned()
            }
            FrontDoor::NodePort => {
                "The destination port is the Service's nodePort, which NodePort Services open on every node.".to_owned()
            }
            FrontDoor::LoadBalancer => {
                "The destination is the Service's load-balancer IP in ipMode VIP, which every node intercepts like a ClusterIP.".to_owned()
            }
            FrontDoor::ExternalIp => {
                "The destination is one of the Service's externalIPs, which every node intercepts like a load-balancer IP.".to_owned()
            }
        },
        RouteReason::NodePortAddress { node, address } => {
            format!("{address} is an address of {node} that accepts NodePort traffic.")
        }
        RouteReason::ProcessedOn { node, known } => {
            if *known {
                format!("The rules of {node} decide where the connection goes.")
            } else if node.is_empty() {
                "No node is known, so node-local rules cannot be evaluated.".to_owned()
            } else {
                format!("{node} is not a node of this cluster, so it has no local pods.")
            }
        }
        RouteReason::Policy { scope, policy } => match policy {
            TrafficPolicy::Cluster => format!(
                "{} is Cluster, so pods on every node may receive the connection.",
                policy_field(*scope)
            ),
            TrafficPolicy::Local => format!(
                "{} is Local, so only pods on the receiving node may receive the connection.",
                policy_field(*scope)
            ),
        },
        RouteReason::ExternalLocalShortCircuit { source } => format!(
            "externalTrafficPolicy is Local, but the connection comes from {}, so kube-proxy treats it as if it had gone out to the load balancer and back, and uses pods on every node.",
            source_kind_words(*source)
        ),
        RouteReason::EndpointSet(EndpointSet::Cluster) => {
            "The pods are chosen from the whole cluster.".to_owned()
        }
        RouteReason::EndpointSet(EndpointSet::Local) => {
            "The pods are chosen from this node only.".to_owned()
        }
        RouteReason::TerminatingFallback(set) => format!(
            "No pod {} is ready, so kube-proxy falls back to pods that are terminating but still serving.",
            match set {
                EndpointSet::Cluster => "in the cluster",
                EndpointSet::Local => "on this node",
            }
        ),
        RouteReason::Topology(outcome) => topology_sentence(outcome),
        RouteReason::SourceRanges(check) => match check {
            SourceRangeCheck::NoRanges => {
                "No loadBalancerSourceRanges are set, so every client may connect.".to_owned()
            }
            SourceRangeCheck::Allowed { range } => {
                format!("The client address lies in loadBalancerSourceRanges ({range}).")
            }
            SourceRangeCheck::AllowedLoadBalancerSource => {
                "The connection comes from the load-balancer IP itself and the node's address is inside loadBalancerSourceRanges, so it is let in.".to_owned()
            }
            SourceRangeCheck::Denied { source } => format!(
                "The client address {source} lies outside every loadBalancerSourceRanges entry, so the node drops the connection (pods inside the cluster included)."
            ),
            SourceRangeCheck::NotEvaluated => {
                "loadBalancerSourceRanges are set; whether a client is let in depends on its address.".to_owned()
            }
        },
        RouteReason::SourceNat { masquerade } => {
            if *masquerade {
                "The pod sees a node address as the client, not the real client (the connection is source-NATed).".to_owned()
            } else {
                "The pod sees the client's own address.".to_owned()
            }
        }
        RouteReason::SessionAffinity { timeout_seconds } => format!(
            "sessionAffinity is ClientIP, so each client keeps going to the same pod until it has opened no new connection for {timeout_seconds} s."
        ),
        RouteReason::NoUsableEndpoints => {
            "No pod of this Service port is ready or serving anywhere, so every node rejects the connection at once (connection refused).".to_owned()
        }
        RouteReason::NoLocalEndpoints { node } => format!(
            "Ready pods exist, but none on {node}, and the Local policy forbids sending the connection to another node, so it is dropped and the client waits until it times out."
        ),
        RouteReason::UnknownPortOnClusterIp { other_protocols } => {
            if other_protocols.is_empty() {
                "The ClusterIP is known, but the Service declares no such port, so the connection is rejected.".to_owned()
            } else {
                let protocols: Vec<&str> =
                    other_protocols.iter().map(|protocol| protocol.as_str()).collect();
                format!(
                    "The ClusterIP is known and the Service declares this port number only for {}, so the connection is rejected.",
                    protocols.join(" and ")
                )
            }
        }
        RouteReason::NodePortAddressNotSelected { node, address } => format!(
            "{address} belongs to {node}, but kube-proxy only opens NodePorts on the node's primary address, so nothing answers there."
        ),
        RouteReason::LoadBalancerProxyMode => {
            "The load-balancer IP is in ipMode Proxy: nodes install no rule for it, so the load balancer itself must forward to a nodePort.".to_owned()
        }
        RouteReason::NotProxied(reason) => match reason {
            NotProxied::Headless => {
                "The Service is headless (clusterIP None): kube-proxy installs nothing for it; clients get the pod IPs from DNS and connect to them directly.".to_owned()
            }
            NotProxied::ExternalName => {
                "The Service is of type ExternalName: it is only a DNS CNAME, nothing proxies its ports.".to_owned()
            }
            NotProxied::OtherProxy => {
                "The label service.kubernetes.io/service-proxy-name hands this Service to another proxy, so kube-proxy installs nothing for it.".to_owned()
            }
        },
        RouteReason::DestinationIsPod { namespace, pod } => format!(
            "The destination is the IP of pod {namespace}/{pod}: the connection goes straight to the pod, no Service is involved."
        ),
        RouteReason::NoRuleForDestination => {
            "No Service, node or pod of this cluster owns the destination, so kube-proxy does not touch the connection.".to_owned()
        }
    }
}

fn topology_sentence(outcome: &TopologyOutcome) -> String {
    match outcome {
        TopologyOutcome::SameNode { node } => format!(
            "Topology hints keep the connection on {node}: only pods hinted for that node are used."
        ),
        TopologyOutcome::SameZone { zone } => format!(
            "Topology hints keep the connection in zone {zone}: only pods hinted for that zone are used."
        ),
        TopologyOutcome::NotApplied(skip) => match skip {
            TopologySkip::NoReadyEndpoints => {
                "Topology hints play no part because no pod is ready.".to_owned()
            }
            TopologySkip::NoHints => {
                "The pods carry no topology hints (trafficDistribution is unset), so every ready pod may be chosen.".to_owned()
            }
            TopologySkip::HintMissing => {
                "Topology hints are ignored because some ready pods have none.".to_owned()
            }
            TopologySkip::NodeZoneUnknown => {
                "Topology hints are ignored because the receiving node has no zone label.".to_owned()
            }
            TopologySkip::NoEndpointForZone { zone } => format!(
                "Topology hints are ignored because no ready pod is hinted for zone {zone}."
            ),
        },
    }
}

/// The front-door clause of the first sentence: "is accepted because ...".
fn door_clause(via: FrontDoor, node: &str) -> String {
    match via {
        FrontDoor::ClusterIp if !node.is_empty() => format!(
            "is caught on {node} itself, because kube-proxy programs every ClusterIP on every node"
        ),
        FrontDoor::ClusterIp => {
            "is caught on the client's own node, because kube-proxy programs every ClusterIP on every node".to_owned()
        }
        FrontDoor::NodePort => {
            "is accepted because NodePort Services open the port on every node".to_owned()
        }
        FrontDoor::LoadBalancer => {
            "is accepted because the load-balancer IP is in ipMode VIP, so every node intercepts it".to_owned()
        }
        FrontDoor::ExternalIp => {
            "is accepted because the address is one of the Service's externalIPs, which every node intercepts".to_owned()
        }
    }
}

/// Puts a routing answer into sentences. `query` is the question `decision` answers.
pub fn explain_route(query: &RouteQuery, decision: &RouteDecision) -> Explanation {
    let mut sentences = Vec::new();
    let destination = format!("{}:{}", query.destination, query.port);
    let node = query.source.node();
    let from = match &query.source {
        TrafficSource::Pod { node } if !node.is_empty() => format!(" from a pod on {node}"),
        TrafficSource::Pod { .. } => " from a pod".to_owned(),
        TrafficSource::Node { node } => format!(" from a process on {node}"),
        TrafficSource::External { .. } => String::new(),
    };
    let via = decision.reasons.iter().find_map(|reason| match reason {
        RouteReason::FrontDoor { via } => Some(*via),
        _ => None,
    });
    let at_node = decision.reasons.iter().find_map(|reason| match reason {
        RouteReason::NodePortAddress { node, .. } => Some(node.clone()),
        _ => None,
    });
    let Some(via) = via else {
        // No Service port matched: the reasons say why, one sentence each.
        let lead = match (decision.verdict, &at_node) {
            (Verdict::Reject, _) => format!("A connection to {destination}{from} is rejected."),
            _ => format!("A connection to {destination}{from} is not handled by any Service."),
        };
        sentences.push(lead);
        sentences.extend(decision.reasons.iter().map(reason_sentence));
        return Explanation { sentences };
    };
    let where_ = match (&at_node, via) {
        (Some(node), _) => format!(" ({node})"),
        (None, FrontDoor::ClusterIp) => String::new(),
        (None, _) if !node.is_empty() => format!(" arriving at {node}"),
        (None, _) => String::new(),
    };
    let lead = format!(
        "A connection{from} to {destination}{where_} {}",
        door_clause(via, node)
    );
    let policy = decision.reasons.iter().find_map(|reason| match reason {
        RouteReason::Policy { scope, policy } => Some((*scope, *policy)),
        _ => None,
    });
    let set = decision.reasons.iter().find_map(|reason| match reason {
        RouteReason::EndpointSet(set) => Some(*set),
        _ => None,
    });
    let short_circuit = decision.reasons.iter().find_map(|reason| match reason {
        RouteReason::ExternalLocalShortCircuit { source } => Some(*source),
        _ => None,
    });
    let fallback = decision
        .reasons
        .iter()
        .any(|reason| matches!(reason, RouteReason::TerminatingFallback(_)));
    let policy_text =
        policy.map(|(scope, policy)| format!("{} is {}", policy_field(scope), policy_name(policy)));
    match decision.verdict {
        Verdict::Forward => {
            let scope = match (set, short_circuit) {
                (_, Some(source)) => format!(
                    ", on any node: externalTrafficPolicy is Local, but a connection from {} is treated as if it had gone out to the load balancer and back",
                    source_kind_words(source)
                ),
                (Some(EndpointSet::Local), _) => format!(
                    ", on {node} only, because {}",
                    policy_text.clone().unwrap_or_default()
                ),
                (Some(EndpointSet::Cluster), _) => match &policy_text {
                    Some(text) => format!(", on any node, because {text}"),
                    None => ", on any node".to_owned(),
                },
                (None, _) => String::new(),
            };
            sentences.push(format!(
                "{lead}; it is forwarded to {}{scope}.",
                endpoint_phrase(decision, fallback)
            ));
        }
        Verdict::Drop | Verdict::Reject | Verdict::NoService => {
            let outcome = match decision.verdict {
                Verdict::Drop => "dropped (the client times out)",
                Verdict::Reject => "rejected at once (connection refused)",
                _ => "not forwarded",
            };
            let because = decision.reasons.iter().find_map(|reason| match reason {
                RouteReason::NoUsableEndpoints => {
                    Some("no pod of this Service port is ready or serving anywhere".to_owned())
                }
                RouteReason::NoLocalEndpoints { node } => Some(format!(
                    "{} and {node} has no ready pod of this Service",
                    policy_text
                        .clone()
                        .unwrap_or_else(|| "the policy is Local".to_owned())
                )),
                RouteReason::SourceRanges(SourceRangeCheck::Denied { source }) => Some(format!(
                    "the client address {source} is outside loadBalancerSourceRanges"
                )),
                _ => None,
            });
            match because {
                Some(because) => {
                    sentences.push(format!("{lead}, but it is {outcome}, because {because}."));
                }
                None => sentences.push(format!("{lead}, but it is {outcome}.")),
            }
        }
    }
    // Further sentences, in decision order, for the reasons that add something.
    for reason in &decision.reasons {
        let extra = match reason {
            RouteReason::TerminatingFallback(_) => Some(reason_sentence(reason)),
            RouteReason::Topology(TopologyOutcome::NotApplied(
                TopologySkip::NoHints | TopologySkip::NoReadyEndpoints,
            )) => None,
            RouteReason::Topology(_) => Some(reason_sentence(reason)),
            RouteReason::SourceRanges(
                SourceRangeCheck::Allowed { .. }
                | SourceRangeCheck::AllowedLoadBalancerSource
                | SourceRangeCheck::NotEvaluated,
            ) => Some(reason_sentence(reason)),
            RouteReason::SourceNat { .. } | RouteReason::SessionAffinity { .. } => {
                Some(reason_sentence(reason))
            }
            RouteReason::ProcessedOn { known: false, .. } => Some(reason_sentence(reason)),
            _ => None,
        };
        if let Some(extra) = extra {
            sentences.push(extra);
        }
    }
    Explanation { sentences }
}

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

fn find_port(
    chain: &ServiceChain,
    port: i32,
    protocol: super::model::Protocol,
) -> Option<&PortChain> {
    chain
        .ports
        .iter()
        .find(|candidate| candidate.port == port && candidate.protocol == protocol)
}

/// The routing question for a ClusterIP hop: a pod on the first node connects.
fn cluster_ip_query(
    model: &ProxyModel,
    chain: &ServiceChain,
    port: &PortChain,
) -> Option<RouteQuery> {
    let hop = port.cluster_ip?;
    let _ = chain;
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
    match hop {
        None => explain_service(model, chain),
        Some(Hop::ClusterIp { port, protocol }) => {
            match find_port(chain, *port, *protocol)
                .and_then(|found| cluster_ip_query(model, chain, found))
            {
                Some(query) => ask(model, &query),
                None => explain_service(model, chain),
            }
        }
        Some(Hop::NodePort {
            port,
            protocol,
            node,
            address,
        }) => {
            let node_port = find_port(chain, *port, *protocol)
                .and_then(|found| found.node_port)
                .and_then(|number| u16::try_from(number).ok());
            match node_port {
                Some(node_port) => ask(
                    model,
                    &RouteQuery {
                        destination: *address,
                        port: node_port,
                        protocol: *protocol,
                        source: TrafficSource::External { node: node.clone() },
                        source_ip: None,
                    },
                ),
                None => explain_service(model, chain),
            }
        }
        Some(Hop::LoadBalancer {
            port,
            protocol,
            address,
        }) => explain_load_balancer(model, chain, *port, *protocol, address),
        Some(Hop::Ingress {
            namespace,
            name,
            host,
            path,
        }) => explain_ingress(
            model,
            chain,
            namespace,
            name,
            host.as_deref(),
            path.as_deref(),
        ),
        Some(Hop::EndpointSlice { name }) => explain_slice(chain, name),
        Some(Hop::Endpoint {
            port,
            protocol,
            ip,
            target_port,
        }) => explain_endpoint(model, chain, *port, *protocol, *ip, *target_port),
    }
}

fn explain_load_balancer(
    model: &ProxyModel,
    chain: &ServiceChain,
    port: i32,
    protocol: super::model::Protocol,
    address: &str,
) -> Explanation {
    let Some(found) = find_port(chain, port, protocol) else {
        return explain_service(model, chain);
    };
    let entry = found.load_balancer.iter().find(|entry| {
        entry.ip.as_deref() == Some(address) || entry.hostname.as_deref() == Some(address)
    });
    let ip: Option<IpAddr> = entry.and_then(|entry| entry.ip.as_deref()?.parse().ok());
    let vip = entry.is_some_and(|entry| entry.ip_mode == Some(IpMode::VIP));
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
    namespace: &str,
    name: &str,
    host: Option<&str>,
    path: Option<&str>,
) -> Explanation {
    let reference = chain.ingresses.iter().find(|reference| {
        reference.namespace == namespace
            && reference.name == name
            && reference.host.as_deref() == host
            && reference.path.as_deref() == path
    });
    let target = reference
        .and_then(|reference| reference.service_port.as_ref())
        .map(ToString::to_string)
        .unwrap_or_else(|| "?".to_owned());
    let what = match (host, path) {
        (_, None) => "every request no rule matches (its default backend)".to_owned(),
        (Some(host), Some(path)) => format!("HTTP requests for {host}{path}"),
        (None, Some(path)) => format!("HTTP requests for any host with path {path}"),
    };
    let mut sentences = vec![format!(
        "Ingress {namespace}/{name} sends {what} to port {target} of Service {}.",
        chain.name
    )];
    let port = reference.and_then(|reference| {
        chain
            .ports
            .iter()
            .find(|port| match &reference.service_port {
                Some(super::model::PortRef::Number(number)) => port.port == *number,
                Some(super::model::PortRef::Name(wanted)) => port.name.as_deref() == Some(wanted),
                None => false,
            })
    });
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
            if let Some(query) = cluster_ip_query(model, chain, port) {
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
    port: i32,
    protocol: super::model::Protocol,
    ip: IpAddr,
    target_port: i32,
) -> Explanation {
    let found = find_port(chain, port, protocol);
    let endpoint = found.and_then(|found| {
        found
            .endpoints
            .iter()
            .find(|endpoint| endpoint.info.ip == ip && endpoint.port == target_port)
    });
    let Some((found, endpoint)) = found.zip(endpoint) else {
        return explain_service(model, chain);
    };
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
    if let Some(query) = cluster_ip_query(model, chain, found) {
        let decision = model.route(&query);
        let chosen = decision
            .endpoints
            .iter()
            .any(|candidate| candidate.0.info.ip == ip && candidate.0.port == target_port);
        if decision.verdict == Verdict::Forward {
            let count = decision.endpoints.len();
            let others = if count == 1 {
                "the only candidate is another pod".to_owned()
            } else {
                format!("its {count} candidates are other pods")
            };
            sentences.push(if chosen {
                let share = if count == 1 {
                    "the only candidate".to_owned()
                } else {
                    format!("one of {count} candidates")
                };
                format!(
                    "A connection from a pod on {} to the ClusterIP may land here ({share}).",
                    query.source.node()
                )
            } else {
                format!(
                    "A connection from a pod on {} to the ClusterIP never lands here: {others}.",
                    query.source.node()
                )
            });
        }
    }
    Explanation { sentences }
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
    match first_port.and_then(|port| cluster_ip_query(model, chain, port)) {
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
            super::diagnostics::name_list(&excluded)
        ));
    }
    Explanation { sentences }
}

fn exclusion_words(exclusion: &Exclusion) -> String {
    exclusion.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::route::{Destination, RouteEndpoint, SourceView};
    use crate::topology::TopologySkip;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    fn every_reason() -> Vec<RouteReason> {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2));
        vec![
            RouteReason::FrontDoor {
                via: FrontDoor::ClusterIp,
            },
            RouteReason::FrontDoor {
                via: FrontDoor::NodePort,
            },
            RouteReason::FrontDoor {
                via: FrontDoor::LoadBalancer,
            },
            RouteReason::FrontDoor {
                via: FrontDoor::ExternalIp,
            },
            RouteReason::NodePortAddress {
                node: "node-2".into(),
                address: ip,
            },
            RouteReason::ProcessedOn {
                node: "node-2".into(),
                known: true,
            },
            RouteReason::ProcessedOn {
                node: "node-9".into(),
                known: false,
            },
            RouteReason::Policy {
                scope: PolicyScope::External,
                policy: TrafficPolicy::Local,
            },
            RouteReason::Policy {
                scope: PolicyScope::Internal,
                policy: TrafficPolicy::Cluster,
            },
            RouteReason::ExternalLocalShortCircuit {
                source: SourceKind::Pod,
            },
            RouteReason::EndpointSet(EndpointSet::Cluster),
            RouteReason::EndpointSet(EndpointSet::Local),
            RouteReason::TerminatingFallback(EndpointSet::Cluster),
            RouteReason::TerminatingFallback(EndpointSet::Local),
            RouteReason::Topology(TopologyOutcome::SameNode {
                node: "node-1".into(),
            }),
            RouteReason::Topology(TopologyOutcome::SameZone {
                zone: "zone-a".into(),
            }),
            RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NoReadyEndpoints)),
            RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NoHints)),
            RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::HintMissing)),
            RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NodeZoneUnknown)),
            RouteReason::Topology(TopologyOutcome::NotApplied(
                TopologySkip::NoEndpointForZone {
                    zone: "zone-c".into(),
                },
            )),
            RouteReason::SourceRanges(SourceRangeCheck::NoRanges),
            RouteReason::SourceRanges(SourceRangeCheck::Allowed {
                range: "127.0.0.0/8".into(),
            }),
            RouteReason::SourceRanges(SourceRangeCheck::AllowedLoadBalancerSource),
            RouteReason::SourceRanges(SourceRangeCheck::Denied { source: ip }),
            RouteReason::SourceRanges(SourceRangeCheck::NotEvaluated),
            RouteReason::SourceNat { masquerade: true },
            RouteReason::SourceNat { masquerade: false },
            RouteReason::SessionAffinity {
                timeout_seconds: 10_800,
            },
            RouteReason::NoUsableEndpoints,
            RouteReason::NoLocalEndpoints {
                node: "node-2".into(),
            },
            RouteReason::UnknownPortOnClusterIp {
                other_protocols: vec![],
            },
            RouteReason::UnknownPortOnClusterIp {
                other_protocols: vec![Protocol::Udp],
            },
            RouteReason::NodePortAddressNotSelected {
                node: "node-2".into(),
                address: ip,
            },
            RouteReason::LoadBalancerProxyMode,
            RouteReason::NotProxied(NotProxied::Headless),
            RouteReason::NotProxied(NotProxied::ExternalName),
            RouteReason::NotProxied(NotProxied::OtherProxy),
            RouteReason::DestinationIsPod {
                namespace: "shop".into(),
                pod: "web-1".into(),
            },
            RouteReason::NoRuleForDestination,
        ]
    }

    /// Fails to compile when a variant is added without a case in `every_reason`.
    fn variant_is_listed(reason: &RouteReason) -> bool {
        match reason {
            RouteReason::FrontDoor { .. }
            | RouteReason::NodePortAddress { .. }
            | RouteReason::ProcessedOn { .. }
            | RouteReason::Policy { .. }
            | RouteReason::ExternalLocalShortCircuit { .. }
            | RouteReason::EndpointSet(_)
            | RouteReason::TerminatingFallback(_)
            | RouteReason::Topology(_)
            | RouteReason::SourceRanges(_)
            | RouteReason::SourceNat { .. }
            | RouteReason::SessionAffinity { .. }
            | RouteReason::NoUsableEndpoints
            | RouteReason::NoLocalEndpoints { .. }
            | RouteReason::UnknownPortOnClusterIp { .. }
            | RouteReason::NodePortAddressNotSelected { .. }
            | RouteReason::LoadBalancerProxyMode
            | RouteReason::NotProxied(_)
            | RouteReason::DestinationIsPod { .. }
            | RouteReason::NoRuleForDestination => true,
        }
    }

    #[test]
    fn every_reason_variant_has_words() {
        let reasons = every_reason();
        let mut seen = std::collections::HashSet::new();
        for reason in &reasons {
            assert!(variant_is_listed(reason));
            let text = reason_sentence(reason);
            assert!(text.len() > 20, "{reason:?} -> {text:?}");
            assert!(text.ends_with('.'), "{reason:?} -> {text:?}");
            assert!(
                seen.insert(text.clone()),
                "two reasons share the words {text:?}"
            );
        }
    }

    #[test]
    fn values_appear_in_the_words() {
        let text = reason_sentence(&RouteReason::NoLocalEndpoints {
            node: "node-7".into(),
        });
        assert!(text.contains("node-7"));
        let text = reason_sentence(&RouteReason::SessionAffinity {
            timeout_seconds: 42,
        });
        assert!(text.contains("42 s"));
    }

    fn endpoint(pod: &str, last: u8) -> RouteEndpoint {
        RouteEndpoint(crate::model::PortEndpoint {
            info: Arc::new(EndpointInfo {
                pod: Some(pod.into()),
                namespace: Some(Arc::from("shop")),
                node: Some(Arc::from("node-1")),
                zone: None,
                hostname: None,
                ip: IpAddr::V4(Ipv4Addr::new(127, 1, 1, last)),
                ready: true,
                serving: true,
                terminating: false,
                zone_hints: None,
                node_hints: None,
                slice: Arc::from("web-abc"),
            }),
            port: 8080,
        })
    }

    fn decision(
        verdict: Verdict,
        reasons: Vec<RouteReason>,
        endpoints: Vec<RouteEndpoint>,
    ) -> RouteDecision {
        RouteDecision {
            destination: Destination {
                ip: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
                port: 31852,
                protocol: Protocol::Tcp,
            },
            source: SourceView {
                kind: SourceKind::External,
                node: "node-2".into(),
            },
            matched: None,
            verdict,
            endpoints,
            affinity: crate::model::AffinityConfig::None,
            service_port: None,
            reasons,
        }
    }

    fn node_port_query() -> RouteQuery {
        RouteQuery {
            destination: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
            port: 31852,
            protocol: Protocol::Tcp,
            source: TrafficSource::External {
                node: "node-2".into(),
            },
            source_ip: None,
        }
    }

    #[test]
    fn forward_sentence_reads_like_the_issue() {
        let reasons = vec![
            RouteReason::NodePortAddress {
                node: "node-2".into(),
                address: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
            },
            RouteReason::FrontDoor {
                via: FrontDoor::NodePort,
            },
            RouteReason::ProcessedOn {
                node: "node-2".into(),
                known: true,
            },
            RouteReason::Policy {
                scope: PolicyScope::External,
                policy: TrafficPolicy::Cluster,
            },
            RouteReason::EndpointSet(EndpointSet::Cluster),
            RouteReason::SourceNat { masquerade: true },
        ];
        let endpoints = vec![
            endpoint("web-1", 5),
            endpoint("web-2", 6),
            endpoint("web-3", 7),
        ];
        let text = explain_route(
            &node_port_query(),
            &decision(Verdict::Forward, reasons, endpoints),
        )
        .text();
        assert_eq!(
            text,
            "A connection to 127.0.1.2:31852 (node-2) is accepted because NodePort Services open the port on every node; it is forwarded to one of 3 ready pods, on any node, because externalTrafficPolicy is Cluster. The pod sees a node address as the client, not the real client (the connection is source-NATed)."
        );
    }

    #[test]
    fn drop_sentence_names_the_node_and_the_policy() {
        let reasons = vec![
            RouteReason::NodePortAddress {
                node: "node-2".into(),
                address: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
            },
            RouteReason::FrontDoor {
                via: FrontDoor::NodePort,
            },
            RouteReason::Policy {
                scope: PolicyScope::External,
                policy: TrafficPolicy::Local,
            },
            RouteReason::EndpointSet(EndpointSet::Local),
            RouteReason::NoLocalEndpoints {
                node: "node-2".into(),
            },
        ];
        let text = explain_route(
            &node_port_query(),
            &decision(Verdict::Drop, reasons, vec![]),
        )
        .text();
        assert!(text.contains("dropped"), "{text}");
        assert!(
            text.contains("externalTrafficPolicy is Local and node-2 has no ready pod"),
            "{text}"
        );
    }

    #[test]
    fn single_endpoint_is_named() {
        let reasons = vec![
            RouteReason::FrontDoor {
                via: FrontDoor::ClusterIp,
            },
            RouteReason::Policy {
                scope: PolicyScope::Internal,
                policy: TrafficPolicy::Cluster,
            },
            RouteReason::EndpointSet(EndpointSet::Cluster),
        ];
        let query = RouteQuery {
            source: TrafficSource::Pod {
                node: "node-1".into(),
            },
            ..node_port_query()
        };
        let text = explain_route(
            &query,
            &decision(Verdict::Forward, reasons, vec![endpoint("web-1", 5)]),
        )
        .text();
        assert!(text.contains("from a pod on node-1"), "{text}");
        assert!(
            text.contains("the only ready pod, web-1 at 127.1.1.5:8080,"),
            "{text}"
        );
    }
}
