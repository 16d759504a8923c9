//! The node findings (rules K1-K4): nodes whose NodePort answers are in doubt, endpoints
//! outside their node's pod range, and NodePorts exposed on public node addresses.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::findings::{DiagnosticInput, name_list};
use super::{Diagnostic, DiagnosticCode, MAX_NAMED, Subject};
use crate::cidr::is_public;
use crate::model::{ServiceType, TrafficPolicy};
use crate::node_proxy::NodeIssue;

/// `node-not-ready`, `node-proxy-unhealthy`, `node-cordoned` (rules K1, K2), then
/// `endpoint-outside-pod-range` (K3) and `nodeport-on-public-node` (K4).
pub(crate) fn node_health_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    issue_findings(input, out);
    pod_range_findings(input, out);
    exposure_findings(input, out);
}

/// The NodePorts of the Service, as text (`31852`, `30080 and 30443`).
fn node_port_text(input: &DiagnosticInput<'_, '_>) -> Option<String> {
    let ports: Vec<String> = input
        .ports
        .iter()
        .filter_map(|port| port.node_port)
        .map(|port| port.to_string())
        .collect();
    match ports.as_slice() {
        [] => None,
        [one] => Some(format!("NodePort {one}")),
        [rest @ .., last] => Some(format!("NodePorts {} and {last}", rest.join(", "))),
    }
}

/// K1, K2: one finding per node (up to [`MAX_NAMED`]) whose NodePort rows would forward but
/// whose condition or proxy puts the answer in doubt.
fn issue_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    if view.headless || view.other_proxy {
        return;
    }
    let Some(ports) = node_port_text(input) else {
        return;
    };
    let local = view.external_traffic_policy == Some(TrafficPolicy::Local);
    // Nodes whose rows forward (eTP Local: those with a local usable endpoint).
    let mut seen = BTreeSet::new();
    let mut issues: Vec<(String, NodeIssue)> = Vec::new();
    for port in input.ports {
        for row in port.node_ports.rows().filter(|row| row.accepts) {
            if let Some(issue) = row.node_issue
                && seen.insert(row.node.clone())
            {
                // K1: a cordoned node still answers; only eTP Local answers there go away
                // with the drain.
                if issue == NodeIssue::Cordoned && !(local && row.local_endpoints > 0) {
                    continue;
                }
                issues.push((row.node, issue));
            }
        }
    }
    for (node, issue) in issues.iter().take(MAX_NAMED) {
        out.push(issue_finding(node, issue, &ports));
    }
    if issues.len() > MAX_NAMED {
        let rest: Vec<&str> = issues[MAX_NAMED..]
            .iter()
            .map(|(node, _)| node.as_str())
            .collect();
        out.push(Diagnostic::new(
            DiagnosticCode::NodeProxyUnhealthy,
            Subject::Service(view.name.to_owned()),
            format!(
                "{} more nodes are NotReady, cordoned or without a healthy service proxy ({}); their {ports} answers are in doubt.",
                rest.len(),
                name_list(&rest)
            ),
        ));
    }
}

fn issue_finding(node: &str, issue: &NodeIssue, ports: &str) -> Diagnostic {
    let subject = Subject::Node(node.to_owned());
    match issue {
        NodeIssue::NotReady(reason) => Diagnostic::new(
            DiagnosticCode::NodeNotReady,
            subject,
            format!(
                "node {node} is NotReady ({reason}): its kubelet has stopped reporting, so its service proxy and pods may be down; {ports} there may not answer, and load balancers that health-check nodes stop sending to it; look at `kubectl describe node {node}`."
            ),
        ),
        NodeIssue::ProxyNotReady { kind, pod, reason } => Diagnostic::new(
            DiagnosticCode::NodeProxyUnhealthy,
            subject,
            format!(
                "node {node}: its {kind} pod {pod} is not ready ({reason}), so the node's Service rules may be missing or stale: {ports} there may not answer, or may send to endpoints that are gone; look at the pod's logs."
            ),
        ),
        NodeIssue::ProxyMissing(kind) => Diagnostic::new(
            DiagnosticCode::NodeProxyUnhealthy,
            subject,
            format!(
                "node {node}: no {kind} pod runs there, though it runs on the other nodes, so nothing programs Service rules on it: {ports} there does not answer, and ClusterIP connections from its pods fail; check the {kind} DaemonSet's nodeSelector and tolerations."
            ),
        ),
        NodeIssue::Cordoned => Diagnostic::new(
            DiagnosticCode::NodeCordoned,
            subject,
            format!(
                "node {node} is cordoned: it still answers {ports}, but it is being drained, and with externalTrafficPolicy Local its answers end when its endpoints are evicted."
            ),
        ),
    }
}

/// K3: endpoints whose IP lies outside their node's pod range, in a cluster whose pods
/// otherwise follow the ranges. Host-network endpoints (a node address) are left out.
fn pod_range_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let nodes = input.nodes;
    if !nodes.ranges_followed() {
        return;
    }
    let mut seen: BTreeSet<IpAddr> = BTreeSet::new();
    for endpoint in input.endpoints {
        let Some(node) = endpoint
            .node
            .as_deref()
            .and_then(|name| nodes.by_name(name))
        else {
            continue;
        };
        let ip = endpoint.ip;
        if !seen.insert(ip)
            || !node.has_pod_range_for(ip)
            || node.pod_range_of(ip).is_some()
            || nodes.owner_of(ip).is_some()
        {
            continue;
        }
        let ranges = node
            .pod_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let who = endpoint.pod.as_deref().map_or_else(
            || format!("endpoint {ip}"),
            |pod| format!("pod {pod} ({ip})"),
        );
        let elsewhere = match nodes.pod_range_owner(ip) {
            Some((owner, cidr)) => format!(
                "; {ip} is in node {}'s range {cidr}, so traffic for it is routed to that node",
                owner.name
            ),
            None => format!("; no node's pod range holds {ip}, so no route leads to it"),
        };
        let subject = match &endpoint.pod {
            Some(pod) => Subject::Pod(pod.to_string()),
            None => Subject::Node(node.name.to_string()),
        };
        out.push(Diagnostic::new(
            DiagnosticCode::EndpointOutsidePodRange,
            subject,
            format!(
                "{who} is an endpoint on node {} but lies outside that node's pod range {ranges}{elsewhere}; the CNI gave it an address from the wrong range, or the EndpointSlice is stale (the pod was replaced).",
                node.name
            ),
        ));
    }
}

/// K4: a NodePort Service opens its port on every node, so on nodes with a public ExternalIP
/// it is reachable from the internet unless a firewall says otherwise.
fn exposure_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    if view.service_type != ServiceType::NodePort || view.other_proxy {
        return;
    }
    let Some(ports) = node_port_text(input) else {
        return;
    };
    let public: Vec<String> = input
        .nodes
        .iter()
        .filter_map(|node| {
            let ip = node.external.iter().copied().find(|ip| is_public(*ip))?;
            Some(format!("{} {ip}", node.name))
        })
        .collect();
    if public.is_empty() {
        return;
    }
    out.push(Diagnostic::new(
        DiagnosticCode::NodePortOnPublicNode,
        Subject::Service(view.name.to_owned()),
        format!(
            "{ports} is open on every node, and {} of {} nodes have a public ExternalIP ({}): the Service is reachable from the internet unless a firewall blocks the NodePort range; use a LoadBalancer with loadBalancerSourceRanges, or an Ingress or Gateway, and keep the Service ClusterIP.",
            public.len(),
            input.nodes.len(),
            name_list(&public)
        ),
    ));
}

/// Annotations that make a cloud load balancer internal (rule K4): no internet exposure.
const INTERNAL_LB_ANNOTATIONS: [(&str, &str); 6] = [
    ("networking.gke.io/load-balancer-type", "internal"),
    ("cloud.google.com/load-balancer-type", "internal"),
    (
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        "internal",
    ),
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        "true",
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        "true",
    ),
];

/// K4: a LoadBalancer with an address the internet can reach (a public IP or a hostname), no
/// source ranges (field or annotation) and no internal-load-balancer annotation.
fn open_to_the_internet(chain: &crate::model::ServiceChain) -> bool {
    if chain.service_type != ServiceType::LoadBalancer
        || !chain.details.load_balancer_source_ranges.is_empty()
    {
        return false;
    }
    let Some(service) = chain.details.service.as_deref() else {
        return false;
    };
    let Some(spec) = service.spec.as_ref() else {
        return false;
    };
    if spec
        .load_balancer_source_ranges
        .as_ref()
        .is_some_and(|ranges| !ranges.is_empty())
    {
        return false;
    }
    let annotations = service.metadata.annotations.as_ref();
    let internal = INTERNAL_LB_ANNOTATIONS.iter().any(|(key, value)| {
        annotations
            .and_then(|map| map.get(*key))
            .is_some_and(|set| set.eq_ignore_ascii_case(value))
    });
    let entries: Vec<_> = chain
        .ports
        .iter()
        .flat_map(|port| port.load_balancer.iter())
        .collect();
    let public_entry = entries.iter().any(|entry| {
        entry.hostname.is_some()
            || entry
                .ip
                .as_deref()
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .is_some_and(is_public)
    });
    !internal && public_entry
}

/// K4 `lb-open-in-cluster-only`: a LoadBalancer with an address, no source ranges, not
/// internal, whose every endpoint pod admits only in-cluster pods: each is isolated for
/// ingress, and every ingress rule of every policy selecting it names only pod or namespace
/// selectors (no `ipBlock`, no rule open to all sources). Only in-cluster pods can then use
/// the Service, and the load balancer is an open door to nothing.
pub(crate) fn lb_in_cluster_only(
    policies: &crate::netpol::PolicyIndex,
    chain: &crate::model::ServiceChain,
) -> Option<Diagnostic> {
    use crate::netpol::Peer;
    if policies.is_empty() || !open_to_the_internet(chain) {
        return None;
    }
    let pods = &chain.details.selected_pods;
    let endpoint_pods: BTreeSet<&str> = chain
        .details
        .endpoints
        .iter()
        .filter_map(|endpoint| endpoint.pod.as_deref())
        .collect();
    let mut checked = 0usize;
    for name in endpoint_pods {
        let pod = pods.iter().find(|pod| crate::pods::name(pod) == name)?;
        if crate::netpol::host_network(pod) {
            return None;
        }
        let mut isolated = false;
        for policy in policies.selecting(pod) {
            let Some(rules) = &policy.ingress else {
                continue;
            };
            isolated = true;
            let in_cluster_only = rules.iter().all(|rule| {
                rule.peers
                    .as_ref()
                    .is_some_and(|peers| peers.iter().all(|peer| matches!(peer, Peer::Pods { .. })))
            });
            if !in_cluster_only {
                return None;
            }
        }
        if !isolated {
            return None;
        }
        checked += 1;
    }
    (checked > 0).then(|| {
        Diagnostic::new(
            DiagnosticCode::LbOpenInClusterOnly,
            Subject::Service(chain.name.clone()),
            "The load balancer is open to every source address (no loadBalancerSourceRanges), yet the NetworkPolicies of every endpoint pod admit only pods of the cluster, so only in-cluster clients can use this Service; make it type ClusterIP, or set loadBalancerSourceRanges if outside clients are meant to reach it.",
        )
    })
}
