//! Precision of the diagnostics on fixtures shaped like real applications (docs/diagnostics.md):
//! each case proves that a healthy app gets no false alarm *and* that the real mistake next to
//! it is still found. Rule ids in the comments resolve in docs/rules.md.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodCondition;
use kubehop::engine::plan::{Expectation, HopKind, PortSelector, Via, probe_plan};
use kubehop::engine::{
    DiagnosticCode, MissingKind, ProxyModel, ResourceKind, ServiceChain, Severity, build,
};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

const PART_OF: &str = "app.kubernetes.io/part-of";
const NAME: &str = "app.kubernetes.io/name";
const COMPONENT: &str = "app.kubernetes.io/component";

/// Findings of one code on a Service, with their severities.
fn findings(chain: &ServiceChain, code: DiagnosticCode) -> Vec<(Severity, String)> {
    chain
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| (d.severity, d.subject.to_string()))
        .collect()
}

/// Every warning or error of the model, as `service code subject`.
fn alarms(model: &ProxyModel) -> Vec<String> {
    model
        .services
        .iter()
        .flat_map(|chain| {
            chain
                .diagnostics
                .iter()
                .filter(|d| d.severity != Severity::Info)
                .map(move |d| format!("{} {} {}", chain.name, d.code, d.subject))
        })
        .collect()
}

// ------------------------------------------------------------------------- monitoring stack

/// A monitoring stack: one Service per component, every selector and pod sharing `part-of`
/// (and the operator's `name` across two components), pods on all three nodes, some with
/// declared ports and some without.
fn monitoring(alertmanager_name: &str, alertmanager_ready: bool) -> World {
    let components = [
        ("alertmanager", "alertmanager", "alert-router", "9093"),
        ("grafana", "grafana", "grafana", "3000"),
        ("prometheus", "prometheus", "prometheus", "9090"),
        ("node-exporter", "node-exporter", "exporter", "9100"),
        (
            "kube-state-metrics",
            "kube-state-metrics",
            "exporter",
            "8080",
        ),
        (
            "prometheus-operator",
            "prometheus-operator",
            "controller",
            "8080",
        ),
        (
            "prometheus-adapter",
            "prometheus",
            "metrics-adapter",
            "6443",
        ),
    ];
    let mut world = World::new().nodes(three_nodes());
    for (index, (service_name, name, component, port)) in components.into_iter().enumerate() {
        let selector = [
            (NAME, name),
            (COMPONENT, component),
            (PART_OF, "kube-prometheus"),
        ];
        world = world.service(service(service_name).selector(&selector).port(
            Some("web"),
            port.parse().expect("a port"),
            port,
        ));
        let pod_name_value = if service_name == "alertmanager" {
            alertmanager_name
        } else {
            name
        };
        for replica in 0..2u8 {
            let node = ["node-a", "node-b", "node-c"][usize::from(replica) + index % 2];
            let ip = format!("127.3.{index}.{}", replica + 1);
            let mut pod = pod(&format!("{service_name}-{replica}"), &ip, node)
                .labels(&[
                    (NAME, pod_name_value),
                    (COMPONENT, component),
                    (PART_OF, "kube-prometheus"),
                    ("app.kubernetes.io/version", "0.14.0"),
                ])
                .ready(service_name != "alertmanager" || alertmanager_ready);
            // Half the components declare their port, half leave it out (B2: optional).
            if index % 2 == 0 {
                pod = pod.container_port("app", Some("web"), port.parse().expect("a port"), "TCP");
            }
            world = world.pod(pod);
        }
    }
    world
}

// M2: siblings sharing part-of (and name across two components) are never near misses.
#[test]
fn monitoring_stack_is_quiet() {
    let model = monitoring("alertmanager", true).model();
    assert_eq!(alarms(&model), Vec::<String>::new());
}

// M1/M2: the alertmanager pods carry a typo in `name`; only they are near misses, not the
// six sibling components that share part-of.
#[test]
fn monitoring_stack_typo_is_found() {
    let model = monitoring("alertmanger", true).model();
    let alertmanager = chain(&model, "alertmanager");
    assert!(has_code(alertmanager, DiagnosticCode::SelectorNoMatch));
    let near: Vec<String> = findings(alertmanager, DiagnosticCode::SelectorPartialMatch)
        .into_iter()
        .map(|(_, subject)| subject)
        .collect();
    assert_eq!(near, ["pod/alertmanager-0", "pod/alertmanager-1"]);
    let others: Vec<String> = alarms(&model)
        .into_iter()
        .filter(|alarm| !alarm.starts_with("alertmanager "))
        .collect();
    assert_eq!(others, Vec::<String>::new());
}

// M2: a component whose pods are not ready lacks endpoints, yet its siblings still are not
// near misses.
#[test]
fn monitoring_stack_unready_component_names_no_sibling() {
    let model = monitoring("alertmanager", false).model();
    let alertmanager = chain(&model, "alertmanager");
    assert!(has_code(alertmanager, DiagnosticCode::NoReadyEndpoints));
    assert!(!has_code(
        alertmanager,
        DiagnosticCode::SelectorPartialMatch
    ));
}

// ------------------------------------------------------------------------------- guestbook

/// Guestbook: a redis leader and followers behind their own Services, a frontend.
fn guestbook(follower_labels: &[(&str, &str)], followers_ready: bool) -> World {
    let mut world = World::new()
        .nodes(three_nodes())
        .service(
            service("redis-leader")
                .selector(&[("app", "redis"), ("role", "leader"), ("tier", "backend")])
                .port(None, 6379, "6379"),
        )
        .service(
            service("redis-follower")
                .selector(&[("app", "redis"), ("role", "follower"), ("tier", "backend")])
                .port(None, 6379, "6379"),
        )
        .service(
            service("frontend")
                .selector(&[("app", "guestbook"), ("tier", "frontend")])
                .type_("NodePort")
                .port(None, 80, "80")
                .node_port(30080),
        )
        .pod(
            pod("redis-leader-0", "127.4.0.1", "node-a")
                .labels(&[("app", "redis"), ("role", "leader"), ("tier", "backend")])
                .container_port("leader", None, 6379, "TCP"),
        );
    for (index, node) in ["node-b", "node-c"].into_iter().enumerate() {
        world = world.pod(
            pod(
                &format!("redis-follower-{index}"),
                &format!("127.4.1.{}", index + 1),
                node,
            )
            .labels(follower_labels)
            .ready(followers_ready),
        );
    }
    for (index, node) in ["node-a", "node-b", "node-c"].into_iter().enumerate() {
        world = world.pod(
            pod(
                &format!("frontend-{index}"),
                &format!("127.4.2.{}", index + 1),
                node,
            )
            .labels(&[("app", "guestbook"), ("tier", "frontend")]),
        );
    }
    world
}

const FOLLOWER: [(&str, &str); 3] = [("app", "redis"), ("role", "follower"), ("tier", "backend")];

// M2: the healthy guestbook is quiet.
#[test]
fn guestbook_is_quiet() {
    let model = guestbook(&FOLLOWER, true).model();
    assert_eq!(alarms(&model), Vec::<String>::new());
}

// M2: the followers are gone; the leader pod (role=leader) is no near miss of redis-follower,
// so nobody is told to relabel the leader.
#[rstest]
#[case::followers_not_ready(&FOLLOWER, false, DiagnosticCode::NoReadyEndpoints)]
#[case::followers_relabelled(&[("app", "redis"), ("role", "replica"), ("tier", "backend")], true, DiagnosticCode::SelectorNoMatch)]
fn guestbook_leader_is_not_advised(
    #[case] labels: &[(&str, &str)],
    #[case] ready: bool,
    #[case] error: DiagnosticCode,
) {
    let model = guestbook(labels, ready).model();
    let follower = chain(&model, "redis-follower");
    assert!(has_code(follower, error), "{:#?}", follower.diagnostics);
    assert!(
        follower
            .diagnostics
            .iter()
            .all(|d| d.subject.to_string() != "pod/redis-leader-0"),
        "{:#?}",
        follower.diagnostics
    );
}

// M2: followers that lack `role` entirely while matching the rest are near misses, and so
// are followers whose role is a typo (M1); both are found.
#[rstest]
#[case::missing_key(&[("app", "redis"), ("tier", "backend")], "except role, which it lacks")]
#[case::typo(&[("app", "redis"), ("role", "folower"), ("tier", "backend")], "role=folower, one small edit from role=follower")]
fn guestbook_follower_near_miss_is_found(#[case] labels: &[(&str, &str)], #[case] words: &str) {
    let model = guestbook(labels, true).model();
    let follower = chain(&model, "redis-follower");
    let near: Vec<&str> = follower
        .diagnostics
        .iter()
        .filter(|d| d.code == DiagnosticCode::SelectorPartialMatch)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(near.len(), 2, "{near:#?}");
    assert!(
        near.iter().all(|message| message.contains(words)),
        "{near:#?}"
    );
    // The leader's Service has its endpoint: nothing there.
    assert_eq!(
        alarms(&model)
            .into_iter()
            .filter(|alarm| alarm.starts_with("redis-leader "))
            .count(),
        0
    );
}

// ------------------------------------------------------------------- declared container ports

fn web_world(pod: PodBuilder) -> World {
    World::new()
        .nodes(three_nodes())
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .pod(pod.labels(&[("app", "web")]))
}

// B2: a container that declares no port is normal: no finding, and the probe plan predicts a
// connection to the endpoint (Kubernetes forwards whether or not the port is declared).
#[rstest]
#[case::no_ports(pod("web-1", "127.5.0.1", "node-a"), None)]
#[case::declares_it(pod("web-1", "127.5.0.1", "node-a").container_port("app", Some("http"), 8080, "TCP"), None)]
#[case::declares_another(pod("web-1", "127.5.0.1", "node-a").container_port("app", Some("metrics"), 9090, "TCP"), Some(Severity::Info))]
#[case::sidecar_declares_another(pod("web-1", "127.5.0.1", "node-a").container_port("proxy", Some("admin"), 15000, "TCP"), Some(Severity::Info))]
fn undeclared_target_port(#[case] pod: PodBuilder, #[case] finding: Option<Severity>) {
    let model = web_world(pod).model();
    let web = chain(&model, "web");
    let found: Vec<Severity> = findings(web, DiagnosticCode::TargetPortNotDeclared)
        .into_iter()
        .map(|(severity, _)| severity)
        .collect();
    assert_eq!(found, finding.into_iter().collect::<Vec<_>>());
    assert_eq!(alarms(&model), Vec::<String>::new());
    let plan = probe_plan(&model, &web.key(), &PortSelector::All, Via::All).expect("a plan");
    for hop in &plan.hops {
        assert!(
            matches!(hop.expected, Expectation::Connect { .. }),
            "{}: {:?}",
            hop.label,
            hop.expected
        );
    }
    assert!(plan.hops.iter().any(|hop| hop.kind == HopKind::Endpoint));
}

// B4: a named targetPort that some selected pods declare and a sibling worker does not: a
// warning (traffic still arrives); when no pod declares it, the error stays.
#[rstest]
#[case::some_resolve(true, Severity::Warning)]
#[case::none_resolve(false, Severity::Error)]
fn named_port_severity(#[case] server_declares: bool, #[case] severity: Severity) {
    let server = pod("api-1", "127.5.1.1", "node-a").labels(&[("app", "api")]);
    let server = if server_declares {
        server.container_port("app", Some("http"), 8080, "TCP")
    } else {
        server
    };
    let model = World::new()
        .nodes(three_nodes())
        .service(
            service("api")
                .selector(&[("app", "api")])
                .port(Some("http"), 80, "http"),
        )
        .pod(server)
        .pod(pod("api-worker-1", "127.5.1.2", "node-b").labels(&[("app", "api")]))
        .model();
    let found = findings(chain(&model, "api"), DiagnosticCode::NamedPortNotFound);
    assert_eq!(found, [(severity, "port/http".to_owned())]);
}

// ------------------------------------------------------------------ externalTrafficPolicy Local

/// An ingress controller's Service with eTP Local and its pod on node-a only.
fn controller(service: ServiceBuilder) -> ProxyModel {
    World::new()
        .nodes(three_nodes())
        .service(
            service
                .selector(&[("app.kubernetes.io/name", "ingress-nginx")])
                .port(Some("http"), 80, "80")
                .node_port(30080)
                .etp("Local"),
        )
        .pod(
            pod("controller-1", "127.6.0.1", "node-a")
                .labels(&[("app.kubernetes.io/name", "ingress-nginx")])
                .container_port("controller", Some("http"), 80, "TCP"),
        )
        .model()
}

// D12/C8: behind a load balancer that health-checks the nodes the drops are the design (one
// info finding); where clients reach the other nodes directly they are warnings (D9, M7).
#[rstest]
#[case::lb_with_health_check(
    service("ingress-nginx").type_("LoadBalancer").health_check_node_port(32000).lb_ingress(Some("127.20.0.9"), None, None),
    &[(Severity::Info, "service/ingress-nginx")])]
#[case::nodeport(
    service("ingress-nginx").type_("NodePort"),
    &[(Severity::Warning, "node/node-b"), (Severity::Warning, "node/node-c")])]
#[case::lb_without_health_check(
    service("ingress-nginx").type_("LoadBalancer").lb_ingress(Some("127.20.0.9"), None, None),
    &[(Severity::Warning, "node/node-b"), (Severity::Warning, "node/node-c")])]
#[case::lb_proxy_mode(
    service("ingress-nginx").type_("LoadBalancer").health_check_node_port(32000).lb_ingress(Some("127.20.0.9"), None, Some("Proxy")),
    &[(Severity::Warning, "node/node-b"), (Severity::Warning, "node/node-c")])]
#[case::lb_pending(
    service("ingress-nginx").type_("LoadBalancer").health_check_node_port(32000),
    &[(Severity::Warning, "node/node-b"), (Severity::Warning, "node/node-c")])]
fn local_policy_severity(#[case] service: ServiceBuilder, #[case] expected: &[(Severity, &str)]) {
    let model = controller(service);
    let found = findings(
        chain(&model, "ingress-nginx"),
        DiagnosticCode::LocalPolicyNodeDrops,
    );
    let expected: Vec<(Severity, String)> = expected
        .iter()
        .map(|(severity, subject)| (*severity, (*subject).to_owned()))
        .collect();
    assert_eq!(found, expected);
}

// --------------------------------------------------------------------------- Ingress classes

fn ingress_world(
    ingress: k8s_openapi::api::networking::v1::Ingress,
    classes: &[(&str, bool)],
) -> ProxyModel {
    let mut world = World::new()
        .nodes(three_nodes())
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .pod(pod("web-1", "127.7.0.1", "node-a").labels(&[("app", "web")]))
        .ingress(ingress);
    for (name, default) in classes {
        world = world.ingress_class(ingress_class(name, "k8s.io/ingress-nginx", *default));
    }
    world.model()
}

fn legacy_class(class: &str) -> k8s_openapi::api::networking::v1::Ingress {
    let mut ingress = shop_ingress();
    ingress.metadata.annotations = Some(BTreeMap::from([(
        "kubernetes.io/ingress.class".to_owned(),
        class.to_owned(),
    )]));
    ingress
}

// C11/M10: an Ingress no controller claims is found; a default class, a known class (in the
// field or the legacy annotation), or a cluster without IngressClasses stays quiet.
#[rstest]
#[case::no_class_no_default(shop_ingress(), &[("nginx", false)], Some(DiagnosticCode::IngressClassMissing))]
#[case::no_class_with_default(shop_ingress(), &[("nginx", true)], None)]
#[case::known_class(with_class(shop_ingress(), "nginx"), &[("nginx", false)], None)]
#[case::unknown_class(with_class(shop_ingress(), "ngnix"), &[("nginx", true)], Some(DiagnosticCode::IngressClassUnknown))]
#[case::legacy_known(legacy_class("nginx"), &[("nginx", false)], None)]
#[case::legacy_unknown(legacy_class("traefik"), &[("nginx", true)], Some(DiagnosticCode::IngressClassUnknown))]
#[case::no_classes_known(with_class(shop_ingress(), "nginx"), &[], None)]
#[case::no_classes_no_class(shop_ingress(), &[], None)]
fn ingress_class_checks(
    #[case] ingress: k8s_openapi::api::networking::v1::Ingress,
    #[case] classes: &[(&str, bool)],
    #[case] expected: Option<DiagnosticCode>,
) {
    let model = ingress_world(ingress, classes);
    let found: Vec<DiagnosticCode> = chain(&model, "web")
        .diagnostics
        .iter()
        .map(|d| d.code)
        .filter(|code| {
            matches!(
                code,
                DiagnosticCode::IngressClassMissing | DiagnosticCode::IngressClassUnknown
            )
        })
        .collect();
    assert_eq!(found, expected.into_iter().collect::<Vec<_>>());
    assert!(model.unattached_diagnostics.is_empty());
}

// M10: a class finding about an Ingress whose backends do not exist has no Service to go to.
#[test]
fn ingress_class_without_service_is_unattached() {
    let model = World::new()
        .nodes(three_nodes())
        .ingress(with_class(
            ingress("docs", "docs.example.test", "/", "docs", port_number(80)),
            "ngnix",
        ))
        .ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", true))
        .model();
    let codes: Vec<DiagnosticCode> = model
        .unattached_diagnostics
        .iter()
        .map(|d| d.code)
        .collect();
    assert!(
        codes.contains(&DiagnosticCode::IngressClassUnknown),
        "{codes:?}"
    );
}

// ------------------------------------------------------------------------ pods not endpoints

fn unschedulable(name: &str, ip: &str) -> PodBuilder {
    let mut pod = pod(name, ip, "node-a")
        .labels(&[("app", "web")])
        .no_ip()
        .phase("Pending");
    pod.0.spec.as_mut().expect("spec").node_name = None;
    pod.0.status.as_mut().expect("status").conditions = Some(vec![PodCondition {
        type_: "PodScheduled".to_owned(),
        status: "False".to_owned(),
        reason: Some("Unschedulable".to_owned()),
        message: Some(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
                .to_owned(),
        ),
        ..PodCondition::default()
    }]);
    pod
}

// M9/A3: the scheduler's message is carried through; completed Job pods that share the app's
// labels are no alarm while the Service has a ready endpoint (A3).
#[rstest]
#[case::unschedulable(
    unschedulable("web-2", "127.8.0.2"),
    Some(
        "web-2 (not scheduled: Unschedulable: 0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.)"
    )
)]
#[case::no_ip_yet(pod("web-2", "127.8.0.2", "node-b").labels(&[("app", "web")]).no_ip(), Some("web-2 (no pod IP yet)"))]
#[case::completed_job(pod("migrate-1", "127.8.0.3", "node-b").labels(&[("app", "web")]).phase("Succeeded"), None)]
#[case::evicted(pod("web-3", "127.8.0.3", "node-b").labels(&[("app", "web")]).phase("Failed"), None)]
fn pods_not_endpoints(#[case] extra: PodBuilder, #[case] words: Option<&str>) {
    let model = World::new()
        .nodes(three_nodes())
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .pod(pod("web-1", "127.8.0.1", "node-a").labels(&[("app", "web")]))
        .pod(extra)
        .model();
    let web = chain(&model, "web");
    let found: Vec<&str> = web
        .diagnostics
        .iter()
        .filter(|d| d.code == DiagnosticCode::PodsNotEndpoints)
        .map(|d| d.message.as_str())
        .collect();
    match words {
        Some(words) => {
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].contains(words), "{found:#?}");
        }
        None => assert!(found.is_empty(), "{found:#?}"),
    }
}

// A3: with no ready endpoint, completed pods are named after all (they may be why).
#[test]
fn completed_pods_are_named_when_nothing_is_ready() {
    let model = World::new()
        .nodes(three_nodes())
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .pod(
            pod("web-1", "127.8.0.1", "node-a")
                .labels(&[("app", "web")])
                .phase("Failed"),
        )
        .model();
    let web = chain(&model, "web");
    assert!(has_code(web, DiagnosticCode::PodsNotEndpoints));
    assert!(has_code(web, DiagnosticCode::NoReadyEndpoints));
}

// -------------------------------------------------------------------------- missing pods, G5

// A1/A2: without pods (a dump of Services and EndpointSlices) nothing is said about pods,
// and a Service whose slice has a ready endpoint is quiet.
#[test]
fn without_pods_the_selector_is_not_judged() {
    let world = World::new()
        .nodes(three_nodes())
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .slice(
            slice("web", "web-abcde")
                .port(Some("http"), 8080, Some("TCP"))
                .endpoint(endpoint("127.9.0.1", "web-1", "node-a")),
        );
    let mut snapshot = world.snapshot();
    snapshot.missing.push(MissingKind {
        kind: ResourceKind::Pod,
        reason: "not in the dump".to_owned(),
    });
    let model = build(&snapshot, &Default::default());
    assert_eq!(alarms(&model), Vec::<String>::new());
}

// G5: a nodePort outside the default range on a stored Service (it has a uid) was accepted
// by its cluster; in a manifest it is still reported.
#[rstest]
#[case::manifest(None, true)]
#[case::stored(Some("0b7c7a4e-1d2f-4c59-9a39-6f1f0e2b8c11"), false)]
fn nodeport_range_only_for_manifests(#[case] uid: Option<&str>, #[case] fires: bool) {
    let mut web = service("web")
        .selector(&[("app", "web")])
        .type_("NodePort")
        .port(Some("http"), 80, "8080")
        .node_port(8080);
    web.0.metadata.uid = uid.map(str::to_owned);
    let model = World::new()
        .nodes(three_nodes())
        .service(web)
        .pod(pod("web-1", "127.9.1.1", "node-a").labels(&[("app", "web")]))
        .model();
    assert_eq!(
        has_code(chain(&model, "web"), DiagnosticCode::NodePortOutOfRange),
        fires
    );
}

// ------------------------------------------------------------------ internalTrafficPolicy Local

// M8/D7: a node-local agent (a DaemonSet that does not tolerate the control-plane taint) with
// iTP Local: the tainted control-plane node runs no client pods, so it is not reported; an
// ordinary node without the agent still is.
#[rstest]
#[case::control_plane_tainted(true, &[])]
#[case::ordinary_node(false, &["node/node-c"])]
fn internal_policy_skips_nodes_without_workloads(#[case] tainted: bool, #[case] expected: &[&str]) {
    let mut nodes = three_nodes();
    if tainted {
        nodes[2].spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            taints: Some(vec![k8s_openapi::api::core::v1::Taint {
                key: "node-role.kubernetes.io/control-plane".to_owned(),
                effect: "NoSchedule".to_owned(),
                ..Default::default()
            }]),
            ..Default::default()
        });
    }
    let mut world = World::new().nodes(nodes).service(
        service("node-cache")
            .selector(&[("app", "node-cache")])
            .port_proto(Some("dns"), 53, "53", "UDP")
            .itp("Local"),
    );
    for (index, node) in ["node-a", "node-b"].into_iter().enumerate() {
        world = world.pod(
            pod(
                &format!("node-cache-{index}"),
                &format!("127.9.2.{}", index + 1),
                node,
            )
            .labels(&[("app", "node-cache")]),
        );
    }
    let model = world.model();
    let found: Vec<String> = findings(
        chain(&model, "node-cache"),
        DiagnosticCode::InternalPolicyNodeDrops,
    )
    .into_iter()
    .map(|(_, subject)| subject)
    .collect();
    assert_eq!(found, expected);
}
