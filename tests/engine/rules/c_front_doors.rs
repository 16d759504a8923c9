//! Rule group (c): ClusterIP / NodePort / LoadBalancer front doors (C1-C10).

use kubehop::engine::model::NodePortRow;
use kubehop::engine::route::{FrontDoor, RouteReason, SourceRangeCheck};
use kubehop::engine::{EngineConfig, NodePortAddresses, Verdict};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn lb_world(edit: impl FnOnce(ServiceBuilder) -> ServiceBuilder) -> World {
    let service = load_balancer_web("8080").lb_ingress(Some("127.20.0.1"), None, None);
    World::new()
        .nodes(three_nodes())
        .service(edit(service))
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]))
}

/// C2: ClusterIP captures traffic from pods, host processes and routed outsiders alike; an
/// unknown port on a known ClusterIP is rejected, an unallocated address has no Service.
#[rstest]
#[case::c2_from_pod(from_pod("node-b"), "127.10.0.1", 80, Verdict::Forward)]
#[case::c2_from_host(from_node("node-b"), "127.10.0.1", 80, Verdict::Forward)]
#[case::c2_from_outside(from_outside("node-c"), "127.10.0.1", 80, Verdict::Forward)]
#[case::c2_unknown_port_rejected_v4(from_pod("node-a"), "127.10.0.1", 81, Verdict::Reject)]
#[case::c2_unallocated_ip(from_pod("node-a"), "127.10.9.9", 80, Verdict::NoService)]
fn c2_cluster_ip(
    #[case] source: kubehop::engine::TrafficSource,
    #[case] ip: &str,
    #[case] port: u16,
    #[case] verdict: Verdict,
) {
    let model = lb_world(|s| s).model();
    let decision = route(&model, ip, port, source);
    assert_eq!(decision.verdict, verdict);
    if verdict == Verdict::Forward {
        assert_eq!(
            decision.matched.as_ref().map(|m| m.via),
            Some(FrontDoor::ClusterIp)
        );
    }
}

fn two_address_nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
    let mut nodes = three_nodes();
    if let Some(addresses) = nodes[0].status.as_mut().and_then(|s| s.addresses.as_mut()) {
        addresses.push(k8s_openapi::api::core::v1::NodeAddress {
            address: "127.1.1.1".into(),
            type_: "InternalIP".into(),
        });
    }
    nodes
}

/// C3: with nodePortAddresses primary (nftables default) only the primary address accepts
/// the nodePort; with All every node address does. NodePort rows follow the same rule.
#[rstest]
#[case::c3_primary_address(NodePortAddresses::Primary, "127.1.0.1", Verdict::Forward)]
#[case::c3_secondary_ignored_with_primary(
    NodePortAddresses::Primary,
    "127.1.1.1",
    Verdict::NoService
)]
#[case::c3_secondary_accepted_with_all(NodePortAddresses::All, "127.1.1.1", Verdict::Forward)]
fn c3_node_port_addresses(
    #[case] addresses: NodePortAddresses,
    #[case] ip: &str,
    #[case] verdict: Verdict,
) {
    let mut world = lb_world(|s| s);
    world.nodes = two_address_nodes();
    let config = EngineConfig {
        node_port_addresses: addresses,
        ..EngineConfig::default()
    };
    let model = world.model_with(&config);
    let decision = route(&model, ip, 30080, from_outside("node-c"));
    assert_eq!(decision.verdict, verdict);
    let rows: Vec<NodePortRow> = chain(&model, "web").ports[0].node_ports.rows().collect();
    let expected_rows = if addresses == NodePortAddresses::All {
        4
    } else {
        3
    };
    assert_eq!(rows.len(), expected_rows);
}

/// C5: node rules exist only for VIP-mode IPs; ipMode Proxy and hostname-only entries get none.
#[rstest]
#[case::c5_vip_unset(Some("127.20.0.1"), None, None, Verdict::Forward)]
#[case::c5_vip_explicit(Some("127.20.0.1"), None, Some("VIP"), Verdict::Forward)]
#[case::c5_proxy_mode(Some("127.20.0.1"), None, Some("Proxy"), Verdict::NoService)]
fn c5_ip_mode(
    #[case] ip: Option<&str>,
    #[case] hostname: Option<&str>,
    #[case] mode: Option<&str>,
    #[case] verdict: Verdict,
) {
    let model = World::new()
        .nodes(three_nodes())
        .service(load_balancer_web("8080").lb_ingress(ip, hostname, mode))
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]))
        .model();
    let decision = route(&model, "127.20.0.1", 80, from_outside("node-a"));
    assert_eq!(decision.verdict, verdict);
    if mode == Some("Proxy") {
        assert!(
            decision
                .reasons
                .contains(&RouteReason::LoadBalancerProxyMode)
        );
    }
}

/// C6: externalIPs act like VIP LB IPs but are never filtered by source ranges.
#[test]
fn c6_external_ips_ignore_source_ranges() {
    let model = lb_world(|s| {
        s.external_ips(&["127.30.0.1"])
            .source_ranges(&["127.99.0.0/16"])
    })
    .model();
    let decision = route_full(
        &model,
        "127.30.0.1",
        80,
        Default::default(),
        from_outside("node-a"),
        Some("127.250.0.1"),
    );
    assert_eq!(decision.verdict, Verdict::Forward);
    assert_eq!(
        decision.matched.as_ref().map(|m| m.via),
        Some(FrontDoor::ExternalIp)
    );
}

/// C7: loadBalancerSourceRanges (TestLoadBalancer): allowed and blocked outsiders, pods
/// blocked, node allowed, LB-IP-sourced traffic allowed when the node is in range, NodePort
/// bypasses the ranges.
#[rstest]
#[case::c7_allowed_external(
    "127.20.0.1",
    80,
    from_outside("node-a"),
    Some("127.99.1.1"),
    Verdict::Forward
)]
#[case::c7_blocked_external(
    "127.20.0.1",
    80,
    from_outside("node-a"),
    Some("127.250.0.1"),
    Verdict::Drop
)]
#[case::c7_pod_blocked("127.20.0.1", 80, from_pod("node-a"), Some("127.2.0.9"), Verdict::Drop)]
#[case::c7_node_allowed("127.20.0.1", 80, from_node("node-a"), None, Verdict::Forward)]
#[case::c7_lb_sourced_allowed(
    "127.20.0.1",
    80,
    from_outside("node-a"),
    Some("127.20.0.1"),
    Verdict::Forward
)]
#[case::c7_node_port_bypasses(
    "127.1.0.1",
    30080,
    from_outside("node-a"),
    Some("127.250.0.1"),
    Verdict::Forward
)]
fn c7_source_ranges(
    #[case] ip: &str,
    #[case] port: u16,
    #[case] source: kubehop::engine::TrafficSource,
    #[case] source_ip: Option<&str>,
    #[case] verdict: Verdict,
) {
    let model = lb_world(|s| s.source_ranges(&["127.99.0.0/16", " 127.1.0.0/24 "])).model();
    let decision = route_full(&model, ip, port, Default::default(), source, source_ip);
    assert_eq!(decision.verdict, verdict, "{:?}", decision.reasons);
    if verdict == Verdict::Drop {
        assert!(decision.reasons.iter().any(|r| matches!(
            r,
            RouteReason::SourceRanges(SourceRangeCheck::Denied { .. })
        )));
    }
}

/// C8: the healthCheckNodePort answers 200 only on nodes with a local ready endpoint;
/// terminating ones do not count.
#[test]
fn c8_health_check_per_node() {
    let model = lb_world(|s| s.etp("Local").health_check_node_port(32000))
        .pod(
            pod("web-2", "127.2.0.2", "node-b")
                .labels(&[("app", "web")])
                .terminating(),
        )
        .model();
    let rows: Vec<(String, Option<bool>, bool)> = chain(&model, "web").ports[0]
        .node_ports
        .rows()
        .map(|row| (row.node, row.health_check_passes, row.accepts))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("node-a".to_owned(), Some(true), true),
            ("node-b".to_owned(), Some(false), true),
            ("node-c".to_owned(), Some(false), false),
        ]
    );
}

/// C9: no usable endpoint anywhere → REJECT on every door; usable elsewhere but none local
/// under a Local policy → DROP.
#[rstest]
#[case::c9_reject_cluster_ip_no_endpoints(false, "127.10.0.1", 80, Verdict::Reject)]
#[case::c9_reject_node_port_no_endpoints(false, "127.1.0.2", 30080, Verdict::Reject)]
#[case::c9_reject_lb_no_endpoints(false, "127.20.0.1", 80, Verdict::Reject)]
#[case::c9_drop_local_policy_elsewhere(true, "127.1.0.2", 30080, Verdict::Drop)]
fn c9_reject_or_drop(
    #[case] ready_somewhere: bool,
    #[case] ip: &str,
    #[case] port: u16,
    #[case] verdict: Verdict,
) {
    let mut world = lb_world(|s| s.etp("Local"));
    world.pods.clear();
    world = world.pod(
        pod("web-1", "127.2.0.1", "node-a")
            .labels(&[("app", "web")])
            .ready(ready_somewhere),
    );
    let model = world.model();
    let decision = route(&model, ip, port, from_outside("node-b"));
    assert_eq!(decision.verdict, verdict, "{:?}", decision.reasons);
}

/// C1: every layer ends at the same endpoints; C10: who is SNATed.
#[rstest]
#[case::c10_cluster_ip_from_pod_not_snated("127.10.0.1", 80, from_pod("node-b"), false)]
#[case::c10_cluster_ip_from_host_snated("127.10.0.1", 80, from_node("node-b"), true)]
#[case::c10_node_port_cluster_policy_snated("127.1.0.2", 30080, from_outside("node-b"), true)]
fn c1_c10_layers(
    #[case] ip: &str,
    #[case] port: u16,
    #[case] source: kubehop::engine::TrafficSource,
    #[case] masquerade: bool,
) {
    let model = lb_world(|s| s).model();
    let decision = route(&model, ip, port, source);
    assert_eq!(endpoint_pods(&decision), vec!["web-1"]);
    assert!(
        decision
            .reasons
            .contains(&RouteReason::SourceNat { masquerade }),
        "{:?}",
        decision.reasons
    );
}
