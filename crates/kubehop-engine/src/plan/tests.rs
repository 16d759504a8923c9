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
