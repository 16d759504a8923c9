//! Precision of the Gateway API findings (GW1, GW4, GW9, GW11, GW13-GW17): each case is a small
//! dump and the exact findings it must produce — none where a conformant controller would see
//! nothing wrong or the snapshot cannot tell.

use kubehop::engine::{EngineConfig, ProxyModel, build, dump};
use rstest::rstest;

/// A served GatewayClass, a Gateway with an `All` listener and a `Selector` listener, and the
/// Service `shop/web`.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: infra}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 127.10.0.1, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: partner, namespace: shop}
spec: {type: ExternalName, externalName: api.partner.example}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: sandbox, generation: 1}
spec: {controllerName: example.com/gateway}
status:
  conditions: [{type: Accepted, status: "True", reason: Accepted, observedGeneration: 1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: sandbox
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - name: teams
    port: 8080
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: shop}}}}
status:
  addresses: [{value: 127.20.0.5}]
"#;

/// An HTTPRoute `shop/r` (generation 2) with these parentRefs, rules and status.
fn route(namespace: &str, parents: &str, rules: &str, status: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r, namespace: {namespace}, generation: 2}}\nspec:\n  parentRefs: {parents}\n  rules: {rules}\n{status}"
    )
}

fn model(text: &str) -> ProxyModel {
    let snapshot = dump::load_str("test.yaml", text).expect("loads").snapshot;
    build(&snapshot, &EngineConfig::default())
}

/// Every Gateway API finding: `SERVICE SUBJECT CODE SEVERITY` (`-` for an unattached one).
fn findings(text: &str) -> Vec<String> {
    let model = model(text);
    let mut out: Vec<String> = model
        .services
        .iter()
        .flat_map(|s| {
            s.diagnostics
                .iter()
                .map(move |d| (format!("{}/{}", s.namespace, s.name), d))
        })
        .chain(
            model
                .unattached_diagnostics
                .iter()
                .map(|d| ("-".to_owned(), d)),
        )
        .filter(|(_, d)| d.code.as_str().starts_with("gateway-"))
        .map(|(on, d)| format!("{on} {} {} {:?}", d.subject, d.code.as_str(), d.severity))
        .collect();
    out.sort();
    out
}

const EDGE: &str = "[{name: edge, namespace: infra}]";
const WEB: &str = "[{backendRefs: [{name: web, port: 80}]}]";

#[rstest]
// GW1: an east-west (GAMMA) route's parent is a Service, not a missing Gateway.
#[case::gw1_gamma_parent_is_no_gateway(
    route("shop", "[{group: '', kind: Service, name: web, port: 80}]", WEB, ""),
    &[]
)]
#[case::gw1_missing_gateway_fires(
    route("shop", "[{name: nope, namespace: infra}]", WEB, ""),
    &["shop/web httproute/r gateway-not-found Error"]
)]
// GW14: a controller accepted the route on that parent for the current generation: the
// Gateway exists, the dump lacks it.
#[case::gw14_accepted_parent_is_unseen(
    route("shop", "[{name: other, namespace: infra}]", WEB,
        "status:\n  parents:\n  - parentRef: {name: other, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'True', reason: Accepted, observedGeneration: 2}]\n"),
    &[]
)]
#[case::gw14_stale_acceptance_proves_nothing(
    route("shop", "[{name: other, namespace: infra}]", WEB,
        "status:\n  parents:\n  - parentRef: {name: other, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'True', reason: Accepted, observedGeneration: 1}]\n"),
    &["shop/web httproute/r gateway-not-found Error"]
)]
// GW4: a selector on labels of a namespace the snapshot lacks is not a refusal; one on the
// name label alone is still decided.
#[case::gw4_selector_on_unknown_labels_attaches(
    route("team", "[{name: edge, namespace: infra, sectionName: teams}]",
        "[{backendRefs: [{name: web, namespace: shop, port: 80}]}]", "")
        + "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: shop}\nspec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: team}], to: [{group: '', kind: Service}]}\n",
    &[]
)]
#[case::gw4_selector_on_known_labels_refuses(
    route("infra", "[{name: edge, sectionName: teams}]",
        "[{backendRefs: [{name: web, namespace: shop, port: 80}]}]", "")
        + "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: shop}\nspec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}], to: [{group: '', kind: Service}]}\n",
    &["shop/web httproute/r gateway-route-not-allowed Error"]
)]
// GW11: a redirect-only rule is valid; a redirect answers even when the backends are invalid;
// a rewrite does not.
#[case::gw11_redirect_only_rule(
    route("shop", EDGE, "[{filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]}]", ""),
    &[]
)]
#[case::gw11_redirect_answers_for_invalid_backends(
    route("shop", EDGE, "[{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}], backendRefs: [{name: gone, port: 80}]}]", ""),
    &["- httproute/r gateway-backend-missing Error"]
)]
#[case::gw11_rewrite_does_not_answer(
    route("shop", EDGE, "[{filters: [{type: URLRewrite, urlRewrite: {hostname: x.test}}], backendRefs: [{name: web, port: 8080}]}]", ""),
    &["shop/web httproute/r gateway-backend-port Error", "shop/web httproute/r gateway-rule-all-invalid Error"]
)]
// GW9: a Service backendRef without a port.
#[case::gw9_port_missing(
    route("shop", EDGE, "[{backendRefs: [{name: web}]}]", ""),
    &["shop/web httproute/r gateway-backend-port Error", "shop/web httproute/r gateway-rule-all-invalid Error"]
)]
// GW15: an ExternalName Service's port is the external name's.
#[case::gw15_external_name_backend(
    route("shop", EDGE, "[{backendRefs: [{name: partner, port: 443}]}]", ""),
    &[]
)]
// GW16: another backend kind is the controller's to judge: silent without status, its
// InvalidKind quoted when it wrote one, and nothing else.
#[case::gw16_other_kind_without_status(
    route("shop", EDGE, "[{backendRefs: [{group: example.io, kind: Pool, name: blue, port: 80}]}]", ""),
    &[]
)]
#[case::gw16_other_kind_refused(
    route("shop", EDGE, "[{backendRefs: [{group: example.io, kind: Pool, name: blue, port: 80}]}]",
        "status:\n  parents:\n  - parentRef: {name: edge, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'True', reason: Accepted, observedGeneration: 2}, {type: ResolvedRefs, status: 'False', reason: InvalidKind, message: unsupported kind, observedGeneration: 2}]\n"),
    &["- httproute/r gateway-condition-false Warning"]
)]
// GW13: status of an older generation, and entries of parentRefs the spec no longer has.
#[case::gw13_stale_condition(
    route("shop", EDGE, WEB,
        "status:\n  parents:\n  - parentRef: {name: edge, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'False', reason: NoMatchingParent, observedGeneration: 1}]\n"),
    &[]
)]
#[case::gw13_leftover_parent_entry(
    route("shop", EDGE, WEB,
        "status:\n  parents:\n  - parentRef: {name: edge, namespace: infra, sectionName: old}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'False', reason: NoMatchingParent, observedGeneration: 2}]\n"),
    &[]
)]
#[case::gw13_current_condition(
    route("shop", EDGE, WEB,
        "status:\n  parents:\n  - parentRef: {name: edge, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'False', reason: UnsupportedValue, observedGeneration: 2}]\n"),
    &["shop/web httproute/r gateway-condition-false Warning"]
)]
// GW10, GW14: without any ReferenceGrant in the input, a controller's current ResolvedRefs=True
// says the grant exists (the dump lacks it); without that word the reference is refused.
#[case::gw14_grant_unseen_when_refs_resolve(
    route("infra", EDGE, "[{backendRefs: [{name: web, namespace: shop, port: 80}]}]",
        "status:\n  parents:\n  - parentRef: {name: edge, namespace: infra}\n    controllerName: example.com/gateway\n    conditions: [{type: Accepted, status: 'True', reason: Accepted, observedGeneration: 2}, {type: ResolvedRefs, status: 'True', reason: ResolvedRefs, observedGeneration: 2}]\n"),
    &[]
)]
#[case::gw10_no_grant_refused(
    route("infra", EDGE, "[{backendRefs: [{name: web, namespace: shop, port: 80}]}]", ""),
    &["shop/web httproute/r gateway-ref-not-permitted Error", "shop/web httproute/r gateway-rule-all-invalid Error"]
)]
// GW17: a parent that carries nothing is a warning while another parent carries the route.
#[case::gw17_other_parent_carries(
    route("shop", "[{name: edge, namespace: infra}, {name: nope, namespace: infra}]", WEB, ""),
    &["shop/web httproute/r gateway-not-found Warning"]
)]
fn gw_findings_fire_exactly(#[case] objects: String, #[case] expected: &[&str]) {
    assert_eq!(findings(&format!("{BASE}{objects}")), expected);
}

/// A Gateway of class `class`, with `status` appended, and a route on it.
fn classed(class: &str, status: &str) -> String {
    format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: side, namespace: infra, generation: 3}}\nspec:\n  gatewayClassName: {class}\n  listeners: [{{name: http, port: 80, protocol: HTTP, allowedRoutes: {{namespaces: {{from: All}}}}}}]\n{status}{}",
        route("shop", "[{name: side, namespace: infra}]", WEB, "")
    )
}

const PENDING: &str = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: pending, generation: 1}\nspec: {controllerName: example.com/nobody}\nstatus:\n  conditions: [{type: Accepted, status: Unknown, reason: Pending, message: Waiting for controller}]\n";

/// GW17: a Gateway whose class is missing, Pending or refused is served by nobody, unless the
/// Gateway itself is Programmed for its generation; kubehop judges only when it sees classes.
#[rstest]
#[case::gw17_class_missing(classed("absent", ""), Some("Error"))]
#[case::gw17_class_pending(classed("pending", "") + PENDING, Some("Error"))]
#[case::gw17_class_refused(
    classed("refused", "") + "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: refused, generation: 2}\nspec: {controllerName: example.com/gateway}\nstatus:\n  conditions: [{type: Accepted, status: 'False', reason: InvalidParameters, observedGeneration: 2}]\n",
    Some("Error")
)]
#[case::gw17_programmed_gateway_is_served(
    classed(
        "absent",
        "status:\n  conditions: [{type: Programmed, status: 'True', reason: Programmed, observedGeneration: 3}]\n"
    ),
    None
)]
#[case::gw17_stale_programmed_proves_nothing(
    classed(
        "absent",
        "status:\n  conditions: [{type: Programmed, status: 'True', reason: Programmed, observedGeneration: 2}]\n"
    ),
    Some("Error")
)]
#[case::gw17_served_class(classed("sandbox", ""), None)]
fn gw17_unserved_gateway_class(#[case] objects: String, #[case] severity: Option<&str>) {
    let expected: Vec<String> = severity
        .map(|s| format!("shop/web httproute/r gateway-class-unserved {s}"))
        .into_iter()
        .collect();
    assert_eq!(findings(&format!("{BASE}{objects}")), expected);
}

/// GW14, GW17: a dump of routes alone (no Gateway, no GatewayClass) says nothing about
/// Gateways: no finding, and the hop names the Gateway without a listener or a problem.
#[test]
fn gw14_a_dump_without_gateways_makes_no_parent_findings() {
    let text = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec: {{clusterIP: 127.10.0.1, ports: [{{port: 80, targetPort: 8080}}]}}\n{}",
        route(
            "shop",
            "[{name: shared, namespace: infra, sectionName: https}]",
            WEB,
            ""
        )
    );
    assert_eq!(findings(&text), Vec::<String>::new());
    let model = model(&text);
    let hops = &model.service("shop", "web").expect("web").gateway_routes;
    assert_eq!(hops.len(), 1, "{hops:?}");
    let entry = &hops[0].gateway;
    assert_eq!(
        (
            entry.name.as_str(),
            entry.listener.as_deref(),
            entry.port,
            &entry.problem
        ),
        ("shared", Some("https"), None, &None)
    );
}

/// A backend's finding shows on its own Service, not on every Service of the route.
#[test]
fn backend_findings_show_on_their_own_service() {
    let text = format!(
        "{BASE}---\napiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: shop}}\nspec: {{clusterIP: 127.10.0.2, ports: [{{port: 80}}]}}\n{}",
        route(
            "shop",
            EDGE,
            "[{backendRefs: [{name: web, port: 80}]}, {backendRefs: [{name: api, port: 8080}]}]",
            ""
        )
    );
    assert_eq!(
        findings(&text),
        [
            "shop/api httproute/r gateway-backend-port Error",
            "shop/api httproute/r gateway-rule-all-invalid Error"
        ]
    );
}

/// GW14: a dump of Gateway API objects alone (no Service) cannot call a backend Service missing.
#[test]
fn gw14_a_dump_without_services_makes_no_backend_findings() {
    let gateway_api: String = BASE
        .split("\n---\n")
        .filter(|doc| doc.contains("gateway.networking.k8s.io"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let text = format!("{gateway_api}{}", route("shop", EDGE, WEB, ""));
    assert_eq!(findings(&text), Vec::<String>::new());
}
