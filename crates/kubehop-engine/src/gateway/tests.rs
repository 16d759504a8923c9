use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kubehop_gateway_api::{Gateway, HTTPRoute, ReferenceGrant, TLSRoute};
use rstest::rstest;

use super::*;
use crate::snapshot::ClusterSnapshot;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).unwrap()
}

fn service(namespace: &str, name: &str, port: i32) -> Arc<Service> {
    Arc::new(yaml(&format!(
        "metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{ports: [{{port: {port}, targetPort: 8080}}]}}"
    )))
}

const GATEWAY: &str = r#"
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: sandbox
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: shop, port: 80, protocol: HTTP, hostname: shop.test, allowedRoutes: {namespaces: {from: All}}}
  - {name: tls, port: 443, protocol: TLS, tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: All}}}
status:
  addresses: [{value: 127.0.0.10}]
"#;

fn snapshot(routes: &[&str]) -> ClusterSnapshot {
    let mut snapshot = ClusterSnapshot {
        services: vec![
            service("shop", "cart", 80),
            service("shop", "cart-v2", 80),
            service("shop", "web", 80),
        ],
        ..ClusterSnapshot::default()
    };
    snapshot
        .gateway_api
        .gateways
        .push(Arc::new(yaml::<Gateway>(GATEWAY)));
    for route in routes {
        snapshot
            .gateway_api
            .http_routes
            .push(Arc::new(yaml::<HTTPRoute>(route)));
    }
    snapshot
}

fn route(name: &str, created: &str, hostnames: &str, rules: &str) -> String {
    format!(
        "metadata: {{name: {name}, namespace: shop, creationTimestamp: \"{created}\"}}\nspec:\n  parentRefs: [{{name: edge, namespace: infra}}]\n  hostnames: {hostnames}\n  rules: {rules}\n"
    )
}

fn decide(
    snapshot: &ClusterSnapshot,
    request: &HttpRequest,
) -> Option<(String, usize, Vec<String>)> {
    let gateways = Gateways::new(snapshot);
    let gateway = gateways.by_address("127.0.0.10")?;
    let listener = gateways.listener(gateway, 80, Some(&request.host))?;
    let m = gateways.match_http(gateway, listener, request)?;
    Some((
        m.route.name.to_owned(),
        m.rule,
        m.backends.iter().map(|b| b.label()).collect(),
    ))
}

#[rstest]
#[case::exact_beats_prefix("/cart", "exact")]
#[case::longest_prefix("/cart/items", "long")]
#[case::prefix_is_element_wise("/cartoon", "root")]
#[case::a_prefix_beats_a_regex("/x/123", "root")]
fn path_precedence(#[case] path: &str, #[case] winner: &str) {
    let routes = [
        route(
            "root",
            "2026-01-01T00:00:00Z",
            "[]",
            "[{backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "exact",
            "2026-01-02T00:00:00Z",
            "[]",
            "[{matches: [{path: {type: Exact, value: /cart}}], backendRefs: [{name: cart, port: 80}]}]",
        ),
        route(
            "long",
            "2026-01-03T00:00:00Z",
            "[]",
            "[{matches: [{path: {value: /cart/}}], backendRefs: [{name: cart, port: 80}]}]",
        ),
        route(
            "regex",
            "2026-01-01T00:00:00Z",
            "[]",
            "[{matches: [{path: {type: RegularExpression, value: '/x/[0-9]+'}}], backendRefs: [{name: cart, port: 80}]}]",
        ),
    ];
    let snapshot = snapshot(&routes.iter().map(String::as_str).collect::<Vec<_>>());
    let (name, _, _) = decide(&snapshot, &HttpRequest::get("anything.test", path)).unwrap();
    assert_eq!(name, winner);
}

#[test]
fn method_then_headers_then_age_break_ties() {
    let routes = [
        route(
            "a-plain",
            "2026-01-01T00:00:00Z",
            "[]",
            "[{matches: [{path: {value: /api}}], backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "b-header",
            "2026-01-02T00:00:00Z",
            "[]",
            "[{matches: [{path: {value: /api}, headers: [{name: X-Canary, value: 'yes'}]}], backendRefs: [{name: cart-v2, port: 80}]}]",
        ),
        route(
            "c-method",
            "2026-01-03T00:00:00Z",
            "[]",
            "[{matches: [{path: {value: /api}, method: POST}], backendRefs: [{name: cart, port: 80}]}]",
        ),
        route(
            "d-same-as-a",
            "2025-01-01T00:00:00Z",
            "[]",
            "[{matches: [{path: {value: /api}}], backendRefs: [{name: cart, port: 80}]}]",
        ),
    ];
    let snapshot = snapshot(&routes.iter().map(String::as_str).collect::<Vec<_>>());
    let name = |request: HttpRequest| decide(&snapshot, &request).unwrap().0;
    assert_eq!(
        name(HttpRequest::new("POST", "x", "/api").with_header("x-canary", "yes")),
        "c-method"
    );
    assert_eq!(
        name(HttpRequest::get("x", "/api/v1").with_header("x-canary", "yes")),
        "b-header"
    );
    // Equal matches: the oldest route.
    assert_eq!(name(HttpRequest::get("x", "/api")), "d-same-as-a");
}

#[test]
fn the_most_specific_listener_and_hostname_win_and_weights_split() {
    let routes = [
        route(
            "any",
            "2026-01-01T00:00:00Z",
            "[]",
            "[{backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "shop",
            "2026-01-02T00:00:00Z",
            "[shop.test]",
            "[{backendRefs: [{name: cart, port: 80, weight: 3}, {name: cart-v2, port: 80, weight: 1}, {name: gone, port: 80}]}]",
        ),
    ];
    let snapshot = snapshot(&routes.iter().map(String::as_str).collect::<Vec<_>>());
    let gateways = Gateways::new(&snapshot);
    let gateway = gateways.by_address("127.0.0.10").unwrap();
    assert_eq!(
        gateways
            .listener(gateway, 80, Some("shop.test:80"))
            .unwrap()
            .name,
        "shop"
    );
    assert_eq!(
        gateways
            .listener(gateway, 80, Some("other.test"))
            .unwrap()
            .name,
        "http"
    );
    let listener = gateways.listener(gateway, 80, Some("shop.test")).unwrap();
    let m = gateways
        .match_http(gateway, listener, &HttpRequest::get("shop.test", "/"))
        .unwrap();
    assert_eq!(m.route.name, "shop");
    assert_eq!(m.hostname.as_deref(), Some("shop.test"));
    assert_eq!(m.backends[2].problem, Some(BackendProblem::ServiceNotFound));
    let picks: Vec<String> = (0..5)
        .map(|n| m.pick(n).unwrap().backend.name.clone())
        .collect();
    assert_eq!(picks, ["cart", "cart", "cart", "cart-v2", "gone"]);
    // Other hosts reach only the route without hostnames.
    let other = gateways.listener(gateway, 80, Some("other.test")).unwrap();
    let m = gateways
        .match_http(gateway, other, &HttpRequest::get("other.test", "/"))
        .unwrap();
    assert_eq!(m.route.name, "any");
}

#[test]
fn cross_namespace_backends_need_a_reference_grant() {
    let route = "metadata: {name: r, namespace: web}\nspec:\n  parentRefs: [{name: edge, namespace: infra}]\n  rules: [{backendRefs: [{name: cart, namespace: shop, port: 80}]}]\n";
    let mut snapshot = snapshot(&[route]);
    let problem = |snapshot: &ClusterSnapshot| {
        let gateways = Gateways::new(snapshot);
        let gateway = gateways.by_address("127.0.0.10").unwrap();
        let listener = gateways.listener(gateway, 80, Some("x")).unwrap();
        gateways
            .match_http(gateway, listener, &HttpRequest::get("x", "/"))
            .unwrap()
            .backends[0]
            .problem
    };
    assert_eq!(problem(&snapshot), Some(BackendProblem::RefNotPermitted));
    snapshot.gateway_api.reference_grants.push(Arc::new(yaml::<ReferenceGrant>(
        "metadata: {name: g, namespace: shop}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]\n  to: [{group: '', kind: Service}]\n",
    )));
    assert_eq!(problem(&snapshot), None);
}

#[test]
fn tls_routes_go_by_sni() {
    let mut snapshot = snapshot(&[]);
    for (name, host) in [("wild", "'*.test'"), ("exact", "db.test")] {
        snapshot.gateway_api.tls_routes.push(Arc::new(yaml::<TLSRoute>(&format!(
            "metadata: {{name: {name}, namespace: shop}}\nspec:\n  parentRefs: [{{name: edge, namespace: infra, sectionName: tls}}]\n  hostnames: [{host}]\n  rules: [{{backendRefs: [{{name: cart, port: 80}}]}}]\n"
        ))));
    }
    let gateways = Gateways::new(&snapshot);
    let gateway = gateways.by_address("127.0.0.10").unwrap();
    let listener = gateways.listener(gateway, 443, None).unwrap();
    let name = |sni| {
        gateways
            .match_l4(gateway, listener, sni)
            .map(|m| m.route.name.to_owned())
    };
    assert_eq!(name(Some("db.test")).as_deref(), Some("exact"));
    assert_eq!(name(Some("a.test")).as_deref(), Some("wild"));
    assert_eq!(name(Some("test")), None);
    assert_eq!(name(None), None);
}
