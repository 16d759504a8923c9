//! `kubehop route GATEWAY-IP:PORT --host H --path P`: the Gateway listener, the route rule the
//! request takes (rules GW5, GW6), its weighted backend Services and their endpoints.

use std::io::Write;

use serde::Serialize;

use super::route::Destination;
use crate::engine::gateway::{Gateways, HttpRequest, RouteMatch};
use crate::engine::{ClusterSnapshot, ProxyModel};

/// The answer for a request to a Gateway address.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayAnswer {
    /// `namespace/name` of the Gateway.
    pub gateway: String,
    pub address: String,
    pub port: u16,
    pub host: Option<String>,
    pub method: String,
    pub path: String,
    /// The listener that takes the request (`None`: no listener on that port serves the host).
    pub listener: Option<String>,
    pub route: Option<RouteAnswer>,
    /// One sentence: what happens to the request.
    pub outcome: String,
}

/// The route rule a request takes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteAnswer {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub rule: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#match: Option<usize>,
    pub hostname: Option<String>,
    pub backends: Vec<BackendAnswer>,
    /// The status code of the rule's `RequestRedirect` filter (302 unless it says otherwise):
    /// the Gateway answers with the redirect itself (rule GW11). Absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<i32>,
}

/// One backend of the rule, with its share and the endpoints it has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendAnswer {
    pub service: String,
    pub port: Option<i32>,
    pub weight: u32,
    pub total_weight: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// `ip:port`, ready ones only.
    pub endpoints: Vec<String>,
}

/// The answer when `destination` is the address of a Gateway of the snapshot; `None` otherwise.
pub fn answer(
    snapshot: &ClusterSnapshot,
    model: &ProxyModel,
    destination: &Destination,
    request: &HttpRequest,
) -> Option<GatewayAnswer> {
    let gateways = Gateways::new(snapshot);
    let address = destination.ip.to_string();
    let gateway = gateways.by_address(&address)?;
    let name = format!(
        "{}/{}",
        gateway.metadata.namespace.as_deref().unwrap_or("default"),
        gateway.metadata.name.as_deref().unwrap_or("")
    );
    let host = (!request.host.is_empty()).then(|| request.host.clone());
    let port = i32::from(destination.port);
    let listener = gateways.listener(gateway, port, host.as_deref());
    let matched = listener.and_then(|listener| match listener.protocol.as_str() {
        "TLS" | "TCP" | "UDP" => gateways.match_l4(gateway, listener, host.as_deref()),
        _ => gateways.match_http(gateway, listener, request),
    });
    let route = matched.as_ref().map(|m| route_answer(model, m));
    let outcome = outcome(listener.is_some(), route.as_ref());
    Some(GatewayAnswer {
        gateway: name,
        address,
        port: destination.port,
        host,
        method: request.method.clone(),
        path: request.path.clone(),
        listener: listener.map(|l| l.name.clone()),
        route,
        outcome,
    })
}

fn route_answer(model: &ProxyModel, m: &RouteMatch<'_>) -> RouteAnswer {
    let total: u32 = m.backends.iter().map(|b| b.weight).sum();
    RouteAnswer {
        kind: m.route.kind.to_string(),
        namespace: m.route.namespace.to_owned(),
        name: m.route.name.to_owned(),
        rule: m.rule,
        r#match: m.match_index,
        hostname: m.hostname.clone(),
        backends: m
            .backends
            .iter()
            .map(|b| BackendAnswer {
                service: format!("{}/{}", b.namespace, b.backend.name),
                port: b.backend.port,
                weight: b.weight,
                total_weight: total,
                problem: b.problem.map(|p| p.reason().to_owned()),
                endpoints: if b.problem.is_some() {
                    Vec::new()
                } else {
                    ready_endpoints(model, &b.namespace, &b.backend.name, b.backend.port)
                },
            })
            .collect(),
        redirect: m.route.rules.get(m.rule).and_then(|rule| {
            rule.filters.iter().find_map(|f| {
                f.request_redirect
                    .as_ref()
                    .map(|r| r.status_code.unwrap_or(302))
            })
        }),
    }
}

fn ready_endpoints(
    model: &ProxyModel,
    namespace: &str,
    name: &str,
    port: Option<i32>,
) -> Vec<String> {
    let Some(chain) = model.service(namespace, name) else {
        return Vec::new();
    };
    chain
        .ports
        .iter()
        .filter(|p| Some(p.port) == port)
        .flat_map(|p| p.endpoints.iter())
        .filter(|e| e.info.ready)
        .map(|e| crate::engine::hops::SocketText(e.info.ip, e.port).to_string())
        .collect()
}

fn outcome(listener: bool, route: Option<&RouteAnswer>) -> String {
    let Some(route) = route else {
        return if listener {
            "no route rule matches: the Gateway answers 404".to_owned()
        } else {
            "no listener on this port serves this host".to_owned()
        };
    };
    if let Some(code) = route.redirect {
        return format!("the rule answers with a redirect (RequestRedirect): HTTP {code}");
    }
    let sending = route.backends.iter().filter(|b| b.weight > 0).count();
    let valid = route
        .backends
        .iter()
        .filter(|b| b.weight > 0 && b.problem.is_none())
        .count();
    let reachable = route
        .backends
        .iter()
        .filter(|b| b.weight > 0 && !b.endpoints.is_empty())
        .count();
    if sending == 0 {
        "the rule sends nothing (every weight is 0 or no backend): HTTP 500".to_owned()
    } else if valid == 0 {
        "every backend of the rule is invalid: HTTP 500".to_owned()
    } else if reachable == 0 {
        "no backend has a ready endpoint: the Gateway answers 503".to_owned()
    } else if valid < sending {
        "some backends are invalid: their share of requests gets HTTP 500".to_owned()
    } else {
        "routed".to_owned()
    }
}

/// Whether the request reaches a ready endpoint.
pub fn routed(answer: &GatewayAnswer) -> bool {
    answer.outcome == "routed" || answer.outcome.starts_with("some backends")
}

/// The answer as text.
pub fn write_text(out: &mut dyn Write, answer: &GatewayAnswer) -> std::io::Result<()> {
    let host = answer.host.as_deref().unwrap_or("(no Host)");
    writeln!(
        out,
        "{}:{}  {} {} {}",
        answer.address, answer.port, answer.method, host, answer.path
    )?;
    match &answer.listener {
        Some(listener) => writeln!(out, "→ Gateway {} listener {listener}", answer.gateway)?,
        None => writeln!(out, "→ Gateway {}: no listener", answer.gateway)?,
    }
    if let Some(route) = &answer.route {
        let hostname = route.hostname.as_deref().unwrap_or("*");
        writeln!(
            out,
            "→ {} {}/{} rule {} (hostname {hostname})",
            route.kind, route.namespace, route.name, route.rule
        )?;
        for b in &route.backends {
            let port = b.port.map(|p| format!(":{p}")).unwrap_or_default();
            let state = match &b.problem {
                Some(problem) => problem.clone(),
                None if b.endpoints.is_empty() => "no ready endpoint".to_owned(),
                None => b.endpoints.join(", "),
            };
            writeln!(
                out,
                "  → Service {}{port} weight {}/{}: {state}",
                b.service, b.weight, b.total_weight
            )?;
        }
    }
    writeln!(out, "{}", answer.outcome)
}
