//! Gateway API through the built binary: `route` to a Gateway address with a host and path, and
//! `chain` with the route hops and findings (fixture: web-ingress.yaml + gateway-api.yaml).

use rstest::rstest;
use serde_json::Value;

use crate::support::bin::{kubehop, stderr, stdout};

const FILES: [&str; 4] = [
    "-f",
    "assets/scenarios/web-ingress.yaml",
    "-f",
    "tests/support/fixtures/gateway-api.yaml",
];

#[rstest]
#[case::storefront_cart("www.shop.test", "/cart", Some(0), "shop/storefront#0", "routed")]
#[case::storefront_root("www.shop.test", "/", Some(0), "shop/storefront#1", "routed")]
#[case::promo_exact("promo.shop.test", "/sale", Some(0), "marketing/promo#0", "routed")]
#[case::promo_other_path(
    "promo.shop.test",
    "/sales",
    Some(1),
    "",
    "no route rule matches: the Gateway answers 404"
)]
#[case::checkout_not_permitted(
    "pay.shop.test",
    "/",
    Some(1),
    "payments/checkout#0",
    "every backend of the rule is invalid: HTTP 500"
)]
#[case::no_listener(
    "shop.example",
    "/",
    Some(1),
    "",
    "no listener on this port serves this host"
)]
fn route_to_a_gateway_address(
    #[case] host: &str,
    #[case] path: &str,
    #[case] code: Option<i32>,
    #[case] rule: &str,
    #[case] outcome: &str,
) {
    let mut args = vec![
        "route",
        "127.20.0.5:80",
        "--host",
        host,
        "--path",
        path,
        "-o",
        "json",
    ];
    args.extend_from_slice(&FILES);
    let output = kubehop(&args);
    assert_eq!(output.status.code(), code, "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(answer["outcome"], outcome);
    let route = &answer["route"];
    let got = if route.is_null() {
        String::new()
    } else {
        format!(
            "{}/{}#{}",
            route["namespace"].as_str().unwrap(),
            route["name"].as_str().unwrap(),
            route["rule"]
        )
    };
    assert_eq!(got, rule);
    if outcome == "routed" {
        let endpoints = route["backends"][0]["endpoints"]
            .as_array()
            .expect("endpoints");
        assert_eq!(endpoints.len(), 3, "{answer}");
    }
}

#[test]
fn route_text_names_the_rule_and_the_endpoints() {
    let mut args = vec![
        "route",
        "127.20.0.5:80",
        "--host",
        "www.shop.test",
        "--path",
        "/cart",
    ];
    args.extend_from_slice(&FILES);
    let output = kubehop(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("gateway_route_text", stdout(&output));
}

#[test]
fn chain_shows_route_hops_and_findings() {
    let mut args = vec!["chain", "shop/web"];
    args.extend_from_slice(&FILES);
    let output = kubehop(&args);
    insta::assert_snapshot!("gateway_chain_text", stdout(&output));
    let mut args = vec!["chain", "shop/web", "-o", "json"];
    args.extend_from_slice(&FILES);
    let json: Value = serde_json::from_str(&stdout(&kubehop(&args))).expect("json");
    let service = &json["services"][0];
    assert!(
        service["gatewayRoutes"]
            .as_array()
            .is_some_and(|r| r.len() == 5),
        "{service}"
    );
}

/// `chain -A --demo` reads the built-in scenario live: the Gateway API objects come through the
/// live source's watchers, so storefront's chain has its route hops and the scenario's Gateway
/// findings (a cross-namespace route without a ReferenceGrant, a parentRef to a listener that
/// does not exist) are there.
#[test]
fn the_demo_chain_has_the_gateway_route_hops_and_findings() {
    let output = kubehop(&["chain", "--demo", "-A", "-o", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let services = document["services"].as_array().expect("services");
    let service = |namespace: &str, name: &str| {
        services
            .iter()
            .find(|s| s["namespace"] == namespace && s["name"] == name)
            .unwrap_or_else(|| panic!("{namespace}/{name}"))
    };
    let storefront = service("storefront", "storefront");
    let routes = storefront["gatewayRoutes"].as_array().expect("route hops");
    assert!(
        routes
            .iter()
            .any(|route| route["name"] == "storefront" && route["gateway"]["problem"].is_null()),
        "{routes:?}"
    );
    let codes: Vec<&str> = services
        .iter()
        .flat_map(|s| s["diagnostics"].as_array().into_iter().flatten())
        .filter_map(|d| d["code"].as_str())
        .collect();
    for code in ["gateway-ref-not-permitted", "gateway-listener-not-found"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
}
