//! Gateway API on real-app-shaped dumps (tests/fixtures/gateway): `chain -A` in text and JSON
//! as a user sees it, pinned per fixture, and the exact findings each one must (and must not)
//! produce (rules GW1-GW17).

use rstest::rstest;
use serde_json::{Value, json};

use crate::support::bin::{kubehop, stderr, stdout};

fn chain(fixture: &str, json: bool) -> (Option<i32>, String) {
    let path = format!("tests/fixtures/gateway/{fixture}.yaml");
    let mut args = vec!["chain", "-A", "-f", &path];
    if json {
        args.extend(["-o", "json"]);
    }
    let output = kubehop(&args);
    let err = stderr(&output);
    assert!(
        err.lines().all(|l| l.starts_with("kubehop: note: skipped")),
        "{err}"
    );
    (output.status.code(), stdout(&output))
}

/// The Gateway API part of `chain -o json`: each Service's `gatewayRoutes` and Gateway API
/// findings, and the unattached ones.
fn gateway_view(text: &str) -> Value {
    let all: Value = serde_json::from_str(text).expect("json");
    let gateway_findings = |list: &Value| -> Vec<Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("gateway-"))
            })
            .cloned()
            .collect()
    };
    let services: Vec<Value> = all["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            json!({
                "service": format!("{}/{}", s["namespace"].as_str().unwrap(), s["name"].as_str().unwrap()),
                "gatewayRoutes": s.get("gatewayRoutes").cloned().unwrap_or(Value::Null),
                "findings": gateway_findings(&s["diagnostics"]),
            })
        })
        .collect();
    json!({"services": services, "diagnostics": gateway_findings(&all["diagnostics"])})
}

#[rstest]
#[case::bookinfo("bookinfo", Some(0))]
#[case::envoy_gateway("envoy-gateway", Some(1))]
#[case::l4_versions("l4-versions", Some(1))]
#[case::app_manifests("app-manifests", Some(0))]
fn chain_on_real_app_dumps(#[case] fixture: &str, #[case] code: Option<i32>) {
    let (status, text) = chain(fixture, false);
    assert_eq!(status, code, "{text}");
    insta::assert_snapshot!(format!("gateway_real_text__{fixture}"), text);
    let (status, text) = chain(fixture, true);
    assert_eq!(status, code);
    insta::assert_json_snapshot!(format!("gateway_real_json__{fixture}"), gateway_view(&text));
}

/// Every Gateway API finding of a fixture: `SUBJECT CODE SEVERITY`, sorted and deduplicated.
fn codes(fixture: &str) -> Vec<String> {
    let all: Value = serde_json::from_str(&chain(fixture, true).1).expect("json");
    let mut out: Vec<String> = all["services"]
        .as_array()
        .expect("services")
        .iter()
        .flat_map(|s| s["diagnostics"].as_array().cloned().unwrap_or_default())
        .chain(all["diagnostics"].as_array().cloned().unwrap_or_default())
        .filter(|d| {
            d["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("gateway-"))
        })
        .map(|d| {
            format!(
                "{} {} {}",
                d["subject"].as_str().unwrap(),
                d["code"].as_str().unwrap(),
                d["severity"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Precision: GAMMA routes, redirect-only rules, rewrite/mirror/header filters, ExternalName
/// and other-kind backends, stale status and unknown fields make no finding; the route its
/// listener refuses, the controller's InvalidKind and the Gateways nobody serves do.
#[rstest]
#[case::bookinfo("bookinfo", &[])]
#[case::envoy_gateway(
    "envoy-gateway",
    &[
        "httproute/legacy gateway-route-not-allowed error",
        "httproute/widgets gateway-condition-false warning",
    ]
)]
#[case::l4_versions(
    "l4-versions",
    &[
        "grpcroute/greeter gateway-class-unserved error",
        "httproute/site gateway-class-unserved warning",
    ]
)]
// GW14: an app's manifests name a shared Gateway they do not carry: unseen, not missing.
#[case::app_manifests("app-manifests", &[])]
fn findings_fire_only_where_a_controller_would(#[case] fixture: &str, #[case] expected: &[&str]) {
    assert_eq!(codes(fixture), expected);
}

/// `route` through the Envoy-style Gateway: the redirect-only rule answers by itself (GW11), the
/// header match picks the API rule (GW6), the wildcard listener takes a tenant's host (GW5).
#[rstest]
#[case::redirect("127.40.1.2:80", "app.example.com", "/", &[], "the rule answers with a redirect (RequestRedirect): HTTP 301", "default/http-to-https#0")]
#[case::api_by_header("127.40.1.2:443", "app.example.com", "/api/orders", &["--header", "x-tenant=blue"], "routed", "apps/app#0")]
#[case::api_without_header("127.40.1.2:443", "app.example.com", "/api/orders", &[], "routed", "apps/app#1")]
#[case::tenant_wildcard("127.40.1.2:443", "blue.apps.example.com", "/", &[], "routed", "apps/tenants#0")]
fn route_through_the_envoy_style_gateway(
    #[case] address: &str,
    #[case] host: &str,
    #[case] path: &str,
    #[case] extra: &[&str],
    #[case] outcome: &str,
    #[case] rule: &str,
) {
    let mut args = vec![
        "route",
        address,
        "--host",
        host,
        "--path",
        path,
        "-o",
        "json",
        "-f",
        "tests/fixtures/gateway/envoy-gateway.yaml",
    ];
    args.extend_from_slice(extra);
    let output = kubehop(&args);
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(answer["outcome"], outcome, "{answer}");
    let route = &answer["route"];
    let got = format!(
        "{}/{}#{}",
        route["namespace"].as_str().unwrap_or(""),
        route["name"].as_str().unwrap_or(""),
        route["rule"]
    );
    assert_eq!(got, rule, "{answer}");
}
