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
//! destination, from which kind of client, on which node), asks
//! [`crate::ProxyModel::route`], and puts the answer into two to four sentences.
//!
//! `reasons` holds the sentence of every routing reason; `hop` finds a hop in the engine's
//! hop tree ([`crate::hops`]) and picks its question.

mod gateway;
mod hop;
mod reasons;
#[cfg(test)]
mod tests;

pub use hop::explain_hop;
pub use reasons::reason_sentence;

use reasons::{policy_field, policy_name, source_kind_words};

use crate::route::{
    FrontDoor, RouteDecision, RouteQuery, RouteReason, SourceRangeCheck, TrafficSource, Verdict,
};
use crate::topology::{EndpointSet, TopologyOutcome, TopologySkip};

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

/// "one of 3 ready pods", "the only ready pod, web-1 at 127.1.1.5:8080", "no pod". The
/// scope that follows starts with its own comma, so the phrase ends without one.
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
                .as_deref()
                .map_or_else(|| only.0.info.ip.to_string(), str::to_owned);
            let address = only
                .socket_addr()
                .map_or_else(|| only.0.info.ip.to_string(), |addr| addr.to_string());
            format!("the only {state} {noun}, {name} at {address}")
        }
        Some(_) => format!("one of {count} {state} {noun}s"),
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
    sentences.push(outcome_sentence(&lead, decision, node));
    sentences.extend(extra_sentences(decision));
    Explanation { sentences }
}

/// The first sentence: the front door, then what happens to the connection and why.
fn outcome_sentence(lead: &str, decision: &RouteDecision, node: &str) -> String {
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
            format!(
                "{lead}; it is forwarded to {}{scope}.",
                endpoint_phrase(decision, fallback)
            )
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
                Some(because) => format!("{lead}, but it is {outcome}, because {because}."),
                None => format!("{lead}, but it is {outcome}."),
            }
        }
    }
}

/// Further sentences, in decision order, for the reasons that add something.
fn extra_sentences(decision: &RouteDecision) -> Vec<String> {
    let mut sentences = Vec::new();
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
    sentences
}
