//! Gateway API diagnostics (GW1-GW17): computed from the specs, cross-checked with the status
//! controllers wrote. Each finding is about a route; it is shown on the Services the route
//! reaches, or as unattached when it reaches none.

use crate::objects::SliceInfo;
use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop_gateway_api::{Condition, Gateway};

use super::attach::AttachFailure;
use super::backends::BackendProblem;
use super::objects::RouteView;
use super::select::{Gateways, ParentAttachment, current, status_entry};
use crate::diagnostics::{Diagnostic, DiagnosticCode, Severity, Subject, name_list};
use crate::snapshot::ClusterSnapshot;

/// A finding and where it shows.
#[derive(Debug, Clone)]
pub(crate) struct RouteFinding {
    /// The existing Services the route sends to (namespace, name); empty: unattached.
    pub services: Vec<(String, String)>,
    /// The route's namespace.
    pub namespace: String,
    pub diagnostic: Diagnostic,
}

/// Every Gateway API finding of the snapshot, route by route in snapshot order.
pub(crate) fn route_findings(snapshot: &ClusterSnapshot) -> Vec<RouteFinding> {
    if snapshot.gateway_api.is_empty() {
        return Vec::new();
    }
    let gateways = Gateways::new(snapshot);
    let mut out = Vec::new();
    for route in snapshot.gateway_api.routes() {
        let services = reached_services(&gateways, &route);
        let mut scoped: Vec<Scoped> = Vec::new();
        let mut parents = parent_findings(&gateways, &route);
        parents.extend(class_findings(&gateways, &route));
        // A parent that carries nothing is an error only when no other parent carries the
        // route (GW17): otherwise traffic still flows, through the other one.
        let carried = carried_elsewhere(&gateways, &route);
        scoped.extend(parents.into_iter().map(|d| {
            let d = if carried { d.at(Severity::Warning) } else { d };
            (d, None)
        }));
        scoped.extend(backend_findings(
            &gateways,
            &snapshot.endpoint_slices,
            &route,
        ));
        if scoped.is_empty() {
            scoped.extend(
                status_findings(&gateways, &route)
                    .into_iter()
                    .map(|d| (d, None)),
            );
        }
        out.extend(scoped.into_iter().map(|(diagnostic, on)| {
            RouteFinding {
                services: on
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| services.clone()),
                namespace: route.namespace.to_owned(),
                diagnostic,
            }
        }));
    }
    out
}

/// Whether some parentRef of the route attaches to a listener of a Gateway a controller
/// serves (or one the snapshot does not carry, GW14).
fn carried_elsewhere(gateways: &Gateways<'_>, route: &RouteView<'_>) -> bool {
    gateways
        .parents(route)
        .iter()
        .any(|parent| match (parent.gateway, &parent.result) {
            (Some(gateway), Some(Ok(_))) => class_problem(gateways, gateway).is_none(),
            _ => gateways.gateway_unseen(route, parent),
        })
}

fn subject(route: &RouteView<'_>) -> Subject {
    Subject::GatewayApi(format!(
        "{}/{}",
        route.kind.as_str().to_ascii_lowercase(),
        route.name
    ))
}

fn what(route: &RouteView<'_>) -> String {
    format!("{} {}/{}", route.kind, route.namespace, route.name)
}

/// The existing Services any backendRef of the route names (whatever the port), sorted.
fn reached_services(gateways: &Gateways<'_>, route: &RouteView<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = route
        .rules
        .iter()
        .flat_map(|rule| rule.backends)
        .filter(|b| b.is_service())
        .map(|b| (b.namespace(route.namespace).to_owned(), b.name.clone()))
        .filter(|(ns, name)| gateways.service(ns, name).is_some())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// GW1, GW3, GW4: parentRefs that attach nowhere.
fn parent_findings(gateways: &Gateways<'_>, route: &RouteView<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for parent in gateways.parents(route) {
        // GAMMA parents (a Service) are east-west: no Gateway to find (GW1); a Gateway the
        // snapshot does not carry is unknown, not missing (GW14).
        if !parent.parent_ref.is_gateway() || gateways.gateway_unseen(route, &parent) {
            continue;
        }
        let gateway = format!("{}/{}", parent.namespace, parent.parent_ref.name);
        let unseen = if status_entry(route, parent.parent_ref).is_none() {
            " No controller wrote status for this parentRef, so the route's status shows nothing wrong."
        } else {
            ""
        };
        let (code, text) = match &parent.result {
            Some(Ok(_)) => continue,
            None => (
                DiagnosticCode::GatewayNotFound,
                format!(
                    "{} names Gateway {gateway} as its parent, which does not exist; no traffic reaches the route.{unseen} Create the Gateway or fix parentRefs.",
                    what(route)
                ),
            ),
            Some(Err(AttachFailure::NoMatchingParent)) => {
                let listeners: Vec<String> = parent.gateway.map_or(Vec::new(), |g| {
                    g.spec
                        .listeners
                        .iter()
                        .map(|l| format!("{} ({}/{})", l.name, l.port, l.protocol))
                        .collect()
                });
                let wanted = match (&parent.parent_ref.section_name, parent.parent_ref.port) {
                    (Some(s), Some(p)) => format!("listener {s:?} on port {p}"),
                    (Some(s), None) => format!("listener {s:?}"),
                    (None, Some(p)) => format!("a listener on port {p}"),
                    (None, None) => "a listener".to_owned(),
                };
                (
                    DiagnosticCode::GatewayListenerNotFound,
                    format!(
                        "{} attaches to {wanted} of Gateway {gateway}, which has none (listeners: {}); no traffic reaches the route.{unseen} Fix sectionName/port in parentRefs.",
                        what(route),
                        if listeners.is_empty() {
                            "none".to_owned()
                        } else {
                            name_list(&listeners)
                        }
                    ),
                )
            }
            Some(Err(AttachFailure::NotAllowedByListeners)) => (
                DiagnosticCode::GatewayRouteNotAllowed,
                format!(
                    "{} is not allowed by the listeners of Gateway {gateway} it names (allowedRoutes: {}); no traffic reaches the route. {}",
                    what(route),
                    allowed_text(parent.gateway, &parent),
                    not_allowed_hint(gateways, &parent, route)
                ),
            ),
            Some(Err(AttachFailure::NoMatchingListenerHostname)) => (
                DiagnosticCode::GatewayHostnameMismatch,
                format!(
                    "{} has hostnames {} that no listener of Gateway {gateway} it names accepts (listener hostnames: {}); no traffic reaches the route. Make them intersect.",
                    what(route),
                    name_list(route.hostnames),
                    listener_hosts(parent.gateway, &parent)
                ),
            ),
        };
        out.push(Diagnostic::new(code, subject(route), text));
    }
    out
}

fn allowed_text(gateway: Option<&Gateway>, parent: &ParentAttachment<'_>) -> String {
    let Some(gateway) = gateway else {
        return String::new();
    };
    let texts: Vec<String> = gateway
        .spec
        .listeners
        .iter()
        .filter(|l| super::attach::selects_listener(parent.parent_ref, l))
        .map(|l| {
            let a = l.allowed_routes.as_ref();
            let from = a
                .and_then(|a| a.namespaces.as_ref())
                .and_then(|n| n.from.as_deref())
                .unwrap_or("Same");
            let kinds: Vec<&str> = a
                .and_then(|a| a.kinds.as_ref())
                .map_or(Vec::new(), |k| k.iter().map(|k| k.kind.as_str()).collect());
            let selector = a
                .and_then(|a| a.namespaces.as_ref())
                .filter(|_| from == "Selector")
                .and_then(|n| n.selector.as_ref())
                .map(|s| format!(" {}", crate::netpol::Selector::from_api(s)))
                .unwrap_or_default();
            if kinds.is_empty() {
                format!("{}: from {from}{selector}", l.name)
            } else {
                format!(
                    "{}: from {from}{selector}, kinds {}",
                    l.name,
                    kinds.join(",")
                )
            }
        })
        .collect();
    texts.join("; ")
}

/// What to change so a listener the parentRef names lets the route in (GW4): its namespace
/// when some listener takes the kind, its kind when some takes the namespace.
fn not_allowed_hint(
    gateways: &Gateways<'_>,
    parent: &ParentAttachment<'_>,
    route: &RouteView<'_>,
) -> String {
    let Some(gateway) = parent.gateway else {
        return String::new();
    };
    let labels = gateways.namespace_labels(route.namespace);
    let selected: Vec<_> = gateway
        .spec
        .listeners
        .iter()
        .filter(|l| super::attach::selects_listener(parent.parent_ref, l))
        .collect();
    let kind_ok = selected
        .iter()
        .any(|l| super::attach::allows_kind(l, route.kind));
    let namespace_ok = selected
        .iter()
        .any(|l| super::attach::allows_namespace(gateway, l, route.namespace, labels));
    match (kind_ok, namespace_ok) {
        (true, _) => format!(
            "The listeners take {}s, but not from namespace {}: widen allowedRoutes.namespaces (or, with a Selector, label the namespace to match).",
            route.kind, route.namespace
        ),
        (false, true) => format!(
            "The listeners do not take {}s (their protocol or allowedRoutes.kinds): name a listener that does.",
            route.kind
        ),
        (false, false) => format!(
            "Allow namespace {} and kind {} in the listener's allowedRoutes.",
            route.namespace, route.kind
        ),
    }
}

fn listener_hosts(gateway: Option<&Gateway>, parent: &ParentAttachment<'_>) -> String {
    let Some(gateway) = gateway else {
        return String::new();
    };
    let hosts: Vec<String> = gateway
        .spec
        .listeners
        .iter()
        .filter(|l| super::attach::selects_listener(parent.parent_ref, l))
        .map(|l| format!("{}: {}", l.name, l.hostname.as_deref().unwrap_or("*")))
        .collect();
    hosts.join(", ")
}

/// A finding and the Services it shows on (`None`: every Service the route reaches).
type Scoped = (Diagnostic, Option<Vec<(String, String)>>);

/// GW8-GW12: backends that cannot take traffic, rules that send nothing anywhere. A backend's
/// finding shows on its own Service (when it exists), a rule's on the rule's Services.
fn backend_findings(
    gateways: &Gateways<'_>,
    slices: &[std::sync::Arc<SliceInfo>],
    route: &RouteView<'_>,
) -> Vec<Scoped> {
    let mut out = Vec::new();
    for rule in &route.rules {
        let mut backends = gateways.backends(route, rule.index);
        for b in &mut backends {
            b.problem = b.problem.filter(|p| knowable(gateways, route, *p));
        }
        let existing = |b: &super::WeightedBackend<'_>| {
            gateways
                .service(&b.namespace, &b.backend.name)
                .map(|_| (b.namespace.clone(), b.backend.name.clone()))
        };
        for b in &backends {
            let Some(problem) = b.problem else { continue };
            let Some(diagnostic) = backend_finding(gateways, slices, route, rule.index, b, problem)
            else {
                continue;
            };
            out.push((diagnostic, existing(b).map(|s| vec![s])));
        }
        let mut on: Vec<(String, String)> = backends.iter().filter_map(existing).collect();
        on.sort();
        on.dedup();
        let invalid = |b: &super::WeightedBackend<'_>| {
            b.problem
                .is_some_and(|p| p != BackendProblem::UnsupportedKind)
        };
        if !backends.is_empty() && backends.iter().all(invalid) && !answers_itself(rule) {
            out.push((Diagnostic::new(DiagnosticCode::GatewayRuleAllInvalid, subject(route), format!("{} rule {}: every backend is invalid, so every request the rule matches gets HTTP 500.", what(route), rule.index)), Some(on)));
        } else if !backends.is_empty() && backends.iter().all(|b| b.weight == 0) {
            out.push((Diagnostic::new(DiagnosticCode::GatewayWeightsZero, subject(route), format!("{} rule {}: every backend has weight 0, so the rule sends nothing and its requests get HTTP 500. Give a backend a weight above 0.", what(route), rule.index)), Some(on)));
        }
    }
    out
}

/// Whether the input can tell this backend problem (GW14): a Service is known missing only
/// when the input carries Services, and a reference known refused only when it carries a
/// ReferenceGrant or no controller says the route's references resolve.
fn knowable(gateways: &Gateways<'_>, route: &RouteView<'_>, problem: BackendProblem) -> bool {
    match problem {
        BackendProblem::ServiceNotFound => gateways.services_known(),
        BackendProblem::RefNotPermitted => {
            !gateways.objects.reference_grants.is_empty() || !resolved_in_status(route)
        }
        _ => true,
    }
}

/// Whether a controller wrote `ResolvedRefs=True` for the route's current generation on a
/// parent the spec names.
fn resolved_in_status(route: &RouteView<'_>) -> bool {
    route
        .parent_refs
        .iter()
        .filter_map(|p| status_entry(route, p))
        .flat_map(|entry| &entry.conditions)
        .any(|c| {
            c.type_ == "ResolvedRefs" && c.status == "True" && current(c, route.metadata.generation)
        })
}

/// Whether a rule has a filter that answers requests without a backend (GW11): a
/// `RequestRedirect`, or an `ExtensionRef` (implementation-specific: it may answer by itself).
fn answers_itself(rule: &super::RuleView<'_>) -> bool {
    rule.filters
        .iter()
        .any(|f| matches!(f.type_.as_str(), "RequestRedirect" | "ExtensionRef"))
}

/// The finding of one invalid backend (none for a kind kubehop cannot follow: its controller
/// says whether it resolves it, GW16).
fn backend_finding(
    gateways: &Gateways<'_>,
    slices: &[std::sync::Arc<SliceInfo>],
    route: &RouteView<'_>,
    rule: usize,
    b: &super::WeightedBackend<'_>,
    problem: BackendProblem,
) -> Option<Diagnostic> {
    let target = format!("Service {}/{}", b.namespace, b.backend.name);
    let (code, text) = match problem {
        BackendProblem::UnsupportedKind => return None,
        BackendProblem::ServiceNotFound => (
            DiagnosticCode::GatewayBackendMissing,
            format!(
                "{} rule {rule} sends to {target}, which does not exist; requests sent to it get HTTP 500. Create the Service or fix backendRefs.",
                what(route),
            ),
        ),
        BackendProblem::PortMissing => (
            DiagnosticCode::GatewayBackendPort,
            format!(
                "{} rule {rule} sends to {target} without a port; backendRefs to a Service need the Service port (the API server refuses the route without it).",
                what(route),
            ),
        ),
        BackendProblem::PortNotFound => (
            DiagnosticCode::GatewayBackendPort,
            port_text(gateways, slices, route, rule, b),
        ),
        BackendProblem::RefNotPermitted => (
            DiagnosticCode::GatewayRefNotPermitted,
            format!(
                "{} rule {rule} sends to {target} in another namespace, and no ReferenceGrant in {} lets {}s from {} refer to it (RefNotPermitted); requests sent to it get HTTP 500. Add a ReferenceGrant in {}.",
                what(route),
                b.namespace,
                route.kind,
                route.namespace,
                b.namespace
            ),
        ),
    };
    Some(Diagnostic::new(code, subject(route), text))
}

/// The Service port whose named targetPort the Service's EndpointSlices resolve to `port`.
fn resolved_target(
    slices: &[std::sync::Arc<SliceInfo>],
    namespace: &str,
    service: &str,
    port: i32,
    ports: &[&ServicePort],
) -> Option<i32> {
    let name = slices
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
        .filter(|s| {
            let labels = s.metadata.labels.as_ref();
            labels
                .and_then(|l| l.get(crate::endpointslice::SERVICE_NAME_LABEL))
                .map(String::as_str)
                == Some(service)
        })
        .flat_map(|s| s.ports.iter().flatten())
        .find(|p| p.port == Some(port))?
        .name
        .clone()
        .unwrap_or_default();
    ports
        .iter()
        .find(|p| p.name.clone().unwrap_or_default() == name)
        .map(|p| p.port)
}

fn port_text(
    gateways: &Gateways<'_>,
    slices: &[std::sync::Arc<SliceInfo>],
    route: &RouteView<'_>,
    rule: usize,
    b: &super::WeightedBackend<'_>,
) -> String {
    let port = b.backend.port.unwrap_or_default();
    let service = gateways.service(&b.namespace, &b.backend.name);
    let ports = service
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.ports.as_ref());
    let ports: Vec<_> = ports.into_iter().flatten().collect();
    let listed: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
    let target = ports
        .iter()
        .find(|p| matches!(&p.target_port, Some(IntOrString::Int(t)) if *t == port))
        .map(|p| p.port)
        .or_else(|| resolved_target(slices, &b.namespace, &b.backend.name, port, &ports));
    let hint = match target {
        Some(service_port) => format!(
            " {port} is the targetPort of Service port {service_port}: backendRefs name the Service port."
        ),
        None => String::new(),
    };
    format!(
        "{} rule {rule} sends to port {port} of Service {}/{}, which has no such port (it has {}); requests sent to it get HTTP 500.{hint}",
        what(route),
        b.namespace,
        b.backend.name,
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        }
    )
}

/// GW13: conditions a controller set to False, on the route's parents, the Gateways it attaches
/// to and their listeners; skipped when written for an older generation.
fn status_findings(gateways: &Gateways<'_>, route: &RouteView<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let generation = route.metadata.generation;
    // Only entries for a parentRef the spec still has: a controller may leave one behind for a
    // parent the route no longer names.
    let parents = route
        .parent_refs
        .iter()
        .filter_map(|p| status_entry(route, p));
    for parent in parents {
        for c in false_conditions(
            &parent.conditions,
            generation,
            &["Accepted", "ResolvedRefs"],
        ) {
            out.push(condition(
                route,
                &format!("its status for parent {}", parent.parent_ref.name),
                c,
            ));
        }
    }
    for parent in gateways.parents(route) {
        let (Some(gateway), Some(Ok(attachments))) = (parent.gateway, &parent.result) else {
            continue;
        };
        let status = gateway.status.as_ref();
        let name = format!("Gateway {}/{}", parent.namespace, parent.parent_ref.name);
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        for c in false_conditions(
            conditions,
            gateway.metadata.generation,
            &["Accepted", "Programmed"],
        ) {
            out.push(condition(route, &name, c));
        }
        let listeners = status.and_then(|s| s.listeners.as_deref()).unwrap_or(&[]);
        for l in listeners
            .iter()
            .filter(|l| attachments.iter().any(|a| a.listener.name == l.name))
        {
            for c in false_conditions(
                &l.conditions,
                gateway.metadata.generation,
                &["Accepted", "Programmed", "ResolvedRefs"],
            ) {
                out.push(condition(route, &format!("{name} listener {}", l.name), c));
            }
        }
    }
    out
}

fn false_conditions<'c>(
    conditions: &'c [Condition],
    generation: Option<i64>,
    types: &'c [&str],
) -> impl Iterator<Item = &'c Condition> + 'c {
    conditions.iter().filter(move |c| {
        c.status == "False" && types.contains(&c.type_.as_str()) && current(c, generation)
    })
}

fn condition(route: &RouteView<'_>, on: &str, c: &Condition) -> Diagnostic {
    let reason = c.reason.as_deref().unwrap_or("no reason");
    let message = c
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m:?}"))
        .unwrap_or_default();
    Diagnostic::new(
        DiagnosticCode::GatewayConditionFalse,
        subject(route),
        format!(
            "{}: {on} has {}=False ({reason}){message}.",
            what(route),
            c.type_
        ),
    )
}

/// GW17: the Gateways the route attaches to that no controller serves, because their
/// GatewayClass does not exist or no controller has accepted it.
fn class_findings(gateways: &Gateways<'_>, route: &RouteView<'_>) -> Vec<Diagnostic> {
    let mut done: Vec<&Gateway> = Vec::new();
    let mut out = Vec::new();
    for parent in gateways.parents(route) {
        let (Some(gateway), Some(Ok(_))) = (parent.gateway, &parent.result) else {
            continue;
        };
        if done.iter().any(|g| std::ptr::eq(*g, gateway)) {
            continue;
        }
        done.push(gateway);
        let Some(problem) = class_problem(gateways, gateway) else {
            continue;
        };
        out.push(Diagnostic::new(
            DiagnosticCode::GatewayClassUnserved,
            subject(route),
            format!(
                "{} attaches to Gateway {}/{}, {problem}; no controller serves the Gateway, so no traffic reaches the route through it.",
                what(route),
                parent.namespace,
                parent.parent_ref.name
            ),
        ));
    }
    out
}

/// Why no controller serves `gateway` (GW17), or `None` when one does or kubehop cannot tell.
fn class_problem(gateways: &Gateways<'_>, gateway: &Gateway) -> Option<String> {
    let generation = gateway.metadata.generation;
    let conditions = gateway
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref());
    let programmed = conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Programmed" && c.status == "True" && current(c, generation));
    let classes = &gateways.objects.gateway_classes;
    if programmed || classes.is_empty() {
        return None;
    }
    let wanted = &gateway.spec.gateway_class_name;
    let Some(class) = classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(wanted.as_str()))
    else {
        let names: Vec<String> = classes
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        return Some(format!(
            "whose GatewayClass {wanted} does not exist (the cluster has {})",
            name_list(&names)
        ));
    };
    let conditions = class.status.as_ref().and_then(|s| s.conditions.as_deref());
    let accepted = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Accepted" && current(c, class.metadata.generation))?;
    let reason = accepted.reason.as_deref().unwrap_or("no reason");
    match accepted.status.as_str() {
        "Unknown" if reason == "Pending" => Some(format!(
            "whose GatewayClass {wanted} no controller has accepted (Accepted=Unknown, Pending): nothing runs its controllerName {:?}",
            class.spec.controller_name
        )),
        "False" => Some(format!(
            "whose GatewayClass {wanted} its controller refused (Accepted=False, {reason}{})",
            accepted
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {m:?}"))
                .unwrap_or_default()
        )),
        _ => None,
    }
}
