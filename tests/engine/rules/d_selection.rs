//! Rule group (d): endpoint selection per traffic source (D1-D12).

use kubehop::engine::model::TrafficPolicy;
use kubehop::engine::objects::SliceInfo;
use kubehop::engine::route::{PolicyScope, RouteReason, SourceKind};
use kubehop::engine::topology::{EndpointSet, TopologyOutcome, TopologySkip};
use kubehop::engine::{EngineConfig, TrafficSource, Verdict};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

/// A Service whose endpoints are given by hand: web-a on node-a, web-b on node-b.
fn manual(
    service_edit: impl FnOnce(ServiceBuilder) -> ServiceBuilder,
    endpoints: Vec<EndpointBuilder>,
) -> World {
    let mut slice = slice("web", "web-1").port(Some("http"), 8080, Some("TCP"));
    for endpoint in endpoints {
        slice = slice.endpoint(endpoint);
    }
    World::new()
        .nodes(three_nodes())
        .service(service_edit(
            service("web")
                .type_("NodePort")
                .port(Some("http"), 80, "8080")
                .node_port(30080),
        ))
        .slice(slice)
}

fn ep_a() -> EndpointBuilder {
    endpoint("127.2.0.1", "web-a", "node-a").zone("zone-a")
}
fn ep_b() -> EndpointBuilder {
    endpoint("127.2.0.2", "web-b", "node-b").zone("zone-b")
}

/// D1: eTP Local on a Service that is not externally accessible is ignored.
#[test]
fn d1_external_policy_ignored_when_not_external() {
    let model = manual(
        |s| {
            s.type_("ClusterIP").with(|spec| {
                spec.external_traffic_policy = Some("Local".into());
                if let Some(port) = spec.ports.as_mut().and_then(|p| p.first_mut()) {
                    port.node_port = None;
                }
            })
        },
        vec![ep_a()],
    )
    .model();
    assert_eq!(chain(&model, "web").external_traffic_policy, None);
    let decision = route(&model, "127.10.0.1", 80, from_pod("node-c"));
    assert_eq!(decision.verdict, Verdict::Forward);
}

/// D2: cluster set = ready endpoints; fallback to serving-terminating cluster-wide.
/// D3: local set = ready on N; fallback to serving-terminating on N.
#[rstest]
#[case::d2_ready_preferred(TrafficPolicy::Cluster, "node-c", vec![ep_a(), ep_b().conditions(false, true, true)], Verdict::Forward, vec!["web-a"], false)]
#[case::d2_terminating_fallback(TrafficPolicy::Cluster, "node-c", vec![ep_a().conditions(false, true, true), ep_b().conditions(false, false, true)], Verdict::Forward, vec!["web-a"], true)]
#[case::d2_not_serving_never_used(TrafficPolicy::Cluster, "node-c", vec![ep_a().conditions(false, false, true)], Verdict::Reject, vec![], false)]
#[case::d3_local_ready(TrafficPolicy::Local, "node-a", vec![ep_a(), ep_b()], Verdict::Forward, vec!["web-a"], false)]
#[case::d3_local_terminating_fallback(TrafficPolicy::Local, "node-a", vec![ep_a().conditions(false, true, true), ep_b()], Verdict::Forward, vec!["web-a"], true)]
#[case::d3_local_empty_drop_d4(TrafficPolicy::Local, "node-c", vec![ep_a(), ep_b()], Verdict::Drop, vec![], false)]
#[case::d4_nothing_usable_reject(TrafficPolicy::Local, "node-c", vec![ep_a().conditions(false, false, false)], Verdict::Reject, vec![], false)]
fn d2_d3_d4_sets(
    #[case] internal: TrafficPolicy,
    #[case] node: &str,
    #[case] endpoints: Vec<EndpointBuilder>,
    #[case] verdict: Verdict,
    #[case] pods: Vec<&str>,
    #[case] fallback: bool,
) {
    let policy = if internal == TrafficPolicy::Local {
        "Local"
    } else {
        "Cluster"
    };
    let model = manual(|s| s.itp(policy), endpoints).model();
    let decision = route(&model, "127.10.0.1", 80, from_pod(node));
    assert_eq!(decision.verdict, verdict, "{:?}", decision.reasons);
    assert_eq!(endpoint_pods(&decision), pods);
    let used_fallback = decision
        .reasons
        .iter()
        .any(|r| matches!(r, RouteReason::TerminatingFallback(_)));
    assert_eq!(used_fallback, fallback);
}

/// D5: topology hints for the cluster set.
#[rstest]
#[case::d5_same_zone("node-a", vec![ep_a().zone_hints(&["zone-a"]), ep_b().zone_hints(&["zone-b"])], vec!["web-a"], TopologyOutcome::SameZone { zone: "zone-a".into() })]
#[case::d5_multiple_hints_any_match("node-b", vec![ep_a().zone_hints(&["zone-a", "zone-b"]), ep_b().zone_hints(&["zone-c"])], vec!["web-a"], TopologyOutcome::SameZone { zone: "zone-b".into() })]
#[case::d5_hint_missing("node-a", vec![ep_a().zone_hints(&["zone-a"]), ep_b()], vec!["web-a", "web-b"], TopologyOutcome::NotApplied(TopologySkip::HintMissing))]
#[case::d5_no_hints("node-a", vec![ep_a(), ep_b()], vec!["web-a", "web-b"], TopologyOutcome::NotApplied(TopologySkip::NoHints))]
#[case::d5_no_endpoint_for_zone("node-c", vec![ep_a().zone_hints(&["zone-a"]), ep_b().zone_hints(&["zone-b"])], vec!["web-a", "web-b"], TopologyOutcome::NotApplied(TopologySkip::NoEndpointForZone { zone: "zone-c".into() }))]
#[case::d5_node_zone_unknown("node-x", vec![ep_a().zone_hints(&["zone-a"]), ep_b().zone_hints(&["zone-b"])], vec!["web-a", "web-b"], TopologyOutcome::NotApplied(TopologySkip::NodeZoneUnknown))]
#[case::d5_unready_not_considered("node-b", vec![ep_a().zone_hints(&["zone-a"]), ep_b().conditions(false, false, false)], vec!["web-a"], TopologyOutcome::NotApplied(TopologySkip::NoEndpointForZone { zone: "zone-b".into() }))]
fn d5_topology(
    #[case] node: &str,
    #[case] endpoints: Vec<EndpointBuilder>,
    #[case] pods: Vec<&str>,
    #[case] outcome: TopologyOutcome,
) {
    let model = manual(|s| s, endpoints).model();
    let decision = route(&model, "127.10.0.1", 80, from_pod(node));
    assert_eq!(endpoint_pods(&decision), pods);
    assert!(
        decision.reasons.contains(&RouteReason::Topology(outcome)),
        "{:?}",
        decision.reasons
    );
}

/// D5 + V2: node hints are honoured only with the PreferSameTrafficDistribution gate.
#[rstest]
#[case::d5_node_hints_gate_off(false, vec!["web-a", "web-b"])]
#[case::d5_node_hints_gate_on(true, vec!["web-b"])]
fn d5_node_hints(#[case] gate: bool, #[case] pods: Vec<&str>) {
    // Both endpoints are hinted for zone-b; node hints name their own nodes.
    let model = manual(
        |s| s,
        vec![
            ep_a().zone_hints(&["zone-b"]).node_hints(&["node-a"]),
            ep_b().zone_hints(&["zone-b"]).node_hints(&["node-b"]),
        ],
    )
    .model_with(&EngineConfig {
        prefer_same_node: gate,
        ..EngineConfig::default()
    });
    let decision = route(&model, "127.10.0.1", 80, from_pod("node-b"));
    assert_eq!(endpoint_pods(&decision), pods);
}

/// (zone hints, node hints) per endpoint.
type Hints = (Option<Vec<String>>, Option<Vec<String>>);

fn hints_of(slices: &[std::sync::Arc<SliceInfo>]) -> Vec<Hints> {
    slices
        .iter()
        .flat_map(|s| s.endpoints())
        .map(|e| {
            let hints = e.hints();
            (
                hints
                    .and_then(|h| h.for_zones.as_ref())
                    .map(|z| z.iter().map(|z| z.name.clone()).collect()),
                hints
                    .and_then(|h| h.for_nodes.as_ref())
                    .map(|n| n.iter().map(|n| n.name.clone()).collect()),
            )
        })
        .collect()
}

/// D6: the controller writes hints for ready endpoints with a zone, per trafficDistribution.
#[rstest]
#[case::d6_prefer_close(Some("PreferClose"), None, Some(vec!["zone-a".to_owned()]), None)]
#[case::d6_prefer_same_zone(Some("PreferSameZone"), None, Some(vec!["zone-a".to_owned()]), None)]
#[case::d6_prefer_same_node(Some("PreferSameNode"), None, Some(vec!["zone-a".to_owned()]), Some(vec!["node-a".to_owned()]))]
#[case::d6_unset_strips(None, None, None, None)]
#[case::d6_unknown_value_strips(Some("Nearby"), None, None, None)]
#[case::d6_topology_mode_auto_not_modelled(Some("PreferClose"), Some("Auto"), None, None)]
fn d6_hints(
    #[case] distribution: Option<&str>,
    #[case] topology_mode: Option<&str>,
    #[case] zones: Option<Vec<String>>,
    #[case] nodes: Option<Vec<String>>,
) {
    let mut service = service("web")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080");
    if let Some(distribution) = distribution {
        service = service.traffic_distribution(distribution);
    }
    if let Some(mode) = topology_mode {
        service = service.annotation("service.kubernetes.io/topology-mode", mode);
    }
    let model = World::new()
        .nodes(three_nodes())
        .service(service)
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]))
        .pod(
            pod("web-2", "127.2.0.2", "node-b")
                .labels(&[("app", "web")])
                .ready(false),
        )
        .model();
    let hints = hints_of(&chain(&model, "web").details.slices);
    assert_eq!(hints[0], (zones, nodes));
    assert_eq!(
        hints[1],
        (None, None),
        "D6: unready endpoints never get hints"
    );
}

fn policy_world() -> World {
    let web = load_balancer_web("8080")
        .lb_ingress(Some("127.20.0.1"), None, None)
        .etp("Local");
    World::new()
        .nodes(three_nodes())
        .service(web)
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]))
}

/// D7: ClusterIP with iTP Local from a node without endpoints → DROP; iTP Cluster → forward.
#[rstest]
#[case::d7_itp_cluster("Cluster", "node-b", Verdict::Forward)]
#[case::d7_itp_local_with_local("Local", "node-a", Verdict::Forward)]
#[case::d7_itp_local_without_local("Local", "node-b", Verdict::Drop)]
fn d7_cluster_ip(#[case] policy: &str, #[case] node: &str, #[case] verdict: Verdict) {
    let mut world = policy_world();
    world.services[0]
        .spec
        .as_mut()
        .expect("spec")
        .internal_traffic_policy = Some(policy.into());
    let decision = route(&world.model(), "127.10.0.1", 80, from_pod(node));
    assert_eq!(decision.verdict, verdict);
}

/// D8: NodePort / LB / externalIP with eTP Cluster: cluster set, topology relative to the
/// receiving node.
#[test]
fn d8_external_cluster_policy() {
    let model = manual(
        |s| s.etp("Cluster"),
        vec![
            ep_a().zone_hints(&["zone-a"]),
            ep_b().zone_hints(&["zone-b"]),
        ],
    )
    .model();
    // Sent "from outside at node-a" but addressed to node-b: node-b's rules and zone apply.
    let decision = route(&model, "127.1.0.2", 30080, from_outside("node-a"));
    assert_eq!(endpoint_pods(&decision), vec!["web-b"]);
    assert!(decision.reasons.contains(&RouteReason::ProcessedOn {
        node: "node-b".into(),
        known: true
    }));
}

/// D9: eTP Local by source: pods and the node itself use the cluster set (short-circuit);
/// true outsiders use N's local set and are dropped on nodes without one.
#[rstest]
#[case::d9_pod_short_circuit(
    from_pod("node-b"),
    "127.20.0.1",
    80,
    Verdict::Forward,
    Some(SourceKind::Pod)
)]
#[case::d9_node_itself_short_circuit(
    from_node("node-b"),
    "127.20.0.1",
    80,
    Verdict::Forward,
    Some(SourceKind::Node)
)]
#[case::d9_external_local_present(from_outside("node-a"), "127.20.0.1", 80, Verdict::Forward, None)]
#[case::d9_external_no_local_drop(from_outside("node-b"), "127.20.0.1", 80, Verdict::Drop, None)]
#[case::d9_other_host_is_external_for_node_port(
    from_node("node-a"),
    "127.1.0.2",
    30080,
    Verdict::Drop,
    None
)]
fn d9_external_local(
    #[case] source: TrafficSource,
    #[case] ip: &str,
    #[case] port: u16,
    #[case] verdict: Verdict,
    #[case] short_circuit: Option<SourceKind>,
) {
    let decision = route(&policy_world().model(), ip, port, source);
    assert_eq!(decision.verdict, verdict, "{:?}", decision.reasons);
    let circuit = decision.reasons.iter().find_map(|r| match r {
        RouteReason::ExternalLocalShortCircuit { source } => Some(*source),
        _ => None,
    });
    assert_eq!(circuit, short_circuit);
}

/// D10: iTP and eTP are independent.
#[test]
fn d10_independent_policies() {
    let mut world = policy_world();
    {
        let spec = world.services[0].spec.as_mut().expect("spec");
        spec.internal_traffic_policy = Some("Local".into());
        spec.external_traffic_policy = Some("Cluster".into());
    }
    let model = world.model();
    let cluster_ip = route(&model, "127.10.0.1", 80, from_pod("node-b"));
    assert_eq!(cluster_ip.verdict, Verdict::Drop);
    assert!(cluster_ip.reasons.contains(&RouteReason::Policy {
        scope: PolicyScope::Internal,
        policy: TrafficPolicy::Local
    }));
    let node_port = route(&model, "127.1.0.2", 30080, from_outside("node-b"));
    assert_eq!(node_port.verdict, Verdict::Forward);
    assert!(
        node_port
            .reasons
            .contains(&RouteReason::EndpointSet(EndpointSet::Cluster))
    );
}

/// D12: with LB + eTP Local, a node whose only local endpoints are terminating still forwards
/// locally (while its health check already fails, C8).
#[test]
fn d12_terminating_local_still_serves() {
    let model = policy_world()
        .pod(
            pod("web-2", "127.2.0.2", "node-b")
                .labels(&[("app", "web")])
                .terminating(),
        )
        .model();
    let decision = route(&model, "127.20.0.1", 80, from_outside("node-b"));
    assert_eq!(decision.verdict, Verdict::Forward);
    assert_eq!(endpoint_pods(&decision), vec!["web-2"]);
    assert!(
        decision
            .reasons
            .contains(&RouteReason::TerminatingFallback(EndpointSet::Local))
    );
}
