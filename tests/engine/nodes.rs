//! The node findings (rules K1-K4) on clusters shaped like real ones, each tested both ways:
//! the case that must fire and the look-alike that must not. Node addresses here are data only:
//! nothing connects to them.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kubehop::engine::explain::explain_hop;
use kubehop::engine::model::Hop;
use kubehop::engine::node_proxy::NodeIssue;
use kubehop::engine::{DiagnosticCode, ProxyModel};
use rstest::rstest;
use serde_json::json;

use crate::support::fixtures::*;

/// A node as a cloud provider registers it: InternalIP, an ExternalIP when given, a pod range,
/// a Ready condition (`None`: no condition at all), cordoned or not.
fn cloud_node(
    name: &str,
    internal: &str,
    external: Option<&str>,
    pod_cidr: &str,
    ready: Option<&str>,
    cordoned: bool,
) -> Node {
    let mut addresses = vec![json!({"type": "InternalIP", "address": internal})];
    if let Some(external) = external {
        addresses.push(json!({"type": "ExternalIP", "address": external}));
    }
    addresses.push(json!({"type": "Hostname", "address": name}));
    let conditions: Vec<_> = ready
        .map(|status| {
            vec![json!({"type": "Ready", "status": status, "reason": if status == "True" { "KubeletReady" } else { "NodeStatusUnknown" }})]
        })
        .unwrap_or_default();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-a"}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "unschedulable": cordoned},
        "status": {"addresses": addresses, "conditions": conditions}
    }))
    .expect("a node")
}

/// Three GKE-like nodes with public ExternalIPs (`public`) or without.
fn gke_nodes(public: bool) -> Vec<Node> {
    (1..=3)
        .map(|n| {
            let external = format!("34.118.20.{n}");
            cloud_node(
                &format!("node-{n}"),
                &format!("10.128.0.{n}"),
                public.then_some(external.as_str()),
                &format!("10.4.{n}.0/24"),
                Some("True"),
                false,
            )
        })
        .collect()
}

/// A DaemonSet's proxy pod on `node`.
fn proxy_pod(app: &str, node: &str, n: u8, ready: bool) -> Pod {
    let mut built = pod(&format!("{app}-{n}"), &format!("10.128.0.{n}"), node)
        .namespace("kube-system")
        .labels(&[("k8s-app", app)])
        .ready(ready)
        .build();
    built.spec.get_or_insert_default().host_network = Some(true);
    built.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "DaemonSet".to_owned(),
        name: app.to_owned(),
        uid: "ds".to_owned(),
        controller: Some(true),
        ..OwnerReference::default()
    }]);
    built
}

/// `web`: one pod per node inside the node's range, behind a Service of `type_`.
fn web_world(nodes: Vec<Node>, type_: &str) -> World {
    let mut world = World::new().nodes(nodes);
    for n in 1..=3 {
        world = world.pod(
            pod(
                &format!("web-{n}"),
                &format!("10.4.{n}.5"),
                &format!("node-{n}"),
            )
            .labels(&[("app", "web")]),
        );
    }
    let mut service = service("web")
        .type_(type_)
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080");
    if type_ != "ClusterIP" {
        service = service.node_port(30080);
    }
    world.service(service)
}

fn subjects(model: &ProxyModel, code: DiagnosticCode) -> Vec<String> {
    model
        .service("shop", "web")
        .expect("web")
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.subject.to_string())
        .collect()
}

fn issue(model: &ProxyModel, node: &str) -> Option<NodeIssue> {
    model.service("shop", "web").expect("web").ports[0]
        .node_ports
        .rows()
        .find(|row| row.node == node)
        .and_then(|row| row.node_issue)
}

// ---------------------------------------------------------------------------- K4: exposure

#[rstest]
#[case::gke_public_nodeport(true, "NodePort", true)]
#[case::gke_public_cluster_ip(true, "ClusterIP", false)]
#[case::gke_public_load_balancer(true, "LoadBalancer", false)]
#[case::private_nodes_nodeport(false, "NodePort", false)]
fn nodeport_on_public_node(#[case] public: bool, #[case] type_: &str, #[case] fires: bool) {
    let model = web_world(gke_nodes(public), type_).model();
    let found = subjects(&model, DiagnosticCode::NodePortOnPublicNode);
    assert_eq!(!found.is_empty(), fires, "{found:?}");
}

#[test]
fn eks_nodes_with_cgnat_or_private_external_ips_are_not_public() {
    let nodes = vec![
        cloud_node(
            "node-1",
            "10.0.1.5",
            Some("100.64.3.2"),
            "10.4.1.0/24",
            Some("True"),
            false,
        ),
        cloud_node(
            "node-2",
            "10.0.2.5",
            Some("192.168.9.9"),
            "10.4.2.0/24",
            Some("True"),
            false,
        ),
        cloud_node(
            "node-3",
            "10.0.3.5",
            None,
            "10.4.3.0/24",
            Some("True"),
            false,
        ),
    ];
    let model = web_world(nodes, "NodePort").model();
    assert!(subjects(&model, DiagnosticCode::NodePortOnPublicNode).is_empty());
    let mut nodes = gke_nodes(false);
    nodes[2] = cloud_node(
        "node-3",
        "10.0.3.5",
        Some("3.120.4.9"),
        "10.4.3.0/24",
        Some("True"),
        false,
    );
    let model = web_world(nodes, "NodePort").model();
    let finding = model
        .service("shop", "web")
        .expect("web")
        .diagnostics
        .iter()
        .find(|d| d.code == DiagnosticCode::NodePortOnPublicNode)
        .expect("one public node is enough");
    assert!(
        finding.message.contains("1 of 3 nodes"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("node-3 3.120.4.9"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("loadBalancerSourceRanges"),
        "{}",
        finding.message
    );
}

// ------------------------------------------------------------------ K1: condition, cordon

#[rstest]
#[case::not_ready(Some("False"), false, Some(DiagnosticCode::NodeNotReady))]
#[case::unknown(Some("Unknown"), false, Some(DiagnosticCode::NodeNotReady))]
#[case::ready(Some("True"), false, None)]
#[case::no_condition_says_nothing(None, false, None)]
#[case::cordoned_etp_cluster_is_silent(Some("True"), true, None)]
fn node_condition(
    #[case] ready: Option<&str>,
    #[case] cordoned: bool,
    #[case] code: Option<DiagnosticCode>,
) {
    let mut nodes = gke_nodes(false);
    nodes[1] = cloud_node("node-2", "10.128.0.2", None, "10.4.2.0/24", ready, cordoned);
    let model = web_world(nodes, "NodePort").model();
    for candidate in [DiagnosticCode::NodeNotReady, DiagnosticCode::NodeCordoned] {
        let expected: Vec<String> = if code == Some(candidate) {
            vec!["node/node-2".to_owned()]
        } else {
            Vec::new()
        };
        assert_eq!(subjects(&model, candidate), expected, "{candidate}");
    }
    assert_eq!(
        issue(&model, "node-2").is_some(),
        code.is_some() || cordoned
    );
}

#[test]
fn a_cordoned_node_with_local_endpoints_under_etp_local_is_an_info() {
    let mut nodes = gke_nodes(false);
    nodes[1] = cloud_node(
        "node-2",
        "10.128.0.2",
        None,
        "10.4.2.0/24",
        Some("True"),
        true,
    );
    let mut world = web_world(nodes, "NodePort");
    world.services[0]
        .spec
        .as_mut()
        .expect("spec")
        .external_traffic_policy = Some("Local".to_owned());
    let model = world.model();
    assert_eq!(
        subjects(&model, DiagnosticCode::NodeCordoned),
        vec!["node/node-2"]
    );
    assert_eq!(issue(&model, "node-2"), Some(NodeIssue::Cordoned));
}

#[test]
fn a_cluster_ip_service_says_nothing_about_nodes() {
    let mut nodes = gke_nodes(true);
    nodes[0] = cloud_node(
        "node-1",
        "10.128.0.1",
        None,
        "10.4.1.0/24",
        Some("False"),
        false,
    );
    let model = web_world(nodes, "ClusterIP").model();
    let chain = model.service("shop", "web").expect("web");
    assert!(
        chain
            .diagnostics
            .iter()
            .all(|d| !d.code.as_str().starts_with("node")),
        "{:?}",
        chain.diagnostics
    );
}

// ---------------------------------------------------------------------- K2: node proxies

#[rstest]
#[case::healthy(&[("kube-proxy", true, true)], None)]
#[case::one_not_ready(&[("kube-proxy", false, true)], Some("node-2"))]
#[case::missing_on_one_node(&[("kube-proxy", true, false)], Some("node-2"))]
#[case::no_proxy_anywhere_k3s(&[], None)]
#[case::cilium_replacement_not_ready(&[("cilium", false, true)], Some("node-2"))]
#[case::cilium_beside_healthy_kube_proxy(&[("kube-proxy", true, true), ("cilium", false, true)], None)]
fn node_proxy(#[case] proxies: &[(&str, bool, bool)], #[case] flagged: Option<&str>) {
    let mut world = web_world(gke_nodes(false), "NodePort");
    for (app, node2_ready, on_node2) in proxies {
        for n in 1..=3u8 {
            if n == 2 && !on_node2 {
                continue;
            }
            let ready = n != 2 || *node2_ready;
            world
                .pods
                .push(proxy_pod(app, &format!("node-{n}"), n, ready));
        }
    }
    let model = world.model();
    let found = subjects(&model, DiagnosticCode::NodeProxyUnhealthy);
    let expected: Vec<String> = flagged.map(|n| format!("node/{n}")).into_iter().collect();
    assert_eq!(found, expected);
    assert_eq!(issue(&model, "node-2").is_some(), flagged.is_some());
    assert_eq!(issue(&model, "node-1"), None);
}

#[test]
fn a_missing_proxy_on_a_windows_node_says_nothing() {
    let mut nodes = gke_nodes(false);
    nodes[1]
        .metadata
        .labels
        .get_or_insert_default()
        .insert("kubernetes.io/os".to_owned(), "windows".to_owned());
    let mut world = web_world(nodes, "NodePort");
    world.pods.push(proxy_pod("kube-proxy", "node-1", 1, true));
    world.pods.push(proxy_pod("kube-proxy", "node-3", 3, true));
    assert!(subjects(&world.model(), DiagnosticCode::NodeProxyUnhealthy).is_empty());
}

#[test]
fn a_labelled_pod_that_no_daemon_set_owns_is_not_a_proxy() {
    let mut world = web_world(gke_nodes(false), "NodePort");
    let mut lookalike = proxy_pod("kube-proxy", "node-1", 1, false);
    lookalike.metadata.owner_references = None;
    world.pods.push(lookalike);
    assert!(subjects(&world.model(), DiagnosticCode::NodeProxyUnhealthy).is_empty());
}

// ------------------------------------------------------------------------ K3: pod ranges

#[rstest]
#[case::inside_every_range("10.4.2.5", None)]
#[case::in_another_nodes_range("10.4.3.77", Some("node-3's range 10.4.3.0/24"))]
#[case::in_no_range("10.9.0.4", Some("no node's pod range holds"))]
fn endpoint_outside_pod_range(#[case] ip: &str, #[case] says: Option<&str>) {
    let mut world = web_world(gke_nodes(false), "ClusterIP");
    world.pods[1] = pod("web-2", ip, "node-2").labels(&[("app", "web")]).build();
    world = world
        .pod(pod("other-1", "10.4.1.9", "node-1"))
        .pod(pod("other-3", "10.4.3.9", "node-3"));
    let model = world.model();
    let findings: Vec<_> = model
        .service("shop", "web")
        .expect("web")
        .diagnostics
        .iter()
        .filter(|d| d.code == DiagnosticCode::EndpointOutsidePodRange)
        .collect();
    match says {
        None => assert!(findings.is_empty(), "{findings:?}"),
        Some(words) => {
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert_eq!(findings[0].subject.to_string(), "pod/web-2");
            assert!(
                findings[0].message.contains(words),
                "{}",
                findings[0].message
            );
        }
    }
}

#[test]
fn a_cni_with_its_own_address_management_is_left_alone() {
    // Calico IPAM: podCIDR set by kubeadm, pod IPs from Calico's own blocks.
    let mut world = World::new().nodes(gke_nodes(false));
    for (n, ip) in [
        (1, "192.168.171.2"),
        (2, "192.168.44.7"),
        (3, "192.168.9.130"),
    ] {
        world =
            world.pod(pod(&format!("web-{n}"), ip, &format!("node-{n}")).labels(&[("app", "web")]));
    }
    let model = world
        .service(
            service("web")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080"),
        )
        .model();
    assert!(
        model
            .service("shop", "web")
            .expect("web")
            .diagnostics
            .iter()
            .all(|d| d.code != DiagnosticCode::EndpointOutsidePodRange)
    );
}

#[test]
fn explain_names_the_node_whose_range_holds_an_endpoint() {
    let model = web_world(gke_nodes(false), "ClusterIP").model();
    let chain = model.service("shop", "web").expect("web");
    let endpoint = chain.ports[0]
        .endpoints
        .iter()
        .find(|e| e.info.pod.as_deref() == Some("web-2"))
        .expect("web-2");
    let hop = Hop::Endpoint {
        port: 80,
        protocol: chain.ports[0].protocol,
        ip: endpoint.info.ip,
        target_port: endpoint.port,
    };
    let text = explain_hop(&model, chain, Some(&hop)).text();
    assert!(
        text.contains(
            "10.4.2.5 is in node-2's pod range 10.4.2.0/24, so the packet crosses to node-2."
        ),
        "{text}"
    );
}

// ------------------------------------------------------- K4: an open LB nobody outside uses

fn lb_world(policy: Option<serde_json::Value>, source_ranges: bool, lb_ip: &str) -> World {
    let mut world = web_world(gke_nodes(false), "LoadBalancer");
    let mut service = service("web")
        .type_("LoadBalancer")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080")
        .node_port(30080)
        .lb_ingress(Some(lb_ip), None, None);
    if source_ranges {
        service = service.source_ranges(&["203.0.113.0/24"]);
    }
    world.services = vec![service.build()];
    if let Some(policy) = policy {
        world = world.policy(policy);
    }
    world
}

fn from_peers(peers: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"name": "web-ingress"},
           "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": peers}]}})
}

#[rstest]
#[case::pods_only(Some(from_peers(json!([{"podSelector": {"matchLabels": {"app": "shop-frontend"}}}]))), false, "34.120.1.1", true)]
#[case::namespaces_only(Some(from_peers(json!([{"namespaceSelector": {}}]))), false, "34.120.1.1", true)]
#[case::with_ip_block(Some(from_peers(json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}]))), false, "34.120.1.1", false)]
#[case::no_policy(None, false, "34.120.1.1", false)]
#[case::source_ranges_set(Some(from_peers(json!([{"podSelector": {}}]))), true, "34.120.1.1", false)]
#[case::private_lb(Some(from_peers(json!([{"podSelector": {}}]))), false, "10.0.0.40", false)]
fn lb_open_in_cluster_only(
    #[case] policy: Option<serde_json::Value>,
    #[case] source_ranges: bool,
    #[case] lb_ip: &str,
    #[case] fires: bool,
) {
    let model = lb_world(policy, source_ranges, lb_ip).model();
    assert_eq!(
        !subjects(&model, DiagnosticCode::LbOpenInClusterOnly).is_empty(),
        fires
    );
}

#[test]
fn explain_of_a_node_port_row_says_what_puts_the_node_in_doubt() {
    let mut world = web_world(gke_nodes(false), "NodePort");
    for n in 1..=3u8 {
        world
            .pods
            .push(proxy_pod("kube-proxy", &format!("node-{n}"), n, n != 2));
    }
    let model = world.model();
    let chain = model.service("shop", "web").expect("web");
    let row = chain.ports[0]
        .node_ports
        .rows()
        .find(|row| row.node == "node-2")
        .expect("node-2's row");
    let hop = Hop::NodePort {
        port: 80,
        protocol: chain.ports[0].protocol,
        node: row.node.clone(),
        address: row.address,
    };
    let text = explain_hop(&model, chain, Some(&hop)).text();
    assert!(
        text.contains(
            "That is if node-2 forwards at all: its kube-proxy pod kube-proxy-2 is not ready"
        ),
        "{text}"
    );
}
