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
