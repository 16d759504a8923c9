//! Rules GW1-GW13 (Gateway API): hostname intersection, listener and rule precedence,
//! allowedRoutes, ReferenceGrant, and the findings, each with a case where it must not fire.

use std::path::PathBuf;

use kubehop::engine::gateway::{Gateways, HttpRequest, hostname};
use kubehop::engine::{ClusterSnapshot, EngineConfig, build, dump};
use rstest::rstest;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn load(text: &str) -> ClusterSnapshot {
    dump::load_str("test.yaml", text).expect("loads").snapshot
}

/// GW3: listener × route hostname → their intersection (`Some(None)`: every host; `None`: no
/// intersection).
#[rstest]
#[case(None, None, Some(None))]
#[case(Some("*.shop.test"), None, Some(Some("*.shop.test")))]
#[case(None, Some("www.shop.test"), Some(Some("www.shop.test")))]
#[case(
    Some("*.shop.test"),
    Some("www.shop.test"),
    Some(Some("www.shop.test"))
)]
#[case(
    Some("www.shop.test"),
    Some("*.shop.test"),
    Some(Some("www.shop.test"))
)]
#[case(
    Some("*.shop.test"),
    Some("*.a.shop.test"),
    Some(Some("*.a.shop.test"))
)]
#[case(Some("*.shop.test"), Some("shop.test"), None)]
#[case(Some("www.shop.test"), Some("api.shop.test"), None)]
#[case(Some("*.shop.test"), Some("*.other.test"), None)]
#[case(
    Some("WWW.Shop.Test"),
    Some("www.shop.test"),
    Some(Some("www.shop.test"))
)]
fn gw3_hostname_intersection(
    #[case] listener: Option<&str>,
    #[case] route: Option<&str>,
    #[case] expected: Option<Option<&str>>,
) {
    let got = hostname::intersect(listener, route);
    assert_eq!(got.as_ref().map(|h| h.as_deref()), expected);
}

/// GW2: wildcards match one or more labels, never the bare suffix; ports and case are ignored.
#[rstest]
#[case("*.shop.test", "a.shop.test", true)]
#[case("*.shop.test", "a.b.shop.test", true)]
#[case("*.shop.test", "shop.test", false)]
#[case("*.shop.test", "ashop.test", false)]
#[case("www.shop.test", "WWW.shop.test:8080", true)]
#[case("www.shop.test", "www.shop.test.", true)]
#[case("www.shop.test", "api.shop.test", false)]
fn gw2_hostname_match(#[case] pattern: &str, #[case] host: &str, #[case] matches: bool) {
    assert_eq!(hostname::host_matches(pattern, host), matches);
}

const GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: sandbox
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
status:
  addresses: [{value: 127.20.0.5}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 127.10.0.1, ports: [{port: 80, targetPort: 8080}]}
"#;

fn route(name: &str, created: &str, rules: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: shop, creationTimestamp: \"{created}\"}}\nspec:\n  parentRefs: [{{name: edge, namespace: infra}}]\n  rules: {rules}\n"
    )
}

fn winner(routes: &[String], request: &HttpRequest) -> Option<String> {
    let snapshot = load(&format!("{GATEWAY}{}", routes.concat()));
    let gateways = Gateways::new(&snapshot);
    let gateway = gateways.by_address("127.20.0.5")?;
    let listener = gateways.listener(gateway, 80, Some(&request.host))?;
    let m = gateways.match_http(gateway, listener, request)?;
    Some(format!("{}#{}", m.route.name, m.rule))
}

/// GW6: path kind and length, then method, headers and query parameters, then age and name.
#[rstest]
#[case::exact_before_prefix(HttpRequest::get("h", "/cart"), "exact#0")]
#[case::longest_prefix(HttpRequest::get("h", "/cart/items/1"), "prefix#1")]
#[case::prefix_is_element_wise(HttpRequest::get("h", "/cartoon"), "prefix#0")]
#[case::regex_after_prefixes(HttpRequest::get("h", "/orders/42"), "prefix#0")]
#[case::method(HttpRequest::new("POST", "h", "/api"), "api#1")]
#[case::headers_then(HttpRequest::get("h", "/api").with_header("X-Version", "2"), "api#2")]
#[case::query_last(HttpRequest::get("h", "/api?debug=1"), "api#3")]
#[case::plain(HttpRequest::get("h", "/api"), "api#0")]
fn gw6_http_precedence(#[case] request: HttpRequest, #[case] expected: &str) {
    let routes = [
        route(
            "prefix",
            "2026-01-01T00:00:00Z",
            "[{backendRefs: [{name: web, port: 80}]}, {matches: [{path: {value: /cart/items}}], backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "exact",
            "2026-01-02T00:00:00Z",
            "[{matches: [{path: {type: Exact, value: /cart}}], backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "regex",
            "2026-01-03T00:00:00Z",
            "[{matches: [{path: {type: RegularExpression, value: '/orders/[0-9]+'}}], backendRefs: [{name: web, port: 80}]}]",
        ),
        route(
            "api",
            "2026-01-04T00:00:00Z",
            "[{matches: [{path: {value: /api}}]}, {matches: [{path: {value: /api}, method: POST}]}, {matches: [{path: {value: /api}, headers: [{name: x-version, value: '2'}]}]}, {matches: [{path: {value: /api}, queryParams: [{name: debug, value: '1'}]}]}]",
        ),
    ];
    assert_eq!(winner(&routes, &request).as_deref(), Some(expected));
}

/// GW6: equal matches go to the oldest route, then by namespace/name.
#[test]
fn gw6_ties_go_to_the_oldest_route_then_the_name() {
    let rules = "[{matches: [{path: {value: /}}], backendRefs: [{name: web, port: 80}]}]";
    let request = HttpRequest::get("h", "/x");
    let older = [
        route("b", "2026-01-01T00:00:00Z", rules),
        route("a", "2026-01-02T00:00:00Z", rules),
    ];
    assert_eq!(winner(&older, &request).as_deref(), Some("b#0"));
    let same = [
        route("b", "2026-01-01T00:00:00Z", rules),
        route("a", "2026-01-01T00:00:00Z", rules),
    ];
    assert_eq!(winner(&same, &request).as_deref(), Some("a#0"));
}

/// GW4: allowedRoutes namespaces (Same, All, Selector) and kinds.
#[rstest]
#[case::same_default("{}", "infra", true)]
#[case::same_other("{}", "shop", false)]
#[case::all("{namespaces: {from: All}}", "shop", true)]
#[case::selector_match(
    "{namespaces: {from: Selector, selector: {matchLabels: {gateway: shared}}}}",
    "shop",
    true
)]
#[case::selector_miss(
    "{namespaces: {from: Selector, selector: {matchLabels: {gateway: shared}}}}",
    "other",
    false
)]
#[case::selector_by_name(
    "{namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: other}}}}",
    "other",
    true
)]
#[case::kinds_exclude("{namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}", "shop", false)]
#[case::kinds_include("{namespaces: {from: All}, kinds: [{kind: HTTPRoute}]}", "shop", true)]
fn gw4_allowed_routes(#[case] allowed: &str, #[case] namespace: &str, #[case] attached: bool) {
    let text = format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: shop, labels: {{gateway: shared}}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: other}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: infra}}
spec:
  gatewayClassName: sandbox
  listeners: [{{name: http, port: 80, protocol: HTTP, allowedRoutes: {allowed}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: {namespace}}}
spec:
  parentRefs: [{{name: edge, namespace: infra}}]
  rules: [{{backendRefs: [{{name: web, port: 80}}]}}]
"#
    );
    let snapshot = load(&text);
    let gateways = Gateways::new(&snapshot);
    let route = snapshot.gateway_api.routes().next().expect("a route");
    let parents = gateways.parents(&route);
    assert_eq!(
        parents[0].result.as_ref().expect("gateway").is_ok(),
        attached
    );
}

/// GW10: a cross-namespace backendRef needs a grant naming the route's kind and namespace and
/// the Service (by name or any).
#[rstest]
#[case::no_grant("", false)]
#[case::grant_any_service(
    "{from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}], to: [{group: '', kind: Service}]}",
    true
)]
#[case::grant_by_name(
    "{from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}], to: [{group: '', kind: Service, name: cart}]}",
    true
)]
#[case::grant_other_name(
    "{from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}], to: [{group: '', kind: Service, name: other}]}",
    false
)]
#[case::grant_other_namespace(
    "{from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: elsewhere}], to: [{group: '', kind: Service}]}",
    false
)]
#[case::grant_other_kind(
    "{from: [{group: gateway.networking.k8s.io, kind: GRPCRoute, namespace: web}], to: [{group: '', kind: Service}]}",
    false
)]
fn gw10_reference_grants(#[case] grant: &str, #[case] permitted: bool) {
    let grant = if grant.is_empty() {
        String::new()
    } else {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {{name: g, namespace: shop}}\nspec: {grant}\n"
        )
    };
    let snapshot = load(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n{grant}"
    ));
    let gateways = Gateways::new(&snapshot);
    let kind = kubehop::engine::gateway::RouteKind::Http;
    assert_eq!(gateways.permitted(kind, "web", "shop", "cart"), permitted);
}

fn fixture() -> kubehop::engine::ProxyModel {
    let paths = [
        PathBuf::from(format!("{MANIFEST_DIR}/assets/scenarios/web-ingress.yaml")),
        PathBuf::from(format!(
            "{MANIFEST_DIR}/tests/support/fixtures/gateway-api.yaml"
        )),
    ];
    let snapshot = dump::load_paths(&paths).expect("fixture loads").snapshot;
    build(&snapshot, &EngineConfig::default())
}

/// GW1, GW9-GW11, GW13 on a fixture shaped like a real app: each broken route has its code, the
/// healthy and the granted routes have none.
#[test]
fn gw_findings_fire_on_broken_routes_only() {
    let model = fixture();
    let web = model.service("shop", "web").expect("web");
    let codes: Vec<(String, &str)> = web
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str().starts_with("gateway-"))
        .map(|d| (d.subject.to_string(), d.code.as_str()))
        .collect();
    let has = |subject: &str, code: &str| codes.iter().any(|(s, c)| s == subject && *c == code);
    assert!(
        has("httproute/admin", "gateway-listener-not-found"),
        "{codes:?}"
    );
    assert!(
        has("httproute/checkout", "gateway-ref-not-permitted"),
        "{codes:?}"
    );
    assert!(
        has("httproute/checkout", "gateway-rule-all-invalid"),
        "{codes:?}"
    );
    assert!(has("httproute/legacy", "gateway-backend-port"), "{codes:?}");
    // Precision: no finding for the healthy route nor for the one a ReferenceGrant allows, and
    // the controller's ResolvedRefs=False is not repeated beside the engine's own finding.
    assert!(
        !codes
            .iter()
            .any(|(s, _)| s == "httproute/storefront" || s == "httproute/promo"),
        "{codes:?}"
    );
    assert!(
        !has("httproute/checkout", "gateway-condition-false"),
        "{codes:?}"
    );
    let admin = web
        .diagnostics
        .iter()
        .find(|d| d.subject.to_string() == "httproute/admin")
        .expect("admin");
    assert!(
        admin.message.contains("No controller wrote status"),
        "{}",
        admin.message
    );
    let legacy = web
        .diagnostics
        .iter()
        .find(|d| d.subject.to_string() == "httproute/legacy")
        .expect("legacy");
    assert!(
        legacy.message.contains("targetPort of Service port 80"),
        "{}",
        legacy.message
    );
}

/// The chain carries one route hop per (rule, listener), above the ClusterIP; JSON gains
/// `gatewayRoutes` only when there is one.
#[test]
fn gw_route_hops_are_in_the_chain() {
    let model = fixture();
    let web = model.service("shop", "web").expect("web");
    let routes: Vec<String> = web
        .gateway_routes
        .iter()
        .map(|r| {
            format!(
                "{}#{} via {:?} {:?}",
                r.name, r.rule, r.gateway.listener, r.gateway.problem
            )
        })
        .collect();
    assert!(
        routes.contains(&"storefront#0 via Some(\"http\") None".to_owned()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"storefront#1 via Some(\"http\") None".to_owned()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"promo#0 via Some(\"http\") None".to_owned()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"admin#0 via Some(\"admin\") Some(\"NoMatchingParent\")".to_owned()),
        "{routes:?}"
    );
    // The targetPort mistake reaches no port of the Service: no hop.
    assert!(
        !routes.iter().any(|r| r.starts_with("legacy")),
        "{routes:?}"
    );
    let json = serde_json::to_value(web).expect("json");
    assert!(json.get("gatewayRoutes").is_some());

    let plain = dump::load_paths(&[PathBuf::from(format!(
        "{MANIFEST_DIR}/assets/scenarios/web-ingress.yaml"
    ))])
    .expect("loads")
    .snapshot;
    let model = build(&plain, &EngineConfig::default());
    let json = serde_json::to_value(model.service("shop", "web").expect("web")).expect("json");
    assert!(json.get("gatewayRoutes").is_none());
}

/// The probe plan gains one HTTP hop per attached, valid HTTP route rule: the Gateway's address
/// on the listener's port, the route's hostname and a path the rule matches; broken route hops
/// are not probed.
#[test]
fn gw_route_hops_are_probed_over_http() {
    use kubehop::engine::model::ServiceKey;
    use kubehop::engine::plan::{HopKind, PortSelector, Via, probe_plan};
    let model = fixture();
    let key = ServiceKey {
        namespace: "shop".to_owned(),
        name: "web".to_owned(),
    };
    let plan = probe_plan(&model, &key, &PortSelector::All, Via::All).expect("plan");
    let gateway: Vec<String> = plan
        .hops
        .iter()
        .filter(|hop| hop.kind == HopKind::Gateway)
        .map(|hop| {
            let http = hop.http.as_ref().expect("http");
            let kubehop::engine::plan::ProbeTarget::Address { ip, port } = hop.target else {
                panic!("an address: {:?}", hop.target);
            };
            let socket = kubehop::engine::plan::socket_text(ip, port);
            format!(
                "{socket} {} {}",
                http.host.as_deref().unwrap_or("-"),
                http.path
            )
        })
        .collect();
    assert_eq!(
        gateway,
        [
            "127.20.0.5:80 www.shop.test /cart",
            "127.20.0.5:80 www.shop.test /",
            "127.20.0.5:80 promo.shop.test /sale"
        ]
    );
}
