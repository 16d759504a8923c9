//! `:gw`: the Gateways view, the reverse direction of a chain's route hops: each Gateway, its
//! listeners (protocol, port, hostname, the routes attached, `allowedRoutes`), the route rules
//! that enter through each listener (accepted, or why not, with the route's findings), and the
//! Services behind each rule (weight, ready endpoints). Enter on a Service opens its chain.
//!
//! Built from the model on screen: the route hops are the engine's own links
//! (`ServiceChain::gateway_routes`, one per Service port a rule reaches and listener it enters
//! through), the findings the chains' Gateway API diagnostics; only the Gateways and their
//! listeners are read from the snapshot, so that a Gateway without routes shows too. Nothing is
//! matched or attached here.

use std::collections::BTreeMap;

use kubehop_gateway_api::{Gateway, Listener};

use super::state::AppState;
use crate::engine::diagnostics::{Diagnostic, Subject};
use crate::engine::gateway::GatewayRouteRef;
use crate::engine::model::{ServiceChain, ServiceKey};

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayRowKind {
    Gateway,
    Listener,
    Route,
    Service,
}

/// How a row is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowMark {
    Ok,
    Warning,
    Error,
    /// Nothing to say (a Gateway, a listener without a problem).
    Plain,
}

/// One line of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRow {
    pub kind: GatewayRowKind,
    /// The tree guides before the label (`│  ├─ `).
    pub guides: String,
    pub label: String,
    pub detail: String,
    pub mark: RowMark,
    /// A route's findings (shown beside it, in full under it when selected).
    pub findings: Vec<Diagnostic>,
    /// The Service a row leads to (Enter opens its chain).
    pub service: Option<ServiceKey>,
}

/// The `:gw` page.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaysPage {
    pub rows: Vec<GatewayRow>,
    pub cursor: usize,
    /// `2 Gateways · 3 listeners · 4 route rules`.
    pub summary: String,
}

impl GatewaysPage {
    /// The Service of the row under the cursor.
    pub fn selected_service(&self) -> Option<&ServiceKey> {
        self.rows.get(self.cursor)?.service.as_ref()
    }
}

/// A Service behind a route rule.
struct Backend {
    key: ServiceKey,
    port: i32,
    weight: u32,
    total_weight: u32,
    ready: usize,
    endpoints: usize,
    problem: Option<&'static str>,
}

/// A route rule entering through one listener.
struct RouteNode {
    link: GatewayRouteRef,
    backends: Vec<Backend>,
    findings: Vec<Diagnostic>,
}

/// A listener: from the Gateway's spec, or named by a parentRef that attaches nowhere.
struct ListenerNode {
    name: String,
    spec: Option<Listener>,
    /// By (kind, namespace, name, rule).
    routes: BTreeMap<(&'static str, String, String, usize), RouteNode>,
}

struct GatewayNode {
    gateway: Option<std::sync::Arc<Gateway>>,
    listeners: Vec<ListenerNode>,
}

/// Builds the page; `None` when the source has no Gateway and no route hop.
pub fn gateways(state: &AppState) -> Option<GatewaysPage> {
    let catalog = state.shown()?;
    let mut tree: BTreeMap<(String, String), GatewayNode> = BTreeMap::new();
    for gateway in &catalog.snapshot.gateway_api.gateways {
        let key = (
            gateway.metadata.namespace.clone().unwrap_or_default(),
            gateway.metadata.name.clone().unwrap_or_default(),
        );
        let listeners = gateway
            .spec
            .listeners
            .iter()
            .map(|listener| ListenerNode {
                name: listener.name.clone(),
                spec: Some(listener.clone()),
                routes: BTreeMap::new(),
            })
            .collect();
        tree.insert(
            key,
            GatewayNode {
                gateway: Some(gateway.clone()),
                listeners,
            },
        );
    }
    for chain in &catalog.model.services {
        for link in &chain.gateway_routes {
            add_link(&mut tree, chain, link);
        }
    }
    if tree.is_empty() {
        return None;
    }
    Some(flatten(tree))
}

fn add_link(
    tree: &mut BTreeMap<(String, String), GatewayNode>,
    chain: &ServiceChain,
    link: &GatewayRouteRef,
) {
    let entry = &link.gateway;
    let gateway = tree
        .entry((entry.namespace.clone(), entry.name.clone()))
        .or_insert_with(|| GatewayNode {
            gateway: None,
            listeners: Vec::new(),
        });
    let listener_name = entry.listener.clone().unwrap_or_else(|| "*".to_owned());
    let index = match gateway
        .listeners
        .iter()
        .position(|listener| listener.name == listener_name)
    {
        Some(index) => index,
        None => {
            gateway.listeners.push(ListenerNode {
                name: listener_name,
                spec: None,
                routes: BTreeMap::new(),
            });
            gateway.listeners.len() - 1
        }
    };
    let key = (
        link.kind.as_str(),
        link.namespace.clone(),
        link.name.clone(),
        link.rule,
    );
    let route = gateway.listeners[index]
        .routes
        .entry(key)
        .or_insert_with(|| RouteNode {
            link: link.clone(),
            backends: Vec::new(),
            findings: Vec::new(),
        });
    let subject = Subject::GatewayApi(format!(
        "{}/{}",
        link.kind.as_str().to_lowercase(),
        link.name
    ));
    for finding in chain.diagnostics.iter().filter(|d| d.subject == subject) {
        if !route.findings.contains(finding) {
            route.findings.push(finding.clone());
        }
    }
    let port = chain
        .ports
        .iter()
        .find(|port| port.port == link.service_port);
    let endpoints = port.map_or(0, |port| port.endpoints.len());
    let ready = port.map_or(0, |port| {
        port.endpoints
            .iter()
            .filter(|endpoint| endpoint.info.ready)
            .count()
    });
    route.backends.push(Backend {
        key: chain.key(),
        port: link.service_port,
        weight: link.weight,
        total_weight: link.total_weight,
        ready,
        endpoints,
        problem: link.backend_problem.map(|problem| problem.reason()),
    });
}

/// `├─ ` or `└─ ` after the guides of the levels above.
fn guides(above: &[bool], last: bool) -> String {
    let mut text: String = above
        .iter()
        .map(|&last| if last { "   " } else { "│  " })
        .collect();
    text.push_str(if last { "└─ " } else { "├─ " });
    text
}

fn flatten(tree: BTreeMap<(String, String), GatewayNode>) -> GatewaysPage {
    let mut rows = Vec::new();
    let (mut listeners, mut routes) = (0, 0);
    let gateways = tree.len();
    for ((namespace, name), node) in tree {
        rows.push(gateway_row(&namespace, &name, node.gateway.as_deref()));
        let count = node.listeners.len();
        for (l, listener) in node.listeners.into_iter().enumerate() {
            listeners += 1;
            let last_listener = l + 1 == count;
            rows.push(listener_row(&listener, guides(&[], last_listener)));
            let route_count = listener.routes.len();
            for (r, route) in listener.routes.into_values().enumerate() {
                routes += 1;
                let last_route = r + 1 == route_count;
                rows.push(route_row(&route, guides(&[last_listener], last_route)));
                let backend_count = route.backends.len();
                for (b, backend) in route.backends.iter().enumerate() {
                    let guides = guides(&[last_listener, last_route], b + 1 == backend_count);
                    rows.push(backend_row(backend, guides));
                }
            }
        }
    }
    GatewaysPage {
        rows,
        cursor: 0,
        summary: format!(
            "{} · {} · {}",
            plural(gateways, "Gateway", "Gateways"),
            plural(listeners, "listener", "listeners"),
            plural(routes, "route rule", "route rules"),
        ),
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn gateway_row(namespace: &str, name: &str, gateway: Option<&Gateway>) -> GatewayRow {
    let (detail, mark) = match gateway {
        Some(gateway) => {
            let addresses: Vec<&str> = gateway
                .status
                .as_ref()
                .and_then(|status| status.addresses.as_ref())
                .or(gateway.spec.addresses.as_ref())
                .into_iter()
                .flatten()
                .map(|address| address.value.as_str())
                .collect();
            let addresses = if addresses.is_empty() {
                "no address".to_owned()
            } else {
                addresses.join(", ")
            };
            (
                format!("class {} · {addresses}", gateway.spec.gateway_class_name),
                RowMark::Plain,
            )
        }
        None => ("✗ no such Gateway".to_owned(), RowMark::Error),
    };
    GatewayRow {
        kind: GatewayRowKind::Gateway,
        guides: String::new(),
        label: format!("Gateway {namespace}/{name}"),
        detail,
        mark,
        findings: Vec::new(),
        service: None,
    }
}

/// `Same`, `All`, `Selector`, plus the kinds when the listener names them.
fn allowed_routes(listener: &Listener) -> String {
    let allowed = listener.allowed_routes.as_ref();
    let from = allowed
        .and_then(|allowed| allowed.namespaces.as_ref())
        .and_then(|namespaces| namespaces.from.as_deref());
    let from = match from {
        None | Some("Same") => "same namespace".to_owned(),
        Some("All") => "all namespaces".to_owned(),
        Some("Selector") => "namespaces by selector".to_owned(),
        Some(other) => format!("namespaces {other}"),
    };
    let kinds: Vec<&str> = allowed
        .and_then(|allowed| allowed.kinds.as_ref())
        .into_iter()
        .flatten()
        .map(|kind| kind.kind.as_str())
        .collect();
    if kinds.is_empty() {
        from
    } else {
        format!("{from}, {}", kinds.join("/"))
    }
}

fn listener_row(listener: &ListenerNode, guides: String) -> GatewayRow {
    let attached: std::collections::BTreeSet<(&str, &str, &str)> = listener
        .routes
        .values()
        .filter(|route| route.link.gateway.problem.is_none())
        .map(|route| {
            (
                route.link.kind.as_str(),
                route.link.namespace.as_str(),
                route.link.name.as_str(),
            )
        })
        .collect();
    let (label, detail, mark) = match &listener.spec {
        Some(spec) => (
            format!("listener {} {}:{}", listener.name, spec.protocol, spec.port),
            format!(
                "{} attached · host {} · routes from {}",
                plural(attached.len(), "route", "routes"),
                spec.hostname.as_deref().unwrap_or("*"),
                allowed_routes(spec)
            ),
            RowMark::Plain,
        ),
        None => (
            format!("listener {}", listener.name),
            "✗ no such listener".to_owned(),
            RowMark::Error,
        ),
    };
    GatewayRow {
        kind: GatewayRowKind::Listener,
        guides,
        label,
        detail,
        mark,
        findings: Vec::new(),
        service: None,
    }
}

fn route_row(route: &RouteNode, guides: String) -> GatewayRow {
    let link = &route.link;
    let mut label = format!(
        "{} {}/{} rule {}",
        link.kind.as_str(),
        link.namespace,
        link.name,
        link.rule_name
            .clone()
            .unwrap_or_else(|| link.rule.to_string())
    );
    if !link.matches.is_empty() {
        label.push_str(&format!(" [{}]", link.matches.join(" | ")));
    }
    let hosts = if link.gateway.hostnames.is_empty() {
        "*".to_owned()
    } else {
        link.gateway.hostnames.join(", ")
    };
    let (state, mut mark) = match &link.gateway.problem {
        Some(problem) => (format!("✗ not accepted: {problem}"), RowMark::Error),
        None => ("✓ accepted".to_owned(), RowMark::Ok),
    };
    let mut detail = state;
    for finding in &route.findings {
        detail.push_str(&format!(" · {} {}", mark_of(finding), finding.code));
        mark = worse(mark, finding);
    }
    detail.push_str(&format!(" · host {hosts}"));
    GatewayRow {
        kind: GatewayRowKind::Route,
        guides,
        label,
        detail,
        mark,
        findings: route.findings.clone(),
        service: None,
    }
}

/// A finding's mark, as the Diagnostics tab writes it.
fn mark_of(finding: &Diagnostic) -> &'static str {
    use crate::engine::diagnostics::Severity;
    match finding.severity {
        Severity::Error => "✗",
        Severity::Warning => "!",
        Severity::Info => "i",
    }
}

/// The mark after a finding of this severity.
fn worse(mark: RowMark, finding: &Diagnostic) -> RowMark {
    use crate::engine::diagnostics::Severity;
    match (mark, finding.severity) {
        (RowMark::Error, _) | (_, Severity::Error) => RowMark::Error,
        (_, Severity::Warning) => RowMark::Warning,
        (mark, _) => mark,
    }
}

fn backend_row(backend: &Backend, guides: String) -> GatewayRow {
    let weight = format!("weight {}/{}", backend.weight, backend.total_weight);
    let (detail, mark) = match backend.problem {
        Some(problem) => (format!("{weight} · ✗ {problem}"), RowMark::Error),
        None if backend.weight == 0 => (format!("{weight} · gets nothing"), RowMark::Warning),
        None => (
            format!(
                "{weight} · {} ready of {}",
                backend.ready, backend.endpoints
            ),
            if backend.ready == 0 {
                RowMark::Error
            } else {
                RowMark::Ok
            },
        ),
    };
    GatewayRow {
        kind: GatewayRowKind::Service,
        guides,
        label: format!("Service {}:{}", backend.key, backend.port),
        detail,
        mark,
        findings: Vec::new(),
        service: Some(backend.key.clone()),
    }
}
