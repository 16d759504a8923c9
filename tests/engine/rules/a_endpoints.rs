//! Rule group (a): which pods become endpoints, with which conditions (A1-A13).

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kubehop::engine::Verdict;
use kubehop::engine::endpointslice::{
    CONTROLLER_NAME, HEADLESS_LABEL, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, desired_endpoint_slices,
};
use kubehop::engine::model::NotProxied;
use kubehop::engine::nodes::NodeTable;
use kubehop::engine::objects::PodInfo;
use kubehop::engine::route::RouteReason;
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn web() -> ServiceBuilder {
    service("web")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080")
}

fn slices_for(service: ServiceBuilder, pods: Vec<PodBuilder>) -> Vec<EndpointSlice> {
    let pods: Vec<PodInfo> = pods.into_iter().map(|pod| pod.build().into()).collect();
    let refs: Vec<&PodInfo> = pods.iter().collect();
    let nodes = NodeTable::new(three_nodes().iter());
    desired_endpoint_slices(&service.build(), &refs, &nodes)
}

fn all_endpoints(slices: &[EndpointSlice]) -> Vec<&k8s_openapi::api::discovery::v1::Endpoint> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .collect()
}

/// A4: the truth table of ready/serving/terminating, without and with pNRA.
#[rstest]
#[case::a4_running_ready(false, true, false, (true, true, false))]
#[case::a4_running_unready(false, false, false, (false, false, false))]
#[case::a4_deleting_still_ready(false, true, true, (false, true, true))]
#[case::a4_deleting_unready(false, false, true, (false, false, true))]
#[case::a4_pnra_running_ready(true, true, false, (true, true, false))]
#[case::a4_pnra_running_unready(true, false, false, (true, false, false))]
#[case::a4_pnra_deleting_still_ready(true, true, true, (true, true, true))]
#[case::a4_pnra_deleting_unready(true, false, true, (true, false, true))]
fn a4_conditions(
    #[case] pnra: bool,
    #[case] ready: bool,
    #[case] deleting: bool,
    #[case] expected: (bool, bool, bool),
) {
    let mut service = web();
    if pnra {
        service = service.pnra();
    }
    let mut pod = pod("web-1", "127.2.0.1", "node-a")
        .labels(&[("app", "web")])
        .ready(ready);
    if deleting {
        pod = pod.terminating();
    }
    let slices = slices_for(service, vec![pod]);
    let endpoints = all_endpoints(&slices);
    assert_eq!(endpoints.len(), 1, "A3: a deleting pod is still listed");
    let conditions = endpoints[0]
        .conditions
        .as_ref()
        .expect("conditions written");
    assert_eq!(
        (
            conditions.ready.expect("ready"),
            conditions.serving.expect("serving"),
            conditions.terminating.expect("terminating")
        ),
        expected
    );
}

/// A3: Succeeded/Failed pods and pods without IP are left out; deleting pods are kept.
#[rstest]
#[case::a3_succeeded(pod("job-1", "127.2.0.9", "node-a").phase("Succeeded"), false)]
#[case::a3_failed(pod("job-1", "127.2.0.9", "node-a").phase("Failed"), false)]
#[case::a3_no_ip(pod("job-1", "127.2.0.9", "node-a").no_ip(), false)]
#[case::a3_pending_with_ip(pod("job-1", "127.2.0.9", "node-a").phase("Pending").ready(false), true)]
#[case::a3_deleting_kept(pod("job-1", "127.2.0.9", "node-a").terminating(), true)]
fn a3_exclusions(#[case] candidate: PodBuilder, #[case] listed: bool) {
    let slices = slices_for(web(), vec![candidate.labels(&[("app", "web")])]);
    assert_eq!(all_endpoints(&slices).len(), usize::from(listed));
}

/// A2: all selector pairs must match, extra labels are fine, other namespaces never match.
#[rstest]
#[case::a2_exact(&[("app", "web")], NS, true)]
#[case::a2_extra_labels_fine(&[("app", "web"), ("tier", "fe")], NS, true)]
#[case::a2_other_value(&[("app", "api")], NS, false)]
#[case::a2_missing_key(&[("tier", "fe")], NS, false)]
#[case::a2_other_namespace(&[("app", "web")], "elsewhere", false)]
fn a2_selection(#[case] labels: &[(&str, &str)], #[case] namespace: &str, #[case] selected: bool) {
    let candidate = pod("web-1", "127.2.0.1", "node-a")
        .labels(labels)
        .namespace(namespace);
    let slices = slices_for(web(), vec![candidate]);
    assert_eq!(all_endpoints(&slices).len(), usize::from(selected));
}

/// A1: no slices for ExternalName or selectorless Services.
#[rstest]
#[case::a1_external_name(service("ext").external_name("db.example.test").selector(&[("app", "web")]))]
#[case::a1_no_selector(service("manual").port(None, 80, "80"))]
#[case::a1_empty_selector_is_none(service("manual").selector(&[]).port(None, 80, "80"))]
fn a1_controller_skips(#[case] service: ServiceBuilder) {
    let candidate = pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]);
    assert!(slices_for(service, vec![candidate]).is_empty());
}

/// A5: nodeName, zone from the node label, targetRef.
#[test]
fn a5_endpoint_fields() {
    let slices = slices_for(
        web(),
        vec![pod("web-1", "127.2.0.1", "node-b").labels(&[("app", "web")])],
    );
    let endpoint = all_endpoints(&slices)[0];
    assert_eq!(endpoint.node_name.as_deref(), Some("node-b"));
    assert_eq!(endpoint.zone.as_deref(), Some("zone-b"));
    assert_eq!(endpoint.addresses, vec!["127.2.0.1".to_owned()]);
    let target = endpoint.target_ref.as_ref().expect("targetRef");
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("web-1"))
    );
}

/// A6: hostname only when the pod's subdomain names this Service.
#[rstest]
#[case::a6_subdomain_matches("web", Some("web-0"))]
#[case::a6_subdomain_other_service("other", None)]
fn a6_hostname(#[case] subdomain: &str, #[case] expected: Option<&str>) {
    let candidate = pod("web-0", "127.2.0.1", "node-a")
        .labels(&[("app", "web")])
        .hostname("web-0", subdomain);
    let slices = slices_for(web(), vec![candidate]);
    assert_eq!(all_endpoints(&slices)[0].hostname.as_deref(), expected);
}

/// A7: a pod on an unknown node is skipped unless pNRA, which publishes it without zone.
#[rstest]
#[case::a7_unknown_node_skipped(false, 0)]
#[case::a7_unknown_node_published_with_pnra(true, 1)]
fn a7_unknown_node(#[case] pnra: bool, #[case] count: usize) {
    let service = if pnra { web().pnra() } else { web() };
    let candidate = pod("web-1", "127.2.0.1", "node-gone").labels(&[("app", "web")]);
    let slices = slices_for(service, vec![candidate]);
    let endpoints = all_endpoints(&slices);
    assert_eq!(endpoints.len(), count);
    if let Some(endpoint) = endpoints.first() {
        assert_eq!(endpoint.zone, None);
    }
}

/// A8: one slice set per IP family; a dual-stack pod appears once per family.
#[test]
fn a8_families() {
    let service = web().with(|spec| spec.ip_families = Some(vec!["IPv4".into(), "IPv6".into()]));
    let dual = pod("web-1", "127.2.0.1", "node-a")
        .labels(&[("app", "web")])
        .extra_ip("::ffff:127.2.0.1");
    let single = pod("web-2", "127.2.0.2", "node-a").labels(&[("app", "web")]);
    let slices = slices_for(service, vec![dual, single]);
    let by_type = |t: &str| -> usize {
        slices
            .iter()
            .filter(|s| s.address_type == t)
            .flat_map(|s| s.endpoints.iter().flatten())
            .count()
    };
    assert_eq!((by_type("IPv4"), by_type("IPv6")), (2, 1));
}

/// A9: pods that resolve a named port differently land in different slices; with no pod, a
/// placeholder slice without ports or endpoints exists.
#[test]
fn a9_grouping_and_placeholder() {
    let service = service("web")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "http");
    let p8080 = pod("web-1", "127.2.0.1", "node-a")
        .labels(&[("app", "web")])
        .container_port("app", Some("http"), 8080, "TCP");
    let p9090 = pod("web-2", "127.2.0.2", "node-a")
        .labels(&[("app", "web")])
        .container_port("app", Some("http"), 9090, "TCP");
    let slices = slices_for(service.clone_builder(), vec![p8080, p9090]);
    assert_eq!(slices.len(), 2);
    let ports: Vec<i32> = slices
        .iter()
        .map(|s| s.ports.as_ref().expect("ports")[0].port.expect("port"))
        .collect();
    assert_eq!(ports, vec![8080, 9090]);
    assert_eq!(
        slices
            .iter()
            .map(|s| s.metadata.name.clone().expect("name"))
            .collect::<Vec<_>>(),
        vec!["web-ipv4-0".to_owned(), "web-ipv4-1".to_owned()],
        "stable names"
    );

    let placeholder = slices_for(service, vec![]);
    assert_eq!(placeholder.len(), 1);
    assert!(placeholder[0].ports.is_none());
    assert!(placeholder[0].endpoints.as_ref().is_some_and(Vec::is_empty));
}

trait CloneBuilder {
    fn clone_builder(&self) -> Self;
}

impl CloneBuilder for ServiceBuilder {
    fn clone_builder(&self) -> Self {
        ServiceBuilder(self.0.clone())
    }
}

/// A10: labels (service-name, managed-by, headless; reserved keys not overridable) and the
/// owner reference to the Service.
#[rstest]
#[case::a10_regular(false)]
#[case::a10_headless(true)]
fn a10_labels(#[case] headless: bool) {
    let mut service = web()
        .label("team", "shop")
        .label(SERVICE_NAME_LABEL, "spoofed")
        .label(MANAGED_BY_LABEL, "spoofed");
    if headless {
        service = service.headless();
    } else {
        service = service.label(HEADLESS_LABEL, "");
    }
    let slices = slices_for(
        service,
        vec![pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")])],
    );
    let labels = slices[0].metadata.labels.as_ref().expect("labels");
    assert_eq!(
        labels.get(SERVICE_NAME_LABEL).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some(CONTROLLER_NAME)
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    assert_eq!(labels.contains_key(HEADLESS_LABEL), headless);
    let owner = &slices[0].metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Service", "web", Some(true))
    );
}

/// A12: absent conditions read as ready/serving/not terminating; duplicates collapse; only the
/// first address counts; FQDN slices are ignored.
#[test]
fn a12_reading_slices() {
    let world = World::new()
        .nodes(three_nodes())
        .service(service("manual").port(Some("http"), 80, "8080"))
        .slice(
            slice("manual", "manual-1")
                .port(Some("http"), 8080, None)
                .endpoint(endpoint("127.2.0.1", "a", "node-a"))
                .endpoint(endpoint("127.2.0.2", "b", "node-b").conditions(false, true, true)),
        )
        .slice(
            slice("manual", "manual-2")
                .port(Some("http"), 8080, Some("TCP"))
                .endpoint(endpoint("127.2.0.1", "a", "node-a")),
        )
        .slice(
            slice("manual", "manual-fqdn")
                .address_type("FQDN")
                .port(Some("http"), 8080, Some("TCP"))
                .endpoint(endpoint("db.example.test", "x", "node-a")),
        );
    let model = world.model();
    let port = &chain(&model, "manual").ports[0];
    assert_eq!(
        port.endpoints.len(),
        2,
        "duplicate 127.2.0.1:8080 collapsed, FQDN ignored"
    );
    let first = &port.endpoints[0].info;
    assert_eq!(
        (first.ready, first.serving, first.terminating),
        (true, true, false)
    );
    let second = &port.endpoints[1].info;
    assert_eq!(
        (second.ready, second.serving, second.terminating),
        (false, true, true)
    );
}

/// A13: headless and ExternalName Services are not proxied.
#[rstest]
#[case::a13_headless(service("db").headless().selector(&[("app", "web")]).port(None, 5432, "5432").external_ips(&["127.30.0.1"]), NotProxied::Headless)]
#[case::a13_external_name(service("db").external_name("db.example.test").port(None, 5432, "5432").external_ips(&["127.30.0.1"]), NotProxied::ExternalName)]
#[case::a13_other_proxy(service("db").label("service.kubernetes.io/service-proxy-name", "other").cluster_ip("127.30.0.1").port(None, 5432, "5432"), NotProxied::OtherProxy)]
fn a13_not_proxied(#[case] service: ServiceBuilder, #[case] reason: NotProxied) {
    let model = World::new().nodes(three_nodes()).service(service).model();
    let decision = route(&model, "127.30.0.1", 5432, from_pod("node-a"));
    assert_eq!(decision.verdict, Verdict::NoService);
    assert!(
        decision.reasons.contains(&RouteReason::NotProxied(reason)),
        "{:?}",
        decision.reasons
    );
}

/// The engine derives slices (and says so) when the snapshot has none for a selector Service.
#[test]
fn derived_when_slices_absent() {
    let world = World::new()
        .nodes(three_nodes())
        .service(web())
        .pod(pod("web-1", "127.2.0.1", "node-a").labels(&[("app", "web")]));
    let model = world.model();
    let web = chain(&model, "web");
    assert!(web.endpoints_derived);
    assert_eq!(web.ports[0].endpoints.len(), 1);
    assert_eq!(web.ports[0].endpoints[0].port, 8080);

    let with_slice = world.slice(
        slice("web", "web-abc")
            .port(Some("http"), 8080, Some("TCP"))
            .endpoint(endpoint("127.2.0.7", "web-7", "node-b")),
    );
    let model = with_slice.model();
    let web = chain(&model, "web");
    assert!(
        !web.endpoints_derived,
        "given slices are authoritative (A11/A12)"
    );
    assert_eq!(web.ports[0].endpoints[0].info.pod.as_deref(), Some("web-7"));
}
