use super::*;
use crate::model::Protocol;
use crate::{EngineConfig, build};
use rstest::rstest;

fn demo() -> ProxyModel {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/scenarios/demo-all.yaml"
    );
    let load = crate::dump::load_paths(&[path.into()]).expect("the demo loads");
    build(&load.snapshot, &EngineConfig::default())
}

fn demo_context() -> PlanContext {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/scenarios/demo-all.yaml"
    );
    let load = crate::dump::load_paths(&[path.into()]).expect("the demo loads");
    PlanContext::from_snapshot(&load.snapshot)
}

fn key(namespace: &str, name: &str) -> ServiceKey {
    ServiceKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn summary(plan: &ProbePlan) -> Vec<String> {
    plan.hops
        .iter()
        .map(|hop| {
            format!(
                "{} {} -> {}",
                hop.kind.as_str(),
                hop.target.describe(),
                hop.expected.verdict()
            )
        })
        .collect()
}

#[rstest]
#[case("80", PortSelector::Number(80))]
#[case("http", PortSelector::Name("http".into()))]
#[case("", PortSelector::All)]
fn port_selectors_parse(#[case] text: &str, #[case] expected: PortSelector) {
    assert_eq!(PortSelector::parse(text), expected);
}

#[test]
fn healthy_service_plans_every_hop_with_forward_expectations() {
    let model = demo();
    let plan = probe_plan_with(
        &model,
        &key("shop", "web"),
        &PortSelector::All,
        Via::All,
        &demo_context(),
    )
    .expect("plan");
    let kinds: Vec<HopKind> = plan.hops.iter().map(|hop| hop.kind).collect();
    assert_eq!(
        kinds,
        [
            HopKind::Ingress,
            HopKind::Ingress,
            HopKind::ClusterIp,
            HopKind::Endpoint,
            HopKind::Endpoint,
            HopKind::Endpoint
        ]
    );
    for hop in &plan.hops {
        assert!(
            matches!(hop.expected, Expectation::Connect { .. }),
            "{hop:?}"
        );
        assert!(hop.http.is_some(), "port name http makes every hop HTTP");
    }
    let cluster_ip = &plan.hops[2];
    let Expectation::Connect { endpoints, .. } = &cluster_ip.expected else {
        unreachable!("checked above");
    };
    assert_eq!(endpoints.len(), 3);
    // Keys are the chain tree's.
    let chain = model.service("shop", "web").expect("web");
    assert_eq!(
        cluster_ip.key,
        chain.hop_key(&Hop::ClusterIp {
            port: 80,
            protocol: Protocol::Tcp
        })
    );
}

#[test]
fn local_policy_drops_on_nodes_without_local_endpoints() {
    let model = demo();
    let plan = probe_plan(
        &model,
        &key("edge", "gateway"),
        &PortSelector::All,
        Via::NodePort,
    )
    .expect("plan");
    let verdicts: Vec<(Option<&str>, &str)> = plan
        .hops
        .iter()
        .map(|hop| (hop.node.as_deref(), hop.expected.verdict()))
        .collect();
    assert!(verdicts.contains(&(Some("node-2"), "drop")), "{verdicts:?}");
    assert!(
        verdicts.contains(&(Some("node-1"), "connect")),
        "{verdicts:?}"
    );
    let drop = plan
        .hops
        .iter()
        .find(|hop| hop.expected.verdict() == "drop")
        .expect("a drop");
    assert!(drop.expected.reason().contains("Local"), "{drop:?}");
}

#[test]
fn no_endpoints_means_reject_on_the_cluster_ip() {
    let model = demo();
    let plan = probe_plan(
        &model,
        &key("billing", "invoices"),
        &PortSelector::All,
        Via::All,
    )
    .expect("plan");
    assert_eq!(
        summary(&plan),
        ["clusterIP 127.10.0.14:80 -> reject"],
        "{plan:#?}"
    );
    assert!(plan.notes.iter().any(|note| note.contains("no endpoints")));
}

#[test]
fn m5_endpoints_get_the_service_port_as_fallback() {
    let model = demo();
    let plan = probe_plan(
        &model,
        &key("catalog", "catalog"),
        &PortSelector::All,
        Via::Endpoints,
    )
    .expect("plan");
    assert!(!plan.hops.is_empty());
    for hop in &plan.hops {
        assert!(
            matches!(hop.target, ProbeTarget::Pod { port: 8080, .. }),
            "{hop:?}"
        );
        assert_eq!(
            hop.fallbacks,
            [FallbackPort {
                port: 80,
                name: None,
                container: None,
                declared: false
            }]
        );
    }
}

#[test]
fn external_name_and_missing_ports() {
    let model = demo();
    let plan = probe_plan(
        &model,
        &key("legacy", "payments"),
        &PortSelector::All,
        Via::All,
    )
    .expect("plan");
    assert!(plan.hops.is_empty());
    assert!(plan.notes[0].contains("ExternalName"), "{:?}", plan.notes);
    let error = probe_plan(
        &model,
        &key("shop", "web"),
        &PortSelector::Number(9),
        Via::All,
    )
    .expect_err("no port 9");
    assert_eq!(
        error.to_string(),
        "Service shop/web has no port 9 (it has 80/TCP (http))"
    );
    let error = probe_plan(&model, &key("shop", "nope"), &PortSelector::All, Via::All)
        .expect_err("no Service");
    assert_eq!(error.to_string(), "no Service shop/nope");
}

#[test]
fn fingerprints_follow_expectations() {
    let model = demo();
    let a = probe_plan(&model, &key("shop", "web"), &PortSelector::All, Via::All).expect("plan");
    let b = probe_plan(&model, &key("shop", "web"), &PortSelector::All, Via::All).expect("plan");
    assert_eq!(a, b);
    let fingerprints: std::collections::BTreeSet<u64> =
        a.hops.iter().map(|hop| hop.fingerprint).collect();
    assert_eq!(
        fingerprints.len(),
        a.hops.len(),
        "distinct hops, distinct fingerprints"
    );
}

#[rstest]
#[case("http", true)]
#[case("http-metrics", true)]
#[case("web", true)]
#[case("grpc", false)]
#[case("mongodb", false)]
fn http_names(#[case] name: &str, #[case] http: bool) {
    assert_eq!(looks_like_http_name(name), http);
}

#[rstest]
#[case("http", true)]
#[case("kubernetes.io/h2c", true)]
#[case("HTTPS", true)]
#[case("kubernetes.io/ws", true)]
#[case("grpc", false)]
#[case("mysql", false)]
fn http_app_protocols(#[case] value: &str, #[case] http: bool) {
    assert_eq!(looks_like_http_protocol(value), http);
}

/// web-ingress's `shop/web` behind TLS, TCP and UDP routes of one Gateway.
fn l4_routes() -> (ProxyModel, PlanContext) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/scenarios/web-ingress.yaml"
    );
    let web = std::fs::read_to_string(path).expect("the scenario");
    let gateway = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  gatewayClassName: sandbox
  listeners:
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: wild, port: 9443, protocol: TLS, hostname: "*.shop.test", tls: {mode: Passthrough}}
  - {name: tcp, port: 5432, protocol: TCP}
  - {name: udp, port: 5353, protocol: UDP}
  - {name: grpc, port: 8081, protocol: HTTP}
status:
  addresses: [{type: IPAddress, value: 127.20.0.5}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: secure, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: tls}]
  hostnames: [web.shop.test]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: any, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: wild}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: raw, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: rpc, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: grpc}]
  rules: [{matches: [{method: {service: shop.Cart, method: Add}}], backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata: {name: dgram, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: udp}]
  rules: [{backendRefs: [{name: dns, port: 53}]}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: shop}
spec:
  clusterIP: 127.10.0.53
  selector: {app: web}
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 8053}]
"#;
    let load = crate::dump::load_str("l4.yaml", &format!("{web}\n---\n{gateway}"))
        .expect("the routes load");
    (
        build(&load.snapshot, &EngineConfig::default()),
        PlanContext::from_snapshot(&load.snapshot),
    )
}

#[test]
fn tls_and_tcp_routes_get_stream_checks_and_udp_routes_a_note() {
    let (model, context) = l4_routes();
    let plan = probe_plan_with(
        &model,
        &key("shop", "web"),
        &PortSelector::All,
        Via::Ingress,
        &context,
    )
    .expect("a plan");
    let checks: Vec<(String, Option<StreamProbe>, bool)> = plan
        .hops
        .iter()
        .filter(|hop| hop.kind == HopKind::Gateway)
        .map(|hop| {
            (
                hop.target.describe(),
                hop.stream.clone(),
                hop.http.is_some(),
            )
        })
        .collect();
    let tls = |sni: &str| {
        Some(StreamProbe::Tls {
            sni: sni.to_owned(),
        })
    };
    assert_eq!(
        checks,
        [
            ("127.20.0.5:8443".to_owned(), tls("web.shop.test"), false),
            ("127.20.0.5:9443".to_owned(), tls("probe.shop.test"), false),
            ("127.20.0.5:5432".to_owned(), Some(StreamProbe::Tcp), false),
        ],
        "{plan:#?}"
    );
    // A GRPCRoute hop is not probed (an HTTP/1.1 request would meet the HTTPRoutes, not it).
    assert!(
        plan.notes.iter().any(|note| note
            == "port 80/TCP (http): GRPCRoute shop/rpc through Gateway shop/edge: not probed: gRPC needs HTTP/2, which the probe does not speak yet"),
        "{:?}",
        plan.notes
    );
    let udp = probe_plan_with(
        &model,
        &key("shop", "dns"),
        &PortSelector::All,
        Via::Ingress,
        &context,
    )
    .expect("a plan");
    assert!(udp.hops.is_empty(), "{udp:#?}");
    assert!(
        udp.notes.iter().any(|note| note
            == "port 53/UDP (dns): UDPRoute shop/dgram through Gateway shop/edge: not probed: UDP has no handshake"),
        "{:?}",
        udp.notes
    );
    // A stream check is part of the hop's fingerprint; its JSON names it.
    let first = plan.hops.iter().find(|hop| hop.stream.is_some());
    let json = serde_json::to_value(first).expect("json");
    assert_eq!(
        json["stream"],
        serde_json::json!({"check": "tls", "sni": "web.shop.test"})
    );
}
