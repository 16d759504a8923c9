//! Explain for a Gateway API route hop: which listener takes the request and by which
//! hostname, which rule and why (the Gateway API's precedence, GW5 and GW6), which share of
//! the rule's traffic reaches this Service, and what is broken, with the copy-ready fix where
//! one is certain.

use serde_json::json;

use super::Explanation;
use crate::diagnostics::{Subject, shell_quote};
use crate::gateway::{BackendProblem, GatewayRouteRef, RouteKind};
use crate::model::{PortChain, ServiceChain};

/// Explains one route hop of `chain` (its port `port`, when the Service has it).
pub(super) fn explain_gateway_route(
    chain: &ServiceChain,
    route: &GatewayRouteRef,
    port: Option<&PortChain>,
) -> Explanation {
    let mut sentences = vec![listener_sentence(route)];
    if route.gateway.problem.is_none() {
        sentences.push(rule_sentence(route));
        sentences.push(share_sentence(chain, route, port));
    }
    sentences.extend(problem_sentences(chain, route));
    Explanation { sentences }
}

fn route_name(route: &GatewayRouteRef) -> String {
    format!("{} {}/{}", route.kind, route.namespace, route.name)
}

/// Which listener takes the traffic, and by which hostname intersection (GW2, GW3, GW5).
fn listener_sentence(route: &GatewayRouteRef) -> String {
    let gateway = &route.gateway;
    let name = format!("Gateway {}/{}", gateway.namespace, gateway.name);
    if gateway.problem.is_some() {
        let wanted = match (&gateway.listener, gateway.port) {
            (Some(listener), _) => format!("its listener {listener:?}"),
            (None, Some(port)) => format!("its listener on port {port}"),
            (None, None) => "its listeners".to_owned(),
        };
        return format!(
            "{} names {name} as its parent, but does not attach to {wanted}: no traffic enters this route there.",
            route_name(route)
        );
    }
    let at = match gateway.addresses.first() {
        Some(address) => format!(" at {address}"),
        None => " (no address yet)".to_owned(),
    };
    let listener = gateway.listener.as_deref().unwrap_or("?");
    let protocol = gateway.protocol.as_deref().unwrap_or("?");
    let port = gateway.port.map_or("?".to_owned(), |p| p.to_string());
    let what = match route.kind {
        RouteKind::Tls => "TLS connections whose server name (SNI) is",
        RouteKind::Tcp | RouteKind::Udp => "",
        _ => "requests whose Host is",
    };
    let hosts = if gateway.hostnames.is_empty() {
        "any name: neither the route nor the listener narrows the hostnames".to_owned()
    } else {
        format!(
            "{}: where the route's hostnames and the listener's intersect",
            gateway.hostnames.join(", ")
        )
    };
    match route.kind {
        RouteKind::Tcp | RouteKind::Udp => format!(
            "Listener {listener:?} of {name} ({protocol} on port {port}{at}) hands every {} on the port to {}.",
            if route.kind == RouteKind::Tcp {
                "connection"
            } else {
                "datagram"
            },
            route_name(route)
        ),
        _ => format!(
            "Listener {listener:?} of {name} ({protocol} on port {port}{at}) takes {what} {hosts}; it hands them to {}.",
            route_name(route)
        ),
    }
}

/// Which rule, and why it wins (GW6).
fn rule_sentence(route: &GatewayRouteRef) -> String {
    let rule = match &route.rule_name {
        Some(name) => format!("Rule {} ({name:?})", route.rule),
        None => format!("Rule {}", route.rule),
    };
    match route.kind {
        RouteKind::Tls => format!(
            "{rule} takes them: a TLSRoute has one rule per route, and among the routes on the listener the most specific hostname wins; the Gateway passes the TLS bytes through unread, so the backend completes the handshake."
        ),
        RouteKind::Tcp | RouteKind::Udp => {
            format!("{rule} takes them: the first rule of the route on the listener.")
        }
        _ if route.matches.is_empty() => format!(
            "{rule} has no matches, so it takes every request (as PathPrefix /) that no more specific rule on the listener takes."
        ),
        RouteKind::Grpc => format!(
            "{rule} takes calls matching {}: the most specific match wins (a named service over any, then a named method, then more header matches), ties to the oldest route.",
            route.matches.join(" or ")
        ),
        _ => format!(
            "{rule} takes requests matching {}: of all rules on the listener the most specific match wins (an Exact path over a PathPrefix, a longer prefix over a shorter, then a method, then more header matches, then more query matches), ties to the oldest route.",
            route.matches.join(" or ")
        ),
    }
}

/// The share of the rule's traffic this Service port gets, and where it goes then.
fn share_sentence(
    chain: &ServiceChain,
    route: &GatewayRouteRef,
    port: Option<&PortChain>,
) -> String {
    let share = if route.weight == 0 {
        "none (weight 0)".to_owned()
    } else if route.total_weight == route.weight {
        "all".to_owned()
    } else {
        let percent = f64::from(route.weight) * 100.0 / f64::from(route.total_weight.max(1));
        format!(
            "{} of {} by weight ({percent:.0}%)",
            route.weight, route.total_weight
        )
    };
    let filters = if route.filters.is_empty() {
        String::new()
    } else {
        format!(" after the filters {}", route.filters.join(", "))
    };
    let mut sentence = format!(
        "It sends {share} of the rule's traffic{filters} to port {} of Service {}/{}",
        route.service_port, chain.namespace, chain.name
    );
    match port {
        Some(port) => {
            let ready = port.endpoints.iter().filter(|e| e.info.ready).count();
            sentence.push_str(&format!(
                "; Gateways connect to the endpoints directly: {ready} of {} ready.",
                port.endpoints.len()
            ));
        }
        None => sentence.push('.'),
    }
    sentence
}

/// What is wrong with the hop: the route's own findings (with their fixes), and the backend's
/// problem with a copy-ready ReferenceGrant when the reference is not permitted.
fn problem_sentences(chain: &ServiceChain, route: &GatewayRouteRef) -> Vec<String> {
    let mut out = Vec::new();
    let subject = Subject::GatewayApi(format!(
        "{}/{}",
        route.kind.as_str().to_ascii_lowercase(),
        route.name
    ));
    for diagnostic in chain.diagnostics.iter().filter(|d| d.subject == subject) {
        out.push(format!("Wrong: {}", diagnostic.message));
        if let Some(fix) = &diagnostic.fix {
            out.push(format!("Fix: {fix}"));
        }
    }
    if route.backend_problem == Some(BackendProblem::RefNotPermitted)
        && let Some(fix) = reference_grant(chain, route)
    {
        out.push(format!(
            "A ReferenceGrant in {} lets the route use the Service: {fix}",
            chain.namespace
        ));
    }
    if route.weight == 0 && route.gateway.problem.is_none() {
        out.push(
            "Its weight is 0: this backend gets nothing; set a weight above 0 to send it traffic."
                .to_owned(),
        );
    }
    out
}

/// `echo '{ReferenceGrant}' | kubectl apply -f -`, allowing routes of the route's kind from its
/// namespace to this Service; `None` when a name holds a control character.
fn reference_grant(chain: &ServiceChain, route: &GatewayRouteRef) -> Option<String> {
    let grant = json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {
            "name": format!("{}-from-{}", chain.name, route.namespace),
            "namespace": chain.namespace,
        },
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": route.kind.as_str(), "namespace": route.namespace}],
            "to": [{"group": "", "kind": "Service", "name": chain.name}],
        },
    });
    let text = serde_json::to_string(&grant).ok()?;
    if text.chars().any(char::is_control)
        || [&chain.name, &chain.namespace, &route.namespace]
            .iter()
            .any(|w| w.chars().any(char::is_control))
    {
        return None;
    }
    Some(format!("echo {} | kubectl apply -f -", shell_quote(&text)))
}
