//! Rule group (b): port / targetPort / named-port resolution (B1-B8).

use kubehop::engine::Verdict;
use kubehop::engine::model::{Protocol, TargetPort};
use kubehop::engine::objects::PodInfo;
use kubehop::engine::pods::Exclusion;
use kubehop::engine::ports::{PodPortOutcome, Resolution, resolve_target_port};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn mongo_pod() -> PodBuilder {
    // A mongodb pod with a metrics sidecar (restartable init container).
    pod("mongo-0", "127.2.0.1", "node-a")
        .labels(&[("app", "mongo")])
        .container_port("mongo", Some("mongodb"), 27017, "TCP")
        .init_port("exporter", true, "metrics", 9216)
}

/// B2/B3/B4: resolution on one pod.
#[rstest]
#[case::b2_number_used_as_is(TargetPort::Number(7777), Protocol::Tcp, Some(7777))]
#[case::b3_named_regular(TargetPort::Name("mongodb".into()), Protocol::Tcp, Some(27017))]
#[case::b3_named_sidecar_init_container(TargetPort::Name("metrics".into()), Protocol::Tcp, Some(9216))]
#[case::b4_name_not_declared(TargetPort::Name("http".into()), Protocol::Tcp, None)]
#[case::b4_protocol_mismatch(TargetPort::Name("mongodb".into()), Protocol::Udp, None)]
fn b2_b3_b4_resolution(
    #[case] target: TargetPort,
    #[case] protocol: Protocol,
    #[case] expected: Option<i32>,
) {
    let pod: PodInfo = mongo_pod().build().into();
    assert_eq!(
        resolve_target_port(&pod, &target, protocol).port(),
        expected
    );
}

/// B3: a regular container wins over a sidecar with the same port name; a non-restartable init
/// container is never used.
#[rstest]
#[case::b3_regular_container_wins(true, true, Some(8080))]
#[case::b3_sidecar_only(false, true, Some(9000))]
#[case::b3_plain_init_container_ignored(false, false, None)]
fn b3_precedence(#[case] regular: bool, #[case] sidecar: bool, #[case] expected: Option<i32>) {
    let mut builder = pod("p", "127.2.0.1", "node-a").init_port("init", sidecar, "http", 9000);
    if regular {
        builder = builder.container_port("app", Some("http"), 8080, "TCP");
    }
    let pod: PodInfo = builder.build().into();
    let resolution = resolve_target_port(&pod, &TargetPort::Name("http".into()), Protocol::Tcp);
    assert_eq!(resolution.port(), expected);
    if expected == Some(9000) {
        assert!(matches!(
            resolution,
            Resolution::Named { sidecar: true, .. }
        ));
    }
}

/// B1: missing protocol → TCP, targetPort 0 or "" → port.
#[rstest]
#[case::b1_target_zero(Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)))]
#[case::b1_target_empty(
    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(String::new()))
)]
#[case::b1_target_missing(None)]
fn b1_defaults(#[case] target: Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>) {
    let model = World::new()
        .nodes(three_nodes())
        .service(service("web").selector(&[("app", "web")]).raw_port(
            k8s_openapi::api::core::v1::ServicePort {
                port: 8081,
                target_port: target,
                ..Default::default()
            },
        ))
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]))
        .model();
    let port = &chain(&model, "web").ports[0];
    assert_eq!(port.protocol, Protocol::Tcp);
    assert_eq!(port.target_port, TargetPort::Number(8081));
    assert_eq!(port.endpoints[0].port, 8081);
}

fn two_port_world() -> World {
    World::new()
        .nodes(three_nodes())
        .service(
            service("mongo")
                .selector(&[("app", "mongo")])
                .port(Some("mongodb"), 27017, "mongodb")
                .port(Some("metrics"), 9216, "metrics"),
        )
        .pod(mongo_pod())
        .pod(
            // This replica has no metrics sidecar.
            pod("mongo-1", "127.2.0.2", "node-b")
                .labels(&[("app", "mongo")])
                .container_port("mongo", Some("mongodb"), 27017, "TCP"),
        )
}

/// B4: an unresolvable port only removes that port for the pod; the pod still backs the other.
#[test]
fn b4_pod_stays_for_other_ports() {
    let model = two_port_world().model();
    let mongo = chain(&model, "mongo");
    let pods = |index: usize| -> Vec<String> {
        mongo.ports[index]
            .endpoints
            .iter()
            .map(|e| e.info.pod.as_deref().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(pods(0), vec!["mongo-0", "mongo-1"]);
    assert_eq!(pods(1), vec!["mongo-0"]);
    assert_eq!(mongo.ports[1].endpoints[0].port, 9216);
}

/// B3/B4 in the port map, including pods excluded by A3.
#[test]
fn b3_b4_port_map() {
    let model = two_port_world()
        .pod(
            pod("mongo-2", "127.2.0.3", "node-c")
                .labels(&[("app", "mongo")])
                .phase("Failed"),
        )
        .model();
    let map = chain(&model, "mongo").port_map();
    let metrics = &map[1];
    assert_eq!(metrics.target_port, TargetPort::Name("metrics".into()));
    assert_eq!(metrics.pods.len(), 3);
    assert_eq!(
        metrics.pods[0].outcome,
        PodPortOutcome::Resolved {
            container_port: 9216,
            container: Some("exporter".into()),
            sidecar: true
        }
    );
    assert!(
        matches!(&metrics.pods[1].outcome, PodPortOutcome::NameNotDeclared { declared } if declared.len() == 1)
    );
    assert_eq!(
        metrics.pods[2].outcome,
        PodPortOutcome::Excluded(Exclusion::Failed)
    );
}

/// B5: slice ports join Service ports by (name, protocol), not by number.
#[test]
fn b5_join_by_name_and_protocol() {
    let model = World::new()
        .nodes(three_nodes())
        .service(
            service("dns")
                .port_proto(Some("dns-tcp"), 53, "5353", "TCP")
                .port_proto(Some("dns"), 53, "5353", "UDP"),
        )
        .slice(
            slice("dns", "dns-1")
                .port(Some("dns"), 5353, Some("UDP"))
                .port(Some("dns-tcp"), 5354, Some("TCP"))
                .port(Some("dns"), 9999, Some("TCP"))
                .endpoint(endpoint("127.2.0.1", "dns-0", "node-a")),
        )
        .model();
    let dns = chain(&model, "dns");
    assert_eq!(dns.ports[0].endpoints[0].port, 5354);
    assert_eq!(dns.ports[1].endpoints[0].port, 5353);
}

/// B6: a headless Service without ports still lists its endpoints (for DNS).
#[test]
fn b6_headless_without_ports() {
    let model = World::new()
        .nodes(three_nodes())
        .service(service("peers").headless().selector(&[("app", "db")]))
        .pod(pod("db-0", "127.2.0.1", "node-a").labels(&[("app", "db")]))
        .model();
    let peers = chain(&model, "peers");
    assert!(peers.ports.is_empty());
    assert_eq!(peers.details.endpoints.len(), 1);
    assert!(
        peers.details.slices[0]
            .ports
            .as_ref()
            .is_some_and(Vec::is_empty)
    );
}

/// B7: every front door translates to endpointIP:resolvedTargetPort, never to the nodePort.
#[rstest]
#[case::b7_cluster_ip("127.10.0.1", 80)]
#[case::b7_node_port("127.1.0.1", 30080)]
#[case::b7_load_balancer("127.20.0.1", 80)]
fn b7_front_doors_translate(#[case] destination: &str, #[case] port: u16) {
    let model = World::new()
        .nodes(three_nodes())
        .service(load_balancer_web("http").lb_ingress(Some("127.20.0.1"), None, None))
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8443, "TCP"),
        )
        .model();
    let decision = route(&model, destination, port, from_outside("node-a"));
    assert_eq!(decision.verdict, Verdict::Forward);
    assert_eq!(decision.endpoints[0].0.port, 8443);
}

/// B8: (port, protocol) is the identity: TCP 53 and UDP 53 are separate; a protocol the
/// Service does not declare on that port is rejected (nftables, C2/V4).
#[rstest]
#[case::b8_tcp(Protocol::Tcp, Verdict::Forward, Some(1053))]
#[case::b8_udp(Protocol::Udp, Verdict::Forward, Some(2053))]
#[case::b8_sctp_not_declared(Protocol::Sctp, Verdict::Reject, None)]
fn b8_port_identity(
    #[case] protocol: Protocol,
    #[case] verdict: Verdict,
    #[case] port: Option<i32>,
) {
    let model = World::new()
        .nodes(three_nodes())
        .service(
            service("dns")
                .selector(&[("app", "dns")])
                .port_proto(Some("dns-tcp"), 53, "1053", "TCP")
                .port_proto(Some("dns"), 53, "2053", "UDP"),
        )
        .pod(pod("dns-0", "127.2.0.1", "node-a").labels(&[("app", "dns")]))
        .model();
    let decision = route_full(&model, "127.10.0.1", 53, protocol, from_pod("node-a"), None);
    assert_eq!(decision.verdict, verdict);
    assert_eq!(decision.endpoints.first().map(|e| e.0.port), port);
}
