//! Every diagnostic code, with its subject and the facts its message must name.

use kubehop::engine::{DiagnosticCode, Severity, Subject};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn web_pod(name: &str, ip: &str, node: &str) -> PodBuilder {
    pod(name, ip, node).labels(&[("app", "web"), ("tier", "fe")])
}

fn web_service() -> ServiceBuilder {
    service("web")
        .selector(&[("app", "web"), ("tier", "fe")])
        .port(Some("http"), 80, "8080")
}

fn base() -> World {
    World::new().nodes(three_nodes())
}

/// (world, service, code, subject, words the message must contain)
#[rstest]
#[case::selector_no_match(
    base().service(web_service()).pod(pod("api-1", "127.2.0.1", "node-a").labels(&[("app", "api")])),
    "web", DiagnosticCode::SelectorNoMatch, "service/web", &["app=web,tier=fe", "app=api"])]
#[case::selector_no_match_other_namespace(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a").namespace("prod")),
    "web", DiagnosticCode::SelectorNoMatch, "service/web", &["namespace prod"])]
// M1: a value one small edit from the selector's.
#[case::selector_partial_match(
    base().service(service("web").selector(&[("app", "web"), ("tier", "frontend")]).port(Some("http"), 80, "8080"))
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web"), ("tier", "fronted")])),
    "web", DiagnosticCode::SelectorPartialMatch, "pod/web-1", &["tier=fronted", "one small edit from tier=frontend"])]
// M2: every pair but one key, which the pod lacks.
#[case::selector_partial_match_missing_label(
    base().service(web_service()).pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")])),
    "web", DiagnosticCode::SelectorPartialMatch, "pod/web-1", &["except tier, which it lacks", "add tier=fe"])]
#[case::no_ready_endpoints(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a").ready(false)),
    "web", DiagnosticCode::NoReadyEndpoints, "service/web", &["web-1", "readiness"])]
#[case::no_ready_endpoints_all_excluded(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a").phase("Failed")),
    "web", DiagnosticCode::NoReadyEndpoints, "service/web", &["1 pods match"])]
#[case::pods_not_endpoints(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a")).pod(web_pod("job-1", "127.2.0.2", "node-a").no_ip()),
    "web", DiagnosticCode::PodsNotEndpoints, "service/web", &["job-1 (no pod IP yet)"])]
#[case::named_port_not_found(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "http")).pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]).container_port("app", Some("web"), 8080, "TCP")),
    "web", DiagnosticCode::NamedPortNotFound, "port/http", &["\"http\"", "web-1", "web=8080/TCP"])]
#[case::named_port_protocol_mismatch(
    base().service(service("dns").selector(&[("app", "dns")]).port(Some("dns"), 53, "dns")).pod(pod("dns-1", "127.2.0.1", "node-a").labels(&[("app", "dns")]).container_port("app", Some("dns"), 53, "UDP")),
    "dns", DiagnosticCode::NamedPortNotFound, "port/dns", &["dns-1 declares it as 53/UDP"])]
#[case::target_port_not_declared(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a").container_port("app", Some("http"), 9000, "TCP")),
    "web", DiagnosticCode::TargetPortNotDeclared, "port/http", &["8080/TCP", "web-1", "http=9000/TCP"])]
#[case::multi_port_unnamed(
    base().service(web_service().port(None, 8443, "8443")).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::MultiPortUnnamed, "port/8443/TCP", &["8443/TCP has no name"])]
#[case::nodeport_out_of_range(
    base().service(web_service().type_("NodePort").node_port(8080)).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::NodePortOutOfRange, "port/http", &["8080", "30000-32767"])]
#[case::lb_pending(
    base().service(web_service().type_("LoadBalancer").node_port(30080)).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::LbPending, "service/web", &["status.loadBalancer.ingress"])]
#[case::lb_proxy_mode(
    base().service(web_service().type_("LoadBalancer").node_port(30080).lb_ingress(Some("127.20.0.1"), None, Some("Proxy"))).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::LbProxyMode, "service/web", &["127.20.0.1", "ipMode Proxy"])]
#[case::local_policy_node_drops(
    base().service(web_service().type_("NodePort").node_port(30080).etp("Local")).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::LocalPolicyNodeDrops, "node/node-b", &["node-b", "dropped"])]
#[case::internal_policy_node_drops(
    base().service(web_service().itp("Local")).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::InternalPolicyNodeDrops, "node/node-c", &["node-c", "dropped"])]
#[case::selectorless_no_endpoints(
    base().service(service("manual").port(None, 80, "8080")),
    "manual", DiagnosticCode::SelectorlessNoEndpoints, "service/manual", &["kubernetes.io/service-name=manual"])]
#[case::terminating_only(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a").terminating()),
    "web", DiagnosticCode::TerminatingOnly, "service/web", &["terminating"])]
#[case::publish_not_ready(
    base().service(web_service().pnra()).pod(web_pod("web-1", "127.2.0.1", "node-a").ready(false)),
    "web", DiagnosticCode::PublishNotReady, "service/web", &["web-1"])]
#[case::headless(
    base().service(web_service().headless()).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::Headless, "service/web", &["web.shop.svc.cluster.local"])]
#[case::external_name(
    base().service(service("db").external_name("127.0.0.5")),
    "db", DiagnosticCode::ExternalName, "service/db", &["CNAME", "will not resolve"])]
#[case::ingress_backend_port_missing(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a")).ingress(ingress("shop", "shop.example.test", "/", "web", port_name("https"))),
    "web", DiagnosticCode::IngressBackendMissing, "ingress/shop", &["port https", "http"])]
// C11/M10: an Ingress no controller claims.
#[case::ingress_class_missing(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a")).ingress(shop_ingress()).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", false)),
    "web", DiagnosticCode::IngressClassMissing, "ingress/shop", &["names no IngressClass", "nginx"])]
#[case::ingress_class_unknown(
    base().service(web_service()).pod(web_pod("web-1", "127.2.0.1", "node-a")).ingress(with_class(shop_ingress(), "ngnix")).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", true)),
    "web", DiagnosticCode::IngressClassUnknown, "ingress/shop", &["\"ngnix\"", "classes here: nginx"])]
#[case::invalid_spec(
    base().service(web_service().affinity("ClientIP", Some(0))).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::InvalidSpec, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", &["Invalid value: 0", "timeoutSeconds between 1 and 86400"])]
#[case::spec_warning(
    base().service(web_service().traffic_distribution("PreferClose")).pod(web_pod("web-1", "127.2.0.1", "node-a")),
    "web", DiagnosticCode::SpecWarning, "service/web", &["PreferSameZone"])]
fn every_code(
    #[case] world: World,
    #[case] name: &str,
    #[case] code: DiagnosticCode,
    #[case] subject: &str,
    #[case] words: &[&str],
) {
    let model = world.model();
    let chain = chain(&model, name);
    let found = chain
        .diagnostics
        .iter()
        .find(|d| d.code == code && d.subject.to_string() == subject)
        .unwrap_or_else(|| panic!("no {code} about {subject} in {:#?}", chain.diagnostics));
    assert_eq!(found.severity, code.severity());
    // Plain words: no rule ids in what users read.
    assert!(!cites_rule_id(&found.message), "{:?}", found.message);
    for word in words {
        assert!(
            found.message.contains(word),
            "{:?} lacks {word:?}",
            found.message
        );
    }
    assert!(
        found.message.ends_with('.'),
        "one sentence: {:?}",
        found.message
    );
}

/// Whether a message cites an internal rule id ("rule G2", "rules B2").
fn cites_rule_id(message: &str) -> bool {
    message.split("rule").skip(1).any(|rest| {
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let mut chars = rest.chars();
        chars.next() == Some(' ')
            && chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.next().is_some_and(|c| c.is_ascii_digit())
    })
}

/// ingress-backend-missing for a Service that does not exist lands in the unattached list.
#[test]
fn ingress_backend_missing_service() {
    let model = base()
        .service(web_service())
        .ingress(ingress(
            "shop",
            "shop.example.test",
            "/api",
            "api",
            port_number(80),
        ))
        .model();
    let found = &model.unattached_diagnostics;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, DiagnosticCode::IngressBackendMissing);
    assert_eq!(found[0].subject, Subject::Ingress("shop".into()));
    assert!(
        found[0].message.contains("\"api\"") && found[0].message.contains("Services there: web")
    );
    assert!(model.has_errors());
}

/// A healthy Service has no warnings or errors, and Ingress rules appear on its chain.
#[test]
fn healthy_service_is_quiet() {
    let model = base()
        .service(web_service())
        .pod(web_pod("web-1", "127.2.0.1", "node-a").container_port(
            "app",
            Some("http"),
            8080,
            "TCP",
        ))
        .ingress(shop_ingress())
        .model();
    let web = chain(&model, "web");
    assert!(
        web.diagnostics.iter().all(|d| d.severity == Severity::Info),
        "{:#?}",
        web.diagnostics
    );
    assert_eq!(web.ingresses.len(), 1);
    assert_eq!(web.ingresses[0].host.as_deref(), Some("shop.example.test"));
}

/// Codes are stable strings; every one is exercised above.
#[test]
fn codes_are_stable() {
    let strings: Vec<&str> = DiagnosticCode::ALL.iter().map(|c| c.as_str()).collect();
    for expected in [
        "selector-no-match",
        "selector-partial-match",
        "no-ready-endpoints",
        "named-port-not-found",
        "target-port-not-declared",
        "multi-port-unnamed",
        "nodeport-out-of-range",
        "lb-pending",
        "local-policy-node-drops",
        "selectorless-no-endpoints",
        "terminating-only",
        "publish-not-ready",
        "headless",
        "external-name",
        "ingress-backend-missing",
        "invalid-spec",
        "internal-policy-node-drops",
        "spec-warning",
        "pods-not-endpoints",
        "lb-proxy-mode",
        "ingress-class-missing",
        "ingress-class-unknown",
        "policy-denies-ingress-controller",
        "policy-port-name-unresolved",
        "policy-selects-nothing",
        "policy-isolated-no-allow",
    ] {
        assert!(strings.contains(&expected), "{expected}");
    }
}
