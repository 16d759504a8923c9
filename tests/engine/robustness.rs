//! Hostile input never panics the engine: arbitrary Services, pods, nodes and slices (proptest),
//! plus the named extremes (100k ports, 1 MB label values, unicode names, missing fields).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop::cluster::synthetic::{SyntheticSpec, generate};
use kubehop::engine::model::Protocol;
use kubehop::engine::nodes::NodeTable;
use kubehop::engine::objects::PodInfo;
use kubehop::engine::validate::{ValidationConfig, invalid_message, validate_service};
use kubehop::engine::{
    ClusterSnapshot, EngineConfig, Picker, RouteQuery, TrafficSource, build,
    endpointslice::desired_endpoint_slices,
};
use proptest::prelude::*;

use crate::support::engine::*;
use crate::support::fixtures::*;

/// Builds, serialises, routes, picks and validates: everything a caller can do with a snapshot.
fn exercise(snapshot: &ClusterSnapshot, queries: &[RouteQuery]) {
    let model = build(snapshot, &EngineConfig::default());
    let json = serde_json::to_string(&model).expect("the model always serialises");
    assert!(json.starts_with("{\"services\":["));
    for chain in &model.services {
        let _ = chain.port_map();
    }
    let mut picker = Picker::new(1);
    for query in queries {
        let decision = model.route(query);
        serde_json::to_string(&decision).expect("decisions always serialise");
        if let Some(endpoint) = picker.pick(&decision, query.source_ip, Duration::from_secs(1)) {
            assert!(
                decision.endpoints.contains(&endpoint),
                "never outside the set"
            );
        }
    }
    for service in &snapshot.services {
        let errors = validate_service(service, &ValidationConfig::default());
        let _ = invalid_message(service.metadata.name.as_deref().unwrap_or(""), &errors);
        let pods: Vec<&PodInfo> = snapshot.pods.iter().map(|pod| pod.as_ref()).collect();
        let nodes = NodeTable::new(snapshot.nodes.iter().map(|node| node.as_ref()));
        let _ = desired_endpoint_slices(service, &pods, &nodes);
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("None".to_owned()),
        Just("web".to_owned()),
        Just("http".to_owned()),
        "[a-z0-9-]{1,12}",
        "\\PC{0,24}",
        Just("127.10.0.1".to_owned()),
        Just("::ffff:127.2.0.1".to_owned()),
    ]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..4, 0u8..4).prop_map(|(a, b)| format!("127.{a}.0.{b}")),
        Just("not-an-ip".to_owned()),
        Just(String::new()),
        Just("::ffff:127.2.0.1".to_owned()),
    ]
}

fn target_port() -> impl Strategy<Value = Option<IntOrString>> {
    prop_oneof![
        Just(None),
        any::<i32>().prop_map(|n| Some(IntOrString::Int(n))),
        text().prop_map(|s| Some(IntOrString::String(s))),
    ]
}

fn service_port() -> impl Strategy<Value = ServicePort> {
    (
        proptest::option::of(text()),
        prop_oneof![any::<i32>(), 1i32..100],
        proptest::option::of(prop_oneof![
            Just("TCP".to_owned()),
            Just("UDP".to_owned()),
            text()
        ]),
        target_port(),
        proptest::option::of(prop_oneof![any::<i32>(), 30000i32..30010]),
    )
        .prop_map(
            |(name, port, protocol, target_port, node_port)| ServicePort {
                name,
                port,
                protocol,
                target_port,
                node_port,
                ..ServicePort::default()
            },
        )
}

fn labels() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    proptest::option::of(proptest::collection::btree_map(
        prop_oneof![Just("app".to_owned()), text()],
        prop_oneof![Just("web".to_owned()), text()],
        0..4,
    ))
}

fn a_service() -> impl Strategy<Value = Service> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(prop_oneof![
            Just("ClusterIP".to_owned()),
            Just("NodePort".to_owned()),
            Just("LoadBalancer".to_owned()),
            Just("ExternalName".to_owned()),
            text()
        ]),
        proptest::option::of(prop_oneof![address(), Just("None".to_owned())]),
        labels(),
        proptest::option::of(proptest::collection::vec(service_port(), 0..5)),
        proptest::option::of(prop_oneof![Just("Local".to_owned()), text()]),
        proptest::option::of(prop_oneof![Just("ClientIP".to_owned()), text()]),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(name, namespace, type_, cluster_ip, selector, ports, policy, affinity, pnra)| {
                let mut service = service(&name).build();
                service.metadata.namespace = namespace;
                service.spec = Some(ServiceSpec {
                    type_,
                    cluster_ip,
                    selector,
                    ports,
                    external_traffic_policy: policy.clone(),
                    internal_traffic_policy: policy,
                    session_affinity: affinity,
                    publish_not_ready_addresses: pnra,
                    ..ServiceSpec::default()
                });
                service
            },
        )
}

fn a_pod() -> impl Strategy<Value = Pod> {
    (
        text(),
        address(),
        text(),
        labels(),
        any::<bool>(),
        any::<bool>(),
        text(),
        any::<i32>(),
    )
        .prop_map(
            |(name, ip, node, labels, ready, terminating, port_name, port)| {
                let mut builder = pod(&name, &ip, &node).ready(ready).container_port(
                    "app",
                    Some(&port_name),
                    port,
                    "TCP",
                );
                if terminating {
                    builder = builder.terminating();
                }
                let mut pod = builder.build();
                pod.metadata.labels = labels;
                pod
            },
        )
}

fn a_slice() -> impl Strategy<Value = EndpointSlice> {
    (
        text(),
        prop_oneof![Just("IPv4".to_owned()), Just("IPv6".to_owned()), text()],
        proptest::collection::vec((address(), text(), any::<Option<bool>>()), 0..4),
        proptest::collection::vec((proptest::option::of(text()), any::<i32>()), 0..3),
    )
        .prop_map(|(service, address_type, endpoints, ports)| {
            let mut builder = slice(&service, &format!("{service}-x")).address_type(&address_type);
            for (name, port) in ports {
                builder = builder.port(name.as_deref(), port, None);
            }
            for (ip, node, ready) in endpoints {
                let mut endpoint = endpoint(&ip, "p", &node);
                if let Some(ready) = ready {
                    endpoint = endpoint.conditions(ready, ready, !ready);
                }
                builder = builder.endpoint(endpoint);
            }
            builder.build()
        })
}

fn a_node() -> impl Strategy<Value = Node> {
    (text(), proptest::option::of(text()), address())
        .prop_map(|(name, zone, ip)| node(&name, zone.as_deref(), &ip))
}

fn a_query() -> impl Strategy<Value = RouteQuery> {
    (
        address(),
        any::<u16>(),
        0u8..3,
        0u8..3,
        text(),
        proptest::option::of(address()),
    )
        .prop_map(|(ip, port, protocol, kind, node, source_ip)| RouteQuery {
            destination: ip
                .parse()
                .unwrap_or_else(|_| "127.0.0.1".parse().expect("ip")),
            port,
            protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][usize::from(protocol)],
            source: match kind {
                0 => TrafficSource::Pod { node },
                1 => TrafficSource::Node { node },
                _ => TrafficSource::External { node },
            },
            source_ip: source_ip.and_then(|ip| ip.parse().ok()),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_objects_never_panic(
        services in proptest::collection::vec(a_service(), 0..6),
        pods in proptest::collection::vec(a_pod(), 0..8),
        slices in proptest::collection::vec(a_slice(), 0..4),
        nodes in proptest::collection::vec(a_node(), 0..4),
        queries in proptest::collection::vec(a_query(), 0..6),
    ) {
        let snapshot = ClusterSnapshot {
            services: services.into_iter().map(Arc::new).collect(),
            pods: Arc::new(pods.into_iter().map(|pod| Arc::new(pod.into())).collect()),
            endpoint_slices: slices.into_iter().map(|slice| Arc::new(slice.into())).collect(),
            nodes: nodes.into_iter().map(Arc::new).collect(),
            ..ClusterSnapshot::default()
        };
        exercise(&snapshot, &queries);
    }
}

#[test]
fn a_hundred_thousand_ports() {
    let mut service = service("wide").selector(&[("app", "web")]);
    for port in 0..100_000i32 {
        service = service.raw_port(ServicePort {
            name: Some(format!("p{port}")),
            port: port % 70_000,
            target_port: Some(IntOrString::String(format!("n{}", port % 7))),
            ..ServicePort::default()
        });
    }
    let world = World::new().nodes(three_nodes()).service(service).pod(
        pod("web-1", "127.2.0.1", "node-a")
            .labels(&[("app", "web")])
            .container_port("app", Some("n1"), 8080, "TCP"),
    );
    let model = world.model();
    let wide = chain(&model, "wide");
    assert_eq!(wide.ports.len(), 100_000);
    assert!(
        has_code(wide, kubehop::engine::DiagnosticCode::InvalidSpec),
        "G3/G4 errors for out-of-range and duplicate ports"
    );
    exercise(&world.snapshot(), &[]);
}

#[test]
fn megabyte_labels_and_unicode_names() {
    let huge = "v".repeat(1 << 20);
    let world = World::new()
        .nodes(vec![node("nœud-ü", Some("zöne"), "127.1.0.1")])
        .service(
            service("wéb-✓")
                .selector(&[("app", &huge)])
                .port(Some("ħttp"), 80, "ħttp"),
        )
        .pod(pod("pöd-1", "127.2.0.1", "nœud-ü").labels(&[("app", &huge)]))
        .pod(pod("pöd-2", "127.2.0.2", "nœud-ü").labels(&[("app", "other"), ("tier", &huge)]));
    let model = world.model();
    let chain = chain(&model, "wéb-✓");
    assert!(
        has_code(chain, kubehop::engine::DiagnosticCode::InvalidSpec),
        "F2/G2/G14 are reported"
    );
    assert_eq!(chain.details.selected_pods.len(), 1);
    exercise(&world.snapshot(), &[]);
}

#[test]
fn missing_everything() {
    let bare_service = Service::default();
    let bare_pod = Pod::default();
    let bare_node = Node::default();
    let bare_slice = EndpointSlice::default();
    let snapshot = ClusterSnapshot {
        services: vec![Arc::new(bare_service)],
        pods: Arc::new(vec![Arc::new(bare_pod.into())]),
        nodes: vec![Arc::new(bare_node)],
        endpoint_slices: vec![Arc::new(bare_slice.into())],
        ingresses: vec![Arc::new(Default::default())],
        ..ClusterSnapshot::default()
    };
    exercise(&snapshot, &[]);
    let model = build(&snapshot, &EngineConfig::default());
    assert_eq!(model.services.len(), 1);
    assert!(
        model.services[0].has_errors(),
        "a Service without name or spec is invalid"
    );
}

#[test]
fn synthetic_cluster_builds_consistently() {
    let spec = SyntheticSpec {
        services: 200,
        pods: 1_000,
        nodes: 20,
        namespaces: 4,
    };
    let snapshot = generate(&spec);
    let model = build(&snapshot, &EngineConfig::default());
    assert_eq!(model.services.len(), 200);
    // The generator's slices agree with the controller's rules: nothing is derived.
    assert!(model.services.iter().all(|chain| !chain.endpoints_derived));
    let served = model
        .services
        .iter()
        .filter(|chain| {
            chain
                .ports
                .first()
                .is_some_and(|port| !port.endpoints.is_empty())
        })
        .count();
    assert!(served > 150, "{served} Services with endpoints");
    let objects = kubehop::cluster::synthetic::objects(&spec);
    assert!(
        objects
            .iter()
            .all(|object| object.get("kind").is_some() && object.get("apiVersion").is_some())
    );
    exercise(&snapshot, &[]);
}
