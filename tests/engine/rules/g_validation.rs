//! Rule group (g): API server validation (G1-G16) and warnings (G17).

use k8s_openapi::api::core::v1::Service;
use kubehop::engine::validate::{
    FieldErrorKind, ValidationConfig, invalid_message, service_warnings, validate_service,
};
use rstest::rstest;

use crate::support::fixtures::*;

fn errors(service: ServiceBuilder) -> Vec<(String, FieldErrorKind, &'static str)> {
    validate_service(&service.build(), &ValidationConfig::default())
        .into_iter()
        .map(|e| (e.field, e.kind, e.rule))
        .collect()
}

fn ok() -> ServiceBuilder {
    service("web")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080")
}

#[test]
fn valid_service_has_no_errors() {
    assert!(errors(ok()).is_empty());
    assert!(
        errors(service("db").headless().selector(&[("app", "db")])).is_empty(),
        "G1: headless may omit ports"
    );
    assert!(
        errors(service("ext").external_name("db.example.test")).is_empty(),
        "G1: ExternalName may omit ports"
    );
}

#[rstest]
#[case::g1_no_ports(service("web"), "spec.ports", FieldErrorKind::Required, "G1")]
#[case::g2_unnamed_in_multi(ok().port(None, 81, "8081"), "spec.ports[1].name", FieldErrorKind::Required, "G2")]
#[case::g2_bad_name(service("web").port(Some("HTTP_1"), 80, "80"), "spec.ports[0].name", FieldErrorKind::Invalid, "G2")]
#[case::g2_duplicate_name(ok().port(Some("http"), 81, "81"), "spec.ports[1].name", FieldErrorKind::Duplicate, "G2")]
#[case::g3_port_zero(service("web").port(None, 0, "80"), "spec.ports[0].port", FieldErrorKind::Invalid, "G3")]
#[case::g3_protocol(service("web").port_proto(None, 80, "80", "HTTP"), "spec.ports[0].protocol", FieldErrorKind::NotSupported, "G3")]
#[case::g3_target_name(service("web").port(None, 80, "not_iana"), "spec.ports[0].targetPort", FieldErrorKind::Invalid, "G3")]
#[case::g3_target_number(service("web").port(None, 80, "70000"), "spec.ports[0].targetPort", FieldErrorKind::Invalid, "G3")]
#[case::g4_duplicate_port(ok().port(Some("again"), 80, "81"), "spec.ports[1]", FieldErrorKind::Duplicate, "G4")]
#[case::g4_duplicate_node_port(ok().type_("NodePort").node_port(30001).port(Some("b"), 81, "81").node_port(30001), "spec.ports[1].nodePort", FieldErrorKind::Duplicate, "G4")]
#[case::g5_node_port_on_cluster_ip(ok().node_port(30001), "spec.ports[0].nodePort", FieldErrorKind::Forbidden, "G5")]
#[case::g5_node_port_out_of_range(ok().type_("NodePort").node_port(80), "spec.ports[0].nodePort", FieldErrorKind::Invalid, "G5")]
#[case::g6_headless_node_port(ok().type_("NodePort").headless(), "spec.clusterIPs[0]", FieldErrorKind::Invalid, "G6")]
#[case::g6_headless_load_balancer(ok().type_("LoadBalancer").headless(), "spec.clusterIPs[0]", FieldErrorKind::Invalid, "G6")]
#[case::g6_external_name_with_cluster_ip(service("ext").external_name("db.example.test").cluster_ip("127.10.0.1"), "spec.clusterIPs", FieldErrorKind::Forbidden, "G6")]
#[case::g6_external_name_missing(service("ext").type_("ExternalName").no_cluster_ip(), "spec.externalName", FieldErrorKind::Required, "G6")]
#[case::g6_external_name_invalid(service("ext").external_name("Not A Name"), "spec.externalName", FieldErrorKind::Invalid, "G6")]
#[case::g7_unknown_type(ok().type_("Ingress"), "spec.type", FieldErrorKind::NotSupported, "G7")]
#[case::g8_unknown_affinity(ok().affinity("Cookie", None), "spec.sessionAffinity", FieldErrorKind::NotSupported, "G8")]
#[case::g8_timeout_zero(ok().affinity("ClientIP", Some(0)), "spec.sessionAffinityConfig.clientIP.timeoutSeconds", FieldErrorKind::Invalid, "G8")]
#[case::g8_timeout_too_long(ok().affinity("ClientIP", Some(86_401)), "spec.sessionAffinityConfig.clientIP.timeoutSeconds", FieldErrorKind::Invalid, "G8")]
#[case::g8_config_with_none(ok().affinity("None", Some(60)), "spec.sessionAffinityConfig", FieldErrorKind::Invalid, "G8")]
#[case::g9_etp_on_cluster_ip(ok().etp("Local"), "spec.externalTrafficPolicy", FieldErrorKind::Invalid, "G9")]
#[case::g9_etp_value(ok().type_("NodePort").etp("Nearest"), "spec.externalTrafficPolicy", FieldErrorKind::NotSupported, "G9")]
#[case::g9_health_check_without_local(ok().type_("LoadBalancer").health_check_node_port(32000), "spec.healthCheckNodePort", FieldErrorKind::Invalid, "G9")]
#[case::g10_itp_value(ok().itp("Nearest"), "spec.internalTrafficPolicy", FieldErrorKind::NotSupported, "G10")]
#[case::g11_ranges_on_cluster_ip(ok().source_ranges(&["127.0.0.0/8"]), "spec.loadBalancerSourceRanges", FieldErrorKind::Forbidden, "G11")]
#[case::g11_bad_range(ok().type_("LoadBalancer").source_ranges(&["127.0.0.1"]), "spec.loadBalancerSourceRanges[0]", FieldErrorKind::Invalid, "G11")]
#[case::g12_allocate_on_node_port(ok().type_("NodePort").with(|s| s.allocate_load_balancer_node_ports = Some(false)), "spec.allocateLoadBalancerNodePorts", FieldErrorKind::Forbidden, "G12")]
#[case::g13_external_ip_loopback(ok().external_ips(&["127.30.0.1"]), "spec.externalIPs[0]", FieldErrorKind::Invalid, "G13")]
#[case::g13_external_ip_garbage(ok().external_ips(&["nope"]), "spec.externalIPs[0]", FieldErrorKind::Invalid, "G13")]
#[case::g14_selector_value(service("web").selector(&[("app", "bad value")]).port(None, 80, "80"), "spec.selector", FieldErrorKind::Invalid, "G14")]
#[case::g15_traffic_distribution(ok().traffic_distribution("Nearby"), "spec.trafficDistribution", FieldErrorKind::NotSupported, "G15")]
#[case::g16_ip_mode_without_ip(ok().type_("LoadBalancer").lb_ingress(None, Some("lb.example.test"), Some("VIP")), "status.loadBalancer.ingress[0].ipMode", FieldErrorKind::Forbidden, "G16")]
#[case::g16_ip_mode_value(ok().type_("LoadBalancer").lb_ingress(Some("127.20.0.1"), None, Some("Tunnel")), "status.loadBalancer.ingress[0].ipMode", FieldErrorKind::NotSupported, "G16")]
#[case::f2_service_name(service("Web_1").port(None, 80, "80"), "metadata.name", FieldErrorKind::Invalid, "F2")]
fn g_rules(
    #[case] service: ServiceBuilder,
    #[case] field: &str,
    #[case] kind: FieldErrorKind,
    #[case] rule: &str,
) {
    let found = errors(service);
    assert!(
        found
            .iter()
            .any(|(f, k, r)| f == field && *k == kind && *r == rule),
        "expected {field} {kind:?} ({rule}) in {found:?}"
    );
}

/// G2/G5/G8: the API server's 422 wording, one error and several.
#[test]
fn g_422_messages() {
    let one: Service = ok().port(None, 81, "8081").build();
    let errors = validate_service(&one, &ValidationConfig::default());
    assert_eq!(
        invalid_message("web", &errors),
        "Service \"web\" is invalid: spec.ports[1].name: Required value"
    );

    let two: Service = ok().node_port(30001).affinity("ClientIP", Some(0)).build();
    let errors = validate_service(&two, &ValidationConfig::default());
    assert_eq!(
        invalid_message("web", &errors),
        "Service \"web\" is invalid: [spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP', spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400]"
    );

    let range: Service = ok().type_("NodePort").node_port(80).build();
    let errors = validate_service(&range, &ValidationConfig::default());
    assert_eq!(
        errors[0].to_string(),
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    let custom = ValidationConfig {
        node_port_range: 80..=90,
    };
    assert!(
        validate_service(&range, &custom).is_empty(),
        "C4: the range is configurable"
    );
}

/// G17: accepted-but-suspicious Services.
#[rstest]
#[case::g17_headless_external_ips(service("db").headless().selector(&[("app", "db")]).external_ips(&["127.30.0.1"]), "spec.externalIPs is ignored for headless services")]
#[case::g17_headless_affinity(service("db").headless().selector(&[("app", "db")]).affinity("ClientIP", None), "spec.sessionAffinity is ignored for headless services")]
#[case::g17_external_name_external_ips(service("ext").external_name("db.example.test").external_ips(&["127.30.0.1"]), "spec.externalIPs is ignored when spec.type is \"ExternalName\"")]
#[case::g17_external_name_field_ignored(ok().with(|s| s.external_name = Some("db.example.test".into())), "spec.externalName is ignored when spec.type is not \"ExternalName\"")]
#[case::g17_prefer_close_deprecated(ok().traffic_distribution("PreferClose"), "spec.trafficDistribution: \"PreferClose\" is deprecated; use \"PreferSameZone\"")]
#[case::g17_leading_zeros(ok().cluster_ip("127.010.0.1"), "spec.clusterIPs[0]: non-standard IP address \"127.010.0.1\" will be considered invalid in a future Kubernetes release: use \"127.10.0.1\"")]
fn g17_warnings(#[case] service: ServiceBuilder, #[case] warning: &str) {
    let service = service.build();
    let warnings = service_warnings(&service);
    assert!(warnings.iter().any(|w| w == warning), "{warnings:?}");
}
