//! The Policy tab: the NetworkPolicies that select the pods behind the selected hop, the
//! verdict for the chosen source (`:from`, else the hop's default source) and a short plain
//! explanation. The engine judges ([`ProxyModel::hop_policies`]); this only lays it out.

use ratatui::text::{Line, Span};

use super::text::{mark_span, push_wrapped};
use super::theme::Theme;
use crate::app::chain::{NodeKind, OutlineNode};
use crate::engine::model::{ProxyModel, ServiceChain};
use crate::engine::netpol::{
    Decision, EndpointPolicies, HopPolicies, HopVerdict, PolicyHop, SourceChoice, SourceVerdict,
};
use crate::printable::escape;

/// The hop the tab judges for an outline node (`None`: the Service itself, judged at its first
/// port). `Err` for a node with no pods behind it.
fn policy_hop<'n>(chain: &ServiceChain, node: Option<&'n OutlineNode>) -> Option<PolicyHop<'n>> {
    let through_port = |port: usize| match chain.ports.get(port) {
        Some(found) if found.cluster_ip.is_some() => Some(PolicyHop::ClusterIp(port)),
        Some(_) => Some(PolicyHop::Direct {
            port,
            endpoint: None,
        }),
        None => None,
    };
    let Some(node) = node else {
        return through_port(0);
    };
    match &node.kind {
        NodeKind::Port { port } => through_port(*port),
        NodeKind::Ingress { ingress, .. } => Some(PolicyHop::Ingress(*ingress)),
        NodeKind::LoadBalancer { port, .. } | NodeKind::LoadBalancerPending { port } => {
            Some(PolicyHop::LoadBalancer(*port))
        }
        NodeKind::NodePorts { port } => Some(PolicyHop::NodePort {
            port: *port,
            node: None,
        }),
        NodeKind::NodePort { port, row } => Some(PolicyHop::NodePort {
            port: *port,
            node: Some(row.node.as_str()),
        }),
        NodeKind::ClusterIp { port } => Some(PolicyHop::ClusterIp(*port)),
        NodeKind::Headless { port } => Some(PolicyHop::Direct {
            port: port.unwrap_or(0),
            endpoint: None,
        }),
        NodeKind::Slice {
            port: Some(port), ..
        } => Some(PolicyHop::Direct {
            port: *port,
            endpoint: None,
        }),
        NodeKind::Endpoint {
            port: Some(port),
            endpoint,
        } => Some(PolicyHop::Direct {
            port: *port,
            endpoint: Some(*endpoint),
        }),
        _ => None,
    }
}

/// The tab's lines for the selected node of `chain`.
pub(super) fn policy_lines(
    model: &ProxyModel,
    chain: &ServiceChain,
    node: Option<&OutlineNode>,
    source: Option<&SourceChoice>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if model.policies().is_empty() {
        push_wrapped(
            &mut lines,
            "No NetworkPolicy in this source: nothing restricts the connections to these pods.",
            0,
            width,
            theme.dim,
        );
        return lines;
    }
    let Some(hop) = policy_hop(chain, node) else {
        push_wrapped(
            &mut lines,
            "No pods behind this hop: NetworkPolicy does not apply.",
            0,
            width,
            theme.dim,
        );
        return lines;
    };
    let policies = model.hop_policies(chain, hop, source);
    // The plain answer first (it is all an 80×24 screen has room for), then the detail.
    if let Some(text) = explanation(&policies) {
        push_wrapped(&mut lines, &text, 0, width, theme.info);
    }
    for note in &policies.notes {
        push_wrapped(&mut lines, note, 0, width, theme.warning);
    }
    for verdict in &policies.verdicts {
        verdict_lines(&mut lines, verdict, theme, width);
    }
    selecting_lines(&mut lines, &policies.endpoints, theme, width);
    if source.is_none() {
        push_wrapped(
            &mut lines,
            ":from pod/NS/NAME, :from ns/NAME or :from external judges another source.",
            0,
            width,
            theme.dim,
        );
    }
    lines
}

/// Which policies select each pod (isolating it for ingress, for egress).
fn selecting_lines(
    lines: &mut Vec<Line<'static>>,
    endpoints: &[EndpointPolicies],
    theme: &Theme,
    width: usize,
) {
    lines.push(Line::styled(
        "Policies selecting the pods".to_owned(),
        theme.title,
    ));
    if endpoints.is_empty() {
        push_wrapped(lines, "no endpoint pods", 2, width, theme.dim);
    }
    let list = |keys: &[std::sync::Arc<str>]| match keys {
        [] => "—".to_owned(),
        keys => keys.join(", "),
    };
    for endpoint in endpoints {
        let text = if endpoint.ingress.is_empty() && endpoint.egress.is_empty() {
            format!("{} {}: none (not isolated)", endpoint.pod, endpoint.ip)
        } else {
            format!(
                "{} {}: ingress {} · egress {}",
                endpoint.pod,
                endpoint.ip,
                list(&endpoint.ingress),
                list(&endpoint.egress)
            )
        };
        push_wrapped(lines, &text, 2, width, theme.dim);
    }
}

/// One source's verdict on every endpoint: the mark, the allowing rule or why it is denied.
fn verdict_lines(
    lines: &mut Vec<Line<'static>>,
    verdict: &HopVerdict,
    theme: &Theme,
    width: usize,
) {
    lines.push(Line::styled(
        escape(&format!("From {} through {}", verdict.source, verdict.hop)).into_owned(),
        theme.title,
    ));
    if verdict.endpoints.is_empty() {
        push_wrapped(lines, "no endpoint to judge", 2, width, theme.dim);
    }
    for endpoint in &verdict.endpoints {
        let (mark, style) = match endpoint.verdict.allowed {
            Some(true) => ("✓", theme.ok),
            Some(false) => ("✗", theme.error),
            None => ("?", theme.warning),
        };
        lines.push(Line::from(vec![
            mark_span(mark, style),
            Span::raw(
                escape(&format!(
                    "{} {}:{} (seen as {})",
                    endpoint.pod, endpoint.ip, endpoint.port, endpoint.verdict.seen_as
                ))
                .into_owned(),
            ),
        ]));
        push_wrapped(lines, &why(endpoint), 2, width, style);
    }
}

/// The decision that counts: a denied egress of the source first, else the pod's ingress.
fn why(endpoint: &SourceVerdict) -> String {
    match &endpoint.verdict.egress {
        Some(egress @ (Decision::Denied { .. } | Decision::Undecided { .. })) => {
            format!("egress of the source: {egress}")
        }
        _ => format!("ingress: {}", endpoint.verdict.ingress),
    }
}

/// One sentence about the whole hop, in plain words.
fn explanation(policies: &HopPolicies) -> Option<String> {
    let mut sentences = Vec::new();
    for verdict in &policies.verdicts {
        let total = verdict.endpoints.len();
        if total == 0 {
            continue;
        }
        let allowed = verdict
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.verdict.allowed == Some(true))
            .count();
        let denied = verdict
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.verdict.allowed == Some(false))
            .count();
        let source = &verdict.source;
        sentences.push(if allowed == total {
            format!("{source} can connect to every pod of this hop.")
        } else if denied == total {
            format!(
                "{source} cannot pass this hop: the pods' policies drop the connection (the client times out, or is refused, as the network plugin does it)."
            )
        } else if denied > 0 {
            format!(
                "{source} is let in by {allowed} of {total} pods: kube-proxy picks any of them, so some connections fail."
            )
        } else {
            format!(
                "kubehop cannot decide every pod for {source}: it depends on the client's address or the network plugin."
            )
        });
    }
    (!sentences.is_empty()).then(|| sentences.join(" "))
}
