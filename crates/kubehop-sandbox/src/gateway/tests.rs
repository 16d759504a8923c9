use std::collections::BTreeMap;

use rstest::rstest;
use serde_json::{Value, json};

use super::attach::{self, Parent};
use super::objects::World;
use super::*;
use crate::store::Store;

/// The generated CRDs, as the sandbox installs them.
pub(crate) fn test_crds() -> Vec<Value> {
    crds()
}

/// An object of a Gateway API kind, in the version the generated CRDs serve.
pub(crate) fn gw(kind: &str, namespace: &str, name: &str, spec: Value) -> Value {
    let version = match kind {
        "ReferenceGrant" => "v1beta1",
        "TLSRoute" | "TCPRoute" | "UDPRoute" => "v1alpha2",
        _ => "v1",
    };
    json!({"apiVersion": format!("{GROUP}/{version}"), "kind": kind,
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn world() -> World {
    let store = Store::new(1000);
    let mut objects = test_crds();
    objects.extend([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "team", "labels": {"shared-gateway": "yes"}}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"ports": [{"port": 80}]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "other"},
               "spec": {"ports": [{"port": 5432}]}}),
        json!({"apiVersion": format!("{GROUP}/v1"), "kind": "GatewayClass",
               "metadata": {"name": "sandbox"}, "spec": {"controllerName": CONTROLLER_NAME}}),
        gw("Gateway", "shop", "edge", json!({"gatewayClassName": "sandbox", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "*.shop.test",
             "allowedRoutes": {"namespaces": {"from": "Selector",
                "selector": {"matchLabels": {"shared-gateway": "yes"}}}}},
            {"name": "local", "port": 8080, "protocol": "HTTP"},
            {"name": "tls", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"},
             "allowedRoutes": {"namespaces": {"from": "All"}}},
        ]})),
        gw("Gateway", "shop", "foreign", json!({"gatewayClassName": "nginx", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"}]})),
    ]);
    let report = store.load_objects(objects);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    World::read(&store)
}

fn route(world: &mut World, namespace: &str, spec: Value) -> usize {
    let store = Store::new(100);
    let mut objects = test_crds();
    objects.push(gw("HTTPRoute", namespace, "r", spec));
    store.load_objects(objects);
    let route = World::read(&store).routes.remove(0);
    world.routes.push(route);
    world.routes.len() - 1
}

#[rstest]
#[case::attached_to_the_same_namespace_listener("shop", json!({"name": "edge", "sectionName": "local"}), Ok(vec![1]))]
#[case::missing_listener("shop", json!({"name": "edge", "sectionName": "nope"}), Err("NoMatchingParent"))]
#[case::wrong_port("shop", json!({"name": "edge", "port": 9999}), Err("NoMatchingParent"))]
#[case::namespace_not_admitted("other", json!({"name": "edge", "namespace": "shop", "sectionName": "local"}), Err("NotAllowedByListeners"))]
#[case::selected_namespace("team", json!({"name": "edge", "namespace": "shop", "sectionName": "http"}), Err("NoMatchingListenerHostname"))]
#[case::tls_listener_does_not_carry_http("shop", json!({"name": "edge", "sectionName": "tls"}), Err("NotAllowedByListeners"))]
fn parent_refs_attach_as_the_spec_says(
    #[case] namespace: &str,
    #[case] parent: Value,
    #[case] expected: Result<Vec<usize>, &str>,
) {
    let mut world = world();
    let index = route(
        &mut world,
        namespace,
        json!({"parentRefs": [parent], "hostnames": ["other.test"],
               "rules": [{"backendRefs": [{"name": "web", "namespace": "shop", "port": 80}]}]}),
    );
    let route = &world.routes[index];
    let Parent::Ours { accepted, .. } = attach::parent(&world, route, &route.parents[0]) else {
        panic!("the sandbox's Gateway");
    };
    assert_eq!(accepted.map_err(|(reason, _)| reason), expected);
}

#[test]
fn a_gateway_of_another_class_or_a_missing_one_gets_no_status_from_the_sandbox() {
    let mut world = world();
    let index = route(
        &mut world,
        "shop",
        json!({"parentRefs": [{"name": "foreign"}, {"name": "absent"}], "rules": []}),
    );
    let route = &world.routes[index];
    for parent in &route.parents {
        assert_eq!(attach::parent(&world, route, parent), Parent::NotOurs);
    }
    assert_eq!(status::route(&world, route, "now"), None);
}

#[rstest]
#[case::same_namespace(json!({"name": "web", "port": 80}), Ok(()))]
#[case::no_such_service(json!({"name": "gone", "port": 80}), Err("BackendNotFound"))]
#[case::no_such_port(json!({"name": "web", "port": 8080}), Err("BackendNotFound"))]
#[case::not_a_service(json!({"name": "web", "kind": "Bucket", "group": "storage.test", "port": 80}), Err("InvalidKind"))]
#[case::cross_namespace_without_grant(json!({"name": "db", "namespace": "other", "port": 5432}), Err("RefNotPermitted"))]
fn backends_resolve_as_the_spec_says(#[case] backend: Value, #[case] expected: Result<(), &str>) {
    let mut world = world();
    let index = route(
        &mut world,
        "shop",
        json!({"parentRefs": [{"name": "edge"}], "rules": [{"backendRefs": [backend]}]}),
    );
    let got = attach::resolved_refs(&world, &world.routes[index]);
    assert_eq!(got.map_err(|(reason, _)| reason), expected);
}

#[test]
fn a_reference_grant_permits_the_cross_namespace_backend() {
    let mut world = world();
    let index = route(
        &mut world,
        "shop",
        json!({"parentRefs": [{"name": "edge"}],
               "rules": [{"backendRefs": [{"name": "db", "namespace": "other", "port": 5432}]}]}),
    );
    world.grants.push(objects::ReferenceGrant {
        namespace: "other".into(),
        from: vec![(GROUP.into(), "HTTPRoute".into(), "shop".into())],
        to: vec![("".into(), "Service".into(), None)],
    });
    assert_eq!(attach::resolved_refs(&world, &world.routes[index]), Ok(()));
}

#[rstest]
#[case(None, &[], true)]
#[case(Some("*.shop.test"), &["a.shop.test"], true)]
#[case(Some("*.shop.test"), &["a.b.shop.test"], true)]
#[case(Some("*.shop.test"), &["shop.test"], false)]
#[case(Some("a.shop.test"), &["*.shop.test"], true)]
#[case(Some("a.shop.test"), &["b.shop.test"], false)]
#[case(Some("*.shop.test"), &["*.a.shop.test"], true)]
fn hostnames_intersect(
    #[case] listener: Option<&str>,
    #[case] route: &[&str],
    #[case] expected: bool,
) {
    let route: Vec<String> = route.iter().map(|s| s.to_string()).collect();
    assert_eq!(attach::hostnames_intersect(listener, &route), expected);
}

#[test]
fn the_gateway_status_counts_attached_routes_and_names_supported_kinds() {
    let mut world = world();
    route(
        &mut world,
        "shop",
        json!({"parentRefs": [{"name": "edge", "sectionName": "local"}], "rules": []}),
    );
    // Not attached: wrong section.
    route(
        &mut world,
        "shop",
        json!({"parentRefs": [{"name": "edge", "sectionName": "nope"}], "rules": []}),
    );
    let counts = status::attached_routes(&world);
    let edge = world
        .gateways
        .iter()
        .position(|g| g.name == "edge")
        .unwrap();
    assert_eq!(counts[&edge], vec![0, 1, 0]);
    let ip = "127.2.0.1".parse().ok();
    let got = status::gateway(&world.gateways[edge], ip, &counts[&edge], "t0");
    assert_eq!(
        got["addresses"],
        json!([{"type": "IPAddress", "value": "127.2.0.1"}])
    );
    let reasons: BTreeMap<&str, &str> = got["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([("Accepted", "True"), ("Programmed", "True")])
    );
    assert_eq!(got["listeners"][1]["attachedRoutes"], 1);
    assert_eq!(
        got["listeners"][2]["supportedKinds"],
        json!([{"group": GROUP, "kind": "TLSRoute"}])
    );
    // Unchanged conditions keep their transition time.
    world.gateways[edge].status = got.clone();
    let again = status::gateway(&world.gateways[edge], ip, &counts[&edge], "t1");
    assert_eq!(again, got);
}
