//! Sentences for every routing reason, on their own: what the Explain pane, `kubehop route` and
//! the plan's reasons say about each structured [`RouteReason`].

use crate::model::{NotProxied, TrafficPolicy};
use crate::route::{FrontDoor, PolicyScope, RouteReason, SourceKind, SourceRangeCheck};
use crate::topology::{EndpointSet, TopologyOutcome, TopologySkip};

pub(super) fn policy_field(scope: PolicyScope) -> &'static str {
    match scope {
        PolicyScope::Internal => "internalTrafficPolicy",
        PolicyScope::External => "externalTrafficPolicy",
    }
}

pub(super) fn policy_name(policy: TrafficPolicy) -> &'static str {
    match policy {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

pub(super) fn source_kind_words(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Pod => "a pod",
        SourceKind::Node => "a process on the node itself",
        SourceKind::External => "a client outside the cluster",
    }
}

/// One sentence (or clause) for any routing reason, on its own. Every variant has words: one
/// arm per [`RouteReason`] variant, which is why this function is a little over 80 lines.
pub fn reason_sentence(reason: &RouteReason) -> String {
    match reason {
        RouteReason::FrontDoor { via } => front_door_sentence(*via),
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
        RouteReason::SourceRanges(check) => source_range_sentence(check),
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
        RouteReason::NotProxied(reason) => not_proxied_sentence(*reason),
        RouteReason::DestinationIsPod { namespace, pod } => format!(
            "The destination is the IP of pod {namespace}/{pod}: the connection goes straight to the pod, no Service is involved."
        ),
        RouteReason::NoRuleForDestination => {
            "No Service, node or pod of this cluster owns the destination, so kube-proxy does not touch the connection.".to_owned()
        }
    }
}

/// The front door a connection entered through.
fn front_door_sentence(via: FrontDoor) -> String {
    match via {
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
    }
}

/// What loadBalancerSourceRanges did to the client (rule C7).
fn source_range_sentence(check: &SourceRangeCheck) -> String {
    match check {
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
    }
}

/// Why kube-proxy installs nothing for the Service (rule A13).
fn not_proxied_sentence(reason: NotProxied) -> String {
    match reason {
        NotProxied::Headless => {
            "The Service is headless (clusterIP None): kube-proxy installs nothing for it; clients get the pod IPs from DNS and connect to them directly.".to_owned()
        }
        NotProxied::ExternalName => {
            "The Service is of type ExternalName: it is only a DNS CNAME, nothing proxies its ports.".to_owned()
        }
        NotProxied::OtherProxy => {
            "The label service.kubernetes.io/service-proxy-name hands this Service to another proxy, so kube-proxy installs nothing for it.".to_owned()
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
