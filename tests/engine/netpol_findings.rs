//! The policy diagnostics on an application shaped like a chart ships it: a default-deny
//! namespace with allow rules for DNS, the ingress controller and the internal API. The healthy
//! shape gets no policy finding; each mistake gets exactly its code (rules N1-N10).

use k8s_openapi::api::networking::v1::{
    IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
};
use kubehop::engine::{DiagnosticCode, ProxyModel, Severity};
use serde_json::{Value, json};

use crate::support::engine::*;
use crate::support::fixtures::*;

const CONTROLLER_ADDRESS: &str = "127.50.0.1";

fn default_deny() -> Value {
    json!({"metadata": {"name": "default-deny-all"},
           "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
}

fn allow_dns() -> Value {
    json!({"metadata": {"name": "allow-dns"},
           "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}})
}

/// The controller's namespace by its name label, the controller pods by theirs, port `http`.
fn allow_ingress_controller(namespace_labels: Value) -> Value {
    json!({"metadata": {"name": "allow-ingress-nginx"},
           "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": namespace_labels},
                                           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}],
                                 "ports": [{"port": "http"}]}]}})
}

fn allow_web_to_api() -> Vec<Value> {
    vec![
        json!({"metadata": {"name": "api-from-web"},
               "spec": {"podSelector": {"matchLabels": {"app": "api"}},
                        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 8080}]}]}}),
        json!({"metadata": {"name": "web-to-api"},
               "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}], "ports": [{"port": 8080}]}]}}),
    ]
}

fn healthy_policies() -> Vec<Value> {
    let mut policies = vec![
        default_deny(),
        allow_dns(),
        allow_ingress_controller(json!({"kubernetes.io/metadata.name": "ingress-nginx"})),
    ];
    policies.extend(allow_web_to_api());
    policies
}

fn shop_ingress_with_status() -> k8s_openapi::api::networking::v1::Ingress {
    let mut ingress = shop_ingress();
    ingress.status = Some(IngressStatus {
        load_balancer: Some(IngressLoadBalancerStatus {
            ingress: Some(vec![IngressLoadBalancerIngress {
                ip: Some(CONTROLLER_ADDRESS.to_owned()),
                ..IngressLoadBalancerIngress::default()
            }]),
        }),
    });
    ingress
}

/// web (2 pods, container port `http` 8080) behind the Ingress `shop`, api behind web, the
/// ingress-nginx controller behind its LoadBalancer Service.
fn app(policies: &[Value], web_2_declares_http: bool) -> ProxyModel {
    app_shaped(policies, web_2_declares_http, false)
}

/// [`app`] with the controller on the host network.
fn app_with_host_network_controller(policies: &[Value]) -> ProxyModel {
    app_shaped(policies, true, true)
}

fn app_shaped(policies: &[Value], web_2_declares_http: bool, host_network: bool) -> ProxyModel {
    let mut nginx = pod("nginx-1", "127.3.0.1", "node-c")
        .namespace("ingress-nginx")
        .labels(&[("app.kubernetes.io/name", "ingress-nginx")]);
    if let Some(spec) = nginx.0.spec.as_mut() {
        spec.host_network = Some(host_network);
    }
    let web_2 = pod("web-2", "127.2.0.2", "node-b").labels(&[("app", "web")]);
    let web_2 = if web_2_declares_http {
        web_2.container_port("app", Some("http"), 8080, "TCP")
    } else {
        web_2.container_port("app", None, 8080, "TCP")
    };
    let mut world = World::new()
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .namespace(
            "ingress-nginx",
            &[("kubernetes.io/metadata.name", "ingress-nginx")],
        )
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .service(
            service("api")
                .cluster_ip("127.10.0.2")
                .selector(&[("app", "api")])
                .port(Some("http"), 80, "8080"),
        )
        .service(
            service("ingress-nginx-controller")
                .namespace("ingress-nginx")
                .cluster_ip("127.10.0.3")
                .type_("LoadBalancer")
                .selector(&[("app.kubernetes.io/name", "ingress-nginx")])
                .port(Some("http"), 80, "80")
                .node_port(30080)
                .lb_ingress(Some(CONTROLLER_ADDRESS), None, None),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .pod(web_2)
        .pod(pod("api-1", "127.2.0.3", "node-c").labels(&[("app", "api")]))
        .pod(nginx)
        .ingress(shop_ingress_with_status());
    for policy in policies {
        world = world.policy(policy.clone());
    }
    world.model()
}

fn policy_codes(model: &ProxyModel) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = model
        .services
        .iter()
        .flat_map(|chain| {
            chain
                .diagnostics
                .iter()
                .filter(|d| d.code.as_str().starts_with("policy-"))
                .map(|d| (chain.name.clone(), d.code.as_str()))
        })
        .collect();
    out.extend(
        model
            .unattached_diagnostics
            .iter()
            .filter(|d| d.code.as_str().starts_with("policy-"))
            .map(|d| (d.subject.to_string(), d.code.as_str())),
    );
    out
}

#[test]
fn the_healthy_app_has_no_policy_finding() {
    let model = app(&healthy_policies(), true);
    assert_eq!(policy_codes(&model), vec![]);
    // The verdicts are there: the controller reaches both web pods.
    let web = chain(&model, "web");
    let view = web.network_policy.as_ref().expect("networkPolicy block");
    let controller = view
        .hops()
        .iter()
        .find(|hop| &*hop.source == "pod/ingress-nginx/nginx-1")
        .expect("the controller's hop");
    assert!(!controller.is_empty(), "{controller:#?}");
    assert!(
        view.verdicts(controller)
            .all(|e| e.verdict.allowed == Some(true)),
        "{controller:#?}"
    );
}

#[test]
fn no_policies_no_findings_and_no_block() {
    let model = app(&[], true);
    assert_eq!(policy_codes(&model), vec![]);
    assert!(
        model
            .services
            .iter()
            .all(|chain| chain.network_policy.is_none())
    );
}

/// Allow-all shapes isolate nothing that matters: no finding.
#[test]
fn allow_all_shapes_are_silent() {
    let allow_all = json!({"metadata": {"name": "allow-all"},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}});
    let model = app(&[default_deny(), allow_all], true);
    assert_eq!(policy_codes(&model), vec![]);
}

/// N5: the chart's allow rule names the controller namespace by a label it does not carry.
#[test]
fn a_missing_namespace_label_denies_the_ingress_controller() {
    let mut policies = vec![
        default_deny(),
        allow_dns(),
        allow_ingress_controller(json!({"name": "ingress-nginx"})),
    ];
    policies.extend(allow_web_to_api());
    let model = app(&policies, true);
    assert_eq!(
        policy_codes(&model),
        vec![("web".to_owned(), "policy-denies-ingress-controller")]
    );
    let web = chain(&model, "web");
    let finding = web
        .diagnostics
        .iter()
        .find(|d| d.code == DiagnosticCode::PolicyDeniesIngressController)
        .expect("finding");
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(finding.subject.to_string(), "ingress/shop");
    assert!(
        finding
            .message
            .contains("namespace ingress-nginx does not carry name=ingress-nginx"),
        "{}",
        finding.message
    );
}

/// N3: the allow rule for the controller is gone; only the deny-all shape selects web.
#[test]
fn deny_all_without_allow_rule() {
    let mut policies = vec![default_deny(), allow_dns()];
    policies.extend(allow_web_to_api());
    let model = app(&policies, true);
    let codes = policy_codes(&model);
    assert!(
        codes.contains(&("web".to_owned(), "policy-isolated-no-allow")),
        "{codes:?}"
    );
    assert!(
        !codes
            .iter()
            .any(|(service, code)| service == "api" && *code == "policy-isolated-no-allow"),
        "{codes:?}"
    );
}

/// N7: the new pod version dropped the port name the allow rule uses.
#[test]
fn a_port_name_one_version_lacks() {
    let model = app(&healthy_policies(), false);
    let codes = policy_codes(&model);
    assert!(
        codes.contains(&("web".to_owned(), "policy-port-name-unresolved")),
        "{codes:?}"
    );
    // The controller still reaches web-1: a warning, not an error.
    let web = chain(&model, "web");
    let denied = web
        .diagnostics
        .iter()
        .find(|d| d.code == DiagnosticCode::PolicyDeniesIngressController)
        .expect("the controller misses web-2");
    assert_eq!(denied.severity, Severity::Warning);
    let unresolved = web
        .diagnostics
        .iter()
        .find(|d| d.code == DiagnosticCode::PolicyPortNameUnresolved)
        .expect("finding");
    assert_eq!(unresolved.subject.to_string(), "pod/web-2");
}

/// N1: a typo in the podSelector; a policy for pods that are not there is silent.
#[test]
fn a_policy_that_selects_nothing() {
    let typo = json!({"metadata": {"name": "api-typo"},
        "spec": {"podSelector": {"matchLabels": {"app": "apj"}}, "ingress": [{}]}});
    let absent = json!({"metadata": {"name": "cache"},
        "spec": {"podSelector": {"matchLabels": {"component": "cache"}}, "ingress": [{}]}});
    let mut policies = healthy_policies();
    policies.extend([typo, absent]);
    let model = app(&policies, true);
    assert_eq!(
        policy_codes(&model),
        vec![(
            "networkpolicy/api-typo".to_owned(),
            "policy-selects-nothing"
        )]
    );
}

/// The synthetic cluster with policies (the benchmark's shape, small): every policy reads,
/// every Service with endpoints in a default-deny namespace gets its block, and no policy
/// finding fires on the chart-shaped policies.
#[test]
fn synthetic_policies_build_quietly() {
    use kubehop::engine::synthetic::{SyntheticSpec, generate_with_policies};
    let spec = SyntheticSpec {
        services: 200,
        pods: 1_000,
        nodes: 10,
        namespaces: 5,
    };
    let snapshot = generate_with_policies(&spec, 100);
    assert_eq!(snapshot.network_policies.len(), 100);
    let model = kubehop::engine::build(&snapshot, &kubehop::engine::EngineConfig::default());
    assert_eq!(model.policies().policies().len(), 100);
    let with_block = model
        .services
        .iter()
        .filter(|chain| chain.network_policy.is_some())
        .count();
    let with_pods = model
        .services
        .iter()
        .filter(|chain| !chain.details.endpoints.is_empty())
        .count();
    assert!(
        with_block > 0 && with_block <= with_pods,
        "{with_block} of {with_pods}"
    );
    let codes: Vec<&str> = model
        .services
        .iter()
        .flat_map(|chain| chain.diagnostics.iter())
        .chain(model.unattached_diagnostics.iter())
        .map(|d| d.code.as_str())
        .filter(|code| code.starts_with("policy-"))
        .collect();
    assert!(
        codes.iter().all(|code| *code == "policy-isolated-no-allow"),
        "{codes:?}"
    );
}

/// A host-network controller is seen as its node (N9): the check stays silent rather than guess.
#[test]
fn a_host_network_controller_is_not_judged() {
    let mut policies = vec![
        default_deny(),
        allow_ingress_controller(json!({"name": "ingress-nginx"})),
    ];
    policies.extend(allow_web_to_api());
    let mut world_policies = policies.clone();
    world_policies.push(allow_dns());
    let model = app(&world_policies, true);
    assert!(policy_codes(&model).contains(&("web".to_owned(), "policy-denies-ingress-controller")));
    let model = app_with_host_network_controller(&world_policies);
    assert!(
        !policy_codes(&model)
            .iter()
            .any(|(_, code)| *code == "policy-denies-ingress-controller"),
        "{:?}",
        policy_codes(&model)
    );
}

/// An indication of what the policies cost, in whatever profile the tests are built with (the
/// figure of record is `cargo bench --bench engine -- "build 10k"`, release): the one-thread
/// build of the benchmark's cluster with and without 2,000 NetworkPolicies, best of three each,
/// interleaved.
/// `cargo test --test engine -- --ignored policy_build_cost --nocapture`
#[test]
#[ignore = "a measurement, seconds long in a debug build"]
fn policy_build_cost_indication() {
    use kubehop::engine::synthetic::{SyntheticSpec, generate, generate_with_policies};
    use kubehop::engine::{EngineConfig, build_on_threads};
    let spec = SyntheticSpec::default();
    let plain = generate(&spec);
    let with_policies = generate_with_policies(&spec, 2_000);
    let config = EngineConfig::default();
    let time = |snapshot: &kubehop::engine::ClusterSnapshot| {
        let started = std::time::Instant::now();
        let model = build_on_threads(snapshot, &config, 1);
        let elapsed = started.elapsed();
        assert_eq!(model.services.len(), spec.services);
        elapsed
    };
    let (mut best_plain, mut best_policies) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..3 {
        best_plain = best_plain.min(time(&plain));
        best_policies = best_policies.min(time(&with_policies));
    }
    let ratio = best_policies.as_secs_f64() / best_plain.as_secs_f64();
    println!(
        "build on one thread: {best_plain:?} without policies, {best_policies:?} with 2,000 ({:+.1} %)",
        (ratio - 1.0) * 100.0
    );
}
