//! Gateway API routes as hops of the Services they reach: for each route rule backendRef that
//! names a Service port, the Gateway listeners the route's parentRefs attach to (GW1-GW12).

use std::collections::BTreeMap;

use serde::Serialize;

use super::attach::AttachFailure;
use super::backends::BackendProblem;
use super::objects::{RouteKind, RouteView};
use super::select::{Gateways, ParentAttachment};
use crate::snapshot::ClusterSnapshot;

/// Where a route enters: one Gateway listener its parentRef attaches to, or the parentRef
/// that attaches nowhere (`problem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEntry {
    pub namespace: String,
    pub name: String,
    /// The listener (attached), or the parentRef's `sectionName` (not attached).
    pub listener: Option<String>,
    /// The listener's port (attached), the parentRef's (not attached), or `None` for a Gateway
    /// the snapshot does not carry (GW14).
    pub port: Option<i32>,
    pub protocol: Option<String>,
    /// The route's hostnames on the listener (empty: every host).
    pub hostnames: Vec<String>,
    /// The Gateway's addresses (status first, else spec).
    pub addresses: Vec<String>,
    /// Why the parentRef attaches nowhere: `GatewayNotFound`, `NoMatchingParent`,
    /// `NotAllowedByListeners`, `NoMatchingListenerHostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A route rule that sends to a Service port, entered through one Gateway listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRouteRef {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
    /// The rule's position in the route.
    pub rule: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// The Service port the backendRef names.
    pub service_port: i32,
    pub weight: u32,
    /// The sum of the rule's weights (this backend gets `weight / totalWeight`).
    pub total_weight: u32,
    /// The rule's matches, one text each (`PathPrefix /cart GET header x-canary=yes`).
    pub matches: Vec<String>,
    /// The rule's and the backend's filter types.
    pub filters: Vec<String>,
    pub gateway: GatewayEntry,
    /// Why requests the rule sends here fail (`RefNotPermitted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_problem: Option<BackendProblem>,
}

impl GatewayRouteRef {
    /// Whether traffic can flow: attached, backend valid, weight above 0.
    pub fn passes(&self) -> bool {
        self.gateway.problem.is_none() && self.backend_problem.is_none() && self.weight > 0
    }
}

/// Every route hop of every Service, by (namespace, name).
pub(crate) type RouteLinks = BTreeMap<(String, String), Vec<GatewayRouteRef>>;

/// The route hops of every Service of the snapshot.
pub(crate) fn route_links(snapshot: &ClusterSnapshot) -> RouteLinks {
    let mut out = RouteLinks::new();
    if snapshot.gateway_api.is_empty() {
        return out;
    }
    let gateways = Gateways::new(snapshot);
    for route in snapshot.gateway_api.routes() {
        let entries = entries(&gateways, &route);
        for rule in &route.rules {
            let total: u32 = rule.backends.iter().map(|b| weight(b.weight())).sum();
            for backend in rule.backends.iter().filter(|b| b.is_service()) {
                let namespace = backend.namespace(route.namespace);
                let Some(port) = backend.port else { continue };
                let Some(service) = gateways.service(namespace, &backend.name) else {
                    continue;
                };
                let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
                if !ports.into_iter().flatten().any(|p| p.port == port) {
                    continue;
                }
                let problem = gateways.backend_problem(route.kind, route.namespace, backend);
                let mut filters: Vec<String> =
                    rule.filters.iter().map(|f| f.type_.clone()).collect();
                filters.extend(backend.filters.iter().flatten().map(|f| f.type_.clone()));
                for entry in &entries {
                    out.entry((namespace.to_owned(), backend.name.clone()))
                        .or_default()
                        .push(GatewayRouteRef {
                            kind: route.kind,
                            namespace: route.namespace.to_owned(),
                            name: route.name.to_owned(),
                            rule: rule.index,
                            rule_name: rule.name.map(str::to_owned),
                            service_port: port,
                            weight: weight(backend.weight()),
                            total_weight: total,
                            matches: match_texts(&route, rule.index),
                            filters: filters.clone(),
                            gateway: entry.clone(),
                            backend_problem: problem,
                        });
                }
            }
        }
    }
    out
}

fn weight(w: i32) -> u32 {
    u32::try_from(w).unwrap_or(0)
}

/// The Gateway listeners a route enters through, one per attachment, and one per parentRef
/// that attaches nowhere.
pub(crate) fn entries(gateways: &Gateways<'_>, route: &RouteView<'_>) -> Vec<GatewayEntry> {
    let mut out = Vec::new();
    for parent in gateways.parents(route) {
        if !parent.parent_ref.is_gateway() {
            continue;
        }
        let addresses = addresses(&parent);
        let unattached = |problem: &str| GatewayEntry {
            namespace: parent.namespace.clone(),
            name: parent.parent_ref.name.clone(),
            listener: parent.parent_ref.section_name.clone(),
            port: parent.parent_ref.port,
            protocol: None,
            hostnames: Vec::new(),
            addresses: addresses.clone(),
            problem: Some(problem.to_owned()),
        };
        match &parent.result {
            // A Gateway the snapshot does not carry (GW14): the hop names it, with no listener
            // and no problem kubehop could vouch for.
            None if gateways.gateway_unseen(route, &parent) => out.push(GatewayEntry {
                port: None,
                problem: None,
                ..unattached("")
            }),
            None => out.push(unattached("GatewayNotFound")),
            Some(Err(failure)) => out.push(unattached(AttachFailure::reason(*failure))),
            Some(Ok(attachments)) => out.extend(attachments.iter().map(|a| GatewayEntry {
                namespace: parent.namespace.clone(),
                name: parent.parent_ref.name.clone(),
                listener: Some(a.listener.name.clone()),
                port: Some(a.listener.port),
                protocol: Some(a.listener.protocol.clone()),
                hostnames: a.hostnames.iter().flatten().cloned().collect(),
                addresses: addresses.clone(),
                problem: None,
            })),
        }
    }
    out
}

/// A Gateway's addresses: those its controller reports, else those its spec asks for.
fn addresses(parent: &ParentAttachment<'_>) -> Vec<String> {
    let Some(gateway) = parent.gateway else {
        return Vec::new();
    };
    let status = gateway.status.as_ref().and_then(|s| s.addresses.as_ref());
    let list = status
        .filter(|a| !a.is_empty())
        .or(gateway.spec.addresses.as_ref());
    list.into_iter()
        .flatten()
        .map(|a| a.value.clone())
        .collect()
}

/// One text per match of rule `rule` (HTTP and gRPC; empty for the others and for a rule
/// without matches).
pub fn match_texts(route: &RouteView<'_>, rule: usize) -> Vec<String> {
    use super::objects::RouteSource;
    match route.source {
        RouteSource::Http(r) => {
            let rules = r.spec.rules.as_deref().unwrap_or(&[]);
            let matches = rules
                .get(rule)
                .and_then(|r| r.matches.as_deref())
                .unwrap_or(&[]);
            matches
                .iter()
                .map(|m| {
                    let mut parts = Vec::new();
                    if let Some(path) = &m.path {
                        parts.push(format!("{} {}", path.type_(), path.value()));
                    }
                    parts.extend(m.method.clone());
                    for h in m.headers.iter().flatten() {
                        parts.push(format!("header {}={}", h.name, h.value));
                    }
                    for q in m.query_params.iter().flatten() {
                        parts.push(format!("query {}={}", q.name, q.value));
                    }
                    parts.join(" ")
                })
                .collect()
        }
        RouteSource::Grpc(r) => {
            let rules = r.spec.rules.as_deref().unwrap_or(&[]);
            let matches = rules
                .get(rule)
                .and_then(|r| r.matches.as_deref())
                .unwrap_or(&[]);
            matches
                .iter()
                .map(|m| {
                    let method = m.method.as_ref();
                    let service = method.and_then(|x| x.service.as_deref()).unwrap_or("*");
                    let name = method.and_then(|x| x.method.as_deref()).unwrap_or("*");
                    format!("{service}/{name}")
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Whether `kind` is one kubehop probes over HTTP.
pub fn is_http(kind: RouteKind) -> bool {
    matches!(kind, RouteKind::Http | RouteKind::Grpc)
}
